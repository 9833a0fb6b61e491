"""The model half of the catalog: shapes of the open models teams deploy, each read from its config.json.

`config.catalog` re-exports MODELS, ModelArch and find_model; the capacity plan turns an entry into a
`config.shape.Shape`.  Standard library only.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

SHAPES_DIR = "config/model_shapes"
"""Copies of each catalog model's config.json (and, where the figure was found, a model.safetensors.index.json
trimmed to metadata.total_size), one folder per repo id; tests/test_model_catalog.py parses them with
config.model_files and checks each equals its entry below, so the catalog and the files cannot drift."""


def _shipped(repo: str) -> str:
    return f"{SHAPES_DIR}/{repo}/config.json"


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
    encoder: bool = False                 # a bidirectional encoder (BERT, XLM-RoBERTa): no KV cache in any engine


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
    # model.safetensors.index.json total_size 16060522496 (BF16): quoted verbatim by many public copies of the
    # Llama 3 8B index (e.g. zml's examples, read 2026-12-07).
    ModelArch("meta-llama/Llama-3.1-8B-Instruct", 8.03, 32, 4096, 8, 128, 128256, False, 131072, True, "generate",
              aliases=("meta-llama/Meta-Llama-3.1-8B-Instruct", "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4",
                       "llama3.1:8b"),
              weights_bytes=16060522496, source=_shipped("meta-llama/Llama-3.1-8B-Instruct")),
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
              aliases=("bge-m3",), source=_shipped("BAAI/bge-m3"), encoder=True),
    # Qwen3-Embedding (Apache-2.0, not gated): Qwen3ForCausalLM decoders used for embeddings (last-token pooling,
    # vLLM `--runner pooling`).  0.6B: config.json quoted by several public copies (28 layers, 1024, 16 heads, 8 KV,
    # head_dim 128, vocab 151669, 32768 positions, tied), read 2026-12-07; model card "0.6B".
    ModelArch("Qwen/Qwen3-Embedding-0.6B", 0.596, 28, 1024, 8, 128, 151669, True, 32768, False, "embed",
              aliases=("qwen3-embedding:0.6b",), source=_shipped("Qwen/Qwen3-Embedding-0.6B")),
    # unverified: 4B vocab_size 151665 and 40960 positions from memory of the Hub file; hidden 2560, 36 layers,
    # 32 heads, 8 KV, intermediate 9728, tied, match public copies (read 2026-12-07).  Model card "4B".
    ModelArch("Qwen/Qwen3-Embedding-4B", 4.022, 36, 2560, 8, 128, 151665, True, 40960, False, "embed",
              aliases=("qwen3-embedding:4b",), source=_shipped("Qwen/Qwen3-Embedding-4B")),
    # 8B: hidden 4096, 36 layers, 32 heads, intermediate 12288, vocab 151665, 40960 positions per a public copy of
    # the config (read 2026-12-07); unverified: tie_word_embeddings false (from memory).  Model card "8B".
    ModelArch("Qwen/Qwen3-Embedding-8B", 8.189, 36, 4096, 8, 128, 151665, False, 40960, False, "embed",
              aliases=("qwen3-embedding:8b",), source=_shipped("Qwen/Qwen3-Embedding-8B")),
    # --- Qwen3 (Apache-2.0, not gated), BF16 ---------------------------------------------------------------
    # config.json of Qwen/Qwen3-8B (public copy sanjithudupa/compute-aware-arch-search Qwen3-8B/config.json, read
    # 2026-12-07): 36 layers, 4096, 32 heads, 8 KV, head_dim 128, intermediate 12288, vocab 151936, 40960 positions
    # (131072 only with YaRN rope_scaling), untied.  Model card: 8.2B.
    ModelArch("Qwen/Qwen3-8B", 8.191, 36, 4096, 8, 128, 151936, False, 40960, False, "generate",
              aliases=("qwen3:8b",), source=_shipped("Qwen/Qwen3-8B")),
    # Qwen3-32B: 64 layers, 5120, 64 heads, 8 KV, head_dim 128, intermediate 25600, vocab 151936 (public copies of
    # its config.json, read 2026-12-07).  Model card: 32.8B.
    ModelArch("Qwen/Qwen3-32B", 32.762, 64, 5120, 8, 128, 151936, False, 40960, False, "generate",
              aliases=("qwen3:32b",), source=_shipped("Qwen/Qwen3-32B")),
    # Qwen3-30B-A3B (qwen3_moe): 48 layers, 2048, 32 heads, 4 KV, 128 experts of moe_intermediate_size 768, top-8,
    # every layer MoE (decoder_sparse_step 1, mlp_only_layers []), vocab 151936, untied -- as zyzshishui/slime's
    # scripts/models/qwen3-30B-A3B.sh restates it (read 2026-12-07).  Model card: 30.5B total, 3.3B activated (Qwen
    # counts the input embedding, 0.31B, which this catalog does not: see config/model_files.py).
    ModelArch("Qwen/Qwen3-30B-A3B", 30.532, 48, 2048, 4, 128, 151936, False, 40960, False, "generate",
              aliases=("qwen3:30b",), active_params_b=3.042, experts=128, experts_per_token=8, expert_params_b=28.991,
              source=_shipped("Qwen/Qwen3-30B-A3B")),
    # Qwen3-235B-A22B: 94 layers, 4096, 64 heads, 4 KV, 128 experts of 1536, top-8 (slime's qwen3-235B-A22B.sh and
    # other public restatements, read 2026-12-07).  Model card: 235B total, 22B activated.
    ModelArch("Qwen/Qwen3-235B-A22B", 235.094, 94, 4096, 4, 128, 151936, False, 40960, False, "generate",
              aliases=("qwen3:235b",), active_params_b=21.568, experts=128, experts_per_token=8,
              expert_params_b=227.096, source=_shipped("Qwen/Qwen3-235B-A22B")),
    # --- Llama 3.3 / Llama 4 (gated: Llama community licence) ---------------------------------------------------
    # Llama-3.3-70B-Instruct has the Llama 3.1 70B config.json (80 layers, 8192, 64 heads, 8 KV, intermediate
    # 28672, vocab 128256, 131072 positions with llama3 rope_scaling); public copy of the 70B config read
    # 2026-12-07.  Model card: 70B (70.55B here).
    ModelArch("meta-llama/Llama-3.3-70B-Instruct", 70.554, 80, 8192, 8, 128, 128256, False, 131072, True, "generate",
              aliases=("llama3.3:70b",), source=_shipped("meta-llama/Llama-3.3-70B-Instruct")),
    # Llama 4 Scout (Llama4ForConditionalGeneration, text_config llama4_text): 48 layers, 5120, 40 heads, 8 KV,
    # 16 routed experts of 8192 + one shared expert, top-1, every layer MoE, attention_chunk_size 8192 with every 4th
    # layer global (no_rope_layers empty -> interval 4), 10485760 positions; public copies of the config read
    # 2026-12-07.  Model card: 17B active, 109B total (with the vision encoder, not counted here).
    ModelArch("meta-llama/Llama-4-Scout-17B-16E-Instruct", 107.77, 48, 5120, 8, 128, 202048, False, 10485760, True,
              "generate", aliases=("llama4:scout",), active_params_b=16.138, experts=16, experts_per_token=1,
              expert_params_b=96.637, sliding_window=8192, sliding_layers=36,
              source=_shipped("meta-llama/Llama-4-Scout-17B-16E-Instruct")),
    # Llama 4 Maverick: as Scout with 128 experts on every 2nd layer (interleave_moe_layer_step 2; the other layers
    # a dense MLP of intermediate_size_mlp 16384), 1048576 positions, use_qk_norm false -- NVIDIA TensorRT-LLM's
    # test LLAMA_4_MAVERICK_TWO_LAYER_CONFIG quotes the real text_config (read 2026-12-07).  Model card: 17B active,
    # 400B total.
    ModelArch("meta-llama/Llama-4-Maverick-17B-128E-Instruct", 400.712, 48, 5120, 8, 128, 202048, False, 1048576,
              True, "generate", aliases=("llama4:maverick",), active_params_b=16.15, experts=128, experts_per_token=1,
              expert_params_b=386.547, sliding_window=8192, sliding_layers=36,
              source=_shipped("meta-llama/Llama-4-Maverick-17B-128E-Instruct")),
    # --- gpt-oss (Apache-2.0, not gated): MXFP4 experts, BF16 attention/embeddings ------------------------------
    # config.json of openai/gpt-oss-120b as quoted in full by a public test (read 2026-12-07): 36 layers, 2880,
    # 64 heads, 8 KV, head_dim 64, 128 experts of 2880 with biases, top-4, layer_types 18 x [sliding, full],
    # sliding_window 128, vocab 201088, quantization_config mxfp4.  gpt-oss model card: 116.83B total, 5.13B active.
    ModelArch("openai/gpt-oss-120b", 116.829, 36, 2880, 8, 64, 201088, False, 131072, False, "generate",
              aliases=("gpt-oss:120b",), active_params_b=5.133, experts=128, experts_per_token=4,
              expert_params_b=114.702, sliding_window=128, sliding_layers=18, native_format="mxfp4",
              source=_shipped("openai/gpt-oss-120b")),
    # gpt-oss-20b: the same with 24 layers and 32 experts (public copies, read 2026-12-07).  Model card: 20.91B
    # total, 3.61B active.
    ModelArch("openai/gpt-oss-20b", 20.915, 24, 2880, 8, 64, 201088, False, 131072, False, "generate",
              aliases=("gpt-oss:20b",), active_params_b=3.608, experts=32, experts_per_token=4,
              expert_params_b=19.117, sliding_window=128, sliding_layers=12, native_format="mxfp4",
              source=_shipped("openai/gpt-oss-20b")),
    # --- DeepSeek (MIT, not gated): MLA + MoE, FP8 block-scaled (weight_block_size 128x128) ----------------------
    # config.json of DeepSeek-V3 / R1 (quoted in full by a public parameter calculator, read 2026-12-07): 61
    # layers, 7168, 128 heads, kv_lora_rank 512, qk_rope_head_dim 64, q_lora_rank 1536, 256 routed experts of 2048 +
    # 1 shared, top-8, first_k_dense_replace 3, vocab 129280, 163840 positions.  README: 671B main model, 36.6B
    # activated "including 0.9B for the output Head"; the repo's weight files hold 688,586,727,753 bytes including
    # the 11.5B-parameter MTP layer (num_nextn_predict_layers 1, which vLLM loads only for MTP speculative decoding).
    # head_dim here = qk_nope_head_dim + qk_rope_head_dim (192).
    ModelArch("deepseek-ai/DeepSeek-V3", 671.026, 61, 7168, 128, 192, 129280, False, 163840, False, "generate",
              aliases=("deepseek-ai/DeepSeek-V3-0324", "deepseek-v3:671b"), active_params_b=36.626, experts=256,
              experts_per_token=8, expert_params_b=653.909, attention="mla", kv_lora_rank=512, qk_rope_head_dim=64,
              native_format="fp8", source=_shipped("deepseek-ai/DeepSeek-V3")),
    # DeepSeek-R1-0528 (and R1) share V3's config.json.
    ModelArch("deepseek-ai/DeepSeek-R1-0528", 671.026, 61, 7168, 128, 192, 129280, False, 163840, False, "generate",
              aliases=("deepseek-ai/DeepSeek-R1", "deepseek-r1:671b"), active_params_b=36.626, experts=256,
              experts_per_token=8, expert_params_b=653.909, attention="mla", kv_lora_rank=512, qk_rope_head_dim=64,
              native_format="fp8", source=_shipped("deepseek-ai/DeepSeek-R1-0528")),
    # --- Gemma 3 (gated: Gemma terms of use) ---------------------------------------------------------------------
    # config.json of google/gemma-3-27b-it (public test copies GEMMA3_27B_CONFIG, read 2026-12-07): text_config 62
    # layers, 5376, 32 heads, 16 KV, head_dim 128, intermediate 21504, sliding_window 1024; vocab 262208, 131072
    # positions, sliding_window_pattern 6 and tied embeddings are transformers' Gemma3TextConfig defaults (the file
    # omits them).  52 of 62 layers slide.  Model card: 27B (27.4B with the SigLIP vision tower, not counted here).
    ModelArch("google/gemma-3-27b-it", 27.009, 62, 5376, 16, 128, 262208, True, 131072, True, "generate",
              aliases=("gemma3:27b",), sliding_window=1024, sliding_layers=52,
              source=_shipped("google/gemma-3-27b-it")),
    # --- Mistral Small 3.x (Apache-2.0) ----------------------------------------------------------------------------
    # Mistral3ForConditionalGeneration, text_config mistral: 40 layers, 5120, 32 heads, 8 KV, head_dim 128,
    # intermediate 32768, vocab 131072, 131072 positions, no sliding window (TensorRT-LLM's
    # mistral_small_3_1_24b_config test fixture, read 2026-12-07); 3.2 has the same text shape (23,572,403,200 text
    # parameters per a public restatement = this formula).  unverified: gated (Mistral repos ask to share contact
    # details; checked only for Mistral-7B-v0.3).
    ModelArch("mistralai/Mistral-Small-3.1-24B-Instruct-2503", 23.572, 40, 5120, 8, 128, 131072, False, 131072, True,
              "generate", aliases=("mistral-small3.1:24b",),
              source=_shipped("mistralai/Mistral-Small-3.1-24B-Instruct-2503")),
    ModelArch("mistralai/Mistral-Small-3.2-24B-Instruct-2506", 23.572, 40, 5120, 8, 128, 131072, False, 131072, True,
              "generate", aliases=("mistral-small3.2:24b",),
              source=_shipped("mistralai/Mistral-Small-3.2-24B-Instruct-2506")),
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


__all__ = ["MODELS", "SHAPES_DIR", "ModelArch", "find_model"]
