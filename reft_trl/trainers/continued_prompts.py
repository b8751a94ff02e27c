"""`ContinuedPromptsMixin`: rollouts continue a conversation that ends with the assistant's message, as evaluation does.

With `template="chat"` and `program_prefix_in_prompt=True`, a P-CoT prompt ends with an assistant message holding the
program's opening (`def solution():` and the question as its docstring); the model writes the rest of that message,
which is the text SFT trained on. TRL 1.16's `GRPOTrainer._tokenize_prompts` renders every conversation with
`add_generation_prompt=True`: it would close that message (`<|im_end|>`) and open a new assistant turn, a context the
warm-up never saw. The prompts of such a batch are tokenized here as `reft_trl.generation.encode_prompt` tokenizes them
for evaluation (the final message continued); every other batch is TRL's.
"""

from __future__ import annotations

from ..generation import encode_prompt


def _text_conversation(prompt) -> bool:
    """Whether `prompt` is a conversation whose every message's content is text (no images or content parts)."""
    return isinstance(prompt, list) and all(isinstance(message.get("content"), str) for message in prompt)


def continues_final_message(prompt) -> bool:
    """Whether `prompt` is a text-only conversation ending with the assistant's message, which the model continues.

    >>> continues_final_message([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "def solution():"}])
    True
    >>> continues_final_message([{"role": "user", "content": "Q"}]), continues_final_message("Q")
    (False, False)
    """
    return _text_conversation(prompt) and len(prompt) > 0 and prompt[-1].get("role") == "assistant"


def continued_prompt_ids(tokenizer, prompts: list, **chat_template_kwargs) -> list[list[int]] | None:
    """The token ids rollouts sample from for a batch of text-only conversations of which at least one ends with the
    assistant's message: each prompt's `encode_prompt` ids (a final assistant message continued, a final user message
    followed by the generation prompt). None for any other batch (plain text, no final assistant message, images):
    TRL's `_tokenize_prompts` tokenizes it right.

    `chat_template_kwargs` go to the chat template (the trainer's `args.chat_template_kwargs`, as TRL passes them).
    """
    if (
        not prompts
        or not all(_text_conversation(prompt) for prompt in prompts)
        or not any(continues_final_message(prompt) for prompt in prompts)
    ):
        return None
    return [encode_prompt(tokenizer, prompt, **chat_template_kwargs) for prompt in prompts]


class ContinuedPromptsMixin:
    """TRL's `_tokenize_prompts`, except for a batch of text-only conversations of which one ends with the assistant's
    message: `continued_prompt_ids`. With a vision-language processor, tools or environments (none of which reft-trl's
    trainers take) every batch is TRL's. Mix in before `GRPOTrainer`."""

    def _tokenize_prompts(self, prompts: list):
        if not (self._is_vlm or self.tools or self.environment_factories is not None):
            prompt_ids = continued_prompt_ids(self.processing_class, prompts, **self.chat_template_kwargs)
            if prompt_ids is not None:
                return prompt_ids, None, {}  # TRL's (prompt_ids, images, multimodal_fields) for text
        return super()._tokenize_prompts(prompts)
