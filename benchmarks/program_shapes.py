"""What kinds of P-CoT programs a model writes, and how often each kind is right, against a baseline model.

A program's shape is the set of arithmetic operators it applies (`+`, `-`, `*`, `/`, `//`, `%`, `**`), read from the
syntax tree of the program the evaluator runs (`reft_trl.rewards.pcot.program_source`: prose around it cut, the last
`solution` defined): the programs are parsed, never run. For each split it prints, per shape, how many of each
model's chosen programs have it and how many of those are correct, then the questions grouped by the shape of the
baseline's program, with each model's correct answers on them: where a model gained or lost, and whether it stopped
writing the programs the baseline wrote (fewer two-step programs show as "+-" shrinking and "+" growing). Each
`--model NAME=FOLDER` is an evaluation folder of `bench_learning_svamp.py` (`<run>/eval/<model>`, with `test/` and
`dev/` inside); the first is the baseline, the others are each set against it.

With `--svamp_equations SVAMP.json` (the original challenge set, `Equation` per question), the questions found there
(by their text: the ReFT authors' test file words 58 of its 1,000 questions differently) are also grouped by the kinds
of operator their reference equation applies, with each model's correct answers, how many of its programs apply
exactly those operators (`//` counting as `/`; `%` and `**` left out) and how many of those are correct.

    python benchmarks/program_shapes.py \\
        --model warm-up=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up \\
        --model ReFT=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/ppo --splits test \\
        --svamp_equations ../shared/data/svamp/SVAMP.json
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
from collections import Counter
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare_learning_runs import SPLITS, named_folder, read_records  # noqa: E402

from reft_trl.rewards.pcot import program_source  # noqa: E402

OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
EQUATION_OPERATORS = {"+": "+", "-": "-", "*": "*", "/": "/", "//": "/"}
"""A program's operators as an equation's: floor division is division; `%` and `**` have no counterpart."""
UNPARSABLE = "unparsable"
NO_ARITHMETIC = "none"
MAX_PROGRAM_CHARS = 20_000
"""Longer completions are not parsed (a greedy P-CoT completion is a few hundred characters)."""


class Program(NamedTuple):
    shape: str
    """The operators applied, in `OPERATORS`' order (`"+-"`), `"none"` or `"unparsable"`."""
    operators: str | None
    """The equation operators applied (`"+-/"`, `""` without arithmetic), None when unparsable."""


