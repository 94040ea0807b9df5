"""What the HTTP backends share: the SSE decoder, error classification, API keys, stream readers."""

import json
import socket
from types import SimpleNamespace
from typing import Any

import pytest

from orchestrator.backends._http import (
    ServerError,
    api_key,
    connect_failure,
    error_message,
    is_connect_failure,
    is_loopback,
    is_retryable,
    normalize_url,
    one_line,
    redact,
    status_error,
)
from orchestrator.backends._openai_stream import Choice, Delta, Exchange, chat_delta, completions_delta, shares
from orchestrator.backends._sglang_stream import SGLangStream
from orchestrator.backends._sse import DONE, SSEDecoder, aiter_sse
from orchestrator.backends._transcript import Transcript, finish_reason
from orchestrator.backends.base import FinishReason, TextChunk, Usage
from orchestrator.errors import BackendError, BackendUnavailable

# --- SSE -----------------------------------------------------------------------------------------

EVENTS = [{"text": "héllo", "n": 1}, {"text": "wörld ✓", "n": 2}, {"text": "", "n": 3}]
WIRE = b"".join(b"data: " + json.dumps(e, ensure_ascii=False).encode() + b"\n\n" for e in EVENTS) + b"data: [DONE]\n\n"


def decode(pieces: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    out = [event for piece in pieces for event in decoder.feed(piece)]
    return out + decoder.close()


def expected() -> list[str]:
    return [json.dumps(e, ensure_ascii=False) for e in EVENTS] + [DONE]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 16, 64, len(WIRE)])
def test_sse_events_survive_any_split_of_the_bytes(size: int) -> None:
    pieces = [WIRE[i : i + size] for i in range(0, len(WIRE), size)]
    assert decode(pieces) == expected()


def test_sse_splits_inside_a_multibyte_character_and_inside_the_blank_line() -> None:
    cut = WIRE.index("ö".encode()) + 1
    blank = WIRE.index(b"\n\n") + 1
    assert decode([WIRE[:blank], WIRE[blank:cut], WIRE[cut:]]) == expected()


def test_sse_crlf_comments_other_fields_and_multiline_data() -> None:
    wire = b': keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata: {"a":\r\ndata: 1}\r\n\r\ndata:x\n\n'
    assert decode([wire]) == ['{"a":\n1}', "x"]


def test_sse_last_event_without_blank_line_is_kept_but_a_cut_line_is_dropped() -> None:
    assert decode([b"data: 1\n\ndata: 2\n"]) == ["1", "2"]
    assert decode([b'data: 1\n\ndata: {"tex']) == ["1"]


async def test_aiter_sse_reads_an_async_byte_stream() -> None:
    async def chunks() -> Any:
        for i in range(0, len(WIRE), 3):
            yield WIRE[i : i + 3]

    assert [event async for event in aiter_sse(chunks())] == expected()


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"error": {"message": "prompt too long", "code": 400}}, "prompt too long"),
        (
            {"error": "unknown field `foo`, expected one of `max_new_tokens`"},
            "unknown field `foo`, expected one of `max_new_tokens`",
        ),
        ({"object": "error", "message": "bad\nrequest", "type": "BadRequest", "code": 400}, "bad request"),
        ({"detail": [{"msg": "field required"}, {"msg": "other"}]}, "field required; other"),
        (b"Internal Server Error", "Internal Server Error"),
        ("plain text", "plain text"),
        (None, ""),
    ],
)
def test_error_message_reads_every_shape_servers_use(body: object, message: str) -> None:
    assert error_message(body) == message


def test_one_line_collapses_and_truncates() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert len(one_line("x" * 1000)) == 300 and one_line("x" * 1000).endswith("...")


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (404, False),
        (422, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (503, True),
    ],
)
def test_status_errors_are_classified_for_retries(status: int, retryable: bool) -> None:
    error = status_error("SGLang at http://x", status, {"error": {"message": "why"}}, {"retry-after": "2"})
    assert isinstance(error, ServerError) and isinstance(error, BackendError)
    assert error.status == status and error.retryable is retryable and is_retryable(error) is retryable
    assert str(error) == f"SGLang at http://x answered HTTP {status}: why" and error.detail == "why"
    assert error.retry_after == 2.0


