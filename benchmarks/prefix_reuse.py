"""Prefix reuse over HTTP: naive concurrent fan-out against warm-up-then-fan-out, on `sim-server`.

N threads share one ~2,000-token prompt. The SGLang native client talks to the simulated SGLang
server over real HTTP on 127.0.0.1:
  naive    all N requests sent at once: requests that land in the same prefill batch each compute
           the prefix (SGLang's fcfs policy matches the radix tree when a batch is formed);
  warm-up  the prefix is sent first with max_new_tokens 0, then the N threads: each finds all but
           the last prompt token cached. The ideal cached share is N * (P - 1) / ((N + 1) * P).
Reported per arm: cached share of prompt tokens, prefill tokens computed, simulated GPU seconds, wall
time and median time to first token. Every figure is from the simulator, not from a GPU.

    python benchmarks/prefix_reuse.py [--threads 8 32] [--prefix-tokens 2000] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import CompletionRequest, SamplingParams, SimConfig, TextChunk
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.simserver import SimServer
from orchestrator.threads import warm_prefix

SECTION = (
    "Section {i}. The committee reviewed the quarterly figures for region {i}, noting that revenue "
    "rose while costs held steady, and asked for a breakdown by product line and by month. "
)
QUESTION = "\n\nQuestion: across all sections, how many regions were reviewed? Think step by step and answer in \\boxed{}."


@dataclass
class Arm:
    name: str
    threads: int
    prompt_tokens: int
    cached_tokens: int
    prefill_tokens: int
    gpu_s: float
    wall_s: float
    ttft_s: float

    @property
    def cached_share(self) -> float:
        return self.cached_tokens / self.prompt_tokens


def shared_prompt(tokens: int, count: Callable[[str], int]) -> str:
    """A document of about `tokens` tokens (as the server's tokenizer counts them) and a question."""
    sections: list[str] = []
    while count("".join(sections) + QUESTION) < tokens:
        sections.append(SECTION.format(i=len(sections) + 1))
    return "".join(sections) + QUESTION


async def thread(client: SGLangBackend, prompt: str, seed: int, max_tokens: int) -> float:
    """Stream one thread; return its time to first token."""
    started = time.perf_counter()
    first: float | None = None
    request = CompletionRequest(prompt, SamplingParams(max_tokens=max_tokens, seed=seed))
    async for event in client.stream(request):
        if first is None and isinstance(event, TextChunk):
            first = time.perf_counter() - started
    return first if first is not None else time.perf_counter() - started


async def arm(name: str, threads: int, prefix_tokens: int, max_tokens: int, time_scale: float) -> Arm:
    async with SimServer(SimConfig(time_scale=time_scale, seed=5)) as server:
        prompt = shared_prompt(prefix_tokens, server.backend.tokenizer.count)
        client = SGLangBackend(SGLangConfig(kind="sglang", url=server.url))
        try:
            started = time.perf_counter()
            if name == "warm-up":
                await warm_prefix(client, prompt)
            ttfts = await asyncio.gather(*(thread(client, prompt, i, max_tokens) for i in range(threads)))
            wall = time.perf_counter() - started
        finally:
            await client.close()
        stats = server.backend.stats()
    return Arm(
        name, threads, stats["prompt_tokens"], stats["cached_tokens"], stats["prefill_tokens"],
        stats["gpu_s"], wall, statistics.median(ttfts),
    )  # fmt: skip


def table(arms: list[Arm]) -> str:
    lines = [
        "| threads | launch | cached share of prompt tokens | prefill tokens computed | simulated GPU s | wall s | median TTFT ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in arms:
        lines.append(
            f"| {a.threads} | {a.name} | {a.cached_share:.1%} | {a.prefill_tokens:,} | {a.gpu_s:.3f} | "
            f"{a.wall_s:.2f} | {1000 * a.ttft_s:.0f} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Arm]:
    arms = []
    for threads in args.threads:
        for name in ("naive", "warm-up"):
            arms.append(await arm(name, threads, args.prefix_tokens, args.max_tokens, args.time_scale))
    return arms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--prefix-tokens", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--time-scale", type=float, default=1.0, help="real seconds per simulated second")
    args = parser.parse_args(argv)
    arms = asyncio.run(main_async(args))
    print(f"SIMULATED SGLang server (Llama-3-8B on H200 timing), over HTTP on 127.0.0.1, time_scale={args.time_scale}")
    print(table(arms))
    for naive, warm in zip(arms[::2], arms[1::2]):
        limit = warm.threads * (args.prefix_tokens - 1) / ((warm.threads + 1) * args.prefix_tokens)
        print(
            f"N={warm.threads}: warm-up computes {naive.prefill_tokens / warm.prefill_tokens:.1f}x fewer prefill tokens, "
            f"GPU time {naive.gpu_s / warm.gpu_s:.2f}x lower; cached share {warm.cached_share:.1%} (limit about {limit:.1%})"
        )


if __name__ == "__main__":
    main()
