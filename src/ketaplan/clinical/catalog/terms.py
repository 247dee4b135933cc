"""Matching a history term as typed against the screening vocabulary, and what to suggest.

A wrong suggestion here is a clinical error: "did you mean psychosis?" for an unrelated word
invites a clerk to record a contraindication the patient does not have. So matching goes from
the surest to the least sure, and stops early:

1. the term or a synonym, after normalising case, punctuation and British/American spelling
   (``ae``/``oe`` → ``e``: "apnoea" is "apnea"), or with its words in another order
   ("hypertension, uncontrolled"). This is a match, not a suggestion.
2. a synonym found whole inside what was typed, when everything else typed only qualifies it
   ("mild asthma since childhood", "TIA 2019", "history of stroke"): suggested, never
   accepted, because the qualifier may change the meaning ("history of pregnancy" is not
   pregnancy). When it says "uncontrolled", "untreated", "recent" and
   the like, the stricter term comes first ("untreated Graves" suggests
   uncontrolled_hyperthyroidism before hyperthyroidism), so a suggestion never plays a
   condition down.
3. one slip of the keyboard: every word of a known term, each within one typing slip
   (a letter added, dropped, changed or two swapped) of the typed word, words of five letters
   or more, first letters equal. "hypotension" is two slips from "hypertension" and
   "hypothyroidism" two from "hyperthyroidism": neither suggests its opposite.

Nothing is suggested for an entry that negates itself or is someone else's history ("no
psychosis", "family history of schizophrenia"): those are not the patient's conditions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MIN_SLIP_WORD_LENGTH = 5
"""Shorter words (abbreviations: TIA, MI, OSA, COPD) are one slip from too many others."""
MAX_SUGGESTIONS = 3

NOT_THE_PATIENTS = frozenset(
    {
        "no",
        "not",
        "non",
        "denies",
        "denied",
        "negative",
        "neg",
        "without",
        "never",
        "none",
        "excluded",
        "ruled",
        "family",
        "fh",
        "fhx",
        "mother",
        "father",
        "sister",
        "brother",
        "parent",
        "sibling",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "cousin",
    }
)
"""Words that make an entry a negation or a relative's history."""

QUALIFIERS = frozenset(
    {
        "history",
        "hx",
        "h",
        "o",
        "of",
        "known",
        "past",
        "previous",
        "prior",
        "old",
        "recent",
        "current",
        "active",
        "mild",
        "moderate",
        "severe",
        "chronic",
        "acute",
        "stable",
        "unstable",
        "controlled",
        "uncontrolled",
        "well",
        "poorly",
        "treated",
        "untreated",
        "diagnosed",
        "dx",
        "since",
        "in",
        "on",
        "with",
        "and",
        "the",
        "a",
        "as",
        "at",
        "age",
        "child",
        "childhood",
        "year",
        "years",
        "yr",
        "yrs",
        "ago",
        "month",
        "months",
        "suspected",
        "possible",
        "probable",
        "episode",
        "episodes",
        "disease",
        "disorder",
    }
)
"""Words that qualify a condition without making it another one: a synonym found inside an
entry made only of these (and numbers) is suggested ("heat stroke" suggests nothing)."""

SEVERER = frozenset(
    {"uncontrolled", "untreated", "poorly", "unstable", "active", "recent", "current", "severe"}
)
"""Qualifiers that point to a stricter term than the condition they qualify."""


def canonical(key: str) -> str:
    """A normalised key compared by letters and digits only, ``ae``/``oe`` read as ``e``.

    >>> canonical("alzheimer's_disease"), canonical("obstructive_sleep_apnoea")
    ('alzheimers_disease', 'obstructive_sleep_apnea')
    """
    words = re.sub(r"[^a-z0-9]+", "_", re.sub(r"['’]", "", key.lower())).strip("_")
    return words.replace("ae", "e").replace("oe", "e")


def spelling_index(term_index: Mapping[str, str]) -> dict[str, str]:
    """Every key and synonym in canonical form, with the vocabulary term it names."""
    index: dict[str, str] = {}
    for key, term in term_index.items():
        index.setdefault(canonical(key), term)
    return index


