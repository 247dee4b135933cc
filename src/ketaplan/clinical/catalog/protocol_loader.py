"""Loading the catalog's protocols and limit sets, with the clinic's picks where sources disagree.

A protocol names its limit set, its numbers (each with a source, and a quote unless clinic
policy) and its points of disagreement (``choices``): for each, the clinic picks an option of a
shared choice set, or ``"own"`` for the protocol's own numbers. The chosen options' numbers are
laid over the protocol's; every other option is built and checked as well, so a clinic can
switch to it without finding a broken number.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import cast

from ketaplan.clinical.catalog.cited_tables import check_citations, cited_numbers, flat_texts
from ketaplan.clinical.catalog.model import (
    BoosterPolicy,
    Category,
    ChoiceOption,
    Limits,
    Monitoring,
    Protocol,
    ProtocolCaution,
    ProtocolChoice,
    SeriesPolicy,
    Severity,
    WeightBasis,
)
from ketaplan.clinical.catalog.validation import (
    Table,
    choice,
    integer,
    number,
    numbers,
    pair,
    text,
    texts,
)
from ketaplan.errors import CatalogError


def load_limits(name: str, t: Table, known: Mapping[str, str]) -> Limits:
    fields = [
        "hard_min_mg_per_kg",
        "hard_max_mg_per_kg",
        "soft_max_total_mg",
        "hard_max_total_mg",
        "soft_max_mg_per_kg_per_h",
        "hard_max_mg_per_kg_per_h",
    ]
    t.check_keys([*fields, "sources", "quotes"])
    values = {f: t.get(f, number(positive=True)) for f in fields}
    if values["soft_max_total_mg"] > values["hard_max_total_mg"]:
        raise t.fail("soft_max_total_mg", "must not exceed hard_max_total_mg")
    if values["soft_max_mg_per_kg_per_h"] > values["hard_max_mg_per_kg_per_h"]:
        raise t.fail("soft_max_mg_per_kg_per_h", "must not exceed hard_max_mg_per_kg_per_h")
    if values["hard_min_mg_per_kg"] >= values["hard_max_mg_per_kg"]:
        raise t.fail("hard_min_mg_per_kg", "must be below hard_max_mg_per_kg")
    sources, quotes = check_citations(t, known, values)
    return Limits(name=name, sources=sources, quotes=quotes, **values)


_NUMBERED = [
    "start_mg_per_kg",
    "range_mg_per_kg",
    "infusion_min",
    "recovery_min",
    "rate_mg_per_kg_per_h",
    "max_rate_mg_per_h",
    "series",
    "booster",
    "bag_ml",
    "monitoring",
]
"""A protocol's fields that need a source (and a quote unless clinic policy); the monitoring
level is not a number but is cited the same way. A choice's options may set any of them."""


_PROTOCOL_FIELDS = [
    *_NUMBERED,
    "title",
    "category",
    "aliases",
    "limits",
    "alternatives",
    "notes",
    "sources",
    "quotes",
    "weight_basis_when_obese",
    "cautions",
    "choices",
    "choose",
]


OWN = "own"
"""``choose.<aspect> = "own"``: the protocol's own fields decide, not one of the options."""


def _option(t: Table, known: Mapping[str, str]) -> ChoiceOption:
    t.check_keys(["title", *_NUMBERED, "sources", "quotes"])
    values = {f: t.data[f] for f in _NUMBERED if f in t.data}
    if not values:
        raise t.fail("title", f"an option sets at least one of {', '.join(_NUMBERED)}")
    for key, value in flat_texts(t, "sources").items():
        if value not in known:
            raise t.fail(f"sources.{key}", f"unknown source {value!r}; add it to [sources] first")
    return ChoiceOption(
        key=t.path[-1],
        title=t.get("title", text),
        values=values,
        sources=flat_texts(t, "sources"),
        quotes=flat_texts(t, "quotes"),
    )


def _text_map(t: Table, name: str) -> dict[str, str]:
    if name not in t.data:
        return {}
    table = t.table(name)
    return {k: text(table, k, v) for k, v in table.data.items()}


