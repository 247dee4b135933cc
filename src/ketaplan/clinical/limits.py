"""Dose-error reduction: soft and hard limits, as in a smart pump's drug library.

Three quantities are checked against the protocol's limits: mg/kg, total mg and mg/kg/h, and a
fourth, mg/h, when the protocol caps the rate whatever the weight (CRPS after Schwartzman 2009:
25 mg/h). The cap is a soft limit; at a weight where it allows less than the protocol's mg/kg
range, the range's soft minimum comes down to what the cap allows, so following the protocol
never needs an override.
A value past a hard limit is refused, override or not. A value past a soft limit (outside the
protocol's mg/kg range, or over the soft total or rate) needs an override carrying a reason and
the prescriber's name; the override is recorded in the plan. Nothing is clamped silently: a
refused dose is an error that names each limit, the value and the bound.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from ketaplan.clinical.catalog import Protocol
from ketaplan.clinical.dosing import Dose, rate_cap_mg_per_kg
from ketaplan.errors import HardLimitExceeded, OverrideRequired

LimitStatus = Literal["within", "soft", "hard"]


class LimitCheck(NamedTuple):
    quantity: str
    value: float
    unit: str
    soft_min: float | None
    soft_max: float
    hard_min: float | None
    hard_max: float
    status: LimitStatus

    @property
    def message(self) -> str:
        if self.status == "within":
            return f"{self.quantity} {self.value:g} {self.unit} is within limits"
        kind = "hard" if self.status == "hard" else "soft"
        low = self.hard_min if kind == "hard" else self.soft_min
        high = self.hard_max if kind == "hard" else self.soft_max
        if low is not None and self.value < low:
            return f"{self.quantity} {self.value:g} {self.unit} is below the {kind} minimum {low:g}"
        return f"{self.quantity} {self.value:g} {self.unit} is above the {kind} maximum {high:g}"


class Override(NamedTuple):
    """A prescriber's decision to go past soft limits, with the reason."""

    prescriber: str
    reason: str
    limits: tuple[str, ...]


def _check(
    quantity: str,
    value: float,
    unit: str,
    soft: tuple[float | None, float],
    hard: tuple[float | None, float],
) -> LimitCheck:
    eps = 1e-9
    status: LimitStatus = "within"
    if (hard[0] is not None and value < hard[0] - eps) or value > hard[1] + eps:
        status = "hard"
    elif (soft[0] is not None and value < soft[0] - eps) or value > soft[1] + eps:
        status = "soft"
    return LimitCheck(quantity, value, unit, soft[0], soft[1], hard[0], hard[1], status)


def check_limits(dose: Dose, protocol: Protocol) -> tuple[LimitCheck, ...]:
    """Every limit with its status; nothing raised here."""
    limits = protocol.limits
    low, high = protocol.range_mg_per_kg
    cap_mg_per_kg = rate_cap_mg_per_kg(protocol, dose.dosing_weight_kg)
    if cap_mg_per_kg is not None:
        low = min(low, cap_mg_per_kg)
    checks = (
        _check(
            "mg_per_kg",
            dose.mg_per_kg,
            "mg/kg",
            (low, high),
            (limits.hard_min_mg_per_kg, limits.hard_max_mg_per_kg),
        ),
        _check(
            "total_mg",
            dose.total_mg,
            "mg",
            (None, limits.soft_max_total_mg),
            (None, limits.hard_max_total_mg),
        ),
        _check(
            "rate_mg_per_kg_per_h",
            round(dose.rate_mg_per_kg_per_h, 4),
            "mg/kg/h",
            (None, limits.soft_max_mg_per_kg_per_h),
            (None, limits.hard_max_mg_per_kg_per_h),
        ),
    )
    if protocol.max_rate_mg_per_h is None:
        return checks
    return (
        *checks,
        _check(
            "rate_mg_per_h",
            round(dose.rate_mg_per_h, 4),
            "mg/h",
            (None, protocol.max_rate_mg_per_h),
            (None, round(limits.hard_max_mg_per_kg_per_h * dose.dosing_weight_kg, 4)),
        ),
    )


def enforce_limits(
    checks: tuple[LimitCheck, ...], *, override_reason: str | None, prescriber: str | None
) -> Override | None:
    """Refuse hard-limit breaches; require and record an override for soft ones."""
    hard: list[LimitCheck] = []
    soft: list[LimitCheck] = []
    for check in checks:
        if check.status == "hard":
            hard.append(check)
        elif check.status == "soft":
            soft.append(check)
    if hard:
        raise HardLimitExceeded(
            "dose refused: "
            + "; ".join(c.message for c in hard)
            + " (hard limits cannot be overridden)",
            fields={"limits": [c.quantity for c in hard]},
        )
    if not soft:
        return None
    reason = (override_reason or "").strip()
    who = (prescriber or "").strip()
    if not reason or not who:
        # In the domain's words only: each entry point adds how to give these there (the
        # CLI its flags, the API its JSON fields, the web page its form), from ``missing``.
        missing = " and ".join(
            name
            for name, value in (("an override reason", reason), ("the prescriber's name", who))
            if not value
        )
        raise OverrideRequired(
            "dose needs a prescriber's override: "
            + "; ".join(c.message for c in soft)
            + f". Give {missing} to proceed",
            fields={
                "limits": [c.quantity for c in soft],
                "soft_limits": [c.message for c in soft],
                "missing": [
                    name for name, value in (("reason", reason), ("prescriber", who)) if not value
                ],
            },
        )
    return Override(prescriber=who, reason=reason, limits=tuple(c.quantity for c in soft))
