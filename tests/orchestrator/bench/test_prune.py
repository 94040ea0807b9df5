"""`orchestrate bench prune` on a small fixture, and the reference figures on the real ESC traces."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.cli import app
from orchestrator.traces import load_traces

ROOT = Path(__file__).resolve().parents[3]
SMALL = ROOT / "tests" / "fixtures" / "traces_small.jsonl"
ESC = ROOT / ".." / "shared" / "data" / "traces" / "esc_gpt35_last_letters.jsonl"


def bench(traces: Path, strategy: str, out: Path, *extra: str) -> tuple[int, str, list[dict]]:
    args = ["bench", "prune", "--traces", str(traces), "--strategy", strategy, "--out", str(out), *extra]
    result = CliRunner().invoke(app, args)
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return result.exit_code, result.output, lines


def test_cons_on_the_fixture_writes_one_line_per_problem_in_order(tmp_path: Path) -> None:
    status, output, lines = bench(SMALL, "cons", tmp_path / "out.jsonl")
    assert status == 0, output
    assert [line["index"] for line in lines] == [0, 1, 2]
    samples = [problem.samples for problem in load_traces(SMALL)]
    assert [line["tokens"] for line in lines] == [sum(len(s.text.split()) for s in group) for group in samples]
    assert all(line["started"] == line["finished"] == 4 for line in lines)
    assert [line["answer"] for line in lines] == ["akl", "amz", "seo"]
    assert "REPLAY" in output and "accuracy" in output and "1.000" in output


def test_esc_on_the_fixture_generates_fewer_words_than_cons(tmp_path: Path) -> None:
    _, _, cons = bench(SMALL, "cons", tmp_path / "cons.jsonl")
    status, _, esc = bench(SMALL, "esc", tmp_path / "esc.jsonl")
    assert status == 0 and sum(line["tokens"] for line in esc) <= sum(line["tokens"] for line in cons)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "bogus"], "unknown strategy 'bogus'"),
        (["--strategy", "deepconf"], "needs token log-probabilities"),
        (["--traces", "/no/such/file.jsonl"], "no such"),
        (["--limit", "0"], "limit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    defaults = {"--traces": str(SMALL), "--strategy": "cons", "--out": str(tmp_path / "o.jsonl")}
    pairs = dict(zip(args[::2], args[1::2], strict=True))
    argv = ["bench", "prune", *[item for key, value in (defaults | pairs).items() for item in (key, value)]]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 2 and message in result.output


@pytest.mark.skipif(not ESC.exists(), reason="../shared/data is not present")
def test_cons_reproduces_the_reference_on_the_esc_traces(tmp_path: Path) -> None:
    status, output, lines = bench(ESC, "cons", tmp_path / "cons.jsonl")
    assert status == 0, output
    assert len(lines) == 500
    assert sum(line["correct"] for line in lines) / 500 == pytest.approx(0.816)
    assert sum(line["tokens"] for line in lines) == 731_570


@pytest.mark.skipif(not ESC.exists(), reason="../shared/data is not present")
def test_esc_matches_the_published_saving_on_the_esc_traces(tmp_path: Path) -> None:
    _, _, lines = bench(ESC, "esc", tmp_path / "esc.jsonl")
    assert sum(line["correct"] for line in lines) / 500 == pytest.approx(0.816, abs=0.004)
    assert 1 - sum(line["tokens"] for line in lines) / 731_570 == pytest.approx(0.764, abs=0.01)
    assert sum(line["started"] for line in lines) / 500 == pytest.approx(9.5, abs=0.2)


@pytest.mark.skipif(not ESC.exists(), reason="../shared/data is not present")
def test_deepprune_meets_the_target_on_the_esc_traces(tmp_path: Path) -> None:
    _, _, lines = bench(ESC, "deepprune", tmp_path / "deepprune.jsonl")
    assert sum(line["correct"] for line in lines) / 500 >= 0.816
    assert 1 - sum(line["tokens"] for line in lines) / 731_570 >= 0.85
    assert sum(line["pruned"] for line in lines) > 0
