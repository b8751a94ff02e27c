"""`MixedPrecisionGenerationMixin`: TRL's transformers-backend rollouts under the trainer's autocast.

TRL runs the training forwards under `accelerator.autocast()` but calls `model.generate` outside it, so with fp32
weights and `bf16=True` the rollouts decode in fp32: on a CPU with native bf16 that is the slowest part of a PPO step.
Sampling inside the same autocast as the training forwards makes the rollout's distribution the one whose
log-probabilities the update computes. vLLM rollouts are untouched (vLLM has its own dtype).
"""

from __future__ import annotations


class MixedPrecisionGenerationMixin:
    """Wraps `_generate_single_turn` in `self.accelerator.autocast()` when generating with transformers. Mix in
    before `GRPOTrainer`."""

    def _generate_single_turn(self, *args, **kwargs):
        if self.use_vllm:
            return super()._generate_single_turn(*args, **kwargs)
        with self.accelerator.autocast():
            return super()._generate_single_turn(*args, **kwargs)
