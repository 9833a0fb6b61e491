"""Issue 20, plan and cost: prices per capacity step, the spot-gone scenario, the plan output keys, and the config
error for a critical model on flex-start alone. Pure config (validate) except the report test, which reuses the
session run of the prod stack."""

from __future__ import annotations

import pytest

from config import ConfigError, catalog, validate
from config.plan_shape import problems

from .conftest import run_stack
from .test_capacity import gke, model

# a2-ultragpu-1g (1x A100 80GB), us-central1, USD per node-hour (config/catalog.py):
SPOT, ON_DEMAND, FLEX = 3.04124, 5.0688, 2.94582
H = 730  # hours per month


def pool(name: str, capacity: str, lo: int = 0, hi: int = 4, **kw) -> dict:
    return {"name": name, "gpu": "a100-80gb", "gpusPerNode": 1, "capacity": capacity, "min": lo, "max": hi, **kw}


# A compute class's pools carry its taint (config/compute_classes.py), so the class has its own spot pool.
POOLS = [pool("a100-spot", "spot", hi=8), pool("a100-spot-c", "spot", hi=2), pool("a100-od", "on-demand"),
         pool("a100-flex", "flex-start"),
         pool("a100-res", "reservation", lo=1, hi=2, reservation={"names": ["a100-r1"]})]
MODELS = [
    # critical on spot, its fallback holds 1 and stands in for up to 2 of its 3 replicas
    model("chat", "a100-spot", replicas={"min": 1, "max": 3}, fallbackPool="a100-od", fallbackMaxReplicas=2,
          critical=True),
    # a GKE compute class: spot first, then flex-start
    model("batch", "a100-spot-c", replicas={"min": 1, "max": 2}, computeClass="spot-then-flex"),
    # spot with nowhere to go
    model("lone", "a100-spot", replicas={"min": 1, "max": 2}),
    # on reserved capacity: spot going away does not touch it
    model("steady", "a100-res"),
]
CLASSES = [{"name": "spot-then-flex", "pools": ["a100-spot-c", "a100-flex"]}]


def small_plan(models=MODELS, pools=POOLS, classes=CLASSES):
    values = gke(pools, models)
    values["nodePools"]["computeClasses"] = classes
    return validate(values, "Pulumi.test.yaml")[1]


def test_each_capacity_is_priced_at_its_own_figure_with_its_basis():
    out = small_plan().to_output()["pools"]
    # The output rounds to cents; the plan itself (PoolPlan) keeps the catalog figure.
    assert (out["a100-spot"]["usdPerNodeHour"], out["a100-spot"]["priceBasis"]) == (round(SPOT, 2), "spot")
    assert (out["a100-od"]["usdPerNodeHour"], out["a100-od"]["priceBasis"]) == (round(ON_DEMAND, 2), "on-demand")
    # Flex-start: VM 1.09962 + DWS A100 80GB GPU 1.8462 = 2.94582
    assert small_plan().pool("a100-flex").usd_per_node_hour == FLEX
    assert out["a100-flex"]["priceBasis"] == "flex-start"
    # A reservation bills the on-demand rate whether used or not
    assert small_plan().pool("a100-res").usd_per_node_hour == ON_DEMAND
    assert out["a100-res"]["priceBasis"] == "on-demand (reservation)"
    # 2 reserved nodes at max: 2 x 5.0688 x 730 = 7,400.448
    assert out["a100-res"]["monthlyUsdMax"] == 7400.45


@pytest.mark.parametrize(("provider", "machine", "capacity", "block", "expected"), [
    ("gke", "a3-highgpu-8g", "flex-start", False, (88.49, "on-demand (no flex-start figure: upper bound)")),
    ("gke", "g2-standard-4", "flex-start", False, (0.70683, "on-demand (G2 flex-start is not discounted)")),
    ("gke", "a2-ultragpu-8g", "flex-start", False, (23.56656, "flex-start")),  # 8.79698 + 14.76958
    ("eks", "p5.48xlarge", "reservation", True, (55.04, "on-demand (Capacity Block, unverified upper bound)")),
    ("eks", "p5.48xlarge", "reservation", False, (55.04, "on-demand (reservation)")),
    ("eks", "p5.4xlarge", "spot", False, (6.88, "on-demand (no spot figure: upper bound)")),
    ("eks", "p5e.48xlarge", "reservation", True, (None, "on-demand (Capacity Block, unverified upper bound)")),
])
def test_price_basis_per_capacity(provider, machine, capacity, block, expected):
    assert catalog.price_basis(provider, None, machine, capacity, block) == expected


