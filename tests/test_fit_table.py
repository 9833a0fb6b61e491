"""Fit verdicts for a table of (model, format, context, GPU or slice, parallelism) cases, computed by hand (issue 19).

Need per GPU/slice = weights on the most loaded GPU + KV cache of one maxModelLen sequence on one GPU + overhead
(1 GiB + 10 % of the weights on that GPU); usable = unit memory x gpuMemoryUtilization 0.9.  GiB = 2^30 bytes.
Memory per unit (catalog): h100-80gb 79.65 (usable 71.685), a100-80gb 80.0 (72.0), a100-40gb 40.0 (36.0),
l4 22.49 (20.241), l40s 44.99 (40.491); MIG a100-80gb 1g.10gb 9.50 (8.55), 2g.20gb 19.50 (17.55); h100-80gb
3g.40gb 39.25 (35.325).  Every stack is on EKS (us-east-1), one pool, one model, one replica.
"""

from __future__ import annotations

import pytest

from config import ConfigError, StackConfig, semantics, validate
from config.capacity import plan_model
from config.errors import key_path

# --- hand-typed shapes (catalog entries for these models come from another change; the numbers are their
# config.json's, rounded where marked) -----------------------------------------------------------------------
DENSE_7B = {"layers": 32, "hidden": 4096, "kvHeads": 8, "headDim": 128, "vocab": 32000}
# Qwen3-30B-A3B-like: 128 routed experts, 8 per token; expert parameters rounded to 29.0 B.
MOE_30B = {"layers": 48, "hidden": 2048, "kvHeads": 4, "headDim": 128, "vocab": 151936, "experts": 128,
           "expertsPerToken": 8, "expertParamsB": 29.0, "activeParamsB": 3.3}
# Qwen1.5-MoE-A2.7B-like: 60 routed experts (not a multiple of 8).
MOE_60 = {"layers": 24, "hidden": 2048, "kvHeads": 16, "headDim": 128, "vocab": 151936, "experts": 60,
          "expertsPerToken": 4, "expertParamsB": 12.0, "activeParamsB": 2.7}
# DeepSeek-V3/R1-like: MLA (kv_lora_rank 512, qk_rope_head_dim 64), 256 experts; expert parameters rounded.
MLA_671B = {"layers": 61, "hidden": 7168, "kvHeads": 128, "headDim": 128, "vocab": 129280, "attention": "mla",
            "kvLoraRank": 512, "qkRopeHeadDim": 64, "experts": 256, "expertsPerToken": 8, "expertParamsB": 654,
            "activeParamsB": 37}
# gpt-oss-120b-like: 18 of 36 layers with a 128-token window, 128 experts; expert parameters rounded to 114.7 B.
GPT_OSS = {"layers": 36, "hidden": 2880, "kvHeads": 8, "headDim": 64, "vocab": 201088, "slidingWindow": 128,
           "slidingLayers": 18, "experts": 128, "expertsPerToken": 4, "expertParamsB": 114.7, "activeParamsB": 5.1}
# Gemma-3-27B-like: 52 of 62 layers with a 1024-token window (5 local : 1 global), tied embeddings.
GEMMA = {"layers": 62, "hidden": 5376, "kvHeads": 16, "headDim": 128, "vocab": 262208, "tiedEmbeddings": True,
         "slidingWindow": 1024, "slidingLayers": 52}

POOLS = {
    "1x h100": {"gpu": "h100-80gb", "gpusPerNode": 1},          # p5.4xlarge
    "8x h100": {"gpu": "h100-80gb", "gpusPerNode": 8},          # p5.48xlarge
    "1x l4": {"gpu": "l4", "gpusPerNode": 1},                   # g6.xlarge
    "1x l40s": {"gpu": "l40s", "gpusPerNode": 1},               # g6e.xlarge
    "8x a100-40gb": {"gpu": "a100-40gb", "gpusPerNode": 8},     # p4d.24xlarge
    "8x a100-80gb": {"gpu": "a100-80gb", "gpusPerNode": 8},     # p4de.24xlarge
    "a100 1g.10gb": {"gpu": "a100-80gb", "gpusPerNode": 8, "sharing": {"strategy": "mig", "profile": "1g.10gb"}},
    "a100 2g.20gb": {"gpu": "a100-80gb", "gpusPerNode": 8, "sharing": {"strategy": "mig", "profile": "2g.20gb"}},
    "h100 3g.40gb": {"gpu": "h100-80gb", "gpusPerNode": 8, "sharing": {"strategy": "mig", "profile": "3g.40gb"}},
}


