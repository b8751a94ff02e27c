"""The Hugging Face generation path: prompt order restored across length-sorted batches, sample counts, greedy
determinism, tokenizers without a pad token, conversational prompts, and the P-CoT program prefix."""

from __future__ import annotations

import copy
import doctest
import os
import sys
import types

import pytest
import torch

from reft_trl import generation
from reft_trl.generation import (
    encode_prompt,
    generate,
    load_generation_model,
    render_prompt,
    resolve_backend,
)
from reft_trl.rewards.pcot import with_prefilled_text
from tests.utils import PackingCount, can_pack_here, linear_layers, tiny_llama, tiny_opt, with_system_prompt_template

PROMPTS = [
    "Question:\nWhat is 2 + 3?\nAnswer reasoning:\n",
    "Question:\nA farmer has 12 cows and buys 7 more. How many cows does he have now?\nAnswer reasoning:\n",
    "Question:\nHow many legs do 4 ducks have?\nAnswer reasoning:\n",
    "Question:\n9?\nAnswer reasoning:\n",
    "Question:\nTom reads 5 pages a day for a week. How many pages does he read?\nAnswer reasoning:\n",
]
TAIL = 3


class EchoModel(torch.nn.Module):
    """Stands in for a causal LM: its completion is the last `TAIL` tokens of its own (left-padded) prompt."""

    def __init__(self):
        super().__init__()
        self.generation_config = None
        self.calls = []

    @property
    def device(self):
        return torch.device("cpu")

    def generate(self, input_ids, attention_mask, generation_config):
        self.calls.append((input_ids.shape[0], generation_config.num_return_sequences))
        repeated = input_ids.repeat_interleave(generation_config.num_return_sequences, dim=0)
        return torch.cat([repeated, repeated[:, -TAIL:]], dim=1)


def test_doctests_pass():
    results = doctest.testmod(generation)
    assert results.attempted > 0
    assert results.failed == 0


def test_the_old_evaluation_path_keeps_its_names():
    from reft_trl.evaluation import generation as old_path

    assert all(getattr(old_path, name) is getattr(generation, name) for name in old_path.__all__)


@pytest.fixture(scope="module")
def llama(tokenizer):
    return tiny_llama(len(tokenizer))


@pytest.mark.parametrize(("batch_size", "num_samples"), [(1, 1), (2, 1), (4, 3), (16, 2), (2, 5)])
def test_each_prompt_gets_its_own_completions_in_order(tokenizer, batch_size, num_samples):
    model = EchoModel()
    completions = generate(
        model, tokenizer, PROMPTS, num_samples=num_samples, greedy=False, batch_size=batch_size, show_progress=False
    )
    expected = [tokenizer.decode(encode_prompt(tokenizer, prompt)[-TAIL:]) for prompt in PROMPTS]
    assert completions == [[text] * num_samples for text in expected]
    assert all(rows * samples <= batch_size for rows, samples in model.calls)  # sequences per call


def test_batches_are_sorted_longest_first(tokenizer):
    model = EchoModel()
    lengths = []
    model.generate = lambda input_ids, attention_mask, generation_config: (
        lengths.append(int(attention_mask.sum(1).max())) or torch.cat([input_ids, input_ids[:, -1:]], dim=1)
    )
    generate(model, tokenizer, PROMPTS, batch_size=1, show_progress=False)
    assert lengths == sorted(lengths, reverse=True)
    assert len(set(lengths)) == len(PROMPTS)


def test_greedy_generation_is_deterministic_and_order_independent(tokenizer, llama):
    first = generate(llama, tokenizer, PROMPTS, max_new_tokens=6, batch_size=8, show_progress=False)
    second = generate(llama, tokenizer, PROMPTS, max_new_tokens=6, batch_size=8, show_progress=False)
    assert first == second
    assert all(len(texts) == 1 and texts[0] for texts in first)
    # The same batches in another input order: each prompt keeps its completion.
    reordered = [PROMPTS[index] for index in (3, 0, 4, 2, 1)]
    again = generate(llama, tokenizer, reordered, max_new_tokens=6, batch_size=8, show_progress=False)
    assert again == [first[index] for index in (3, 0, 4, 2, 1)]


