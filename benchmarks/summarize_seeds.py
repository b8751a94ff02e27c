"""Several seeds of each method against their baseline (the warm-up they started from), from saved greedy predictions.

A single run's paired interval covers the question sampling only; with RL the seed moves the result as much. Here the
seed is the unit: each method's mean gain over the baseline across its seeds, with a Student t-interval (n - 1
degrees of freedom), and each method against the first with Welch's interval for the difference of the means. Beside
them, each method's seed-averaged correctness per question against the baseline, with a paired bootstrap over the
questions (the question sampling's share of the uncertainty). All seeds answer the same questions, so the t-interval
speaks for this question set (another draw of test questions would add the bootstrap's share), and the bootstrap for
these seeds; neither covers both. Every `--run` is one seed's evaluation folder
(`<run>/eval/<model>`, as in `compare_learning_runs.py`); repeat a method's name for each of its seeds.

Seeds that started from different baselines (a warm-up trained again on another machine) are each measured against
their own: repeat `--baseline NAME=FOLDER` (the first is the default) and name a run's with `--run METHOD@NAME=FOLDER`.
Its gain is then over that baseline, and the questions' bootstrap averages each seed's difference from its own.

    python benchmarks/summarize_seeds.py --split test \\
        --baseline warm-up=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up \\
        --baseline warm-up-2=benchmarks/results/learning_svamp_pcot_run9_seeds/ppo_seed45/eval/warm-up \\
        --run ReFT=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/ppo \\
        --run ReFT=benchmarks/results/learning_svamp_pcot_ppo_run9_seed43/eval/ppo \\
        --run ReFT@warm-up-2=benchmarks/results/learning_svamp_pcot_run9_seeds/ppo_seed45/eval/ppo \\
        --run "continued SFT"=benchmarks/results/learning_svamp_pcot_sft_run9/eval/sft
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # compare_learning_runs, beside this file

from compare_learning_runs import SPLITS, named_folder, read_scores, report  # noqa: E402

from reft_trl.evaluation.paired import bootstrap_mean_interval  # noqa: E402


def t_quantile(probability: float, df: float) -> float:
    """The Student t distribution's quantile (df may be fractional, as Welch's is), from mpmath's regularized
    incomplete beta function: for t >= 0, P(T <= t) = 1 - I_{df / (df + t^2)}(df / 2, 1 / 2) / 2.

    >>> round(t_quantile(0.975, 4), 4), round(t_quantile(0.975, 1), 3)
    (2.7764, 12.706)
    """
    import mpmath

    if not 0.5 <= probability < 1 or df <= 0:
        raise ValueError(f"t_quantile: probability in [0.5, 1) and df > 0 expected, got {probability}, {df}.")

    def cdf(t):
        return 1 - mpmath.betainc(df / 2, 0.5, 0, df / (df + t * t), regularized=True) / 2

    low, high = 0.0, 1.0
    while cdf(high) < probability:  # bracket, then bisect: cdf is increasing
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < probability else (low, middle)
    return (low + high) / 2


def mean_interval(values: list[float], confidence: float = 0.95) -> dict:
    """The mean of `values` with its t-interval; no interval from one value, or from values all alike (no spread to
    estimate: a zero-width interval would read as certainty).

    >>> result = mean_interval([0.01, 0.02, 0.03])
    >>> round(result["mean"], 4), round(result["sd"], 4), round(result["high"] - result["mean"], 4)
    (0.02, 0.01, 0.0248)
    """
    n, mean = len(values), statistics.fmean(values)
    if n < 2:
        return {"n": n, "mean": mean, "sd": None, "low": None, "high": None}
    sd = statistics.stdev(values)
    if sd == 0:
        return {"n": n, "mean": mean, "sd": sd, "low": None, "high": None}
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "sd": sd, "low": mean - half, "high": mean + half}


def welch_interval(a: list[float], b: list[float], confidence: float = 0.95) -> dict:
    """mean(b) - mean(a) with Welch's t-interval (unequal variances, Welch-Satterthwaite degrees of freedom)."""
    difference = statistics.fmean(b) - statistics.fmean(a)
    if len(a) < 2 or len(b) < 2:
        return {"difference": difference, "df": None, "low": None, "high": None}
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0:  # no spread in either set: no interval (not a zero-width one)
        return {"difference": difference, "df": None, "low": None, "high": None}
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    half = t_quantile(1 - (1 - confidence) / 2, df) * math.sqrt(va + vb)
    return {"difference": difference, "df": df, "low": difference - half, "high": difference + half}


