"""Loading and validating the catalog's TOML files into one :class:`Catalog`.

The files and how a clinic's files are laid over the defaults are
:mod:`~ketaplan.clinical.catalog.layers`; protocols and limit sets are
:mod:`~ketaplan.clinical.catalog.protocol_loader`; this module builds the rest (sources,
contraindications, interaction classes, medication words, dose modifiers, the clinic's
defaults and its supplies) and puts the catalog together. Every error names the file that set
the offending value and the field's dotted path, and says what is accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from ketaplan.clinical.catalog.citations import POLICY, quote_problem
from ketaplan.clinical.catalog.cited_tables import check_citations, citation_error, cited_numbers
from ketaplan.clinical.catalog.layers import DEFAULT_DIR, DEFAULT_FILES, Path_, read_layer
from ketaplan.clinical.catalog.model import (
    DEFAULT_CRISIS_MESSAGE,
    Catalog,
    Category,
    ClinicDefaults,
    Contraindication,
    InteractionClass,
    Modifier,
    PreparationDefaults,
    Severity,
    Syringe,
    Vial,
    WeightBasis,
)
from ketaplan.clinical.catalog.protocol_loader import load_limits, load_protocol
from ketaplan.clinical.catalog.validation import (
    Table,
    choice,
    integer,
    number,
    numbers,
    text,
    texts,
)


def _clinic(root: Table, known: Mapping[str, str]) -> ClinicDefaults:
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
            "dea_registration",
            "crisis_message",
            "chairs",
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
    return ClinicDefaults(
        name=t.get("name", text),
        time_zone=t.get("time_zone", text),
        price_per_session_usd=t.get("price_per_session_usd", number(lo=0)),
        obesity_bmi=t.get("obesity_bmi", number(lo=20, hi=60)),
        obese_weight_basis=cast(
            WeightBasis, t.get("obese_weight_basis", choice("actual", "ideal", "adjusted"))
        ),
        address=t.get("address", text, ""),
        calendar_title=t.get("calendar_title", text, "Clinic appointment"),
        dea_registration=t.get("dea_registration", text, ""),
        crisis_message=t.get("crisis_message", text, DEFAULT_CRISIS_MESSAGE),
        chairs=t.get("chairs", integer(lo=1), 4),
        vials=tuple(sorted(vials, key=lambda v: v.mg_per_ml)),
        syringes=tuple(sorted(syringes, key=lambda s: s.capacity_ml)),
        preparation=PreparationDefaults(
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


def _check_class_factor(t: Table, cls: InteractionClass) -> None:
    """An interaction class's factor is clinic policy, or its source's words state it
    (``dose_factor_quote``), as for every other number of the catalog."""
    if cls.dose_factor_source == POLICY:
        return
    problem = quote_problem("dose_factor", cls.dose_factor, t.get("dose_factor_quote", text, None))
    if problem:
        raise citation_error(
            t,
            "dose_factor",
            f"{cls.dose_factor_source}: {problem}",
            ("dose_factor_source", "dose_factor_quote"),
        )


def _contraindications(ci_t: Table, sources: Mapping[str, str]) -> dict[str, Contraindication]:
    """The ``[contraindications]`` terms screening matches, each with its severity and source."""
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
    return contraindications


def _interaction_classes(
    classes_t: Table, sources: Mapping[str, str]
) -> dict[str, InteractionClass]:
    """The ``[classes]`` of interacting medications, each with its dose factor (cited)."""
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
    return classes


def _modifiers(modifiers_t: Table, sources: Mapping[str, str]) -> dict[str, Modifier]:
    """The ``[modifiers]`` of a starting dose (age, ...), each factor with its source and quote."""
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
        cited, _ = check_citations(t, sources, cited_numbers(t.data, ["factor", "min_age_years"]))
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
    return modifiers


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
    limit_sets = {k: load_limits(k, limits_t.table(k), sources) for k in limits_t.data}
    protocols_t = root.table("protocols")
    choice_sets = Table(root.data.get("choices", {}), ("choices",), origins)
    protocols = {
        k: load_protocol(k, protocols_t.table(k), limit_sets, sources, choice_sets)
        for k in protocols_t.data
    }

    contraindications = _contraindications(root.table("contraindications"), sources)
    classes = _interaction_classes(root.table("classes"), sources)
    fixes_t = root.table("fixes")
    fixes = {
        k.lower(): tuple(i.lower() for i in texts(fixes_t, k, v)) for k, v in fixes_t.data.items()
    }

    hints_t = root.table("suffix_hints")
    suffix_hints = {k.lower(): text(hints_t, k, v) for k, v in hints_t.data.items()}
    dose_t = root.table("dose_text")
    dose_words = frozenset(w.lower() for k, v in dose_t.data.items() for w in texts(dose_t, k, v))

    modifiers = _modifiers(root.table("modifiers"), sources)

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
