"""Model weights: a cache PVC per model (plan size, class, access mode), one download Job, no token leaks."""

from __future__ import annotations

import json

import pytest

from components.serving.server import cache_claim, servers
from config import validate
from tools import mockrun

from .conftest import HF_TOKEN, container, env, matrix_values, obj, objects, pod, run_serving, with_serving


@pytest.fixture(scope="module")
def dev():
    return run_serving(with_serving("dev"))


@pytest.fixture(scope="module")
def prod():
    return run_serving(with_serving("prod"))


def test_read_write_once_cache_keeps_a_models_replicas_on_its_node(dev):
    cfg, plan = validate(with_serving("dev"), "x")
    pvc = obj(dev, "PersistentVolumeClaim", "qwen7b-model-cache").inputs
    assert pvc["spec"] == {"accessModes": ["ReadWriteOnce"],
                           "resources": {"requests": {"storage": f"{plan.model('qwen7b').cache_gi}Gi"}}}
    assert pvc["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    spec = pod(dev, "Deployment", "qwen7b")
    [term] = spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"labelSelector": {"matchLabels": {"ai-platform/model": "qwen7b",
                                                      "app.kubernetes.io/component": "model-server"}},
                    "topologyKey": "kubernetes.io/hostname"}
    assert "topologySpreadConstraints" not in spec
    assert {"name": "model-cache", "persistentVolumeClaim": {"claimName": "qwen7b-model-cache"}} in spec["volumes"]


def test_read_write_many_cache_is_shared_by_primary_fallback_and_job(prod):
    pvc = obj(prod, "PersistentVolumeClaim", "qwen7b-model-cache").inputs["spec"]
    assert pvc["accessModes"] == ["ReadWriteMany"] and pvc["storageClassName"] == "ai-platform-rwx"
    for kind, name in (("Deployment", "qwen7b"), ("Deployment", "qwen7b-fallback"), ("Job", "qwen7b-download")):
        claims = [v["persistentVolumeClaim"]["claimName"] for v in pod(prod, kind, name)["volumes"]
                  if "persistentVolumeClaim" in v]
        assert claims == ["qwen7b-model-cache"], (kind, name)
    mount = next(m for m in container(prod, "qwen7b")["volumeMounts"] if m["name"] == "model-cache")
    assert mount["readOnly"] is True, "servers never write the shared cache"


def test_cache_size_comes_from_the_plan(prod):
    cfg, plan = validate(with_serving("prod"), "x")
    for model in plan.models:
        size = obj(prod, "PersistentVolumeClaim", f"{model.name}-model-cache").inputs["spec"]["resources"]
        assert size == {"requests": {"storage": f"{model.cache_gi}Gi"}}
        assert model.cache_gi >= model.weights_gib


def test_read_only_many_restores_a_snapshot_of_the_filled_volume():
    values = with_serving("dev", cacheAccessMode="ReadOnlyMany", snapshotClass="pd-snapshots",
                          storageClass="standard-rwo")
    result = run_serving(values)
    cfg, plan = validate(values, "x")
    server = next(s for s in servers(cfg, plan) if s.name == "qwen7b")
    claim = cache_claim(server, "ReadOnlyMany")
    assert claim.startswith("qwen7b-model-cache-") and len(claim) == len("qwen7b-model-cache-") + 8
    seed = obj(result, "PersistentVolumeClaim", "qwen7b-model-seed")
    assert seed.inputs["spec"]["accessModes"] == ["ReadWriteOnce"]
    job = obj(result, "Job", "qwen7b-download")
    assert pod(result, "Job", "qwen7b-download")["volumes"][0]["persistentVolumeClaim"] == {
        "claimName": "qwen7b-model-seed"}
    snapshot = obj(result, "VolumeSnapshot", claim)
    assert snapshot.inputs["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert snapshot.inputs["spec"] == {"volumeSnapshotClassName": "pd-snapshots",
                                       "source": {"persistentVolumeClaimName": "qwen7b-model-seed"}}
    assert job.urn in snapshot.dependencies
    many = obj(result, "PersistentVolumeClaim", claim)
    assert many.inputs["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert many.inputs["spec"]["dataSource"] == {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot",
                                                 "name": claim}
    assert snapshot.urn in many.dependencies
    deployment = obj(result, "Deployment", "qwen7b")
    assert many.urn in deployment.dependencies
    volume = next(v for v in pod(result, "Deployment", "qwen7b")["volumes"] if v["name"] == "model-cache")
    assert volume["persistentVolumeClaim"] == {"claimName": claim, "readOnly": True}
    assert "topologySpreadConstraints" in pod(result, "Deployment", "qwen7b"), "many readers: replicas spread"


