"""Recorded reasoning traces: many sampled answers per question, read from JSONL for replay.

One JSON object per line; blank lines are skipped. Two formats, told apart on each line by its keys:

- ESC (Li et al., "Escape Sky-high Cost", ICLR 2024): `{"question": str, "answer": str,
  "generated_answer": [str, ...]}`, one sample text per entry; other keys are ignored.
- orchestrate traces, which can carry log-probabilities:

      {"question": "Q: Take the last letters of ...",
       "answer": "yajo",
       "samples": [
         {"text": "The answer is yajo.",
          "tokens": ["The", " answer", " is", " ya", "jo", "."],
          "logprobs": [-0.01, -0.2, -0.05, -1.3, -0.4, -0.02],
          "top_logprobs": [[-0.01, -4.7], [-0.2, -1.8], [-0.05, -3.1], [-0.6, -1.3], [-0.4, -1.1], [-0.02, -4.0]]},
         {"text": "It is yajo."}
       ]}

  `question` (non-empty) and `samples` (at least one) are required; `answer` is the gold answer, or
  null or absent when unknown (numbers are read as text). Per sample, `text` is required; `tokens`
  is the output cut into the model's tokens (they must join to exactly `text`; a token may be empty,
  e.g. the end-of-sequence token); `logprobs` (one per token, so `tokens` is required with them) are
  the sampled tokens' log-probabilities; `top_logprobs` (one list per token, needs `logprobs`) are the
  most likely candidates' log-probabilities at each position, sorted descending. No other keys.

`load_traces` raises `TaskFileError` naming the line for every problem; `dump_traces` writes the
orchestrate format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from orchestrator.errors import TaskFileError


class TraceSample(BaseModel):
    """One recorded output: its text and, optionally, its tokens and their log-probabilities."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    tokens: list[str] | None = None
    logprobs: list[float] | None = None
    top_logprobs: list[list[float]] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.tokens is not None and "".join(self.tokens) != self.text:
            raise ValueError("the tokens do not join to the text")
        _check_per_token(self.tokens, self.logprobs, "logprobs", "tokens")
        _check_per_token(self.logprobs, self.top_logprobs, "top_logprobs", "logprobs")
        return self


class TraceProblem(BaseModel):
    """A question, its gold answer if known, and the samples recorded for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    answer: str | None = None
    samples: list[TraceSample] = Field(min_length=1)

    @field_validator("answer", mode="before")
    @classmethod
    def _number_as_text(cls, answer: Any) -> Any:
        if isinstance(answer, float) and answer.is_integer():
            return str(int(answer))
        return str(answer) if isinstance(answer, int | float) and not isinstance(answer, bool) else answer


def load_traces(path: str | Path) -> list[TraceProblem]:
    """Every problem in a JSONL trace file (ESC or orchestrate format, per line)."""
    name = str(path)
    problems = [_problem(name, number, line) for number, line in _lines(Path(path))]
    if not problems:
        raise TaskFileError(name, "the trace file has no traces")
    return problems


def dump_traces(problems: Iterable[TraceProblem], path: str | Path) -> None:
    """Write problems as orchestrate-format JSONL, one problem per line."""
    lines = (json.dumps(problem.model_dump(exclude_none=True), ensure_ascii=False) + "\n" for problem in problems)
    with Path(path).open("w", encoding="utf-8") as out:
        out.writelines(lines)


def has_logprobs(problems: Iterable[TraceProblem]) -> bool:
    """True when there is a sample and every sample carries log-probabilities."""
    samples = [sample for problem in problems for sample in problem.samples]
    return bool(samples) and all(sample.logprobs is not None for sample in samples)


def _check_per_token(base: list[Any] | None, values: list[Any] | None, name: str, base_name: str) -> None:
    if values is None:
        return
    if base is None:
        raise ValueError(f"{name} need {base_name}")
    if len(values) != len(base):
        raise ValueError(f"{len(values)} {name} for {len(base)} {base_name}")


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    name = str(path)
    if not path.exists():
        raise TaskFileError(name, "no such trace file")
    if not path.is_file():
        raise TaskFileError(name, "not a file")
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    yield number, line
    except UnicodeDecodeError as exc:
        raise TaskFileError(name, f"not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise TaskFileError(name, f"cannot read the file ({exc.strerror or exc})") from None


def _problem(path: str, number: int, line: str) -> TraceProblem:
    data = _json(path, number, line)
    esc = "samples" not in data
    if esc and "generated_answer" not in data:
        raise TaskFileError(path, f"line {number}: unknown format: expected a 'samples' or 'generated_answer' key")
    try:
        return TraceProblem.model_validate(_from_esc(data) if esc else data)
    except ValidationError as exc:
        raise TaskFileError(path, f"line {number}: {_first_error(exc, esc)}") from None


def _json(path: str, number: int, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TaskFileError(path, f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise TaskFileError(path, f"line {number}: expected a JSON object, got {type(data).__name__}")
    return data


def _from_esc(data: dict[str, Any]) -> dict[str, Any]:
    texts = data["generated_answer"]
    samples = [{"text": text} for text in texts] if isinstance(texts, list) else texts
    return {"question": data.get("question"), "answer": data.get("answer"), "samples": samples}


def _first_error(exc: ValidationError, esc: bool) -> str:
    error = exc.errors()[0]
    loc = tuple(error["loc"])
    if esc and loc[:1] == ("samples",):
        loc = ("generated_answer", *loc[1:2])
    where = ".".join(map(str, loc))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
