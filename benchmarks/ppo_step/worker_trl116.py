"""Worker of `bench_ppo_step.py` for the project venv (TRL 1.16): `prepare`, `reft` (ReFTPPOTrainer), `grpo`.

python benchmarks/ppo_step/worker_trl116.py prepare RESULT.json --num-prompts 8
python benchmarks/ppo_step/worker_trl116.py reft RESULT.json --config CONFIG.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from probe import (
    GENERATE,
    ROLLOUT,
    SCORE,
    PhaseTimer,
    RolloutClock,
    counting_generate,
    read_json,
    rss_mb,
    start_result,
    touch_weights,
    write_result,
)

PAD_TOKEN = "<|endoftext|>"  # id 0; SmolLM2's own pad is its EOS, which TRL 1.12 cannot use


def prepare(result_path: str, num_prompts: int) -> None:
    """The shared inputs: the model folder and the first SVAMP training questions in the ReFT N-CoT prompt."""
    from reft_trl.data import load_task
    from reft_trl.embedded_model import smollm2_path

    dataset = load_task("svamp", cot="ncot", split="train", limit=num_prompts)
    model_path = trainable_copy(smollm2_path(), Path(result_path).parent / "smollm2-135m-instruct")
    prepared = {"model_path": model_path, **{key: list(dataset[key]) for key in ("prompt", "answer", "question")}}
    with open(result_path, "w") as handle:
        json.dump(prepared, handle, indent=1)


def trainable_copy(source: str, target: Path) -> str:
    """A private copy of `source` (hard links where possible) without `quantization_config` in its config.json.

    Folders converted from the GGUF file by older reft-trl versions keep the GGUF `quantization_config` although their
    weights are plain fp32, so `from_pretrained` marks the model as quantized and `transformers.Trainer` refuses to
    train it. The copy also keeps the run independent of the shared cache being rewritten meanwhile.
    """
    target.mkdir(parents=True, exist_ok=True)
    for file in Path(source).iterdir():
        if file.name != "config.json":
            try:
                os.link(file, target / file.name)
            except OSError:  # another file system
                shutil.copy2(file, target / file.name)
    config = json.loads((Path(source) / "config.json").read_text())
    config.pop("quantization_config", None)
    (target / "config.json").write_text(json.dumps(config, indent=2))
    return str(target)


def run(trainer_name: str, result_path: str, config: dict) -> None:
    result = start_result(trainer_name)
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from reft_trl import AnswerMatchReward, ReFTPPOConfig, ReFTPPOTrainer

    result["rss_after_imports_mb"] = rss_mb()
    path = config["model_path"]
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    tokenizer.pad_token = PAD_TOKEN
    dataset = Dataset.from_dict({key: config[key] for key in ("prompt", "answer", "question")})
    shared = dict(
        output_dir=tempfile.mkdtemp(prefix=f"bench-ppo-{trainer_name}-"),
        per_device_train_batch_size=config["batch"],
        gradient_accumulation_steps=1,
        max_completion_length=config["response_length"],
        temperature=config["temperature"],
        top_k=0,
        top_p=1.0,
        learning_rate=config["learning_rate"],
        max_steps=config["rollouts"] * config["ppo_epochs"],
        use_cpu=True,
        bf16=config.get("bf16", False),  # explicit: reft-trl's None resolves to True on a CPU with native bf16
        gradient_checkpointing=False,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=config["seed"],
    )

    build_start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    reward = AnswerMatchReward("svamp", "ncot")
    if trainer_name == "reft":
        args = ReFTPPOConfig(
            **shared, task="svamp", num_ppo_epochs=config["ppo_epochs"], num_mini_batches=1, kl_coef=config["kl_coef"],
            lm_head_scoring=config.get("lm_head_scoring", "auto"),
            rollout_decoding=config.get("rollout_decoding", "dynamic"),
        )  # fmt: skip
        trainer = ReFTPPOTrainer(
            model=model, reward_funcs=reward, args=args, train_dataset=dataset, processing_class=tokenizer
        )
    else:
        args = GRPOConfig(
            **shared,
            num_generations=config["num_generations"],
            num_iterations=config["ppo_epochs"],
            beta=config["beta"],
        )
        trainer = GRPOTrainer(
            model=model, reward_funcs=reward, args=args, train_dataset=dataset, processing_class=tokenizer
        )
    result["build_s"] = time.perf_counter() - build_start
    # For the update's FLOP rate: the LM head (tied to the embeddings here) is applied to completion positions only
    result["policy_parameters"] = sum(p.numel() for p in model.parameters())
    result["head_parameters"] = model.get_output_embeddings().weight.numel()
    steps_per_rollout = args.steps_per_generation * args.num_iterations
    result["steps_per_rollout"] = steps_per_rollout
    result["completions_per_rollout"] = args.generation_batch_size
    result["prompts_per_rollout"] = args.generation_batch_size // args.num_generations

    timer = PhaseTimer()
    generate_and_count = counting_generate(trainer, timer)

    always = lambda phase: lambda *args, **kwargs: phase  # noqa: E731
    trainer._generate = timer.timed(generate_and_count, always(GENERATE))
    trainer._calculate_rewards = timer.timed(trainer._calculate_rewards, always(SCORE))
    trainer._generate_and_score_completions = timer.timed(trainer._generate_and_score_completions, always(ROLLOUT))
    clock = RolloutClock(timer, steps_per_rollout)
    trainer.add_callback(clock)

    touch_weights(trainer.model, trainer.ref_model, *trainer.reward_funcs)
    gc.collect()
    result["rss_after_build_mb"] = rss_mb()
    train_start = time.perf_counter()
    trainer.train()
    result["train_s"] = time.perf_counter() - train_start
    result["rollouts"] = clock.rollouts
    write_result(result_path, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("prepare", "reft", "grpo"))
    parser.add_argument("result")
    parser.add_argument("--config")
    parser.add_argument("--num-prompts", type=int, default=8)
    cli = parser.parse_args()
    if cli.mode == "prepare":
        prepare(cli.result, cli.num_prompts)
    else:
        run(cli.mode, cli.result, read_json(cli.config))


if __name__ == "__main__":
    sys.exit(main())
