from typing import get_args

import pytest

from orchestrator.backends.sim import GPUS, MODELS, TimingModel
from orchestrator.backends.sim.config import GpuPreset, ModelPreset
from orchestrator.errors import BackendError


def test_every_config_preset_has_a_timing_model() -> None:
    assert set(get_args(ModelPreset)) == set(MODELS)
    assert set(get_args(GpuPreset)) == set(GPUS)


def test_llama_3_8b_kv_cache_is_128_kib_per_token() -> None:
    assert MODELS["llama-3-8b"].kv_bytes_per_token == 128 * 1024


def test_8b_decode_step_on_h200_is_about_4_ms_at_batch_1() -> None:
    step = TimingModel.preset("llama-3-8b", "h200").decode_seconds(1, 1000)
    assert 3.7e-3 <= step <= 4.5e-3


def test_8b_prefill_on_h200_runs_20_to_30_thousand_tokens_per_second() -> None:
    timing = TimingModel.preset("llama-3-8b", "h200")
    rate = 8192 / timing.prefill_seconds(8192)
    assert 20_000 <= rate <= 30_000


def test_decode_step_grows_with_batch_and_context() -> None:
    timing = TimingModel.preset("qwen3-8b", "h200")
    small = timing.decode_seconds(1, 1_000)
    assert timing.decode_seconds(64, 64_000) > small
    assert timing.decode_seconds(256, 256_000) > timing.decode_seconds(64, 64_000)
    assert timing.decode_seconds(1, 100_000) > small


def test_bigger_models_and_slower_gpus_take_longer() -> None:
    h200 = TimingModel.preset("qwen3-32b", "h200").decode_seconds(8, 8000)
    assert h200 > TimingModel.preset("qwen3-8b", "h200").decode_seconds(8, 8000)
    assert TimingModel.preset("qwen3-32b", "h100").decode_seconds(8, 8000) > h200


def test_default_cache_size_follows_the_static_memory_fraction() -> None:
    timing = TimingModel.preset("llama-3-8b", "h200")
    expected = (141e9 * 0.88 - 8.03e9 * 2) / (128 * 1024)
    assert timing.cache_tokens() == pytest.approx(expected, abs=1)
    assert timing.cache_tokens(0.5) < timing.cache_tokens()


def test_a_model_that_does_not_fit_is_an_error() -> None:
    with pytest.raises(BackendError):
        TimingModel.preset("qwen3-32b", "h100").cache_tokens(0.5)


def test_unknown_presets_are_an_error() -> None:
    with pytest.raises(BackendError):
        TimingModel.preset("gpt-5", "h200")
