"""The outcome chart as inline SVG, drawn on the server: no script, prints and screenshots.

Each scale a patient answered gets a panel of its scores over time on its severity bands
(the scale's own published bands, :mod:`ketaplan.clinical.outcomes`); under them, the dose
delivered at each session (mg/kg) on the same time axis, so that a change in dose and a
change in score can be read against each other.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from markupsafe import escape

from ketaplan.services.patient_overview import PatientOverview, ScoreLine

WIDTH = 960
LEFT, RIGHT = 70, 24
PANEL_H = 170
DOSE_H = 90
GAP = 34
BAND_COLOURS = ("#e3f4ea", "#f1f7d9", "#fff3d6", "#ffe3c7", "#fde4e4")


def _band_colour(index: int, count: int) -> str:
    if count <= 1:
        return BAND_COLOURS[0]
    step = (len(BAND_COLOURS) - 1) / (count - 1)
    return BAND_COLOURS[round(index * step)]


def outcome_chart(overview: PatientOverview, time_zone: str) -> str:
    """The chart's SVG markup, or ``""`` when there is nothing to draw."""
    times: list[datetime] = [s.answered_at for s in overview.scores]
    doses = [(s.started_at, s.delivered_mg_per_kg) for s in overview.sessions if s.started_at]
    times += [t for t, _ in doses if t is not None]
    if not times:
        return ""
    zone = ZoneInfo(time_zone)
    first, last = min(times), max(times)
    span = max((last - first).total_seconds(), 86400.0)
    first -= timedelta(seconds=span * 0.04)
    span *= 1.08
    plot_w = WIDTH - LEFT - RIGHT

    def x(at: datetime) -> float:
        return LEFT + (at - first).total_seconds() / span * plot_w

    by_scale: dict[str, list[ScoreLine]] = defaultdict(list)
    for line in overview.scores:
        by_scale[line.scale].append(line)
    outcomes = {o.scale: o for o in overview.outcomes}
    parts: list[str] = []
    top = 24
    for key, lines in by_scale.items():
        spec = outcomes[key]
        total_max = spec.total_max

        def y(total: float, top: int = top, total_max: int = total_max) -> float:
            return top + PANEL_H - total / total_max * PANEL_H

        parts.append(
            f'<text x="{LEFT}" y="{top - 8}" class="t" font-weight="700">'
            f"{escape(key.upper())} ({escape(spec.title)})</text>"
        )

        bands = list(spec.bands)
        for index, (lowest, name) in enumerate(bands):
            upper = bands[index + 1][0] if index + 1 < len(bands) else total_max + 1
            y_top, y_bottom = y(min(upper, total_max)), y(lowest)
            colour = _band_colour(index, len(bands))
            parts.append(
                f'<rect x="{LEFT}" y="{y_top:.1f}" width="{plot_w}" '
                f'height="{max(y_bottom - y_top, 0):.1f}" fill="{colour}"/>'
                f'<text x="{WIDTH - RIGHT - 4}" y="{y_bottom - 4:.1f}" class="b" '
                f'text-anchor="end">{escape(name.replace("_", " "))} ≥{lowest}</text>'
            )
        for tick in (0, total_max // 2, total_max):
            parts.append(
                f'<text x="{LEFT - 8}" y="{y(tick) + 4:.1f}" class="a" '
                f'text-anchor="end">{tick}</text>'
            )
        points = [(x(line.answered_at), y(line.total), line) for line in lines]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="#1f5fbf" stroke-width="3"/>')
        for px, py, line in points:
            fill = "#d62828" if line.flags else "#1f5fbf"
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{fill}" '
                f'data-scale="{escape(key)}" data-total="{line.total}"/>'
                f'<text x="{px:.1f}" y="{py - 10:.1f}" class="v" text-anchor="middle">'
                f"{line.total}</text>"
            )
        top += PANEL_H + GAP + 16

    if doses:
        highest = max(max(d for _, d in doses), 0.5)
        parts.append(
            f'<text x="{LEFT}" y="{top - 2}" class="t" font-weight="700">'
            "Dose delivered per session (mg/kg)</text>"
        )
        top += 8
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{top + DOSE_H}" y2="{top + DOSE_H}" '
            'stroke="#9aa5b1"/>'
        )
        for at, mg_per_kg in doses:
            assert at is not None
            height = mg_per_kg / highest * (DOSE_H - 16)
            bx = x(at)
            parts.append(
                f'<rect x="{bx - 7:.1f}" y="{top + DOSE_H - height:.1f}" width="14" '
                f'height="{height:.1f}" fill="#16324f" data-dose="{mg_per_kg:.3f}"/>'
                f'<text x="{bx:.1f}" y="{top + DOSE_H - height - 4:.1f}" class="v" '
                f'text-anchor="middle">{mg_per_kg:.2f}</text>'
            )
        top += DOSE_H + 6

    axis_y = top + 14
    ticks = 6
    shown: set[str] = set()
    for index in range(ticks + 1):
        at = first + timedelta(seconds=span * index / ticks)
        day = at.astimezone(zone).strftime("%d %b")
        if day in shown:
            continue
        shown.add(day)
        parts.append(
            f'<text x="{x(at):.1f}" y="{axis_y}" class="a" text-anchor="middle">'
            f"{at.astimezone(zone).strftime('%d %b')}</text>"
        )
    height = axis_y + 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="Scores over time with severity bands, and dose per session" '
        f'id="outcome-chart">{"".join(parts)}</svg>'
    )
