"""Measurement-based care: which questionnaires a patient is due, from the protocol's schedule.

The schedule is catalog data (``clinical/catalog/questionnaires.toml``, every number cited):
per protocol, the scales it asks, whether they are due before each infusion of the series, and
how often after the series. What is *due* is never stored: it is derived here from the series'
session days and the days the patient last answered, so a reschedule or a new answer changes
it at once and nothing can go stale.

Examples
--------
>>> from datetime import date
>>> s = load_schedules()
>>> s.for_protocol("depression", "mood").scales
('phq9',)
>>> due = due_questionnaires(
...     s.for_protocol("depression", "mood"),
...     session_days=(date(2026, 12, 7), date(2026, 12, 9)),
...     answered={"phq9": (date(2026, 12, 7),)},
...     today=date(2026, 12, 8),
...     answer_window_days=s.answer_window_days,
... )
>>> [(d.scale, d.due_on.isoformat(), d.reason) for d in due]
[('phq9', '2026-12-09', 'before infusion 2 of the series on 09 Dec 2026')]
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

from ketaplan.clinical.outcomes import SCALES
from ketaplan.errors import CatalogError

SCHEDULE_FILE = Path(__file__).parent / "catalog" / "questionnaires.toml"
_SCHEDULE_KEYS = {"scales", "before_each_infusion", "follow_up_every_days", "sources"}
_MAX_DAYS = 365


@dataclass(frozen=True, slots=True)
class QuestionnaireSchedule:
    """One schedule: the scales, and when they are due."""

    key: str
    scales: tuple[str, ...]
    before_each_infusion: bool
    follow_up_every_days: int
    sources: Mapping[str, str]
    own_every_days: Mapping[str, int] = field(default_factory=dict)
    """A clinic's own follow-up interval for some of the scales (days), over the catalog's."""

    def every_days(self, scale: str) -> int:
        """How many days after the series this scale is asked again: the clinic's, or the
        catalog's ``follow_up_every_days``."""
        return self.own_every_days.get(scale, self.follow_up_every_days)


@dataclass(frozen=True, slots=True)
class Schedules:
    """Every schedule, which protocol follows which, and the answer window."""

    by_key: Mapping[str, QuestionnaireSchedule]
    by_protocol: Mapping[str, str]
    answer_window_days: int
    sources: Mapping[str, str]

    def with_every_days(self, own: Mapping[str, int]) -> Schedules:
        """The schedules with a clinic's own follow-up interval per scale (``{"phq9": 21}``);
        a scale it does not name keeps each schedule's catalog interval.

        >>> s = load_schedules().with_every_days({"phq9": 21})
        >>> s.for_protocol("ptsd", "mood").every_days("phq9"), s.for_protocol(
        ...     "ptsd", "mood"
        ... ).every_days("pcl5")
        (21, 28)
        """
        if not own:
            return self
        return replace(
            self,
            by_key={
                key: replace(
                    schedule,
                    own_every_days={s: own[s] for s in schedule.scales if s in own},
                )
                for key, schedule in self.by_key.items()
            },
        )

    def catalog_every_days(self, scale: str) -> list[tuple[int, str, str]]:
        """The catalog's follow-up intervals for a scale, each with the schedule that asks it
        and its source key: ``[(14, "mood", "kroenke_2001"), (28, "ptsd", "ncptsd_pcl5")]``."""
        return sorted(
            {
                (s.follow_up_every_days, s.key, s.sources.get("follow_up_every_days", ""))
                for s in self.by_key.values()
                if scale in s.scales
            }
        )

    def for_protocol(self, protocol_key: str, category: str) -> QuestionnaireSchedule:
        """The protocol's own schedule if named, else its category's (``mood`` or ``pain``)."""
        key = self.by_protocol.get(protocol_key, category)
        if key not in self.by_key:
            raise CatalogError(
                f"no questionnaire schedule for protocol {protocol_key!r} (category "
                f"{category!r}); schedules: {', '.join(sorted(self.by_key))}",
                code="catalog.no_questionnaire_schedule",
            )
        return self.by_key[key]


@dataclass(frozen=True, slots=True)
class DueQuestionnaire:
    """A scale the patient should answer, by when, and why (in words a clinician reads)."""

    scale: str
    title: str
    due_on: date
    reason: str


def _fail(where: str, problem: str) -> CatalogError:
    return CatalogError(
        f"{SCHEDULE_FILE.name}: questionnaire_schedule.{where}: {problem}",
        code="catalog.invalid",
    )


