"""Which metric names alerts and dashboards may use, per source and pinned version.

Engine and exporter names come from `config.engines` (recorded per source and version by whoever pins the
engines). This module adds the sources the observability stack itself brings, each at the version its chart
pins, and the names of the platform's own recording rules. A `Query` names the sources its PromQL reads;
tests/observability/test_promql.py parses every query and checks each metric name against exactly those
sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import engines

KSM_VERSION = "2.20.0"
"""kube-state-metrics image of chart kube-state-metrics 8.4.0 (appVersion), the subchart kube-prometheus-stack
88.5.3 installs."""

# kubernetes/kube-state-metrics v2.20.0 docs/metrics/: cluster/node-metrics.md (kube_node_labels,
# kube_node_spec_taint, kube_node_status_condition) and workload/pod-metrics.md (kube_pod_info,
# kube_pod_container_status_waiting_reason, kube_pod_container_status_restarts_total). Only names used here.
KSM_SERIES: frozenset[str] = frozenset({
    "kube_node_labels",
    "kube_node_spec_taint",
    "kube_node_status_condition",
    "kube_pod_info",
    "kube_pod_container_status_waiting_reason",
    "kube_pod_container_status_restarts_total",
    # workload/deployment-metrics.md (also read by kube-prometheus-stack 88.5.3's KubeDeploymentReplicasMismatch).
    "kube_deployment_status_replicas_available",
})

PROMETHEUS_VERSION = "v3.14.0"
"""Prometheus image of kube-prometheus-stack 88.5.3 (prometheus.prometheusSpec.image.tag)."""
# Series Prometheus writes itself for every target (prometheus docs, "Jobs and instances": up).
PROMETHEUS_SERIES: frozenset[str] = frozenset({"up"})

# The platform's recording rules (components/observability/rules.py); dashboards read these.
NODE_POOL_INFO = "ai_platform:node_pool:info"
DCGM_EXPORTER_NODE = "ai_platform:dcgm_exporter:node"
GPU_UTILIZATION = "ai_platform:gpu_utilization:ratio"
GPU_MEMORY_USED = "ai_platform:gpu_memory_used:ratio"
GPU_TEMPERATURE = "ai_platform:gpu_temperature:celsius"
POOL_GPUS = "ai_platform:pool_gpus:count"
POOL_USD_PER_HOUR = "ai_platform:pool_usd_per_hour:sum"
PLATFORM_SERIES: frozenset[str] = frozenset({
    NODE_POOL_INFO, DCGM_EXPORTER_NODE, GPU_UTILIZATION, GPU_MEMORY_USED, GPU_TEMPERATURE, POOL_GPUS,
    POOL_USD_PER_HOUR,
})

# ------------------------------------------------------------------------------------- inference gateway

EPP_VERSION = "v0.10.0"
"""llm-d router (endpoint picker) image of chart llm-d-router-gateway v0.10.0 (charts.lock.yaml)."""


def _histograms(*names: str) -> frozenset[str]:
    return frozenset(f"{n}{suffix}" for n in names for suffix in ("_bucket", "_sum", "_count"))


# llm-d/llm-d-router v0.10.0: pkg/epp/metrics/llm_d_router_metrics.go (subsystem `llm_d_epp`; request/latency labels
# model_name, target_model_name, fairness_id, priority; pool gauges label `name` = InferencePool name; flow control
# label `inference_pool`; scheduler_attempts_total labels status, target_model_name, endpoint_name, namespace, port)
# and pkg/epp/framework/plugins/requestcontrol/dataproducer/approximateprefix/metrics.go (prefix_indexer_*, labels
# plugin_name, plugin_type; recorded by the approximate prefix-cache producer only). docs/metrics.md at the tag lists
# the same names. Only the current `llm_d_epp_*` names: the deprecated `inference_*` twins are dual-emitted for now
# and will go. Served at /metrics on the metrics port (9090, Service port `http-metrics`).
EPP_SERIES: frozenset[str] = frozenset({
    "llm_d_epp_request_total",
    "llm_d_epp_request_error_total",
    "llm_d_epp_request_running",
    "llm_d_epp_average_kv_cache_utilization",
    "llm_d_epp_average_queue_size",
    "llm_d_epp_average_running_requests",
    "llm_d_epp_ready_endpoints",
    "llm_d_epp_scheduler_attempts_total",
    "llm_d_epp_flow_control_queue_size",
    "llm_d_epp_flow_control_pool_saturation",
    "llm_d_epp_flow_control_requests_total",
    "llm_d_epp_prefix_indexer_size",
}) | _histograms("llm_d_epp_request_duration_seconds", "llm_d_epp_request_ttft_seconds",
                 "llm_d_epp_request_cached_tokens", "llm_d_epp_request_input_tokens",
                 "llm_d_epp_flow_control_request_queue_duration_seconds", "llm_d_epp_prefix_indexer_hit_ratio")

ISTIO_VERSION = "1.30.3"
"""Istio charts base/istiod/cni/ztunnel/gateway 1.30.3 (charts.lock.yaml); images are the charts' appVersion."""

