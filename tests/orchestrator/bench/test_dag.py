"""`orchestrate bench dag`: FanOutQA decompositions as plans, timed against their critical path."""

import gc
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator.bench.dag import ANSWER_STEP, bounds, load_fanoutqa, question_plan
from orchestrator.cli import app
from orchestrator.errors import UsageError

ROOT = Path(__file__).resolve().parents[3]
SMALL = ROOT / "tests" / "fixtures" / "fanoutqa_small.json"
FANOUTQA = ROOT / ".." / "shared" / "data" / "dag" / "fanoutqa_dev.json"
LATENCY = 0.03
IDS = ["7dcbbbdc7f1120cd", "146e74771fcf6a30", "220852c6d47dfd38"]


@pytest.fixture(autouse=True)
def no_gc_pauses() -> Iterator[None]:
    """A full garbage collection of this process (openai, pydantic, rich loaded) takes ~0.1 s: keep it out of timings."""
    gc.freeze()
    yield
    gc.unfreeze()


def bench(*args: str | Path) -> tuple[int, str, list[dict[str, object]]]:
    out = Path(str(args[args.index("--out") + 1])) if "--out" in args else None
    result = CliRunner().invoke(app, ["bench", "dag", *map(str, args)])
    lines = [json.loads(line) for line in out.read_text().splitlines()] if out and out.exists() else []
    return result.exit_code, result.output, lines


def test_a_leaf_is_a_kb_step_and_a_decomposed_sub_question_a_join_of_its_children() -> None:
    nested = question_plan(load_fanoutqa(SMALL)[1])
    plan = nested.plan
    assert plan["93eb87032052f333"].tool == plan["0d9c703f21fbaa9f"].tool == "kb"
    parent = plan["6568223c5e9ea149"]
    assert parent.tool == "join" and set(parent.needs()) == {
        "93eb87032052f333", "0d9c703f21fbaa9f", "be7cb5a3a15f64c2", "335cb618fa511cf0", "51b142918607b867",
    }  # fmt: skip
    assert plan.sinks() == [ANSWER_STEP] and plan.dependencies(ANSWER_STEP) == ["93eb87032052f333", "6568223c5e9ea149"]
    assert nested.entries["0d9c703f21fbaa9f"] == ["Steve Chen", "Chad Hurley", "Jawed Karim"] and nested.leaves() == 5


@pytest.mark.parametrize(("index", "critical", "sequential"), [(0, 2, 4), (1, 2, 5), (2, 1, 3)])
def test_bounds_are_the_most_leaves_on_one_chain_and_all_leaves(index: int, critical: int, sequential: int) -> None:
    plan = question_plan(load_fanoutqa(SMALL)[index])
    assert bounds(plan, 0.5) == (critical * 0.5, sequential * 0.5)


def test_the_fixture_runs_one_line_per_question_in_order(tmp_path: Path) -> None:
    status, output, lines = bench("--fanoutqa", SMALL, "--latency", str(LATENCY), "--out", tmp_path / "out.jsonl")
    assert status == 0, output
    assert [line["id"] for line in lines] == IDS
    assert [line["steps"] for line in lines] == [5, 7, 4] and [line["done"] for line in lines] == [5, 7, 4]
    for line in lines:
        assert set(line) >= {"id", "makespan_s", "critical_path_s", "sequential_s", "steps"}
        assert line["critical_path_s"] - 1e-3 <= line["makespan_s"] < line["critical_path_s"] + 0.5 * LATENCY  # type: ignore[operator]
    assert [line["critical_path_s"] for line in lines] == pytest.approx([2 * LATENCY, 2 * LATENCY, LATENCY])
    assert [line["sequential_s"] for line in lines] == pytest.approx([4 * LATENCY, 5 * LATENCY, 3 * LATENCY])