def test_is_retryable_reads_backend_errors_only() -> None:
    assert is_retryable(BackendUnavailable("down"))
    assert not is_retryable(BackendError("bad"))
    assert not is_retryable(ValueError("no"))


def test_secrets_never_reach_a_message() -> None:
    error = status_error(
        "server", 401, {"error": {"message": "Incorrect API key provided: sk-secret-123"}}, secret="sk-secret-123"
    )
    assert "sk-secret-123" not in str(error) and "***" in str(error)
    assert redact("abc", None) == "abc"


def test_connect_failures_are_named_from_the_cause_chain() -> None:
    refused = OSError("wrapper")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert connect_failure(refused) == "connection refused"
    unresolved = OSError("wrapper")
    unresolved.__cause__ = socket.gaierror("no such host")
    assert connect_failure(unresolved) == "host name not resolved"
    assert is_connect_failure(refused) and is_connect_failure(unresolved)
    assert not is_connect_failure(ValueError("x"))


@pytest.mark.parametrize(
    ("url", "loopback"),
    [("http://127.0.0.1:30000", True), ("http://localhost/v1", True), ("http://[::1]:8000/v1", True), ("http://127.5.0.1", True),
     ("https://api.openai.com/v1", False), ("http://10.0.0.2:8000/v1", False)],
)  # fmt: skip
def test_loopback_urls(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_urls_are_normalized_and_checked() -> None:
    assert normalize_url(" http://127.0.0.1:30000/ ") == "http://127.0.0.1:30000"
    for bad in ("127.0.0.1:30000", "ftp://host", "http://"):
        with pytest.raises(ValueError):
            normalize_url(bad)


def test_api_keys_come_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_TEST_KEY", " sk-1 ")
    assert api_key("ORCH_TEST_KEY", "https://api.example.com", required=True) == "sk-1"
    monkeypatch.delenv("ORCH_TEST_KEY")
    assert api_key("ORCH_TEST_KEY", "http://127.0.0.1", required=False) is None
    assert api_key(None, "https://api.example.com", required=True) is None
    with pytest.raises(BackendError, match="environment variable ORCH_TEST_KEY is not set.*https://api.example.com"):
        api_key("ORCH_TEST_KEY", "https://api.example.com", required=True)


# --- transcripts ---------------------------------------------------------------------------------


def test_finish_reasons_map_sensibly() -> None:
    assert finish_reason("stop") is FinishReason.STOP and finish_reason(None) is FinishReason.STOP
    assert finish_reason("length") is FinishReason.LENGTH and finish_reason("LENGTH") is FinishReason.LENGTH
    assert finish_reason("abort") is FinishReason.ABORT and finish_reason("content_filter") is FinishReason.ABORT
    assert finish_reason("tool_calls") is FinishReason.STOP and finish_reason("whatever") is FinishReason.STOP


def test_a_cut_transcript_is_a_retryable_error_naming_what_arrived() -> None:
    transcript = Transcript("rid")
    transcript.add(TextChunk("ab", 2))
    error = transcript.cut("SGLang at http://x", "peer closed")
    assert is_retryable(error) and error.status is None
    assert (
        str(error)
        == "request rid: the stream from SGLang at http://x ended before the request finished (2 tokens received): peer closed"
    )


# --- SGLang events -------------------------------------------------------------------------------

TOKENS = ["The", " answer", " is", " 42", "."]


def sglang_events(
    *, incremental: bool, logprobs: bool = False, finish: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for n in range(1, len(TOKENS) + 1):
        start = n - 1 if incremental else 0
        meta: dict[str, Any] = {
            "id": "rid",
            "finish_reason": None,
            "prompt_tokens": 9,
            "completion_tokens": n,
            "cached_tokens": 8,
        }
        if logprobs:
            meta["output_token_logprobs"] = [[-0.1 * (i + 1), 100 + i, None] for i in range(start, n)]
            meta["output_top_logprobs"] = [[[-0.1 * (i + 1), 100 + i, None], [-3.0, 7, None]] for i in range(start, n)]
        events.append(
            {"text": "".join(TOKENS[start:n]), "output_ids": list(range(100 + start, 100 + n)), "meta_info": meta}
        )
    events[-1]["meta_info"] |= {"finish_reason": finish or {"type": "stop", "matched": 2}, "reasoning_tokens": 0}
    return events


def read_sglang(events: list[dict[str, Any]], *, incremental: bool) -> tuple[list[TextChunk], SGLangStream]:
    reader = SGLangStream("rid", "SGLang at http://x", incremental=incremental)
    chunks = [chunk for event in events if (chunk := reader.absorb(event)) is not None]
    return chunks, reader


@pytest.mark.parametrize("incremental", [False, True])
def test_sglang_cumulative_and_incremental_streams_read_the_same(incremental: bool) -> None:
    chunks, reader = read_sglang(sglang_events(incremental=incremental, logprobs=True), incremental=incremental)
    assert [c.text for c in chunks] == TOKENS
    assert [c.token_ids for c in chunks] == [(100 + i,) for i in range(5)]
    assert [c.logprobs for c in chunks] == [(pytest.approx(-0.1 * (i + 1)),) for i in range(5)]
    assert all(c.tokens == 1 and c.top_logprobs[0][1] == -3.0 for c in chunks)
    completion = reader.completion
    assert completion is not None and completion.text == "The answer is 42."
    assert completion.finish_reason is FinishReason.STOP and completion.matched_stop is None
    assert completion.usage == Usage(9, 5, 8, 0)


def test_sglang_incremental_ids_with_cumulative_text_as_0_4_servers_sent() -> None:
    events = sglang_events(incremental=False)
    for n, event in enumerate(events):
        event["output_ids"] = [100 + n]
    chunks, _ = read_sglang(events, incremental=False)
    assert [c.token_ids for c in chunks] == [(100 + i,) for i in range(5)]


def test_sglang_several_tokens_per_event_and_a_trimmed_stop_string() -> None:
    events = [sglang_events(incremental=False)[i] for i in (1, 3, 4)]  # with 2, 4 and 5 tokens
    events[-1]["text"] = "The answer is 42"  # the server trimmed the stop string "." at the end
    events[-1]["meta_info"]["finish_reason"] = {"type": "stop", "matched": "."}
    chunks, reader = read_sglang(events, incremental=False)
    assert [c.tokens for c in chunks] == [2, 2, 1] and [c.text for c in chunks] == ["The answer", " is 42", ""]
    assert reader.completion is not None and reader.completion.text == "The answer is 42"
    assert reader.completion.matched_stop == "."


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ({"type": "length", "length": 5}, FinishReason.LENGTH),
        ({"type": "abort", "message": "Abort before prefill"}, FinishReason.ABORT),
    ],
)
def test_sglang_finish_reasons(finish: dict[str, Any], reason: FinishReason) -> None:
    _, reader = read_sglang(sglang_events(incremental=False, finish=finish), incremental=False)
    assert reader.completion is not None and reader.completion.finish_reason is reason


