"""Answer extraction, normalisation and voting.

`extract_answer` finds the final answer in a reasoning trace, in this order of preference:

1. in the visible part (after the last `</think>`, or the whole text when there is no think block):
   the last complete `\\boxed{...}` / `\\fbox{...}` (nested braces allowed), else the last
   "the (final) answer is X" / "Answer: X" phrase (X up to the end of its sentence or line),
   else the last non-empty line when it is short and does not read as reasoning;
2. inside the think block (finished or cut off): only the last complete `\\boxed{...}` counts.

`normalize_answer` applies the small rules of `_NORMALIZERS`, in that order, so that equal
answers written differently vote together. `majority_vote` and `weighted_vote` count normalised
answers; a tie goes to the answer seen first (as the ESC reference code's stable sort does).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

__all__ = ["Vote", "answer_pattern", "extract_answer", "majority_vote", "normalize_answer", "weighted_vote"]

_THINK_OPEN = "<think>"
_THINK_CLOSE = "</think>"
_MAX_LINE_ANSWER = 40
_QUOTES = "'\"`\u2018\u2019\u201c\u201d"

# --- extraction ---------------------------------------------------------------------------------

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*")
_BARE_BOX_ARGUMENT = re.compile(r"[^\s${}]+")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.DOTALL)
_PHRASE = re.compile(r"\b(?:final\s+)?answer\**\s*(?:is\b\s*:?|:)\s*\**", re.IGNORECASE)
_HAS_WORD = re.compile(r"\w")
_SENTENCE_END = re.compile(r"\.(?=\s|$)")
_NOT_AN_ANSWER_LINE = re.compile(
    r"^(?:wait|but|so|let|hmm|then|now|first|next|therefore|thus|hence|because|since|if|we|i|"
    r"okay|ok|alright|step)\b|\banswer\b|[:?,;]$|\.\.\.$|</?\w+>|\\(?:boxed|fbox)\b",
    re.IGNORECASE,
)
_DOUBLE_QUOTES = '"\u201c\u201d'
_SINGLE_QUOTES = "'\u2018\u2019`"


def extract_answer(text: str, pattern: re.Pattern[str] | None = None) -> str | None:
    """The final answer in a reasoning trace, or None if it has none.

    With `pattern`, the answer is its last match in the visible text (group 1 if it has groups).
    """
    reasoning, visible = _split_think(text)
    if pattern is not None:
        return _last_match(pattern, visible)
    return _answer_in(visible) or _last_boxed(reasoning)


def answer_pattern(regex: str) -> re.Pattern[str]:
    """A user's answer regex, compiled case-insensitively; `ValueError` with the reason when invalid."""
    try:
        compiled = re.compile(regex, re.IGNORECASE)
    except re.error as error:
        raise ValueError(f"invalid answer pattern: {error}") from None
    if compiled.groups > 1:
        raise ValueError("the answer pattern may have at most one group, the answer")
    return compiled


def _last_match(pattern: re.Pattern[str], text: str) -> str | None:
    matches = list(pattern.finditer(text))
    for match in reversed(matches):
        if answer := _clean(match.group(1) if pattern.groups else match.group(0)).strip(_QUOTES):
            return answer
    return None


def _split_think(text: str) -> tuple[str, str]:
    """(reasoning, visible): the think-block text, and the text a reader of the reply sees."""
    before_close, _, after_close = text.rpartition(_THINK_CLOSE)
    visible, _, unfinished = after_close.partition(_THINK_OPEN)
    return before_close + unfinished, visible


def _answer_in(visible: str) -> str | None:
    return _last_boxed(visible) or _last_phrase(visible) or _last_line(visible)


def _last_boxed(text: str) -> str | None:
    boxes = list(_BOX.finditer(text))
    closing = _closing_braces(text) if boxes else {}
    for box in reversed(boxes):
        if argument := _clean(_box_argument(text, box.end(), closing) or ""):
            return argument
    return None


def _box_argument(text: str, start: int, closing: dict[int, int]) -> str | None:
    if text.startswith("{", start):
        end = closing.get(start)
        return None if end is None else text[start + 1 : end]
    bare = _BARE_BOX_ARGUMENT.match(text, start)
    return bare.group() if bare and start > 0 and text[start - 1].isspace() else None


