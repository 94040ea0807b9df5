"""`benchmarks/load.py` at a tiny size: every figure is there and sane, with faults and without."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
TINY = ["--tasks", "10", "--threads", "4", "--duration-s", "20", "--trace-tokens", "40"]


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("load_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_without_faults_every_task_finishes_and_the_figures_hang_together(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = load().main([*TINY, "--json", str(out)])
    assert json.loads(out.read_text()) == result and result["simulated"] is True
    arms = {arm["arm"]: arm for arm in result["arms"]}
    assert set(arms) == {"orchestrated", "bare"}
    for arm in arms.values():
        assert arm["finished_tasks"] == 10 and arm["errors"] == {} and arm["thread_errors"] == {}
        assert sum(arm["threads"].values()) == 40 and arm["retries"] == 0
        assert arm["latency_p99_s"] >= arm["latency_p50_s"] > 0
        assert arm["overhead_p99_ms"] >= arm["overhead_p50_ms"] >= 0
        assert arm["overhead_p50_ms"] < 1000 * arm["latency_p50_s"]
        assert arm["peak_rss_mib"] > 0 and arm["tokens"] > 0 and arm["tokens_per_s"] > 0
        assert arm["server_requests"] == 10 * 5  # a warm-up and 4 threads per task, nothing sent twice
    assert arms["orchestrated"]["threads"] == {"done": 40} and arms["bare"]["tokens"] == arms["orchestrated"]["tokens"]
    assert set(result["orchestration"]) == {"overhead_p50_ms", "overhead_p99_ms", "cpu_ms_per_task", "cpu_us_per_token"}


def test_with_faults_the_errors_and_retries_are_reported() -> None:
    faults = ["--error-rate", "0.1", "--cut-rate", "0.2", "--backoff-s", "0.01", "--fault-seed", "3"]
    result = load().main([*TINY, *faults])
    [arm] = result["arms"]  # the bare client does not retry: with faults only the orchestrated arm runs
    assert arm["arm"] == "orchestrated" and "orchestration" not in result
    assert arm["retries"] > 0 and arm["thread_errors"].get("stream cut", 0) > 0
    assert sum(arm["threads"].values()) + 4 * sum(arm["errors"].values()) == 40


def test_the_deadline_bounds_an_arm_and_counts_what_it_cut() -> None:
    result = load().main([*TINY, "--duration-s", "0.5", "--token-delay-s", "0.05", "--arms", "orchestrated"])
    [arm] = result["arms"]
    assert arm["errors"] == {"deadline": 10} and arm["finished_tasks"] == 0
    assert arm["wall_s"] < 5
