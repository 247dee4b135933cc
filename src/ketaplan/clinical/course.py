"""The treatment course: the initial series against a clinic calendar, rescheduling, boosters.

Seeds ``000``, ``001`` and ``004``: a series of six infusions over two to three weeks, then a
wait of about a month to reassess, then boosters every three to six weeks for mood (``001``) or
every six to eight weeks for pain, given as a pair on consecutive days (``000``, ``003``), or
sooner when symptoms creep back. The numbers come from each protocol's ``series`` and
``booster`` policy in the catalog; the calendar (open days and hours, holidays, spacing) is the
clinic's.

How the series is placed: session ``k`` of ``n`` aims at day ``round(k (min_days - 1) / (n -
1))`` after the first, so six sessions spread over ``min_days``; each session takes the first
appointment at or after its aim that is open, ends (infusion + recovery) by closing time, keeps
the stricter of the protocol's and clinic's ``min_hours_between``, and keeps at most
``max_per_week`` infusions in any seven consecutive days. If the spread cannot end within
``max_days`` (holidays), the sessions are packed as early as the constraints allow; if even
that ends late, the plan keeps every calendar constraint, lists the sessions anyway and says
why the series cannot complete in its window. Calendar constraints are never broken.

Examples
--------
>>> from datetime import date
>>> from ketaplan.clinical.catalog import load_catalog
>>> from ketaplan.clinical.catalog.course_loader import load_calendar
>>> depression = load_catalog().protocol("depression")
>>> plan = schedule_series(depression, date(2026, 12, 7), load_calendar())
>>> [s.start.strftime("%a %d %b") for s in plan.sessions]
['Mon 07 Dec', 'Thu 10 Dec', 'Mon 14 Dec', 'Tue 15 Dec', 'Thu 17 Dec', 'Mon 21 Dec']
>>> plan.completes_within_window
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal, TypeVar

from ketaplan.clinical.calendar import ClinicCalendar, elapsed_h, violations
from ketaplan.clinical.catalog import Protocol
from ketaplan.clinical.outcomes import Relapse, detect_relapse, scale
from ketaplan.errors import InputError

Status = Literal["scheduled", "missed", "cancelled"]
_T = TypeVar("_T")
SEARCH_HORIZON_DAYS = 366
"""Give up looking for a free appointment after a year: a calendar that open is a typo."""

ChairFree = Callable[[datetime, datetime], bool]
"""Whether a chair is free from a start to an end (the service knows the clinic's bookings);
the scheduler skips an appointment with no chair free, as it skips a closed day."""


def _any_chair(start: datetime, end: datetime) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class Appointment:
    """One infusion appointment: series number, aware start and end (infusion + recovery)."""

    number: int
    start: datetime
    end: datetime
    status: Status = "scheduled"

    def to_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "date": self.start.date().isoformat(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "weekday": self.start.strftime("%a"),
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class Spacing:
    """The spacing rules in force: the stricter of the protocol's and the clinic's."""

    min_hours_between: float
    max_per_week: int
    length_min: float

    @classmethod
    def of(cls, protocol: Protocol, calendar: ClinicCalendar) -> Spacing:
        return cls(
            min_hours_between=max(protocol.series.min_hours_between, calendar.min_hours_between),
            max_per_week=min(protocol.series.max_per_week, calendar.max_per_week),
            length_min=protocol.infusion_min + protocol.recovery_min,
        )


@dataclass(frozen=True, slots=True)
class CoursePlan:
    """The series as scheduled, with what was missed and whether it fits its window."""

    protocol_key: str
    sessions: tuple[Appointment, ...]
    missed: tuple[Appointment, ...]
    window_last_day: date
    completes_within_window: bool
    problems: tuple[str, ...]
    spacing: Spacing

    @property
    def series_end(self) -> date:
        return self.sessions[-1].start.date()

    def to_dict(self) -> dict[str, object]:
        return {
            "protocol": self.protocol_key,
            "sessions": [s.to_dict() for s in self.sessions],
            "missed": [s.to_dict() for s in self.missed],
            "window_last_day": self.window_last_day.isoformat(),
            "completes_within_window": self.completes_within_window,
            "problems": list(self.problems),
            "spacing": {
                "min_hours_between": self.spacing.min_hours_between,
                "max_per_week": self.spacing.max_per_week,
                "appointment_min": self.spacing.length_min,
            },
        }


def _fits_spacing(
    candidate: datetime, prior: Sequence[datetime], calendar: ClinicCalendar, spacing: Spacing
) -> bool:
    if prior:
        gap_h = elapsed_h(prior[-1], candidate)
        if gap_h < spacing.min_hours_between - 1e-9:
            return False
    day = candidate.astimezone(calendar.zone).date()
    recent = sum(1 for p in prior if 0 <= (day - p.astimezone(calendar.zone).date()).days < 7)
    return recent + 1 <= spacing.max_per_week


def _next_slot(
    aim: date,
    prior: Sequence[datetime],
    calendar: ClinicCalendar,
    spacing: Spacing,
    chair_free: ChairFree = _any_chair,
) -> datetime:
    """The first appointment on or after ``aim`` that keeps every calendar constraint."""
    for offset in range(SEARCH_HORIZON_DAYS):
        day = aim + timedelta(days=offset)
        if not calendar.is_open(day):
            continue
        for slot in calendar.session_times:
            candidate = calendar.appointment(day, slot)
            if prior and elapsed_h(prior[-1], candidate) <= 0:
                continue
            if (
                calendar.fits(candidate, spacing.length_min)
                and _fits_spacing(candidate, prior, calendar, spacing)
                and chair_free(candidate, candidate + timedelta(minutes=spacing.length_min))
            ):
                return candidate
    raise InputError(
        f"no appointment keeps the calendar's constraints within {SEARCH_HORIZON_DAYS} days "
        f"of {aim.isoformat()}; check the calendar's open days, hours and session times",
        code="input.calendar_full",
        fields={"from": aim.isoformat()},
    )


def _place(
    aims: Sequence[date],
    prior: Sequence[datetime],
    calendar: ClinicCalendar,
    spacing: Spacing,
    chair_free: ChairFree = _any_chair,
) -> list[datetime]:
    placed = list(prior)
    for aim in aims:
        placed.append(_next_slot(aim, placed, calendar, spacing, chair_free))
    return placed[len(prior) :]


def _aims(first: date, count: int, spread_days: int) -> list[date]:
    """Evenly spread target days for ``count`` sessions over ``spread_days`` days."""
    if count <= 1:
        return [first] * count
    last_offset = max(spread_days - 1, 0)
    return [first + timedelta(days=round(k * last_offset / (count - 1))) for k in range(count)]


def _plan(
    protocol: Protocol,
    calendar: ClinicCalendar,
    kept: Sequence[Appointment],
    missed: Sequence[Appointment],
    first_aims: list[date],
    earliest: date,
    chair_free: ChairFree = _any_chair,
) -> CoursePlan:
    spacing = Spacing.of(protocol, calendar)
    prior = [a.start for a in kept]
    length = timedelta(minutes=spacing.length_min)
    n_remaining = protocol.series.sessions - len(kept)

    def build(starts: list[datetime]) -> tuple[tuple[Appointment, ...], date]:
        sessions = tuple(kept) + tuple(
            Appointment(len(kept) + i + 1, s, s + length) for i, s in enumerate(starts)
        )
        first_day = sessions[0].start.astimezone(calendar.zone).date()
        return sessions, first_day + timedelta(days=protocol.series.max_days - 1)

    spread = _place(first_aims, prior, calendar, spacing, chair_free)
    sessions, window_last = build(spread)
    if sessions[-1].start.astimezone(calendar.zone).date() > window_last:
        packed = _place([earliest] * n_remaining, prior, calendar, spacing, chair_free)
        sessions, window_last = build(packed)
    problems = []
    last_day = sessions[-1].start.astimezone(calendar.zone).date()
    if last_day > window_last:
        problems.append(
            f"the series cannot complete within {protocol.series.max_days} days: with the "
            f"clinic's open days, holidays and spacing ({spacing.min_hours_between:g} h apart, "
            f"at most {spacing.max_per_week} in 7 days) session {sessions[-1].number} falls on "
            f"{last_day.isoformat()}, after the window's last day {window_last.isoformat()}; "
            "the prescriber decides whether to extend the series or restart it"
        )
    broken = violations(
        [s.start for s in sessions],
        calendar,
        spacing.length_min,
        spacing.min_hours_between,
        spacing.max_per_week,
    )
    if broken:  # pragma: no cover - the scheduler's own guarantee, checked once more
        raise AssertionError(f"scheduler broke a calendar constraint: {broken}")
    return CoursePlan(
        protocol_key=protocol.key,
        sessions=sessions,
        missed=tuple(missed),
        window_last_day=window_last,
        completes_within_window=not problems,
        problems=tuple(problems),
        spacing=spacing,
    )


def schedule_series(
    protocol: Protocol,
    start: date,
    calendar: ClinicCalendar,
    chair_free: ChairFree = _any_chair,
) -> CoursePlan:
    """The initial series from ``start`` (the first open appointment on or after it with a
    chair free)."""
    series = protocol.series
    first = _next_slot(start, [], calendar, Spacing.of(protocol, calendar), chair_free)
    first_day = first.astimezone(calendar.zone).date()
    aims = _aims(first_day, series.sessions, max(series.min_days, 1))
    return _plan(protocol, calendar, (), (), aims, first_day, chair_free)


def reschedule(
    plan: CoursePlan,
    protocol: Protocol,
    calendar: ClinicCalendar,
    number: int,
    status: Literal["missed", "cancelled"] = "missed",
    from_date: date | None = None,
    chair_free: ChairFree = _any_chair,
) -> CoursePlan:
    """The plan after session ``number`` was missed or cancelled: it and the rest move.

    Sessions before it stay as they were; the missed appointment is kept in ``missed`` for the
    record. The rest keep their rhythm, shifted to start on ``from_date`` (default: the day
    after the missed appointment); if that overruns the window they are packed as early as the
    constraints allow, and if the series still cannot complete the plan says why.
    """
    if protocol.key != plan.protocol_key:
        raise InputError(
            f"the plan is for {plan.protocol_key!r}, not {protocol.key!r}",
            code="input.wrong_protocol",
        )
    numbers = [s.number for s in plan.sessions]
    if number not in numbers:
        raise InputError(
            f"there is no session {number} to reschedule (sessions 1-{len(numbers)})",
            code="input.out_of_range",
            fields={"field": "number", "value": number},
        )
    index = numbers.index(number)
    gone = plan.sessions[index]
    gone_day = gone.start.astimezone(calendar.zone).date()
    earliest = from_date or gone_day + timedelta(days=1)
    if earliest < gone_day:
        raise InputError(
            f"cannot reschedule from {earliest.isoformat()}, before the missed session on "
            f"{gone_day.isoformat()}",
            code="input.out_of_range",
        )
    shift = earliest - gone_day
    aims = [s.start.astimezone(calendar.zone).date() + shift for s in plan.sessions[index:]]
    aims = [max(a, earliest) for a in aims]
    return _plan(
        protocol,
        calendar,
        plan.sessions[:index],
        (*plan.missed, replace(gone, status=status)),
        aims,
        earliest,
        chair_free,
    )


def _stored(value: object, kind: type[_T], what: str) -> _T:
    if not isinstance(value, kind):
        raise TypeError(f"{what} is {type(value).__name__}, not {kind.__name__}")
    return value


def course_plan_from_dict(data: Mapping[str, object]) -> CoursePlan:
    """The plan stored by :meth:`CoursePlan.to_dict`, rebuilt to be rescheduled.

    The input is ketaplan's own JSON (a saved course), so a shape it does not recognise is a
    damaged record: an :class:`InputError` naming what is wrong, never a silent guess.
    """

    def appointments(key: str) -> tuple[Appointment, ...]:
        found = []
        for item in _stored(data[key], list, key):
            entry = _stored(item, dict, f"an entry of {key}")
            status = entry["status"]
            if status not in ("scheduled", "missed", "cancelled"):
                raise ValueError(f"unknown appointment status {status!r}")
            found.append(
                Appointment(
                    int(entry["number"]),
                    datetime.fromisoformat(_stored(entry["start"], str, "start")),
                    datetime.fromisoformat(_stored(entry["end"], str, "end")),
                    status,
                )
            )
        return tuple(found)

    try:
        spacing = _stored(data["spacing"], dict, "spacing")
        return CoursePlan(
            protocol_key=_stored(data["protocol"], str, "protocol"),
            sessions=appointments("sessions"),
            missed=appointments("missed"),
            window_last_day=date.fromisoformat(_stored(data["window_last_day"], str, "window")),
            completes_within_window=bool(data["completes_within_window"]),
            problems=tuple(str(p) for p in _stored(data["problems"], list, "problems")),
            spacing=Spacing(
                min_hours_between=float(spacing["min_hours_between"]),
                max_per_week=int(spacing["max_per_week"]),
                length_min=float(spacing["appointment_min"]),
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"the stored course schedule cannot be read ({type(exc).__name__}: {exc})",
            code="input.damaged_schedule",
        ) from exc


# ------------------------------------------------------------------------------ boosters ----


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    """A questionnaire total on a date (the scoring is in :mod:`ketaplan.clinical.outcomes`)."""

    on: date
    scale: str
    total: int


@dataclass(frozen=True, slots=True)
class BoosterRecommendation:
    """A proposed booster (one or a pair of consecutive days) with why and by when."""

    trigger: Literal["relapse", "maintenance"]
    dates: tuple[date, ...]
    window: tuple[date, date]
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {
            "trigger": self.trigger,
            "dates": [d.isoformat() for d in self.dates],
            "window": [self.window[0].isoformat(), self.window[1].isoformat()],
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class BoosterPlan:
    """Reassessment after the series, and booster recommendations, each with its reason."""

    series_end: date
    reassess_on: date
    interval_weeks: tuple[int, int]
    consecutive_days: int
    recommendations: tuple[BoosterRecommendation, ...]
    relapses: tuple[Relapse, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "series_end": self.series_end.isoformat(),
            "reassess_on": self.reassess_on.isoformat(),
            "interval_weeks": list(self.interval_weeks),
            "consecutive_days": self.consecutive_days,
            "recommendations": [r.to_dict() for r in self.recommendations],
            "relapse_checks": [
                {"scale": r.scale, "relapsed": r.relapsed, "rule": r.rule, "reason": r.reason}
                for r in self.relapses
            ],
        }


def _open_run(earliest: date, days: int, calendar: ClinicCalendar) -> tuple[date, ...]:
    """The first ``days`` consecutive open days on or after ``earliest``."""
    for offset in range(SEARCH_HORIZON_DAYS):
        first = earliest + timedelta(days=offset)
        run = tuple(first + timedelta(days=i) for i in range(days))
        if all(calendar.is_open(d) for d in run):
            return run
    raise InputError(
        f"the calendar has no {days} consecutive open days within a year of {earliest}",
        code="input.calendar_full",
    )


def plan_boosters(
    protocol: Protocol,
    series_end: date,
    calendar: ClinicCalendar,
    series_end_scores: Mapping[str, int] | None = None,
    follow_up: Sequence[ScoreRecord] = (),
) -> BoosterPlan:
    """Reassessment and boosters after the series.

    * Reassess ``reassess_after_days`` after the last series session (seed ``000``: "we then
      wait about a month").
    * When a follow-up score shows relapse (:func:`~ketaplan.clinical.outcomes.detect_relapse`:
      out of remission, or a rise of at least the scale's reliable change), a booster is
      recommended at the first open day(s) after that score.
    * Otherwise a maintenance booster is proposed inside the protocol's ``interval_weeks``
      window after the series, not before the reassessment (seed ``001``: every 3-6 weeks for
      mood; seed ``003``: every 6-8 weeks for pain), then at that interval.

    Pain protocols with ``consecutive_days = 2`` get each booster as a pair on two consecutive
    open days (seed ``000``).
    """
    booster = protocol.booster
    reassess_on = series_end + timedelta(days=booster.reassess_after_days)
    low_w, high_w = booster.interval_weeks
    pair = booster.consecutive_days
    pair_text = f" as {pair} infusions on consecutive days" if pair > 1 else ""
    recommendations = []
    relapses = []
    ends = dict(series_end_scores or {})
    by_scale: dict[str, list[ScoreRecord]] = {}
    for record in sorted(follow_up, key=lambda r: r.on):
        if record.on < series_end:
            continue
        by_scale.setdefault(scale(record.scale).key, []).append(record)
    for key, records in by_scale.items():
        if key not in ends:
            relapses.append(
                Relapse(
                    key,
                    False,
                    f"no {key} score from the end of the series to compare the follow-up "
                    "with; record one at the last session",
                )
            )
            continue
        finding = detect_relapse(key, ends[key], [r.total for r in records])
        relapses.append(finding)
        if finding.relapsed and finding.at_index is not None:
            seen = records[finding.at_index].on
            dates = _open_run(seen + timedelta(days=1), pair, calendar)
            recommendations.append(
                BoosterRecommendation(
                    trigger="relapse",
                    dates=dates,
                    window=(dates[0], dates[0] + timedelta(days=7)),
                    reason=f"symptoms returning after the series: {finding.reason} "
                    f"(on {seen.isoformat()}); booster{pair_text} within a week",
                )
            )
    window = (series_end + timedelta(weeks=low_w), series_end + timedelta(weeks=high_w))
    aim = max(window[0], reassess_on)
    after = f"after the series, not before the reassessment on {reassess_on.isoformat()}"
    if recommendations:
        last_booster = recommendations[-1].dates[0]
        window = (
            last_booster + timedelta(weeks=low_w),
            last_booster + timedelta(weeks=high_w),
        )
        aim = window[0]
        after = f"after the relapse booster on {last_booster.isoformat()}"
    dates = _open_run(aim, pair, calendar)
    responding = [r for r in relapses if not r.relapsed]
    state = "; scores so far hold: " + "; ".join(r.reason for r in responding) if responding else ""
    recommendations.append(
        BoosterRecommendation(
            trigger="maintenance",
            dates=dates,
            window=window,
            reason=f"maintenance booster{pair_text} {low_w}-{high_w} weeks {after} "
            "(protocol booster.interval_weeks, source "
            f"{protocol.source_of('booster.interval_weeks')}), "
            "then every "
            f"{low_w}-{high_w} weeks if the reassessment supports it{state}",
        )
    )
    return BoosterPlan(
        series_end=series_end,
        reassess_on=reassess_on,
        interval_weeks=(low_w, high_w),
        consecutive_days=pair,
        recommendations=tuple(recommendations),
        relapses=tuple(relapses),
    )
