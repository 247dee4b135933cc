"""``ketaplan export``: the clinic's records as FHIR R4 (ndjson, and a patient's Bundle) or as
CSV files for leaving ketaplan (:mod:`ketaplan.services.exports`,
:mod:`ketaplan.services.exit_export`).

Both write into a directory that must be new or empty (nothing is overwritten), readable by the
owner only (0700, files 0600): the files hold every patient's record. The reads are audited like
the API's, with the origin ``cli``. The whole clinic is an admin's (``--as``, or the first
admin of the only clinic); one patient's FHIR record may be exported by any clinical role.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ketaplan.cli.user import ActingAdmin

if TYPE_CHECKING:
    from ketaplan.clinical.policy import ClinicPolicy
    from ketaplan.services import Actor, UnitOfWork

app = typer.Typer(
    help="Export the clinic's records: FHIR R4 (US Core) or CSV.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

Directory = Annotated[
    Path, typer.Argument(help="A new or empty directory for the files.", show_default=False)
]
DEFAULT_BASE_URL = "http://127.0.0.1:8000/api/v1/fhir"


def check_directory(directory: Path) -> None:
    """Refuse a ``directory`` that is a file or holds anything (before any read, so that a
    refusal reads and writes nothing)."""
    from ketaplan.errors import InputError

    if directory.exists():
        if not directory.is_dir():
            raise InputError(
                f"{directory} is a file; give a new or empty directory",
                code="input.not_a_directory",
                fields={"field": "directory"},
            )
        if any(directory.iterdir()):
            raise InputError(
                f"{directory} is not empty; give a new or empty directory (nothing is overwritten)",
                code="input.directory_not_empty",
                fields={"field": "directory"},
            )


def make_directory(directory: Path) -> None:
    """Make ``directory`` for the owner only (or narrow an empty one to the owner)."""
    check_directory(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.chmod(0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to a new file readable by the owner only."""
    with path.open("x", encoding="utf-8", newline="") as file:
        path.chmod(0o600)
        file.write(text)


def _served() -> tuple[str, ClinicPolicy]:
    """The database URL and the served files' clinic policy, as ``KETAPLAN_DATABASE_URL`` and
    ``KETAPLAN_CATALOG`` name them."""
    import os

    from ketaplan.clinical.catalog.course_loader import load_policy
    from ketaplan.settings import load_settings

    settings = load_settings(os.environ)
    return settings.database_url, load_policy(settings.catalog_files)


def _actor(uow: UnitOfWork, acting: str | None) -> Actor:
    from ketaplan.services import load_actor
    from ketaplan.services.maintenance import operator_admin

    if acting is None:
        return operator_admin(uow)
    return load_actor(uow, acting, origin="cli")


@app.command("fhir")
def fhir(
    directory: Directory,
    patient: Annotated[
        int | None,
        typer.Option("--patient", help="One patient's record (and its $everything Bundle)."),
    ] = None,
    acting: ActingAdmin = None,
    base_url: Annotated[
        str, typer.Option("--base-url", help="The FHIR base the Bundle's fullUrls start with.")
    ] = DEFAULT_BASE_URL,
) -> None:
    """FHIR R4 resources (US Core 8 profiles) as one ndjson file per resource type."""
    from datetime import UTC, datetime

    from ketaplan.cli._output import print_lines
    from ketaplan.export.fhir import by_type, everything_bundle, ndjson
    from ketaplan.services.exports import export_clinic_fhir, export_patient_fhir
    from ketaplan.services.maintenance import operator_unit_of_work

    check_directory(directory)
    database_url, policy = _served()
    with operator_unit_of_work(database_url) as uow:
        actor = _actor(uow, acting)
        if patient is None:
            found = export_clinic_fhir(uow, actor=actor, policy=policy)
        else:
            found = export_patient_fhir(uow, patient, actor=actor, policy=policy)
    grouped = by_type(found.resources)
    make_directory(directory)
    for kind, resources in grouped.items():
        write_private(directory / f"{kind}.ndjson", ndjson(resources))
    lines = [
        f"Exported {len(found.resources)} FHIR resources of {len(found.patient_ids)} "
        f"patient(s) to {directory}, as {actor.email}:",
        *(f"  {kind}.ndjson  {len(resources)}" for kind, resources in grouped.items()),
    ]
    if patient is not None:
        import json

        bundle = everything_bundle(
            list(found.resources), base_url=base_url, timestamp=datetime.now(UTC)
        )
        name = f"Patient-{patient}-everything.json"
        write_private(directory / name, json.dumps(bundle, ensure_ascii=False, indent=1) + "\n")
        lines.append(f"  {name}  (a searchset Bundle, as Patient/$everything answers)")
    print_lines(lines)


@app.command("csv")
def csv(directory: Directory, acting: ActingAdmin = None) -> None:
    """The exit export: one CSV per record type and a README of the columns (admin only)."""
    from ketaplan.cli._output import print_lines
    from ketaplan.services.exit_export import export_clinic_csv
    from ketaplan.services.maintenance import operator_unit_of_work

    check_directory(directory)
    database_url, _policy = _served()
    with operator_unit_of_work(database_url) as uow:
        files = export_clinic_csv(uow, actor=_actor(uow, acting))
    make_directory(directory)
    for name, text in files.items():
        write_private(directory / name, text)
    print_lines([f"Wrote {len(files)} files to {directory}: {', '.join(sorted(files))}"])
