"""Loading and validating the catalog's TOML files.

The default files ship inside the package. A clinic adds or overrides entries with files of its
own: tables are merged key by key (a clinic file may change one field of one protocol), arrays
are replaced. Every error names the file that set the offending value and the field's dotted
path, and says what is accepted.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from ketaplan.clinical.catalog.citations import POLICY, check_quotes, quote_problem
from ketaplan.clinical.catalog.model import (
    BoosterPolicy,
    Catalog,
    Category,
    ChoiceOption,
    ClinicSettings,
    Contraindication,
    InteractionClass,
    Limits,
    Modifier,
    Monitoring,
    PreparationSettings,
    Protocol,
    ProtocolCaution,
    ProtocolChoice,
    SeriesPolicy,
    Severity,
    Syringe,
    Vial,
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

DEFAULT_DIR = Path(__file__).parent
DEFAULT_FILES = (
    "sources.toml",
    "protocols.toml",
    "screening.toml",
    "medications.toml",
    "dosing.toml",
    "clinic.toml",
)

Path_ = tuple[str, ...]


def merge_layer(
    base: dict[str, Any],
    extra: Mapping[str, Any],
    origin: str,
    at: Path_,
    origins: dict[Path_, str],
) -> None:
    """Lay ``extra`` (one file's tables, from ``origin``) over ``base`` in place.

    Tables merge key by key, so a clinic file can change one field of one protocol; any other
    value (arrays included) replaces the one below it. ``origins`` records which file set each
    path, so a validation error names the file to edit.
    """
    for key, value in extra.items():
        path = (*at, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge_layer(base[key], value, origin, path, origins)
        else:
            base[key] = value
            origins[path] = origin


def _flat(t: Table, name: str) -> dict[str, str]:
    """A ``sources`` or ``quotes`` table with sub-tables flattened to dotted keys
    (``series = { sessions = ... }`` and ``"series.sessions" = ...`` are the same)."""
    if name not in t.data:
        return {}
    flat: dict[str, str] = {}
    for key, value in t.table(name).data.items():
        items = value.items() if isinstance(value, dict) else [("", value)]
        for sub, v in items:
            dotted = f"{key}.{sub}" if sub else key
            flat[dotted] = text(t.table(name), dotted, v)
    return flat


def _numbers(data: Mapping[str, Any], fields: Iterable[str]) -> dict[str, object]:
    """The numbers (and the monitoring level) a table gives, by dotted field."""
    found: dict[str, object] = {}
    for name in fields:
        value = data.get(name)
        if isinstance(value, dict):
            found.update({f"{name}.{k}": v for k, v in value.items()})
        elif value is not None:
            found[name] = value
    return found


def _cited(
    t: Table, known: Mapping[str, str], numbers: Mapping[str, object]
) -> tuple[dict[str, str], dict[str, str]]:
    """A table's ``sources`` and ``quotes``, checked: every number has a known source, and a
    number citing anything but clinic policy has a quote that states it (see
    :mod:`~ketaplan.clinical.catalog.citations`)."""
    sources = _flat(t, "sources")
    quotes = _flat(t, "quotes")
    for key, value in sources.items():
        if value not in known:
            raise t.fail(f"sources.{key}", f"unknown source {value!r}; add it to [sources] first")
    for name in numbers:
        if name not in sources and name.split(".")[0] not in sources:
            raise t.fail(f"sources.{name}", "every number needs a source; this one has none")
    for key in quotes:
        if key not in sources and not any(k.startswith(f"{key}.") for k in sources):
            raise t.fail(f"quotes.{key}", "a quote needs the source it comes from in sources")
    for name, problem in check_quotes(numbers, sources, quotes):
        table = name.split(".")[0]
        raise _citation_error(
            t,
            f"quotes.{name}",
            problem,
            (f"quotes.{table}", f"sources.{name}", f"sources.{table}", name),
        )
    return sources, quotes


def _citation_error(t: Table, name: str, problem: str, also: Iterable[str]) -> CatalogError:
    """The error for a number its quote does not hold, at field ``name``, naming the file
    that changed the number, its source or its quote (``name`` or one of ``also``): a
    clinic's own file before the default files."""
    changed = [t.origin(p) for p in (name, *also)]
    file = next((f for f in changed if f not in DEFAULT_FILES), changed[0])
    dotted = ".".join((*t.path, name))
    return CatalogError(f"{file}: {dotted}: {problem}", fields={"file": file, "field": dotted})


def _limits(name: str, t: Table, known: Mapping[str, str]) -> Limits:
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
    sources, quotes = _cited(t, known, values)
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
    for key, value in _flat(t, "sources").items():
        if value not in known:
            raise t.fail(f"sources.{key}", f"unknown source {value!r}; add it to [sources] first")
    return ChoiceOption(
        key=t.path[-1],
        title=t.get("title", text),
        values=values,
        sources=_flat(t, "sources"),
        quotes=_flat(t, "quotes"),
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
    sources, quotes = _flat(t, "sources"), _flat(t, "quotes")
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


def _protocol(
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
    sources, quotes = _cited(t, known, _numbers(t.data, _NUMBERED))
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


def _clinic(root: Table, known: Mapping[str, str]) -> ClinicSettings:
    t = root.table("clinic")
    t.check_keys(
        [
            "name",
            "time_zone",
            "price_per_session_usd",
            "obesity_bmi",
            "obese_weight_basis",
            "address",
            "calendar_title",
            "sources",
        ]
    )
    prep = root.table("preparation")
    prep.check_keys(
        [
            "diluent",
            "bag_sizes_ml",
            "pump_resolution_ml_per_h",
            "max_final_mg_per_ml",
            "min_draw_ml",
            "max_delivered_overshoot_fraction",
            "max_delivered_undershoot_fraction",
            "draw_tolerance_fraction",
            "bag_overfill_fraction",
            "sources",
        ]
    )
    vials = []
    for i, raw in enumerate(root.data.get("vials", [])):
        v = Table(raw, ("vials", str(i)), root.origins)
        v.check_keys(["mg_per_ml", "volume_ml"])
        vials.append(
            Vial(
                v.get("mg_per_ml", number(positive=True)),
                v.get("volume_ml", number(positive=True)),
            )
        )
    syringes = []
    for i, raw in enumerate(root.data.get("syringes", [])):
        s = Table(raw, ("syringes", str(i)), root.origins)
        s.check_keys(["capacity_ml", "graduation_ml"])
        syringes.append(
            Syringe(
                s.get("capacity_ml", number(positive=True)),
                s.get("graduation_ml", number(positive=True)),
            )
        )
    if not vials:
        raise root.fail("vials", "at least one vial strength must be in stock")
    if not syringes:
        raise root.fail("syringes", "at least one syringe size must be in stock")
    bounds = [
        prep.data.get(f"max_delivered_{side}shoot_fraction", 0.0) for side in ("over", "under")
    ]
    if any(prep.data.get("draw_tolerance_fraction", 0.0) > bound for bound in bounds):
        raise prep.fail(
            "draw_tolerance_fraction",
            "must not exceed max_delivered_overshoot_fraction or max_delivered_undershoot_fraction",
        )
    return ClinicSettings(
        name=t.get("name", text),
        time_zone=t.get("time_zone", text),
        price_per_session_usd=t.get("price_per_session_usd", number(lo=0)),
        obesity_bmi=t.get("obesity_bmi", number(lo=20, hi=60)),
        obese_weight_basis=cast(
            WeightBasis, t.get("obese_weight_basis", choice("actual", "ideal", "adjusted"))
        ),
        address=t.get("address", text, ""),
        calendar_title=t.get("calendar_title", text, "Clinic appointment"),
        vials=tuple(sorted(vials, key=lambda v: v.mg_per_ml)),
        syringes=tuple(sorted(syringes, key=lambda s: s.capacity_ml)),
        preparation=PreparationSettings(
            diluent=prep.get("diluent", text),
            bag_sizes_ml=prep.get("bag_sizes_ml", numbers),
            pump_resolution_ml_per_h=prep.get("pump_resolution_ml_per_h", number(positive=True)),
            max_final_mg_per_ml=prep.get("max_final_mg_per_ml", number(positive=True, hi=10)),
            min_draw_ml=prep.get("min_draw_ml", number(positive=True)),
            max_delivered_overshoot_fraction=prep.get(
                "max_delivered_overshoot_fraction", number(lo=0, hi=0.05)
            ),
            max_delivered_undershoot_fraction=prep.get(
                "max_delivered_undershoot_fraction", number(lo=0, hi=0.1)
            ),
            draw_tolerance_fraction=prep.get("draw_tolerance_fraction", number(lo=0, hi=0.05)),
            bag_overfill_fraction=prep.get("bag_overfill_fraction", number(lo=0, hi=0.25)),
        ),
    )


def read_layer(path: Path, origins: dict[Path_, str], merged: dict[str, Any]) -> None:
    """Read one TOML file and lay it over ``merged`` (see :func:`merge_layer`)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found", fields={"file": str(path)}) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{path.name}: not valid TOML: {exc}", fields={"file": str(path)}
        ) from exc
    merge_layer(merged, data, path.name, (), origins)


def _check_class_factor(t: Table, cls: InteractionClass) -> None:
    """An interaction class's factor is clinic policy, or its source's words state it
    (``dose_factor_quote``), as for every other number of the catalog."""
    if cls.dose_factor_source == POLICY:
        return
    problem = quote_problem("dose_factor", cls.dose_factor, t.get("dose_factor_quote", text, None))
    if problem:
        raise _citation_error(
            t,
            "dose_factor",
            f"{cls.dose_factor_source}: {problem}",
            ("dose_factor_source", "dose_factor_quote"),
        )


def build_catalog(extra_files: Sequence[Path] = ()) -> Catalog:
    """Load the default catalog, merge clinic files over it, validate everything."""
    merged: dict[str, Any] = {}
    origins: dict[Path_, str] = {}
    for name in DEFAULT_FILES:
        read_layer(DEFAULT_DIR / name, origins, merged)
    for path in extra_files:
        read_layer(Path(path), origins, merged)
    root = Table(merged, (), origins)
    root.check_keys(
        [
            "catalog",
            "sources",
            "limit_sets",
            "choices",
            "protocols",
            "contraindications",
            "classes",
            "fixes",
            "suffix_hints",
            "dose_text",
            "modifiers",
            "clinic",
            "vials",
            "syringes",
            "preparation",
        ]
    )
    sources = {k: text(root.table("sources"), k, v) for k, v in root.table("sources").data.items()}

    limits_t = root.table("limit_sets")
    limit_sets = {k: _limits(k, limits_t.table(k), sources) for k in limits_t.data}
    protocols_t = root.table("protocols")
    choice_sets = Table(root.data.get("choices", {}), ("choices",), origins)
    protocols = {
        k: _protocol(k, protocols_t.table(k), limit_sets, sources, choice_sets)
        for k in protocols_t.data
    }

    ci_t = root.table("contraindications")
    contraindications = {}
    for term in ci_t.data:
        t = ci_t.table(term)
        t.check_keys(["severity", "synonyms", "message", "source"])
        contraindications[term] = Contraindication(
            term=term,
            severity=cast(Severity, t.get("severity", choice("block", "caution", "info"))),
            synonyms=t.get("synonyms", texts, ()),
            message=t.get("message", text),
            source=t.get("source", choice(*sources)),
        )

    classes_t = root.table("classes")
    classes = {}
    for key in classes_t.data:
        t = classes_t.table(key)
        t.check_keys(
            [
                "title",
                "severity",
                "message",
                "dose_factor",
                "dose_factor_source",
                "dose_reason",
                "source",
                "ingredients",
                "dose_factor_quote",
            ]
        )
        classes[key] = InteractionClass(
            key=key,
            title=t.get("title", text),
            severity=cast(Severity, t.get("severity", choice("block", "caution", "info"))),
            message=t.get("message", text),
            dose_factor=t.get("dose_factor", number(lo=0.5, hi=1.5)),
            dose_factor_source=t.get("dose_factor_source", choice(*sources)),
            dose_reason=t.get("dose_reason", text),
            source=t.get("source", choice(*sources)),
            ingredients=tuple(i.lower() for i in t.get("ingredients", texts)),
        )
        _check_class_factor(t, classes[key])

    fixes_t = root.table("fixes")
    fixes = {
        k.lower(): tuple(i.lower() for i in texts(fixes_t, k, v)) for k, v in fixes_t.data.items()
    }

    hints_t = root.table("suffix_hints")
    suffix_hints = {k.lower(): text(hints_t, k, v) for k, v in hints_t.data.items()}
    dose_t = root.table("dose_text")
    dose_words = frozenset(w.lower() for k, v in dose_t.data.items() for w in texts(dose_t, k, v))

    modifiers_t = root.table("modifiers")
    modifiers = {}
    for key in modifiers_t.data:
        t = modifiers_t.table(key)
        t.check_keys(
            [
                "categories",
                "factor",
                "reason",
                "source",
                "quote",
                "min_age_years",
                "sources",
                "quotes",
            ]
        )
        categories = t.get("categories", texts)
        for c in categories:
            if c not in ("mood", "pain"):
                raise t.fail("categories", f"expected mood or pain, got {c!r}")
        cited, _ = _cited(t, sources, _numbers(t.data, ["factor", "min_age_years"]))
        modifiers[key] = Modifier(
            key=key,
            categories=cast(tuple[Category, ...], categories),
            factor=t.get("factor", number(lo=0.5, hi=1.5)),
            reason=t.get("reason", text),
            source=t.get("source", choice(*sources)),
            min_age_years=t.get("min_age_years", number(lo=0), None),
            factor_source=cited.get("factor", ""),
            quote=t.get("quote", text, ""),
        )

    version_t = root.table("catalog")
    return Catalog(
        version=version_t.get("version", text),
        sources=sources,
        protocols=protocols,
        contraindications=contraindications,
        interaction_classes=classes,
        medication_fixes=fixes,
        medication_suffix_hints=suffix_hints,
        medication_dose_words=dose_words,
        modifiers=modifiers,
        clinic=_clinic(root, sources),
        files=(*DEFAULT_FILES, *(Path(p).name for p in extra_files)),
    )


@functools.lru_cache(maxsize=8)
def load_catalog(extra_files: tuple[Path, ...] = ()) -> Catalog:
    """The catalog, built once per set of files (catalog values are immutable)."""
    return build_catalog(extra_files)
