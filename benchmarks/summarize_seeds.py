"""Several seeds of each method against one baseline, from the learning benchmark's saved greedy predictions.

A single run's paired interval covers the question sampling only; with RL the seed moves the result as much. Here the
seed is the unit: each method's mean gain over the baseline across its seeds, with a Student t-interval (n - 1
degrees of freedom), and each method against the first with Welch's interval for the difference of the means. Beside
them, each method's seed-averaged correctness per question against the baseline, with a paired bootstrap over the
questions (the question sampling's share of the uncertainty). All seeds answer the same questions, so the t-interval
speaks for this question set (another draw of test questions would add the bootstrap's share), and the bootstrap for
these seeds; neither covers both. Every `--run` is one seed's evaluation folder
(`<run>/eval/<model>`, as in `compare_learning_runs.py`); repeat a method's name for each of its seeds.

    python benchmarks/summarize_seeds.py --split test \\
        --baseline warm-up=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/warm-up \\
        --run ReFT=benchmarks/results/learning_svamp_pcot_ppo_run9/eval/ppo \\
        --run ReFT=benchmarks/results/learning_svamp_pcot_ppo_run9_seed43/eval/ppo \\
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


def summarize(baseline: str, runs: list[tuple[str, str]], split: str = "test") -> dict:
    """`baseline` and each run's `(method, folder)`: per-run gains, per-method seed statistics, methods compared."""
    folders = [baseline, *(folder for _, folder in runs)]
    real = [os.path.realpath(folder) for folder in folders]
    repeated = sorted({folder for folder, path in zip(folders, real, strict=True) if real.count(path) > 1})
    if repeated:  # one run counted as two seeds would shrink the spread
        raise SystemExit(f"Each run (and the baseline) must be a different folder; given more than once: {repeated}.")
    scores = [read_scores(os.path.join(folder, split)) for folder in folders]
    questions = sorted(scores[0])
    for folder, run_scores in zip(folders, scores, strict=True):
        if set(run_scores) != set(questions):  # the pairs would silently shrink
            raise SystemExit(f"{split}: {folder} was not evaluated on the baseline's {len(questions)} questions.")
    correct = [[float(s[q] == 1.0) for q in questions] for s in scores]
    base, n = correct[0], len(questions)
    per_run = [
        {"method": method, "folder": folder, "accuracy": sum(c) / n, "gain": (sum(c) - sum(base)) / n}
        for (method, folder), c in zip(runs, correct[1:], strict=True)
    ]
    methods = {}
    for index, (method, _) in enumerate(runs):
        methods.setdefault(method, []).append(index)
    per_method = {}
    for method, indices in methods.items():
        seed_mean = [statistics.fmean(correct[1 + i][q] for i in indices) for q in range(n)]
        low, high = bootstrap_mean_interval([m - b for m, b in zip(seed_mean, base, strict=True)])
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
        "baseline_accuracy": sum(base) / n,
        "runs": per_run,
        "methods": per_method,
        "against": first,
        "against_first": against_first,
    }


def _points(value) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def markdown(summary: dict, baseline_name: str) -> str:
    lines = [
        f"\n{summary['split']} ({summary['n']} questions; {baseline_name} {100 * summary['baseline_accuracy']:.1f} %)\n",
        "| method | run | accuracy | gain |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['method']} | {r['folder']} | {100 * r['accuracy']:.1f} % | {_points(r['gain'])} |"
        for r in summary["runs"]
    ]
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


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="NAME=FOLDER of the model every run is compared with")
    parser.add_argument("--run", action="append", required=True, help="METHOD=FOLDER, one per seed")
    parser.add_argument("--split", choices=SPLITS, default="test", help="the split summarized")
    parser.add_argument("--output", default=None, help="write the summary as JSON here")
    args = parser.parse_args(argv)

    baseline_name, baseline = named_folder("--baseline", args.baseline)
    runs = [named_folder("--run", item) for item in args.run]
    summary = summarize(baseline, runs, args.split)
    return report(markdown(summary, baseline_name), summary, args.output)


if __name__ == "__main__":
    main()
