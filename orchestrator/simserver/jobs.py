"""From a generate request to the simulator's jobs, normalised as SGLang's `GenerateReqInput` is.

A list of prompts is a batch; `n > 1` makes a single prompt a batch too. Output order is prompt-major
(prompt i's n samples are consecutive). For `n > 1` SGLang first prefills each prompt with
`max_new_tokens: 0` under a fresh rid and waits for it (the warm-ups), then sends the samples, each
under a fresh rid, so they find the prompt in the radix cache. Every violation raises `ValueError`
with SGLang's message (HTTP 400 `{"error": {"message": ...}}`).

The simulator reads `max_new_tokens` (null: what the context leaves, as SGLang's scheduler clamps
it), `temperature` (below 1e-6: greedy), `top_p`, `stop`, `sampling_seed`, `n`, `no_stop_trim`,
`json_schema`, `return_logprob` and `top_logprobs_num`. `json_schema` reaches scripts as
`SamplingParams.json_schema`, which they may honour; one that SGLang's grammar backend could not
compile (not JSON, or not an object or boolean) is rejected as SGLang rejects it. The other SGLang
keys are validated and accepted but do not change the scripted output (`top_k`, `min_p`, penalties,
`stop_token_ids`, `stop_regex`, `regex`, `ebnf`, `ignore_eos`, `min_new_tokens`, `logit_bias`,
`custom_params`, ...); prompt logprobs (`logprob_start_len`) are not modelled: `input_token_logprobs`
is always empty.
"""

from __future__ import annotations

import json
import math
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from orchestrator.backends.base import SamplingParams
from orchestrator.backends.sim import Tokenizer
from orchestrator.errors import BackendError

SAMPLING_EPS = 1e-6
GRAMMARS = ("json_schema", "regex", "ebnf")


@dataclass(frozen=True, slots=True)
class OutputView:
    """How a job's outputs are shaped (not what the simulator generates)."""

    return_logprob: bool = False
    top_logprobs_num: int = 0
    text_in_logprobs: bool = False
    no_stop_trim: bool = False


@dataclass(frozen=True, slots=True)
class Job:
    rid: str
    prompt: str
    prompt_ids: tuple[int, ...]
    params: SamplingParams
    view: OutputView = OutputView()
    stream: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    jobs: tuple[Job, ...]
    warmups: tuple[Job, ...] = ()
    single: bool = True
    stream: bool = False


@dataclass(slots=True)
class GenerateInput:
    """SGLang's `GenerateReqInput`, the fields the simulator reads; sampling params as SGLang's dict."""

    text: str | list[str] | None = None
    input_ids: list[int] | list[list[int]] | None = None
    sampling_params: dict[str, Any] | list[dict[str, Any]] | None = None
    rid: str | list[str] | None = None
    stream: bool = False
    return_logprob: bool | list[bool] | None = None
    top_logprobs_num: int | list[int] | None = None
    return_text_in_logprobs: bool = False


