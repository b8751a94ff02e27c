"""Every recipe under `recipes/` parses through its example script's `make_parser()` with no unknown key, carries the
paper's values, and every accelerate config is one `accelerate launch --config_file` accepts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
ACCELERATE = RECIPES / "accelerate"
SCRIPTS = {
    "sft": "sft_warmup.py",
    "ppo": "ppo_reft.py",
    "grpo": "grpo_reft.py",
    "offline_st": "offline_self_training.py",
    "online_st": "online_self_training.py",
}

PAPER_MODELS = ("codellama-7b", "galactica-6.7b")
PAPER_RUNS = [(task, cot) for task in ("gsm8k", "svamp", "mathqa") for cot in ("ncot", "pcot")]
PAPER_RUNS.append(("mathqa_numeric", "ncot"))
KL_COEF = {"ncot": 0.05, "pcot": 0.01}
WARMUP_EPOCH = {("mathqa", "ncot"): 5, ("mathqa_numeric", "ncot"): 10}  # 2 for the others
PAPER_GPUS = 8


def _recipe_paths(stage: str) -> list[Path]:
    return sorted(path for path in RECIPES.rglob(f"{stage}.yaml") if ACCELERATE not in path.parents)


def _paper_recipe_paths(stage: str) -> list[Path]:
    return [path for path in _recipe_paths(stage) if path.relative_to(RECIPES).parts[0] != "demo"]


def _id(path: Path) -> str:
    return str(path.relative_to(RECIPES))


def _load_example(stage: str):
    """Import `examples/<script>` by file path (the folder is not a package), once."""
    name = f"_reft_example_{stage}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / SCRIPTS[stage])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses resolve their string annotations through sys.modules
        spec.loader.exec_module(module)
    return sys.modules[name]


def _parse_all(stage: str, path: Path, *extra: str):
    """The argument dataclasses as the script builds them from `--config path`."""
    import torch

    args = ["--config", str(path), *extra]
    if not torch.cuda.is_available():
        args += ["--use_cpu", "true"]  # TrainingArguments refuses bf16 on a machine without GPU unless use_cpu
    return _load_example(stage).make_parser().parse_args_and_config(args=args, fail_with_unknown_args=True)


def _parse(stage: str, path: Path, *extra: str):
    """(script_args, training_args, model_args) as the script builds them from `--config path`."""
    parsed = _parse_all(stage, path, *extra)
    return parsed[0], parsed[-2], parsed[-1]


def _stage(path: Path) -> str:
    return path.stem


def _folder(path: Path) -> tuple[str, str, str]:
    """(task, model, cot) from `<task>/<model>/<cot>/` or `demo/<model>/<task>/<cot>/`."""
    folders = path.relative_to(RECIPES).parts[:-1]
    if folders[0] == "demo":
        model, task, cot = folders[1:]
        return task, model, cot
    return folders


# ---------------------------------------------------------------------------------------------------------------------
# The tree


def test_every_paper_run_has_an_sft_and_a_ppo_recipe():
    expected = {
        RECIPES / task / model / cot / f"{stage}.yaml"
        for task, cot in PAPER_RUNS
        for model in PAPER_MODELS
        for stage in ("sft", "ppo", "offline_st", "online_st")
    }
    found = {path for stage in ("sft", "ppo", "offline_st", "online_st") for path in _paper_recipe_paths(stage)}
    assert found == expected
    assert (RECIPES / "gsm8k" / "codellama-7b" / "ncot" / "grpo.yaml").is_file()
    for stage in SCRIPTS:
        assert (RECIPES / "demo" / "smollm2-135m" / "svamp" / "ncot" / f"{stage}.yaml").is_file()


def test_output_dirs_are_unique():
    output_dirs = [yaml.safe_load(path.read_text())["output_dir"] for s in SCRIPTS for path in _recipe_paths(s)]
    assert len(output_dirs) == len(set(output_dirs))


# ---------------------------------------------------------------------------------------------------------------------
# Every recipe through its parser


ALL_RECIPES = [path for stage in SCRIPTS for path in _recipe_paths(stage)]


@pytest.mark.parametrize("path", ALL_RECIPES, ids=_id)
def test_recipe_parses_with_no_unknown_key(path):
    raw = yaml.safe_load(path.read_text())
    script_args, training_args, model_args = _parse(_stage(path), path)

    task, _, cot = _folder(path)
    task_owner = script_args if _stage(path) == "grpo" else training_args
    assert (task_owner.task, task_owner.cot) == (task, cot)
    assert training_args.output_dir == raw["output_dir"]
    assert model_args.model_name_or_path == raw["model_name_or_path"]
    assert training_args.bf16 is raw["bf16"]


@pytest.mark.parametrize("stage", list(SCRIPTS))
def test_a_misspelled_key_is_refused(stage, tmp_path):
    recipe = RECIPES / "demo" / "smollm2-135m" / "svamp" / "ncot" / f"{stage}.yaml"
    typo = tmp_path / "typo.yaml"
    typo.write_text(recipe.read_text() + "learning_rat: 1.0e-5\n")
    with pytest.raises(ValueError, match="learning_rat"):
        _parse(stage, typo)


def test_the_command_line_overrides_a_recipe():
    path = RECIPES / "gsm8k" / "codellama-7b" / "ncot" / "ppo.yaml"
    _, training_args, model_args = _parse(
        "ppo", path, "--model_name_or_path", "sft/checkpoint-312", "--kl_coef", "0.1"
    )
    assert model_args.model_name_or_path == "sft/checkpoint-312"
    assert training_args.kl_coef == 0.1


# ---------------------------------------------------------------------------------------------------------------------
# The paper's values


@pytest.mark.parametrize("path", _paper_recipe_paths("sft"), ids=_id)
def test_sft_recipe_has_the_papers_values(path):
    _, training_args, _ = _parse("sft", path)
    task, _, cot = _folder(path)
    assert training_args.learning_rate == 1e-5
    assert training_args.lr_scheduler_type == "linear"
    assert training_args.warmup_steps == 0.1
    assert training_args.num_train_epochs == 40
    assert training_args.stop_after_epoch == WARMUP_EPOCH.get((task, cot), 2)
    assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * PAPER_GPUS == 48
    assert training_args.max_length == 1024
    assert training_args.save_strategy == "epoch"


@pytest.mark.parametrize("path", _paper_recipe_paths("ppo"), ids=_id)
def test_ppo_recipe_has_the_papers_values(path):
    _, training_args, model_args = _parse("ppo", path)
    task, _, cot = _folder(path)
    assert training_args.kl_coef == KL_COEF[cot]
    assert model_args.model_name_or_path.endswith(f"-EPOCH-{WARMUP_EPOCH.get((task, cot), 2)}")
    assert training_args.learning_rate == 3e-7
    assert training_args.lr_scheduler_type == "constant"
    assert training_args.num_train_epochs == 300
    assert training_args.num_ppo_epochs == 2
    assert (training_args.vf_coef, training_args.gamma, training_args.lam) == (5.0, 1.0, 0.95)
    assert (training_args.cliprange, training_args.cliprange_value) == (0.2, 0.2)
    assert (training_args.max_prompt_length, training_args.max_completion_length) == (300, 400)
    assert training_args.num_generations == 1
    assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps * PAPER_GPUS == 32


@pytest.mark.parametrize("path", _paper_recipe_paths("online_st"), ids=_id)
def test_online_self_training_recipe_has_the_authors_values(path):
    data_args, training_args, model_args = _parse("online_st", path)
    _, ppo, ppo_model = _parse("ppo", path.with_name("ppo.yaml"))
    assert model_args.model_name_or_path == ppo_model.model_name_or_path  # the same warm-up checkpoint
    assert (training_args.sampled_loss_weight, training_args.gold_loss_weight, training_args.keep_reward) == (
        0.5,
        0.5,
        1.0,
    )
    assert (training_args.learning_rate, training_args.lr_scheduler_type) == (3e-7, "constant")
    assert (training_args.num_train_epochs, training_args.num_iterations) == (300, 2)
    assert training_args.beta == 0.0
    # train_rl_sl.py cuts prompt + gold + EOS to max_input_length=300 and updates in model.train() (dropout on)
    assert (training_args.max_gold_input_length, training_args.disable_dropout) == (300, False)
    for name in ("num_generations", "max_completion_length", "max_prompt_length", "temperature", "top_k"):
        assert getattr(training_args, name) == getattr(ppo, name), name
    # The gold chains of thought come from the SFT data
    assert data_args.dataset_source == _parse("sft", path.with_name("sft.yaml"))[0].dataset_source
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    assert per_step * PAPER_GPUS == 32


@pytest.mark.parametrize("path", _paper_recipe_paths("offline_st"), ids=_id)
def test_offline_self_training_recipe_has_the_authors_values(path):
    data_args, self_training, training_args, model_args = _parse_all("offline_st", path)
    sft_data, sft, sft_model = _parse("sft", path.with_name("sft.yaml"))
    _, _, ppo_model = _parse("ppo", path.with_name("ppo.yaml"))
    assert model_args.model_name_or_path == sft_model.model_name_or_path  # from the base model
    assert self_training.warmup_model == ppo_model.model_name_or_path  # samples from ReFT's starting point
    assert (self_training.num_samples, self_training.max_solutions, self_training.sampling_temperature) == (
        100,
        10,
        1.0,
    )
    # sampling.py leaves transformers' top-k of 50; the gold file and the sampling file both hold each gold solution
    assert (self_training.sampling_top_k, self_training.gold_copies) == (50, 2)
    assert data_args.dataset_source == sft_data.dataset_source
    assert (training_args.num_train_epochs, training_args.stop_after_epoch) == (20, None)
    assert (training_args.learning_rate, training_args.max_length) == (sft.learning_rate, sft.max_length)
    per_step = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    assert per_step * PAPER_GPUS == 48


def test_grpo_recipe_has_the_ppo_recipes_budget():
    folder = RECIPES / "gsm8k" / "codellama-7b" / "ncot"
    _, grpo, _ = _parse("grpo", folder / "grpo.yaml")
    _, ppo, _ = _parse("ppo", folder / "ppo.yaml")
    per_step = {args.per_device_train_batch_size * args.gradient_accumulation_steps for args in (grpo, ppo)}
    assert per_step == {4}  # completions per GPU and optimizer step
    assert grpo.num_generations * grpo.num_train_epochs == ppo.num_generations * ppo.num_train_epochs
    assert grpo.num_iterations == ppo.num_ppo_epochs
    assert (grpo.learning_rate, grpo.max_completion_length, grpo.epsilon) == (3e-7, 400, 0.2)


# ---------------------------------------------------------------------------------------------------------------------
# accelerate configs

ACCELERATE_CONFIGS = sorted(ACCELERATE.glob("*.yaml"))
LAUNCH_KEYS = {"compute_environment", "distributed_type", "mixed_precision", "num_machines", "num_processes"}


def test_the_accelerate_configs_are_there():
    names = {path.stem for path in ACCELERATE_CONFIGS}
    assert names == {"single_gpu", "multi_gpu", "zero2", "zero3", "fsdp"}


@pytest.mark.parametrize("path", ACCELERATE_CONFIGS, ids=lambda path: path.name)
def test_accelerate_config_is_one_accelerate_launch_reads(path):
    from accelerate.commands.config.config_args import ClusterConfig

    raw = yaml.safe_load(path.read_text())
    assert LAUNCH_KEYS.issubset(raw)
    config = ClusterConfig.from_yaml_file(path)  # raises on keys this accelerate does not know
    assert config.mixed_precision == "bf16"
    assert config.num_processes == (1 if path.stem == "single_gpu" else PAPER_GPUS)


def test_zero2_is_the_papers_deepspeed_setup():
    raw = yaml.safe_load((ACCELERATE / "zero2.yaml").read_text())
    assert raw["distributed_type"] == "DEEPSPEED"
    assert raw["deepspeed_config"]["zero_stage"] == 2
    assert (raw["mixed_precision"], raw["num_processes"]) == ("bf16", 8)
    # The recipes set accumulation (SFT 2, PPO 1) and clipping; a value here would contradict one of them
    assert "gradient_accumulation_steps" not in raw["deepspeed_config"]
    assert "gradient_clipping" not in raw["deepspeed_config"]
