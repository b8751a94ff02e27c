"""Offline self-training: which samples are kept, and the training set built from sampled solutions."""

from __future__ import annotations

import pytest
from datasets import Dataset

import reft_trl.sampling as sampling
from reft_trl.data import load_task
from reft_trl.trainers.offline_self_training import (
    SOURCE_GOLD,
    SOURCE_SAMPLED,
    build_offline_self_training_dataset,
    select_self_training_solutions,
)

# ---------------------------------------------------------------------------------------------------------------------
# select_self_training_solutions


def test_keeps_only_reward_exactly_one():
    completions = ["a = 3", "b = 3", "c = 4", "d", "e = 3"]
    rewards = [1.0, 0.1, 0.0, None, 1]
    assert select_self_training_solutions(completions, rewards) == ["a = 3", "e = 3"]


def test_drops_repeats_and_the_gold_chain_of_thought():
    completions = ["x = 3", "  x = 3\n", "y = 3", "gold 3", "y = 3"]
    assert select_self_training_solutions(completions, [1.0] * 5, gold="gold 3 ") == ["x = 3", "y = 3"]


def test_caps_the_number_per_question_in_sampling_order():
    completions = [f"{i} + 0 = 3" for i in range(20)]
    assert select_self_training_solutions(completions, [1.0] * 20, max_solutions=10) == completions[:10]
    assert select_self_training_solutions(completions, [1.0] * 20, max_solutions=0) == []


def test_a_sample_equal_to_the_gold_counts_towards_the_cap():
    """As the authors: the first `max_solutions` distinct correct samples, then the gold row is not added twice."""
    assert select_self_training_solutions(["g = 3", "a = 3", "b = 3"], [1.0] * 3, gold="g = 3", max_solutions=2) == [
        "a = 3"
    ]


def test_empty_samples_are_not_solutions():
    assert select_self_training_solutions(["", "   ", "z = 3"], [1.0, 1.0, 1.0]) == ["z = 3"]


def test_negative_cap_is_refused():
    with pytest.raises(ValueError, match="max_solutions"):
        select_self_training_solutions(["a"], [1.0], max_solutions=-1)


# ---------------------------------------------------------------------------------------------------------------------
# build_offline_self_training_dataset, with the sampler replaced by fixed samples


@pytest.fixture
def fixed_samples(monkeypatch):
    """Replace generation: question i gets `samples[i]`; records the prompts sampled from."""
    calls = {}

    def install(samples):
        def fake_generate(model, tokenizer, prompts, *, num_samples, **kwargs):
            calls["prompts"], calls["num_samples"], calls["greedy"] = list(prompts), num_samples, kwargs["greedy"]
            calls["top_k"], calls["temperature"] = kwargs["top_k"], kwargs["temperature"]
            return [list(texts) for texts in samples]

        monkeypatch.setattr(sampling, "generate", fake_generate)
        return calls

    return install


def test_builds_gold_twice_then_correct_distinct_samples(fixed_samples):
    gold = load_task("svamp", cot="ncot", split="train", limit=2)
    answers = gold["answer"]
    right = [f"So the answer is {answer}.\nTherefore, the answer is: {answer}" for answer in answers]
    samples = [
        [right[0], right[0], "Therefore, the answer is: 123456", right[0] + " "],  # one distinct correct
        ["Therefore, the answer is: 1", "no answer"],  # none correct
    ]
    calls = fixed_samples(samples)
    built = build_offline_self_training_dataset(None, None, gold, "svamp", "ncot", num_samples=4, max_solutions=10)

    # The authors' sampling: temperature 1 and transformers' default top-k, 50
    assert (calls["num_samples"], calls["greedy"], calls["temperature"], calls["top_k"]) == (4, False, 1.0, 50)
    assert calls["prompts"] == gold["prompt"]
    # Each gold solution twice, as the authors' gold file + sampling file hold it
    assert built["source"] == [SOURCE_GOLD, SOURCE_GOLD, SOURCE_SAMPLED, SOURCE_GOLD, SOURCE_GOLD]
    assert built["item_id"] == [gold[0]["item_id"]] * 3 + [gold[1]["item_id"]] * 2
    assert built["completion"] == [gold[0]["completion"]] * 2 + [right[0]] + [gold[1]["completion"]] * 2
    assert built["prompt"] == [gold[0]["prompt"]] * 3 + [gold[1]["prompt"]] * 2
    assert set(built.column_names) == set(gold.column_names) | {"source"}


