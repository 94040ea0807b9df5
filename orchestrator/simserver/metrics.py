"""`/metrics`: SGLang's Prometheus metrics, hand-written in the text exposition format.

Names, HELP texts and labels follow SGLang 0.5.23 (`observability/metrics_collector.py`): request
counters (`sglang:prompt_tokens_total`, `sglang:generation_tokens_total`, `sglang:num_requests_total`
with `is_streaming`; `sglang:cached_tokens_total` with `cache_source`) carry `model_name` and
`engine_type`; scheduler gauges add `tp_rank`, `pp_rank`, `moe_ep_rank`. Counters grow when a request
finishes, as SGLang's tokenizer manager counts them. Where the simulator differs:
`sglang:num_aborted_requests_total` counts requests that ended aborted (SGLang counts abort calls it
forwards) and `sglang:cache_hit_rate` is cumulative (SGLang's is per prefill batch). A
`sglang_sim:simulated 1` gauge and a leading comment mark the whole page as a simulator's.
No dependency: the `prometheus_client` package would only format these few lines.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

SCHEDULER_LABELS = {"engine_type": "unified", "tp_rank": "0", "pp_rank": "0", "moe_ep_rank": "0"}

_COUNTERS = {
    "sglang:prompt_tokens_total": "Number of prefill tokens processed.",
    "sglang:generation_tokens_total": "Number of generation tokens processed.",
    "sglang:num_requests_total": "Number of requests processed.",
    "sglang:cached_tokens_total": "Number of cached prompt tokens by source (device/host/storage).",
}
_FIRST_LABELS = {
    "sglang:prompt_tokens_total": (("is_streaming", "false"),),
    "sglang:generation_tokens_total": (("is_streaming", "false"),),
    "sglang:num_requests_total": (("is_streaming", "false"),),
    "sglang:cached_tokens_total": (("cache_source", "device"),),
}


class Metrics:
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], float] = defaultdict(float)
        for name in _COUNTERS:  # a sample from the start, so every name is there to scrape
            self._counts[name, _FIRST_LABELS[name]] = 0.0

    def observe(self, meta: dict[str, Any], streaming: bool) -> None:
        """Count one finished request from its `meta_info`."""
        stream = (("is_streaming", "true" if streaming else "false"),)
        self._counts["sglang:prompt_tokens_total", stream] += meta.get("prompt_tokens", 0)
        self._counts["sglang:generation_tokens_total", stream] += meta.get("completion_tokens", 0)
        self._counts["sglang:num_requests_total", stream] += 1
        if meta.get("cached_tokens", 0) > 0:
            self._counts["sglang:cached_tokens_total", (("cache_source", "device"),)] += meta["cached_tokens"]

    def render(self, stats: dict[str, Any]) -> str:
        lines = ["# orchestrate sim-server: SIMULATED SGLang metrics; no GPU ran, every figure is a simulator's."]
        lines += self._counter_lines()
        aborted = [(self._labels(), stats["aborted"])]
        lines += _family("sglang:num_aborted_requests_total", "Number of requests aborted.", "counter", aborted)
        lines += self._gauge_lines(stats)
        return "\n".join(lines) + "\n"

    def _labels(self, extra: tuple[tuple[str, str], ...] = ()) -> str:
        pairs = (("model_name", self.model_name), ("engine_type", "unified"), *extra)
        return ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)

    def _counter_lines(self) -> list[str]:
        lines: list[str] = []
        for name, help_text in _COUNTERS.items():
            samples = [
                (self._labels(extra), value) for (key, extra), value in sorted(self._counts.items()) if key == name
            ]
            lines += _family(name, help_text, "counter", samples)
        return lines

    def _gauge_lines(self, stats: dict[str, Any]) -> list[str]:
        labels = ",".join(
            [f'model_name="{_escape(self.model_name)}"', *(f'{k}="{v}"' for k, v in SCHEDULER_LABELS.items())]
        )
        gauges = [
            ("sglang:num_running_reqs", "The number of running requests.", stats["running"]),
            ("sglang:num_queue_reqs", "The number of requests in the waiting queue.", stats["waiting"]),
            ("sglang:cache_hit_rate", "The prefix cache hit rate.", stats["cache_hit_rate"]),
            ("sglang:num_used_tokens", "The number of used tokens.", stats["cache_held_tokens"]),
            (
                "sglang:max_total_num_tokens",
                "Maximum total number of tokens in the KV cache pool.",
                stats["cache_capacity"],
            ),
            ("sglang_sim:simulated", "1: this server is the orchestrate simulator, not a GPU server.", 1),
        ]
        lines: list[str] = []
        for name, help_text, value in gauges:
            lines += _family(name, help_text, "gauge", [(labels, value)])
        return lines


def _family(name: str, help_text: str, kind: str, samples: list[tuple[str, float]]) -> list[str]:
    head = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    return head + [f"{name}{{{labels}}} {float(value)!r}" for labels, value in samples]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
