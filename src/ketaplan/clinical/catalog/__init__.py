"""The protocol catalog: clinical data files and the loader that validates them.

A clinic edits data, not code: the default TOML files beside this module can be extended or
overridden by a clinic's own file (see :func:`load_catalog`).
"""

from ketaplan.clinical.catalog.loader import build_catalog, load_catalog
from ketaplan.clinical.catalog.model import (
    BoosterPolicy,
    Catalog,
    ClinicDefaults,
    Contraindication,
    InteractionClass,
    Limits,
    Modifier,
    Protocol,
    SeriesPolicy,
    Syringe,
    Vial,
    normalise_key,
)

__all__ = [
    "BoosterPolicy",
    "Catalog",
    "ClinicDefaults",
    "Contraindication",
    "InteractionClass",
    "Limits",
    "Modifier",
    "Protocol",
    "SeriesPolicy",
    "Syringe",
    "Vial",
    "build_catalog",
    "load_catalog",
    "normalise_key",
]
