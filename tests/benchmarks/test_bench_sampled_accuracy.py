"""`benchmarks/bench_sampled_accuracy.py`: sampled pass rates of a saved model, on a tiny random Llama with the real
SmolLM2 tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils import load_script, tiny_llama

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sampled_accuracy.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCHMARK)


def test_the_train_split_samples_the_first_training_questions_for_bench_learning_svamp(bench, tokenizer, tmp_path):
    """`--splits train` writes one pass@1 record per question of the first `--train_limit` training questions, with
    `--num_samples` flags each: the file `bench_learning_svamp.py --rl_pass_rates` reads."""
    from reft_trl.data import load_task
    from reft_trl.evaluation.report import read_predictions

    folder = tmp_path / "model"
    tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    output = tmp_path / "sampled"
    bench.main(
        [
            "--model", f"warm-up={folder}", "--output_dir", str(output), "--splits", "train", "--train_limit", "3",
            "--num_samples", "2", "--max_new_tokens", "4", "--batch_size", "8",
        ]
    )  # fmt: skip
    assert not (output / "warm-up" / "test").exists() and not (output / "warm-up" / "dev").exists()
    (predictions,) = (output / "warm-up" / "train").glob("*.predictions.jsonl")
    records = read_predictions(predictions)
    train = load_task("svamp", cot="pcot", split="train").select(range(3))
    assert [record["item_id"] for record in records] == train["item_id"]
    assert all(len(record["correct"]) == 2 for record in records)
    with pytest.raises(SystemExit, match="--train_limit 1000000 reaches the last 300 \\(dev\\) training questions"):
        bench.main(["--model", f"warm-up={folder}", "--output_dir", str(output), "--train_limit", "1000000"])
