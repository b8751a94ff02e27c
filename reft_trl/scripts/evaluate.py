"""Evaluate a warm-up (SFT) or ReFT checkpoint on a test set, as in the paper: greedy accuracy, majority voting over k
samples, pass@k, or reranking k samples with a trained verifier.

The logic behind `examples/evaluate.py` and `reft-trl eval`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reft_trl.answer_format import COTS, TASKS
from reft_trl.generation import DEFAULT_HF_DECODING, HF_DECODINGS


@dataclass
class EvalArguments:
    """
    Arguments of the evaluation script; `reft_trl.evaluation.evaluate` documents the evaluation itself.

    model_name_or_path (`str` or `None`, *optional*, defaults to `None`):
        The checkpoint to evaluate (local folder or Hub id).
    tokenizer_name_or_path (`str` or `None`, *optional*, defaults to `None`):
        Its tokenizer; `None` loads the one saved with the model.
    task (`str`, *optional*, defaults to `"gsm8k"`):
        `"gsm8k"`, `"svamp"`, `"mathqa"` or `"mathqa_numeric"`.
    cot (`str`, *optional*, defaults to `"ncot"`):
        `"ncot"` (natural-language chain of thought) or `"pcot"` (a Python program).
    split (`str`, *optional*, defaults to `"test"`):
        Split to evaluate on.
    source (`str` or `None`, *optional*, defaults to `None`):
        Data source: `None` for the bundled ReFT files, `"reft"`, `"original"`, `"hub"`, or a file path / URL.
    limit (`int` or `None`, *optional*, defaults to `None`):
        Evaluate on the first `limit` questions only.
    template (`str`, *optional*, defaults to `"reft"`):
        `"reft"` for the paper's plain-text prompt, `"chat"` for the tokenizer's chat template.
    program_prefix (`bool`, *optional*, defaults to `True`):
        P-CoT only: end each prompt with the program's opening `def solution():` and the question as docstring,
        as the paper's sampling does; the model writes the body.
    mode (`str`, *optional*, defaults to `"greedy"`):
        `"greedy"`, `"voting"`, `"pass@k"` or `"rerank"`.
    k (`int` or `None`, *optional*, defaults to `None`):
        Samples voted over or reranked (default 100, the paper's), or the k of pass@k (default 1).
    num_samples (`int` or `None`, *optional*, defaults to `None`):
        pass@k only: samples per question (default `k`).
    temperature (`float`, *optional*, defaults to `1.0`):
        Sampling temperature of the sampled modes (the paper: 1.0).
    top_p (`float`, *optional*, defaults to `1.0`):
        Nucleus sampling mass of the sampled modes.
    top_k (`int`, *optional*, defaults to `0`):
        Top-k of the sampled modes (0: off).
    max_new_tokens (`int`, *optional*, defaults to `400`):
        Completion length limit.
    batch_size (`int`, *optional*, defaults to `16`):
        Sequences per Hugging Face `generate` call.
    strict (`bool`, *optional*, defaults to `False`):
        Read answers only after `Therefore, the answer is:`; `False` also reads other common answer formats.
    output_dir (`str` or `None`, *optional*, defaults to `"eval"`):
        Folder for the predictions and the summary; `None` writes nothing.
    resume (`bool`, *optional*, defaults to `False`):
        Keep the questions already in the predictions file and evaluate only the rest.
    backend (`str`, *optional*, defaults to `"auto"`):
        `"auto"` (vLLM when installed), `"vllm"` or `"hf"`.
    hf_decoding (`str`, *optional*, defaults to `"auto"`):
        Hugging Face backend only: `"auto"` (`"shrinking"` where the model allows it, else `"dynamic"`), `"dynamic"`
        (transformers' default cache), `"static"` (a cache allocated once),
        `"compiled"` (that cache and the decode step compiled by `torch.compile`), `"shrinking"` (reft-trl's own
        loop, in which a finished row leaves the batch) or `"fused"` (that loop with reft-trl's own Llama forward on a
        CPU: fewer, larger operators; `reft_trl.fused_llama`).
    pack_weights (`bool`, *optional*, defaults to `True`):
        Hugging Face backend only: a model computing in bf16 on a CPU with native bf16 decodes from weights packed
        once for oneDNN (the same products, a faster decode step; `reft_trl.packed_linear`).
    verifier_path (`str` or `None`, *optional*, defaults to `None`):
        Rerank only: a verifier saved by `train_verifier`.
    dtype (`str` or `None`, *optional*, defaults to `None`):
        Weights' dtype (`"auto"`: the checkpoint's, `"bfloat16"`, `"float32"`, ...); `None` takes `"bfloat16"` where
        the device computes it natively (a CPU with AVX512-BF16 or AMX, a recent GPU), else `"auto"`. Recorded in
        the summary; greedy answers in bfloat16 can differ from float32's, so compare models at the same dtype.
    seed (`int`, *optional*, defaults to `42`):
        Random seed of the sampled modes.
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "The checkpoint to evaluate."})
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "Its tokenizer; None loads the one saved with the model."}
    )
    task: str = field(
        default="gsm8k",
        metadata={"help": "Task to evaluate on.", "choices": list(TASKS)},
    )
    cot: str = field(default="ncot", metadata={"help": "Chain-of-thought kind.", "choices": list(COTS)})
    split: str = field(default="test", metadata={"help": "Split to evaluate on."})
    source: str | None = field(
        default=None,
        metadata={"help": "Data source: None (bundled), 'reft', 'original', 'hub', or a file path / URL."},
    )
    limit: int | None = field(default=None, metadata={"help": "Evaluate on the first N questions only."})
    template: str = field(
        default="reft", metadata={"help": "Prompt format: 'reft' or 'chat'.", "choices": ["reft", "chat"]}
    )
    program_prefix: bool = field(
        default=True,
        metadata={"help": "P-CoT only: end each prompt with `def solution():` and the question as docstring."},
    )
    mode: str = field(
        default="greedy",
        metadata={"help": "Evaluation mode.", "choices": ["greedy", "voting", "pass@k", "rerank"]},
    )
    k: int | None = field(
        default=None,
        metadata={"help": "Samples voted over or reranked (default 100), or the k of pass@k (default 1)."},
    )
    num_samples: int | None = field(default=None, metadata={"help": "pass@k only: samples per question (default k)."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the sampled modes."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling mass of the sampled modes."})
    top_k: int = field(default=0, metadata={"help": "Top-k of the sampled modes (0: off)."})
    max_new_tokens: int = field(default=400, metadata={"help": "Completion length limit."})
    batch_size: int = field(default=16, metadata={"help": "Sequences per Hugging Face generate call."})
    strict: bool = field(default=False, metadata={"help": "Read answers only after 'Therefore, the answer is:'."})
    output_dir: str | None = field(default="eval", metadata={"help": "Folder for the predictions and the summary."})
    resume: bool = field(default=False, metadata={"help": "Evaluate only the questions not yet in the predictions."})
    backend: str = field(default="auto", metadata={"help": "Generation backend.", "choices": ["auto", "vllm", "hf"]})
    hf_decoding: str = field(
        default=DEFAULT_HF_DECODING,
        metadata={
            "help": "Hugging Face backend only: 'auto' ('shrinking' where the model allows it, else 'dynamic'), "
            "'dynamic', 'static' (a cache allocated once), 'compiled' (that cache and the decode step compiled by "
            "torch.compile), 'shrinking' (finished rows leave the batch) or 'fused' (that loop with reft-trl's own "
            "Llama forward on a CPU).",
            "choices": list(HF_DECODINGS),
        },
    )
    pack_weights: bool = field(
        default=True,
        metadata={"help": "Hugging Face backend only: decode bf16 models from weights packed once for oneDNN."},
    )
    verifier_path: str | None = field(default=None, metadata={"help": "Rerank only: a verifier checkpoint."})
    dtype: str | None = field(
        default=None,
        metadata={
            "help": "Weights' dtype ('auto': the checkpoint's, 'bfloat16', 'float32', ...); None: bfloat16 where the "
            "device computes it natively, else 'auto'."
        },
    )
    seed: int = field(default=42, metadata={"help": "Random seed of the sampled modes."})