def test_sampling_returns_num_samples_per_prompt(tokenizer, llama):
    torch.manual_seed(0)
    completions = generate(
        llama, tokenizer, PROMPTS[:2], num_samples=3, greedy=False, max_new_tokens=5, batch_size=4, show_progress=False
    )
    assert [len(texts) for texts in completions] == [3, 3]
    assert len(set(completions[0])) > 1  # sampled, not copies
    greedy = generate(llama, tokenizer, PROMPTS[:2], num_samples=3, max_new_tokens=5, show_progress=False)
    assert all(len(set(texts)) == 1 and len(texts) == 3 for texts in greedy)


def test_a_tokenizer_without_pad_token_pads_with_eos(tokenizer):
    no_pad = copy.deepcopy(tokenizer)
    no_pad.pad_token = None
    assert no_pad.pad_token_id is None
    opt = tiny_opt(len(tokenizer))
    completions = generate(opt, no_pad, PROMPTS[:3], max_new_tokens=4, batch_size=3, show_progress=False)
    assert [len(texts) for texts in completions] == [1, 1, 1]


def test_conversational_prompts_go_through_the_chat_template(tokenizer, llama):
    question = [{"role": "user", "content": "What is 2 + 3?"}]
    rendered = render_prompt(tokenizer, question)
    assert rendered.endswith("<|im_start|>assistant\n") and "What is 2 + 3?" in rendered
    prefilled = question + [{"role": "assistant", "content": "def solution():"}]
    assert render_prompt(tokenizer, prefilled).endswith("<|im_start|>assistant\ndef solution():")
    assert encode_prompt(tokenizer, question) == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    completions = generate(llama, tokenizer, [question, prefilled], max_new_tokens=4, show_progress=False)
    assert [len(texts) for texts in completions] == [1, 1]
    assert with_prefilled_text(prefilled, "\n    return 5", cot="pcot") == "def solution():\n    return 5"


def test_an_in_memory_model_uses_transformers():
    assert resolve_backend("auto", model=object()) == "hf"
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("tensorrt")


# Decoding modes of the Hugging Face backend


@pytest.mark.parametrize("build", [tiny_llama, tiny_opt], ids=["llama", "opt"])
def test_a_static_cache_gives_the_default_caches_greedy_tokens(tokenizer, build):
    """Batches of 2, 2 and 1 prompts of different widths: the cache sized by the first (longest) batch is reused."""
    model = build(len(tokenizer))
    plain = generate(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, show_progress=False)
    static = generate(
        model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, show_progress=False, hf_decoding="static"
    )
    assert static == plain


@pytest.mark.slow
def test_a_compiled_decode_step_gives_the_default_caches_greedy_tokens(tokenizer):
    """float32, so the tokens must match exactly; the tiny Llama groups its key/value heads (2 query heads, 1 KV), so
    the grouped-KV attention runs inside the compiled graph. Batches of 2, 2 and 1 (filled up to 2), the cache sized
    by the first: one compilation for the three calls."""
    from torch._dynamo.utils import counters

    model = tiny_llama(len(tokenizer))
    plain = generate(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, show_progress=False)
    torch._dynamo.reset()
    counters.clear()
    compiled = generate(
        model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=2, show_progress=False, hf_decoding="compiled"
    )
    assert compiled == plain
    assert counters["stats"]["unique_graphs"] == 1
    assert generation._FORCE_GQA_ENV not in os.environ


@pytest.mark.skipif(not can_pack_here(), reason="needs a CPU with native bf16 and oneDNN's packing ops")
@pytest.mark.parametrize("hf_decoding", ["dynamic", "shrinking"])
def test_a_bf16_model_decodes_the_same_texts_from_weights_packed_once_per_call(tokenizer, monkeypatch, hf_decoding):
    model = tiny_llama(len(tokenizer), tie_word_embeddings=False).to(torch.bfloat16)
    settings = dict(max_new_tokens=8, batch_size=2, show_progress=False, hf_decoding=hf_decoding)
    unpacked = generate(model, tokenizer, PROMPTS, pack_weights=False, **settings)
    count = PackingCount(monkeypatch)
    assert not count.packings
    packed = generate(model, tokenizer, PROMPTS, **settings)
    assert packed == unpacked
    assert count.packings == linear_layers(model)  # once for the call's three batches
    assert count.products > 3 * linear_layers(model)
    assert not any("forward" in vars(module) for module in model.modules())
    assert generate(model, tokenizer, PROMPTS, pack_weights=False, **settings) == unpacked
    assert count.packings == linear_layers(model)


