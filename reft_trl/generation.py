"""Sample completions from a model: vLLM when it is installed, else batched Hugging Face `generate`.

Evaluation and the trainers' sampling of training questions (`reft_trl.sampling`: verifier data, offline
self-training) both generate here. Prompts are tokenized as the trainers' rollouts tokenize them (TRL's, and
`reft_trl.trainers.continued_prompts`), so a model is evaluated on the token sequences it was trained on: a plain-text
prompt with the tokenizer's special tokens (BOS where the tokenizer adds one), a conversational prompt through the chat
template with the generation prompt (or, when it ends with an assistant message such as the P-CoT program prefix,
continuing that message). Both backends receive the same token ids.

>>> from transformers import AutoTokenizer
>>> tokenizer = AutoTokenizer.from_pretrained("path/to/sft-checkpoint")  # doctest: +SKIP
>>> generate("path/to/sft-checkpoint", tokenizer, ["Question:\\n1 + 1?\\nAnswer reasoning:\\n"])  # doctest: +SKIP
[['1 + 1 = 2\\nTherefore, the answer is: 2']]
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache

BACKENDS = ("auto", "hf", "vllm")
DEFAULT_MAX_NEW_TOKENS = 400
"""Completion budget; the paper's sampling allows 1,024 tokens of prompt plus completion."""
DEFAULT_BATCH_SIZE = 16
"""Sequences (prompts x samples) per Hugging Face `generate` call."""
VLLM_TOP_K_DISABLED = -1
"""vLLM's `top_k` for no top-k sampling."""
HF_DECODINGS = {
    "dynamic": "transformers' default cache, grown by concatenation (a copy of the whole cache) at every step; eager",
    "static": "a cache allocated once for prompt + completion and written in place; eager forwards",
    "compiled": "that static cache, and the one-token decode step compiled by torch.compile (on a CPU too)",
    "shrinking": "reft-trl's own loop over the model's forward: a finished row leaves the batch and its cache; eager",
    "fused": "that loop with reft-trl's own Llama forward (`reft_trl.fused_llama`): fewer, larger operators in the "
    "model's precision, from weights packed once for oneDNN; Llama models on a CPU only",
    "auto": "shrinking where the model allows it (decoder-only, no generation-config setting it leaves out), else "
    "dynamic",
}
"""Decoding modes of the Hugging Face backend (`hf_decoding`), each with what it runs."""
DEFAULT_HF_DECODING = "auto"
"""Measured on 2 CPU cores with SmolLM2-135M in bf16 (BENCHMARKS.md, "Generation on a CPU"), "shrinking" decoded
faster than "dynamic" at every batch size tried (greedy B=64: 1.41x, B=16: 1.09x; sampling B=8: 1.03x), with the same
greedy tokens; "static" and "compiled" were slower."""
GENERATE_DECODINGS = ("dynamic", "static", "compiled")
"""The modes that are settings of transformers' `generate` (`hf_decoding_settings`); TRL's rollouts can also decode
with "shrinking" (`ROLLOUT_DECODINGS`)."""
ROLLOUT_DECODINGS = (*GENERATE_DECODINGS, "shrinking", "fused")
"""The rollouts' decodings (`rollout_decoding`): transformers' `generate` in one of `GENERATE_DECODINGS`, or the
shrinking loop called as `generate` would be (`generate_shrinking_as_generate`), with the model's forward or the
fused one."""
SHRINKING_DECODINGS = ("shrinking", "fused")
"""The decodings that run reft-trl's shrinking loop (`generate_shrinking`) instead of transformers' `generate`."""
DEFAULT_ROLLOUT_DECODING = "dynamic"
"""Rollouts' default (`rollout_decoding`): "static" and "compiled" measured slower on a CPU."""
SHRINKING_GENERATION_FIELDS = frozenset(
    {"max_new_tokens", "max_length", "do_sample", "temperature", "top_k", "top_p", "num_return_sequences",
     "pad_token_id", "bos_token_id", "eos_token_id", "use_cache", "output_attentions", "output_hidden_states",
     "cache_implementation", "disable_compile", "compile_config", "transformers_version", "_from_model_config"}
)  # fmt: skip
"""`GenerationConfig` fields that `generate_shrinking_as_generate` reads or that change nothing it returns; any other
field must be unset or at transformers' default (`check_shrinking_generation_config`)."""
SHRINKING_CACHE_HEADROOM = 256
"""Positions the shrinking loop's cache (`reft_trl.kv_cache.InPlaceLayer`) allocates beyond the prompt at first (the
completion budget when smaller); a longer completion doubles it."""
_FORCE_GQA_ENV = "TRANSFORMERS_SDPA_FORCE_GQA"
"""transformers' switch that hands grouped key/value heads to SDPA as they are (`enable_gqa`)."""


