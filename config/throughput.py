"""Throughput and cost per token of one model-server replica, estimated from first principles (issue 19).

An ESTIMATE, printed as one: an upper bound of what the hardware allows at the stated assumptions, not a
measurement.  Pure functions, standard library only; the memory model (bytes of weights and KV cache) is
`config.shape`'s.

Decode (one step emits one token for each of the B sequences of the batch):
  bytes read  = weights the step touches + B x KV cache of one sequence at the average context
                dense: every weight; MoE: the non-expert weights + the routed experts the batch touches: with top-k of
                E experts per token, B tokens touch E x (1 - (1 - k/E)^B) distinct experts per MoE layer on average
                (each expert is missed by one token with probability 1 - k/E, independently), so that fraction of
                the expert bytes is read
  memory time = bytes read / (HBM bandwidth of the unit x tensorParallel x TP efficiency)
  compute time= 2 x active parameters x B FLOPs / (the format's peak FLOPS of the unit x tensorParallel x TP eff.)
  step time   = max(memory time, compute time); tokens/s per replica = B / step time
  unit        = a whole GPU; a MIG slice gets memory_slices/8 of the bandwidth and compute_slices/7 of the FLOPs;
                a time-sliced or MPS share gets 1/replicas of both (sharing divides a GPU, it adds nothing)
Batch B       = `serving.models[].maxNumSeqs`, else the engine's default at its pinned version (engine_default_batch),
                capped by how many sequences at the average context the KV cache left after weights and overhead holds.
Prefill       = 2 x active parameters FLOPs per prompt token at PREFILL_MFU of the format's peak; time to first token
                = the larger of that for a PROMPT_TOKENS prompt and one read of the weights.
Cost          = the replica's share of its node's monthly cost (the plan's monthly_usd_max / max_replicas) over the
                tokens it emits in a month at full utilisation, per million output tokens.

Not modelled: attention FLOPs, kernel and scheduling overheads (the bandwidth figure is the datasheet peak, a real
engine reaches 60-80 % of it -- see `python -m tools.bench --throughput`), prefill interleaved with decode, speculative
decoding, prefix-cache hits, PCIe/NVLink limits beyond the TP efficiency factor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from .catalog import GpuModel
from .shape import Shape, kv_bytes, weights_bytes

HOURS_PER_MONTH = 730  # the plan's month (config.capacity.HOURS_PER_MONTH)

PROMPT_TOKENS = 1024
"""Assumed prompt length of a request (tokens)."""
OUTPUT_TOKENS = 512
"""Assumed output length of a request (tokens).  A decoding sequence holds on average the prompt plus half its
output: 1024 + 256 = 1280 tokens of context (`average_context`)."""
PREFILL_MFU = 0.5
"""Fraction of the peak tensor FLOPS a prefill reaches (large GEMMs; 40-60 % is typical of vLLM/TensorRT-LLM)."""
TP_EFFICIENCY = 0.85
"""Fraction of the ideal tensorParallel-fold speed-up a multi-GPU replica keeps: two all-reduces per layer over
NVLink cost ~10-20 % of a decode step at moderate batch.  1.0 for a single GPU."""

# Formats whose arithmetic runs on their own tensor cores when the GPU has them (catalog *_tflops > 0); every other
# format (AWQ/GPTQ int4 and int8 weight-only or W8A8 kernels, GGUF, 16 bit) is counted at the BF16 peak -- the
# catalog has no INT8 figure, and weight-only formats dequantize to 16 bit before the matmul.
FP8_FORMATS = frozenset({"fp8"})
FP4_FORMATS = frozenset({"mxfp4", "nvfp4"})

# vLLM 0.33.0 vllm/engine/arg_utils.py EngineArgs.get_batch_defaults(), UsageContext.OPENAI_API_SERVER (what
# `vllm serve` passes, vllm/entrypoints/cli/serve.py): max_num_seqs 1024 when the device's total memory (NVML
# nvmlDeviceGetMemoryInfo(...).total, vllm/platforms/cuda.py) is >= 160 GiB, or >= 70 GiB and the device name does
# not contain "a100"; otherwise 256.  `performance_mode` (default "balanced") doubles it only in "throughput" mode,
# which the platform does not set.  The default is then min(that, max_num_batched_tokens) -- never below 256 here
# since max_num_batched_tokens >= 2048 with chunked prefill.
VLLM_LARGE_DEFAULT_SEQS = 1024
VLLM_SMALL_DEFAULT_SEQS = 256
VLLM_LARGE_GIB = 70.0
VLLM_LARGEST_GIB = 160.0
# TGI 3.3.7 launcher/src/main.rs: --max-concurrent-requests default 128 (the router refuses requests beyond it), so
# no more than 128 sequences decode at once; the batch itself is sized by tokens (--max-batch-total-tokens).
TGI_DEFAULT_CONCURRENT = 128
# Ollama 0.32.15 envconfig/config.go: OLLAMA_NUM_PARALLEL default 1 (one request at a time per loaded model).
OLLAMA_DEFAULT_PARALLEL = 1

BatchFrom = Literal["maxNumSeqs", "engine default", "KV cache"]


@dataclass(frozen=True)
class Share:
    """What fraction of one GPU's bandwidth and FLOPS one schedulable unit gets."""

    bandwidth: float
    compute: float


