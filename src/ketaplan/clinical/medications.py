"""Medications as typed, resolved to generic ingredients and interaction classes.

A nurse types what is on the patient's list: ``"Lamictal"``, ``"alprazolam 0.5 mg"``,
``"Xanax XR 1mg bid"``. The name is cleaned of dose and frequency text, then looked up:

1. the catalog's ``[fixes]`` (combination products a dictionary names by one ingredient only,
   such as Percocet or Tylenol PM) — exact name only;
2. the drug dictionary (brand and generic names → generic), on the whole name and then on
   shorter runs of its words, longest first (``"xanax xr"`` → ``"xanax"``);
3. nothing found: the medication is *unresolved*, which screening reports as a caution —
   an unknown medication is never silently ignored.

The dictionary is a seam (:class:`DrugDictionary`): the application passes the real one
(:mod:`ketaplan.drug_dictionary`), tests may pass a small fake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, Protocol

from ketaplan.clinical.catalog import Catalog

ResolvedBy = Literal["catalog_fix", "dictionary", "unresolved"]


class DrugDictionary(Protocol):
    """Looks up one exact, lower-case drug name (brand, generic or synonym)."""

    def lookup(self, name: str) -> tuple[str, ...] | None:
        """The dictionary's canonical generic names for ``name``, or None if unknown."""
        ...  # pragma: no cover

    def suggestions(self, name: str) -> list[str]:
        """Known names spelled like ``name``, for an unresolved medication's message."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class ResolvedMedication:
    """One medication from the list, with what it contains and which classes interact."""

    typed: str
    name: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    resolved_by: ResolvedBy
    suggestions: tuple[str, ...] = ()


_DOSE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|µg|ug|g|ml|units?|iu|%|mg/ml|mg/h|mcg/h)\b"
    r"|\b\d+(?:[.,]\d+)?\b"
    r"|\b(?:tablets?|tabs?|capsules?|caps?|po|iv|im|sl|bid|tid|qid|qd|qhs|qam|qpm|prn|daily|"
    r"nightly|weekly|once|twice|at|night|bedtime|as|needed|x|per|day|morning|evening)\b"
)
_PUNCTUATION = re.compile(r"[^\w\s/+#'-]")
_INGREDIENT_SPLIT = re.compile(r"\s*(?:/|\+|,|\band\b|\bwith\b)\s*")


def clean_name(typed: str) -> str:
    """``"Xanax XR 0.5 mg bid"`` → ``"xanax xr"``: lower case, no dose or frequency text.

    >>> clean_name("Alprazolam 0.5 mg")
    'alprazolam'
    >>> clean_name("Tylenol PM 2 tablets at night")
    'tylenol pm'
    """
    text = _PUNCTUATION.sub(" ", typed.lower())
    text = _DOSE.sub(" ", text)
    return " ".join(text.split())


def _word_runs(name: str) -> list[str]:
    """Every run of consecutive words, longest first: 'a b c' → 'a b c', 'a b', 'b c', 'a', …"""
    words = name.split()
    return [
        " ".join(words[start : start + length])
        for length in range(len(words), 0, -1)
        for start in range(len(words) - length + 1)
    ]


def ingredients_of(canonical: str) -> tuple[str, ...]:
    """Split a dictionary entry such as ``"buprenorphine/naloxone"`` into its ingredients."""
    return tuple(p.strip() for p in _INGREDIENT_SPLIT.split(canonical.lower()) if p.strip())


def classes_of(ingredients: tuple[str, ...], catalog: Catalog) -> tuple[str, ...]:
    """Interaction classes of the ingredients, matching each word and each two-word run.

    Dictionary entries carry forms ("buprenorphine patch", "scopolamine patch"), so the match is
    on words, not whole strings.
    """
    found: list[str] = []
    for ingredient in ingredients:
        for run in _word_runs(ingredient):
            for cls in catalog.classes_of_ingredient(run):
                if cls not in found:
                    found.append(cls)
    return tuple(found)


class MedicationResolver:
    """Resolves typed medication names, remembering answers (the catalog is immutable)."""

    def __init__(self, catalog: Catalog, dictionary: DrugDictionary) -> None:
        self._catalog = catalog
        self._dictionary = dictionary
        self._memo: dict[str, ResolvedMedication] = {}

    def resolve(self, typed: str) -> ResolvedMedication:
        known = self._memo.get(typed)
        if known is None:
            known = self._resolve(typed)
            if len(self._memo) < 50_000:
                self._memo[typed] = known
        return known

    def _resolve(self, typed: str) -> ResolvedMedication:
        name = clean_name(typed)
        fixes = self._catalog.medication_fixes
        if name in fixes:
            ingredients = fixes[name]
            return ResolvedMedication(
                typed, name, ingredients, classes_of(ingredients, self._catalog), "catalog_fix"
            )
        for run in _word_runs(name):
            canonicals = self._dictionary.lookup(run)
            if canonicals:
                ingredients = tuple(dict.fromkeys(i for c in canonicals for i in ingredients_of(c)))
                return ResolvedMedication(
                    typed, name, ingredients, classes_of(ingredients, self._catalog), "dictionary"
                )
        own = classes_of((name,), self._catalog) if name else ()
        if own:
            return ResolvedMedication(typed, name, (name,), own, "catalog_fix")
        return ResolvedMedication(
            typed,
            name,
            (),
            (),
            "unresolved",
            tuple(self._dictionary.suggestions(name)) if name else (),
        )
