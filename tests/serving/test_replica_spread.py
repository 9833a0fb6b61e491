"""Replicas of a multi-GPU model land on different nodes when the pool has the nodes (issue 16).

Required pod anti-affinity on kubernetes.io/hostname where the pool's max nodes hold the Deployment's replicas
(max replicas; the fallback's min replicas on its pool), preferred anti-affinity and a capacity-plan note where
they do not, nothing for single-GPU replicas (they pack onto multi-GPU nodes) or a ReadWriteOnce cache (it pins
every replica to one node).
"""

from __future__ import annotations

import copy

import pytest

from config import validate

from .conftest import objects, pod, run_serving, with_serving

HOST = "kubernetes.io/hostname"
QWEN72B = {"ai-platform/model": "qwen72b", "app.kubernetes.io/component": "model-server",
           "ai-platform/placement": "primary"}


def qwen72b(values: dict) -> dict:
    return next(m for m in values["serving"]["models"] if m["name"] == "qwen72b")


def anti(spec: dict) -> dict:
    return spec.get("affinity", {}).get("podAntiAffinity", {})


@pytest.fixture(scope="module")
def prod():
    return run_serving(with_serving("prod"))


def test_prod_qwen72b_spreads_where_possible_and_the_plan_says_why_not_required(prod):
    # qwen72b: tensorParallel 2, up to 8 replicas on h100-od, which has at most 3 nodes.
    spec = pod(prod, "Deployment", "qwen72b")
    [term] = anti(spec)["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"weight": 100, "podAffinityTerm": {"labelSelector": {"matchLabels": QWEN72B}, "topologyKey": HOST}}
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti(spec)
    assert HOST not in [t["topologyKey"] for t in spec["topologySpreadConstraints"]]
    _, plan = validate(with_serving("prod"), "Pulumi.prod.yaml")
    model = plan.model("qwen72b")
    assert model.spread == "preferred"
    [note] = model.notes
    assert "h100-od" in note and "max 3 nodes < 8 replicas" in note
    assert plan.to_output()["models"]["qwen72b"]["notes"] == [note]
    # Single-GPU replicas keep packing (soft spreading over nodes).
    qwen7b = pod(prod, "Deployment", "qwen7b")
    assert not anti(qwen7b)
    assert HOST in [t["topologyKey"] for t in qwen7b["topologySpreadConstraints"]]
    assert plan.model("qwen7b").spread == "none" and plan.model("qwen7b").notes == ()


def test_prod_qwen72b_gets_one_node_per_replica_when_the_pool_can_grow_to_it():
    values = with_serving("prod")
    qwen72b(values)["replicas"] = {"min": 2, "max": 3}
    result = run_serving(values)
    spec = pod(result, "Deployment", "qwen72b")
    [term] = anti(spec)["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"labelSelector": {"matchLabels": QWEN72B}, "topologyKey": HOST}
    assert "preferredDuringSchedulingIgnoredDuringExecution" not in anti(spec)
    # Other models' pods may share the node: the term selects this model's own replicas only.
    assert term["labelSelector"]["matchLabels"]["ai-platform/model"] == "qwen72b"
    _, plan = validate(values, "Pulumi.prod.yaml")
    model = plan.model("qwen72b")
    assert model.spread == "required" and model.notes == ()
    assert (model.nodes_at_min, model.nodes_at_max) == (2, 3)


def test_a_fallback_deployment_is_judged_on_its_own_pool():
    values = with_serving("prod")
    values["nodePools"]["gpu"].append(copy.deepcopy(values["nodePools"]["gpu"][0]) | {"name": "h100-od2", "max": 1})
    model = qwen72b(values)
    model.update(replicas={"min": 2, "max": 3}, pool="h100-od", fallbackPool="h100-od2", critical=False)
    values["budget"] = {"maxGpus": 64, "maxMonthlyUsd": 400000}
    result = run_serving(values)
    assert anti(pod(result, "Deployment", "qwen72b"))["requiredDuringSchedulingIgnoredDuringExecution"]
    # 2 fallback replicas on a pool of at most 1 node: preferred, with a note.
    fallback = pod(result, "Deployment", "qwen72b-fallback")
    [term] = anti(fallback)["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"]["ai-platform/placement"] == "fallback"
    _, plan = validate(values, "x")
    [note] = plan.model("qwen72b").notes
    assert note.startswith("fallback replicas") and "h100-od2" in note


def test_a_read_write_once_cache_keeps_replicas_together_and_says_so():
    values = with_serving("prod", cacheAccessMode="ReadWriteOnce")
    values["serving"]["models"] = [qwen72b(values) | {"replicas": {"min": 2, "max": 4}}]
    values["rag"]["embedding"].pop("fallbackPool")
    values["rag"]["embedding"]["critical"] = False
    result = run_serving(values)
    spec = pod(result, "Deployment", "qwen72b")
    assert "podAffinity" in spec["affinity"] and "podAntiAffinity" not in spec["affinity"]
    _, plan = validate(values, "x")
    [note] = plan.model("qwen72b").notes
    assert "ReadWriteOnce" in note
    assert objects(result, "Deployment")
