"""Every PromQL expression of the inference-gateway dashboard and alerts parses and reads only names that exist at
the pinned versions (llm-d router v0.10.0, Istio 1.30.3, vLLM, kube-state-metrics).

The table below is the reviewed record: each name the new queries may use, the source it comes from, and where it
was read. The allow-lists of components.observability.metrics must agree with it, and every query must declare the
source of every name it selects.
"""

from __future__ import annotations

import pytest

from components.observability import inference
from components.observability import metrics as m
from components.observability.dashboards import inference_gateway
from components.observability.rules import inference_gateway_alerts, mesh_alerts
from tests.conftest import stack_values

from .conftest import config
from .test_promql import selectors

# name -> (source, where it is defined at the pinned version)
EPP = "llm-d/llm-d-router v0.10.0 pkg/epp/metrics/llm_d_router_metrics.go"
PREFIX = "llm-d/llm-d-router v0.10.0 pkg/epp/framework/plugins/requestcontrol/dataproducer/approximateprefix/metrics.go"
PILOT = "istio/istio 1.30.3 pilot/pkg/xds/monitoring.go"
XDS = "istio/istio 1.30.3 pkg/xds/monitoring.go"
ZTUNNEL = "istio/ztunnel 1.30.3 src/proxy/metrics.rs (prefix istio, counters get _total)"
STANDARD = "istio.io Istio standard metrics; istio/istio 1.30.3 manifests/addons/dashboards"
TABLE: dict[str, tuple[str, str]] = {
    "llm_d_epp_request_total": ("llm-d-epp", EPP),
    "llm_d_epp_request_error_total": ("llm-d-epp", EPP),
    "llm_d_epp_request_ttft_seconds_bucket": ("llm-d-epp", EPP),
    "llm_d_epp_request_duration_seconds_bucket": ("llm-d-epp", EPP),
    "llm_d_epp_average_kv_cache_utilization": ("llm-d-epp", EPP),
    "llm_d_epp_average_queue_size": ("llm-d-epp", EPP),
    "llm_d_epp_average_running_requests": ("llm-d-epp", EPP),
    "llm_d_epp_ready_endpoints": ("llm-d-epp", EPP),
    "llm_d_epp_scheduler_attempts_total": ("llm-d-epp", EPP),
    "llm_d_epp_flow_control_queue_size": ("llm-d-epp", EPP),
    "llm_d_epp_flow_control_pool_saturation": ("llm-d-epp", EPP),
    "llm_d_epp_flow_control_requests_total": ("llm-d-epp", EPP),
    "llm_d_epp_prefix_indexer_hit_ratio_sum": ("llm-d-epp", PREFIX),
    "llm_d_epp_prefix_indexer_hit_ratio_count": ("llm-d-epp", PREFIX),
    "istio_requests_total": ("istio-proxy", STANDARD),
    "istio_request_duration_milliseconds_bucket": ("istio-proxy", STANDARD),
    "pilot_xds": ("istiod", PILOT),
    "pilot_xds_pushes": ("istiod", PILOT),
    "pilot_proxy_convergence_time_bucket": ("istiod", PILOT),
    "pilot_total_xds_rejects": ("istiod", XDS),
    "pilot_total_xds_internal_errors": ("istiod", XDS),
    "istio_tcp_connections_opened_total": ("ztunnel", ZTUNNEL),
    "istio_tcp_connections_closed_total": ("ztunnel", ZTUNNEL),
    "istio_tcp_connections_failed_total": ("ztunnel", ZTUNNEL),
    "istio_tcp_sockets_open": ("ztunnel", ZTUNNEL),
    "vllm:prefix_cache_hits_total": ("vllm", "config.engines (vLLM pin)"),
    "vllm:prefix_cache_queries_total": ("vllm", "config.engines (vLLM pin)"),
    "kube_deployment_status_replicas_available": ("kube-state-metrics", "kube-state-metrics v2.20.0 docs"),
    "up": ("prometheus", "Prometheus: one per target"),
}


def variant(**gateway):
    """dev with inferenceGateway keys changed (camelCase, merged one level deep)."""
    values = stack_values("dev")
    if gateway.get("edge", "") is None:
        values["rag"]["gateway"]["expose"] = "ingress"  # without an edge the RAG API cannot go through the gateway
    for key, value in gateway.items():
        if isinstance(value, dict):
            values["inferenceGateway"].setdefault(key, {}).update(value)
        else:
            values["inferenceGateway"][key] = value
    from config import validate
    return validate(values, "Pulumi.dev.yaml")


