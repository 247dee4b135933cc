"""Loading and validating the catalog's TOML files.

The default files ship inside the package. A clinic adds or overrides entries with files of its
own: tables are merged key by key (a clinic file may change one field of one protocol), arrays
are replaced. Every error names the file that set the offending value and the field's dotted
path, and says what is accepted.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

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
    close_matches,
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

T = TypeVar("T")
Path_ = tuple[str, ...]


def _merge(
    base: dict[str, Any],
    extra: Mapping[str, Any],
    origin: str,
    at: Path_,
    origins: dict[Path_, str],
) -> None:
    for key, value in extra.items():
        path = (*at, key)
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value, origin, path, origins)
        else:
            base[key] = value
            origins[path] = origin


@dataclass(frozen=True, slots=True)
class _Table:
    """A TOML table being validated, with where it came from for error messages."""

    data: Mapping[str, Any]
    path: Path_
    origins: Mapping[Path_, str]

    def origin(self, name: str | None = None) -> str:
        path = (*self.path, name) if name else self.path
        while path:
            if path in self.origins:
                return self.origins[path]
            path = path[:-1]
        return "catalog"

    def fail(self, name: str, problem: str) -> CatalogError:
        dotted = ".".join((*self.path, name))
        file = self.origin(name)
        return CatalogError(
            f"{file}: {dotted}: {problem}",
            fields={"file": file, "field": dotted},
        )

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = list(allowed)
        for key in self.data:
            if key not in allowed:
                near = close_matches(key, allowed)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise self.fail(key, f"unknown field{hint} (accepted: {', '.join(allowed)})")

    def get(self, name: str, kind: Callable[[_Table, str, Any], T], default: Any = ...) -> T:
        if name not in self.data:
            if default is ...:
                raise self.fail(name, "missing")
            return cast(T, default)
        return kind(self, name, self.data[name])

    def table(self, name: str) -> _Table:
        value = self.data.get(name)
        if not isinstance(value, dict):
            raise self.fail(name, "expected a table")
        return _Table(value, (*self.path, name), self.origins)


def _number(
    lo: float | None = None, hi: float | None = None, positive: bool = False
) -> Callable[[_Table, str, Any], float]:
    def read(t: _Table, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise t.fail(name, f"expected a number, got {value!r}")
        number = float(value)
        if number != number:  # NaN
            raise t.fail(name, "expected a number, got NaN")
        if positive and number <= 0:
            raise t.fail(name, f"must be greater than 0, got {number:g}")
        if lo is not None and number < lo:
            raise t.fail(name, f"must be at least {lo:g}, got {number:g}")
        if hi is not None and number > hi:
            raise t.fail(name, f"must be at most {hi:g}, got {number:g}")
        return number

    return read


def _integer(lo: int = 0) -> Callable[[_Table, str, Any], int]:
    def read(t: _Table, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise t.fail(name, f"expected a whole number, got {value!r}")
        if value < lo:
            raise t.fail(name, f"must be at least {lo}, got {value}")
        return value

    return read


def _text(t: _Table, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise t.fail(name, f"expected non-empty text, got {value!r}")
    return value


def _choice(*choices: str) -> Callable[[_Table, str, Any], str]:
    def read(t: _Table, name: str, value: Any) -> str:
        if value not in choices:
            raise t.fail(name, f"expected one of {', '.join(choices)}, got {value!r}")
        return cast(str, value)

    return read


def _texts(t: _Table, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise t.fail(name, f"expected a list of text, got {value!r}")
    return tuple(value)


def _numbers(t: _Table, name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise t.fail(name, f"expected a non-empty list of numbers, got {value!r}")
    return tuple(_number(positive=True)(t, f"{name}[{i}]", v) for i, v in enumerate(value))


def _pair(t: _Table, name: str, value: Any) -> tuple[float, float]:
    numbers = _numbers(t, name, value)
    if len(numbers) != 2 or numbers[0] > numbers[1]:
        raise t.fail(name, f"expected [low, high] with low <= high, got {value!r}")
    return numbers[0], numbers[1]


def _sources(t: _Table, known: Mapping[str, str], required: Iterable[str]) -> dict[str, str]:
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


def _limits(name: str, t: _Table, known: Mapping[str, str]) -> Limits:
    fields = [
        "hard_min_mg_per_kg",
        "hard_max_mg_per_kg",
        "soft_max_total_mg",
        "hard_max_total_mg",
        "soft_max_mg_per_kg_per_h",
        "hard_max_mg_per_kg_per_h",
    ]
    t.check_keys([*fields, "sources"])
    values = {f: t.get(f, _number(positive=True)) for f in fields}
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
    key: str, t: _Table, limit_sets: Mapping[str, Limits], known: Mapping[str, str]
) -> Protocol:
    t.check_keys(_PROTOCOL_FIELDS)
    limits_name = t.get("limits", _text)
    if limits_name not in limit_sets:
        raise t.fail(
            "limits", f"unknown limit set {limits_name!r} (known: {', '.join(sorted(limit_sets))})"
        )
    limits = limit_sets[limits_name]
    start = t.get("start_mg_per_kg", _number(positive=True))
    low, high = t.get("range_mg_per_kg", _pair)
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
    infusion_min = t.get("infusion_min", _number(lo=5, hi=24 * 60))
    rate = t.get("rate_mg_per_kg_per_h", _number(positive=True), None)
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
        sessions=series_t.get("sessions", _integer(1)),
        min_days=series_t.get("min_days", _integer(0)),
        max_days=series_t.get("max_days", _integer(1)),
        max_per_week=series_t.get("max_per_week", _integer(1)),
        min_hours_between=series_t.get("min_hours_between", _number(lo=0)),
    )
    if series.min_days > series.max_days:
        raise series_t.fail("min_days", "must not exceed max_days")
    booster_t = t.table("booster")
    booster_t.check_keys(["reassess_after_days", "interval_weeks", "consecutive_days"])
    weeks = booster_t.get("interval_weeks", _pair)
    booster = BoosterPolicy(
        reassess_after_days=booster_t.get("reassess_after_days", _integer(1)),
        interval_weeks=(int(weeks[0]), int(weeks[1])),
        consecutive_days=booster_t.get("consecutive_days", _integer(1)),
    )
    basis = t.get("weight_basis_when_obese", _choice("actual", "ideal", "adjusted"), None)
    return Protocol(
        key=key,
        title=t.get("title", _text),
        category=cast(Category, t.get("category", _choice("mood", "pain"))),
        aliases=t.get("aliases", _texts, ()),
        start_mg_per_kg=start,
        range_mg_per_kg=(low, high),
        infusion_min=infusion_min,
        recovery_min=t.get("recovery_min", _number(lo=0)),
        rate_mg_per_kg_per_h=rate,
        monitoring=cast(Monitoring, t.get("monitoring", _choice("nurse", "anaesthesia_provider"))),
        limits=limits,
        bag_ml=t.get("bag_ml", _numbers),
        alternatives=t.get("alternatives", _texts, ()),
        notes=t.get("notes", _text, ""),
        series=series,
        booster=booster,
        sources=_sources(t, known, _NUMBERED),
        weight_basis_when_obese=cast(WeightBasis | None, basis),
    )


def _clinic(root: _Table, known: Mapping[str, str]) -> ClinicSettings:
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
            "sources",
        ]
    )
    vials = []
    for i, raw in enumerate(root.data.get("vials", [])):
        v = _Table(raw, ("vials", str(i)), root.origins)
        v.check_keys(["mg_per_ml", "volume_ml"])
        vials.append(
            Vial(
                v.get("mg_per_ml", _number(positive=True)),
                v.get("volume_ml", _number(positive=True)),
            )
        )
    syringes = []
    for i, raw in enumerate(root.data.get("syringes", [])):
        s = _Table(raw, ("syringes", str(i)), root.origins)
        s.check_keys(["capacity_ml", "graduation_ml"])
        syringes.append(
            Syringe(
                s.get("capacity_ml", _number(positive=True)),
                s.get("graduation_ml", _number(positive=True)),
            )
        )
    if not vials:
        raise root.fail("vials", "at least one vial strength must be in stock")
    if not syringes:
        raise root.fail("syringes", "at least one syringe size must be in stock")
    return ClinicSettings(
        name=t.get("name", _text),
        time_zone=t.get("time_zone", _text),
        price_per_session_usd=t.get("price_per_session_usd", _number(lo=0)),
        obesity_bmi=t.get("obesity_bmi", _number(lo=20, hi=60)),
        obese_weight_basis=cast(
            WeightBasis, t.get("obese_weight_basis", _choice("actual", "ideal", "adjusted"))
        ),
        vials=tuple(sorted(vials, key=lambda v: v.mg_per_ml)),
        syringes=tuple(sorted(syringes, key=lambda s: s.capacity_ml)),
        preparation=PreparationSettings(
            diluent=prep.get("diluent", _text),
            bag_sizes_ml=prep.get("bag_sizes_ml", _numbers),
            pump_resolution_ml_per_h=prep.get("pump_resolution_ml_per_h", _number(positive=True)),
            max_final_mg_per_ml=prep.get("max_final_mg_per_ml", _number(positive=True, hi=10)),
            min_draw_ml=prep.get("min_draw_ml", _number(positive=True)),
            max_delivered_overshoot_fraction=prep.get(
                "max_delivered_overshoot_fraction", _number(lo=0, hi=0.05)
            ),
            max_delivered_undershoot_fraction=prep.get(
                "max_delivered_undershoot_fraction", _number(lo=0, hi=0.1)
            ),
        ),
    )


def _read(path: Path, origins: dict[Path_, str], merged: dict[str, Any]) -> None:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: catalog file not found", fields={"file": str(path)}) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{path.name}: not valid TOML: {exc}", fields={"file": str(path)}
        ) from exc
    _merge(merged, data, path.name, (), origins)


def build_catalog(extra_files: Sequence[Path] = ()) -> Catalog:
    """Load the default catalog, merge clinic files over it, validate everything."""
    merged: dict[str, Any] = {}
    origins: dict[Path_, str] = {}
    for name in DEFAULT_FILES:
        _read(DEFAULT_DIR / name, origins, merged)
    for path in extra_files:
        _read(Path(path), origins, merged)
    root = _Table(merged, (), origins)
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
    sources = {k: _text(root.table("sources"), k, v) for k, v in root.table("sources").data.items()}

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
            severity=cast(Severity, t.get("severity", _choice("block", "caution", "info"))),
            synonyms=t.get("synonyms", _texts, ()),
            message=t.get("message", _text),
            source=t.get("source", _choice(*sources)),
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
            title=t.get("title", _text),
            severity=cast(Severity, t.get("severity", _choice("block", "caution", "info"))),
            message=t.get("message", _text),
            dose_factor=t.get("dose_factor", _number(lo=0.5, hi=1.5)),
            dose_reason=t.get("dose_reason", _text),
            source=t.get("source", _choice(*sources)),
            ingredients=tuple(i.lower() for i in t.get("ingredients", _texts)),
        )

    fixes_t = root.table("fixes")
    fixes = {
        k.lower(): tuple(i.lower() for i in _texts(fixes_t, k, v)) for k, v in fixes_t.data.items()
    }

    modifiers_t = root.table("modifiers")
    modifiers = {}
    for key in modifiers_t.data:
        t = modifiers_t.table(key)
        t.check_keys(["categories", "factor", "reason", "source", "min_age_years"])
        categories = t.get("categories", _texts)
        for c in categories:
            if c not in ("mood", "pain"):
                raise t.fail("categories", f"expected mood or pain, got {c!r}")
        modifiers[key] = Modifier(
            key=key,
            categories=cast(tuple[Category, ...], categories),
            factor=t.get("factor", _number(lo=0.5, hi=1.5)),
            reason=t.get("reason", _text),
            source=t.get("source", _choice(*sources)),
            min_age_years=t.get("min_age_years", _number(lo=0), None),
        )

    version_t = root.table("catalog")
    return Catalog(
        version=version_t.get("version", _text),
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
