"""Prefix reuse over HTTP: naive concurrent fan-out against warm-up-then-fan-out, on `sim-server`.

N threads share one ~2,000-token prompt. The SGLang native client talks to the simulated SGLang
server over real HTTP on 127.0.0.1:
  naive    all N requests sent at once: requests that land in the same prefill batch each compute
           the prefix (SGLang's fcfs policy matches the radix tree when a batch is formed);
  warm-up  the prefix is sent first with max_new_tokens 0, then the N threads: each finds all but
           the last prompt token cached. The ideal cached share is N * (P - 1) / ((N + 1) * P).
Each pair runs on an idle server and on a busy one (background streams decoding, so requests that
arrive during a decode step wait and are admitted together). On an idle server the first request
starts its prefill alone and the rest find its prefix already inserted, so naive loses little there.
Reported per arm, from the fan-out's own requests: cached share of prompt tokens, prefill tokens
computed, wall time and median time to first token; and the server's simulated GPU seconds over the
arm (background decoding included). Every figure is from the simulator, not from a GPU.

    python benchmarks/prefix_reuse.py [--threads 8 32] [--prefix-tokens 2000] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator import Completion, CompletionRequest, SamplingParams, SimConfig, Usage, complete
from orchestrator.backends.sglang import SGLangBackend, SGLangConfig
from orchestrator.simserver import SimServer
from orchestrator.threads import warm_prefix

SECTION = (
    "Section {i}. The committee reviewed the quarterly figures for region {i}, noting that revenue "
    "rose while costs held steady, and asked for a breakdown by product line and by month. "
)
QUESTION = (
    "\n\nQuestion: across all sections, how many regions were reviewed? Think step by step and answer in \\boxed{}."
)


@dataclass
class Arm:
    server: str
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


@dataclass
class Thread:
    ttft_s: float
    usage: Usage


async def thread(client: SGLangBackend, prompt: str, seed: int, max_tokens: int) -> Thread:
    """Stream one thread; return its time to first token and its usage."""
    started = time.perf_counter()
    first: float | None = None
    request = CompletionRequest(prompt, SamplingParams(max_tokens=max_tokens, seed=seed))
    async for event in client.stream(request):
        if isinstance(event, Completion):
            return Thread(first if first is not None else time.perf_counter() - started, event.usage)
        if first is None:
            first = time.perf_counter() - started
    raise RuntimeError("a stream ended without its completion")


async def background(client: SGLangBackend, streams: int) -> list[asyncio.Task[Completion]]:
    """Long reasoning traces on other prompts that keep the server decoding through the whole arm."""
    params = SamplingParams(max_tokens=100_000, temperature=1.0)
    prompts = [f"Background job {i}: think step by step about a long proof." for i in range(streams)]
    tasks = [asyncio.create_task(complete(client, CompletionRequest(p, params))) for p in prompts]
    await asyncio.sleep(0.2)
    return tasks


async def fan_out(
    client: SGLangBackend, name: str, prompt: str, threads: int, max_tokens: int
) -> tuple[list[Usage], list[float]]:
    usages = [(await warm_prefix(client, prompt)).usage] if name == "warm-up" else []
    done = await asyncio.gather(*(thread(client, prompt, i, max_tokens) for i in range(threads)))
    return usages + [t.usage for t in done], [t.ttft_s for t in done]


async def arm(server_load: int, name: str, threads: int, args: argparse.Namespace) -> Arm:
    async with SimServer(SimConfig(time_scale=args.time_scale, seed=5, trace_tokens=4000)) as server:
        prompt = shared_prompt(args.prefix_tokens, server.backend.tokenizer.count)
        client = SGLangBackend(SGLangConfig(kind="sglang", url=server.url))
        try:
            load = await background(client, server_load)
            gpu_before, started = server.backend.stats()["gpu_s"], time.perf_counter()
            usages, ttfts = await fan_out(client, name, prompt, threads, args.max_tokens)
            wall, gpu_s = time.perf_counter() - started, server.backend.stats()["gpu_s"] - gpu_before
            await _stop(client, load)
        finally:
            await client.close()
    total = sum(usages, Usage())
    label = f"busy ({server_load} streams)" if server_load else "idle"
    return Arm(label, name, threads, total.prompt_tokens, total.cached_tokens,
               total.prompt_tokens - total.cached_tokens, gpu_s, wall, statistics.median(ttfts))  # fmt: skip


async def _stop(client: SGLangBackend, tasks: list[asyncio.Task[Completion]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def table(arms: list[Arm]) -> str:
    lines = [
        "| server | threads | launch | cached share of prompt tokens | prefill tokens computed | simulated GPU s | wall s | median TTFT ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in arms:
        lines.append(
            f"| {a.server} | {a.threads} | {a.name} | {a.cached_share:.1%} | {a.prefill_tokens:,} | {a.gpu_s:.3f} | "
            f"{a.wall_s:.2f} | {1000 * a.ttft_s:.0f} |"
        )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Arm]:
    arms = []
    for load in (0, args.background):
        for threads in args.threads:
            for name in ("naive", "warm-up"):
                arms.append(await arm(load, name, threads, args))
    return arms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--prefix-tokens", type=int, default=2000)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--time-scale", type=float, default=1.0, help="real seconds per simulated second")
    parser.add_argument("--background", type=int, default=16, help="streams that keep the busy server decoding")
    args = parser.parse_args(argv)
    arms = asyncio.run(main_async(args))
    print(f"SIMULATED SGLang server (Llama-3-8B on H200 timing), over HTTP on 127.0.0.1, time_scale={args.time_scale}")
    print(table(arms))
    for naive, warm in zip(arms[::2], arms[1::2]):
        limit = warm.threads * (args.prefix_tokens - 1) / ((warm.threads + 1) * args.prefix_tokens)
        print(
            f"{warm.server}, N={warm.threads}: warm-up computes {naive.prefill_tokens / warm.prefill_tokens:.1f}x fewer "
            f"prefill tokens; cached share {naive.cached_share:.1%} -> {warm.cached_share:.1%} (limit about {limit:.1%})"
        )


if __name__ == "__main__":
    main()
