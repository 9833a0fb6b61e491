"""A model's shape read from its own Hugging Face files: config.json (+ model.safetensors.index.json).

`shape_from_config` turns a parsed config.json into a `config.shape.Shape`; `read_shape` reads the files of
`serving.models[].shapeFrom` (or of the Hub cache, config.hub) once per process.  `model_arch` makes a catalog
`ModelArch` of the same numbers, which is how tests/test_model_catalog.py keeps the catalog equal to the
config.json copies shipped under config/model_shapes/.  Standard library only.

Parameter counts are computed from the config (the numbers a checkpoint's tensor shapes follow), because
config.json has no parameter count and the index's byte total mixes formats.  Per decoder layer, with
H = hidden_size, h = num_attention_heads, kv = num_key_value_heads, d = head_dim:

  attention (GQA/MHA)  H*h*d (q) + 2*H*kv*d (k, v) + h*d*H (o)  [+ q/k/v(/o) biases, + q/k norms of d each]
  attention (MLA)      H*r_q + r_q + r_q*h*(d_nope + d_rope)  (q_lora_rank r_q; without it H*h*(d_nope + d_rope))
                       + H*(r_kv + d_rope) + r_kv + r_kv*h*(d_nope + d_v) + h*d_v*H
  dense MLP            3*H*I (gate, up, down projections; SwiGLU)           -- BERT-style encoders: 2*H*I + biases
  MoE layer            E * expert + H*E (router) + shared experts (3*H*I_shared each)
  one routed expert    3*H*I_moe  (gpt-oss adds its biases: 2*I_moe + H)
  norms                2*H per layer (Gemma 3: 4*H), H for the final norm
  embeddings           V*H, plus V*H for an untied LM head

  expert_params = moe_layers * E * expert;  active = total - input embedding (if untied) - moe_layers*(E - k)*expert

"Active" counts the LM head but not the input embedding (a lookup of one row per token): the convention of the
gpt-oss model card (3.61B of 20.9B) and DeepSeek-V3's README (36.6B "including 0.9B for the output Head").  Qwen
counts both embeddings (Qwen3-30B-A3B "3.3B activated" = 3.04B here + 0.31B input embedding).  The vision tower
of multimodal checkpoints (Llama 4, Gemma 3, Mistral Small 3.1) is not counted; their index total_size includes it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .shape import Shape

if TYPE_CHECKING:
    from .model_catalog import ModelArch

CONFIG_FILE = "config.json"
INDEX_FILE = "model.safetensors.index.json"


class ShapeFileError(ValueError):
    """A config.json that cannot be turned into a shape: the file and what is wrong with it."""

    def __init__(self, file: str, message: str):
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


# Decoder model types read by the generic GQA/MoE path, per `model_type` of the (text) config.
_DECODERS = frozenset({"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "llama4_text", "gpt_oss", "gemma3_text"})
_MLA = frozenset({"deepseek_v3", "deepseek_v2"})
_ENCODERS = frozenset({"xlm-roberta", "bert", "roberta"})
# Multimodal wrappers whose language model is `text_config`.
_WRAPPERS = {"llama4": "llama4_text", "gemma3": "gemma3_text", "mistral3": "mistral"}
SUPPORTED_MODEL_TYPES = tuple(sorted(_DECODERS | _MLA | _ENCODERS | set(_WRAPPERS)))

# Keys the Hub files omit because transformers supplies them (configuration_<type>.py defaults).  Only keys a
# shipped config relies on are listed; anything else missing is an error.
_DEFAULTS: dict[str, dict[str, Any]] = {
    # transformers Gemma3TextConfig: vocab_size 262208, max_position_embeddings 131072, sliding_window_pattern 6
    # (every 6th layer global), tie_word_embeddings True; google/gemma-3-27b-it's text_config omits all four.
    "gemma3_text": {"vocab_size": 262_208, "max_position_embeddings": 131_072, "sliding_window_pattern": 6,
                    "tie_word_embeddings": True},
    # transformers Llama4TextConfig: no_rope_layer_interval 4 (no_rope_layers empty -> every 4th layer is NoPE
    # global attention, the other three chunked local attention), interleave_moe_layer_step 1.
    "llama4_text": {"no_rope_layer_interval": 4, "interleave_moe_layer_step": 1, "tie_word_embeddings": False},
    # Qwen2 always has q/k/v biases (no `attention_bias` key); Qwen3 has none, but q/k RMS norms.
    "qwen2": {"attention_bias": True},
}

# quantization_config -> this project's quantization value (config.engines QUANTIZATIONS).
_QUANT_METHODS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "mxfp4": "mxfp4", "awq": "awq", "gptq": "gptq"}


@dataclass(frozen=True)
class _Cfg:
    """A config mapping that reports a missing key with the file and the key's path."""

    data: Mapping[str, Any]
    file: str
    prefix: str

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def int(self, key: str, default: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            raise ShapeFileError(self.file, f"missing key {self.prefix}{key} (needed for the model's shape)")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ShapeFileError(self.file, f"{self.prefix}{key} must be a non-negative integer, got {value!r}")
        return value


def _text_config(config: Mapping[str, Any], file: str) -> tuple[str, _Cfg, Mapping[str, Any] | None]:
    """(model_type, the language model's config with defaults, top-level quantization_config)."""
    model_type = config.get("model_type")
    if not isinstance(model_type, str):
        raise ShapeFileError(file, "missing key model_type (a Hugging Face config.json names its architecture)")
    quant = config.get("quantization_config")
    data: Mapping[str, Any] = config
    prefix = ""
    if model_type in _WRAPPERS:
        text = config.get("text_config")
        if not isinstance(text, Mapping):
            raise ShapeFileError(file, f"missing key text_config (model_type {model_type} keeps its language model "
                                       "there)")
        model_type = str(text.get("model_type") or _WRAPPERS[model_type])
        data, prefix = text, "text_config."
        quant = quant or text.get("quantization_config")
    if model_type not in _DECODERS | _MLA | _ENCODERS:
        raise ShapeFileError(file, f"unsupported model_type {model_type!r}; supported: "
                                   f"{', '.join(SUPPORTED_MODEL_TYPES)} (for another architecture set paramsB and "
                                   "architecture instead of shapeFrom)")
    defaults = {k: v for k, v in _DEFAULTS.get(model_type, {}).items() if v is not None}
    merged = {**defaults, **{k: v for k, v in data.items() if v is not None}}
    return model_type, _Cfg(merged, file, prefix), quant if isinstance(quant, Mapping) else None


def native_format(quant: Mapping[str, Any] | None, file: str) -> str:
    """The quantization value of the checkpoint's weights (`none`: 16 bit)."""
    if quant is None:
        return "none"
    method = str(quant.get("quant_method", "")).lower()
    if method in _QUANT_METHODS:
        return _QUANT_METHODS[method]
    if method == "compressed-tensors":  # llm-compressor checkpoints: the weights' scheme of the (first) group
        groups = quant.get("config_groups")
        first = next(iter(groups.values()), None) if isinstance(groups, Mapping) and groups else None
        weights = first.get("weights") if isinstance(first, Mapping) else None
        if isinstance(weights, Mapping):
            # W4A16 int: 4 bits + a scale per group, the size of the gptq/awq layout
            schemes = {"8/float": "fp8", "8/int": "int8", "4/float": "nvfp4", "4/int": "gptq"}
            scheme = schemes.get(f"{weights.get('num_bits')}/{weights.get('type')}")
            if scheme is not None:
                return scheme
    if method == "modelopt":  # NVIDIA ModelOpt checkpoints: quant_algo FP8 | NVFP4
        algo = str(quant.get("quant_algo", "")).upper()
        if algo in ("FP8", "NVFP4"):
            return algo.lower()
    raise ShapeFileError(file, f"unsupported quantization_config.quant_method {method or '(missing)'!r}; supported: "
                               f"{', '.join(sorted(_QUANT_METHODS))}, compressed-tensors (8-bit float/int, 4-bit "
                               "float/int weights), modelopt (FP8, NVFP4), or none")


def _windowed_layers(model_type: str, c: _Cfg, layers: int) -> tuple[int | None, int]:
    """(window, how many layers attend to at most `window` tokens) -- sliding-window and chunked local attention."""
    types = c.get("layer_types")
    if model_type == "llama4_text":
        # Llama 4 "iRoPE": RoPE layers use chunked local attention of attention_chunk_size tokens, NoPE layers
        # (no_rope_layers[i] == 0) attend globally.  vLLM (model_executor/models/llama4.py) builds
        # ChunkedLocalAttention for the RoPE layers, whose KV cache the hybrid KV-cache manager limits to the chunk
        # (v1/kv_cache_interface.py ChunkedLocalAttentionSpec) -- enabled by default since vLLM's envs.py flipped
        # VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE to "1".  unverified: the default exactly at v0.33.0
        # (older releases default to "0", where those layers cache the whole context).
        chunk = c.get("attention_chunk_size")
        if not chunk:
            return None, 0
        nope = c.get("no_rope_layers") or [int((i + 1) % c.int("no_rope_layer_interval") != 0)
                                            for i in range(layers)]
        return int(chunk), sum(1 for flag in nope[:layers] if flag)
    if isinstance(types, list) and types:
        if len(types) != layers:
            raise ShapeFileError(c.file, f"{c.prefix}layer_types has {len(types)} entries for {layers} layers")
        windowed = sum(1 for t in types if t in ("sliding_attention", "chunked_attention"))
        return (c.int("sliding_window") if windowed else None), windowed
    if model_type == "gemma3_text":
        pattern = c.int("sliding_window_pattern")
        return c.int("sliding_window"), sum(1 for i in range(layers) if (i + 1) % pattern != 0)
    if model_type == "mistral" and c.has("sliding_window"):
        return c.int("sliding_window"), layers  # Mistral 7B v0.1: every layer slides
    if model_type in ("qwen2", "qwen3", "qwen3_moe") and c.get("use_sliding_window", False):
        # transformers Qwen2: layers from max_window_layers on use the window.
        start = c.int("max_window_layers", layers)
        return c.int("sliding_window"), max(0, layers - start)
    return None, 0


def _moe_layers(model_type: str, c: _Cfg, layers: int) -> list[int]:
    """Indices of the layers whose MLP is a mixture of experts."""
    if model_type == "qwen3_moe":
        step = c.int("decoder_sparse_step", 1)
        only_mlp = set(c.get("mlp_only_layers", []))
        return [i for i in range(layers) if i not in only_mlp and step > 0 and (i + 1) % step == 0]
    if model_type == "llama4_text":
        if isinstance(c.get("moe_layers"), list):
            return [int(i) for i in c.get("moe_layers")]
        step = c.int("interleave_moe_layer_step")
        return list(range(step - 1, layers, step)) if step > 0 else []
    if model_type in _MLA:
        first = c.int("first_k_dense_replace", 0)
        freq = c.int("moe_layer_freq", 1)
        return [i for i in range(first, layers) if i % freq == 0]
    if model_type == "gpt_oss":
        return list(range(layers))
    return []


def _params(model_type: str, c: _Cfg) -> tuple[int, int, int, dict[str, int]]:
    """(total parameters, routed-expert parameters, active parameters, shape numbers) of the language model."""
    hidden, layers, heads, vocab = (c.int(k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                       "vocab_size"))
    tied = bool(c.get("tie_word_embeddings", False))
    if model_type in _ENCODERS:
        return _encoder_params(c, hidden, layers, heads, vocab)
    kv_heads = c.int("num_key_value_heads", heads)
    head_dim = c.int("head_dim", hidden // heads if heads else 0)
    if model_type in _MLA:
        nope, rope, v_dim, kv_rank = (c.int(k) for k in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                                         "kv_lora_rank"))
        q_rank = c.get("q_lora_rank")
        q = (hidden * q_rank + q_rank + q_rank * heads * (nope + rope)) if q_rank else hidden * heads * (nope + rope)
        attn = q + hidden * (kv_rank + rope) + kv_rank + kv_rank * heads * (nope + v_dim) + heads * v_dim * hidden
        kv_heads, head_dim = heads, nope + rope
    else:
        q_out, kv_out = heads * head_dim, kv_heads * head_dim
        attn = 2 * hidden * q_out + 2 * hidden * kv_out
        if c.get("attention_bias", False):
            attn += q_out + 2 * kv_out + (0 if model_type == "qwen2" else hidden)
        if model_type in ("qwen3", "qwen3_moe", "gemma3_text"):
            attn += 2 * head_dim  # q_norm, k_norm
        if model_type == "gpt_oss":
            attn += heads  # attention sinks
    norms = (4 if model_type == "gemma3_text" else 2) * hidden
    moe = set(_moe_layers(model_type, c, layers))
    experts = expert = top_k = 0
    moe_layer = 0
    if moe:
        experts = c.int("num_local_experts" if model_type in ("llama4_text", "gpt_oss") else
                        "n_routed_experts" if model_type in _MLA else "num_experts")
        top_k = c.int("experts_per_token" if model_type == "gpt_oss" else "num_experts_per_tok")
        if model_type == "gpt_oss":
            inter = c.int("intermediate_size")
            expert = 3 * hidden * inter + 2 * inter + hidden  # gate_up_proj and down_proj with biases
            router = hidden * experts + experts
        else:
            inter = c.int("intermediate_size" if model_type == "llama4_text" else "moe_intermediate_size")
            expert = 3 * hidden * inter
            router = hidden * experts + (experts if model_type == "deepseek_v3" else 0)  # e_score_correction_bias
        shared = 0
        if model_type in _MLA:
            shared = c.int("n_shared_experts", 0) * expert
        elif model_type == "llama4_text":
            shared = expert  # one shared expert of intermediate_size
        moe_layer = experts * expert + router + shared
    dense_inter = c.int("intermediate_size_mlp" if model_type == "llama4_text" else "intermediate_size") \
        if len(moe) < layers else 0
    dense_layer = 3 * hidden * dense_inter
    body = layers * (attn + norms) + len(moe) * moe_layer + (layers - len(moe)) * dense_layer + hidden
    embedding = vocab * hidden
    total = body + embedding * (1 if tied else 2)
    expert_params = len(moe) * experts * expert
    active = total - (0 if tied else embedding) - len(moe) * (experts - top_k) * expert
    dims = {"layers": layers, "hidden": hidden, "kv_heads": kv_heads, "head_dim": head_dim, "vocab": vocab,
            "tied": int(tied), "experts": experts, "top_k": top_k}
    return total, expert_params, active, dims


def _encoder_params(c: _Cfg, hidden: int, layers: int, heads: int, vocab: int) -> tuple[int, int, int, dict[str, int]]:
    """BERT / XLM-RoBERTa encoder (with the pooler): embeddings + layers of attention and a 2-matrix MLP."""
    inter = c.int("intermediate_size")
    positions, types = c.int("max_position_embeddings"), c.int("type_vocab_size", 2)
    embeddings = (vocab + positions + types) * hidden + 2 * hidden  # word, position, token type; LayerNorm
    attention = 4 * hidden * hidden + 4 * hidden + 2 * hidden      # q, k, v, o with biases; LayerNorm
    mlp = 2 * hidden * inter + inter + hidden + 2 * hidden          # up, down with biases; LayerNorm
    total = embeddings + layers * (attention + mlp) + hidden * hidden + hidden  # + pooler
    dims = {"layers": layers, "hidden": hidden, "kv_heads": heads, "head_dim": hidden // heads, "vocab": vocab,
            "tied": 1, "experts": 0, "top_k": 0}
    return total, 0, total, dims


def _billions(n: int) -> float:
    """Parameters in billions, to 3 significant digits' worth of precision (0.001B steps)."""
    return round(n / 1e9, 3)


_ENCODER_ARCHITECTURES = ("XLMRobertaModel", "BertModel", "RobertaModel", "XLMRobertaForMaskedLM")


def shape_from_config(config: Mapping[str, Any], index: Mapping[str, Any] | None = None, *, file: str = CONFIG_FILE,
                      task: Literal["generate", "embed"] | None = None, gated: bool = False) -> Shape:
    """The shape of the model a config.json (and optionally its safetensors index) describes.

    `task` defaults to embed for encoder architectures and generate otherwise (a decoder-based embedding model such
    as Qwen3-Embedding says so only in its sentence-transformers files: the catalog records it).
    """
    if not isinstance(config, Mapping):
        raise ShapeFileError(file, "not a JSON object")
    try:
        return _shape(config, index, file, task, gated)
    except (TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, ShapeFileError):
            raise
        raise ShapeFileError(file, f"malformed value ({exc})") from None


def _shape(config: Mapping[str, Any], index: Mapping[str, Any] | None, file: str,
           task: Literal["generate", "embed"] | None, gated: bool) -> Shape:
    model_type, c, quant = _text_config(config, file)
    total, expert_params, active, dims = _params(model_type, c)
    window, windowed = _windowed_layers(model_type, c, dims["layers"])
    fmt = native_format(quant, file)
    weights = None
    if index is not None:
        size = index.get("metadata", {}).get("total_size") if isinstance(index.get("metadata"), Mapping) else None
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ShapeFileError(file.replace(CONFIG_FILE, INDEX_FILE),
                                 "missing key metadata.total_size (a positive byte count)")
        weights = size
    archs = config.get("architectures") or []
    encoder = model_type in _ENCODERS or any(a in _ENCODER_ARCHITECTURES for a in archs)
    if task is None:
        task = "embed" if encoder else "generate"
    moe = dims["experts"] > 0
    return Shape(
        params_b=_billions(total), layers=dims["layers"], hidden=dims["hidden"], kv_heads=dims["kv_heads"],
        head_dim=dims["head_dim"], vocab=dims["vocab"], tied_embeddings=bool(dims["tied"]), task=task,
        max_context=c.int("max_position_embeddings"), gated=gated, estimated=False, source="config.json", origin=file,
        active_params_b=_billions(active) if moe else None, experts=dims["experts"],
        experts_per_token=dims["top_k"], expert_params_b=_billions(expert_params),
        attention="mla" if model_type in _MLA else "gqa",
        kv_lora_rank=c.int("kv_lora_rank") if model_type in _MLA else 0,
        qk_rope_head_dim=c.int("qk_rope_head_dim") if model_type in _MLA else 0,
        sliding_window=window, sliding_layers=windowed, native_format=fmt, weights_bytes=weights, encoder=encoder,
    )


def _load_json(path: Path, shown: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShapeFileError(shown, "no such file (paths are relative to the project directory)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ShapeFileError(shown, f"cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ShapeFileError(shown, f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def read_files(path: str | os.PathLike[str], *, task: Literal["generate", "embed"] | None = None,
               gated: bool = False) -> Shape:
    """Read a config.json (and the model.safetensors.index.json next to it, if any); raises ShapeFileError."""
    shown = str(path)
    config_path = Path(path)
    if config_path.is_dir():
        config_path, shown = config_path / CONFIG_FILE, os.path.join(shown, CONFIG_FILE)
    config = _load_json(config_path, shown)
    index_path = config_path.with_name(INDEX_FILE)
    index = _load_json(index_path, str(Path(shown).with_name(INDEX_FILE))) if index_path.is_file() else None
    if index is not None and not isinstance(index, Mapping):
        raise ShapeFileError(str(Path(shown).with_name(INDEX_FILE)), "not a JSON object")
    gated = gated or config_path.with_name(GATED_MARKER).is_file()
    return shape_from_config(config, index, file=shown, task=task, gated=gated)


GATED_MARKER = ".gated"
"""Written next to a fetched config.json when the Hub served it only with a token (config.hub)."""


@lru_cache(maxsize=256)
def _read_cached(path: str, _where: str, _stamp: tuple[int, int]) -> Shape | ShapeFileError:
    """Keyed by the absolute path and the file's mtime and size too: the same relative path in another project
    directory, or an edited file, is read again."""
    try:
        return read_files(path)
    except ShapeFileError as exc:
        return exc


def read_shape(path: str) -> Shape | ShapeFileError:
    """`read_files` of a path relative to the current (project) directory, read once per file version.

    Returns the error instead of raising it so that every caller (semantics, the plan, the token check) can ask
    without try/except; semantics reports it at `serving.models[i].shapeFrom`.
    """
    target = Path(path)
    config = target / CONFIG_FILE if target.is_dir() else target
    try:
        stat = config.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (0, -1)
    return _read_cached(path, str(config.resolve()), stamp)


def model_arch(repo: str, shape: Shape, *, gated: bool, task: Literal["generate", "embed"], source: str,
               aliases: tuple[str, ...] = ()) -> ModelArch:
    """The catalog entry of a shape read from a config.json."""
    from .model_catalog import ModelArch

    return ModelArch(repo, shape.params_b, shape.layers, shape.hidden, shape.kv_heads, shape.head_dim, shape.vocab,
                     shape.tied_embeddings, shape.max_context or 0, gated, task, aliases=aliases,
                     active_params_b=shape.active_params_b, experts=shape.experts,
                     experts_per_token=shape.experts_per_token, expert_params_b=shape.expert_params_b,
                     attention=shape.attention, kv_lora_rank=shape.kv_lora_rank,
                     qk_rope_head_dim=shape.qk_rope_head_dim, sliding_window=shape.sliding_window,
                     sliding_layers=shape.sliding_layers, native_format=shape.native_format,
                     weights_bytes=shape.weights_bytes, source=source, encoder=shape.encoder)


__all__ = [
    "CONFIG_FILE", "GATED_MARKER", "INDEX_FILE", "SUPPORTED_MODEL_TYPES", "ShapeFileError", "model_arch",
    "native_format", "read_files", "read_shape", "shape_from_config",
]
