"""Drop-in names for TRL 1.12's removed `trl.experimental.ppo.PPOConfig` / `PPOTrainer`.

Migrating is a change of import: `from trl.experimental.ppo import PPOConfig, PPOTrainer` becomes
`from reft_trl import PPOConfig, PPOTrainer`. The field names `kl_coef`, `cliprange`, `cliprange_value`, `vf_coef`,
`gamma`, `lam`, `num_ppo_epochs`, `num_mini_batches`, `whiten_rewards`, `kl_estimator` and `missing_eos_penalty`, and
the constructor's `reward_model` / `value_model` / `ref_model` arguments, keep their meaning. Differences: defaults are
the ReFT paper's (see `ReFTPPOConfig`), generation follows `GRPOConfig` (`max_completion_length`, `temperature`, vLLM),
and `value_model` is optional (the default critic is a value head on the policy's backbone).
"""

from __future__ import annotations

import warnings

from .ppo_config import ReFTPPOConfig
from .ppo_trainer import ReFTPPOTrainer

PPOConfig = ReFTPPOConfig


class PPOTrainer(ReFTPPOTrainer):
    """`ReFTPPOTrainer` with TRL 1.12 `PPOTrainer`'s argument order, so positional calls keep working.

    TRL 1.12 scored completions with `reward_model` and the policy's tokenizer; so does this class.
    """

    def __init__(
        self,
        args: ReFTPPOConfig,
        processing_class,
        model,
        ref_model=None,
        reward_model=None,
        train_dataset=None,
        value_model=None,
        data_collator=None,
        eval_dataset=None,
        optimizers=(None, None),
        callbacks=None,
        peft_config=None,
    ):
        if data_collator is not None:
            warnings.warn("data_collator is ignored: prompts are collated by the GRPO machinery.", stacklevel=2)
        if reward_model is None and args.task is None:
            raise ValueError("Pass reward_model, or set `task` in the config for the answer-match reward.")
        super().__init__(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            processing_class=processing_class,
            reward_processing_classes=processing_class if reward_model is not None else None,
            callbacks=callbacks,
            optimizers=optimizers,
            peft_config=peft_config,
            ref_model=ref_model,
            value_model=value_model,
            reward_model=reward_model,
        )
