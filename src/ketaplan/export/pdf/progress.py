"""The progress report for the referring clinician, as PDF.

What a psychiatrist or pain specialist who referred the patient needs on one or two pages:
the outcome (each scale's baseline and latest score, the reduction, response and remission as
ketaplan defines them, with the rule), the scores over time on the scale's severity bands next
to the dose delivered at each session, every session's delivered dose, and every alert and
adverse event charted at the chair. It restates the record; it recommends nothing.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure

from ketaplan.export.pdf.document import ReportDocument
from ketaplan.services.reports import OutcomeReportLine, ProgressReport, ScoreReportLine

CHART_WIDTH_MM = 180.0
BAND_COLOURS = ("#e3f4ea", "#f1f7d9", "#fff3d6", "#ffe3c7", "#fde4e4")


def _band_colour(index: int, count: int) -> str:
    if count <= 1:
        return BAND_COLOURS[0]
    return BAND_COLOURS[round(index * (len(BAND_COLOURS) - 1) / (count - 1))]


def score_chart_png(report: ProgressReport) -> bytes | None:
    """Each scale's totals over time on its bands, over the mg/kg delivered per session; None
    when there are no scores. Drawn on a matplotlib ``Figure`` (no pyplot: no global state)."""
    if not report.scores:
        return None
    outcomes = {o.scale: o for o in report.outcomes}
    doses = [(s.started_at, s.delivered_mg_per_kg) for s in report.sessions if s.started_at]
    panels = len(outcomes) + (1 if doses else 0)
    height_in = 1.9 * panels
    figure = Figure(figsize=(7.2, height_in), dpi=150)
    # Fixed margins (room on the right for the band names) rather than constrained layout,
    # which measured every tick label again and took most of the report's time.
    figure.subplots_adjust(
        left=0.09, right=0.84, top=1 - 0.3 / height_in, bottom=0.45 / height_in, hspace=0.45
    )
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    by_scale: dict[str, list[ScoreReportLine]] = {}
    for line in report.scores:
        by_scale.setdefault(line.scale, []).append(line)
    for ax, (key, outcome) in zip(axes, outcomes.items(), strict=False):
        _score_panel(ax, outcome, by_scale[key])
    if doses:
        ax = axes[-1]
        times: list[datetime] = [t for t, _ in doses if t is not None]
        values = [d for _, d in doses]
        ax.vlines(times, 0, values, color="#4a6fa5", linewidth=3)
        ax.plot(times, values, marker="s", linestyle="none", color="#4a6fa5")
        ax.set_ylim(0, max(values) * 1.2 or 1)
        ax.set_ylabel("mg/kg", fontsize=8)
        ax.set_title("Dose delivered per session", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    moments = [line.answered_at for line in report.scores] + [t for t, _ in doses if t]
    axes[-1].set_xlim(min(moments) - timedelta(days=1), max(moments) + timedelta(days=1))
    # Days in the clinic's zone (matplotlib counts in UTC otherwise); its date locator and
    # formatter are not annotated.
    zone = ZoneInfo(report.header.time_zone)
    locator = AutoDateLocator(tz=zone, maxticks=8)  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(DateFormatter("%d %b", tz=zone))  # type: ignore[no-untyped-call]
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _score_panel(ax: object, outcome: OutcomeReportLine, lines: list[ScoreReportLine]) -> None:
    from matplotlib.axes import Axes

    assert isinstance(ax, Axes)
    bands = outcome.bands
    for index, (lowest, label) in enumerate(bands):
        top = bands[index + 1][0] if index + 1 < len(bands) else outcome.total_max
        ax.axhspan(lowest, top, color=_band_colour(index, len(bands)), zorder=0)
        ax.text(
            1.005,
            (lowest + top) / 2 / outcome.total_max,
            label.replace("_", " "),
            transform=ax.transAxes,
            fontsize=6,
            va="center",
        )
    answered: Any = [line.answered_at for line in lines]  # matplotlib converts datetimes
    ax.plot(
        answered,
        [line.total for line in lines],
        marker="o",
        color="#1f3b63",
        zorder=2,
    )
    ax.set_ylim(0, outcome.total_max)
    ax.set_ylabel("total", fontsize=8)
    ax.set_title(f"{outcome.title} (0-{outcome.total_max})", fontsize=8, loc="left")
    ax.tick_params(labelsize=7)


def _verdict(outcome: OutcomeReportLine) -> str:
    """What the scores mean, with the rule that says so."""
    rule = f"response: ≥ {outcome.response_fraction * 100:.0f} % fall"
    if outcome.remission_max is not None:
        rule += f"; remission: ≤ {outcome.remission_max}"
    if outcome.answered < 2:
        return f"one score so far ({rule})"
    said = ["response" if outcome.response else "no response"]
    if outcome.remission_max is not None:
        said.append("remission" if outcome.remission else "not in remission")
    return f"{', '.join(said)} ({rule})"


def _dose(mg: float, mg_per_kg: float) -> str:
    return f"{mg:.1f} mg ({mg_per_kg:.3f} mg/kg)"


def progress_report_pdf(report: ProgressReport) -> bytes:
    """The report as a PDF document's bytes (the same report gives the same bytes)."""
    pdf = ReportDocument(report.header, "Progress report")
    if report.treatments:
        pdf.paragraph("Treatment: IV ketamine, " + "; ".join(report.treatments))
    pdf.heading("Outcome")
    if report.outcomes:
        pdf.rows(
            ("Scale", "Baseline", "Latest", "Change", "Scores", "Response / remission"),
            (42, 18, 18, 18, 14, 60),
            [
                (
                    o.title,
                    f"{o.baseline_total}/{o.total_max}",
                    f"{o.latest_total}/{o.total_max}",
                    f"{-o.reduction_fraction * 100:+.0f} %",
                    str(o.answered),
                    _verdict(o),
                )
                for o in report.outcomes
            ],
        )
        pdf.paragraph(
            "Change is from the first score to the latest; the scores are the patient's own "
            "answers to the published questionnaires.",
            size=7.5,
        )
    else:
        pdf.paragraph("No questionnaire has been answered yet.")
    chart = score_chart_png(report)
    if chart is not None:
        pdf.heading("Scores over time")
        pdf.image(io.BytesIO(chart), w=min(CHART_WIDTH_MM, pdf.epw))
        pdf.ln(1)
        pdf.rows(
            ("Date", "Scale", "Total", "Severity"),
            (38, 60, 30, 52),
            [
                (
                    f"{s.answered_at:%d %b %Y %H:%M}",
                    s.title,
                    f"{s.total}/{s.total_max}",
                    s.severity.replace("_", " "),
                )
                for s in report.scores
            ],
        )
    pdf.heading("Doses per session")
    if report.sessions:
        pdf.rows(
            ("#", "Date", "Delivered", "Infusing", "State"),
            (10, 38, 50, 22, 60),
            [
                (
                    "" if s.number is None else str(s.number),
                    "not started" if s.started_at is None else f"{s.started_at:%d %b %Y %H:%M}",
                    _dose(s.delivered_mg, s.delivered_mg_per_kg),
                    f"{s.infusing_min:.0f} min",
                    s.state.replace("_", " ") + (f": {s.stop_reason}" if s.stop_reason else ""),
                )
                for s in report.sessions
            ],
        )
    else:
        pdf.paragraph("No session has been opened yet.")
    pdf.heading("Alerts and adverse events")
    happened = [s for s in report.sessions if s.alerts or s.side_effects]
    if happened:
        pdf.rows(
            ("Session", "Alerts (vital signs, pump)", "Adverse events charted"),
            (30, 85, 65),
            [
                (
                    f"#{s.number or '-'} "
                    + ("" if s.started_at is None else f"{s.started_at:%d %b %Y}"),
                    "\n".join(s.alerts) or "none",
                    "\n".join(s.side_effects) or "none",
                )
                for s in happened
            ],
        )
    else:
        pdf.paragraph("None charted.")
    return pdf.rendered()