def is_vllm_available() -> bool:
    """Whether `vllm` can be imported (checked without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def resolve_backend(backend: str = "auto", model=None) -> str:
    """`"vllm"` or `"hf"`: "auto" picks vLLM when it is installed and `model` is a path (or already a `vllm.LLM`).

    >>> resolve_backend("hf")
    'hf'
    >>> resolve_backend("auto", model=object())  # an in-memory model always goes through `generate`
    'hf'
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown backend {backend!r}; valid: {', '.join(BACKENDS)}.")
    if backend != "auto":
        return backend
    if _is_vllm_engine(model):
        return "vllm"
    return "vllm" if isinstance(model, str) and is_vllm_available() else "hf"


def load_generation_model(
    model_or_path, backend: str = "auto", dtype: str = "auto", seed: int = 0, device: str | None = None, **vllm_kwargs
):
    """The model `generate` runs: a loaded model is returned as it is, a path becomes a `vllm.LLM` or a causal LM
    (on `device`; by default the GPU when there is one).

    Loading once and passing the result to `generate` avoids reloading the weights on every call.
    """
    backend = resolve_backend(backend, model_or_path)
    if not isinstance(model_or_path, str):
        if backend == "vllm" and not _is_vllm_engine(model_or_path):
            raise ValueError("backend='vllm' needs a model path (or a vllm.LLM), not an in-memory model.")
        return model_or_path
    if backend == "vllm":
        return _vllm_engine(model_or_path, dtype, seed, tuple(sorted(vllm_kwargs.items())))
    import torch
    from transformers import AutoModelForCausalLM

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return AutoModelForCausalLM.from_pretrained(model_or_path, dtype=dtype).to(device).eval()


def render_prompt(tokenizer, prompt, **chat_template_kwargs) -> str:
    """A prompt as text: plain text unchanged, a conversation through the chat template.

    A conversation ending with a user message gets the generation prompt; one ending with an assistant message (the
    P-CoT program prefix of `load_task(..., template="chat", program_prefix_in_prompt=True)`) is continued.
    `chat_template_kwargs` go to the template (a trainer's `args.chat_template_kwargs`).
    """
    if isinstance(prompt, str):
        return prompt
    continues = prompt[-1]["role"] == "assistant"
    return tokenizer.apply_chat_template(
        prompt,
        tokenize=False,
        add_generation_prompt=not continues,
        continue_final_message=continues,
        **chat_template_kwargs,
    )


def encode_prompt(tokenizer, prompt, completion: str = "", **chat_template_kwargs) -> list[int]:
    """Token ids of `prompt` (plus `completion`), as reft-trl's trainers tokenize a prompt (the rollouts of PPO and
    online self-training: `reft_trl.trainers.continued_prompts`).

    Plain text gets the tokenizer's special tokens (a BOS where it adds one); a rendered chat template has them
    already.
    """
    text = render_prompt(tokenizer, prompt, **chat_template_kwargs) + completion
    return tokenizer(text, add_special_tokens=isinstance(prompt, str))["input_ids"]