def test_sglang_warm_up_with_no_token_still_completes() -> None:
    reader = SGLangStream("rid", "server")
    event = {
        "text": "",
        "output_ids": [],
        "meta_info": {
            "finish_reason": {"type": "length", "length": 0},
            "prompt_tokens": 7,
            "completion_tokens": 0,
            "cached_tokens": 0,
        },
    }
    assert reader.absorb(event) is None
    assert reader.completion is not None and reader.completion.usage == Usage(7, 0, 0, 0)


def test_sglang_error_event_and_an_abort_with_a_status_are_errors() -> None:
    with pytest.raises(ServerError, match="request rid: SGLang at http://x reported: input too long") as caught:
        SGLangStream("rid", "SGLang at http://x").absorb({"error": {"message": "input too long"}})
    assert not caught.value.retryable
    finish = {
        "type": "abort",
        "message": "scheduler is out of memory",
        "status_code": 503,
        "err_type": "ServiceUnavailable",
    }
    with pytest.raises(ServerError, match="answered HTTP 503: scheduler is out of memory") as aborted:
        read_sglang(sglang_events(incremental=False, finish=finish), incremental=False)
    assert aborted.value.retryable and aborted.value.status == 503


# --- OpenAI chunks -------------------------------------------------------------------------------


def completion_choice(text: str, logprobs: list[float] | None = None, finish: str | None = None) -> Any:
    lp = (
        None
        if logprobs is None
        else SimpleNamespace(token_logprobs=logprobs, top_logprobs=[{"a": x, "b": -5.0, "c": -9.0} for x in logprobs])
    )
    return SimpleNamespace(text=text, logprobs=lp, finish_reason=finish, index=0)