def share_of(gpu: GpuModel, kind: str, profile: str | None = None, replicas: int = 1) -> Share:
    """The unit's share: `kind` gpu | mig (with its `profile`) | time-slicing | mps (with `replicas`)."""
    if kind == "mig":
        mig = gpu.mig_profiles[profile or ""]
        # Memory slices carry the bandwidth (each owns its share of the memory controllers); GPCs carry the FLOPs.
        return Share(mig.memory_slices / 8, mig.compute_slices / 7)
    if kind in ("time-slicing", "mps"):
        return Share(1 / replicas, 1 / replicas)
    return Share(1.0, 1.0)


def peak_tflops(gpu: GpuModel, quantization: str) -> float:
    """Dense tensor TFLOPS the format computes at on this GPU (FP8/FP4 on their tensor cores, else BF16)."""
    if quantization in FP4_FORMATS and gpu.fp4_tflops > 0:
        return gpu.fp4_tflops
    if quantization in FP8_FORMATS and gpu.fp8_tflops > 0:
        return gpu.fp8_tflops
    return gpu.bf16_tflops


def engine_default_batch(engine: str, gpu: GpuModel) -> int | None:
    """Most sequences the engine decodes at once when `maxNumSeqs` is not set (None: not a decoding engine)."""
    if engine in ("vllm", "triton"):
        # Triton's vLLM backend builds its engine with UsageContext.OPENAI_API_SERVER too
        # (triton-inference-server/vllm_backend@8de0c148 src/utils/vllm_backend_utils.py); its vLLM is 0.24.0.
        # unverified: the rule is read at vLLM 0.33.0; 0.24.0's may lack the >= 160 GiB tier (same result here).
        # unverified: for a MIG slice NVML reports the parent GPU's memory (nvidia-smi shows the whole GPU's total).
        large = gpu.memory_gib >= VLLM_LARGEST_GIB or (gpu.memory_gib >= VLLM_LARGE_GIB and "a100" not in gpu.key)
        return VLLM_LARGE_DEFAULT_SEQS if large else VLLM_SMALL_DEFAULT_SEQS
    if engine == "tgi":
        return TGI_DEFAULT_CONCURRENT
    if engine == "ollama":
        return OLLAMA_DEFAULT_PARALLEL
    return None


def request_shape(max_model_len: int) -> tuple[int, int]:
    """(prompt, output) tokens of the assumed request, scaled down to fit `max_model_len` (2:1)."""
    if PROMPT_TOKENS + OUTPUT_TOKENS <= max_model_len:
        return PROMPT_TOKENS, OUTPUT_TOKENS
    prompt = max_model_len * 2 // 3
    return prompt, max_model_len - prompt


def average_context(max_model_len: int) -> int:
    """Tokens a decoding sequence holds on average: the prompt and half the output."""
    prompt, output = request_shape(max_model_len)
    return prompt + output // 2


def expert_bytes(shape: Shape, quantization: str) -> float:
    """Bytes of the routed experts: the model's weights minus the same model without them (config.shape's math)."""
    if not shape.moe or shape.expert_params_b <= 0:
        return 0.0
    dense = replace(shape, params_b=max(0.0, shape.params_b - shape.expert_params_b), expert_params_b=0.0,
                    weights_bytes=None)
    return max(0.0, weights_bytes(shape, quantization) - weights_bytes(dense, quantization))


def touched_expert_fraction(shape: Shape, batch: int) -> float:
    """Expected fraction of a MoE layer's experts that a batch of `batch` tokens routes to: 1 - (1 - k/E)^B."""
    if not shape.moe:
        return 1.0
    k_over_e = min(1.0, shape.experts_per_token / shape.experts)
    return 1.0 - (1.0 - k_over_e) ** batch


def weights_read_bytes(shape: Shape, quantization: str, batch: int) -> float:
    """Weight bytes one decode step reads: all of them (dense), or the non-expert part + the touched experts."""
    total = weights_bytes(shape, quantization)
    experts = expert_bytes(shape, quantization)
    return total - experts + experts * touched_expert_fraction(shape, batch)


@dataclass(frozen=True, kw_only=True)
class Throughput:
    """The estimate for one replica (figures per replica, whatever its tensorParallel)."""

    decode_tokens_per_second: float
    """Output tokens per second of the whole batch."""
    per_sequence_tokens_per_second: float
    """Output tokens per second one sequence sees (1 / step time)."""
    batch: int
    batch_from: BatchFrom
    """Where the batch came from: maxNumSeqs, the engine default, or the KV-cache cap."""
    engine_default: int
    """The engine's default batch (maxNumSeqs omitted)."""
    kv_capacity: int
    """Sequences at the average context the KV cache holds."""
    bound: Literal["memory", "compute"]
    """What limits the decode step."""
    weights_read_gb: float
    """Weight bytes one step reads (GB, 10^9)."""
    kv_read_gb: float
    """KV-cache bytes one step reads (GB)."""
    step_seconds: float
    prompt_tokens: int
    output_tokens: int
    average_context: int
    prefill_tokens_per_second: float | None
    """None when the catalog has no FLOPS figure for the GPU."""
    ttft_seconds: float | None
    """Time to first token of a `prompt_tokens` prompt on an idle replica."""
    usd_per_million_output_tokens: float | None
    """None when nothing is priced (existing clusters)."""
    assumptions: tuple[str, ...]