def test_packing_is_left_out_where_it_does_not_apply(monkeypatch):
    entered = []
    monkeypatch.setattr("reft_trl.packed_linear.packed_linears", lambda model, rows, skip: entered.append(rows))
    model = tiny_llama(11)
    for hf_decoding, pack_weights in (("compiled", True), ("dynamic", False)):
        generation.packed_for_decoding(model, hf_decoding, rows=4, pack_weights=pack_weights)
    monkeypatch.setattr(generation, "_is_vllm_engine", lambda model: True)
    generation.packed_for_decoding(model, "dynamic", rows=4)
    assert entered == []
    monkeypatch.setattr(generation, "_is_vllm_engine", lambda model: False)
    generation.packed_for_decoding(model, "shrinking", rows=4)
    assert entered == [4]


def test_decoding_settings_of_each_mode():
    from transformers import CompileConfig

    assert generation.hf_decoding_settings("dynamic") == {}
    assert generation.hf_decoding_settings("static") == {"cache_implementation": "static", "disable_compile": True}
    compiled = generation.hf_decoding_settings("compiled")
    assert compiled["cache_implementation"] == "static" and compiled["disable_compile"] is False
    config = compiled["compile_config"]
    assert isinstance(config, CompileConfig) and config._compile_all_devices and config.mode == "default"
    assert set(generation.HF_DECODINGS) == {"dynamic", "static", "compiled", "shrinking", "fused", "auto"}
    assert set(generation.GENERATE_DECODINGS) == set(generation.HF_DECODINGS) - {"shrinking", "fused", "auto"}
    with pytest.raises(ValueError, match="not a setting of transformers' generate"):
        generation.hf_decoding_settings("shrinking")


def test_an_unknown_decoding_is_refused(tokenizer, llama):
    with pytest.raises(ValueError, match="valid: dynamic, static, compiled, shrinking, fused, auto"):
        generate(llama, tokenizer, PROMPTS[:1], max_new_tokens=2, hf_decoding="paged", show_progress=False)
    with pytest.raises(ValueError, match="hf_decoding"):
        generation.hf_decoding_settings("Static")


def test_auto_decoding_is_shrinking_where_the_model_allows_it(llama, monkeypatch):
    assert generation.DEFAULT_HF_DECODING == "auto"
    assert generation.resolve_hf_decoding("auto", llama) == "shrinking"
    assert generation.resolve_hf_decoding("static", llama) == "static"
    assert generation.resolve_hf_decoding("auto", object()) == "dynamic"  # not a transformers model: its generate
    monkeypatch.setattr(llama.generation_config, "repetition_penalty", 1.2)  # a setting "shrinking" leaves out
    assert generation.resolve_hf_decoding("auto", llama) == "dynamic"


# "shrinking": finished rows leave the batch

SHRINK_NEW_TOKENS = 16


@pytest.fixture(scope="module")
def untied_llama(tokenizer):
    """Greedy completions that change token from step to step (a tied tiny Llama repeats one token)."""
    return tiny_llama(len(tokenizer), tie_word_embeddings=False).eval()


def left_padded(tokenizer, prompts=PROMPTS):
    return generation._left_pad([encode_prompt(tokenizer, p) for p in prompts], tokenizer.pad_token_id, "cpu")


def generate_tokens(model, input_ids, attention_mask, eos_ids, **settings):
    """transformers' `generate` completions, each cut after its first stop token."""
    from transformers import GenerationConfig

    config = GenerationConfig(
        max_new_tokens=SHRINK_NEW_TOKENS, pad_token_id=eos_ids[0], eos_token_id=eos_ids, **settings
    )
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
    return [until_stop(row, eos_ids) for row in output[:, input_ids.shape[1] :].tolist()]


def until_stop(row, eos_ids):
    """The completion through its first stop token."""
    return generation._until_eos(row, eos_ids) + [token for token in row if token in eos_ids][:1]


@pytest.fixture(scope="module")
def stopping_batch(tokenizer, untied_llama):
    """`PROMPTS` left-padded in one batch, stop ids (EOS, then the tokens rows 0, 1 and 2 emit at steps 3, 6 and 9 of
    their greedy completions) and transformers' greedy completions with them: the rows stop at different steps, one
    runs to the budget."""
    input_ids, attention_mask = left_padded(tokenizer)
    eos_ids = [tokenizer.eos_token_id]
    plain = generate_tokens(untied_llama, input_ids, attention_mask, eos_ids, do_sample=False)
    eos_ids += [plain[row][3 + 3 * row] for row in range(3)]
    expected = generate_tokens(untied_llama, input_ids, attention_mask, eos_ids, do_sample=False)
    lengths = [len(row) for row in expected]
    assert len(set(lengths)) >= 3 and min(lengths) < SHRINK_NEW_TOKENS == max(lengths), lengths
    return input_ids, attention_mask, eos_ids, expected


