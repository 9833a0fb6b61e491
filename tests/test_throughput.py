"""Throughput and cost per token (config/throughput.py) against hand-computed cases; maxNumSeqs into engine args.

The GPU figures the arithmetic uses are pinned here (dataclasses.replace on the catalog entry) so the hand arithmetic
stays valid whatever the catalog's verified values become: H100 SXM 3.35 TB/s, 989 BF16 / 1979 FP8 dense TFLOPS;
A100 80GB 2.039 TB/s, 312 BF16 TFLOPS.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from config import ConfigError, catalog, validate
from config import throughput as tp
from config.capacity import HOURS_PER_MONTH
from config.engines import engine_args, triton_model_files
from config.shape import Shape
from tests.conftest import stack_values
from tools.plan import capacity_lines

H100 = replace(catalog.GPUS["h100-80gb"], hbm_gb_s=3350, bf16_tflops=989, fp8_tflops=1979, fp4_tflops=0)
A100 = replace(catalog.GPUS["a100-80gb"], hbm_gb_s=2039, bf16_tflops=312, fp8_tflops=0, fp4_tflops=0)
WHOLE = tp.Share(1.0, 1.0)
BIG_POOL = 1e15  # bytes: the KV cache never caps the batch

# A dense 7B model typed by hand: 32 layers, hidden 4096, 8 KV heads x 128, vocab 32000, untied.
DENSE = Shape(params_b=7, layers=32, hidden=4096, kv_heads=8, head_dim=128, vocab=32000, tied_embeddings=False,
              task="generate", max_context=None, gated=False, estimated=False, source="architecture")
# BF16: every parameter 2 bytes -> 14e9 bytes.  KV: 2 (K, V) x 32 layers x 8 heads x 128 x 2 bytes = 131072 B/token.
DENSE_WEIGHTS = 14e9
DENSE_KV_TOKEN = 131072
# Default request 1024 prompt + 512 output: a decoding sequence holds 1024 + 256 = 1280 tokens on average.
CONTEXT = 1280


def run(shape=DENSE, gpu=H100, share=WHOLE, batch=1, tensor_parallel=1, max_model_len=8192, quantization="none",
        kv_cache_dtype="auto", pool=BIG_POOL, monthly=0.0, engine="vllm"):
    return tp.estimate(shape=shape, engine=engine, quantization=quantization, kv_cache_dtype=kv_cache_dtype,
                       max_num_seqs=batch, tensor_parallel=tensor_parallel, max_model_len=max_model_len, gpu=gpu,
                       share=share, kv_pool_bytes=pool, replica_monthly_usd=monthly)


def test_dense_on_a_whole_h100_at_batch_1_is_bandwidth_bound():
    est = run()
    # bytes per step = 14e9 weights + 1 x 131072 x 1280 = 14.16777216e9; / 3.35e12 B/s = 4.229186 ms
    step = (14e9 + 131072 * 1280) / 3.35e12
    assert est.step_seconds == pytest.approx(step) and est.bound == "memory"
    assert est.decode_tokens_per_second == pytest.approx(1 / step)  # ~236.4 tokens/s
    assert est.decode_tokens_per_second == pytest.approx(236.45, abs=0.05)
    assert est.weights_read_gb == pytest.approx(14.0) and est.kv_read_gb == pytest.approx(0.16777216)
    assert est.average_context == CONTEXT and (est.prompt_tokens, est.output_tokens) == (1024, 512)


def test_dense_at_a_large_batch_reads_the_kv_cache_of_every_sequence():
    est = run(batch=256)
    # 14e9 + 256 x 131072 x 1280 (= 42.95e9) = 56.95e9 bytes / 3.35e12 = 17.000 ms; compute 2 x 7e9 x 256 / 989e12
    # = 3.62 ms: still memory bound.  256 / 17.000 ms = 15,059 tokens/s.
    step = (14e9 + 256 * 131072 * 1280) / 3.35e12
    assert est.step_seconds == pytest.approx(step) and est.bound == "memory"
    assert est.decode_tokens_per_second == pytest.approx(15059, abs=1)
    assert est.per_sequence_tokens_per_second == pytest.approx(1 / step)


def test_short_context_at_batch_1024_is_compute_bound():
    est = run(batch=1024, max_model_len=256)
    # 1024 + 512 > 256: request scaled 2:1 -> prompt 170, output 86; context 170 + 43 = 213 tokens.
    assert (est.prompt_tokens, est.output_tokens, est.average_context) == (170, 86, 213)
    memory = (14e9 + 1024 * 131072 * 213) / 3.35e12  # 42.588e9 B -> 12.713 ms
    compute = 2 * 7e9 * 1024 / 989e12  # 14.3360e12 FLOP -> 14.496 ms
    assert compute > memory and est.bound == "compute"
    assert est.step_seconds == pytest.approx(compute)
    assert est.decode_tokens_per_second == pytest.approx(1024 / compute)  # ~70,640 tokens/s


def test_fp8_computes_at_the_fp8_peak_and_a100_falls_back_to_bf16():
    assert tp.peak_tflops(H100, "fp8") == 1979 and tp.peak_tflops(H100, "awq") == 989
    assert tp.peak_tflops(A100, "fp8") == 312, "no FP8 tensor cores on Ampere: BF16"
    assert tp.peak_tflops(H100, "nvfp4") == 989, "no FP4 tensor cores on Hopper: BF16"
    assert tp.peak_tflops(replace(H100, fp4_tflops=9000), "mxfp4") == 9000


def test_a_mig_slice_gets_its_memory_and_compute_slices():
    share = tp.share_of(A100, "mig", "3g.40gb")
    assert share == tp.Share(4 / 8, 3 / 7)  # 3g.40gb: 3 of 7 GPCs, 4 of 8 memory slices
    est = run(gpu=A100, share=share)
    # 14.16777e9 B / (2.039e12 x 4/8 = 1.0195e12 B/s) = 13.897 ms -> 71.96 tokens/s
    assert est.decode_tokens_per_second == pytest.approx(1.0195e12 / (14e9 + 131072 * 1280))
    assert est.decode_tokens_per_second == pytest.approx(71.96, abs=0.01)
    # prefill: 312e12 x 3/7 x 0.5 MFU / (2 x 7e9) = 4,775.5 tokens/s
    assert est.prefill_tokens_per_second == pytest.approx(312e12 * 3 / 7 * 0.5 / 14e9)


def test_time_slicing_and_mps_share_a_gpu_by_replicas():
    assert tp.share_of(H100, "time-slicing", replicas=4) == tp.Share(0.25, 0.25)
    assert tp.share_of(H100, "mps", replicas=2) == tp.Share(0.5, 0.5)
    est = run(share=tp.share_of(H100, "time-slicing", replicas=4))
    assert est.decode_tokens_per_second == pytest.approx(0.25 * 3.35e12 / (14e9 + 131072 * 1280))  # 59.1


def test_tensor_parallel_splits_the_bytes_over_its_gpus_at_the_stated_efficiency():
    big = replace(DENSE, params_b=70, layers=80, hidden=8192)
    est = run(shape=big, tensor_parallel=4)
    # weights 140e9 B; KV 2 x 80 x 8 x 128 x 2 = 327,680 B/token x 1280 = 419,430,400 B
    # bandwidth 3.35e12 x 4 GPUs x 0.85 = 11.39e12 B/s -> 140.4194e9 / 11.39e12 = 12.328 ms -> 81.12 tokens/s
    assert tp.TP_EFFICIENCY == 0.85
    assert est.decode_tokens_per_second == pytest.approx(11.39e12 / (140e9 + 327680 * 1280))
    assert est.decode_tokens_per_second == pytest.approx(81.12, abs=0.01)


# A MoE model typed by hand (the numbers a paramsB + architecture with experts fields gives): 30B total, 28B in
# 128 routed experts, top-8, 3B active; 48 layers, hidden 2048, 4 KV heads x 128, vocab 151936, untied.
MOE = Shape(params_b=30, layers=48, hidden=2048, kv_heads=4, head_dim=128, vocab=151936, tied_embeddings=False,
            task="generate", max_context=None, gated=False, estimated=False, source="architecture",
            active_params_b=3, experts=128, experts_per_token=8, expert_params_b=28)


def test_moe_reads_only_the_experts_the_batch_touches():
    # BF16: all 30e9 parameters at 2 bytes = 60e9 bytes, of which the routed experts 28e9 x 2 = 56e9.
    assert tp.expert_bytes(MOE, "none") == pytest.approx(56e9)
    # One token touches 8 of 128 experts: 1 - (1 - 8/128)^1 = 6.25 %
    assert tp.touched_expert_fraction(MOE, 1) == pytest.approx(0.0625)
    # 16 tokens: 1 - 0.9375^16 = 1 - 0.356074 = 64.39 %
    assert tp.touched_expert_fraction(MOE, 16) == pytest.approx(0.643926, abs=1e-6)
    assert tp.weights_read_bytes(MOE, "none", 1) == pytest.approx(4e9 + 56e9 * 0.0625)  # 7.5e9
    kv_seq = 2 * 48 * 4 * 128 * 2 * 1280  # 98,304 B/token x 1280 = 125,829,120 B
    one = run(shape=MOE)
    assert one.decode_tokens_per_second == pytest.approx(3.35e12 / (7.5e9 + kv_seq))  # 439.3 tokens/s
    sixteen = run(shape=MOE, batch=16)
    read = 4e9 + 56e9 * (1 - (1 - 8 / 128) ** 16) + 16 * kv_seq  # 42.076e9 B
    assert sixteen.decode_tokens_per_second == pytest.approx(16 * 3.35e12 / read)  # 1,273.9 tokens/s
    # Compute counts the active 3B only: 2 x 3e9 x 16 / 989e12 = 0.097 ms, far under the 12.56 ms read.
    assert sixteen.bound == "memory"
    assert any("8 of 128 experts" in a for a in sixteen.assumptions)
    # A dense model reads all of it at any batch.
    assert tp.weights_read_bytes(DENSE, "none", 16) == pytest.approx(DENSE_WEIGHTS)


def test_usd_per_million_output_tokens_from_a_known_monthly_cost():
    est = run(monthly=730.0)  # 730 USD/month = 1 USD per hour
    # 236.45 tokens/s x 3600 = 851,220 tokens per USD-hour -> 1e6 / 851,220 = 1.1748 USD per million
    tps = 3.35e12 / (14e9 + 131072 * 1280)
    assert est.usd_per_million_output_tokens == pytest.approx(1e6 / (tps * 3600))
    assert est.usd_per_million_output_tokens == pytest.approx(1.1748, abs=1e-4)
    assert tp.HOURS_PER_MONTH == HOURS_PER_MONTH == 730
    assert run(monthly=0.0).usd_per_million_output_tokens is None, "unpriced (existing cluster): no figure"


def test_the_kv_cache_caps_the_batch():
    per_seq = DENSE_KV_TOKEN * CONTEXT
    est = run(batch=None, pool=10.5 * per_seq)
    assert (est.batch, est.batch_from, est.kv_capacity, est.engine_default) == (10, "KV cache", 10, 1024)
    assert run(batch=8, pool=10.5 * per_seq).batch_from == "maxNumSeqs"
    assert run(batch=None).batch_from == "engine default" and run(batch=None).batch == 1024


def test_engine_default_batches_at_the_pinned_versions():
    # vLLM 0.33.0 get_batch_defaults (OPENAI_API_SERVER): >= 70 GiB and not an A100 -> 1024, else 256.
    assert tp.engine_default_batch("vllm", H100) == 1024
    assert tp.engine_default_batch("vllm", A100) == 256
    assert tp.engine_default_batch("vllm", catalog.GPUS["l4"]) == 256
    assert tp.engine_default_batch("triton", H100) == 1024
    assert tp.engine_default_batch("vllm", replace(H100, key="b200-180gb", memory_gib=179)) == 1024
    assert tp.engine_default_batch("tgi", H100) == 128  # --max-concurrent-requests default
    assert tp.engine_default_batch("ollama", H100) == 1  # OLLAMA_NUM_PARALLEL default
    assert tp.engine_default_batch("tei", H100) is None
    assert run(engine="tei") is None and run(shape=replace(DENSE, task="embed")) is None


def test_ttft_is_the_prompt_at_the_stated_mfu_or_one_weight_read():
    est = run()
    # 1024 tokens x 2 x 7e9 FLOP / (989e12 x 0.5) = 28.99 ms > one weight read (14e9 / 3.35e12 = 4.18 ms)
    assert est.ttft_seconds == pytest.approx(1024 * 14e9 / (989e12 * 0.5))
    assert est.prefill_tokens_per_second == pytest.approx(989e12 * 0.5 / 14e9)  # 35,321 tokens/s


# ------------------------------------------------------------------------------ the plan on the shipped stacks


def test_dev_plan_carries_and_prints_the_estimate():
    cfg, plan = validate(stack_values("dev"), "Pulumi.dev.yaml")
    out = plan.to_output()
    qwen = out["models"]["qwen7b"]["throughput"]
    assert qwen is not None and out["models"]["embedding"]["throughput"] is None
    # The 1g.10gb slice of an A100-80GB: 1/8 of its bandwidth; AWQ 7B leaves room for few sequences.
    assert qwen["batchFrom"] == "KV cache" and qwen["batch"] == qwen["kvCapacitySequences"] < qwen["engineDefaultBatch"]
    assert qwen["engineDefaultBatch"] == 256  # an A100: vLLM's small tier
    step = qwen["batch"] / qwen["decodeTokensPerSecond"]
    assert qwen["perSequenceTokensPerSecond"] == pytest.approx(1 / step, rel=1e-2)
    per_replica = out["models"]["qwen7b"]["monthlyUsdMax"] / out["models"]["qwen7b"]["maxReplicas"]
    assert qwen["usdPerMillionOutputTokens"] == pytest.approx(
        per_replica / (qwen["decodeTokensPerSecond"] * 730 * 3600) * 1e6, rel=1e-3)
    lines = capacity_lines(out, {})
    text = "\n".join(lines)
    assert "throughput per replica (ESTIMATE" in text and "assumptions: request 1024 prompt + 512 output" in text
    row = next(line for line in lines if line.strip().startswith("qwen7b ") and "KV cache" in line)
    assert f"{qwen['decodeTokensPerSecond']:,.0f}" in row and f"{qwen['usdPerMillionOutputTokens']:.3f}" in row
    assert any("embedding server: not estimated" in line for line in lines)


def test_local_cpu_server_is_not_estimated():
    cfg, plan = validate(stack_values("local"), "Pulumi.local.yaml")
    out = plan.to_output()
    assert out["models"]["qwen-small"]["throughput"] is None
    assert any("CPU server: not estimated" in line for line in capacity_lines(out, {}))


def test_max_num_seqs_sets_the_estimated_batch():
    values = stack_values("prod")
    values["serving"]["models"][0]["maxNumSeqs"] = 32
    _, plan = validate(values, "Pulumi.prod.yaml")
    est = plan.model("qwen72b").throughput
    assert est is not None and (est.batch, est.batch_from) == (32, "maxNumSeqs")


# ------------------------------------------------------------------------------------- maxNumSeqs engine args


def test_max_num_seqs_engine_args():
    args = engine_args("vllm", model="/m", served_name="s", max_num_seqs=64)
    assert args[args.index("--max-num-seqs") + 1] == "64"
    assert "--max-num-seqs" not in engine_args("vllm", model="/m", served_name="s"), "omitted: vLLM's default"
    files = triton_model_files(model="/m", served_name="s", max_num_seqs=32)
    assert files["s/1/model.json"]["max_num_seqs"] == 32  # type: ignore[index]
    assert "max_num_seqs" not in triton_model_files(model="/m", served_name="s")["s/1/model.json"]  # type: ignore[operator]
    for engine, quantization in (("tgi", "none"), ("ollama", "gguf"), ("tei", "none")):
        with pytest.raises(ValueError, match="max_num_seqs is not supported"):
            engine_args(engine, model="qwen2.5:0.5b", served_name="s", quantization=quantization, max_num_seqs=8)


def test_max_num_seqs_on_tgi_is_a_config_error_naming_the_key():
    values = stack_values("prod")
    values["serving"]["models"][1].update(engine="tgi", maxNumSeqs=64)
    values["tenancy"]["namespaces"]["ai-inference"]["podSecurity"] = "baseline"  # TGI runs as root
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.prod.yaml")
    [issue] = [i for i in info.value.issues if "maxNumSeqs" in i.path]
    assert issue.path == "ai-platform:serving.models[1].maxNumSeqs"
    assert "engine tgi" in issue.message and "use engine vllm or triton" in issue.message


def test_recorded_container_args_and_triton_model_json_carry_max_num_seqs():
    from tests.serving.conftest import container, obj, run_serving, with_serving

    models = [
        {"name": "chat7", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct", "maxModelLen": 8192,
         "pool": "h100-od", "maxNumSeqs": 48, "replicas": {"min": 1, "max": 1}},
        {"name": "triton7", "engine": "triton", "model": "Qwen/Qwen2.5-7B-Instruct", "maxModelLen": 8192,
         "pool": "h100-od", "maxNumSeqs": 24, "replicas": {"min": 1, "max": 1}},
    ]
    values = with_serving("prod", models)
    values["rag"].pop("embedding", None)
    result = run_serving(values)
    args = container(result, "chat7")["args"]
    assert args[args.index("--max-num-seqs") + 1] == "48"
    model_json = json.loads(obj(result, "ConfigMap", "triton7-triton-repository").inputs["data"]["model.json"])
    assert model_json["max_num_seqs"] == 24


# ----------------------------------------------------------------------------------------------- tools.bench


def test_bench_compares_the_estimate_with_the_published_h100_figures(capsys):
    from tools import bench

    rows = {r["case"]: r for r in bench.throughput_rows()}
    seven = rows["Llama 2 7B, 128 in / 2048 out"]
    # FP8 weights: body (6.74e9 - 262,144,000 embedding params) x 1 B + embeddings 262,144,000 x 2 B = 7.002144e9 B.
    # FP8 KV: 2 x 32 layers x 32 heads x 128 x 1 B = 262,144 B/token x (128 + 2048/2 = 1152) x 112 seqs = 33.823e9 B.
    step = (7.002144e9 + 112 * 262144 * 1152) / 3.35e12  # 12.1866 ms
    prefill = 1979e12 * 0.5 / (2 * 6.74e9)  # 73,405 tokens/s
    expected = 112 * 2048 / (112 * 128 / prefill + 2048 * step)  # 9,119 out tok/s/GPU
    assert seven["weights_gb"] == pytest.approx(7.002144) and seven["kv_gb"] == pytest.approx(33.822867456)
    assert seven["estimate"] == pytest.approx(expected) and seven["published"] == 6818
    assert bench.main(["--throughput"]) == 0
    out = capsys.readouterr().out
    assert "NVIDIA/TensorRT-LLM docs/source/performance.md @138f96d4" in out
    assert f"{6818 / expected:.2f}" in out  # the ratio, 0.75


def test_the_plan_gives_a_time_sliced_replica_its_share_of_the_gpu():
    from tests.test_capacity import gke, model

    def decode(sharing):
        pools = [{"name": "p", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 0, "max": 2,
                  "sharing": sharing}]
        _, plan = validate(gke(pools, [model(paramsB=1, maxNumSeqs=1)]), "Pulumi.t.yaml")
        est = plan.model("m").throughput
        assert est is not None and est.batch == 1
        return est.decode_tokens_per_second

    # Batch 1 is bandwidth bound: a 1/2 time-slice reads the same bytes at half the L4's bandwidth.
    assert decode({"strategy": "time-slicing", "replicas": 2}) == pytest.approx(decode({"strategy": "exclusive"}) / 2)