def estimate(*, shape: Shape, engine: str, quantization: str, kv_cache_dtype: str, max_num_seqs: int | None,
             tensor_parallel: int, max_model_len: int, gpu: GpuModel, share: Share, kv_pool_bytes: float,
             replica_monthly_usd: float, request: tuple[int, int] | None = None) -> Throughput | None:
    """Decode and prefill throughput, TTFT and $/M output tokens of one replica (None: not a decoding server).

    `kv_pool_bytes`: memory the replica's KV cache can use (all its GPUs: usable memory - overhead - weights);
    `replica_monthly_usd`: its share of node cost (0: unpriced); `request`: (prompt, output) tokens instead of the
    assumed request (tools.bench uses the published benchmark's).
    """
    default = engine_default_batch(engine, gpu)
    if default is None or shape.task == "embed":
        return None
    prompt, output = request if request is not None else request_shape(max_model_len)
    context = prompt + output // 2
    per_seq_kv = kv_bytes(shape, context, kv_cache_dtype)
    kv_capacity = max(1, math.floor(kv_pool_bytes / per_seq_kv)) if per_seq_kv > 0 else default
    asked: int = max_num_seqs if max_num_seqs is not None else default
    batch = max(1, min(asked, kv_capacity))
    batch_from: BatchFrom = ("KV cache" if kv_capacity < asked
                             else "maxNumSeqs" if max_num_seqs is not None else "engine default")

    eff = TP_EFFICIENCY if tensor_parallel > 1 else 1.0
    bandwidth = gpu.hbm_gb_s * 1e9 * share.bandwidth * tensor_parallel * eff  # bytes/s of the replica
    flops = peak_tflops(gpu, quantization) * 1e12 * share.compute * tensor_parallel * eff  # FLOP/s
    active = shape.active_b * 1e9
    w_read = weights_read_bytes(shape, quantization, batch)
    kv_read = batch * per_seq_kv
    memory_s = (w_read + kv_read) / bandwidth
    compute_s = 2 * active * batch / flops if flops > 0 else 0.0
    step = max(memory_s, compute_s)

    prefill_tps = ttft = None
    if flops > 0 and active > 0:  # a shape without parameters (a test's tiny config) has no prefill cost to model
        prefill_tps = flops * PREFILL_MFU / (2 * active)
        # One request alone: its prompt's FLOPs, but never faster than one read of the weights it touches.
        ttft = max(prompt / prefill_tps, weights_read_bytes(shape, quantization, prompt) / bandwidth)
    tps = batch / step
    usd = replica_monthly_usd / (tps * HOURS_PER_MONTH * 3600) * 1e6 if replica_monthly_usd > 0 else None
    notes = [f"request {prompt} prompt + {output} output tokens (average decode context {context})",
             f"HBM {gpu.hbm_gb_s:g} GB/s x {share.bandwidth:.3g} of the GPU"
             + (f" x TP {tensor_parallel} x {TP_EFFICIENCY:g}" if tensor_parallel > 1 else ""),
             f"prefill at {PREFILL_MFU:.0%} of {peak_tflops(gpu, quantization):g} TFLOPS"
             if flops > 0 else f"no FLOPS figure for {gpu.key}: compute bound and prefill not estimated"]
    if shape.moe:
        notes.append(f"MoE: {shape.experts_per_token} of {shape.experts} experts per token, batch touches "
                     f"{touched_expert_fraction(shape, batch):.0%} of them")
    if shape.estimated:
        notes.append("shape estimated from paramsB")
    return Throughput(
        decode_tokens_per_second=tps, per_sequence_tokens_per_second=1 / step, batch=batch, batch_from=batch_from,
        engine_default=default, kv_capacity=kv_capacity, bound="compute" if compute_s > memory_s else "memory",
        weights_read_gb=w_read / 1e9, kv_read_gb=kv_read / 1e9, step_seconds=step, prompt_tokens=prompt,
        output_tokens=output, average_context=context, prefill_tokens_per_second=prefill_tps, ttft_seconds=ttft,
        usd_per_million_output_tokens=usd, assumptions=tuple(notes))


__all__ = [
    "OUTPUT_TOKENS",
    "PREFILL_MFU",
    "PROMPT_TOKENS",
    "TP_EFFICIENCY",
    "Share",
    "Throughput",
    "average_context",
    "engine_default_batch",
    "estimate",
    "expert_bytes",
    "peak_tflops",
    "request_shape",
    "share_of",
    "touched_expert_fraction",
    "weights_read_bytes",
]