def _closing_braces(text: str) -> dict[int, int]:
    """Where each `{` of `text` closes; unclosed ones are absent. Escaped braces are skipped."""
    closing: dict[int, int] = {}
    opened: list[int] = []
    for token in _BRACE_TOKEN.finditer(text):
        if token.group() == "{":
            opened.append(token.start())
        elif token.group() == "}" and opened:
            closing[opened.pop()] = token.start()
    return closing


def _last_phrase(text: str) -> str | None:
    for phrase in reversed(list(_PHRASE.finditer(text))):
        line = text[phrase.end() :].lstrip().partition("\n")[0]
        if answer := _clean(_SENTENCE_END.split(line, maxsplit=1)[0]):
            return answer
    return None


def _last_line(text: str) -> str | None:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or _NOT_AN_ANSWER_LINE.search(lines[-1].strip()):
        return None
    answer = _clean(lines[-1])
    return answer if _HAS_WORD.search(answer) and len(answer) <= _MAX_LINE_ANSWER else None


Span = tuple[int, int]
"""A window `text[start:end]` of an answer, as (start, end)."""


def _clean(answer: str) -> str:
    """`answer` without surrounding space, trailing period, `$`, `**`, quotes (to a fixed point).

    Works on a window of `answer` rather than on copies, so a long run of wrappers costs linear time.
    """
    span = (0, len(answer))
    while True:
        trimmed = _trim(answer, *span)
        unwrapped = _unwrap_once(answer, *trimmed) or trimmed
        if unwrapped == span:
            return answer[span[0] : span[1]]
        span = unwrapped


def _trim(text: str, start: int, end: int) -> Span:
    """The window without surrounding whitespace and one trailing period (then whitespace again)."""
    start, end = _strip(text, start, end)
    if end > start and text[end - 1] == ".":
        end -= 1
    return _strip(text, start, end)


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _unwrap_once(text: str, start: int, end: int) -> Span | None:
    """The inside of the first wrapper around `text[start:end]` that applies, or None."""
    return (
        _dollars(text, start, end)
        or _delimited(text, start, end, "\\(", "\\)")
        or _delimited(text, start, end, "\\[", "\\]")
        or _stars(text, start, end)
        or _quoted(text, start, end, _DOUBLE_QUOTES)
        or _quoted(text, start, end, _SINGLE_QUOTES)
    )


def _dollars(text: str, start: int, end: int) -> Span | None:
    """`$x$` or `$$x$$` (one or two on each side) around an `x` with no `$`."""
    if end - start < 2 or text[start] != "$" or text[end - 1] != "$":
        return None
    for lead in (2, 1) if text[start + 1] == "$" else (1,):
        inside = start + lead
        closing = text.find("$", inside, end)
        closing = end if closing < 0 else closing
        if 1 <= end - closing <= 2 and text.count("$", closing, end) == end - closing:
            return inside, closing
    return None


def _delimited(text: str, start: int, end: int, opening: str, closing: str) -> Span | None:
    if end - start >= 4 and text.startswith(opening, start, end) and text.endswith(closing, start, end):
        return start + 2, end - 2
    return None


def _stars(text: str, start: int, end: int) -> Span | None:
    """`*x*` or `**x**`: one or two stars on each side, as many as fit (markdown emphasis)."""
    size = end - start
    if size < 2 or text[start] != "*" or text[end - 1] != "*":
        return None
    for lead in (2, 1) if text[start + 1] == "*" else (1,):
        for tail in (2, 1):
            if size - lead - tail >= 0 and (tail == 1 or text[end - 2] == "*"):
                return start + lead, end - tail
    return None


def _quoted(text: str, start: int, end: int, quotes: str) -> Span | None:
    if end - start >= 2 and text[start] in quotes and text[end - 1] in quotes:
        return start + 1, end - 1
    return None


# --- normalisation ------------------------------------------------------------------------------

