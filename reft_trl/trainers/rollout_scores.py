"""`RolloutScoresMixin`: the answer scores of a rollout, for trainers on TRL's `GRPOTrainer` that use the raw rewards
rather than GRPO's group-normalised advantages (ReFT's PPO feeds them into the last token's reward; online
self-training keeps the samples scored 1)."""

from __future__ import annotations

import torch


class RolloutScoresMixin:
    """Keeps the per-function rewards TRL computes (and gathers across processes) in `_calculate_rewards`;
    `_local_scores` gives this process's weighted sums. Mix in before `GRPOTrainer`."""

    _last_rewards_per_func: torch.Tensor | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._last_rewards_per_func = rewards_per_func  # (B_global, n_funcs), gathered across processes
        return rewards_per_func

    def _local_scores(self, local_batch_size: int) -> torch.Tensor:
        """This process's completions' scores: the weighted sum of the reward functions (an unscorable None, NaN,
        counts as 0)."""
        weights = self.reward_weights.to(self._last_rewards_per_func.device)
        scores = (self._last_rewards_per_func * weights).nansum(dim=1)
        start = self.accelerator.process_index * local_batch_size
        return scores[start : start + local_batch_size]
