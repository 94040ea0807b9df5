"""`POST /generate` in SGLang's shapes: single, streamed, batched, parallel sampling, logprobs, errors."""

import itertools

import httpx

from orchestrator.simserver import SimServer

FALLBACK = "Say hello to the simulator."


async def test_a_single_request_answers_text_output_ids_and_meta_info(client: httpx.AsyncClient) -> None:
    response = await client.post("/generate", json={"text": FALLBACK, "sampling_params": {"max_new_tokens": 5}})
    assert response.status_code == 200 and response.headers["x-simulated"] == "true"
    out = response.json()
    meta = out["meta_info"]
    assert meta["finish_reason"] == {"type": "length", "length": 5}
    assert meta["completion_tokens"] == len(out["output_ids"]) == 5
    assert meta["prompt_tokens"] > 0 and meta["cached_tokens"] == 0 and meta["e2e_latency"] >= 0
    assert {"id", "weight_version", "reasoning_tokens"} <= meta.keys()
    tokens = (await client.post("/detokenize", json={"tokens": out["output_ids"]})).json()
    assert tokens["text"] == out["text"]


async def test_a_natural_end_is_a_stop_on_the_eos_token(client: httpx.AsyncClient) -> None:
    out = (await client.post("/generate", json={"text": FALLBACK})).json()
    assert out["meta_info"]["finish_reason"] == {"type": "stop", "matched": 0}
    assert out["text"].startswith("[simulated reply]") and out["output_ids"][-1] == 0


async def test_stop_strings_are_trimmed_unless_no_stop_trim(client: httpx.AsyncClient) -> None:
    params = {"stop": ["simulator"], "sampling_seed": 1}
    trimmed = (await client.post("/generate", json={"text": FALLBACK, "sampling_params": params})).json()
    kept = (
        await client.post("/generate", json={"text": FALLBACK, "sampling_params": params | {"no_stop_trim": True}})
    ).json()
    assert trimmed["meta_info"]["finish_reason"] == {"type": "stop", "matched": "simulator"}
    assert not trimmed["text"].endswith("simulator") and kept["text"].endswith("simulator")
    assert kept["text"].startswith(trimmed["text"])


