"""Builders shared by the tests: tiny random Llama / OPT models from a config (nothing downloaded), and a tokenizer
whose chat template reads a keyword of `chat_template_kwargs`."""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import inspect
import re
import sys
import types
from pathlib import Path


def tiny_llama(vocab_size: int, seed: int = 0, tie_word_embeddings: bool = True):
    """A 2-layer random Llama (about 0.1M parameters besides the embeddings) with the given vocabulary size.

    Tied, its greedy completions repeat one token; untied (a random output head), they vary from step to step.
    """
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
        tie_word_embeddings=tie_word_embeddings,
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


SYSTEM_PROMPT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "{{ '<|im_start|>system\\n' + (system_prompt | default('You are a helpful AI assistant named SmolLM, trained by "
    "Hugging Face')) + '<|im_end|>\\n' }}{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
"""SmolLM2's chat template, except that the keyword `system_prompt` (a `chat_template_kwargs` entry) replaces its
default system message."""


def with_system_prompt_template(tokenizer):
    """A copy of `tokenizer` whose chat template reads the keyword `system_prompt` (`SYSTEM_PROMPT_TEMPLATE`)."""
    import copy

    templated = copy.deepcopy(tokenizer)
    templated.chat_template = SYSTEM_PROMPT_TEMPLATE
    return templated


def tiny_llama_classifier(vocab_size: int, seed: int = 0, num_labels: int = 2, pad_token_id: int | None = None):
    """A 2-layer random Llama with a classification head (a verifier: 2 labels, no pad token; a critic: 1 label)."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        num_labels=num_labels,
        pad_token_id=pad_token_id,
    )
    return LlamaForSequenceClassification(config)


_DOC_PARAM = re.compile(r"^(\w+) \((.*)\):$", re.MULTILINE)
_DOC_DEFAULT = re.compile(r"defaults to `(.+?)`")
_DOC_TYPE = re.compile(r"`([^`]+)`")


def docstring_mismatches(config_cls) -> list[str]:
    """Differences between the fields a config class declares itself and the parameters its docstring lists.

    A docstring parameter is a line ``name (`type`, *optional*, defaults to `value`):``, where the type may be a union
    written ``(`int` or `None`, ...)``. Each field declared in the class body must be listed, each listed parameter
    must be such a field, its documented types must be the members of the field's annotation, its documented default
    must equal the field default (compared as Python literals) and the field must carry `metadata["help"]`.
    """
    # The class's own annotations as written: `HfArgumentParser` rewrites `Field.type` in place (drops `None`)
    annotations = config_cls.__dict__.get("__annotations__", {})
    own = set(annotations)
    fields = {f.name: f for f in dataclasses.fields(config_cls) if f.name in own}
    documented = dict(_DOC_PARAM.findall(inspect.getdoc(config_cls)))
    problems = [f"{name}: declared but not in the docstring" for name in sorted(fields.keys() - documented.keys())]
    problems += [f"{name}: in the docstring but not declared" for name in sorted(documented.keys() - fields.keys())]
    for name in sorted(fields.keys() & documented.keys()):
        field = fields[name]
        if not field.metadata.get("help"):
            problems.append(f"{name}: no metadata help")
        doc_types, annotated_types = _documented_types(documented[name]), _annotated_types(annotations[name])
        if doc_types != annotated_types:
            problems.append(
                f"{name}: docstring type {' or '.join(sorted(doc_types)) or 'missing'} != annotation "
                f"{' | '.join(sorted(annotated_types))}"
            )
        match = _DOC_DEFAULT.search(documented[name])
        if match is None:
            problems.append(f"{name}: the docstring gives no default")
            continue
        try:
            doc_default = ast.literal_eval(match.group(1))
        except (ValueError, SyntaxError):
            doc_default = match.group(1)
        same_kind = isinstance(doc_default, bool) == isinstance(field.default, bool)
        if doc_default != field.default or not same_kind:
            problems.append(f"{name}: docstring default {match.group(1)} != field default {field.default!r}")
    return problems


def _documented_types(description: str) -> set[str]:
    """The backticked types before `*optional*` or the default: ``(`int` or `None`, *optional*, ...)`` -> int, None."""
    head = re.split(r",\s*(?:\*optional\*|defaults to)", description, maxsplit=1)[0]
    return set(_DOC_TYPE.findall(head))


def _annotated_types(annotation) -> set[str]:
    """The members of an annotation's top-level union, as written: `dict[str, Any] | None` -> dict[str, Any], None."""
    if isinstance(annotation, type):
        return {annotation.__name__}
    text = str(annotation).replace("typing.", "")
    members, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += char in "[("
        depth -= char in "])"
        if char == "|" and depth == 0:
            members.append(text[start:index])
            start = index + 1
    members.append(text[start:])
    return {member.strip() for member in members}


def argument_dataclasses() -> list[type]:
    """Every dataclass with `help` metadata (an argument or config class) defined in `reft_trl.scripts`,
    `reft_trl.trainers` or `reft_trl.evaluation`, found by importing each of their modules."""
    import importlib
    import pkgutil

    found = []
    for package_name in ("reft_trl.scripts", "reft_trl.trainers", "reft_trl.evaluation"):
        package = importlib.import_module(package_name)
        for module_info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{module_info.name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and dataclasses.is_dataclass(value)
                    and value.__module__ == module.__name__
                    and any(field.metadata.get("help") for field in dataclasses.fields(value))
                ):
                    found.append(value)
    return sorted(found, key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


def load_script(path) -> types.ModuleType:
    """Import a script that is not in a package (a benchmark, an example) as a module named after its file."""
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def record_scoring(monkeypatch, trainer_class):
    """Who asks for log-probs (through `trainer_class`) and for whom TRL's scoring forward really runs."""
    from trl import GRPOTrainer

    asked, ran = [], []
    trl_scoring, ours = (
        GRPOTrainer._get_per_token_logps_and_entropies,
        trainer_class._get_per_token_logps_and_entropies,
    )

    def recorded_trl_scoring(self, model, *args, **kwargs):
        ran.append(model)
        return trl_scoring(self, model, *args, **kwargs)

    def recorded_ours(self, model, *args, **kwargs):
        asked.append(model)
        return ours(self, model, *args, **kwargs)

    monkeypatch.setattr(GRPOTrainer, "_get_per_token_logps_and_entropies", recorded_trl_scoring)
    monkeypatch.setattr(trainer_class, "_get_per_token_logps_and_entropies", recorded_ours)
    return asked, ran


class PackingCount:
    """Counts oneDNN's weight packings and packed products (`reft_trl.packed_linear`), calling the real ops."""

    def __init__(self, monkeypatch):
        import torch

        self.packings = self.products = 0
        reorder, product = torch.ops.mkldnn._reorder_linear_weight, torch.ops.mkldnn._linear_pointwise

        def counted_reorder(*args):
            self.packings += 1
            return reorder(*args)

        def counted_product(*args):
            self.products += 1
            return product(*args)

        monkeypatch.setattr(torch.ops.mkldnn, "_reorder_linear_weight", counted_reorder)
        monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", counted_product)


def linear_layers(model) -> int:
    """The number of `torch.nn.Linear` modules of `model`."""
    import torch

    return sum(isinstance(module, torch.nn.Linear) for module in model.modules())


def can_pack_here() -> bool:
    """Whether this machine packs weights (`reft_trl.packed_linear.can_pack`: native bf16 and oneDNN's ops)."""
    import torch

    from reft_trl.packed_linear import can_pack

    return can_pack(torch.nn.Linear(2, 2))
