"""The CTranslate2 backend of `reft_trl.generation`: a Hugging Face checkpoint converted once into CTranslate2's format
(float32, cached), decoded by its C++ loop on the CPU.

On a CPU, transformers' `generate` spends most of each decode step in per-step Python and allocation overhead, not in
the arithmetic (BENCHMARKS.md, "Generation on a CPU"). CTranslate2 reads the same weights and decodes without that
overhead. Its CPU builds compute in float32 or int8 only; reft-trl converts to float32, so no weight is quantized.
Greedy completions can still differ from transformers' bf16 ones in a few tokens (another order of floating-point
sums), so compare models evaluated with the same backend.

>>> from reft_trl.generation import generate, load_generation_model
>>> model = load_generation_model("path/to/sft-checkpoint", backend="ctranslate2")  # doctest: +SKIP
>>> generate(model, tokenizer, prompts, backend="ctranslate2")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

COMPUTE_TYPE = "float32"
"""The weights' type in CTranslate2 by default: its CPU builds offer float32 and int8 only, and int8 quantizes the
model (`compute_type="int8_float32"` on request: int8 weights and matmuls, float32 elsewhere)."""
WEIGHT_SUFFIXES = (".safetensors", ".bin")
VOCABULARY_FILE = "vocabulary.json"
"""The token strings of a converted generator, in id order (written by CTranslate2's converter)."""
_INSTALL_HINT = "pip install ctranslate2"


def is_ctranslate2_available() -> bool:
    """Whether `ctranslate2` can be imported (checked without importing it)."""
    return importlib.util.find_spec("ctranslate2") is not None


@dataclass(frozen=True)
class CTranslate2Model:
    """A converted checkpoint ready to decode: the `ctranslate2.Generator`, the source folder, its generation config
    (its stop tokens join the tokenizer's EOS, as in transformers' `generate`) and the converted vocabulary."""

    generator: object
    source: str
    generation_config: object
    vocabulary: tuple[str, ...]
    checked_tokenizers: set = field(default_factory=set, compare=False)

    @property
    def name_or_path(self) -> str:
        """The source checkpoint, as a transformers model names itself (evaluation summaries record it)."""
        return self.source

    def check_tokenizer(self, tokenizer) -> None:
        """Refuse a tokenizer whose tokens differ from the vocabulary the checkpoint was converted with (CTranslate2
        reads prompts as token strings; one it does not know would silently become its unknown token)."""
        if id(tokenizer) in self.checked_tokenizers:
            return
        tokens = tuple(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
        mismatches = [index for index, (a, b) in enumerate(zip(tokens, self.vocabulary)) if a != b]
        if mismatches or len(tokens) > len(self.vocabulary):
            first = mismatches[0] if mismatches else len(self.vocabulary)
            raise ValueError(
                f"The tokenizer does not match the vocabulary of {self.source} as converted for CTranslate2 (first "
                f"difference at token id {first}): pass the tokenizer saved with the checkpoint."
            )
        self.checked_tokenizers.add(id(tokenizer))


def load_ctranslate2_model(
    path: str,
    cache_dir: str | os.PathLike | None = None,
    threads: int | None = None,
    seed: int = 0,
    compute_type: str = COMPUTE_TYPE,
) -> CTranslate2Model:
    """A `CTranslate2Model` of the Hugging Face checkpoint in `path`, converted on first use into `cache_dir` (default:
    `$REFT_TRL_CACHE/ctranslate2`; see `checkpoint_digest`).

    `seed` seeds the sampling of this model: CTranslate2 seeds each decoding thread once, at its first draw, so the
    samples of a loaded model follow the seed it was loaded with (a later `transformers.set_seed` does not reach them).
    """
    if not is_ctranslate2_available():
        raise ModuleNotFoundError(f"backend='ctranslate2' needs the `ctranslate2` package: {_INSTALL_HINT}")
    import ctranslate2
    import torch
    from transformers import GenerationConfig

    converted = convert_checkpoint(path, cache_dir)
    ctranslate2.set_random_seed(seed)
    generator = ctranslate2.Generator(
        str(converted), device="cpu", compute_type=compute_type, intra_threads=threads or torch.get_num_threads()
    )
    try:
        generation_config = GenerationConfig.from_pretrained(path)
    except OSError:  # a checkpoint without generation_config.json
        generation_config = None
    vocabulary = tuple(json.loads((converted / VOCABULARY_FILE).read_text()))
    return CTranslate2Model(generator, str(path), generation_config, vocabulary)


def convert_checkpoint(path: str, cache_dir: str | os.PathLike | None = None) -> Path:
    """The folder of `path` converted to CTranslate2 (float32), converting it unless the cache holds it already.

    The conversion writes into a private folder and renames it, so an interrupted or concurrent call never leaves
    half a model behind.
    """
    import ctranslate2

    from reft_trl.embedded_model import DEFAULT_CACHE

    target = Path(cache_dir or Path(DEFAULT_CACHE) / "ctranslate2") / checkpoint_digest(path)
    if (target / "model.bin").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        converter = ctranslate2.converters.TransformersConverter(str(path))
        converter.convert(str(tmp), quantization=COMPUTE_TYPE, force=True)
        if target.exists():  # a broken folder (an older interrupted run would have left a .tmp, not this)
            shutil.rmtree(target)
        os.rename(tmp, target)
    except OSError:
        if not (target / "model.bin").is_file():  # not just another process renaming first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def checkpoint_digest(path: str) -> str:
    """A name for a checkpoint's conversion: its absolute folder, each file in it (name, size, mtime: the weights, the
    config and the tokenizer the conversion reads) and the CTranslate2 version, so a checkpoint saved again in the same
    folder, or another CTranslate2, converts anew."""
    import ctranslate2

    folder = Path(path).resolve()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no config.json: backend='ctranslate2' converts a saved checkpoint.")
    files = sorted(
        (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns) for entry in folder.iterdir() if entry.is_file()
    )
    if not any(name.endswith(WEIGHT_SUFFIXES) for name, _, _ in files):
        raise FileNotFoundError(f"{folder} holds no weight files ({', '.join(WEIGHT_SUFFIXES)}).")
    key = json.dumps([str(folder), files, ctranslate2.__version__])
    return f"{folder.name}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def is_ctranslate2_model(model) -> bool:
    return isinstance(model, CTranslate2Model)


def ctranslate2_generate(
    model: CTranslate2Model,
    tokenizer,
    prompt_ids: list[list[int]],
    num_samples: int,
    *,
    eos_ids: list[int],
    greedy: bool,
    temperature: float,
    top_p: float,
    top_k: int,
    max_new_tokens: int,
    batch_size: int,
    show_progress: bool,
) -> list[list[str]]:
    """`num_samples` completions of each prompt, in the prompts' order; `batch_size` sequences per call, longest
    prompts first (as the Hugging Face backend batches them).

    One-token prompts decode in batches of their own: CTranslate2 forwards a batch's prompts at once only up to the
    shortest one's length less one, so a one-token prompt would turn the others' prompts into constrained decoding
    steps counted against `max_new_tokens`. Samples follow the seed the model was loaded with (`load_ctranslate2_model`);
    `top_k=0` samples from the whole vocabulary, as in transformers.
    """
    from tqdm.auto import tqdm

    model.check_tokenizer(tokenizer)
    if greedy:
        sampling = dict(sampling_topk=1)
    else:
        top_k = min(top_k, len(model.vocabulary)) if top_k > 0 else 0
        sampling = dict(sampling_topk=top_k, sampling_topp=top_p, sampling_temperature=temperature)
    order = sorted(range(len(prompt_ids)), key=lambda index: -len(prompt_ids[index]))
    batches = []
    for group in ([i for i in order if len(prompt_ids[i]) > 1], [i for i in order if len(prompt_ids[i]) <= 1]):
        rows = [index for index in group for _ in range(num_samples)]
        batches.extend(rows[start : start + batch_size] for start in range(0, len(rows), batch_size))
    completions: list[list[str]] = [[] for _ in prompt_ids]
    for indices in tqdm(batches, desc="Generating", disable=not show_progress):
        results = model.generator.generate_batch(
            [tokenizer.convert_ids_to_tokens(prompt_ids[index]) for index in indices],
            max_length=max_new_tokens,
            include_prompt_in_result=False,
            end_token=list(eos_ids),
            **sampling,
        )
        texts = tokenizer.batch_decode([result.sequences_ids[0] for result in results], skip_special_tokens=True)
        for index, text in zip(indices, texts, strict=True):
            completions[index].append(text)
    return completions