class RowCount:
    """The batch size of every forward of `model`."""

    def __init__(self, model):
        self.rows = []
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        self.rows.append(kwargs["input_ids"].shape[0])


def test_shrinking_gives_generates_greedy_tokens_with_fewer_rows(untied_llama, stopping_batch):
    """Five prompts of different widths, left-padded in one batch; the rows stop at different steps."""
    input_ids, attention_mask, eos_ids, expected = stopping_batch
    counter = RowCount(untied_llama)
    with torch.inference_mode():
        completions = generation.generate_shrinking(
            untied_llama, input_ids, attention_mask, SHRINK_NEW_TOKENS, eos_ids
        )
    counter.handle.remove()
    assert completions == expected
    # One prefill and a forward per step after it; each forward carries only the rows that have not stopped
    assert len(counter.rows) == SHRINK_NEW_TOKENS
    lengths = [len(row) for row in expected]
    assert counter.rows == [sum(length > step for length in lengths) for step in range(SHRINK_NEW_TOKENS)]
    assert counter.rows[-1] == 1 < counter.rows[0] == len(PROMPTS)


@pytest.mark.parametrize("build", [tiny_llama, tiny_opt], ids=["llama", "opt"])
def test_shrinking_generates_the_default_decodings_texts(tokenizer, untied_llama, stopping_batch, build, monkeypatch):
    """Through `generate`: batches of 2, 2 and 1 and one batch of 5; the untied Llama's rows stop apart."""
    model = untied_llama if build is tiny_llama else build(len(tokenizer))
    if build is tiny_llama:
        monkeypatch.setattr(model.generation_config, "eos_token_id", stopping_batch[2])
    for batch_size in (2, 8):
        settings = dict(max_new_tokens=SHRINK_NEW_TOKENS, batch_size=batch_size, show_progress=False)
        plain = generate(model, tokenizer, PROMPTS, **settings)
        assert generate(model, tokenizer, PROMPTS, hf_decoding="shrinking", **settings) == plain


@pytest.mark.parametrize("settings", [dict(do_sample=False), dict(do_sample=True, top_k=1, num_return_sequences=2)])
def test_shrinking_called_as_generate_returns_generates_tensor(untied_llama, stopping_batch, settings):
    """The rollouts' entry point: prompt + completion ids, each finished row padded after its stop token, as
    `generate` returns them (greedy, and top-1 sampling with two sequences per prompt)."""
    from transformers import GenerationConfig

    input_ids, attention_mask, eos_ids, _ = stopping_batch
    config = GenerationConfig(max_new_tokens=SHRINK_NEW_TOKENS, pad_token_id=0, eos_token_id=eos_ids, **settings)
    with torch.inference_mode():
        expected = untied_llama.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
        output = generation.generate_shrinking_as_generate(
            untied_llama, input_ids=input_ids, attention_mask=attention_mask, generation_config=config
        )
    assert torch.equal(output, expected)


def test_shrinking_called_as_generate_refuses_what_it_would_ignore(untied_llama, stopping_batch):
    from transformers import GenerationConfig

    input_ids, attention_mask, eos_ids, _ = stopping_batch
    for setting in (dict(repetition_penalty=1.3), dict(min_p=0.1), dict(num_beams=2)):
        config = GenerationConfig(max_new_tokens=4, eos_token_id=eos_ids, do_sample=True, **setting)
        with pytest.raises(ValueError, match=f"{next(iter(setting))}=.*does not apply"):
            generation.generate_shrinking_as_generate(untied_llama, input_ids, attention_mask, config)
    config = GenerationConfig(max_new_tokens=4, eos_token_id=eos_ids, repetition_penalty=1.0, num_beams=1)
    generation.check_shrinking_generation_config(config)  # transformers' defaults pass
    untied_llama.generation_config.repetition_penalty = 1.3  # the model's own setting, which `generate` applies
    config = GenerationConfig(max_new_tokens=4, eos_token_id=eos_ids)  # when the call's config leaves it unset
    try:
        with pytest.raises(ValueError, match="repetition_penalty=1.3"):
            generation.generate_shrinking_as_generate(untied_llama, input_ids, attention_mask, config)
        config.repetition_penalty = 1.0  # ... unless the call's config sets it, as TRL's does
        generation.check_shrinking_generation_config(generation.effective_generation_config(untied_llama, config))
    finally:
        untied_llama.generation_config.repetition_penalty = None
    with pytest.raises(ValueError, match="decodes text only; it got pixel_values"):
        generation.generate_shrinking_as_generate(
            untied_llama, input_ids, attention_mask, config, pixel_values=torch.zeros(1)
        )


