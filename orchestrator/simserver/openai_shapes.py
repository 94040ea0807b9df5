"""OpenAI-compatible response objects built from SGLang-shaped outputs, as SGLang's serving layer does.

Usage follows SGLang's `UsageProcessor`: prompt and cached tokens are summed over the first choice of
each prompt (the n samples of one prompt share it), completion and reasoning tokens over all choices;
`prompt_tokens_details.cached_tokens` only with `--enable-cache-report`, and
`completion_tokens_details.reasoning_tokens` only when there are reasoning tokens. Logprobs use the
token texts of SGLang's triples.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from orchestrator.simserver.outputs import WEIGHT_VERSION, Out


def usage(outs: Sequence[Out], n: int, cache_report: bool) -> dict[str, Any]:
    metas = [out["meta_info"] for out in outs]
    firsts = metas[::n]
    prompt = sum(m.get("prompt_tokens", 0) for m in firsts)
    completion = sum(m.get("completion_tokens", 0) for m in metas)
    reasoning = sum(m.get("reasoning_tokens", 0) for m in metas)
    cached = {"cached_tokens": sum(m.get("cached_tokens", 0) for m in firsts)} if cache_report else None
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": cached,
        "reasoning_tokens": reasoning,
        "completion_tokens_details": {"reasoning_tokens": reasoning} if reasoning else None,
    }


def finish_fields(meta: dict[str, Any]) -> dict[str, Any]:
    reason = meta.get("finish_reason")
    return {
        "finish_reason": reason["type"] if reason else None,
        "matched_stop": reason.get("matched") if reason else None,
    }


def response(
    kind: str, model: str, outs: Sequence[Out], choices: list[dict[str, Any]], usage_: dict[str, Any]
) -> dict[str, Any]:
    return {
        "id": outs[0]["meta_info"]["id"],
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage_,
        "metadata": {"weight_version": WEIGHT_VERSION},
    }


def chunk(kind: str, chunk_id: str, model: str, created: int, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": chunk_id, "object": kind, "created": created, "model": model, "choices": choices}


def completion_logprobs(triples: Sequence[Any], tops: Sequence[Any] | None) -> dict[str, Any]:
    """The legacy completions `logprobs` object."""
    return {
        "text_offset": [-1] * len(triples),
        "token_logprobs": [lp for lp, _, _ in triples],
        "tokens": [text or "" for _, _, text in triples],
        "top_logprobs": [None if row is None else {t or "": lp for lp, _, t in row} for row in tops or ()],
    }


def chat_logprobs(triples: Sequence[Any], tops: Sequence[Any] | None) -> dict[str, Any]:
    rows = list(tops or ())
    content = [_chat_token(triple, rows[i] if i < len(rows) else None) for i, triple in enumerate(triples)]
    return {"content": content}


def _chat_token(triple: Sequence[Any], top_row: Sequence[Any] | None) -> dict[str, Any]:
    logprob, _, text = triple
    tops = [{"token": t or "", "bytes": list((t or "").encode()), "logprob": lp} for lp, _, t in top_row or ()]
    return {"token": text or "", "bytes": list((text or "").encode()), "logprob": logprob, "top_logprobs": tops}


def new_logprobs(meta: dict[str, Any], seen: int) -> tuple[list[Any], list[Any] | None]:
    """The logprob triples (and top rows) of tokens after the first `seen`."""
    triples = meta.get("output_token_logprobs", [])[seen:]
    tops = meta.get("output_top_logprobs")
    return triples, None if tops is None else tops[seen:]
