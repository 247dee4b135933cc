"""One clinic's policy: everything a clinic decides, as one frozen value.

Safety lives in the path, not in one function (DESIGN): a plan, a screening, a titration, a
schedule and a chart must all be judged by the same numbers. Those numbers come from four
places, and a clinic may change each of them:

- the catalog (protocols, limits, medications), with the clinic's own protocol file merged
  over the packaged one (``ketaplan plan --catalog``, ``ketaplan serve --catalog``);
- the monitoring rules, with the clinic's own alert thresholds from its settings page;
- the calendar courses are scheduled against;
- the supplies (vials, bags and their overfill) and the dosing-weight basis for obese patients.

A :class:`ClinicPolicy` holds them all. The service layer resolves it once per use case (the
clinic's stored settings over the entry point's defaults) and hands it to the domain; no
domain function loads a default of its own, so the CLI, the API and the web app that share a
clinic file and settings plan the same patient identically.

Examples
--------
>>> from ketaplan.clinical.catalog import load_catalog
>>> from ketaplan.clinical.catalog.course_loader import load_calendar, load_monitoring_rules
>>> catalog = load_catalog()
>>> policy = ClinicPolicy(catalog, load_monitoring_rules(), load_calendar(), catalog.clinic)
>>> policy.dosing_weight_basis_when_obese, policy.stock_source
('actual', 'catalog')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ketaplan.clinical.calendar import ClinicCalendar
from ketaplan.clinical.catalog import Catalog, ClinicDefaults
from ketaplan.clinical.monitoring import MonitoringRule, MonitoringRules

StockSource = Literal["catalog", "clinic_settings"]


@dataclass(frozen=True, slots=True)
class ClinicPolicy:
    """What one clinic decides, resolved: the values every use case is judged by.

    ``supplies`` is the catalog's ``[clinic]`` with the clinic's own vials, bag sizes and bag
    overfill put in
    (syringes, diluent, tolerances and the dosing-weight basis stay the catalog's, which a
    clinic file changes). ``settings_version`` is the version of the clinic's stored settings
    this policy was resolved from (0 when it was not resolved against a clinic: the CLI).
    """

    catalog: Catalog
    monitoring: MonitoringRules
    calendar: ClinicCalendar
    supplies: ClinicDefaults
    settings_version: int = 0
    stock_source: StockSource = "catalog"

    @property
    def dosing_weight_basis_when_obese(self) -> str:
        """The clinic's basis for dosing obese patients (a protocol may set its own)."""
        return self.supplies.obese_weight_basis

    @property
    def max_concentration_mg_per_ml(self) -> float:
        """The most concentrated bag the clinic prepares or accepts at the chair."""
        return self.supplies.preparation.max_final_mg_per_ml

    def monitoring_for(self, category: str) -> tuple[MonitoringRule, ...]:
        """The alert rules in force for a protocol category (``mood``, ``pain``)."""
        return self.monitoring.for_category(category)

    def stock_to_dict(self) -> dict[str, Any]:
        """What a saved plan records about the stock it was prepared from."""
        return {
            "source": self.stock_source,
            "settings_version": self.settings_version,
            "vials": [
                {"mg_per_ml": v.mg_per_ml, "volume_ml": v.volume_ml} for v in self.supplies.vials
            ],
            "bag_sizes_ml": list(self.supplies.preparation.bag_sizes_ml),
            "bag_overfill_fraction": self.supplies.preparation.bag_overfill_fraction,
        }


def catalog_policy(
    catalog: Catalog, monitoring: MonitoringRules, calendar: ClinicCalendar
) -> ClinicPolicy:
    """The policy of the files alone (the catalog with any clinic file, rules, calendar):
    what the CLI plans with, and what the service starts from before a clinic's settings."""
    return ClinicPolicy(catalog, monitoring, calendar, catalog.clinic)
