"""``ketaplan simulate``: the JSON contract, the three inputs, plots, and clean errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    err = capsys.readouterr().err
    assert "bad.jsonl line 1: 2 problems" in err  # both missing numbers named at once
    assert "start: rate_ml_per_h is missing" in err
    assert "start: concentration_mg_per_ml is missing" in err


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


# ------------------------------------------------ population, anaesthetic range, effect site ----


def test_the_report_says_whom_the_model_was_fitted_in_and_warns_outside_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--model", "hijazi", "--weight", "130 kg", "--age", "70"]
    argv += ["--dose-mg", "35", "--duration-min", "40", "--step-s", "60"]
    report = _json(capsys, [*argv, "--json"])
    population = report["population"]
    assert isinstance(population, dict)
    assert "intensive care" in population["fitted_in"]
    assert population["age_years"] == 70
    warnings = population["warnings"]
    assert len(warnings) == 3  # the ICU caution, the weight, the age
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Fitted in: 12 adult intensive care patients" in text
    assert text.count("WARNING: ") == 3
    assert "130 kg outside the fitted range" in text


def test_a_patient_inside_the_fitted_ranges_of_a_volunteer_model_gets_no_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = _json(capsys, [*CONTRACT, "--age", "40"])
    assert report["population"]["warnings"] == []  # type: ignore[index]
    assert main(CONTRACT[:-1]) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_a_bad_age_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*CONTRACT, "--age", "0"]) == 2
    assert "--age 0: give the age in years" in capsys.readouterr().err


# Zanos et al., Pharmacol Rev 2018;70:621, Table 1: general anaesthesia with IV 1-2 mg/kg gives
# 1,200-2,400 ng/mL; the antidepressant 0.5 mg/kg over 40 min about 185 ng/mL (Zarate 2006).
@pytest.mark.parametrize("model", ["domino", "kamp"])
def test_an_anaesthetic_bolus_is_flagged_in_the_anaesthetic_range(
    capsys: pytest.CaptureFixture[str], model: str
) -> None:
    argv = ["simulate", "--model", model, "--weight", "70 kg", "--dose-mg", "140"]
    argv += ["--duration-min", "1", "--step-s", "30", "--effect-site"]
    report = _json(capsys, [*argv, "--json"])
    levels = report["levels"]
    assert isinstance(levels, dict)
    assert levels["anaesthetic_ng_per_ml"] == 1200.0
    assert levels["plasma_peak_in_anaesthetic_range"] is True
    assert levels["effect_peak_in_anaesthetic_range"] is True
    assert main(argv) == 0
    assert "IN THE ANAESTHETIC RANGE: plasma peak, effect-site peak" in capsys.readouterr().out


def test_the_antidepressant_infusion_is_not_flagged(capsys: pytest.CaptureFixture[str]) -> None:
    report = _json(capsys, CONTRACT)
    assert report["levels"]["plasma_peak_in_anaesthetic_range"] is False  # type: ignore[index]
    assert main(CONTRACT[:-1]) == 0
    assert "ANAESTHETIC" not in capsys.readouterr().out


@settings(max_examples=25, deadline=None)
@given(dose_mg=st.floats(5, 400), duration_min=st.floats(1, 120))
def test_the_flag_is_raised_exactly_when_the_peak_reaches_the_anaesthetic_level(
    dose_mg: float, duration_min: float
) -> None:
    import contextlib
    import io

    argv = ["simulate", "--weight", "70 kg", "--dose-mg", f"{dose_mg:.3f}"]
    argv += ["--duration-min", f"{duration_min:.3f}", "--until-min", "150", "--step-s", "60"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main([*argv, "--json"]) == 0
    report = json.loads(out.getvalue())
    levels = report["levels"]
    flagged = report["peak_plasma_ng_per_ml"] >= levels["anaesthetic_ng_per_ml"]
    assert levels["plasma_peak_in_anaesthetic_range"] is flagged


def test_the_text_shows_the_effect_site_only_when_asked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = CONTRACT[:-1]
    assert main(argv) == 0
    assert "effect site" not in capsys.readouterr().out
    assert main([*argv, "--effect-site"]) == 0
    text = capsys.readouterr().out
    assert "Predicted peak effect site:" in text
    assert "ke0 0.652/min" in text
    assert "illustrative" in text
    report = _json(capsys, [*CONTRACT, "--effect-site"])
    assert report["peak_effect_ng_per_ml"] is not None
    assert report["time_of_peak_effect_min"] >= report["time_of_peak_min"]  # type: ignore[operator]


def test_a_cohort_reports_its_share_in_the_anaesthetic_range_and_its_weight_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--condition", "depression", "--weight", "70 kg", "--cohort", "200"]
    argv += ["--cohort-weights", "40 kg", "90 kg", "--step-s", "60", "--json"]
    report = _json(capsys, argv)
    assert report["cohort"]["fraction_peak_in_anaesthetic_range"] == 0.0  # type: ignore[index]
    warnings = report["population"]["warnings"]  # type: ignore[index]
    assert any(w.startswith("virtual cohort: weights 40-90 kg outside") for w in warnings)
