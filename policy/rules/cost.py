"""cost-budget (stack policy): the monthly cost at max scale stays within the budget.

Budget: the pack config `maxMonthlyUsd` if set; otherwise `maxMonthlyUsd` of `data["budget.json"]`
in the ConfigMap `ai-platform-capacity` the program publishes (found and read exactly as
gpu-budget does: the smallest over several such ConfigMaps; null or absent: no budget). No budget
anywhere: compliant.

Cost: `totals.monthlyUsdMax` of `data["plan.json"]` in the same ConfigMap(s) (the capacity plan:
every pool at its max node count, at the catalog's hourly prices). Each capacity ConfigMap with a
plan is checked; the message lists `pools.<name>.monthlyUsdMax` per pool and the total against the
limit. When a budget applies: no plan anywhere, a plan without a numeric `totals.monthlyUsdMax`, or
a budget.json / plan.json that is not a JSON object is a violation (the cost cannot be checked).
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from . import plan_keys as plan_key
from .budget import CAPACITY_CONFIGMAP, PLAN_KEY, budget_limit, capacity_configmaps, capacity_json
from .helpers import get, is_map, number

NAME = "cost-budget"
KEY = "maxMonthlyUsd"


def usd(amount: float) -> str:
    """$134,133.12; whole amounts without cents ($8,000)."""
    return f"${amount:,.0f}" if float(amount).is_integer() else f"${amount:,.2f}"


def pool_costs(plan) -> list[str]:
    pools = get(plan, plan_key.POOLS)
    if not is_map(pools):
        return []
    shown = []
    for name in sorted(pools):
        cost = number(get(pools[name], plan_key.POOL_MONTHLY_USD_MAX))
        shown.append(f"{name} {usd(cost) if cost is not None else 'unknown'}")
    return shown


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    limit, source = budget_limit(args.get_config(), args.resources, report_violation, key=KEY)
    if limit is None:
        return
    plans = 0
    for r, where in capacity_configmaps(args.resources):
        if get(r.props, "data", PLAN_KEY) is None:
            continue
        plans += 1
        plan = capacity_json(r, where, PLAN_KEY, report_violation)
        if plan is None:
            continue
        total = number(get(plan, plan_key.TOTALS, plan_key.TOTAL_MONTHLY_USD_MAX))
        if total is None:
            report_violation(f"{where} {PLAN_KEY} has no numeric totals.monthlyUsdMax; cannot check the monthly cost "
                             f"against the budget {usd(limit)} ({source}).", r.urn)
            continue
        if total > limit:
            per_pool = "; ".join(pool_costs(plan)) or "no pools"
            report_violation(
                f"Monthly cost at max scale: {usd(total)} > budget {usd(limit)} ({source}). Per pool at max nodes: "
                f"{per_pool}. Lower pool max sizes, use spot or smaller GPUs, or raise budget.{KEY}.", r.urn)
    if plans == 0:
        report_violation(f"A monthly budget applies ({usd(limit)}, {source}) but no ConfigMap {CAPACITY_CONFIGMAP} "
                         f"carries {PLAN_KEY}: the cost at max scale cannot be checked.")


cost_budget = StackValidationPolicy(
    name=NAME,
    description="The monthly cost at max scale (capacity plan) stays within the monthly budget.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        KEY: {
            "type": "number",
            "minimum": 0,
            "description": "Monthly budget in USD; overrides budget.json of the ai-platform-capacity ConfigMap.",
        },
    }),
)
