"""Reward registry: built-in tasks and run-time registration."""

from __future__ import annotations

import doctest

import pytest

from reft_trl.rewards import AnswerMatchReward, available_rewards, get_reward, register_reward, registry

BUILTIN_TASKS = ["gsm8k", "mathqa", "mathqa_numeric", "svamp"]


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with no registered rewards."""
    monkeypatch.setattr(registry, "_registered", {})


def test_doctests_pass():
    results = doctest.testmod(registry)
    assert results.attempted > 0
    assert results.failed == 0


def test_builtins_are_answer_match_rewards_for_each_task():
    assert set(BUILTIN_TASKS) <= set(available_rewards())
    for task in BUILTIN_TASKS:
        reward = get_reward(task)
        assert isinstance(reward, AnswerMatchReward)
        assert (reward.task, reward.cot, reward.strict) == (task, "ncot", True)


def test_options_reach_the_reward():
    reward = get_reward("svamp", cot="pcot", partial=0.0, program_timeout=2.0)
    assert (reward.cot, reward.partial, reward.program_timeout) == ("pcot", 0.0, 2.0)


def test_unknown_task_lists_the_valid_keys():
    with pytest.raises(KeyError, match="gsm8k, mathqa, mathqa_numeric, svamp"):
        get_reward("aqua")


def _length_reward_factory(cot="ncot", scale=1.0):
    def length_reward(completions, **kwargs):
        return [scale * len(completion) for completion in completions]

    return length_reward


def test_register_reward():
    register_reward("length", _length_reward_factory)
    assert "length" in available_rewards()
    assert get_reward("length", scale=0.5)(["abcd"], answer=["1"]) == [2.0]


def test_register_reward_does_not_replace_silently():
    with pytest.raises(ValueError, match="overwrite=True"):
        register_reward("gsm8k", _length_reward_factory)
    register_reward("length", _length_reward_factory)
    with pytest.raises(ValueError, match="overwrite=True"):
        register_reward("length", _length_reward_factory)
    register_reward("gsm8k", _length_reward_factory, overwrite=True)
    assert get_reward("gsm8k")(["abc"]) == [3.0]


def test_register_reward_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        register_reward("broken", "not a factory")
