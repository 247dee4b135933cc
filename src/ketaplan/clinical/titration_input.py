"""Reading a titration history document (``ketaplan titrate history.json``) into a
:class:`~ketaplan.clinical.titration.History`, refusing what it cannot use.

Every refusal is an :class:`~ketaplan.errors.InputError` (``input.invalid_history``) that names
the field by its path in the document (``sessions[2].mg_per_kg``) and says what is accepted.
Scores are checked as the questionnaires are (a total in range, or the item answers); PHQ-9
item 9 is kept for every PHQ-9 in the document, since titration never raises a dose while it is
above 0 or unknown after a positive answer.

History (``ketaplan titrate history.json``)::

    {
      "condition": "depression",
      "weight": "80 kg",
      "primary_scale": "phq9",                       # optional: phq9 (mood) / pain_nrs (pain)
      "baseline": {"date": "2026-12-07", "scores": {"phq9": 19}},
      "sessions": [
        {"number": 1, "date": "2026-12-07", "mg_per_kg": 0.5,
         "tolerability": 1,                          # ketaplan 0-4 rating (outcomes.py)
         "side_effects": [{"name": "nausea", "severity": "mild"}],
         "alerts": ["vitals.in_sbp_hold"],           # alert codes from session replay
         "pauses": 0,
         "scores": {"phq9": 15},                     # a total, or the list of item answers
         "phq9_item9": 0}                            # item 9 when only the total is given
      ],
      "follow_up": [{"date": "2027-01-20", "scores": {"phq9": 6}}],
      "height": "175 cm", "sex": "female"            # optional: an obese patient's dosing weight
    }
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import date

from ketaplan.clinical.course import ScoreRecord
from ketaplan.clinical.outcomes import scale, score, validate_total
from ketaplan.clinical.profile import parse_weight_kg
from ketaplan.clinical.session import SEVERITIES
from ketaplan.clinical.titration import History, SessionRecord, SideEffectRecord
from ketaplan.errors import InputError
from ketaplan.units import parse_length_cm


def _fail(where: str, problem: str) -> InputError:
    return InputError(
        f"history: {where}: {problem}", code="input.invalid_history", fields={"field": where}
    )


def _date(value: object, where: str) -> date:
    if not isinstance(value, str):
        raise _fail(where, f"expected a date 'YYYY-MM-DD', got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(where, f"expected a date 'YYYY-MM-DD', got {value!r}") from None


def _scores(value: object, where: str) -> dict[str, int]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(where, "expected an object of scale: total or scale: [answers]")
    totals: dict[str, int] = {}
    for key, raw in value.items():
        spec = scale(str(key))
        try:
            if isinstance(raw, list):
                totals[spec.key] = score(spec.key, raw).total
            else:
                totals[spec.key] = validate_total(spec.key, raw)
        except InputError as exc:
            raise _fail(f"{where}.{key}", exc.message) from exc
    return totals


def _int(value: object, where: str, lo: int, hi: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < lo
        or (hi is not None and value > hi)
    ):
        accepted = f"{lo}-{hi}" if hi is not None else f"{lo} or more"
        raise _fail(where, f"expected a whole number {accepted}, got {value!r}")
    return value


def _list(value: object, where: str) -> Sequence[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(where, f"expected a list, got {value!r}")
    return value


def _phq9_item9(raw: Mapping[str, object], where: str) -> tuple[bool, int | None]:
    """Whether an entry (baseline, session, follow-up) holds a PHQ-9, and its item 9: from the
    item answers, or from an explicit ``phq9_item9`` beside a total (they must agree)."""
    scores = raw.get("scores")
    phq9 = (
        next(
            (v for k, v in scores.items() if scale(str(k)).key == "phq9"),
            None,
        )
        if isinstance(scores, Mapping)
        else None
    )
    explicit = raw.get("phq9_item9")
    given = None if explicit is None else _int(explicit, f"{where}.phq9_item9", 0, 3)
    if phq9 is None:
        if given is not None:
            raise _fail(f"{where}.phq9_item9", "given without a PHQ-9 in 'scores'")
        return False, None
    answered = phq9[8] if isinstance(phq9, list) else None  # validated by _scores
    if answered is not None and given is not None and answered != given:
        raise _fail(
            f"{where}.phq9_item9", f"is {given}, but the PHQ-9 answers give item 9 = {answered}"
        )
    return True, answered if answered is not None else given


def _session(raw: object, i: int) -> tuple[SessionRecord, tuple[bool, int | None]]:
    """The ``i``-th entry of ``sessions``, and whether it holds a PHQ-9 with its item 9."""
    where = f"sessions[{i}]"
    if not isinstance(raw, Mapping):
        raise _fail(where, "expected an object")
    mg_per_kg = raw.get("mg_per_kg")
    if (
        isinstance(mg_per_kg, bool)
        or not isinstance(mg_per_kg, int | float)
        or not (0 < mg_per_kg <= 5)
    ):
        raise _fail(f"{where}.mg_per_kg", f"expected a dose 0-5 mg/kg, got {mg_per_kg!r}")
    effects = []
    for j, effect in enumerate(_list(raw.get("side_effects"), f"{where}.side_effects")):
        if (
            not isinstance(effect, Mapping)
            or not isinstance(effect.get("name"), str)
            or effect.get("severity") not in SEVERITIES
        ):
            raise _fail(
                f"{where}.side_effects[{j}]",
                f"expected {{name, severity}} with severity one of {', '.join(SEVERITIES)}",
            )
        effects.append(SideEffectRecord(str(effect["name"]), str(effect["severity"])))
    alerts = _list(raw.get("alerts"), f"{where}.alerts")
    if not all(isinstance(a, str) for a in alerts):
        raise _fail(f"{where}.alerts", "expected a list of alert codes")
    tolerability = raw.get("tolerability")
    scores = _scores(raw.get("scores"), f"{where}.scores")
    item9 = _phq9_item9(raw, where)
    on = _date(raw.get("date"), f"{where}.date")
    session = SessionRecord(
        number=_int(raw.get("number", i + 1), f"{where}.number", 1),
        on=on,
        mg_per_kg=float(mg_per_kg),
        tolerability=None
        if tolerability is None
        else _int(tolerability, f"{where}.tolerability", 0, 4),
        side_effects=tuple(effects),
        alerts=tuple(str(a) for a in alerts),
        pauses=_int(raw.get("pauses", 0), f"{where}.pauses", 0),
        scores=scores,
    )
    return session, item9


def history_from_dict(data: object) -> History:
    """Validate a history document (the shape in the module docstring) into a :class:`History`."""
    if not isinstance(data, Mapping):
        raise _fail("document", "expected a JSON object")
    condition = data.get("condition")
    if not isinstance(condition, str) or not condition.strip():
        raise _fail("condition", "missing (e.g. 'depression')")
    weight = data.get("weight")
    if not isinstance(weight, str):
        raise _fail("weight", "expected a weight with its unit, e.g. '80 kg'")
    weight_kg = parse_weight_kg(weight)
    baseline = data.get("baseline") or {}
    if not isinstance(baseline, Mapping):
        raise _fail("baseline", "expected an object with 'scores'")
    baseline_scores = _scores(baseline.get("scores"), "baseline.scores")
    item9_baseline = _phq9_item9(baseline, "baseline")
    item9: list[tuple[date, int | None]] = []
    sessions = []
    for i, raw in enumerate(_list(data.get("sessions"), "sessions")):
        session, (has_phq9, answer) = _session(raw, i)
        if has_phq9:
            item9.append((session.on, answer))
        sessions.append(session)
    for earlier, later in itertools.pairwise(sessions):
        if later.on < earlier.on:
            raise _fail(
                "sessions", f"session {later.number} is dated before session {earlier.number}"
            )
    follow_up = []
    for i, raw in enumerate(_list(data.get("follow_up"), "follow_up")):
        where = f"follow_up[{i}]"
        if not isinstance(raw, Mapping):
            raise _fail(where, "expected an object with 'date' and 'scores'")
        on = _date(raw.get("date"), f"{where}.date")
        for key, total in _scores(raw.get("scores"), f"{where}.scores").items():
            follow_up.append(ScoreRecord(on, key, total))
        has_phq9, answer = _phq9_item9(raw, where)
        if has_phq9:
            item9.append((on, answer))
    primary = data.get("primary_scale")
    if primary is not None and not isinstance(primary, str):
        raise _fail("primary_scale", f"expected a scale key, got {primary!r}")
    height = data.get("height")
    if height is not None and not isinstance(height, str):
        raise _fail("height", "expected a height with its unit, e.g. '175 cm'")
    sex = data.get("sex")
    if sex is not None and sex not in ("female", "male"):
        raise _fail("sex", f"expected 'female' or 'male', got {sex!r}")
    if item9_baseline[0]:
        first = sessions[0].on if sessions else date.min
        when = _date(baseline["date"], "baseline.date") if baseline.get("date") else first
        item9.insert(0, (when, item9_baseline[1]))
    return History(
        condition=condition,
        weight_kg=weight_kg,
        baseline_scores=baseline_scores,
        sessions=tuple(sessions),
        follow_up=tuple(follow_up),
        primary_scale=scale(primary).key if primary else None,
        height_cm=None if height is None else parse_length_cm(height),
        sex="female" if sex == "female" else "male" if sex == "male" else None,
        phq9_item9=tuple(sorted(item9, key=lambda entry: entry[0])),
    )
