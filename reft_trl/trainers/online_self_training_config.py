"""`OnlineSelfTrainingConfig`: online self-training (Online-ST), a baseline of the ReFT paper, on TRL's `GRPOConfig`."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from ..precision import resolve_device_and_precision
from .config_checks import (
    ROUTER_AUX_LOSS,
    ROUTER_AUX_LOSS_REASON,
    check_field,
    check_generation_fields,
    refuse_ignored_grpo_options,
)
from .one_generation import grpo_post_init_one_generation_allowed


@dataclass
class OnlineSelfTrainingConfig(GRPOConfig):
    r"""
    Configuration class for [`OnlineSelfTrainingTrainer`]: the online loop of ReFT (sample one solution per training
    question from the current policy, score it with the answer reward) with a supervised update instead of PPO:
    cross-entropy on the samples whose reward is exactly 1 and on the gold chains of thought, half and half. No KL
    penalty, no critic. Defaults are the authors' (`exps/paper_exps/OnSL/_template.sh` and `train_rl_sl.py` in
    github.com/lqtrung1998/mwp_ReFT), which share ReFT's rollout settings; TRL's `GRPOConfig` supplies the rest.

    Example:

    ```python
    >>> from reft_trl import OnlineSelfTrainingConfig
    >>> args = OnlineSelfTrainingConfig(output_dir="onst-svamp", task="svamp", use_cpu=True, report_to="none")
    >>> args.num_generations, args.num_iterations, args.sampled_loss_weight, args.gold_loss_weight
    (1, 2, 0.5, 0.5)

    ```

    > Parameters that control the task and its reward

    task (`str` or `None`, *optional*, defaults to `None`):
        Task whose [`AnswerMatchReward`] scores the samples when the trainer gets no `reward_funcs`: `"gsm8k"`,
        `"svamp"`, `"mathqa"` or `"mathqa_numeric"`.
    cot (`str`, *optional*, defaults to `"ncot"`):
        Chain-of-thought kind: `"ncot"` or `"pcot"` (a Python program, run in the sandbox).

    > Parameters that control the self-training loss

    keep_reward (`float`, *optional*, defaults to `1.0`):
        A sample is trained on when its reward (the weighted sum of the reward functions) equals this value: with the
        answer reward, correct answers only (not the 0.1 partial reward).
    sampled_loss_weight (`float`, *optional*, defaults to `0.5`):
        Weight of the cross-entropy on the kept samples (the authors' `train_rl_sl.py`: 1/2).
    gold_loss_weight (`float`, *optional*, defaults to `0.5`):
        Weight of the cross-entropy on the gold chains of thought of the same questions (1/2).
    max_prompt_length (`int` or `None`, *optional*, defaults to `300`):
        Training questions whose prompt is longer (in tokens) are dropped, as in [`ReFTPPOConfig`].
    max_gold_input_length (`int` or `None`, *optional*, defaults to `300`):
        Prompt + gold chain of thought + EOS are cut to this many tokens in all, keeping the start, as the authors'
        `train_rl_sl.py` cuts its supervised examples (`max_input_length="300"`): a long gold solution loses its end,
        answer included. `None` cuts the gold chain of thought only at `max_completion_length`.

    > Defaults changed from `GRPOConfig` to the authors' values

    learning_rate (`float`, *optional*, defaults to `3e-7`):
        Learning rate (constant, no warm-up).
    lr_scheduler_type (`str`, *optional*, defaults to `"constant"`):
        Learning-rate schedule.
    num_generations (`int` or `None`, *optional*, defaults to `1`):
        Solutions sampled per question.
    num_iterations (`int`, *optional*, defaults to `2`):
        Passes of updates over each rollout batch (the authors' `ppo_epochs=2`).
    max_completion_length (`int` or `None`, *optional*, defaults to `400`):
        Maximum generated tokens (700 in all minus the 300-token prompt budget).
    temperature (`float`, *optional*, defaults to `1.0`):
        Sampling temperature. The cross-entropy is computed on the same temperature-scaled distribution, so keep 1.0
        for the plain cross-entropy.
    max_grad_norm (`float`, *optional*, defaults to `1.0`):
        Gradient clipping norm.
    disable_dropout (`bool`, *optional*, defaults to `True`):
        Whether to disable dropout (Galactica / OPT has dropout). Sampling always runs in eval mode, so `False` keeps
        dropout in the update only, as the authors' `train_rl_sl.py` does (`model.eval()` for rollouts,
        `model.train()` for the update).
    beta (`float`, *optional*, defaults to `0.0`):
        GRPO's KL coefficient. Online self-training has no KL term, so this stays 0.
    """

    task: str | None = field(
        default=None,
        metadata={
            "help": "Task whose AnswerMatchReward scores the samples when no `reward_funcs` are given: 'gsm8k', "
            "'svamp', 'mathqa' or 'mathqa_numeric'."
        },
    )
    cot: str = field(default="ncot", metadata={"help": "Chain-of-thought kind: 'ncot' or 'pcot'."})
    keep_reward: float = field(
        default=1.0, metadata={"help": "Train on a sample when its reward equals this (1.0: correct answers only)."}
    )
    sampled_loss_weight: float = field(
        default=0.5, metadata={"help": "Weight of the cross-entropy on the kept samples (the authors': 0.5)."}
    )
    gold_loss_weight: float = field(
        default=0.5, metadata={"help": "Weight of the cross-entropy on the gold chains of thought (0.5)."}
    )
    max_prompt_length: int | None = field(
        default=300, metadata={"help": "Drop training questions whose prompt is longer than this many tokens."}
    )
    max_gold_input_length: int | None = field(
        default=300,
        metadata={
            "help": "Cut prompt + gold chain of thought + EOS to this many tokens in all (the authors': 300); None "
            "cuts the gold only at max_completion_length."
        },
    )

    # Defaults changed from GRPOConfig
    learning_rate: float = field(default=3e-7, metadata={"help": "Learning rate (the authors': 3e-7, constant)."})
    lr_scheduler_type: str = field(default="constant", metadata={"help": "Learning-rate schedule."})
    num_generations: int | None = field(default=1, metadata={"help": "Solutions sampled per question."})
    num_iterations: int = field(default=2, metadata={"help": "Passes of updates over each rollout batch."})
    max_completion_length: int | None = field(default=400, metadata={"help": "Maximum generated tokens."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm."})
    disable_dropout: bool = field(
        default=True, metadata={"help": "Disable dropout in the policy (sampling always runs in eval mode)."}
    )
    beta: float = field(default=0.0, metadata={"help": "GRPO's KL coefficient; online self-training has none."})

    def __post_init__(self):
        resolve_device_and_precision(self)
        refuse_ignored_grpo_options(self, IGNORED_GRPO_OPTIONS)
        if self.beta != 0.0:
            raise ValueError(f"beta={self.beta}: online self-training has no KL term; leave `beta` at 0.")
        check_field(self, "keep_reward")
        for name in ("sampled_loss_weight", "gold_loss_weight"):
            check_field(self, name, minimum=0)
        if self.sampled_loss_weight == 0 and self.gold_loss_weight == 0:
            raise ValueError("sampled_loss_weight and gold_loss_weight are both 0: nothing would be trained.")
        check_field(self, "max_gold_input_length", minimum=1, integer=True, optional=True)
        check_generation_fields(self)
        grpo_post_init_one_generation_allowed(self)


_NO_RATIO = "the loss is cross-entropy on kept samples and gold chains of thought: no ratio is clipped"

# GRPO options that shape GRPO's own loss or advantages; online self-training's loss uses neither, so a changed value
# would be silently ignored. Refused instead, with the field's TRL default as the accepted value.
IGNORED_GRPO_OPTIONS = {
    "loss_type": "the loss is cross-entropy on the kept samples and the gold chains of thought",
    "epsilon": _NO_RATIO,
    "epsilon_high": _NO_RATIO,
    "delta": _NO_RATIO,
    "importance_sampling_level": _NO_RATIO,
    "off_policy_mask_threshold": _NO_RATIO,
    "scale_rewards": "samples are kept by `keep_reward`, not weighted by advantages",
    "multi_objective_aggregation": "the score is the `reward_weights`-weighted sum of the reward functions",
    "top_entropy_quantile": "every completion token is trained",
    "entropy_coef": "the loss has no entropy bonus",
    "use_adaptive_entropy": "the loss has no entropy bonus",
    "use_liger_kernel": "Liger's patched layers are untested with this loss",
    ROUTER_AUX_LOSS: ROUTER_AUX_LOSS_REASON,
}
