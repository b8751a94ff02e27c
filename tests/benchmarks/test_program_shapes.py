"""`benchmarks/program_shapes.py`: P-CoT programs grouped by the operators they apply, read without running them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.utils import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "program_shapes.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


@pytest.mark.parametrize(
    ("completion", "shape", "operators"),
    [
        ("\n    a = 3\n    b = a * 2 + 1\n    return b", "+*", "+*"),
        (
            "    total = 5\n    total -= 2\n    return total",
            "-",
            "-",
        ),  # augmented assignment, body without its newline
        ("def solution():\n    return 7 // 2 % 3", "//%", "/"),  # a whole program; `//` is division, `%` left out
        ("\n    return 2 ** 3 / 4", "/**", "/"),  # a power is not a multiplication
        ("\n    x = -3\n    return x", "none", ""),  # a unary minus is not an operation between two numbers
        ("\n    return (", "unparsable", None),
        ("\n    import os\n    os.system('echo ran')\n    return 1", "none", ""),  # parsed, never run
        ("    def half(x):\n        return x / 2\n    return half(8)", "/", "/"),  # a body opening with a nested def
        ("\n    return 4 - 1\nThe answer is 3.", "-", "-"),  # prose after the program, cut as the evaluator cuts it
        ("\n    return 4 - 1\n\ndef solution():\n    return 4 + 1", "+", "+"),  # the last definition is the one run
    ],
)
def test_read_program(script, completion, shape, operators):
    assert script.read_program(completion) == (shape, operators)
    assert script.program_shape(completion) == shape


def test_a_very_long_or_deeply_nested_program_is_unparsable_not_an_error(script):
    assert script.program_shape("\n    return " + "(" * 5000 + "1" + ")" * 5000) == "unparsable"
    assert script.program_shape("\n    return " + " + ".join(["1"] * 20_000)) == "unparsable"  # over the length bound


def _write(folder: Path, programs: dict[str, tuple], split: str = "dev") -> None:
    """Prediction records from `item_id -> (completion, score[, question])`."""
    (folder / split).mkdir(parents=True)
    lines = []
    for item, (completion, score, *question) in programs.items():
        record = {"item_id": item, "question": question[0] if question else f"Question {item} ?",
                  "completions": [completion], "score": score}  # fmt: skip
        lines.append(json.dumps(record) + "\n")
    (folder / split / "svamp-pcot-greedy.predictions.jsonl").write_text("".join(lines))


def test_counts_shapes_and_groups_questions_by_the_baselines_shape(script, tmp_path, capsys):
    two_step, one_step = "\n    return 5 + 3 - 2", "\n    return 5 + 3"
    _write(tmp_path / "w", {"q1": (two_step, 1.0), "q2": (two_step, 0.0), "q3": (one_step, 0.1), "q4": ("(", 0.0)})
    _write(
        tmp_path / "r", {"q4": (one_step, 1.0), "q3": (one_step, 1.0), "q2": (one_step, 1.0), "q1": (one_step, 0.0)}
    )
    results = script.main(["--model", f"W={tmp_path / 'w'}", "--model", f"n={tmp_path / 'r'}", "--splits", "dev"])
    dev = results["dev"]
    assert dev["n"] == 4 and dev["models"] == ["W", "n"]  # a model may be called "n"
    assert dev["programs"]["+-"] == {"W": {"written": 2, "correct": 1}, "n": {"written": 0, "correct": 0}}
    assert dev["programs"]["+"] == {
        "W": {"written": 1, "correct": 0},
        "n": {"written": 4, "correct": 3},
    }  # 0.1 is wrong
    assert dev["programs"]["unparsable"]["W"] == {"written": 1, "correct": 0}
    assert list(dev["programs"])[0] == "+-"  # the baseline's commonest shape first
    assert dev["by_baseline_shape"] == {
        "+-": {"n": 2, "correct": {"W": 1, "n": 1}},
        "+": {"n": 1, "correct": {"W": 0, "n": 1}},
        "unparsable": {"n": 1, "correct": {"W": 0, "n": 1}},
    }
    printed = capsys.readouterr().out
    assert "| +- | 2 (1) | 0 (0) |" in printed and "| +- | 2 | 1 | 1 |" in printed


def test_reads_the_chosen_completion(script, tmp_path):
    (tmp_path / "w" / "dev").mkdir(parents=True)
    record = {"item_id": "q1", "question": "?", "completions": ["\n    return 1 + 1", "\n    return 4 * 2"],
              "chosen_index": 1, "score": 1.0}  # fmt: skip
    (tmp_path / "w" / "dev" / "x.predictions.jsonl").write_text(json.dumps(record) + "\n")
    assert script.answers(str(tmp_path / "w" / "dev"))["q1"].program.shape == "*"


def test_refuses_models_evaluated_on_other_questions(script, tmp_path):
    _write(tmp_path / "w", {"q1": ("\n    return 1 + 1", 1.0), "q2": ("\n    return 1", 0.0)})
    _write(tmp_path / "r", {"q1": ("\n    return 1 + 1", 1.0)})
    with pytest.raises(SystemExit, match="not evaluated on the same questions"):
        script.main(["--model", f"W={tmp_path / 'w'}", "--model", f"R={tmp_path / 'r'}", "--splits", "dev"])


def test_names_the_line_of_a_record_without_completions(script, tmp_path):
    (tmp_path / "w" / "dev").mkdir(parents=True)
    (tmp_path / "w" / "dev" / "x.predictions.jsonl").write_text(json.dumps({"item_id": "q1", "score": 1.0}) + "\n")
    with pytest.raises(SystemExit, match=r"line 1: not a prediction record \('completions, question'\)"):
        script.main(["--model", f"W={tmp_path / 'w'}", "--model", f"R={tmp_path / 'w'}", "--splits", "dev"])


def test_groups_by_the_operators_of_svamp_reference_equations(script, tmp_path, capsys):
    equations = tmp_path / "SVAMP.json"
    equations.write_text(json.dumps([
        {"Body": "Tom had 8.0 apples", "Question": "?", "Equation": "( 8.0 - 2.0 )"},  # `8` in the test file
        {"Body": "Question  Q2.", "Question": "?", "Equation": "( ( 5.0 + 3.0 ) - 2.0 )"},  # other case and spacing
        {"Body": "Question q3", "Question": "?", "Equation": "( 9.0 / 3.0 )"},
        {"Body": "Question q5", "Question": "?", "Equation": "7.0"},  # no operator
    ]))  # fmt: skip
    _write(tmp_path / "w", {"q1": ("\n    return 8 - 2", 1.0, "tom had 8 apples ?"), "q2": ("\n    return 5 + 3", 0.0),
                            "q3": ("\n    return 9 // 3", 1.0), "q4": ("\n    return 1", 0.0),
                            "q5": ("\n    return (", 0.0)})  # fmt: skip
    _write(tmp_path / "r", {"q1": ("\n    return 8 + 2", 0.0), "q2": ("\n    return 5 + 3 - 2", 1.0),
                            "q3": ("\n    return 9 / 3 % 7", 1.0), "q4": ("\n    return 1", 0.0),
                            "q5": ("\n    return 7", 1.0)})  # fmt: skip
    argv = ["--model", f"W={tmp_path / 'w'}", "--model", f"R={tmp_path / 'r'}", "--splits", "dev"]
    by_equation = script.main([*argv, "--svamp_equations", str(equations)])["dev"]["by_equation"]
    assert by_equation["matched"] == 4  # q4 is not in the file

    def counts(correct, same, same_correct):
        return {"correct": correct, "same_operators": same, "same_operators_correct": same_correct}

    assert by_equation["groups"] == {
        "+-": {"n": 1, "models": {"W": counts(0, 0, 0), "R": counts(1, 1, 1)}},
        "-": {"n": 1, "models": {"W": counts(1, 1, 1), "R": counts(0, 0, 0)}},
        "/": {"n": 1, "models": {"W": counts(1, 1, 1), "R": counts(1, 1, 1)}},  # `//` is `/`, `%` left out
        "": {"n": 1, "models": {"W": counts(0, 0, 0), "R": counts(1, 1, 1)}},  # unparsable is not "no operator"
    }
    assert "| +- | 1 | 0 / 0 (0) | 1 / 1 (1) |" in capsys.readouterr().out
    equations.write_text(json.dumps([{"Body": "no equation"}]))
    with pytest.raises(SystemExit, match="--svamp_equations .*SVAMP.json: not SVAMP.json's list"):
        script.main([*argv, "--svamp_equations", str(equations)])


def test_says_when_no_question_is_in_the_equations_file(script, tmp_path, capsys):
    equations = tmp_path / "SVAMP.json"
    equations.write_text(json.dumps([{"Body": "Other", "Question": "?", "Equation": "( 1.0 + 1.0 )"}]))
    _write(tmp_path / "w", {"q1": ("\n    return 1 + 1", 1.0)})
    argv = ["--model", f"W={tmp_path / 'w'}", "--splits", "dev", "--svamp_equations", str(equations)]
    assert script.main(argv)["dev"]["by_equation"] == {"matched": 0, "groups": {}}
    assert "dev: none of the 1 questions is in the equations file." in capsys.readouterr().out
