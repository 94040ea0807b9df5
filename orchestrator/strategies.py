"""From a `Strategy` to the parts of a step: its stopping rule, its monitor, its judge, its protocol."""

from __future__ import annotations

from collections.abc import Sequence

from judges.base import Judge
from orchestrator.backends.base import Backend, TextChunk
from orchestrator.confidence import DeepConfMonitor
from orchestrator.errors import UsageError
from orchestrator.protocols.config import HogwildConfig, ProtocolConfig, SkeletonConfig, ThreadWeaverConfig
from orchestrator.protocols.hogwild import Hogwild
from orchestrator.protocols.skeleton import SkeletonOfThought
from orchestrator.protocols.threadweaver import ThreadWeaver
from orchestrator.pruning import DeepPruneMonitor, Monitor, NoPruning, OnlineClustering, PruneConfig
from orchestrator.result import ThreadReport
from orchestrator.spec import Strategy
from orchestrator.stopping import Ballot, DeepConfConfig, StopRule, build_stop_rule
from orchestrator.threads import Sampling, ThreadProtocol


def build_judge(config: PruneConfig, backend: Backend) -> Judge:
    """The judge `strategy.prune.judge` names; `deepprune` is served by `backend`."""
    from judges.deepprune import DeepPruneJudge  # judges imports orchestrator: resolve at call time
    from judges.features import FeatureJudge
    from judges.similarity import NGramJudge

    if config.judge == "deepprune":
        options = {"template": config.template} if config.template else {}
        return DeepPruneJudge(backend, truncation=config.truncation, **options)
    return NGramJudge() if config.judge == "ngram" else FeatureJudge()


def build_monitor(strategy: Strategy, backend: Backend, judge: Judge | None = None) -> Monitor:
    """DeepConf's confidence cut-off and/or DeepPrune's clustering, as the strategy asks."""
    monitors: list[Monitor] = []
    if isinstance(strategy.stop, DeepConfConfig):
        stop = strategy.stop
        monitors.append(DeepConfMonitor(stop.warmup, stop.percentile, stop.group_tokens))
    if strategy.prune is not None:
        prune = strategy.prune
        clustering = OnlineClustering(
            judge or build_judge(prune, backend),
            tau=prune.tau,
            max_clusters=prune.max_clusters,
            compare=prune.compare,
            confirm=prune.confirm,
            seed=strategy.seed or 0,
        )
        monitors.append(DeepPruneMonitor(clustering, prune.truncation, anchor=prune.anchor))
    return monitors[0] if len(monitors) == 1 else Monitors(monitors) if monitors else NoPruning()


def build_rule(strategy: Strategy, backend: Backend) -> StopRule:
    """The stopping rule; a rule that needs log-probabilities refuses a backend that has none."""
    rule = build_stop_rule(strategy.stop)
    info = backend.info()
    if rule.needs_logprobs and not getattr(info, "logprobs", True):
        raise UsageError(
            f"stop rule '{rule.name}' needs token log-probabilities, and the {info.kind} backend ({info.model}) "
            "has none; use cons, esc or adaptive"
        )
    return rule


def build_protocol(config: ProtocolConfig) -> ThreadProtocol:
    """How each thread of a step reasons, as `strategy.protocol` says."""
    if isinstance(config, ThreadWeaverConfig):
        return ThreadWeaver(config)
    if isinstance(config, SkeletonConfig):
        return SkeletonOfThought(config)
    if isinstance(config, HogwildConfig):
        return Hogwild(config)
    return Sampling()


class Monitors:
    """Several monitors on one step: any may stop a thread; the first that has a ballot gives it."""

    def __init__(self, monitors: Sequence[Monitor]) -> None:
        self.monitors = list(monitors)

    async def review(self, index: int, text: str, chunk: TextChunk) -> bool:
        for monitor in self.monitors:
            if await monitor.review(index, text, chunk):
                return True
        return False

    def ended(self, report: ThreadReport) -> None:
        for monitor in self.monitors:
            monitor.ended(report)

    def ballot(self, report: ThreadReport) -> Ballot | None:
        ballots = (monitor.ballot(report) for monitor in self.monitors)
        return next((ballot for ballot in ballots if ballot is not None), None)
