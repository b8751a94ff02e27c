"""Continued-SFT control for the demo: from the demo's warm-up, SFT for about PPO's wall time (28 steps of 8 = 224
examples of the same 192 training questions, the warm-up's learning rate 5e-5 held constant), then greedy accuracy on
the demo's 500 test questions, paired against the demo's warm-up and ReFT predictions. Settings fixed before running.

Usage: python sft_control.py DEMO_OUTPUT_DIR [SEED]; SEED (the data order's, default 42, as the first control ran) is
the demo's own `--seed` in `../demo_pcot_500_seeds/`."""

import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from reft_trl import ReFTSFTConfig, ReFTSFTTrainer
from reft_trl.data import load_task
from reft_trl.evaluation import evaluate
from reft_trl.evaluation.paired import format_paired, paired_comparison
from reft_trl.evaluation.report import read_predictions, run_name
from reft_trl.precision import bf16_supported

demo = sys.argv[1]
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 42
out = os.path.join(demo, "sft-control")
train = load_task("svamp", cot="pcot", split="train", limit=192)
test = load_task("svamp", cot="pcot", split="test", limit=500, program_prefix_in_prompt=True)
started = time.perf_counter()
config = ReFTSFTConfig(
    output_dir=out,
    task="svamp",
    cot="pcot",
    num_train_epochs=1000,
    stop_after_epoch=None,
    max_steps=28,
    learning_rate=5e-5,
    lr_scheduler_type="constant",
    per_device_train_batch_size=8,
    gradient_accumulation_steps=1,
    max_length=512,
    save_strategy="no",
    logging_steps=4,
    report_to="none",
    use_cpu=True,
    bf16=None,
    gradient_checkpointing=False,
    seed=seed,
)
trainer = ReFTSFTTrainer(model=os.path.join(demo, "sft"), args=config, train_dataset=train)
trainer.train()
trainer.save_model(out)
sft_s = time.perf_counter() - started
dtype = torch.bfloat16 if bf16_supported(use_cpu=True) else torch.float32
folder = os.path.join(demo, "eval", "sft-control")
evaluate(
    AutoModelForCausalLM.from_pretrained(out, dtype=dtype),
    AutoTokenizer.from_pretrained(out, padding_side="left"),
    test,
    "svamp",
    "pcot",
    mode="greedy",
    max_new_tokens=128,
    batch_size=64,
    output_dir=folder,
    backend="hf",
    hf_decoding="shrinking",
    print_summary=False,
)
name = run_name("svamp", "pcot", "greedy", 1) + ".predictions.jsonl"
correct = {}
for model, sub in (("warm-up", "sft"), ("ReFT", "reft"), ("continued SFT", "sft-control")):
    scores = {r["item_id"]: r["score"] for r in read_predictions(os.path.join(demo, "eval", sub, name))}
    correct[model] = [scores[item] == 1.0 for item in test["item_id"]]
    print(f"{model}: {sum(correct[model]) / len(test):.1%}")
result = {"sft_s": sft_s, "total_s": time.perf_counter() - started}
for a, b in (("warm-up", "continued SFT"), ("continued SFT", "ReFT")):
    result[f"{b} - {a}"] = paired_comparison(correct[a], correct[b])
    print(format_paired(result[f"{b} - {a}"], a, b))
with open(os.path.join(demo, "sft_control.json"), "w") as handle:
    json.dump(result, handle, indent=2)
print(json.dumps({"sft_s": sft_s, "total_s": result["total_s"]}))
