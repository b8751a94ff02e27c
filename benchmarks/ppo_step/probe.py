"""Measurement helpers shared by the workers of `bench_ppo_step.py`; they run in either venv (TRL 1.16 or TRL 1.12).

A rollout is one batch of completions plus the PPO epochs over it. `RolloutClock` is a `TrainerCallback` that
timestamps the end of every rollout (every `steps_per_rollout` optimizer steps) and closes the `PhaseTimer` of that
rollout. The timer sums three measured spans:

- `generate_s`: sampling the completions;
- `score_s`: scoring them (reward functions or a reward model);
- `rollout_s`: the whole rollout phase, from the start of generation until the first PPO update begins (it contains
  the two spans above, the no-grad forward passes of policy / critic / reference, and GAE).

Derived per rollout: `rollout_forward_s = rollout_s - generate_s - score_s` and `update_s = wall_s - rollout_s`
(the forward, backward and optimizer step of every PPO epoch, plus the trainer's own bookkeeping). The machine's
CPU time over the rollout minus this process's (`other_cpu_s`) tells how much other processes competed with it.
"""

from __future__ import annotations

import functools
import json
import os
import resource
import time
from collections import defaultdict

from transformers import TrainerCallback

GENERATE, SCORE, ROLLOUT = "generate_s", "score_s", "rollout_s"


def rss_mb() -> float:
    """Resident set size of this process now, in MB (10^6 bytes)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6  # reported in KiB
    raise RuntimeError("no VmRSS in /proc/self/status")


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds used by the whole machine since boot, CPU seconds used by this process): their differences over
    a rollout give the CPU time other processes took from it."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    machine = (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")  # user..steal; guest time is already in user
    own = os.times()
    return machine, own.user + own.system


def touch_weights(*modules) -> None:
    """Read every parameter and buffer once: weights loaded from safetensors are memory-mapped and become resident
    only when first read, so without this the RSS after building a trainer would miss the models not yet used."""
    import torch

    seen = set()
    with torch.no_grad():
        for module in modules:
            if not isinstance(module, torch.nn.Module):
                continue
            for tensor in [*module.parameters(), *module.buffers()]:
                if tensor.data_ptr() not in seen:
                    seen.add(tensor.data_ptr())
                    tensor.sum()


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (`ru_maxrss`, KiB on Linux), in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


class PhaseTimer:
    """Wall time spent in the phases of one rollout, summed until `take()` hands it over and resets."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.completion_lengths: list[int] = []  # this rollout's completions, up to and including EOS
        self.decoding_steps: list[int] = []  # width of each `generate` output: the decoding steps it ran
        self.prompt_widths: list[int] = []  # the longest prompt of each `generate` call (prompts are padded to it)
        self._rollout_start = None

    def timed(self, function, phase_of):
        """`function` wrapped so its time is added to `phase_of(*args, **kwargs)` (a phase name, or None to skip)."""

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                phase = phase_of(*args, **kwargs)
                if phase is not None:
                    self.seconds[phase] += time.perf_counter() - start

        return wrapper

    def rollout_begins(self) -> None:
        if self._rollout_start is None:
            self._rollout_start = time.perf_counter()

    def rollout_ends(self) -> None:
        if self._rollout_start is not None:
            self.seconds[ROLLOUT] += time.perf_counter() - self._rollout_start
            self._rollout_start = None

    def add_completions(self, lengths: list[int], decoding_steps: int, prompt_width: int) -> None:
        self.completion_lengths.extend(lengths)
        self.decoding_steps.append(decoding_steps)
        self.prompt_widths.append(prompt_width)

    def take(self) -> dict:
        lengths = self.completion_lengths
        taken = {phase: self.seconds.get(phase, 0.0) for phase in (GENERATE, SCORE, ROLLOUT)}
        taken["completions"] = len(lengths)
        taken["mean_completion_length"] = sum(lengths) / len(lengths) if lengths else float("nan")
        taken["decoding_steps"] = max(self.decoding_steps, default=0)
        taken["prompt_width"] = max(self.prompt_widths, default=0)
        self.seconds.clear()
        self.completion_lengths, self.decoding_steps, self.prompt_widths = [], [], []
        return taken


class RolloutClock(TrainerCallback):
    """Per-rollout wall time and phase split, from `on_train_begin` and every `steps_per_rollout`-th `on_step_end`."""

    def __init__(self, timer: PhaseTimer, steps_per_rollout: int):
        self.timer = timer
        self.steps_per_rollout = steps_per_rollout
        self.rollouts: list[dict] = []
        self._last = None
        self._cpu = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.timer.take()  # nothing before training counts
        self._cpu = cpu_seconds()
        self._last = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.steps_per_rollout:
            return
        wall = time.perf_counter() - self._last
        machine, own = cpu_seconds()
        record = {"wall_s": wall, **self.timer.take()}
        record["own_cpu_s"] = own - self._cpu[1]
        record["other_cpu_s"] = max(0.0, (machine - self._cpu[0]) - record["own_cpu_s"])
        record["rollout_forward_s"] = record[ROLLOUT] - record[GENERATE] - record[SCORE]
        record["update_s"] = wall - record[ROLLOUT]
        record["rss_mb"] = rss_mb()
        record["peak_rss_mb"] = peak_rss_mb()
        self.rollouts.append(record)
        self._cpu = cpu_seconds()
        self._last = time.perf_counter()  # the callback's own bookkeeping is not charged to the next rollout


def completion_length(ids, eos_ids) -> int:
    """Tokens up to and including the first EOS (all of them when there is none)."""
    for position, token in enumerate(ids):
        if token in eos_ids:
            return position + 1
    return len(ids)


def start_result(name: str) -> dict:
    import torch

    return {
        "trainer": name,
        "pid": os.getpid(),
        "torch_threads": torch.get_num_threads(),
        "load_average_start": os.getloadavg(),
        "rss_after_imports_mb": rss_mb(),
    }


def write_result(path: str, result: dict) -> None:
    result["peak_rss_mb"] = peak_rss_mb()
    result["load_average_end"] = os.getloadavg()
    with open(path, "w") as handle:
        json.dump(result, handle, indent=1)


def read_json(path: str) -> dict:
    with open(path) as handle:
        return json.load(handle)


def counting_generate(trainer, timer):
    """`trainer._generate` (TRL's), recording in `timer` each call's completion lengths and widest prompt."""
    generate = trainer._generate

    def generate_and_count(prompts):
        output = generate(prompts)
        prompt_ids, completion_ids = output[0], output[1]  # unpadded lists; completions cut after the first EOS
        timer.add_completions(
            [len(ids) for ids in completion_ids],
            max(len(ids) for ids in completion_ids),
            max(len(ids) for ids in prompt_ids),
        )
        return output

    return generate_and_count
