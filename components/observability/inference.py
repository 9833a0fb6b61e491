"""What the observability stack watches of the inference gateway: pools, endpoint pickers, gateways, mesh.

Pure functions (no Pulumi), shared by the dashboards, the alerts and the Metrics component.

Scrape targets (what Prometheus reads; every monitor carries `ai-platform/scrape: "true"`, the label the
platform's Prometheus selects, in any namespace):

- **Endpoint pickers** (EPP, llm-d router v0.10.0): the ServiceMonitor the router component creates beside each picker
  (components/inference/router.py) in serving.namespace, labelled for the platform's Prometheus, on the picker's
  Service port `http-metrics` (9090) `/metrics` with a metrics-reader service-account token from a Secret (the
  picker authenticates /metrics). Its target label `service` (and `job`) is the picker's Service,
  `epp_name(server)`: that is how queries tell pools apart for the series the picker does not label with its pool.
- **Gateway Envoys**: one PodMonitor (in the observability namespace, which is excluded from namespace enforcement so
  series keep their pods' namespace) on the pods labelled `gateway.networking.k8s.io/gateway-name` = PUBLIC_GATEWAY
  or INTERNAL_GATEWAY in inferenceGateway.namespace: the Gateway API label for a Gateway's generated resources, which
  Istio's automated deployment sets (istiod chart 1.30.3 files/kube-gateway.yaml) and the gateway component sets on
  its manually deployed istio `gateway` chart pods (Istio selects a Gateway's pods by it for targetRefs policies).
  Container port `http-envoy-prom` (15090; gateway chart 1.30.3 templates/deployment.yaml, kube-gateway.yaml) at
  `/stats/prometheus` serves Envoy's and Istio's standard metrics. The Gateway's name becomes the target label
  `gateway`.
- **istiod**: a ServiceMonitor on Service `istiod` (labels `app: istiod`, `istio: pilot`) in mesh.namespace, port
  `http-monitoring` (15014; istiod chart 1.30.3 templates/service.yaml).
- **ztunnel**: a PodMonitor on the DaemonSet's pods (`app: ztunnel`) in mesh.namespace, port `ztunnel-stats`
  (15020; ztunnel chart 1.30.3 templates/daemonset.yaml) at `/stats/prometheus` (ztunnel serves /metrics and
  /stats/prometheus alike, src/metrics/server.rs at 1.30.3).

None reads a file (arbitraryFSAccessThroughSMs.deny) and none needs credentials except the picker's, which come
from a Secret in the picker's own namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from config.capacity import served_models
from config.inference import INTERNAL_GATEWAY, PUBLIC_GATEWAY, epp_name, routing_table
from config.models import StackConfig

# Istio `gateway` chart 1.30.3: the Envoy container's Prometheus port (templates/deployment.yaml, `http-envoy-prom`,
# 15090) and the path its pod annotations point scrapers at (values.yaml podAnnotations prometheus.io/path).
ENVOY_PROM_PORT = "http-envoy-prom"
ENVOY_PROM_PATH = "/stats/prometheus"
# istiod chart 1.30.3 templates/service.yaml: Service `istiod`, port `http-monitoring` (15014), selector labels.
ISTIOD_SERVICE = "istiod"
ISTIOD_PORT = "http-monitoring"
ISTIOD_LABELS = {"app": "istiod", "istio": "pilot"}
# ztunnel chart 1.30.3 templates/daemonset.yaml: pod label `app: ztunnel`, container port `ztunnel-stats` (15020).
ZTUNNEL_LABELS = {"app": "ztunnel"}
ZTUNNEL_PORT = "ztunnel-stats"
# llm-d-router-gateway v0.10.0 (routerlib templates/_service.yaml): the picker's metrics Service port.
EPP_METRICS_PORT = "http-metrics"
# Gateway API's label naming the Gateway a generated resource belongs to (GEP-1762), on every gateway pod.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
# The target label the Gateway's name becomes.
GATEWAY_LABEL = "gateway"
# Target `job` of each scrape (a ServiceMonitor's job is its Service's name; the PodMonitors set theirs).
GATEWAY_JOB = "inference-gateway"
ISTIOD_JOB = ISTIOD_SERVICE
ZTUNNEL_JOB = "ztunnel"
SCRAPE_INTERVAL = "15s"


def enabled(cfg: StackConfig) -> bool:
    """Whether the stack routes model traffic through the inference gateway and Prometheus runs to watch it."""
    return cfg.observability.enabled and cfg.inference_gateway.enabled


def mesh_enabled(cfg: StackConfig) -> bool:
    """Whether istiod and ztunnel run and Prometheus runs to watch them."""
    return cfg.observability.enabled and cfg.mesh.enabled


def gateways(cfg: StackConfig) -> tuple[str, ...]:
    """The Gateways whose Envoy pods are scraped: the internal one always, the public one with an edge."""
    return (PUBLIC_GATEWAY, INTERNAL_GATEWAY) if cfg.inference_gateway.edge is not None else (INTERNAL_GATEWAY,)


@dataclass(frozen=True)
class Pool:
    """One InferencePool and its endpoint picker, as the dashboards and alerts see them."""

    name: str
    """InferencePool name (`pool_name(server)`): the value of the picker's `name` / `inference_pool` labels."""
    server: str
    """Model server name: the `model` target label of its pods' vLLM series."""
    epp: str
    """The picker's Deployment and Service (`epp_name(server)`): the `service` target label of its series."""
    model: str
    """The model name clients send (a canary serves its stable model's name)."""
    weight: int
    """Percent of `model`'s requests routed here."""
    prefix_cache: Literal["approximate", "precise"]
    """Prefix-cache scoring of the pool (per-model override, else inferenceGateway.router)."""
    scale_to_zero: bool
    """Whether the pool may have no endpoints on purpose."""


