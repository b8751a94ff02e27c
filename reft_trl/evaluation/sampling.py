"""Moved to `reft_trl.sampling` (the verifier and offline self-training share it); this path keeps its names."""

from reft_trl.sampling import REWARD_COLUMNS, ScoredSamples, sample_and_score

__all__ = ["REWARD_COLUMNS", "ScoredSamples", "sample_and_score"]