def chat_choice(content: str | None = None, reasoning: str | None = None, finish: str | None = None) -> Any:
    delta = SimpleNamespace(content=content, reasoning_content=reasoning)
    return SimpleNamespace(delta=delta, logprobs=None, finish_reason=finish, index=0)


def test_completions_deltas_count_logprob_entries_and_keep_the_top_k() -> None:
    delta = completions_delta(completion_choice("ab", [-0.5, -0.25]), 2)
    assert delta == Delta("ab", "", (-0.5, -0.25), ((-0.5, -5.0), (-0.25, -5.0)))
    assert delta.tokens == 2
    assert completions_delta(completion_choice("x"), 0).tokens == 1
    assert completions_delta(completion_choice(""), 0).tokens == 0


def test_chat_reasoning_content_is_wrapped_in_think_tags_and_counted() -> None:
    choice = Choice(Transcript("rid"))
    pieces = [
        chat_choice(reasoning="Let me"),
        chat_choice(reasoning=" think."),
        chat_choice(content="It is"),
        chat_choice(content=" 4.", finish="stop"),
    ]
    chunks = [choice.absorb(chat_delta(p, 0), p.finish_reason) for p in pieces]
    assert "".join(c.text for c in chunks if c) == "<think>Let me think.</think>It is 4."
    assert choice.reasoning_tokens == 2 and choice.transcript.finish is FinishReason.STOP


def test_vllm_reasoning_field_is_read_too() -> None:
    choice = SimpleNamespace(delta=SimpleNamespace(content=None, reasoning="hmm"), logprobs=None, finish_reason=None)
    assert chat_delta(choice, 0) == Delta("", "hmm")


def test_a_hidden_choice_streams_nothing_and_ends_by_length() -> None:
    exchange = Exchange("rid", hidden=True)
    assert exchange.choices[0].absorb(Delta("x"), "stop") is None
    completion = exchange.completion()
    assert completion.text == "" and completion.finish_reason is FinishReason.LENGTH
    assert completion.usage.completion_tokens == 1


def test_usage_of_n_choices_adds_up_to_the_reported_usage() -> None:
    exchange = Exchange("rid", n=3)
    for index, words in enumerate(["a b c", "a", "a b"]):
        for word in words.split():
            exchange.choices[index].absorb(Delta(word), None)
        exchange.choices[index].absorb(Delta(""), "stop")
    details = SimpleNamespace(cached_tokens=6)
    exchange.usage = SimpleNamespace(
        prompt_tokens=10, completion_tokens=12, prompt_tokens_details=details, completion_tokens_details=None
    )
    completions = exchange.completions()
    assert [c.request_id for c in completions] == ["rid-0", "rid-1", "rid-2"]
    assert sum((c.usage for c in completions), Usage()) == Usage(10, 12, 6, 0)
    assert [c.usage.completion_tokens for c in completions] == [6, 2, 4]


def test_shares_split_by_largest_remainder() -> None:
    assert shares(10, [1, 1, 1]) == [4, 3, 3]
    assert shares(7, [0, 0]) == [4, 3]
    assert sum(shares(1001, [3, 5, 7, 11])) == 1001


def test_an_exchange_ignoring_n_is_finished_with_the_choices_that_started() -> None:
    exchange = Exchange("rid", n=4)
    assert not exchange.finished
    exchange.choices[0].absorb(Delta("x"), "stop")
    assert exchange.finished and len(exchange.completions()) == 1
