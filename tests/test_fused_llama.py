"""`FusedLlamaDecoder` computes what transformers' `LlamaForCausalLM` computes, in the same dtypes: the same logits
(to float32 rounding, or bf16 rounding where the products are bf16 and may come from other kernels) and the same
float32 greedy tokens, through padding, grouped or separate key/value heads, samples of one prompt, shrinking
batches, biases, Llama 3's rotary scaling and a LoRA adapter; and it names what it cannot decode."""

from __future__ import annotations

import contextlib
import re

import pytest
import torch

from reft_trl.fused_llama import FusedLlamaDecoder, fused_support
from reft_trl.generation import TransformersDecoder, generate, generate_shrinking
from tests.utils import tiny_llama, tiny_opt

VOCAB = 97
STOP = VOCAB + 5  # never emitted: every row decodes to the budget
PRECISIONS = ("fp32", "bf16", "autocast")


def prompts(seed: int, rows: int = 4, length: int = 9, padded: bool = True):
    """`rows` left-padded random prompts, row r with r padding positions (none when not `padded`)."""
    input_ids = torch.randint(1, VOCAB, (rows, length), generator=torch.Generator().manual_seed(seed))
    attention_mask = torch.ones_like(input_ids)
    if padded:
        for row in range(rows):
            input_ids[row, :row], attention_mask[row, :row] = 0, 0
    return input_ids, attention_mask


CONFIGS = {
    "grouped": {},  # tiny_llama's: 2 query heads sharing 1 key/value head
    "separate heads, own head_dim, biases": dict(
        num_attention_heads=2, num_key_value_heads=2, head_dim=12, attention_bias=True, mlp_bias=True
    ),
    "llama3 rope": dict(
        rope_parameters=dict(
            rope_type="llama3",
            rope_theta=10000.0,
            factor=8.0,
            low_freq_factor=1.0,
            high_freq_factor=4.0,
            original_max_position_embeddings=8,
        )
    ),  # fmt: skip
}


def model_in(precision: str, seed: int = 0, **config):
    """A tiny random Llama (untied head; `config` changed from tiny_llama's) as `precision` computes it, and the
    context to compute in."""
    model = tiny_llama(VOCAB, seed=seed, tie_word_embeddings=False)
    if config:
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        model = LlamaForCausalLM(LlamaConfig(**{**model.config.to_dict(), **config}))
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name.endswith(".bias"):  # transformers starts biases at zero
                    parameter.normal_(std=0.1)
    model.eval()
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "autocast" else contextlib.nullcontext()
    return model, autocast


def close(fused, expected, precision):
    """float32 rounding; bf16 rounding where the products are bf16 (a kernel may round otherwise than another)."""
    if precision == "fp32":
        torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-5)
    else:
        torch.testing.assert_close(fused, expected, rtol=1.6e-2, atol=1e-3)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("padded", [True, False])
def test_greedy_tokens_are_transformers(config, padded):
    for seed in range(2):
        model, _ = model_in("fp32", seed, **CONFIGS[config])
        input_ids, attention_mask = prompts(seed, padded=padded)
        with torch.inference_mode():
            expected = model.generate(
                input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=16, do_sample=False,
                pad_token_id=0, eos_token_id=STOP,
            )[:, input_ids.shape[1] :].tolist()  # fmt: skip
            fused = generate_shrinking(
                model, input_ids, attention_mask, 16, [STOP], decoder=FusedLlamaDecoder(model, rows=4)
            )
        assert fused == expected


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("precision", PRECISIONS)
def test_logits_of_each_step_are_transformers(precision, config):
    """Teacher-forced through the prefill, a repeat into samples, decode steps and a shrinking batch."""
    model, autocast = model_in(precision, seed=1, **CONFIGS[config])
    input_ids, attention_mask = prompts(seed=1, rows=3)
    tokens = torch.randint(1, VOCAB, (6, 5), generator=torch.Generator().manual_seed(2))
    decoders = (TransformersDecoder(model), FusedLlamaDecoder(model, rows=6))
    with torch.inference_mode(), autocast:
        steps = []
        for decoder in decoders:
            logits = [decoder.prefill(input_ids, attention_mask, max_new_tokens=5)]
            decoder.repeat(2)
            for step in range(5):
                rows = tokens[:, step] if step < 3 else tokens[[0, 3, 5], step]
                logits.append(decoder.step(rows))
                if step == 2:
                    decoder.select(torch.tensor([0, 3, 5]))
            steps.append(logits)
    assert len(steps[1]) == 6
    for expected, fused in zip(*steps, strict=True):
        assert fused.dtype == torch.float32
        close(fused, expected, precision)


def test_samples_follow_the_same_distribution():
    """top-k 1 makes sampling deterministic; sampled rows of one prompt get the prompt's tokens."""
    model, _ = model_in("fp32", seed=2)
    input_ids, attention_mask = prompts(seed=2, rows=2)
    sampling = dict(num_samples=3, greedy=False, top_k=1)
    with torch.inference_mode():
        expected = generate_shrinking(model, input_ids, attention_mask, 10, [STOP], **sampling)
        fused = generate_shrinking(
            model, input_ids, attention_mask, 10, [STOP], decoder=FusedLlamaDecoder(model), **sampling
        )
    assert fused == expected and len(fused) == 6


