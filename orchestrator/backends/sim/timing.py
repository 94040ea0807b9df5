"""How long a simulated GPU takes for a prefill batch and a decode step: a roofline model.

Each operation costs the larger of its memory time and its compute time; weights and KV cache are
bf16 (2 bytes).

    decode step  = max(weights_bytes / bw, 2 * params * batch / (flops * mfu))
                   + kv_bytes_per_token * (sum of running sequences' context tokens) / bw
                   + decode_overhead_s
    prefill      = max(weights_bytes / bw, 2 * params * uncached_tokens / (flops * mfu))
                   + prefill_overhead_s

A decode step reads every weight once (about 16 GB for an 8B model: ~3.7 ms on an H200) plus the KV
cache of every running sequence (attention is memory-bound in decode); past a batch of about 100 the
weight matmuls become compute-bound. Prefill costs 2 * params FLOP per uncached token; attention
FLOPs over long contexts, chunked prefill and tensor parallelism are not modelled.

Model shapes are the published Hugging Face configs (`num_hidden_layers`, `num_key_value_heads`,
`head_dim`); KV bytes per token = layers x kv_heads x head_dim x 2 (K and V) x 2 bytes.

GPU figures (sources and assumptions):
- H200 SXM: 4.3e12 B/s memory bandwidth as measured (spec 4.8e12), 790e12 bf16 FLOP/s achieved on
  dense matmuls (spec 989e12), 141e9 bytes of HBM3e (DESIGN.md section 2).
- H100 SXM: 3.35e12 B/s spec, about 2.9e12 measured (the same ~87% of spec that STREAM-like copies
  reach on HBM3); 989e12 FLOP/s dense bf16 spec, 720e12 assumed achieved (large cuBLAS bf16 GEMMs
  are commonly reported at 650-780e12); 80e9 bytes of HBM3 (nvidia-smi shows about 81.5e9 usable
  bytes; 80e9 is the conservative round figure).
- mfu = 0.5 of the achieved figure is a realistic end-to-end prefill efficiency: 8B on H200 prefills
  about 25,000 tokens/s, as DESIGN.md computes.
- Overheads: 0.25 ms per decode step (scheduling, sampling, CUDA-graph launch) and 0.5 ms per
  prefill batch; assumptions, of the order SGLang's scheduler profiles show.

Default KV capacity follows SGLang's `mem_fraction_static`: (GPU memory x 0.88 - weight bytes) / KV
bytes per token, about 824,000 tokens for Llama-3-8B on an H200.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.errors import BackendError

BYTES_PER_VALUE = 2


@dataclass(frozen=True, slots=True)
class ModelShape:
    name: str
    params: float
    layers: int
    kv_heads: int
    head_dim: int

    @property
    def weight_bytes(self) -> float:
        return self.params * BYTES_PER_VALUE

    @property
    def kv_bytes_per_token(self) -> int:
        return self.layers * self.kv_heads * self.head_dim * 2 * BYTES_PER_VALUE


@dataclass(frozen=True, slots=True)
class GpuSpec:
    name: str
    memory_bandwidth: float
    bf16_flops: float
    memory_bytes: float


MODELS: dict[str, ModelShape] = {
    "qwen3-4b": ModelShape("Qwen3-4B", 4.02e9, 36, 8, 128),
    "llama-3-8b": ModelShape("Llama-3-8B", 8.03e9, 32, 8, 128),
    "qwen3-8b": ModelShape("Qwen3-8B", 8.19e9, 36, 8, 128),
    "qwen3-32b": ModelShape("Qwen3-32B", 32.8e9, 64, 8, 128),
}

GPUS: dict[str, GpuSpec] = {
    "h200": GpuSpec("H200", 4.3e12, 790e12, 141e9),
    "h100": GpuSpec("H100 SXM", 2.9e12, 720e12, 80e9),
}


@dataclass(frozen=True, slots=True)
class TimingModel:
    model: ModelShape
    gpu: GpuSpec
    mfu: float = 0.5
    decode_overhead_s: float = 0.25e-3
    prefill_overhead_s: float = 0.5e-3

    @classmethod
    def preset(cls, model: str, gpu: str) -> TimingModel:
        if model not in MODELS or gpu not in GPUS:
            raise BackendError(f"no timing preset for model {model!r} on gpu {gpu!r}")
        return cls(MODELS[model], GPUS[gpu])

    def decode_seconds(self, batch: int, context_tokens: int) -> float:
        """One decode step producing a token for each of `batch` sequences holding `context_tokens` in all."""
        matmuls = max(self._weights_read_s, self._matmul_s(batch))
        attention = self.model.kv_bytes_per_token * context_tokens / self.gpu.memory_bandwidth
        return matmuls + attention + self.decode_overhead_s

    def prefill_seconds(self, tokens: int) -> float:
        """One prefill batch computing `tokens` uncached prompt tokens in all."""
        return max(self._weights_read_s, self._matmul_s(tokens)) + self.prefill_overhead_s

    def cache_tokens(self, mem_fraction_static: float = 0.88) -> int:
        """KV pool size in tokens: the static memory fraction minus the weights, as SGLang sizes it."""
        free = self.gpu.memory_bytes * mem_fraction_static - self.model.weight_bytes
        if free <= 0:
            raise BackendError(f"{self.model.name} does not fit on one {self.gpu.name}")
        return int(free // self.model.kv_bytes_per_token)

    @property
    def _weights_read_s(self) -> float:
        return self.model.weight_bytes / self.gpu.memory_bandwidth

    def _matmul_s(self, tokens: int) -> float:
        return 2 * self.model.params * tokens / (self.gpu.bf16_flops * self.mfu)
