"""Engine pins, command lines and the metric allow-list (config/engines.py)."""

from __future__ import annotations

import re

import pytest

from config import catalog, engines
from config.engines import (
    AUTOSCALING_SIGNALS,
    DCGM_MIG_REPLACEMENT,
    DCGM_MIG_UNSUPPORTED,
    ENGINES,
    METRICS,
    QUANTIZATIONS,
    TEI_IMAGES,
    engine_args,
    engine_env,
    quantization_args,
    series_names,
)

PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
IMAGE_REF = re.compile(r"^[a-z0-9.\-/]+:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127})$")


def all_images() -> list[str]:
    return [spec.image for spec in ENGINES.values()] + list(TEI_IMAGES.values())


# --- pins ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("image", all_images())
def test_every_image_is_pinned(image):
    m = IMAGE_REF.match(image)
    assert m, f"{image} has no tag"
    tag = m.group("tag")
    assert "latest" not in tag, image
    assert re.search(r"\d+\.\d+", tag), f"{image}: tag carries no version"
    assert "@" not in image.split(":")[0]


def test_pins_are_the_verified_versions():
    assert ENGINES["vllm"].image == "vllm/vllm-openai:v0.33.0"
    assert ENGINES["vllm-embed"].image == ENGINES["vllm"].image
    assert ENGINES["tgi"].image == "ghcr.io/huggingface/text-generation-inference:3.3.7"
    assert ENGINES["triton"].image == "nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3"
    assert ENGINES["ollama"].image == "ollama/ollama:0.32.15"
    assert engines.DCGM_EXPORTER_VERSION == "4.6.0-4.8.3-distroless"
    for spec in ENGINES.values():
        assert spec.version in spec.image or spec.key == "triton"
        assert spec.sources


def test_tei_images_cover_every_catalog_gpu_and_cpu():
    assert set(TEI_IMAGES) == set(catalog.gpu_keys()) | {"cpu"}
    repo = "ghcr.io/huggingface/text-embeddings-inference"
    assert TEI_IMAGES["t4"] == f"{repo}:turing-1.9.3"
    assert TEI_IMAGES["a100-40gb"] == TEI_IMAGES["a100-80gb"] == f"{repo}:1.9.3"
    assert TEI_IMAGES["a10g"] == f"{repo}:86-1.9.3"
    assert TEI_IMAGES["l4"] == TEI_IMAGES["l40s"] == f"{repo}:89-1.9.3"
    assert TEI_IMAGES["h100-80gb"] == f"{repo}:hopper-1.9.3"
    assert TEI_IMAGES["h200-141gb"] == f"{repo}:hopper-1.9.3"
    assert TEI_IMAGES["b200-180gb"] == f"{repo}:100-1.9.3"  # README@v1.9.3: "Blackwell 10.0 (B200, GB200, ...)"
    assert TEI_IMAGES["rtx-pro-6000"] == f"{repo}:120-1.9.3"  # "Blackwell 12.0 (... RTX PRO 6000)"
    assert TEI_IMAGES["cpu"] == f"{repo}:cpu-1.9.3"
    assert engines.image_for("tei", "l4") == TEI_IMAGES["l4"]
    with pytest.raises(ValueError, match="no TEI image"):
        engines.tei_image("v100")


def test_tei_image_family_matches_catalog_architecture():
    family = {"turing": "turing-", "ampere": ("", "86-"), "ada": "89-", "hopper": "hopper-",
              "blackwell": ("100-", "120-")}
    for key, gpu in catalog.GPUS.items():
        tag = TEI_IMAGES[key].rsplit(":", 1)[1]
        prefixes = family[gpu.architecture]
        prefixes = prefixes if isinstance(prefixes, tuple) else (prefixes,)
        assert tag in {p + engines.TEI_VERSION for p in prefixes}, key


def test_ollama_exports_no_metrics_and_others_do():
    assert ENGINES["ollama"].metrics_path is None and ENGINES["ollama"].metrics_port is None
    assert engines.ENGINE_METRICS_SOURCE["ollama"] is None
    for key in ("vllm", "vllm-embed", "tgi", "triton", "tei"):
        spec = ENGINES[key]
        assert spec.metrics_path == "/metrics"
        assert engines.ENGINE_METRICS_SOURCE[key] in METRICS


