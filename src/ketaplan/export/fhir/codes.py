"""The reviewed table of codes the FHIR export emits (``codes.toml``), and how a coding is made.

The exporter names codes by key (``"phq9_total"``), never by number, so that every code that
leaves ketaplan is in one reviewed table with its source. A code not verified against its code
system's own publication (``verified = false``, CODES.md's "check") is still emitted, so a
receiver can match it, but its coding carries :data:`UNVERIFIED_EXTENSION` with the reason: it
never goes out as if reviewed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

UNVERIFIED_EXTENSION = "urn:ketaplan:fhir:unverified-code"
"""Extension on a Coding whose code was not verified against the code system's publication."""


@dataclass(frozen=True, slots=True)
class ReviewedCode:
    """One row of the table: a code in its system, and how sure we are of it."""

    key: str
    system: str
    code: str
    display: str | None
    verified: bool
    source: str

    def coding(self) -> dict[str, Any]:
        """The FHIR Coding, marked when the code is unverified."""
        coding: dict[str, Any] = {"system": self.system, "code": self.code}
        if self.display:
            coding["display"] = self.display
        if not self.verified:
            coding["extension"] = [
                {"url": UNVERIFIED_EXTENSION, "valueString": f"not verified: {self.source}"}
            ]
        return coding


@dataclass(frozen=True, slots=True)
class ReviewedUnit:
    """A UCUM unit: its code and the human-readable unit text."""

    key: str
    code: str
    unit: str
    source: str


@dataclass(frozen=True, slots=True)
class CodeTable:
    systems: dict[str, str]
    codes: dict[str, ReviewedCode]
    units: dict[str, ReviewedUnit]

    def code(self, key: str) -> ReviewedCode:
        try:
            return self.codes[key]
        except KeyError:
            raise KeyError(f"code {key!r} is not in the reviewed table codes.toml") from None

    def coding(self, key: str) -> dict[str, Any]:
        return self.code(key).coding()

    def concept(self, *keys: str, text: str | None = None) -> dict[str, Any]:
        """A CodeableConcept of the given codes (in order), with ``text`` if given."""
        concept: dict[str, Any] = {"coding": [self.coding(k) for k in keys]}
        if text:
            concept["text"] = text
        return concept

    def quantity(self, value: float, unit_key: str) -> dict[str, Any]:
        """A UCUM Quantity (``value`` as given: callers round to what was measured)."""
        unit = self.units[unit_key]
        return {
            "value": value,
            "unit": unit.unit,
            "system": self.systems["ucum"],
            "code": unit.code,
        }

    def is_reviewed(self, system: str, code: str) -> bool:
        """Whether ``system|code`` is a row of the table (what the tests check every emitted
        coding against)."""
        return any(c.system == system and c.code == code for c in self.codes.values())


def _parse(data: dict[str, Any]) -> CodeTable:
    systems: dict[str, str] = dict(data["systems"])
    codes = {}
    for key, row in data["codes"].items():
        if row["system"] not in systems:
            raise ValueError(f"codes.{key}: unknown system {row['system']!r}")
        if not str(row.get("source", "")).strip():
            raise ValueError(f"codes.{key}: every code needs its source")
        codes[key] = ReviewedCode(
            key,
            systems[row["system"]],
            str(row["code"]),
            row.get("display"),
            bool(row["verified"]),
            str(row["source"]),
        )
    units = {
        key: ReviewedUnit(key, str(row["code"]), str(row["unit"]), str(row["source"]))
        for key, row in data["units"].items()
    }
    return CodeTable(systems, codes, units)


@cache
def code_table() -> CodeTable:
    """The packaged table (read once)."""
    text = resources.files(__package__).joinpath("codes.toml").read_text(encoding="utf-8")
    return _parse(tomllib.loads(text))
