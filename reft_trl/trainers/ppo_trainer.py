"""`ReFTPPOTrainer`: PPO with a critic, the KL penalty in the reward and GAE, on TRL's `GRPOTrainer`.

What comes from TRL unchanged: the data loader and sampler, generation (transformers or vLLM), reward-function plumbing
and its logging, PEFT wrapping, DeepSpeed / FSDP preparation, checkpointing and the optimisation loop; prompts are
tokenized by TRL, except that a conversation ending with the assistant's message (the chat template's P-CoT opening) is
continued, as evaluation does (`ContinuedPromptsMixin`). What this class adds, each in one named override or private
verb:

- `_generate_and_score_completions`: after TRL's rollout and scoring (the raw scores kept by `RolloutScoresMixin`),
  one no-grad forward of the policy gives the rollout log-probs and the critic's values; then KL-shaped rewards ->
  GAE -> whitened advantages (`ppo_math`).
- `SkipTrlRolloutLogpsMixin`: the policy forward TRL's rollout runs for its own old log-probs is skipped, since the
  explicit call above replaces them (kept for vLLM's importance sampling).
- `_compute_loss`: one forward gives the new log-probs and values; clipped policy loss + `vf_coef` * clipped value loss.
- `_token_logps`: the one way policy, reference and rollout score completion tokens (`lm_head_scoring`: TRL's fused LM
  head, or the completion positions' logits, faster on a CPU).
- `_reference_logps`: the fixed reference is the warm-up model (a frozen copy, the frozen warm-up adapter under PEFT,
  or the base model when a fresh adapter is trained), never a moving target.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from contextlib import nullcontext

import torch
from accelerate.utils import is_peft_model
from datasets import Dataset
from transformers import PreTrainedModel, PreTrainedTokenizerBase, TrainerCallback, set_seed
from transformers.utils import logging
from trl import GRPOTrainer
from trl.models import prepare_deepspeed, prepare_fsdp
from trl.trainer.utils import (
    add_fused_lm_head,
    disable_dropout_in_model,
    selective_log_softmax,
    selective_log_softmax_and_entropy,
    shuffle_sequence_dict,
    split_tensor_dict,
    use_adapter,
)

from ..preflight import check_trainer_inputs, trainer_config
from .atomic_checkpoints import AtomicCheckpointsMixin
from .checkpoints import disk_full_explained, load_safetensors, require_complete_checkpoint
from .config_checks import refuse_router_aux_loss
from .continued_prompts import ContinuedPromptsMixin
from .default_rewards import default_reward_funcs as _default_reward_funcs
from .mixed_precision_generation import MixedPrecisionGenerationMixin
from .paper import REFT_PAPER
from .ppo_config import ReFTPPOConfig, uses_fused_lm_head
from .ppo_math import (
    compute_gae,
    explained_variance,
    kl_penalty,
    kl_shaped_rewards,
    masked_mean,
    masked_whiten,
    policy_loss,
    value_loss,
)
from .rollout_logps import SkipTrlRolloutLogpsMixin
from .rollout_scores import RolloutScoresMixin
from .tokenization import (
    drop_long_prompts,
    load_rollout_policy,
    model_init_kwargs_applied,
    warn_on_split_boundary,
)
from .value_head import (
    VALUE_HEAD_FILE,
    VALUE_HEAD_NAME,
    ValueHead,
    ValueModelCritic,
    attach_value_head,
    hidden_size_of,
)

REFERENCE_ADAPTER = "ref"

logger = logging.get_logger(__name__)


class ReFTPPOTrainer(
    AtomicCheckpointsMixin,
    ContinuedPromptsMixin,
    MixedPrecisionGenerationMixin,
    RolloutScoresMixin,
    SkipTrlRolloutLogpsMixin,
    GRPOTrainer,
):
    """
    Trainer for ReFT's reinforcement-learning stage: PPO from the warm-up (SFT) model, with a programmatic answer
    reward, a per-token KL penalty to the warm-up model inside the reward, a value head on the policy's last hidden
    state, GAE and clipped policy / value losses.

    Args:
        model (`str` or `PreTrainedModel` or `PeftModel`):
            The warm-up policy: a path / Hub id, a causal LM, or a `PeftModel` whose adapter holds the warm-up.
        reward_funcs (callable or list, *optional*):
            TRL reward functions (or reward models). Defaults to `AnswerMatchReward(args.task, args.cot)`.
        args ([`ReFTPPOConfig`], *optional*):
            Configuration; defaults are the paper's.
        train_dataset (`Dataset`):
            Rows with a `prompt` column plus whatever the reward functions read (`answer` for the default reward),
            e.g. `reft_trl.data.load_task("svamp", cot="pcot", program_prefix_in_prompt=True)`. TRL 1.12-style datasets with only
            an `input_ids` column are decoded into prompts.
        processing_class (`PreTrainedTokenizerBase`, *optional*):
            Tokenizer; loaded from the model when omitted. Galactica (OPT) tokenizers without a pad token get one.
        ref_model (`PreTrainedModel`, *optional*):
            Explicit reference model. By default the reference is a frozen copy of `model` at the start of training.
        value_model (`PreTrainedModel`, *optional*):
            A separate critic network (e.g. a 1-label `*ForSequenceClassification`, as TRL 1.12's `PPOTrainer` took);
            its own 1-output `score` layer is kept as initialised (a reward model's, say), other models get a
            zero-initialised head. By default the critic is a value head sharing the policy's backbone, as in the
            paper: one forward pass gives both the log-probabilities and the values.
        reward_model (`nn.Module` or `str`, *optional*):
            A sequence-classification reward model (TRL 1.12's `PPOTrainer` argument); appended to `reward_funcs`.
        peft_config (`peft.PeftConfig`, *optional*):
            Trains a new adapter; the value head is trained beside it and the reference is the base model.

    Example:

    ```python
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from reft_trl import ReFTPPOConfig, ReFTPPOTrainer
    from reft_trl.data import load_task

    model = AutoModelForCausalLM.from_pretrained("path/to/sft-warmup/checkpoint-epoch-2")
    args = ReFTPPOConfig(output_dir="reft-svamp", task="svamp", per_device_train_batch_size=4)
    trainer = ReFTPPOTrainer(model=model, args=args, train_dataset=load_task("svamp", cot="ncot"))
    trainer.train()
    ```
    """

    _tag_names = ["trl", "reft", "ppo"]
    _name = "ReFT-PPO"
    _paper = REFT_PAPER

    def __init__(
        self,
        model: str | PreTrainedModel,
        reward_funcs: Callable | list[Callable] | None = None,
        args: ReFTPPOConfig | None = None,
        train_dataset: Dataset | None = None,
        eval_dataset: Dataset | None = None,
        processing_class: PreTrainedTokenizerBase | None = None,
        reward_processing_classes=None,
        callbacks: list[TrainerCallback] | None = None,
        optimizers=(None, None),
        peft_config=None,
        ref_model: PreTrainedModel | None = None,
        value_model: PreTrainedModel | None = None,
        reward_model=None,
    ):
        check_trainer_inputs(model, train_dataset)
        args = trainer_config(args, ReFTPPOConfig, "reft-ppo")

        # Model
        loads_model = isinstance(model, str)
        model, processing_class = load_rollout_policy(model, processing_class, args)

        # Reference model: the warm-up policy, frozen. Copied before the value head or an adapter is added.
        self._reference_adapter = None
        if args.kl_coef != 0.0 and ref_model is None and not is_peft_model(model) and peft_config is None:
            ref_model = copy.deepcopy(model)
        elif args.kl_coef != 0.0 and is_peft_model(model) and peft_config is None:
            ref_model, self._reference_adapter = None, _add_frozen_copy_of_adapter(model)

        # Critic: a value head on the policy's last hidden state (or a separate value model), attached to the policy
        # before the optimizer and PEFT see it, so it is trained, sharded and checkpointed with it. Seeded first, so
        # two runs with the same seed start from the same critic.
        set_seed(args.seed)
        base = _causal_lm(model)
        critic = ValueHead(hidden_size_of(base)) if value_model is None else ValueModelCritic(value_model)
        base.add_module(VALUE_HEAD_NAME, critic.to(next(base.parameters()).device))

        # Rewards
        reward_funcs = _default_reward_funcs(args, reward_funcs, reward_model)
        train_dataset = _prompts_from_input_ids(train_dataset, processing_class)
        train_dataset = drop_long_prompts(
            train_dataset, processing_class, args.max_prompt_length, args.chat_template_kwargs
        )
        warn_on_split_boundary(train_dataset, processing_class)

        with model_init_kwargs_applied(loads_model and bool(args.model_init_kwargs)):
            super().__init__(
                model=model,
                reward_funcs=reward_funcs,
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

        # The value head trains beside a PEFT adapter, whose wrapping froze every non-adapter weight.
        policy = self.model.get_base_model() if is_peft_model(self.model) else self.model
        getattr(policy, VALUE_HEAD_NAME).requires_grad_(True)
        attach_value_head(policy, getattr(policy, VALUE_HEAD_NAME))  # after TRL's fused LM head patch
        self.ref_model = self._prepare_reference(ref_model)
        if getattr(self, "vllm_generation", None) is not None:
            _sync_only_the_policy_to_vllm(self.vllm_generation)
        self._set_up_rollout_decoding()
        self._fused_lm_head = uses_fused_lm_head(args, self.accelerator.device)
        self._kl_guard_tripped = False  # set by the `max_sequence_kl` guard: the next optimizer step moves nothing

    # ------------------------------------------------------------------------------------------------------------
    # Reference model
    def _prepare_reference(self, ref_model):
        if ref_model is None:
            return None
        ref_model.eval().requires_grad_(False)
        if self.args.disable_dropout:
            disable_dropout_in_model(ref_model)
        add_fused_lm_head(ref_model, temperature=self.temperature, cast_lm_head_to_fp32=self.args.cast_lm_head_to_fp32)
        if self.is_deepspeed_enabled:
            return prepare_deepspeed(ref_model, self.accelerator)
        if self.is_fsdp_enabled:
            return prepare_fsdp(ref_model, self.accelerator)
        return self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    @torch.no_grad()
    def _reference_logps(self, input_ids, attention_mask, logits_to_keep, batch_size):
        """log π_ref of each completion token, from the frozen warm-up model, `batch_size` rows per forward."""
        if self.ref_model is not None:
            model, reference = self.ref_model, nullcontext()
        else:  # PEFT: the frozen copy of the warm-up adapter, or the base model (fresh adapter)
            model = self.model
            reference = use_adapter(self.accelerator.unwrap_model(self.model), adapter_name=self._reference_adapter)
        with reference:
            chunks = _row_chunks(input_ids, attention_mask, batch_size)
            return torch.cat([self._token_logps(model, ids, mask, logits_to_keep)[0] for ids, mask in chunks])

    # ------------------------------------------------------------------------------------------------------------
    # Policy + critic forward
    def _token_logps(self, model, input_ids, attention_mask, logits_to_keep, compute_entropy=False, **forward_kwargs):
        """log π (B, T) and entropy (B, T) or None of the last `logits_to_keep` tokens, and the forward's outputs.

        Policy, reference and rollout are all scored by this one path (so policy == reference gives a KL of exactly 0
        and the first PPO ratio is exactly 1): TRL's fused LM head (`lm_head_scoring="fused"`: no (B, L, V) logits
        tensor; it scores every position on devices without Triton) or the logits of the completion positions only
        (`"logits"`: transformers' `logits_to_keep`, one plain matmul per forward). Padding tokens get 0.
        """
        if self._fused_lm_head:
            labels = input_ids.masked_fill(attention_mask == 0, -100)
            labels[:, :-logits_to_keep] = -100
            with self.accelerator.autocast():
                outputs = model(
                    input_ids=input_ids, attention_mask=attention_mask, labels=labels, fused_lm_head=True,
                    **forward_kwargs,
                )  # fmt: skip
            logps = outputs.log_probs[:, -logits_to_keep:]
            return logps, outputs.entropy[:, -logits_to_keep:] if compute_entropy else None, outputs
        with self.accelerator.autocast():
            outputs = model(
                input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=logits_to_keep + 1, use_cache=False,
                **forward_kwargs,
            )  # fmt: skip
        # Position t - 1 predicts completion token t (sliced from the end: a model that ignores `logits_to_keep`
        # returns every position)
        logits = outputs.logits[:, -logits_to_keep - 1 : -1].float()
        targets, completion_mask = input_ids[:, -logits_to_keep:], attention_mask[:, -logits_to_keep:]
        if not compute_entropy:
            logps = selective_log_softmax(logits, targets, self.temperature, row_mask=completion_mask)
            return logps, None, outputs
        logps, entropies = selective_log_softmax_and_entropy(
            logits, targets, temperature=self.temperature, row_mask=completion_mask,
            entropy_requires_grad=torch.is_grad_enabled() and self.args.entropy_coef != 0,  # no graph for a log value
        )  # fmt: skip
        return logps, entropies, outputs

    def _policy_logps_and_values(
        self, model, input_ids, attention_mask, logits_to_keep, compute_entropy=False, detach_critic_input=False
    ):
        """One forward of the shared backbone: per-token log π (B, T), entropy (B, T) or None, values V(s_t) (B, T).

        The value of completion token t is read at the position before it (the state from which it was sampled).
        With `detach_critic_input`, the values' gradient stops at the value head.
        """
        logps, entropies, outputs = self._token_logps(
            model, input_ids, attention_mask, logits_to_keep, compute_entropy,
            return_values=True, detach_critic_input=detach_critic_input,
        )  # fmt: skip
        values = outputs["state_values"][:, -logits_to_keep - 1 : -1]
        return logps, entropies, values

    # ------------------------------------------------------------------------------------------------------------
    # Rollout: scores -> KL-shaped rewards -> GAE
    def _rollout_logps_and_values(self, input_ids, attention_mask, logits_to_keep, batch_size):
        """The policy's log π and values V(s_t) of a rollout, `batch_size` rows per forward."""
        chunks = [
            self._policy_logps_and_values(self.model, ids, mask, logits_to_keep)
            for ids, mask in _row_chunks(input_ids, attention_mask, batch_size)
        ]
        logps, _, values = zip(*chunks, strict=True)
        return torch.cat(logps), torch.cat(values)

    def _generate_and_score_completions(self, inputs):
        if any(key in inputs[0] for key in ("image", "images")):
            raise ValueError("ReFTPPOTrainer is text-only: the dataset has image columns.")
        batch = super()._generate_and_score_completions(inputs)  # TRL's own old-log-prob forward skipped (mixin)

        prompt_ids, completion_ids = batch["prompt_ids"], batch["completion_ids"]
        mask = batch["completion_mask"] if "tool_mask" not in batch else batch["completion_mask"] * batch["tool_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        logits_to_keep = completion_ids.size(1)
        chunk = self.args.per_device_train_batch_size
        scores = self._sequence_scores(completion_ids, mask, len(inputs))

        with torch.no_grad():
            # One forward of the policy gives the rollout's log π and the critic's V(s_t). Its log π replaces any that
            # TRL computed (only for vLLM's importance sampling; otherwise TRL's forward was skipped): `_compute_loss`
            # scores through the same `_token_logps`, so the first epoch's ratio is exactly 1.
            old_logps, values = self._rollout_logps_and_values(input_ids, attention_mask, logits_to_keep, chunk)
            batch["old_per_token_logps"] = old_logps
            values = values * mask

            if self.args.kl_coef != 0.0:
                ref_logps = self._reference_logps(input_ids, attention_mask, logits_to_keep, chunk)
                kl = kl_penalty(old_logps, ref_logps, self.args.kl_estimator) * mask
            else:
                kl = torch.zeros_like(old_logps)

            # Per-token reward: r_t = -β KL_t, plus the answer score on the last completion token
            rewards = kl_shaped_rewards(scores, kl, mask, self.args.kl_coef)
            if self.args.whiten_rewards:
                rewards = masked_whiten(rewards, mask, shift_mean=False, across_processes=True)
            advantages, returns = compute_gae(rewards, values, mask, self.args.gamma, self.args.lam)
            if self.args.critic_lam is not None and self.args.critic_lam != self.args.lam:
                # Decoupled GAE: the critic regresses to λ_critic-returns, the policy follows λ-advantages
                _, returns = compute_gae(rewards, values, mask, self.args.gamma, self.args.critic_lam)
            if self.args.whiten_advantages:
                advantages = masked_whiten(advantages, mask, across_processes=True)

        batch.update(advantages=advantages, returns=returns, old_values=values)
        self._log_rollout(scores, kl, values, returns, mask)
        self._replace_grpo_group_logs(advantages)
        if self.model.training:  # an evaluation between PPO epochs must not replace the rollout being trained on
            self._rollout_batch = batch
        return batch

    def _sequence_scores(self, completion_ids, mask, local_batch_size) -> torch.Tensor:
        """The per-completion score fed into the last token's reward: weighted reward functions, minus the EOS penalty."""
        scores = self._local_scores(local_batch_size)
        if self.args.missing_eos_penalty is not None:
            lengths = mask.sum(dim=1).long().clamp(min=1)
            last_tokens = completion_ids.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)
            ends_with_eos = torch.isin(last_tokens, torch.tensor(self.eos_token_ids, device=last_tokens.device))
            scores = scores - self.args.missing_eos_penalty * (~ends_with_eos).float()
        return scores

    def _log_rollout(self, scores, kl, values, returns, mask):
        metrics = self._metrics["train" if self.model.training else "eval"]
        # Over the whole rollout batch with the values that made the advantages (CleanRL's): a mini-batch whose
        # returns are all alike (every answer correct) has a near-zero variance that makes a per-mini-batch ratio
        # meaningless
        metrics["losses/explained_variance"].append(
            explained_variance(values, returns, mask, across_processes=True).item()
        )
        sequence_kl = (kl * mask).sum(dim=1)
        mean_sequence_kl = self.accelerator.gather(sequence_kl).mean().item()
        metrics["objective/scores"].append(self.accelerator.gather(scores).mean().item())
        metrics["objective/kl"].append(mean_sequence_kl)
        limit = self.args.max_sequence_kl
        if self.model.training:  # each training rollout sets the guard anew, and so does `train()`
            self._kl_guard_tripped = limit is not None and mean_sequence_kl > limit
            if self._kl_guard_tripped:
                logger.warning(
                    f"Stopping PPO at step {self.state.global_step}: the rollout's KL to the warm-up is "
                    f"{mean_sequence_kl:.3g} nats per sequence, above max_sequence_kl={limit}. This rollout is not "
                    "trained on; the model kept is the policy that sampled it."
                )
                self.control.should_save = self.args.save_strategy != "no"
                self.control.should_training_stop = True
        non_score = -self.args.kl_coef * sequence_kl  # the KL part of the rewards, before any whitening
        metrics["objective/non_score_reward"].append(self.accelerator.gather(non_score).mean().item())

    def _replace_grpo_group_logs(self, advantages):
        """TRL's rollout logs GRPO's group statistics, which mean nothing here (one sample per question): its
        `frac_reward_zero_std` is always 1 and its completions table's advantages always 0. The table gets each
        completion's advantage at its first token instead, and the group metric is dropped."""
        self._metrics["train" if self.model.training else "eval"].pop("frac_reward_zero_std", None)
        logged = self._logs["advantages"]
        first_token = self.accelerator.gather(advantages[:, 0].contiguous()).tolist()
        for _ in range(min(len(first_token), len(logged))):
            logged.pop()
        logged.extend(first_token)

    # ------------------------------------------------------------------------------------------------------------
    # Loss
    def _compute_loss(self, model, inputs):
        completion_ids = inputs["completion_ids"]
        mask = (
            inputs["completion_mask"] if "tool_mask" not in inputs else inputs["completion_mask"] * inputs["tool_mask"]
        )
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention_mask = torch.cat([inputs["prompt_mask"], inputs["completion_mask"]], dim=1)
        critic_warmup = self._in_critic_warmup()
        logps, entropies, values = self._policy_logps_and_values(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=True,
            detach_critic_input=critic_warmup or self.args.critic_detach_backbone,
        )  # fmt: skip

        # Policy loss (clipped surrogate, Schulman et al. 2017, eq. 7), weighted by the vLLM importance-sampling
        # correction when TRL computed one (the sampler's and the trainer's probabilities differ)
        pg_loss, pg_stats = policy_loss(
            logps, inputs["old_per_token_logps"], inputs["advantages"], mask, self.args.cliprange,
            weights=inputs.get("importance_sampling_ratio"),
        )  # fmt: skip
        # Value loss (clipped, as in the paper's code and TRL's PPO)
        vf_loss, vf_stats = value_loss(
            values, inputs["old_values"], inputs["returns"], mask, self.args.cliprange_value
        )
        entropy = masked_mean(entropies, mask)
        if critic_warmup:  # value-only update: the policy and the backbone get no gradient
            loss = self.args.vf_coef * vf_loss
        else:
            loss = pg_loss + self.args.vf_coef * vf_loss - self.args.entropy_coef * entropy

        mode = "train" if self.model.training else "eval"
        normalizer = self.current_gradient_accumulation_steps if mode == "train" else 1.0
        self._log_losses(mode, pg_loss, vf_loss, entropy, pg_stats, vf_stats)
        return loss / normalizer

    def train(self, *args, **kwargs):
        self._kl_guard_tripped = False
        return super().train(*args, **kwargs)

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if self._kl_guard_tripped:
            # The KL guard fired in this step's rollout: zero gradients and a zero learning rate for the optimizer
            # step that follows, so the weights stay exactly those that sampled it (in fp32, bf16 and fp16 with its
            # grad scaler alike); the scheduler sets the rate again at its next step
            model.zero_grad(set_to_none=False)
            for group in self.optimizer.param_groups:
                group["lr"] = 0.0
        return loss

    def _in_critic_warmup(self) -> bool:
        """Whether the current micro-batch belongs to the first `critic_warmup_rollouts` rollouts.

        A rollout is `steps_per_generation * num_iterations` micro-batches; `global_step` counts optimizer steps of
        `gradient_accumulation_steps` micro-batches each.
        """
        micro_batches_per_rollout = self.args.steps_per_generation * self.num_iterations
        micro_batches_done = self.state.global_step * self.args.gradient_accumulation_steps
        warmup = self.args.critic_warmup_rollouts * micro_batches_per_rollout
        return self.model.training and micro_batches_done < warmup

    # ------------------------------------------------------------------------------------------------------------
    # Mini-batches: a fresh shuffle of the rollout for every PPO epoch (TRL shuffles once per rollout)
    def _prepare_inputs(self, generation_batch):
        steps = self.args.steps_per_generation
        if (
            self.model.training
            and steps > 1
            and self._buffered_inputs is not None
            and self._step % (steps * self.num_iterations) != 0
            and self._step % steps == 0
        ):
            self._buffered_inputs = split_tensor_dict(shuffle_sequence_dict(self._rollout_batch), steps)
        return super()._prepare_inputs(generation_batch)

    # ------------------------------------------------------------------------------------------------------------
    # Optimizer: the value head in its own parameter group, with its own learning rate
    def create_optimizer(self, model=None):
        own_lr = (
            self.args.critic_learning_rate is not None and self.args.critic_learning_rate != self.args.learning_rate
        )
        if own_lr and self.optimizer is not None:
            raise ValueError(
                "critic_learning_rate needs the optimizer the trainer builds; with `optimizers=(...)`, give the value "
                f"head's parameters (model.{VALUE_HEAD_NAME}) their own group yourself and leave critic_learning_rate "
                "unset."
            )
        if own_lr and self.is_deepspeed_enabled:
            raise ValueError(
                "critic_learning_rate is not supported with DeepSpeed (its optimizer and schedulers own the groups' "
                "learning rates); leave it unset."
            )
        optimizer = super().create_optimizer(model) if model is not None else super().create_optimizer()
        if not own_lr:
            return optimizer
        critic = getattr(_causal_lm(self.accelerator.unwrap_model(self.model)), VALUE_HEAD_NAME)
        critic_params = {id(p) for p in critic.parameters() if p.requires_grad}
        critic_groups = []
        for group in list(optimizer.param_groups):
            mine = [p for p in group["params"] if id(p) in critic_params]
            if mine:
                group["params"] = [p for p in group["params"] if id(p) not in critic_params]
                critic_groups.append({**group, "params": mine, "lr": self.args.critic_learning_rate})
        if not critic_groups:
            raise ValueError(
                "critic_learning_rate: the optimizer does not hold the value head's parameters (FSDP with flat "
                "parameters?); use `use_orig_params=True` or leave critic_learning_rate unset."
            )
        optimizer.param_groups = [group for group in optimizer.param_groups if group["params"]]
        for group in critic_groups:
            optimizer.add_param_group(group)
        return optimizer

    def _log_losses(self, mode, pg_loss, vf_loss, entropy, pg_stats, vf_stats):
        gather_mean = lambda x: self.accelerator.gather(x.detach().reshape(1)).mean().item()  # noqa: E731
        metrics = self._metrics[mode]
        metrics["losses/policy_loss"].append(gather_mean(pg_loss))
        metrics["losses/value_loss"].append(gather_mean(vf_loss))
        metrics["losses/clipfrac"].append(gather_mean(pg_stats["clipfrac"]))
        metrics["losses/vf_clipfrac"].append(gather_mean(vf_stats["vf_clipfrac"]))
        metrics["losses/approx_kl"].append(gather_mean(pg_stats["approx_kl"]))
        metrics["entropy"].append(gather_mean(entropy))

    # ------------------------------------------------------------------------------------------------------------
    # Checkpoints: the critic goes to its own file, so the policy folder stays a plain causal LM (or adapter) that
    # `from_pretrained` loads without leftovers, and PEFT checkpoints (adapter only) keep the critic too.
    def _save(self, output_dir: str | None = None, state_dict=None):
        output_dir = output_dir or self.args.output_dir
        with disk_full_explained(output_dir):
            policy = _causal_lm(self.accelerator.unwrap_model(self.model))
            if state_dict is None and not is_peft_model(self.accelerator.unwrap_model(self.model)):
                state_dict = policy.state_dict()
            critic_state = {}
            if state_dict is not None:  # the critic's entries go to its own file
                prefix = f"{VALUE_HEAD_NAME}."
                critic_state = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
                state_dict = {k: v for k, v in state_dict.items() if not k.startswith(prefix)}
            super()._save(output_dir, state_dict)
            if self.args.should_save:
                from safetensors.torch import save_file

                # The gathered state dict's entries when the trainer passed one (under DeepSpeed ZeRO-3 the live
                # parameters are partitions of it), else the head's own
                head = getattr(_causal_lm(self.accelerator.unwrap_model(self.model)), VALUE_HEAD_NAME)
                state = critic_state or head.state_dict()
                state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
                save_file(state, os.path.join(output_dir, VALUE_HEAD_FILE))

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        # Every checkpoint of this trainer holds its critic (the value head, or a separate value model's weights) in
        # value_head.safetensors, or inside FSDP's sharded model state: there is no critic-free setting. A checkpoint
        # without it was cut short or written by another trainer, and resuming would silently restart the critic
        # from scratch, so it is refused.
        require_complete_checkpoint(resume_from_checkpoint, required=(VALUE_HEAD_FILE,))
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, VALUE_HEAD_FILE)
        if os.path.isfile(path):  # absent only from FSDP's sharded state, which loaded the critic with the policy
            head = getattr(_causal_lm(self.accelerator.unwrap_model(model or self.model)), VALUE_HEAD_NAME)
            head.load_state_dict(load_safetensors(path, device=str(next(head.parameters()).device)))


# ----------------------------------------------------------------------------------------------------------------
# Helpers


def _row_chunks(input_ids, attention_mask, batch_size):
    """`(input_ids, attention_mask)` of `batch_size` rows at a time (all rows when `batch_size` is None)."""
    batch_size = batch_size or input_ids.size(0)
    for start in range(0, input_ids.size(0), batch_size):
        yield input_ids[start : start + batch_size], attention_mask[start : start + batch_size]


def _sync_only_the_policy_to_vllm(generation) -> None:
    """Leave the critic out of TRL's weight sync to vLLM, which would push every named parameter of the policy,
    `v_head.*` included (a separate value model's whole backbone too), and vLLM's causal LM has no such weights.
    Every process still walks every parameter: under ZeRO-3 and FSDP the walk gathers them collectively."""
    named_params = generation._iter_named_params

    def policy_params():
        for name, param in named_params():
            if not name.startswith(f"{VALUE_HEAD_NAME}."):
                yield name, param

    generation._iter_named_params = policy_params


def _causal_lm(model):
    return model.get_base_model() if is_peft_model(model) else model


def _add_frozen_copy_of_adapter(model) -> str:
    """Copy the warm-up adapter of a `PeftModel` into a frozen adapter used as the reference; return its name."""
    default_config = model.peft_config[model.active_adapter]
    model.add_adapter(REFERENCE_ADAPTER, default_config)
    for name, param in model.named_parameters():
        if f".{model.active_adapter}." in name:
            reference = model.get_parameter(name.replace(f".{model.active_adapter}.", f".{REFERENCE_ADAPTER}."))
            reference.data.copy_(param.data)
            reference.requires_grad_(False)
    return REFERENCE_ADAPTER


def _prompts_from_input_ids(dataset, tokenizer):
    """TRL 1.12's PPOTrainer took tokenized prompts (`input_ids`); GRPO's machinery reads text prompts."""
    if dataset is None or "prompt" in dataset.column_names or "input_ids" not in dataset.column_names:
        return dataset
    return dataset.map(lambda row: {"prompt": tokenizer.decode(row["input_ids"], skip_special_tokens=False)})
