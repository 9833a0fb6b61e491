"""flex-start-not-sole-capacity: a critical model server never relies on flex-start capacity alone."""

from __future__ import annotations

import json

import pytest

from tests.conftest import STACKS
from tests.conftest import run_stack as run_shipped
from tools.policy_eval import evaluate

from .harness import Res
from .harness import run_stack as run_policy

NAME = "flex-start-not-sole-capacity"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"


def plan_configmap(models: dict, raw: str | None = None) -> Res:
    plan = raw if raw is not None else json.dumps({"models": models, "pools": {}})
    return Res(CONFIGMAP, "ai-capacity", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ai-platform-capacity", "namespace": "kube-system"},
        "data": {"plan.json": plan, "budget.json": "{}"},
    })


def model(*steps: str, critical: bool = True) -> dict:
    return {"critical": critical, "capacity": steps[0], "stepCapacities": list(steps)}


@pytest.mark.parametrize("steps", [("flex-start", "on-demand"), ("flex-start", "spot", "reservation"),
                                   ("on-demand",), ("reservation", "flex-start"), ("spot", "on-demand")],
                         ids=["fallback-on-demand", "class-reservation", "on-demand", "reservation-first", "spot"])
def test_a_critical_model_with_a_step_that_stays_is_compliant(steps):
    assert run_policy(NAME, [plan_configmap({"qwen": model(*steps)})]) == []


@pytest.mark.parametrize("steps", [("flex-start",), ("flex-start", "flex-start"), ("flex-start", "spot")],
                         ids=["flex-only", "two-flex-steps", "flex-then-spot"])
def test_a_critical_model_on_flex_start_alone_is_a_violation(steps):
    cm = plan_configmap({"qwen": model(*steps), "other": model("on-demand")})
    [violation] = run_policy(NAME, [cm])
    assert violation.urn == cm.urn
    assert violation.message.startswith(f"critical model 'qwen' runs on flex-start capacity with no step that stays "
                                        f"(steps: {' -> '.join(steps)})")
    assert "fallbackPool" in violation.message and "critical: false" in violation.message


def test_a_non_critical_model_may_run_on_flex_start_alone():
    assert run_policy(NAME, [plan_configmap({"batch": model("flex-start", critical=False)})]) == []


def test_a_plan_without_steps_is_judged_by_the_model_capacity():
    old = {"critical": True, "capacity": "flex-start"}
    assert len(run_policy(NAME, [plan_configmap({"qwen": old})])) == 1
    assert run_policy(NAME, [plan_configmap({"qwen": {**old, "capacity": "on-demand"}})]) == []


def test_a_broken_plan_is_a_violation():
    [violation] = run_policy(NAME, [plan_configmap({}, raw="[1, 2]")])
    assert "is not a JSON object" in violation.message


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_pass(stack):
    verdict = next(v for v in evaluate(run_shipped(stack).resources, {}) if v.name == NAME)
    assert verdict.passed
