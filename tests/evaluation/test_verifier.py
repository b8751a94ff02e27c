"""Verifier reranking: the training rows, the choice among constructed candidates with a stub scorer, and a tiny
random `LlamaForSequenceClassification` trained for two steps, saved, reloaded and scoring in [0, 1]."""

from __future__ import annotations

import copy
import doctest
import re

import pytest
import torch

from reft_trl.data import load_task
from reft_trl.evaluation import verifier as verifier_module
from reft_trl.evaluation.metrics import majority_vote
from reft_trl.evaluation.verifier import (
    VerifierConfig,
    VerifierScorer,
    build_verifier_dataset,
    collect_verifier_data,
    rerank_accuracy,
    rerank_choice,
    score_candidates,
    train_verifier,
)
from reft_trl.rewards import answers_match, extract_answer
from tests.utils import docstring_mismatches, tiny_llama, tiny_llama_classifier


def test_doctests_pass():
    results = doctest.testmod(verifier_module)
    assert results.attempted > 0
    assert results.failed == 0


def test_config_has_the_papers_defaults_and_documents_them():
    args = VerifierConfig(output_dir="unused", use_cpu=True)
    assert (args.learning_rate, args.num_train_epochs, args.per_device_train_batch_size) == (1e-6, 3.0, 3)
    assert (args.max_length, args.warmup_steps, args.lr_scheduler_type.value) == (700, 0.1, "linear")
    assert args.save_strategy.value == "no"
    assert docstring_mismatches(VerifierConfig) == []
    with pytest.raises(ValueError, match="max_length"):
        VerifierConfig(output_dir="unused", max_length=0)


def test_training_rows_are_labelled_by_reward_and_deduplicated():
    rows = build_verifier_dataset(
        ["Q1", "Q1", "Q1", "Q2", "Q2"],
        ["x = 18", "x = 18", "x = 7", "x = 18", "x = 3"],
        [1.0, 1.0, 0.1, True, 0.0],
    )
    assert rows.to_list() == [
        {"prompt": "Q1", "completion": "x = 18", "label": 1},
        {"prompt": "Q1", "completion": "x = 7", "label": 0},  # 0.1, the partial reward, is not correct
        {"prompt": "Q2", "completion": "x = 18", "label": 1},  # the same text for another question stays
        {"prompt": "Q2", "completion": "x = 3", "label": 0},
    ]
    assert len(build_verifier_dataset(["Q1", "Q1"], ["x", "x"], [1, 1], deduplicate=False)) == 2


def arithmetic_checker(prompt, completions):
    """A stub verifier: sure of a completion whose `a + b = c` holds, doubtful of one whose sum is wrong, and
    very sure of anything else (which must not win when it states no answer)."""
    scores = []
    for completion in completions:
        found = re.search(r"(\d+) \+ (\d+) = (\d+)", completion)
        if found is None:
            scores.append(0.99)
        else:
            a, b, c = map(int, found.groups())
            scores.append(0.9 if a + b == c else 0.2)
    return scores


def test_reranking_with_a_stub_scorer_picks_the_known_best_candidate():
    questions = [
        (
            "What is 2 + 3?",
            "5",
            [
                "2 + 3 = 6\nTherefore, the answer is: 6",
                "I am not sure.",
                "2 + 3 = 6\nTherefore, the answer is: 6",
                "2 + 3 = 5\nTherefore, the answer is: 5",
            ],
        ),
        (
            "What is 10 + 4?",
            "14",
            ["10 + 4 = 14\nTherefore, the answer is: 14", "10 + 4 = 15\nTherefore, the answer is: 15"],
        ),
    ]
    scores, correct, answers = [], [], []
    for question, gold, completions in questions:
        extracted = [extract_answer(completion, "gsm8k", strict=True) for completion in completions]
        scores.append(arithmetic_checker(question, completions))
        correct.append([answers_match(answer, gold, "gsm8k") for answer in extracted])
        answers.append(extracted)
    assert [rerank_choice(s, a) for s, a in zip(scores, answers)] == [3, 0]
    assert rerank_accuracy(scores, correct, answers) == 1.0
    # Voting gets the first question wrong (two votes for 6), and without the answers the unextractable but
    # highest-scored "I am not sure." would be chosen.
    assert majority_vote(answers[0], task="gsm8k") == "6"
    assert rerank_choice(scores[0]) == 1
    assert rerank_accuracy(scores, correct) == 0.5


