from pathlib import Path

import pytest

from orchestrator.errors import TaskFileError
from orchestrator.spec import DEFAULT_PROMPT, Strategy, TaskSpec, load_task, parse_task

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "configs" / "examples").glob("*.yaml"))


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "task.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def load_error(tmp_path: Path, text: str | bytes) -> TaskFileError:
    with pytest.raises(TaskFileError) as caught:
        load_task(write(tmp_path, text))
    return caught.value


def test_minimal_task_gets_the_documented_defaults(tmp_path: Path) -> None:
    spec = load_task(write(tmp_path, "task: What is 2+2?\n"))
    assert spec.task == "What is 2+2?"
    assert spec.backend.kind == "sim"
    assert (spec.strategy.threads, spec.strategy.max_tokens, spec.strategy.temperature) == (8, 2048, 0.7)


def test_full_task_file_is_read(tmp_path: Path) -> None:
    text = "task: q\nbackend: {kind: sim, seed: 3, time_scale: 0}\nstrategy: {threads: 4, max_tokens: 64, temperature: 0}\n"
    spec = load_task(write(tmp_path, text))
    assert spec.backend.seed == 3 and spec.backend.time_scale == 0
    assert spec.strategy == Strategy(threads=4, max_tokens=64, temperature=0)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_shipped_examples_are_valid(example: Path) -> None:
    assert isinstance(load_task(example), TaskSpec)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="nope.yaml: no such file"):
        load_task(tmp_path / "nope.yaml")


def test_a_directory_is_not_a_task_file(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match="not a regular file"):
        load_task(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("task: [unclosed\n", "not valid YAML (line 2"),
        ("- task: a list\n", "expected a mapping"),
        ("just a string\n", "expected a mapping of keys"),
        (b"task: \xff\xfe\n", "not UTF-8"),
    ],
)
def test_unparseable_files_give_one_line(tmp_path: Path, text: str | bytes, expected: str) -> None:
    error = load_error(tmp_path, text)
    assert expected in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("tusk: typo\n", "task", "required key is missing"),
        ("task: q\nstrategy: {thread: 4}\n", "strategy.thread", "unknown key (allowed: threads, max_tokens"),
        ("task: q\ncolour: red\n", "colour", "unknown key (allowed: task, backend, strategy, limits, plan"),
        ("task: q\nstrategy: {threads: many}\n", "strategy.threads", "valid integer"),
        ("task: q\nstrategy: {threads: 0}\n", "strategy.threads", "greater than or equal to 1"),
        ("task: q\nstrategy: {temperature: -1}\n", "strategy.temperature", "greater than or equal to 0"),
        ("task: q\nstrategy: {max_tokens: 99999999999}\n", "strategy.max_tokens", "less than or equal"),
        ("task: q\nbackend: {kind: tpu}\n", "backend.kind", "expected tags: 'sim', 'sglang', 'openai'"),
        ("task: q\nbackend: {kind: sglang, urll: x}\n", "backend.urll", "unknown key (allowed: kind, url,"),
        ("task: q\nbackend: {kind: openai, base_url: 'ftp://x'}\n", "backend.base_url", "http:// or https://"),
        ("task: q\nlimits: {retries: -1}\n", "limits.retries", "greater than or equal to 0"),
        ("task: q\nbackend: {kind: sim, model: gpt-9}\n", "backend.model", "llama-3-8b"),
        ("task: ''\n", "task", "at least 1 character"),
        ("task: q\nstrategy: {prompt: no placeholder}\n", "strategy.prompt", "must contain {task}"),
    ],
)
def test_invalid_fields_are_named(tmp_path: Path, text: str, field: str, expected: str) -> None:
    error = load_error(tmp_path, text)
    assert error.field == field
    assert expected in str(error)
    assert str(error).startswith(f"{tmp_path / 'task.yaml'}: {field}: ")


def test_every_backend_kind_is_read(tmp_path: Path) -> None:
    sglang = load_task(write(tmp_path, "task: q\nbackend: {kind: sglang, url: 'http://127.0.0.1:30001'}\n"))
    assert sglang.backend.kind == "sglang" and sglang.backend.url == "http://127.0.0.1:30001"
    hosted = "task: q\nbackend: {kind: openai, base_url: 'https://api.example.com/v1', model: m, api: chat}\n"
    openai = load_task(write(tmp_path, hosted))
    assert openai.backend.kind == "openai" and openai.backend.api == "chat"
    assert load_task(write(tmp_path, "task: q\nbackend: {seed: 4}\n")).backend.kind == "sim"


def test_limits_are_read(tmp_path: Path) -> None:
    spec = load_task(write(tmp_path, "task: q\nlimits: {concurrency: 16, retries: 4, run_timeout_s: 60}\n"))
    assert (spec.limits.concurrency, spec.limits.retries, spec.limits.run_timeout_s) == (16, 4, 60)


def test_several_problems_are_counted_not_listed(tmp_path: Path) -> None:
    error = load_error(tmp_path, "task: q\nstrategy: {threads: 0, temperature: 9}\n")
    assert "(and 1 more problem)" in str(error)


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    error = load_error(tmp_path, "task: " + "x" * 1_100_000 + "\n")
    assert "larger than" in str(error)


def test_prompt_template_is_rendered_verbatim() -> None:
    assert Strategy().render("Q?") == DEFAULT_PROMPT.replace("{task}", "Q?")
    assert Strategy(prompt="{task} \\boxed{}").render("a {b}") == "a {b} \\boxed{}"


def test_parse_task_accepts_python_data() -> None:
    assert parse_task({"task": "q", "strategy": {"threads": 2}}).strategy.threads == 2
