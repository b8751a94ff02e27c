"""AnswerMatchReward: the paper's reward rule, TRL's calling convention, logging, pickling and P-CoT batching."""

from __future__ import annotations

import doctest
import pickle
import sys
import types

import pytest
from trl.trainer.utils import get_callable_name

from reft_trl.rewards import AnswerMatchReward, answer_match
from reft_trl.rewards.answer_match import AnswerScore

TRIGGER = "Therefore, the answer is:"
MATHQA_QUESTION = "how much ?\na ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these"


def test_doctests_pass():
    results = doctest.testmod(answer_match)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize("task", ["gsm8k", "svamp", "mathqa_numeric"])
@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        (f"6 * 3 = 18\n{TRIGGER} 18", 1.0),
        (f"{TRIGGER} 18.0", 1.0),
        (f"{TRIGGER} 1,8", 0.1),
        (f"{TRIGGER} 19", 0.1),
        (f"{TRIGGER} -18", 0.1),
        (f"{TRIGGER} 3/4", 0.1),
        (f"{TRIGGER} \\frac{{36}}{{2}}", 1.0),
        (f"{TRIGGER} \\frac{{1}}{{2}}", 0.0),
        (f"{TRIGGER} 10+John's age", 0.0),
        (f"{TRIGGER} eighteen", 0.0),
        ("6 * 3 = 18", 0.0),
        ("", 0.0),
    ],
)
def test_partial_reward_rule_on_numeric_tasks(task, completion, reward):
    """1 correct; 0.1 when a well-formed number was extracted but is wrong; 0 when nothing or no number was."""
    assert AnswerMatchReward(task)([completion], answer=["18"]) == [reward]


@pytest.mark.parametrize(
    ("completion", "reward"),
    [
        (f"{TRIGGER} c", 1.0),
        (f"{TRIGGER} (C)", 1.0),
        (f"{TRIGGER} 30", 1.0),
        (f"{TRIGGER} a", 0.0),
        (f"{TRIGGER} 38", 0.0),
        (f"{TRIGGER} 12", 0.0),
        ("no answer", 0.0),
    ],
)
def test_multiple_choice_gets_no_partial_reward(completion, reward):
    """Unlike the paper's code (0.1 for any wrong extracted answer), a wrong letter on MathQA earns nothing."""
    reward_function = AnswerMatchReward("mathqa", partial=0.1)
    assert reward_function([completion], answer=["c"], question=[MATHQA_QUESTION]) == [reward]


def test_multiple_choice_options_come_from_the_prompt_without_a_question_column():
    prompts = [f"Question:\n{MATHQA_QUESTION}\nAnswer reasoning:\n"]
    assert AnswerMatchReward("mathqa")([f"{TRIGGER} 30"], answer=["c"], prompts=prompts) == [1.0]
    conversation = [[{"role": "user", "content": MATHQA_QUESTION}]]
    assert AnswerMatchReward("mathqa")([f"{TRIGGER} 30"], answer=["c"], prompts=conversation) == [1.0]


def test_reward_values_are_configurable():
    reward = AnswerMatchReward("gsm8k", correct=2.0, partial=0.5)
    assert reward([f"{TRIGGER} 18", f"{TRIGGER} 17", "none"], answer=["18"] * 3) == [2.0, 0.5, 0.0]
    assert AnswerMatchReward("gsm8k", partial=0.0)([f"{TRIGGER} 17"], answer=["18"]) == [0.0]


def test_strict_and_flexible():
    completions = ["#### 18", "The answer is 18.", f"{TRIGGER} 18"]
    assert AnswerMatchReward("gsm8k")(completions, answer=["18"] * 3) == [0.0, 0.0, 1.0]
    assert AnswerMatchReward("gsm8k", strict=False)(completions, answer=["18"] * 3) == [1.0, 1.0, 1.0]


def test_conversational_completions():
    completions = [
        [{"role": "assistant", "content": f"{TRIGGER} 18"}],
        [{"role": "assistant", "content": [{"type": "text", "text": f"{TRIGGER} 17"}]}],
        [],
    ]
    assert AnswerMatchReward("gsm8k")(completions, answer=["18"] * 3) == [1.0, 0.1, 0.0]


