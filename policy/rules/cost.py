"""cost-budget (stack policy): the monthly cost in the worst case, and optionally the expected one, stays within the
budget.

Budget: the pack config `maxMonthlyUsd` if set; otherwise `maxMonthlyUsd` of `data["budget.json"]`
in the ConfigMap `ai-platform-capacity` the program publishes (found and read exactly as
gpu-budget does: the smallest over several such ConfigMaps; null or absent: no budget). No budget
anywhere: compliant.

Cost: `totals.monthlyUsdMax` of `data["plan.json"]` in the same ConfigMap(s) (the capacity plan:
every pool at its max node count, at the catalog's hourly prices). Each capacity ConfigMap with a
plan is checked; the message lists `pools.<name>.monthlyUsdMax` per pool and the total against the
limit. When a budget applies: no plan anywhere, a plan without a numeric `totals.monthlyUsdMax`, or
a budget.json / plan.json that is not a JSON object is a violation (the cost cannot be checked).

Worst case: `maxMonthlyUsd` also bounds `scenarios.spotGone.monthlyUsd` (every spot pool gone, its servers moved to
their fallback or compute-class steps; listed per pool), so the budget holds whichever month costs more. A plan
without scenarios (published before issue 20) is judged at max scale only.

Expected case: `expectedMonthlyUsd` (pack config, else budget.json of the ConfigMap, as for `maxMonthlyUsd`; none:
not judged) bounds `totals.monthlyUsdMin`, every pool at its min node count: what the stack costs while idle.
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
EXPECTED_KEY = "expectedMonthlyUsd"


def usd(amount: float) -> str:
    """$134,133.12; whole amounts without cents ($8,000)."""
    return f"${amount:,.0f}" if float(amount).is_integer() else f"${amount:,.2f}"


def pool_costs(plan) -> list[str]:
    """`<pool> $<monthly at max>` per pool of the plan."""
    return _costs(get(plan, plan_key.POOLS), plan_key.POOL_MONTHLY_USD_MAX)


def spot_gone_costs(plan) -> list[str]:
    """`<pool> $<monthly>` per pool of the spot-gone scenario."""
    return _costs(get(plan, plan_key.SCENARIOS, plan_key.SPOT_GONE, plan_key.SCENARIO_POOLS),
                  plan_key.SCENARIO_MONTHLY_USD)


def _costs(pools, key: str) -> list[str]:
    if not is_map(pools):
        return []
    shown = []
    for name in sorted(pools):
        cost = number(get(pools[name], key))
        shown.append(f"{name} {usd(cost) if cost is not None else 'unknown'}")
    return shown


def _ignore(*_args, **_kwargs) -> None:
    """A broken budget.json is reported once, by the maxMonthlyUsd lookup."""


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    limit, source = budget_limit(config, args.resources, report_violation, key=KEY)
    expected, expected_source = budget_limit(config, args.resources, _ignore, key=EXPECTED_KEY)
    if limit is None and expected is None:
        return
    plans = 0
    for r, where in capacity_configmaps(args.resources):
        if get(r.props, "data", PLAN_KEY) is None:
            continue
        plans += 1
        plan = capacity_json(r, where, PLAN_KEY, report_violation)
        if plan is None:
            continue
        if limit is not None:
            _worst_case(plan, limit, source, r.urn, where, report_violation)
        if expected is not None:
            idle = number(get(plan, plan_key.TOTALS, plan_key.TOTAL_MONTHLY_USD_MIN))
            if idle is None:
                report_violation(f"{where} {PLAN_KEY} has no numeric totals.monthlyUsdMin; cannot check the expected "
                                 f"monthly cost against {usd(expected)} ({expected_source}).", r.urn)
            elif idle > expected:
                report_violation(
                    f"Expected monthly cost (every pool at its min nodes): {usd(idle)} > budget {usd(expected)} "
                    f"({expected_source}). Lower pool min sizes or raise budget.{EXPECTED_KEY}.", r.urn)
    if plans == 0:
        shown, where_from = (limit, source) if limit is not None else (expected, expected_source)
        report_violation(f"A monthly budget applies ({usd(shown or 0)}, {where_from}) but no ConfigMap "
                         f"{CAPACITY_CONFIGMAP} carries {PLAN_KEY}: the cost at max scale cannot be checked.")


def _worst_case(plan, limit: float, source: str, urn: str, where: str, report_violation: ReportViolation) -> None:
    """`maxMonthlyUsd` against the month at max scale and the month when spot is gone."""
    total = number(get(plan, plan_key.TOTALS, plan_key.TOTAL_MONTHLY_USD_MAX))
    if total is None:
        report_violation(f"{where} {PLAN_KEY} has no numeric totals.monthlyUsdMax; cannot check the monthly cost "
                         f"against the budget {usd(limit)} ({source}).", urn)
        return
    if total > limit:
        per_pool = "; ".join(pool_costs(plan)) or "no pools"
        report_violation(
            f"Monthly cost at max scale: {usd(total)} > budget {usd(limit)} ({source}). Per pool at max nodes: "
            f"{per_pool}. Lower pool max sizes, use spot or smaller GPUs, or raise budget.{KEY}.", urn)
    gone = number(get(plan, plan_key.SCENARIOS, plan_key.SPOT_GONE, plan_key.SCENARIO_MONTHLY_USD))
    if gone is not None and gone > limit:
        per_pool = "; ".join(spot_gone_costs(plan)) or "no pools"
        report_violation(
            f"Monthly cost when spot is gone: {usd(gone)} > budget {usd(limit)} ({source}). Per pool with spot "
            f"gone (servers on their fallback / compute-class steps): {per_pool}. Lower fallbackMaxReplicas or the "
            f"on-demand pools' max, or raise budget.{KEY}.", urn)


cost_budget = StackValidationPolicy(
    name=NAME,
    description="The monthly cost in the worst case (max scale, or spot gone) and the expected case (pool min) stays "
                "within the monthly budgets.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        KEY: {
            "type": "number",
            "minimum": 0,
            "description": "Monthly budget in USD; overrides budget.json of the ai-platform-capacity ConfigMap.",
        },
        EXPECTED_KEY: {
            "type": "number",
            "minimum": 0,
            "description": "Budget in USD for the expected month (every pool at its min); overrides budget.json.",
        },
    }),
)
