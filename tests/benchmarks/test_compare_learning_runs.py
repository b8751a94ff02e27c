"""`benchmarks/compare_learning_runs.py`: paired comparisons from saved prediction files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.utils import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_learning_runs.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def _write(folder: Path, scores: dict[str, float], compressed: bool, splits=("test", "dev")) -> None:
    for split in splits:
        (folder / split).mkdir(parents=True)
        lines = "".join(json.dumps({"item_id": item, "score": score}) + "\n" for item, score in scores.items())
        name = folder / split / "svamp-pcot-greedy.predictions.jsonl"
        if compressed:
            with gzip.open(f"{name}.gz", "wt") as handle:
                handle.write(lines)
        else:
            name.write_text(lines)


def test_pairs_by_item_id_and_compares_each_pair_once(script, tmp_path, capsys):
    _write(tmp_path / "a", {"q1": 1.0, "q2": 0.0, "q3": 0.0, "q4": 0.1}, compressed=True)
    _write(tmp_path / "b", {"q4": 1.0, "q3": 1.0, "q2": 0.0, "q1": 1.0}, compressed=False)  # other order
    _write(tmp_path / "c", {"q1": 0.0, "q2": 0.0, "q3": 0.0, "q4": 0.0}, compressed=False)
    results = script.main(["--model", f"A={tmp_path / 'a'}", "--model", f"B={tmp_path / 'b'}",
                           "--model", f"C={tmp_path / 'c'}", "--also_against", "B"])  # fmt: skip
    test = results["test"]
    assert test["n"] == 4
    assert test["accuracy"] == {"A": 0.25, "B": 0.75, "C": 0.0}  # a partial 0.1 is not correct
    pairs = [(row["model"], row["baseline"], row["b_only"], row["a_only"]) for row in test["pairs"]]
    assert pairs == [("B", "A", 2, 0), ("C", "A", 0, 1), ("C", "B", 0, 3)]
    assert "| B | A | 75.0 % | 25.0 % | +50.0 |" in capsys.readouterr().out


def test_refuses_a_folder_without_predictions(script, tmp_path):
    (tmp_path / "empty" / "test").mkdir(parents=True)
    with pytest.raises(SystemExit, match="Expected one predictions file"):
        script.main(["--model", f"A={tmp_path / 'empty'}", "--model", f"B={tmp_path / 'empty'}"])


def test_refuses_models_evaluated_on_different_questions(script, tmp_path):
    _write(tmp_path / "a", {"q1": 1.0, "q2": 0.0}, compressed=False)
    _write(tmp_path / "b", {"q1": 1.0, "q2": 0.0, "q3": 1.0}, compressed=False)  # or a's evaluation was cut short
    with pytest.raises(SystemExit, match="not evaluated on the same questions \\(2 in common; B has 1 others\\)"):
        script.main(["--model", f"A={tmp_path / 'a'}", "--model", f"B={tmp_path / 'b'}"])


def test_dev_alone_is_compared_when_asked(script, tmp_path):
    """Runs evaluated with `--splits dev` (settings chosen without the test set) have no test folder."""
    _write(tmp_path / "a", {"q1": 1.0, "q2": 0.0}, compressed=False, splits=("dev",))
    _write(tmp_path / "b", {"q1": 1.0, "q2": 1.0}, compressed=False, splits=("dev",))
    models = ["--model", f"A={tmp_path / 'a'}", "--model", f"B={tmp_path / 'b'}"]
    results = script.main([*models, "--splits", "dev"])
    assert list(results) == ["dev"] and results["dev"]["pairs"][0]["difference"] == 0.5
    with pytest.raises(SystemExit, match="Expected one predictions file.*choose them with --splits"):
        script.main(models)


def test_prints_small_p_values_in_full(script, tmp_path, capsys):
    """A p-value below 0.001 is printed with its exponent (2 x 0.5^20), not rounded to 0.000."""
    _write(tmp_path / "a", {f"q{i}": 0.0 for i in range(20)}, compressed=False)
    _write(tmp_path / "b", {f"q{i}": 1.0 for i in range(20)}, compressed=False)
    script.main(["--model", f"A={tmp_path / 'a'}", "--model", f"B={tmp_path / 'b'}", "--splits", "test"])
    assert "| 20 / 0 | 1.91e-06 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("line", "why"), [('{"item_id": "q2"}', "'score'"), ('{"item_id": "q2", "score": "x"}', "could not convert")]
)
def test_names_the_line_of_a_broken_record(script, tmp_path, line, why):
    (tmp_path / "a" / "test").mkdir(parents=True)
    good = json.dumps({"item_id": "q1", "score": 1.0})
    (tmp_path / "a" / "test" / "x.predictions.jsonl").write_text(f"{good}\n{line}\n")
    with pytest.raises(SystemExit, match=rf"x\.predictions\.jsonl, line 2: not a prediction record \({why}"):
        script.read_scores(str(tmp_path / "a" / "test"))
