"""`benchmarks/summarize_seeds.py`: several seeds of each method against one baseline, or each against its own."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.utils import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "summarize_seeds.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def _write(folder: Path, correct: list[int], split: str = "test") -> str:
    """Predictions for questions q0, q1, ...: score 1 where `correct` says so, else a partial 0.1 (not correct)."""
    (folder / split).mkdir(parents=True)
    lines = "".join(json.dumps({"item_id": f"q{i}", "score": 1.0 if c else 0.1}) + "\n" for i, c in enumerate(correct))
    (folder / split / "svamp-pcot-greedy.predictions.jsonl").write_text(lines)
    return str(folder)


def _solving(count: int, n: int = 100) -> list[int]:
    return [1] * count + [0] * (n - count)


def test_t_quantiles_match_the_closed_forms_and_the_tables(script):
    for p in (0.9, 0.975, 0.995):
        assert script.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-9)  # Cauchy
        assert script.t_quantile(p, 2) == pytest.approx((2 * p - 1) / math.sqrt(2 * p * (1 - p)), rel=1e-9)
    assert script.t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert script.t_quantile(0.975, 2) < script.t_quantile(0.975, 1.5) < script.t_quantile(0.975, 1)  # fractional df


def test_each_methods_mean_gain_has_a_t_interval_over_its_seeds(script, tmp_path, capsys):
    base = _write(tmp_path / "warm-up", _solving(10))
    runs = [
        ("ReFT", _write(tmp_path / "r1", _solving(11))),  # gains +1, +2, +3 points
        ("ReFT", _write(tmp_path / "r2", _solving(12))),
        ("ReFT", _write(tmp_path / "r3", _solving(13))),
        ("SFT", _write(tmp_path / "s1", _solving(10))),  # gains 0, +2
        ("SFT", _write(tmp_path / "s2", _solving(12))),
    ]
    argv = [
        "--baseline",
        f"warm-up={base}",
        *(f"--run={m}={f}" for m, f in runs),
        "--output",
        str(tmp_path / "s.json"),
    ]
    summary = script.main(argv)
    reft, sft = summary["methods"]["ReFT"], summary["methods"]["SFT"]
    assert [r["gain"] for r in summary["runs"]] == pytest.approx([0.01, 0.02, 0.03, 0.0, 0.02])
    half = 4.302653 * 0.01 / math.sqrt(3)  # t(0.975, 2) x sd / sqrt(n)
    assert (reft["n"], reft["mean"], reft["sd"]) == (3, pytest.approx(0.02), pytest.approx(0.01))
    assert (reft["low"], reft["high"]) == (pytest.approx(0.02 - half, abs=1e-6), pytest.approx(0.02 + half, abs=1e-6))
    assert sft["mean"] == pytest.approx(0.01) and sft["mean_accuracy"] == pytest.approx(0.11)
    # Welch: variances of the means 1e-4 / 3 and 2e-4 / 2, df = (1.333e-4)^2 / ((3.333e-5)^2 / 2 + (1e-4)^2 / 1).
    welch = summary["against_first"]["SFT"]
    va, vb = 1e-4 / 3, 2e-4 / 2
    assert welch["difference"] == pytest.approx(-0.01)
    assert welch["df"] == pytest.approx((va + vb) ** 2 / (va**2 / 2 + vb**2 / 1))
    assert welch["high"] - welch["difference"] == pytest.approx(
        script.t_quantile(0.975, welch["df"]) * math.sqrt(va + vb)
    )
    # The questions' bootstrap of ReFT's seed-averaged correctness: per question +1, +2/3 and +1/3 on questions 10-12,
    # 0 elsewhere; a resample's mean is never negative and at most 3 x 0.02 (all 100 draws the gaining question).
    assert 0 <= reft["questions_low"] < 0.02 < reft["questions_high"] < 0.06
    assert json.loads((tmp_path / "s.json").read_text())["methods"]["ReFT"]["n"] == 3
    out = capsys.readouterr().out
    assert "| ReFT | 3 | 12.0 % | +2.0 | 1.0 | -0.5 to +4.5 |" in out
    assert "| SFT | -1.0 |" in out


def test_one_seed_has_no_interval(script, tmp_path, capsys):
    base = _write(tmp_path / "warm-up", _solving(10))
    summary = script.main(["--baseline", f"w={base}", "--run", f"ReFT={_write(tmp_path / 'r', _solving(15))}"])
    assert summary["methods"]["ReFT"]["low"] is None and summary["against_first"] == {}
    assert "| ReFT | 1 | 15.0 % | +5.0 | - | - to - |" in capsys.readouterr().out


def test_refuses_a_run_evaluated_on_other_questions(script, tmp_path):
    base = _write(tmp_path / "warm-up", _solving(10))
    short = _write(tmp_path / "r", _solving(10, n=99))
    with pytest.raises(SystemExit, match=r"r was not evaluated on the baseline's 100 questions"):
        script.main(["--baseline", f"w={base}", "--run", f"ReFT={short}"])


def test_refuses_a_run_without_a_folder(script, tmp_path):
    with pytest.raises(SystemExit, match="--run 'ReFT': expected NAME=FOLDER"):
        script.main(["--baseline", f"w={tmp_path}", "--run", "ReFT"])


def test_one_seed_against_several_and_seeds_all_alike_give_no_interval(script, tmp_path, capsys):
    """Not a zero-width interval, which would read as certainty: "-" where no spread can be estimated."""
    base = _write(tmp_path / "warm-up", _solving(10))
    runs = [("ReFT", _write(tmp_path / f"r{i}", _solving(12))) for i in range(2)]  # +2, +2: no spread
    runs += [("SFT", _write(tmp_path / "s", _solving(11)))]
    summary = script.main(["--baseline", f"w={base}", *(f"--run={m}={f}" for m, f in runs)])
    reft, welch = summary["methods"]["ReFT"], summary["against_first"]["SFT"]
    assert (reft["mean"], reft["sd"], reft["low"], reft["high"]) == (pytest.approx(0.02), 0.0, None, None)
    assert welch == {"difference": pytest.approx(-0.01), "df": None, "low": None, "high": None}
    out = capsys.readouterr().out
    assert "| ReFT | 2 | 12.0 % | +2.0 | 0.0 | - to - |" in out and "| SFT | -1.0 | - to - | - |" in out
    assert script.welch_interval([0.01, 0.01], [0.02, 0.02])["low"] is None


def test_refuses_a_folder_given_twice(script, tmp_path):
    """The same run counted as two seeds would shrink the spread; the baseline as a run is as wrong."""
    base = _write(tmp_path / "warm-up", _solving(10))
    run = _write(tmp_path / "r", _solving(12))
    for runs in ([run, run], [run, f"{tmp_path}/./r"], [base]):
        with pytest.raises(SystemExit, match="must be a different folder; given more than once"):
            script.main(["--baseline", f"w={base}", *(f"--run=ReFT={f}" for f in runs)])


def _between(start: int, stop: int, n: int = 100) -> list[int]:
    return [int(start <= i < stop) for i in range(n)]


def test_one_baseline_gives_the_markdown_as_before(script, tmp_path, capsys):
    """Byte for byte the output before baselines could be several (no `against` column, the baseline named)."""
    base = _write(tmp_path / "warm-up", _solving(10))
    r1, r2, s = (_write(tmp_path / name, _solving(count)) for name, count in (("r1", 12), ("r2", 15), ("s", 11)))
    script.main(["--baseline", f"w={base}", f"--run=ReFT={r1}", f"--run=ReFT={r2}", f"--run=SFT={s}"])
    assert capsys.readouterr().out == (
        "\ntest (100 questions; w 10.0 %)\n\n"
        "| method | run | accuracy | gain |\n"
        "| --- | --- | --- | --- |\n"
        f"| ReFT | {r1} | 12.0 % | +2.0 |\n"
        f"| ReFT | {r2} | 15.0 % | +5.0 |\n"
        f"| SFT | {s} | 11.0 % | +1.0 |\n\n"
        "| method | seeds | mean accuracy | mean gain over w | sd over seeds | 95 % t-interval (seeds) "
        "| 95 % bootstrap (questions, seed-averaged) |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
        "| ReFT | 2 | 13.5 % | +3.5 | 2.1 | -15.6 to +22.6 | +1.0 to +7.0 |\n"
        "| SFT | 1 | 11.0 % | +1.0 | - | - to - | +0.0 to +3.0 |\n\n"
        "| method | minus ReFT (mean gains) | 95 % Welch interval | df |\n"
        "| --- | --- | --- | --- |\n"
        "| SFT | -2.5 | - to - | - |\n"
    )


def test_each_run_gains_over_its_own_baseline(script, tmp_path, capsys):
    """Two warm-ups solving different questions (10 % and 20 %); each run is measured against the one it started from."""
    w1 = _write(tmp_path / "w1", _solving(10))  # questions 0-9
    w2 = _write(tmp_path / "w2", _between(50, 70))  # questions 50-69
    runs = [
        ("ReFT", _write(tmp_path / "r1", _solving(12))),  # against w1: +2 (questions 10, 11)
        ("ReFT@w2", _write(tmp_path / "r2", _between(50, 74))),  # against w2: +4 (questions 70-73)
        ("ReFT@w2", _write(tmp_path / "r3", _between(50, 73))),  # against w2: +3 (questions 70-72)
        ("SFT@w1", _write(tmp_path / "s1", _solving(11))),  # against w1, named: +1
        ("SFT@w2", _write(tmp_path / "s2", _between(50, 72))),  # against w2: +2
    ]
    argv = ["--baseline", f"w1={w1}", "--baseline", f"w2={w2}", *(f"--run={m}={f}" for m, f in runs)]
    summary = script.main([*argv, "--output", str(tmp_path / "s.json")])
    assert [r["baseline"] for r in summary["runs"]] == ["w1", "w2", "w2", "w1", "w2"]
    assert [r["method"] for r in summary["runs"]] == ["ReFT"] * 3 + ["SFT"] * 2
    assert [r["accuracy"] for r in summary["runs"]] == pytest.approx([0.12, 0.24, 0.23, 0.11, 0.22])
    assert [r["gain"] for r in summary["runs"]] == pytest.approx([0.02, 0.04, 0.03, 0.01, 0.02])
    assert summary["baseline_accuracy"] == pytest.approx(0.1)  # the first baseline's, as before
    assert summary["baselines"] == {
        "w1": {"folder": w1, "accuracy": pytest.approx(0.1)},
        "w2": {"folder": w2, "accuracy": pytest.approx(0.2)},
    }
    reft, sft = summary["methods"]["ReFT"], summary["methods"]["SFT"]
    assert (reft["n"], reft["mean"], reft["sd"]) == (3, pytest.approx(0.03), pytest.approx(0.01))
    assert reft["mean_accuracy"] == pytest.approx((0.12 + 0.24 + 0.23) / 3)
    assert (sft["mean"], summary["against_first"]["SFT"]["difference"]) == (
        pytest.approx(0.015),
        pytest.approx(-0.015),
    )
    # The questions' bootstrap: per question, the mean over the seeds of (run - its own baseline). ReFT: +1/3 on
    # questions 10-11 (seed 1), +2/3 on 70-72 (seeds 2 and 3), +1/3 on 73 (seed 2), 0 elsewhere.
    own = [0.0] * 100
    own[10] = own[11] = own[73] = 1 / 3
    own[70] = own[71] = own[72] = 2 / 3
    # Against w1 throughout, seeds 2 and 3 would gain questions 50-69 and lose 0-9: another interval, around +9.7.
    wrong = [(a + b + c) / 3 - w for a, b, c, w in zip(_solving(12), _between(50, 74), _between(50, 73), _solving(10))]
    expected = script.bootstrap_mean_interval(own)
    assert expected != pytest.approx(script.bootstrap_mean_interval(wrong), abs=0.01)
    assert (reft["questions_low"], reft["questions_high"]) == pytest.approx(expected)
    assert 0 <= reft["questions_low"] < 0.03 < reft["questions_high"]
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["baselines"]["w2"]["folder"] == w2 and saved["runs"][1]["baseline"] == "w2"
    out = capsys.readouterr().out
    assert "test (100 questions; w1 10.0 %, w2 20.0 %)" in out
    assert "| method | run | against | accuracy | gain |\n| --- | --- | --- | --- | --- |" in out
    assert (
        f"| ReFT | {runs[1][1]} | w2 | 24.0 % | +4.0 |" in out
        and f"| SFT | {runs[3][1]} | w1 | 11.0 % | +1.0 |" in out
    )
    assert "| mean gain over its own baseline |" in out


def test_refuses_an_unknown_baseline_name(script, tmp_path):
    w1, w2 = _write(tmp_path / "w1", _solving(10)), _write(tmp_path / "w2", _solving(11))
    run = _write(tmp_path / "r", _solving(12))
    baselines = ["--baseline", f"w1={w1}", "--baseline", f"w2={w2}"]
    for name in ("ReFT@w3", "ReFT@", "@w2"):
        with pytest.raises(SystemExit, match=r"--run '.*': expected METHOD@BASELINE=FOLDER, BASELINE among the "):
            script.main([*baselines, "--run", f"{name}={run}", "--run", f"SFT@w2={w2}"])
    with pytest.raises(SystemExit, match=r"--baseline names \['w1', 'w2'\]"):
        script.main([*baselines, "--run", f"ReFT@w3={run}"])


def test_refuses_a_baseline_no_run_is_measured_against(script, tmp_path):
    """It would be listed beside the others as if it mattered."""
    w1, w2 = _write(tmp_path / "w1", _solving(10)), _write(tmp_path / "w2", _solving(11))
    run = _write(tmp_path / "r", _solving(12))
    with pytest.raises(SystemExit, match=r"--baseline \['w2'\]: no --run is measured against it"):
        script.main(["--baseline", f"w1={w1}", "--baseline", f"w2={w2}", "--run", f"ReFT={run}"])
    with pytest.raises(SystemExit, match=r"--baseline \['w1'\]: no --run"):
        script.main(["--baseline", f"w1={w1}", "--baseline", f"w2={w2}", "--run", f"ReFT@w2={run}"])


def test_refuses_a_baseline_name_given_twice_and_a_baseline_folder_as_a_run(script, tmp_path):
    w1, w2 = _write(tmp_path / "w1", _solving(10)), _write(tmp_path / "w2", _solving(11))
    run = _write(tmp_path / "r", _solving(12))
    with pytest.raises(SystemExit, match="the name 'w' is given twice"):
        script.main(["--baseline", f"w={w1}", "--baseline", f"w={w2}", "--run", f"ReFT={run}"])
    with pytest.raises(SystemExit, match="must be a different folder; given more than once"):
        script.main(["--baseline", f"w1={w1}", "--baseline", f"w2={w2}", "--run", f"ReFT={run}", f"--run=S@w2={w1}"])
    short = _write(tmp_path / "short", _solving(10, n=99))
    with pytest.raises(SystemExit, match=r"short was not evaluated on the first baseline's 100 questions"):
        script.main(
            ["--baseline", f"w1={w1}", "--baseline", f"w2={short}", "--run", f"ReFT={run}", f"--run=S@w2={w2}"]
        )
