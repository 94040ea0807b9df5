import math
import re
import statistics
from collections import Counter

import pytest

from orchestrator.backends.base import FinishReason, SamplingParams
from orchestrator.backends.sim import ScriptedModel, ScriptOutput, ScriptRequest, SimConfig, Tokenizer
from orchestrator.backends.sim.generation import Generation

PROMPT = "Find the number of ordered pairs. Reason step by step and put the final answer in \\boxed{}."
ANSWERS = {"12": 0.6, "15": 0.25, "9": 0.15}


def generate(config: SimConfig, seed: int | None = 0, prompt: str = PROMPT, **params: object) -> Generation:
    return ScriptedModel(config).generate(prompt, SamplingParams(seed=seed, **params), counter=0)  # type: ignore[arg-type]


def text_of(generation: Generation) -> str:
    return generation.text(len(generation))


def boxed(text: str) -> str:
    match = re.search(r"\\boxed\{([^}]*)\}", text)
    assert match is not None, text[-200:]
    return match.group(1)


def test_reasoning_prompts_get_a_think_block_and_a_boxed_answer() -> None:
    text = text_of(generate(SimConfig(answers=ANSWERS)))
    assert text.startswith("<think>\n")
    assert "\n</think>\n\nThe answer is \\boxed{" in text
    assert text.endswith("}.")
    assert boxed(text) in ANSWERS
    assert len(set(re.findall(r"\b(First|So|Wait|Therefore|Let me check|Hmm|Since|Thus)\b", text))) >= 3


def test_other_prompts_get_a_reply_marked_as_simulated() -> None:
    generation = generate(SimConfig(), prompt="Write a haiku about the sea.")
    assert text_of(generation).startswith("[simulated reply]")
    assert generation.finish_reason is FinishReason.STOP
    assert generation.reasoning_tokens(len(generation)) == 0


def test_same_seeds_give_identical_outputs() -> None:
    config = SimConfig(seed=3)
    first, second = generate(config, seed=11, logprobs=True), generate(config, seed=11, logprobs=True)
    assert first.token_ids == second.token_ids
    assert first.logprobs == second.logprobs


def test_different_seeds_give_different_traces() -> None:
    config = SimConfig()
    texts = {text_of(generate(config, seed=s)) for s in range(5)}
    assert len(texts) == 5
    assert text_of(generate(SimConfig(seed=1), seed=0)) != text_of(generate(SimConfig(seed=2), seed=0))


def test_without_a_seed_the_request_counter_varies_the_output_reproducibly() -> None:
    model = ScriptedModel(SimConfig())
    outputs = [model.generate(PROMPT, SamplingParams(), counter=n).token_ids for n in range(3)]
    assert outputs[0] != outputs[1] != outputs[2]
    assert ScriptedModel(SimConfig()).generate(PROMPT, SamplingParams(), counter=1).token_ids == outputs[1]


def test_answer_frequencies_follow_the_configured_weights_at_temperature_1() -> None:
    config = SimConfig(answers=ANSWERS, trace_tokens=16)
    counts = Counter(boxed(text_of(generate(config, seed=s, temperature=1.0))) for s in range(400))
    for answer, weight in ANSWERS.items():
        assert counts[answer] / 400 == pytest.approx(weight, abs=0.07)


def test_temperature_sharpens_the_answer_distribution() -> None:
    config = SimConfig(answers=ANSWERS, trace_tokens=16)
    greedy = Counter(boxed(text_of(generate(config, seed=s, temperature=0.0))) for s in range(50))
    assert greedy == Counter({"12": 50})
    cool = Counter(boxed(text_of(generate(config, seed=s, temperature=0.5))) for s in range(300))
    assert cool["12"] / 300 > 0.75


def test_without_configured_answers_four_candidates_are_derived_from_the_prompt() -> None:
    config = SimConfig(trace_tokens=16)
    counts = Counter(boxed(text_of(generate(config, seed=s, temperature=1.0))) for s in range(400))
    assert len(counts) == 4
    assert all(answer.isdigit() for answer in counts)
    assert counts.most_common(1)[0][1] / 400 == pytest.approx(0.5, abs=0.08)


