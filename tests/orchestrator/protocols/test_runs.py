"""Protocols as a user runs them: task files, the outer fan-out with stopping and pruning, and over HTTP."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from orchestrator import CompletionRequest, Lane, Orchestrator, SamplingParams, SimBackend, SimConfig, Strategy, Trace
from orchestrator.backends.openai import OpenAIBackend, OpenAIConfig
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.cli import app
from orchestrator.result import ThreadStatus
from orchestrator.simserver import SimServer
from orchestrator.spec import load_task

EXAMPLES = Path(__file__).resolve().parents[3] / "configs" / "examples"
TASK = "How many positive divisors does 360 have?"
PROTOCOLS = ["threadweaver", "sot", "hogwild"]


@pytest.mark.parametrize("name", PROTOCOLS)
def test_each_example_runs_and_reports_its_protocol_per_step(tmp_path: Path, name: str) -> None:
    spec = load_task(EXAMPLES / f"{name}.yaml")
    fast = spec.model_copy(update={"backend": SimConfig(time_scale=0, seed=1)}).model_dump(mode="json")
    task = tmp_path / "task.json"
    task.write_text(json.dumps(fast))
    done = CliRunner().invoke(app, ["run", str(task), "--json", "--quiet"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    reasoning = result["steps"][0]["reasoning"]
    assert reasoning["protocol"] == name and reasoning["rounds"] >= 1
    assert reasoning["requests"] > spec.strategy.threads + 1 and reasoning["cached_tokens"] > 0
    assert reasoning["critical_path_tokens"] < reasoning["completion_tokens"]
    assert result["answer"] is not None


@pytest.mark.parametrize("name", PROTOCOLS)
async def test_a_protocol_composes_with_early_stopping_and_pruning(name: str) -> None:
    strategy = Strategy(threads=10, protocol=name, seed=2, stop="esc", prune="features")
    async with Orchestrator(SimBackend(SimConfig(time_scale=0, answers={"24": 0.98, "20": 0.02})), strategy) as o:
        result = await o.run(TASK)
    assert result.answer == "24" and result.settled_early
    assert len(result.threads) < 10 or result.count(ThreadStatus.ABORTED, ThreadStatus.PRUNED) > 0
    assert sum(thread.requests for thread in result.threads) + 1 == result.usage.requests


@pytest.mark.parametrize("name", PROTOCOLS)
@pytest.mark.parametrize("client", ["sglang", "openai"])
async def test_every_protocol_runs_over_http_on_sim_server_with_the_prefix_cached(name: str, client: str) -> None:
    async with SimServer(SimConfig(time_scale=0, seed=4)) as server:
        backend = (
            SGLangBackend(SGLangConfig(url=server.url))
            if client == "sglang"
            else OpenAIBackend(OpenAIConfig(base_url=f"{server.url}/v1"))
        )
        async with Orchestrator(backend, Strategy(threads=2, protocol=name, seed=3)) as orchestrator:
            result = await orchestrator.run(TASK)
    reasoning = result.steps[0].reasoning
    assert result.answer is not None and reasoning is not None and reasoning.rounds >= 1
    assert reasoning.cached_share > 0.5 and all(not thread.notes for thread in result.threads if name != "hogwild")


class DraftThenCheck:
    """A protocol of one's own: a draft, then a second request that continues it on the shared prefix."""

    name = "draft-then-check"

    def prefix(self, prompt: str) -> str:
        return prompt

    async def run(self, lane: Lane, prompt: str, params: SamplingParams) -> Trace:
        draft = await lane.generate(CompletionRequest(prompt, replace(params, max_tokens=40)))
        check = await lane.generate(CompletionRequest(prompt + draft.text + "\nCheck:", params), shown=draft.text)
        text = f"{draft.text}\nCheck:{check.text}"
        return Trace(text, check.finish, draft.tokens + check.tokens, rounds=2, error=check.error)


async def test_a_protocol_of_ones_own_plugs_into_the_orchestrator() -> None:
    backend = SimBackend(SimConfig(time_scale=0, answers={"24": 1.0}))
    async with Orchestrator(backend, Strategy(threads=3, seed=1), protocol=DraftThenCheck()) as orchestrator:
        result = await orchestrator.run(TASK)
    reasoning = result.steps[0].reasoning
    assert reasoning is not None and (reasoning.protocol, reasoning.rounds, reasoning.requests) == (
        "draft-then-check",
        2,
        7,
    )
    assert result.answer == "24" and all("\nCheck:" in thread.text for thread in result.threads)
