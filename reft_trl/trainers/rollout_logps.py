"""`SkipTrlRolloutLogpsMixin`: no policy forward for the old log-probs TRL's rollout computes and the trainer never
reads.

TRL's `GRPOTrainer._generate_and_score_completions` runs a no-grad policy forward for the rollout's old log-probs
whenever a rollout feeds more than one optimizer step (several PPO epochs or mini-batches) or vLLM's importance sampling
is on. ReFT's PPO computes its own (with the values, in one explicit forward) and online self-training uses none, so
inside the rollout that forward is skipped and TRL gets None, as on its own path where it needs no old log-probs. With
vLLM's importance sampling TRL reads them itself, so there it still runs.
"""

from __future__ import annotations


class SkipTrlRolloutLogpsMixin:
    """Skips the policy forward of TRL's rollout for old log-probs. Mix in before `GRPOTrainer`; a trainer that needs
    old log-probs computes them after `super()._generate_and_score_completions`."""

    _skip_trl_rollout_logps = False  # True only inside TRL's rollout

    def _trl_needs_its_old_logps(self) -> bool:
        """Whether TRL's rollout must compute the policy's log π itself: only for vLLM's importance-sampling ratio
        (`vllm_importance_sampling_correction`), which TRL derives from them."""
        return bool(self.use_vllm and self.vllm_importance_sampling_correction)

    def _generate_and_score_completions(self, inputs):
        self._skip_trl_rollout_logps = not self._trl_needs_its_old_logps()
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self._skip_trl_rollout_logps = False

    def _get_per_token_logps_and_entropies(self, model, *args, **kwargs):
        """TRL's scoring, except the policy's inside TRL's rollout: None, None, None, without a forward."""
        if self._skip_trl_rollout_logps and model is self.model:
            return None, None, None
        return super()._get_per_token_logps_and_entropies(model, *args, **kwargs)