def _days(where: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _MAX_DAYS:
        raise _fail(where, f"{value!r} is not a whole number of days from 0 to {_MAX_DAYS}")
    return value


def _schedule(
    key: str, raw: Mapping[str, object], known: Mapping[str, str]
) -> QuestionnaireSchedule:
    unknown = set(raw) - _SCHEDULE_KEYS
    if unknown:
        raise _fail(key, f"unknown keys {sorted(unknown)}; accepted: {sorted(_SCHEDULE_KEYS)}")
    scales = raw.get("scales")
    if not isinstance(scales, list) or not scales or any(s not in SCALES for s in scales):
        raise _fail(key, f"scales {scales!r}: give a list of {', '.join(SCALES)}")
    before = raw.get("before_each_infusion", False)
    if not isinstance(before, bool):
        raise _fail(key, "before_each_infusion is true or false")
    sources = raw.get("sources", {})
    if not isinstance(sources, dict):
        raise _fail(key, "sources is a table of field = source key")
    cited = {str(field): str(source) for field, source in sources.items()}
    for name in ("scales", "follow_up_every_days"):
        if cited.get(name) not in known:
            raise _fail(key, f"{name} needs a source from sources.toml (got {cited.get(name)!r})")
    return QuestionnaireSchedule(
        key=key,
        scales=tuple(str(s) for s in scales),
        before_each_infusion=before,
        follow_up_every_days=_days(f"{key}.follow_up_every_days", raw.get("follow_up_every_days")),
        sources=cited,
    )


def load_schedules(
    known_sources: Mapping[str, str] | None = None, path: Path = SCHEDULE_FILE
) -> Schedules:
    """The schedules in ``path``, checked: known scales, days in range, every number cited.

    ``known_sources`` is the catalog's sources (:attr:`Catalog.sources`); without it the keys of
    the packaged ``sources.toml`` are used."""
    if known_sources is None:
        with (SCHEDULE_FILE.parent / "sources.toml").open("rb") as handle:
            known_sources = tomllib.load(handle)["sources"]
    with path.open("rb") as handle:
        root = tomllib.load(handle).get("questionnaire_schedule", {})
    protocols = root.get("protocols", {})
    by_key = {
        key: _schedule(key, raw, known_sources)
        for key, raw in root.items()
        if isinstance(raw, dict) and key not in {"protocols", "sources"}
    }
    for protocol, key in protocols.items():
        if key not in by_key:
            raise _fail(f"protocols.{protocol}", f"{key!r} is not a schedule")
    sources = {str(k): str(v) for k, v in root.get("sources", {}).items()}
    if sources.get("answer_window_days") not in known_sources:
        raise _fail("answer_window_days", "needs a source from sources.toml")
    return Schedules(
        by_key=by_key,
        by_protocol={str(k): str(v) for k, v in protocols.items()},
        answer_window_days=_days("answer_window_days", root.get("answer_window_days")),
        sources=sources,
    )


@cache
def default_schedules() -> Schedules:
    """The packaged schedules, loaded once per process (the file does not change while it runs)."""
    return load_schedules()


def _shown(day: date) -> str:
    return day.strftime("%d %b %Y")


def due_questionnaires(
    schedule: QuestionnaireSchedule,
    *,
    session_days: Sequence[date],
    answered: Mapping[str, Sequence[date]],
    today: date,
    answer_window_days: int,
) -> tuple[DueQuestionnaire, ...]:
    """The scales due now or at the next session, from the series' session days (in order) and
    the days each scale was answered.

    Before each infusion: the next session on or after ``today`` makes a scale due when today is
    within ``answer_window_days`` before it and the scale was not answered in that window since
    the previous session's day (an answer on that day was for the previous session).
    After the series (its last day before today): due ``follow_up_every_days`` after the latest
    of the last answer and the last session day. A patient with no series is due nothing here
    (the baseline is asked when the series is booked)."""
    days = sorted(session_days)
    if not days:
        return ()
    due: list[DueQuestionnaire] = []
    window = timedelta(days=answer_window_days)
    upcoming = [(n, d) for n, d in enumerate(days, start=1) if d >= today]
    for scale in schedule.scales:
        answers = sorted(answered.get(scale, ()))
        title = SCALES[scale].title
        if upcoming:
            number, day = upcoming[0]
            # An answer counts for this infusion from the window's start, but not from the
            # previous infusion's day or before: that answer was for the previous one.
            previous = days[number - 2] if number > 1 else None
            opens = day - window
            if previous is not None and previous >= opens:
                opens = previous + timedelta(days=1)
            answered_in_window = any(opens <= a <= day for a in answers)
            if schedule.before_each_infusion and today >= day - window and not answered_in_window:
                due.append(
                    DueQuestionnaire(
                        scale,
                        title,
                        day,
                        f"before infusion {number} of the series on {_shown(day)}",
                    )
                )
            continue
        since = max([days[-1], *answers])
        every = schedule.every_days(scale)
        due_on = since + timedelta(days=every)
        if every and due_on <= today:
            due.append(
                DueQuestionnaire(
                    scale,
                    title,
                    due_on,
                    f"every {every} days after the series "
                    f"(last answered {_shown(answers[-1]) if answers else 'never'})",
                )
            )
    return tuple(due)
