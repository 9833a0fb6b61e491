"""Every engine's rendered pod: args, resources from the capacity plan, placement, probes, volumes, security."""

from __future__ import annotations

import json

import pytest

from config import ConfigError, validate
from config.engines import ENGINES, TRITON_VLLM_CONFIG_PBTXT

from .conftest import container, env, matrix_values, obj, pod, run_serving, with_serving

TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
STRICT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
          "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


@pytest.fixture(scope="module")
def matrix():
    return run_serving(matrix_values())


def test_vllm_tensor_parallel_2_on_an_8_gpu_pool_requests_2_gpus(matrix):
    c = container(matrix, "chat70")
    assert c["image"] == "vllm/vllm-openai:v0.33.0" and c["command"] == ["vllm", "serve"]
    assert c["args"] == ["/cache/models/Qwen/Qwen2.5-72B-Instruct-AWQ", "--served-model-name", "chat70",
                         "--tensor-parallel-size", "2", "--gpu-memory-utilization", "0.9", "--max-model-len", "32768",
                         "--quantization", "awq", "--enable-prefix-caching", "--port", "8000"]
    assert c["resources"]["requests"]["nvidia.com/gpu"] == c["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert c["resources"]["requests"]["cpu"] == "8" and c["resources"]["limits"]["cpu"] == "16"
    # weights 39.x GiB + 8 + /dev/shm 8 (tensor parallel)
    assert c["resources"]["requests"]["memory"] == c["resources"]["limits"]["memory"] == "56Gi"
    spec = pod(matrix, "Deployment", "chat70")
    assert spec["nodeSelector"] == {"ai-platform/pool": "h100-od"} and spec["tolerations"] == [TOLERATION]
    shm = next(v for v in spec["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "8Gi"}


def test_vllm_on_a_mixed_mig_slice_requests_the_profile_and_its_fallback_a_whole_gpu(matrix):
    primary, fallback = container(matrix, "chat7"), container(matrix, "chat7-fallback")
    assert primary["resources"]["limits"]["nvidia.com/mig-3g.40gb"] == "1"
    assert "nvidia.com/gpu" not in primary["resources"]["limits"]
    assert fallback["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "--quantization" not in primary["args"] and primary["args"][0] == "/cache/models/Qwen/Qwen2.5-7B-Instruct"
    assert pod(matrix, "Deployment", "chat7")["nodeSelector"] == {"ai-platform/pool": "a100-spot"}
    assert pod(matrix, "Deployment", "chat7-fallback")["nodeSelector"] == {"ai-platform/pool": "h100-od"}


def test_vllm_environment_keeps_the_hub_offline_and_caches_writable(matrix):
    e = env(container(matrix, "chat70"))
    assert e["HF_HUB_OFFLINE"] == "1" and e["VLLM_CACHE_ROOT"] == "/tmp/vllm" and e["HOME"] == "/tmp"
    assert e["USER"] == "vllm" and e["VLLM_NO_USAGE_STATS"] == "1"
    assert "HF_TOKEN" not in e, "servers never download: only the Job gets the token"


def test_tgi_args_env_and_root_runtime(matrix):
    c = container(matrix, "tgi7")
    assert c["image"] == "ghcr.io/huggingface/text-generation-inference:3.3.7" and "command" not in c
    assert c["args"] == ["--model-id", "/data/models/Qwen/Qwen2.5-7B-Instruct-AWQ", "--num-shard", "1",
                         "--max-input-tokens", "8191", "--max-total-tokens", "8192", "--cuda-memory-fraction", "0.9",
                         "--quantize", "awq", "--port", "8080"]
    assert env(c)["PREFIX_CACHING"] == "1" and env(c)["HF_HOME"] == "/data"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # root (the image's Python is under /root) but nothing else: no capabilities, no escalation, RuntimeDefault.
    assert c["securityContext"] == {**STRICT, "readOnlyRootFilesystem": False, "runAsNonRoot": False}
    security = pod(matrix, "Deployment", "tgi7")["securityContext"]
    assert security["runAsNonRoot"] is False and "runAsUser" not in security
    assert not any(v["name"] == "dshm" for v in pod(matrix, "Deployment", "tgi7")["volumes"]), "shm only when sharded"
    assert {"name": "model-cache", "mountPath": "/data", "readOnly": True} in c["volumeMounts"]


def test_triton_openai_frontend_and_model_repository(matrix):
    c = container(matrix, "triton7")
    assert c["image"] == "nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3"
    assert c["command"] == ["python3", "/opt/tritonserver/python/openai/openai_frontend/main.py"]
    assert c["args"] == ["--model-repository", "/models", "--tokenizer", "/cache/models/Qwen/Qwen2.5-7B-Instruct",
                         "--openai-port", "9000"]
    assert c["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert c["livenessProbe"]["tcpSocket"] == {"port": "http"}, "the frontend has no liveness route"
    assert c["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    cm = obj(matrix, "ConfigMap", "triton7-triton-repository").inputs["data"]
    assert cm["config.pbtxt"] == TRITON_VLLM_CONFIG_PBTXT
    assert json.loads(cm["model.json"]) == {
        "model": "/cache/models/Qwen/Qwen2.5-7B-Instruct", "tensor_parallel_size": 1, "gpu_memory_utilization": 0.9,
        "max_model_len": 8192, "enable_prefix_caching": True, "quantization": "fp8"}
    volume = next(v for v in pod(matrix, "Deployment", "triton7")["volumes"] if v["name"] == "triton-repository")
    assert volume["configMap"]["items"] == [{"key": "config.pbtxt", "path": "triton7/config.pbtxt"},
                                            {"key": "model.json", "path": "triton7/1/model.json"}]
    assert c["securityContext"] == STRICT


def test_ollama_on_cpu(matrix):
    c = container(matrix, "tiny")
    spec = pod(matrix, "Deployment", "tiny")
    assert c["image"] == "ollama/ollama:0.32.15" and c["args"] == ["serve"] and "command" not in c
    assert env(c)["OLLAMA_MODELS"] == "/cache/models" and env(c)["OLLAMA_HOST"] == "0.0.0.0:11434"
    assert env(c)["OLLAMA_CONTEXT_LENGTH"] == "4096"
    assert not any(k.startswith("nvidia.com/") for k in c["resources"]["limits"])
    assert "nodeSelector" not in spec and "tolerations" not in spec
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/version" and c["livenessProbe"]["httpGet"]["path"] == "/"
    assert {"name": "model-cache", "mountPath": "/cache", "readOnly": False} in c["volumeMounts"], "owns its store"
    assert c["securityContext"] == STRICT


def test_embedding_server_tei_on_a_mig_slice(matrix):
    c = container(matrix, "embedding")
    labels = obj(matrix, "Deployment", "embedding").inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "embedding" and labels["ai-platform/model"] == "embedding"
    assert c["image"] == "ghcr.io/huggingface/text-embeddings-inference:1.9.3"  # A100: compute capability 8.0
    assert c["args"] == ["--model-id", "/data/models/BAAI/bge-m3", "--served-model-name", "embedding",
                         "--max-batch-tokens", "16384", "--port", "8080"]
    assert c["resources"]["limits"]["nvidia.com/mig-2g.20gb"] == "1"
    assert obj(matrix, "Deployment", "embedding").inputs["spec"]["replicas"] == 2
    assert pod(matrix, "Deployment", "embedding")["priorityClassName"] == "ai-platform-serving"


@pytest.mark.parametrize("name", ["chat70", "chat7", "chat7-fallback", "tgi7", "triton7", "tiny", "embedding"])
def test_every_server_shares_the_skeleton(matrix, name):
    spec = pod(matrix, "Deployment", name)
    c = spec["containers"][0]
    engine = c["name"]
    engine_spec = ENGINES[{"vllm": "vllm"}.get(engine, engine)]
    assert spec["priorityClassName"] == "ai-platform-serving" and spec["serviceAccountName"] == "model-server"
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["fsGroup"] == 1000
    # Startup sized for the model load, liveness only after it; readiness on the health endpoint.
    startup = c["startupProbe"]
    assert startup["httpGet"] == {"path": engine_spec.readiness_path, "port": "http"}
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert c["readinessProbe"]["httpGet"]["path"] == engine_spec.readiness_path
    # Drain: out of the Service first, then the engine's own grace.
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 15}}}
    assert spec["terminationGracePeriodSeconds"] == 75
    # Volumes: model cache (PVC), scratch space, maybe /dev/shm and Triton's repository; nothing from the host.
    kinds = {v["name"]: set(v) - {"name"} for v in spec["volumes"]}
    assert kinds["model-cache"] == {"persistentVolumeClaim"} and kinds["tmp"] == {"emptyDir"}
    assert not any("hostPath" in v for v in spec["volumes"])
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][section])
    spread = spec["topologySpreadConstraints"]
    # Multi-GPU replicas spread over nodes by anti-affinity instead (tests/serving/test_replica_spread.py).
    hosts = [] if name == "chat70" else ["kubernetes.io/hostname"]
    assert [s["topologyKey"] for s in spread] == ["topology.kubernetes.io/zone", *hosts]
    assert all(s["whenUnsatisfiable"] == "ScheduleAnyway" for s in spread)


def test_gpu_deployments_replace_one_replica_at_a_time(matrix):
    for name in ("chat70", "chat7", "chat7-fallback", "embedding"):
        strategy = obj(matrix, "Deployment", name).inputs["spec"]["strategy"]
        assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_startup_budget_grows_with_the_weights(matrix):
    big, small = container(matrix, "chat70")["startupProbe"], container(matrix, "tiny")["startupProbe"]
    assert big["failureThreshold"] > small["failureThreshold"]
    _, plan = validate(matrix_values(), "x")
    assert big["failureThreshold"] * 10 >= 300 + 20 * plan.model("chat70").weights_gib


def test_configured_resources_and_startup_override_the_plan():
    models = [{"name": "m", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
               "pool": "h100-od", "resources": {"cpu": "6", "memory": "30Gi"}, "startupSeconds": 1200,
               "drainSeconds": 300, "prefixCaching": False}]
    result = run_serving(with_serving("prod", models, cacheAccessMode="ReadWriteMany", storageClass="efs-sc"))
    c = container(result, "m")
    assert c["resources"]["requests"] == {"cpu": "6", "memory": "30Gi", "nvidia.com/gpu": "1"}
    assert c["resources"]["limits"] == {"cpu": "12", "memory": "30Gi", "nvidia.com/gpu": "1"}
    assert c["startupProbe"]["failureThreshold"] == 120 and "--no-enable-prefix-caching" in c["args"]
    assert pod(result, "Deployment", "m")["terminationGracePeriodSeconds"] == 315


def test_a_70b_fp16_model_on_one_a100_80gb_is_rejected_with_the_numbers():
    values = with_serving("prod", [{"name": "llama70", "engine": "vllm", "model": "meta-llama/Llama-3.1-70B-Instruct",
                                    "maxModelLen": 8192, "pool": "a100-od", "replicas": {"min": 1, "max": 1}}])
    values["nodePools"]["gpu"].append({"name": "a100-od", "gpu": "a100-80gb", "gpusPerNode": 8, "capacity": "on-demand",
                                       "min": 0, "max": 1})
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    message = str(err.value)
    assert "ai-platform:serving.models[0]: model 'llama70': does not fit: needs 148.2 GiB per 1x a100-80gb " \
           "(weights 131.5 + KV cache 2.5 for maxModelLen 8192, split over tensorParallel 1, + overhead 14.2) but " \
           "pool 'a100-od' gives 72.0 GiB (80.0 x gpuMemoryUtilization 0.9)" in message
    assert "raise tensorParallel (pool 'a100-od' has 8 GPUs per node)" in message


def test_an_awq_7b_model_on_a_1g_10gb_slice_is_accepted():
    # dev: GKE partitions the A100 into 1g.10gb and advertises each slice as nvidia.com/gpu (single strategy).
    dev = run_serving(with_serving("dev"))
    c = container(dev, "qwen7b")
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1" and "--quantization" in c["args"]
    # The same model on an EKS pool of 1g.10gb slices with the mixed strategy asks for the MIG resource.
    values = with_serving("prod", [{"name": "small", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ",
                                    "quantization": "awq", "maxModelLen": 8192, "pool": "slices",
                                    "replicas": {"min": 1, "max": 7}}], cacheAccessMode="ReadWriteMany",
                          storageClass="efs-sc")
    values["nodePools"]["gpu"].append({"name": "slices", "gpu": "a100-80gb", "gpusPerNode": 8, "capacity": "on-demand",
                                       "min": 0, "max": 1, "sharing": {"strategy": "mig", "profile": "1g.10gb"},
                                       "forceUpgrade": True})  # 7 replicas per node: see docs/clusters.md
    cfg, plan = validate(values, "Pulumi.prod.yaml")
    assert plan.model("small").fits and plan.model("small").unit == "1g.10gb slice"
    assert plan.model("small").need_per_unit_gib <= plan.model("small").usable_per_unit_gib
    result = run_serving(values)
    assert container(result, "small")["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "1"
    assert pod(result, "Deployment", "small")["nodeSelector"] == {"ai-platform/pool": "slices"}
