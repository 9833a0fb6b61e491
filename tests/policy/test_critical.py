"""critical-models-on-demand: a critical model always has on-demand capacity behind it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_stack as run_shipped
from tools.policy_eval import evaluate

from .harness import Res
from .harness import run_stack as run_policy
from .test_budget import eks_group, gke_pool

NAME = "critical-models-on-demand"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def plan_configmap(models: dict, pools: dict | None = None, raw: str | None = None) -> Res:
    plan = raw if raw is not None else json.dumps({"models": models, "pools": pools or {}})
    return Res(CONFIGMAP, "ai-capacity", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ai-platform-capacity", "namespace": "kube-system"},
        "data": {"plan.json": plan, "budget.json": "{}"},
    })


def model(pool, fallback=None, critical=True, capacity="spot") -> dict:
    return {"pool": pool, "fallbackPool": fallback, "critical": critical, "capacity": capacity}


def spot_gke(name, **kw) -> Res:
    pool = gke_pool(name, autoscaling={"totalMaxNodeCount": 4}, **kw)
    pool.props["nodeConfig"]["spot"] = True
    return pool


def od_gke(name, max_nodes=2) -> Res:
    return gke_pool(name, autoscaling={"totalMaxNodeCount": max_nodes})


def spot_eks(name) -> Res:
    group = eks_group(name)
    group.props["capacityType"] = "SPOT"
    return group


def od_eks(name, max_size=3) -> Res:
    group = eks_group(name, max_size=max_size)
    group.props["capacityType"] = "ON_DEMAND"
    return group


def messages(resources, config=None) -> list[str]:
    return [v.message for v in run_policy(NAME, resources, config)]


@pytest.mark.parametrize("spot, on_demand", [(spot_gke, od_gke), (spot_eks, od_eks)], ids=["gke", "eks"])
def test_critical_model_on_spot_with_on_demand_fallback_is_compliant(spot, on_demand):
    resources = [spot("a100-spot"), on_demand("h100-od"), plan_configmap({"chat": model("a100-spot", "h100-od")})]
    assert messages(resources) == []


@pytest.mark.parametrize("on_demand", [od_gke, od_eks], ids=["gke", "eks"])
def test_critical_model_on_on_demand_pool_is_compliant(on_demand):
    resources = [on_demand("h100-od"), plan_configmap({"chat": model("h100-od", capacity="on-demand")})]
    assert messages(resources) == []


@pytest.mark.parametrize("spot", [spot_gke, spot_eks], ids=["gke", "eks"])
def test_critical_model_on_spot_only_is_a_violation(spot):
    cm = plan_configmap({"chat": model("a100-spot")})
    [violation] = run_policy(NAME, [spot("a100-spot"), cm])
    assert "critical model 'chat' has no on-demand capacity" in violation.message
    assert "'a100-spot' (ai-a100-spot spot)" in violation.message
    assert "fallbackPool" in violation.message
    assert violation.urn == cm.urn


def test_spot_fallback_does_not_count():
    resources = [spot_eks("a"), spot_eks("b"), plan_configmap({"chat": model("a", "b")})]
    [message] = messages(resources)
    assert "'a' (ai-a spot); 'b' (ai-b spot)" in message


def test_gke_preemptible_counts_as_spot():
    pool = od_gke("old")
    pool.props["nodeConfig"]["preemptible"] = True
    assert messages([pool, plan_configmap({"chat": model("old")})])


def test_on_demand_fallback_that_cannot_scale_is_a_violation():
    resources = [spot_eks("a"), od_eks("h100-od", max_size=0), plan_configmap({"chat": model("a", "h100-od")})]
    [message] = messages(resources)
    assert "on-demand with max 0 nodes" in message


def test_pool_judged_by_resource_not_by_plan():
    """The plan says on-demand, but the deployed node group is SPOT: the resource wins."""
    cm = plan_configmap({"chat": model("h100-od", capacity="on-demand")}, pools={"h100-od": {"capacity": "on-demand"}})
    assert messages([spot_eks("h100-od"), cm])


def test_existing_cluster_pools_are_judged_by_the_plan():
    pools = {"gpu-od": {"capacity": "on-demand"}, "gpu-spot": {"capacity": "spot"}}
    assert messages([plan_configmap({"chat": model("gpu-spot", "gpu-od")}, pools)]) == []
    [message] = messages([plan_configmap({"chat": model("gpu-spot")}, pools)])
    assert "'gpu-spot' (spot per the plan)" in message


def test_unknown_pool_is_a_violation():
    [message] = messages([plan_configmap({"chat": model("ghost")})])
    assert "no node pool labelled ai-platform/pool=ghost" in message


def test_non_critical_and_cpu_models_are_ignored():
    cm = plan_configmap({"batch": model("a100-spot", critical=False),
                         "tiny": {"pool": None, "critical": True, "capacity": "cpu"}})
    assert messages([spot_gke("a100-spot"), cm]) == []


def test_each_critical_model_is_reported():
    cm = plan_configmap({"a": model("s"), "b": model("s"), "c": model("s", critical=False)})
    found = messages([spot_gke("s"), cm])
    assert len(found) == 2 and "'a'" in found[0] and "'b'" in found[1]


def test_broken_plan_is_a_violation_and_absent_plan_is_not():
    [message] = messages([plan_configmap({}, raw="not json")])
    assert "plan.json" in message and "not a JSON object" in message
    no_plan = Res(CONFIGMAP, "ai-capacity", {"metadata": {"name": "ai-platform-capacity"}, "data": {}})
    assert messages([spot_gke("s"), no_plan]) == []


def _prod_verdict(mutate=None):
    resources = run_shipped("prod").resources
    if mutate:
        resources = [mutate(r) for r in resources]
    return next(v for v in evaluate(resources, {}) if v.name == NAME)


def test_prod_critical_model_is_covered_and_losing_on_demand_is_caught():
    plan = json.loads(next(r for r in run_shipped("prod").of_type(CONFIGMAP)
                           if r.inputs["metadata"]["name"] == "ai-platform-capacity").inputs["data"]["plan.json"])
    critical = sorted(n for n, m in plan["models"].items() if m["critical"])
    assert critical, "prod ships no critical model; the policy would be vacuous there"
    assert _prod_verdict().passed

    def to_spot(r):
        if r.type == "aws:eks/nodeGroup:NodeGroup" and r.inputs.get("capacityType") == "ON_DEMAND" \
                and r.inputs.get("labels", {}).get("ai-platform/pool") != "system":
            # Stack policies see outputs (the mocks echo inputs); change both.
            r = type(r)(**{**r.__dict__, "inputs": {**r.inputs, "capacityType": "SPOT"},
                           "outputs": {**r.outputs, "capacityType": "SPOT"}})
        return r

    verdict = _prod_verdict(to_spot)
    assert verdict.blocking
    assert sorted(m.message.split("'")[1] for m in verdict.violations) == critical
