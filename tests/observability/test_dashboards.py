"""Generated dashboards are valid Grafana dashboard models and reach Grafana through the sidecar's ConfigMaps."""

from __future__ import annotations

import json

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard as DashboardModel

from components.observability import charts
from components.observability.dashboards import dashboards

from .conftest import config, variants

CASES = list(variants())
DATASOURCE_UIDS = {charts.PROMETHEUS_UID}


def check_model(model: dict) -> None:
    """What Grafana needs to render the dashboard as provisioned, beyond the JSON model decoding."""
    decoded = DashboardModel.from_json(model)  # Grafana's dashboard schema types (grafana-foundation-sdk)
    assert decoded.uid and decoded.title
    assert model["schemaVersion"] >= 36
    panels = model["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {model['uid']}"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and 0 < grid["w"] <= 24 and grid["x"] + grid["w"] <= 24
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & area, f"{model['uid']}: panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] in DATASOURCE_UIDS, panel["title"]
        targets = panel.get("targets") or []
        assert targets, f"{model['uid']}: panel {panel['title']!r} has no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)) and all(refs)
        for target in targets:
            assert target["datasource"]["uid"] in DATASOURCE_UIDS
            assert target["expr"].strip()
    for variable in model.get("templating", {}).get("list", []):
        assert variable["datasource"]["uid"] in DATASOURCE_UIDS
        assert variable["query"].startswith("label_values(")


@pytest.mark.parametrize("case", range(len(CASES)), ids=["-".join(map(str, c)) for c, _ in CASES])
def test_dashboards_are_valid_grafana_models(case):
    cfg, _ = CASES[case][1]
    boards = dashboards(cfg)
    assert len({b.uid for b in boards}) == len(boards)
    for board in boards:
        check_model(board.model)
        assert json.loads(board.json()) == board.model


def test_the_checker_catches_broken_models():
    cfg, _ = config("prod")
    board = dashboards(cfg)[0].model
    broken = json.loads(json.dumps(board))
    broken["panels"][2]["id"] = broken["panels"][1]["id"]
    with pytest.raises(AssertionError, match="duplicate panel ids"):
        check_model(broken)
    broken = json.loads(json.dumps(board))
    broken["panels"][1]["targets"] = []
    with pytest.raises(AssertionError, match="has no query"):
        check_model(broken)
    broken = json.loads(json.dumps(board))
    del broken["panels"][1]["datasource"]
    with pytest.raises((AssertionError, KeyError)):
        check_model(broken)


def test_which_dashboards_each_stack_gets():
    uids = {stack: {b.uid for b in dashboards(config(stack)[0])} for stack in ("dev", "prod", "local")}
    every = {"ai-platform-inference", "ai-platform-gpu-fleet", "ai-platform-rag", "ai-platform-cost",
             "ai-platform-inference-gateway"}  # dev and prod run the inference gateway
    assert uids["dev"] == uids["prod"] == every
    # local: Ollama exports no metrics, no GPU pools: only the data layer (Qdrant, Redis).
    assert uids["local"] == {"ai-platform-rag"}


def test_inference_dashboard_has_the_required_panels_per_model():
    board = next(b for b in dashboards(config("prod")[0]) if b.uid == "ai-platform-inference")
    titles = " | ".join(p["title"] for p in board.model["panels"])
    for wanted in ("Requests per second", "P50 / P90 / P99", "Time to first token", "Tokens per second",
                   "Queue depth", "KV-cache"):
        assert wanted in titles
    [variable] = board.model["templating"]["list"]
    assert variable["name"] == "model"
    assert all('model=~"$model"' in q.expr for q in board.queries if q.sources == ("vllm",))


def test_cost_dashboard_prices_pools_from_the_catalog():
    cfg, plan = config("prod")
    from components.observability.rules import cost_rules

    rules = {r.query.expr for r in cost_rules(cfg, plan)}
    for pool in plan.pools:
        assert any(f'pool="{pool.name}"' in e and e.endswith(f"* {round(pool.usd_per_node_hour, 4):g}") for e in rules)
        assert any(f'pool="{pool.name}"' in e and e.endswith(f"* {pool.gpus_per_node}") for e in rules)
