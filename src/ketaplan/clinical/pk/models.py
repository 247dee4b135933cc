"""Published ketamine PK models, kept as catalog data, and their parameters for a weight.

The numbers live in ``clinical/catalog/pk_models.toml``, each with its source; this module
validates them with the catalog's own helpers and turns them into one canonical form: volumes
(L) and clearances (L/min) per kg of body weight, so that a batch of virtual patients is a
multiplication. All four models in the catalog scale linearly with total body weight.

Examples
--------
>>> domino = load_pk_models()["domino"]
>>> p = domino.parameters(70.0)
>>> round(float(p.v1_l[0]), 2), round(float(p.cl_l_per_min[0]), 3), round(float(p.v3_l[0]), 1)
(4.41, 1.932, 178.2)
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ketaplan.clinical.catalog.model import close_matches, normalise_key
from ketaplan.clinical.catalog.validation import (
    Table,
    choice,
    integer,
    number,
    pair,
    text,
    texts,
)
from ketaplan.errors import CatalogError, InputError

PK_MODELS_FILE = Path(__file__).parent.parent / "catalog" / "pk_models.toml"

#: Names of the six canonical parameters, in the order used for variability.
PARAMETER_NAMES = ("v1", "v2", "v3", "cl", "q2", "q3")

#: Weights the models are offered for; outside it a weight is refused as a likely typo.
WEIGHT_RANGE_KG = (20.0, 300.0)

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PkParameters:
    """Parameters of a batch of ``n`` patients: volumes in L, clearances in L/min.

    A two-compartment model has ``v3_l`` and ``q3_l_per_min`` of zero; a one-compartment model
    also ``v2_l`` and ``q2_l_per_min``. ``ke0_per_min`` is the effect-site rate constant (NaN
    when the model has no effect site).
    """

    compartments: int
    v1_l: FloatArray
    v2_l: FloatArray
    v3_l: FloatArray
    cl_l_per_min: FloatArray
    q2_l_per_min: FloatArray
    q3_l_per_min: FloatArray
    ke0_per_min: FloatArray

    @property
    def size(self) -> int:
        """How many patients (parameter sets) the batch holds."""
        return int(self.v1_l.shape[0])

    def volumes_l(self) -> FloatArray:
        """``(n, compartments)`` volumes in L."""
        return np.stack([self.v1_l, self.v2_l, self.v3_l], axis=1)[:, : self.compartments]

    def clearances_l_per_min(self) -> FloatArray:
        """``(n, compartments)``: elimination clearance, then inter-compartmental ones."""
        columns = [self.cl_l_per_min, self.q2_l_per_min, self.q3_l_per_min]
        return np.stack(columns, axis=1)[:, : self.compartments]


@dataclass(frozen=True, slots=True)
class PkModel:
    """One published model: typical parameters per kg, population, covariates and sources.

    ``population`` says whom it was fitted in; ``fitted_age_years`` and ``fitted_weight_kg``
    are the ranges outside which a simulation is warned (:meth:`population_warnings`);
    ``caution``, when set, is said with every simulation of the model. ``per_kg`` maps each
    of :data:`PARAMETER_NAMES` to L/kg (volumes) or L/min/kg (clearances); ``iiv_cv`` maps
    some of them to a coefficient of variation of a log-normal inter-individual variability.
    ``sources`` maps each catalog field to a key of ``citations``.
    """

    key: str
    title: str
    drug: str
    population: str
    covariates: tuple[str, ...]
    compartments: int
    per_kg: Mapping[str, float]
    ke0_per_min: float | None
    iiv_cv: Mapping[str, float]
    sources: Mapping[str, str]
    citations: Mapping[str, str]
    catalog_values: Mapping[str, float]
    fitted_age_years: tuple[float, float]
    fitted_weight_kg: tuple[float, float]
    caution: str | None = None

    def population_warnings(
        self, weight_kg: float | tuple[float, float], age_years: float | None = None
    ) -> tuple[str, ...]:
        """What makes this simulation fall outside the population the model was fitted in:
        the model's caution, a weight (or a cohort's weight range) or an age outside the fitted
        ranges, each with its source. An age that was not given is not checked."""
        warnings = [] if self.caution is None else [self.caution]
        low, high = (weight_kg, weight_kg) if isinstance(weight_kg, float | int) else weight_kg
        fit_low, fit_high = self.fitted_weight_kg
        if low < fit_low or high > fit_high:
            shown = f"{low:g} kg" if low == high else f"weights {low:g}-{high:g} kg"
            warnings.append(
                f"{shown} outside the fitted range {fit_low:g}-{fit_high:g} kg "
                f"({self._short_source('fitted_weight_kg')})"
            )
        age_low, age_high = self.fitted_age_years
        if age_years is not None and not age_low <= age_years <= age_high:
            warnings.append(
                f"age {age_years:g} years outside the fitted range {age_low:g}-{age_high:g} "
                f"years ({self._short_source('fitted_age_years')})"
            )
        return tuple(warnings)

    def _short_source(self, field: str) -> str:
        if self.sources[field].startswith("ketaplan_"):
            return f"clinic policy until the studies' own ranges are confirmed; sources.{field}"
        return f"sources.{field}"

    def parameters(self, weight_kg: ArrayLike) -> PkParameters:
        """Typical parameters for one weight or an array of weights (kg)."""
        weight = _one_weight_kg(weight_kg)
        if weight is not None:
            # one patient, the common case: the same products in Python floats, then one
            # array whose rows are the seven fields (numpy calls cost more than the arithmetic)
            ke0_value = np.nan if self.ke0_per_min is None else self.ke0_per_min
            rows = [[self.per_kg[name] * weight] for name in PARAMETER_NAMES]
            v1, v2, v3, cl, q2, q3, ke0_row = np.array([*rows, [ke0_value]], dtype=np.float64)
            return PkParameters(self.compartments, v1, v2, v3, cl, q2, q3, ke0_row)
        weights = _weights_kg(weight_kg)
        per_kg = np.array([[self.per_kg[name]] for name in PARAMETER_NAMES])
        values = per_kg * weights  # one row per parameter, one column per patient
        ke0 = np.full(weights.shape, np.nan if self.ke0_per_min is None else self.ke0_per_min)
        v1, v2, v3, cl, q2, q3 = values
        return PkParameters(self.compartments, v1, v2, v3, cl, q2, q3, ke0)

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description: the catalog numbers, each with its full citation."""
        return {
            "key": self.key,
            "title": self.title,
            "drug": self.drug,
            "population": self.population,
            "fitted_age_years": list(self.fitted_age_years),
            "fitted_weight_kg": list(self.fitted_weight_kg),
            "caution": self.caution,
            "covariates": list(self.covariates),
            "compartments": self.compartments,
            "parameters": dict(self.catalog_values),
            "ke0_per_min": self.ke0_per_min,
            "iiv_cv": dict(self.iiv_cv),
            "sources": {name: self.citations[key] for name, key in self.sources.items()},
        }


