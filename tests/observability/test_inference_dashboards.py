"""The Inference gateway dashboard: a row per InferencePool of the routing table (dev: qwen7b and its canary), a
gateway row and a mesh row, each with the panels operators need; a valid Grafana model; only where the gateway or
the mesh runs."""

from __future__ import annotations

import pytest

from components.observability.dashboards import dashboards, inference_gateway
from config.inference import pool_name, routing_table

from .conftest import config
from .test_dashboards import check_model
from .test_inference_queries import dev_without_gateway, variant

UID = "ai-platform-inference-gateway"
POOL_PANELS = ("Requests and errors", "Time to first token", "per tenant and priority", "Flow-control queue",
               "Saturation", "Ready endpoints", "Routing decisions per endpoint", "Prefix-cache hit rate",
               "KV-cache utilisation")


def rows(model: dict) -> dict[str, list[dict]]:
    """Row title -> the panels under it (the SDK lays rows out flat: a row panel, then its panels)."""
    found: dict[str, list[dict]] = {}
    current = None
    for panel in model["panels"]:
        if panel["type"] == "row":
            current = panel["title"]
            found[current] = []
        elif current is not None:
            found[current].append(panel)
    return found


def expected_pools(cfg) -> list[str]:
    return list(dict.fromkeys(b.name for r in routing_table(cfg) for b in r.backends if b.kind == "InferencePool"))


def test_dev_has_a_row_per_pool_with_every_panel():
    cfg, _ = config("dev")
    pools = expected_pools(cfg)
    assert pools == [pool_name("qwen7b"), pool_name("qwen7b-canary")]
    board = inference_gateway(cfg)
    assert board is not None
    by_row = rows(board.model)
    pool_rows = [t for t in by_row if t.startswith("Pool ")]
    assert [t.split()[1] for t in pool_rows] == pools
    assert "90% of qwen7b" in pool_rows[0] and "10% of qwen7b" in pool_rows[1]  # the canary split, from config
    for title in pool_rows:
        panels = " | ".join(p["title"] for p in by_row[title])
        for wanted in POOL_PANELS:
            assert wanted in panels, f"{title}: no {wanted!r} panel"


def test_gateway_and_mesh_rows():
    board = inference_gateway(config("dev")[0])
    assert board is not None
    by_row = rows(board.model)
    [gateway] = [t for t in by_row if t.startswith("Gateways")]
    titles = [p["title"] for p in by_row[gateway]]
    assert {"Responses by code", "P99 latency", "Rate-limited requests (429)", "5xx ratio"} <= set(titles)
    exprs = " ".join(t["expr"] for p in by_row[gateway] for t in p["targets"])
    assert 'response_code="429"' in exprs and "istio_request_duration_milliseconds_bucket" in exprs
    [mesh] = [t for t in by_row if t.startswith("Mesh")]
    exprs = " ".join(t["expr"] for p in by_row[mesh] for t in p["targets"])
    assert "pilot_xds_pushes" in exprs and "pilot_total_xds_rejects" in exprs
    assert "istio_tcp_connections_opened_total" in exprs and 'job="ztunnel"' in exprs


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_dashboard_is_a_valid_grafana_model(stack):
    board = inference_gateway(config(stack)[0])
    assert board is not None
    check_model(board.model)
    assert board.uid in {b.uid for b in dashboards(config(stack)[0])}


def test_prod_rows_follow_its_models():
    cfg, _ = config("prod")
    board = inference_gateway(cfg)
    assert board is not None
    assert [t.split()[1] for t in rows(board.model) if t.startswith("Pool ")] == expected_pools(cfg)


def test_no_dashboard_without_gateway_or_mesh():
    assert inference_gateway(config("local")[0]) is None
    cfg, _ = dev_without_gateway()
    assert inference_gateway(cfg) is None
    assert UID not in {b.uid for b in dashboards(cfg)}
    # The mesh alone still gets the dashboard, with only its mesh row.
    mesh_only = inference_gateway(dev_without_gateway(mesh=True)[0])
    assert mesh_only is not None and list(rows(mesh_only.model)) == ["Mesh (istiod, ztunnel; Istio 1.30.3)"]


def test_flow_control_panels_only_with_flow_control():
    board = inference_gateway(variant(router={"flowControl": False})[0])
    assert board is not None
    titles = " | ".join(p["title"] for p in board.model["panels"])
    assert "Flow-control queue" not in titles and "Saturation" not in titles
    assert "Ready endpoints" in titles


def test_internal_only_gateway_row():
    board = inference_gateway(variant(edge=None)[0])
    assert board is not None
    [gateway] = [t for t in rows(board.model) if t.startswith("Gateways")]
    assert "internal" in gateway and "public" not in gateway
