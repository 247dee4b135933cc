"""A ledger report as PDF: the report's rows as a table under the clinic's name and address,
the period (or vial) it covers, and, on the signed records (inventories, destruction), the
clinic's DEA registration number and a line for each person the entries name as having
counted, destroyed or witnessed, with their name as recorded.

Landscape A4: an administration log has seventeen columns. The columns and values are the
page's and the CSV's (the same rows from the same audited read); a UTC timestamp is printed
``2026-12-08 02:00:00`` under a note that times are UTC, to leave room for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ketaplan.export.pdf.document import FONT, PrintedDocument
from ketaplan.services.ledger_printing import DEA_REPORTS, SIGNED_REPORTS, LedgerReport

TABLE_FONT_PT = 6.0
TABLE_LINE_MM = 3.1
CELL_PADDING_MM = 2.5
"""fpdf2's cell margin (1 mm a side) and a little air."""
BOLD_FACTOR = 1.12
"""Headings are bold: wider than the regular face measures them."""
MAX_COLUMN_MM = 45.0
UTC_TIME = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?\+00:00$")


def cell_text(value: Any) -> str:
    """A value as printed: blank for none, numbers without trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return UTC_TIME.sub(r"\1 \2", str(value))


def column_widths(
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    width_mm: float,
    measure: Callable[[str], float],
) -> tuple[float, ...]:
    """Each column at least as wide as its longest word (so words wrap between, not inside),
    the room left shared towards each column's longest text (bounded, so one long supplier
    address wraps rather than squeezing the rest). ``measure`` gives a text's width in mm."""

    def texts(i: int) -> list[tuple[str, float]]:
        return [(columns[i], BOLD_FACTOR)] + [(row[i], 1.0) for row in rows]

    least, most = [], []
    for i in range(len(columns)):
        words = [measure(w) * f for text, f in texts(i) for w in text.split()]
        least.append(max(words, default=0.0) + CELL_PADDING_MM)
        whole = [min(measure(text) * f, MAX_COLUMN_MM) for text, f in texts(i)]
        most.append(max(least[-1], max(whole) + CELL_PADDING_MM))
    if sum(least) >= width_mm:
        return tuple(width_mm * w / sum(least) for w in least)
    room = width_mm - sum(least)
    slack = [m - w for w, m in zip(least, most, strict=True)]
    if sum(slack) <= room:
        spare = room - sum(slack)
        return tuple(m + spare * m / sum(most) for m in most)
    return tuple(w + room * g / sum(slack) for w, g in zip(least, slack, strict=True))


def _subject(report: LedgerReport) -> str:
    what = f"Controlled-substance ledger: {report.name}"
    scope = f" · {report.scope}" if report.scope else ""
    return f"{what}{scope} · {report.period}"


def ledger_report_pdf(report: LedgerReport) -> bytes:
    """The report as a PDF document's bytes (the same report gives the same bytes)."""
    title = f"Ledger report: {report.name}"
    pdf = PrintedDocument(
        title=title,
        subject=_subject(report),
        clinic_name=report.heading.clinic_name,
        clinic_address=report.heading.clinic_address,
        time_zone=report.heading.time_zone,
        generated_at=report.generated_at,
        generated_by=report.generated_by,
        confidentiality="Controlled-substance record, confidential",
        landscape=True,
    )
    pdf.set_title(f"{title} ({report.period})")
    pdf.add_page()
    if report.name in DEA_REPORTS:
        pdf.paragraph(report.heading.dea_line, bold=True)
    pdf.paragraph(
        f"{len(report.rows)} entries. Every row is an entry written once; corrections are "
        "rows of their own. Times are UTC as recorded.",
        size=8,
    )
    pdf.ln(1)
    if report.rows:
        headings = tuple(c.replace("_", " ") for c in report.columns)
        cells = [tuple(cell_text(row.get(c)) for c in report.columns) for row in report.rows]
        pdf.set_font(FONT, "", TABLE_FONT_PT)
        pdf.rows(
            headings,
            column_widths(headings, cells, pdf.epw, pdf.get_string_width),
            cells,
            size=TABLE_FONT_PT,
            line_height=TABLE_LINE_MM,
        )
    else:
        pdf.paragraph("No entries.")
    if report.name in SIGNED_REPORTS:
        _signature_lines(pdf, report)
    return pdf.rendered()


def _signature_lines(pdf: PrintedDocument, report: LedgerReport) -> None:
    pdf.heading("Signatures")
    if not report.signers:
        pdf.paragraph("No one is named: there are no entries in this report.")
        return
    for signer in report.signers:
        entries = ", ".join(f"#{e}" for e in signer.entries)
        pdf.paragraph(
            f"{signer.who}, {' and '.join(signer.roles)} (entries {entries}) as recorded:",
            size=8.5,
        )
        pdf.ln(2)
        pdf.paragraph("Signature ________________________________   Date ______________")
        pdf.ln(2)
