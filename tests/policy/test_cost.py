"""cost-budget: the capacity plan's monthly cost at max scale against the monthly budget."""

from __future__ import annotations

import json

import pytest

from .harness import Res, run_stack
from .test_budget import eks_group, system_pools

NAME = "cost-budget"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"

# The shape of prod's plan.json (pools and totals only).
POOLS = {"h100-od": {"capacity": "on-demand", "maxNodes": 3, "usdPerNodeHour": 55.04, "monthlyUsdMax": 120537.6},
         "a100-spot": {"capacity": "spot", "maxNodes": 2, "usdPerNodeHour": 9.31, "monthlyUsdMax": 13595.52}}
TOTAL = 134133.12


def capacity(budget: dict | None = None, plan: dict | None = None, raw_plan: str | None = None,
             raw_budget: str | None = None, name: str = "ai-platform-capacity") -> Res:
    data = {}
    if raw_plan is not None or plan is not None:
        data["plan.json"] = raw_plan if raw_plan is not None else json.dumps(plan)
    if raw_budget is not None or budget is not None:
        data["budget.json"] = raw_budget if raw_budget is not None else json.dumps(budget)
    return Res(CONFIGMAP, "ai-capacity", {"metadata": {"name": name, "namespace": "kube-system"}, "data": data})


def plan(pools=POOLS, total=TOTAL) -> dict:
    return {"models": {}, "pools": pools, "totals": {"monthlyUsdMax": total, "gpusMax": 40}}


def check(resources: list[Res], config: dict | None = None):
    return run_stack(NAME, resources + system_pools(), config)


def test_cost_within_the_published_budget_is_compliant():
    assert check([capacity({"maxGpus": 40, "maxMonthlyUsd": 250000}, plan())]) == []


def test_cost_equal_to_the_budget_is_compliant():
    assert check([capacity({"maxMonthlyUsd": TOTAL}, plan())]) == []


def test_cost_over_the_budget_is_a_violation_listing_every_pool():
    cm = capacity({"maxGpus": 40, "maxMonthlyUsd": 100000}, plan())
    [violation] = check([cm])
    assert violation.urn == cm.urn
    message = violation.message
    assert message.startswith("Monthly cost at max scale: $134,133.12 > budget $100,000 "
                              "(ConfigMap kube-system/ai-platform-capacity budget.json maxMonthlyUsd).")
    assert "Per pool at max nodes: a100-spot $13,595.52; h100-od $120,537.60." in message
    assert "budget.maxMonthlyUsd" in message


@pytest.mark.parametrize("budget", [None, {}, {"maxGpus": 8}, {"maxGpus": 8, "maxMonthlyUsd": None}],
                         ids=["no-budget-key", "empty", "gpus-only", "null"])
def test_no_monthly_budget_is_compliant(budget):
    assert check([capacity(budget, plan(total=10 ** 9))]) == []


def test_no_capacity_configmap_at_all_is_compliant():
    assert check([eks_group("h100", ("p5.48xlarge",), 100)]) == []


def test_pack_config_overrides_the_published_budget():
    resources = [capacity({"maxMonthlyUsd": 1000}, plan())]
    assert check(resources, {"maxMonthlyUsd": 200000}) == []
    [violation] = check([capacity({"maxMonthlyUsd": 10 ** 6}, plan())], {"maxMonthlyUsd": 50000.5})
    assert "> budget $50,000.50 (pack config maxMonthlyUsd)" in violation.message


def test_zero_budget_allows_only_a_free_plan():
    assert check([capacity({"maxMonthlyUsd": 0}, plan(pools={}, total=0))]) == []
    assert len(check([capacity({"maxMonthlyUsd": 0}, plan(total=0.01))])) == 1


def test_configmap_with_another_name_is_not_the_plan():
    assert check([capacity({"maxMonthlyUsd": 1}, plan(), name="other")]) == []


def test_budget_without_any_plan_is_a_violation():
    [violation] = check([capacity({"maxMonthlyUsd": 1000})])
    assert "no ConfigMap ai-platform-capacity carries plan.json" in violation.message
    [violation] = check([], {"maxMonthlyUsd": 1000})
    assert "A monthly budget applies ($1,000, pack config maxMonthlyUsd)" in violation.message


@pytest.mark.parametrize("broken", [{"models": {}}, {"totals": {}}, {"totals": {"monthlyUsdMax": "lots"}}],
                         ids=["no-totals", "no-monthly", "not-a-number"])
def test_plan_without_a_total_is_a_violation_when_a_budget_applies(broken):
    cm = capacity({"maxMonthlyUsd": 1000}, broken)
    [violation] = check([cm])
    assert violation.urn == cm.urn and "no numeric totals.monthlyUsdMax" in violation.message
    assert check([capacity({}, broken)]) == []


@pytest.mark.parametrize("raw", ["{not json", "[1]", "42"])
def test_plan_that_is_not_a_json_object_is_a_violation(raw):
    [violation] = check([capacity({"maxMonthlyUsd": 1000}, raw_plan=raw)])
    assert "data['plan.json'] is not a JSON object" in violation.message


def test_budget_that_is_not_a_json_object_is_a_violation():
    [violation] = check([capacity(raw_budget="[]", plan=plan())])
    assert "data['budget.json'] is not a JSON object" in violation.message


def test_pools_without_cost_show_as_unknown():
    pools = {"x": {"maxNodes": 1}}
    [violation] = check([capacity({"maxMonthlyUsd": 1}, plan(pools=pools, total=5))])
    assert "Per pool at max nodes: x unknown." in violation.message
    [violation] = check([capacity({"maxMonthlyUsd": 1}, {"totals": {"monthlyUsdMax": 5}})])
    assert "Per pool at max nodes: no pools." in violation.message
