"""Tokenizer set-up (with the rollout policy it is read from) and prompt-length filtering shared by the SFT, PPO and
online self-training stages (and the GRPO example)."""

from __future__ import annotations

import contextlib
import logging
import warnings

from ..generation import encode_prompt

ROLLOUT_PADDING_SIDE = "left"
"""Where a tokenizer loaded for a trainer that generates rollouts pads: generation continues left-padded prompts."""


def prepare_tokenizer(
    processing_class,
    model,
    *,
    padding_side: str | None = None,
    eos_token: str | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    config_name: str = "the config",
):
    """Load the tokenizer when missing; give it an EOS and a pad token when it has none (Galactica / OPT ships none).

    Args:
        processing_class: the tokenizer, or None to load the model's.
        model: a path, or a loaded model (a PEFT model's base model is read).
        padding_side: the padding side of a tokenizer loaded here (None: the tokenizer's own).
        eos_token: an EOS token that wins over the model config's (`fill_special_tokens`).
        trust_remote_code: passed to the loaders.
        revision: the model's revision (`model_init_kwargs["revision"]`), for the tokenizer and config loaded here.
        config_name: the config that sets `eos_token`, named in the error when no EOS can be found.
    """
    from transformers import AutoConfig, AutoTokenizer

    if not isinstance(model, str):
        from accelerate.utils import is_peft_model

        model = model.get_base_model() if is_peft_model(model) else model
    model_id = model if isinstance(model, str) else getattr(model.config, "_name_or_path", "")
    if processing_class is None:
        side = {} if padding_side is None else {"padding_side": padding_side}
        processing_class = AutoTokenizer.from_pretrained(
            model_id, trust_remote_code=trust_remote_code, revision=revision, **side
        )
    if processing_class.eos_token is not None and processing_class.pad_token is not None:
        return processing_class
    if isinstance(model, str):
        config = AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code, revision=revision)
    else:
        config = model.config
    return fill_special_tokens(processing_class, config, eos_token=eos_token, config_name=config_name)


def prepare_rollout_tokenizer(processing_class, model, **kwargs):
    """`prepare_tokenizer` for a trainer that generates rollouts (PPO, online self-training): a tokenizer loaded here
    pads on the left (`ROLLOUT_PADDING_SIDE`)."""
    return prepare_tokenizer(processing_class, model, padding_side=ROLLOUT_PADDING_SIDE, **kwargs)


def load_rollout_policy(model, processing_class, args):
    """`(model, tokenizer)` of a trainer that generates rollouts (PPO, online self-training), loaded as TRL's GRPO loads
    them: a path / Hub id with `args.model_init_kwargs` (`trust_remote_code` from `args` unless the kwargs set it;
    `device_map=None` under multi-GPU / DeepSpeed, seeded with `args.seed`), the tokenizer from
    `prepare_rollout_tokenizer` at that model's revision with `args.trust_remote_code` (as GRPO's own)."""
    kwargs = dict(args.model_init_kwargs or {})
    trust_remote_code = getattr(args, "trust_remote_code", False)
    revision = None  # a loaded model's tokenizer loads from its own folder, as GRPO's
    if isinstance(model, str):
        from transformers import set_seed
        from trl.trainer.utils import create_model_from_path

        if args.distributed_state.distributed_type in ("MULTI_GPU", "DEEPSPEED"):
            kwargs["device_map"] = None  # distributed training needs device_map=None ("auto" fails)
        kwargs.setdefault("trust_remote_code", trust_remote_code)
        revision = kwargs.get("revision")
        set_seed(args.seed)  # weights a checkpoint lacks are initialised alike in two runs of one seed
        model = create_model_from_path(model, **kwargs)
    loading = {"revision": revision, "trust_remote_code": trust_remote_code}
    return model, prepare_rollout_tokenizer(processing_class, model, **loading)


GRPO_IGNORED_KWARGS_LOG = "The `model_init_kwargs` will be ignored"
"""The end of the line TRL's GRPO logs whenever it is given a loaded model while `model_init_kwargs` is set."""


