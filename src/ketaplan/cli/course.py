"""``ketaplan course``: schedule a series against the clinic calendar, with boosters."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ketaplan.clinical.outcomes import Outcome


def course(
    condition: Annotated[str, typer.Option("--condition", help="Protocol key or alias.")],
    start: Annotated[
        str, typer.Option("--start", help="First day the series may start, YYYY-MM-DD.")
    ],
    calendar_file: Annotated[
        Path | None,
        typer.Option("--calendar", help="The clinic's calendar (TOML or JSON) over the default."),
    ] = None,
    missed: Annotated[
        list[int] | None,
        typer.Option("--missed", help="A session number that was missed; the rest move."),
    ] = None,
    cancelled: Annotated[
        list[int] | None,
        typer.Option("--cancelled", help="A session number that was cancelled; the rest move."),
    ] = None,
    history: Annotated[
        Path | None,
        typer.Option("--history", help="history.json: follow-up scores for booster advice."),
    ] = None,
    ics: Annotated[Path | None, typer.Option("--ics", help="Write the course as .ics.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Schedule the series, reschedule missed sessions, recommend boosters with reasons."""
    from ketaplan.cli._output import print_json, print_lines
    from ketaplan.cli.titrate import outcome_line, read_history
    from ketaplan.clinical.catalog import load_catalog
    from ketaplan.clinical.catalog.course_loader import load_calendar
    from ketaplan.clinical.course import plan_boosters, reschedule, schedule_series
    from ketaplan.clinical.titration import history_outcomes, series_end_scores
    from ketaplan.inputs import clinic_date

    first_day = clinic_date(start, field="--start")
    catalog = load_catalog()
    protocol = catalog.protocol(condition)
    calendar = load_calendar(calendar_file, catalog.clinic.time_zone)
    plan = schedule_series(protocol, first_day, calendar)
    changes = [(n, "missed") for n in missed or ()] + [(n, "cancelled") for n in cancelled or ()]
    for number, status in sorted(changes):
        plan = reschedule(plan, protocol, calendar, number, status)  # type: ignore[arg-type]
    outcomes: tuple[Outcome, ...] = ()
    if history is not None:
        record = read_history(history)
        outcomes = history_outcomes(record)
        boosters = plan_boosters(
            protocol, plan.series_end, calendar, series_end_scores(record), record.follow_up
        )
    else:
        boosters = plan_boosters(protocol, plan.series_end, calendar)
    if ics is not None:
        import hashlib

        from ketaplan.export.ics import course_to_ics
        from ketaplan.services.course_calendar import draft_heading

        # A course never saved has no number: its UIDs are keyed by what was scheduled, hashed
        # so that they do not spell the protocol (the diagnosis).
        scheduled = f"{protocol.key}|{first_day.isoformat()}|{plan.sessions[0].start.isoformat()}"
        draft_key = "course-" + hashlib.sha256(scheduled.encode()).hexdigest()[:12]
        ics.write_bytes(
            course_to_ics(
                plan,
                heading=draft_heading(catalog, calendar.time_zone),
                course_key=draft_key,
                stamp=datetime.now(calendar.zone),
                boosters=boosters,
            )
        )
    if as_json:
        print_json(
            {
                **plan.to_dict(),
                "boosters": boosters.to_dict(),
                "outcomes": [o.to_dict() for o in outcomes],
            }
        )
        return
    lines = [f"{protocol.title}: {len(plan.sessions)} sessions ({calendar.time_zone})"]
    lines += [f"  {s.number}. {s.start:%a %Y-%m-%d %H:%M}-{s.end:%H:%M}" for s in plan.sessions]
    lines += [f"  {m.status}: session {m.number} on {m.start:%a %Y-%m-%d}" for m in plan.missed]
    lines += [f"  problem: {p}" for p in plan.problems]
    for outcome in outcomes:
        lines += [outcome_line(outcome.scale, outcome), f"  - {outcome.reason}"]
    for check in boosters.relapses:
        verdict = f"relapse ({check.rule})" if check.relapsed else "no relapse"
        lines.append(f"Relapse check ({check.scale}): {verdict}: {check.reason}")
    lines.append(f"Reassess on {boosters.reassess_on:%a %Y-%m-%d}")
    for r in boosters.recommendations:
        days = ", ".join(f"{d:%a %Y-%m-%d}" for d in r.dates)
        lines.append(f"Booster ({r.trigger}) {days}: {r.reason}")
    if ics is not None:
        lines.append(f"Calendar written to {ics}")
    print_lines(lines)
