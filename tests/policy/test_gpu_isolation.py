"""gpu-access-requires-gpu-request: NVIDIA_VISIBLE_DEVICES, device-list mounts, CDI annotations and the GPU
toleration only on pods that request a GPU; system namespaces exempt."""

from __future__ import annotations

import pytest

from .harness import run_resource

NAME = "gpu-access-requires-gpu-request"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def container(name="app", env=None, gpu=None, mounts=None) -> dict:
    c = {"name": name, "image": "nvcr.io/nvidia/cuda:12.6.0-base-ubuntu22.04",
         "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}
    if env is not None:
        c["env"] = env
    if gpu:
        c["resources"]["limits"].update(gpu)
    if mounts is not None:
        c["volumeMounts"] = mounts
    return c


def deployment(*containers, namespace="ai-app", tolerations=None, annotations=None, init=None) -> dict:
    spec = {"containers": list(containers)}
    if init:
        spec["initContainers"] = init
    if tolerations is not None:
        spec["tolerations"] = tolerations
    meta = {"labels": {"app": "x"}}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": {"name": "x", "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}},
                     "template": {"metadata": meta, "spec": spec}}}


ALL = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]


@pytest.mark.parametrize("props", [
    deployment(container()),
    deployment(container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}])),
    deployment(container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "none"}])),
    deployment(container(env=[{"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "all"}])),
    # A GPU pod may set it (the device plugin's CDI devices win over it) and tolerate the taint.
    deployment(container(env=ALL, gpu={"nvidia.com/gpu": 1}), tolerations=[GPU_TOLERATION]),
    deployment(container(env=ALL, gpu={"nvidia.com/mig-1g.10gb": 1}), tolerations=[GPU_TOLERATION],
               annotations={"cdi.k8s.io/x": "nvidia.com/gpu=0"}),
    # The GPU Operator's privileged operands in its namespace see every GPU.
    deployment(container(env=ALL), namespace="gpu-operator", tolerations=[{"operator": "Exists"}]),
    # Other taints' tolerations are fine.
    deployment(container(), tolerations=[{"key": "ai-platform/spot", "operator": "Exists", "effect": "NoSchedule"}]),
], ids=["nothing", "void", "none", "capabilities-only", "gpu-pod", "mig-pod", "gpu-operator", "other-taint"])
def test_compliant(props):
    assert run_resource(NAME, DEPLOYMENT, props) == []


@pytest.mark.parametrize("props, expected", [
    (deployment(container(env=ALL)), "container 'app' sets NVIDIA_VISIBLE_DEVICES"),
    (deployment(container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "0,1"}])), "sets NVIDIA_VISIBLE_DEVICES"),
    (deployment(container(env=[{"name": "NVIDIA_VISIBLE_DEVICES",
                                "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}}])),
     "sets NVIDIA_VISIBLE_DEVICES"),
    # A sidecar of a GPU pod does not inherit the pod's request.
    (deployment(container(gpu={"nvidia.com/gpu": 1}), container("sidecar", env=ALL), tolerations=[GPU_TOLERATION]),
     "container 'sidecar' sets NVIDIA_VISIBLE_DEVICES"),
    (deployment(container(gpu={"nvidia.com/gpu": 1}), init=[container("warmup", env=ALL)],
                tolerations=[GPU_TOLERATION]), "initContainer 'warmup' sets NVIDIA_VISIBLE_DEVICES"),
    (deployment(container(mounts=[{"name": "v", "mountPath": "/var/run/nvidia-container-devices/all"}])),
     "mounts /var/run/nvidia-container-devices/all"),
    (deployment(container(), annotations={"cdi.k8s.io/steal": "nvidia.com/gpu=all"}), "requests CDI devices"),
    (deployment(container(), tolerations=[GPU_TOLERATION]), "tolerates nvidia.com/gpu:NoSchedule"),
    (deployment(container(), tolerations=[{"operator": "Exists"}]), "tolerates nvidia.com/gpu:NoSchedule"),
    # A zero GPU request asks for none; `default` is not a system namespace.
    (deployment(container(env=ALL, gpu={"nvidia.com/gpu": 0}), namespace="default"), "sets NVIDIA_VISIBLE_DEVICES"),
], ids=["all", "indices", "value-from", "sidecar", "init", "mount", "cdi", "toleration", "tolerate-all", "zero"])
def test_violating(props, expected):
    [message] = run_resource(NAME, DEPLOYMENT, props)
    assert expected in message and "namespace" in message


def test_every_workload_kind_and_the_pod_config():
    pod = {"metadata": {"name": "p", "namespace": "ai-app"}, "spec": {"containers": [container(env=ALL)]}}
    assert run_resource(NAME, "kubernetes:core/v1:Pod", pod)
    cron = {"metadata": {"name": "c", "namespace": "ai-app"}, "spec": {"schedule": "* * * * *", "jobTemplate": {
        "spec": {"template": {"metadata": {"annotations": {"cdi.k8s.io/a": "nvidia.com/gpu=all"}},
                              "spec": {"containers": [container()]}}}}}}
    [message] = run_resource(NAME, "kubernetes:batch/v1:CronJob", cron)
    assert "CDI" in message
    assert run_resource(NAME, "kubernetes:core/v1:Service", {"spec": {}}) == []
    # systemNamespaces from the pack config replaces the default.
    assert run_resource(NAME, DEPLOYMENT, deployment(container(env=ALL)), {"systemNamespaces": ["ai-app"]}) == []
    assert run_resource(NAME, DEPLOYMENT, deployment(container(env=ALL), namespace="gpu-operator"),
                        {"systemNamespaces": []})
