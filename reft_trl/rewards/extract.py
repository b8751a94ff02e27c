"""Find the final answer in a completion: the template's trigger (strict) or any common answer format (flexible).

N-CoT completions end with the ReFT template's trigger, `Therefore, the answer is: 18`. Strict extraction (the RL
reward) reads only the text after the last trigger. Flexible extraction (evaluating any model) then also tries
`#### 18`, `\\boxed{18}`, `The answer is 18`, `Answer: 18`, `A: 18` and finally the last number in the text.

P-CoT completions are programs `def solution(): ... return result`; the sandbox runs them and the return value
is the answer. On MathQA multiple choice the answer is an option letter a-e, written as a letter or as the
option's value (mapped back to its letter through the options parsed from the question).
"""

from __future__ import annotations

import re

from reft_trl.answer_format import ANSWER_TRIGGER, COTS, MULTIPLE_CHOICE_TASKS, NCOT, PCOT

from .compare import canonical_task, normalize_choice, parse_number

DEFAULT_PROGRAM_TIMEOUT_S = 10.0
"""Seconds a P-CoT program may run. The paper's RL script allows 2 s; 10 s leaves room on a busy shared machine."""
OPTION_VALUE_TOLERANCE = 1e-2
"""An answer written as a value picks the closest option within the numeric tasks' absolute tolerance."""

_NUMBER = re.compile(
    r"(?:(?<![\w)\].])[-\u2212])?(?:\$[-\u2212]?)?"  # a minus that is not a subtraction, and a currency sign
    r"(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)"  # digits with optional thousands commas and decimals
    r"(?:[eE][-+]?\d+(?!\w))?"  # scientific notation
    r"(?:\s?/\s?\d+(?:\.\d+)?(?![\d.]))?"  # a simple fraction
)
_OPERATOR_AFTER = re.compile(r"\s*(?:[+*/^\u00d7\u00f7]|-\s*[\w(])")
"""An operator right after the first number: the answer is an expression (`10+John's age`), not that number."""
_NUMBER_PUNCTUATION = str.maketrans({"$": None, ",": None, " ": None, "\u2212": "-"})

# Flexible formats, most specific first; each captures where the answer starts.
_HASHES = re.compile(r"####")
_ANSWER_IS = re.compile(r"\banswer is\b\s*:?", re.IGNORECASE)
_ANSWER_COLON = re.compile(r"\banswer\s*:", re.IGNORECASE)
_A_COLON = re.compile(r"^[ \t]*A\s*:", re.MULTILINE)
_BOXED = "\\boxed{"

_LATEX_NOISE = re.compile(r"\\text\{[^{}]*\}|\\mathrm\{[^{}]*\}|\\[,!;: ]|\{,\}|\\left|\\right|\$")
_LATEX_ESCAPED_SYMBOL = re.compile(r"\\([$%])")

_LETTER_FORMS = re.compile(
    r"^(?:option\s*|choice\s*)?(?:"
    r"\(([a-e])\)"  # (c)
    r"|([a-e])\s?\)"  # c )
    r"|([a-e])[.:](?:\s|$)"  # C. 30 / c:
    r"|([a-e])$"  # c
    r")",
    re.IGNORECASE,
)
_SPACED_THOUSANDS = re.compile(r"(?<=\d) , (?=\d{3}(?!\d))")
_UNIT_EXPONENT = re.compile(r"(?<=[a-z]) (?:\^ )?[23](?![\d.])")
_MIXED_NUMBER = re.compile(r"(?<![\d.])(\d+) (\d+) ?/ ?(\d+)(?![\d.])")
_TOP_LEVEL_CODE = ("def ", "import ", "from ", "@", "#", "class ")
_SOLUTION_DEF = "def solution("
_TRIPLE_QUOTES = ('"""', "'''")
_CODE_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