def generate(
    model_or_path,
    tokenizer,
    prompts: Sequence,
    *,
    num_samples: int = 1,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    backend: str = "auto",
    show_progress: bool = True,
    hf_decoding: str = DEFAULT_HF_DECODING,
    chat_template_kwargs: dict | None = None,
    pack_weights: bool = True,
) -> list[list[str]]:
    """Completions of each prompt: `num_samples` texts per prompt, in the order of `prompts`.

    Args:
        model_or_path: a causal LM, a `vllm.LLM`, or a path (loaded on each call: prefer `load_generation_model`).
        tokenizer: the model's tokenizer; without a pad token (Galactica / OPT), EOS pads.
        prompts: plain-text prompts, or conversations (`[{"role": "user", "content": ...}]`).
        num_samples: completions per prompt. With `greedy=True` they are copies of the one greedy completion.
        greedy: greedy decoding (top-1 accuracy); False samples with `temperature`, `top_p`, `top_k`.
        temperature: sampling temperature (the paper's voting and reranking: 1.0).
        top_p: nucleus sampling mass (1.0: off).
        top_k: top-k sampling (0: off).
        max_new_tokens: completion length limit.
        batch_size: sequences per Hugging Face `generate` call (vLLM schedules its own batches).
        backend: "auto" (vLLM when installed and `model_or_path` is a path), "vllm" or "hf".
        show_progress: show a progress bar.
        hf_decoding: Hugging Face backend only: "auto" (the default: "shrinking" where the model allows it, else
            "dynamic"), "dynamic" (transformers' default), "static", "compiled", "shrinking" or "fused"; see
            `HF_DECODINGS`.
            "compiled" compiles on its first call, and once more when a later call brings a new batch size or a
            longer prompt (`benchmarks/bench_generation.py` reports the time of a first call). "shrinking"
            (`generate_shrinking`) computes only the rows still generating: its greedy tokens are transformers', its
            samples follow the same distribution but not the same random draws. "fused" runs that loop with
            reft-trl's own forward of a Llama model on a CPU (`reft_trl.fused_llama`; a `ValueError` names what stands
            in the way for another model).
        chat_template_kwargs: keyword arguments of the chat template for conversational prompts (the trainer's
            `args.chat_template_kwargs`, so a model is evaluated on the prompts it was trained on); both backends.
        pack_weights: Hugging Face backend only: where the model computes in bf16 on a CPU with native bf16, its
            linear layers compute from weights packed once per call for oneDNN (`reft_trl.packed_linear`: the same
            products, a faster decode step; a bf16 model's weights held twice during the call); not with "compiled",
            which compiles the layers' own forwards, nor "fused", which always packs its own.
    """
    check_hf_decoding(hf_decoding)
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples}; it must be at least 1.")
    if not prompts:
        return []
    model = load_generation_model(model_or_path, backend)
    prompt_ids = [encode_prompt(tokenizer, prompt, **(chat_template_kwargs or {})) for prompt in prompts]
    distinct_samples = 1 if greedy else num_samples
    sampling = dict(greedy=greedy, temperature=temperature, top_p=top_p, top_k=top_k, max_new_tokens=max_new_tokens)
    if _is_vllm_engine(model):
        completions = _vllm_generate(model, prompt_ids, distinct_samples, show_progress=show_progress, **sampling)
    else:
        completions = _hf_generate(
            model,
            tokenizer,
            prompt_ids,
            distinct_samples,
            batch_size=batch_size,
            show_progress=show_progress,
            hf_decoding=hf_decoding,
            pack_weights=pack_weights,
            **sampling,
        )
    if distinct_samples < num_samples:
        completions = [texts * num_samples for texts in completions]
    return completions


# Hugging Face backend


