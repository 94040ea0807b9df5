"""orchestrate: parallel reasoning on the inference server you already run.

from orchestrator import Orchestrator, SimBackend, SimConfig, Strategy

async with Orchestrator(SimBackend(SimConfig()), Strategy(threads=8)) as orchestrator:
    result = await orchestrator.run("How many positive divisors does 360 have?")
"""

from orchestrator.aggregate import Vote, extract_answer, majority_vote, normalize_answer
from orchestrator.backends import (
    Backend,
    BackendConfig,
    BackendInfo,
    Completion,
    CompletionRequest,
    FinishReason,
    SamplingParams,
    SimBackend,
    SimConfig,
    StreamEvent,
    TextChunk,
    Usage,
    complete,
    create_backend,
)
from orchestrator.errors import BackendError, BackendUnavailable, OrchestrateError, RunError, TaskFileError
from orchestrator.events import Event, Observer, PrefixWarmed, ThreadFinished, ThreadProgress, ThreadStarted
from orchestrator.result import BackendReport, RunResult, ThreadReport, ThreadStatus, UsageReport
from orchestrator.runner import Orchestrator, run_task
from orchestrator.spec import Strategy, TaskSpec, load_task, parse_task

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendInfo",
    "BackendReport",
    "BackendUnavailable",
    "Completion",
    "CompletionRequest",
    "Event",
    "FinishReason",
    "Observer",
    "OrchestrateError",
    "Orchestrator",
    "PrefixWarmed",
    "RunError",
    "RunResult",
    "SamplingParams",
    "SimBackend",
    "SimConfig",
    "Strategy",
    "StreamEvent",
    "TaskFileError",
    "TaskSpec",
    "TextChunk",
    "ThreadFinished",
    "ThreadProgress",
    "ThreadReport",
    "ThreadStarted",
    "ThreadStatus",
    "Usage",
    "UsageReport",
    "Vote",
    "complete",
    "create_backend",
    "extract_answer",
    "load_task",
    "majority_vote",
    "normalize_answer",
    "parse_task",
    "run_task",
]
