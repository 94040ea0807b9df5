"""Protocols inside a step against plain sequential generation of the same tokens, on the simulator.

For each protocol, every problem runs as one thread (`Strategy(threads=1, protocol=...)`) on a fresh
simulated SGLang server (llama-3-8b on an H200 by default; `time_scale=0`, so time is the simulator's
clock, not this machine's). The sequential arm then generates the same number of tokens T as one
stream on the same prompt prefix, on a fresh server. Reported per protocol, summed over problems:

    tokens        T, all tokens the protocol generated (equal in the sequential arm by construction)
    critical      tokens on the longest chain of requests (the token latency); sequential: T
    latency x     T / critical: the token-latency speedup
    sim s         simulated seconds, protocol and sequential; wall x is their ratio
    cached        share of prompt tokens served from the radix cache (warm-up included)
    requests      per problem
    kept          wall x / latency x: how much of the token-latency speedup the server keeps
    re-prefill    Hogwild only: uncached prompt tokens per synced step, the simulated prefill pass that
                  recomputes them, and at most what share of the protocol's time such passes take

The simulator plays a model trained on each format (scripted: how a problem splits, how long each
thread is); it measures what the orchestration costs and saves on a server (requests, prefix reuse,
batching, critical path), not whether a real model decomposes a problem well or stays accurate.

    python benchmarks/protocols.py [--problems ../shared/data/problems/aime_2025.jsonl] [--limit 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

from orchestrator import Orchestrator, SimBackend, SimConfig, Strategy
from orchestrator.backends.sim import TimingModel
from orchestrator.backends.sim.script import ScriptOutput, ScriptRequest
from orchestrator.protocols import HogwildConfig, ProtocolConfig, SkeletonConfig, ThreadWeaverConfig
from orchestrator.result import RunResult
from orchestrator.strategies import build_protocol

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "problems" / "aime_2025.jsonl"
BUILT_IN = [
    "How many positive divisors does 360 have?",
    "Find the remainder when 2^100 is divided by 7.",
    "How many ways can 8 people sit around a round table if two of them must not sit together?",
    "Find the sum of all positive integers n < 100 such that n^2 + 1 is divisible by 5.",
    "A box has 4 red and 6 blue balls. Two are drawn without replacement. What is the probability both are red?",
    "Find the number of integer solutions of x + y + z = 10 with x, y, z >= 0.",
]
ARMS: dict[str, ProtocolConfig] = {
    "threadweaver": ThreadWeaverConfig(),
    "multiverse": ThreadWeaverConfig(format="multiverse"),
    "parallel-r1": ThreadWeaverConfig(format="parallel-r1"),
    "sot": SkeletonConfig(),
    "hogwild x2": HogwildConfig(workers=2),
    "hogwild x4": HogwildConfig(workers=4),
}
MAX_TOKENS = 16384


class Filler:
    """Sequential generation: text longer than any arm needs, cut at exactly T tokens by `max_tokens`."""

    name = "filler"

    def matches(self, prompt: str) -> bool:
        return True

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(" step" * (request.params.max_tokens + 1))


@dataclass
class Arm:
    tokens: int = 0
    critical: int = 0
    protocol_s: float = 0.0
    sequential_s: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    requests: int = 0
    problems: int = 0
    reprefill: list[float] = field(default_factory=list)
    reprefill_s: float = 0.0

    def row(self, name: str) -> dict[str, Any]:
        return {
            "protocol": name,
            "tokens": self.tokens,
            "critical": self.critical,
            "latency_x": round(self.tokens / self.critical, 2),
            "protocol_sim_s": round(self.protocol_s, 2),
            "sequential_sim_s": round(self.sequential_s, 2),
            "wall_x": round(self.sequential_s / self.protocol_s, 2),
            "cached_share": round(self.cached_tokens / self.prompt_tokens, 3),
            "requests_per_problem": round(self.requests / self.problems, 1),
            "reprefill_tokens_per_step": round(mean(self.reprefill), 1) if self.reprefill else None,
            "reprefill_share": round(self.reprefill_s / self.protocol_s, 3) if self.reprefill else None,
        }


def problems(path: Path | None, limit: int) -> list[str]:
    if path is None or not path.exists():
        return BUILT_IN[:limit]
    lines = path.read_text().splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()][:limit]


async def timed(backend: SimBackend, strategy: Strategy, task: str) -> tuple[RunResult, float]:
    """Run `task` as one thread; the simulated seconds the server took."""
    async with Orchestrator(backend, strategy) as orchestrator:
        result = await orchestrator.run(task)
    return result, backend.stats()["sim_clock_s"]


async def measure(config: ProtocolConfig, task: str, seed: int, arm: Arm) -> None:
    strategy = Strategy(threads=1, protocol=config, seed=seed, max_tokens=MAX_TOKENS)
    result, protocol_s = await timed(SimBackend(SimConfig(time_scale=0, seed=seed)), strategy, task)
    tokens = result.usage.completion_tokens
    prefix = build_protocol(config).prefix(strategy.render(task))
    sequential = Strategy(threads=1, seed=seed, max_tokens=tokens, prompt="{task}")
    _, sequential_s = await timed(
        SimBackend(SimConfig(time_scale=0, seed=seed), scripts=[Filler()]), sequential, prefix
    )
    usage, thread = result.usage, result.threads[0]
    arm.tokens += tokens
    arm.critical += result.critical_path_tokens
    arm.protocol_s += protocol_s
    arm.sequential_s += sequential_s
    arm.prompt_tokens += usage.prompt_tokens
    arm.cached_tokens += usage.cached_tokens
    arm.requests += usage.requests
    arm.problems += 1
    if config.name == "hogwild":
        per_step = (thread.prompt_tokens - thread.cached_tokens) / thread.requests
        arm.reprefill.append(per_step)
        arm.reprefill_s += thread.requests * reprefill_ms(per_step) / 1000


async def bench(tasks: list[str]) -> list[dict[str, Any]]:
    rows = []
    for name, config in ARMS.items():
        arm = Arm()
        for seed, task in enumerate(tasks):
            await measure(config, task, seed, arm)
        rows.append(arm.row(name))
    return rows


def reprefill_ms(tokens: float) -> float:
    """The simulated prefill pass that recomputes `tokens` uncached prompt tokens."""
    return 1000 * TimingModel.preset("llama-3-8b", "h200").prefill_seconds(round(tokens))


def markdown(rows: list[dict[str, Any]]) -> str:
    head = (
        "| protocol | tokens | critical | latency x | sim s (protocol / sequential) | wall x | kept | cached "
        "| requests | re-prefill / synced step |"
    )
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        tokens = r["reprefill_tokens_per_step"]
        reprefill = (
            ""
            if tokens is None
            else f"{tokens:.0f} tokens, {reprefill_ms(tokens):.1f} ms (<= {r['reprefill_share']:.0%})"
        )
        lines.append(
            f"| {r['protocol']} | {r['tokens']:,} | {r['critical']:,} | {r['latency_x']:.2f}x | "
            f"{r['protocol_sim_s']:.2f} / {r['sequential_sim_s']:.2f} | {r['wall_x']:.2f}x | {r['wall_x'] / r['latency_x']:.0%} | "
            f"{r['cached_share']:.0%} | {r['requests_per_problem']} | {reprefill} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=Path, default=DATA, help="JSONL with a 'question' per line")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    tasks = problems(args.problems, args.limit)
    source = args.problems if args.problems and args.problems.exists() else "built-in problems"
    rows = asyncio.run(bench(tasks))
    print(f"SIMULATED (llama-3-8b on H200 timing model): {len(tasks)} problems from {source}, one thread each\n")
    print(markdown(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
