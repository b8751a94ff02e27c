"""ReFTSFTConfig / ReFTSFTTrainer: the paper's warm-up defaults, completion-only labels ending in EOS for Llama-,
OPT- and Galactica-style tokenizers, per-epoch checkpoints, dataset checks, and a smoke run of the example script."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from reft_trl.trainers.sft_config import ReFTSFTConfig
from reft_trl.trainers.sft_trainer import ReFTSFTTrainer, checkpoint_for_epoch
from tests.utils import docstring_mismatches, tiny_llama, tiny_opt

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sft_warmup.py"

# ---------------------------------------------------------------------------------------------------------------------
# Helper: a config's docstring and its fields agree


# ---------------------------------------------------------------------------------------------------------------------
# Fixtures


def _rows(n: int, start: int = 1) -> dict[str, list]:
    """Short rows in the paper's N-CoT format (what `reft_trl.data.load_task` returns), cheap to train on."""
    rows = {"prompt": [], "completion": [], "answer": [], "item_id": []}
    for i in range(start, start + n):
        a, b = 7**i, i  # numbers of growing length, so rows differ in length
        rows["prompt"].append(f"Question:\n{a} + {b} = ?\nAnswer reasoning:\n")
        rows["completion"].append(f"{a} + {b} = {a + b}\nTherefore, the answer is: {a + b}")
        rows["answer"].append(str(a + b))
        rows["item_id"].append(f"toy_{i}")
    return rows


@pytest.fixture
def dataset():
    return Dataset.from_dict(_rows(8))


def _args(output_dir, **overrides) -> ReFTSFTConfig:
    settings = {
        "use_cpu": True,
        "report_to": "none",
        "bf16": False,
        "gradient_checkpointing": False,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 1,
        "learning_rate": 1e-3,
        "disable_tqdm": True,
        "dataset_num_proc": None,
    }
    settings.update(overrides)
    return ReFTSFTConfig(output_dir=str(output_dir), **settings)


def _styled_tokenizer(tokenizer_path, style: str):
    """The SmolLM2 tokenizer as is, adding a BOS like Llama's, or without EOS and pad like Galactica's."""
    if style == "llama_bos":
        return AutoTokenizer.from_pretrained(tokenizer_path, add_bos_token=True)
    if style == "galactica":
        return AutoTokenizer.from_pretrained(tokenizer_path, eos_token=None, pad_token=None)
    return AutoTokenizer.from_pretrained(tokenizer_path)


# ---------------------------------------------------------------------------------------------------------------------
# Config


def test_config_defaults_are_the_papers(tmp_path):
    args = ReFTSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    assert args.learning_rate == 1e-5
    assert args.lr_scheduler_type.value == "linear"
    assert args.warmup_steps == 0.1
    assert args.get_warmup_steps(400) == 40  # 10% of all steps
    assert args.num_train_epochs == 40 and args.stop_after_epoch == 2
    assert args.save_strategy.value == "epoch" and args.save_only_model
    assert args.max_length == 1024 and args.completion_only_loss is True
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (3, 2)
    assert (args.task, args.cot) == (None, "ncot")


def test_config_docstring_matches_fields():
    assert docstring_mismatches(ReFTSFTConfig) == []


def test_docstring_helper_reports_disagreements():
    @dataclasses.dataclass
    class Toy(ReFTSFTConfig):
        """
        > Parameters

        alpha (`int`, *optional*, defaults to `3`):
            Documented with the wrong default.
        gone (`int`, *optional*, defaults to `1`):
            Documented only.
        """

        alpha: int = dataclasses.field(default=2, metadata={"help": "Alpha."})
        beta: str = dataclasses.field(default="b", metadata={"help": "Beta."})

    assert docstring_mismatches(Toy) == [
        "beta: declared but not in the docstring",
        "gone: in the docstring but not declared",
        "alpha: docstring default 3 != field default 2",
    ]


@pytest.mark.parametrize(
    ("overrides", "fix"),
    [
        ({"cot": "cot"}, "valid kinds: ncot, pcot"),
        ({"task": "asdiv"}, "valid tasks: gsm8k"),
        ({"completion_only_loss": False}, "Leave completion_only_loss at True"),
        ({"stop_after_epoch": 0}, "give a whole epoch >= 1"),
        ({"stop_after_epoch": 41}, "lower stop_after_epoch or raise num_train_epochs"),
        ({"dataset_kwargs": {"skip_prepare_dataset": True}}, "Leave it unset"),
        ({"dataset_kwargs": '{"skip_prepare_dataset": true}'}, "Leave it unset"),  # as the command line gives it
        ({"dataset_text_field": "prompt"}, "Leave dataset_text_field at 'text'"),
    ],
)
def test_config_rejects_with_the_fix(tmp_path, overrides, fix):
    with pytest.raises(ValueError, match=re.escape(fix)):
        ReFTSFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", **overrides)


