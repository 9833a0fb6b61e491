"""The memory model of issue 19 piece by piece (config/shape.py, config/engines.py tables, config checks), each
expected value computed by hand in a comment; the fit verdicts over whole cases are in tests/test_fit_table.py."""

from __future__ import annotations

import pytest

from config import ConfigError, validate
from config.capacity import memory_of, shape_of, startup_in_flight_tokens
from config.engines import (
    engine_args,
    expert_parallel_args,
    format_runs_on,
    formats_on,
    fp8_kv_runs_on,
    kv_cache_dtype_args,
    triton_model_files,
)
from config.models import ServedModel
from config.shape import (
    GIB,
    experts_per_gpu,
    kv_bytes,
    kv_share_per_gpu,
    weights_bytes,
    weights_bytes_per_gpu,
    weights_split,
    window_tokens,
)

# A hand-typed mixture of experts shaped like Qwen1.5-MoE-A2.7B (60 routed experts: not a multiple of 8).
MOE_60 = {"layers": 24, "hidden": 2048, "kvHeads": 16, "headDim": 128, "vocab": 151936, "tiedEmbeddings": False,
          "experts": 60, "expertsPerToken": 4, "expertParamsB": 12.0, "activeParamsB": 2.7}
# DeepSeek-V3-like: multi-head latent attention.
MLA = {"layers": 61, "hidden": 7168, "kvHeads": 128, "headDim": 128, "vocab": 129280, "attention": "mla",
       "kvLoraRank": 512, "qkRopeHeadDim": 64, "experts": 256, "expertsPerToken": 8, "expertParamsB": 654,
       "activeParamsB": 37}
# gpt-oss-120b-like: half the layers attend to a 128-token window.
SLIDING = {"layers": 36, "hidden": 2880, "kvHeads": 8, "headDim": 64, "vocab": 201088, "slidingWindow": 128,
           "slidingLayers": 18, "experts": 128, "expertsPerToken": 4, "expertParamsB": 114.7, "activeParamsB": 5.1}


def served(arch: dict, params_b: float, **kw) -> ServedModel:
    base = {"name": "m", "engine": "vllm", "model": "acme/custom", "paramsB": params_b, "architecture": arch,
            "maxModelLen": 4096, "pool": "p"}
    return ServedModel.model_validate({**base, **kw})


def shape(arch: dict, params_b: float, **kw):
    found = shape_of(served(arch, params_b, **kw))
    assert found is not None
    return found


# ------------------------------------------------------------------------------------------- mixture of experts


def test_moe_weights_count_every_expert_and_the_plan_records_the_active_ones():
    s = shape(MOE_60, 14.3)
    assert (s.experts, s.experts_per_token, s.active_b, s.params_b) == (60, 4, 2.7, 14.3)
    # Total weights, BF16: every parameter (all 60 experts) x 2 bytes = 28.6e9 bytes.
    assert weights_bytes(s, "none") == pytest.approx(28.6e9)
    # Routed experts 12e9 x 2 = 24e9 bytes; the rest (attention, embeddings, shared experts) 2.3e9 x 2 = 4.6e9.
    assert weights_split(s, "none") == pytest.approx((24e9, 4.6e9))


def test_expert_parallel_places_whole_experts_and_keeps_the_rest_tensor_parallel():
    s = shape(MOE_60, 14.3)
    # 60 experts over 8 GPUs: 60 // 8 = 7, the first 60 % 8 = 4 ranks hold 8 (vLLM determine_expert_map).
    assert experts_per_gpu(s, 8) == 8 and experts_per_gpu(s, 4) == 15 and experts_per_gpu(s, 2) == 30
    # Without EP every expert is sliced: (24e9 + 4.6e9) / 8 = 3.575e9 bytes per GPU.
    assert weights_bytes_per_gpu(s, "none", 8) == pytest.approx(3.575e9)
    # With EP: the rest / 8 = 0.575e9 + 8 of 60 whole experts 24e9 x 8/60 = 3.2e9 -> 3.775e9 bytes.
    assert weights_bytes_per_gpu(s, "none", 8, expert_parallel=True) == pytest.approx(3.775e9)
    # 60 / 4 divides evenly: EP holds exactly a quarter, like tensor parallelism (28.6e9 / 4 = 7.15e9).
    assert weights_bytes_per_gpu(s, "none", 4, expert_parallel=True) == pytest.approx(7.15e9)


def test_mxfp4_quantizes_only_the_experts_of_a_moe_model():
    s = shape(SLIDING, 116.8)
    # embeddings 201088 x 2880 x 2 (untied) = 1,158,266,880 params; body 116.8e9 - that = 115,641,733,120;
    # experts 114.7e9 x 4.25/8 = 60,934,375,000 bytes; the rest of the body 941,733,120 params x 2 = 1,883,466,240;
    # embeddings x 2 = 2,316,533,760 -> 65,134,375,000 bytes.
    assert weights_bytes(s, "mxfp4") == pytest.approx(65_134_375_000)


