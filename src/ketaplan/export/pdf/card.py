"""The preparation card as PDF: what the nurse draws, dilutes and programs, on paper.

The same numbers as the card page (``web/templates/prep_card.html``), from the same stored
plan: vial, draw, bag, final concentration, pump rate and VTBI, delivered dose and waste, the
steps, the order's signature and any override or caution, and lines to sign. Only an active
order has one (the service refuses the rest).
"""

from __future__ import annotations

from typing import Any

from ketaplan.export.pdf.document import ReportDocument
from ketaplan.services.reports import PreparationCard


def _num(value: Any, places: int = 1) -> str:
    """A number as the card page shows it: fixed places, trailing zeros dropped."""
    text = f"{float(value):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _signature(order: dict[str, Any]) -> str:
    signer = order.get("signer_name") or order.get("signed_by") or "?"
    by = f" ({order['signed_by']})" if order.get("signed_by") not in (None, signer) else ""
    when = f", {order['signed_at'][:16].replace('T', ' ')} UTC" if order.get("signed_at") else ""
    return f"Order signed by {signer}{by}{when}"


def preparation_card_pdf(card: PreparationCard) -> bytes:
    """The card as a PDF document's bytes."""
    plan = card.plan
    prep, dose = plan["preparation"], plan["dose"]
    pdf = ReportDocument(card.header, "Preparation card")
    pdf.paragraph(f"Plan #{card.plan_id} · {plan['protocol']['title']}", bold=True)
    pdf.paragraph(_signature(plan["order"]))
    override = plan["order"].get("override")
    if override:
        codes = ", ".join(f["code"] for f in override.get("findings", []))
        pdf.paragraph(f"Prescriber's override of {codes}: “{override.get('reason', '')}”")
    limit_override = (plan.get("limits") or {}).get("override")
    if limit_override:
        pdf.paragraph(
            f"Dose limit override ({', '.join(limit_override.get('limits', []))}) by "
            f"{limit_override.get('prescriber', '?')}: “{limit_override.get('reason', '')}”"
        )
    cautions = [
        f["message"]
        for f in (plan.get("eligibility") or {}).get("findings", [])
        if f.get("severity") in ("block", "caution")
    ]
    if cautions:
        pdf.paragraph("Cautions: " + "; ".join(cautions))
    pdf.heading(
        f"{_num(dose['total_mg'])} mg ({_num(dose['mg_per_kg'], 3)} mg/kg) over "
        f"{_num(dose['duration_min'], 0)} min · dosing weight {_num(dose['dosing_weight_kg'])} kg"
    )
    overfill = (
        f" (about {_num(prep['bag_ml'] + prep['bag_overfill_ml'])} mL with overfill)"
        if prep.get("bag_overfill_ml")
        else ""
    )
    pdf.rows(
        ("Step", "Value"),
        (35, 145),
        [
            (
                "Vial",
                f"ketamine {_num(prep['vial_mg_per_ml'])} mg/mL × {prep['vials_needed']} "
                f"({_num(prep['vial_volume_ml'])} mL)",
            ),
            ("Draw", f"{_num(prep['draw_ml'], 2)} mL = {_num(prep['drawn_mg'])} mg"),
            (
                "Bag",
                f"{_num(prep['bag_ml'], 0)} mL {prep['diluent']}{overfill} → "
                f"{_num(prep['total_volume_ml'])} mL",
            ),
            ("Final", f"{_num(prep['final_mg_per_ml'], 4)} mg/mL"),
            (
                "Pump",
                f"{_num(prep['pump_rate_ml_per_h'])} mL/h · VTBI {_num(prep['vtbi_ml'])} mL · "
                f"{_num(prep['duration_min'], 0)} min",
            ),
            ("Delivers", f"{_num(prep['delivered_mg'], 2)} mg"),
            ("Waste", f"{_num(prep['waste_mg'])} mg, witnessed"),
        ],
    )
    pdf.heading("Steps")
    for number, step in enumerate(prep.get("steps", []), start=1):
        pdf.paragraph(f"{number}. {step}")
    pdf.ln(6)
    pdf.paragraph("Prepared by ______________   Checked by ______________   Time ________")
    return pdf.rendered()