def _hf_generate(
    model,
    tokenizer,
    prompt_ids,
    num_samples,
    *,
    greedy,
    temperature,
    top_p,
    top_k,
    max_new_tokens,
    batch_size,
    show_progress,
    hf_decoding=DEFAULT_HF_DECODING,
    pack_weights=True,
) -> list[list[str]]:
    """Left-padded batches of similar length (longest first, so memory runs out early if at all), order restored.

    "auto" is resolved for the model first (`resolve_hf_decoding`). Under "compiled", a short last batch is filled up
    with copies of its last prompt (their completions dropped), so every call has the shape the decode step was
    compiled for. Under "shrinking", `generate_shrinking` decodes each batch instead of `model.generate`; under
    "fused", with `reft_trl.fused_llama.FusedLlamaDecoder`'s forwards, built (and its weights packed) once for all the
    batches. With `pack_weights`, the weights are packed once for all the batches (`packed_linears`).
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import GenerationConfig

    hf_decoding = resolve_hf_decoding(hf_decoding, model)
    eos_ids = _eos_token_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    sampling = {} if greedy else dict(temperature=temperature, top_p=top_p, top_k=top_k)
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=not greedy,
        pad_token_id=pad_id,
        eos_token_id=eos_ids,
        **sampling,
        **({} if hf_decoding in SHRINKING_DECODINGS else hf_decoding_settings(hf_decoding, model)),
    )
    samples_per_call = max(1, min(num_samples, batch_size))
    prompts_per_call = max(1, batch_size // num_samples)
    rows_per_call = prompts_per_call if hf_decoding == "compiled" else 1
    order = sorted(range(len(prompt_ids)), key=lambda index: -len(prompt_ids[index]))
    completions: list[list[str]] = [[] for _ in prompt_ids]
    calls = [
        (order[start : start + prompts_per_call], min(samples_per_call, num_samples - done))
        for start in range(0, len(order), prompts_per_call)
        for done in range(0, num_samples, samples_per_call)
    ]
    was_training = model.training
    model.eval()
    packing = packed_for_decoding(model, hf_decoding, rows=batch_size, pack_weights=pack_weights)
    decoder = None
    if hf_decoding == "fused":
        from .fused_llama import FusedLlamaDecoder

        decoder = FusedLlamaDecoder(model, rows=batch_size)
    with torch.inference_mode(), grouped_kv_attention(hf_decoding, model), packing:
        for indices, samples in tqdm(calls, desc="Generating", disable=not show_progress):
            rows = [prompt_ids[index] for index in indices]
            input_ids, attention_mask = _left_pad(rows + rows[-1:] * (rows_per_call - len(rows)), pad_id, model.device)
            if hf_decoding in SHRINKING_DECODINGS:
                completion_ids = generate_shrinking(
                    model,
                    input_ids,
                    attention_mask,
                    max_new_tokens,
                    eos_ids,
                    num_samples=samples,
                    greedy=greedy,
                    decoder=decoder,
                    **sampling,
                )
            else:
                config.num_return_sequences = samples
                output = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=config)
                completion_ids = output[:, input_ids.shape[1] :].tolist()
            texts = tokenizer.batch_decode(
                [_until_eos(row, eos_ids) for row in completion_ids], skip_special_tokens=True
            )
            for position, index in enumerate(indices):
                completions[index].extend(texts[position * samples : (position + 1) * samples])
    model.train(was_training)
    return completions


def generate_shrinking(
    model,
    input_ids,
    attention_mask,
    max_new_tokens: int,
    eos_ids: Sequence[int],
    *,
    num_samples: int = 1,
    greedy: bool = True,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    logits_processor=None,
    decoder=None,
) -> list[list[int]]:
    """Decode a left-padded batch one token per step, computing only the rows still generating (`hf_decoding=
    "shrinking"`): a row leaves the batch, with its attention mask, positions and key/value cache, at its first stop
    token or at `max_new_tokens`.

    The forwards are those of transformers' `generate` (positions from the attention mask's cumulative sum, a
    `DynamicCache`, the last position's logits; its full-attention layers write each step in place instead of
    copying the whole cache: `reft_trl.kv_cache`), and so are greedy decoding (the argmax of the float32 logits) and
    sampling (transformers' temperature, top-k and top-p warpers, in `generate`'s order, then `torch.multinomial`).
    Greedy tokens are those of `model.generate`; sampled tokens follow the same distribution, though not the same
    random draws, since a shrinking batch consumes the generator differently. `num_samples` sequences per prompt
    (`generate`'s `num_return_sequences`, consecutive rows) share one prefill of the prompt: its cache is copied to
    each sample after the prompt's forward. Freed rows are not refilled with waiting prompts (no continuous batching:
    a row joining later would need its cache aligned with the others').

    Args:
        model: a decoder-only causal LM of transformers.
        input_ids: `(B, T)` left-padded prompts; attention_mask: their `(B, T)` mask (0 on padding).
        max_new_tokens: tokens generated at most per row.
        eos_ids: stop tokens; a row stops after emitting any of them.
        num_samples: rows generated per prompt.
        greedy: argmax decoding; False samples with `temperature`, `top_p` and `top_k` (0: off).
        logits_processor: transformers logits processors applied before the warpers, called with the active rows'
            token ids (prompt and completion so far) and their scores; the benchmark's step clock is one.
        decoder: the forwards: None for the model's own (`TransformersDecoder`), or a
            `reft_trl.fused_llama.FusedLlamaDecoder` built from the model (`hf_decoding="fused"`).

    Returns:
        The generated token ids of each of the `B * num_samples` rows, through its stop token when it emitted one.
    """
    _check_shrinking_settings(model)
    return _shrinking_loop(
        model, input_ids, attention_mask, max_new_tokens, eos_ids, num_samples=num_samples, greedy=greedy,
        temperature=temperature, top_p=top_p, top_k=top_k, logits_processor=logits_processor, decoder=decoder,
    )  # fmt: skip


def _shrinking_loop(
    model, input_ids, attention_mask, max_new_tokens, eos_ids, *, num_samples, greedy, temperature, top_p, top_k,
    logits_processor=None, decoder=None,
) -> list[list[int]]:  # fmt: skip
    """`generate_shrinking`'s decoding, whatever the model's own generation config says."""
    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens}; it must be at least 1.")
    if model.config.is_encoder_decoder:
        raise ValueError('hf_decoding="shrinking" decodes decoder-only models only.')
    processors = LogitsProcessorList(logits_processor or [])
    if not greedy:  # `GenerationMixin._get_logits_processor`'s warpers, in its order, keeping at least one token
        if temperature != 1.0:
            processors.append(TemperatureLogitsWarper(temperature))
        if top_k:
            processors.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
        if top_p < 1.0:
            processors.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    decoder = decoder if decoder is not None else TransformersDecoder(model)
    eos = torch.tensor(list(eos_ids), device=input_ids.device)

    # Prefill: each prompt once, then its cache, mask, positions and last logits copied to its samples
    logits = decoder.prefill(input_ids, attention_mask, max_new_tokens)
    sequences = input_ids
    if num_samples > 1:
        decoder.repeat(num_samples)
        sequences, logits = (tensor.repeat_interleave(num_samples, dim=0) for tensor in (sequences, logits))
    rows = torch.arange(sequences.shape[0], device=input_ids.device)  # the output row of each active row
    completions: list[list[int]] = [[] for _ in range(sequences.shape[0])]

    # Decode: one token for each active row, then the finished rows leave the batch
    for step in range(max_new_tokens):
        scores = processors(sequences, logits)
        if greedy:
            next_tokens = torch.argmax(scores, dim=-1)
        else:
            next_tokens = torch.multinomial(torch.softmax(scores, dim=-1), num_samples=1).squeeze(1)
        for row, token in zip(rows.tolist(), next_tokens.tolist(), strict=True):
            completions[row].append(token)
        if step == max_new_tokens - 1:
            break
        active = (~torch.isin(next_tokens, eos)).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        if active.numel() < rows.numel():
            decoder.select(active)
            rows, sequences, next_tokens = (tensor[active] for tensor in (rows, sequences, next_tokens))
        sequences = torch.cat([sequences, next_tokens[:, None]], dim=-1)
        logits = decoder.step(next_tokens)
    return completions


class TransformersDecoder:
    """The shrinking loop's forwards (`generate_shrinking`) through the model's own forward, as transformers'
    `generate` runs them: positions from the attention mask's cumulative sum, a `DynamicCache` whose full-attention
    layers write each step in place (`reft_trl.kv_cache`), the last position's logits turned float32.
    `reft_trl.fused_llama.FusedLlamaDecoder` has the same methods."""

    def __init__(self, model):
        import inspect

        self.model = model
        self.parameters = inspect.signature(model.forward).parameters
        self.forward_kwargs = self.attention_mask = self.positions = None

    def prefill(self, input_ids, attention_mask, max_new_tokens: int):
        """Run `(B, T)` left-padded prompts; the float32 logits of their last positions."""
        from .kv_cache import in_place_cache_for

        cache = in_place_cache_for(self.model.config, headroom=min(max_new_tokens, SHRINKING_CACHE_HEADROOM))
        self.forward_kwargs = {"cache" if "cache" in self.parameters else "past_key_values": cache, "use_cache": True}
        if "logits_to_keep" in self.parameters:
            self.forward_kwargs["logits_to_keep"] = 1
        position_ids = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
        self.attention_mask, self.positions = attention_mask, position_ids[:, -1:]
        return self._logits(input_ids, position_ids)

    def repeat(self, samples: int) -> None:
        """Each row `samples` times, consecutively."""
        self._cache.batch_repeat_interleave(samples)
        self.attention_mask, self.positions = (
            tensor.repeat_interleave(samples, dim=0) for tensor in (self.attention_mask, self.positions)
        )

    def select(self, rows) -> None:
        """Keep the rows `rows` (indices into the current batch), in that order."""
        self._cache.batch_select_indices(rows)
        self.attention_mask, self.positions = self.attention_mask[rows], self.positions[rows]

    def step(self, tokens):
        """Append one token to each row (`(B,)` ids); the float32 logits of the next position."""
        import torch

        mask = self.attention_mask
        self.attention_mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=-1)
        self.positions = self.positions + 1
        return self._logits(tokens[:, None], self.positions)

    @property
    def _cache(self):
        return self.forward_kwargs["cache" if "cache" in self.forward_kwargs else "past_key_values"]

    def _logits(self, input_ids, position_ids):
        output = self.model(
            input_ids=input_ids, attention_mask=self.attention_mask, position_ids=position_ids, **self.forward_kwargs
        )
        import torch

        return output.logits[:, -1].to(copy=True, dtype=torch.float32)  # as `generate`: float32, not a view


def generate_shrinking_as_generate(model, input_ids, attention_mask, generation_config, fused=False, **unused):
    """`generate_shrinking` called as transformers' `model.generate(input_ids=..., attention_mask=...,
    generation_config=...)` is, returning what it returns: the `(B * num_return_sequences, T + longest completion)`
    token ids of prompt and completion, each completion padded after its end with the pad id.

    The settings are those `generate` would decode with (`effective_generation_config`: the given config, then the
    model's own for what it leaves unset, then transformers' defaults); one that the loop would not apply raises, and
    so does a multimodal input or a PEFT prompt-learning adapter (whose virtual tokens only `PeftModel`'s forward
    adds). The rollouts' `rollout_decoding="shrinking"`: TRL's `_generate_single_turn` calls it as `generate`. With
    `fused`, the forwards are `reft_trl.fused_llama.FusedLlamaDecoder`'s, its weights packed for this call
    (`rollout_decoding="fused"`).
    """
    import torch
    from accelerate.utils import is_peft_model

    if unused:
        raise ValueError(f'hf_decoding="shrinking" decodes text only; it got {", ".join(sorted(unused))}.')
    if is_peft_model(model) and model.peft_config[model.active_adapter].is_prompt_learning:
        raise ValueError(
            "hf_decoding=\"shrinking\" runs the base model's forward; a prompt-learning adapter needs PEFT's."
        )
    config = effective_generation_config(model, generation_config)
    check_shrinking_generation_config(config)
    eos_ids = config.eos_token_id if isinstance(config.eos_token_id, (list, tuple)) else [config.eos_token_id]
    pad_id = config.pad_token_id if config.pad_token_id is not None else eos_ids[0]
    max_new_tokens = config.max_new_tokens
    if max_new_tokens is None:  # `generate`'s `max_length` counts the prompt
        max_new_tokens = config.max_length - input_ids.shape[1]
    causal_lm = model.get_base_model() if is_peft_model(model) else model  # LoRA's layers are inside the base model
    decoder = None
    if fused:
        from .fused_llama import FusedLlamaDecoder

        decoder = FusedLlamaDecoder(causal_lm, rows=input_ids.shape[0] * config.num_return_sequences)
    completions = _shrinking_loop(
        causal_lm, input_ids, attention_mask, max_new_tokens, eos_ids, num_samples=config.num_return_sequences,
        greedy=not config.do_sample, temperature=config.temperature, top_p=config.top_p, top_k=config.top_k,
        decoder=decoder,
    )  # fmt: skip
    width = max(len(completion) for completion in completions)
    padded = torch.full((len(completions), width), pad_id, dtype=input_ids.dtype)
    for row, completion in enumerate(completions):
        padded[row, : len(completion)] = torch.tensor(completion, dtype=input_ids.dtype)
    prompts = input_ids.repeat_interleave(config.num_return_sequences, dim=0)
    return torch.cat([prompts, padded.to(input_ids.device)], dim=1)


def effective_generation_config(model, generation_config):
    """The settings transformers' `generate` decodes with (`GenerationMixin._prepare_generation_config`): a copy of
    `generation_config`, its unset fields taken from the model's own generation config, then from transformers'
    defaults."""
    from transformers import GenerationConfig

    config = copy.deepcopy(generation_config)
    own = getattr(model, "generation_config", None)
    if own is not None:
        config.update(**own.to_dict(), defaults_only=True, allow_custom_entries=True)
    config.update(**GenerationConfig._get_default_generation_params(), defaults_only=True)
    return config


def check_shrinking_generation_config(config) -> None:
    """Refuse settings of an effective `GenerationConfig` (`effective_generation_config`) that the shrinking loop would
    not apply (a repetition penalty, `min_p`, beams, a cache implementation, ...), naming each: any field outside
    `SHRINKING_GENERATION_FIELDS` must be unset or at transformers' default."""
    from transformers import GenerationConfig

    defaults = GenerationConfig._get_default_generation_params()
    changed = [
        f"{name}={value!r}"
        for name, value in config.to_dict().items()
        if name not in SHRINKING_GENERATION_FIELDS and value is not None and value != defaults.get(name)
    ]
    if changed:
        raise ValueError(
            f"The generation settings include {', '.join(changed)}, which the shrinking decoder "
            '(rollout_decoding / hf_decoding "shrinking") does not apply; decode with "dynamic" or leave them unset.'
        )


def _check_shrinking_settings(model) -> None:
    """Refuse a model whose own generation config asks for something (a repetition penalty, forced or suppressed
    tokens, ...) that transformers' `generate` would apply and "shrinking" would leave out."""
    from transformers import GenerationConfig

    check_shrinking_generation_config(effective_generation_config(model, GenerationConfig()))


def resolve_hf_decoding(hf_decoding: str, model) -> str:
    """The decoding that `hf_decoding` stands for with `model`: "auto" is "shrinking" for a decoder-only transformers
    model whose own generation config asks for nothing the loop leaves out, else "dynamic" (a wrapped or custom
    model's `generate` is left to do its own decoding); any other mode is itself."""
    from transformers import PreTrainedModel

    check_hf_decoding(hf_decoding)
    if hf_decoding != "auto":
        return hf_decoding
    if not isinstance(model, PreTrainedModel) or model.config.is_encoder_decoder:
        return "dynamic"
    try:
        _check_shrinking_settings(model)
    except ValueError:
        return "dynamic"
    return "shrinking"


def check_hf_decoding(hf_decoding: str) -> None:
    """Raise a `ValueError` listing `HF_DECODINGS` unless `hf_decoding` is one of them."""
    if hf_decoding not in HF_DECODINGS:
        raise ValueError(f"Unknown hf_decoding {hf_decoding!r}; valid: {', '.join(HF_DECODINGS)}.")


def hf_decoding_settings(hf_decoding: str, model=None) -> dict:
    """The `GenerationConfig` fields of a decoding mode of `GENERATE_DECODINGS` for `model` ("shrinking" does not run
    transformers' `generate`: a `ValueError`).

    >>> hf_decoding_settings("dynamic")
    {}
    >>> hf_decoding_settings("static")
    {'cache_implementation': 'static', 'disable_compile': True}
    >>> sorted(hf_decoding_settings("compiled"))
    ['cache_implementation', 'compile_config', 'disable_compile']
    """
    check_hf_decoding(hf_decoding)
    if hf_decoding not in GENERATE_DECODINGS:
        raise ValueError(
            f"hf_decoding={hf_decoding!r} is reft-trl's own decoding loop, not a setting of transformers' generate; "
            f"these are: {', '.join(GENERATE_DECODINGS)}."
        )
    if hf_decoding == "dynamic":
        return {}
    if hf_decoding == "static":  # transformers would compile a static-cache decode on a GPU by itself
        return {"cache_implementation": "static", "disable_compile": True}
    return {"cache_implementation": "static", "disable_compile": False, "compile_config": decode_compile_config(model)}


def decode_compile_config(model=None):
    """The `CompileConfig` of "compiled": the decode step as one graph where the model allows it; CUDA graphs on a
    GPU, Inductor's kernels elsewhere.

    Shapes are specialised on the first call; a later call with another batch size or cache length recompiles once
    with that size dynamic (torch's automatic dynamic shapes), so an evaluation compiles about twice, not per batch.
    """
    from transformers import CompileConfig

    device_type = model.device.type if model is not None else "cpu"
    config = CompileConfig(
        fullgraph=getattr(model, "_can_compile_fullgraph", True),
        dynamic=None,
        mode="reduce-overhead" if device_type == "cuda" else "default",
    )
    config._compile_all_devices = True  # transformers compiles only on GPUs and other accelerators unless told
    return config


def packed_for_decoding(model, hf_decoding: str, rows: int, pack_weights: bool = True, skip=()):
    """`reft_trl.packed_linear.packed_linears(model, rows, skip)` where it applies to `model` decoding with
    `hf_decoding` (a Hugging Face model computing in bf16 on a CPU with native bf16; not "compiled", which compiles the
    layers' own forwards, nor "fused", which packs its own); a context that changes nothing elsewhere. Nested in another one, it packs nothing again."""
    if not pack_weights or hf_decoding in ("compiled", "fused") or _is_vllm_engine(model):
        return contextlib.nullcontext()
    from .packed_linear import packed_linears

    return packed_linears(model, rows=rows, skip=skip)


@contextlib.contextmanager
def grouped_kv_attention(hf_decoding: str, model):
    """Under "compiled" on a CPU, SDPA reads the grouped key/value heads as they are (`enable_gqa`, which its CPU
    kernel supports with a mask). Without it, transformers' SDPA path copies every key/value head to each of its
    query heads inside the compiled graph, a copy of the whole cache per step (eager decoding avoids that copy)."""
    if hf_decoding != "compiled" or model.device.type != "cpu" or os.environ.get(_FORCE_GQA_ENV) is not None:
        yield
        return
    os.environ[_FORCE_GQA_ENV] = "1"
    try:
        yield
    finally:
        del os.environ[_FORCE_GQA_ENV]


def _left_pad(rows: list[list[int]], pad_id: int, device):
    import torch

    width = max(len(row) for row in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for position, row in enumerate(rows):
        input_ids[position, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        attention_mask[position, width - len(row) :] = 1
    return input_ids.to(device), attention_mask.to(device)


def _eos_token_ids(model, tokenizer) -> list[int]:
    """The tokenizer's EOS first, then any further stop ids of the model's generation config (chat models)."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for token_id in configured if isinstance(configured, list) else [configured]:
        if token_id is not None and token_id not in ids:
            ids.append(token_id)
    if not ids:
        raise ValueError("Neither the tokenizer nor the model's generation config names an EOS token.")
    return ids


def _until_eos(token_ids: list[int], eos_ids: list[int]) -> list[int]:
    """The completion up to its first stop token (and the padding after it) left out."""
    for position, token_id in enumerate(token_ids):
        if token_id in eos_ids:
            return token_ids[:position]
    return token_ids


# vLLM backend (needs a GPU; not exercised by the CPU test suite)


def _is_vllm_engine(model) -> bool:
    return type(model).__module__.startswith("vllm") and hasattr(model, "generate")


@lru_cache(maxsize=1)
def _vllm_engine(path: str, dtype: str, seed: int, engine_kwargs: tuple):
    from vllm import LLM

    return LLM(model=path, dtype=dtype, seed=seed, **dict(engine_kwargs))


def _vllm_generate(
    llm, prompt_ids, num_samples, *, greedy, temperature, top_p, top_k, max_new_tokens, show_progress
) -> list[list[str]]:
    from vllm import SamplingParams

    params = SamplingParams(
        n=num_samples,
        temperature=0.0 if greedy else temperature,
        top_p=1.0 if greedy else top_p,
        top_k=top_k if top_k > 0 and not greedy else VLLM_TOP_K_DISABLED,
        max_tokens=max_new_tokens,
    )
    outputs = llm.generate([{"prompt_token_ids": ids} for ids in prompt_ids], params, use_tqdm=show_progress)
    return [[sample.text for sample in output.outputs] for output in outputs]