def _choices(
    t: Table, choice_sets: Table, known: Mapping[str, str]
) -> tuple[tuple[ProtocolChoice, ...], dict[int, Table]]:
    """The protocol's points of disagreement, each with the clinic's pick among its options,
    and each option's table (by the option's id), whose origins name the file that set it."""
    aspects = _text_map(t, "choices")
    chosen = _text_map(t, "choose")
    tables: dict[int, Table] = {}
    for aspect in chosen:
        if aspect not in aspects:
            raise t.fail(
                f"choose.{aspect}", f"no choice {aspect!r} (choices: {', '.join(aspects)})"
            )
    result = []
    for aspect, set_name in aspects.items():
        if set_name not in choice_sets.data:
            raise t.fail(
                f"choices.{aspect}",
                f"unknown choice set {set_name!r} (known: {', '.join(sorted(choice_sets.data))})",
            )
        options_t = choice_sets.table(set_name)
        options = tuple(_option(options_t.table(k), known) for k in options_t.data)
        tables.update({id(o): options_t.table(o.key) for o in options})
        pick = chosen.get(aspect, "")
        if pick != OWN and pick not in options_t.data:
            raise t.fail(
                f"choose.{aspect}",
                f"choose one of {', '.join(options_t.data)} or {OWN!r} (the protocol's own "
                f"numbers); got {pick or 'none'!r} (the sources disagree here, so the clinic "
                "picks)",
            )
        for option in options:
            for name in option.values:
                if name in t.data and pick != OWN:
                    raise t.fail(
                        name,
                        f"set by the {aspect!r} choice ({set_name}, option {pick!r}): remove it "
                        f"here, or set choose.{aspect} = {OWN!r} to use the protocol's own number",
                    )
        result.append(ProtocolChoice(aspect, pick, options))
    return tuple(result), tables


def _with_options(
    t: Table,
    options: Iterable[ChoiceOption],
    tables: Mapping[int, Table],
    replacing: Iterable[str] = (),
) -> Table:
    """The protocol's table with the chosen options' fields, sources and quotes laid over it;
    ``replacing`` names the protocol's own fields an option takes the place of. An error in
    an option's number names the file that set the option."""
    dropped = set(replacing)
    data = {k: v for k, v in t.data.items() if k not in dropped}
    sources, quotes = flat_texts(t, "sources"), flat_texts(t, "quotes")
    origins = dict(t.origins)
    for option in options:
        data.update(option.values)
        sources.update(option.sources)
        quotes.update(option.quotes)
        at = tables[id(option)]
        for name in (*option.values, *option.sources, *option.quotes):
            for kind in ("", "sources.", "quotes."):
                origins[(*t.path, *f"{kind}{name}".split("."))] = at.origin(f"{kind}{name}")
    data["sources"], data["quotes"] = sources, quotes
    return Table(data, t.path, origins)


def load_protocol(
    key: str,
    t: Table,
    limit_sets: Mapping[str, Limits],
    known: Mapping[str, str],
    choice_sets: Table,
) -> Protocol:
    """A protocol with its chosen options; every other option is checked as well, so a
    clinic can switch to it without finding a broken number."""
    t.check_keys(_PROTOCOL_FIELDS)
    choices, tables = _choices(t, choice_sets, known)
    picked = {
        c.aspect: next(o for o in c.options if o.key == c.chosen)
        for c in choices
        if c.chosen != OWN
    }
    protocol = _build_protocol(
        key, _with_options(t, picked.values(), tables), limit_sets, known, choices
    )
    for point in choices:
        for option in point.options:
            if option.key != point.chosen:
                try:
                    _build_protocol(
                        key,
                        _with_options(
                            t,
                            {**picked, point.aspect: option}.values(),
                            tables,
                            (name for o in point.options for name in o.values),
                        ),
                        limit_sets,
                        known,
                        choices,
                    )
                except CatalogError as exc:
                    raise CatalogError(
                        f"{exc.message} (with the option {point.aspect} = {option.key!r}, "
                        "which a clinic may choose)",
                        fields=exc.fields,
                    ) from None
    return protocol


def _cautions(t: Table, known: Mapping[str, str]) -> tuple[ProtocolCaution, ...]:
    raw = t.data.get("cautions", [])
    if not isinstance(raw, list):
        raise t.fail("cautions", "expected a list of tables {code, severity, message, source}")
    cautions = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise t.fail(f"cautions[{i}]", "expected a table {code, severity, message, source}")
        c = Table(item, (*t.path, f"cautions[{i}]"), t.origins)
        c.check_keys(["code", "severity", "message", "source", "quote"])
        cautions.append(
            ProtocolCaution(
                code=c.get("code", text),
                severity=cast(Severity, c.get("severity", choice("block", "caution", "info"))),
                message=c.get("message", text),
                source=c.get("source", choice(*known)),
                quote=c.get("quote", text, ""),
            )
        )
    return tuple(cautions)


