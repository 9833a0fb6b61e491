"""flex-start-not-sole-capacity (stack policy): a latency-critical model server never relies on flex-start alone.

Flex-start capacity (GKE Dynamic Workload Scheduler) arrives only when the cloud has it free and each node is removed
after at most `flexStart.maxRunDurationHours` (7 days): fine for batch work and for extra replicas, not as the only
capacity of a server that must answer. The program publishes each model server's capacity steps in the capacity plan
(ConfigMap `ai-platform-capacity`, `plan.json`: `models.<name>.stepCapacities`, in the order its replicas use them:
its own pool, the later pools of its GKE compute class, its fallbackPool).

A model with `critical: true` whose own pool is flex-start and none of whose steps is `on-demand` or `reservation`
(capacity that stays) is a violation, reported on the ConfigMap. A spot step does not count: spot can be gone at the
same time, and critical-models-on-demand already requires on-demand capacity of a critical spot server. A plan
published without `stepCapacities` is judged by the model's `capacity` alone. A plan.json that is not a JSON object
is a violation (the published plan is broken). The program refuses the same config before any resource
(`serving.models[].critical`).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from . import plan_keys as plan_key
from .budget import PLAN_KEY, capacity_configmaps, capacity_json
from .helpers import get, is_map

NAME = "flex-start-not-sole-capacity"
FLEX_START = "flex-start"
STAYING = ("on-demand", "reservation")
"""Capacities that stay once obtained: they make a flex-start server's availability independent of DWS."""


def steps_of(model: Any) -> list[str]:
    """The model's step capacities in order (its `capacity` alone for a plan without steps)."""
    steps = get(model, plan_key.MODEL_STEP_CAPACITIES)
    if isinstance(steps, list) and steps and all(isinstance(s, str) for s in steps):
        return steps
    capacity = get(model, plan_key.MODEL_CAPACITY)
    return [capacity] if isinstance(capacity, str) else []


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for r, where in capacity_configmaps(args.resources):
        plan = capacity_json(r, where, PLAN_KEY, report_violation)
        if plan is None:
            continue
        models = get(plan, plan_key.MODELS, default={})
        for name in sorted(models) if is_map(models) else []:
            model = models[name]
            if get(model, plan_key.MODEL_CRITICAL) is not True:
                continue
            steps = steps_of(model)
            if not steps or steps[0] != FLEX_START or any(s in STAYING for s in steps):
                continue
            report_violation(
                f"critical model '{name}' runs on flex-start capacity with no step that stays (steps: "
                f"{' -> '.join(steps)}): flex-start nodes come only when capacity is free and are removed after "
                "flexStart.maxRunDurationHours. Set its fallbackPool to an on-demand pool, add an on-demand or "
                "reservation pool to its computeClass, or set critical: false.", r.urn)


flex_start_not_sole_capacity = StackValidationPolicy(
    name=NAME,
    description="Critical model servers on flex-start capacity also have an on-demand or reservation step.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
)
