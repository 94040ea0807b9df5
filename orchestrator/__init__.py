"""orchestrate: parallel reasoning on the inference server you already run.

from orchestrator import Orchestrator, SimBackend, SimConfig, Strategy

async with Orchestrator(SimBackend(SimConfig()), Strategy(threads=8)) as orchestrator:
    result = await orchestrator.run("How many positive divisors does 360 have?")
    planned = await orchestrator.run("What is 17 * 23? And what is 2 ** 10?", plan="auto")
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
from orchestrator.budget import Budget, Price
from orchestrator.confidence import DeepConfMonitor
from orchestrator.engine import (
    AddStep,
    CancelStep,
    Edit,
    Engine,
    EngineOutcome,
    Policy,
    Refiner,
    ReplaceStep,
    StepOutput,
)
from orchestrator.errors import (
    BackendError,
    BackendUnavailable,
    BudgetExceeded,
    OrchestrateError,
    PlanError,
    RunError,
    TaskFileError,
    UsageError,
)
from orchestrator.events import (
    Event,
    Observer,
    PlanComplete,
    PlanStepAdded,
    PrefixWarmed,
    StepFinished,
    StepSampled,
    StepStarted,
    ThreadFinished,
    ThreadProgress,
    ThreadStarted,
    fan_out,
)
from orchestrator.journal import Journal, new_run_dir, runs_home
from orchestrator.plan import Plan, Step, substitute
from orchestrator.plan_view import plan_tree, to_dot, to_json, to_mermaid
from orchestrator.planner import Planner, PlannerConfig
from orchestrator.protocols import (
    FORMATS,
    HogwildConfig,
    ProtocolConfig,
    SampleConfig,
    SkeletonConfig,
    TagSet,
    ThreadWeaverConfig,
)
from orchestrator.protocols.hogwild import Hogwild
from orchestrator.protocols.skeleton import SkeletonOfThought
from orchestrator.protocols.threadweaver import ThreadWeaver
from orchestrator.pruning import DeepPruneMonitor, Monitor, NoPruning, OnlineClustering, PruneConfig
from orchestrator.refiner import LLMRefiner, RefineConfig
from orchestrator.result import (
    BackendReport,
    ReasoningReport,
    ReuseReport,
    RunResult,
    StepReport,
    StepStatus,
    ThreadReport,
    ThreadStatus,
    UsageReport,
)
from orchestrator.resume import Resumed, Reuse, read_run
from orchestrator.runner import Orchestrator, resolve_plan, run_task
from orchestrator.sampling import Sampler, StepOutcome
from orchestrator.spec import Strategy, TaskSpec, load_task, parse_task
from orchestrator.steps import StepRunner
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
from orchestrator.threads import Lane, Output, Sampling, ThreadProtocol, Trace
from orchestrator.traces import TraceProblem, TraceSample, dump_traces, load_traces

__version__ = "0.1.0"

__all__ = [
    "FORMATS",
    "AdaptiveConsistency",
    "AddStep",
    "Backend",
    "BackendConfig",
    "BackendError",
    "BackendInfo",
    "BackendReport",
    "BackendUnavailable",
    "Ballot",
    "Budget",
    "BudgetExceeded",
    "CancelStep",
    "Completion",
    "CompletionRequest",
    "ConfidenceConsensus",
    "Consistency",
    "DeepConfMonitor",
    "DeepPruneMonitor",
    "EarlyStoppingConsistency",
    "Edit",
    "Engine",
    "EngineOutcome",
    "Event",
    "FinishReason",
    "Hogwild",
    "HogwildConfig",
    "Journal",
    "LLMRefiner",
    "Lane",
    "Monitor",
    "NoPruning",
    "Observer",
    "OnlineClustering",
    "OrchestrateError",
    "Orchestrator",
    "Output",
    "Plan",
    "PlanComplete",
    "PlanError",
    "PlanStepAdded",
    "Planner",
    "PlannerConfig",
    "Policy",
    "PrefixWarmed",
    "Price",
    "ProtocolConfig",
    "PruneConfig",
    "ReasoningReport",
    "RefineConfig",
    "Refiner",
    "ReplaceStep",
    "ReplayBackend",
    "ReplayConfig",
    "Resumed",
    "Reuse",
    "ReuseReport",
    "RunError",
    "RunResult",
    "SampleConfig",
    "Sampler",
    "Sampling",
    "SamplingParams",
    "SimBackend",
    "SimConfig",
    "SkeletonConfig",
    "SkeletonOfThought",
    "Step",
    "StepFinished",
    "StepOutcome",
    "StepOutput",
    "StepReport",
    "StepRunner",
    "StepSampled",
    "StepStarted",
    "StepStatus",
    "StopConfig",
    "StopRule",
    "Strategy",
    "StreamEvent",
    "TagSet",
    "TaskFileError",
    "TaskSpec",
    "TextChunk",
    "ThreadFinished",
    "ThreadProgress",
    "ThreadProtocol",
    "ThreadReport",
    "ThreadStarted",
    "ThreadStatus",
    "ThreadWeaver",
    "ThreadWeaverConfig",
    "Trace",
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
    "fan_out",
    "load_task",
    "load_traces",
    "majority_vote",
    "new_run_dir",
    "normalize_answer",
    "parse_task",
    "plan_tree",
    "read_run",
    "resolve_plan",
    "run_task",
    "runs_home",
    "substitute",
    "to_dot",
    "to_json",
    "to_mermaid",
]