def test_shrinking_top_1_sampling_is_greedy_for_every_sample(untied_llama, stopping_batch):
    input_ids, attention_mask, eos_ids, expected = stopping_batch
    with torch.inference_mode():
        sampled = generation.generate_shrinking(
            untied_llama, input_ids, attention_mask, SHRINK_NEW_TOKENS, eos_ids, num_samples=3, greedy=False,
            temperature=0.7, top_k=1,
        )  # fmt: skip
    assert sampled == [row for row in expected for _ in range(3)]  # a prompt's samples are consecutive rows


def test_shrinking_samples_are_seeded_and_end_at_a_stop_or_the_budget(untied_llama, stopping_batch):
    input_ids, attention_mask, eos_ids, _ = stopping_batch

    def sample(seed):
        torch.manual_seed(seed)
        with torch.inference_mode():
            return generation.generate_shrinking(
                untied_llama, input_ids, attention_mask, 6, eos_ids, num_samples=4, greedy=False, top_p=0.9
            )

    first = sample(0)
    assert first == sample(0) and first != sample(1)
    assert len(first) == 4 * len(PROMPTS)
    assert all(1 <= len(row) <= 6 and not set(row[:-1]) & set(eos_ids) for row in first)
    assert len({tuple(row) for row in first[:4]}) > 1  # a prompt's samples differ


def test_shrinking_samples_from_generates_distribution(tokenizer, untied_llama):
    """The first sampled token's frequencies over 600 samples against the probabilities of transformers' own warped
    scores (temperature, top-k and top-p together)."""
    from transformers import GenerationConfig

    input_ids, attention_mask = left_padded(tokenizer, PROMPTS[:1])
    settings = dict(do_sample=True, temperature=0.5, top_k=8, top_p=0.9)
    config = GenerationConfig(max_new_tokens=1, output_scores=True, return_dict_in_generate=True, **settings)
    with torch.inference_mode():
        scores = untied_llama.generate(input_ids=input_ids, generation_config=config).scores[0][0]
        torch.manual_seed(0)
        sampled = generation.generate_shrinking(
            untied_llama, input_ids, attention_mask, 1, [tokenizer.eos_token_id], num_samples=600, greedy=False,
            temperature=0.5, top_k=8, top_p=0.9,
        )  # fmt: skip
    probabilities = torch.softmax(scores, dim=-1)
    support = set(probabilities.nonzero().flatten().tolist())
    assert 1 < len(support) <= 8
    counts = torch.bincount(torch.tensor([row[0] for row in sampled]), minlength=len(probabilities))
    assert set(counts.nonzero().flatten().tolist()) <= support
    assert torch.allclose(counts / 600, probabilities, atol=0.06)


def test_shrinking_respects_max_new_tokens_and_refuses_what_it_would_ignore(tokenizer, llama, monkeypatch):
    input_ids, attention_mask = left_padded(tokenizer)
    with torch.inference_mode():
        completions = generation.generate_shrinking(llama, input_ids, attention_mask, 3, [tokenizer.eos_token_id])
    assert [len(row) for row in completions] == [3] * len(PROMPTS)  # the tied Llama never emits EOS
    with pytest.raises(ValueError, match="at least 1"):
        generation.generate_shrinking(llama, input_ids, attention_mask, 0, [tokenizer.eos_token_id])
    monkeypatch.setattr(llama.generation_config, "repetition_penalty", 1.2)
    with pytest.raises(ValueError, match="repetition_penalty=1.2"):
        generate(llama, tokenizer, PROMPTS[:1], max_new_tokens=2, hf_decoding="shrinking", show_progress=False)


