"""The ledger PDF's table layout: columns fill the page, no column is narrower than its longest
word while the page has room, and a long text wraps rather than squeezing the others."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketaplan.export.pdf.ledger import CELL_PADDING_MM, MAX_COLUMN_MM, cell_text, column_widths


def measure(text: str) -> float:
    return 1.5 * len(text)  # mm: a monospaced face, 1.5 mm a character


words = st.text(alphabet="abcdefghij@.-", min_size=1, max_size=12)
cells = st.lists(words, min_size=1, max_size=4).map(" ".join)


@given(
    st.integers(1, 12).flatmap(
        lambda n: st.tuples(
            st.just(n), st.lists(st.lists(cells, min_size=n, max_size=n), max_size=5)
        )
    )
)
def test_the_columns_fill_the_page_and_keep_their_words_whole_when_there_is_room(
    shape: tuple[int, list[list[str]]],
) -> None:
    count, table = shape
    columns = tuple(f"c{i}" for i in range(count))
    rows = [tuple(row) for row in table]
    widths = column_widths(columns, rows, 267.0, measure)
    assert sum(widths) == pytest.approx(267.0)
    least = [
        max(
            measure(w) * (1.12 if t is columns[i] else 1)
            for t in (columns[i], *(r[i] for r in rows))
            for w in t.split()
        )
        + CELL_PADDING_MM
        for i in range(count)
    ]
    if sum(least) <= 267.0:
        assert all(w >= lo - 1e-9 for w, lo in zip(widths, least, strict=True))
    whole = [
        max(
            least[i],
            max(
                min(measure(t) * (1.12 if t is columns[i] else 1), MAX_COLUMN_MM)
                for t in (columns[i], *(r[i] for r in rows))
            )
            + CELL_PADDING_MM,
        )
        for i in range(count)
    ]
    if sum(whole) <= 267.0:  # room for every text on one line (up to the bound): it gets it
        assert all(w >= full - 1e-9 for w, full in zip(widths, whole, strict=True))


def test_a_long_address_wraps_rather_than_squeezing_the_other_columns() -> None:
    address = "7000 Cardinal Place, Building 4, Loading Dock B, Dublin, Ohio 43017 " * 3
    columns = (*(f"time {i}" for i in range(10)), "supplier address")
    row = (*(["2026-12-08 02:00:00"] * 10), address)
    widths = column_widths(columns, [row] * 3, 267.0, measure)
    assert sum(widths) == pytest.approx(267.0)
    assert min(widths[:-1]) < widths[-1] <= MAX_COLUMN_MM + CELL_PADDING_MM
    assert min(widths[:-1]) >= measure("02:00:00") + CELL_PADDING_MM


def test_cells_print_as_the_page_shows_them() -> None:
    assert cell_text(None) == ""
    assert cell_text(3.5) == "3.5"
    assert cell_text(20.0) == "20"
    assert cell_text(True) == "yes"
    assert cell_text("2026-12-08T02:00:00+00:00") == "2026-12-08 02:00:00"
    assert cell_text("2026-12-08T02:00:00-08:00") == "2026-12-08T02:00:00-08:00"  # not UTC: as is
