"""Who may talk to whom: the platform's traffic flows, from which the NetworkPolicies are built.

Pure functions of the typed config. Every workload namespace denies all ingress and egress by
default; each `Flow` below is one explicit allow, rendered by the Tenancy component as an egress
rule in the source namespace and an ingress rule in the destination namespace (when those are
workload namespaces; platform namespaces are not default-deny, except the ingress controller's
egress, which is limited to the gateway). Ports are the pods' container ports from
`config/endpoints.py` (a NetworkPolicy port is the pod's port, not the Service's).

The flows, and why:

- every workload pod -> cluster DNS (kube-system, `k8s-app: kube-dns`; CoreDNS on EKS and kind
  carries the same label) on 53/UDP and 53/TCP;
- Prometheus (observability namespace) -> every pod in every workload namespace, any port
  (scraping), and -> nodes and the API server (kubelet/cAdvisor, node-exporter on the host
  network, service discovery);
- pods of the observability namespace talk to each other (Grafana -> Prometheus/Loki/Tempo,
  collector -> Loki/Tempo, Alertmanager peers) and reach the API server (operator, sidecars);
  Alertmanager -> the internet on 443 (notification receivers);
- model servers, embedding server and gateway -> the OpenTelemetry Collector (OTLP 4317/4318);
- the node log agents (observability-node) -> Loki (3100), with every pod's stdout/stderr;
- gateway -> model servers and embedding server (API port), and -> vector store, search and cache;
- model servers and embedding server -> vector store, search and cache (tool use, RAG in the
  serving path); the data layer accepts nothing else from outside its namespace;
- pods of the data namespace talk to each other freely (Milvus coordinators/nodes/etcd/MinIO,
  Elasticsearch transport 9300, Qdrant/Weaviate peers);
- the ingress controller -> the gateway only (+ DNS and the API server it watches), and -> the
  ACME HTTP-01 solver pods in the gateway namespace while cert-manager proves the domain;
- the ECK operator -> the Elasticsearch pods' HTTP API (9200), which it manages;
- Milvus (cluster mode on the bucket) and Elasticsearch (snapshots) -> the internet on 443 (S3/GCS
  and the cloud's token service) and, on GKE, the metadata server (Workload Identity);
- the KEDA operator (`keda`) and prometheus-adapter (`prometheus-adapter`) -> Prometheus (9090): they
  evaluate the models' queue-depth and KV-cache queries (platform namespaces are not egress-fenced,
  so only Prometheus' ingress side is a policy);
- the Milvus users Job (pod label `ai-platform/role: milvus-users`) -> Milvus' proxy/standalone pods on
  19530 (REST API): it creates the gateway's scoped user with the root password;
- model-download jobs (pod label `ai-platform/role: model-download`) -> the internet on 443: model
  weights come from the Hugging Face Hub once, into the model-cache volume; model servers never
  reach the internet. `tenancy.internetEgress: true` opens 443 to the internet for every workload
  pod instead (not for production).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .endpoints import Endpoint, endpoints
from .models import StackConfig
from .namespaces import (
    ELASTIC_SYSTEM,
    INGRESS_NGINX,
    KEDA,
    NODE_AGENTS,
    PROMETHEUS_ADAPTER,
    component_namespaces,
    platform_roles,
)

ANY_NAMESPACE = "*"
INTERNET = "0.0.0.0/0"
# RFC 1918 ranges: "the internet" in egress rules excludes them, so an internet allow never
# opens a path to another workload, node or VPC service.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
API_SERVER_PORTS = (443, 6443)

COMPONENT_LABEL = "app.kubernetes.io/component"
NAME_LABEL = "app.kubernetes.io/name"
ROLE_LABEL = "ai-platform/role"
MODEL_DOWNLOAD = "model-download"

# Pod labels of the platform's own workloads (components.labels.standard_labels component values).
MODEL_SERVER_PODS = {COMPONENT_LABEL: "model-server"}
EMBEDDING_PODS = {COMPONENT_LABEL: "embedding"}
GATEWAY_PODS = {COMPONENT_LABEL: "gateway"}
MODEL_DOWNLOAD_PODS = {ROLE_LABEL: MODEL_DOWNLOAD}
# Pod labels set by third-party charts (kube-prometheus-stack's Prometheus, Alertmanager; ingress-nginx).
PROMETHEUS_PODS = {NAME_LABEL: "prometheus"}
ALERTMANAGER_PODS = {NAME_LABEL: "alertmanager"}
INGRESS_CONTROLLER_PODS = {NAME_LABEL: "ingress-nginx", COMPONENT_LABEL: "controller"}
DNS_PODS = {"k8s-app": "kube-dns"}
# The node log agent (opentelemetry-collector chart, DaemonSet) and Loki's pods.
NODE_LOG_AGENT_PODS = {NAME_LABEL: "opentelemetry-collector", "app.kubernetes.io/instance": "node-logs"}
LOKI_PODS = {NAME_LABEL: "loki"}
LOKI_PORT = 3100
# ECK (elastic/cloud-on-k8s) labels: the operator's pods, and every Elasticsearch pod it creates.
ECK_OPERATOR_PODS = {NAME_LABEL: "elastic-operator"}
ELASTICSEARCH_PODS = {"common.k8s.elastic.co/type": "elasticsearch"}
MILVUS_PODS = {NAME_LABEL: "milvus"}
# The Job that creates the gateway's Milvus user (components/rag/milvus_users.py), and the Milvus pods serving the API.
MILVUS_USERS_PODS = {ROLE_LABEL: "milvus-users"}
MILVUS_API_COMPONENTS = ("proxy", "standalone")
# kedacore/charts keda/templates/manager/deployment.yaml @ v2.20.2: the operator runs the scalers (the metrics server
# asks it over gRPC); prometheus-community/helm-charts prometheus-adapter _helpers.tpl @ prometheus-adapter-5.3.0.
KEDA_OPERATOR_PODS = {NAME_LABEL: "keda-operator"}
PROMETHEUS_ADAPTER_PODS = {NAME_LABEL: "prometheus-adapter"}
# cert-manager's HTTP-01 solver pods and the port they serve the challenge on.
ACME_SOLVER_PODS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089
# The GKE metadata server as Workload Identity pods see it (GKE docs, "Network policies": port 80
# on 169.254.169.254 and, with Dataplane V2, port 988 on 169.254.169.252).
GKE_METADATA_CIDRS = ("169.254.169.254/32", "169.254.169.252/32")


@dataclass(frozen=True)
class Port:
    port: int
    protocol: Literal["TCP", "UDP"] = "TCP"


@dataclass(frozen=True)
class Peer:
    """Pods (a namespace, or every namespace with ANY_NAMESPACE, and a label selector) or CIDRs."""

    namespace: str | None = None
    pods: Mapping[str, str] = field(default_factory=dict)
    """matchLabels; empty: every pod of the namespace."""
    pods_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """matchExpressions key In values (several components in one selector)."""
    cidrs: tuple[str, ...] = ()
    """An IP block peer instead of pods (the API server, nodes, the internet)."""
    except_cidrs: tuple[str, ...] = ()

    @property
    def is_ip(self) -> bool:
        return bool(self.cidrs)


@dataclass(frozen=True)
class Flow:
    """One allowed connection: source pods -> destination pods or CIDRs on ports (empty: any port)."""

    name: str
    source: Peer
    dest: Peer
    ports: tuple[Port, ...]
    why: str


def _tcp(*ports: int) -> tuple[Port, ...]:
    return tuple(Port(p) for p in sorted(set(ports)))


def api_server_cidrs(cfg: StackConfig) -> tuple[str, ...]:
    """Where the API server's endpoints live, as pods see them after the Service DNAT."""
    cluster = cfg.cluster
    if cluster.provider == "gke" and cluster.gcp is not None and cluster.gcp.private_nodes:
        return (cluster.gcp.master_ipv4_cidr,)
    if cluster.provider == "eks" and cluster.eks is not None and not cluster.eks.subnet_ids:
        return (cluster.eks.vpc_cidr,)  # the control plane's ENIs sit in the cluster's subnets
    if cluster.provider == "eks" and cluster.eks is None:
        return ("10.0.0.0/16",)
    if cluster.existing is not None and cluster.existing.api_server_cidr:
        return (cluster.existing.api_server_cidr,)
    return (INTERNET,)  # unknown: a public GKE endpoint, existing subnets, or an existing cluster