def test_the_summary_compares_the_makespan_with_the_bound(tmp_path: Path) -> None:
    _, output, _ = bench("--fanoutqa", SMALL, "--latency", str(LATENCY), "--out", tmp_path / "out.jsonl")
    assert "bench dag: 3 questions" in output and "[real asyncio timing on this machine]" in output
    for row in ("steps", "makespan (sum)", "critical-path bound (sum)", "5 L", "12 L", "speedup over one at a time"):
        assert row in output
    assert "(ideal 2.40x)" in output


def test_limit_runs_only_the_first_questions(tmp_path: Path) -> None:
    status, _, lines = bench("--fanoutqa", SMALL, "--latency", "0", "--out", tmp_path / "o.jsonl", "--limit", "2")
    assert status == 0 and [line["id"] for line in lines] == IDS[:2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read: No such file or directory"),
        ("{not json", "not JSON"),
        ('{"questions": []}', "expected a JSON list of questions"),
        ('[{"id": "q"}]', "question 1: decomposition: Field required"),
        ('[{"id": "q", "decomposition": []}, 3]', "question 2: Input should be a valid dictionary"),
        ('[{"id": "q", "decomposition": [{"question": "no id"}]}]', "question 1: decomposition.0.id: Field required"),
    ],
)
def test_a_bad_file_exits_2_with_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "fanoutqa.json"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(app, ["bench", "dag", "--fanoutqa", str(path), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr


@pytest.mark.parametrize(
    ("decomposition", "message"),
    [
        ([{"id": "a", "depends_on": ["zz"]}], "question 'q': step 'a' depends on unknown step 'zz'"),
        ([{"id": "a b"}], "question 'q': step 'a b': id: String should match pattern"),
        ([{"id": "a"}, {"id": "a"}], "question 'q': step 'a' is defined twice"),
        ([{"id": "a", "depends_on": ["b"]}, {"id": "b", "depends_on": ["a"]}], "question 'q': the plan has a cycle: "),
    ],
)
def test_a_decomposition_that_is_not_a_plan_exits_2_before_anything_runs(
    tmp_path: Path, decomposition: list[dict[str, object]], message: str
) -> None:
    path, out = tmp_path / "fanoutqa.json", tmp_path / "o.jsonl"
    path.write_text(
        json.dumps([{"id": "fine", "decomposition": [{"id": "x"}]}, {"id": "q", "decomposition": decomposition}])
    )
    result = CliRunner().invoke(app, ["bench", "dag", "--fanoutqa", str(path), "--out", str(out)])
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1 and out.read_text() == ""


def test_an_unwritable_out_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "dag", "--fanoutqa", str(SMALL), "--out", str(tmp_path / "no" / "o.jsonl")]
    )
    assert result.exit_code == 1 and "cannot write" in result.stderr and result.stderr.count("\n") == 1


def test_load_fanoutqa_raises_usage_error_for_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_fanoutqa(tmp_path)


@pytest.mark.skipif(not FANOUTQA.exists(), reason="../shared/data is not present")
def test_the_dev_set_gives_the_published_bounds() -> None:
    plans = [question_plan(question) for question in load_fanoutqa(FANOUTQA)]
    critical, sequential = map(sum, zip(*(bounds(plan, 1.0) for plan in plans), strict=True))
    assert len(plans) == 310 and critical == 606 and sequential / critical == pytest.approx(3.58, abs=0.01)


@pytest.mark.skipif(not FANOUTQA.exists(), reason="../shared/data is not present")
def test_the_first_dev_questions_run_near_their_bound(tmp_path: Path) -> None:
    status, output, lines = bench(
        "--fanoutqa", FANOUTQA, "--latency", "0.02", "--out", tmp_path / "o.jsonl", "--limit", "5"
    )
    assert status == 0, output
    assert len(lines) == 5 and all(line["done"] == line["steps"] for line in lines)
    makespan, bound = sum(line["makespan_s"] for line in lines), sum(line["critical_path_s"] for line in lines)  # type: ignore[misc]
    assert bound <= makespan + 1e-3 and makespan < bound * 1.25