def test_engine_facts():
    assert ENGINES["vllm"].command == ("vllm", "serve")
    assert ENGINES["triton"].port == 9000 and ENGINES["triton"].readiness_path == "/health/ready"
    assert ENGINES["ollama"].port == 11434 and ENGINES["ollama"].cache_env["OLLAMA_MODELS"] == "/cache/models"
    assert ENGINES["tgi"].cache_env == {"HF_HOME": "/data"}
    assert ENGINES["tgi"].non_root is False
    assert all(ENGINES[k].hf_token_env == "HF_TOKEN" for k in ("vllm", "tgi", "triton", "tei"))
    assert ENGINES["ollama"].hf_token_env is None
    for spec in ENGINES.values():
        assert spec.needs_shm in {"always", "tensor-parallel", "never"}
        assert spec.readiness_path.startswith("/")
        for env_value in spec.cache_env.values():
            assert env_value.startswith(spec.cache_mount)


# --- command lines ---------------------------------------------------------------------------------------------

AWQ_7B = {"model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "served_name": "qwen7b", "gpu_memory_utilization": 0.9,
              "max_model_len": 8192, "quantization": "awq", "prefix_caching": True, "port": 8000}


def test_vllm_awq_7b_tp1():
    assert engine_args("vllm", tensor_parallel=1, **AWQ_7B) == [
        "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "--served-model-name", "qwen7b",
        "--tensor-parallel-size", "1",
        "--gpu-memory-utilization", "0.9",
        "--max-model-len", "8192",
        "--quantization", "awq",
        "--enable-prefix-caching",
        "--port", "8000",
    ]


def test_vllm_awq_7b_tp2_no_prefix_caching():
    args = engine_args("vllm", tensor_parallel=2, **{**AWQ_7B, "prefix_caching": False,
                                                       "gpu_memory_utilization": 0.85})
    assert args == [
        "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "--served-model-name", "qwen7b",
        "--tensor-parallel-size", "2",
        "--gpu-memory-utilization", "0.85",
        "--max-model-len", "8192",
        "--quantization", "awq",
        "--no-enable-prefix-caching",
        "--port", "8000",
    ]


def test_vllm_unquantized_and_int8_have_no_quantization_flag():
    for q in ("none", "int8"):
        args = engine_args("vllm", **{**AWQ_7B, "quantization": q})
        assert "--quantization" not in args
    assert engine_args("vllm", **{**AWQ_7B, "quantization": "fp8"})[9:11] == ["--quantization", "fp8"]


def test_vllm_embed_uses_pooling_runner():
    args = engine_args("vllm-embed", model="BAAI/bge-m3", served_name="bge-m3", tensor_parallel=1,
                       gpu_memory_utilization=0.5, max_model_len=8192, quantization="none",
                       prefix_caching=True, port=8000)
    assert args == ["BAAI/bge-m3", "--runner", "pooling", "--served-model-name", "bge-m3",
                    "--tensor-parallel-size", "1", "--gpu-memory-utilization", "0.5", "--max-model-len", "8192",
                    "--port", "8000"]
    assert "--task" not in args
    off = engine_args("vllm-embed", model="BAAI/bge-m3", served_name="bge-m3", prefix_caching=False)
    assert "--no-enable-prefix-caching" in off and "--enable-prefix-caching" not in off


def test_tgi_args():
    args = engine_args("tgi", tensor_parallel=2, **{**AWQ_7B, "port": 8080})
    assert args == [
        "--model-id", "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "--num-shard", "2",
        "--max-input-tokens", "8191",
        "--max-total-tokens", "8192",
        "--cuda-memory-fraction", "0.9",
        "--quantize", "awq",
        "--port", "8080",
    ]
    assert engine_args("tgi", **{**AWQ_7B, "quantization": "int8"})[-4:-2] == ["--quantize", "eetq"]
    assert engine_env("tgi", prefix_caching=False)["PREFIX_CACHING"] == "0"
    assert engine_env("tgi")["HF_HOME"] == "/data"


def test_triton_args_and_model_repository():
    args = engine_args("triton", tensor_parallel=2, **{**AWQ_7B, "port": 9000})
    assert ENGINES["triton"].command == ("python3", "/opt/tritonserver/python/openai/openai_frontend/main.py")
    assert args == ["--model-repository", "/models", "--tokenizer", "Qwen/Qwen2.5-7B-Instruct-AWQ",
                    "--openai-port", "9000"]
    files = engines.triton_model_files(model="Qwen/Qwen2.5-7B-Instruct-AWQ", served_name="qwen7b",
                                       tensor_parallel=2, gpu_memory_utilization=0.9, max_model_len=8192,
                                       quantization="awq")
    assert set(files) == {"qwen7b/config.pbtxt", "qwen7b/1/model.json"}
    assert 'backend: "vllm"' in files["qwen7b/config.pbtxt"] and "KIND_MODEL" in files["qwen7b/config.pbtxt"]
    assert files["qwen7b/1/model.json"] == {
        "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.9,
        "max_model_len": 8192, "enable_prefix_caching": True,
    }
    fp8 = engines.triton_model_files(model="m", served_name="m", quantization="fp8")
    assert fp8["m/1/model.json"]["quantization"] == "fp8"


