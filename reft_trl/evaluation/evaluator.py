"""`evaluate`: generate, extract, score and record a model's answers to a test set, in one of the paper's modes.

Modes:
- `greedy`: one greedy completion per question; top-1 accuracy (the paper's main tables).
- `voting`: `k` samples at `temperature`, majority vote over the extracted answers (the paper: k=100, T=1.0).
- `pass@k`: `num_samples` (n >= k) samples; the unbiased pass@k estimate per question, averaged.
- `rerank`: `k` samples; a verifier picks the one with the highest P(correct) (the paper: k=100).

>>> from reft_trl.data import load_task
>>> summary = evaluate("path/to/reft-checkpoint", "path/to/reft-checkpoint", load_task("svamp", split="test"),
...                    "svamp", output_dir="eval")  # doctest: +SKIP
model               path/to/reft-checkpoint
task                svamp (ncot)
mode                greedy
...
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from datasets import Dataset

from reft_trl.generation import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_HF_DECODING,
    DEFAULT_MAX_NEW_TOKENS,
    check_hf_decoding,
    encode_prompt,
    generate,
    load_generation_model,
    packed_for_decoding,
    render_prompt,
    resolve_backend,
)
from reft_trl.rewards.answer_match import CORRECT, AnswerMatchReward
from reft_trl.rewards.compare import DEFAULT_TOLERANCE, answers_match, canonical_task

from .metrics import PAPER_VOTING_SAMPLES, accuracy, majority_vote, pass_at_k, rerank_choice
from .report import (
    PREDICTIONS_SUFFIX,
    SUMMARY_SUFFIX,
    PredictionWriter,
    check_unique_item_ids,
    package_versions,
    read_predictions,
    run_name,
    summary_table,
    write_summary,
)

GREEDY, VOTING, PASS_AT_K, RERANK = "greedy", "voting", "pass@k", "rerank"
MODES = (GREEDY, VOTING, PASS_AT_K, RERANK)
DEFAULT_CHUNK_SIZE = 64
"""Questions generated, scored and written per round: a run interrupted loses at most one round."""
DEFAULT_SEED = 42
PROMPT_DIGEST_CHARS = 16
"""Hex characters of the SHA-256 of a rendered prompt kept in each record (`prompt_digest`)."""


def evaluate(
    model,
    tokenizer,
    dataset: Dataset,
    task: str,
    cot: str = "ncot",
    *,
    mode: str = GREEDY,
    k: int | None = None,
    num_samples: int | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    top_k: int = 0,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
    batch_size: int = DEFAULT_BATCH_SIZE,
    strict: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    verifier=None,
    output_dir: str | None = None,
    resume: bool = False,
    backend: str = "auto",
    seed: int = DEFAULT_SEED,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    show_progress: bool = True,
    print_summary: bool = True,
    metadata: dict | None = None,
    hf_decoding: str = DEFAULT_HF_DECODING,
    chat_template_kwargs: dict | None = None,
    pack_weights: bool = True,
) -> dict:
    """Evaluate `model` on `dataset` and return the summary (also written to `output_dir` and printed).

    Args:
        model: a causal LM, a `vllm.LLM`, or a path (vLLM when installed, else Hugging Face).
        tokenizer: its tokenizer, or a path.
        dataset: rows with `prompt`, `answer`, `item_id` and `question`, as `reft_trl.data.load_task` returns them.
            For P-CoT, prompts may end with the program's opening (`program_prefix_in_prompt=True`, as the paper
            samples); the program run is then that opening plus the completion.
        task: gsm8k, svamp, mathqa or mathqa_numeric.
        cot: "ncot" or "pcot".
        mode: "greedy", "voting", "pass@k" or "rerank".
        k: samples voted over or reranked (default 100, the paper's), or the k of pass@k (default 1); 1 for greedy.
        num_samples: pass@k only: samples n per question (default `k`); the estimate is unbiased for any n >= k.
        temperature: sampling temperature of the sampled modes (the paper: 1.0).
        top_p: nucleus sampling mass of the sampled modes.
        top_k: top-k of the sampled modes (0: off).
        max_new_tokens: completion length limit.
        batch_size: sequences per Hugging Face `generate` call.
        strict: read answers only after the template's trigger `Therefore, the answer is:` (as the RL reward);
            False also reads `#### N`, `\\boxed{N}`, `The answer is N`, ... and the last number (P-CoT: no
            difference, the program's return value is the answer).
        tolerance: absolute tolerance of numeric answers (the paper's code: 1e-2).
        verifier: rerank only: a `scorer(prompt, completions) -> scores` function, a 2-class sequence-classification
            model (scored with `tokenizer`), or the path of one saved by `train_verifier`.
        output_dir: folder for `{run}.predictions.jsonl` (one line per question, written as each round finishes,
            with the digest of the prompt it was generated from, `prompt_sha256`) and `{run}.summary.json`; None
            writes nothing.
        resume: keep the questions already in the predictions file and evaluate only the rest; otherwise an existing
            predictions file of the same run is replaced. A `ValueError` refuses to resume a file in which a question
            was generated from another prompt than the dataset's now (another template, another chat template or
            `chat_template_kwargs`); records without a digest (files written by earlier versions) are kept as they
            are.
        backend: "auto", "vllm" or "hf".
        seed: random seed of the sampled modes.
        chunk_size: questions per generate-score-write round.
        show_progress: show a progress bar.
        print_summary: print the summary table at the end.
        metadata: extra entries for the summary (e.g. the split and limit the dataset was loaded with).
        hf_decoding: Hugging Face backend only: "auto" (the default: "shrinking" where the model allows it, else
            "dynamic"), "dynamic" (transformers' default), "static", "compiled", "shrinking" (finished rows leave
            the batch) or "fused" (that loop with reft-trl's own Llama forward on a CPU)
            (`reft_trl.generation.HF_DECODINGS`).
        chat_template_kwargs: keyword arguments of the chat template for conversational prompts: the training
            config's `chat_template_kwargs`, so the model is evaluated on the prompts it was trained on.
        pack_weights: Hugging Face backend only: a model computing in bf16 on a CPU with native bf16 decodes from
            weights packed once for the evaluation for oneDNN (`reft_trl.packed_linear`: the same products, a faster
            decode step; its weights held twice meanwhile); a float32 model is left as it is.
    """
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer, set_seed

    started = time.perf_counter()
    task = canonical_task(task)
    check_hf_decoding(hf_decoding)
    k, num_samples = sample_counts(mode, k, num_samples)
    check_unique_item_ids(dataset["item_id"])
    chat_template_kwargs = dict(chat_template_kwargs or {})
    if isinstance(tokenizer, str):
        tokenizer = AutoTokenizer.from_pretrained(tokenizer)
    model_name = _model_name(model)
    backend = resolve_backend(backend, model)
    scorer = _scorer(verifier, tokenizer) if mode == RERANK else None
    model = load_generation_model(model, backend, seed=seed)
    reward = AnswerMatchReward(task, cot, strict=strict, tolerance=tolerance)

    predictions_path = summary_path = None
    done: list[dict] = []
    digests: dict = {}  # item_id -> prompt_digest, for the records written and the resume check
    if output_dir is not None:
        stem = run_name(task, cot, mode, k)
        predictions_path = f"{output_dir}/{stem}{PREDICTIONS_SUFFIX}"
        summary_path = f"{output_dir}/{stem}{SUMMARY_SUFFIX}"
        digests = {row["item_id"]: prompt_digest(tokenizer, row["prompt"], **chat_template_kwargs) for row in dataset}
        if resume:
            done = _resumable(read_predictions(predictions_path), num_samples, digests, predictions_path)
    done_ids = {record["item_id"] for record in done}
    todo = [row for row in dataset if row["item_id"] not in done_ids]
    records = [_summarized(record) for record in done]
    timings = {"generation_s": 0.0, "extraction_s": 0.0, "verifier_s": 0.0}
    sampling = dict(temperature=temperature, top_p=top_p, top_k=top_k) if mode != GREEDY else {}

    set_seed(seed)
    writer = PredictionWriter(predictions_path, append=bool(done)) if predictions_path else None
    progress = tqdm(
        total=len(dataset), initial=len(done), desc=f"Evaluating ({mode})", unit="question", disable=not show_progress
    )
    # packed once for all the rounds (the `generate` calls inside pack nothing again)
    packing = packed_for_decoding(model, hf_decoding, rows=batch_size, pack_weights=pack_weights)
    try:
        with packing:
            for start in range(0, len(todo), chunk_size):
                rows = todo[start : start + chunk_size]
                clock = time.perf_counter()
                samples = _generate_counting(
                    progress,
                    model,
                    tokenizer,
                    [row["prompt"] for row in rows],
                    num_samples=num_samples,
                    greedy=mode == GREEDY,
                    max_new_tokens=max_new_tokens,
                    batch_size=batch_size,
                    backend=backend,
                    hf_decoding=hf_decoding,
                    pack_weights=pack_weights,
                    chat_template_kwargs=chat_template_kwargs,
                    **sampling,
                )
                timings["generation_s"] += time.perf_counter() - clock

                clock = time.perf_counter()
                scored = _score(reward, rows, samples)
                timings["extraction_s"] += time.perf_counter() - clock

                for row, completions, answer_scores in zip(rows, samples, scored, strict=True):
                    extracted = [score.extracted for score in answer_scores]
                    correct = [score.outcome == CORRECT for score in answer_scores]
                    clock = time.perf_counter()
                    scores = scorer(row["prompt"], completions) if scorer is not None else None
                    timings["verifier_s"] += time.perf_counter() - clock
                    record = _record(row, completions, extracted, correct, scores, mode, k, task, tolerance)
                    records.append(_summarized(record))
                    if writer is not None:
                        writer.write({**record, "prompt_sha256": digests[row["item_id"]]})
    finally:
        progress.close()
        if writer is not None:
            writer.close()
        timings["total_s"] = time.perf_counter() - started
        summary = _summary(
            records, len(dataset), task, cot, mode, k, num_samples, strict, model_name, backend, timings, sampling
        )
        summary.update(metadata or {})
        summary["predictions"] = predictions_path
        summary["resumed"] = len(done)
        if summary_path is not None:
            write_summary(summary_path, summary)
    if print_summary:
        print(summary_table(summary))
    return summary


def _generate_counting(
    progress, model, tokenizer, prompts, *, num_samples, greedy, batch_size, backend, chat_template_kwargs, **kwargs
):
    """`generate` over a round, the progress bar counting its questions as they are generated.

    The Hugging Face backend goes one `generate` call per batch, with the batches of one call over the whole round
    (prompts longest first, `batch_size // samples` per batch), so the completions are the same; vLLM schedules the
    round at once.
    """
    options = dict(num_samples=num_samples, greedy=greedy, batch_size=batch_size, backend=backend, **kwargs)
    options["chat_template_kwargs"] = chat_template_kwargs
    if backend == "vllm":
        samples = generate(model, tokenizer, prompts, show_progress=False, **options)
        progress.update(len(prompts))
        return samples
    prompts_per_call = max(1, batch_size // (1 if greedy else num_samples))
    lengths = [len(encode_prompt(tokenizer, prompt, **chat_template_kwargs)) for prompt in prompts]
    order = sorted(range(len(prompts)), key=lambda index: -lengths[index])
    samples: list[list[str]] = [[] for _ in prompts]
    for start in range(0, len(order), prompts_per_call):
        batch = order[start : start + prompts_per_call]
        completions = generate(model, tokenizer, [prompts[index] for index in batch], show_progress=False, **options)
        for index, texts in zip(batch, completions, strict=True):
            samples[index] = texts
        progress.update(len(batch))
    return samples


def sample_counts(mode: str, k: int | None, num_samples: int | None) -> tuple[int, int]:
    """`(k, samples per question)` of a mode, with the defaults filled in and checked.

    >>> sample_counts("greedy", None, None), sample_counts("voting", None, None), sample_counts("pass@k", 4, 10)
    ((1, 1), (100, 100), (4, 10))
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; valid: {', '.join(MODES)}.")
    if mode == GREEDY:
        if k not in (None, 1) or num_samples not in (None, 1):
            raise ValueError("mode='greedy' takes one completion per question; use mode='voting' or 'pass@k' for k.")
        return 1, 1
    if mode == PASS_AT_K:
        k = 1 if k is None else k
        num_samples = k if num_samples is None else num_samples
        if not 1 <= k <= num_samples:
            raise ValueError(f"pass@k needs 1 <= k <= num_samples; got k={k}, num_samples={num_samples}.")
        return k, num_samples
    k = PAPER_VOTING_SAMPLES if k is None else k
    if num_samples not in (None, k):
        raise ValueError(f"mode={mode!r} draws k samples per question; leave num_samples unset (got {num_samples}).")
    if k < 1:
        raise ValueError(f"k={k}; it must be at least 1.")
    return k, k


def _score(reward: AnswerMatchReward, rows: list[dict], samples: list[list[str]]) -> list[list]:
    """The reward's reading of a round's completions, per question; P-CoT programs of the whole round run in one
    sandbox call."""
    flat_rows = [row for row, completions in zip(rows, samples, strict=True) for _ in completions]
    flat = reward.score_with_details(
        [completion for completions in samples for completion in completions],
        answer=[str(row["answer"]) for row in flat_rows],
        prompts=[row["prompt"] for row in flat_rows],
        question=[row["question"] for row in flat_rows],
    )
    scored, position = [], 0
    for completions in samples:
        scored.append(flat[position : position + len(completions)])
        position += len(completions)
    return scored


def _record(row, completions, extracted, correct, scores, mode, k, task, tolerance) -> dict:
    """One question's line: its samples, their answers and flags, the mode's choice and the question's score."""
    gold = str(row["answer"])
    chosen_index = None
    if mode == GREEDY:
        chosen_index = 0
    elif mode == RERANK:
        chosen_index = rerank_choice(scores, extracted)
    if mode == VOTING:
        chosen = majority_vote(extracted, task, tolerance)
        score = float(answers_match(chosen, gold, task, tolerance))
    elif mode == PASS_AT_K:
        chosen = None
        score = pass_at_k(len(correct), sum(correct), k)
    else:
        chosen = None if chosen_index is None else extracted[chosen_index]
        score = float(chosen_index is not None and correct[chosen_index])
    record = {
        "item_id": row["item_id"],
        "question": row["question"],
        "answer": gold,
        "completions": completions,
        "extracted": extracted,
        "correct": correct,
        "chosen": chosen,
        "chosen_index": chosen_index,
        "score": score,
    }
    if scores is not None:
        record["verifier_scores"] = scores
    return record


def _summary(records, total, task, cot, mode, k, num_samples, strict, model_name, backend, timings, sampling) -> dict:
    completions = sum(len(record["extracted"]) for record in records)
    unextractable = sum(answer is None for record in records for answer in record["extracted"])
    return {
        "task": task,
        "cot": cot,
        "mode": mode,
        "k": k,
        "num_samples": num_samples,
        "n": len(records),
        "complete": len(records) == total,
        "accuracy": accuracy([record["score"] for record in records]),
        "upper_bound": accuracy([any(record["correct"]) for record in records]),
        "unextractable": unextractable / completions if completions else 0.0,
        "strict": strict,
        "model": model_name,
        "backend": backend,
        **sampling,
        "timings": timings,
        "versions": package_versions(),
    }


def _summarized(record: dict) -> dict:
    """What the summary reads of a question's record (the completions can be large)."""
    return {name: record[name] for name in ("score", "correct", "extracted")}


def prompt_digest(tokenizer, prompt, **chat_template_kwargs) -> str:
    """The first `PROMPT_DIGEST_CHARS` hex characters of the SHA-256 of `prompt` as rendered for generation
    (`reft_trl.generation.render_prompt`): what a predictions record keeps to tell, on resume, whether its question
    is still asked the same way.

    >>> prompt_digest(None, "Question:\\n1 + 1?\\nAnswer reasoning:\\n")
    '88bfa489fc0a8ce8'
    """
    text = render_prompt(tokenizer, prompt, **chat_template_kwargs)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:PROMPT_DIGEST_CHARS]


def _resumable(records: list[dict], num_samples: int, digests: dict, path: str) -> list[dict]:
    """The records of a predictions file that a run drawing `num_samples` samples per question can keep, checked
    against `digests` (item_id -> `prompt_digest` of the dataset's prompt now). A record without a digest (written
    before records had one) is kept; so is one of a question the dataset no longer holds."""
    for record in records:
        if len(record["completions"]) != num_samples:
            raise ValueError(
                f"The predictions file holds {len(record['completions'])} samples for {record['item_id']}, this run "
                f"draws {num_samples}: resume with the same mode and k, or use another output_dir."
            )
        stored = record.get("prompt_sha256")
        if stored is not None and record["item_id"] in digests and stored != digests[record["item_id"]]:
            raise ValueError(
                f"{path}: {record['item_id']!r} was evaluated from another prompt than the dataset's now (another "
                "template, chat template or chat_template_kwargs): its completions would be mixed with new ones. Use "
                "another output_dir or resume=False."
            )
    return records


def _scorer(verifier, tokenizer) -> Callable:
    if verifier is None:
        raise ValueError("mode='rerank' needs a verifier: a scorer function, a verifier model or its path.")
    from .verifier import VerifierScorer

    if isinstance(verifier, str):
        return VerifierScorer.from_pretrained(verifier)
    if hasattr(verifier, "config"):
        return VerifierScorer(verifier, tokenizer)
    return verifier


def _model_name(model) -> str:
    if isinstance(model, str):
        return model
    name = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    return name or type(model).__name__