def test_gold_copies_and_top_k_are_options(fixed_samples):
    gold = load_task("svamp", cot="ncot", split="train", limit=1)
    calls = fixed_samples([["no answer"]])
    built = build_offline_self_training_dataset(
        None, None, gold, "svamp", "ncot", num_samples=1, top_k=0, gold_copies=1
    )
    assert calls["top_k"] == 0
    assert built["source"] == [SOURCE_GOLD]
    with pytest.raises(ValueError, match="gold_copies"):
        build_offline_self_training_dataset(None, None, gold, "svamp", "ncot", num_samples=1, gold_copies=0)


def test_pcot_samples_become_whole_programs_in_the_sft_format(fixed_samples):
    gold = load_task("svamp", cot="pcot", split="train", limit=1)
    rollout = load_task("svamp", cot="pcot", split="train", limit=1, program_prefix_in_prompt=True)
    answer = float(gold[0]["answer"])
    body = f"    result = {answer!r}\n    return result"
    fixed_samples([[body, "    return -1"]])
    built = build_offline_self_training_dataset(
        None, None, gold, "svamp", "pcot", sampling_dataset=rollout, num_samples=2
    )
    assert built["source"] == [SOURCE_GOLD, SOURCE_GOLD, SOURCE_SAMPLED]
    program = built[2]["completion"]
    assert built[2]["prompt"] == gold[0]["prompt"]  # the SFT prompt, without the program opening
    assert program.startswith("def solution():") and program.endswith(body)
    assert gold[0]["completion"].startswith("def solution():")  # the same format as the gold programs


def test_mismatched_question_order_is_refused(fixed_samples):
    gold = load_task("svamp", cot="ncot", split="train", limit=2)
    swapped = gold.select([1, 0])
    with pytest.raises(ValueError, match="Row 0: item_id"):
        build_offline_self_training_dataset(None, None, gold, "svamp", "ncot", sampling_dataset=swapped)
    with pytest.raises(ValueError, match="same questions"):
        build_offline_self_training_dataset(None, None, gold, "svamp", "ncot", sampling_dataset=gold.select([0]))


def test_conversational_rows_keep_their_format(fixed_samples):
    gold = Dataset.from_list(
        [
            {
                "prompt": [{"role": "user", "content": "2 + 1?"}],
                "completion": [{"role": "assistant", "content": "Therefore, the answer is: 3"}],
                "answer": "3",
            }
        ]
    )
    fixed_samples([["2 + 1 = 3. Therefore, the answer is: 3"]])
    built = build_offline_self_training_dataset(None, None, gold, "svamp", "ncot", num_samples=1)
    assert built[2]["completion"] == [{"role": "assistant", "content": "2 + 1 = 3. Therefore, the answer is: 3"}]


def test_builds_from_a_real_tiny_model(tokenizer):
    """No replacement: the tiny random model's samples go through the real sampler and reward."""
    from tests.utils import tiny_llama

    gold = load_task("svamp", cot="ncot", split="train", limit=3)
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path, padding_side="left")
    built = build_offline_self_training_dataset(
        tiny_llama(len(tokenizer)), tokenizer, gold, "svamp", "ncot", num_samples=2, max_new_tokens=4,
        backend="hf", show_progress=False,
        reward_func=lambda completions, **kwargs: [1.0] * len(completions),  # every sample "correct"
    )  # fmt: skip
    per_question = {item: built["item_id"].count(item) for item in gold["item_id"]}
    assert all(3 <= count <= 4 for count in per_question.values())  # the gold row twice + 1 or 2 distinct samples
    assert built["source"][0] == SOURCE_GOLD
