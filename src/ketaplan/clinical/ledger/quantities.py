"""Volumes in the ledger: whole hundredths of a millilitre, so that balances add up exactly.

The ledger's invariant (administered + wasted + destroyed + written off + remaining = received)
is checked to 0.01 mL. Floats cannot promise that after a few hundred entries; integers of
hundredths of a mL (``cml``) can. A volume is read from the nurse's text or number once, at the
edge, rounded half-up to 0.01 mL; an amount in mg (a chart's delivered dose, a waste the
card states in mg) becomes the vial's volume at the container's strength the same way.

Examples
--------
>>> ml_to_cml(2.35), ml_to_cml("2.345"), cml_to_ml(187)
(235, 235, 1.87)
>>> mg_to_cml(93.4, 50.0)
187
>>> cml_to_mg(187, 50.0)
93.5
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ketaplan.errors import InputError

CML_PER_ML = 100


def _decimal(value: float | int | str, field: str, unit: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().removesuffix(unit).strip())
    except InvalidOperation:
        raise InputError(
            f"{field} {value!r} is not a number of {unit} (e.g. 2.5)",
            code="input.not_a_number",
            fields={"field": field, "value": str(value)},
        ) from None
    if not number.is_finite():
        raise InputError(
            f"{field} {value!r} is not a finite number of {unit}",
            code="input.not_a_number",
            fields={"field": field, "value": str(value)},
        )
    return number


def ml_to_cml(value: float | int | str, field: str = "volume_ml") -> int:
    """A volume in mL (a number, or text like ``"2.5"`` or ``"2.5 mL"``) as hundredths of mL."""
    number = _decimal(str(value).replace("mL", "ml"), field, "ml")
    return int((number * CML_PER_ML).to_integral_value(rounding=ROUND_HALF_UP))


def mg_to_cml(mg: float | int | str, mg_per_ml: float, field: str = "mg") -> int:
    """An amount of drug as the volume of the container's solution holding it, to 0.01 mL."""
    number = _decimal(mg, field, "mg")
    volume = number / Decimal(str(mg_per_ml)) * CML_PER_ML
    return int(volume.to_integral_value(rounding=ROUND_HALF_UP))


def cml_to_ml(cml: int) -> float:
    return cml / CML_PER_ML


def cml_to_mg(cml: int, mg_per_ml: float) -> float:
    """The drug in a volume, to 0.001 mg (a printed report rounds further)."""
    return float((Decimal(cml) * Decimal(str(mg_per_ml)) / CML_PER_ML).quantize(Decimal("0.001")))


def show_ml(cml: int) -> str:
    """``"2.35 mL"``: a volume as a record shows it."""
    return f"{cml / CML_PER_ML:.2f} mL"