_TEXT_MACRO = re.compile(r"\\(?:boxed|fbox|text|textbf|textrm|textit|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_LAYOUT_MACRO = re.compile(r"\\(?:left|right|displaystyle)(?![A-Za-z])|\\[!,;:]")
_SPACE_MACRO = re.compile(r"\\q?quad(?![A-Za-z])|\\ ")
_DEGREES = re.compile(r"\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree(?![A-Za-z]))")
_WHITESPACE = re.compile(r"\s+")
_MATH_SPACE = re.compile(r"\s*([\\{}()\[\]^_+\-*/=,<>|])\s*")
_UNIT = re.compile(
    r"(?P<number>[+-]?[\d.,]+(?:/\d+)?)\s*(?:cm|mm|km|m|kg|mg|g|s|sec|seconds?|mins?|minutes?|"
    r"hrs?|hours?|days?|weeks?|years?|degrees?|units?|inch|inches|feet|foot|ft|meters?|metres?|"
    r"miles?|dollars?|cents?|grams?|liters?|litres?)(?:\^\{?[23]\}?)?"
)
_ASSIGNMENT = re.compile(r"[a-z]=(?P<value>[^=]+)")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_PERCENT = re.compile(r"(?P<number>[+-]?[\d.]+)(?:\\?%|percent)")
_CHOICE = re.compile(r"(?:option|choice)?\s*\(?(?P<letter>[a-z])\)")
_OPTION = re.compile(r"(?:option|choice)\s*(?P<letter>[a-z])")
_FRAC_VARIANT = re.compile(r"\\[dt]frac(?![A-Za-z])")
_FRACTIONS = (
    re.compile(r"(?P<sign>[+-]?)\\frac\{(?P<num>[+-]?\d+)\}\{(?P<den>[+-]?\d+)\}"),
    re.compile(r"(?P<sign>[+-]?)\\frac(?P<num>\d)(?P<den>\d)"),
    re.compile(r"(?P<sign>)(?P<num>[+-]?\d+)/(?P<den>[+-]?\d+)"),
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_MAX_NORMALIZE_PASSES = 8
_MAX_FRACTION_DIGITS = 1_000


def normalize_answer(answer: str) -> str:
    """A canonical form, so equal answers written differently vote together; idempotent.

    The rules run in order, again until nothing changes (a later rule can uncover work for an
    earlier one: `'"0"°'` loses its degree sign, then its quotes), at most `_MAX_NORMALIZE_PASSES` times.
    """
    for _ in range(_MAX_NORMALIZE_PASSES):
        previous = answer
        for rule in _NORMALIZERS:
            answer = rule(answer)
        if answer == previous:
            break
    return answer


def _unwrap_text_macros(answer: str) -> str:
    previous = None
    while answer != previous:
        previous, answer = answer, _TEXT_MACRO.sub(r"\1", answer)
    return answer


def _drop_layout_macros(answer: str) -> str:
    return _SPACE_MACRO.sub(" ", _LAYOUT_MACRO.sub("", answer))


def _drop_degrees(answer: str) -> str:
    return _DEGREES.sub("", answer)


def _casefold(answer: str) -> str:
    return answer.casefold()


def _collapse_whitespace(answer: str) -> str:
    return _WHITESPACE.sub(" ", answer).strip()


def _tighten_math_spacing(answer: str) -> str:
    """No space next to a LaTeX command, brace, bracket, operator or comma: `2, 3` is `2,3`."""
    return _MATH_SPACE.sub(r"\1", answer)


def _drop_units(answer: str) -> str:
    unit = _UNIT.fullmatch(answer)
    return unit.group("number") if unit else answer


def _drop_assignment(answer: str) -> str:
    """`x=5` is `5` (a single-letter variable on the left, nothing else assigned)."""
    assignment = _ASSIGNMENT.fullmatch(answer)
    return assignment.group("value") if assignment else answer


def _drop_thousands_separators(answer: str) -> str:
    answer = answer.replace("{,}", ",")
    return answer.replace(",", "") if _THOUSANDS.fullmatch(answer) else answer


def _percent_to_number(answer: str) -> str:
    percent = _PERCENT.fullmatch(answer)
    return percent.group("number") if percent else answer


def _choice_letter(answer: str) -> str:
    choice = _CHOICE.fullmatch(answer) or _OPTION.fullmatch(answer)
    return choice.group("letter") if choice else answer


def _canonical_fraction(answer: str) -> str:
    """`\\frac{6}{4}` and `6/4` -> `3/2`, `4/2` -> `2`; `\\dfrac` and `\\tfrac` are `\\frac`."""
    answer = _FRAC_VARIANT.sub(r"\\frac", answer)
    fraction = next(filter(None, (pattern.fullmatch(answer) for pattern in _FRACTIONS)), None)
    if fraction is None or len(fraction["num"]) + len(fraction["den"]) > _MAX_FRACTION_DIGITS:
        return answer
    if int(fraction["den"]) == 0:
        return answer
    value = Fraction(int(fraction["num"]), int(fraction["den"]))
    return str(-value if fraction["sign"] == "-" else value)


def _canonical_number(answer: str) -> str:
    """`42.0` -> `42`, `0.50` -> `0.5`, `+3` -> `3`, `-0` -> `0`; every digit kept, however many."""
    if not _NUMBER.fullmatch(answer):
        return answer
    value = Decimal(answer)
    return "0" if value == 0 else format(value.normalize(Context(prec=len(answer))), "f")


_NORMALIZERS: tuple[Callable[[str], str], ...] = (
    _unwrap_text_macros,
    _drop_layout_macros,
    _clean,
    _drop_degrees,
    _casefold,
    _collapse_whitespace,
    _tighten_math_spacing,
    _drop_units,
    _drop_assignment,
    _drop_thousands_separators,
    _percent_to_number,
    _choice_letter,
    _canonical_fraction,
    _canonical_number,
)

# --- voting -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vote:
    """The outcome of a vote over the answers of N threads.

    `answer` is the first-seen form of the winning class (None when no thread answered);
    `counts` maps each normalised answer to its number of votes, in ranking order, the winner
    first; `support` is the winner's share of the (weighted) votes of the threads that answered.
    """

    answer: str | None
    counts: dict[str, int]
    support: float
    answered: int


@dataclass(slots=True)
class _Tally:
    first_form: str
    first_seen: int
    votes: int = 0
    weight: float = 0.0


def majority_vote(answers: Sequence[str | None]) -> Vote:
    """Majority over normalised answers; a tie goes to the answer seen first."""
    return weighted_vote(answers, [1.0] * len(answers))


def weighted_vote(answers: Sequence[str | None], weights: Sequence[float]) -> Vote:
    """Like `majority_vote`, each answer counting its weight (e.g. a DeepConf confidence)."""
    _check_weights(answers, weights)
    ranked = sorted(_tallies(answers, weights).items(), key=_rank)
    if not ranked:
        return Vote(answer=None, counts={}, support=0.0, answered=0)
    total = sum(tally.weight for _, tally in ranked)
    winner = ranked[0][1]
    return Vote(
        answer=winner.first_form,
        counts={key: tally.votes for key, tally in ranked},
        support=winner.weight / total if total > 0 else 0.0,
        answered=sum(tally.votes for _, tally in ranked),
    )


def _check_weights(answers: Sequence[str | None], weights: Sequence[float]) -> None:
    if len(answers) != len(weights):
        raise ValueError(f"{len(answers)} answers but {len(weights)} weights")
    if not all(weight >= 0 for weight in weights):
        raise ValueError("weights must be non-negative numbers")


def _tallies(answers: Sequence[str | None], weights: Sequence[float]) -> dict[str, _Tally]:
    """Normalised answer -> its tally, in first-seen order; None and empty answers are skipped."""
    tallies: dict[str, _Tally] = {}
    for index, (answer, weight) in enumerate(zip(answers, weights, strict=True)):
        if answer is None or not (key := normalize_answer(answer)):
            continue
        tally = tallies.setdefault(key, _Tally(first_form=answer, first_seen=index))
        tally.votes, tally.weight = tally.votes + 1, tally.weight + weight
    return tallies


def _rank(item: tuple[str, _Tally]) -> tuple[float, int]:
    return -item[1].weight, item[1].first_seen