def extract_answer(
    completion: str,
    task: str,
    cot: str = NCOT,
    strict: bool = False,
    options: dict[str, str] | None = None,
    program_timeout: float = DEFAULT_PROGRAM_TIMEOUT_S,
) -> str | None:
    """The final answer of `completion` as a clean string (a number, LaTeX, or an option letter), or None.

    Args:
        completion: the model's text; for `cot="pcot"`, a program defining `solution()`.
        task: gsm8k, svamp, mathqa (multiple choice) or mathqa_numeric.
        cot: "ncot" (natural-language chain of thought) or "pcot" (a program, run in the sandbox).
        strict: read only the template's trigger `Therefore, the answer is:` (its last occurrence), as the RL
            reward does; otherwise also the flexible formats and, last, the final number in the text.
        options: MathQA option values by letter (`reft_trl.answer_format.parse_options_or_empty`), to map an answer
            written as a value to its letter.
        program_timeout: seconds a P-CoT program may run.

    >>> extract_answer("3 + 4 = 7 apples\\nTherefore, the answer is: 7", "gsm8k", strict=True)
    '7'
    >>> extract_answer("She makes $1,080 a week.\\n#### 1,080", "gsm8k")
    '1080'
    >>> extract_answer("Therefore, the answer is <203>.", "svamp")
    '203'
    >>> extract_answer("Therefore, the answer is <203>.", "svamp", strict=True) is None
    True
    >>> extract_answer("Therefore, the answer is: (C)", "mathqa", strict=True)
    'c'
    >>> extract_answer("Therefore, the answer is: 30", "mathqa", strict=True, options={"a": "38", "b": "30"})
    'b'
    """
    task = canonical_task(task)
    if cot == PCOT:
        from .sandbox import run_program

        return program_answer(run_program(program_source(completion), timeout=program_timeout), task, options)
    if cot != NCOT:
        raise ValueError(f"Unknown cot {cot!r}; valid: {', '.join(COTS)}.")
    if strict:
        return _answer_after_trigger(completion, task, options)
    return _flexible_answer(completion, task, options)


def with_prefilled_text(prompt, completion: str, cot: str = "ncot") -> str:
    """The answer as a reader of the model's output sees it: the text the prompt already put into the answer, then
    the completion.

    A P-CoT prompt that ends with the program's opening (`def solution():` and the question as docstring, as the
    paper's sampling force-prefixes it) makes the model write only the body; the program to run is that opening
    plus the completion. A conversation ending with an assistant message is continued the same way. Otherwise the
    completion is the whole answer.

    >>> prompt = "Question:\\nAdd.\\nAnswer reasoning:\\ndef solution():\\n    # Add.\\n"
    >>> program = with_prefilled_text(prompt, "    return 2 + 3", cot="pcot")
    >>> program.startswith("def solution():\\n"), program.endswith("\\n    return 2 + 3")
    (True, True)
    >>> with_prefilled_text("Question:\\nAdd.\\nAnswer reasoning:\\n", "2 + 3 = 5")
    '2 + 3 = 5'
    """
    if not isinstance(prompt, str):
        return (prompt[-1]["content"] if prompt and prompt[-1]["role"] == "assistant" else "") + completion
    if cot == PCOT:
        start = prompt.rfind(_SOLUTION_DEF)
        if start != -1:
            return prompt[start:] + completion
    return completion


