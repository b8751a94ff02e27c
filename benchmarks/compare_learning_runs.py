"""Paired comparisons between the models of several learning-benchmark runs, from their saved greedy predictions.

Each `--model NAME=FOLDER` is an evaluation folder written by `bench_learning_svamp.py` (`<run>/eval/<model>`, with
`test/` and `dev/` inside, predictions as `.jsonl` or `.jsonl.gz`). Every model is compared with the first one (the
baseline, normally the warm-up) and, with `--also_against`, with that model too; questions are paired by `item_id`.

    python benchmarks/compare_learning_runs.py \\
        --model warm-up=benchmarks/results/learning_svamp_pcot_ppo/eval/warm-up \\
        --model ReFT=benchmarks/results/learning_svamp_pcot_ppo/eval/ppo \\
        --model GRPO=benchmarks/results/learning_svamp_pcot_grpo/eval/grpo --also_against ReFT
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

SPLITS = ("test", "dev")


def read_scores(folder: str) -> dict[str, float]:
    """`item_id -> score` from the one predictions file in `folder` (plain or gzipped JSON lines)."""
    return {item: float(record["score"]) for item, record in read_records(folder, ("score",)).items()}


def read_records(folder: str, fields=("score",)) -> dict[str, dict]:
    """`item_id -> record` from the one predictions file in `folder` (plain or gzipped JSON lines), each record
    holding `fields`."""
    paths = glob.glob(os.path.join(folder, "*.predictions.jsonl")) + glob.glob(
        os.path.join(folder, "*.predictions.jsonl.gz")
    )
    if len(paths) != 1:
        hint = " (a run evaluated on other splits? choose them with --splits)" if not paths else ""
        raise SystemExit(f"Expected one predictions file in {folder}, found {len(paths)}: {paths}{hint}")
    opener = gzip.open if paths[0].endswith(".gz") else open
    records = {}
    with opener(paths[0], "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    record = json.loads(line)
                    missing = [field for field in ("item_id", *fields) if field not in record]
                    if missing:
                        raise KeyError(", ".join(missing))
                    if "score" in fields:
                        float(record["score"])
                    records[record["item_id"]] = record
                except (ValueError, KeyError, TypeError) as error:
                    raise SystemExit(f"{paths[0]}, line {number}: not a prediction record ({error}).") from error
    return records


def compare(models: dict[str, str], against: list[str], splits=SPLITS) -> dict:
    from reft_trl.evaluation.paired import paired_comparison

    results = {}
    for split in splits:
        scores = {name: read_scores(os.path.join(folder, split)) for name, folder in models.items()}
        common = sorted(set.intersection(*(set(s) for s in scores.values())))
        incomplete = {name: len(s) - len(common) for name, s in scores.items() if len(s) != len(common)}
        if incomplete:  # a partial evaluation, or another question set: the pairs would silently shrink
            raise SystemExit(
                f"{split}: the models were not evaluated on the same questions ({len(common)} in common; "
                + ", ".join(f"{name} has {extra} others" for name, extra in incomplete.items())
                + ")."
            )
        correct = {name: [score == 1.0 for score in map(s.get, common)] for name, s in scores.items()}
        rows = []
        for index, baseline in enumerate(against):
            for name in models:
                if name not in against[: index + 1]:  # each pair once
                    result = paired_comparison(correct[baseline], correct[name])
                    rows.append({"model": name, "baseline": baseline, **result})
        results[split] = {
            "n": len(common),
            "accuracy": {n: sum(c) / len(c) for n, c in correct.items()},
            "pairs": rows,
        }
    return results


def markdown(results: dict) -> str:
    lines = []
    for split, result in results.items():
        lines += [
            f"\n{split} ({result['n']} questions)\n",
            "| model | baseline | accuracy | baseline accuracy | difference | 95 % CI | model only / baseline only "
            "| McNemar p |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in result["pairs"]:
            lines.append(
                f"| {row['model']} | {row['baseline']} | {100 * row['accuracy_b']:.1f} % | "
                f"{100 * row['accuracy_a']:.1f} % | {100 * row['difference']:+.1f} | "
                f"{100 * row['ci_low']:+.1f} to {100 * row['ci_high']:+.1f} | {row['b_only']} / {row['a_only']} | "
                f"{row['mcnemar_p']:.3g} |"
            )
    return "\n".join(lines)


def named_folder(option: str, item: str) -> tuple[str, str]:
    """`NAME=FOLDER` from the command line, the folder existing; a clear error naming the option otherwise."""
    name, separator, folder = item.partition("=")
    if not separator or not name or not os.path.isdir(folder):
        raise SystemExit(f"{option} {item!r}: expected NAME=FOLDER with an existing folder.")
    return name, folder


def report(text: str, results: dict, output: str | None) -> dict:
    """Print `text`; with `output`, write `results` there as JSON."""
    print(text)
    if output:
        with open(output, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="NAME=FOLDER; the first is the baseline")
    parser.add_argument("--also_against", action="append", default=[], help="another baseline NAME")
    parser.add_argument("--output", default=None, help="write the comparisons as JSON here")
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS), help="splits compared")
    args = parser.parse_args(argv)
    models = dict(named_folder("--model", item) for item in args.model)
    unknown = [name for name in args.also_against if name not in models]
    if unknown:
        raise SystemExit(f"--also_against {unknown}: not among the models {list(models)}.")
    results = compare(models, [next(iter(models)), *args.also_against], args.splits)
    return report(markdown(results), results, args.output)


if __name__ == "__main__":
    main()
