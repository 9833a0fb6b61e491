"""serving-pods-select-gpu-pool, model-servers-mount-model-cache, and the fallback part of critical-models-on-demand."""

from __future__ import annotations

import copy

import pytest

from .harness import Res
from .harness import run_stack as run_policy
from .test_budget import eks_group, gke_pool
from .test_critical import od_eks, plan_configmap, spot_eks

SELECT = "serving-pods-select-gpu-pool"
CACHE = "model-servers-mount-model-cache"
CRITICAL = "critical-models-on-demand"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def server(name="qwen", component="model-server", pool="h100-od", gpu="nvidia.com/gpu", claim="qwen-model-cache",
           namespace="ai-inference", kind=DEPLOYMENT, replicas=2) -> Res:
    resources = {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"cpu": "8", "memory": "16Gi"}}
    if gpu is not None:
        resources["requests"][gpu] = resources["limits"][gpu] = "1"
    container = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0", "resources": resources,
                 "volumeMounts": [{"name": "model-cache", "mountPath": "/cache"}, {"name": "tmp", "mountPath": "/tmp"}]}
    spec = {"containers": [container], "tolerations": [TOLERATION],
            "volumes": [{"name": "tmp", "emptyDir": {}}]}
    if claim is not None:
        spec["volumes"].append({"name": "model-cache", "persistentVolumeClaim": {"claimName": claim}})
    if pool is not None:
        spec["nodeSelector"] = {"ai-platform/pool": pool}
    labels = {"app.kubernetes.io/component": component, "ai-platform/model": name}
    return Res(kind, f"ai-serving-{name}", {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}}})


def claim(name="qwen-model-cache", namespace="ai-inference") -> Res:
    return Res(PVC, f"ai-{name}", {"metadata": {"name": name, "namespace": namespace},
                                   "spec": {"accessModes": ["ReadWriteMany"]}})


def messages(policy, resources) -> list[str]:
    return [v.message for v in run_policy(policy, resources)]


# ------------------------------------------------------------------------------ select a GPU pool


def test_pinned_gpu_server_is_compliant():
    assert messages(SELECT, [eks_group("h100-od"), server()]) == []


def test_required_node_affinity_counts():
    s = server(pool=None)
    required = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "ai-platform/pool", "operator": "In",
                                                             "values": ["h100-od"]}]}]}
    s.props["spec"]["template"]["spec"]["affinity"] = {
        "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}
    assert messages(SELECT, [eks_group("h100-od"), s]) == []


@pytest.mark.parametrize("affinity", [
    None,
    {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "preference": {
        "matchExpressions": [{"key": "ai-platform/pool", "operator": "In", "values": ["h100-od"]}]}}]}},
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "ai-platform/pool", "operator": "Exists"}]}]}}},
    {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "ai-platform/pool", "operator": "In", "values": ["h100-od"]}]},
        {"matchExpressions": [{"key": "ai-platform/gpu", "operator": "In", "values": ["h100-80gb"]}]}]}}},
], ids=["none", "preferred", "exists", "one-term-unpinned"])
def test_unpinned_gpu_server_is_a_violation(affinity):
    s = server(pool=None)
    if affinity is not None:
        s.props["spec"]["template"]["spec"]["affinity"] = affinity
    [violation] = run_policy(SELECT, [eks_group("h100-od"), s])
    assert "Deployment ai-inference/qwen serves a model on GPUs but is not pinned to a GPU pool" in violation.message
    assert "pools: h100-od" in violation.message and violation.urn == s.urn


def test_pool_that_no_node_pool_carries_is_a_violation():
    [message] = messages(SELECT, [gke_pool("l4-spot"), server(pool="ghost", component="embedding")])
    assert "selects ai-platform/pool ghost, which no node pool of the stack carries; pools: l4-spot" in message


def test_existing_cluster_without_node_pools_accepts_any_pool_label():
    assert messages(SELECT, [server(pool="hand-labelled")]) == []


def test_cpu_servers_and_other_gpu_workloads_are_not_checked():
    other = server(component="batch", pool=None)
    assert messages(SELECT, [eks_group("h100-od"), server(gpu=None, pool=None), other]) == []
    assert messages(SELECT, [server(gpu="nvidia.com/mig-3g.40gb", pool=None)])  # MIG counts as GPU


