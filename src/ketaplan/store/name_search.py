"""The index a patient search reads: each current name key in three-character pieces, by clinic.

A search matches any part of a name (``"arp"`` finds "Harper"), in any case: ``patient.name_key``
(the name case-folded) contains the case-folded text typed. A B-tree on names serves that only
by walking the clinic's names until enough match, which for a name few share means every name
of the clinic. So every name key is also kept here as its trigrams (``"harper"``: ``har``,
``arp``, ``rpe``, ``per``; spaces count as characters), keyed ``(clinic_id, trigram,
patient_id)``: a name contains the text typed only if it holds each of the text's trigrams, so
the patients holding the text's *rarest* trigram are the only candidates, and reading them is one
range of this clinic's entries, never another clinic's. The candidates are then matched against
the whole text (``name_key LIKE``), so the answer is exactly the "contains" search's.

How a search chooses (:func:`rarest_trigram`): how many of the clinic's patients hold each
trigram of the text is read from ``patient_name_trigram_count`` (one row a trigram, kept in step
with the entries in the same transaction), and the rarest is read if no more than
:data:`CANDIDATES_AT_MOST` patients hold it. (Counting the entries instead, each count stopping
at that number, cost up to 8 x 501 entries a search, and on PostgreSQL every holder of each
trigram: its planner read a trigram's entries through a bitmap, which reads them all before a
``LIMIT`` applies, so a search whose pieces were all common grew with the clinic, exponent 0.16
from 200 to 20,000 patients.) When every trigram is that common, or the text is shorter than
three characters (it has no trigram), the search walks the clinic's names in order instead and
stops at the page's last match; a common piece fills the page within a few names. The cost is
then bounded by the clinic's patients only for text whose every piece is common but which
matches few names as a whole.

Why this table and not SQLite's FTS5 trigram tokenizer or PostgreSQL's ``pg_trgm``: both index
every clinic's names in one posting list per trigram (a search reads other clinics' entries
before the clinic filter, unless ``btree_gin`` puts the clinic into a GIN key on PostgreSQL),
``pg_trgm`` needs ``CREATE EXTENSION`` by a role allowed to run it, and the two would be two
implementations with two query plans; a plain table with a B-tree key is the same on both, and
is written in the same transaction as the name (by :func:`index_patient_name`, which the
patient services call wherever they set ``name_key``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import cast

from sqlalchemy import CTE, Connection, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ketaplan.store.models import PatientNameTrigram, PatientNameTrigramCount

TRIGRAM = 3
"""Characters per piece: a text shorter than this has none, and walks the names in order."""

CANDIDATES_AT_MOST = 500
"""The most patients a search reads through its rarest trigram; past it, names in order."""

TRIGRAMS_COUNTED_AT_MOST = 8
"""How many of a long text's trigrams are looked up (spread across it): any one of them bounds
the candidates, and the lookup's parameters stay bounded however long the text."""

_TRIGRAMS = cast(Table, PatientNameTrigram.__table__)
_COUNTS = cast(Table, PatientNameTrigramCount.__table__)


def name_trigrams(key: str) -> list[str]:
    """The distinct three-character pieces of ``key``, in order of first appearance.

    >>> name_trigrams("anna ann")
    ['ann', 'nna', 'na ', 'a a', ' an']
    >>> name_trigrams("li")
    []
    """
    return list(dict.fromkeys(key[i : i + TRIGRAM] for i in range(len(key) - TRIGRAM + 1)))


def index_patient_name(db: Session | Connection, clinic_id: int, patient_id: int, key: str) -> None:
    """Replace the patient's trigrams with those of ``key`` (their current name key), and their
    counts with them, in the caller's transaction."""
    held = set(
        db.execute(select(_TRIGRAMS.c.trigram).where(_TRIGRAMS.c.patient_id == patient_id))
        .scalars()
        .all()
    )
    db.execute(delete(_TRIGRAMS).where(_TRIGRAMS.c.patient_id == patient_id))
    insert_name_trigrams(db, [(clinic_id, patient_id, key)])
    changes: Counter[tuple[int, str]] = Counter({(clinic_id, t): -1 for t in held})
    changes.update((clinic_id, t) for t in name_trigrams(key))
    _count(db, changes)