def test_traces_reaching_the_same_answer_share_intermediate_values() -> None:
    config = SimConfig(answers={"12": 0.5, "15": 0.5})
    traces: dict[str, list[set[str]]] = {"12": [], "15": []}
    for seed in range(16):
        text = text_of(generate(config, seed=seed, temperature=1.0))
        second_half = text[len(text) // 2 :]
        traces[boxed(text)].append(set(re.findall(r"\d+", second_half)))
    shared = {answer: set.intersection(*sets) for answer, sets in traces.items()}
    assert shared["12"] - shared["15"] and shared["15"] - shared["12"]


def test_trace_length_centres_on_trace_tokens_and_minority_answers_run_longer() -> None:
    config = SimConfig(answers={"a": 0.5, "b": 0.3, "c": 0.2}, trace_tokens=300)
    lengths: dict[bool, list[int]] = {True: [], False: []}
    for seed in range(120):
        generation = generate(config, seed=seed, temperature=1.0)
        lengths[generation.answer == "a"].append(len(generation))
    assert 0.8 * 300 <= statistics.median(lengths[True]) <= 1.25 * 300
    assert statistics.mean(lengths[False]) > 1.1 * statistics.mean(lengths[True])


def test_top_answer_threads_are_more_confident() -> None:
    config = SimConfig(answers={"a": 0.5, "b": 0.5}, trace_tokens=200)
    means: dict[bool, list[float]] = {True: [], False: []}
    for seed in range(40):
        generation = generate(config, seed=seed, temperature=1.0, logprobs=True)
        assert generation.logprobs is not None
        means[generation.answer == "a"].append(statistics.mean(generation.logprobs))
    assert statistics.mean(means[True]) > statistics.mean(means[False]) + 0.15


def test_top_logprobs_are_k_descending_probabilities_including_the_chosen_token() -> None:
    generation = generate(SimConfig(trace_tokens=50), logprobs=True, top_logprobs=5)
    chunk = generation.chunk(0, len(generation))
    assert len(chunk.logprobs) == len(chunk.top_logprobs) == chunk.tokens == len(generation)
    for chosen, tops in zip(chunk.logprobs, chunk.top_logprobs):
        assert len(tops) == 5
        assert list(tops) == sorted(tops, reverse=True)
        assert tops[0] >= chosen and chosen in tops
        assert math.fsum(math.exp(v) for v in tops) <= 1.0 + 1e-9


def test_no_logprobs_unless_asked() -> None:
    chunk = generate(SimConfig(trace_tokens=16)).chunk(0, 5)
    assert chunk.logprobs == () and chunk.top_logprobs == ()


def test_max_tokens_cuts_the_output_with_finish_length() -> None:
    generation = generate(SimConfig(), max_tokens=25)
    assert len(generation) == 25
    assert generation.finish_reason is FinishReason.LENGTH
    assert generation.matched_stop is None


def test_max_tokens_zero_generates_nothing() -> None:
    generation = generate(SimConfig(), max_tokens=0)
    assert len(generation) == 0 and generation.finish_reason is FinishReason.LENGTH


def test_a_stop_string_ends_generation_and_is_trimmed_from_the_text() -> None:
    full = text_of(generate(SimConfig(trace_tokens=64)))
    stopped = generate(SimConfig(trace_tokens=64), stop=("</think>", "never there"))
    assert stopped.finish_reason is FinishReason.STOP
    assert stopped.matched_stop == "</think>"
    assert text_of(stopped) == full[: full.index("</think>")]


def test_the_stop_string_completed_first_wins() -> None:
    stopped = generate(SimConfig(trace_tokens=64), stop=("The answer is", "</think>"))
    assert stopped.matched_stop == "</think>"


def test_a_natural_end_emits_an_end_of_sequence_token() -> None:
    generation = generate(SimConfig(trace_tokens=16))
    assert generation.finish_reason is FinishReason.STOP and generation.matched_stop is None
    assert generation.pieces[-1] == "" and len(generation) == len(Tokenizer().encode(text_of(generation))) + 1


def test_reasoning_tokens_are_the_tokens_of_the_think_block() -> None:
    generation = generate(SimConfig(trace_tokens=64))
    text = text_of(generation)
    inside = text[len("<think>") : text.index("</think>")]
    assert generation.reasoning_tokens(len(generation)) == len(Tokenizer().encode(inside))
    assert generation.reasoning_tokens(10) == 9  # cut mid-thought: all but the opening tag


class EchoScript:
    name = "echo"

    def matches(self, prompt: str) -> bool:
        return prompt.startswith("echo:")

    def write(self, request: ScriptRequest) -> ScriptOutput:
        return ScriptOutput(request.prompt.removeprefix("echo:"))


def test_registered_scripts_are_tried_before_the_defaults() -> None:
    model = ScriptedModel(SimConfig())
    model.register(EchoScript())
    echoed = model.generate("echo: step by step", SamplingParams(), counter=0)
    assert echoed.text(len(echoed)) == " step by step" and echoed.script == "echo"
    assert model.generate(PROMPT, SamplingParams(), counter=0).script == "reasoning"
