"""A model's shape and the memory it needs: weights by format, KV cache by attention kind and cache dtype.

`Shape` is what the capacity plan, the throughput estimate and the fit errors read about a model, whatever it
came from: the catalog (`config.model_catalog`), the model's own config.json (`shapeFrom`), a hand-typed
`architecture`, or a parameter count alone (an estimate).  Pure functions, standard library only.

Memory model (bytes; the plan reports GiB = 2^30 bytes):

weights   Exact when the checkpoint's size is known (model.safetensors.index.json `metadata.total_size`) and the
          served format is the one the checkpoint ships in.  Otherwise estimated per part:
          - embeddings (and an untied LM head): 16 bit, except GGUF which quantizes them too;
          - routed experts (MoE): the format's bytes per parameter;
          - the rest of the body (attention, dense MLPs, shared experts): the format's bytes per parameter, except
            MXFP4, which quantizes only the experts (gpt-oss keeps attention in BF16).
KV cache  per token and layer: 2 (K and V) x kv_heads x head_dim elements for multi-head / grouped-query
          attention; kv_lora_rank + qk_rope_head_dim elements for multi-head latent attention (MLA caches one
          compressed latent and the decoupled RoPE key, not per-head K and V).  A sliding-window layer holds at
          most `sliding_window` tokens plus the tokens in flight (vLLM's start-up check, below).  Element size:
          2 bytes (BF16/FP16, `kvCacheDtype: auto`) or 1 (`fp8`).

Per GPU (tensor parallel `tp`, vLLM 0.33.0; sources in the comments of each function):
weights   the non-expert part / tp (attention, dense MLPs, embeddings and LM head are tensor-parallel); the routed
          experts / tp without expert parallelism (each expert sliced), or ceil(experts / ep) whole experts of
          every MoE layer with it (ep = tp: one engine, no data parallelism).
KV cache  GQA: max(1, kv_heads // tp) heads per GPU (heads are replicated when tp > kv_heads); MLA: the whole
          latent on every GPU (one latent "head", replicated on each tensor-parallel rank).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GIB = float(2**30)

# Effective bytes per parameter of a quantized linear layer.
#  none   BF16/FP16.
#  fp8    one byte; per-tensor or 128x128 block scales (DeepSeek-V3 `weight_block_size`) add < 0.01%.
#  int8   one byte (W8A8 / W8A16).
#  awq    4-bit, one fp16 scale + zero per group of 128 weights: +1/32 byte per weight.
#  gptq   the same layout as awq.
#  gguf   Q4_K_M averages about 4.85 bits per weight.
#  mxfp4  OCP MX: 4-bit E2M1 elements + one 8-bit E8M0 scale per block of 32: 4.25 bits.
#  nvfp4  4-bit E2M1 elements + one FP8 E4M3 scale per block of 16 (+ a per-tensor FP32 scale): 4.5 bits.
BYTES_PER_PARAM: dict[str, float] = {
    "none": 2.0, "fp8": 1.0, "int8": 1.0, "awq": 0.5 + 1 / 32, "gptq": 0.5 + 1 / 32, "gguf": 4.85 / 8,
    "mxfp4": 4.25 / 8, "nvfp4": 4.5 / 8,
}
# Embeddings and the LM head stay in 16 bit in quantized checkpoints, except GGUF which quantizes them too.
EMBEDDING_BYTES: dict[str, float] = {q: (BYTES_PER_PARAM["gguf"] if q == "gguf" else 2.0) for q in BYTES_PER_PARAM}
# Formats that quantize only the routed experts of a MoE model (the rest stays 16 bit).
EXPERTS_ONLY: frozenset[str] = frozenset({"mxfp4"})
# Bytes per cached K/V element per `kvCacheDtype`.
KV_DTYPE_BYTES: dict[str, int] = {"auto": 2, "fp8": 1}

Source = Literal["catalog", "config.json", "architecture", "estimate"]


@dataclass(frozen=True, kw_only=True)
class Shape:
    """The transformer numbers the memory model and the throughput estimate need."""

    params_b: float
    """Total parameters, billions (MoE: every expert)."""
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    task: str
    """generate | embed (encoders keep no KV cache)."""
    max_context: int | None
    gated: bool
    estimated: bool
    """True when derived from paramsB alone (a conservative dense-MHA estimate)."""
    source: Source = "catalog"
    """Where the numbers came from."""
    origin: str = ""
    """The file or catalog entry they were read from (for messages and the plan)."""
    active_params_b: float | None = None
    """Parameters one token activates (MoE); None: dense."""
    experts: int = 0
    """Routed experts per MoE layer (0: dense)."""
    experts_per_token: int = 0
    """Routed experts each token uses (top-k)."""
    expert_params_b: float = 0.0
    """Parameters in routed experts, billions."""
    attention: Literal["gqa", "mla"] = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    sliding_window: int | None = None
    sliding_layers: int = 0
    """Layers attending to at most `sliding_window` tokens; the other `layers - sliding_layers` attend fully."""
    native_format: str = "none"
    """The quantization value the checkpoint ships in."""
    weights_bytes: int | None = None
    """Exact checkpoint size (safetensors index total_size), in `native_format`."""
    encoder: bool = False
    """A bidirectional encoder (BERT, XLM-RoBERTa: bge-m3) keeps no KV cache; decoder-based embedding models
    (Qwen3-Embedding) do in vLLM, which runs them through its paged KV cache like any decoder."""

    @property
    def moe(self) -> bool:
        return self.experts > 0

    @property
    def active_b(self) -> float:
        """Parameters read per token (billions): the active ones for MoE, all of them for dense models."""
        return self.active_params_b if self.active_params_b is not None else self.params_b

    @property
    def embedding_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)


def weights_split(shape: Shape, quantization: str) -> tuple[float, float]:
    """Bytes of the weights served in `quantization`, as (routed experts, everything else).

    Exact in total when the checkpoint ships in that format (its safetensors size, split between experts and the
    rest in the proportion of the estimate).
    """
    embed = float(shape.embedding_params)
    body = max(0.0, shape.params_b * 1e9 - embed)
    experts = min(body, shape.expert_params_b * 1e9)
    rest = body - experts
    per_param = BYTES_PER_PARAM[quantization]
    rest_bytes = 2.0 if (quantization in EXPERTS_ONLY and shape.moe) else per_param
    expert_part = experts * per_param
    other_part = rest * rest_bytes + embed * EMBEDDING_BYTES[quantization]
    if shape.weights_bytes is not None and quantization == shape.native_format:
        total = expert_part + other_part
        share = expert_part / total if total > 0 else 0.0
        return shape.weights_bytes * share, shape.weights_bytes * (1 - share)
    return expert_part, other_part


def weights_bytes(shape: Shape, quantization: str) -> float:
    """Bytes of the weights served in `quantization` (exact when the checkpoint ships in that format)."""
    if shape.weights_bytes is not None and quantization == shape.native_format:
        return float(shape.weights_bytes)
    experts, other = weights_split(shape, quantization)
    return experts + other


def weights_gib(shape: Shape, quantization: str) -> float:
    return weights_bytes(shape, quantization) / GIB


def experts_per_gpu(shape: Shape, ep: int) -> int:
    """Whole routed experts of one MoE layer on the most loaded GPU of an expert-parallel group of `ep` GPUs.

    vLLM 0.33.0 vllm/model_executor/layers/fused_moe/expert_map_manager.py determine_expert_map: base =
    experts // ep, the first experts % ep ranks hold one more (linear placement, the default).
    """
    return -(-shape.experts // max(1, ep))


def weights_bytes_per_gpu(shape: Shape, quantization: str, tp: int, expert_parallel: bool = False) -> float:
    """Weight bytes on the most loaded GPU of one replica (`tp` GPUs).

    Without expert parallelism every layer is tensor-parallel: total / tp.  With it (vLLM
    `--enable-expert-parallel`), vllm/model_executor/layers/fused_moe/config.py FusedMoEParallelConfig.make
    (0.33.0) sets ep_size = tp x dp (x pcp) and tp_size = 1 for the MoE layers only: each GPU holds whole experts
    (`experts_per_gpu`), while attention, dense layers and embeddings stay split over tp.
    """
    tp = max(1, tp)
    experts, other = weights_split(shape, quantization)
    if expert_parallel and shape.moe and tp > 1:
        return other / tp + experts * experts_per_gpu(shape, tp) / shape.experts
    return (experts + other) / tp


def kv_elements_per_token_layer(shape: Shape) -> int:
    """Cached elements per token in one attention layer (all KV heads)."""
    if shape.attention == "mla":
        return shape.kv_lora_rank + shape.qk_rope_head_dim
    return 2 * shape.kv_heads * shape.head_dim


def window_tokens(shape: Shape, tokens: int, in_flight_tokens: int = 0) -> int:
    """Tokens a sliding-window layer holds for one sequence of `tokens` tokens.

    vLLM 0.33.0 vllm/v1/kv_cache_interface.py SlidingWindowSpec.max_admission_blocks_per_request: the last
    `sliding_window - 1` tokens plus the tokens scheduled but not yet freed (`max_in_flight_tokens`), never more than
    the sequence, plus one block.  Here: min(window + in_flight, tokens) (the -1 and the extra block, < 16 tokens,
    are left to the overhead).
    """
    if not shape.sliding_window:
        return tokens
    return min(tokens, shape.sliding_window + max(0, in_flight_tokens))


def kv_bytes(shape: Shape, tokens: int, kv_dtype: str = "auto", in_flight_tokens: int = 0,
             windowed: bool = True) -> float:
    """KV cache bytes of one sequence of `tokens` tokens (whole model, before any tensor-parallel split).

    `windowed` False: the engine caches sliding-window layers like full ones (no hybrid KV cache manager).
    """
    if shape.encoder or tokens <= 0:
        return 0.0
    per_layer = kv_elements_per_token_layer(shape) * KV_DTYPE_BYTES[kv_dtype]
    sliding = shape.sliding_layers if windowed else 0
    full_layers = shape.layers - sliding
    return float(per_layer * (full_layers * tokens + sliding * window_tokens(shape, tokens, in_flight_tokens)))


def kv_cache_gib(shape: Shape, max_model_len: int, kv_dtype: str = "auto", in_flight_tokens: int = 0,
                 windowed: bool = True) -> float:
    """KV cache (GiB) of one full-length sequence: what vLLM checks at start-up."""
    return kv_bytes(shape, max_model_len, kv_dtype, in_flight_tokens, windowed) / GIB


def kv_share_per_gpu(shape: Shape, tp: int) -> float:
    """Fraction of the whole model's KV cache that one GPU of a `tp`-way replica holds.

    GQA/MHA: max(1, kv_heads // tp) of kv_heads heads (vLLM 0.33.0 vllm/model_executor/models/llama.py
    `self.num_kv_heads = max(1, self.total_num_kv_heads // tp_size)`; linear.py QKVParallelLinear replicates a KV
    head on tp / kv_heads ranks when tp > kv_heads).  MLA: 1 -- every rank caches the whole latent
    (vllm/model_executor/layers/attention/mla_attention.py get_kv_cache_spec: num_kv_heads=1, max_tp_shards=1,
    head_size = kv_lora_rank + qk_rope_head_dim; kv_cache_interface.py AttentionSpec.max_tp_shards: "TP ranks beyond
    this hold replicas").
    """
    tp = max(1, tp)
    if shape.attention == "mla":
        return 1.0
    return max(1, shape.kv_heads // tp) / shape.kv_heads


__all__ = [
    "BYTES_PER_PARAM",
    "EMBEDDING_BYTES",
    "EXPERTS_ONLY",
    "GIB",
    "KV_DTYPE_BYTES",
    "Shape",
    "experts_per_gpu",
    "kv_bytes",
    "kv_cache_gib",
    "kv_elements_per_token_layer",
    "kv_share_per_gpu",
    "weights_bytes",
    "weights_bytes_per_gpu",
    "weights_gib",
    "weights_split",
    "window_tokens",
]