def stack(pool: str, **model) -> dict:
    served = {"name": "m", "engine": "vllm", "model": "acme/custom", "pool": "p", "replicas": {"min": 1, "max": 1},
              **model}
    return {"cluster": {"provider": "eks", "name": "ai-t", "region": "us-east-1",
                        "zones": ["us-east-1a", "us-east-1b"]},
            "nodePools": {"system": {"machineType": "m7i.xlarge"},
                          "gpu": [{"name": "p", "capacity": "on-demand", "min": 0, "max": 1, "forceUpgrade": True,
                                   **POOLS[pool]}]},
            "serving": {"models": [served], "cacheAccessMode": "ReadWriteMany", "storageClass": "efs-sc"}}


CASES = [
    # (case, pool, model keys, need GiB per unit, fits)
    # Dense GQA baseline: 7e9 x 2 bytes = 13.0385 GiB; KV 2 x 32 x 8 x 128 x 2 bytes x 8192 = 1 GiB;
    # 13.0385 + 1 + 1 + 1.3039 = 16.342.
    ("dense 7B bf16 8K", "1x h100", {"paramsB": 7, "architecture": DENSE_7B, "maxModelLen": 8192}, 16.342, True),
    # MoE: weights from ALL 30.5 B parameters: 61e9 bytes = 56.8107 GiB; KV 2 x 4 x 128 x 2 x 48 layers x 8192
    # = 0.75 GiB; 56.8107 + 0.75 + 1 + 5.6811 = 64.242 <= 71.685.
    ("MoE 30B-A3B bf16 8K", "1x h100", {"paramsB": 30.5, "architecture": MOE_30B, "maxModelLen": 8192}, 64.242, True),
    # The same on an L40S: 64.242 > 40.491 (active parameters do not shrink the weights).
    ("MoE 30B-A3B bf16 8K", "1x l40s", {"paramsB": 30.5, "architecture": MOE_30B, "maxModelLen": 8192}, 64.242,
     False),
    # Expert parallel, tp 8: non-expert 4.6e9 / 8 = 0.575e9 + 8 of 60 whole experts 24e9 x 8/60 = 3.2e9
    # -> 3.775e9 bytes = 3.5157 GiB; KV 2 x 16 x 128 x 2 x 24 x 4096 = 0.75 GiB, 2 of 16 heads per GPU = 0.09375;
    # 3.5157 + 0.0938 + 1 + 0.3516 = 4.961.
    ("MoE 60 experts bf16 4K tp8 EP", "8x h100",
     {"paramsB": 14.3, "architecture": MOE_60, "tensorParallel": 8, "expertParallel": True}, 4.961, True),
    # Without EP every expert is sliced: 28.6e9 / 8 = 3.575e9 = 3.3295 GiB; 3.3295 + 0.0938 + 1 + 0.3329 = 4.756.
    ("MoE 60 experts bf16 4K tp8", "8x h100", {"paramsB": 14.3, "architecture": MOE_60, "tensorParallel": 8}, 4.756,
     True),
    # MLA, fp8, tp 8: embeddings 129280 x 7168 x 2 = 1,853,358,080 params at 2 bytes + 669,146,641,920 at 1
    # = 672,853,358,080 bytes; / 8 = 78.3304 GiB per GPU; KV (512 + 64) x 2 bytes x 61 x 32768 = 2.1445 GiB on
    # EVERY GPU (not / 8); 78.3304 + 2.1445 + 1 + 7.8330 = 89.308 > 71.685.
    ("MLA 671B fp8 32K tp8", "8x h100",
     {"paramsB": 671, "architecture": MLA_671B, "quantization": "fp8", "maxModelLen": 32768, "tensorParallel": 8},
     89.308, False),
    # The same with an fp8 KV cache: 1.0723 GiB; 78.3304 + 1.0723 + 1 + 7.8330 = 88.236.
    ("MLA 671B fp8 32K tp8 kv fp8", "8x h100",
     {"paramsB": 671, "architecture": MLA_671B, "quantization": "fp8", "maxModelLen": 32768, "tensorParallel": 8,
      "kvCacheDtype": "fp8"}, 88.236, False),
    # MLA in AWQ on A100 40GB: 669,146,641,920 x (0.5 + 1/32) + 1,853,358,080 x 2 = 359,190,869,680 bytes; / 8 =
    # 41.8153 GiB; 41.8153 + 2.1445 + 1 + 4.1815 = 49.141 > 36.0.
    ("MLA 671B awq 32K tp8", "8x a100-40gb",
     {"paramsB": 671, "architecture": MLA_671B, "quantization": "awq", "maxModelLen": 32768, "tensorParallel": 8},
     49.141, False),
    # Sliding window on H100: weights mxfp4 (experts only) 65,134,375,000 bytes = 60.6611 GiB; KV 2 x 8 x 64 x 2 =
    # 2048 bytes per token-layer x (18 full x 131072 + 18 window x (128 + 2 x 8192 in flight)) = 5.0669 GiB;
    # 60.6611 + 5.0669 + 1 + 6.0661 = 72.794 > 71.685.
    ("gpt-oss-like mxfp4 128K", "1x h100",
     {"paramsB": 116.8, "architecture": GPT_OSS, "quantization": "mxfp4", "maxModelLen": 131072}, 72.794, False),
    # ... with an fp8 KV cache: 2.5334 GiB; 60.6611 + 2.5334 + 1 + 6.0661 = 70.261 <= 71.685.
    ("gpt-oss-like mxfp4 128K kv fp8", "1x h100",
     {"paramsB": 116.8, "architecture": GPT_OSS, "quantization": "mxfp4", "maxModelLen": 131072,
      "kvCacheDtype": "fp8"}, 70.261, True),
    # ... on an A100 80GB (vLLM's 2048-token batches there: 2 x 2048 in flight): KV (18 x 131072 + 18 x 4224) x
    # 2048 = 4.6450 GiB; 60.6611 + 4.6450 + 1 + 6.0661 = 72.372 > 72.0.
    ("gpt-oss-like mxfp4 128K", "8x a100-80gb",
     {"paramsB": 116.8, "architecture": GPT_OSS, "quantization": "mxfp4", "maxModelLen": 131072}, 72.372, False),
    # Hybrid attention: 27.4e9 x 2 = 51.0365 GiB; KV 2 x 16 x 128 x 2 = 8192 bytes x (10 x 32768 + 52 x (1024 +
    # 16384)) = 9.40625 GiB; 51.0365 + 9.4063 + 1 + 5.1036 = 66.546 <= 71.685.
    ("gemma-like bf16 32K", "1x h100", {"paramsB": 27.4, "architecture": GEMMA, "maxModelLen": 32768}, 66.546, True),
    # ... AWQ on an H100 3g.40gb slice (a 39.25 GiB device: 2 x 2048 in flight): weights: tied embeddings
    # 262208 x 5376 = 1,409,630,208 params x 2 + 25,990,369,792 x 0.53125 = 16,626,644,368 bytes = 15.4848 GiB;
    # KV (10 x 32768 + 52 x 5120) x 8192 = 4.53125 GiB; 15.4848 + 4.5313 + 1 + 1.5485 = 22.565 <= 35.325.
    ("gemma-like awq 32K", "h100 3g.40gb",
     {"paramsB": 27.4, "architecture": GEMMA, "quantization": "awq", "maxModelLen": 32768}, 22.565, True),
    # MoE on MIG slices, AWQ: 151936 x 2048 x 2 = 622,329,856 embedding params x 2 + 13,677,670,144 x 0.53125
    # = 8,510,921,976 bytes = 7.9264 GiB; KV 0.75; 7.9264 + 0.75 + 1 + 0.7926 = 10.469 > 8.55, <= 17.55.
    ("MoE 60 experts awq 4K", "a100 1g.10gb",
     {"paramsB": 14.3, "architecture": MOE_60, "quantization": "awq"}, 10.469, False),
    ("MoE 60 experts awq 4K", "a100 2g.20gb",
     {"paramsB": 14.3, "architecture": MOE_60, "quantization": "awq"}, 10.469, True),
    # FP8 KV on a catalog model: Llama-3.1-8B fp8 weights: 128256 x 4096 x 2 = 1,050,673,152 embedding params x 2
    # + 6,979,326,848 x 1 = 9,080,673,152 bytes = 8.4570 GiB; KV fp8 2 x 8 x 128 x 1 x 32 x 131072 = 8 GiB;
    # 8.4570 + 8 + 1 + 0.8457 = 18.303 <= 20.241; with a 16-bit KV cache (16 GiB) 26.303 does not fit.
    ("llama-3.1-8B fp8 128K kv fp8", "1x l4",
     {"model": "meta-llama/Llama-3.1-8B-Instruct", "quantization": "fp8", "maxModelLen": 131072,
      "kvCacheDtype": "fp8"}, 18.303, True),
    ("llama-3.1-8B fp8 128K", "1x l4",
     {"model": "meta-llama/Llama-3.1-8B-Instruct", "quantization": "fp8", "maxModelLen": 131072}, 26.303, False),
]


