"""PDF documents for paper and for other clinicians: the progress report and the preparation
card, laid out with fpdf2 from the values :mod:`ketaplan.services.reports` reads.

fpdf2 was chosen over reportlab: pure Python (no C extension to build on a clinic's laptop),
its two dependencies (Pillow, fontTools) already installed with matplotlib, embedded TrueType
fonts with Unicode, and releases every few months. Text is set in DejaVu Sans, the font
matplotlib ships, so "→", "×" and "≥" print as they read on screen and no font is downloaded.
"""

from ketaplan.export.pdf.card import preparation_card_pdf
from ketaplan.export.pdf.progress import progress_report_pdf

__all__ = ["preparation_card_pdf", "progress_report_pdf"]
