"""What every route of one server shares: the simulator, the engine, faults, metrics, settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from orchestrator.backends.sim import SimConfig
from orchestrator.simserver.backend import ServedBackend
from orchestrator.simserver.engine import Engine
from orchestrator.simserver.faults import FaultPlan, Faults
from orchestrator.simserver.jobs import Planner
from orchestrator.simserver.metrics import Metrics

# Context lengths of the models behind the timing presets (Hugging Face `max_position_embeddings`;
# Llama-3-8B as served today is Llama-3.1-8B, 131072).
CONTEXT_LENGTHS = {"qwen3-4b": 40960, "llama-3-8b": 131072, "qwen3-8b": 40960, "qwen3-32b": 40960}
REASONING_PARSER = "qwen3"


@dataclass(frozen=True, slots=True)
class Settings:
    model_name: str = "sim-model"
    reasoning_parser: bool = False
    enable_cache_report: bool = True


@dataclass
class ServerState:
    backend: ServedBackend
    faults: FaultPlan
    settings: Settings
    metrics: Metrics
    engine: Engine
    planner: Planner
    started: float = field(default_factory=time.time)
    host: str = ""
    port: int = 0
    closing: bool = False

    @classmethod
    def build(cls, config: SimConfig, faults: Faults, settings: Settings) -> ServerState:
        backend = ServedBackend(config)
        metrics = Metrics(settings.model_name)
        engine = Engine(backend, metrics, faults.token_delay_s)
        planner = Planner(backend.tokenizer, CONTEXT_LENGTHS[config.model], backend.is_live)
        return cls(backend, FaultPlan(faults), settings, metrics, engine, planner)

    @property
    def context_len(self) -> int:
        return self.planner.context_len


STATE = web.AppKey("simserver_state", ServerState)


def state_of(request: web.Request) -> ServerState:
    return request.app[STATE]
