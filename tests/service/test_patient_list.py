"""The patient list and search: what they find, kept in step with every new version, at a cost
that does not grow with the clinic's records (issue 19: they joined every current version of
the clinic and sorted them all to show 50; on PostgreSQL that scanned every clinic's
versions; then a search for a name few share still walked every name of the clinic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, select

from ketaplan.clinical.catalog import Catalog
from ketaplan.errors import InputError
from ketaplan.services import (
    Actor,
    PatientDetails,
    UnitOfWork,
    create_patient,
    set_up_clinic,
    update_patient,
)
from ketaplan.services.patient_pages import MAX_PATIENT_PAGE, page_patients
from ketaplan.services.patients import search_patients
from ketaplan.store import Database, name_search
from ketaplan.store.models import Patient, PatientNameTrigram, PatientNameTrigramCount
from ketaplan.store.name_search import name_trigrams, rarest_trigram
from ketaplan.store.schema import alembic_config

INDEX = "ix_patient_clinic_name_key"
COUNT = "SELECT patient_name_trigram_count.trigram"
"""How the statement reading a search's trigrams' counts begins (it reads no patient row)."""


def _details(name: str) -> PatientDetails:
    return PatientDetails(full_name=name, weight="70 kg", height="170 cm", age_years=40)


def _names(uow: UnitOfWork, actor: Actor, query: str = "", limit: int = 50) -> list[str]:
    return [p.full_name for p in search_patients(uow, query, actor=actor, limit=limit)]


@contextmanager
def _search_statement(database: Database) -> Iterator[list[tuple[str, Any]]]:
    """The statements run inside the block that read ``patient``, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def note(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        if "FROM patient" in statement:
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(database.engine, "before_cursor_execute", note)


def _plan(database: Database, statement: str, parameters: Any, *, sort: bool = False) -> str:
    """The database's plan for the statement. PostgreSQL is told not to scan or sort when it
    has another way: on a handful of rows a scan is cheaper, and the question here is whether
    the index serves this query's shape (one clinic, name order, stop at the limit)."""
    with database.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET enable_seqscan = off")
        connection.exec_driver_sql("SET enable_bitmapscan = off")
        if not sort:  # a search's few candidates are sorted: that is the point
            connection.exec_driver_sql("SET enable_sort = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        plan = "\n".join(str(row[0]) for row in rows)
        connection.rollback()
        return plan


def test_the_list_is_by_name_in_any_case_and_a_search_matches_any_part_in_any_case(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    for name in ["zoë Adams", "Eve Élise Martin", "Bob de Vries", "alex Smith", "Dana Émile"]:
        create_patient(uow, _details(name), actor=nurse, catalog=catalog)
    assert _names(uow, nurse) == [
        "alex Smith",
        "Bob de Vries",
        "Dana Émile",
        "Eve Élise Martin",
        "zoë Adams",
    ]
    assert _names(uow, nurse, limit=2) == ["alex Smith", "Bob de Vries"]
    assert _names(uow, nurse, "ÉLI") == ["Eve Élise Martin"]
    assert _names(uow, nurse, "émi") == ["Dana Émile"]
    assert _names(uow, nurse, "DE V") == ["Bob de Vries"]
    assert _names(uow, nurse, "ZOË") == ["zoë Adams"]
    assert _names(uow, nurse, "%") == []  # a wildcard is a character like any other
    assert _names(uow, nurse, "a_") == []


def test_a_renamed_patient_is_listed_and_found_by_the_new_name_only(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    created = create_patient(uow, _details("Sam Before"), actor=nurse, catalog=catalog)
    create_patient(uow, _details("Kim Other"), actor=nurse, catalog=catalog)
    update_patient(
        uow,
        created.patient_id,
        replace(_details("Avery After"), weight="71 kg"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    assert _names(uow, nurse) == ["Avery After", "Kim Other"]
    assert _names(uow, nurse, "before") == []
    [found] = search_patients(uow, "after", actor=nurse)
    assert (found.patient_id, found.version) == (created.patient_id, 2)


def test_the_list_reads_one_clinic_s_index_slice_in_name_order_and_stops_at_the_limit(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    create_patient(uow, _details("Other Clinic Patient"), actor=other, catalog=catalog)
    create_patient(uow, _details("Pat One"), actor=nurse, catalog=catalog)
    # The list; text too short for a trigram; text whose every trigram is common (the
    # threshold lowered, so one patient makes it common).
    monkeypatch.setattr(name_search, "CANDIDATES_AT_MOST", 0)
    for query in ["", "pa", "pat"]:
        with _search_statement(database) as seen:
            assert _names(uow, nurse, query) == ["Pat One"]
        [(statement, parameters)] = [read for read in seen if not read[0].startswith(COUNT)]
        plan = _plan(database, statement, parameters)
        assert INDEX in plan, plan
        if database.engine.dialect.name == "sqlite":
            assert "TEMP B-TREE" not in plan, plan  # no sort: the index gives the order
            assert "patient_version" not in plan, plan
        else:
            assert "Sort" not in plan, plan
            assert "Seq Scan" not in plan, plan
            assert "Index Cond: (clinic_id = " in plan, plan  # only this clinic's entries
            assert plan.startswith("Limit"), plan


def test_the_list_s_statement_and_parameters_do_not_grow_with_the_clinic(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    create_patient(uow, _details("First Patient"), actor=nurse, catalog=catalog)

    def shape(query: str) -> list[tuple[str, int]]:
        with _search_statement(database) as seen:
            search_patients(uow, query, actor=nurse)
        return [(statement, len(parameters)) for statement, parameters in seen]

    small = shape(""), shape("patient")
    for n in range(12):
        create_patient(uow, _details(f"Patient {n}"), actor=nurse, catalog=catalog)
    assert (shape(""), shape("patient")) == small


def test_upgrading_a_database_fills_the_list_columns_from_the_current_versions(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    created = create_patient(uow, _details("Robin Renamed"), actor=nurse, catalog=catalog)
    update_patient(
        uow,
        created.patient_id,
        _details("Robin Current"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    second = replace(_details("Élan Second"), date_of_birth=date(1986, 5, 1))
    create_patient(uow, second, actor=nurse, catalog=catalog)

    def stored() -> list[tuple[object, ...]]:
        with database.session_factory() as session:
            rows = session.execute(
                select(
                    Patient.id, Patient.full_name, Patient.name_key, Patient.date_of_birth
                ).order_by(Patient.id)
            )
            return [tuple(row) for row in rows]

    written_by_the_services = stored(), _trigrams(database), _counts(database)
    assert [row[2] for row in written_by_the_services[0]] == ["robin current", "élan second"]
    with database.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0008")
    with database.engine.begin() as connection:
        command.upgrade(alembic_config(connection), "head")
    assert (stored(), _trigrams(database), _counts(database)) == written_by_the_services


def _trigrams(database: Database) -> dict[int, set[str]]:
    """Each patient's trigrams as the search index holds them."""
    with database.session_factory() as session:
        rows = session.execute(select(PatientNameTrigram.patient_id, PatientNameTrigram.trigram))
        found: dict[int, set[str]] = {}
        for patient_id, trigram in rows:
            found.setdefault(patient_id, set()).add(trigram)
        return found


def _counts(database: Database) -> dict[tuple[int, str], int]:
    """Each clinic's trigram counts as the search reads them, those held by nobody left out."""
    with database.session_factory() as session:
        rows = session.execute(
            select(
                PatientNameTrigramCount.clinic_id,
                PatientNameTrigramCount.trigram,
                PatientNameTrigramCount.holders,
            )
        )
        return {(clinic, trigram): holders for clinic, trigram, holders in rows if holders}


def _counted_from_entries(database: Database) -> dict[tuple[int, str], int]:
    """The same counts, counted from the trigram entries."""
    with database.session_factory() as session:
        rows = session.execute(select(PatientNameTrigram.clinic_id, PatientNameTrigram.trigram))
        counted: dict[tuple[int, str], int] = {}
        for clinic, trigram in rows:
            counted[clinic, trigram] = counted.get((clinic, trigram), 0) + 1
        return counted


def test_a_name_s_trigrams_follow_it_in_the_same_transaction_as_each_new_version(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    created = create_patient(uow, _details("Sam Before"), actor=nurse, catalog=catalog)
    assert _trigrams(database) == {created.patient_id: set(name_trigrams("sam before"))}
    update_patient(
        uow,
        created.patient_id,
        _details("  Ávery  AFTER "),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    assert _trigrams(database) == {created.patient_id: set(name_trigrams("ávery  after"))}
    assert _names(uow, nurse, "ÁVERY  a") == ["Ávery  AFTER"]
    assert _names(uow, nurse, "sam") == []


def test_each_trigram_s_count_is_how_many_of_the_clinic_s_names_hold_it(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    create_patient(uow, _details("Anna Harper"), actor=other, catalog=catalog)
    first = create_patient(uow, _details("Anna Bell"), actor=nurse, catalog=catalog)
    create_patient(uow, _details("Hanna Bell"), actor=nurse, catalog=catalog)
    counts = _counts(database)
    assert counts == _counted_from_entries(database)
    assert counts[nurse.clinic_id, "nna"] == 2
    assert counts[nurse.clinic_id, "han"] == 1
    assert counts[other.clinic_id, "nna"] == 1  # each clinic's own
    update_patient(
        uow,
        first.patient_id,
        _details("Bo Bell"),
        expected_version=1,
        actor=nurse,
        catalog=catalog,
    )
    counts = _counts(database)
    assert counts == _counted_from_entries(database)
    assert counts[nurse.clinic_id, "nna"] == 1  # the renamed patient no longer holds it
    assert counts[nurse.clinic_id, " be"] == 2  # still held by both
    assert (nurse.clinic_id, "bo ") in counts


def test_a_search_whose_every_piece_is_common_reads_no_trigram_entry(
    database: Database,
    uow: UnitOfWork,
    nurse: Actor,
    catalog: Catalog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Which piece is rarest is read from one count row a piece, by key: counting the entries
    read, on PostgreSQL, every holder of each piece (its bitmap scan reads them all before a
    LIMIT applies), so a search whose pieces were all common grew with the clinic (bench-scale,
    exponent 0.16 from 200 to 20,000 patients)."""
    for name in ["Pat One", "Pat Two", "Patty Three"]:
        create_patient(uow, _details(name), actor=nurse, catalog=catalog)
    monkeypatch.setattr(name_search, "CANDIDATES_AT_MOST", 1)  # so two holders are common
    seen: list[tuple[str, Any]] = []

    def note(_c: object, _cur: object, statement: str, parameters: Any, *_: object) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(database.engine, "before_cursor_execute", note)
    try:
        assert _names(uow, nurse, "pat") == ["Pat One", "Pat Two", "Patty Three"]
    finally:
        event.remove(database.engine, "before_cursor_execute", note)
    entries = [s for s, _ in seen if "patient_name_trigram " in s or "patient_name_trigram\n" in s]
    assert entries == [], entries
    [(statement, parameters)] = [read for read in seen if read[0].startswith(COUNT)]
    assert len(_values(parameters)) <= 1 + name_search.TRIGRAMS_COUNTED_AT_MOST
    plan = _plan(database, statement, parameters)
    if database.engine.dialect.name == "sqlite":
        assert "SEARCH patient_name_trigram_count USING" in plan, plan
        assert "SCAN" not in plan, plan
    else:
        assert "pk_patient_name_trigram_count" in plan, plan
        assert "Seq Scan" not in plan, plan


def test_a_search_reads_the_patients_holding_its_rarest_trigram_in_the_clinic_only(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    for name in ["Anna Zed Harper", "Anna Harper"]:
        create_patient(uow, _details(name), actor=other, catalog=catalog)
    for name in ["Anna Zed", "Anna Bell", "Anna Cole", "Anne Harper"]:
        create_patient(uow, _details(name), actor=nurse, catalog=catalog)
    with database.session_factory() as session:
        # "ann", "nna" and "na " are held by three of this clinic's names, "a z" by one; the
        # other clinic's names are not counted.
        assert rarest_trigram(session, nurse.clinic_id, "anna z") == "a z"
        assert rarest_trigram(session, nurse.clinic_id, "nobody") in name_trigrams("nobody")
    assert _names(uow, nurse, "anna z") == ["Anna Zed"]
    assert _names(uow, nurse, "HARPER") == ["Anne Harper"]
    assert _names(uow, nurse, "nobody") == []
    assert _names(uow, nurse, "na ") == ["Anna Bell", "Anna Cole", "Anna Zed"]
    assert _names(uow, nurse, "an") == ["Anna Bell", "Anna Cole", "Anna Zed", "Anne Harper"]

    with _search_statement(database) as seen:
        _names(uow, nurse, "anna z")
    counts = [read for read in seen if read[0].startswith(COUNT)]
    [(statement, parameters)] = [read for read in seen if not read[0].startswith(COUNT)]
    assert counts
    assert all(nurse.clinic_id in _values(p) for _s, p in counts)
    assert "a z" in _values(parameters)
    plan = _plan(database, statement, parameters, sort=True)
    if database.engine.dialect.name == "sqlite":
        # The holders from the trigram key, then each patient by id: no walk of the names.
        assert "patient_name_trigram" in plan, plan
        assert "(clinic_id=? AND trigram=?)" in plan, plan
        assert "SEARCH patient USING INTEGER PRIMARY KEY (rowid=?)" in plan, plan
        assert "SCAN patient" not in plan, plan
        assert INDEX not in plan, plan
    else:
        assert "pk_patient_name_trigram" in plan, plan
        assert "Index Cond: ((clinic_id = " in plan, plan
        assert "trigram = " in plan, plan
        assert INDEX not in plan, plan
        assert "Seq Scan" not in plan, plan


def _values(parameters: Any) -> list[Any]:
    return list(parameters.values() if isinstance(parameters, dict) else parameters)


# ------------------------------------------------------------ paging (API) ----


def _page_names(uow: UnitOfWork, actor: Actor, **kwargs: Any) -> tuple[list[str], int, int | None]:
    page = page_patients(uow, actor=actor, **kwargs)
    return [p.full_name for p in page.patients], page.total, page.next_after


def test_pages_reach_every_patient_once_with_the_total_and_a_new_one_takes_its_place(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    create_patient(uow, _details("Ann Elsewhere"), actor=other, catalog=catalog)
    ids = {
        name: create_patient(uow, _details(name), actor=nurse, catalog=catalog).patient_id
        for name in ["Cy Three", "ann one", "Bo Two", "Di Four", "Ed Five"]
    }
    first = _page_names(uow, nurse, limit=2)
    assert first == (["ann one", "Bo Two"], 5, ids["Bo Two"])
    create_patient(uow, _details("Al Early"), actor=nurse, catalog=catalog)  # before the cursor
    create_patient(uow, _details("Cz Later"), actor=nurse, catalog=catalog)  # after it
    second = _page_names(uow, nurse, limit=2, after=first[2])
    assert second == (["Cy Three", "Cz Later"], 7, ids_of_last(uow, nurse, "Cz Later"))
    third = _page_names(uow, nurse, limit=2, after=second[2])
    assert third == (["Di Four", "Ed Five"], 7, None)
    assert _page_names(uow, nurse, query="o", limit=50) == (
        ["ann one", "Bo Two", "Di Four"],
        3,
        None,
    )


def ids_of_last(uow: UnitOfWork, actor: Actor, name: str) -> int:
    [found] = search_patients(uow, name, actor=actor)
    return found.patient_id


def test_a_page_refuses_a_limit_out_of_bounds_and_a_cursor_from_another_clinic(
    uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    other = set_up_clinic(
        uow, name="Other Clinic", time_zone="Europe/London", admin_email="admin@other.example"
    )
    elsewhere = create_patient(uow, _details("Ann Elsewhere"), actor=other, catalog=catalog)
    for limit in (0, MAX_PATIENT_PAGE + 1):
        with pytest.raises(InputError, match=f"must be 1 to {MAX_PATIENT_PAGE}") as refused:
            page_patients(uow, actor=nurse, limit=limit)
        assert refused.value.fields["field"] == "limit"
    with pytest.raises(InputError, match="not a patient of this list") as refused:
        page_patients(uow, actor=nurse, limit=5, after=elsewhere.patient_id)
    assert refused.value.code == "input.invalid_cursor"


def test_a_page_and_its_total_read_the_clinic_s_index_slice(
    database: Database, uow: UnitOfWork, nurse: Actor, catalog: Catalog
) -> None:
    first = create_patient(uow, _details("Pat One"), actor=nurse, catalog=catalog)
    create_patient(uow, _details("Pat Two"), actor=nurse, catalog=catalog)
    with _search_statement(database) as seen:
        page_patients(uow, actor=nurse, limit=1, after=first.patient_id)
    assert len(seen) == 3  # the cursor's key, the page, the total
    for statement, parameters in seen:
        plan = _plan(database, statement, parameters)
        if database.engine.dialect.name == "sqlite":
            assert "SCAN" not in plan, plan  # a search of the index or the key, never a scan
            assert "TEMP B-TREE" not in plan, plan
        else:
            assert "Seq Scan" not in plan, plan
            assert "Sort" not in plan, plan
    # A search's page and total read the rarest piece's few holders (counted once), then
    # each patient by id: they sort those few, and never scan the patients.
    with _search_statement(database) as seen:
        page_patients(uow, "pat", actor=nurse, limit=1, after=first.patient_id)
    assert len(seen) == 4  # the piece's holders counted, the cursor's key, the page, the total
    for statement, parameters in seen:
        plan = _plan(database, statement, parameters)
        if database.engine.dialect.name == "sqlite":
            assert "SCAN patient" not in plan.replace("SCAN patient_name_trigram", ""), plan
        else:
            assert "Seq Scan on patient " not in plan, plan
