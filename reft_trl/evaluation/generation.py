"""Moved to `reft_trl.generation` (evaluation and the trainers' sampling share it); this path keeps its names."""

from reft_trl.generation import (
    BACKENDS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_NEW_TOKENS,
    VLLM_TOP_K_DISABLED,
    encode_prompt,
    generate,
    is_vllm_available,
    load_generation_model,
    render_prompt,
    resolve_backend,
)

__all__ = [
    "BACKENDS",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_MAX_NEW_TOKENS",
    "VLLM_TOP_K_DISABLED",
    "encode_prompt",
    "generate",
    "is_vllm_available",
    "load_generation_model",
    "render_prompt",
    "resolve_backend",
]
