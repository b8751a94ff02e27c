from reft_trl.trainers.ppo_config import ReFTPPOConfig
from tests.utils import docstring_mismatches


def test_docstring_and_fields_agree():
    assert docstring_mismatches(ReFTPPOConfig) == []
