"""`sample_and_score`: k samples per training question, scored as TRL scores a rollout (the prompt's program opening
joined to a P-CoT completion once, by the reward)."""

from __future__ import annotations

import sys
import types

from reft_trl import sampling
from reft_trl.data import load_task
from reft_trl.evaluation import sampling as old_path


def test_the_old_evaluation_path_keeps_its_names():
    assert all(getattr(old_path, name) is getattr(sampling, name) for name in old_path.__all__)


def test_a_prefilled_pcot_sample_runs_as_one_program_with_one_solution(monkeypatch):
    """The paper's P-CoT sampling prompt opens the program (`def solution():` and the docstring); the sandbox must get
    that opening plus the sampled body once, not the opening twice (which ran only because the second `def solution()`
    replaced the first)."""
    rows = load_task("svamp", cot="pcot", split="train", limit=2, program_prefix_in_prompt=True)
    bodies = [["\n    return 1", "\n    return 2"], ["\n    return 3"]]
    monkeypatch.setattr(sampling, "generate", lambda *args, **kwargs: [list(texts) for texts in bodies])
    programs = []

    def run_programs(codes, **kwargs):
        programs.extend(codes)
        return [types.SimpleNamespace(ok=True, value=float(code.rsplit(" ", 1)[-1]), error=None) for code in codes]

    monkeypatch.setitem(sys.modules, "reft_trl.rewards.sandbox", types.SimpleNamespace(run_programs=run_programs))
    scored = sampling.sample_and_score(None, None, rows, "svamp", "pcot", num_samples=2, seed=None)

    assert scored.completions == bodies
    assert len(programs) == 3
    for program, prompt, body in zip(programs, [rows[0]["prompt"]] * 2 + [rows[1]["prompt"]], ["1", "2", "3"]):
        assert program.count("def solution(") == 1, program
        assert program == prompt[prompt.index("def solution(") :] + f"\n    return {body}"
    gold = [float(answer) for answer in rows["answer"]]
    assert scored.rewards == [
        [1.0 if gold[0] == value else 0.1 for value in (1.0, 2.0)],
        [1.0 if gold[1] == 3.0 else 0.1],
    ]


def test_a_custom_reward_is_called_as_trl_calls_it(monkeypatch):
    """The prompts, the completions as generated and the dataset's reward columns, one entry per sample."""
    rows = load_task("svamp", cot="ncot", split="train", limit=2)
    monkeypatch.setattr(sampling, "generate", lambda *args, num_samples, **kwargs: [["a", "b"], ["c", "d"]])
    seen = {}

    def reward(completions, prompts, answer, question, **kwargs):
        seen.update(completions=completions, prompts=prompts, answer=answer, question=question)
        return [float(len(text)) for text in completions]

    scored = sampling.sample_and_score(None, None, rows, "svamp", num_samples=2, reward_func=reward, seed=None)
    assert scored.rewards == [[1.0, 1.0], [1.0, 1.0]]
    assert seen["completions"] == ["a", "b", "c", "d"]
    assert seen["prompts"] == [rows[0]["prompt"]] * 2 + [rows[1]["prompt"]] * 2
    assert seen["answer"] == [rows[0]["answer"]] * 2 + [rows[1]["answer"]] * 2
    assert seen["question"] == [rows[0]["question"]] * 2 + [rows[1]["question"]] * 2