# ------------------------------------------------------------------------------------------------ KV cache


def test_mla_caches_the_latent_and_the_rope_key_on_every_gpu():
    s = shape(MLA, 671)
    # (kv_lora_rank 512 + qk_rope_head_dim 64) x 2 bytes x 61 layers = 70,272 bytes per token (not 2 x 128 x 128).
    assert kv_bytes(s, 1) == 70_272
    assert kv_bytes(s, 1, "fp8") == 35_136
    # One latent "head" replicated on each tensor-parallel rank: a GPU holds all of it at any tp.
    assert kv_share_per_gpu(s, 8) == 1.0


def test_gqa_kv_heads_split_over_tensor_parallel_and_replicate_beyond_their_count():
    s = shape({"layers": 28, "hidden": 3584, "kvHeads": 4, "headDim": 128}, 7.6)
    assert kv_share_per_gpu(s, 2) == 0.5     # 2 of 4 heads
    assert kv_share_per_gpu(s, 4) == 0.25    # 1 of 4
    assert kv_share_per_gpu(s, 8) == 0.25    # still 1 of 4: two GPUs hold each head


def test_sliding_layers_hold_the_window_plus_the_tokens_in_flight():
    s = shape(SLIDING, 116.8)
    assert window_tokens(s, 131072) == 128                # steady state: the window
    assert window_tokens(s, 131072, 16384) == 16512      # start-up check: 128 + 16384 in flight
    assert window_tokens(s, 100, 16384) == 100           # never more than the sequence
    # 2 x 8 KV heads x 64 x 2 bytes = 2048 bytes per token and layer; 18 full layers x 131072 + 18 x 16512 tokens.
    assert kv_bytes(s, 131072, in_flight_tokens=16384) == (18 * 131072 + 18 * 16512) * 2048
    # An engine without a hybrid KV cache manager keeps all 36 layers in full: 36 x 131072 x 2048 = 9 GiB.
    assert kv_bytes(s, 131072, windowed=False) == 9 * GIB


@pytest.mark.parametrize(("engine", "gpu", "device_gib", "tokens"), [
    ("vllm", "h100-80gb", 79.65, 2 * 8192),   # >= 70 GiB, not an A100: 8192 batched tokens, 2 batches in flight
    ("vllm", "a100-80gb", 80.0, 2 * 2048),    # A100s keep the small default (arg_utils.py, PR #17885)
    ("vllm", "h100-80gb", 39.25, 2 * 2048),   # a 3g.40gb slice is a < 70 GiB device
    ("vllm", "b200-180gb", 179.0, 2 * 16384),  # >= 160 GiB
    ("tgi", "h100-80gb", 79.65, 0),           # not windowed: nothing in flight to add
])
def test_in_flight_tokens_follow_vllms_batch_defaults(engine, gpu, device_gib, tokens):
    assert startup_in_flight_tokens(engine, gpu, device_gib) == tokens


def test_tgi_plans_window_layers_in_full():
    arch = {"layers": 62, "hidden": 5376, "kvHeads": 16, "headDim": 128, "vocab": 262208, "tiedEmbeddings": True,
            "slidingWindow": 1024, "slidingLayers": 52}
    vllm = memory_of(shape(arch, 27.4), served(arch, 27.4, maxModelLen=32768), "none", 1, "h100-80gb", 79.65)
    tgi = memory_of(shape(arch, 27.4), served(arch, 27.4, maxModelLen=32768, engine="tgi"), "none", 1,
                    "h100-80gb", 79.65)
    # vLLM: (10 x 32768 + 52 x (1024 + 16384)) x 8192 bytes = 9.40625 GiB; TGI: 62 x 32768 x 8192 = 15.5 GiB.
    assert vllm.kv == pytest.approx(9.40625) and tgi.kv == pytest.approx(15.5)


# ------------------------------------------------------------------------------------- formats and KV dtypes


def test_format_table_by_compute_capability():
    assert not format_runs_on("mxfp4", "7.5")                   # T4: Mxfp4Config min capability 80
    assert format_runs_on("mxfp4", "8.0") and format_runs_on("mxfp4", "10.0")
    assert format_runs_on("nvfp4", "7.5")                       # FP4 Marlin from 7.5 (weight-only)
    assert format_runs_on("fp8", "8.0")                         # FP8 Marlin on Ampere
    assert formats_on("7.5") == ("none", "awq", "gptq", "fp8", "int8", "nvfp4")
    assert formats_on("12.0") == ("none", "awq", "gptq", "fp8", "int8", "mxfp4", "nvfp4")
    assert not fp8_kv_runs_on("8.0") and not fp8_kv_runs_on("8.6") and fp8_kv_runs_on("8.9")
    assert fp8_kv_runs_on("10.0") and fp8_kv_runs_on("12.0")