def pools(cfg: StackConfig) -> list[Pool]:
    """Every InferencePool the routing table sends requests to, in routing-table order."""
    if not cfg.inference_gateway.enabled:
        return []
    served = {s.model.name: s for s in served_models(cfg)}
    found: dict[str, Pool] = {}
    for route in routing_table(cfg):
        if route.adapter is not None:
            continue  # adapters ride on their base model's pools
        for backend in route.backends:
            if backend.kind != "InferencePool" or backend.name in found:
                continue
            model = served[backend.server].model
            override = model.router.prefix_cache if model.router is not None else None
            found[backend.name] = Pool(
                name=backend.name, server=backend.server, epp=epp_name(backend.server), model=route.model,
                weight=round(route.share(backend.server) * 100),
                prefix_cache=override or cfg.inference_gateway.router.prefix_cache,
                scale_to_zero=model.autoscaling.scale_to_zero)
    return list(found.values())


def flow_control(cfg: StackConfig) -> bool:
    """Whether the pickers run flow control (the flow-control queue and saturation series exist only then)."""
    return cfg.inference_gateway.router.flow_control


@dataclass(frozen=True)
class Monitor:
    """A ServiceMonitor or PodMonitor the Metrics component creates in the observability namespace."""

    kind: Literal["ServiceMonitor", "PodMonitor"]
    name: str
    spec: dict[str, Any]


def _pod_label(label: str) -> str:
    """The service-discovery meta label of a pod label (Prometheus turns every other character into `_`)."""
    return "__meta_kubernetes_pod_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", label)


def _job(name: str) -> dict[str, Any]:
    # A PodMonitor's job defaults to "<monitor namespace>/<monitor name>"; a plain name keeps the queries short.
    return {"action": "replace", "targetLabel": "job", "replacement": name}


def monitors(cfg: StackConfig) -> list[Monitor]:
    """The platform's monitors of the gateway Envoys (with the gateway on), istiod and ztunnel (with the mesh on)."""
    found: list[Monitor] = []
    if enabled(cfg):
        found.append(Monitor("PodMonitor", "inference-gateways", {
            "namespaceSelector": {"matchNames": [cfg.inference_gateway.namespace]},
            "selector": {"matchExpressions": [{"key": GATEWAY_NAME_LABEL, "operator": "In",
                                               "values": list(gateways(cfg))}]},
            "podMetricsEndpoints": [{
                "port": ENVOY_PROM_PORT,
                "path": ENVOY_PROM_PATH,
                "interval": SCRAPE_INTERVAL,
                "relabelings": [{"action": "replace", "sourceLabels": [_pod_label(GATEWAY_NAME_LABEL)],
                                 "targetLabel": GATEWAY_LABEL}, _job(GATEWAY_JOB)],
            }],
        }))
    if mesh_enabled(cfg):
        ns = cfg.mesh.namespace
        found.append(Monitor("ServiceMonitor", "istiod", {
            "namespaceSelector": {"matchNames": [ns]},
            "selector": {"matchLabels": dict(ISTIOD_LABELS)},
            "endpoints": [{"port": ISTIOD_PORT, "interval": SCRAPE_INTERVAL}],
        }))
        found.append(Monitor("PodMonitor", "ztunnel", {
            "namespaceSelector": {"matchNames": [ns]},
            "selector": {"matchLabels": dict(ZTUNNEL_LABELS)},
            "podMetricsEndpoints": [{"port": ZTUNNEL_PORT, "path": ENVOY_PROM_PATH, "interval": SCRAPE_INTERVAL,
                                     "relabelings": [_job(ZTUNNEL_JOB)]}],
        }))
    return found
