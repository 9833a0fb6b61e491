"""Serving config checks: one clear ConfigError (key path + what is allowed) before any resource exists."""

from __future__ import annotations

import copy

import pytest

from config import ConfigError, validate
from config.storage import model_cache_storage_class, needs_shared_file_system
from tests.conftest import stack_values

from .conftest import with_serving

QWEN = {"name": "chat", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
        "maxModelLen": 8192, "pool": "h100-od", "replicas": {"min": 1, "max": 2}}


def problems(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.test.yaml")
    return str(err.value)


def model(**changes) -> dict:
    found = copy.deepcopy(QWEN)
    found.update(changes)
    return found


def rwx(models) -> dict:
    return with_serving("prod", models, cacheAccessMode="ReadWriteMany", storageClass="efs-sc")


def test_tgi_in_a_restricted_namespace_is_rejected_with_the_way_out():
    message = problems(rwx([model(engine="tgi")]))
    assert "ai-platform:serving.models[0].engine: the tgi 3.3.7 image runs only as root" in message
    assert "tenancy.namespaces.ai-inference.podSecurity: baseline" in message and "rootImages" in message


def test_tgi_with_a_baseline_namespace_is_accepted():
    values = rwx([model(engine="tgi")])
    values["tenancy"]["namespaces"]["ai-inference"]["podSecurity"] = "baseline"
    validate(values, "x")


@pytest.mark.parametrize("autoscaling, engine, path, text", [
    ({"scaleToZero": True, "wakeQuery": "vector(1)", "engine": "hpa"}, "vllm", "autoscaling.scaleToZero",
     "a HorizontalPodAutoscaler cannot scale to zero; use autoscaling.engine: keda"),
    ({"scaleToZero": True}, "tgi", "autoscaling.wakeQuery", "required with scaleToZero"),
    ({"wakeQuery": "vector(1)"}, "vllm", "autoscaling.wakeQuery", "only used with scaleToZero"),
], ids=["hpa-to-zero", "no-wake-query", "wake-query-without-zero"])
def test_scale_to_zero_needs_keda_and_a_wake_query(autoscaling, engine, path, text):
    replicas = {"min": 0, "max": 2} if autoscaling.get("scaleToZero") else {"min": 1, "max": 2}
    message = problems(rwx([model(engine=engine, autoscaling=autoscaling, replicas=replicas)]))
    assert f"ai-platform:serving.models[0].{path}: {text}" in message


def test_ollama_cannot_scale_to_zero():
    tiny = {"name": "tiny", "engine": "ollama", "model": "qwen2.5:0.5b", "replicas": {"min": 0, "max": 1},
            "autoscaling": {"scaleToZero": True, "wakeQuery": "vector(1)"}}
    assert "ollama exports no metrics to wake it from zero" in problems(with_serving("local", [tiny]))


def test_autoscaling_needs_observability():
    values = rwx([model()])
    values["observability"] = {"enabled": False}
    values["tenancy"]["namespaces"].pop("observability")
    values["rag"].pop("gateway")  # (the gateway would not mind; keep the message list short)
    values["rag"]["embedding"].pop("maxReplicas")  # (its own check: tests/serving/test_autoscaling_epp.py)
    message = problems(values)
    assert "ai-platform:serving.models[0].autoscaling: replicas 1..2 scale on Prometheus queries" in message
    fixed = copy.deepcopy(values)
    fixed["serving"]["models"][0]["replicas"] = {"min": 2, "max": 2}
    validate(fixed, "x")


def test_read_write_many_on_an_existing_cluster_needs_a_shared_file_system_class():
    values = stack_values("local")
    values["serving"]["cacheAccessMode"] = "ReadWriteMany"
    assert "ai-platform:serving.storageClass: cacheAccessMode ReadWriteMany on an existing cluster needs the " \
           "StorageClass of a shared file system" in problems(values)
    values["serving"]["storageClass"] = "nfs-client"
    validate(values, "x")


@pytest.mark.parametrize("stack, expected", [("prod", "ai-platform-rwx"), ("dev", "standard-rwx")])
def test_read_write_many_on_a_cloud_uses_the_class_the_cluster_provides(stack, expected):
    values = with_serving(stack, cacheAccessMode="ReadWriteMany", storageClass=None)
    cfg, _ = validate(values, "x")
    assert model_cache_storage_class(cfg) == expected and needs_shared_file_system(cfg)
    values["serving"]["storageClass"] = "my-nfs"
    cfg, _ = validate(values, "x")
    assert model_cache_storage_class(cfg) == "my-nfs" and not needs_shared_file_system(cfg)


def test_read_only_many_needs_a_snapshot_class_and_not_ebs():
    message = problems(with_serving("dev", cacheAccessMode="ReadOnlyMany"))
    assert "ai-platform:serving.snapshotClass: required with cacheAccessMode ReadOnlyMany" in message
    message = problems(with_serving("prod", cacheAccessMode="ReadOnlyMany", snapshotClass="ebs"))
    assert "ai-platform:serving.cacheAccessMode: EBS volumes cannot be attached read-only to many nodes" in message
    assert "ai-platform:serving.snapshotClass: only used with cacheAccessMode ReadOnlyMany" in problems(
        with_serving("dev", snapshotClass="pd"))


def test_read_write_once_rejects_a_fallback_pool():
    message = problems(with_serving("prod", cacheAccessMode="ReadWriteOnce", storageClass=None))
    assert "ai-platform:serving.models[1].fallbackPool: the fallback replicas run on another node pool and cannot " \
           "share a ReadWriteOnce model cache" in message


def test_read_write_once_rejects_replicas_that_do_not_fit_one_node():
    values = with_serving("dev")
    values["serving"]["models"][0]["replicas"] = {"min": 1, "max": 8}
    values["nodePools"]["gpu"][0]["max"] = 3
    message = problems(values)
    assert "ai-platform:serving.models[0].replicas.max: 8 replicas of 'qwen7b' need 2 nodes of pool 'a100-spot' " \
           "(7 per node), but a ReadWriteOnce model cache attaches to one node; lower it to 7" in message


def test_names_that_clash_with_the_embedding_service_or_a_fallback_deployment():
    clash = rwx([model(name="embedding"), model(name="chat"), model(name="chat-fallback")])
    message = problems(clash)
    assert "ai-platform:serving.models[0].name: 'embedding' is the Service of rag.embedding" in message
    assert "ai-platform:serving.models[2].name: 'chat-fallback' is the name of model 'chat''s on-demand fallback" in \
        message


def test_vllm_embeddings_need_a_gpu_pool():
    values = with_serving("local")
    values["rag"]["embedding"] = {"model": "BAAI/bge-m3", "engine": "vllm"}
    values["tenancy"]["namespaces"]["ai-inference"]["memoryQuota"] = "16Gi"  # 8Gi holds local's own model only
    assert "ai-platform:rag.embedding.pool: engine vllm needs a GPU pool" in problems(values)
    values["rag"]["embedding"]["engine"] = "tei"
    validate(values, "x")


def test_new_serving_keys_are_typed():
    assert "ai-platform:serving.cacheAccessMode" in problems(with_serving("dev", cacheAccessMode="ReadWriteAll"))
    assert "ai-platform:serving.models[0].drainSeconds" in problems(with_serving("dev", [model(drainSeconds=-1)]))