def main(args: EvalArguments) -> dict:
    import torch
    from transformers import AutoTokenizer

    from reft_trl.data import load_task
    from reft_trl.evaluation import evaluate, load_generation_model
    from reft_trl.precision import generation_dtype
    from reft_trl.preflight import check_model_path

    if args.model_name_or_path is None:
        raise ValueError("Set the checkpoint to evaluate: --model_name_or_path <local path or Hub id>.")
    if args.mode == "rerank" and args.verifier_path is None:
        raise ValueError("--mode rerank needs --verifier_path (a verifier saved by train_verifier).")
    check_model_path(args.model_name_or_path)
    check_model_path(args.tokenizer_name_or_path, "tokenizer path")
    check_model_path(args.verifier_path, "verifier path")

    dataset = load_task(
        args.task,
        cot=args.cot,
        split=args.split,
        source=args.source,
        template=args.template,
        limit=args.limit,
        program_prefix_in_prompt=args.cot == "pcot" and args.program_prefix,
    )
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_name_or_path or args.model_name_or_path)
    # the device `load_generation_model` uses: the GPU when there is one, else the CPU
    dtype = generation_dtype(args.dtype, use_cpu=not torch.cuda.is_available())
    model = load_generation_model(args.model_name_or_path, args.backend, dtype=dtype, seed=args.seed)
    return evaluate(
        model,
        tokenizer,
        dataset,
        args.task,
        args.cot,
        mode=args.mode,
        k=args.k,
        num_samples=args.num_samples,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        strict=args.strict,
        verifier=args.verifier_path,
        output_dir=args.output_dir,
        resume=args.resume,
        backend=args.backend,
        hf_decoding=args.hf_decoding,
        pack_weights=args.pack_weights,
        seed=args.seed,
        metadata={
            "model": args.model_name_or_path,
            "split": args.split,
            "limit": args.limit,
            "template": args.template,
            "dtype": dtype,
        },
    )


def make_parser():
    from trl import TrlParser

    return TrlParser((EvalArguments,))
