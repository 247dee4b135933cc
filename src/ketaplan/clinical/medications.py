"""Medications as typed, resolved to every generic ingredient and interaction class.

A nurse types what is on the patient's list: ``"Lamictal"``, ``"alprazolam 0.5 mg"``,
``"Xanax XR 1mg bid"``, ``"Tylenol #3"``, ``"Mucinex D"``, ``"Xanax, Norco"``. A suffix or a
second name can add an ingredient (the codeine in Tylenol #3, the pseudoephedrine in Mucinex D,
the hydrocodone in Norco), so nothing in the entry is dropped before it is looked up:

1. The entry is read as words: ``"No. 3"`` and ``"#3"`` become one strength mark, ``"w/"``
   becomes *with*, ``"P.M."`` becomes *pm*, hyphens and slashes separate words.
2. From left to right, the longest run of words that names a medication is taken: the
   catalog's ``[fixes]`` first (products a dictionary names incompletely, such as
   ``"tylenol #3"`` or ``"mucinex d"``), then the drug dictionary (brand and generic names →
   generic), then the catalog's own ingredient names. Because the run keeps its suffix and
   number, ``"tylenol #3"`` is found before ``"tylenol"``.
3. Every other word must be accounted for: dose, unit, form, route, frequency and release text
   (``"mg"``, ``"tabs"``, ``"bid"``, ``"XR"``), separators between medications (``,`` ``;``
   ``+`` ``/`` a new line), and joining words (``"and"``, ``"with"``, ``"plus"``) that lead to
   another name. A word left over is *unchecked*: the medication keeps what was found, and
   screening cautions that the word may name another ingredient (``"PM"`` in an unknown
   ``"Foo PM"``). An entry in which nothing is recognised is *unresolved*, which screening
   also cautions — an unknown medication is never silently ignored, and neither is part of one.

The dictionary is a seam (:class:`DrugDictionary`): the application passes the real one
(:mod:`ketaplan.drug_dictionary`), tests may pass a small fake. It is looked up with names
normalised by :func:`name_key`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal, Protocol

from ketaplan.clinical.catalog import Catalog

ResolvedBy = Literal["catalog_fix", "dictionary", "unresolved"]


class DrugDictionary(Protocol):
    """Looks up one drug name (brand, generic or synonym), normalised by :func:`name_key`."""

    def lookup(self, name: str) -> tuple[str, ...] | None:
        """The dictionary's canonical generic names for ``name``, or None if unknown."""
        ...  # pragma: no cover

    def suggestions(self, name: str) -> list[str]:
        """Known names spelled like ``name``, for an unresolved medication's message."""
        ...  # pragma: no cover


@dataclass(frozen=True, slots=True)
class ResolvedMedication:
    """One entry of the medication list, with what it contains and which classes interact.

    ``unchecked`` holds the words of the entry that were neither recognised nor dose text:
    they may name an ingredient that was not checked.
    """

    typed: str
    name: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    resolved_by: ResolvedBy
    suggestions: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()


_REWRITES = (
    (re.compile(r"\bw/\s*"), " with "),
    (re.compile(r"\b([ap])\.\s*m\b\.?"), r" \1m "),
    (re.compile(r"(?:\b(?:no|nr|number)\.?\s*|#\s*)(\d+)\b"), r" #\1 "),
    (
        re.compile(
            r"\b(?:with|after|before)\s+"
            r"(?:food|meals?|water|milk|juice|breakfast|lunch|dinner|supper)\b"
        ),
        " ",
    ),
    (re.compile(r"&"), " and "),
)
_TOKEN = re.compile(r"#\d+|\d+(?:[.,]\d+)*|[^\W\d_](?:[^\W_]|')*|[,;+/()\[\]\n]")
_SEPARATORS = frozenset(",;+/()[]\n")
_JOINING_WORDS = frozenset({"and", "with", "plus", "or"})
_CLOCK_WORDS = frozenset({"am", "pm"})
_CLOCK_AFTER = frozenset({"at", "every", "each", "the", "in", "per", "by"})
_INDICATION_MARKERS = frozenset({"for", "prn"})
"""Words after these name what the medication is for ("for sleep", "prn anxiety")."""
_FREQUENCY_CODE = re.compile(r"q\d+h?|\d+x")
_MAX_NAME_WORDS = 8


