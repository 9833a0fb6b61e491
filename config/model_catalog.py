"""The model half of the catalog: shapes of the open models teams deploy, each read from its config.json.

`config.catalog` re-exports MODELS, ModelArch and find_model; the capacity plan turns an entry into a
`config.shape.Shape`.  Standard library only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal


@dataclass(frozen=True)
class ModelArch:
    """One model's shape as its Hugging Face config.json (and model.safetensors.index.json) states it."""

    repo: str              # canonical Hugging Face repo id
    params_b: float        # total parameters, billions (MoE: every expert counted)
    layers: int            # num_hidden_layers
    hidden: int            # hidden_size
    kv_heads: int          # num_key_value_heads (MHA: = num_attention_heads; MLA: num_attention_heads)
    head_dim: int          # hidden_size / num_attention_heads unless config says otherwise
    vocab: int             # vocab_size
    tied_embeddings: bool  # tie_word_embeddings
    max_context: int       # max_position_embeddings
    gated: bool            # HF repo requires accepting a licence / a token
    task: Literal["generate", "embed"]
    aliases: tuple[str, ...] = field(default=())  # quantized variants / Ollama tags sharing this architecture
    # --- mixture of experts (0 / None for dense models) --------------------------------------------------------
    active_params_b: float | None = None  # parameters one token activates (MoE); None: dense (= params_b)
    experts: int = 0                      # routed experts per MoE layer (n_routed_experts / num_local_experts)
    experts_per_token: int = 0            # num_experts_per_tok / experts_per_token (top-k)
    expert_params_b: float = 0.0          # parameters in routed experts, billions (all MoE layers together)
    # --- attention ---------------------------------------------------------------------------------------------
    attention: Literal["gqa", "mla"] = "gqa"  # gqa covers MHA (kv_heads = heads) and MQA; mla: DeepSeek latent KV
    kv_lora_rank: int = 0                 # MLA: kv_lora_rank (the cached latent)
    qk_rope_head_dim: int = 0             # MLA: qk_rope_head_dim (the cached decoupled RoPE key)
    sliding_window: int | None = None     # tokens a sliding-window layer attends to (and caches)
    sliding_layers: int = 0               # how many of `layers` use the sliding window (the rest attend fully)
    # --- checkpoint --------------------------------------------------------------------------------------------
    native_format: str = "none"           # quantization value the repo's weights ship in (none = 16 bit)
    weights_bytes: int | None = None      # model.safetensors.index.json metadata.total_size of `repo`
    source: str = ""                      # where the numbers were read (shipped config file / URL), for the docs