# ---------------------------------------------------------------------------------------------------------------------
# Labels: loss on the completion and EOS only, for each tokenizer style


@pytest.mark.parametrize(
    ("style", "build_model"), [("smollm2", tiny_llama), ("llama_bos", tiny_llama), ("galactica", tiny_opt)]
)
def test_labels_mask_the_prompt_and_end_with_eos(tmp_path, tokenizer_path, dataset, style, build_model):
    tokenizer = _styled_tokenizer(tokenizer_path, style)
    model = build_model(len(tokenizer))
    trainer = ReFTSFTTrainer(model=model, args=_args(tmp_path), train_dataset=dataset, processing_class=tokenizer)

    if style == "galactica":  # taken from the OPT config: eos_token_id=2, pad_token_id=1
        assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (2, 1)
    eos = tokenizer.eos_token_id
    for row in trainer.train_dataset:
        prompt_ids = tokenizer(row["prompt"])["input_ids"]
        n = len(prompt_ids)
        if style == "llama_bos":
            assert prompt_ids[0] == tokenizer.bos_token_id and row["input_ids"].count(tokenizer.bos_token_id) == 1
        assert row["input_ids"][:n] == prompt_ids  # the prompt exactly as the PPO rollouts tokenize it
        assert set(row["labels"][:n]) == {-100}
        assert row["labels"][n:] == row["input_ids"][n:]
        assert row["labels"][-1] == eos and row["labels"].count(eos) == 1
        assert tokenizer.decode(row["labels"][n:]) == row["completion"]  # TRL appended the EOS text

    # The collator pads labels with -100, so the EOS label survives even where pad == EOS (SmolLM2)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    lengths = batch["attention_mask"].sum(dim=1)
    assert lengths.min() < lengths.max()  # rows of different lengths: there is padding to check
    for labels, length in zip(batch["labels"], lengths, strict=True):
        assert labels[length - 1] == eos
        assert (labels[length:] == -100).all()


def test_conversational_rows_train_on_the_assistant_turn(tmp_path, tokenizer_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    rows = _rows(2)
    chat = Dataset.from_dict(
        {
            "prompt": [[{"role": "user", "content": p}] for p in rows["prompt"]],
            "completion": [[{"role": "assistant", "content": c}] for c in rows["completion"]],
        }
    )
    trainer = ReFTSFTTrainer(
        model=tiny_llama(len(tokenizer)), args=_args(tmp_path), train_dataset=chat, processing_class=tokenizer
    )
    row, source = trainer.train_dataset[0], chat[0]
    n = len(tokenizer.apply_chat_template(source["prompt"], add_generation_prompt=True, tokenize=True)["input_ids"])
    assert set(row["labels"][:n]) == {-100}
    trained = tokenizer.decode(row["labels"][n:])
    assert trained == source["completion"][0]["content"] + "<|im_end|>\n"  # the template's turn end is the EOS


def test_a_chat_template_from_chat_template_path_must_end_the_turn_with_eos(tmp_path, tokenizer_path):
    """The template TRL installs from `chat_template_path` is checked too (after TRL has read it)."""
    template = tmp_path / "turns.jinja"
    template.write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    chat = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": "1"}]], "completion": [[{"role": "assistant", "content": "2"}]]}
    )
    for eos_token in ("<|endoftext|>", None):  # None: the tokenizer's EOS, <|im_end|>, which ends the turn
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)  # TRL sets eos_token on the tokenizer it is given
        tokenizer.chat_template = None  # only the file's template exists
        args = _args(tmp_path / "out", chat_template_path=str(template), eos_token=eos_token)
        if eos_token is not None:
            with pytest.raises(
                ValueError, match=re.escape(f"does not end the assistant turn with the EOS token {eos_token!r}")
            ):
                ReFTSFTTrainer(model=tiny_llama(256), args=args, train_dataset=chat, processing_class=tokenizer)
        else:
            trainer = ReFTSFTTrainer(model=tiny_llama(256), args=args, train_dataset=chat, processing_class=tokenizer)
            assert trainer.processing_class.chat_template == template.read_text()


def test_formatting_func_is_refused(tmp_path, tokenizer, dataset):
    with pytest.raises(ValueError, match="Format the `prompt` and `completion` columns instead"):
        ReFTSFTTrainer(
            model=tiny_llama(256),
            args=_args(tmp_path),
            train_dataset=dataset,
            processing_class=tokenizer,
            formatting_func=lambda row: row["prompt"] + row["completion"],
        )


