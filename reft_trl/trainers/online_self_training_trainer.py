"""`OnlineSelfTrainingTrainer`: online self-training (Online-ST), a baseline of the ReFT paper, on TRL's `GRPOTrainer`.

The loop is ReFT's (TRL samples one solution per question from the current policy and scores it with the answer
reward; `RolloutScoresMixin` keeps the raw scores); the update is supervised. Three named overrides:

- `_generate_single_turn`: samples in eval mode, as the authors' rollouts (`model.eval()`), so a model trained with
  dropout (`disable_dropout=False`) samples without it.
- `_generate_and_score_completions`: marks the samples whose reward equals `keep_reward` (1: correct) and tokenizes
  the same questions' gold chains of thought.
- `_compute_loss`: one forward over the kept samples and the gold chains of thought; the loss is
  `sampled_loss_weight * CE(kept samples) + gold_loss_weight * CE(gold)`, token means (the authors' `train_rl_sl.py`:
  each term halved; the sampled term is 0 when no sample in the micro-batch was correct). No KL, no critic.

`SkipTrlRolloutLogpsMixin` spares the policy forward TRL's rollout would run for old log-probs, which the loss never
reads.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback
from trl import GRPOTrainer
from trl.trainer.utils import pad

from ..preflight import check_trainer_inputs, trainer_config
from .atomic_checkpoints import AtomicCheckpointsMixin
from .config_checks import refuse_router_aux_loss
from .continued_prompts import ContinuedPromptsMixin
from .default_rewards import default_reward_funcs
from .online_self_training_config import OnlineSelfTrainingConfig
from .paper import REFT_PAPER
from .ppo_math import masked_mean
from .rollout_logps import SkipTrlRolloutLogpsMixin
from .rollout_scores import RolloutScoresMixin
from .tokenization import (
    drop_long_prompts,
    load_rollout_policy,
    model_init_kwargs_applied,
    warn_on_split_boundary,
)

GOLD_COLUMN = "completion"


class OnlineSelfTrainingTrainer(
    AtomicCheckpointsMixin, ContinuedPromptsMixin, RolloutScoresMixin, SkipTrlRolloutLogpsMixin, GRPOTrainer
):
    """
    Trainer for the online self-training baseline of the ReFT paper: from the warm-up (SFT) model, sample one solution
    per training question, keep those with reward exactly 1, and train with cross-entropy on them (weight 0.5) and on
    the gold chains of thought (weight 0.5). No KL penalty, no critic: ReFT's loop with a supervised update.

    Args:
        model (`str` or `PreTrainedModel`):
            The warm-up policy: a path / Hub id or a causal LM.
        reward_funcs (callable or list, *optional*):
            TRL reward functions. Defaults to `AnswerMatchReward(args.task, args.cot)`.
        args ([`OnlineSelfTrainingConfig`], *optional*):
            Configuration; defaults are the authors'.
        train_dataset (`Dataset`):
            Rows with a plain-text `prompt`, the gold chain of thought in `completion` (continuing the prompt) and
            what the reward reads (`answer`), e.g. `reft_trl.data.load_task("svamp", cot="pcot",
            program_prefix_in_prompt=True)`: with P-CoT the prompt opens the program and `completion` is its body.
        processing_class (`PreTrainedTokenizerBase`, *optional*):
            Tokenizer; loaded from the model when omitted.
        peft_config (`peft.PeftConfig`, *optional*):
            Trains an adapter instead of the full model.

    Example:

    ```python
    from reft_trl import OnlineSelfTrainingConfig, OnlineSelfTrainingTrainer
    from reft_trl.data import load_task

    args = OnlineSelfTrainingConfig(output_dir="onst-svamp", task="svamp", per_device_train_batch_size=4)
    trainer = OnlineSelfTrainingTrainer(
        model="path/to/sft-warmup/checkpoint-epoch-2", args=args, train_dataset=load_task("svamp", cot="ncot")
    )
    trainer.train()
    ```
    """

    _tag_names = ["trl", "reft", "online-self-training"]
    _name = "Online-ST"
    _paper = REFT_PAPER

    def __init__(
        self,
        model: str | PreTrainedModel,
        reward_funcs: Callable | list[Callable] | None = None,
        args: OnlineSelfTrainingConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        reward_processing_classes=None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers=(None, None),
        peft_config=None,
    ):
        check_trainer_inputs(model, train_dataset)
        args = trainer_config(args, OnlineSelfTrainingConfig, "online-self-training")
        loads_model = isinstance(model, str)
        model, processing_class = load_rollout_policy(model, processing_class, args)
        _check_gold_completions(train_dataset)
        train_dataset = drop_long_prompts(
            train_dataset, processing_class, args.max_prompt_length, args.chat_template_kwargs
        )
        warn_on_split_boundary(train_dataset, processing_class)
        with model_init_kwargs_applied(loads_model and bool(args.model_init_kwargs)):
            super().__init__(
                model=model,
                reward_funcs=default_reward_funcs(args, reward_funcs),
                args=args,
                train_dataset=train_dataset,
                eval_dataset=eval_dataset,
                processing_class=processing_class,
                reward_processing_classes=reward_processing_classes,
                callbacks=callbacks,
                optimizers=optimizers,
                peft_config=peft_config,
            )
        refuse_router_aux_loss(self)  # TRL's GRPO decides whether it would add the loss this trainer replaces

    # ------------------------------------------------------------------------------------------------------------
    # Rollout: sampling in eval mode, which samples to keep, and the gold chains of thought of the same questions
    def _generate_single_turn(self, *args, **kwargs):
        was_training = self.model.training
        self.model.eval()
        try:
            return super()._generate_single_turn(*args, **kwargs)
        finally:
            self.model.train(was_training)

    def _generate_and_score_completions(self, inputs):
        batch = super()._generate_and_score_completions(inputs)
        device = batch["completion_ids"].device
        keep = (self._local_scores(len(inputs)).to(device) == self.args.keep_reward).float()
        prompt_lengths = batch["prompt_mask"].sum(dim=1).tolist()
        gold_ids, gold_mask = self._tokenize_gold([row[GOLD_COLUMN] for row in inputs], prompt_lengths, device)
        batch.update(keep=keep, gold_completion_ids=gold_ids, gold_completion_mask=gold_mask)

        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["self_training/kept_fraction"].append(self.accelerator.gather(keep).mean().item())
        return batch

    def _tokenize_gold(self, texts: list[str], prompt_lengths: list[int], device) -> tuple[torch.Tensor, torch.Tensor]:
        """Gold chains of thought as completion tokens: the text, then EOS (as SFT trains), cut at the completion
        budget and, with `max_gold_input_length`, where prompt + gold reach it; right-padded."""
        tokenizer = self.processing_class
        rows = tokenizer(text=texts, add_special_tokens=False)["input_ids"]
        budgets = [self.max_completion_length] * len(rows)
        if self.args.max_gold_input_length is not None:
            budgets = [
                max(0, min(budget, self.args.max_gold_input_length - prompt_length))
                for budget, prompt_length in zip(budgets, prompt_lengths, strict=True)
            ]
        rows = [(ids + [tokenizer.eos_token_id])[:budget] for ids, budget in zip(rows, budgets, strict=True)]
        ids = [torch.tensor(row, dtype=torch.long, device=device) for row in rows]
        mask = [torch.ones_like(row) for row in ids]
        return pad(ids, padding_value=tokenizer.pad_token_id), pad(mask, padding_value=0)

    # ------------------------------------------------------------------------------------------------------------
    # Loss
    def _compute_loss(self, model, inputs):
        keep = inputs["keep"].bool()
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        sampled_ids, sampled_mask = inputs["completion_ids"][keep], inputs["completion_mask"][keep]
        gold_ids, gold_mask = inputs["gold_completion_ids"], inputs["gold_completion_mask"]
        width = max(sampled_ids.size(1), gold_ids.size(1))
        pad_id = self.processing_class.pad_token_id
        completion_ids = torch.cat([_pad_right(sampled_ids, width, pad_id), _pad_right(gold_ids, width, pad_id)])
        completion_mask = torch.cat([_pad_right(sampled_mask, width, 0), _pad_right(gold_mask, width, 0)])
        input_ids = torch.cat([torch.cat([prompt_ids[keep], prompt_ids]), completion_ids], dim=1)
        attention_mask = torch.cat([torch.cat([prompt_mask[keep], prompt_mask]), completion_mask], dim=1)

        # One forward over [kept samples; gold chains of thought]
        logps, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention_mask, width)
        kept = sampled_ids.size(0)
        # Cross-entropy (token mean) of the kept samples, 0 when none was correct, and of the gold chains of thought
        sampled_ce = masked_mean(-logps[:kept], completion_mask[:kept]) if kept else logps.new_zeros(())
        gold_ce = masked_mean(-logps[kept:], completion_mask[kept:])
        loss = self.args.sampled_loss_weight * sampled_ce + self.args.gold_loss_weight * gold_ce

        mode = "train" if self.model.training else "eval"
        gather_mean = lambda x: self.accelerator.gather(x.detach().reshape(1)).mean().item()  # noqa: E731
        self._metrics[mode]["losses/sampled_ce"].append(gather_mean(sampled_ce))
        self._metrics[mode]["losses/gold_ce"].append(gather_mean(gold_ce))
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        return loss / normalizer


def _pad_right(tensor: torch.Tensor, width: int, value: int) -> torch.Tensor:
    return torch.nn.functional.pad(tensor, (0, width - tensor.size(1)), value=value)


def _check_gold_completions(dataset) -> None:
    """The dataset must carry each question's gold chain of thought as plain text in `completion`."""
    if dataset is None:
        return
    if GOLD_COLUMN not in dataset.column_names:
        raise ValueError(
            f"train_dataset has no {GOLD_COLUMN!r} column (columns: {', '.join(dataset.column_names)}): online "
            "self-training also trains on each question's gold chain of thought, e.g. load_task(task, cot)."
        )
    for index, row in enumerate(dataset):
        if not isinstance(row[GOLD_COLUMN], str) or not isinstance(row["prompt"], str):
            raise ValueError(
                f"train_dataset row {index}: `prompt` and `{GOLD_COLUMN}` must be plain text (template='reft'); "
                "conversational rows are not supported by online self-training."
            )
        if not row[GOLD_COLUMN].strip():
            raise ValueError(f"train_dataset row {index}: empty `{GOLD_COLUMN}` (the gold chain of thought).")