def _one_weight_kg(weight_kg: ArrayLike) -> float | None:
    """A single plain number in the accepted range as a float, else None (check as arrays)."""
    if isinstance(weight_kg, float | int) and not isinstance(weight_kg, bool):
        weight = float(weight_kg)
        low, high = WEIGHT_RANGE_KG
        if low <= weight <= high:
            return weight
    return None


def _weights_kg(weight_kg: ArrayLike) -> FloatArray:
    weights = np.atleast_1d(np.asarray(weight_kg, dtype=np.float64))
    if weights.ndim != 1 or weights.size == 0:
        raise InputError("weight must be one number or a list of numbers (kg)")
    low, high = WEIGHT_RANGE_KG
    bad = ~np.isfinite(weights) | (weights < low) | (weights > high)
    if bad.any():
        raise InputError(
            f"weight {float(weights[bad][0]):g} kg is outside {low:g}-{high:g} kg, the range "
            "ketaplan simulates; check the unit",
            code="input.out_of_range",
            fields={"field": "weight", "value": float(weights[bad][0])},
        )
    return weights


_RATE_FIELDS = ("k10_per_min", "k12_per_min", "k13_per_min", "k21_per_min", "k31_per_min")
_CLEARANCE_FIELDS = ("v1_l", "v2_l", "v3_l", "cl_l_per_h", "q2_l_per_h", "q3_l_per_h")


