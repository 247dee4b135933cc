"""The page every ketaplan PDF is printed on: A4, DejaVu Sans, a header naming the clinic and
the patient (or the ledger report) on every page (a loose page still says whose it is), a
footer with the page count.

The document's creation date is the report's own time, not the clock at rendering, so the same
report renders to the same bytes (tests compare them; a re-download does not look changed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from ketaplan.services.reports import ReportHeader

FONT = "DejaVu"
FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
MARGIN_MM = 15.0


def patient_line(header: ReportHeader) -> str:
    born = f", born {header.date_of_birth:%d %b %Y}" if header.date_of_birth is not None else ""
    return f"{header.patient_name}{born} · patient #{header.patient_id}"


class PrintedDocument(FPDF):
    """An A4 page with a title, the clinic's name and address, a bold subject line (whose
    record, or which part of the ledger) on every page, and a footer saying when it was printed,
    by whom, and the page count."""

    def __init__(
        self,
        *,
        title: str,
        subject: str,
        clinic_name: str,
        clinic_address: str,
        time_zone: str,
        generated_at: datetime,
        generated_by: str,
        confidentiality: str,
        landscape: bool = False,
    ) -> None:
        super().__init__(
            orientation="landscape" if landscape else "portrait", unit="mm", format="A4"
        )
        self.report_title = title
        self.subject = subject
        self.clinic = ", ".join(p for p in (clinic_name, clinic_address) if p)
        self.time_zone = time_zone
        self.generated_at = generated_at
        self.generated_by = generated_by
        self.confidentiality = confidentiality
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
        self.set_auto_page_break(auto=True, margin=MARGIN_MM + 5)
        self.set_author(clinic_name)
        self.set_creator("ketaplan")
        self.set_creation_date(generated_at)
        self.alias_nb_pages()

    def header(self) -> None:
        self.set_font(FONT, "B", 13)
        self.cell(0, 7, self.report_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        self.cell(0, 5, self.clinic, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 10)
        self.cell(0, 6, self.subject, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.line(MARGIN_MM, self.get_y() + 1, self.w - MARGIN_MM, self.get_y() + 1)
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-MARGIN_MM)
        self.set_font(FONT, "", 8)
        when = self.generated_at
        self.cell(
            0,
            5,
            f"{self.confidentiality} · printed {when:%d %b %Y %H:%M} "
            f"({self.time_zone}) by {self.generated_by} · "
            f"page {self.page_no()} of {{nb}}",
            align="C",
        )

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)

    def paragraph(self, text: str, *, size: float = 9, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, 4.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(
        self,
        columns: tuple[str, ...],
        widths: tuple[float, ...],
        rows: list[tuple[str, ...]],
        *,
        size: float = 8.5,
        line_height: float = 4.6,
    ) -> None:
        """A table with a bold header row (repeated on each page); long cells wrap."""
        self.set_font(FONT, "", size)
        with self.table(
            col_widths=widths,
            text_align="LEFT",
            line_height=line_height,
            headings_style=FontFace(emphasis="BOLD", fill_color=(235, 238, 243)),
            first_row_as_headings=True,
        ) as table:
            header = table.row()
            for name in columns:
                header.cell(name)
            for values in rows:
                row = table.row()
                for value in values:
                    row.cell(value)

    def rendered(self) -> bytes:
        return bytes(self.output())


class ReportDocument(PrintedDocument):
    """A patient's document: the patient named on every page."""

    def __init__(self, header: ReportHeader, title: str) -> None:
        super().__init__(
            title=title,
            subject=patient_line(header),
            clinic_name=header.clinic_name,
            clinic_address=header.clinic_address,
            time_zone=header.time_zone,
            generated_at=header.generated_at,
            generated_by=header.generated_by,
            confidentiality="Confidential patient information",
        )
        self.report = header
        self.set_title(f"{title}: {header.patient_name}")
        self.add_page()
