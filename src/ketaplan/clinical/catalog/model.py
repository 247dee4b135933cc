"""The catalog's values: protocols, limits, screening vocabulary, interaction classes, supplies.

Plain frozen dataclasses, built and validated by :mod:`ketaplan.clinical.catalog.loader`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ketaplan.clinical.catalog.terms import (
    match_term,
    not_the_patients,
    spelling_index,
    suggest_terms,
)
from ketaplan.errors import InputError

Category = Literal["mood", "pain"]
Severity = Literal["block", "caution", "info"]
WeightBasis = Literal["actual", "ideal", "adjusted"]
Monitoring = Literal["nurse", "anaesthesia_provider"]


MAX_CONDITIONS_AS_TYPED = 1000


def normalise_key(text: str) -> str:
    """``"Bipolar Depression"`` and ``"bipolar-depression"`` both become ``bipolar_depression``."""
    return "_".join(text.strip().lower().replace("-", " ").replace("/", " ").split())


def close_matches(word: str, choices: list[str], n: int = 3) -> list[str]:
    """The known words nearest to ``word``, for 'did you mean' messages."""
    return difflib.get_close_matches(word, choices, n=n, cutoff=0.6)


@dataclass(frozen=True, slots=True)
class Limits:
    """Dose-error reduction limits, as in a smart pump's drug library.

    Soft limits (the protocol's mg/kg range, ``soft_max_total_mg``, ``soft_max_mg_per_kg_per_h``)
    need a prescriber's override with a reason; hard limits are refused, override or not.
    """

    name: str
    hard_min_mg_per_kg: float
    hard_max_mg_per_kg: float
    soft_max_total_mg: float
    hard_max_total_mg: float
    soft_max_mg_per_kg_per_h: float
    hard_max_mg_per_kg_per_h: float
    sources: Mapping[str, str]
    quotes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeriesPolicy:
    """The initial series: how many infusions, within how many days, how close together."""

    sessions: int
    min_days: int
    max_days: int
    max_per_week: int
    min_hours_between: float


@dataclass(frozen=True, slots=True)
class BoosterPolicy:
    """Reassessment after the series and the maintenance interval for boosters."""

    reassess_after_days: int
    interval_weeks: tuple[int, int]
    consecutive_days: int


@dataclass(frozen=True, slots=True)
class ProtocolCaution:
    """A caution every plan under the protocol carries (a finding ``protocol.<code>``)."""

    code: str
    severity: Severity
    message: str
    source: str
    quote: str = ""


@dataclass(frozen=True, slots=True)
class ChoiceOption:
    """One way to settle a point where the sources disagree, with the numbers it sets."""

    key: str
    title: str
    values: Mapping[str, object]
    sources: Mapping[str, str]
    quotes: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ProtocolChoice:
    """A point where the sources disagree (``aspect``: series, booster, dose): the options
    the catalog offers and the one the clinic chose (``choose`` in its catalog file)."""

    aspect: str
    chosen: str
    options: tuple[ChoiceOption, ...]


@dataclass(frozen=True, slots=True)
class Protocol:
    """One condition's infusion protocol; every number has a source in ``sources`` and, when
    that source is not clinic policy, the source's words that state it in ``quotes``."""

    key: str
    title: str
    category: Category
    aliases: tuple[str, ...]
    start_mg_per_kg: float
    range_mg_per_kg: tuple[float, float]
    infusion_min: float
    recovery_min: float
    rate_mg_per_kg_per_h: float | None
    monitoring: Monitoring
    limits: Limits
    bag_ml: tuple[float, ...]
    alternatives: tuple[str, ...]
    notes: str
    series: SeriesPolicy
    booster: BoosterPolicy
    sources: Mapping[str, str]
    weight_basis_when_obese: WeightBasis | None = None
    quotes: Mapping[str, str] = field(default_factory=dict)
    max_rate_mg_per_h: float | None = None
    """A cap on the infusion rate whatever the weight (Schwartzman 2009: 25 mg/h)."""
    cautions: tuple[ProtocolCaution, ...] = ()
    choices: tuple[ProtocolChoice, ...] = ()

    def source_of(self, field: str) -> str:
        """The source key of one number (``series.sessions``), else of its table (``series``);
        for a table whose numbers cite different sources, those keys joined by commas. The
        starting dose given as a rate cites the rate's source."""
        if field == "start_mg_per_kg" and self.rate_mg_per_kg_per_h is not None:
            field = "rate_mg_per_kg_per_h"
        found = self.sources.get(field) or self.sources.get(field.split(".")[0])
        if found:
            return found
        parts = dict.fromkeys(v for k, v in self.sources.items() if k.startswith(f"{field}."))
        return ", ".join(parts) or "clinic_policy"

    @property
    def start_rate_mg_per_kg_per_h(self) -> float:
        """The starting dose as a rate: mg/kg spread over the infusion time."""
        return self.start_mg_per_kg / (self.infusion_min / 60.0)


@dataclass(frozen=True, slots=True)
class Contraindication:
    """A history term screening understands."""

    term: str
    severity: Severity
    synonyms: tuple[str, ...]
    message: str
    source: str


@dataclass(frozen=True, slots=True)
class InteractionClass:
    """A class of medications that interacts with ketamine, and what it does to the dose."""

    key: str
    title: str
    severity: Severity
    message: str
    dose_factor: float
    dose_reason: str
    source: str
    ingredients: tuple[str, ...]
    dose_factor_source: str = "clinic_policy"
    """What gives the number ``dose_factor`` (``source`` is what says the class interacts)."""


@dataclass(frozen=True, slots=True)
class Modifier:
    """A documented starting-dose modifier (sensitivity, experience, severity, preference)."""

    key: str
    categories: tuple[Category, ...]
    factor: float
    reason: str
    source: str
    """The source that names the modifier."""
    min_age_years: float | None = None
    factor_source: str = ""
    """The source that gives ``factor`` (``clinic_policy`` when none does); empty: ``source``."""
    quote: str = ""
    """The words of ``source`` that name the modifier."""


@dataclass(frozen=True, slots=True)
class Vial:
    mg_per_ml: float
    volume_ml: float

    @property
    def mg(self) -> float:
        return self.mg_per_ml * self.volume_ml


@dataclass(frozen=True, slots=True)
class Syringe:
    capacity_ml: float
    graduation_ml: float


@dataclass(frozen=True, slots=True)
class PreparationDefaults:
    """How the catalog's ``[preparation]`` section says bags are made up (a clinic's own bag
    sizes and overfill, from its clinic settings, are laid over these)."""

    diluent: str
    bag_sizes_ml: tuple[float, ...]
    pump_resolution_ml_per_h: float
    max_final_mg_per_ml: float
    min_draw_ml: float
    max_delivered_overshoot_fraction: float
    max_delivered_undershoot_fraction: float
    draw_tolerance_fraction: float = 0.01
    """The draw comes within ± this of the order whenever the stock can measure it."""
    bag_overfill_fraction: float = 0.0
    """Diluent above a bag's label, as a fraction of it (the card counts it)."""


DEFAULT_CRISIS_MESSAGE = (
    "If you are thinking about harming yourself or that you would be better off dead, you are "
    "not alone and help is available now: call or text 988 to reach the 988 Suicide & Crisis "
    "Lifeline (United States, 24 hours a day), or chat at 988lifeline.org. If you are in "
    "immediate danger, call 911. The clinic will also contact you."
)


@dataclass(frozen=True, slots=True)
class ClinicDefaults:
    """The catalog's ``[clinic]`` defaults: what a clinic starts from. Not the *clinic
    settings* an admin edits (:mod:`ketaplan.services.clinic_settings`), which win over these
    where a clinic set its own."""

    name: str
    time_zone: str
    price_per_session_usd: float
    obesity_bmi: float
    obese_weight_basis: WeightBasis
    vials: tuple[Vial, ...]
    syringes: tuple[Syringe, ...]
    preparation: PreparationDefaults
    address: str = ""
    """Where patients come: the location of calendar events, with ``name``."""
    calendar_title: str = "Clinic appointment"
    """What calendar events are called: neutral, never the protocol (a diagnosis)."""
    dea_registration: str = ""
    chairs: int = 4
    """Infusion chairs: how many patients can be in the clinic at once (infusion and
    recovery); no two appointments share a chair."""
    """The clinic's DEA registration number, printed on inventories and destruction records;
    blank when not recorded."""
    crisis_message: str = DEFAULT_CRISIS_MESSAGE
    """What a patient who answers PHQ-9 item 9 above 0 reads on the thank-you page of their
    link: where to get help now. The default is the US 988 Suicide & Crisis Lifeline
    (source ``lifeline_988``); a clinic elsewhere sets its own in its catalog file."""


@dataclass(frozen=True, slots=True)
class Catalog:
    """Everything the clinical modules look up, loaded once and never changed."""

    version: str
    sources: Mapping[str, str]
    protocols: Mapping[str, Protocol]
    contraindications: Mapping[str, Contraindication]
    interaction_classes: Mapping[str, InteractionClass]
    medication_fixes: Mapping[str, tuple[str, ...]]
    medication_suffix_hints: Mapping[str, str]
    medication_dose_words: frozenset[str]
    modifiers: Mapping[str, Modifier]
    clinic: ClinicDefaults
    files: tuple[str, ...] = ()
    _condition_index: dict[str, str] = field(default_factory=dict, repr=False)
    _term_index: dict[str, str] = field(default_factory=dict, repr=False)
    _spelling_index: dict[str, str] = field(default_factory=dict, repr=False)
    _ingredient_index: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _conditions_as_typed: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Condition names as callers spelled them, with their protocol key: most plans repeat one."""

    def __post_init__(self) -> None:
        for key, protocol in self.protocols.items():
            self._condition_index[key] = key
            for alias in protocol.aliases:
                self._condition_index.setdefault(alias, key)
        for term, entry in self.contraindications.items():
            self._term_index[term] = term
            for synonym in entry.synonyms:
                self._term_index.setdefault(synonym, term)
        self._spelling_index.update(spelling_index(self._term_index))
        index: dict[str, list[str]] = {}
        for key, cls in self.interaction_classes.items():
            for ingredient in cls.ingredients:
                index.setdefault(ingredient, []).append(key)
        self._ingredient_index.update({k: tuple(v) for k, v in index.items()})

    def cite(self, source_key: str) -> str:
        """The full citation behind a source key (the key itself if the catalog lacks it)."""
        return self.sources.get(source_key, source_key)

    def protocol(self, condition: str) -> Protocol:
        """The protocol for a condition key or alias; unknown names list the closest ones."""
        key = self._conditions_as_typed.get(condition)
        if key is not None:
            return self.protocols[key]
        key = self._condition_index.get(normalise_key(condition))
        if key is None:
            near = close_matches(normalise_key(condition), list(self._condition_index))
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            raise InputError(
                f"unknown condition {condition!r}{hint} "
                f"(known: {', '.join(sorted(self.protocols))})",
                code="input.unknown_condition",
                fields={"field": "condition", "value": condition, "suggestions": near},
            )
        if len(self._conditions_as_typed) < MAX_CONDITIONS_AS_TYPED:
            self._conditions_as_typed[condition] = key
        return self.protocols[key]

    def history_term(self, term: str) -> Contraindication:
        """The vocabulary entry for a history term or synonym (spelling variants and a leading
        "history of" allowed); an unknown term is refused, suggesting only terms that a
        synonym inside it or a typing slip points to (:mod:`~ketaplan.clinical.catalog.terms`).
        """
        typed = normalise_key(term)
        key = self._term_index.get(typed) or match_term(typed, self._spelling_index)
        if key is None:
            near = suggest_terms(typed, self._spelling_index)
            hint = f"; did you mean {', '.join(near)}?" if near else ""
            if not_the_patients(typed):
                hint = (
                    ": it reads as a negation or a relative's history; record only the "
                    "patient's own conditions"
                )
            raise InputError(
                f"unknown history term {term!r}{hint} "
                f"(known terms: {', '.join(sorted(self.contraindications))})",
                code="input.unknown_history_term",
                fields={"field": "history", "value": term, "suggestions": near},
            )
        return self.contraindications[key]

    def classes_of_ingredient(self, ingredient: str) -> tuple[str, ...]:
        """Interaction classes of one generic ingredient (lower case), possibly none."""
        return self._ingredient_index.get(ingredient, ())