def test_download_job_fills_the_cache_from_the_hub_with_the_token_from_a_secret(prod):
    job = obj(prod, "Job", "qwen72b-download")
    template = job.inputs["spec"]["template"]
    assert template["metadata"]["labels"]["ai-platform/role"] == "model-download"
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "model-download"
    spec = template["spec"]
    assert spec["restartPolicy"] == "Never" and spec["priorityClassName"] == "ai-platform-batch"
    assert "nodeSelector" not in spec and "tolerations" not in spec, "downloading needs no GPU"
    c = spec["containers"][0]
    assert c["image"] == "vllm/vllm-openai:v0.33.0" and c["command"][:2] == ["python3", "-c"]
    assert "snapshot_download" in c["command"][2]
    e = env(c)
    assert e["MODEL_ID"] == "Qwen/Qwen2.5-72B-Instruct-AWQ"
    assert e["MODEL_DIR"] == "/cache/models/Qwen/Qwen2.5-72B-Instruct-AWQ"
    assert e["HF_TOKEN"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert not any(r.get("nvidia.com/gpu") for r in c["resources"].values())
    assert c["securityContext"]["runAsNonRoot"] is True
    secret = obj(prod, "Secret", "hf-token")
    assert mockrun.is_secret(secret.inputs["stringData"])
    assert mockrun.unwrap(secret.inputs["stringData"]) == {"token": HF_TOKEN}
    deployment = obj(prod, "Deployment", "qwen72b")
    assert job.urn in deployment.dependencies, "servers start after the weights are on the volume"
    assert obj(prod, "PersistentVolumeClaim", "qwen72b-model-cache").urn in job.dependencies


def test_the_token_never_appears_outside_the_secret():
    result = run_serving(matrix_values())
    for r in result.resources:
        if r.type == "kubernetes:core/v1:Secret":
            continue
        assert HF_TOKEN not in json.dumps(mockrun.unwrap(r.inputs)), r.name


def test_without_a_token_there_is_no_secret_and_no_token_env():
    result = run_serving(with_serving("prod"), hf_token=None)
    assert not objects(result, "Secret")
    assert "HF_TOKEN" not in env(pod(result, "Job", "qwen7b-download")["containers"][0])


def test_tei_downloads_with_the_vllm_image_and_serves_the_directory(prod):
    c = pod(prod, "Job", "embedding-download")["containers"][0]
    assert c["image"] == "vllm/vllm-openai:v0.33.0"
    assert env(c)["MODEL_DIR"] == "/data/models/BAAI/bge-m3"
    assert {"name": "model-cache", "mountPath": "/data"} in c["volumeMounts"]


def test_tgi_downloads_as_root_with_its_own_python():
    result = run_serving(matrix_values())
    spec = pod(result, "Job", "tgi7-download")
    c = spec["containers"][0]
    assert c["image"] == "ghcr.io/huggingface/text-generation-inference:3.3.7" and c["command"][0] == "python"
    assert spec["securityContext"]["runAsNonRoot"] is False


def test_ollama_pulls_the_tag_and_aliases_it_to_the_server_name():
    result = run_serving(matrix_values())
    c = pod(result, "Job", "tiny-download")["containers"][0]
    assert c["image"] == "ollama/ollama:0.32.15" and c["command"][:2] == ["/bin/sh", "-c"]
    assert "ollama pull qwen2.5:0.5b && ollama cp qwen2.5:0.5b tiny" in c["command"][2]
    assert env(c)["OLLAMA_MODELS"] == "/cache/models" and "HF_TOKEN" not in env(c)