def test_a_question_without_extractable_answers_counts_wrong():
    assert rerank_choice([0.3, 0.6], [None, None]) is None
    assert rerank_accuracy([[0.3, 0.6]], [[False, False]], [[None, None]]) == 0.0


def test_batched_scores_equal_one_by_one_scores_and_eos_pads(tokenizer):
    no_pad = copy.deepcopy(tokenizer)
    no_pad.pad_token = None
    verifier = tiny_llama_classifier(len(tokenizer))
    prompt = "Question:\nWhat is 2 + 3?\nAnswer reasoning:\n"
    completions = ["2 + 3 = 5\nTherefore, the answer is: 5", "6", "Two plus three is five, so the answer is: 5"]
    batched = score_candidates(verifier, no_pad, prompt, completions, batch_size=3)
    single = [score_candidates(verifier, no_pad, prompt, [completion])[0] for completion in completions]
    assert verifier.config.pad_token_id == no_pad.eos_token_id
    assert batched == pytest.approx(single, abs=1e-5)
    assert all(0.0 <= score <= 1.0 for score in batched)


def test_train_verifier_runs_saves_and_scores_probabilities(tokenizer, tmp_path):
    verifier = tiny_llama_classifier(len(tokenizer))
    before = verifier.score.weight.detach().clone()
    rows = build_verifier_dataset(
        ["Question:\nWhat is 2 + 3?\nAnswer reasoning:\n"] * 4,
        ["2 + 3 = 5\nTherefore, the answer is: 5", "2 + 3 = 6\nTherefore, the answer is: 6", "5", "I do not know"],
        [1.0, 0.1, 1.0, 0.0],
    )
    args = VerifierConfig(
        output_dir=str(tmp_path / "verifier"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-2,
        warmup_steps=0,
        use_cpu=True,
        disable_tqdm=True,
        report_to="none",
    )
    trained = train_verifier(verifier, tokenizer, rows, args)
    assert not torch.equal(before, trained.score.weight.detach())
    scorer = VerifierScorer.from_pretrained(args.output_dir)
    scores = scorer(rows[0]["prompt"], rows["completion"])
    assert len(scores) == 4 and all(0.0 <= score <= 1.0 for score in scores)
    assert scores == pytest.approx(
        score_candidates(trained, tokenizer, rows[0]["prompt"], rows["completion"]), abs=1e-4
    )


@pytest.mark.parametrize("cot", ["ncot", "pcot"])
def test_collect_verifier_data_labels_samples_with_the_reward(tokenizer, cot):
    dataset = load_task("svamp", cot=cot, split="train", limit=2, program_prefix_in_prompt=cot == "pcot")
    calls = []

    def reward(completions, answer, prompts=None, **kwargs):
        calls.append({"completions": completions, "answer": answer, "prompts": prompts})
        return [1.0, 0.1, 0.0, 1.0]

    rows = collect_verifier_data(
        tiny_llama(len(tokenizer)),
        tokenizer,
        dataset,
        "svamp",
        cot,
        num_samples=2,
        max_new_tokens=4,
        reward_func=reward,
        deduplicate=False,
        show_progress=False,
    )
    assert rows["label"] == [1, 0, 0, 1]
    assert rows["prompt"] == [dataset[0]["prompt"]] * 2 + [dataset[1]["prompt"]] * 2
    (call,) = calls
    assert call["answer"] == [dataset[0]["answer"]] * 2 + [dataset[1]["answer"]] * 2
    # As TRL calls a reward: the completions as generated and their prompts; with P-CoT the prompt holds the program's
    # opening line, which the reward joins to the generated body itself (once)
    assert call["completions"] == rows["completion"]
    assert call["prompts"] == rows["prompt"]
    assert all(("def solution():\n" in prompt) == (cot == "pcot") for prompt in call["prompts"])