def test_engine_flags_for_kv_dtype_and_expert_parallel():
    args = engine_args("vllm", model="/m", served_name="m", tensor_parallel=8, quantization="fp8",
                       kv_cache_dtype="fp8", expert_parallel=True)
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8" and "--enable-expert-parallel" in args
    assert "--kv-cache-dtype" not in engine_args("vllm", model="/m", served_name="m")
    tgi = engine_args("tgi", model="/m", served_name="m", kv_cache_dtype="fp8")
    assert tgi[tgi.index("--kv-cache-dtype") + 1] == "fp8_e4m3fn"
    files = triton_model_files(model="/m", served_name="m", tensor_parallel=2, kv_cache_dtype="fp8",
                               expert_parallel=True)
    assert files["m/1/model.json"] == {"model": "/m", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9,
                                       "max_model_len": 4096, "enable_prefix_caching": True,
                                       "kv_cache_dtype": "fp8", "enable_expert_parallel": True}
    with pytest.raises(ValueError, match="engines that support it: vllm, tgi, triton"):
        kv_cache_dtype_args("ollama", "fp8")
    with pytest.raises(ValueError, match="engines that support it: vllm, triton"):
        expert_parallel_args("tgi", True)
    assert engine_args("vllm", model="/m", served_name="m", quantization="mxfp4") == \
        engine_args("vllm", model="/m", served_name="m")  # MXFP4 / NVFP4 are read from the checkpoint: no flag


# ------------------------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(("arch", "message"), [
    ({"attention": "mla", "kvLoraRank": 512}, "attention mla needs kvLoraRank and qkRopeHeadDim"),
    ({"kvLoraRank": 512, "qkRopeHeadDim": 64}, "only used with attention: mla"),
    ({"slidingLayers": 40, "slidingWindow": 128}, "slidingLayers 40 exceeds layers 36"),
    ({"slidingLayers": 18}, "slidingLayers needs slidingWindow"),
    ({"slidingWindow": 128}, "slidingWindow needs slidingLayers"),
    ({"experts": 8}, "experts 8 needs expertsPerToken between 1 and 8"),
    ({"experts": 8, "expertsPerToken": 2}, "experts needs expertParamsB"),
    ({"expertsPerToken": 2}, r"set experts \(routed experts per MoE layer\) too"),
    ({"experts": 8, "expertsPerToken": 2, "expertParamsB": 20}, "expertParamsB 20 must be below paramsB 20"),
    ({"experts": 8, "expertsPerToken": 2, "expertParamsB": 10, "activeParamsB": 25}, "activeParamsB 25 exceeds"),
])
def test_half_filled_architecture_groups_are_refused(arch, message):
    base = {"layers": 36, "hidden": 2880, "kvHeads": 8, "headDim": 64}
    with pytest.raises(ValueError, match=message):
        served({**base, **arch}, 20)


def eks(pools: list, models: list) -> dict:
    return {"cluster": {"provider": "eks", "name": "ai-t", "region": "us-east-1",
                        "zones": ["us-east-1a", "us-east-1b"]},
            "nodePools": {"system": {"machineType": "m7i.xlarge"},
                          "gpu": [{"capacity": "on-demand", "min": 0, "max": 1, "forceUpgrade": True, **p}
                                  for p in pools]},
            "serving": {"models": models, "cacheAccessMode": "ReadWriteMany", "storageClass": "efs-sc"}}


