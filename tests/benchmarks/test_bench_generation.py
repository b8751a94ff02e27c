"""`benchmarks/bench_generation.py` on a tiny random Llama with the real SmolLM2 tokenizer: every variant described,
a run writes its JSON with the timings, the bound and the greedy comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.utils import load_script, tiny_llama

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_generation.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCHMARK)


def tiny_model(bench, tokenizer, tmp_path, monkeypatch, tie_word_embeddings=False):
    """A tiny random Llama with the real tokenizer saved in `tmp_path / "tiny"`, and the machine measurements shrunk."""
    monkeypatch.setattr(bench, "BANDWIDTH_BYTES", 2**20)
    monkeypatch.setattr(bench, "MATMUL_SIZE", 64)
    model = tmp_path / "tiny"
    tiny_llama(len(tokenizer), tie_word_embeddings=tie_word_embeddings).save_pretrained(model)
    tokenizer.save_pretrained(model)
    return model


def test_every_variant_is_described_in_the_docstring(bench):
    for name in bench.VARIANTS:
        assert f"`{name}`" in bench.__doc__, name
    assert set(bench.DEFAULT_VARIANTS) <= set(bench.VARIANTS)


def test_a_tiny_run_writes_timings_and_the_greedy_comparison(bench, tokenizer, tmp_path, monkeypatch):
    model = tiny_model(bench, tokenizer, tmp_path, monkeypatch, tie_word_embeddings=True)
    report = bench.main(
        ["--model", str(model), "--variants", "fp32", "autocast", "bf16", "--batch_sizes", "2", "--sample_batch_sizes",
         "2", "--max_new_tokens", "4", "--sample_new_tokens", "3", "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    written = json.loads(next((tmp_path / "out").glob("generation_tiny_*.json")).read_text())
    assert written["results"] == report["results"]
    results = {(r["variant"], r["workload"]): r for r in report["results"]}
    assert set(results) == {
        (name, workload) for name in ("fp32", "autocast", "bf16") for workload in ("greedy", "sampling")
    }
    sampled = results["bf16", "sampling"]
    assert sampled["generated_tokens"] == 2 * 3 and sampled["decode_steps"] == 3  # run to the full length
    assert results["autocast", "greedy"]["reference"] == "fp32"
    assert 0 <= results["autocast", "greedy"]["identical_share"] <= 1
    assert all(r["share_of_bound"] > 0 and r["tokens_per_s"] > 0 for r in report["results"])
    assert report["rollout_copy_refresh_ms"] > 0


def test_the_shrinking_and_continuous_variants_run_and_report_their_rows(bench, tokenizer, tmp_path, monkeypatch):
    """Both stop a row at its EOS; in the sampling workload they run to the full length as `generate` does."""
    model = tiny_model(bench, tokenizer, tmp_path, monkeypatch)
    report = bench.main(
        ["--model", str(model), "--variants", "bf16", "bf16_shrinking", "bf16_shrinking_concat", "bf16_continuous",
         "--batch_sizes", "3",
         "--sample_batch_sizes", "2", "--max_new_tokens", "5", "--sample_new_tokens", "3", "--skip_refresh",
         "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    results = {(r["variant"], r["workload"]): r for r in report["results"]}
    for name in ("bf16_shrinking", "bf16_shrinking_concat", "bf16_continuous"):
        sampled, greedy = results[name, "sampling"], results[name, "greedy"]
        assert sampled["generated_tokens"] == 2 * 3 and sampled["decode_steps"] == 3
        reference = "bf16_shrinking" if name == "bf16_shrinking_concat" else "bf16"
        assert greedy["reference"] == reference and 0 <= greedy["identical_share"] <= 1
        assert 0 < greedy["decode_rows_per_step"] <= 3 and greedy["tokens_per_s"] > 0
    assert results["bf16_shrinking_concat", "greedy"]["identical_share"] == 1  # the cache changes no token
    assert results["bf16", "greedy"]["decode_rows_per_step"] == 3  # generate computes every row at every step
    assert report["rollout_copy_refresh_ms"] is None


def test_the_concatenating_variant_runs_the_loop_with_transformers_cache(bench, tokenizer):
    """Seen from the model's forwards: the loop's cache layers under each variant."""
    from transformers.cache_utils import DynamicLayer

    from reft_trl.generation import generate_shrinking
    from reft_trl.kv_cache import InPlaceLayer

    model = tiny_llama(len(tokenizer)).eval()
    seen = []
    model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append({type(layer) for layer in kwargs["cache"].layers}), with_kwargs=True
    )
    input_ids = torch.tensor([[1, 2, 3]])
    for name in ("bf16_shrinking_concat", "bf16_shrinking"):
        with torch.inference_mode(), bench.concatenating_cache(name):
            generate_shrinking(model, input_ids, torch.ones_like(input_ids), 2, [tokenizer.eos_token_id])
    assert seen == [{DynamicLayer}] * 2 + [{InPlaceLayer}] * 2


@pytest.mark.skipif(
    not __import__("reft_trl.packed_linear").packed_linear.can_pack(torch.nn.Linear(2, 2)),
    reason="needs a CPU with native bf16 and oneDNN's packing ops",
)
def test_the_packed_variants_decode_what_their_unpacked_twins_decode(bench, tokenizer, tmp_path, monkeypatch):
    model = tiny_model(bench, tokenizer, tmp_path, monkeypatch)
    packed = list(bench.PACKED_VARIANTS)
    report = bench.main(
        ["--model", str(model), "--variants", *bench.PACKED_VARIANTS.values(), *packed, "--batch_sizes", "3",
         "--sample_batch_sizes", "2", "--max_new_tokens", "5", "--sample_new_tokens", "3", "--skip_refresh",
         "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    results = {(r["variant"], r["workload"]): r for r in report["results"]}
    for name, twin in bench.PACKED_VARIANTS.items():
        assert results[name, "greedy"]["reference"] == twin
        assert results[name, "greedy"]["identical_share"] == 1
        assert results[name, "sampling"]["generated_tokens"] == 2 * 3


def test_the_fused_variant_decodes_what_its_reference_decodes(bench, tokenizer, tmp_path, monkeypatch):
    model = tiny_model(bench, tokenizer, tmp_path, monkeypatch)
    report = bench.main(
        ["--model", str(model), "--variants", "fp32_shrinking", "fp32_fused", "fp32_fused_unpacked", "--batch_sizes", "3",
         "--sample_batch_sizes", "2", "--max_new_tokens", "5", "--sample_new_tokens", "3", "--skip_refresh",
         "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    results = {(r["variant"], r["workload"]): r for r in report["results"]}
    for name in ("fp32_fused", "fp32_fused_unpacked"):
        assert results[name, "greedy"]["reference"] == "fp32_shrinking"
        assert results[name, "greedy"]["identical_share"] == 1
        assert 0 < results[name, "greedy"]["decode_rows_per_step"] <= 3  # counted from the steps' logits
        assert results[name, "sampling"]["generated_tokens"] == 2 * 3  # run to the full length
    assert set(bench.FUSED_VARIANTS) <= set(bench.VARIANTS)
