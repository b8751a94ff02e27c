"""The paper's text formats: exact strings and the program prefix."""

import doctest

import pytest

import reft_trl.data
from reft_trl.data import builder, errors, gsm8k, mathqa, reading, svamp, templates
from reft_trl.data.templates import (
    ANSWER_TRIGGER,
    PROMPT_TEMPLATE,
    format_ncot_target,
    format_pcot_target,
    format_prompt,
    program_prefix,
    split_program,
)


def test_prompt_template_is_the_papers():
    assert PROMPT_TEMPLATE == "Question:\n{question}\nAnswer reasoning:\n"
    assert format_prompt("  How many apples?\n") == "Question:\nHow many apples?\nAnswer reasoning:\n"


def test_prompt_keeps_braces_in_the_question():
    assert format_prompt("Is {x} a set?") == "Question:\nIs {x} a set?\nAnswer reasoning:\n"


def test_ncot_target_appends_the_answer_trigger_like_the_papers_code():
    assert ANSWER_TRIGGER == "Therefore, the answer is:"
    answer_cot, answer_value = "  16 - 3 - 4 = 9 eggs.\n9 * 2 = 18 dollars.\n\n", "18"
    expected = answer_cot.strip() + "\nTherefore, the answer is: " + answer_value
    assert format_ncot_target(answer_cot, answer_value) == expected


def test_pcot_target_is_the_program():
    program = 'def solution():\n    """Q"""\n    result = 1\n    return result'
    assert format_pcot_target(program + "\n\n") == program


def test_program_prefix_exact_string():
    assert program_prefix("How many pens?") == 'def solution():\n    """How many pens?"""'


def test_split_program_returns_docstring_and_body():
    program = program_prefix("Q?") + "\n    result = 2\n    return result"
    assert split_program(program) == ("Q?", "\n    result = 2\n    return result")
    with pytest.raises(ValueError, match="def solution"):
        split_program("result = 2")


@pytest.mark.parametrize(
    "module", [reft_trl.data, builder, errors, gsm8k, mathqa, reading, svamp, templates], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