# Istio standard metrics (istio.io docs/reference/config/metrics), emitted by every Istio Envoy -- here the gateway
# pods (istio `gateway` chart 1.30.3, container port 15090 `http-envoy-prom`, path /stats/prometheus); the names are
# the ones istio/istio 1.30.3 manifests/addons/dashboards (istio-service/workload dashboards) query.
ISTIO_PROXY_SERIES: frozenset[str] = frozenset({"istio_requests_total"}) | _histograms(
    "istio_request_duration_milliseconds")

# istiod (istio/istio 1.30.3 pilot/pkg/xds/monitoring.go and pkg/xds/monitoring.go; pkg/monitoring exports through
# OpenTelemetry's Prometheus exporter WithoutCounterSuffixes, so sums keep their names: `pilot_xds_pushes`, not
# `..._total`). Port 15014 `http-monitoring` of Service `istiod` (istiod chart 1.30.3 templates/service.yaml).
ISTIOD_SERIES: frozenset[str] = frozenset({
    "pilot_xds",
    "pilot_xds_pushes",
    "pilot_total_xds_rejects",
    "pilot_total_xds_internal_errors",
}) | _histograms("pilot_proxy_convergence_time", "pilot_xds_push_time")

# ztunnel (istio/ztunnel 1.30.3 src/proxy/metrics.rs, registry prefix `istio` in src/metrics.rs; prometheus_client
# appends `_total` to counters). Port 15020 `ztunnel-stats`, /metrics or /stats/prometheus (src/metrics/server.rs).
ZTUNNEL_SERIES: frozenset[str] = frozenset({
    "istio_tcp_connections_opened_total",
    "istio_tcp_connections_closed_total",
    "istio_tcp_connections_failed_total",
    "istio_tcp_sockets_open",
})

LOCAL_SOURCES: dict[str, tuple[str, frozenset[str]]] = {
    "kube-state-metrics": (KSM_VERSION, KSM_SERIES),
    "prometheus": (PROMETHEUS_VERSION, PROMETHEUS_SERIES),
    "ai-platform": ("this program", PLATFORM_SERIES),
    "llm-d-epp": (EPP_VERSION, EPP_SERIES),
    "istio-proxy": (ISTIO_VERSION, ISTIO_PROXY_SERIES),
    "istiod": (ISTIO_VERSION, ISTIOD_SERIES),
    "ztunnel": (ISTIO_VERSION, ZTUNNEL_SERIES),
}


def allowed(source: str) -> frozenset[str]:
    """Series names a query reading `source` may use."""
    if source in LOCAL_SOURCES:
        return LOCAL_SOURCES[source][1]
    return engines.series_names(source)


def source_version(source: str) -> str:
    """The version the names of `source` were recorded at."""
    if source in LOCAL_SOURCES:
        return LOCAL_SOURCES[source][0]
    return engines.METRICS[source].version


@dataclass(frozen=True)
class Query:
    """One PromQL expression and the metric sources it reads."""

    expr: str
    sources: tuple[str, ...]
