"""``ketaplan plan`` and ``ketaplan protocols`` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ketaplan.cli import main

BASE = [
    "plan",
    "--condition",
    "depression",
    "--weight",
    "176 lb",
    "--height",
    "5 ft 9 in",
    "--age",
    "42",
    "--sex",
    "female",
]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_json_plan_keeps_the_contracted_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        *BASE,
        "--med",
        "Lamictal",
        "--med",
        "alprazolam 0.5 mg",
        "--history",
        "controlled_hypertension",
        "--json",
    )
    assert (code, err) == (0, "")
    plan = json.loads(out)
    assert plan["eligibility"]["status"] == "caution"
    finding = plan["eligibility"]["findings"][0]
    assert set(finding) == {"code", "severity", "message", "source"}
    codes = {f["code"] for f in plan["eligibility"]["findings"]}
    assert {
        "interaction.lamotrigine",
        "interaction.benzodiazepine",
        "contraindication.controlled_hypertension",
    } <= codes
    dose = plan["dose"]
    for key in (
        "dosing_weight_kg",
        "weight_basis",
        "mg_per_kg",
        "total_mg",
        "duration_min",
        "rate_mg_per_kg_per_h",
        "explanation",
    ):
        assert key in dose
    assert (dose["dosing_weight_kg"], dose["mg_per_kg"], dose["total_mg"]) == (79.8, 0.5, 39.9)
    prep = plan["preparation"]
    for key in (
        "vial_mg_per_ml",
        "draw_ml",
        "bag_ml",
        "final_mg_per_ml",
        "pump_rate_ml_per_h",
        "delivered_mg",
    ):
        assert isinstance(prep[key], int | float)


def test_the_readable_plan_puts_the_verdict_first_and_the_pump_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *BASE, "--med", "Xanax")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("KETAMINE INFUSION PLAN: Depression")
    assert "ELIGIBILITY: CAUTION" in out
    assert "How it was reached:" in out
    assert "PUMP:" in out
    assert "mL/h" in out


def test_a_contraindicated_patient_is_told_not_to_infuse_with_alternatives(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *BASE, "--history", "psychosis")
    assert code == 0
    assert "ELIGIBILITY: CONTRAINDICATED" in out
    assert "Contraindicated: do not infuse" in out
    assert "Alternatives:" in out


def test_an_override_is_recorded_in_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        *BASE,
        "--mg-per-kg",
        "0.9",
        "--override-reason",
        "partial response at 0.75 mg/kg",
        "--prescriber",
        "Dr A. Rivera",
        "--json",
    )
    assert code == 0
    override = json.loads(out)["limits"]["override"]
    assert override["prescriber"] == "Dr A. Rivera"
    assert "mg_per_kg" in override["limits"]


def test_protocols_lists_every_condition(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "protocols", "--json")
    assert code == 0
    keys = {p["key"] for p in json.loads(out)["protocols"]}
    assert {"depression", "ptsd", "crps", "chronic_pain", "neuropathic_pain"} <= keys
    code, out, _ = run(capsys, "protocols", "crps")
    assert code == 0
    assert "sources:" in out


BAD_TOML = "not toml ["

BAD_INPUT = [
    # (arguments replacing or extending BASE, exit code, what the message must say)
    (["--weight", "80"], 2, "has no unit"),
    (["--weight", "80 stones of rock"], 2, "unknown unit"),
    (["--weight", "NaN kg"], 2, "is not a number"),
    (["--weight", "-70 kg"], 2, "negative"),
    (["--weight", "80,5 kg"], 2, "comma"),
    (["--weight", "heavy"], 2, "not a quantity"),
    (["--weight", "350 kg"], 2, "enter '350 lb'"),
    (["--weight", "45 lb"], 2, "enter '45 kg'"),
    (["--weight", "180 kg"], 2, "if '180 kg' was in pounds"),
    (["--weight", "180 kg"], 2, "confirm the weight (--confirm-weight)"),
    (["--height", "175"], 2, "has no unit"),
    (["--height", "175 in"], 2, "did you mean '175 cm'"),
    (["--height", "5 ft 13 in"], 2, "12 or more"),
    (["--age", "forty"], 2, "not a whole number"),
    (["--age", "150"], 2, "outside 0-110"),
    (["--sex", "x"], 2, "accepted: female, male"),
    (["--condition", "depresion"], 2, "did you mean depression"),
    (["--history", "uncontroled_hypertension"], 2, "did you mean uncontrolled_hypertension"),
    (["--pregnant", "--sex", "male"], 2, "recorded as male"),
    (["--bp", "400/20"], 2, "not a reading ketaplan accepts"),
    (["--bp", "high"], 2, "systolic/diastolic"),
    (["--heart-rate", "fast"], 2, "not a whole number of beats per minute"),
    (["--heart-rate", "12"], 2, "outside the accepted 20-250 /min"),
    (["--history", "no psychosis"], 2, "reads as a negation or a relative's history"),
    (["--alcohol", "lots"], 2, "accepted: none, occasional, regular, heavy"),
    (["--sensitivity", "extreme"], 2, "accepted: normal, high, low"),
    (["--experience", "veteran"], 2, "accepted: naive"),
    (["--height", "5.9 ft"], 2, "Did you mean '5 ft 9 in'?"),
    (["--height", "5.5'"], 2, "5 ft 5 in, 165.1 cm) or decimal feet (5 ft 6 in"),
    (["--mg-per-kg", "abc"], 2, "not a positive number"),
    (["--mg-per-kg", "-1"], 2, "not a positive number"),
    (["--mg-per-kg", "0.9"], 3, "needs a prescriber's override"),
    (
        ["--mg-per-kg", "0.9"],
        3,
        """to proceed (add --override-reason "WHY" --prescriber "NAME")""",
    ),
    (
        ["--mg-per-kg", "0.9", "--override-reason", "partial response"],
        3,
        """Give the prescriber's name to proceed (add --prescriber "NAME")""",
    ),
    (
        ["--mg-per-kg", "1.2", "--override-reason", "r", "--prescriber", "Dr B"],
        3,
        "hard limits cannot be overridden",
    ),
    (
        ["--weight", "250 kg", "--height", "190 cm", "--confirm-weight"],
        3,
        "total_mg 125 mg is above the soft maximum",
    ),
    (["--catalog", "/nonexistent/clinic.toml"], 2, "catalog file not found"),
    (["--catalog", "BAD_TOML"], 2, "not valid TOML"),
]