def program_source(completion: str) -> str:
    """The program in a P-CoT completion, without the prose a model may write around it.

    A fenced code block wins. Otherwise the program runs from its first top-level `def`/`import`/`from` line to the
    end of `solution()`'s body (the first top-level line after it that is not code and not inside a triple-quoted
    string: a MathQA docstring holds the question's options on a line of their own). The paper's code cuts at the
    first blank line instead, which also cuts programs that contain one.

    >>> program_source("Here it is:\\ndef solution():\\n    x = 3\\n\\n    return x\\nThe answer is 3.")
    'def solution():\\n    x = 3\\n\\n    return x'
    >>> program_source('def solution():\\n    \"\"\"how much ?\\na ) 3 , b ) 4\"\"\"\\n    return "b"\\nSo b.')
    'def solution():\\n    \"\"\"how much ?\\na ) 3 , b ) 4\"\"\"\\n    return "b"'
    >>> program_source("```python\\ndef solution():\\n    return 3\\n```\\nDone.")
    'def solution():\\n    return 3\\n'
    """
    fenced = _CODE_FENCE.search(completion)
    if fenced:
        return fenced.group(1)
    lines = completion.split("\n")
    starts = [index for index, line in enumerate(lines) if line.startswith(_TOP_LEVEL_CODE)]
    solutions = [index for index, line in enumerate(lines) if line.startswith(_SOLUTION_DEF)]
    if not starts or not solutions:
        return completion
    in_strings = _lines_inside_strings(lines)
    end = next(
        (
            index
            for index in range(solutions[0] + 1, len(lines))
            if lines[index]
            and not lines[index][0].isspace()
            and not lines[index].startswith(_TOP_LEVEL_CODE)
            and index not in in_strings
        ),
        len(lines),
    )
    return "\n".join(lines[starts[0] : end]).rstrip()


def _lines_inside_strings(lines: list[str]) -> set[int]:
    """The indices of the lines that continue a triple-quoted string opened on an earlier line."""
    inside, quote = set(), None
    for index, line in enumerate(lines):
        if quote is not None:
            inside.add(index)
        position = 0
        while True:
            if quote is None:
                opened = [(line.find(mark, position), mark) for mark in _TRIPLE_QUOTES if mark in line[position:]]
                if not opened:
                    break
                position, quote = min(opened)
            else:
                position = line.find(quote, position)
                if position == -1:
                    break
                quote = None
            position += len(_TRIPLE_QUOTES[0])
    return inside


def program_answer(result, task: str, options: dict[str, str] | None = None) -> str | None:
    """The answer a sandbox `ProgramResult` stands for: `str(value)`, or an option letter on multiple choice.

    A failed run, or a program that returned None, has no answer. On the numeric tasks a returned string is kept
    whole (stripped) for `answers_match` to judge, so the repr of a list of candidates is not read as its first one.
    """
    task = canonical_task(task)
    if not result.ok or result.value is None:
        return None
    if task in MULTIPLE_CHOICE_TASKS:
        return _choice_in(str(result.value), options)
    return str(result.value).strip() or None


def option_number(value: str) -> float | None:
    """The number an option value states (`rs . 1 , 200` is 1200, `12 cm 2` is 12, `7 1 / 2` is 7.5), or None
    (`1 : 2`, words).

    >>> option_number("rs . 1 , 200")
    1200.0
    >>> option_number("5 / 6")
    0.8333333333333334
    >>> option_number("data inadequate") is None
    True
    """
    value = _UNIT_EXPONENT.sub("", _SPACED_THOUSANDS.sub("", value.lower()))
    value = _MIXED_NUMBER.sub(_mixed_number_as_decimal, value)
    numbers = _NUMBER.findall(value)
    if len(numbers) != 1 or ":" in value:
        return None
    return parse_number(numbers[0].translate(_NUMBER_PUNCTUATION))


def _mixed_number_as_decimal(mixed: re.Match) -> str:
    whole, numerator, denominator = (int(group) for group in mixed.groups())
    return repr(whole + numerator / denominator) if denominator else mixed.group()


def _answer_after_trigger(text: str, task: str, options: dict[str, str] | None) -> str | None:
    position = text.rfind(ANSWER_TRIGGER)
    if position == -1:
        return None
    return _answer_in_segment(_first_line(text, position + len(ANSWER_TRIGGER)), task, options)


def _flexible_answer(text: str, task: str, options: dict[str, str] | None) -> str | None:
    answer = _answer_after_trigger(text, task, options)
    if answer is not None:
        return answer
    for segment in _flexible_segments(text):
        answer = _answer_in_segment(segment, task, options)
        if answer is not None:
            return answer
    if task in MULTIPLE_CHOICE_TASKS:
        return _last_choice(text, options)
    numbers = _NUMBER.findall(text)
    return _clean_number(numbers[-1]) if numbers else None


