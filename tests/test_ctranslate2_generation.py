"""`reft_trl.ctranslate2_generation`: the CTranslate2 backend of `generate`, on a tiny random Llama saved with the real
SmolLM2 tokenizer."""

from __future__ import annotations

import pytest

from reft_trl import ctranslate2_generation
from reft_trl.generation import generate, load_generation_model, resolve_backend
from tests.utils import tiny_llama

pytest.importorskip("ctranslate2")

PROMPTS = ["Question: 3 + 4?\nAnswer:", "Question: Tom has 5 apples and eats 2. How many are left?\nAnswer:", "Hi"]


@pytest.fixture
def checkpoint(tokenizer, tmp_path) -> str:
    """An untied tiny Llama (its greedy tokens vary from step to step) with the real tokenizer."""
    folder = tmp_path / "tiny"
    tiny_llama(len(tokenizer), tie_word_embeddings=False).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> str:
    folder = str(tmp_path / "ct2-cache")
    load = ctranslate2_generation.load_ctranslate2_model
    monkeypatch.setattr(
        "reft_trl.generation.load_ctranslate2_model", lambda path, **kwargs: load(path, cache_dir=folder, **kwargs)
    )
    return folder


def test_greedy_completions_are_transformers_float32_ones(checkpoint, tokenizer, cache):
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
    expected = generate(hf, tokenizer, PROMPTS, max_new_tokens=12, backend="hf", show_progress=False)
    model = load_generation_model(checkpoint, backend="ctranslate2")
    assert isinstance(model, ctranslate2_generation.CTranslate2Model) and model.name_or_path == checkpoint
    assert resolve_backend("auto", model) == "ctranslate2"
    got = generate(model, tokenizer, PROMPTS, max_new_tokens=12, batch_size=2, backend="ctranslate2")
    assert got == expected


def test_batching_changes_no_completion_even_beside_a_one_token_prompt(checkpoint, tokenizer, cache):
    """A one-token prompt in a batch would make CTranslate2 decode the other prompts' tokens inside the completion
    budget: such prompts go in batches of their own."""
    assert len(tokenizer("Hi")["input_ids"]) == 1
    model = load_generation_model(checkpoint, backend="ctranslate2")
    one_by_one = generate(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=1, show_progress=False)
    together = generate(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=3, show_progress=False)
    assert together == one_by_one
    lengths = [len(tokenizer(texts[0], add_special_tokens=False)["input_ids"]) for texts in together]
    assert max(lengths) <= 6


def test_sampling_draws_each_sample_and_follows_the_load_seed(checkpoint, tokenizer, cache):
    options = dict(num_samples=3, greedy=False, temperature=1.0, max_new_tokens=8, batch_size=4, show_progress=False)
    first = generate(load_generation_model(checkpoint, "ctranslate2", seed=0), tokenizer, PROMPTS, **options)
    again = generate(load_generation_model(checkpoint, "ctranslate2", seed=0), tokenizer, PROMPTS, **options)
    other = generate(load_generation_model(checkpoint, "ctranslate2", seed=1), tokenizer, PROMPTS, **options)
    assert [len(texts) for texts in first] == [3, 3, 3]
    assert first == again and first != other
    assert any(len(set(texts)) > 1 for texts in first)  # distinct draws, not copies of one
    top_1 = generate(load_generation_model(checkpoint, "ctranslate2"), tokenizer, PROMPTS, **options, top_k=1)
    greedy = generate(load_generation_model(checkpoint, "ctranslate2"), tokenizer, PROMPTS, max_new_tokens=8)
    assert top_1 == [texts * 3 for texts in greedy]


def test_a_checkpoint_is_converted_once_and_again_when_its_weights_change(checkpoint, tokenizer, tmp_path):
    import os
    from pathlib import Path

    cache = tmp_path / "cache"
    first = ctranslate2_generation.convert_checkpoint(checkpoint, cache)
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert ctranslate2_generation.convert_checkpoint(checkpoint, cache) == first
    assert (first / "model.bin").stat().st_mtime_ns == stamp  # reused, not rewritten
    weights = next(Path(checkpoint).glob("*.safetensors"))
    os.utime(weights, ns=(stamp + 10**9, stamp + 10**9))  # a retrained checkpoint saved in the same folder
    second = ctranslate2_generation.convert_checkpoint(checkpoint, cache)
    assert second != first and (second / "model.bin").is_file()
    assert sorted(path.name for path in cache.iterdir()) == sorted([first.name, second.name])  # no temporary left


def test_errors_name_what_is_missing(checkpoint, tokenizer, tmp_path, cache):
    from transformers import AutoTokenizer

    other = AutoTokenizer.from_pretrained(checkpoint)
    other.add_tokens(["<added_token_never_converted>"])
    model = load_generation_model(checkpoint, backend="ctranslate2")
    with pytest.raises(ValueError, match="does not match the vocabulary .* token id 49152"):
        generate(model, other, PROMPTS[:1], max_new_tokens=2)
    with pytest.raises(ValueError, match="needs a checkpoint folder"):
        load_generation_model(tiny_llama(len(tokenizer)), backend="ctranslate2")
    with pytest.raises(FileNotFoundError, match="holds no config.json"):
        ctranslate2_generation.checkpoint_digest(str(tmp_path))
