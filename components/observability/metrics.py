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

LOCAL_SOURCES: dict[str, tuple[str, frozenset[str]]] = {
    "kube-state-metrics": (KSM_VERSION, KSM_SERIES),
    "prometheus": (PROMETHEUS_VERSION, PROMETHEUS_SERIES),
    "ai-platform": ("this program", PLATFORM_SERIES),
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
