"""One job's outputs in SGLang's `/generate` shape: `{"text", "output_ids", "meta_info"}`.

As SGLang's tokenizer manager builds them (default, non-incremental streaming): every streamed
output carries the cumulative text and the cumulative `output_ids`; `meta_info` carries `id`,
`finish_reason` (null until the last), `prompt_tokens`, `weight_version`, `num_retractions`, the
logprob lists when asked, `reasoning_tokens`, `completion_tokens`, `cached_tokens`
(`cached_tokens_details` when some are cached) and, once finished, `e2e_latency`. A request aborted
while still waiting in the queue ends as SGLang's `_handle_abort_req` answers it: finish reason
`{"type": "abort", "message": "Abort in waiting queue"}` and no prompt or cached token counts.
"""

from __future__ import annotations

import time
from typing import Any

from orchestrator.backends.base import Completion, FinishReason, TextChunk
from orchestrator.backends.sim import SimRequest, Tokenizer
from orchestrator.simserver.jobs import Job
from orchestrator.simserver.logprobs import token_triples, top_triples

WEIGHT_VERSION = "default"
Out = dict[str, Any]


def finish_reason(completion: Completion, job: Job, eos_id: int) -> dict[str, Any]:
    if completion.finish_reason is FinishReason.LENGTH:
        return {"type": "length", "length": job.params.max_tokens}
    if completion.finish_reason is FinishReason.STOP:
        return {"type": "stop", "matched": completion.matched_stop if completion.matched_stop is not None else eos_id}
    return {"type": "abort", "message": "Aborted", "status_code": None, "err_type": None}


class OutputState:
    """Accumulates a job's chunks and shapes its outputs."""

    def __init__(self, job: Job, tokenizer: Tokenizer) -> None:
        self.job = job
        self.tokenizer = tokenizer
        self.started = time.perf_counter()
        self.ids: list[int] = []
        self.pieces: list[str] = []
        self.logprobs: list[Any] = []
        self.tops: list[Any] = []
        self.sent_first = False

    def add(self, chunk: TextChunk) -> None:
        self.pieces.append(chunk.text)
        self.ids.extend(chunk.token_ids)
        if self.job.view.return_logprob:
            self._add_logprobs(chunk)

    def progress(self, sim: SimRequest | None) -> Out:
        """A streamed output while the job runs."""
        prompt = len(sim.prompt_ids) if sim is not None else len(self.job.prompt_ids)
        cached = sim.cached_tokens if sim is not None else 0
        reasoning = sim.generation.reasoning_tokens(len(self.ids)) if sim is not None else 0
        meta = self._meta(None, prompt, cached, reasoning)
        return self._out(self._text(), meta)

    def final(self, completion: Completion, waited: bool) -> Out:
        """The last output; `waited`: an abort caught the job in the waiting queue."""
        if waited:
            return self._out(self._text(), self._waiting_abort_meta())
        usage = completion.usage
        reason = finish_reason(completion, self.job, self.tokenizer.eos_id)
        meta = self._meta(reason, usage.prompt_tokens, usage.cached_tokens, usage.reasoning_tokens)
        meta["e2e_latency"] = time.perf_counter() - self.started
        text = self._text() if self.job.view.no_stop_trim else completion.text
        return self._out(text, meta)

    # --- internals -------------------------------------------------------------------------------

    def _text(self) -> str:
        return self.tokenizer.decode(self.ids) if self.job.view.no_stop_trim else "".join(self.pieces)

    def _out(self, text: str, meta: dict[str, Any]) -> Out:
        if not self.sent_first:
            meta["response_sent_to_client_ts"] = time.time()
            self.sent_first = True
        return {"text": text, "output_ids": list(self.ids), "meta_info": meta}

    def _meta(self, reason: dict[str, Any] | None, prompt: int, cached: int, reasoning: int) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "id": self.job.rid,
            "finish_reason": reason,
            "prompt_tokens": prompt,
            "weight_version": WEIGHT_VERSION,
            "num_retractions": 0,
        }
        self._logprob_meta(meta)
        meta.update(reasoning_tokens=reasoning, completion_tokens=len(self.ids), cached_tokens=cached)
        if cached:
            meta["cached_tokens_details"] = {"device": cached, "host": 0}
        return meta

    def _waiting_abort_meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "id": self.job.rid,
            "finish_reason": {"type": "abort", "message": "Abort in waiting queue"},
            "weight_version": WEIGHT_VERSION,
            "e2e_latency": time.perf_counter() - self.started,
        }
        self._logprob_meta(meta)
        meta["completion_tokens"] = len(self.ids)
        return meta

    def _logprob_meta(self, meta: dict[str, Any]) -> None:
        view = self.job.view
        if not view.return_logprob:
            return
        meta.update(input_token_logprobs=[], output_token_logprobs=list(self.logprobs))
        meta["output_token_logprobs_length"] = len(self.logprobs)
        if view.top_logprobs_num > 0:
            meta.update(input_top_logprobs=[], output_top_logprobs=list(self.tops))

    def _add_logprobs(self, chunk: TextChunk) -> None:
        with_text = self.job.view.text_in_logprobs
        self.logprobs.extend(token_triples(chunk.token_ids, chunk.logprobs, with_text))
        if self.job.view.top_logprobs_num > 0:
            rows = zip(chunk.token_ids, chunk.top_logprobs, chunk.logprobs)
            self.tops.extend(top_triples(token, values, chosen, with_text) for token, values, chosen in rows)
