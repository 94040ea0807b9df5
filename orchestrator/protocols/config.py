"""`strategy.protocol` in a task file: how each thread of a reasoning step reasons.

`sample` (the default) is one request per thread. `threadweaver` forks at the model's outline block
into one request per outline and joins them back (`format:` `threadweaver`, `multiverse`,
`parallel-r1`, or a tag set of your own). `sot` is Skeleton-of-Thought: a skeleton, its points
expanded in parallel, a conclusion. `hogwild` runs `workers` that see each other's progress as text.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orchestrator.protocols.tags import FORMATS, THREADWEAVER, TagSet


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SampleConfig(_Config):
    name: Literal["sample"] = "sample"


class ThreadWeaverConfig(_Config):
    """`format` names a known tag set or gives one; `instructions` False sends the prompt as it is
    (for a model trained on the format that needs no explanation of it)."""

    name: Literal["threadweaver"] = "threadweaver"
    format: TagSet = THREADWEAVER
    max_rounds: int = Field(32, ge=0, le=1024)
    max_threads: int = Field(8, ge=1, le=256)
    instructions: bool = True

    @field_validator("format", mode="before")
    @classmethod
    def _known_format(cls, format: Any) -> Any:
        if isinstance(format, str) and format not in FORMATS:
            raise ValueError(f"unknown format {format!r} (known: {', '.join(FORMATS)}, or a mapping of tags)")
        return FORMATS[format] if isinstance(format, str) else format


class SkeletonConfig(_Config):
    """Token limits: `skeleton_tokens` for the skeleton, `point_tokens` per point, `conclude_tokens` for the answer."""

    name: Literal["sot"] = "sot"
    max_points: int = Field(10, ge=1, le=256)
    skeleton_tokens: int = Field(256, ge=1, le=100_000)
    point_tokens: int = Field(512, ge=1, le=100_000)
    conclude: bool = True
    conclude_tokens: int = Field(256, ge=1, le=100_000)


class HogwildConfig(_Config):
    """`workers` reasoning together; each writes at most `max_steps` steps of up to `step_tokens` tokens,
    and every `check_every` steps it is asked whether it is doing redundant work (0: never)."""

    name: Literal["hogwild"] = "hogwild"
    workers: int = Field(2, ge=2, le=8)
    max_steps: int = Field(24, ge=1, le=1024)
    step_tokens: int = Field(256, ge=1, le=100_000)
    check_every: int = Field(3, ge=0, le=1024)


ProtocolConfig = Annotated[
    SampleConfig | ThreadWeaverConfig | SkeletonConfig | HogwildConfig, Field(discriminator="name")
]
