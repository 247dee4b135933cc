"""Codes as clinician words: the one place a page turns an internal code into what a person reads.

The services and the API speak in stable codes (``interaction.benzodiazepine``,
``rate_ml_per_h``, ``seed_002``); a nurse reads "Benzodiazepines", "rate 156 mL/h" and the
title of the page a number came from. Every page goes through this module, so a new code is
worded in one place: first by the catalog's own words (a protocol's, an interaction class's or
a source's title; a contraindication's message up to its colon), then by the few fixed words
below, and otherwise by a mechanical reading of the code (``_`` as spaces, a unit suffix as its
symbol). The code itself stays on the page as a tooltip (:func:`code_label`), and the API keeps
it unchanged.

Other page modules call :func:`words`, :func:`quantity`, :func:`code_label` and
:func:`source_label`; templates use the filters :func:`install` registers (``code``,
``source``, ``yes_no``, ``quantity``, ``words``).

Examples
--------
>>> split_unit("rate_ml_per_h")
('rate', 'mL/h')
>>> split_unit("delivered_mg_per_kg")
('delivered', 'mg/kg')
>>> humanise("input.out_of_range")
'Out of range'
>>> quantity("rate_ml_per_h", 156.0)
'rate 156 mL/h'
>>> yes_no(True)
'yes'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, pass_context
from markupsafe import Markup

from ketaplan.clinical.catalog import Catalog, Protocol
from ketaplan.clinical.catalog.citations import POLICY
from ketaplan.clinical.outcomes import SCALES

UNITS = {
    "mg": "mg",
    "ml": "mL",
    "kg": "kg",
    "g": "g",
    "h": "h",
    "min": "min",
    "s": "s",
    "usd": "USD",
    "percent": "%",
    "mmhg": "mmHg",
    "bpm": "/min",
    "cm": "cm",
    "m2": "m²",
    "ng": "ng",
    "years": "years",
    "days": "days",
    "weeks": "weeks",
}
"""A code's unit suffix (``_ml_per_h``) as the unit's symbol (``mL/h``)."""

FIXED_WORDS = {
    "protocol.start": "Protocol starting dose",
    "protocol.rate_cap": "Protocol rate cap",
    "prescriber.request": "Prescriber's requested dose",
    "range.minimum": "Protocol minimum",
    "range.maximum": "Protocol maximum",
    "dosing_weight": "Dosing weight",
    "rounding": "Rounding",
    "total": "Total dose",
    "front_desk": "front desk",
    "spo2": "SpO₂",
    "phq9": "PHQ-9",
    "gad7": "GAD-7",
    "pcl5": "PCL-5",
    "qids_sr16": "QIDS-SR16",
    "pain_nrs": "pain NRS",
    "phq9.item9_positive": "PHQ-9 item 9 endorsed",
    "clinic_policy": "Clinic policy",
}
"""Codes whose words no catalog entry gives."""

PREFIX_WORDS = {
    "interaction": "Interaction",
    "contraindication": "",
    "protocol": "Protocol",
    "modifier": "",
    "monitoring": "Monitoring",
    "vitals": "",
    "input": "",
    "ledger": "",
    "session": "",
    "dose": "Dose",
    "pump": "Pump",
    "limit": "Limit",
    "permission": "",
    "conflict": "",
}
"""A dotted code's family: the words put before the entry's own (``""``: none)."""

_SEED_FILE = re.compile(r"(?:shared/)?seeds/(\d{3})_[0-9a-f]+\.txt")

SEED_TITLES = {
    "000": "Ketamine Dosing: What and Why? (clinic web page)",
    "001": "Your Personalized Dosages and Optimal Results (clinic web page)",
    "002": "Ketamine Infusion Therapy: Benefits, Uses, and Dosing Guidelines (clinic web page)",
    "003": "Why Ketamine? Ketamine Treatments for Pain Management (clinic web page)",
    "004": "How many ketamine treatments do you need to feel better? (clinic web page)",
}
"""The clinic web pages the catalog cites as ``seed_000``..``seed_004`` (``sources.toml``
names them by file), by the titles the pages themselves carry (their headings)."""


def split_unit(key: str) -> tuple[str, str]:
    """A field name and its unit suffix: ``rate_ml_per_h`` → ``("rate", "mL/h")``; no unit:
    ``("the words", "")``."""
    tokens = key.split("_")
    for start in range(1, len(tokens)):
        tail = tokens[start:]
        if len(tail) % 2 == 1 and all(
            (t in UNITS) if i % 2 == 0 else t == "per" for i, t in enumerate(tail)
        ):
            return " ".join(tokens[:start]), "/".join(UNITS[t] for t in tail[::2])
    return " ".join(tokens), ""


def humanise(code: str) -> str:
    """A code read mechanically: its last dotted part, ``_`` as spaces, first letter capital
    (``input.out_of_range`` → ``Out of range``)."""
    last = code.rsplit(".", 1)[-1]
    name, unit = split_unit(last)
    text = f"{name} ({unit})" if unit else name
    return text[:1].upper() + text[1:]


def number_text(value: float) -> str:
    """40.0 → 40, 0.553 → 0.55 (two places at most), as the pages show numbers."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def yes_no(value: object) -> str:
    """A boolean as a word; anything else as it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "—" if value is None else str(value)


def quantity(key: str, value: object) -> str:
    """A named value with its unit: ``("rate_ml_per_h", 156.0)`` → ``"rate 156 mL/h"``;
    booleans as yes or no."""
    name, unit = split_unit(key)
    name = FIXED_WORDS.get(key, name)
    if isinstance(value, bool):
        return f"{name}: {yes_no(value)}"
    if isinstance(value, int | float):
        return f"{name} {number_text(value)}{' ' + unit if unit else ''}"
    return f"{name} {value}"


def scale_name(key: str) -> str:
    """A questionnaire as a page names it: its short name and its title
    (``phq9`` → ``PHQ-9 (Patient Health Questionnaire-9)``), or its title alone.

    >>> scale_name("gad7")
    'GAD-7 (Generalized Anxiety Disorder-7)'
    """
    found = SCALES.get(key)
    if found is None:
        return words(key)
    short = FIXED_WORDS.get(key)
    return f"{short} ({found.title})" if short else found.title


def scale_refusal(fields: Mapping[str, object]) -> str | None:
    """A refusal of a questionnaire's key, worded with the scales' names instead of their
    codes (the API keeps the codes): the refusal's ``accepted`` keys and what was typed
    (``unknown`` or ``value``); ``None`` when the refusal names no accepted scales.

    >>> scale_refusal({"field": "scales", "unknown": ["qids"], "accepted": ["phq9"]})
    '“qids” is not a questionnaire ketaplan knows: choose PHQ-9 (Patient Health Questionnaire-9)'
    """
    accepted = fields.get("accepted")
    if fields.get("field") not in ("scale", "scales") or not isinstance(accepted, list):
        return None
    names = [scale_name(str(key)) for key in accepted]
    choose = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    typed = fields.get("unknown", [fields["value"]] if fields.get("value") else [])
    if not isinstance(typed, list) or not typed:
        return f"choose a questionnaire: {choose}"
    shown = ", ".join(f"“{str(t)[:40]}”" for t in typed)
    what = "is not a questionnaire" if len(typed) == 1 else "are not questionnaires"
    return f"{shown} {what} ketaplan knows: choose {choose}"


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """The catalog's words for its codes (built once per catalog)."""

    entries: Mapping[str, str]
    """``family.key`` or bare key → words (protocols, classes, contraindications, sources)."""
    source_titles: Mapping[str, str]
    """Source key → title (the citation up to its first colon, or the seed page's title)."""
    citations: tuple[tuple[str, str], ...] = ()
    """``(citation, key)``, longest first: a plan's stored source text starts with one."""


