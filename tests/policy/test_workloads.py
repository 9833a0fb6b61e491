"""gpu-workloads-tolerate-gpu-taint over every workload kind, GPU/MIG resources and toleration forms."""

from __future__ import annotations

import copy

import pytest

from .harness import run_resource

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def pod_spec(tolerations=None, gpu: dict | None = None, init_gpu: dict | None = None) -> dict:
    """A vLLM-like pod spec; `gpu` / `init_gpu` are resources sections added to the containers."""
    server = {
        "name": "vllm",
        "image": "vllm/vllm-openai:v0.6.3",
        "args": ["--model", "Qwen/Qwen2.5-7B-Instruct-AWQ", "--max-model-len", "16384"],
        "ports": [{"containerPort": 8000, "name": "http"}],
        "resources": {"requests": {"cpu": "4", "memory": "24Gi"}, "limits": {"memory": "24Gi"}},
    }
    if gpu:
        for section, amounts in gpu.items():
            server["resources"].setdefault(section, {}).update(amounts)
    spec = {
        "containers": [{"name": "metrics", "image": "prom/statsd-exporter:v0.26.0"}, server],
        "nodeSelector": {"ai-platform/pool": "a100-spot"},
    }
    if init_gpu:
        spec["initContainers"] = [{"name": "warmup", "image": "busybox:1.36", "resources": init_gpu}]
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return spec


def template(spec: dict) -> dict:
    return {"metadata": {"labels": {"app.kubernetes.io/name": "qwen7b"}}, "spec": spec}


# Each kind nests the pod spec where Kubernetes puts it (written out here, not taken from the rule).
KINDS = {
    "kubernetes:core/v1:Pod": lambda spec: {"metadata": {"name": "qwen7b"}, "spec": spec},
    "kubernetes:core/v1:ReplicationController": lambda spec: {"spec": {"replicas": 1, "template": template(spec)}},
    "kubernetes:apps/v1:Deployment": lambda spec: {
        "metadata": {"name": "qwen7b", "namespace": "ai-inference"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "qwen7b"}},
                 "template": template(spec)}},
    "kubernetes:apps/v1:StatefulSet": lambda spec: {
        "spec": {"serviceName": "qwen7b", "replicas": 1, "template": template(spec)}},
    "kubernetes:apps/v1:DaemonSet": lambda spec: {"spec": {"template": template(spec)}},
    "kubernetes:apps/v1:ReplicaSet": lambda spec: {"spec": {"replicas": 3, "template": template(spec)}},
    "kubernetes:batch/v1:Job": lambda spec: {"spec": {"backoffLimit": 2, "template": template(spec)}},
    "kubernetes:batch/v1:CronJob": lambda spec: {
        "spec": {"schedule": "0 3 * * *",
                 "jobTemplate": {"spec": {"backoffLimit": 1, "template": template(spec)}}}},
}

GPU_LIMIT = {"limits": {"nvidia.com/gpu": 1}}


def check(resource_type: str, props: dict) -> list[str]:
    return run_resource("gpu-workloads-tolerate-gpu-taint", resource_type, props, name="qwen7b")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gpu_workload_without_toleration_is_a_violation(kind):
    messages = check(kind, KINDS[kind](pod_spec(gpu=GPU_LIMIT)))
    assert len(messages) == 1
    assert "container 'vllm'" in messages[0] and "limits.nvidia.com/gpu=1" in messages[0]
    assert kind.rsplit(":", 1)[-1] in messages[0]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gpu_workload_with_toleration_passes(kind):
    assert check(kind, KINDS[kind](pod_spec(tolerations=[GPU_TOLERATION], gpu=GPU_LIMIT))) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_cpu_workload_needs_no_toleration(kind):
    assert check(kind, KINDS[kind](pod_spec())) == []


def test_cronjob_toleration_must_be_in_the_job_pod_template():
    props = KINDS["kubernetes:batch/v1:CronJob"](pod_spec(gpu=GPU_LIMIT))
    props["spec"]["tolerations"] = [GPU_TOLERATION]                 # wrong level: ignored by Kubernetes
    props["spec"]["jobTemplate"]["spec"]["tolerations"] = [GPU_TOLERATION]  # wrong level too
    assert len(check("kubernetes:batch/v1:CronJob", props)) == 1


def test_cronjob_gpu_request_is_found_under_job_template():
    props = KINDS["kubernetes:batch/v1:CronJob"](pod_spec(gpu={"requests": {"nvidia.com/mig-1g.10gb": "1"}}))
    messages = check("kubernetes:batch/v1:CronJob", props)
    assert len(messages) == 1 and "requests.nvidia.com/mig-1g.10gb=1" in messages[0]


@pytest.mark.parametrize("resource", ["nvidia.com/mig-1g.10gb", "nvidia.com/mig-3g.40gb", "nvidia.com/mig-7g.80gb",
                                      "nvidia.com/mig-2g.20gb.me"])
def test_mig_resources_need_the_toleration(resource):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu={"limits": {resource: 1}}))
    messages = check("kubernetes:apps/v1:Deployment", props)
    assert len(messages) == 1 and resource in messages[0]


