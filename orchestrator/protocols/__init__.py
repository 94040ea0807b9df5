"""Parallel reasoning inside one thread of a step: spawn/join formats and shared progress.

`orchestrator.threads.Sampling` is the plain protocol (one request per thread); the others fork and
join on the thread's shared prefix so a radix-cache server computes it once:

- `ThreadWeaver`: the model writes outlines, each outline runs as its own request, the results are
  joined back (ThreadWeaver, Multiverse and Parallel-R1 tag sets);
- `SkeletonOfThought`: a skeleton request, its points expanded in parallel, a conclusion;
- `Hogwild`: workers that see each other's progress through a shared, append-only history.

The implementations import the engine's thread machinery, so only the configuration and the formats
are imported here; `build_protocol` (in `orchestrator.strategies`) builds one from its configuration.
"""

from orchestrator.protocols.config import (
    HogwildConfig,
    ProtocolConfig,
    SampleConfig,
    SkeletonConfig,
    ThreadWeaverConfig,
)
from orchestrator.protocols.tags import FORMATS, MULTIVERSE, PARALLEL_R1, THREADWEAVER, Outline, TagSet

__all__ = [
    "FORMATS",
    "MULTIVERSE",
    "PARALLEL_R1",
    "THREADWEAVER",
    "HogwildConfig",
    "Outline",
    "ProtocolConfig",
    "SampleConfig",
    "SkeletonConfig",
    "TagSet",
    "ThreadWeaverConfig",
]