@dataclass(frozen=True, slots=True)
class Prompt:
    text: str
    ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Planner:
    """Turns `GenerateInput`s into `Batch`es for one server."""

    tokenizer: Tokenizer
    context_len: int
    is_live: Callable[[str], bool] = field(default=lambda rid: False)

    def plan(self, inp: GenerateInput) -> Batch:
        prompts, single = self._prompts(inp)
        n = parallel_sample_num(inp.sampling_params)
        samplings = _per_prompt(inp.sampling_params, len(prompts))
        views = self._views(inp, samplings, n)
        params = [self._params(s, p, v) for s, p, v in zip(samplings, prompts, views)]
        if n > 1:
            return self._parallel(inp, prompts, params, views, n)
        rids = self._rids(inp, len(prompts), single)
        jobs = [Job(r, p.text, p.ids, pa, v, inp.stream) for r, p, pa, v in zip(rids, prompts, params, views)]
        return Batch(tuple(jobs), (), single, inp.stream)

    # --- prompts ---------------------------------------------------------------------------------

    def _prompts(self, inp: GenerateInput) -> tuple[list[Prompt], bool]:
        if inp.text is not None:
            texts = [inp.text] if isinstance(inp.text, str) else inp.text
            return [self._from_text(t) for t in texts], isinstance(inp.text, str)
        if inp.input_ids is None:
            raise ValueError("Either text, input_ids or input_embeds should be provided.")
        if not inp.input_ids:
            raise ValueError("input_ids cannot be empty.")
        single = isinstance(inp.input_ids[0], int)
        batch: Sequence[Any] = [inp.input_ids] if single else inp.input_ids
        return [self._from_ids(ids) for ids in batch], single

    def _from_text(self, text: str) -> Prompt:
        return self._checked(Prompt(text, tuple(self.tokenizer.encode(text))))

    def _from_ids(self, ids: list[int]) -> Prompt:
        try:
            text = self.tokenizer.decode(ids)
        except BackendError as error:
            raise ValueError(str(error)) from None
        return self._checked(Prompt(text, tuple(ids)))

    def _checked(self, prompt: Prompt) -> Prompt:
        if len(prompt.ids) >= self.context_len:
            raise ValueError(
                f"The input ({len(prompt.ids)} tokens) is longer than the model's context length "
                f"({self.context_len} tokens)."
            )
        return prompt

    # --- sampling --------------------------------------------------------------------------------

    def _params(self, sampling: dict[str, Any], prompt: Prompt, view: OutputView) -> SamplingParams:
        s = _with_defaults(sampling)
        verify(s)
        max_new = self._max_new_tokens(s["max_new_tokens"], len(prompt.ids))
        temperature = 0.0 if s["temperature"] < SAMPLING_EPS else s["temperature"]
        stop = (s["stop"],) if isinstance(s["stop"], str) else tuple(s["stop"] or ())
        seed = s["sampling_seed"]
        schema = compiled_schema(s.get("json_schema"))
        return SamplingParams(
            max_new, temperature, s["top_p"], stop, seed, view.return_logprob, view.top_logprobs_num, schema
        )

    def _max_new_tokens(self, requested: int | None, prompt_tokens: int) -> int:
        room = self.context_len - prompt_tokens
        if requested is None:
            return room
        if requested > room:
            raise ValueError(
                "Requested token count exceeds the model's maximum context length of "
                f"{self.context_len} tokens. You requested a total of {requested + prompt_tokens} tokens: "
                f"{prompt_tokens} tokens from the input messages and {requested} tokens for the completion. "
                "Please reduce the number of tokens in the input messages or the completion to fit within "
                "the limit."
            )
        return requested

    @staticmethod
    def _views(inp: GenerateInput, samplings: list[dict[str, Any]], n: int) -> list[OutputView]:
        logprob = _normalize(inp.return_logprob, False, len(samplings), n, "return_logprob")
        tops = _normalize(inp.top_logprobs_num, 0, len(samplings), n, "top_logprobs_num")
        trims = [bool(s.get("no_stop_trim")) for s in samplings]
        text = bool(inp.return_text_in_logprobs)
        return [OutputView(bool(lp), int(k) if lp else 0, text, t) for lp, k, t in zip(logprob, tops, trims)]

    # --- request ids -----------------------------------------------------------------------------

    def _rids(self, inp: GenerateInput, count: int, single: bool) -> list[str]:
        rids = self._given_rids(inp.rid, count, single)
        duplicates = [rid for rid, seen in Counter(rids).items() if seen > 1]
        if duplicates:
            raise ValueError(f"Duplicate request IDs detected within the request: {duplicates}")
        for rid in rids:
            if self.is_live(rid):
                raise ValueError(f"Duplicate request ID detected: {rid}")
        return rids

    @staticmethod
    def _given_rids(rid: str | list[str] | None, count: int, single: bool) -> list[str]:
        if rid is None:
            return [uuid.uuid4().hex for _ in range(count)]
        if isinstance(rid, str):
            return [rid] if single else [f"{rid}_{i}" for i in range(count)]
        if len(rid) != count:
            raise ValueError("The specified rids length mismatch with the batch_size for batch processing.")
        return list(rid)

    def _parallel(
        self, inp: GenerateInput, prompts: list[Prompt], params: list[SamplingParams], views: list[OutputView], n: int
    ) -> Batch:
        self._rids(inp, len(prompts), single=False)  # validated, then replaced as SGLang's regenerate_rid
        warmups = [Job(uuid.uuid4().hex, p.text, p.ids, _warmup(pa)) for p, pa in zip(prompts, params)]
        jobs = [
            Job(uuid.uuid4().hex, p.text, p.ids, pa, v, inp.stream)
            for p, pa, v in zip(prompts, params, views)
            for _ in range(n)
        ]
        return Batch(tuple(jobs), tuple(warmups), False, inp.stream)


