"""`benchmarks/profile_decode_step.py` on a tiny random Llama with the real SmolLM2 tokenizer: its bare decode loop is
the decode `generate` runs (the same greedy tokens), and a run writes the split of a step and the profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.utils import load_script, tiny_llama

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "profile_decode_step.py"


@pytest.fixture(scope="module")
def script():
    return load_script(SCRIPT)


def test_the_bare_loop_computes_what_generate_computes(script, tokenizer, monkeypatch):
    """Left-padded prompts of different lengths: the same logits at every step as `generate`'s (positions and mask as
    it builds them), and different ones when the positions are off by one (the comparison can tell)."""
    model = tiny_llama(len(tokenizer), tie_word_embeddings=False).eval()
    input_ids, attention_mask = script.prompts(tokenizer, 3)
    assert (attention_mask == 0).any()  # the prompts differ in length: padding is exercised
    with torch.no_grad():
        _, tokens, logits = script.decode_loop(model, input_ids, attention_mask, 5, choose="greedy", keep_logits=True)
        expected = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=6, min_new_tokens=6, do_sample=False,
            pad_token_id=tokenizer.pad_token_id, output_logits=True, return_dict_in_generate=True,
        )  # fmt: skip
        assert torch.equal(tokens, expected.sequences[:, input_ids.shape[1] :])
        assert len(logits) == len(expected.logits) == 6
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(logits, expected.logits))

        prefill = script.prefill
        monkeypatch.setattr(script, "prefill", lambda *a: (*prefill(*a)[:3], prefill(*a)[3] + 1))
        _, _, shifted = script.decode_loop(model, input_ids, attention_mask, 5, choose="greedy", keep_logits=True)
        assert not torch.allclose(shifted[1], expected.logits[1], atol=1e-5)


def test_the_forward_alone_leaves_the_cache_at_the_prompt(script, tokenizer, monkeypatch):
    model = tiny_llama(len(tokenizer)).eval()
    input_ids, attention_mask = script.prompts(tokenizer, 2)
    cache, *_ = script.prefill(model, input_ids, attention_mask)
    seen = []
    original = cache.crop
    cache.crop = lambda length: (seen.append(length), original(length))
    prefilled = (cache, torch.zeros(2, len(tokenizer)), attention_mask, torch.zeros(2, 1, dtype=torch.long))
    monkeypatch.setattr(script, "prefill", lambda *args: prefilled)
    with torch.no_grad():
        _, tokens, kept = script.decode_loop(model, input_ids, attention_mask, 3, choose="none")
    assert seen == [-1] * 3 and cache.get_seq_length() == input_ids.shape[1]
    assert tokens.shape == (2, 1) and kept is None


def test_generate_is_timed_over_its_decode_steps(script, tokenizer):
    model = tiny_llama(len(tokenizer)).eval()
    input_ids, attention_mask = script.prompts(tokenizer, 2)
    with torch.no_grad():
        seconds, steps = script.time_generate(model, input_ids, attention_mask, 4, tokenizer.pad_token_id)
    assert steps == 4 and seconds > 0


def test_a_tiny_run_writes_the_split_and_the_profile(script, tokenizer, tmp_path):
    model = tmp_path / "tiny"
    tiny_llama(len(tokenizer)).save_pretrained(model)
    tokenizer.save_pretrained(model)
    report = script.main(
        ["--model", str(model), "--precisions", "autocast", "bf16_packed", "--batch_size", "2", "--new_tokens", "3",
         "--repeats", "1", "--profile_steps", "2", "--top", "4", "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    written = json.loads(next((tmp_path / "out").glob("decode_step_*.json")).read_text())
    assert written["results"] == report["results"]
    for name in ("autocast", "bf16_packed"):
        result = report["results"][name]
        assert all(result[f"{kind}_ms"] > 0 for kind in ("generate", "loop", "forward", "forward_1_thread"))
        assert result["threads"] == torch.get_num_threads()  # restored after the 1-thread measurement
        profile = result["profile"]
        assert len(profile["top"]) == 4 and profile["operator_calls_per_step"] > 0
        assert {"op", "calls_per_step", "self_us_per_step"} <= set(profile["top"][0])
        assert f"| {name} |" in report["table"]
