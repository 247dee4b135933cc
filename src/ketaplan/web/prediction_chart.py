"""Predicted plasma levels as inline SVG, drawn on the server (no script: the CSP allows none
inline, and the chart prints and reads without one).

Each option is a line (the typical patient) over its 5-95 % band (virtual patients); the
clinic's reference level is a dashed red line with a dot where each typical curve falls below
it, and "now" a vertical line on the console (the curves left of it follow the chart). The
SVG has a ``<title>`` and a ``<desc>`` that state the key numbers, which the page also gives
as text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from markupsafe import Markup, escape

from ketaplan.services.predictions import PredictionOption

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 16, 44
COLOURS = ("#1f5fbf", "#b5179e", "#2a9d8f", "#e76f51")
Floats = npt.NDArray[np.float64]
MAX_POINTS = 240
"""Points drawn per line (the grid is decimated): enough for a smooth curve on a tablet."""


def _dash(number: int) -> str:
    return "" if number == 0 else f' stroke-dasharray="{6 + 2 * number},4"'


def swatch(number: int) -> Markup:
    """The line of option ``number`` as the chart draws it, for the table's legend (an SVG
    line: the CSP allows no inline style)."""
    colour = COLOURS[number % len(COLOURS)]
    return Markup(
        '<svg class="swatch" width="28" height="10" viewBox="0 0 28 10" aria-hidden="true">'
        f'<line x1="0" x2="28" y1="5" y2="5" stroke="{colour}" stroke-width="3"{_dash(number)}/>'
        "</svg>"
    )


def _nice_top(value: float) -> float:
    for step in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        if value <= step * 5:
            return float(step * int(value / step + 1))
    return float(value * 1.1)


def _points(xs: Floats, ys: Floats) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))


def describe(options: Sequence[PredictionOption], level_ng_per_ml: float) -> str:
    """The chart's key numbers in one sentence per option (its ``<desc>``)."""
    parts = []
    for option in options:
        p = option.prediction
        below = (
            f"falls below {level_ng_per_ml:g} ng/mL {p.below_after_stop_min:.1f} min after the "
            f"stop at {p.stop_min:.0f} min"
            if p.below_after_stop_min is not None
            else f"stays above {level_ng_per_ml:g} ng/mL within the prediction"
        )
        parts.append(
            f"{option.label}: peak {p.peak_ng_per_ml:.0f} ng/mL at {p.peak_at_min:.0f} min, "
            f"{below}."
        )
    return " ".join(parts)


def prediction_chart(
    options: Sequence[PredictionOption],
    *,
    level_ng_per_ml: float,
    title: str,
    chart_id: str,
    now_min: float | None = None,
) -> Markup:
    """The SVG markup (safe to put in a page as it is), or empty markup with no option."""
    if not options:
        return Markup("")
    t = options[0].prediction.t_min
    span = float(t[-1]) or 1.0
    highest = max(float(o.prediction.high_ng_per_ml.max()) for o in options)
    highest = max(highest, float(max(o.prediction.typical_ng_per_ml.max() for o in options)))
    top = _nice_top(max(highest, level_ng_per_ml * 1.2))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    every = max(1, -(-t.size // MAX_POINTS))
    index = np.unique(np.append(np.arange(0, t.size, every), t.size - 1))
    xs = LEFT + t[index] / span * plot_w

    def y(values: Floats) -> Floats:
        shown: Floats = TOP + plot_h - np.clip(values[index], 0.0, top) / top * plot_h
        return shown

    parts: list[str] = [f"<title>{escape(title)}</title>"]
    parts.append(f"<desc>{escape(describe(options, level_ng_per_ml))}</desc>")
    for tick in range(6):
        value = top * tick / 5
        ty = TOP + plot_h - value / top * plot_h
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            'stroke="#e3e8ee"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" class="a" text-anchor="end">{value:g}</text>'
        )
    minutes_step = next(s for s in (15, 30, 60, 120, 240, 480, 1440) if span / s <= 8)
    for minute in range(0, int(span) + 1, minutes_step):
        tx = LEFT + minute / span * plot_w
        parts.append(
            f'<text x="{tx:.1f}" y="{HEIGHT - BOTTOM + 16}" class="a" '
            f'text-anchor="middle">{minute}</text>'
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 6}" class="a" text-anchor="middle">'
        "minutes from the start of the infusion</text>"
        f'<text x="14" y="{TOP + plot_h / 2:.0f}" class="a" text-anchor="middle" '
        f'transform="rotate(-90 14 {TOP + plot_h / 2:.0f})">plasma ketamine (ng/mL)</text>'
    )
    for number, option in enumerate(options):
        p = option.prediction
        colour = COLOURS[number % len(COLOURS)]
        upper, lower = y(p.high_ng_per_ml), y(p.low_ng_per_ml)
        band = _points(np.concatenate([xs, xs[::-1]]), np.concatenate([upper, lower[::-1]]))
        parts.append(
            f'<polygon points="{band}" fill="{colour}" fill-opacity="0.14" stroke="none" '
            f'data-band="{escape(option.key)}"/>'
        )
    for number, option in enumerate(options):
        p = option.prediction
        colour = COLOURS[number % len(COLOURS)]
        dash = _dash(number)
        parts.append(
            f'<polyline points="{_points(xs, y(p.typical_ng_per_ml))}" fill="none" '
            f'stroke="{colour}" stroke-width="2.5"{dash} data-curve="{escape(option.key)}"/>'
        )
        if p.below_at_min is not None:
            bx = LEFT + p.below_at_min / span * plot_w
            by = TOP + plot_h - min(level_ng_per_ml, top) / top * plot_h
            parts.append(
                f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="5" fill="{colour}" '
                f'data-below-min="{p.below_at_min:.1f}"/>'
            )
    ly = TOP + plot_h - min(level_ng_per_ml, top) / top * plot_h
    parts.append(
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ly:.1f}" y2="{ly:.1f}" stroke="#d62828" '
        f'stroke-dasharray="4,4" data-level="{level_ng_per_ml:g}"/>'
        f'<text x="{WIDTH - RIGHT - 4}" y="{ly - 6:.1f}" class="b" text-anchor="end">'
        f"reference level {level_ng_per_ml:g} ng/mL</text>"
    )
    if now_min is not None and 0 <= now_min <= span:
        nx = LEFT + now_min / span * plot_w
        parts.append(
            f'<line x1="{nx:.1f}" x2="{nx:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#16324f" '
            f'stroke-width="1.5" data-now="{now_min:.1f}"/>'
            f'<text x="{nx + 4:.1f}" y="{TOP + 12}" class="b">now</text>'
        )
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
        'stroke="#9aa5b1"/>'
    )
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" id="{chart_id}" '
        f'class="prediction-chart">'
        + "".join(parts)
        .replace("<title>", f'<title id="{chart_id}-title">', 1)
        .replace("<desc>", f'<desc id="{chart_id}-desc">', 1)
        + "</svg>"
    )