def test_a_max_steps_that_ends_before_stop_after_epoch_is_said_at_train_begin(tmp_path, tokenizer, dataset):
    """8 rows in batches of 4: 2 optimizer steps per epoch, so epoch 2 ends at step 4. A short run is allowed, and
    told that no checkpoint will end epoch 2; a stream (no length) is told it has no epochs."""
    for train_dataset, max_steps, said in (
        (dataset, 3, r"not reached: max_steps=3 ends training at epoch 1\.50 \(2 optimizer steps per epoch\)"),
        (dataset.to_iterable_dataset(), 1, "counts passes over the data, which a dataset of unknown length"),
    ):
        args = _args(tmp_path / str(max_steps), max_steps=max_steps, save_strategy="no")
        trainer = ReFTSFTTrainer(
            model=tiny_llama(len(tokenizer)), args=args, train_dataset=train_dataset, processing_class=tokenizer
        )
        with pytest.warns(UserWarning, match=said):
            trainer.train()
        assert trainer.state.global_step == max_steps
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="stop_after_epoch")
        args = _args(tmp_path / "4", max_steps=4, save_strategy="no")  # ends epoch 2 exactly: nothing to say
        ReFTSFTTrainer(
            model=tiny_llama(len(tokenizer)), args=args, train_dataset=dataset, processing_class=tokenizer
        ).train()


def test_conversational_rows_need_a_chat_template(tmp_path, tokenizer_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    tokenizer.chat_template = None
    chat = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": "1"}]], "completion": [[{"role": "assistant", "content": "2"}]]}
    )
    with pytest.raises(ValueError, match="template='reft'"):
        ReFTSFTTrainer(model=tiny_llama(256), args=_args(tmp_path), train_dataset=chat, processing_class=tokenizer)


def test_chat_template_must_end_the_turn_with_eos(tmp_path, tokenizer_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    chat = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": "1"}]], "completion": [[{"role": "assistant", "content": "2"}]]}
    )
    args = _args(tmp_path, eos_token="<|endoftext|>")  # SmolLM2's template ends turns with <|im_end|> instead
    with pytest.raises(
        ValueError, match=re.escape("does not end the assistant turn with the EOS token '<|endoftext|>'")
    ):
        ReFTSFTTrainer(model=tiny_llama(256), args=args, train_dataset=chat, processing_class=tokenizer)


