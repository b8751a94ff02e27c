"""Reward registry: built-in tasks, run-time registration, and third-party entry points."""

from __future__ import annotations

import doctest
import importlib.metadata
import sys
import textwrap

import pytest

from reft_trl.rewards import AnswerMatchReward, available_rewards, get_reward, register_reward, registry

BUILTIN_TASKS = ["gsm8k", "mathqa", "mathqa_numeric", "svamp"]


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """Each test starts with no registered rewards and entry points not yet read."""
    monkeypatch.setattr(registry, "_registered", {})
    monkeypatch.setattr(registry, "_entry_points", None)


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


class _FakeEntryPoint:
    def __init__(self, name, factory):
        self.name, self.value, self._factory, self.loads = name, f"fake:{name}", factory, 0

    def load(self):
        self.loads += 1
        return self._factory


def test_entry_points_are_read_once_and_loaded_only_when_asked_for(monkeypatch):
    aqua = _FakeEntryPoint("aqua", _length_reward_factory)
    shadow = _FakeEntryPoint("gsm8k", _length_reward_factory)
    reads = []

    def entry_points(group):
        reads.append(group)
        return [aqua, shadow]

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert "aqua" in available_rewards()
    assert aqua.loads == 0
    assert get_reward("aqua", scale=2.0)(["ab"]) == [4.0]
    assert aqua.loads == 1
    assert isinstance(get_reward("gsm8k"), AnswerMatchReward), "an entry point must not shadow a built-in"
    available_rewards()
    assert reads == ["reft_trl.rewards"]


def test_entry_point_from_an_installed_distribution(tmp_path, monkeypatch):
    """A real dist-info on sys.path, as `pip install` of a plugin package would leave it."""
    package = tmp_path / "aqua_rewards.py"
    package.write_text(
        textwrap.dedent(
            """
            def make_reward(cot="ncot", bonus=1.0):
                def aqua_reward(completions, answer, **kwargs):
                    return [bonus if completion.strip() == gold else 0.0 for completion, gold in zip(completions, answer)]
                return aqua_reward
            """
        )
    )
    dist_info = tmp_path / "aqua_rewards-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: aqua-rewards\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text("[reft_trl.rewards]\naqua = aqua_rewards:make_reward\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "aqua_rewards", raising=False)

    assert "aqua" in available_rewards()
    assert get_reward("aqua", bonus=2.0)(["b", "c"], answer=["b", "b"]) == [2.0, 0.0]


def test_a_broken_entry_point_fails_loudly_when_asked_for(monkeypatch):
    class Broken(_FakeEntryPoint):
        def load(self):
            raise ImportError("no module named plugin")

    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [Broken("plugin", None)])
    assert isinstance(get_reward("gsm8k"), AnswerMatchReward)
    with pytest.raises(ImportError, match="plugin"):
        get_reward("plugin")