def test_a_lora_adapter_is_merged_into_the_weights():
    from peft import LoraConfig, get_peft_model

    model, _ = model_in("fp32", seed=3)
    input_ids, attention_mask = prompts(seed=3)
    with torch.inference_mode():
        base = TransformersDecoder(model).prefill(input_ids, attention_mask, max_new_tokens=1)
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=8, target_modules="all-linear")).eval()
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero: the adapter would change nothing
                parameter.normal_(std=0.5)
    with torch.inference_mode():
        expected = TransformersDecoder(peft_model).prefill(input_ids, attention_mask, max_new_tokens=1)
        fused = FusedLlamaDecoder(peft_model).prefill(input_ids, attention_mask, max_new_tokens=1)
        with peft_model.disable_adapter():
            disabled = FusedLlamaDecoder(peft_model).prefill(input_ids, attention_mask, max_new_tokens=1)
    assert not torch.allclose(expected, base, atol=1e-3)  # the adapter changes the logits
    torch.testing.assert_close(fused, expected, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(disabled, base, rtol=1e-5, atol=1e-5)


def test_generate_decodes_the_same_texts_fused(tokenizer, monkeypatch):
    """One decoder, built once for the call's batches."""
    from reft_trl import fused_llama

    built = []
    monkeypatch.setattr(
        fused_llama, "FusedLlamaDecoder", lambda *args, **kwargs: built.append(FusedLlamaDecoder(*args, **kwargs)) or built[-1]
    )  # fmt: skip
    model = tiny_llama(len(tokenizer), tie_word_embeddings=False).eval()
    texts = ["Question: 1 + 2?", "Question: a longer one, 3 + 4 + 5?", "Hi"]
    settings = dict(max_new_tokens=8, batch_size=2, show_progress=False)
    fused = generate(model, tokenizer, texts, hf_decoding="fused", **settings)
    assert len(built) == 1 and built[0].length > 0  # it decoded
    assert fused == generate(model, tokenizer, texts, hf_decoding="shrinking", **settings)


def test_what_it_cannot_decode_is_named(tokenizer):
    assert fused_support(tiny_llama(VOCAB)) is None
    assert "this one is 'opt'" in fused_support(tiny_opt(VOCAB))
    model = tiny_llama(VOCAB)
    model.config._attn_implementation = "eager"
    assert "'eager'" in fused_support(model)
    with torch.autocast("cpu", dtype=torch.float16):
        assert "torch.float16 autocast is on" in fused_support(tiny_llama(VOCAB))
    with pytest.raises(ValueError, match="this one is 'opt'"):
        FusedLlamaDecoder(tiny_opt(VOCAB))
    with pytest.raises(ValueError, match="this one is 'opt'"):
        generate(tiny_opt(len(tokenizer)), tokenizer, ["x"], hf_decoding="fused", backend="hf", show_progress=False)


@pytest.mark.parametrize(
    ("adapter", "message"),
    [
        (dict(use_dora=True), "a LoRA variant"),
        (dict(lora_bias=True), "with a bias"),
        ("ia3", "a Linear adapter layer: the fused decoder merges plain LoRA only"),
        (dict(lora_dropout=0.1), r"dropout \(p=0.1\) is active"),
    ],
)
def test_adapters_it_would_compute_otherwise_are_refused(adapter, message):
    from peft import IA3Config, LoraConfig, get_peft_model

    config = (
        IA3Config(target_modules="all-linear")
        if adapter == "ia3"
        else LoraConfig(r=2, target_modules="all-linear", **adapter)
    )
    model = get_peft_model(tiny_llama(VOCAB), config)
    assert re.search(message, fused_support(model, training=True))
    if adapter == dict(lora_dropout=0.1):
        assert fused_support(model.eval()) is None  # evaluation mode: no dropout


def test_active_dropout_and_modules_it_does_not_compute_are_refused():
    model, _ = model_in("fp32", attention_dropout=0.1)
    assert "attention dropout (0.1)" in fused_support(model, training=True)
    assert fused_support(model) is None  # evaluation mode
    model = tiny_llama(VOCAB)
    model.lm_head = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(16, VOCAB, bias=False))
    assert "layer: the fused decoder packs torch.nn.Linear and LoRA layers only" in fused_support(model)
    with pytest.raises(ValueError, match="fp16"):
        from reft_trl.trainers.mixed_precision_generation import check_rollout_options

        check_rollout_options(
            type("Config", (), dict(rollout_weights="policy", rollout_decoding="fused", rollout_pack_weights=True,
                                    fp16=True, bf16=False, use_vllm=False, use_transformers_continuous_batching=False,
                                    use_transformers_paged=False, cache_implementation=None))()
        )  # fmt: skip


def test_the_cache_bound_is_kept():
    model, _ = model_in("fp32")
    decoder = FusedLlamaDecoder(model)
    input_ids, attention_mask = prompts(seed=4, rows=2)
    with torch.inference_mode():
        decoder.prefill(input_ids, attention_mask, max_new_tokens=1)
        decoder.step(torch.tensor([1, 2]))
        with pytest.raises(ValueError, match="all are filled"):
            decoder.step(torch.tensor([1, 2]))