async def test_a_stream_is_cumulative_and_ends_with_done(
    client: httpx.AsyncClient, events, reasoning_prompt: str
) -> None:
    body = {"text": reasoning_prompt, "sampling_params": {"max_new_tokens": 40, "sampling_seed": 7}}
    async with client.stream("POST", "/generate", json=body | {"stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        streamed = await events(response)
    assert streamed[-1] == "[DONE]" and len(streamed) > 2
    outs = streamed[:-1]
    for before, after in itertools.pairwise(outs):
        assert after["text"].startswith(before["text"])
        assert after["output_ids"][: len(before["output_ids"])] == before["output_ids"]
    assert all(out["meta_info"]["finish_reason"] is None for out in outs[:-1])
    assert "e2e_latency" in outs[-1]["meta_info"] and "e2e_latency" not in outs[0]["meta_info"]
    whole = (await client.post("/generate", json=body)).json()
    assert outs[-1]["text"] == whole["text"] and outs[-1]["output_ids"] == whole["output_ids"]


async def test_input_ids_are_the_prompt_tokens(client: httpx.AsyncClient) -> None:
    ids = (await client.post("/tokenize", json={"prompt": FALLBACK})).json()["tokens"]
    out = (await client.post("/generate", json={"input_ids": ids, "sampling_params": {"max_new_tokens": 3}})).json()
    assert out["meta_info"]["prompt_tokens"] == len(ids)


async def test_a_list_of_prompts_answers_a_list_with_derived_rids(client: httpx.AsyncClient) -> None:
    body = {"text": [FALLBACK, "Another prompt."], "rid": "batch", "sampling_params": {"max_new_tokens": 4}}
    outs = (await client.post("/generate", json=body)).json()
    assert [out["meta_info"]["id"] for out in outs] == ["batch_0", "batch_1"]
    ids = (
        await client.post(
            "/generate", json={"input_ids": [[300, 301], [302]], "sampling_params": {"max_new_tokens": 2}}
        )
    ).json()
    assert [out["meta_info"]["prompt_tokens"] for out in ids] == [2, 1]


async def test_a_batch_streams_interleaved_chunks_with_an_index(client: httpx.AsyncClient, events) -> None:
    body = {"text": [FALLBACK, "Another prompt."], "stream": True, "sampling_params": {"max_new_tokens": 6}}
    async with client.stream("POST", "/generate", json=body) as response:
        outs = (await events(response))[:-1]
    assert {out["index"] for out in outs} == {0, 1}
    finals = [out for out in outs if out["meta_info"]["finish_reason"] is not None]
    assert sorted(out["index"] for out in finals) == [0, 1]


async def test_parallel_sampling_prefills_the_prompt_first(client: httpx.AsyncClient, reasoning_prompt: str) -> None:
    body = {"text": reasoning_prompt, "sampling_params": {"max_new_tokens": 8, "n": 3}}
    outs = (await client.post("/generate", json=body)).json()
    assert len(outs) == 3 and len({out["meta_info"]["id"] for out in outs}) == 3
    assert all(out["meta_info"]["cached_tokens"] == out["meta_info"]["prompt_tokens"] - 1 for out in outs)


async def test_a_warm_up_then_requests_report_the_prefix_as_cached(client: httpx.AsyncClient) -> None:
    prompt = "A shared prefix that every thread reads before it starts to think."
    warm = (await client.post("/generate", json={"text": prompt, "sampling_params": {"max_new_tokens": 0}})).json()
    assert warm["meta_info"]["completion_tokens"] == 0 and warm["text"] == ""
    outs = (
        await client.post("/generate", json={"text": [prompt] * 3, "sampling_params": {"max_new_tokens": 4}})
    ).json()
    assert [out["meta_info"]["cached_tokens"] for out in outs] == [warm["meta_info"]["prompt_tokens"] - 1] * 3
    assert outs[0]["meta_info"]["cached_tokens_details"]["device"] == outs[0]["meta_info"]["cached_tokens"]


async def test_a_prefix_sent_as_ids_is_matched_on_tokens(client: httpx.AsyncClient) -> None:
    prefix = (await client.post("/tokenize", json={"prompt": "The shared part ends mid"})).json()["tokens"]
    suffix = (await client.post("/tokenize", json={"prompt": "word of thread one."})).json()["tokens"]
    await client.post("/generate", json={"input_ids": prefix, "sampling_params": {"max_new_tokens": 0}})
    out = (
        await client.post("/generate", json={"input_ids": prefix + suffix, "sampling_params": {"max_new_tokens": 2}})
    ).json()
    assert out["meta_info"]["cached_tokens"] == len(prefix)
    assert out["meta_info"]["prompt_tokens"] == len(prefix) + len(suffix)


async def test_logprobs_are_sglang_triples(client: httpx.AsyncClient) -> None:
    body = {"text": FALLBACK, "return_logprob": True, "top_logprobs_num": 3, "sampling_params": {"max_new_tokens": 6}}
    meta = (await client.post("/generate", json=body)).json()["meta_info"]
    triples, tops = meta["output_token_logprobs"], meta["output_top_logprobs"]
    assert len(triples) == len(tops) == meta["output_token_logprobs_length"] == 6
    assert all(isinstance(lp, float) and lp <= 0 and isinstance(tid, int) and text is None for lp, tid, text in triples)
    assert all(len(row) == 3 and row == sorted(row, key=lambda t: -t[0]) for row in tops)
    assert meta["input_token_logprobs"] == []
    texts = (await client.post("/generate", json=body | {"return_text_in_logprobs": True})).json()["meta_info"]
    assert all(isinstance(text, str) for _, _, text in texts["output_token_logprobs"])


async def test_an_unknown_sampling_key_is_a_contract_error(client: httpx.AsyncClient) -> None:
    response = await client.post("/generate", json={"text": "x", "sampling_params": {"max_tokens": 4}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert isinstance(error, str) and error.startswith("unknown field `max_tokens`, expected one of `max_new_tokens`")
    typed = await client.post("/generate", json={"text": "x", "sampling_params": {"temperature": "hot"}})
    assert typed.status_code == 400 and typed.json() == {"error": 'invalid type: string "hot", expected f64'}
    ignored = await client.post(
        "/generate", json={"text": "x", "unknown_top_level": 1, "sampling_params": {"max_new_tokens": 1}}
    )
    assert ignored.status_code == 200


async def test_invalid_requests_answer_sglang_messages(client: httpx.AsyncClient, events) -> None:
    missing = await client.post("/generate", json={"sampling_params": {}})
    assert missing.status_code == 400
    assert missing.json() == {"error": {"message": "Either text, input_ids or input_embeds should be provided."}}
    hot = await client.post("/generate", json={"text": "x", "sampling_params": {"temperature": -1}})
    assert hot.json()["error"]["message"] == "temperature must be a non-negative finite number, got -1.0."
    async with client.stream(
        "POST", "/generate", json={"text": "x", "stream": True, "sampling_params": {"top_p": 0}}
    ) as response:
        assert response.status_code == 200
        streamed = await events(response)
    assert streamed[0]["error"]["message"].startswith("top_p must be in (0, 1]") and streamed[-1] == "[DONE]"
    broken = await client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["object"] == "error"


async def test_a_reused_live_rid_is_refused(server: SimServer, client: httpx.AsyncClient) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}"
    rids = await client.post("/generate", json={"text": ["a", "b"], "rid": ["same", "same"]})
    assert rids.status_code == 400 and "Duplicate request IDs" in rids.json()["error"]["message"]