def _tokens(text: str) -> list[str]:
    text = text.lower()
    for pattern, replacement in _REWRITES:
        text = pattern.sub(replacement, text)
    return _TOKEN.findall(text)


def name_key(text: str) -> str:
    """The form in which names are compared: ``"Allegra-D"`` → ``"allegra d"``,
    ``"Tylenol No. 3"`` → ``"tylenol #3"``, ``"buprenorphine/naloxone"`` →
    ``"buprenorphine / naloxone"``.

    >>> name_key("Tylenol w/ Codeine No. 3")
    'tylenol with codeine #3'
    """
    return " ".join(_tokens(text))


def _is_dose_text(token: str, dose_words: frozenset[str]) -> bool:
    """Dose, unit, form, route or frequency text (the catalog's ``[dose_text]``), a number, a
    separator between medications, or a frequency code such as ``q6h``."""
    return (
        token in dose_words
        or token[0].isdigit()
        or token in _SEPARATORS
        or _FREQUENCY_CODE.fullmatch(token) is not None
    )


def _word_runs(name: str) -> list[str]:
    """Every run of consecutive words, longest first: 'a b c' → 'a b c', 'a b', 'b c', 'a', …"""
    words = name.split()
    return [
        " ".join(words[start : start + length])
        for length in range(len(words), 0, -1)
        for start in range(len(words) - length + 1)
    ]


_INGREDIENT_SPLIT = re.compile(r"\s*(?:/|\+|,|\band\b|\bwith\b)\s*")


def ingredients_of(canonical: str) -> tuple[str, ...]:
    """Split a dictionary entry such as ``"buprenorphine/naloxone"`` into its ingredients."""
    return tuple(p.strip() for p in _INGREDIENT_SPLIT.split(canonical.lower()) if p.strip())


def classes_of(ingredients: tuple[str, ...], catalog: Catalog) -> tuple[str, ...]:
    """Interaction classes of the ingredients, matching each word and each run of words.

    Dictionary entries carry salts and forms ("buprenorphine patch", "dextromethorphan
    hydrobromide"), so the match is on words, not whole strings.
    """
    found: list[str] = []
    for ingredient in ingredients:
        for run in _word_runs(ingredient):
            for cls in catalog.classes_of_ingredient(run):
                if cls not in found:
                    found.append(cls)
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Name:
    """A run of words recognised as a medication name."""

    start: int
    end: int
    ingredients: tuple[str, ...]
    by: ResolvedBy


