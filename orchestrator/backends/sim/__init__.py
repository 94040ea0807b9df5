"""The embedded SGLang simulator: the offline default backend and the test double.

A faithful model of the server, not of a model: a radix (token-prefix) cache with LRU eviction,
continuous batching, a roofline timing model for prefill and decode, prefix-matched aborts, and
scripted outputs. Every figure it produces is labelled simulated.
"""

from orchestrator.backends.sim.answers import AnswerDistribution
from orchestrator.backends.sim.backend import SimBackend
from orchestrator.backends.sim.config import GpuPreset, ModelPreset, SimConfig
from orchestrator.backends.sim.generation import Generation, ScriptedModel, default_scripts
from orchestrator.backends.sim.radix import PrefixLock, RadixCache
from orchestrator.backends.sim.reasoning import ReasoningScript
from orchestrator.backends.sim.scheduler import Scheduler, SchedulerStats, SimRequest
from orchestrator.backends.sim.script import FallbackScript, Script, ScriptOutput, ScriptRequest
from orchestrator.backends.sim.timing import GPUS, MODELS, GpuSpec, ModelShape, TimingModel
from orchestrator.backends.sim.tokenizer import Tokenizer

__all__ = [
    "GPUS",
    "MODELS",
    "AnswerDistribution",
    "FallbackScript",
    "Generation",
    "GpuPreset",
    "GpuSpec",
    "ModelPreset",
    "ModelShape",
    "PrefixLock",
    "RadixCache",
    "ReasoningScript",
    "Scheduler",
    "SchedulerStats",
    "Script",
    "ScriptOutput",
    "ScriptRequest",
    "ScriptedModel",
    "SimBackend",
    "SimConfig",
    "SimRequest",
    "TimingModel",
    "Tokenizer",
    "default_scripts",
]
