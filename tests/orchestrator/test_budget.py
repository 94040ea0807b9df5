"""`budget:` requests and cost (with a price table), and the meter that enforces every budget."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import Orchestrator, SimBackend, SimConfig, Strategy, parse_task
from orchestrator.backends.base import Usage
from orchestrator.budget import Budget, Price
from orchestrator.cli import app
from orchestrator.errors import TaskFileError, UsageError

QUESTION = "How many positive divisors does 360 have?"


def sim() -> SimBackend:
    return SimBackend(SimConfig(time_scale=0, seed=2))


async def run(budget: Budget, threads: int = 8) -> object:
    async with Orchestrator(sim(), Strategy(threads=threads, max_tokens=800, seed=1), budget=budget) as orchestrator:
        return await orchestrator.run(QUESTION)


def test_a_price_costs_uncached_cached_and_generated_tokens_apart() -> None:
    price = Price(input=2.0, cached_input=0.5, output=8.0)
    assert price.cost(
        Usage(prompt_tokens=1_000_000, cached_tokens=400_000, completion_tokens=500_000)
    ) == pytest.approx(0.6 * 2.0 + 0.4 * 0.5 + 0.5 * 8.0)
    assert Price(input=1.0, output=1.0).cost(Usage(100, 0, 100)) == pytest.approx(1e-4)  # cached at the input price


def test_the_price_table_matches_the_model_then_any_model() -> None:
    budget = Budget(prices={"llama-3-8b": Price(input=1, output=2), "*": Price(input=9, output=9)})
    assert budget.price("llama-3-8b") == Price(input=1, output=2)
    assert budget.price("other") == Price(input=9, output=9)
    assert Budget().price("llama-3-8b") is None


async def test_a_request_budget_stops_the_run_before_the_next_request_is_sent() -> None:
    result = await run(Budget(requests=4))
    assert result.stopped == "the request budget was reached (4 requests sent)"
    assert result.usage.requests <= 4  # the warm-up and at most three threads were ever sent


async def test_a_cost_budget_stops_the_run_with_the_dollars_spent() -> None:
    prices = {"*": Price(input=1000.0, output=100_000.0)}  # a dollar for every 10 tokens generated
    result = await run(Budget(cost=50.0, prices=prices))
    assert result.stopped is not None and result.stopped.startswith("the cost budget of $50 was reached")
    assert result.cost is not None and 50.0 < result.cost < 90.0
    assert result.usage.completion_tokens < 8 * 800


async def test_a_run_within_its_budgets_reports_its_cost() -> None:
    prices = {
        "simulated Llama-3-8B on H200": Price(input=0.1, cached_input=0.05, output=0.4)
    }  # as the backend names it
    result = await run(Budget(requests=100, cost=10.0, tokens=10**6, prices=prices))
    usage = result.usage
    expected = ((usage.prompt_tokens - usage.cached_tokens) * 0.1 + usage.cached_tokens * 0.05) / 1e6
    assert result.stopped is None
    assert result.cost == pytest.approx(expected + usage.completion_tokens * 0.4 / 1e6, abs=1e-6)


def test_cost_without_prices_is_a_task_file_error() -> None:
    with pytest.raises(TaskFileError, match="'cost' needs a price table"):
        parse_task({"task": "q", "budget": {"cost": 1.0}})


async def test_cost_without_a_price_for_the_model_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="budget.prices: no price for model 'simulated Llama-3-8B on H200'"):
        await run(Budget(cost=1.0, prices={"gpt-4o": Price(input=1, output=1)}))


def test_the_cli_exits_3_on_a_request_budget_and_shows_cost(tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(
        "task: q\nbackend: {kind: sim, time_scale: 0}\nstrategy: {threads: 8, max_tokens: 500}\n"
        "budget: {requests: 3, cost: 100, prices: {'*': {input: 1, output: 2}}}\n"
    )
    done = CliRunner().invoke(app, ["run", str(task), "--json"])
    assert done.exit_code == 3
    assert done.stderr.startswith("error: stopped: the request budget was reached (3 requests sent)")
    result = json.loads(done.stdout)
    assert result["usage"]["requests"] <= 3 and result["cost"] > 0


async def test_the_cost_table_shows_dollars_and_the_faults_met() -> None:
    from orchestrator.report import cost_rows

    result = await run(Budget(prices={"*": Price(input=1.0, output=2.0)}), threads=2)
    faulty = result.model_copy(update={"backend": result.backend.model_copy(update={"stats": {"retries": 3}})})
    rows = dict(cost_rows(faulty))
    assert rows["cost"] == f"${result.cost:,.4f}" and rows["retried requests"] == "3"
    assert "retried requests" not in dict(cost_rows(result))
