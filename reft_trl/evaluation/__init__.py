"""Evaluation as in the ReFT paper: greedy accuracy, majority voting, pass@k and verifier reranking.

- `generate` and friends: completions from vLLM (when installed) or batched Hugging Face `generate`, from
  `reft_trl.generation` (shared with the trainers).
- `metrics`: pure functions on extracted answers: `greedy_accuracy`, `majority_vote`, `voting_accuracy`, `pass_at_k`,
  `rerank_choice`, `rerank_accuracy`.
- `sample_and_score`: k solutions per training question with their rewards (verifier data, offline self-training),
  from `reft_trl.sampling`.
- `verifier`: the reranking verifier: `collect_verifier_data`, `train_verifier`, `score_candidates`.
- `evaluator`: `evaluate`, the driver: generate, extract, score, write per-question JSON lines and a summary.
- `report`: the files and the printed table.

Names are imported on first use, so the metrics load without the training stack.

>>> from reft_trl.evaluation import majority_vote, pass_at_k
>>> majority_vote(["18", "18.0", "7"], task="gsm8k"), pass_at_k(4, 1, 2)
('18', 0.5)
"""

from importlib import import_module

_EXPORTS = {
    # the driver
    "MODES": "evaluator",
    "evaluate": "evaluator",
    "sample_counts": "evaluator",
    # generation (shared with the trainers)
    "encode_prompt": "generation",
    "generate": "generation",
    "load_generation_model": "generation",
    "render_prompt": "generation",
    # sampling + scoring of training questions (shared with offline self-training)
    "ScoredSamples": "sampling",
    "sample_and_score": "sampling",
    # metrics
    "accuracy": "metrics",
    "greedy_accuracy": "metrics",
    "majority_vote": "metrics",
    "mean_pass_at_k": "metrics",
    "pass_at_k": "metrics",
    "rerank_accuracy": "metrics",
    "rerank_choice": "metrics",
    "voting_accuracy": "metrics",
    # the verifier
    "VerifierConfig": "verifier",
    "VerifierScorer": "verifier",
    "build_verifier_dataset": "verifier",
    "collect_verifier_data": "verifier",
    "score_candidates": "verifier",
    "train_verifier": "verifier",
    # files and table
    "format_table": "report",
    "read_predictions": "report",
    "summary_table": "report",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