def _model(key: str, t: Table, citations: Mapping[str, str]) -> PkModel:
    t.check_keys(
        [
            "title",
            "drug",
            "population",
            "caution",
            "fitted_age_years",
            "fitted_weight_kg",
            "covariates",
            "form",
            "compartments",
            "v1_l_per_kg",
            *_RATE_FIELDS,
            "reference_weight_kg",
            *_CLEARANCE_FIELDS,
            "ke0_per_min",
            "iiv_cv",
            "sources",
        ]
    )
    form = t.get("form", choice("rate_constants", "clearances"))
    compartments = t.get("compartments", integer(1))
    if compartments > 3:
        raise t.fail("compartments", f"must be 1, 2 or 3, got {compartments}")
    positive = number(positive=True)
    values: dict[str, float] = {}
    per_kg = dict.fromkeys(PARAMETER_NAMES, 0.0)
    if form == "rate_constants":
        peripheral = [
            ("k12_per_min", "k21_per_min", "v2", "q2"),
            ("k13_per_min", "k31_per_min", "v3", "q3"),
        ][: compartments - 1]
        wanted = ["v1_l_per_kg", "k10_per_min"]
        for into, out, _, _ in peripheral:
            wanted += [into, out]
        for name in _RATE_FIELDS:
            if name in t.data and name not in wanted:
                raise t.fail(name, f"not used by a {compartments}-compartment model")
        values = {name: t.get(name, positive) for name in wanted}
        per_kg["v1"] = values["v1_l_per_kg"]
        per_kg["cl"] = values["k10_per_min"] * per_kg["v1"]
        for into, out, volume, clearance in peripheral:
            per_kg[clearance] = values[into] * per_kg["v1"]
            per_kg[volume] = per_kg[clearance] / values[out]
    else:
        reference = t.get("reference_weight_kg", positive)
        wanted = ["v1_l", "cl_l_per_h"]
        if compartments > 1:
            wanted += ["v2_l", "q2_l_per_h"]
        if compartments > 2:
            wanted += ["v3_l", "q3_l_per_h"]
        for name in _CLEARANCE_FIELDS:
            if name in t.data and name not in wanted:
                raise t.fail(name, f"not used by a {compartments}-compartment model")
        values = {"reference_weight_kg": reference}
        values.update({name: t.get(name, positive) for name in wanted})
        for name in wanted:
            short = name.split("_")[0]
            per_hour = name.endswith("_per_h")
            per_kg[short] = values[name] / reference / (60.0 if per_hour else 1.0)
    ke0 = t.get("ke0_per_min", positive, None)
    if ke0 is not None:
        values["ke0_per_min"] = ke0
    iiv_t = t.table("iiv_cv")
    iiv_t.check_keys(PARAMETER_NAMES)
    iiv = {name: iiv_t.get(name, number(lo=0, hi=2)) for name in iiv_t.data}
    for name in iiv:
        if per_kg[name] == 0:
            raise iiv_t.fail(name, f"the {compartments}-compartment model has no {name}")
    sources_t = t.table("sources")
    sources: dict[str, str] = {}
    for name, value in sources_t.data.items():
        if value not in citations:
            raise sources_t.fail(name, f"unknown source {value!r}; add it to [sources] first")
        sources[name] = value
    caution = t.get("caution", text, None)
    for name in [*values, "iiv_cv", "fitted_age_years", "fitted_weight_kg"] + (
        ["caution"] if caution is not None else []
    ):
        if name not in sources:
            raise sources_t.fail(name, "every number needs a source; this one has none")
    return PkModel(
        key=key,
        title=t.get("title", text),
        drug=t.get("drug", text),
        population=t.get("population", text),
        covariates=t.get("covariates", texts, ()),
        compartments=compartments,
        per_kg=per_kg,
        ke0_per_min=ke0,
        iiv_cv=iiv,
        sources=sources,
        citations=citations,
        catalog_values=values,
        fitted_age_years=t.get("fitted_age_years", pair),
        fitted_weight_kg=t.get("fitted_weight_kg", pair),
        caution=caution,
    )


