"""`ContinuedPromptsMixin`: PPO rollouts continue a chat P-CoT prompt's final assistant message (the program's
opening), tokenized as evaluation tokenizes it (`reft_trl.generation.encode_prompt`); every other prompt is TRL's."""

from __future__ import annotations

import pytest
from datasets import Dataset
from trl import GRPOTrainer

from reft_trl.data import load_task
from reft_trl.generation import encode_prompt
from reft_trl.trainers.continued_prompts import continued_prompt_ids
from reft_trl.trainers.ppo_trainer import ReFTPPOTrainer
from tests.trainers.test_ppo_trainer import SMALL_VOCAB, digit_share, make_args
from tests.utils import tiny_llama

ROWS = 8


@pytest.fixture(scope="module")
def chat_pcot_prompts() -> list:
    """Conversations ending with the assistant's message that opens the program (`def solution():` + docstring)."""
    rows = load_task("svamp", cot="pcot", template="chat", program_prefix_in_prompt=True, limit=ROWS)
    return list(rows["prompt"])


@pytest.fixture(scope="module")
def trainer(tokenizer, tmp_path_factory, chat_pcot_prompts):
    """A ReFTPPOTrainer on a tiny random Llama with the real SmolLM2 tokenizer, trained on the chat P-CoT prompts."""
    return ReFTPPOTrainer(
        model=tiny_llama(SMALL_VOCAB),
        reward_funcs=digit_share,
        args=make_args(tmp_path_factory.mktemp("continued")),
        train_dataset=Dataset.from_dict({"prompt": chat_pcot_prompts}),
        processing_class=tokenizer,
    )


def test_a_chat_pcot_prompt_is_continued_as_evaluation_tokenizes_it(trainer, tokenizer, chat_pcot_prompts):
    prompt_ids, images, multimodal_fields = trainer._tokenize_prompts(chat_pcot_prompts)
    assert prompt_ids == [encode_prompt(tokenizer, prompt) for prompt in chat_pcot_prompts]
    # tests/data/test_token_boundary.py reads the PPO rollouts' prompt tokens from `continued_prompt_ids`
    assert prompt_ids == continued_prompt_ids(tokenizer, chat_pcot_prompts)
    assert (images, multimodal_fields) == (None, {})
    for ids, prompt in zip(prompt_ids, chat_pcot_prompts, strict=True):
        assert tokenizer.decode(ids).endswith(prompt[-1]["content"])  # the opening is left open for the body

    # TRL alone closes the opening's turn and starts another
    trl_ids, _, _ = GRPOTrainer._tokenize_prompts(trainer, chat_pcot_prompts)
    assert tokenizer.decode(trl_ids[0]).endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert trl_ids != prompt_ids


def test_prompts_not_ending_with_the_assistants_message_are_trls(trainer, tokenizer):
    plain = ["1+1=", "2+3="]
    assert trainer._tokenize_prompts(plain) == GRPOTrainer._tokenize_prompts(trainer, plain)
    assert trainer._tokenize_prompts(plain)[0] == [encode_prompt(tokenizer, prompt) for prompt in plain]

    asked = [[{"role": "user", "content": "1+1="}], [{"role": "user", "content": "2+3="}]]
    assert trainer._tokenize_prompts(asked) == GRPOTrainer._tokenize_prompts(trainer, asked)
    # TRL's result for text conversations has the shape the continued batches get: ids, no images, no fields
    assert GRPOTrainer._tokenize_prompts(trainer, asked) == ([encode_prompt(tokenizer, p) for p in asked], None, {})


def test_a_mixed_batch_continues_the_assistants_message_and_prompts_after_the_users(
    trainer, tokenizer, chat_pcot_prompts
):
    mixed = [chat_pcot_prompts[0], [{"role": "user", "content": "1+1="}]]
    prompt_ids, _, _ = trainer._tokenize_prompts(mixed)
    assert prompt_ids == [encode_prompt(tokenizer, prompt) for prompt in mixed]
    assert prompt_ids[1] == GRPOTrainer._tokenize_prompts(trainer, mixed[1:])[0][0]


def test_with_tools_every_batch_is_trls(trainer, chat_pcot_prompts, monkeypatch):
    def add(a: int, b: int) -> int:
        """Add two numbers.

        Args:
            a: the first number.
            b: the second number.
        """
        return a + b

    monkeypatch.setattr(trainer, "tools", [add])
    assert trainer._tokenize_prompts(chat_pcot_prompts) == GRPOTrainer._tokenize_prompts(trainer, chat_pcot_prompts)