class MedicationResolver:
    """Resolves typed medication entries, remembering answers (the catalog is immutable)."""

    def __init__(self, catalog: Catalog, dictionary: DrugDictionary) -> None:
        self._catalog = catalog
        self._dictionary = dictionary
        self._memo: dict[str, ResolvedMedication] = {}
        self._dose_words = catalog.medication_dose_words
        self._fixes = {name_key(k): v for k, v in catalog.medication_fixes.items()}
        self._own_ingredients = {
            name_key(i): i for cls in catalog.interaction_classes.values() for i in cls.ingredients
        }

    def resolve(self, typed: str) -> ResolvedMedication:
        known = self._memo.get(typed)
        if known is None:
            known = self._resolve(typed)
            if len(self._memo) < 50_000:
                self._memo[typed] = known
        return known

    def _name_at(self, tokens: list[str], start: int) -> _Name | None:
        """The longest run of words from ``start`` that names a medication, if any."""
        if not tokens[start][0].isalpha() or tokens[start] in _JOINING_WORDS:
            return None
        longest = min(_MAX_NAME_WORDS, len(tokens) - start)
        for end in range(start + longest, start, -1):
            last = tokens[end - 1]
            if (
                last in _SEPARATORS
                or last in _JOINING_WORDS
                or (end == start + 1 and last in self._dose_words)
            ):
                # a lone "caps" or "citrate" is dose text, not the buffer or acid it also names
                continue
            run = " ".join(tokens[start:end])
            fixed = self._fixes.get(run)
            if fixed is not None:
                return _Name(start, end, fixed, "catalog_fix")
            canonicals = self._dictionary.lookup(run)
            own = self._own_ingredients.get(run)
            if canonicals:
                # The catalog's own name is kept beside the dictionary's canonical one, which
                # may be spelled otherwise ("methscopolamine" → "n-methylscopolamine").
                ingredients = (*(i for c in canonicals for i in ingredients_of(c)), own or "")
                return _Name(
                    start, end, tuple(dict.fromkeys(filter(None, ingredients))), "dictionary"
                )
            if own is not None:
                return _Name(start, end, (own,), "catalog_fix")
        return None

    def _resolve(self, typed: str) -> ResolvedMedication:
        tokens = _tokens(typed)
        names: list[_Name] = []
        at = 0
        while at < len(tokens):
            found = self._name_at(tokens, at)
            if found is None:
                at += 1
            else:
                names.append(found)
                at = found.end
        unchecked = _unexplained(tokens, names, self._dose_words)
        ingredients = tuple(dict.fromkeys(i for n in names for i in n.ingredients))
        if not names:
            words = " ".join(t for t in tokens if not _is_dose_text(t, self._dose_words))
            return ResolvedMedication(
                typed, words, (), (), "unresolved", self._suggestions(words), unchecked
            )
        by: ResolvedBy = "dictionary" if all(n.by == "dictionary" for n in names) else "catalog_fix"
        return ResolvedMedication(
            typed,
            " + ".join(" ".join(tokens[n.start : n.end]) for n in names),
            ingredients,
            classes_of(ingredients, self._catalog),
            by,
            tuple(
                dict.fromkeys(
                    s for run in unchecked for w in run.split() for s in self._suggestions(w)
                )
            ),
            unchecked,
        )

    def _suggestions(self, words: str) -> tuple[str, ...]:
        """Known names spelled like ``words``: the dictionary's and the catalog's fixes."""
        if len(words) < 4:
            return ()
        near = self._dictionary.suggestions(words)
        near += difflib.get_close_matches(words, list(self._fixes), n=3, cutoff=0.8)
        return tuple(dict.fromkeys(near))


def _unexplained(
    tokens: list[str], names: list[_Name], dose_words: frozenset[str]
) -> tuple[str, ...]:
    """The words of an entry that are neither part of a name nor dose, form or joining text,
    as runs of consecutive words (``"fast max"``)."""
    starts = {n.start: n for n in names}
    in_name = {i for n in names for i in range(n.start, n.end)}
    unexplained: list[list[str]] = []
    previous_unexplained = False
    joined_by_with = False
    indication = False
    for i, token in enumerate(tokens):
        if i in in_name:
            if i in starts:
                # "with codeine #3": the number is the strength of the ingredient just named
                joined_by_with = "with" in tokens[max(i - 1, 0) : starts[i].end]
            previous_unexplained = indication = False
            continue
        if token in _SEPARATORS:
            indication = False
        if token in _INDICATION_MARKERS:
            indication, previous_unexplained = True, False
            continue
        explained = (
            _is_dose_text(token, dose_words)
            or (indication and _is_indication_word(token))
            or (token in _JOINING_WORDS and _next_name(tokens, i + 1, starts, dose_words))
            or (token in _CLOCK_WORDS and i > 0 and _after_clock(tokens[i - 1]))
            or (token.startswith("#") and joined_by_with)
        )
        if explained:
            previous_unexplained = False
            continue
        if previous_unexplained:
            unexplained[-1].append(token)
        else:
            unexplained.append([token])
        previous_unexplained = True
    return tuple(" ".join(run) for run in unexplained)


def _is_indication_word(token: str) -> bool:
    """After "for" or "prn", a word names what the medication is for ("sleep", "anxiety");
    a strength mark or a short variant code ("#3", "PM", "D", "DM") never does."""
    return token.isalpha() and len(token) > 2


def _after_clock(previous: str) -> bool:
    """ "9 pm", "at pm", "every am": a time of day, not a "PM" product."""
    return previous[0].isdigit() or previous in _CLOCK_AFTER


def _next_name(
    tokens: list[str], start: int, starts: dict[int, _Name], dose_words: frozenset[str]
) -> bool:
    """Whether a joining word leads to another name (past dose text and further joins)."""
    for i in range(start, len(tokens)):
        if i in starts:
            return True
        if tokens[i] in _SEPARATORS or not (
            _is_dose_text(tokens[i], dose_words) or tokens[i] in _JOINING_WORDS
        ):
            return False
    return False