def _before_colon(text: str, limit: int = 80) -> str | None:
    head, colon, _ = text.partition(": ")  # not a colon inside "74(4):399-405"
    return head.strip() if colon and 0 < len(head) <= limit else None


def _source_title(citation: str) -> str:
    seed = _SEED_FILE.match(citation)
    if seed:
        return SEED_TITLES.get(seed.group(1), citation)
    return _before_colon(citation, 200) or citation


def vocabulary(catalog: Catalog) -> Vocabulary:
    """The catalog's words for its codes."""
    entries: dict[str, str] = {}
    for key, protocol in catalog.protocols.items():
        entries[key] = entries[f"protocol.{key}"] = protocol.title
    for key, cls in catalog.interaction_classes.items():
        entries[key] = cls.title
        entries[f"interaction.{key}"] = f"Interaction: {cls.title}"
    for key in catalog.modifiers:
        family, _, value = key.partition(".")
        entries[f"modifier.{key}"] = f"{family.capitalize()}: {value.replace('_', ' ')}"
    for key, entry in catalog.contraindications.items():
        entries[f"contraindication.{key}"] = _before_colon(entry.message) or humanise(key)
    titles = {key: _source_title(citation) for key, citation in catalog.sources.items()}
    citations = sorted(((c, k) for k, c in catalog.sources.items()), key=lambda p: -len(p[0]))
    return Vocabulary(entries, titles, tuple(citations))


_VOCABULARIES: dict[int, tuple[Catalog, Vocabulary]] = {}


def vocabulary_of(catalog: Catalog) -> Vocabulary:
    """:func:`vocabulary`, remembered per catalog object (a context loads one)."""
    known = _VOCABULARIES.get(id(catalog))
    if known is None or known[0] is not catalog:
        if len(_VOCABULARIES) > 8:
            _VOCABULARIES.clear()
        known = _VOCABULARIES[id(catalog)] = (catalog, vocabulary(catalog))
    return known[1]


