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
from orchestrator.backends.replay import ReplayBackend, ReplayConfig
from orchestrator.confidence import DeepConfMonitor
from orchestrator.errors import BackendError, BackendUnavailable, OrchestrateError, RunError, TaskFileError, UsageError
from orchestrator.events import Event, Observer, PrefixWarmed, ThreadFinished, ThreadProgress, ThreadStarted
from orchestrator.pruning import DeepPruneMonitor, Monitor, NoPruning, OnlineClustering, PruneConfig
from orchestrator.result import BackendReport, RunResult, ThreadReport, ThreadStatus, UsageReport
from orchestrator.runner import Orchestrator, run_task
from orchestrator.sampling import Sampler, StepOutcome
from orchestrator.spec import Strategy, TaskSpec, load_task, parse_task
from orchestrator.stopping import (
    AdaptiveConsistency,
    Ballot,
    ConfidenceConsensus,
    Consistency,
    EarlyStoppingConsistency,
    StopConfig,
    StopRule,
    build_stop_rule,
)
from orchestrator.traces import TraceProblem, TraceSample, dump_traces, load_traces

__version__ = "0.1.0"

__all__ = [
    "AdaptiveConsistency",
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendInfo",
    "BackendReport",
    "BackendUnavailable",
    "Ballot",
    "Completion",
    "CompletionRequest",
    "ConfidenceConsensus",
    "Consistency",
    "DeepConfMonitor",
    "DeepPruneMonitor",
    "EarlyStoppingConsistency",
    "Event",
    "FinishReason",
    "Monitor",
    "NoPruning",
    "Observer",
    "OnlineClustering",
    "OrchestrateError",
    "Orchestrator",
    "PrefixWarmed",
    "PruneConfig",
    "ReplayBackend",
    "ReplayConfig",
    "RunError",
    "RunResult",
    "Sampler",
    "SamplingParams",
    "SimBackend",
    "SimConfig",
    "StepOutcome",
    "StopConfig",
    "StopRule",
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
    "TraceProblem",
    "TraceSample",
    "Usage",
    "UsageError",
    "UsageReport",
    "Vote",
    "build_stop_rule",
    "complete",
    "create_backend",
    "dump_traces",
    "extract_answer",
    "load_task",
    "load_traces",
    "majority_vote",
    "normalize_answer",
    "parse_task",
    "run_task",
]
