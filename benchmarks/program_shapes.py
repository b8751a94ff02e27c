"""What kinds of P-CoT programs a model writes, and how often each kind is right, against a baseline model.

A program's shape is the set of arithmetic operators it applies (`+`, `-`, `*`, `/`, `//`, `%`, `**`), read from its
syntax tree: the programs are parsed, never run. For each split it prints, per shape, how many greedy programs of
each model have it and how many of those are correct, then the questions grouped by the shape of the baseline's
program, with both models' accuracy on them: where a model gained or lost, and whether it stopped writing the
programs the baseline wrote (RL that trades two-step programs for one-step ones shows as "+-" shrinking and "+"
growing). Each `--model NAME=FOLDER` is an evaluation folder of `bench_learning_svamp.py` (`<run>/eval/<model>`, with
`test/` and `dev/` inside); the first is the baseline, the others are each set against it.

With `--svamp_equations SVAMP.json` (the original challenge set, `Equation` per question), the questions found there
(by their text: the ReFT authors' test file words 58 of its 1,000 questions differently) are also grouped by the
operators their reference equation needs, with each model's correct answers and how many of its programs apply
exactly those operators (`//` counting as `/`, `%` ignored).

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

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from compare_learning_runs import SPLITS, named_folder, read_records  # noqa: E402

OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
UNPARSABLE = "unparsable"
NO_ARITHMETIC = "none"
MAX_PROGRAM_CHARS = 20_000
"""Longer completions are not parsed (a greedy P-CoT completion is a few hundred characters)."""


def program_shape(program: str) -> str:
    """The operators a program applies, in a fixed order (`"+-"`), `"none"` without arithmetic, or `"unparsable"`.

    `program` is the text after the prompt's `def solution():` opening (the completion), or a whole program.

    >>> program_shape("\\n    a = 3\\n    b = a * 2 + 1\\n    return b")
    '+*'
    >>> program_shape("\\n    return 7"), program_shape("\\n    return (")
    ('none', 'unparsable')
    """
    source = (
        program
        if program.lstrip().startswith("def ")
        else "def solution():" + (program if program.startswith("\n") else "\n" + program)
    )
    if len(source) > MAX_PROGRAM_CHARS:
        return UNPARSABLE
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return UNPARSABLE
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in OPERATORS:
            found.add(OPERATORS[type(node.op)])
    return "".join(symbol for symbol in OPERATORS.values() if symbol in found) or NO_ARITHMETIC


def shapes(folder: str) -> dict[str, tuple[str, bool, str]]:
    """`item_id -> (shape of the first completion, correct, question)` for one evaluation folder's predictions."""
    records = read_records(folder, ("completions", "score", "question"))
    return {
        item: (
            program_shape(record["completions"][0] if record["completions"] else ""),
            float(record["score"]) == 1.0,
            record["question"],
        )
        for item, record in records.items()
    }


def _question_key(text: str) -> str:
    """A question's words and numbers without case, spacing, punctuation or `.0` endings (the ReFT authors' test file
    tokenises and lower-cases SVAMP's questions)."""
    return re.sub(r"[^a-z0-9]", "", re.sub(r"(\d)\.0\b", r"\1", text.lower()))


def equation_shapes(path: str) -> dict[str, str]:
    """Question key -> the operators of its reference equation (`"( 76.0 - 25.0 )"` -> `"-"`), from SVAMP.json."""
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


def _operators(shape: str) -> str:
    """A program's shape as an equation's operators: `//` is division, `%` is left out."""
    return "".join(symbol for symbol in "+-*/" if symbol in shape.replace("%", ""))


def compare(models: dict[str, str], splits=SPLITS, equations: dict[str, str] | None = None) -> dict:
    """Per split: each model's programs by shape (count, correct), the questions grouped by the baseline's program
    shape with each model's accuracy on them and, with `equations` (`equation_shapes`), grouped by the operators
    their reference equation needs."""
    baseline = next(iter(models))
    results = {}
    for split in splits:
        by_model = {name: shapes(os.path.join(folder, split)) for name, folder in models.items()}
        common = sorted(set.intersection(*(set(s) for s in by_model.values())))
        if any(len(s) != len(common) for s in by_model.values()):
            raise SystemExit(
                f"{split}: the models were not evaluated on the same questions ({len(common)} in common)."
            )
        written = {name: Counter(s[item][0] for item in common) for name, s in by_model.items()}
        right = {name: Counter(s[item][0] for item in common if s[item][1]) for name, s in by_model.items()}
        groups: dict[str, dict[str, int]] = {}
        for item in common:
            group = groups.setdefault(by_model[baseline][item][0], {"n": 0, **{name: 0 for name in models}})
            group["n"] += 1
            for name, s in by_model.items():
                group[name] += s[item][1]
        order = [shape for shape, _ in written[baseline].most_common()]
        order += sorted({shape for counts in written.values() for shape in counts} - set(order))
        results[split] = {
            "n": len(common),
            "baseline": baseline,
            "programs": {
                shape: {name: {"written": written[name][shape], "correct": right[name][shape]} for name in models}
                for shape in order
            },
            "by_baseline_shape": {shape: groups[shape] for shape in order if shape in groups},
        }
        if equations is not None:
            results[split]["by_equation"] = _by_equation(by_model, common, equations)
    return results


def _by_equation(by_model: dict, common: list[str], equations: dict[str, str]) -> dict:
    """Questions grouped by their reference equation's operators: per model, correct answers and programs applying
    exactly those operators; questions not found in the equations file are counted apart."""
    baseline = next(iter(by_model.values()))
    needed = {item: equations.get(_question_key(baseline[item][2])) for item in common}
    groups: dict[str, dict] = {}
    for item, operators in needed.items():
        if operators is None:
            continue
        group = groups.setdefault(
            operators, {"n": 0, **{name: {"correct": 0, "same_operators": 0} for name in by_model}}
        )
        group["n"] += 1
        for name, s in by_model.items():
            group[name]["correct"] += s[item][1]
            group[name]["same_operators"] += _operators(s[item][0]) == operators
    ordered = dict(sorted(groups.items(), key=lambda pair: (-pair[1]["n"], pair[0])))
    return {"matched": sum(op is not None for op in needed.values()), "groups": ordered}


def markdown(results: dict) -> str:
    lines = []
    for split, result in results.items():
        names = list(next(iter(result["programs"].values())))
        baseline = result["baseline"]
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
            lines.append(f"| {shape} | {group['n']} | " + " | ".join(str(group[name]) for name in names) + " |")
        if "by_equation" in result:
            lines += _equation_markdown(split, result["n"], result["by_equation"], names)
    return "\n".join(lines)


def _equation_markdown(split: str, n: int, by_equation: dict, names: list[str]) -> list[str]:
    if not by_equation["matched"]:
        return [f"\n{split}: none of the {n} questions is in the equations file.\n"]
    lines = [
        f"\n{split}: the {by_equation['matched']} of {n} questions found in the equations file, by the operators their "
        "equation needs: correct answers / programs applying exactly those operators\n",
        "| equation | questions | " + " | ".join(names) + " |",
        "| --- | --- |" + " --- |" * len(names),
    ]
    for operators, group in by_equation["groups"].items():
        cells = [f"{group[name]['correct']} / {group[name]['same_operators']}" for name in names]
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
    equations = equation_shapes(args.svamp_equations) if args.svamp_equations else None
    results = compare(models, args.splits, equations)
    print(markdown(results))
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