def match_term(typed_key: str, index: Mapping[str, str]) -> str | None:
    """The vocabulary term the entry names (a spelling variant, or its words in another order),
    or None; ``index`` is :func:`spelling_index`'s."""
    words = tuple(canonical(typed_key).split("_"))
    if NOT_THE_PATIENTS.intersection(words):
        return None
    term = index.get("_".join(words))
    if term is not None:
        return term
    same_words = sorted(words)
    for key, term in index.items():
        if sorted(key.split("_")) == same_words:
            return term
    return None


def one_slip(typed: str, known: str) -> bool:
    """Whether ``typed`` is ``known`` with at most one letter added, dropped, changed, or two
    neighbours swapped.

    >>> one_slip("psycosis", "psychosis"), one_slip("schizophernia", "schizophrenia")
    (True, True)
    >>> one_slip("hypotension", "hypertension")
    False
    """
    if typed == known:
        return True
    if abs(len(typed) - len(known)) > 1:
        return False
    if len(typed) == len(known):
        diffs = [i for i, (a, b) in enumerate(zip(typed, known, strict=True)) if a != b]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and typed[diffs[0]] == known[diffs[1]]
            and typed[diffs[1]] == known[diffs[0]]
        )
    shorter, longer = sorted((typed, known), key=len)
    for i, (a, b) in enumerate(zip(shorter, longer, strict=False)):
        if a != b:
            return shorter[i:] == longer[i + 1 :]
    return True


def _slipped_word(typed: str, known: str) -> bool:
    if typed == known:
        return True
    return (
        min(len(typed), len(known)) >= MIN_SLIP_WORD_LENGTH
        and typed[0] == known[0]
        and one_slip(typed, known)
    )


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    for start in range(len(words) - n + 1):
        if words[start : start + n] == phrase:
            rest = words[:start] + words[start + n :]
            return all(w in QUALIFIERS or w.isdigit() for w in rest)
    return False


def not_the_patients(typed_key: str) -> bool:
    """Whether the entry negates itself or is a relative's history ("no psychosis",
    "family history of schizophrenia").

    >>> not_the_patients("no_psychosis"), not_the_patients("psychosis")
    (True, False)
    """
    return bool(NOT_THE_PATIENTS.intersection(canonical(typed_key).split("_")))


def suggest_terms(typed_key: str, index: Mapping[str, str]) -> list[str]:
    """Vocabulary terms to offer for an entry that matched none (at most three), or none.

    A synonym found inside the entry comes before a spelling slip, and a negated entry or a
    relative's history gets no suggestion at all.
    """
    words = tuple(w for w in canonical(typed_key).split("_") if w)
    if not words or NOT_THE_PATIENTS.intersection(words):
        return []
    found: dict[str, None] = {}
    phrases = [(tuple(key.split("_")), term) for key, term in index.items()]
    for phrase, term in phrases:
        if _contains(words, phrase):
            found.setdefault(term)
    if found:
        return _severer_first(list(found), words, index)[:MAX_SUGGESTIONS]
    for phrase, term in phrases:
        if len(phrase) == len(words) and all(
            _slipped_word(w, k) for w, k in zip(words, phrase, strict=True)
        ):
            found.setdefault(term)
    return list(found)[:MAX_SUGGESTIONS]


def _severer_first(terms: list[str], words: tuple[str, ...], index: Mapping[str, str]) -> list[str]:
    """The terms, each preceded by its stricter sibling when the entry asks for one: a term
    one of whose names, prefixed by a severity word typed or by "uncontrolled", is known."""
    qualifiers = SEVERER.intersection(words)
    if not qualifiers:
        return terms
    names: dict[str, list[str]] = {}
    for key, term in index.items():
        names.setdefault(term, []).append(key)
    ordered: dict[str, None] = {}
    for term in terms:
        for name in names.get(term, []):
            for qualifier in (*sorted(qualifiers), "uncontrolled"):
                stricter = index.get(f"{qualifier}_{name}")
                if stricter is not None and stricter != term:
                    ordered.setdefault(stricter)
        ordered.setdefault(term)
    return list(ordered)