@pytest.mark.parametrize(("case", "pool", "model", "need", "fits"), CASES, ids=[f"{c[0]} on {c[1]}" for c in CASES])
def test_fit_verdict(case, pool, model, need, fits):
    cfg = StackConfig.model_validate(stack(pool, **model))
    assert semantics.check(cfg) == []  # structurally sound: only the fit decides
    planned, issues = plan_model(cfg, key_path("serving", "models", 0), cfg.serving.models[0])
    assert planned.need_per_unit_gib == pytest.approx(need, abs=0.001)
    assert planned.fits is fits and (issues == []) is fits


def errors(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.t.yaml")
    return str(err.value)


def test_larger_than_its_pools_largest_node_names_the_smallest_node_that_fits():
    message = errors(stack("8x a100-40gb", paramsB=671, architecture=MLA_671B, quantization="awq", maxModelLen=32768,
                           tensorParallel=8))
    # 49.141 GiB per GPU at tp 8 > 36.0; p4d.24xlarge (8) is the largest A100 40GB instance.  EKS candidates whose
    # GPUs run AWQ: g4dn.metal 8x t4 (13.5 usable), g6.48xlarge 8x l4 (20.2), g5.48xlarge 8x a10g (20.2),
    # g6e.48xlarge 8x l40s (40.5) hold less than 49.141 per GPU; p4de.24xlarge 8x a100-80gb (72.0, $27.45) and
    # p5.48xlarge 8x h100 (71.7, $55.04), g7e.48xlarge 8x rtx-pro-6000 (86.0, $33.14) and p5en.48xlarge 8x h200
    # (126.4, $63.30) hold it at tp 8 -> the cheapest, p4de (p5e.48xlarge has no us-east-1 price: not offered).
    assert ("ai-platform:serving.models[0]: model 'm': does not fit on one node: weights 334.5 GiB + KV cache 2.1 "
            "for maxModelLen 32768 need 49.1 GiB per GPU even at tensorParallel 8 on 8x a100-40gb (p4d.24xlarge, the "
            "largest a100-40gb node on eks), which gives 36.0 GiB per GPU; the smallest node on eks that holds it: "
            "8x a100-80gb (p4de.24xlarge, tensorParallel 8, $27.45/hour on-demand; sold as on-demand, reservation, "
            "spot): "
            "use a pool with gpu a100-80gb "
            "and gpusPerNode 8; serving one replica across nodes (LeaderWorkerSet, tensor x pipeline parallel) is "
            "not supported yet: it needs RDMA networking between the nodes") in message


def test_larger_than_any_node_says_so():
    message = errors(stack("8x h100", paramsB=671, architecture=MLA_671B, maxModelLen=32768, tensorParallel=8))
    # BF16: 1342e9 / 8 bytes = 156.2294 GiB + 2.1445 + 1 + 15.6229 = 175.0 GiB per GPU at tp 8: more than any GPU
    # of the catalog holds (0.9 x 80, or 0.9 x ~180 for a B200), and the 16-GPU a2-megagpu node is GKE-only.
    assert ("does not fit on one node: weights 1249.8 GiB + KV cache 2.1 for maxModelLen 32768 need 175.0 GiB per "
            "GPU even at tensorParallel 8 on 8x h100-80gb (p5.48xlarge, the largest h100-80gb node on eks)") in message
    assert ("no single node on eks holds it with quantization none (use a smaller format or lower maxModelLen)"
            in message)
    assert "not supported yet: it needs RDMA networking" in message


def test_ordinary_fit_errors_suggest_fp8_kv_and_the_tensor_parallel_that_fits():
    message = errors(stack("1x h100", paramsB=116.8, architecture=GPT_OSS, quantization="mxfp4", maxModelLen=131072))
    # 72.794 > 71.685; halving the 5.0669 GiB KV cache gives 70.261: fits.
    assert "set kvCacheDtype: fp8 (halves the KV cache: 5.1 -> 2.5 GiB per unit, then it fits)" in message
    # The pool has one GPU per node; p5.48xlarge has 8, and at tp 2 the need is 30.33 + 2.53 + 1 + 3.03 = 36.9.
    assert "use a pool of 8x h100-80gb (p5.48xlarge) with tensorParallel 2" in message
    message = errors(stack("8x h100", model="meta-llama/Llama-3.1-70B-Instruct", maxModelLen=8192))
    # 70.6e9 x 2 bytes = 131.5 GiB: tp 2 -> 65.76 + KV 2.5/2 + 1 + 6.58 = 74.6 > 71.685; tp 4 -> 32.9 + 0.625 + 1
    # + 3.29 = 37.8 fits.
    assert "raise tensorParallel (pool 'p' has 8 GPUs per node): 4 fits" in message
    assert "use a quantized checkpoint (awq, gptq, nvfp4, fp8)" in message
