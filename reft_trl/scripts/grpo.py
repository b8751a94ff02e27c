"""The critic-free alternative to ReFT's PPO stage: TRL's own `GRPOTrainer` with the ReFT answer reward.

The logic behind `examples/grpo_reft.py` and `reft-trl grpo`. The one change to TRL's trainer is the PPO stage's
`ContinuedPromptsMixin`: with `template="chat"` a P-CoT prompt ends with the program's opening as the assistant's
message, which the rollouts continue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reft_trl.answer_format import COTS, TASKS

from .data_args import DataArguments, model_init_kwargs, train_and_save

DEFAULT_NUM_GENERATIONS = 4
"""Sampled reasoning paths per question (TRL's own default is 8); the YAML recipe or `--num_generations` overrides."""


@dataclass
class GRPOTaskArguments(DataArguments):
    """
    The task, its chain-of-thought kind, and where the training questions come from (`GRPOConfig` has no task).

    task (`str` or `None`, *optional*, defaults to `None`):
        Task whose answer reward is used: `"gsm8k"`, `"svamp"`, `"mathqa"` or `"mathqa_numeric"`.
    cot (`str`, *optional*, defaults to `"ncot"`):
        Chain-of-thought kind: `"ncot"` (natural language) or `"pcot"` (a Python program).
    max_prompt_length (`int` or `None`, *optional*, defaults to `300`):
        Drop training questions whose prompt is longer than this many tokens; `None` keeps all.
    """

    task: str | None = field(
        default=None,
        metadata={
            "help": "Task whose answer reward is used: 'gsm8k', 'svamp', 'mathqa' or 'mathqa_numeric'.",
            "choices": list(TASKS),
        },
    )
    cot: str = field(
        default="ncot",
        metadata={
            "help": "Chain-of-thought kind: 'ncot' (natural language) or 'pcot' (a Python program).",
            "choices": list(COTS),
        },
    )
    max_prompt_length: int | None = field(
        default=300,
        metadata={"help": "Drop training questions whose prompt is longer than this many tokens (None keeps all)."},
    )


def main(script_args: GRPOTaskArguments, training_args, model_args) -> None:
    import transformers
    from packaging.version import Version
    from transformers import AutoConfig, AutoTokenizer
    from trl import GRPOTrainer, get_peft_config, get_quantization_config

    from reft_trl.preflight import check_model_path, require_rows
    from reft_trl.rewards import get_reward
    from reft_trl.trainers.continued_prompts import ContinuedPromptsMixin
    from reft_trl.trainers.tokenization import drop_long_prompts, fill_special_tokens

    class ReFTGRPOTrainer(ContinuedPromptsMixin, GRPOTrainer):
        """TRL's `GRPOTrainer`, continuing a prompt that ends with the assistant's message (`template="chat"`, P-CoT's
        opening in the prompt) as the PPO stage and evaluation do, where TRL would close it and open a new turn."""

    if script_args.task is None:
        raise ValueError("Set `task` (gsm8k, svamp, mathqa, mathqa_numeric) in the recipe or on the command line.")
    if model_args.model_name_or_path is None:
        raise ValueError("Set the model to train: --model_name_or_path <the warm-up checkpoint>.")
    check_model_path(model_args.model_name_or_path)

    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)

    hub_kwargs = dict(revision=model_args.model_revision, trust_remote_code=training_args.trust_remote_code)
    tokenizer = AutoTokenizer.from_pretrained(model_args.model_name_or_path, padding_side="left", **hub_kwargs)
    model_config = AutoConfig.from_pretrained(model_args.model_name_or_path, **hub_kwargs)
    fill_special_tokens(tokenizer, model_config)

    # As in the PPO stage: P-CoT rollouts start after the program header and the question as its docstring
    dataset = script_args.load(script_args.task, script_args.cot, for_rollouts=True)
    dataset = drop_long_prompts(dataset, tokenizer, script_args.max_prompt_length, training_args.chat_template_kwargs)
    require_rows(dataset, f"the GRPO training set (prompts of at most {script_args.max_prompt_length} tokens)")

    trainer = ReFTGRPOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=get_reward(script_args.task, script_args.cot),
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        quantization_config=get_quantization_config(model_args),
        peft_config=get_peft_config(model_args),
    )
    train_and_save(trainer, training_args)
    trainer.accelerator.print(f"Saved the GRPO policy to {training_args.output_dir}.")
    if Version(transformers.__version__) >= Version("5.18.0"):
        trainer.end()  # finish the trackers and the process group


def make_parser():
    from trl import ModelConfig, TrlParser

    from .grpo_config import GRPOStageConfig

    parser = TrlParser((GRPOTaskArguments, GRPOStageConfig, ModelConfig))
    # `num_generations` belongs to GRPOConfig; only its default changes here
    parser.set_defaults(num_generations=DEFAULT_NUM_GENERATIONS)
    return parser
