"""`ReFTPPOConfig`: PPO as the ReFT paper runs it, on top of TRL's `GRPOConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from trl import GRPOConfig

from ..generation import DEFAULT_ROLLOUT_DECODING, ROLLOUT_DECODINGS
from ..precision import resolve_device_and_precision
from .config_checks import (
    ROUTER_AUX_LOSS,
    ROUTER_AUX_LOSS_REASON,
    check_field,
    check_generation_fields,
    refuse_ignored_grpo_options,
)
from .mixed_precision_generation import DEFAULT_ROLLOUT_PACK_WEIGHTS, ROLLOUT_WEIGHTS, check_rollout_options
from .one_generation import grpo_post_init_one_generation_allowed
from .ppo_math import KL_ESTIMATORS

LM_HEAD_SCORINGS = ("auto", "fused", "logits")
"""How the PPO trainer scores completion tokens (`ReFTPPOConfig.lm_head_scoring`)."""


@dataclass
class ReFTPPOConfig(GRPOConfig):
    r"""
    Configuration class for [`ReFTPPOTrainer`]: PPO with a critic, a per-token KL penalty inside the reward and GAE,
    as in "ReFT: Reasoning with Reinforced Fine-Tuning" (Luong et al., ACL 2024). Defaults are the paper's
    (its `exps/paper_exps/ReFT/_template.sh` and Section 4); TRL's `GRPOConfig` supplies everything else
    (generation, vLLM, logging, PEFT, DeepSpeed). The field names of TRL 1.12's removed `PPOConfig` are accepted, so
    `from reft_trl import PPOConfig` is a drop-in import.

    Example:

    ```python
    >>> from reft_trl import ReFTPPOConfig
    >>> args = ReFTPPOConfig(output_dir="ppo-svamp", task="svamp", kl_coef=0.05, use_cpu=True, report_to="none")
    >>> args.num_iterations, args.num_generations, args.beta
    (2, 1, 0.0)

    ```

    > Parameters that control the task and its reward

    task (`str` or `None`, *optional*, defaults to `None`):
        Task whose [`AnswerMatchReward`] is used when the trainer gets no `reward_funcs`: `"gsm8k"`, `"svamp"`,
        `"mathqa"` or `"mathqa_numeric"`.
    cot (`str`, *optional*, defaults to `"ncot"`):
        Chain-of-thought kind: `"ncot"` (natural language) or `"pcot"` (a Python program, run in the sandbox).

    > Parameters that control PPO

    kl_coef (`float`, *optional*, defaults to `0.05`):
        Coefficient β of the per-token KL penalty in the reward, `r_t = -β KL_t`. The paper uses 0.05 for N-CoT and
        0.01 for P-CoT. 0 disables the penalty and the reference model.
    kl_estimator (`str`, *optional*, defaults to `"k1"`):
        Per-token KL estimator: `"k1"` (`log π - log π_ref`, the paper's) or `"k3"` (`(r - 1) - log r`, unbiased and
        non-negative).
    cliprange (`float`, *optional*, defaults to `0.2`):
        Clip range ε of the PPO policy ratio.
    cliprange_value (`float`, *optional*, defaults to `0.2`):
        Clip range of the value prediction around the rollout-time value.
    vf_coef (`float`, *optional*, defaults to `5.0`):
        Weight of the value loss in the total loss (the paper's scripts use 5).
    gamma (`float`, *optional*, defaults to `1.0`):
        Discount factor γ of GAE.
    lam (`float`, *optional*, defaults to `0.95`):
        GAE parameter λ.
    num_ppo_epochs (`int`, *optional*, defaults to `2`):
        Passes of PPO updates over each rollout batch (sets GRPO's `num_iterations`).
    num_mini_batches (`int`, *optional*, defaults to `1`):
        Mini-batches per rollout batch and PPO epoch; the rollout batch per device is
        `per_device_train_batch_size * gradient_accumulation_steps * num_mini_batches`.
    whiten_rewards (`bool`, *optional*, defaults to `False`):
        Whether to whiten the KL-shaped per-token rewards (without shifting their mean) before GAE.
    whiten_advantages (`bool`, *optional*, defaults to `True`):
        Whether to whiten the advantages across all processes (the paper's `adv_whitening='global'`).
    missing_eos_penalty (`float` or `None`, *optional*, defaults to `None`):
        Amount subtracted from the score of a completion that ends without an EOS token (was truncated).
    max_sequence_kl (`float` or `None`, *optional*, defaults to `None`):
        Guard against a drifting policy: stop training as soon as a rollout's mean KL to the warm-up per sequence
        exceeds this many nats. That rollout is not trained on (the optimizer step after it runs at learning rate 0
        on zero gradients; under DeepSpeed, whose engine steps inside `backward`, one update still happens), so the
        model kept (and checkpointed when saving is on) is the policy that sampled it: the first whose KL passed the
        limit. `None` never stops.

    > Parameters that control the critic

    critic_learning_rate (`float` or `None`, *optional*, defaults to `None`):
        Learning rate of the value head (its own optimizer group, same schedule). `None` uses `learning_rate`, as
        the paper does.
    critic_warmup_rollouts (`int`, *optional*, defaults to `0`):
        Rollouts at the start of training whose updates train only the value head (value loss only, the policy and
        the shared backbone untouched), so the first policy updates see a fitted critic (verl's `critic_warmup`,
        VC-PPO's value pre-training). Each rollout still costs its sampling.
    critic_detach_backbone (`bool`, *optional*, defaults to `False`):
        Stop the value loss's gradient at the value head's input, so the critic never moves the shared backbone
        (the policy); the head then learns on the policy's features only. The paper trains both through the backbone.
    critic_lam (`float` or `None`, *optional*, defaults to `None`):
        GAE λ of the critic's targets (decoupled GAE: the policy's advantages use `lam`, the returns the critic
        regresses to use `critic_lam`; 1.0 gives unbiased Monte-Carlo returns). `None` uses `lam`, as the paper does.
    max_prompt_length (`int` or `None`, *optional*, defaults to `300`):
        Training questions whose prompt is longer (in tokens) are dropped (the paper's code cuts them to their first
        300 tokens, which removes the answer cue). `None` keeps all.

    > Parameters that control rollout sampling with transformers (not vLLM)

    rollout_weights (`str`, *optional*, defaults to `"policy"`):
        Weights the rollouts are sampled with: `"policy"`, the trained weights themselves (under the trainer's
        autocast when `bf16` is on); `"bf16_copy"`, a bfloat16 copy of them, refreshed before every rollout and run
        without autocast (no casts of the activations at every step, and a compiled decode step becomes possible).
        The copy samples from the policy up to bf16 rounding, as a vLLM sampler does; the PPO update's old
        log-probabilities are still computed by the trainer's own forward.
    rollout_decoding (`str`, *optional*, defaults to `"dynamic"`):
        How the rollouts are decoded: with transformers' `generate`, `"dynamic"` (its default cache, grown every
        step), `"static"` (a cache allocated once) or `"compiled"` (that cache and the decode step compiled by
        `torch.compile`, on a CPU too); or `"shrinking"`, reft-trl's loop over the model's forward, in which a
        finished completion leaves the batch (the same sampling distribution; text-only, with the sampling settings
        temperature, top-k and top-p); or `"fused"`, that loop with reft-trl's own Llama forward on a CPU
        (`reft_trl.fused_llama`: fewer, larger operators, the same products; Llama models only). `"compiled"` needs `rollout_weights="bf16_copy"` or no mixed precision: under
        autocast a compiled step would cast the float32 weights again at every step.
    rollout_pack_weights (`bool`, *optional*, defaults to `True`):
        On a CPU with native bf16, where the rollouts compute in bf16 (under `bf16` autocast, or with the bf16 copy),
        their linear layers compute from the weights packed for oneDNN once per rollout (`reft_trl.packed_linear`):
        the same products, a faster decode step. Not with `rollout_decoding="compiled"`, which compiles the layers'
        own forwards, nor under DeepSpeed or FSDP; float32 rollouts are left as they are. `"fused"` always packs
        its own.

    > Parameters that control how log-probabilities are computed

    lm_head_scoring (`str`, *optional*, defaults to `"auto"`):
        How the policy and the reference score completion tokens: `"fused"`, TRL's chunked fused LM head (no
        `(batch, length, vocabulary)` logits tensor, the memory-lean choice for large vocabularies on accelerators;
        without Triton it projects every position, prompt included, and recomputes the projection in the backward);
        `"logits"`, the logits of the completion positions only (transformers' `logits_to_keep`), one matmul each way,
        faster on a CPU, but holding a `(batch, completion length, vocabulary)` float32 tensor and its gradient;
        `"auto"`, `"fused"` on CUDA and XPU devices (where TRL's Triton kernel projects only the completion positions)
        and with `cast_lm_head_to_fp32` (which `"logits"` refuses), `"logits"` elsewhere (a CPU).

    > Defaults changed from `GRPOConfig` to the paper's values

    learning_rate (`float`, *optional*, defaults to `3e-7`):
        Learning rate (constant schedule, no warm-up).
    lr_scheduler_type (`str`, *optional*, defaults to `"constant"`):
        Learning-rate schedule.
    num_generations (`int` or `None`, *optional*, defaults to `1`):
        Sampled reasoning paths per question (the paper samples one; GRPO's minimum of 2 does not apply).
    max_completion_length (`int` or `None`, *optional*, defaults to `400`):
        Maximum generated tokens (the paper: 300 prompt + 400 completion = 700 in total).
    temperature (`float`, *optional*, defaults to `1.0`):
        Sampling temperature (with `top_k=0`, `top_p=1.0`: plain sampling, as the paper).
    max_grad_norm (`float`, *optional*, defaults to `1.0`):
        Gradient clipping norm.
    disable_dropout (`bool`, *optional*, defaults to `True`):
        Whether to disable dropout, so rollout-time and update-time log-probs agree (Galactica / OPT has dropout).
    beta (`float`, *optional*, defaults to `0.0`):
        GRPO's KL-in-the-loss coefficient. ReFT puts the KL in the reward instead (`kl_coef`), so this stays 0.
    """

    task: str | None = field(
        default=None,
        metadata={
            "help": "Task whose AnswerMatchReward is used when the trainer gets no `reward_funcs`: 'gsm8k', "
            "'svamp', 'mathqa' or 'mathqa_numeric'."
        },
    )
    cot: str = field(
        default="ncot",
        metadata={"help": "Chain-of-thought kind: 'ncot' (natural language) or 'pcot' (a Python program)."},
    )
    kl_coef: float = field(
        default=0.05,
        metadata={
            "help": "Coefficient of the per-token KL penalty in the reward, r_t = -kl_coef * KL_t (paper: 0.05 N-CoT, "
            "0.01 P-CoT). 0 disables the penalty and the reference model."
        },
    )
    kl_estimator: str = field(
        default="k1",
        metadata={"help": "Per-token KL estimator: 'k1' (the paper's) or 'k3'.", "choices": list(KL_ESTIMATORS)},
    )
    cliprange: float = field(default=0.2, metadata={"help": "Clip range of the PPO policy ratio."})
    cliprange_value: float = field(
        default=0.2, metadata={"help": "Clip range of the value prediction around the rollout-time value."}
    )
    vf_coef: float = field(default=5.0, metadata={"help": "Weight of the value loss (the paper's scripts use 5)."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor of GAE."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    num_ppo_epochs: int = field(default=2, metadata={"help": "PPO passes over each rollout batch."})
    num_mini_batches: int = field(default=1, metadata={"help": "Mini-batches per rollout batch and PPO epoch."})
    whiten_rewards: bool = field(
        default=False, metadata={"help": "Whiten the KL-shaped per-token rewards (no mean shift) before GAE."}
    )
    whiten_advantages: bool = field(
        default=True, metadata={"help": "Whiten advantages across all processes (the paper's global whitening)."}
    )
    missing_eos_penalty: float | None = field(
        default=None, metadata={"help": "Subtracted from the score of a completion that ends without EOS."}
    )
    max_prompt_length: int | None = field(
        default=300, metadata={"help": "Drop training questions whose prompt is longer than this many tokens."}
    )
    max_sequence_kl: float | None = field(
        default=None,
        metadata={"help": "Stop training when a rollout's mean KL to the warm-up per sequence exceeds this (nats)."},
    )

    # The critic
    critic_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of the value head (own optimizer group); None: learning_rate."}
    )
    critic_warmup_rollouts: int = field(
        default=0, metadata={"help": "First rollouts whose updates train only the value head (policy untouched)."}
    )
    critic_detach_backbone: bool = field(
        default=False, metadata={"help": "Stop the value loss's gradient at the value head (backbone untouched)."}
    )
    critic_lam: float | None = field(
        default=None, metadata={"help": "GAE lambda of the critic's targets (decoupled GAE); None: lam."}
    )

    # Rollout sampling with transformers
    rollout_weights: str = field(
        default="policy",
        metadata={
            "help": "Weights rollouts sample with: 'policy' (the trained weights, under autocast with bf16) or "
            "'bf16_copy' (a bfloat16 copy refreshed before every rollout, no autocast).",
            "choices": list(ROLLOUT_WEIGHTS),
        },
    )
    rollout_decoding: str = field(
        default=DEFAULT_ROLLOUT_DECODING,
        metadata={
            "help": "How rollouts are decoded: transformers' generate with 'dynamic' (its default cache), 'static' "
            "(a cache allocated once) or 'compiled' (that cache and the decode step compiled by torch.compile); or "
            "'shrinking' (reft-trl's loop: a finished completion leaves the batch) or 'fused' (that loop with "
            "reft-trl's own Llama forward on a CPU).",
            "choices": list(ROLLOUT_DECODINGS),
        },
    )
    rollout_pack_weights: bool = field(
        default=DEFAULT_ROLLOUT_PACK_WEIGHTS,
        metadata={
            "help": "Where rollouts compute in bf16 on a CPU with native bf16, pack the weights for oneDNN once per "
            "rollout (the same products, faster decoding)."
        },
    )

    # How log-probabilities are computed
    lm_head_scoring: str = field(
        default="auto",
        metadata={
            "help": "How policy and reference score completion tokens: 'fused' (TRL's chunked fused LM head, "
            "memory-lean), 'logits' (the completion positions' logits only, faster on a CPU; not with "
            "cast_lm_head_to_fp32) or 'auto' ('fused' on CUDA / XPU or with cast_lm_head_to_fp32, else 'logits').",
            "choices": list(LM_HEAD_SCORINGS),
        },
    )

    # Defaults changed from GRPOConfig
    learning_rate: float = field(default=3e-7, metadata={"help": "Learning rate (the paper: 3e-7, constant)."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule."})
    num_generations: int | None = field(
        default=1, metadata={"help": "Sampled reasoning paths per question (the paper samples one)."}
    )
    max_completion_length: int | None = field(
        default=400, metadata={"help": "Maximum generated tokens (paper: 700 total - 300 prompt)."}
    )
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    disable_dropout: bool = field(
        default=True, metadata={"help": "Disable dropout so rollout-time and update-time log-probs agree."}
    )
    beta: float = field(
        default=0.0,
        metadata={"help": "GRPO's KL-in-the-loss coefficient; ReFT uses `kl_coef` (KL in the reward), so keep 0."},
    )

    def __post_init__(self):
        resolve_device_and_precision(self)
        refuse_ignored_grpo_options(self, IGNORED_GRPO_OPTIONS)
        if self.beta != 0.0:
            raise ValueError(
                f"beta={self.beta}: ReFT penalises KL inside the reward, not in the loss. Set `kl_coef` instead and "
                "leave `beta` at 0."
            )
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator={self.kl_estimator!r}; valid estimators: {', '.join(KL_ESTIMATORS)}.")
        for name in ("kl_coef", "vf_coef"):
            check_field(self, name, minimum=0)
        for name in ("cliprange", "cliprange_value"):
            check_field(self, name, above=0)
        for name in ("gamma", "lam"):
            check_field(self, name, minimum=0, maximum=1)
        check_field(self, "missing_eos_penalty", optional=True)
        if self.missing_eos_penalty and self.mask_truncated_completions:
            raise ValueError(
                f"missing_eos_penalty={self.missing_eos_penalty} with mask_truncated_completions=True: the penalty is "
                "for the completions that the mask drops from the loss, so it would never act. Choose one."
            )
        for name in ("num_ppo_epochs", "num_mini_batches"):
            check_field(self, name, minimum=1, integer=True)
        check_generation_fields(self)
        if self.num_iterations not in (1, self.num_ppo_epochs):
            raise ValueError(
                f"num_iterations={self.num_iterations} and num_ppo_epochs={self.num_ppo_epochs} disagree; set only "
                "num_ppo_epochs."
            )
        check_field(self, "critic_warmup_rollouts", minimum=0, integer=True)
        if self.critic_warmup_rollouts > 0 and self.ddp_find_unused_parameters is None:
            # value-only updates leave the backbone without gradients: DDP must expect unused parameters
            self.ddp_find_unused_parameters = True
        check_field(self, "critic_lam", minimum=0, maximum=1, optional=True)
        check_field(self, "critic_learning_rate", minimum=0, optional=True)
        check_field(self, "max_sequence_kl", above=0, optional=True)
        check_rollout_options(self)
        check_lm_head_scoring(self)
        # PPO epochs are GRPO's iterations over one generation batch; PPO's clip range is GRPO's epsilon.
        self.num_iterations = self.num_ppo_epochs
        if self.epsilon not in (GRPOConfig.__dataclass_fields__["epsilon"].default, self.cliprange):
            raise ValueError(
                f"epsilon={self.epsilon} and cliprange={self.cliprange} disagree: PPO's clip range is `cliprange` "
                "(GRPO's `epsilon` is set from it). Set only cliprange."
            )
        self.epsilon = self.cliprange
        steps = self.gradient_accumulation_steps * self.num_mini_batches
        user_set = {
            "steps_per_generation": self.steps_per_generation,
            "generation_batch_size": self.generation_batch_size,
        }
        if self.generation_batch_size is None and self.steps_per_generation is None:
            self.steps_per_generation = steps

        grpo_post_init_one_generation_allowed(self)
        if self.num_mini_batches != 1 and self.steps_per_generation != steps:
            # the mini-batches are set through steps_per_generation, which the user (or generation_batch_size) fixed
            given = ", ".join(f"{name}={value}" for name, value in user_set.items() if value is not None)
            raise ValueError(
                f"num_mini_batches={self.num_mini_batches} with {given} (steps_per_generation "
                f"{self.steps_per_generation}): the mini-batches are steps_per_generation = gradient_accumulation_steps "
                f"x num_mini_batches = {steps}. Set num_mini_batches alone, or leave it at 1 and set "
                "steps_per_generation or generation_batch_size."
            )


def check_lm_head_scoring(config: ReFTPPOConfig) -> None:
    choice = config.lm_head_scoring
    if choice not in LM_HEAD_SCORINGS:
        raise ValueError(f"lm_head_scoring={choice!r}; valid choices: {', '.join(LM_HEAD_SCORINGS)}.")
    if choice == "logits" and config.cast_lm_head_to_fp32:
        raise ValueError(
            "lm_head_scoring='logits' computes the logits under the trainer's autocast; cast_lm_head_to_fp32 needs "
            "the fused LM head: set lm_head_scoring='fused' (or 'auto')."
        )


def uses_fused_lm_head(config: ReFTPPOConfig, device: torch.device) -> bool:
    """Whether `lm_head_scoring` means TRL's fused LM head on `device`. "auto": on CUDA and XPU, where TRL's Triton
    kernel scores only the completion positions, or with `cast_lm_head_to_fp32`; the completion logits elsewhere."""
    if config.lm_head_scoring == "auto":
        return config.cast_lm_head_to_fp32 or device.type in ("cuda", "xpu")
    return config.lm_head_scoring == "fused"


# GRPO options that shape GRPO's own loss or advantages; ReFT's PPO computes neither, so a changed value would be
# silently ignored. Refused instead (`refuse_ignored_grpo_options`), with the field's TRL default as the accepted value.
IGNORED_GRPO_OPTIONS = {
    "loss_type": "ReFT's policy loss is PPO's clipped surrogate averaged over completion tokens",
    "epsilon_high": "the clip range is symmetric: set `cliprange`",
    "delta": "two-sided clipping of GRPO is not part of PPO's surrogate",
    "top_entropy_quantile": "every completion token is trained",
    "importance_sampling_level": "PPO's ratio is per token",
    "scale_rewards": "advantages come from GAE with the critic (whitened by `whiten_advantages`), not group scaling",
    "multi_objective_aggregation": "the score is the `reward_weights`-weighted sum of the reward functions, unnormalized",
    "off_policy_mask_threshold": "off-policy sequence masking is a GRPO loss option",
    "use_adaptive_entropy": "the entropy bonus is `entropy_coef`, fixed",
    "use_liger_kernel": "Liger's patched layers are untested with the value head and the PPO loss",
    "sync_ref_model": "ReFT keeps the warm-up model as a fixed reference",
    ROUTER_AUX_LOSS: ROUTER_AUX_LOSS_REASON,
}