def test_every_step_of_a_server_is_priced_for_its_replicas():
    steps = {name: m["steps"] for name, m in small_plan().to_output()["models"].items()}
    # chat: 1-3 replicas on spot at 3.04124 x 730 = 2,220.1052 each; its fallback 1-2 at 5.0688 x 730 = 3,700.224
    assert [(s["pool"], s["capacity"], s["via"], s["monthlyUsdMin"], s["monthlyUsdMax"]) for s in steps["chat"]] == [
        ("a100-spot", "spot", "pool", 2220.11, 6660.32), ("a100-od", "on-demand", "fallbackPool", 3700.22, 7400.45)]
    # batch: its compute class in priority order; 1-2 replicas on flex-start at 2.94582 x 730 = 2,150.4486 each
    assert [(s["pool"], s["via"], s["monthlyUsdMin"], s["monthlyUsdMax"]) for s in steps["batch"]] == [
        ("a100-spot-c", "pool", 2220.11, 4440.21), ("a100-flex", "computeClass", 2150.45, 4300.9)]
    assert [s["via"] for s in steps["lone"]] == ["pool"]
    assert small_plan().to_output()["models"]["batch"]["stepCapacities"] == ["spot", "flex-start"]


def test_spot_gone_moves_each_server_to_its_next_step_or_loses_it():
    gone = small_plan().to_output()["scenarios"]["spotGone"]
    moves = {m["model"]: (m["toPool"], m["via"], m["replicas"], m["lostReplicas"]) for m in gone["moves"]}
    assert moves == {
        "chat": ("a100-od", "fallbackPool", 2, 1),      # the fallback scales to its max 2 of 3 replicas
        "batch": ("a100-flex", "computeClass", 2, 0),   # the class's next step takes both
        "lone": (None, None, 0, 2),                     # nowhere: both replicas lost
    }
    assert "steady" not in moves
    # Nodes: spot 0; od 2 (chat's fallback at 2); flex 2 (batch); res 1 (steady, and its min)
    assert {n: p["nodes"] for n, p in gone["pools"].items()} == {"a100-spot": 0, "a100-spot-c": 0, "a100-od": 2,
                                                                 "a100-flex": 2, "a100-res": 1}
    # 2 x 5.0688 x 730 + 2 x 2.94582 x 730 + 1 x 5.0688 x 730 = 7,400.448 + 4,300.8972 + 3,700.224 = 15,401.5692
    assert gone["monthlyUsd"] == 15401.57
    assert gone["gpus"] == 5


def test_scenarios_expected_max_and_worst():
    scenarios = small_plan().to_output()["scenarios"]
    # expected: only a100-res has a min (1 node): 5.0688 x 730 = 3,700.224
    assert scenarios["expected"] == {"gpus": 1, "monthlyUsd": 3700.22}
    # max: (8 + 2) x 3.04124 x 730 + 4 x 5.0688 x 730 + 4 x 2.94582 x 730 + 2 x 5.0688 x 730
    #    = 22,201.052 + 14,800.896 + 8,601.7944 + 7,400.448 = 53,004.19
    assert scenarios["max"] == {"gpus": 20, "monthlyUsd": 53004.19}
    assert scenarios["worstMonthlyUsd"] == 53004.19