def node_cidrs(cfg: StackConfig) -> tuple[str, ...]:
    """Where nodes live (kubelet, host-network exporters)."""
    cluster = cfg.cluster
    if cluster.provider == "gke" and cluster.gcp is not None and cluster.gcp.subnetwork is None:
        return (cluster.gcp.subnet_cidr,)
    if cluster.provider == "eks" and not (cluster.eks and cluster.eks.subnet_ids):
        return (cluster.eks.vpc_cidr if cluster.eks else "10.0.0.0/16",)
    if cluster.existing is not None and cluster.existing.node_cidr:
        return (cluster.existing.node_cidr,)
    return (INTERNET,)


def _internet() -> Peer:
    return Peer(cidrs=(INTERNET,), except_cidrs=PRIVATE_RANGES)


def flows(cfg: StackConfig) -> list[Flow]:
    """Every allowed flow of the stack (see the module docstring)."""
    roles = component_namespaces(cfg)
    workload = list(cfg.tenancy.namespaces)
    eps = endpoints(cfg)
    serving, rag, gateway, obs = (roles.get(r) for r in ("serving", "rag", "gateway", "observability"))
    found: list[Flow] = []

    def add(name: str, source: Peer, dest: Peer, ports: tuple[Port, ...], why: str) -> None:
        found.append(Flow(name, source, dest, ports, why))

    for ns in workload:
        add("dns", Peer(ns), Peer("kube-system", DNS_PODS), (Port(53, "UDP"), Port(53, "TCP")),
            "name resolution through the cluster DNS")

    data_eps = [e for k, e in eps.items() if k in ("vector-store", "full-text", "cache")]
    data_ports = _tcp(*(p for e in data_eps for p in e.target_ports()))
    serving_eps = [e for k, e in eps.items() if k.startswith("model/") or k == "embedding"]
    serving_ports = _tcp(*(p for e in serving_eps for p in e.target_ports()))
    server_pods = Peer(serving, pods_in={COMPONENT_LABEL: ("embedding", "model-server")}) if serving else None

    if obs is not None:
        prometheus = Peer(obs, PROMETHEUS_PODS)
        add("prometheus-scrape", prometheus, Peer(ANY_NAMESPACE), (),
            "Prometheus scrapes every pod's metrics, in every namespace")
        add("prometheus-nodes", prometheus, Peer(cidrs=node_cidrs(cfg)), (),
            "kubelet/cAdvisor and host-network exporters on the nodes")
        add("observability-internal", Peer(obs), Peer(obs), (),
            "Grafana -> Prometheus/Loki/Tempo, collector -> Loki/Tempo, Alertmanager peers")
        add("observability-api-server", Peer(obs), Peer(cidrs=api_server_cidrs(cfg)), _tcp(*API_SERVER_PORTS),
            "Prometheus service discovery, the operator, dashboard/datasource sidecars")
        add("alertmanager-receivers", Peer(obs, ALERTMANAGER_PODS), _internet(), _tcp(443),
            "notifications to external receivers (Slack, PagerDuty, e-mail gateways)")
        if cfg.observability.logs == "loki" and cfg.observability.log_store.node_logs:
            add("node-logs", Peer(NODE_AGENTS, NODE_LOG_AGENT_PODS), Peer(obs, LOKI_PODS), _tcp(LOKI_PORT),
                "the node log agents push every pod's stdout/stderr to Loki")
        prometheus_ports = _tcp(*eps["prometheus"].target_ports())
        for namespace, pods, flow_name in ((KEDA, KEDA_OPERATOR_PODS, "keda-to-prometheus"),
                                           (PROMETHEUS_ADAPTER, PROMETHEUS_ADAPTER_PODS, "prometheus-adapter")):
            if namespace in platform_roles(cfg):
                add(flow_name, Peer(namespace, pods), prometheus, prometheus_ports,
                    "autoscaling queries on the models' queue depth and KV-cache use")
        collector = eps.get("otel-collector")
        if collector is not None:
            for source in (server_pods, Peer(gateway, GATEWAY_PODS) if gateway else None):
                if source is not None:
                    add("otlp", source, Peer(obs, {NAME_LABEL: "opentelemetry-collector"}),
                        _tcp(*collector.target_ports()), "traces and logs over OTLP to the collector")

    if gateway is not None:
        gw = Peer(gateway, GATEWAY_PODS)
        if server_pods is not None and serving_ports:
            add("gateway-to-serving", gw, server_pods, serving_ports, "the gateway calls the models and embeddings")
        if rag and data_ports:
            add("gateway-to-data", gw, Peer(rag), data_ports, "the gateway queries the vector store, search and cache")
        if INGRESS_NGINX in platform_roles(cfg):
            gw_ep = eps["gateway"]
            add("ingress-to-gateway", Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS), gw,
                _tcp(*gw_ep.target_ports()), "the ingress controller forwards client requests to the gateway")
            add("ingress-dns", Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS), Peer("kube-system", DNS_PODS),
                (Port(53, "UDP"), Port(53, "TCP")), "name resolution through the cluster DNS")
            add("ingress-api-server", Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS),
                Peer(cidrs=api_server_cidrs(cfg)), _tcp(*API_SERVER_PORTS), "the controller watches Ingresses")

    if rag is not None and cfg.rag.full_text is not None and ELASTIC_SYSTEM in platform_roles(cfg):
        add("eck-operator", Peer(ELASTIC_SYSTEM, ECK_OPERATOR_PODS), Peer(rag, ELASTICSEARCH_PODS),
            _tcp(*eps["full-text"].target_ports()), "the ECK operator manages the Elasticsearch cluster over its API")
    if rag is not None:
        bucket_pods = {"milvus": MILVUS_PODS, "elasticsearch": ELASTICSEARCH_PODS}
        for user in cfg.rag.bucket_users:
            add(f"{user}-object-storage", Peer(rag, bucket_pods[user]), _internet(), _tcp(443),
                f"{user} reads and writes the RAG bucket (S3/GCS and the cloud's token service)")
            if cfg.cluster.provider == "gke":
                add(f"{user}-metadata-server", Peer(rag, bucket_pods[user]), Peer(cidrs=GKE_METADATA_CIDRS),
                    (Port(80), Port(988)), "Workload Identity tokens from the GKE metadata server")
    gateway_cfg = cfg.rag.gateway
    if (gateway is not None and gateway_cfg is not None and gateway_cfg.tls_secret is None
            and (gateway_cfg.certificate is None or gateway_cfg.certificate.issuer == "acme")
            and INGRESS_NGINX in platform_roles(cfg)):
        add("acme-http01", Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS), Peer(gateway, ACME_SOLVER_PODS),
            _tcp(ACME_SOLVER_PORT), "Let's Encrypt validates the domain through cert-manager's HTTP-01 solver")
    if server_pods is not None and rag is not None and data_ports:
        add("serving-to-data", server_pods, Peer(rag), data_ports, "model servers read the data layer")
    store = cfg.rag.vector_store
    if rag is not None and store is not None and store.engine == "milvus":
        add("milvus-users", Peer(rag, MILVUS_USERS_PODS),
            Peer(rag, MILVUS_PODS, pods_in={"component": MILVUS_API_COMPONENTS}),
            _tcp(eps["vector-store"].ports[0].target_port),  # the API port (gRPC and REST share it), not metrics
            "the users Job creates the gateway's scoped Milvus user")
    if rag is not None:
        add("data-internal", Peer(rag), Peer(rag), (), "the data layer's own members talk to each other")
    if serving is not None:
        add("model-download", Peer(serving, MODEL_DOWNLOAD_PODS), _internet(), _tcp(443),
            "model weights from the Hugging Face Hub into the model cache (once per model)")
    if cfg.tenancy.internet_egress:
        for ns in workload:
            add("internet-egress", Peer(ns), _internet(), _tcp(443), "tenancy.internetEgress is on")
    return found


def egress_restricted_namespaces(cfg: StackConfig) -> list[str]:
    """Namespaces whose egress the flows confine: every workload namespace and the ingress controller's."""
    names = list(cfg.tenancy.namespaces)
    if INGRESS_NGINX in platform_roles(cfg):
        names.append(INGRESS_NGINX)
    return names


def endpoint_ports(endpoint: Endpoint) -> tuple[Port, ...]:
    return _tcp(*endpoint.target_ports())
