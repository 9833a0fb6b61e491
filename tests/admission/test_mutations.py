"""Realistic dangerous changes made outside Pulumi (a `kubectl edit`, a GitOps commit) to the real recorded objects
of dev and prod (program objects and chart-rendered ones): each is refused by the named admission policy, while the
unmodified object is admitted."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from policy.rules.objects import program_object
from tests.admission.cel import denials, pruned
from tests.admission.test_policies import GPU, LOAD_BALANCER, PRIVILEGED, REGISTRIES, policies
from tests.conftest import run_stack
from tests.render.conftest import chart_objects, rendered

Obj = dict[str, Any]


def program(stack: str, kind: str, namespace: str, name: str) -> Obj:
    for r in run_stack(stack).resources:
        o = program_object(r.type, r.inputs)
        if o is not None and (o.kind, o.namespace, o.name) == (kind, namespace, name):
            return copy.deepcopy(pruned(o.body))
    raise AssertionError(f"{stack}: no {kind} {namespace}/{name}")


def chart(stack: str, release: str, kind: str, name: str) -> Obj:
    for o in chart_objects(stack, release):
        if (o.manifest.get("kind"), o.manifest.get("metadata", {}).get("name")) == (kind, name):
            body = copy.deepcopy(pruned(o.manifest))
            body.setdefault("metadata", {}).setdefault("namespace", rendered(stack).release(release).namespace)
            return body
    raise AssertionError(f"{stack}: no {kind} {name} in chart {release}")


def pod(obj: Obj) -> Obj:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        return spec["jobTemplate"]["spec"]["template"]["spec"]
    return spec["template"]["spec"]


def strip_gpu(obj: Obj) -> None:
    """Keep the GPU toleration, drop the GPU limit (a CPU sidecar job squatting on a GPU node)."""
    for c in pod(obj)["containers"]:
        for section in ("limits", "requests"):
            c.get("resources", {}).get(section, {}).pop("nvidia.com/gpu", None)


def gateway_tolerates_gpu(obj: Obj) -> None:
    pod(obj)["tolerations"] = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def visible_devices(obj: Obj) -> None:
    pod(obj)["containers"][0].setdefault("env", []).append({"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"})


def privileged(obj: Obj) -> None:
    pod(obj)["containers"][0].setdefault("securityContext", {})["privileged"] = True


def host_network(obj: Obj) -> None:
    pod(obj)["hostNetwork"] = True


def host_path(obj: Obj) -> None:
    pod(obj).setdefault("volumes", []).append({"name": "host", "hostPath": {"path": "/var/lib/kubelet"}})


def foreign_image(obj: Obj) -> None:
    pod(obj)["containers"][0]["image"] = "ghcr.io.evil.example/miner:1.0"


def dockerhub_user_image(obj: Obj) -> None:
    pod(obj)["containers"][0]["image"] = "randomuser/vllm-openai:v0.33.0"


def debug_init(obj: Obj) -> None:
    pod(obj).setdefault("initContainers", []).append({"name": "debug", "image": "busybox.example.net/busybox:1"})


def load_balancer(obj: Obj) -> None:
    obj["spec"]["type"] = "LoadBalancer"


# (stack, object getter, mutation, policy that refuses it)
MUTATIONS: list[tuple[str, Callable[[], Obj], Callable[[Obj], None], str]] = [
    ("prod", lambda: program("prod", "Deployment", "ai-inference", "qwen72b"), strip_gpu, GPU),
    ("dev", lambda: program("dev", "Deployment", "ai-inference", "embedding"), strip_gpu, GPU),
    ("prod", lambda: program("prod", "Deployment", "ai-app", "ai-gateway"), gateway_tolerates_gpu, GPU),
    ("prod", lambda: program("prod", "Job", "ai-inference", "qwen7b-download"), visible_devices, GPU),
    ("prod", lambda: program("prod", "Deployment", "ai-app", "ai-gateway"), privileged, PRIVILEGED),
    ("dev", lambda: program("dev", "CronJob", "ai-rag", "volume-snapshots"), host_network, PRIVILEGED),
    ("prod", lambda: program("prod", "CronJob", "ai-rag", "milvus-backup"), host_path, PRIVILEGED),
    ("prod", lambda: chart("prod", "monitoring", "Deployment", "monitoring-grafana"), privileged, PRIVILEGED),
    ("prod", lambda: program("prod", "Deployment", "ai-inference", "qwen7b"), dockerhub_user_image, REGISTRIES),
    ("dev", lambda: program("dev", "Deployment", "ai-app", "ai-gateway"), foreign_image, REGISTRIES),
    ("prod", lambda: program("prod", "Job", "ai-rag", "milvus-users"), debug_init, REGISTRIES),
    ("prod", lambda: program("prod", "Service", "ai-app", "ai-gateway"), load_balancer, LOAD_BALANCER),
    ("dev", lambda: program("dev", "Service", "ai-inference", "qwen7b"), load_balancer, LOAD_BALANCER),
]


@pytest.mark.parametrize("stack, get, mutate, policy", MUTATIONS,
                         ids=[f"{s}-{m.__name__}-{p.removeprefix('ai-platform-')}" for s, _, m, p in MUTATIONS])
def test_mutation_is_refused(stack: str, get: Callable[[], Obj], mutate: Callable[[Obj], None], policy: str) -> None:
    found = policies(stack)
    obj = get()
    assert denials(found, obj) == {}, "the shipped object must be admitted"
    mutate(obj)
    refused = denials(found, obj)
    assert policy in refused, refused
    # A change through `kubectl edit` is an UPDATE: refused as well.
    assert policy in denials(found, obj, operation="UPDATE", old=get())
