"""Mutation corpus for containers, pods and images: realistic dangerous edits of the real dev/prod stacks, each
caught by a named mandatory rule (policy/rules/pods.py, images.py) while the unmodified stacks pass.

Program mutations edit a deep copy of the recorded resources and run the whole pack with the stack's own
policy/config/<stack>.json (the harness of test_mutations.py). Chart mutations edit a Release's Helm values,
render the stack again with the locked chart (tools.render, skipped locally without Helm/charts) and run the
rule's check over the mutated Release's objects: the pack reaches chart objects through `objects(args)` once
the chart renderer is installed there, and these prove the checks catch what the values produce.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from policy.rules import POLICIES_BY_NAME, images, pods
from policy.rules.objects import KubeObject
from tests.conftest import run_stack as run_shipped
from tests.render.conftest import rendered
from tools import mockrun, render
from tools.mockrun import Recorded

from .shipped_objects import policy_config
from .test_mutations import assert_caught

CRON_JOB = "kubernetes:batch/v1:CronJob"
ES_TYPE = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"


# ------------------------------------------------------------------------------------ program edits


def find(resources: list[Recorded], kind: str, name: str) -> Recorded:
    found = [r for r in resources if r.custom and r.type.rsplit(":", 1)[-1] == kind
             and (r.inputs.get("metadata") or {}).get("name") == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name}"
    return found[0]


def pod_spec_of(r: Recorded) -> list[dict]:
    """The pod spec(s) of a recorded workload or Elasticsearch, in inputs and outputs."""
    specs = []
    for props in (r.inputs, r.outputs):
        if not props:
            continue
        if r.type == ES_TYPE:
            specs += [s["podTemplate"]["spec"] for s in props["spec"]["nodeSets"]]
        elif r.type == CRON_JOB:
            specs.append(props["spec"]["jobTemplate"]["spec"]["template"]["spec"])
        else:
            specs.append(props["spec"]["template"]["spec"])
    return specs


def on_container(kind: str, name: str, change: Callable[[dict], None], container: str | None = None):
    def apply(resources: list[Recorded]) -> None:
        for spec in pod_spec_of(find(resources, kind, name)):
            target = next(c for c in spec["containers"] if container is None or c["name"] == container)
            change(target)
    return apply


def on_pod(kind: str, name: str, change: Callable[[dict], None]):
    def apply(resources: list[Recorded]) -> None:
        for spec in pod_spec_of(find(resources, kind, name)):
            change(spec)
    return apply


def context(**fields) -> Callable[[dict], None]:
    return lambda c: c.setdefault("securityContext", {}).update(fields)


def image(new: Callable[[str], str]) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        c["image"] = new(c["image"])
    return change


@dataclass(frozen=True)
class Edit:
    name: str
    stacks: tuple[str, ...]
    apply: Callable[[list[Recorded]], None]
    policy: str
    text: str
    """Text the new violation must contain."""


def _server(stack: str) -> str:
    return "qwen72b" if stack == "prod" else "qwen7b"


PROGRAM_EDITS = [
    Edit("privileged-model-server", ("prod",),
         on_container("Deployment", "qwen72b", context(privileged=True)), pods.HOST_NAME,
         "Deployment ai-inference/qwen72b: container 'vllm' is privileged"),
    Edit("privileged-model-server", ("dev",),
         on_container("Deployment", "qwen7b", context(privileged=True)), pods.HOST_NAME,
         "Deployment ai-inference/qwen7b: container 'vllm' is privileged"),
    Edit("host-path-in-gateway", ("dev", "prod"),
         on_pod("Deployment", "ai-gateway", lambda s: s.setdefault("volumes", []).append(
             {"name": "containerd", "hostPath": {"path": "/run/containerd/containerd.sock"}})),
         pods.HOST_NAME, "volume 'containerd' is a hostPath (/run/containerd/containerd.sock)"),
    Edit("host-network-model-server", ("prod",),
         on_pod("Deployment", "qwen72b", lambda s: s.update(hostNetwork=True)), pods.HOST_NAME,
         "hostNetwork: true"),
    Edit("host-port-gateway", ("dev",),
         on_container("Deployment", "ai-gateway", lambda c: c.setdefault("ports", []).append(
             {"containerPort": 8080, "hostPort": 8080})), pods.HOST_NAME, "binds hostPort 8080"),
    Edit("host-pid-download-job", ("prod",),
         on_pod("Job", "qwen72b-download", lambda s: s.update(hostPID=True)), pods.HOST_NAME, "hostPID: true"),
    Edit("sys-admin-capability", ("dev", "prod"),
         on_container("Deployment", "embedding", context(capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]})),
         pods.ESCALATION_NAME, "container 'tei' adds capabilities SYS_ADMIN"),
    Edit("net-raw-capability-gateway", ("prod",),
         on_container("Deployment", "ai-gateway", context(capabilities={"add": ["NET_RAW"]})),
         pods.ESCALATION_NAME, "adds capabilities NET_RAW"),
    Edit("seccomp-unconfined-pod", ("dev", "prod"),
         on_pod("Deployment", "ai-gateway", lambda s: s["securityContext"].update(
             seccompProfile={"type": "Unconfined"})), pods.ESCALATION_NAME, "the pod seccompProfile is Unconfined"),
    Edit("seccomp-unconfined-container", ("prod",),
         on_container("Deployment", "qwen72b", context(seccompProfile={"type": "Unconfined"})),
         pods.ESCALATION_NAME, "container 'vllm' seccompProfile is Unconfined"),
    Edit("privilege-escalation-backup", ("prod",),
         on_container("CronJob", "milvus-backup", context(allowPrivilegeEscalation=True)), pods.ESCALATION_NAME,
         "container 'milvus-backup' does not set allowPrivilegeEscalation: false"),
    Edit("run-as-user-0-gateway", ("dev", "prod"),
         on_container("Deployment", "ai-gateway", context(runAsUser=0)), pods.NON_ROOT_NAME,
         "container 'gateway' runs as runAsUser: 0"),
    Edit("root-pod-snapshots", ("dev", "prod"),
         on_pod("CronJob", "volume-snapshots", lambda s: s["securityContext"].update(runAsUser=0)),
         pods.NON_ROOT_NAME, "the pod securityContext sets runAsUser: 0"),
    Edit("writable-root-gateway", ("dev", "prod"),
         on_container("Deployment", "ai-gateway", context(readOnlyRootFilesystem=False)), pods.READ_ONLY_NAME,
         "container 'gateway' has a writable root filesystem in namespace ai-app"),
    Edit("latest-model-server-image", ("dev", "prod"),
         lambda rs: on_container("Deployment", "embedding", image(lambda i: i.rsplit(":", 1)[0] + ":latest"))(rs),
         images.IMAGE_NAME, "uses the mutable tag 'latest'"),
    Edit("floating-vllm-tag", ("prod",),
         on_container("Deployment", "qwen72b", image(lambda i: i.rsplit(":", 1)[0] + ":v0.33")),
         images.IMAGE_NAME, "image 'vllm/vllm-openai:v0.33' uses the mutable tag 'v0.33'"),
    Edit("unlisted-registry-model-server", ("prod",),
         on_container("Deployment", "qwen72b", image(lambda i: "docker.io/vllm-community/vllm-openai:v0.33.0")),
         images.IMAGE_NAME, "image 'docker.io/vllm-community/vllm-openai:v0.33.0' (docker.io/vllm-community/"),
    Edit("unlisted-registry-gateway", ("prod",),
         on_container("Deployment", "ai-gateway", image(lambda i: "registry.example.co/ai-gateway:1.0.0")),
         images.IMAGE_NAME, "not from an allowed registry"),
    Edit("privileged-elasticsearch-cr", ("prod",),
         on_container("Elasticsearch", "search", context(privileged=True)), pods.HOST_NAME,
         "Elasticsearch ai-rag/search: node set default: container 'elasticsearch' is privileged"),
    Edit("elasticsearch-floating-image", ("prod",),
         lambda rs: [props["spec"].update(image="docker.elastic.co/elasticsearch/elasticsearch:9")
                     for props in (find(rs, "Elasticsearch", "search").inputs,
                                   find(rs, "Elasticsearch", "search").outputs) if props],
         images.IMAGE_NAME, "uses the mutable tag '9'"),
]

PROGRAM_CASES = [pytest.param(stack, e, id=f"{stack}-{e.name}") for e in PROGRAM_EDITS for stack in e.stacks]


@pytest.mark.parametrize("stack, edit", PROGRAM_CASES)
def test_the_pack_catches_the_program_edit(stack, edit):
    resources = copy.deepcopy(run_shipped(stack).resources)
    edit.apply(resources)
    assert_caught(stack, resources, {edit.policy: edit.text}, edit.name)


# -------------------------------------------------------------------------------------- chart edits


def merge(values: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            merge(values[key], value)
        else:
            values[key] = copy.deepcopy(value)


@dataclass(frozen=True)
class ChartEdit:
    name: str
    stack: str
    release: str
    values: dict
    check: Callable[[KubeObject, dict], object]
    policy: str
    text: str


# Values keys verified in the locked charts: ingress-nginx 4.15.1 values.yaml (controller.hostNetwork,
# controller.hostPort.enabled), kube-prometheus-stack 88.5.3 grafana subchart (securityContext) and
# prometheus-node-exporter subchart (image.tag, version), redis-ha 4.39.0 (image.repository), keda 2.20.2
# (securityContext.operator).
CHART_EDITS = [
    ChartEdit("grafana-as-root", "dev", "monitoring", {"grafana": {"securityContext": {"runAsUser": 0}}},
              pods.check_non_root, pods.NON_ROOT_NAME, "the pod securityContext sets runAsUser: 0"),
    ChartEdit("node-exporter-latest", "prod", "monitoring",
              # `version` feeds the chart's semverCompare (a tag like latest alone fails to template).
              {"prometheus-node-exporter": {"version": "1.12.1", "image": {"tag": "latest"}}}, images.check_images,
              images.IMAGE_NAME,
              "uses the mutable tag 'latest"),
    ChartEdit("redis-from-unlisted-registry", "prod", "redis",
              {"image": {"repository": "docker.io/bitnami/redis"}}, images.check_images, images.IMAGE_NAME,
              "not from an allowed registry"),
    ChartEdit("keda-operator-sys-admin", "dev", "keda",
              {"securityContext": {"operator": {"capabilities": {"add": ["SYS_ADMIN"]}}}}, pods.check_escalation,
              pods.ESCALATION_NAME, "container 'keda-operator' adds capabilities SYS_ADMIN"),
]


def release_objects(stack_render: render.StackRender, release: str) -> list[KubeObject]:
    rel = stack_render.release(release)
    assert rel.error is None, rel.error
    return [KubeObject(o.manifest, f"chart:{rel.release}", rel.namespace) for o in rel.objects]


@pytest.mark.parametrize("edit", CHART_EDITS, ids=lambda e: f"{e.stack}-{e.name}")
def test_the_checks_catch_the_chart_values_edit(edit):
    config = policy_config(edit.stack, edit.policy)
    before = {f"{o.ref()}: {m}" for o in release_objects(rendered(edit.stack), edit.release)
              for m in edit.check(o, config)}
    result = copy.deepcopy(run_shipped(edit.stack))
    [release] = [r for r in result.of_type(render.RELEASE_TYPE)
                 if (r.inputs.get("name") or r.name) == edit.release]
    merge(release.inputs.setdefault("values", {}), edit.values)
    values, _ = mockrun.stack_config(edit.stack)
    mutated = render.render_stack(result, render.kube_version_of(values))
    after = {f"{o.ref()}: {m}" for o in release_objects(mutated, edit.release) for m in edit.check(o, config)}
    new = after - before
    assert any(edit.text in m for m in new), f"{edit.policy} did not catch {edit.name}: {sorted(new)}"
    assert POLICIES_BY_NAME[edit.policy].enforcement_level.value == "mandatory"


def test_the_corpus_is_large_enough():
    assert len({e.name for e in PROGRAM_EDITS}) + len(CHART_EDITS) >= 20
