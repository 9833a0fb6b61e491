"""In-cluster endpoints of every service the platform runs: one source of names and ports.

Pure functions of the typed config. The components create Services with exactly these names and
ports (charts through `fullnameOverride`-style values), the gateway's environment and the stack
outputs use the URLs, the KEDA/HPA queries and Grafana datasources use the monitoring URLs, and
the Tenancy component's NetworkPolicies open exactly these *target* ports (a NetworkPolicy port
is the pod's port, not the Service's).
"""

from __future__ import annotations

from dataclasses import dataclass

from .capacity import canary_model
from .engines import ENGINES, embedding_engine_key
from .inference import INTERNAL_GATEWAY, gateway_service
from .models import StackConfig

# Container ports of the serving engines at their pinned versions (config/engines.py): the
# OpenAI-compatible HTTP API, which also serves /metrics (Triton's OpenAI frontend included).
ENGINE_PORTS: dict[str, int] = {key: ENGINES[key].port for key in ("vllm", "tgi", "triton", "ollama", "tei")}
SERVICE_PORT = 80
"""Port of every model Service (and the embedding Service); it forwards to the engine's container port."""


@dataclass(frozen=True)
class Port:
    """One port of a Service."""

    name: str
    port: int
    """Service port."""
    target_port: int
    """Container port behind it (what NetworkPolicies open)."""


@dataclass(frozen=True)
class Endpoint:
    """A Service in the cluster."""

    key: str
    """model/<name>, embedding, inference-gateway, vector-store, full-text, cache, gateway, prometheus, grafana,
    alertmanager, loki, tempo, jaeger, otel-collector."""
    service: str
    namespace: str
    ports: tuple[Port, ...]
    """First is the primary (API) port."""
    scheme: str = "http"
    """URL scheme of the primary port: http, https, grpc, redis."""
    path: str = ""
    """Base path of the API on the primary port (e.g. /v1)."""

    @property
    def host(self) -> str:
        return f"{self.service}.{self.namespace}.svc.cluster.local"

    @property
    def port(self) -> int:
        return self.ports[0].port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}{self.path}"

    def target_ports(self) -> tuple[int, ...]:
        return tuple(sorted({p.target_port for p in self.ports}))


def _model(name: str, engine: str, namespace: str) -> Endpoint:
    return Endpoint(f"model/{name}", name, namespace, (Port("http", SERVICE_PORT, ENGINE_PORTS[engine]),), "http",
                    "/v1")


def endpoints(cfg: StackConfig) -> dict[str, Endpoint]:
    """Every endpoint the config deploys, by key."""
    found: dict[str, Endpoint] = {}
    serving_ns = cfg.serving.namespace
    for model in cfg.serving.models:
        found[f"model/{model.name}"] = _model(model.name, model.engine, serving_ns)
        if model.canary is not None:  # its canary server (config.capacity.canary_model)
            canary = canary_model(model)
            found[f"model/{canary.name}"] = _model(canary.name, canary.engine, serving_ns)
    rag = cfg.rag
    if rag.embedding is not None:
        port = ENGINES[embedding_engine_key(rag.embedding.engine)].port
        found["embedding"] = Endpoint("embedding", "embedding", serving_ns, (Port("http", SERVICE_PORT, port),), "http",
                                      "/v1")
    gw = cfg.inference_gateway
    if gw.enabled:
        # The internal Gateway's Envoy pods (istio `gateway` chart, components/inference/gateway.py): the one in-cluster
        # entry to every model (config.inference.internal_base_url); HTTP on 80 inside the mesh's mutual TLS.
        found["inference-gateway"] = Endpoint("inference-gateway", gateway_service(INTERNAL_GATEWAY), gw.namespace,
                                              (Port("http", SERVICE_PORT, SERVICE_PORT),), "http", "/v1")
    ns = rag.namespace
    store = rag.vector_store
    if store is not None:
        if store.engine == "milvus":
            found["vector-store"] = Endpoint("vector-store", "milvus", ns,
                                             (Port("grpc", 19530, 19530), Port("metrics", 9091, 9091)), "grpc")
        elif store.engine == "qdrant":
            found["vector-store"] = Endpoint("vector-store", "qdrant", ns,
                                             (Port("http", 6333, 6333), Port("grpc", 6334, 6334)), "http")
        else:
            found["vector-store"] = Endpoint("vector-store", "weaviate", ns,
                                             (Port("http", 80, 8080), Port("grpc", 50051, 50051)), "http")
    if rag.full_text is not None:
        found["full-text"] = Endpoint("full-text", "search-es-http", ns, (Port("https", 9200, 9200),), "https")
    if rag.cache is not None:
        # One server: the chart's headless `redis` Service is that pod. Several: HAProxy's Service always points at
        # the Sentinel-elected master (the headless Service would also return read-only replicas).
        service = "redis-haproxy" if rag.cache.replicas > 1 else "redis"
        found["cache"] = Endpoint("cache", service, ns, (Port("redis", 6379, 6379),), "redis")
    if rag.gateway is not None:
        # Only the API port: the ingress controller needs nothing else. The Service also exposes the management
        # port 8081 (probes, /actuator/prometheus), which Prometheus scrapes like any pod port.
        found["gateway"] = Endpoint("gateway", "ai-gateway", rag.gateway.namespace, (Port("http", 80, 8080),), "http")
    obs = cfg.observability
    if obs.enabled:
        ons = obs.namespace
        # kube-prometheus-stack 88.5.3 names its Services "<fullname>-prometheus" / "<fullname>-alertmanager"
        # (templates/prometheus/service.yaml, templates/alertmanager/service.yaml); there is no value for the
        # bare name, so fullnameOverride "monitoring" gives these (components/observability/charts.py).
        found["prometheus"] = Endpoint("prometheus", "monitoring-prometheus", ons, (Port("http", 9090, 9090),))
        found["alertmanager"] = Endpoint("alertmanager", "monitoring-alertmanager", ons, (Port("http", 9093, 9093),))
        # grafana 12.11.1 (grafana-community) as a subchart of release "monitoring": Service "<release>-grafana",
        # service.port 80 -> targetPort 3000.
        found["grafana"] = Endpoint("grafana", "monitoring-grafana", ons, (Port("http", 80, 3000),))
        if obs.logs == "loki":
            # loki 18.11.0 monolithic: Service "<fullname>" on loki.server.http_listen_port 3100.
            found["loki"] = Endpoint("loki", "loki", ons, (Port("http", 3100, 3100),))
        if obs.tracing != "none" or obs.logs != "none":
            # The collector takes OTLP traces and logs; it exists when either backend does.
            found["otel-collector"] = Endpoint("otel-collector", "otel-collector", ons,
                                               (Port("otlp-grpc", 4317, 4317), Port("otlp-http", 4318, 4318)), "grpc")
        if obs.tracing == "tempo":
            found["tempo"] = Endpoint("tempo", "tempo", ons, (Port("http", 3200, 3200), Port("otlp-grpc", 4317, 4317),
                                                              Port("otlp-http", 4318, 4318)))
        if obs.tracing == "jaeger":
            # jaeger 4.11.1 all-in-one Service "<fullname>": query UI/API 16686, OTLP 4317/4318.
            found["jaeger"] = Endpoint("jaeger", "jaeger", ons, (Port("http-query", 16686, 16686),
                                                                 Port("otlp-grpc", 4317, 4317),
                                                                 Port("otlp-http", 4318, 4318)))
    return found


def endpoint(cfg: StackConfig, key: str) -> Endpoint | None:
    return endpoints(cfg).get(key)