def test_spot_gone_never_costs_more_than_every_pool_at_max():
    # Spot pool max 3 (3 x 3.04124 x 730 = 6,660.3156) and an on-demand pool whose fallback runs 3 replicas only when
    # spot is gone: max scale = 6,660.3156 + 3 x 3,700.224 = 17,760.99; spot gone = 3 x 3,700.224 = 11,100.67. Each
    # pool stays within its max, so the spot-gone month is bounded by the max month: the worst case is the max.
    pools = [pool("a100-spot", "spot", hi=3), pool("a100-od", "on-demand", hi=3)]
    plan = small_plan([model("chat", "a100-spot", replicas={"min": 1, "max": 3}, fallbackPool="a100-od",
                             critical=True)], pools, classes=[])
    scenarios = plan.to_output()["scenarios"]
    assert scenarios["spotGone"]["monthlyUsd"] == 11100.67
    assert scenarios["worstMonthlyUsd"] == scenarios["max"]["monthlyUsd"] == 17760.99


def test_the_plan_output_declares_the_new_keys():
    out = small_plan().to_output()
    assert problems(out) == []
    assert out["flexStartPricesAsOf"] == catalog.FLEX_START_PRICES_AS_OF


def _errors(models, classes=(), pools=POOLS) -> str:
    values = gke(pools, models)
    values["nodePools"]["computeClasses"] = list(classes)
    with pytest.raises(ConfigError) as raised:
        validate(values, "Pulumi.test.yaml")
    return str(raised.value)


def test_a_critical_model_on_flex_start_alone_is_a_config_error():
    message = _errors([model("chat", "a100-flex", critical=True)])
    assert "ai-platform:serving.models[0].critical" in message
    assert "critical model on flex-start pool 'a100-flex' has no other step that stays" in message
    assert "set fallbackPool to an on-demand pool (a100-od, a100-res)" in message
    # A compute class that starts on flex-start is refused for a critical server whatever its later steps: a replica
    # moves on only once its node is gone (config/compute_classes.py).
    classes = [{"name": "flex-then-res", "pools": ["a100-flex", "a100-res"]}]
    message = _errors([model("chat", "a100-flex", critical=True, computeClass="flex-then-res")], classes)
    assert "ai-platform:serving.models[0].critical: a critical model needs capacity that stays" in message
    assert "starts on flex-start pool 'a100-flex'" in message


@pytest.mark.parametrize("extra", [{"fallbackPool": "a100-od"}, {"critical": False},
                                   {"critical": False, "computeClass": "flex-then-res"}],
                         ids=["fallback", "not-critical", "not-critical-class"])
def test_a_flex_start_model_with_a_step_that_stays_is_accepted(extra):
    values = gke(POOLS, [model("chat", "a100-flex", **{"critical": True, **extra})])
    if "computeClass" in extra:
        values["nodePools"]["computeClasses"] = [{"name": "flex-then-res", "pools": ["a100-flex", "a100-res"]}]
    validate(values, "Pulumi.test.yaml")


def test_a_critical_spot_model_with_nowhere_to_go_is_already_refused():
    # The spot-gone scenario never shows a critical server losing every replica: config refuses it first.
    assert "critical model on spot-only pool 'a100-spot'" in _errors([model("chat", "a100-spot", critical=True)])


def test_the_prod_report_prints_steps_and_the_spot_gone_scenario():
    from tools.plan import capacity_lines

    result = run_stack("prod")
    lines = capacity_lines(result.outputs["capacity"], result.outputs["monthlyCost"])
    text = "\n".join(lines)
    # qwen7b: 16 replicas max on spot, fallbackMaxReplicas 5 on h100-od: 5 move, 16 - 5 = 11 lost
    assert "qwen7b        a100-spot -> h100-od (fallbackPool): 5 replicas, 11 replicas lost (critical)" in text
    # h100-od holds qwen72b 2 x 8 + qwen7b's 5 + the embedding's 3 = 24 GPUs: 3 nodes x 55.04 x 730 = 120,537.60
    assert "GPUs 24, $120,538/month; expected (pool min) $40,179, max (pool max) $134,133, worst case $134,133" in text
    assert "then h100-od (on-demand, fallbackPool)" in text
    assert lines[-1].startswith("totals:")