class _DropLine(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


@contextlib.contextmanager
def model_init_kwargs_applied(applied: bool):
    """While GRPO's set-up runs: drop its log line that `model_init_kwargs` are ignored when `load_rollout_policy`
    has just loaded the model with them (`applied`); the line stays when the user passed a loaded model."""
    grpo_logger = logging.getLogger("trl.trainer.grpo_trainer")
    line = _DropLine(GRPO_IGNORED_KWARGS_LOG)
    if applied:
        grpo_logger.addFilter(line)
    try:
        yield
    finally:
        grpo_logger.removeFilter(line)


def fill_special_tokens(tokenizer, model_config, eos_token: str | None = None, config_name: str = "the config"):
    """Give a tokenizer that lacks them an EOS and a pad token, from the model config (Galactica / OPT ships neither).

    Galactica's tokenizer defines neither; the paper sets pad id 1 and EOS id 2, which is what its model config says.
    `eos_token` (a config field of the SFT stage) wins over the config. The pad token falls back to EOS, which is safe
    because labels and masks are built before padding.
    """
    config = model_config.get_text_config() if hasattr(model_config, "get_text_config") else model_config
    if tokenizer.eos_token is None and eos_token is None:
        eos_id = config.eos_token_id[0] if isinstance(config.eos_token_id, list) else config.eos_token_id
        if eos_id is None:
            raise ValueError(
                f"The tokenizer and the model config define no EOS token; set `eos_token` in {config_name} "
                "(e.g. eos_token='</s>')."
            )
        tokenizer.eos_token = tokenizer.convert_ids_to_tokens(eos_id)
    if tokenizer.pad_token is None:
        pad_id = getattr(config, "pad_token_id", None)
        pad_token = tokenizer.convert_ids_to_tokens(pad_id) if pad_id is not None else None
        tokenizer.pad_token = pad_token or eos_token or tokenizer.eos_token
    return tokenizer


def prompt_length(tokenizer, prompt, chat_template_kwargs: dict | None = None) -> int:
    """Tokens in a prompt as the trainers feed it (`reft_trl.generation.encode_prompt`): plain text as is, a
    conversation through the chat template (with `chat_template_kwargs`, the trainer's `args.chat_template_kwargs`),
    with the generation prompt or, when it ends with the assistant's message (the P-CoT opening), continuing that
    message (`continued_prompts`)."""
    return len(encode_prompt(tokenizer, prompt, **(chat_template_kwargs or {})))


BOUNDARY_ROWS = 8
"""Rows with a gold completion that `warn_on_split_boundary` checks: a few tokenizations, at trainer start."""


def warn_on_split_boundary(dataset, tokenizer, rows: int = BOUNDARY_ROWS) -> bool:
    """Warn (and return True) when, in any of the first `rows` rows that hold a gold `completion`, the prompt's tokens
    are not the first tokens of prompt + completion: the prompt then ends inside a token of the text SFT trained on
    (as the paper's P-CoT opening did with byte-level BPE tokenizers, its final newline merged with the indentation),
    and rollouts sample from a token boundary the warm-up never saw. Plain-text prompts, tokenized as the trainers
    tokenize them (`reft_trl.generation.encode_prompt`); conversations are skipped (their completion is a message
    list, and `tests/data/test_token_boundary.py` covers the chat template's path)."""
    if not hasattr(dataset, "select") or "completion" not in (getattr(dataset, "column_names", None) or ()):
        return False  # no dataset, a streamed one, or prompts without gold completions
    checked = [row for row in dataset.select(range(min(len(dataset), 4 * rows))) if row["completion"]][:rows]
    for row in checked:
        prompt, completion = row["prompt"], row["completion"]
        if not isinstance(prompt, str):
            continue  # a conversation's completion is a message list: the chat path is tested on its own
        prompt_ids = encode_prompt(tokenizer, prompt)
        if encode_prompt(tokenizer, prompt, completion)[: len(prompt_ids)] != prompt_ids:
            warnings.warn(
                f"Row {row.get('item_id', '?')}: the prompt's tokens are not the first tokens of prompt + completion "
                f"(the prompt ends with {prompt[-20:]!r}): rollouts would start at a token boundary the SFT text "
                "never has. End the prompt where the tokenizer splits (e.g. before whitespace that the tokenizer "
                "merges with what follows).",
                stacklevel=2,
            )
            return True
    return False


def drop_long_prompts(dataset, tokenizer, max_prompt_length: int | None, chat_template_kwargs: dict | None = None):
    """Leave out rows whose prompt is longer than `max_prompt_length` tokens, and say how many were left out.

    Prompts are measured as the trainers tokenize them (`prompt_length`), conversations through the chat template
    with `chat_template_kwargs` (the trainer's `args.chat_template_kwargs`).

    Raises a `ValueError` when every prompt is too long: training on nothing would finish at once, having learnt
    nothing.
    """
    if dataset is None or max_prompt_length is None or not hasattr(dataset, "filter"):
        return dataset
    kept = dataset.filter(
        lambda row: prompt_length(tokenizer, row["prompt"], chat_template_kwargs) <= max_prompt_length,
        desc=f"Dropping prompts longer than {max_prompt_length} tokens",
    )
    if len(kept) == 0 and len(dataset) > 0:
        lengths = [prompt_length(tokenizer, prompt, chat_template_kwargs) for prompt in dataset["prompt"]]
        raise ValueError(
            f"every one of the {len(dataset)} training prompts is longer than max_prompt_length={max_prompt_length} "
            f"tokens (the shortest has {min(lengths)}, the longest {max(lengths)}): nothing is left to train on. "
            f"Raise max_prompt_length to at least {min(lengths)} (to {max(lengths)} to keep every prompt), or check "
            "that the prompts are the ones meant (template, chat template)."
        )
    if len(kept) < len(dataset):
        warnings.warn(
            f"Dropped {len(dataset) - len(kept)} of {len(dataset)} training prompts longer than "
            f"max_prompt_length={max_prompt_length} tokens.",
            stacklevel=2,
        )
    return kept