def test_absent_template_labels_or_spec_are_not_serving_workloads():
    bare = Res(DEPLOYMENT, "bare", {"metadata": {"name": "bare"}, "spec": {"template": {"spec": {
        "containers": [{"name": "x", "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}}})
    assert messages(SELECT, [bare, Res(DEPLOYMENT, "empty", {"metadata": {"name": "empty"}})]) == []


# ------------------------------------------------------------------------------------ model cache


def test_mounted_model_cache_claim_is_compliant():
    assert messages(CACHE, [server(), claim()]) == []


def test_no_claim_mounted_is_a_violation():
    s = server(claim=None)
    [violation] = run_policy(CACHE, [s, claim()])
    assert "Deployment ai-inference/qwen serves a model on GPUs without a model cache: it mounts no " \
           "PersistentVolumeClaim" in violation.message
    assert violation.urn == s.urn


@pytest.mark.parametrize("present", [[], [claim(namespace="ai-rag")], [claim(name="other")]],
                         ids=["missing", "other-namespace", "other-name"])
def test_claim_missing_from_the_stack_is_a_violation(present):
    [message] = messages(CACHE, [server(), *present])
    assert "it mounts qwen-model-cache, which is not a PersistentVolumeClaim of the stack in ai-inference" in message


def test_claim_volume_that_no_container_mounts_does_not_count():
    s = server()
    s.props["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = []
    assert messages(CACHE, [s, claim()])


def test_cpu_model_servers_need_no_cache_claim():
    assert messages(CACHE, [server(gpu=None, claim=None)]) == []


# ---------------------------------------------------------------------- critical spot -> fallback


def critical_stack(*workloads: Res) -> list[Res]:
    models = {"qwen": {"pool": "a100-spot", "fallbackPool": "h100-od", "critical": True, "capacity": "spot"}}
    return [spot_eks("a100-spot"), od_eks("h100-od"), plan_configmap(models), *workloads]


def test_fallback_deployment_on_the_fallback_pool_is_compliant():
    resources = critical_stack(server(pool="a100-spot"), server(name="qwen-fallback", pool="h100-od"))
    resources[-1].props["spec"]["template"]["metadata"]["labels"]["ai-platform/model"] = "qwen"
    assert messages(CRITICAL, resources) == []


def test_missing_fallback_deployment_is_a_violation():
    primary = server(pool="a100-spot")
    [violation] = run_policy(CRITICAL, critical_stack(primary))
    assert "critical model 'qwen' runs on spot capacity and relies on its on-demand fallback pool 'h100-od', but " \
           "there is no Deployment ai-inference/qwen-fallback" in violation.message
    assert violation.urn == primary.urn


@pytest.mark.parametrize("change", ["spot-pool", "zero-replicas", "other-namespace"])
def test_fallback_deployment_that_gives_no_on_demand_capacity_is_a_violation(change):
    fallback = server(name="qwen-fallback", pool="h100-od")
    if change == "spot-pool":
        fallback.props["spec"]["template"]["spec"]["nodeSelector"] = {"ai-platform/pool": "a100-spot"}
    elif change == "zero-replicas":
        fallback.props["spec"]["replicas"] = 0
    else:
        fallback.props["metadata"]["namespace"] = "other"
    found = messages(CRITICAL, critical_stack(server(pool="a100-spot"), fallback))
    assert len(found) == 1 and "critical model 'qwen'" in found[0]


def test_fallback_is_only_required_when_the_model_server_is_in_the_stack():
    assert messages(CRITICAL, critical_stack()) == []
    not_a_server = copy.deepcopy(server(pool="a100-spot", component="batch"))
    assert messages(CRITICAL, critical_stack(not_a_server)) == []


def test_primary_on_demand_pool_needs_no_fallback_deployment():
    models = {"qwen": {"pool": "h100-od", "fallbackPool": None, "critical": True, "capacity": "on-demand"}}
    assert messages(CRITICAL, [od_eks("h100-od"), plan_configmap(models), server()]) == []