def words(code: object, catalog: Catalog | None = None) -> str:
    """A code in clinician words: the catalog's, the fixed words, else read mechanically."""
    text = str(code)
    if catalog is not None:
        found = vocabulary_of(catalog).entries.get(text)
        if found:
            return found
    if text in FIXED_WORDS:
        return FIXED_WORDS[text]
    family, dot, rest = text.partition(".")
    if dot and family in PREFIX_WORDS:
        before = PREFIX_WORDS[family]
        inner = words(rest, catalog) if rest in FIXED_WORDS else humanise(rest)
        return f"{before}: {inner}" if before else inner
    if dot:  # a field of a part ("series.min_days", "limits.hard_max_mg_per_kg")
        return f"{humanise(family)}: {humanise(rest).lower()}"
    if "_" in text:
        return humanise(text)
    return text


_CODE_IN_TEXT = re.compile(r"\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b")


def prose(text: object, catalog: Catalog | None = None) -> str:
    """Free text the domain wrote (a reason, a note, a derived source) with each code in it
    in words: a source key as its title (``seed_001`` → the page's title), any other code as
    :func:`words` reads it (``see neuropathic_pain`` → the protocol's title). Stored text is
    never changed; only what the page shows."""
    titles = vocabulary_of(catalog).source_titles if catalog is not None else {}

    def worded(found: re.Match[str]) -> str:
        code = found.group(0)
        if all(len(part) == 1 for part in re.split(r"[._]", code)):
            return code  # "e.g", "i.e": abbreviations, not codes
        return titles.get(code) or words(code, catalog)

    return _CODE_IN_TEXT.sub(worded, str(text or ""))


def code_label(code: object, catalog: Catalog | None = None) -> Markup:
    """The code's words, with the code itself as the tooltip (``title``) for those who ask."""
    return Markup('<span class="coded" title="{}">{}</span>').format(
        str(code), words(code, catalog)
    )


_SOURCE_PARTS = re.compile(r"^(?P<file>(?:shared/)?seeds/\d{3}_[0-9a-f]+\.txt)(?P<rest>.*)$", re.S)


def source_label(citation: object, catalog: Catalog | None = None) -> Markup:
    """A source as its title, the file or key it was cited by as the tooltip: a seed page's
    ``seeds/000_….txt: …`` becomes its page's title; a catalog key (``sanacora_2017``) its
    citation's title; any other citation is shown as written."""
    text = str(citation or "")
    if not text:
        return Markup("")
    if catalog is not None:
        known = vocabulary_of(catalog)
        if text in known.source_titles:
            title = known.source_titles[text]
            return Markup('<cite title="{}">{}</cite>').format(catalog.sources[text], title)
        for citation, key in known.citations:  # "<citation>: "<quote>"" as a plan stores it
            if text.startswith(citation):
                return Markup('<cite title="{}">{}</cite>{}').format(
                    citation, known.source_titles[key], text[len(citation) :]
                )
    found = _SOURCE_PARTS.match(text)
    if found is None:
        return Markup('<cite title="{}">{}</cite>').format(text, prose(text, catalog))
    rest = found.group("rest")
    return Markup('<cite title="{}">{}</cite>{}').format(
        found.group("file"), _source_title(found.group("file")), prose(rest, catalog)
    )


def protocol_source_keys(protocol: Protocol) -> list[str]:
    """Every source a protocol's numbers, limits, cautions and options cite, by key (the
    protocols page lists them by title); clinic policy last."""
    keys = {*protocol.sources.values(), *protocol.limits.sources.values()}
    keys.update(caution.source for caution in protocol.cautions)
    for choice in protocol.choices:
        for option in choice.options:
            keys.update(option.sources.values())
    return sorted(keys, key=lambda key: (key == POLICY, key))


def _catalog_of(context: Any) -> Catalog | None:
    from ketaplan.http.context import services

    request = context.get("request")
    if request is None:
        return None
    catalog: Catalog = services(request).catalog
    return catalog


def install(environment: Environment) -> None:
    """Register the filters every template uses for codes, sources, booleans and units."""

    @pass_context
    def code_filter(context: Any, code: object) -> Markup:
        return code_label(code, _catalog_of(context))

    @pass_context
    def words_filter(context: Any, code: object) -> str:
        return words(code, _catalog_of(context))

    @pass_context
    def source_filter(context: Any, citation: object) -> Markup:
        return source_label(citation, _catalog_of(context))

    @pass_context
    def prose_filter(context: Any, text: object) -> str:
        return prose(text, _catalog_of(context))

    environment.filters["prose"] = prose_filter
    environment.filters["code"] = code_filter
    environment.filters["words"] = words_filter
    environment.filters["source"] = source_filter
    environment.filters["yes_no"] = yes_no
    environment.filters["quantity"] = lambda value, key: quantity(key, value)


__all__ = [
    "code_label",
    "humanise",
    "install",
    "prose",
    "protocol_source_keys",
    "quantity",
    "source_label",
    "split_unit",
    "words",
    "yes_no",
]