def test_takes_the_keyword_arguments_grpo_trainer_passes():
    """GRPOTrainer._calculate_rewards passes prompts, completions, completion_ids, every column, and its hooks."""
    metrics, extra = {}, {}
    rewards = AnswerMatchReward("gsm8k")(
        prompts=["Question:\nq1\nAnswer reasoning:\n", "Question:\nq2\nAnswer reasoning:\n"],
        completions=[f"{TRIGGER} 18", f"{TRIGGER} 5"],
        completion_ids=[[1, 2], [3]],
        answer=["18", "6"],
        item_id=["gsm8k_0", "gsm8k_1"],
        question=["q1", "q2"],
        trainer_state=object(),
        log_extra=extra.__setitem__,
        log_metric=metrics.__setitem__,
    )
    assert rewards == [1.0, 0.1]
    assert extra == {"answer_match/extracted": ["18", "5"]}
    assert metrics == {"answer_match/accuracy": 0.5, "answer_match/partial": 0.5, "answer_match/unextractable": 0.0}


def test_logged_shares_cover_every_outcome():
    metrics = {}
    completions = [f"{TRIGGER} 18", f"{TRIGGER} 18", f"{TRIGGER} 7", "nothing", f"{TRIGGER} \\frac{{1}}{{2}}"]
    AnswerMatchReward("gsm8k")(completions, answer=["18"] * 5, log_metric=metrics.__setitem__)
    assert metrics == {"answer_match/accuracy": 0.4, "answer_match/partial": 0.2, "answer_match/unextractable": 0.2}


def test_trl_logs_it_as_answer_match():
    reward = AnswerMatchReward("gsm8k")
    assert get_callable_name(reward) == "answer_match"
    assert AnswerMatchReward.__name__ == "AnswerMatchReward"


def test_picklable_with_its_settings():
    reward = AnswerMatchReward("mathqa_numeric", partial=0.2, strict=False, tolerance=0.5)
    restored = pickle.loads(pickle.dumps(reward))
    assert vars(restored) == vars(reward)
    assert restored(["The answer is 18.3"], answer=["18"]) == [1.0]
    assert restored(["The answer is 19"], answer=["18"]) == [0.2]


def test_lengths_must_agree():
    with pytest.raises(ValueError):
        AnswerMatchReward("gsm8k")([f"{TRIGGER} 1", f"{TRIGGER} 2"], answer=["1"])


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="ncot, pcot"):
        AnswerMatchReward("gsm8k", cot="python")
    with pytest.raises(ValueError, match="valid tasks"):
        AnswerMatchReward("aqua")


def test_pcot_programs_of_a_batch_run_in_one_sandbox_call(monkeypatch):
    calls = []

    def run_programs(codes, timeout=10.0, max_workers=None, **limits):
        calls.append((list(codes), timeout, max_workers, limits))
        values = {"return 18": 18.0, "return 17": 17, "return 'c'": "c", "return [18, 19]": "[18, 19]"}
        return [
            types.SimpleNamespace(ok=code.rstrip().endswith(tuple(values)), value=_returned(code, values), error=None)
            for code in codes
        ]

    monkeypatch.setitem(sys.modules, "reft_trl.rewards.sandbox", types.SimpleNamespace(run_programs=run_programs))
    programs = [
        "def solution():\n    return 18",
        "Sure:\ndef solution():\n    return 17\nDone.",
        "def solution():\n    raise ValueError",
        "def solution():\n    return [18, 19]",
    ]
    reward = AnswerMatchReward(
        "gsm8k", cot="pcot", program_timeout=3.0, max_workers=2, program_limits={"memory_mb": 256}
    )
    assert reward(programs, answer=["18"] * 4) == [1.0, 0.1, 0.0, 0.0]
    assert len(calls) == 1
    codes, timeout, max_workers, limits = calls[0]
    assert codes[1] == "def solution():\n    return 17"
    assert (timeout, max_workers, limits) == (3.0, 2, {"memory_mb": 256})

    mathqa = AnswerMatchReward("mathqa", cot="pcot")
    assert mathqa(["def solution():\n    return 'c'"], answer=["c"], question=[MATHQA_QUESTION]) == [1.0]


