import pytest
from datasets import Dataset
from transformers import OPTConfig

from reft_trl.trainers.tokenization import drop_long_prompts, fill_special_tokens, prompt_length


def test_long_prompts_are_dropped_with_a_warning(tokenizer):
    dataset = Dataset.from_dict({"prompt": ["1+1=", "1+1=" * 50, "2+2="]})
    assert prompt_length(tokenizer, "1+1=") == 4
    with pytest.warns(UserWarning, match="Dropped 1 of 3"):
        kept = drop_long_prompts(dataset, tokenizer, max_prompt_length=10)
    assert kept["prompt"] == ["1+1=", "2+2="]
    assert drop_long_prompts(dataset, tokenizer, max_prompt_length=None) is dataset


def test_conversational_prompts_are_measured_through_the_chat_template(tokenizer):
    conversation = [{"role": "user", "content": "1+1="}]
    assert prompt_length(tokenizer, conversation) > prompt_length(tokenizer, "1+1=")


def test_galactica_style_tokenizer_gets_eos_and_pad_from_the_config(tokenizer_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tokenizer_path)
    bare.eos_token, bare.pad_token = None, None
    fill_special_tokens(bare, OPTConfig(eos_token_id=2, pad_token_id=1))
    assert (bare.eos_token_id, bare.pad_token_id) == (2, 1)

    bare.eos_token, bare.pad_token = None, None
    with pytest.raises(ValueError, match="eos_token"):
        fill_special_tokens(bare, OPTConfig(eos_token_id=None, pad_token_id=None))


def test_pad_falls_back_to_eos(tokenizer_path):
    from transformers import AutoTokenizer

    bare = AutoTokenizer.from_pretrained(tokenizer_path)
    bare.pad_token = None
    fill_special_tokens(bare, OPTConfig(eos_token_id=2, pad_token_id=None))
    assert bare.pad_token_id == bare.eos_token_id == 2
