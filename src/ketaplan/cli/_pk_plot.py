"""Drawing ``ketaplan simulate``'s curves; matplotlib is imported only here, with Agg."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def draw(path: Path, report: dict[str, Any]) -> None:
    """Plasma (and effect-site) curves, percentile band and the policy level, to PNG or SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ketaplan.errors import InputError

    series = report["series"]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    try:
        t_min = series["t_min"]
        if "plasma_p5_ng_per_ml" in series:
            axes.fill_between(
                t_min,
                series["plasma_p5_ng_per_ml"],
                series["plasma_p95_ng_per_ml"],
                alpha=0.25,
                label=f"5th-95th percentile ({report['bands']['n_patients']} virtual patients)",
            )
        axes.plot(t_min, series["plasma_ng_per_ml"], label="plasma")
        if "effect_ng_per_ml" in series:
            axes.plot(t_min, series["effect_ng_per_ml"], linestyle="--", label="effect site")
        axes.axhline(
            report["below_ng_per_ml"],
            color="grey",
            linewidth=0.8,
            label=f"{report['below_ng_per_ml']:g} ng/mL (clinic policy)",
        )
        axes.set_xlabel("time (min)")
        axes.set_ylabel("ketamine (ng/mL)")
        axes.set_title(f"{report['model_title']}, {report['weight_kg']:g} kg")
        axes.legend()
        figure.tight_layout()
        try:
            figure.savefig(path)
        except OSError as exc:
            raise InputError(f"cannot write plot {str(path)!r}: {exc.strerror}") from exc
    finally:
        plt.close(figure)