def test_grouped_kv_attention_is_switched_on_only_around_a_compiled_cpu_decode(monkeypatch):
    monkeypatch.delenv(generation._FORCE_GQA_ENV, raising=False)
    cpu = types.SimpleNamespace(device=torch.device("cpu"))
    with generation.grouped_kv_attention("compiled", cpu):
        assert os.environ[generation._FORCE_GQA_ENV] == "1"
    assert generation._FORCE_GQA_ENV not in os.environ
    with generation.grouped_kv_attention("static", cpu):
        assert generation._FORCE_GQA_ENV not in os.environ
    monkeypatch.setenv(generation._FORCE_GQA_ENV, "0")  # the user's own setting is left alone
    with generation.grouped_kv_attention("compiled", cpu):
        assert os.environ[generation._FORCE_GQA_ENV] == "0"
    assert os.environ[generation._FORCE_GQA_ENV] == "0"


class FakeOutput:
    def __init__(self, text):
        self.text = text


class FakeRequestOutput:
    def __init__(self, texts):
        self.outputs = [FakeOutput(text) for text in texts]


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in `vllm` module recording what the adapter asks of it (vLLM itself needs a GPU)."""
    module = types.ModuleType("vllm")
    seen = {}

    class SamplingParams:
        def __init__(self, **kwargs):
            seen["params"] = kwargs

    class LLM:
        def generate(self, prompts, params, use_tqdm=True):
            seen["prompts"] = prompts
            n = seen["params"]["n"]
            return [FakeRequestOutput([f"{index}-{sample}" for sample in range(n)]) for index in range(len(prompts))]

    LLM.__module__ = SamplingParams.__module__ = "vllm"
    module.LLM, module.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    return LLM(), seen


def test_vllm_gets_the_same_token_ids_and_sampling_settings(tokenizer, fake_vllm):
    llm, seen = fake_vllm
    completions = generate(
        llm, tokenizer, PROMPTS[:3], num_samples=2, greedy=False, temperature=0.7, top_p=0.9, top_k=0, max_new_tokens=9
    )
    assert completions == [["0-0", "0-1"], ["1-0", "1-1"], ["2-0", "2-1"]]
    assert seen["prompts"] == [{"prompt_token_ids": encode_prompt(tokenizer, prompt)} for prompt in PROMPTS[:3]]
    assert seen["params"] == {"n": 2, "temperature": 0.7, "top_p": 0.9, "top_k": -1, "max_tokens": 9}

    greedy = generate(llm, tokenizer, PROMPTS[:2], num_samples=3, top_k=40)
    assert greedy == [["0-0"] * 3, ["1-0"] * 3]  # one greedy completion, copied
    assert seen["params"] == {"n": 1, "temperature": 0.0, "top_p": 1.0, "top_k": -1, "max_tokens": 400}


class PromptRecordingModel(EchoModel):
    """An `EchoModel` that also keeps the token ids of each prompt it is given, padding left out."""

    def __init__(self):
        super().__init__()
        self.prompts = []

    def generate(self, input_ids, attention_mask, generation_config):
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            self.prompts.append([token for token, keep in zip(ids, mask) if keep])
        return super().generate(input_ids, attention_mask, generation_config)


def test_chat_template_kwargs_reach_both_backends(tokenizer, fake_vllm):
    templated = with_system_prompt_template(tokenizer)
    question = [{"role": "user", "content": "What is 2 + 3?"}]
    conversations = [question, question + [{"role": "assistant", "content": "def solution():"}]]
    brief = {"system_prompt": "Be brief."}
    expected = [encode_prompt(templated, conversation, **brief) for conversation in conversations]
    assert expected != [encode_prompt(templated, conversation) for conversation in conversations]

    model = PromptRecordingModel()
    generate(model, templated, conversations, max_new_tokens=4, show_progress=False, chat_template_kwargs=brief)
    assert sorted(model.prompts) == sorted(expected)

    llm, seen = fake_vllm
    generate(llm, templated, conversations, show_progress=False, chat_template_kwargs=brief)
    assert seen["prompts"] == [{"prompt_token_ids": ids} for ids in expected]


def test_auto_picks_vllm_for_a_path_when_installed(fake_vllm, monkeypatch):
    llm, _ = fake_vllm
    monkeypatch.setattr(generation, "is_vllm_available", lambda: True)
    assert resolve_backend("auto", "path/to/checkpoint") == "vllm"
    assert resolve_backend("auto", llm) == "vllm"
    assert resolve_backend("hf", "path/to/checkpoint") == "hf"
    monkeypatch.setattr(generation, "is_vllm_available", lambda: False)
    assert resolve_backend("auto", "path/to/checkpoint") == "hf"
    with pytest.raises(ValueError, match="needs a model path"):
        load_generation_model(torch.nn.Linear(1, 1), backend="vllm")
