"""Data-layer pods run at a PriorityClass that serving, RAG and batch work cannot preempt (issue 16).

Judged on what reaches the cluster: the rendered chart objects (Redis, etcd, Qdrant, the Elasticsearch exporter,
HAProxy) and the program's own objects (the ECK Elasticsearch podTemplate, the gateway).
"""

from __future__ import annotations

import tarfile

import pytest

from components.gpu_stack import PRIORITY_CLASSES
from components.helm import pin
from components.rag import charts as rag_charts
from tests.conftest import run_stack
from tests.render.conftest import rendered, require_charts
from tools import charts

DATA = "ai-platform-data"
RAG = "ai-platform-rag"
STATEFUL_DATA = {("StatefulSet", "redis-server"), ("StatefulSet", "milvus-etcd"), ("StatefulSet", "qdrant"),
                 ("StatefulSet", "weaviate"), ("StatefulSet", "milvus-minio")}


def tier(name: str):
    return next(t for t in PRIORITY_CLASSES if t.name == name)


def template_spec(manifest: dict) -> dict:
    return manifest["spec"]["template"]["spec"]


def test_the_data_class_is_above_every_class_that_preempts():
    data = tier(DATA)
    assert not data.preempts
    assert all(t.value < data.value for t in PRIORITY_CLASSES if t.preempts)
    assert data.value > tier("ai-platform-batch").value


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_stateful_data_pods_run_at_the_data_class_and_services_at_the_rag_class(stack):
    seen = set()
    for o in rendered(stack).objects:
        if (o.kind, o.name) in STATEFUL_DATA:
            assert template_spec(o.manifest).get("priorityClassName") == DATA, o.label()
            seen.add(o.name)
        elif o.kind == "Deployment" and (o.name == "redis-haproxy" or o.name.startswith("search-exporter")):
            assert template_spec(o.manifest).get("priorityClassName") == RAG, o.label()
    assert "redis-server" in seen
    result = run_stack(stack)
    for r in result.resources:
        if r.type == "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch":
            for node_set in r.inputs["spec"]["nodeSets"]:
                assert node_set["podTemplate"]["spec"]["priorityClassName"] == DATA
        if r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == "ai-gateway":
            assert template_spec(r.inputs)["priorityClassName"] == RAG
    # Every class a pod names exists in the stack.
    classes = {r.inputs["metadata"]["name"] for r in result.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
    assert {DATA, RAG} <= classes


def test_milvus_pods_cannot_carry_a_priority_class_in_the_pinned_chart():
    # milvus-helm 5.0.19 renders no priorityClassName in any Milvus workload (only its etcd/MinIO subcharts
    # take one): Milvus' own pods run at priority 0 (docs/security.md, "Scheduling and preemption"). When the pin
    # moves, this test fails if the chart learnt the key, so the values can set it.
    require_charts()
    archive = charts.resolve(pin("milvus")).path
    with tarfile.open(archive) as tar:
        templates = [m for m in tar.getmembers() if m.name.startswith("milvus/templates/") and m.isfile()]
        assert templates
        for member in templates:
            text = tar.extractfile(member).read().decode()
            assert "priorityClassName" not in text, member.name
    assert rag_charts.DATA_PRIORITY_CLASS == DATA