def index_new_patient_names(
    db: Session | Connection, patients: Iterable[tuple[int, int, str]]
) -> None:
    """The trigrams of patients that have none yet, and their counts: ``(clinic_id, patient_id,
    name_key)`` each (a new patient; a bulk load)."""
    patients = list(patients)
    insert_name_trigrams(db, patients)
    _count(
        db,
        Counter(
            (clinic_id, trigram)
            for clinic_id, _id, key in patients
            for trigram in name_trigrams(key)
        ),
    )


def insert_name_trigrams(
    db: Session | Connection, patients: Iterable[tuple[int, int, str]]
) -> None:
    """The trigram entries alone of patients that have none yet (migration 0015, which runs
    before the counts' table exists; the counts are then filled from the entries)."""
    rows = [
        {"clinic_id": clinic_id, "trigram": trigram, "patient_id": patient_id}
        for clinic_id, patient_id, key in patients
        for trigram in name_trigrams(key)
    ]
    if rows:
        db.execute(insert(_TRIGRAMS), rows)


def _count(db: Session | Connection, changes: Counter[tuple[int, str]]) -> None:
    """Add each change to its trigram's count (a row made at the first holder). One pass in key
    order: two transactions changing counts they share take the rows' locks in the same order
    (on PostgreSQL), so neither waits on the other holding one it needs next."""
    rows = [
        {"clinic_id": clinic_id, "trigram": trigram, "holders": change}
        for (clinic_id, trigram), change in sorted(changes.items())
        if change
    ]
    if not rows:
        return
    dialect = db.get_bind().dialect.name if isinstance(db, Session) else db.dialect.name
    upsert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_COUNTS)
    db.execute(
        upsert.on_conflict_do_update(
            index_elements=[_COUNTS.c.clinic_id, _COUNTS.c.trigram],
            set_={"holders": _COUNTS.c.holders + upsert.excluded.holders},
        ),
        rows,
    )


def _spread(trigrams: list[str]) -> list[str]:
    if len(trigrams) <= TRIGRAMS_COUNTED_AT_MOST:
        return trigrams
    step = (len(trigrams) - 1) / (TRIGRAMS_COUNTED_AT_MOST - 1)
    return [trigrams[round(n * step)] for n in range(TRIGRAMS_COUNTED_AT_MOST)]


def rarest_trigram(db: Session | Connection, clinic_id: int, key: str) -> str | None:
    """The trigram of ``key`` the fewest of the clinic's patients hold, if no more than
    :data:`CANDIDATES_AT_MOST` do; None if every one looked up is commoner or ``key`` has none.

    One statement: each of up to :data:`TRIGRAMS_COUNTED_AT_MOST` trigrams' count, by key. A
    trigram with no count row is held by nobody (nor, then, is the text)."""
    trigrams = _spread(name_trigrams(key))
    if not trigrams:
        return None
    counts = select(_COUNTS.c.trigram, _COUNTS.c.holders).where(
        _COUNTS.c.clinic_id == clinic_id, _COUNTS.c.trigram.in_(trigrams)
    )
    counted: dict[str, int] = {row.trigram: row.holders for row in db.execute(counts)}
    holders, rarest = min((counted.get(t, 0), n) for n, t in enumerate(trigrams))
    return trigrams[rarest] if holders <= CANDIDATES_AT_MOST else None


def trigram_holders(clinic_id: int, trigram: str) -> CTE:
    """The clinic's patients whose name key holds ``trigram``, as a materialised common table
    expression: the database reads these few index entries first and then the patients by id,
    rather than walking the clinic's names in order and probing each (which a planner without
    statistics, SQLite's as shipped, may otherwise prefer for its ready-made order)."""
    return (
        select(_TRIGRAMS.c.patient_id)
        .where(_TRIGRAMS.c.clinic_id == clinic_id, _TRIGRAMS.c.trigram == trigram)
        .cte("trigram_holders")
        .prefix_with("MATERIALIZED")
    )