def dev_without_gateway(mesh: bool = False):
    """dev with the inference gateway off (canary removed, RAG API through the Ingress), the mesh on or off."""
    values = stack_values("dev")
    values["inferenceGateway"]["enabled"] = False
    values["mesh"]["enabled"] = mesh
    values["rag"]["gateway"]["expose"] = "ingress"
    values["serving"]["models"][0].pop("canary")  # a canary's split needs the gateway
    from config import validate
    return validate(values, "Pulumi.dev.yaml")


CASES = {
    "dev": lambda: config("dev"),
    "prod": lambda: config("prod"),
    "dev-no-flow-control": lambda: variant(router={"flowControl": False}),
    "dev-precise-prefix-cache": lambda: variant(router={"prefixCache": "precise"}),
    "dev-internal-only": lambda: variant(edge=None),
}


def new_queries(cfg):
    found = [(f"rule {r.name}", r.query) for r in inference_gateway_alerts(cfg) + mesh_alerts(cfg)]
    board = inference_gateway(cfg)
    assert board is not None
    return found + [(f"dashboard {board.uid}", q) for q in board.queries]


@pytest.mark.parametrize("case", list(CASES))
def test_every_new_query_parses_and_reads_only_tabled_names_of_its_sources(case):
    cfg, _ = CASES[case]()
    seen = set()
    for where, query in new_queries(cfg):
        names = selectors(query.expr)  # raises when the expression does not parse
        assert names, f"{where}: selects nothing: {query.expr}"
        for name in names:
            assert name in TABLE, f"{where}: {name} is not in the reviewed table"
            source, _ = TABLE[name]
            assert source in query.sources, f"{where}: {name} comes from {source}, not {query.sources}"
            assert name in m.allowed(source), f"{where}: {name} not in the {source} allow-list"
            seen.add(name)
    assert "llm_d_epp_ready_endpoints" in seen and "istio_requests_total" in seen and "pilot_xds_pushes" in seen


def test_the_table_and_the_allow_lists_agree():
    for name, (source, _) in TABLE.items():
        assert name in m.allowed(source), (name, source)
    assert m.source_version("llm-d-epp") == "v0.10.0"
    assert m.source_version("istiod") == m.source_version("ztunnel") == m.source_version("istio-proxy") == "1.30.3"
    # Only the current llm_d_epp_* names: the deprecated twins (inference_pool_*, inference_extension_*) will go.
    assert not {n for n in m.EPP_SERIES if not n.startswith("llm_d_epp_")}
    # Istio exports counters without an added _total (OpenTelemetry exporter WithoutCounterSuffixes).
    assert "pilot_xds_pushes_total" not in m.allowed("istiod")


def test_a_deprecated_or_misspelt_name_is_caught():
    assert "inference_pool_ready_pods" not in m.allowed("llm-d-epp")  # v0.10.0's deprecated twin
    assert "llm_d_epp_ready_pods" not in m.allowed("llm-d-epp")


def test_flow_control_and_prefix_index_queries_follow_the_router_config():
    def names(cfg):
        return {n for _, q in new_queries(cfg) for n in selectors(q.expr)}

    dev = names(config("dev")[0])
    assert {"llm_d_epp_flow_control_queue_size", "llm_d_epp_flow_control_pool_saturation",
            "llm_d_epp_prefix_indexer_hit_ratio_sum"} <= dev
    off = names(variant(router={"flowControl": False})[0])
    assert not {n for n in off if n.startswith("llm_d_epp_flow_control_")}
    # Precise prefix-cache scoring has no approximate index: only vLLM's own hit counters remain.
    precise = names(variant(router={"prefixCache": "precise"})[0])
    assert "llm_d_epp_prefix_indexer_hit_ratio_sum" not in precise
    assert "vllm:prefix_cache_hits_total" in precise


def test_each_pools_queries_select_its_own_picker_and_pool():
    cfg, _ = config("dev")
    for pool in inference.pools(cfg):
        others = [p for p in inference.pools(cfg) if p != pool]
        board = inference_gateway(cfg)
        assert board is not None
        own = [q.expr for q in board.queries if f'service="{pool.epp}"' in q.expr
               or f'inference_pool="{pool.name}"' in q.expr or f'name="{pool.name}"' in q.expr]
        assert own
        for expr in own:
            assert not any(f'service="{o.epp}"' in expr or f'"{o.name}"' in expr for o in others), expr