def _build_protocol(
    key: str,
    t: Table,
    limit_sets: Mapping[str, Limits],
    known: Mapping[str, str],
    choices: tuple[ProtocolChoice, ...],
) -> Protocol:
    limits_name = t.get("limits", text)
    if limits_name not in limit_sets:
        raise t.fail(
            "limits", f"unknown limit set {limits_name!r} (known: {', '.join(sorted(limit_sets))})"
        )
    limits = limit_sets[limits_name]
    infusion_min = t.get("infusion_min", number(lo=5, hi=24 * 60))
    rate = t.get("rate_mg_per_kg_per_h", number(positive=True), None)
    if rate is None:
        start = t.get("start_mg_per_kg", number(positive=True))
    else:
        start = t.get("start_mg_per_kg", number(positive=True), rate * infusion_min / 60)
        if abs(rate * infusion_min / 60 - start) > 1e-6:
            raise t.fail(
                "rate_mg_per_kg_per_h",
                f"{rate:g} mg/kg/h over {infusion_min:g} min is "
                f"{rate * infusion_min / 60:g} mg/kg, not the "
                f"start_mg_per_kg {start:g}",
            )
    low, high = t.get("range_mg_per_kg", pair)
    if not low - 1e-9 <= start <= high + 1e-9:
        raise t.fail(
            "start_mg_per_kg", f"{start:g} lies outside range_mg_per_kg [{low:g}, {high:g}]"
        )
    if low < limits.hard_min_mg_per_kg or high > limits.hard_max_mg_per_kg:
        raise t.fail(
            "range_mg_per_kg",
            f"[{low:g}, {high:g}] reaches past the hard limits "
            f"[{limits.hard_min_mg_per_kg:g}, "
            f"{limits.hard_max_mg_per_kg:g}] of {limits_name!r}",
        )
    series_t = t.table("series")
    series_t.check_keys(["sessions", "min_days", "max_days", "max_per_week", "min_hours_between"])
    series = SeriesPolicy(
        sessions=series_t.get("sessions", integer(1)),
        min_days=series_t.get("min_days", integer(0)),
        max_days=series_t.get("max_days", integer(1)),
        max_per_week=series_t.get("max_per_week", integer(1)),
        min_hours_between=series_t.get("min_hours_between", number(lo=0)),
    )
    if series.min_days > series.max_days:
        raise series_t.fail("min_days", "must not exceed max_days")
    booster_t = t.table("booster")
    booster_t.check_keys(["reassess_after_days", "interval_weeks", "consecutive_days"])
    weeks = booster_t.get("interval_weeks", pair)
    booster = BoosterPolicy(
        reassess_after_days=booster_t.get("reassess_after_days", integer(1)),
        interval_weeks=(int(weeks[0]), int(weeks[1])),
        consecutive_days=booster_t.get("consecutive_days", integer(1)),
    )
    basis = t.get("weight_basis_when_obese", choice("actual", "ideal", "adjusted"), None)
    sources, quotes = check_citations(t, known, cited_numbers(t.data, _NUMBERED))
    return Protocol(
        key=key,
        title=t.get("title", text),
        category=cast(Category, t.get("category", choice("mood", "pain"))),
        aliases=t.get("aliases", texts, ()),
        start_mg_per_kg=start,
        range_mg_per_kg=(low, high),
        infusion_min=infusion_min,
        recovery_min=t.get("recovery_min", number(lo=0)),
        rate_mg_per_kg_per_h=rate,
        monitoring=cast(Monitoring, t.get("monitoring", choice("nurse", "anaesthesia_provider"))),
        limits=limits,
        bag_ml=t.get("bag_ml", numbers),
        alternatives=t.get("alternatives", texts, ()),
        notes=t.get("notes", text, ""),
        series=series,
        booster=booster,
        sources=sources,
        weight_basis_when_obese=cast(WeightBasis | None, basis),
        quotes=quotes,
        max_rate_mg_per_h=t.get("max_rate_mg_per_h", number(positive=True), None),
        cautions=_cautions(t, known),
        choices=choices,
    )
