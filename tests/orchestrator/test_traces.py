"""Tests of recorded-trace files (orchestrator.traces)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.errors import TaskFileError
from orchestrator.traces import TraceProblem, TraceSample, dump_traces, has_logprobs, load_traces

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = FIXTURES / "traces_small.jsonl"
LOGPROBS = FIXTURES / "traces_logprobs.jsonl"
ESC = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"

SAMPLE = {"text": "It is 4.", "tokens": ["It", " is", " 4", "."], "logprobs": [-0.1, -0.2, -0.3, -0.4]}


def write_lines(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "traces.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def problem(**fields: object) -> dict[str, object]:
    return {"question": "What is 2 plus 2?", "answer": "4", "samples": [SAMPLE], **fields}


def test_reads_the_esc_format() -> None:
    problems = load_traces(SMALL)
    assert len(problems) == 3 and all(len(p.samples) == 4 for p in problems)
    first = problems[0]
    assert first.question.startswith("Q: Take the last letters") and first.answer == "akl"
    assert first.samples[3].text.endswith("The answer is aol.") and first.samples[0].tokens is None
    assert has_logprobs(problems) is False


def test_reads_the_own_format_with_tokens_and_logprobs() -> None:
    problems = load_traces(LOGPROBS)
    sample = problems[0].samples[0]
    assert sample.tokens is not None and "".join(sample.tokens) == sample.text
    assert sample.logprobs is not None and len(sample.logprobs) == len(sample.tokens)
    assert sample.top_logprobs is not None and sample.top_logprobs[0] == [-0.02, -4.1]
    assert has_logprobs(problems) is True


def test_formats_are_told_apart_per_line(tmp_path: Path) -> None:
    esc = {"question": "Q: ab?", "answer": "b", "generated_answer": ["b", "a"], "extra": 1}
    problems = load_traces(write_lines(tmp_path, esc, "", problem()))
    assert [len(p.samples) for p in problems] == [2, 1]
    assert problems[0].samples[1] == TraceSample(text="a")
    assert has_logprobs(problems) is False


def test_answers_may_be_numbers_or_absent(tmp_path: Path) -> None:
    lines = [problem(answer=18.0), problem(answer=7), problem(answer=2.5), problem(answer=None)]
    no_answer = {"question": "q", "samples": [{"text": "t"}]}
    answers = [p.answer for p in load_traces(write_lines(tmp_path, *lines, no_answer))]
    assert answers == ["18", "7", "2.5", None, None]


def test_dump_writes_the_own_format_and_reads_back_equal(tmp_path: Path) -> None:
    problems = [*load_traces(SMALL), *load_traces(LOGPROBS), TraceProblem(question="q", samples=[TraceSample(text="")])]
    path = tmp_path / "out.jsonl"
    dump_traces(problems, path)
    assert load_traces(path) == problems
    first = json.loads(path.read_text().splitlines()[0])
    assert set(first) == {"question", "answer", "samples"} and first["samples"][0] == {
        "text": problems[0].samples[0].text
    }


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ((), "has no traces"),
        (("", "  "), "has no traces"),
        (("{not json",), "line 1: not valid JSON"),
        (("[1, 2]",), "line 1: expected a JSON object, got list"),
        (({"question": "q", "answer": "a"},), "line 1: unknown format"),
        ((problem(), problem(samples=[{**SAMPLE, "text": "It is 5."}])), "line 2: samples.0: the tokens do not join"),
        ((problem(samples=[{**SAMPLE, "logprobs": [-0.1]}]),), "line 1: samples.0: 1 logprobs for 4 tokens"),
        ((problem(samples=[{"text": "x", "logprobs": [-0.1]}]),), "line 1: samples.0: logprobs need tokens"),
        ((problem(samples=[{**SAMPLE, "top_logprobs": [[-0.1]]}]),), "1 top_logprobs for 4 logprobs"),
        ((problem(samples=[{"text": "x", "tokens": ["x"], "top_logprobs": [[-1.0]]}]),), "top_logprobs need logprobs"),
        ((problem(samples=[]),), "line 1: samples:"),
        ((problem(question=""),), "line 1: question:"),
        ((problem(samples=[{"text": "x", "score": 1}]),), "line 1: samples.0.score:"),
        (({"question": "q", "generated_answer": "x"},), "line 1: generated_answer:"),
        (({"question": "q", "generated_answer": ["a", 3]},), "line 1: generated_answer.1:"),
    ],
)
def test_every_problem_is_a_one_line_task_file_error(tmp_path: Path, lines: tuple[object, ...], message: str) -> None:
    path = write_lines(tmp_path, *lines)
    with pytest.raises(TaskFileError) as caught:
        load_traces(path)
    assert message in str(caught.value) and str(caught.value).startswith(str(path))
    assert "\n" not in str(caught.value)


def test_a_missing_file_or_a_folder_is_a_task_file_error(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="no such trace file"):
        load_traces(tmp_path / "absent.jsonl")
    with pytest.raises(TaskFileError, match="not a file"):
        load_traces(tmp_path)


def test_text_that_is_not_utf8_is_a_task_file_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "caf\xe9", "generated_answer": ["x"]}\n')
    with pytest.raises(TaskFileError, match="not UTF-8"):
        load_traces(path)


def test_the_shared_esc_file_loads_whole() -> None:
    if not ESC.is_file():
        pytest.skip(f"{ESC} is absent")
    problems = load_traces(ESC)
    assert len(problems) == 500 and {len(p.samples) for p in problems} == {40}
    assert all(p.answer for p in problems) and has_logprobs(problems) is False