def _warmup(params: SamplingParams) -> SamplingParams:
    return replace(params, max_tokens=0, logprobs=False, top_logprobs=0)


def parallel_sample_num(sampling: dict[str, Any] | list[dict[str, Any]] | None) -> int:
    if sampling is None:
        return 1
    samplings = [sampling] if isinstance(sampling, dict) else sampling
    counts = {1 if s.get("n") is None else int(s["n"]) for s in samplings} or {1}
    if len(counts) > 1:
        raise ValueError("The parallel_sample_num should be the same for all samples in sample params.")
    n = counts.pop()
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    return n


def _per_prompt(sampling: dict[str, Any] | list[dict[str, Any]] | None, prompts: int) -> list[dict[str, Any]]:
    if sampling is None:
        return [{}] * prompts
    if isinstance(sampling, dict):
        return [sampling] * prompts
    if len(sampling) != prompts:
        raise ValueError("The sampling_params length mismatch with the batch_size for batch processing.")
    return list(sampling)


def _normalize(value: Any, default: Any, prompts: int, n: int, name: str) -> list[Any]:
    if value is None:
        return [default] * prompts
    if not isinstance(value, list):
        return [value] * prompts
    if n > 1:
        raise ValueError(f"Cannot use list {name} with parallel_sample_num > 1")
    if len(value) != prompts:
        raise ValueError(f"The {name} length mismatch with the batch_size for batch processing.")
    return value


_DEFAULTS: dict[str, Any] = {
    "max_new_tokens": 128,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": -1,
    "min_p": 0.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
    "repetition_penalty": 1.0,
    "min_new_tokens": 0,
    "stop": None,
    "sampling_seed": None,
    "beam_width": None,
}


def _with_defaults(sampling: dict[str, Any]) -> dict[str, Any]:
    """SGLang's defaults, a null value meaning the default (`SamplingParams.__post_init__`)."""
    given = {key: value for key, value in sampling.items() if value is not None}
    if "max_new_tokens" in sampling and sampling["max_new_tokens"] is None:
        given["max_new_tokens"] = None  # null: as many as the context allows
    return _DEFAULTS | given


def verify(s: dict[str, Any]) -> None:
    """SGLang's `SamplingParams.verify`, its messages."""
    checks: list[tuple[bool, str]] = [
        (
            math.isfinite(s["temperature"]) and s["temperature"] >= 0,
            f"temperature must be a non-negative finite number, got {s['temperature']}.",
        ),
        (0.0 < s["top_p"] <= 1.0, f"top_p must be in (0, 1], got {s['top_p']}."),
        (0.0 <= s["min_p"] <= 1.0, f"min_p must be in [0, 1], got {s['min_p']}."),
        (s["top_k"] == -1 or s["top_k"] >= 1, f"top_k must be -1 (disable) or at least 1, got {s['top_k']}."),
        (-2.0 <= s["frequency_penalty"] <= 2.0, f"frequency_penalty must be in [-2, 2], got {s['frequency_penalty']}."),
        (-2.0 <= s["presence_penalty"] <= 2.0, f"presence_penalty must be in [-2, 2], got {s['presence_penalty']}."),
        (
            0.0 < s["repetition_penalty"] <= 2.0,
            f"repetition_penalty must be in (0, 2] (1.0 = no penalty), got {s['repetition_penalty']}.",
        ),
        (s["min_new_tokens"] >= 0, f"min_new_tokens must be in [0, max_new_tokens], got {s['min_new_tokens']}."),
        (
            s["max_new_tokens"] is None or s["max_new_tokens"] >= 0,
            f"max_new_tokens must be at least 0, got {s['max_new_tokens']}.",
        ),
        ((s["beam_width"] or 1) <= 1, "beam search (beam_width > 1) is not supported by the simulator."),
        (
            sum(s.get(key) is not None for key in GRAMMARS) <= 1,
            "Only one of regex, json_schema, or ebnf can be set.",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)


def compiled_schema(schema: str | None) -> str | None:
    """`schema` if SGLang's grammar backend could compile it; else SGLang's 400 for the request."""
    if schema is not None and not _compiles(schema):
        raise ValueError(f"Invalid grammar request: req.grammar_key={('json', schema)!r}")
    return schema


def _compiles(schema: str) -> bool:
    try:
        return isinstance(json.loads(schema), dict | bool)
    except json.JSONDecodeError:
        return False
