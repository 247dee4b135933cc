"""``ketaplan simulate``: the JSON contract, the three inputs, plots, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketaplan.cli import main

CONTRACT = [
    "simulate",
    "--model",
    "domino",
    "--weight",
    "70 kg",
    "--dose-mg",
    "35",
    "--duration-min",
    "40",
    "--until-min",
    "240",
    "--step-s",
    "10",
    "--json",
]


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_the_json_contract_has_model_peak_time_of_peak_and_series(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _json(capsys, CONTRACT)
    assert report["model"] == "domino"
    assert report["peak_plasma_ng_per_ml"] == pytest.approx(240.33, abs=0.01)
    assert report["time_of_peak_min"] == 40.0
    series = report["series"]
    assert isinstance(series, dict)
    assert len(series["t_min"]) == len(series["plasma_ng_per_ml"]) == 1441
    assert series["t_min"][-1] == 240.0
    assert report["minutes_below_after_stop"] == pytest.approx(3.6667, abs=1e-3)
    assert "clinic policy" in str(report["below_ng_per_ml_source"])


def test_a_protocol_gives_its_starting_mg_per_kg_over_its_infusion_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _json(capsys, ["simulate", "--condition", "depression", "--weight", "70 kg", "--json"])
    assert report["infusion_source"] == "protocol"
    assert report["total_dose_mg"] == pytest.approx(35.0)  # 0.5 mg/kg x 70 kg
    assert report["peak_plasma_ng_per_ml"] == pytest.approx(240.33, abs=0.01)


def test_an_event_log_is_simulated_with_its_pause(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "session.jsonl"
    log.write_text(
        "\n".join(
            [
                '{"at": "2026-12-07T09:00:00-08:00", "type": "start", "rate_ml_per_h": 150, "concentration_mg_per_ml": 0.35}',
                '{"at": "2026-12-07T09:10:00-08:00", "type": "pause"}',
                '{"at": "2026-12-07T09:15:00-08:00", "type": "vitals", "systolic": 138, "diastolic": 85}',
                '{"at": "2026-12-07T09:20:00-08:00", "type": "resume"}',
                '{"at": "2026-12-07T09:50:00-08:00", "type": "stop", "completed": true}',
            ]
        ),
        encoding="utf-8",
    )
    report = _json(
        capsys,
        ["simulate", "--events", str(log), "--weight", "70 kg", "--until-min", "120", "--json"],
    )
    assert report["total_dose_mg"] == pytest.approx(35.0)
    assert report["stop_min"] == 50.0
    assert report["time_of_peak_min"] == 50.0


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_a_plot_with_bands_and_effect_site_is_written(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"curve{suffix}"
    argv = ["simulate", "--condition", "depression", "--weight", "80 kg", "--bands", "50"]
    argv += ["--effect-site", "--step-s", "60", "--plot", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Predicted peak plasma" in text
    assert "5th-95th percentile over 50" in text
    assert out.stat().st_size > 1000
    if suffix == ".svg":
        assert out.read_text(encoding="utf-8").lstrip().startswith("<?xml")


def test_bands_are_reproducible_with_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*CONTRACT, "--bands", "100", "--seed", "7", "--step-s", "120"]
    first = _json(capsys, argv)["series"]
    second = _json(capsys, argv)["series"]
    assert isinstance(first, dict)
    assert isinstance(second, dict)
    assert first["plasma_p95_ng_per_ml"] == second["plasma_p95_ng_per_ml"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--weight", "70 kg"], "exactly one infusion"),
        (["--weight", "70", "--dose-mg", "35", "--duration-min", "40"], "no unit"),
        (["--dose-mg", "35", "--duration-min", "40"], "--weight is required"),
        (["--weight", "70 kg", "--dose-mg", "35"], "needs --duration-min"),
        (["--weight", "70 kg", "--dose-mg", "-35", "--duration-min", "40"], "positive"),
        (["--weight", "70 kg", "--condition", "depresion"], "unknown condition"),
        (["--weight", "70 kg", "--condition", "ptsd", "--dose-mg", "3"], "exactly one infusion"),
        (["--weight", "70 kg", "--events", "/nonexistent/log.jsonl"], "cannot read"),
        (
            ["--weight", "70 kg", "--dose-mg", "35", "--duration-min", "40", "--model", "x"],
            "unknown PK model",
        ),
        (
            ["--weight", "70 kg", "--dose-mg", "35", "--duration-min", "40", "--plot", "a.pdf"],
            ".png or .svg",
        ),
        (
            ["--weight", "70 kg", "--dose-mg", "35", "--duration-min", "40", "--step-s", "0"],
            "positive",
        ),
        (
            ["--weight", "70 kg", "--dose-mg", "35", "--duration-min", "40", "--bands", "2"],
            "between 10",
        ),
        (
            ["--weight", "70 kg", "--dose-mg", "35", "--duration-min", "40", "--cohort", "5"],
            "between 10",
        ),
        (
            [
                "--weight",
                "70 kg",
                "--dose-mg",
                "35",
                "--duration-min",
                "40",
                "--below-ng-per-ml",
                "0",
            ],
            "positive",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["simulate", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_a_bad_event_line_is_reported_with_its_number(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text('{"at": "2026-12-07T09:00:00-08:00", "type": "start"}\n', encoding="utf-8")
    assert main(["simulate", "--events", str(log), "--weight", "70 kg"]) == 2
    assert "bad.jsonl line 1: start: rate_ml_per_h is missing" in capsys.readouterr().err


def test_a_virtual_cohort_is_summarised_per_kg_for_a_protocol(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--condition", "depression", "--weight", "70 kg", "--cohort", "500"]
    argv += ["--cohort-weights", "60 kg", "90 kg", "--step-s", "60", "--json"]
    cohort = _json(capsys, argv)["cohort"]
    assert isinstance(cohort, dict)
    assert cohort["dosing"] == "mg/kg x weight"
    assert cohort["weight_range_kg"] == [60.0, 90.0]
    low, median, high = cohort["peak_plasma_ng_per_ml_p5_p50_p95"]
    assert low < median < high
    assert median == pytest.approx(240, rel=0.1)


def test_a_cohort_weight_without_a_unit_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [*CONTRACT, "--cohort", "100", "--cohort-weights", "50", "120 kg"]
    assert main(argv) == 2
    assert "cohort weight '50' has no unit" in capsys.readouterr().err
