"""The keys of the published capacity plan (`plan.json` of the `ai-platform-capacity` ConfigMap) this pack reads.

The program declares the plan's shape in `config/plan_shape.py`, which the pack cannot import under
`pulumi preview` (it runs from `policy/` with its own virtualenv). The readers use these names only, and
`tests/policy/test_plan_shape.py` checks every path in `READS` against the declared shape, with the type
the reader expects: a renamed or retyped plan key fails that test instead of silently blinding the gate.
"""

from __future__ import annotations

from typing import Any

MODELS = "models"
POOLS = "pools"
TOTALS = "totals"

MODEL_CRITICAL = "critical"
MODEL_CAPACITY = "capacity"
MODEL_POOL = "pool"
MODEL_FALLBACK_POOL = "fallbackPool"
MODEL_STEP_CAPACITIES = "stepCapacities"
POOL_CAPACITY = "capacity"
POOL_MONTHLY_USD_MAX = "monthlyUsdMax"
TOTAL_MONTHLY_USD_MAX = "monthlyUsdMax"
TOTAL_MONTHLY_USD_MIN = "monthlyUsdMin"
SCENARIOS = "scenarios"
SPOT_GONE = "spotGone"
SCENARIO_MONTHLY_USD = "monthlyUsd"
SCENARIO_POOLS = "pools"

READS: dict[tuple[str, ...], Any] = {
    (MODELS, "*", MODEL_CRITICAL): bool,
    (MODELS, "*", MODEL_CAPACITY): str,
    (MODELS, "*", MODEL_POOL): str | None,
    (MODELS, "*", MODEL_FALLBACK_POOL): str | None,
    (MODELS, "*", MODEL_STEP_CAPACITIES): list[str],
    (POOLS, "*", POOL_CAPACITY): str,
    (POOLS, "*", POOL_MONTHLY_USD_MAX): float,
    (TOTALS, TOTAL_MONTHLY_USD_MAX): float,
    (TOTALS, TOTAL_MONTHLY_USD_MIN): float,
    (SCENARIOS, SPOT_GONE, SCENARIO_MONTHLY_USD): float,
    (SCENARIOS, SPOT_GONE, SCENARIO_POOLS, "*", SCENARIO_MONTHLY_USD): float,
}
"""Every plan path a rule reads (`*`: any model or pool name) -> the type the rule expects there."""
