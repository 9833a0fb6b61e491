"""serving-replicas-ha, pdb-for-multi-replica, pdb-allows-eviction and pdb-below-replicas over workloads, KEDA
ScaledObjects, HPAs and PDBs (the program's and the charts')."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from policy.rules.availability import check_pdb_allows_eviction
from policy.rules.helpers import get, number, selector_matches
from policy.rules.objects import KubeObject

from .harness import Res, run_resource, run_stack, urn

HA = "serving-replicas-ha"
PDB = "pdb-for-multi-replica"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
LABELS = {"app.kubernetes.io/name": "qwen7b", "app.kubernetes.io/component": "model-server",
          "app.kubernetes.io/part-of": "ai-platform", "ai-platform/model": "qwen7b"}


@dataclass
class StackRes(Res):
    """A resource of a named stack (the stack is part of the URN)."""

    stack: str = "prod"

    @property
    def urn(self) -> str:
        return urn(self.type, self.name, self.stack)


def workload(name="qwen7b", replicas: float | None = 1, namespace: str | None = "ai-inference", kind=DEPLOYMENT,
             labels: dict | None = None, stack="prod") -> StackRes:
    labels = dict(LABELS, **{"app.kubernetes.io/name": name}) if labels is None else labels
    metadata = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    spec = {"selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.6.3"}]}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return StackRes(kind, f"ai-serving-{name}", {"metadata": metadata, "spec": spec}, stack)


def scaled_object(target="qwen7b", low: float | None = 2, high: float | None = 8, namespace="ai-inference",
                  kind: str | None = None, stack="prod") -> StackRes:
    ref = {"name": target}
    if kind is not None:
        ref["kind"] = kind
    spec = {"scaleTargetRef": ref, "triggers": [{"type": "prometheus", "metadata": {"threshold": "10"}}]}
    if low is not None:
        spec["minReplicaCount"] = low
    if high is not None:
        spec["maxReplicaCount"] = high
    return StackRes(SCALED_OBJECT, f"ai-serving-{target}-scaler",
                    {"metadata": {"name": target, "namespace": namespace}, "spec": spec}, stack)


def hpa(target="qwen7b", low: float | None = 2, high: float | None = 4, kind="Deployment", stack="prod") -> StackRes:
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": target}}
    if low is not None:
        spec["minReplicas"] = low
    if high is not None:
        spec["maxReplicas"] = high
    return StackRes(HPA, f"ai-serving-{target}-hpa",
                    {"metadata": {"name": f"{target}-hpa", "namespace": "ai-inference"}, "spec": spec}, stack)


def pdb(selector: dict | None, namespace="ai-inference", name="qwen7b") -> StackRes:
    spec = {"maxUnavailable": 1}
    if selector is not None:
        spec["selector"] = selector
    return StackRes(PDB_TYPE, f"ai-serving-{name}-pdb", {"metadata": {"name": name, "namespace": namespace},
                                                         "spec": spec})


# ------------------------------------------------------------------------------- serving-replicas-ha


@pytest.mark.parametrize("kind", [DEPLOYMENT, STATEFULSET])
def test_model_server_with_two_replicas_is_compliant(kind):
    assert run_stack(HA, [workload(replicas=2, kind=kind)]) == []


def test_model_server_with_one_replica_in_prod_is_a_violation():
    server = workload(replicas=1)
    [violation] = run_stack(HA, [server])
    assert violation.urn == server.urn
    assert violation.message.startswith("model server Deployment ai-inference/qwen7b runs 1 replica(s) at its minimum "
                                        "(spec.replicas) in protected stack 'prod': set spec.replicas to at least 2")


def test_absent_replicas_mean_one():
    [violation] = run_stack(HA, [workload(replicas=None)])
    assert "runs 1 replica(s) at its minimum (spec.replicas absent)" in violation.message


def test_scaled_object_minimum_wins_over_spec_replicas():
    assert run_stack(HA, [workload(replicas=1), scaled_object(low=2)]) == []
    [violation] = run_stack(HA, [workload(replicas=3), scaled_object(low=1)])
    assert "runs 1 replica(s) at its minimum (ScaledObject qwen7b)" in violation.message
    assert "set the ScaledObject's minReplicaCount to at least 2" in violation.message


def test_scaled_object_without_min_replica_count_scales_to_zero():
    [violation] = run_stack(HA, [workload(replicas=2), scaled_object(low=None)])
    assert "runs 0 replica(s)" in violation.message


def test_hpa_minimum_counts_and_defaults_to_one():
    assert run_stack(HA, [workload(replicas=1), hpa(low=2)]) == []
    [violation] = run_stack(HA, [workload(replicas=2), hpa(low=None)])
    assert "runs 1 replica(s) at its minimum (HorizontalPodAutoscaler qwen7b-hpa)" in violation.message
    assert "the HPA's minReplicas" in violation.message


def test_scaled_object_wins_over_hpa():
    assert len(run_stack(HA, [workload(replicas=2), scaled_object(low=1), hpa(low=3)])) == 1


@pytest.mark.parametrize("scaler", [
    scaled_object(target="other", low=3), scaled_object(low=3, namespace="ai-rag"),
    scaled_object(low=3, kind="StatefulSet"), hpa(low=3, kind="StatefulSet"), hpa(target="other", low=3),
], ids=["other-name", "other-namespace", "other-kind", "hpa-other-kind", "hpa-other-name"])
def test_scalers_of_other_workloads_do_not_count(scaler):
    assert len(run_stack(HA, [workload(replicas=1), scaler])) == 1


def test_statefulset_scaled_object_needs_the_kind():
    server = workload(replicas=1, kind=STATEFULSET)
    assert len(run_stack(HA, [server, scaled_object(low=2)])) == 1
    assert run_stack(HA, [server, scaled_object(low=2, kind="StatefulSet")]) == []


def test_other_components_are_not_model_servers():
    gateway = workload("gateway", replicas=1, labels={"app.kubernetes.io/component": "gateway"})
    assert run_stack(HA, [gateway]) == []


@pytest.mark.parametrize("stack", ["dev", "local", "staging"])
def test_unprotected_stacks_are_ignored_by_default(stack):
    assert run_stack(HA, [workload(replicas=1, stack=stack)]) == []


@pytest.mark.parametrize("stack", ["prod", "prod-eu", "production", "production-us"])
def test_default_stacks_are_those_of_cluster_deletion_protection(stack):
    assert len(run_stack(HA, [workload(replicas=1, stack=stack)])) == 1


def test_stacks_config_chooses_the_protected_stacks():
    assert len(run_stack(HA, [workload(replicas=1, stack="dev")], {"stacks": ["*"]})) == 1
    assert run_stack(HA, [workload(replicas=1)], {"stacks": []}) == []


def test_missing_properties():
    no_labels = StackRes(DEPLOYMENT, "x", {"metadata": {"name": "x"}, "spec": {"replicas": 1}})
    assert run_stack(HA, [no_labels, StackRes(DEPLOYMENT, "y", {})]) == []  # not model servers
    unnamed = workload(replicas=1)
    del unnamed.props["metadata"]["name"]
    [violation] = run_stack(HA, [unnamed, scaled_object(low=2)])  # an unnamed workload matches no scaler
    assert "Deployment ai-inference/ai-serving-qwen7b runs 1" in violation.message


# ----------------------------------------------------------------------------- pdb-for-multi-replica


def test_multi_replica_workload_with_a_matching_pdb_is_compliant():
    assert run_stack(PDB, [workload(replicas=3), pdb({"matchLabels": {"app.kubernetes.io/name": "qwen7b"}})]) == []


def test_multi_replica_workload_without_pdb_is_a_violation():
    server = workload(replicas=3)
    [violation] = run_stack(PDB, [server])
    assert violation.urn == server.urn
    message = violation.message
    assert message.startswith("Deployment ai-inference/qwen7b can run 3 replicas (spec.replicas) but no "
                              "PodDisruptionBudget in ai-inference selects its pods")
    assert "app.kubernetes.io/name=qwen7b" in message and "maxUnavailable: 1" in message


@pytest.mark.parametrize("budget", [
    pdb({"matchLabels": {"app.kubernetes.io/name": "qwen7b"}}, namespace="ai-rag"),
    pdb({"matchLabels": {"app.kubernetes.io/name": "qwen72b"}}),
    pdb({"matchLabels": {"app.kubernetes.io/name": "qwen7b", "tier": "gold"}}),
    pdb(None),
], ids=["other-namespace", "other-labels", "extra-label", "absent-selector"])
def test_pdbs_that_do_not_select_the_pods_do_not_count(budget):
    assert len(run_stack(PDB, [workload(replicas=2), budget])) == 1


def test_empty_selector_selects_every_pod_of_the_namespace():
    assert run_stack(PDB, [workload(replicas=2), pdb({})]) == []


@pytest.mark.parametrize("expression, matches", [
    ({"key": "app.kubernetes.io/name", "operator": "In", "values": ["qwen7b", "qwen72b"]}, True),
    ({"key": "app.kubernetes.io/name", "operator": "In", "values": ["other"]}, False),
    ({"key": "tier", "operator": "In", "values": ["gold"]}, False),
    ({"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["other"]}, True),
    ({"key": "tier", "operator": "NotIn", "values": ["gold"]}, True),
    ({"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["qwen7b"]}, False),
    ({"key": "ai-platform/model", "operator": "Exists"}, True),
    ({"key": "tier", "operator": "Exists"}, False),
    ({"key": "tier", "operator": "DoesNotExist"}, True),
    ({"key": "ai-platform/model", "operator": "DoesNotExist"}, False),
    ({"key": "ai-platform/model", "operator": "Gt", "values": ["1"]}, False),
])
def test_match_expressions_semantics(expression, matches):
    selector = {"matchLabels": {"app.kubernetes.io/component": "model-server"}, "matchExpressions": [expression]}
    assert selector_matches(selector, LABELS) is matches
    violations = run_stack(PDB, [workload(replicas=2), pdb(selector)])
    assert (violations == []) is matches


def test_single_replica_workloads_need_no_pdb():
    assert run_stack(PDB, [workload(replicas=1), workload("embed", replicas=None)]) == []


def test_autoscaler_maximum_decides():
    assert len(run_stack(PDB, [workload(replicas=1), scaled_object(low=1, high=4)])) == 1
    [violation] = run_stack(PDB, [workload(replicas=1), scaled_object(low=0, high=None)])
    assert "can run 100 replicas (ScaledObject qwen7b)" in violation.message
    assert run_stack(PDB, [workload(replicas=3), hpa(low=1, high=1)]) == []
    assert len(run_stack(PDB, [workload(replicas=3), hpa(low=1, high=None)])) == 1  # absent max: spec.replicas


@pytest.mark.parametrize("props", [{}, {"metadata": {"name": "x"}}, {"spec": {}}],
                         ids=["empty", "no-spec", "no-replicas"])
def test_missing_properties_mean_one_replica(props):
    assert run_stack(PDB, [StackRes(DEPLOYMENT, "w", props)]) == []


def test_multi_replica_workload_without_template_labels_needs_an_empty_selector():
    bare = workload(replicas=2, labels={})
    [violation] = run_stack(PDB, [bare, pdb({"matchLabels": {"app": "x"}})])
    assert "(labels: none)" in violation.message
    assert run_stack(PDB, [bare, pdb({})]) == []


# ---------------------------------------------------------------------------- PDBs that block drains

EVICTION = "pdb-allows-eviction"
BELOW = "pdb-below-replicas"


def budget(name="qwen7b", namespace="ai-inference", **spec) -> StackRes:
    body = {"selector": {"matchLabels": {"app.kubernetes.io/name": name}}, **spec}
    return StackRes(PDB_TYPE, f"ai-serving-{name}-pdb", {"metadata": {"name": name, "namespace": namespace},
                                                         "spec": body})


def test_pdbs_that_allow_an_eviction_pass():
    for spec in ({"maxUnavailable": 1}, {"maxUnavailable": "25%"}, {"minAvailable": 1}, {"minAvailable": "51%"}):
        assert run_resource(EVICTION, PDB_TYPE, budget(**spec).props) == []


@pytest.mark.parametrize("spec", [{"maxUnavailable": 0}, {"maxUnavailable": "0%"}, {"minAvailable": "100%"}])
def test_pdbs_that_never_allow_an_eviction_are_refused(spec):
    found = run_resource(EVICTION, PDB_TYPE, budget(**spec).props)
    assert len(found) == 1 and found[0].startswith("PodDisruptionBudget ai-inference/qwen7b: ")
    assert "allows no voluntary eviction" in found[0]


def test_eviction_check_judges_chart_objects():
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "redis-pdb"},
            "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "redis-ha"}}}}
    obj = KubeObject(body, source="chart:redis", release_namespace="ai-rag")
    assert [f"{obj.ref()}: {m}" for m in check_pdb_allows_eviction(obj, {})] == [
        "PodDisruptionBudget ai-rag/redis-pdb (chart redis): maxUnavailable 0 allows no voluntary eviction, so a node "
        "drain never finishes; use maxUnavailable: 1"]
    assert list(check_pdb_allows_eviction(KubeObject({**body, "kind": "Deployment"}), {})) == []


def test_min_available_below_the_replicas_passes():
    assert run_stack(BELOW, [workload(replicas=3), budget(minAvailable=2)]) == []
    assert run_stack(BELOW, [workload(replicas=3), budget(minAvailable="50%")]) == []
    assert run_stack(BELOW, [workload(replicas=1), budget(maxUnavailable=1)]) == []
    # No pods at minimum scale (KEDA scale to zero) or no program workload selected: nothing to judge.
    assert run_stack(BELOW, [workload(replicas=2), scaled_object(low=0), budget(minAvailable=1)]) == []
    assert run_stack(BELOW, [budget(name="chart-thing", minAvailable=1)]) == []


@pytest.mark.parametrize("resources, text", [
    ([workload(replicas=2), budget(minAvailable=2)], "minAvailable 2 of the 2 pod(s)"),
    ([workload(replicas=1), budget(minAvailable=1)], "minAvailable 1 of the 1 pod(s)"),
    ([workload(replicas=None), budget(minAvailable=1)], "minAvailable 1 of the 1 pod(s)"),
    ([workload(replicas=3), budget(minAvailable="67%")], "minAvailable '67%' of the 3 pod(s)"),
    ([workload(replicas=8), scaled_object(low=2, high=8), budget(minAvailable=2)], "minAvailable 2 of the 2 pod(s)"),
])
def test_min_available_at_the_replicas_blocks_drains(resources, text):
    found = run_stack(BELOW, resources)
    assert len(found) == 1 and text in found[0].message and found[0].urn.endswith("-pdb")
    assert "Deployment ai-inference/qwen7b" in found[0].message


def test_pdb_in_another_namespace_does_not_count_the_workload():
    assert run_stack(BELOW, [workload(replicas=1), budget(namespace="ai-rag", minAvailable=1)]) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_chart_pdbs_of_the_shipped_stacks_allow_evictions(stack):
    """Every PDB the charts render passes pdb-allows-eviction, and none keeps minAvailable at the replicas of the
    Deployments/StatefulSets of its own release it selects."""
    from tests.render.conftest import rendered

    seen = 0
    for release in rendered(stack).releases:
        assert release.error is None, release.error
        objects = [KubeObject(o.manifest, source=f"chart:{release.release}", release_namespace=release.namespace)
                   for o in release.objects]
        for obj in objects:
            assert list(check_pdb_allows_eviction(obj, {})) == [], obj.ref()
            if obj.kind != "PodDisruptionBudget" or get(obj.body, "spec", "minAvailable") is None:
                continue
            seen += 1
            selector = get(obj.body, "spec", "selector")
            pods = sum(number(get(w.body, "spec", "replicas")) or 1 for w in objects
                       if w.kind in ("Deployment", "StatefulSet") and w.namespace == obj.namespace
                       and selector_matches(selector, get(w.body, "spec", "template", "metadata", "labels")))
            minimum = get(obj.body, "spec", "minAvailable")
            required = (math.ceil(pods * float(minimum[:-1]) / 100) if isinstance(minimum, str) else minimum)
            assert not pods or required < pods, f"{obj.ref()} minAvailable {minimum} of {pods}"
    assert seen or stack == "dev"