def summarize(baselines: dict[str, str], runs: list[tuple[str, str, str]], split: str = "test") -> dict:
    """`baselines` (name -> folder; the first is the default) and each run's `(method, baseline name, folder)`: per-run
    gains over the run's own baseline, per-method seed statistics, methods compared."""
    folders = [*baselines.values(), *(folder for _, _, folder in runs)]
    real = [os.path.realpath(folder) for folder in folders]
    repeated = sorted({folder for folder, path in zip(folders, real, strict=True) if real.count(path) > 1})
    if repeated:  # one run counted as two seeds would shrink the spread
        raise SystemExit(f"Each run (and baseline) must be a different folder; given more than once: {repeated}.")
    scores = [read_scores(os.path.join(folder, split)) for folder in folders]
    questions = sorted(scores[0])
    first_baseline = "first baseline" if len(baselines) > 1 else "baseline"
    for folder, run_scores in zip(folders, scores, strict=True):
        if set(run_scores) != set(questions):  # the pairs would silently shrink
            raise SystemExit(
                f"{split}: {folder} was not evaluated on the {first_baseline}'s {len(questions)} questions."
            )
    correct = [[float(s[q] == 1.0) for q in questions] for s in scores]
    n, base_correct, run_correct = len(questions), correct[: len(baselines)], correct[len(baselines) :]
    base = dict(zip(baselines, base_correct, strict=True))  # name -> that baseline's correctness per question
    per_run = [
        {
            "method": method,
            "folder": folder,
            "baseline": name,
            "accuracy": sum(c) / n,
            "gain": (sum(c) - sum(base[name])) / n,
        }
        for (method, name, folder), c in zip(runs, run_correct, strict=True)
    ]
    methods = {}
    for index, (method, _, _) in enumerate(runs):
        methods.setdefault(method, []).append(index)
    per_method = {}
    for method, indices in methods.items():
        # Per question, the mean over the seeds of (run - its own baseline), as the difference of the two means: with
        # one baseline the second mean is that baseline's 0 or 1 exactly, so the values are as they were before.
        differences = [
            statistics.fmean(run_correct[i][q] for i in indices)
            - statistics.fmean(base[runs[i][1]][q] for i in indices)
            for q in range(n)
        ]
        low, high = bootstrap_mean_interval(differences)
        per_method[method] = {
            **mean_interval([per_run[i]["gain"] for i in indices]),
            "mean_accuracy": statistics.fmean(per_run[i]["accuracy"] for i in indices),
            "questions_low": low,
            "questions_high": high,
        }
    first, *others = methods
    against_first = {
        method: welch_interval(
            [per_run[i]["gain"] for i in methods[first]], [per_run[i]["gain"] for i in methods[method]]
        )
        for method in others
    }
    return {
        "split": split,
        "n": n,
        "baseline_accuracy": sum(correct[0]) / n,
        "baselines": {
            name: {"folder": folder, "accuracy": sum(c) / n}
            for (name, folder), c in zip(baselines.items(), base_correct, strict=True)
        },
        "runs": per_run,
        "methods": per_method,
        "against": first,
        "against_first": against_first,
    }


def _points(value) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def markdown(summary: dict) -> str:
    """The tables; with more than one baseline, each is listed and each run says which it is measured against."""
    several = len(summary["baselines"]) > 1
    accuracies = ", ".join(f"{name} {100 * b['accuracy']:.1f} %" for name, b in summary["baselines"].items())
    baseline_name = "its own baseline" if several else next(iter(summary["baselines"]))
    lines = [
        f"\n{summary['split']} ({summary['n']} questions; {accuracies})\n",
        f"| method | run |{' against |' if several else ''} accuracy | gain |",
        f"| --- | --- |{' --- |' if several else ''} --- | --- |",
    ]
    for r in summary["runs"]:
        against = f" {r['baseline']} |" if several else ""
        lines.append(
            f"| {r['method']} | {r['folder']} |{against} {100 * r['accuracy']:.1f} % | {_points(r['gain'])} |"
        )
    lines += [
        "",
        f"| method | seeds | mean accuracy | mean gain over {baseline_name} | sd over seeds | 95 % t-interval (seeds) "
        "| 95 % bootstrap (questions, seed-averaged) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for method, m in summary["methods"].items():
        sd = "-" if m["sd"] is None else f"{100 * m['sd']:.1f}"
        lines.append(
            f"| {method} | {m['n']} | {100 * m['mean_accuracy']:.1f} % | {_points(m['mean'])} | "
            f"{sd} | {_points(m['low'])} to {_points(m['high'])} | "
            f"{_points(m['questions_low'])} to {_points(m['questions_high'])} |"
        )
    if summary["against_first"]:
        lines += ["", f"| method | minus {summary['against']} (mean gains) | 95 % Welch interval | df |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        for method, w in summary["against_first"].items():
            df = "-" if w["df"] is None else f"{w['df']:.1f}"
            lines.append(
                f"| {method} | {_points(w['difference'])} | {_points(w['low'])} to {_points(w['high'])} | {df} |"
            )
    return "\n".join(lines)


def run_with_baseline(item: str, baselines: dict[str, str]) -> tuple[str, str, str]:
    """`--run METHOD=FOLDER` (against the first baseline) or `METHOD@BASELINE=FOLDER`: `(method, baseline, folder)`."""
    name, folder = named_folder("--run", item)
    method, at, baseline = name.rpartition("@")
    if not at:
        return name, next(iter(baselines)), folder
    if not method or baseline not in baselines:
        raise SystemExit(
            f"--run {item!r}: expected METHOD@BASELINE=FOLDER, BASELINE among the --baseline names {list(baselines)}."
        )
    return method, baseline, folder


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--baseline",
        action="append",
        required=True,
        help="NAME=FOLDER of a model runs are compared with; repeat for several, the first is the default",
    )
    parser.add_argument(
        "--run",
        action="append",
        required=True,
        help="METHOD=FOLDER (against the first baseline) or METHOD@BASELINE=FOLDER (against that one), one per seed",
    )
    parser.add_argument("--split", choices=SPLITS, default="test", help="the split summarized")
    parser.add_argument("--output", default=None, help="write the summary as JSON here")
    args = parser.parse_args(argv)

    baselines = {}
    for item in args.baseline:
        name, folder = named_folder("--baseline", item)
        if name in baselines:
            raise SystemExit(f"--baseline {item!r}: the name {name!r} is given twice.")
        baselines[name] = folder
    runs = [run_with_baseline(item, baselines) for item in args.run]
    unused = [name for name in baselines if name not in {baseline for _, baseline, _ in runs}]
    if unused:  # it would be listed beside the others as if some gain were measured against it
        raise SystemExit(
            f"--baseline {unused}: no --run is measured against it (name it with --run METHOD@NAME=FOLDER)."
        )
    summary = summarize(baselines, runs, args.split)
    return report(markdown(summary), summary, args.output)


if __name__ == "__main__":
    main()
