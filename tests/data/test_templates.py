"""The paper's text formats: exact strings, the program prefix, MathQA options on every real row."""

import doctest
import json
from importlib.resources import files

import pytest

import reft_trl.data
from reft_trl.data import builder, errors, gsm8k, mathqa, reading, svamp, templates
from reft_trl.data.templates import (
    ANSWER_TRIGGER,
    PROMPT_TEMPLATE,
    format_ncot_target,
    format_pcot_target,
    format_prompt,
    parse_options,
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
    assert program_prefix("How many pens?") == 'def solution():\n    """How many pens?"""\n'


def test_split_program_returns_docstring_and_body():
    program = program_prefix("Q?") + "    result = 2\n    return result"
    assert split_program(program) == ("Q?", "    result = 2\n    return result")
    with pytest.raises(ValueError, match="def solution"):
        split_program("result = 2")


def test_parse_options_plain_line():
    question = "what is it ?\na ) 38 , b ) 27.675 , c ) 30 , d ) data inadequate , e ) none of these"
    assert parse_options(question) == {
        "a": "38",
        "b": "27.675",
        "c": "30",
        "d": "data inadequate",
        "e": "none of these",
    }


def test_parse_options_values_with_commas_and_spaces():
    question = "q ?\na ) 1 , 200 , b ) rs . 1200 , c ) 30 , 10 , d ) 1,000 , e ) 4 , 2"
    assert parse_options(question) == {"a": "1 , 200", "b": "rs . 1200", "c": "30 , 10", "d": "1,000", "e": "4 , 2"}


def test_parse_options_python_list_and_repeated_letters():
    assert parse_options("q ?\n['a ) 12', 'b ) 15 / 8 ohms', 'c ) 10', 'd ) 8', 'e ) 14']")["b"] == "15 / 8 ohms"
    repeated = "q ?\na ) a ) 2 , b ) b ) 5 , c ) c ) 7 , d ) d ) 5 , e ) e ) 8"
    assert parse_options(repeated) == {"a": "2", "b": "5", "c": "7", "d": "5", "e": "8"}


def test_parse_options_accepts_an_options_string_alone():
    assert parse_options("a ) rs . 400 , b ) rs . 300 , c ) 5") == {"a": "rs . 400", "b": "rs . 300", "c": "5"}


def test_parse_options_rejects_text_without_options():
    with pytest.raises(ValueError, match="no multiple-choice options"):
        parse_options("what is 2 + 3 ?")


def test_parse_options_on_every_bundled_mathqa_row():
    rows = json.loads((files("reft_trl.data") / "bundled" / "mathqa" / "reft_test_set.json").read_text("utf-8"))
    assert len(rows) == 1605
    for row in rows:
        options = parse_options(row["question"])
        assert list(options) == ["a", "b", "c", "d", "e"], row["item_id"]
        assert all(value for value in options.values()), row["item_id"]
        assert not any(value.startswith(f"{letter} )") for letter, value in options.items()), row["item_id"]


@pytest.mark.parametrize(
    "module", [reft_trl.data, builder, errors, gsm8k, mathqa, reading, svamp, templates], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