def test_gpu_in_requests_only_needs_the_toleration():
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu={"requests": {"nvidia.com/gpu": "2"}}))
    assert len(check("kubernetes:apps/v1:Deployment", props)) == 1


def test_init_container_gpu_needs_the_toleration():
    props = KINDS["kubernetes:apps/v1:StatefulSet"](pod_spec(init_gpu=GPU_LIMIT))
    messages = check("kubernetes:apps/v1:StatefulSet", props)
    assert len(messages) == 1 and "initContainer 'warmup'" in messages[0]


def test_every_gpu_container_is_named_in_the_message():
    spec = pod_spec(gpu=GPU_LIMIT, init_gpu={"requests": {"nvidia.com/gpu": 1}})
    props = KINDS["kubernetes:apps/v1:Deployment"](spec)
    messages = check("kubernetes:apps/v1:Deployment", props)
    assert len(messages) == 1
    assert "initContainer 'warmup'" in messages[0] and "container 'vllm'" in messages[0]


@pytest.mark.parametrize("quantity", [0, "0", "0.0", 0.0])
def test_zero_gpus_need_no_toleration(quantity):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu={"limits": {"nvidia.com/gpu": quantity}}))
    assert check("kubernetes:apps/v1:Deployment", props) == []


@pytest.mark.parametrize("quantity", [1, "1", 1.0, "8", "1000m", "not-a-quantity"])
def test_positive_or_unparseable_gpu_quantities_need_the_toleration(quantity):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu={"limits": {"nvidia.com/gpu": quantity}}))
    assert len(check("kubernetes:apps/v1:Deployment", props)) == 1


@pytest.mark.parametrize("resource", ["amd.com/gpu", "nvidia.com/gpu.shared", "example.com/mig-1g.10gb", "cpu"])
def test_other_resources_need_no_toleration(resource):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu={"limits": {resource: 1}}))
    assert check("kubernetes:apps/v1:Deployment", props) == []


TOLERATING = {
    "exists-key-effect": {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
    "exists-key-any-effect": {"key": "nvidia.com/gpu", "operator": "Exists"},
    "exists-no-key-tolerates-all": {"operator": "Exists"},
    "exists-empty-key-noschedule": {"key": "", "operator": "Exists", "effect": "NoSchedule"},
    "equal-present": {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
    "default-operator-is-equal": {"key": "nvidia.com/gpu", "value": "present"},
}

NOT_TOLERATING = {
    "other-key": {"key": "ai-platform/capacity", "operator": "Exists", "effect": "NoSchedule"},
    "equal-other-value": {"key": "nvidia.com/gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
    "equal-no-value": {"key": "nvidia.com/gpu", "operator": "Equal", "effect": "NoSchedule"},
    "equal-without-key": {"operator": "Equal", "value": "present"},
    "no-execute-only": {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"},
    "prefer-no-schedule-only": {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "PreferNoSchedule"},
    "exists-no-key-other-effect": {"operator": "Exists", "effect": "NoExecute"},
    "unknown-operator": {"key": "nvidia.com/gpu", "operator": "In", "value": "present"},
}


@pytest.mark.parametrize("toleration", TOLERATING.values(), ids=TOLERATING.keys())
def test_tolerations_that_match_the_gpu_taint(toleration):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(tolerations=[toleration], gpu=GPU_LIMIT))
    assert check("kubernetes:apps/v1:Deployment", props) == []


@pytest.mark.parametrize("toleration", NOT_TOLERATING.values(), ids=NOT_TOLERATING.keys())
def test_tolerations_that_do_not_match_the_gpu_taint(toleration):
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(tolerations=[toleration], gpu=GPU_LIMIT))
    assert len(check("kubernetes:apps/v1:Deployment", props)) == 1


def test_one_matching_toleration_among_others_is_enough():
    tolerations = list(NOT_TOLERATING.values()) + [TOLERATING["equal-present"]]
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(tolerations=tolerations, gpu=GPU_LIMIT))
    assert check("kubernetes:apps/v1:Deployment", props) == []


def test_empty_tolerations_are_a_violation():
    props = KINDS["kubernetes:core/v1:Pod"](pod_spec(tolerations=[], gpu=GPU_LIMIT))
    assert len(check("kubernetes:core/v1:Pod", props)) == 1


@pytest.mark.parametrize("props", [
    {},
    {"metadata": {"name": "qwen7b"}},
    {"spec": {"replicas": 2}},
    {"spec": {"template": {"metadata": {"labels": {}}}}},
    {"spec": {"template": {"spec": {}}}},
    {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3"}]}}}},
    {"spec": {"template": {"spec": {"containers": [{"name": "vllm", "resources": {"limits": None}}]}}}},
], ids=["empty", "no-spec", "no-template", "no-pod-spec", "empty-pod-spec", "no-resources", "null-limits"])
def test_missing_properties_are_compliant(props):
    assert check("kubernetes:apps/v1:Deployment", props) == []


def test_other_resource_types_are_ignored():
    props = KINDS["kubernetes:apps/v1:Deployment"](pod_spec(gpu=GPU_LIMIT))
    assert check("kubernetes:core/v1:ConfigMap", props) == []
    assert check("kubernetes:apps/v1:ControllerRevision", copy.deepcopy(props)) == []
