"""`benchmarks/bench_evaluation.py` on a tiny random Llama with the real SmolLM2 tokenizer: a LoRA adapter merged into
its base, the development split's questions, each decoding timed and compared with the first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.utils import load_script, tiny_llama

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_evaluation.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(BENCHMARK)


@pytest.fixture
def base_and_adapter(tokenizer, tmp_path):
    from peft import LoraConfig, get_peft_model

    base = tmp_path / "base"
    tiny_llama(len(tokenizer), tie_word_embeddings=False).save_pretrained(base)
    tokenizer.save_pretrained(base)
    adapted = get_peft_model(
        tiny_llama(len(tokenizer), tie_word_embeddings=False), LoraConfig(r=2, target_modules="all-linear")
    )
    for name, parameter in adapted.named_parameters():
        if "lora_B" in name:  # PEFT starts B at zero (no change); this adapter changes every product
            torch.nn.init.normal_(parameter, std=0.5)
    adapted.save_pretrained(tmp_path / "adapter")
    return base, tmp_path / "adapter", adapted


def test_the_adapter_is_merged_into_its_base(bench, base_and_adapter):
    base, adapter, adapted = base_and_adapter
    model, dtype = bench.load_model(str(base), str(adapter), "float32")
    assert dtype == "float32" and not hasattr(model, "peft_config")
    ids = torch.tensor([[1, 5, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, adapted.eval()(ids).logits, rtol=1e-4, atol=1e-4)
    with pytest.raises(SystemExit, match="holds a LoRA adapter"):
        bench.load_model(str(adapter), None, "float32")


def test_dev_questions_are_the_learning_benchmarks(bench):
    from argparse import Namespace

    from reft_trl.data import load_task

    question_ranges = load_script(BENCHMARK.parent / "bench_learning_svamp.py").question_ranges

    train = load_task("svamp", cot="pcot", split="train", program_prefix_in_prompt=True)
    dev = question_ranges(Namespace(dev_size=3, train_limit=1, rl_start=0, rl_limit=0), len(train))[2]
    questions = bench.load_questions("dev", 3)
    assert questions["item_id"] == train.select(dev)["item_id"]
    assert questions["prompt"] == train.select(dev)["prompt"]
    assert len(bench.load_questions("test", 5)) == 5
    with pytest.raises(SystemExit):
        bench.parse_args(["--split", "dev"])


def test_each_decoding_is_timed_and_compared_with_the_first(bench, base_and_adapter, tmp_path, monkeypatch):
    from reft_trl import fused_llama

    base, adapter, _ = base_and_adapter
    built = []
    original = fused_llama.FusedLlamaDecoder.__init__

    def counted(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(fused_llama.FusedLlamaDecoder, "__init__", counted)
    decoders_before = []
    monkeypatch.setattr(
        bench, "measure", lambda *args, measure=bench.measure: decoders_before.append(len(built)) or measure(*args)
    )
    output = tmp_path / "evaluation.json"
    report = bench.main(
        ["--model", str(base), "--adapter", str(adapter), "--split", "dev", "--limit", "3", "--dtype", "float32",
         "--decodings", "shrinking", "fused", "--batch_size", "2", "--max_new_tokens", "5", "--output", str(output)]
    )  # fmt: skip
    assert json.loads(output.read_text())["results"] == report["results"]
    assert report["questions"] == 3 and report["weights"] == "float32" and report["split"] == "dev"
    shrinking, fused = report["results"]
    assert [shrinking["decoding"], fused["decoding"]] == ["shrinking", "fused"]
    for result in (shrinking, fused):
        assert len(result["scores"]) == 3 and result["tokens"] > 0 and result["generation_s"] > 0
        assert "completions" not in result
    assert decoders_before == [0, 0] and built  # "shrinking" built no fused decoder, "fused" did
    assert fused["same_completions"] == 1.0  # float32 greedy: the fused forward picks transformers' tokens
    assert fused["paired_vs_first"]["difference"] == 0.0
    assert fused["speedup_vs_first"] == pytest.approx(shrinking["generation_s"] / fused["generation_s"])


def test_decodings_are_the_libraries_but_auto(bench):
    from reft_trl.generation import HF_DECODINGS

    assert set(bench.DECODINGS) == set(HF_DECODINGS) - {"auto"}
