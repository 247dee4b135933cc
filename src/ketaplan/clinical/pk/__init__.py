"""Pharmacokinetic simulation of ketamine infusions: published models, exact solutions.

Linear mammillary models (one to three compartments and an optional effect site) with the
published ketamine parameter sets of the catalog (``clinical/catalog/pk_models.toml``), solved
exactly for any piecewise-constant infusion and vectorised over patients with numpy; log-normal
variability for percentile bands and virtual cohorts; and the conversion of a session's
infusion events into segments. Only the standard library, numpy and ketaplan are imported.
"""

from ketaplan.clinical.pk.cohort import CohortSummary, minutes_until_below, peaks, simulate_cohort
from ketaplan.clinical.pk.events import segments_from_events
from ketaplan.clinical.pk.infusion import (
    InfusionSegment,
    constant_infusion,
    stop_min,
    time_grid_min,
    total_dose_mg,
)
from ketaplan.clinical.pk.models import (
    PkLevels,
    PkModel,
    PkParameters,
    build_pk_levels,
    build_pk_models,
    load_pk_levels,
    load_pk_models,
    pk_model,
)
from ketaplan.clinical.pk.population import (
    Bands,
    VirtualCohort,
    percentile_bands,
    sample_parameters,
    simulate_virtual_cohort,
)
from ketaplan.clinical.pk.simulation import Concentrations, modes, simulate

__all__ = [
    "Bands",
    "CohortSummary",
    "Concentrations",
    "InfusionSegment",
    "PkLevels",
    "PkModel",
    "PkParameters",
    "VirtualCohort",
    "build_pk_levels",
    "build_pk_models",
    "constant_infusion",
    "load_pk_levels",
    "load_pk_models",
    "minutes_until_below",
    "modes",
    "peaks",
    "percentile_bands",
    "pk_model",
    "sample_parameters",
    "segments_from_events",
    "simulate",
    "simulate_cohort",
    "simulate_virtual_cohort",
    "stop_min",
    "time_grid_min",
    "total_dose_mg",
]