def test_ollama_args_env_and_pull():
    args = engine_args("ollama", model="qwen2.5:7b-instruct-q4_K_M", served_name="qwen", quantization="gguf",
                       max_model_len=8192)
    assert args == ["serve"]
    env = engine_env("ollama", port=11434, max_model_len=8192)
    assert env["OLLAMA_HOST"] == "0.0.0.0:11434"
    assert env["OLLAMA_CONTEXT_LENGTH"] == "8192"
    assert env["OLLAMA_MODELS"] == "/cache/models"
    cmd = engines.ollama_pull_command("qwen2.5:7b-instruct-q4_K_M")
    assert cmd[:2] == ["/bin/sh", "-c"]
    assert "ollama serve &" in cmd[2] and "ollama pull qwen2.5:7b-instruct-q4_K_M" in cmd[2]
    with pytest.raises(ValueError, match="not a valid model tag"):
        engines.ollama_pull_command("qwen; rm -rf /")
    aliased = engines.ollama_pull_command("qwen2.5:0.5b", alias="tiny")[2]
    assert "ollama pull qwen2.5:0.5b && ollama cp qwen2.5:0.5b tiny; rc=$?" in aliased


def test_tei_args():
    args = engine_args("tei", model="BAAI/bge-m3", served_name="bge-m3", max_model_len=8192, port=8080)
    assert args == ["--model-id", "BAAI/bge-m3", "--served-model-name", "bge-m3", "--max-batch-tokens", "16384",
                    "--port", "8080"]
    assert engine_args("tei", model="m", served_name="m", max_model_len=32768)[5] == "32768"
    with pytest.raises(ValueError, match=r"tei.*tensor_parallel must be 1"):
        engine_args("tei", model="m", served_name="m", tensor_parallel=2)


def test_default_port_is_the_engine_port():
    for key in ("vllm", "tgi", "tei"):
        args = engine_args(key, model="org/m", served_name="m")
        assert args[-2:] == ["--port", str(ENGINES[key].port)]


@pytest.mark.parametrize("engine,quantization", [
    ("vllm", "gguf"), ("vllm-embed", "gguf"), ("tgi", "gguf"), ("triton", "gguf"),
    ("ollama", "awq"), ("ollama", "none"), ("tei", "awq"), ("tei", "fp8"),
])
def test_unsupported_quantization_names_engine_and_allowed(engine, quantization):
    with pytest.raises(ValueError) as err:
        engine_args(engine, model="org/m", served_name="m", quantization=quantization)
    message = str(err.value)
    assert engine in message and repr(quantization) in message
    allowed = ", ".join(engines.QUANTIZATION_ARGS[engine])
    assert f"allowed: {allowed}" in message


def test_quantization_table_covers_config_values():
    from typing import get_args

    from config.models import Quantization
    assert set(QUANTIZATIONS) == set(get_args(Quantization))
    for engine, table in engines.QUANTIZATION_ARGS.items():
        assert engine in ENGINES
        assert set(table) <= set(QUANTIZATIONS)
        assert table, engine
    # every non-Ollama generation engine serves the usual checkpoint formats; GGUF is Ollama's alone
    for engine in ("vllm", "tgi", "triton"):
        assert {"none", "awq", "gptq", "fp8", "int8"} <= set(engines.QUANTIZATION_ARGS[engine])
    assert set(engines.QUANTIZATION_ARGS["ollama"]) == {"gguf"}
    assert quantization_args("tgi", "gptq") == ("--quantize", "gptq")


def test_unknown_engine_and_bad_values():
    with pytest.raises(ValueError, match="unknown engine"):
        engine_args("sglang", model="m", served_name="m")
    with pytest.raises(ValueError, match="gpu_memory_utilization"):
        engine_args("vllm", model="m", served_name="m", gpu_memory_utilization=1.5)
    with pytest.raises(ValueError, match="tensor_parallel"):
        engine_args("vllm", model="m", served_name="m", tensor_parallel=0)
    assert engines.embedding_engine_key("vllm") == "vllm-embed"
    assert engines.embedding_engine_key("tei") == "tei"


# --- metrics ---------------------------------------------------------------------------------------------------

def test_metric_sources():
    assert set(METRICS) == {"vllm", "tgi", "triton", "tei", "dcgm", "milvus", "qdrant", "weaviate",
                            "elasticsearch-exporter", "redis-exporter"}
    for key, ms in METRICS.items():
        assert ms.source == key and ms.version and ms.ref and ms.metrics