# ---------------------------------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"prompt": ["Question:\n1\n"], "answer": ["1"]}, "train_dataset has no 'completion' column"),
        ({"text": ["1"]}, "no 'prompt' or 'completion' column"),
        (
            {"prompt": ["a", "b"], "completion": ["1", None], "item_id": ["x_0", "x_1"]},
            "train_dataset row 1 (item_id 'x_1') has no 'completion'",
        ),
        ({"prompt": ["", "b"], "completion": ["1", "2"]}, "train_dataset row 0 has no 'prompt'"),
        (
            {"prompt": ["a"], "completion": ["1"], "text": ["a 1"]},
            "has a 'text' column: TRL's SFT would append the EOS",
        ),
        ({"prompt": ["a"], "completion": ["1"], "labels": [[1]]}, "has a 'labels' column"),
        ({"prompt": ["a"], "completion": ["1"], "input_ids": [[1]]}, "has a 'input_ids' column"),
        ({"prompt": ["a"], "completion": ["1"], "assistant_masks": [[1]]}, "has a 'assistant_masks' column"),
    ],
)
def test_bad_datasets_name_the_column_and_row(tmp_path, tokenizer, columns, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReFTSFTTrainer(
            model=tiny_llama(256),
            args=_args(tmp_path),
            train_dataset=Dataset.from_dict(columns),
            processing_class=tokenizer,
        )


def test_no_eos_anywhere_asks_for_eos_token(tmp_path, tokenizer_path, dataset):
    tokenizer = _styled_tokenizer(tokenizer_path, "galactica")
    model = tiny_llama(256)
    model.config.eos_token_id = None
    with pytest.raises(ValueError, match="set `eos_token` in ReFTSFTConfig"):
        ReFTSFTTrainer(model=model, args=_args(tmp_path), train_dataset=dataset, processing_class=tokenizer)


def test_args_must_be_a_reft_sft_config(tmp_path, tokenizer, dataset):
    from trl import SFTConfig

    with pytest.raises(TypeError, match="ReFTSFTConfig"):
        ReFTSFTTrainer(
            model=tiny_llama(256),
            args=SFTConfig(str(tmp_path), use_cpu=True, report_to="none"),
            train_dataset=dataset,
            processing_class=tokenizer,
        )


# ---------------------------------------------------------------------------------------------------------------------
# Training


def test_warmup_stops_at_epoch_2_on_the_40_epoch_schedule(tmp_path, tokenizer_path, dataset):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    model = tiny_llama(len(tokenizer))
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    args = _args(tmp_path / "out", logging_steps=1)  # 8 rows / 4 per step: 2 steps an epoch, 80 in the schedule
    trainer = ReFTSFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()

    assert trainer.state.global_step == 4 and trainer.state.epoch == 2
    changed = [name for name, param in trainer.model.named_parameters() if not torch.equal(param, before[name])]
    assert len(changed) == len(before)
    # Stopped inside the warm-up of the 40-epoch schedule: 4 of ceil(0.1 * 80) = 8 warm-up steps
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(1e-3 * 4 / 8)
    assert all(torch.isfinite(torch.tensor(log["loss"])) for log in trainer.state.log_history if "loss" in log)

    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    warmup = checkpoint_for_epoch(out, 2)
    assert warmup == str(out / "checkpoint-4")
    assert checkpoint_for_epoch(str(out), 1) == str(out / "checkpoint-2")
    assert not list(Path(warmup).glob("optimizer.*"))  # model-only checkpoints, as the paper saves them
    reloaded = AutoModelForCausalLM.from_pretrained(warmup)
    assert torch.equal(reloaded.model.embed_tokens.weight, trainer.model.model.embed_tokens.weight)
    assert AutoTokenizer.from_pretrained(warmup).eos_token == tokenizer.eos_token
    with pytest.raises(FileNotFoundError, match=r"ends epoch 3 \(checkpoints end epochs: 1, 2\)"):
        checkpoint_for_epoch(out, 3)


def test_opt_with_a_galactica_style_tokenizer_trains(tmp_path, tokenizer_path, dataset):
    tokenizer = _styled_tokenizer(tokenizer_path, "galactica")
    model = tiny_opt(len(tokenizer))
    before = {name: param.detach().clone() for name, param in model.named_parameters()}
    args = _args(tmp_path, num_train_epochs=1, stop_after_epoch=None)  # 2 steps; the first is warm-up at lr 0
    trainer = ReFTSFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()

    assert trainer.state.global_step == 2
    changed = [name for name, param in trainer.model.named_parameters() if not torch.equal(param, before[name])]
    assert "model.decoder.layers.0.self_attn.q_proj.weight" in changed
    assert trainer.model.config.pad_token_id == tokenizer.pad_token_id == 1
    assert checkpoint_for_epoch(tmp_path, 1) == str(tmp_path / "checkpoint-2")


# ---------------------------------------------------------------------------------------------------------------------
# Example script


def test_example_script_runs_from_a_recipe(tmp_path, tokenizer_path):
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
    model_dir = tmp_path / "tiny-llama"
    tiny_llama(len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"task: svamp\ncot: ncot\noutput_dir: {tmp_path / 'out'}\nper_device_train_batch_size: 2\n"
        "gradient_accumulation_steps: 1\nmax_length: 256\ngradient_checkpointing: false\n"
    )
    command = [sys.executable, str(EXAMPLE), "--config", str(recipe), "--model_name_or_path", str(model_dir)]
    command += ["--max_steps", "2", "--use_cpu", "--report_to", "none", "--bf16", "false", "--train_limit", "8"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(REPO)}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()
    assert (tmp_path / "out" / "tokenizer.json").is_file()
    assert "done: 2 steps" in result.stdout and "after epoch 0.5 saved" in result.stdout  # 2 of 4 steps an epoch


def test_a_dataset_text_field_no_column_has_leaves_a_text_column_alone(tmp_path, tokenizer):
    rows = Dataset.from_dict({"prompt": ["Question:\n1 + 1\n"], "completion": ["2"], "text": ["notes"]})
    with pytest.raises(ValueError, match="or set dataset_text_field to a name no column has"):
        ReFTSFTTrainer(model=tiny_llama(256), args=_args(tmp_path), train_dataset=rows, processing_class=tokenizer)
    args = _args(tmp_path, dataset_text_field="unused")
    trainer = ReFTSFTTrainer(model=tiny_llama(256), args=args, train_dataset=rows, processing_class=tokenizer)
    assert trainer.train_dataset[0]["input_ids"][-1] == tokenizer.eos_token_id  # the EOS ends the completion