def build_pk_models(path: Path = PK_MODELS_FILE) -> dict[str, PkModel]:
    """Read and validate a PK model file; errors name the file and the field."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise CatalogError(f"{path}: PK model file not found", fields={"file": str(path)}) from None
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{path.name}: not valid TOML: {exc}", fields={"file": str(path)}
        ) from exc
    root = Table(data, (), {(key,): path.name for key in data})
    root.check_keys(["sources", "models", "levels"])
    sources_t = root.table("sources")
    citations = {key: text(sources_t, key, value) for key, value in sources_t.data.items()}
    models_t = root.table("models")
    return {key: _model(key, models_t.table(key), citations) for key in models_t.data}


@dataclass(frozen=True, slots=True)
class PkLevels:
    """Plasma levels a prediction is flagged at, each with its full citation."""

    anaesthetic_ng_per_ml: float
    anaesthetic_source: str
    reference_ng_per_ml: float
    """The clinic's reference level: predictions say when plasma falls below it after the
    stop (a recovery reference, clinic policy; see its source)."""
    reference_source: str

    def in_anaesthetic_range(self, level_ng_per_ml: float) -> bool:
        return level_ng_per_ml >= self.anaesthetic_ng_per_ml


def build_pk_levels(path: Path = PK_MODELS_FILE) -> PkLevels:
    """The ``[levels]`` table of a PK model file, every level with a source."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    root = Table(data, (), {(key,): path.name for key in data})
    citations = {key: text(root.table("sources"), key, v) for key, v in data["sources"].items()}
    levels = root.table("levels")
    names = ("anaesthetic_ng_per_ml", "reference_ng_per_ml")
    levels.check_keys([*names, "sources"])
    sources = levels.table("sources")
    found: dict[str, tuple[float, str]] = {}
    for name in names:
        source = sources.get(name, text)
        if source not in citations:
            raise sources.fail(name, f"unknown source {source!r}")
        found[name] = (levels.get(name, number(positive=True)), citations[source])
    return PkLevels(*found["anaesthetic_ng_per_ml"], *found["reference_ng_per_ml"])


@functools.lru_cache(maxsize=4)
def load_pk_levels(path: Path = PK_MODELS_FILE) -> PkLevels:
    """The catalog's flagged plasma levels, read once."""
    return build_pk_levels(path)


@functools.lru_cache(maxsize=4)
def load_pk_models(path: Path = PK_MODELS_FILE) -> Mapping[str, PkModel]:
    """The PK models of the catalog, read once (models are immutable)."""
    return build_pk_models(path)


def pk_model(name: str, models: Mapping[str, PkModel] | None = None) -> PkModel:
    """The model called ``name`` (``"Domino"``, ``"clements-250"``); unknown names are refused."""
    models = load_pk_models() if models is None else models
    key = normalise_key(name)
    if key not in models:
        near = close_matches(key, list(models))
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise InputError(
            f"unknown PK model {name!r}{hint} (known: {', '.join(sorted(models))})",
            code="input.unknown_model",
            fields={"field": "model", "value": name, "known": sorted(models)},
        )
    return models[key]
