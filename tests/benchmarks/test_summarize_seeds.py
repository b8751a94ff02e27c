"""`benchmarks/summarize_seeds.py`: several seeds of each method against one baseline."""

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