def _returned(code, values):
    return next((value for ending, value in values.items() if code.rstrip().endswith(ending)), None)


def test_pcot_reward_with_the_real_sandbox():
    programs = [
        "def solution():\n    apples = 6\n    result = apples * 3\n    return result",
        "def solution():\n    return 17.0",
        "def solution():\n    return 1 / 0",
        "def solution():\n    while True:\n        pass",
        "this is not python",
    ]
    reward = AnswerMatchReward("svamp", cot="pcot", program_timeout=2.0)
    assert reward(programs, answer=["18.0"] * len(programs)) == [1.0, 0.1, 0.0, 0.0, 0.0]


def test_package_exports_the_public_api():
    import reft_trl.rewards as rewards
    from reft_trl.rewards import sandbox

    for name in rewards.__all__:
        assert getattr(rewards, name) is not None, name
    assert (rewards.run_program, rewards.run_programs, rewards.ProgramResult) == (
        sandbox.run_program,
        sandbox.run_programs,
        sandbox.ProgramResult,
    )
    with pytest.raises(AttributeError):
        rewards.__getattr__("no_such_name")


def test_pcot_program_opening_in_the_prompt_is_run_with_the_completion():
    """PPO rollouts put `def solution():` + docstring in the prompt; the completion is only the body."""
    prompt = 'Question:\nAdd 2 and 3.\nAnswer reasoning:\ndef solution():\n    """Add 2 and 3."""\n'
    reward = AnswerMatchReward("svamp", cot="pcot")
    assert reward(["    x = 2 + 3\n    return x"], answer=["5.0"], prompts=[prompt]) == [1.0]
    assert reward(["    return 4"], answer=["5.0"], prompts=[prompt]) == [0.1]
    # a completion that writes the whole program itself still works
    assert reward(["def solution():\n    return 5"], answer=["5"], prompts=["Question:\nq\nAnswer reasoning:\n"]) == [
        1.0
    ]


def test_score_with_details_gives_the_answer_outcome_and_reward_of_each_completion():
    reward = AnswerMatchReward("gsm8k")
    texts = ["Therefore, the answer is: 7", "Therefore, the answer is: 8", "I give up."]
    scores = reward.score_with_details(texts, answer=["7"] * 3)
    assert scores == [
        AnswerScore("7", answer_match.CORRECT, 1.0),
        AnswerScore("8", answer_match.PARTIAL, 0.1),
        AnswerScore(None, answer_match.UNEXTRACTABLE, 0.0),
    ]
    assert [score.reward for score in scores] == reward(texts, answer=["7"] * 3)
    mathqa = AnswerMatchReward("mathqa").score_with_details(
        ["Therefore, the answer is: 30"], answer=["b"], question=[MATHQA_QUESTION]
    )
    assert mathqa == [AnswerScore("c", answer_match.WRONG, 0.0)]  # 30 is option c


def test_the_program_run_for_a_prefilled_pcot_completion_defines_solution_once(monkeypatch):
    """The prompt's program opening is joined to the completion exactly once, however the reward is reached."""
    programs = []

    def run_programs(codes, **kwargs):
        programs.extend(codes)
        return [types.SimpleNamespace(ok=True, value=5, error=None) for _ in codes]

    monkeypatch.setitem(sys.modules, "reft_trl.rewards.sandbox", types.SimpleNamespace(run_programs=run_programs))
    prompt = 'Question:\nAdd 2 and 3.\nAnswer reasoning:\ndef solution():\n    """Add 2 and 3."""\n'
    chat = [{"role": "user", "content": "Add 2 and 3."}, {"role": "assistant", "content": "def solution():\n"}]
    reward = AnswerMatchReward("svamp", cot="pcot")
    assert reward(["    return 2 + 3"], answer=["5"], prompts=[prompt]) == [1.0]
    [score] = reward.score_with_details([[{"role": "assistant", "content": "    return 5"}]], ["5"], prompts=[chat])
    assert score.outcome == answer_match.CORRECT
    assert programs == [prompt[prompt.index("def solution") :] + "    return 2 + 3", "def solution():\n    return 5"]
    assert all(program.count("def solution(") == 1 for program in programs)
