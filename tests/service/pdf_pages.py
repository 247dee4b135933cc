"""Reading a PDF back as a reader would: its text, and each page rendered to an image.

pypdfium2 (Google's PDFium, the engine of Chrome's PDF viewer, as a wheel) renders the pages
independently of fpdf2, which wrote them: a page that PDFium cannot draw, or draws blank, fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import pypdfium2 as pdfium
from PIL import Image, ImageChops

A4_POINTS = (596, 842)
"""A4 (210 x 297 mm = 595.28 x 841.89 PDF points) in pixels as PDFium renders it at scale 1
(one pixel a point, rounded up)."""


@dataclass(frozen=True)
class RenderedPage:
    text: str
    image: Image.Image

    @property
    def ink_fraction(self) -> float:
        """The share of pixels that are not white: 0 for a blank page."""
        grey = self.image.convert("L")
        inked = sum(grey.histogram()[:240])
        return inked / (grey.width * grey.height)


def read_pdf(document: bytes, scale: float = 1.0) -> list[RenderedPage]:
    assert document.startswith(b"%PDF-")
    pdf = pdfium.PdfDocument(document)
    try:
        pages = []
        for page in pdf:
            text = page.get_textpage().get_text_bounded()
            image = page.render(scale=scale).to_pil().convert("RGB")
            pages.append(RenderedPage(text, image))
        return pages
    finally:
        pdf.close()


def is_blank(image: Image.Image) -> bool:
    white = Image.new("RGB", image.size, "white")
    return ImageChops.difference(image, white).getbbox() is None
