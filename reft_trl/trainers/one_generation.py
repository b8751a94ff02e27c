"""One sampled solution per question on TRL's `GRPOConfig`, as ReFT's PPO and online self-training sample.

GRPO refuses fewer than 2 generations per prompt, because its baseline is the group mean. ReFT's PPO baselines with
the critic and online self-training needs no baseline, so one sample per question is valid (and the paper's setting).
"""

from __future__ import annotations

from trl import GRPOConfig

_GRPO_GROUP_SIZE_ERROR = "at least 2 generations per prompt"


def grpo_post_init_one_generation_allowed(config: GRPOConfig) -> None:
    """Run `GRPOConfig.__post_init__` on `config`, accepting `num_generations=1`.

    GRPO raises the group-size error as its last batch-size check; the only checks after it concern vLLM's
    importance-sampling bounds, repeated here.
    """
    try:
        GRPOConfig.__post_init__(config)
    except ValueError as error:
        if not (config.num_generations == 1 and _GRPO_GROUP_SIZE_ERROR in str(error)):
            raise
        low, high = config.vllm_importance_sampling_clip_min, config.vllm_importance_sampling_clip_max
        if low is not None and high is not None and low >= high:
            raise ValueError(
                f"vllm_importance_sampling_clip_min ({low}) must be less than vllm_importance_sampling_clip_max ({high})."
            ) from None