_MODEL_LIST = (
    # --- Qwen2.5 (Apache-2.0, not gated; Qwen2.5-72B uses the Qwen licence but is not gated either) ---------
    # config.json of Qwen/Qwen2.5-7B-Instruct: 28 layers, hidden 3584, 28 heads, 4 KV heads, vocab 152064,
    # tie false, max_position_embeddings 32768 (128K only with YaRN rope_scaling).
    ModelArch("Qwen/Qwen2.5-7B-Instruct", 7.62, 28, 3584, 4, 128, 152064, False, 32768, False, "generate",
              aliases=("Qwen/Qwen2.5-7B-Instruct-AWQ", "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int4",
                       "Qwen/Qwen2.5-7B-Instruct-GPTQ-Int8", "Qwen/Qwen2.5-7B-Instruct-GGUF", "qwen2.5:7b")),
    # config.json of Qwen/Qwen2.5-72B-Instruct: 80 layers, hidden 8192, 64 heads, 8 KV heads, vocab 152064.
    ModelArch("Qwen/Qwen2.5-72B-Instruct", 72.7, 80, 8192, 8, 128, 152064, False, 32768, False, "generate",
              aliases=("Qwen/Qwen2.5-72B-Instruct-AWQ", "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int4",
                       "Qwen/Qwen2.5-72B-Instruct-GPTQ-Int8", "qwen2.5:72b")),
    # config.json of Qwen/Qwen2.5-0.5B-Instruct: 24 layers, hidden 896, 14 heads (head_dim 64), 2 KV heads,
    # vocab 151936, tie true.  Ollama qwen2.5:0.5b is this model (GGUF, ~400 MB at Q4_K_M) -- CPU-friendly.
    ModelArch("Qwen/Qwen2.5-0.5B-Instruct", 0.49, 24, 896, 2, 64, 151936, True, 32768, False, "generate",
              aliases=("Qwen/Qwen2.5-0.5B-Instruct-AWQ", "Qwen/Qwen2.5-0.5B-Instruct-GPTQ-Int4",
                       "Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5:0.5b")),
    # unverified: exact Qwen2.5-1.5B-Instruct config.json not found; values match the Qwen2.5 tech report
    # table and the identical-shape Qwen2.5-Coder-1.5B config (28 layers, 1536, 12 heads, 2 KV, tie true).
    ModelArch("Qwen/Qwen2.5-1.5B-Instruct", 1.54, 28, 1536, 2, 128, 151936, True, 32768, False, "generate",
              aliases=("Qwen/Qwen2.5-1.5B-Instruct-AWQ", "Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5:1.5b")),
    # unverified: exact Qwen2.5-3B-Instruct config.json not found; values match the Qwen2.5 tech report and
    # the Qwen2.5-Omni-3B thinker text config (36 layers, 2048, 16 heads, 2 KV heads, tie true).
    ModelArch("Qwen/Qwen2.5-3B-Instruct", 3.09, 36, 2048, 2, 128, 151936, True, 32768, False, "generate",
              aliases=("Qwen/Qwen2.5-3B-Instruct-AWQ", "Qwen/Qwen2.5-3B-Instruct-GGUF", "qwen2.5:3b")),
    # --- Llama 3.x (gated: Llama community licence must be accepted on the Hub) ---------------------------
    # config.json of meta-llama/Llama-3.1-8B-Instruct: 32 layers, 4096, 32 heads, 8 KV, vocab 128256,
    # max_position_embeddings 131072, tie false.
    ModelArch("meta-llama/Llama-3.1-8B-Instruct", 8.03, 32, 4096, 8, 128, 128256, False, 131072, True, "generate",
              aliases=("meta-llama/Meta-Llama-3.1-8B-Instruct", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
                       "llama3.1:8b")),
    # config.json of meta-llama/Llama-3.1-70B-Instruct: 80 layers, 8192, 64 heads, 8 KV, vocab 128256.
    ModelArch("meta-llama/Llama-3.1-70B-Instruct", 70.6, 80, 8192, 8, 128, 128256, False, 131072, True, "generate",
              aliases=("meta-llama/Meta-Llama-3.1-70B-Instruct", "hugging-quants/Meta-Llama-3.1-70B-Instruct-AWQ-INT4",
                       "llama3.1:70b")),
    # config.json of meta-llama/Llama-3.2-1B-Instruct: 16 layers, 2048, 32 heads, 8 KV, head_dim 64,
    # vocab 128256, tie true.  Ollama llama3.2:1b (~1.3 GB) -- CPU-friendly.
    ModelArch("meta-llama/Llama-3.2-1B-Instruct", 1.24, 16, 2048, 8, 64, 128256, True, 131072, True, "generate",
              aliases=("llama3.2:1b",)),
    # --- Mistral (gated: click-through on the Hub) ---------------------------------------------------------
    # config.json of mistralai/Mistral-7B-Instruct-v0.3: 32 layers, 4096, 32 heads, 8 KV, vocab 32768 (v0.3
    # extended vocabulary), max_position_embeddings 32768, tie false, no sliding window.
    ModelArch("mistralai/Mistral-7B-Instruct-v0.3", 7.25, 32, 4096, 8, 128, 32768, False, 32768, True, "generate",
              aliases=("mistral:7b",)),
    # --- Embeddings ------------------------------------------------------------------------------------------
    # config.json of BAAI/bge-m3 (XLMRobertaModel): 24 layers, hidden 1024, 16 heads (no GQA -> 16 KV heads),
    # vocab 250002, max_position_embeddings 8194 (8192 usable tokens), 568M parameters.
    ModelArch("BAAI/bge-m3", 0.568, 24, 1024, 16, 64, 250002, True, 8194, False, "embed",
              aliases=("bge-m3",)),
)

MODELS: Mapping[str, ModelArch] = MappingProxyType({m.repo: m for m in _MODEL_LIST})

_LOOKUP: Mapping[str, ModelArch] = MappingProxyType(
    {name.lower(): m for m in _MODEL_LIST for name in (m.repo, *m.aliases)}
)
_NAMES = [name.lower() for m in _MODEL_LIST for name in (m.repo, *m.aliases)]
if len(_LOOKUP) != len(_NAMES):  # a raise, not an assert: `python -O` must not drop it
    raise ValueError("config/catalog.py: model name or alias listed twice (serving.models[].model would resolve "
                     f"ambiguously): {sorted({n for n in _NAMES if _NAMES.count(n) > 1})}")



def find_model(repo: str) -> ModelArch | None:
    """The catalog entry for a repo id or alias (case-insensitive), or None."""
    return _LOOKUP.get(repo.strip().lower())


__all__ = ["MODELS", "ModelArch", "find_model"]
