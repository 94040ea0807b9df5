"""`benchmarks/protocols.py` on one built-in problem: every arm runs and its figures hang together."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "protocols.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("protocols_benchmark", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def test_every_protocol_beats_sequential_token_latency_and_keeps_most_of_it() -> None:
    bench = load()
    rows = await bench.bench(bench.BUILT_IN[:1])
    assert [row["protocol"] for row in rows] == list(bench.ARMS)
    for row in rows:
        assert row["critical"] < row["tokens"] and row["latency_x"] > 1.0
        assert 0.7 * row["latency_x"] <= row["wall_x"] <= 1.05 * row["latency_x"], row
        assert row["cached_share"] > 0.5
    assert "| hogwild x2 |" in bench.markdown(rows)