def errors(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.t.yaml")
    return str(err.value)


MOE_MODEL = {"name": "moe", "engine": "vllm", "model": "acme/moe-60e", "paramsB": 14.3, "architecture": MOE_60,
             "maxModelLen": 4096, "pool": "h100", "replicas": {"min": 1, "max": 1}}
H100x8 = {"name": "h100", "gpu": "h100-80gb", "gpusPerNode": 8}


def test_expert_parallel_is_refused_on_a_dense_model_and_without_tensor_parallelism():
    dense = {**MOE_MODEL, "model": "Qwen/Qwen2.5-7B-Instruct", "paramsB": None, "architecture": None,
             "expertParallel": True, "tensorParallel": 2}
    message = errors(eks([H100x8], [dense]))
    assert "ai-platform:serving.models[0].expertParallel: Qwen/Qwen2.5-7B-Instruct is a dense model" in message
    message = errors(eks([H100x8], [{**MOE_MODEL, "expertParallel": True}]))
    assert "ai-platform:serving.models[0].expertParallel: expert parallelism places whole experts" in message
    assert "set tensorParallel 2 or more" in message
    message = errors(eks([H100x8], [{**MOE_MODEL, "engine": "tgi", "expertParallel": True, "tensorParallel": 2}]))
    assert ("ai-platform:serving.models[0].expertParallel: expertParallel is not supported by engine tgi 3.3.7; "
            "engines that support it: vllm, triton") in message


def test_fp8_kv_is_refused_on_a_gpu_without_fp8_and_names_the_gpus_with_it():
    a100 = {"name": "h100", "gpu": "a100-80gb", "gpusPerNode": 8}  # the pool name is what MOE_MODEL asks for
    message = errors(eks([a100], [{**MOE_MODEL, "kvCacheDtype": "fp8"}]))
    assert ("ai-platform:serving.models[0].kvCacheDtype: an fp8 KV cache needs FP8 hardware (compute capability "
            "8.9+); pool 'h100' has a100-80gb (8.0). GPUs with it: l4, l40s, h100-80gb") in message


def test_mxfp4_on_a_t4_is_refused_naming_the_gpus_that_run_it_and_what_the_t4_runs():
    t4 = {"name": "h100", "gpu": "t4", "gpusPerNode": 1}
    message = errors(eks([t4], [{**MOE_MODEL, "quantization": "mxfp4"}]))
    assert ("ai-platform:serving.models[0].quantization: mxfp4 weights need compute capability 8.0+ in vllm "
            "(vLLM 0.33.0); pool 'h100' has t4 (7.5). GPUs that run mxfp4: l4, a10g, l40s, a100-40gb, a100-80gb, "
            "h100-80gb, h200-141gb, b200-180gb, rtx-pro-6000; "
            "formats t4 runs: none, awq, gptq, fp8, int8, nvfp4") in message


def test_the_plan_records_what_the_throughput_estimate_reads():
    _, plan = validate(eks([H100x8], [{**MOE_MODEL, "tensorParallel": 8, "expertParallel": True,
                                       "kvCacheDtype": "fp8"}]), "Pulumi.t.yaml")
    entry = plan.to_output()["models"]["moe"]
    assert (entry["paramsB"], entry["activeParamsB"], entry["kvCacheDtype"], entry["attention"]) == \
        (14.3, 2.7, "fp8", "gqa")
    assert entry["expertParallel"] is True and entry["slidingWindow"] is None
    # 3.775e9 bytes per GPU with EP (see above) = 3.5157 GiB.
    assert entry["weightsPerUnitGib"] == pytest.approx(3.775e9 / GIB, abs=0.005)
    # KV: 2 x 16 x 128 x 1 byte (fp8) x 24 layers x 4096 tokens = 0.375 GiB whole (published as 0.38); 2 of 16 heads
    # per GPU: 0.046875 (0.05).
    assert (entry["kvCacheGib"], entry["kvCachePerUnitGib"]) == (0.38, 0.05)


def test_the_server_container_gets_the_flags():
    from tests.serving.conftest import container, run_serving, with_serving
    model = {**MOE_MODEL, "pool": "h100-od", "tensorParallel": 2, "expertParallel": True, "kvCacheDtype": "fp8"}
    result = run_serving(with_serving("prod", [model], cacheAccessMode="ReadWriteMany", storageClass="efs-sc"))
    args = container(result, "moe")["args"]
    assert args[args.index("--kv-cache-dtype") + 1] == "fp8"
    assert "--enable-expert-parallel" in args and args[args.index("--tensor-parallel-size") + 1] == "2"


# ------------------------------------------------------------------------------------------- embedding servers


@pytest.mark.parametrize(("repo", "engine", "expected_gib"), [
    # Qwen3-Embedding-8B is a Qwen3 decoder: vLLM's pooling runner caches K/V in its paged cache like any decoder.
    # 36 layers x 2 x 8 KV heads x 128 x 2 bytes = 147,456 B/token x 8192 tokens = 1,207,959,552 B = 1.125 GiB.
    ("Qwen/Qwen3-Embedding-8B", "vllm", 1.125),
    # TEI embeds a batch in one forward pass and keeps no cache.
    ("Qwen/Qwen3-Embedding-8B", "tei", 0.0),
    # bge-m3 is a bidirectional XLM-RoBERTa encoder: no KV cache in either engine.
    ("BAAI/bge-m3", "vllm", 0.0),
    ("BAAI/bge-m3", "tei", 0.0),
])
def test_embedding_kv_cache_by_architecture_and_engine(repo, engine, expected_gib):
    model = ServedModel.model_construct(name="embedding", engine=engine, model=repo, quantization="none",
                                        max_model_len=8192, tensor_parallel=1, kv_cache_dtype="auto",
                                        expert_parallel=False, params_b=None, architecture=None, shape_from=None)
    found = shape_of(model)
    assert found is not None and found.task == "embed"
    assert memory_of(found, model, "none", 1, "l4", 22.49).kv == pytest.approx(expected_gib)
