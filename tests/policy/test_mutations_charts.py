"""Chart-content mutations: dangerous edits of a Release's values (or of a custom resource's pod template) applied
to the real recorded dev/prod resources, each caught by a named mandatory rule that judges the rendered objects.

The harness is tests/policy/test_mutations.py's (`baseline`, `pack_config`): a mutation is caught when the rule
reports a violation, absent before the edit, naming the chart object (`<Kind> <ns>/<name> (chart <release>)`).
`evaluate` gets the plan's render of the unmodified stack (tests/render/conftest.py `rendered`): only the edited
Release renders again, as in the offline plan.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import run_stack as run_shipped
from tests.render.conftest import rendered, require_charts
from tools.mockrun import Recorded

from .test_mutations import assert_caught

RELEASE = "kubernetes:helm.sh/v3:Release"
ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
TOLERATE_GPU = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def release(resources: list[Recorded], name: str) -> dict:
    found = [r for r in resources if r.type == RELEASE and r.inputs.get("name") == name]
    if not found:
        pytest.fail(f"no Release {name}")
    return found[0].inputs


def values(name: str, change: Callable[[dict], None]) -> Callable[[list[Recorded]], None]:
    def apply(resources: list[Recorded]) -> None:
        change(release(resources, name).setdefault("values", {}))
    return apply


@dataclass(frozen=True)
class ChartMutation:
    name: str
    stacks: tuple[str, ...]
    apply: Callable[[list[Recorded]], None]
    policy: str
    text: str
    """What the new violation starts with (the chart object) or contains."""


def _drop_es_resources(resources: list[Recorded]) -> None:
    es = [r for r in resources if r.type == ELASTICSEARCH]
    if not es:
        pytest.fail("no Elasticsearch")
    for node_set in es[0].inputs["spec"]["nodeSets"]:
        for c in node_set["podTemplate"]["spec"]["containers"]:
            c.pop("resources", None)


MUTATIONS = [
    ChartMutation("cert-manager-controller-without-resources", ("dev", "prod"),
                  values("cert-manager", lambda v: v.pop("resources")), "container-resources",
                  "Deployment cert-manager/cert-manager (chart cert-manager): container 'cert-manager-controller'"),
    ChartMutation("cert-manager-webhook-without-resources", ("dev", "prod"),
                  values("cert-manager", lambda v: v.pop("webhook")), "container-resources",
                  "Deployment cert-manager/cert-manager-webhook (chart cert-manager)"),
    ChartMutation("redis-split-brain-sidecar-without-resources", ("dev", "prod"),
                  values("redis", lambda v: v.pop("splitBrainDetection")), "container-resources",
                  "StatefulSet ai-rag/redis-server (chart redis): container 'split-brain-fix'"),
    ChartMutation("nfd-worker-without-cpu-limit", ("dev", "prod"),
                  values("gpu-operator", lambda v: v.pop("node-feature-discovery")), "container-resources",
                  "DaemonSet gpu-operator/gpu-operator-node-feature-discovery-worker (chart gpu-operator)"),
    ChartMutation("keda-operator-asks-for-a-gpu-untolerated", ("prod",),
                  values("keda", lambda v: v.update(resources={"operator": {
                      "requests": {"cpu": "100m", "memory": "100Mi", "nvidia.com/gpu": 1},
                      "limits": {"cpu": "1", "memory": "1000Mi", "nvidia.com/gpu": 1}}})),
                  "gpu-workloads-tolerate-gpu-taint", "Deployment keda/keda-operator (chart keda): asks for GPUs"),
    ChartMutation("redis-tolerates-the-gpu-taint-without-a-gpu", ("dev", "prod"),
                  values("redis", lambda v: v.update(tolerations=TOLERATE_GPU)), "gpu-access-requires-gpu-request",
                  "StatefulSet ai-rag/redis-server (chart redis): in namespace ai-rag"),
    ChartMutation("redis-asks-for-a-mig-slice-off-mig-nodes", ("prod",),
                  values("redis", lambda v: v["redis"]["resources"]["limits"].update({"nvidia.com/mig-1g.10gb": 1})),
                  "mig-workloads-select-mig-pool", "StatefulSet ai-rag/redis-server (chart redis) asks for MIG"),
    ChartMutation("keda-values-break-the-template", ("prod",),
                  values("keda", lambda v: v.update(image={"keda": "not-a-map"})), "helm-chart-renders",
                  "Release keda: its chart was not rendered"),
    ChartMutation("release-off-the-lock-is-not-rendered", ("prod",),
                  lambda rs: release(rs, "keda").update(version="2.19.0"), "helm-chart-renders",
                  "not in the chart lock"),
    ChartMutation("elasticsearch-node-set-without-resources", ("prod",), _drop_es_resources, "container-resources",
                  "node set default: container 'elasticsearch'"),
]

CASES = [(stack, m) for m in MUTATIONS for stack in m.stacks]


@pytest.mark.parametrize("stack, mutation", CASES, ids=[f"{s}-{m.name}" for s, m in CASES])
def test_the_pack_catches_the_chart_mutation(stack, mutation):
    require_charts()
    resources = copy.deepcopy(run_shipped(stack).resources)
    mutation.apply(resources)
    assert_caught(stack, resources, {mutation.policy: mutation.text}, mutation.name, charts=rendered(stack))


def test_the_corpus_is_large_enough():
    assert len(MUTATIONS) >= 8 and len(CASES) >= 15