def test_every_metric_and_label_name_is_valid():
    for ms in METRICS.values():
        for name, metric in ms.metrics.items():
            assert name == metric.name
            assert PROM_NAME.match(name), name
            assert metric.type in {"counter", "gauge", "histogram", "summary"}
            for label in metric.labels:
                assert re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", label), (name, label)
                assert not label.startswith("__")
        for series in series_names(ms.source):
            assert PROM_NAME.match(series), series
            assert engines.is_prometheus_name(series)


def test_histogram_and_summary_expansion():
    vllm = series_names("vllm")
    for base in ("vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds"):
        assert {base, base + "_bucket", base + "_sum", base + "_count"} <= vllm
    assert "vllm:num_requests_waiting_bucket" not in vllm
    triton = series_names("triton")
    assert {"nv_inference_queue_summary_us_sum", "nv_inference_queue_summary_us_count"} <= triton
    assert "nv_inference_queue_summary_us_bucket" not in triton
    assert "tgi_request_skipped_tokens_count" in series_names("tgi")
    assert "milvus_proxy_sq_latency_bucket" in series_names("milvus")
    assert "rest_responses_duration_seconds_bucket" in series_names("qdrant")
    with pytest.raises(ValueError, match="unknown metrics source"):
        series_names("ollama")


def test_vllm_names_at_pin():
    names = METRICS["vllm"].metrics
    assert "vllm:kv_cache_usage_perc" in names and "vllm:gpu_cache_usage_perc" not in names
    assert names["vllm:num_requests_waiting"].type == "gauge"
    assert names["vllm:num_requests_waiting"].labels == ("model_name", "engine")
    # prometheus_client appends _total to counters
    for counter in ("vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:num_preemptions_total",
                    "vllm:request_success_total"):
        assert names[counter].type == "counter"
    assert "finished_reason" in names["vllm:request_success_total"].labels
    for m in names.values():
        if m.type == "counter":
            assert m.name.endswith("_total"), m.name
    assert names["vllm:inter_token_latency_seconds"].type == "histogram"
    assert names["vllm:request_time_per_output_token_seconds"].type == "histogram"


def test_autoscaling_signals_exist_in_the_allow_list():
    for engine, sig in AUTOSCALING_SIGNALS.items():
        source = engines.ENGINE_METRICS_SOURCE[engine]
        names = series_names(source)
        assert sig.queue in names, (engine, sig.queue)
        if sig.kv_cache:
            assert sig.kv_cache in names
        if sig.running:
            assert sig.running in names
    assert AUTOSCALING_SIGNALS["vllm"].kv_cache == "vllm:kv_cache_usage_perc"
    assert "ollama" not in AUTOSCALING_SIGNALS


def test_dcgm_facts():
    dcgm = METRICS["dcgm"].metrics
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_XID_ERRORS",
                 "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"):
        assert name in dcgm
    assert all(n.startswith("DCGM_FI_") for n in dcgm)
    assert DCGM_MIG_UNSUPPORTED <= set(dcgm)
    assert DCGM_MIG_REPLACEMENT["DCGM_FI_DEV_GPU_UTIL"] == "DCGM_FI_PROF_GR_ENGINE_ACTIVE"
    for replacement in DCGM_MIG_REPLACEMENT.values():
        assert replacement in dcgm and replacement not in DCGM_MIG_UNSUPPORTED
    assert {"err_code", "err_msg"} <= set(dcgm["DCGM_FI_DEV_XID_ERRORS"].labels)
    for label in ("gpu", "UUID", "device", "modelName", "GPU_I_PROFILE", "GPU_I_ID", "pod", "namespace", "container"):
        assert label in dcgm["DCGM_FI_DEV_FB_USED"].labels
    assert dcgm["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].type == "counter"
    assert "DCGM_FI_DRIVER_VERSION" not in dcgm  # a label, not a series


def test_data_layer_names():
    es = METRICS["elasticsearch-exporter"].metrics
    assert es["elasticsearch_cluster_health_status"].labels == ("cluster", "color")
    assert METRICS["milvus"].metrics["milvus_proxy_sq_latency"].labels == (
        "node_id", "query_type", "db_name", "collection_name")
    assert {"redis_up", "redis_memory_used_bytes"} <= series_names("redis-exporter")
    assert {"rest_responses_total", "grpc_responses_total"} <= series_names("qdrant")
    assert METRICS["weaviate"].metrics["queries_durations_ms"].type == "histogram"
    assert METRICS["weaviate"].metrics["requests_total"].type == "gauge"
    assert engines.all_series_names() >= series_names("dcgm")


def test_module_is_pure_data():
    import ast
    import pathlib
    tree = ast.parse(pathlib.Path(engines.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "collections", "re", "dataclasses", "types", "typing"}, imported