@pytest.mark.parametrize(
    ("extra", "exit_code", "message"), BAD_INPUT, ids=[" ".join(case[0]) for case in BAD_INPUT]
)
def test_bad_input_gets_one_clear_message_the_right_exit_code_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    extra: list[str],
    exit_code: int,
    message: str,
) -> None:
    if "BAD_TOML" in extra:
        bad = tmp_path / "clinic.toml"
        bad.write_text(BAD_TOML)
        extra = [str(bad) if e == "BAD_TOML" else e for e in extra]
    code, out, err = run(capsys, *_with(BASE, extra))
    assert code == exit_code
    assert out == ""
    assert message in err
    assert err.startswith("ketaplan: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err


@pytest.mark.parametrize("args", [["plan", "--condition", "depression"], ["plan", "--bogus"]])
def test_a_malformed_command_line_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err


def _with(base: list[str], extra: list[str]) -> list[str]:
    """BASE with each ``--option value`` in ``extra`` replacing the option's value in BASE."""
    args = list(base)
    i = 0
    while i < len(extra):
        option = extra[i]
        takes_value = i + 1 < len(extra) and not extra[i + 1].startswith("--")
        if option in args and takes_value:
            args[args.index(option) + 1] = extra[i + 1]
        else:
            args.append(option)
            if takes_value:
                args.append(extra[i + 1])
        i += 2 if takes_value else 1
    return args


def test_the_demo_plans_three_patients(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "demo")
    assert code == 0
    assert out.count("KETAMINE INFUSION PLAN") == 3
    assert "ELIGIBILITY: CONTRAINDICATED" in out
    assert err == ""


def test_a_blood_pressure_hold_says_to_hold_the_start_not_to_change_treatment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *BASE, "--bp", "186/104")
    assert code == 0
    assert "vitals.pre_sbp_hold" in out
    assert "Hold the start: recheck the vital signs" in out
    assert "Alternatives" not in out


def test_a_slow_heart_rate_before_the_infusion_holds_the_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *BASE, "--bp", "118/74", "--heart-rate", "44")
    assert code == 0
    assert "vitals.pre_hr_low: heart rate 44 /min: heart rate below 50/min" in out
    assert "Hold the start: recheck the vital signs" in out


def test_an_unrelated_history_word_suggests_no_contraindication(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, *BASE, "--history", "hypotension")
    assert code == 2
    assert "unknown history term 'hypotension'" in err
    assert "did you mean" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["plan", "--condition", "depression", "--weight", "350 kg"],
        ["session", "replay", "examples/session1.jsonl", "--weight", "350 kg"],
        ["simulate", "--dose-mg", "35", "--duration-min", "40", "--weight", "350 kg"],
    ],
    ids=["plan", "session replay", "simulate"],
)
def test_every_command_reads_a_patient_weight_with_the_same_check(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    code, out, err = run(capsys, *args)
    assert code == 2
    assert out == ""
    assert "if the scale read pounds, enter '350 lb'" in err


def test_protocols_shows_each_disagreement_with_its_options_and_sources(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Seed 001 (maintenance every 3-6 weeks), seed 000 (every few months) and seed 004 (once or
    twice a year) disagree on boosters: all three are listed, the one in force marked."""
    code, out, _ = run(capsys, "protocols", "depression")
    assert code == 0
    assert "where the sources disagree" in out
    assert "* every_3_6_weeks" in out
    for option in (
        "every_few_months",
        "once_or_twice_a_year",
        "twice_weekly_4_6_weeks",
        "per_hour",
    ):
        assert f"     {option}: " in out
    assert '"followed by maintenance infusions every three to six weeks"' in out
    code, out, _ = run(capsys, "protocols", "crps")
    assert "max_rate_mg_per_h: 25" in out
    assert "not to exceed 25 mg/h" in out
    code, out, _ = run(capsys, "protocols")
    assert "at most 25 mg/h" in out
    assert "[dose: over_40_min; series: six_in_2_3_weeks; booster: every_3_6_weeks]" in out


def test_protocols_check_seeds_finds_every_quote_or_names_the_missing_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seeds = Path(__file__).resolve().parents[3] / "shared" / "seeds"
    if seeds.is_dir():
        code, out, _ = run(capsys, "protocols", "--check-seeds", str(seeds))
        assert code == 0
        assert "seed quotes found word for word" in out
    empty = tmp_path / "seeds"
    empty.mkdir()
    (empty / "000_2e78e97927341481.txt").write_text("nothing the catalog quotes")
    code, out, _ = run(capsys, "protocols", "--check-seeds", str(empty))
    assert code == 1
    assert "quote not found in 000_2e78e97927341481.txt" in out
    assert "seed file" in out


def test_the_requested_dose_help_says_it_is_the_total_over_the_infusion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["plan", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "total given over the whole infusion" in shown
    assert "not per hour" in shown
