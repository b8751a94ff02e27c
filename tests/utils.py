"""Builders shared by the tests: tiny random Llama / OPT models from a config (nothing downloaded)."""

from __future__ import annotations


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