def read_program(completion: str) -> Program:
    """The shape of the program a P-CoT completion stands for.

    `completion` is the text after the prompt's `def solution():` opening, or a whole program.

    >>> read_program("\\n    a = 3\\n    b = a * 2 // 1\\n    return b")
    Program(shape='*//', operators='*/')
    >>> read_program("\\n    return 7").shape, read_program("\\n    return (").shape
    ('none', 'unparsable')
    """
    source = (
        completion
        if completion.startswith("def ")
        else "def solution():" + (completion if completion.startswith("\n") else "\n" + completion)
    )
    if len(source) > MAX_PROGRAM_CHARS:
        return Program(UNPARSABLE, None)
    try:
        tree = ast.parse(program_source(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Program(UNPARSABLE, None)
    solutions = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "solution"]
    found = set()
    for node in ast.walk(solutions[-1] if solutions else tree):  # the last definition is the one that runs
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in OPERATORS:
            found.add(OPERATORS[type(node.op)])
    shape = "".join(symbol for symbol in OPERATORS.values() if symbol in found) or NO_ARITHMETIC
    operators = {EQUATION_OPERATORS[symbol] for symbol in found if symbol in EQUATION_OPERATORS}
    return Program(shape, "".join(symbol for symbol in "+-*/" if symbol in operators))


def program_shape(completion: str) -> str:
    """`read_program(completion).shape`.

    >>> program_shape("\\n    a = 3\\n    b = a * 2 + 1\\n    return b")
    '+*'
    """
    return read_program(completion).shape


class Answer(NamedTuple):
    program: Program
    correct: bool
    question: str


def answers(folder: str) -> dict[str, Answer]:
    """`item_id -> Answer` (the chosen completion's program) for one evaluation folder's predictions."""
    records = read_records(folder, ("completions", "score", "question"))
    result = {}
    for item, record in records.items():
        chosen = record.get("chosen_index")
        completions = record["completions"]
        completion = completions[chosen or 0] if completions else ""
        result[item] = Answer(read_program(completion), float(record["score"]) == 1.0, record["question"])
    return result


def _question_key(text: str) -> str:
    """A question's words and numbers without case, spacing, punctuation or `.0` endings (the ReFT authors' test file
    tokenises and lower-cases SVAMP's questions)."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"(\d)\.0\b", r"\1", text.lower()))


def equation_operators(path: str) -> dict[str, str]:
    """Question key -> the operators of its reference equation (`"( ( 5.0 + 3.0 ) - 2.0 )"` -> `"+-"`), from
    SVAMP.json."""
    try:
        with open(path, encoding="utf-8") as handle:
            rows = json.load(handle)
        return {
            _question_key(row["Body"] + " " + row["Question"]): "".join(
                symbol for symbol in "+-*/" if f" {symbol} " in f" {row['Equation']} "
            )
            for row in rows
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SystemExit(
            f"--svamp_equations {path}: not SVAMP.json's list of Body / Question / Equation ({error})."
        ) from error


def compare(models: dict[str, str], splits=SPLITS, equations: dict[str, str] | None = None) -> dict:
    """Per split: each model's programs by shape (written, correct), the questions grouped by the baseline's program
    shape with each model's correct answers on them and, with `equations` (`equation_operators`), grouped by the
    operators their reference equation needs."""
    baseline = next(iter(models))
    results = {}
    for split in splits:
        by_model = {name: answers(os.path.join(folder, split)) for name, folder in models.items()}
        common = sorted(set.intersection(*(set(s) for s in by_model.values())))
        if any(len(s) != len(common) for s in by_model.values()):
            raise SystemExit(
                f"{split}: the models were not evaluated on the same questions ({len(common)} in common)."
            )
        written = {name: Counter(s[item].program.shape for item in common) for name, s in by_model.items()}
        right = {
            name: Counter(s[item].program.shape for item in common if s[item].correct) for name, s in by_model.items()
        }
        groups: dict[str, dict] = {}
        for item in common:
            group = groups.setdefault(by_model[baseline][item].program.shape, {"n": 0, "correct": Counter()})
            group["n"] += 1
            for name, s in by_model.items():
                group["correct"][name] += s[item].correct
        order = [shape for shape, _ in written[baseline].most_common()]
        order += sorted({shape for counts in written.values() for shape in counts} - set(order))
        results[split] = {
            "n": len(common),
            "models": list(models),
            "programs": {
                shape: {name: {"written": written[name][shape], "correct": right[name][shape]} for name in models}
                for shape in order
            },
            "by_baseline_shape": {
                shape: {"n": groups[shape]["n"], "correct": {name: groups[shape]["correct"][name] for name in models}}
                for shape in order
                if shape in groups
            },
        }
        if equations is not None:
            results[split]["by_equation"] = _by_equation(by_model, common, equations)
    return results


def _by_equation(by_model: dict[str, dict[str, Answer]], common: list[str], equations: dict[str, str]) -> dict:
    """Questions grouped by their reference equation's operators: per model, correct answers, programs applying
    exactly those operators and those of them correct; questions not in the equations file are left out."""
    baseline = next(iter(by_model.values()))
    needed = {item: equations.get(_question_key(baseline[item].question)) for item in common}
    groups: dict[str, dict] = {}
    for item, operators in needed.items():
        if operators is None:
            continue
        counts = {name: {"correct": 0, "same_operators": 0, "same_operators_correct": 0} for name in by_model}
        group = groups.setdefault(operators, {"n": 0, "models": counts})
        group["n"] += 1
        for name, s in by_model.items():
            same = s[item].program.operators == operators
            group["models"][name]["correct"] += s[item].correct
            group["models"][name]["same_operators"] += same
            group["models"][name]["same_operators_correct"] += same and s[item].correct
    ordered = dict(sorted(groups.items(), key=lambda pair: (-pair[1]["n"], pair[0])))
    return {"matched": sum(operators is not None for operators in needed.values()), "groups": ordered}


def markdown(results: dict) -> str:
    lines = []
    for split, result in results.items():
        names, baseline = result["models"], result["models"][0]
        lines += [
            f"\n{split} ({result['n']} questions): programs by shape, written (correct)\n",
            "| shape | " + " | ".join(names) + " |",
            "| --- |" + " --- |" * len(names),
        ]
        for shape, counts in result["programs"].items():
            cells = [f"{counts[name]['written']} ({counts[name]['correct']})" for name in names]
            lines.append(f"| {shape} | " + " | ".join(cells) + " |")
        lines += [
            f"\n{split}: questions by the shape of {baseline}'s program, correct answers of each model\n",
            f"| {baseline} shape | questions | " + " | ".join(names) + " |",
            "| --- | --- |" + " --- |" * len(names),
        ]
        for shape, group in result["by_baseline_shape"].items():
            cells = [str(group["correct"][name]) for name in names]
            lines.append(f"| {shape} | {group['n']} | " + " | ".join(cells) + " |")
        if "by_equation" in result:
            lines += _equation_markdown(split, result["n"], result["by_equation"], names)
    return "\n".join(lines)


def _equation_markdown(split: str, n: int, by_equation: dict, names: list[str]) -> list[str]:
    if not by_equation["matched"]:
        return [f"\n{split}: none of the {n} questions is in the equations file.\n"]
    lines = [
        f"\n{split}: the {by_equation['matched']} of {n} questions found in the equations file, by the operators their "
        "equation applies: correct answers / programs applying exactly those operators (of them correct)\n",
        "| equation | questions | " + " | ".join(names) + " |",
        "| --- | --- |" + " --- |" * len(names),
    ]
    for operators, group in by_equation["groups"].items():
        counts = group["models"]
        cells = [
            f"{counts[name]['correct']} / {counts[name]['same_operators']} ({counts[name]['same_operators_correct']})"
            for name in names
        ]
        lines.append(f"| {operators or NO_ARITHMETIC} | {group['n']} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=FOLDER; the first is the baseline")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits compared")
    parser.add_argument("--output", default=None, help="write the tables as JSON here")
    parser.add_argument(
        "--svamp_equations", default=None,
        help="SVAMP.json (the original challenge set): also group the questions by their equation's operators",
    )  # fmt: skip
    args = parser.parse_args(argv)
    models = dict(named_folder("--model", item) for item in args.model)
    equations = equation_operators(args.svamp_equations) if args.svamp_equations else None
    results = compare(models, args.splits, equations)
    print(markdown(results))
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
