"""Which test questions ReFT's seeds flip against the warm-up, and whether continued SFT's seeds flip the same ones.

Run from the repository root: python benchmarks/results/learning_svamp_pcot_run9_seeds/flip_overlap.py
(reads the saved greedy predictions of run 9's warm-up, ReFT seeds 42-46 and continued-SFT seeds 42-45: the plan's
nine runs; each warm-up trained again for them is checked to be right on the same questions as run 9's, so one
baseline serves all). The output of the first version, over ReFT seeds 42-44 and SFT seed 42 only, is in the history of
flip_overlap.txt.
"""

import itertools
import sys
from collections import Counter

sys.path.insert(0, "benchmarks")
from compare_learning_runs import read_scores  # noqa: E402

RESULTS = "benchmarks/results/"
SEEDS = "learning_svamp_pcot_run9_seeds/"
WARM_UP = "learning_svamp_pcot_ppo_run9/eval/warm-up"
REFT = [
    "learning_svamp_pcot_ppo_run9/eval/ppo",
    "learning_svamp_pcot_ppo_run9_seed43/eval/ppo",
    *(f"{SEEDS}ppo_seed{seed}/eval/ppo" for seed in (44, 45, 46)),
]
SFT = ["learning_svamp_pcot_sft_run9/eval/sft", *(f"{SEEDS}sft_seed{seed}/eval/sft" for seed in (43, 44, 45))]
OWN_WARM_UPS = [f"{SEEDS}{run}_seed{seed}/eval/warm-up" for run, seed in (("ppo", 45), ("ppo", 46), ("sft", 45))]


def correct(folder: str) -> dict[str, bool]:
    return {item: score == 1.0 for item, score in read_scores(RESULTS + folder + "/test").items()}


def independent(rates: list[float], count: int) -> Counter:
    """How many of `count` questions k seeds would flip if each seed flipped each question independently, at the
    seed's own rate over these questions."""
    expected = Counter()
    for flipped in itertools.product((0, 1), repeat=len(rates)):
        p = 1.0
        for f, rate in zip(flipped, rates):
            p *= rate if f else 1 - rate
        expected[sum(flipped)] += p * count
    return expected


warm_up = correct(WARM_UP)
for folder in OWN_WARM_UPS:  # the runs' own warm-ups: right on the same questions, so one baseline serves all
    if correct(folder) != warm_up:
        raise SystemExit(f"{folder} is not right on the same test questions as run 9's warm-up")
reft, sft = [correct(f) for f in REFT], [correct(f) for f in SFT]
for was_right in (False, True):
    questions = [q for q in warm_up if warm_up[q] == was_right]
    verb = "lose" if was_right else "gain"
    print(f"warm-up {'right' if was_right else 'wrong'} ({len(questions)} questions): how many seeds {verb} each")
    for name, runs in (("ReFT", reft), ("continued SFT", sft)):
        flips = Counter(sum(r[q] != was_right for r in runs) for q in questions)
        rates = [sum(r[q] != was_right for q in questions) / len(questions) for r in runs]
        expected = independent(rates, len(questions))
        print(f"  {name}, {len(runs)} seeds (each {', '.join(f'{100 * r:.1f}' for r in rates)} % of them):")
        for k in range(len(runs) + 1):
            print(f"    {k} seeds: {flips[k]:4d} observed, {expected[k]:6.1f} if the seeds were independent")
    table = Counter((sum(r[q] != was_right for r in reft), sum(s[q] != was_right for s in sft)) for q in questions)
    print(f"  questions by (ReFT seeds that {verb} it, continued-SFT seeds that {verb} it):")
    print("    ReFT \\ SFT " + "".join(f"{j:6d}" for j in range(len(sft) + 1)))
    for i in range(len(reft) + 1):
        print(f"    {i:11d} " + "".join(f"{table[i, j]:6d}" for j in range(len(sft) + 1)))
    for name, mine, theirs, runs in (("ReFT", 0, 1, reft), ("SFT", 1, 0, sft)):
        majority = sum(n for key, n in table.items() if 2 * key[mine] > len(runs))
        alone = sum(n for key, n in table.items() if 2 * key[mine] > len(runs) and key[theirs] == 0)
        none_other = sum(n for key, n in table.items() if key[theirs] == 0) / len(questions)
        other = "SFT" if name == "ReFT" else "ReFT"
        print(
            f"  of the {majority} that most {name} seeds {verb}, no {other} seed {verb}s {alone} ({majority * none_other:.1f}"
            f" if the methods' flips were unrelated: no {other} seed {verb}s {100 * none_other:.1f} % of all)"
        )