def _flexible_segments(text: str):
    """The text after the last occurrence of each flexible answer format, most specific format first."""
    hashes = _last_match(_HASHES, text)
    if hashes is not None:
        yield _first_line(text, hashes.end())
    boxed = _last_boxed(text)
    if boxed is not None:
        yield boxed
    for pattern in (_ANSWER_IS, _ANSWER_COLON, _A_COLON):
        found = _last_match(pattern, text)
        if found is not None:
            yield _first_line(text, found.end())


def _last_match(pattern: re.Pattern, text: str) -> re.Match | None:
    last = None
    for last in pattern.finditer(text):  # noqa: B007
        pass
    return last


def _last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}`, braces balanced."""
    start = text.rfind(_BOXED)
    if start == -1:
        return None
    depth, position = 1, start + len(_BOXED)
    for index in range(position, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return text[position:index]
    return None


def _first_line(text: str, start: int) -> str:
    """The rest of the line from `start`; if that is blank, the next non-blank line (`Answer:\\n18`)."""
    rest = text[start:].lstrip()
    end = rest.find("\n")
    return rest if end == -1 else rest[:end]


def _answer_in_segment(segment: str, task: str, options: dict[str, str] | None) -> str | None:
    """The answer stated at the start of `segment` (the text after an answer marker)."""
    if task in MULTIPLE_CHOICE_TASKS:
        return _choice_in(segment, options)
    return _number_in(segment)


def _number_in(segment: str) -> str | None:
    """The number stated in `segment` (after an `=`, right of the last one), or the segment itself when it is an
    expression (LaTeX, or an operator after the first number) for `answers_match` to evaluate symbolically."""
    if "\\" in segment or "$" in segment:
        segment = _LATEX_NOISE.sub("", _LATEX_ESCAPED_SYMBOL.sub(r"\1", segment)).strip()
        if "\\" in segment:
            return segment.rstrip(".").strip() or None
    if "=" in segment:
        segment = segment.rsplit("=", 1)[1]
    found = _NUMBER.search(segment)
    if found is None:
        return None
    if _OPERATOR_AFTER.match(segment, found.end()):
        return segment.strip().rstrip(".").strip()
    return _clean_number(found.group())


def _clean_number(number: str) -> str:
    """`$1,080` as `1080`, `3 / 4` as `3/4`."""
    return number.translate(_NUMBER_PUNCTUATION)


def _choice_in(segment: str, options: dict[str, str] | None) -> str | None:
    """An option letter from `(c)`, `c )`, `C.`, `c`, or from the option's value."""
    segment = segment.strip().strip("'\"*").strip()
    letter = _LETTER_FORMS.match(segment)
    if letter is not None:
        return next(group for group in letter.groups() if group).lower()
    if not options:
        return None
    return _option_by_value(segment, options)


def _option_by_value(segment: str, options: dict[str, str]) -> str | None:
    wanted_text = _normalize_option_text(segment)
    for letter, value in options.items():
        if _normalize_option_text(value) == wanted_text:
            return letter
    wanted_number = option_number(segment)
    if wanted_number is None:
        wanted_number = parse_number(_number_in(segment))
    if wanted_number is None:
        return None
    distances = {
        letter: abs(number - wanted_number)
        for letter, number in ((letter, option_number(value)) for letter, value in options.items())
        if number is not None
    }
    closest = min(distances, key=distances.get, default=None)
    return closest if closest is not None and distances[closest] <= OPTION_VALUE_TOLERANCE else None


def _normalize_option_text(text: str) -> str:
    return " ".join(text.lower().replace(" .", ".").split()).rstrip(".")


def _last_choice(text: str, options: dict[str, str] | None) -> str | None:
    """Flexible fallback on multiple choice: the last `(c)` in the text, else the last number naming an option."""
    letters = re.findall(r"\(([a-eA-E])\)", text)
    if letters:
        return normalize_choice(letters[-1])
    if not options:
        return None
    numbers = _NUMBER.findall(text)
    return _option_by_value(_clean_number(numbers[-1]), options) if numbers else None
