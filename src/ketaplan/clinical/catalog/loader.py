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

from ketaplan.clinical.catalog.model import (
    BoosterPolicy,
    Catalog,
    Category,
    ClinicSettings,
    Contraindication,
    InteractionClass,
    Limits,
    Modifier,
    Monitoring,
    PreparationSettings,
    Protocol,
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


def _sources(t: Table, known: Mapping[str, str], required: Iterable[str]) -> dict[str, str]:
    table = t.table("sources")
    result: dict[str, str] = {}
    for key, value in table.data.items():
        if value not in known:
            raise table.fail(key, f"unknown source {value!r}; add it to [sources] first")
        result[key] = value
    for name in required:
        if name in t.data and name not in result:
            raise table.fail(name, "every number needs a source; this one has none")
    return result


def _limits(name: str, t: Table, known: Mapping[str, str]) -> Limits:
    fields = [
        "hard_min_mg_per_kg",
        "hard_max_mg_per_kg",
        "soft_max_total_mg",
        "hard_max_total_mg",
        "soft_max_mg_per_kg_per_h",
        "hard_max_mg_per_kg_per_h",
    ]
    t.check_keys([*fields, "sources"])
    values = {f: t.get(f, number(positive=True)) for f in fields}
    if values["soft_max_total_mg"] > values["hard_max_total_mg"]:
        raise t.fail("soft_max_total_mg", "must not exceed hard_max_total_mg")
    if values["soft_max_mg_per_kg_per_h"] > values["hard_max_mg_per_kg_per_h"]:
        raise t.fail("soft_max_mg_per_kg_per_h", "must not exceed hard_max_mg_per_kg_per_h")
    if values["hard_min_mg_per_kg"] >= values["hard_max_mg_per_kg"]:
        raise t.fail("hard_min_mg_per_kg", "must be below hard_max_mg_per_kg")
    return Limits(name=name, sources=_sources(t, known, fields), **values)


_PROTOCOL_FIELDS = [
    "title",
    "category",
    "aliases",
    "start_mg_per_kg",
    "range_mg_per_kg",
    "infusion_min",
    "recovery_min",
    "rate_mg_per_kg_per_h",
    "monitoring",
    "limits",
    "bag_ml",
    "alternatives",
    "notes",
    "series",
    "booster",
    "sources",
    "weight_basis_when_obese",
]
_NUMBERED = [
    "start_mg_per_kg",
    "range_mg_per_kg",
    "infusion_min",
    "recovery_min",
    "rate_mg_per_kg_per_h",
    "series",
    "booster",
    "bag_ml",
]


def _protocol(
    key: str, t: Table, limit_sets: Mapping[str, Limits], known: Mapping[str, str]
) -> Protocol:
    t.check_keys(_PROTOCOL_FIELDS)
    limits_name = t.get("limits", text)
    if limits_name not in limit_sets:
        raise t.fail(
            "limits", f"unknown limit set {limits_name!r} (known: {', '.join(sorted(limit_sets))})"
        )
    limits = limit_sets[limits_name]
    start = t.get("start_mg_per_kg", number(positive=True))
    low, high = t.get("range_mg_per_kg", pair)
    if not low <= start <= high:
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
    infusion_min = t.get("infusion_min", number(lo=5, hi=24 * 60))
    rate = t.get("rate_mg_per_kg_per_h", number(positive=True), None)
    if rate is not None and abs(rate * infusion_min / 60 - start) > 1e-6:
        raise t.fail(
            "rate_mg_per_kg_per_h",
            f"{rate:g} mg/kg/h over {infusion_min:g} min is "
            f"{rate * infusion_min / 60:g} mg/kg, not the "
            f"start_mg_per_kg {start:g}",
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
        sources=_sources(t, known, _NUMBERED),
        weight_basis_when_obese=cast(WeightBasis | None, basis),
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
            "protocols",
            "contraindications",
            "classes",
            "fixes",
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
    protocols = {
        k: _protocol(k, protocols_t.table(k), limit_sets, sources) for k in protocols_t.data
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
            ["title", "severity", "message", "dose_factor", "dose_reason", "source", "ingredients"]
        )
        classes[key] = InteractionClass(
            key=key,
            title=t.get("title", text),
            severity=cast(Severity, t.get("severity", choice("block", "caution", "info"))),
            message=t.get("message", text),
            dose_factor=t.get("dose_factor", number(lo=0.5, hi=1.5)),
            dose_reason=t.get("dose_reason", text),
            source=t.get("source", choice(*sources)),
            ingredients=tuple(i.lower() for i in t.get("ingredients", texts)),
        )

    fixes_t = root.table("fixes")
    fixes = {
        k.lower(): tuple(i.lower() for i in texts(fixes_t, k, v)) for k, v in fixes_t.data.items()
    }

    modifiers_t = root.table("modifiers")
    modifiers = {}
    for key in modifiers_t.data:
        t = modifiers_t.table(key)
        t.check_keys(["categories", "factor", "reason", "source", "min_age_years"])
        categories = t.get("categories", texts)
        for c in categories:
            if c not in ("mood", "pain"):
                raise t.fail("categories", f"expected mood or pain, got {c!r}")
        modifiers[key] = Modifier(
            key=key,
            categories=cast(tuple[Category, ...], categories),
            factor=t.get("factor", number(lo=0.5, hi=1.5)),
            reason=t.get("reason", text),
            source=t.get("source", choice(*sources)),
            min_age_years=t.get("min_age_years", number(lo=0), None),
        )

    version_t = root.table("catalog")
    return Catalog(
        version=version_t.get("version", text),
        sources=sources,
        protocols=protocols,
        contraindications=contraindications,
        interaction_classes=classes,
        medication_fixes=fixes,
        modifiers=modifiers,
        clinic=_clinic(root, sources),
        files=(*DEFAULT_FILES, *(Path(p).name for p in extra_files)),
    )


@functools.lru_cache(maxsize=8)
def load_catalog(extra_files: tuple[Path, ...] = ()) -> Catalog:
    """The catalog, built once per set of files (catalog values are immutable)."""
    return build_catalog(extra_files)
