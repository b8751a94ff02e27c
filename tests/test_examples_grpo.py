"""`examples/grpo_reft.py`: TRL's GRPOTrainer with the ReFT reward, two steps on a tiny random Llama."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reft_trl.scripts.grpo import DEFAULT_NUM_GENERATIONS
from tests.utils import tiny_llama

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "grpo_reft.py"
DEMO_RECIPE = ROOT / "recipes" / "demo" / "smollm2-135m" / "svamp" / "ncot" / "grpo.yaml"


def test_grpo_example_trains_two_steps_from_the_demo_recipe(tmp_path, tokenizer_path):
    import reft_trl.rewards

    if not hasattr(reft_trl.rewards, "get_reward"):
        pytest.skip("reft_trl.rewards.get_reward does not exist yet; the example takes its reward from it")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    model_dir = tmp_path / "tiny-llama"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    output_dir = tmp_path / "out"

    command = [
        sys.executable, str(EXAMPLE), "--config", str(DEMO_RECIPE),
        "--model_name_or_path", str(model_dir), "--output_dir", str(output_dir),
        "--max_steps", "2", "--use_cpu", "--bf16", "false", "--report_to", "none", "--train_limit", "8",
        "--max_completion_length", "16", "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "2",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]

    assert (output_dir / "model.safetensors").is_file()
    history = json.loads((output_dir / "checkpoint-2" / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "grad_norm" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    # One rollout of 8 questions x 4 completions (the recipe's num_generations), used for 2 updates (num_iterations)
    rollouts = [entry for entry in history if "rewards/answer_match/mean" in entry]
    assert len(rollouts) == 1
    assert steps[-1]["epoch"] == pytest.approx(2 / 8)  # an epoch is 8 x 4 x 2 / 8 completions per step = 8 steps


def _load_example():
    """Import `examples/grpo_reft.py` by file path (the folder is not a package), once."""
    name = "_reft_example_grpo"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_four_generations_per_question_unless_the_recipe_says_otherwise(tmp_path):
    module = _load_example()
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("task: svamp\nuse_cpu: true\nbf16: false\nper_device_train_batch_size: 8\n")

    script_args, training_args, _ = module.make_parser().parse_args_and_config(args=["--config", str(recipe)])
    assert (script_args.task, script_args.cot, script_args.max_prompt_length) == ("svamp", "ncot", 300)
    assert training_args.num_generations == DEFAULT_NUM_GENERATIONS == 4

    recipe.write_text(recipe.read_text() + "num_generations: 2\n")
    _, training_args, _ = module.make_parser().parse_args_and_config(args=["--config", str(recipe)])
    assert training_args.num_generations == 2
