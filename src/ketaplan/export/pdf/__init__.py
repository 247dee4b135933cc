"""PDF documents for paper and for other clinicians: the progress report, the preparation card
and the ledger reports, laid out with fpdf2 from the values the services read
(:mod:`ketaplan.services.reports`, :mod:`ketaplan.services.ledger_printing`).

fpdf2 was chosen over reportlab: pure Python (no C extension to build on a clinic's laptop),
its two dependencies (Pillow, fontTools) already installed with matplotlib, embedded TrueType
fonts with Unicode, and releases every few months. Text is set in DejaVu Sans, the font
matplotlib ships, so "→", "×" and "≥" print as they read on screen and no font is downloaded.
"""

from ketaplan.export.pdf.card import preparation_card_pdf
from ketaplan.export.pdf.ledger import ledger_report_pdf
from ketaplan.export.pdf.progress import progress_report_pdf

__all__ = ["ledger_report_pdf", "preparation_card_pdf", "progress_report_pdf"]
