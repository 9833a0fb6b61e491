"""Who may talk to whom: the platform's traffic flows, from which the NetworkPolicies are built.

Pure functions of the typed config. Every namespace the program creates (workload and platform
namespaces alike) denies all ingress and egress by default; each `Flow` below is one explicit allow,
rendered by the Tenancy component as an egress rule in the source namespace and an ingress rule in
the destination namespace. A flow whose source is an IP block (the API server calling a webhook,
internet clients reaching the ingress controller) has only the ingress side; one whose destination
is an IP block only the egress side. Ports are the pods' container ports (`config/endpoints.py` for
the platform's own services, the constants below for the operators' charts): a NetworkPolicy port is
the pod's port, not the Service's.

Pods on the host network (node-exporter, and any operand an operator runs with `hostNetwork`) are not
subject to NetworkPolicy: their traffic is the node's, which is why Prometheus reaches node ports
through `node_cidrs`.

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
- backups (`rag.backup`): milvus-backup -> the internet on 443 (the bucket) and, on GKE, the metadata
  server; the volume-snapshot CronJob -> the API server; the Elasticsearch SLM Job needs only
  Elasticsearch (free traffic inside the data namespace);
- the KEDA operator (`keda`) and prometheus-adapter (`prometheus-adapter`) -> Prometheus (9090): they
  evaluate the models' queue-depth and KV-cache queries (platform namespaces are not egress-fenced,
  so only Prometheus' ingress side is a policy);
- the Milvus users Job (pod label `ai-platform/role: milvus-users`) -> Milvus' proxy/standalone pods on
  19530 (REST API): it creates the gateway's scoped user with the root password;
- model-download jobs (pod label `ai-platform/role: model-download`) -> the internet on 443: model
  weights come from the Hugging Face Hub once, into the model-cache volume; model servers never
  reach the internet. `tenancy.internetEgress: true` opens 443 to the internet for every workload
  pod instead (not for production).

Platform (operator) namespaces, each default-deny too:

- every platform namespace -> cluster DNS; Prometheus -> every pod (the scrape flow above);
- operators -> the API server (`api-server`, every pod of the namespace: operators, their Helm hook
  Jobs, the GPU Operator's operands);
- the API server -> each admission webhook and aggregated API (one flow each): cert-manager's webhook
  (10250), ECK's operator (9443), KEDA's admission webhooks (9443) and metrics API server (6443),
  ingress-nginx's admission (8443), prometheus-adapter (6443). The prometheus-operator's webhooks are
  off (kube-prometheus-stack values) and the GPU Operator serves none;
- KEDA's metrics API server -> the KEDA operator's gRPC metrics service (9666);
- cert-manager's controller -> the internet on 443 (the ACME server) and 80 (its HTTP-01 self check
  of the public host), and -> the ingress controller on 80 (the same self check when the cloud
  load balancer hairpins it back into the cluster); only with an ACME issuer;
- clients (`rag.gateway.ingress.sourceRanges`) -> the ingress controller on 80/443;
- the inference gateway (`inferenceGateway`, its namespace is a platform namespace): clients
  (`edge.sourceRanges`) -> the public Gateway's Envoy pods on 443 (and 80 with an ACME certificate: HTTP-01 and
  the redirect to HTTPS); the AI gateway and the tenant namespaces named by `objectives[].namespaces` -> the
  internal Gateway's pods on 80; the public Gateway -> the AI gateway (its API port, with `expose: gateway`); both
  Gateways -> the model and embedding servers (API port) and the endpoint
  pickers (ext_proc 9002); the gateway namespace's pods talk to each other (Envoy -> body-based routing 9004,
  -> cert-manager's HTTP-01 solver); Envoy -> istiod (xDS 15012); istiod -> the internet on 443 (it fetches the
  JWT issuer's JWKS for RequestAuthentication); cert-manager -> the public Gateway on 80 (HTTP-01 self check);
- the GPU Operator reaches nothing outside the cluster, except its driver containers where the
  operator installs the driver (existing clusters without `gpuStack.hostDriver`): they download
  packages over 80/443.

The mesh (`mesh.enabled`, Istio ambient in `mesh.namespace`; docs/mesh.md):

- every enrolled namespace (`config.namespaces.mesh_enrolled`) and ztunnel -> istiod on 15012 (xDS and
  certificates; gateway and waypoint proxies run in enrolled namespaces);
- the API server -> istiod on 15017 (its validating and injection webhooks); istiod -> the API server
  (the `api-server` flow of every platform namespace), and -> the internet on 443 when the edge
  validates JWTs (istiod fetches the issuer's JWKS: PILOT_JWT_ENABLE_REMOTE_JWKS defaults to istiod);
- the kubelet's probes of enrolled pods arrive from 169.254.7.127 (istio-cni SNATs them there);
- between enrolled pods, ztunnel tunnels every connection over HBONE to the destination pod's port
  15008: every flow between two enrolled namespaces admits 15008 beside its own ports, on both sides
  (`with_hbone`). ztunnel's and istio-cni's own pods (pod network: the cni chart sets hostNetwork only
  with ambient.shareHostNetworkNamespace) need only istiod (ztunnel), the API server (istio-cni), DNS
  and Prometheus' scrape; the pods' redirected traffic leaves from each pod's own network namespace and
  is judged by that pod's NetworkPolicies.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from .endpoints import ENGINE_PORTS, Endpoint, endpoints
from .engines import KV_EVENTS_PORT
from .gpu_stack import ownership
from .inference import (
    INTERNAL_GATEWAY,
    PUBLIC_GATEWAY,
    acme_through_gateway,
    gateway_service,
    rag_exposure,
    routing_table,
)
from .models import StackConfig
from .namespaces import (
    CERT_MANAGER,
    ELASTIC_SYSTEM,
    GPU_OPERATOR,
    INGRESS_NGINX,
    KEDA,
    KUEUE,
    MESH_ROLE,
    NODE_AGENTS,
    PROMETHEUS_ADAPTER,
    component_namespaces,
    mesh_enrolled,
    namespaces,
    platform_roles,
)
from .router import EXT_PROC_PORT, kv_events, pools

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
# The inference gateway: Envoy pods of each Gateway (istio `gateway` chart: `app.kubernetes.io/name: <release>`),
# body-based routing (its chart: `app: <bbr.name>`), istiod (istio istiod chart 1.30.3: `app: istiod`, xDS with
# mutual TLS on 15012).
ISTIOD_PODS = {"app": "istiod"}
ISTIOD_XDS_PORT = 15012
HTTPS_PORT = 443
HTTP_PORT = 80


def inference_gateway_pods(gateway: str) -> dict[str, str]:
    """Pod labels of a Gateway's Envoy Deployment (PUBLIC_GATEWAY or INTERNAL_GATEWAY)."""
    return {NAME_LABEL: gateway_service(gateway)}


# The inference gateway's endpoint pickers (components/inference/router.py).
EPP_PODS = {COMPONENT_LABEL: "endpoint-picker"}
# Pods of the scheduled backups (components/rag/backup.py), by rag.backup kind.
BACKUP_ROLES = {"elasticsearch": "search-snapshot-policy", "milvus": "milvus-backup", "volumes": "volume-snapshots"}
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
# Operators' pods and the ports the API server calls them on (admission webhooks, aggregated APIs): the
# container port behind each webhook Service / APIService of the rendered charts (tests/tenancy/
# test_platform_network.py resolves every one of them against these flows).
# cert-manager deploy/charts/cert-manager values.yaml @ v1.21.1 (webhook.securePort 10250; its comment: GKE private
# clusters let the control plane reach nodes only on 443 and 10250).
CERT_MANAGER_WEBHOOK_PODS = {NAME_LABEL: "webhook", "app.kubernetes.io/instance": "cert-manager"}
CERT_MANAGER_WEBHOOK_PORT = 10250
CERT_MANAGER_CONTROLLER_PODS = {NAME_LABEL: "cert-manager", COMPONENT_LABEL: "controller"}
# elastic/cloud-on-k8s deploy/eck-operator/values.yaml @ v3.5.0 (webhook.port 9443).
ECK_WEBHOOK_PORT = 9443
# kedacore/charts keda @ v2.20.2: webhooks.port (default 9443), service.portHttpsTarget 6443, and the operator's
# gRPC metrics service on 9666 (templates/metrics-server/deployment.yaml --metrics-service-address).
KEDA_WEBHOOK_PODS = {"app": "keda-admission-webhooks"}
KEDA_WEBHOOK_PORT = 9443
KEDA_METRICS_API_PODS = {"app": "keda-operator-metrics-apiserver"}
KEDA_METRICS_API_PORT = 6443
KEDA_METRICS_SERVICE_PORT = 9666
# kubernetes/ingress-nginx charts/ingress-nginx/values.yaml @ helm-chart-4.15.1 (controller.admissionWebhooks.port).
INGRESS_ADMISSION_PORT = 8443
INGRESS_CLIENT_PORTS = (80, 443)
# prometheus-community/helm-charts prometheus-adapter values.yaml @ prometheus-adapter-5.3.0 (listenPort).
PROMETHEUS_ADAPTER_PORT = 6443
# kubernetes-sigs/kueue charts/kueue @ v0.19.2 (values.yaml webhookService targetPort 9443, manager.yaml container
# ports webhook-server 9443 and visibility 8082; pod labels from _helpers.tpl kueue.selectorLabels).
KUEUE_MANAGER_PODS = {NAME_LABEL: "kueue", "control-plane": "controller-manager"}
KUEUE_WEBHOOK_PORT = 9443
KUEUE_VISIBILITY_PORT = 8082
# (namespace, flow name, pods, port, why) of every admission webhook and aggregated API the API server calls
# (container ports of the rendered charts; tests/tenancy/test_platform_network.py resolves each).
API_SERVER_CALLS: tuple[tuple[str, str, Mapping[str, str], int, str], ...] = (
    (CERT_MANAGER, "cert-manager-webhook", CERT_MANAGER_WEBHOOK_PODS, CERT_MANAGER_WEBHOOK_PORT,
     "admission of cert-manager resources (validating and mutating webhook)"),
    (ELASTIC_SYSTEM, "eck-webhook", ECK_OPERATOR_PODS, ECK_WEBHOOK_PORT,
     "admission of Elasticsearch and other ECK resources (validating webhook)"),
    (KEDA, "keda-admission-webhook", KEDA_WEBHOOK_PODS, KEDA_WEBHOOK_PORT,
     "admission of ScaledObjects and TriggerAuthentications (validating webhook)"),
    (KEDA, "keda-metrics-api", KEDA_METRICS_API_PODS, KEDA_METRICS_API_PORT,
     "the external.metrics.k8s.io APIService the HPAs of ScaledObjects read"),
    (INGRESS_NGINX, "ingress-admission-webhook", INGRESS_CONTROLLER_PODS, INGRESS_ADMISSION_PORT,
     "admission of Ingresses (validating webhook of the controller)"),
    (PROMETHEUS_ADAPTER, "prometheus-adapter-api", PROMETHEUS_ADAPTER_PODS, PROMETHEUS_ADAPTER_PORT,
     "the custom.metrics.k8s.io APIService the models' HPAs read"),
    (KUEUE, "kueue-webhook", KUEUE_MANAGER_PODS, KUEUE_WEBHOOK_PORT,
     "admission of Jobs and Kueue objects (mutating and validating webhooks; queueing.enabled)"),
    (KUEUE, "kueue-visibility-api", KUEUE_MANAGER_PODS, KUEUE_VISIBILITY_PORT,
     "the visibility.kueue.x-k8s.io APIService (pending workloads; queueing.enabled)"),
)
# Istio 1.30.3 (istiod chart templates/deployment.yaml and service.yaml, labels `app: istiod`; ztunnel chart
# templates/daemonset.yaml, `app: ztunnel`): xDS and the CA on 15012, the webhooks on container port 15017 (Service
# port 443). ztunnel tunnels pod-to-pod traffic over HBONE to port 15008 of the destination pod, and istio-cni SNATs
# the kubelet's probes to 169.254.7.127 (cni/README.md HOST_PROBE_SNAT_IP; istio.io "Ambient and Kubernetes
# NetworkPolicy": both must be allowed by NetworkPolicies).
ISTIOD_PODS = {"app": "istiod"}
ZTUNNEL_PODS = {"app": "ztunnel"}
ISTIOD_XDS_PORT = 15012
ISTIOD_WEBHOOK_PORT = 15017
HBONE_PORT = 15008
PROBE_SNAT_CIDR = "169.254.7.127/32"
# GKE's own firewall lets a private cluster's control plane reach nodes only on 443 and 10250 (cert-manager's
# values comment, GKE "Add firewall rules for specific use cases"): the GKE cluster opens the rest of these
# (istiod's webhook port too: Istio's GKE platform notes ask for a 15017 rule on private clusters).
API_SERVER_CALLED_PORTS = tuple(sorted({port for _, _, _, port, _ in API_SERVER_CALLS} | {ISTIOD_WEBHOOK_PORT}))

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


@dataclass(frozen=True)
class EksSubnets:
    """The CIDRs of the VPC the program creates for EKS, one subnet of each kind per zone."""

    private: tuple[str, ...]
    """Nodes and pods (the VPC CNI gives every pod a VPC address): the big blocks."""
    public: tuple[str, ...]
    """Load balancers and the NAT gateway."""
    control_plane: tuple[str, ...]
    """One /28 per zone for the control plane's cross-account ENIs only (the cluster's `vpc_config`
    subnets): the API server's addresses as pods see them, and the source of its webhook calls."""


# AWS's smallest subnet: 11 usable addresses (AWS reserves 5). EKS needs at least 6 free in each cluster subnet and
# recommends 16 (EKS user guide, "View Amazon EKS networking requirements for VPC and subnets"); it spreads its few
# ENIs over all the zones' subnets, so /28s hold them with room for the new ones an upgrade adds.
CONTROL_PLANE_PREFIX = 28


def eks_subnets(vpc_cidr: str, zones: int) -> EksSubnets:
    """Carve the VPC: private blocks, public blocks from the spare one, control-plane /28s from what is left.

    Private subnets get the big blocks: the VPC is split into the smallest power of two of blocks that
    leaves one spare; the spare block is split again for the public subnets. The control-plane /28s
    are the highest free ones, so adding them to an existing VPC moves no other subnet.
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    bits = math.ceil(math.log2(zones + 1))
    blocks = list(vpc.subnets(prefixlen_diff=bits))
    private = blocks[:zones]
    public = list(blocks[-1].subnets(prefixlen_diff=max(1, math.ceil(math.log2(zones)))))[:zones]
    if public[0].prefixlen > CONTROL_PLANE_PREFIX:  # AWS subnets are /16../28
        raise ValueError(f"ai-platform:cluster.eks.vpcCidr {vpc_cidr} is too small for {zones} zones "
                         f"(public subnets would be /{public[0].prefixlen})")
    used = [*private, *public]
    # The highest free /28s, walking down from the top of the VPC (enumerating every /28 of a /16 is 4,096 objects).
    free: list[ipaddress.IPv4Network] = []
    size = 2 ** (32 - CONTROL_PLANE_PREFIX)
    top = int(vpc.broadcast_address) + 1 - size
    for start in range(top, int(vpc.network_address) - 1, -size) if vpc.prefixlen <= CONTROL_PLANE_PREFIX else ():
        candidate = ipaddress.IPv4Network((start, CONTROL_PLANE_PREFIX))
        if not any(candidate.overlaps(u) for u in used):
            free.append(candidate)
            if len(free) == zones:
                break
    if len(free) < zones:
        raise ValueError(f"ai-platform:cluster.eks.vpcCidr {vpc_cidr} leaves no room for {zones} control-plane "
                         f"/{CONTROL_PLANE_PREFIX} subnets; use a larger VPC (a /16 to /20)")
    control_plane = sorted(free)
    return EksSubnets(tuple(map(str, private)), tuple(map(str, public)), tuple(map(str, control_plane)))


def api_server_cidrs(cfg: StackConfig) -> tuple[str, ...]:
    """Where the API server's endpoints live, as pods see them after the Service DNAT; also where its
    calls to webhooks and aggregated APIs come from."""
    cluster = cfg.cluster
    if cluster.provider == "gke" and cluster.gcp is not None and cluster.gcp.private_nodes:
        return (cluster.gcp.master_ipv4_cidr,)
    if cluster.provider == "eks" and not (cluster.eks and cluster.eks.subnet_ids):
        # The control plane's ENIs sit in its own /28s (components/cluster/eks/network.py).
        return eks_subnets(cluster.eks.vpc_cidr if cluster.eks else "10.0.0.0/16", len(cluster.zones)).control_plane
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

    for ns in created_namespaces(cfg):
        add("dns", Peer(ns), Peer("kube-system", DNS_PODS), (Port(53, "UDP"), Port(53, "TCP")),
            "name resolution through the cluster DNS")
    found.extend(platform_flows(cfg))

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
        # With the inference gateway the AI gateway calls models only through its internal Gateway
        # (ai-gateway-to-inference): canary weights, adapters and the endpoint picker apply to it too.
        if server_pods is not None and serving_ports and not cfg.inference_gateway.enabled:
            add("gateway-to-serving", gw, server_pods, serving_ports, "the gateway calls the models and embeddings")
        if rag and data_ports:
            add("gateway-to-data", gw, Peer(rag), data_ports, "the gateway queries the vector store, search and cache")
        if INGRESS_NGINX in platform_roles(cfg):
            gw_ep = eps["gateway"]
            add("ingress-to-gateway", Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS), gw,
                _tcp(*gw_ep.target_ports()), "the ingress controller forwards client requests to the gateway")

    found.extend(_inference_gateway_flows(cfg, server_pods, serving_ports, gateway))

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
    if rag is not None:
        # Backups (rag.backup): the SLM Job and milvus-backup reach Elasticsearch/Milvus through data-internal.
        if "milvus" in cfg.backups:
            backup_pods = Peer(rag, {ROLE_LABEL: BACKUP_ROLES["milvus"]})
            add("milvus-backup-object-storage", backup_pods, _internet(), _tcp(443),
                "milvus-backup copies segments between bucket prefixes (S3/GCS and the cloud's token service)")
            if cfg.cluster.provider == "gke":
                add("milvus-backup-metadata-server", backup_pods, Peer(cidrs=GKE_METADATA_CIDRS),
                    (Port(80), Port(988)), "Workload Identity tokens from the GKE metadata server")
        if "volumes" in cfg.backups:
            add("volume-snapshots-api-server", Peer(rag, {ROLE_LABEL: BACKUP_ROLES["volumes"]}),
                Peer(cidrs=api_server_cidrs(cfg)), _tcp(*API_SERVER_PORTS),
                "the snapshot CronJob creates and prunes VolumeSnapshots through the API server")
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
    found.extend(router_flows(cfg))
    if cfg.tenancy.internet_egress:
        for ns in workload:
            add("internet-egress", Peer(ns), _internet(), _tcp(443), "tenancy.internetEgress is on")
    for ns in mesh_enrolled(cfg):
        add("kubelet-probes", Peer(cidrs=(PROBE_SNAT_CIDR,)), Peer(ns), (),
            "the kubelet's probes of pods in the ambient mesh (istio-cni SNATs them to 169.254.7.127)")
    return found


def _inference_gateway_flows(cfg: StackConfig, server_pods: Peer | None, serving_ports: tuple[Port, ...],
                             ai_gateway_ns: str | None) -> list[Flow]:
    """The inference gateway's flows (module docstring)."""
    gw = cfg.inference_gateway
    if not gw.enabled:
        return []
    ns = gw.namespace
    gateways = [INTERNAL_GATEWAY] + ([PUBLIC_GATEWAY] if gw.edge is not None else [])
    envoy = Peer(ns, pods_in={NAME_LABEL: tuple(gateway_service(g) for g in gateways)})
    found = [Flow("inference-gateway-internal", Peer(ns), Peer(ns), (),
                  "Envoy -> body-based routing (ext_proc) and cert-manager's HTTP-01 solver, in the gateway namespace")]
    if gw.edge is not None:
        public = Peer(ns, inference_gateway_pods(PUBLIC_GATEWAY))
        ports = _tcp(HTTPS_PORT, *((HTTP_PORT,) if acme_through_gateway(cfg) else ()))
        found.append(Flow("inference-clients", Peer(cidrs=tuple(gw.edge.source_ranges)), public, ports,
                          "clients of the public API (inferenceGateway.edge.sourceRanges)"))
        if acme_through_gateway(cfg):
            found.append(Flow("acme-self-check-gateway", Peer(CERT_MANAGER, CERT_MANAGER_CONTROLLER_PODS), public,
                              _tcp(HTTP_PORT), "cert-manager's HTTP-01 self check through the public Gateway"))
    rag_ep = endpoints(cfg).get("gateway")
    if gw.edge is not None and ai_gateway_ns is not None and rag_ep is not None and rag_exposure(cfg) == "gateway":
        found.append(Flow("inference-gateway-to-ai-gateway", Peer(ns, inference_gateway_pods(PUBLIC_GATEWAY)),
                          Peer(ai_gateway_ns, GATEWAY_PODS), _tcp(*rag_ep.target_ports()),
                          "the public Gateway forwards the RAG API host to the AI gateway"))
    internal = Peer(ns, inference_gateway_pods(INTERNAL_GATEWAY))
    callers = sorted({n for o in gw.objectives for n in o.namespaces})
    if ai_gateway_ns is not None:
        found.append(Flow("ai-gateway-to-inference", Peer(ai_gateway_ns, GATEWAY_PODS), internal, _tcp(HTTP_PORT),
                          "the AI gateway calls every model through the internal Gateway"))
    for tenant in callers:
        found.append(Flow("tenant-to-inference", Peer(tenant), internal, _tcp(HTTP_PORT),
                          "a tenant (inferenceGateway.objectives[].namespaces) calls models through the internal "
                          "Gateway"))
    if server_pods is not None and serving_ports:
        found.append(Flow("inference-gateway-to-serving", envoy, server_pods, serving_ports,
                          "the Gateways forward requests to the endpoint the picker chose (or the model Service)"))
    if any(b.kind == "InferencePool" for r in routing_table(cfg) for b in r.backends):
        found.append(Flow("inference-gateway-to-epp", envoy, Peer(cfg.serving.namespace, EPP_PODS),
                          _tcp(EXT_PROC_PORT), "the Gateways ask each pool's endpoint picker (ext_proc)"))
    # The Envoy pods reach istiod (xDS, certificates) through the mesh's `istio-xds` flow of every enrolled namespace.
    return found


def router_flows(cfg: StackConfig) -> list[Flow]:
    """The endpoint pickers' own flows (config/router.py; the Gateways' calls to them and to the pods they pick are
    in `_inference_gateway_flows`): they watch the API server (pool, pods, objectives), scrape the pool's pods and,
    for precise prefix-cache scoring, subscribe to their KV events and tokenize through their render endpoint.
    Prometheus reaches the pickers' metrics (9090) through `prometheus-scrape`."""
    served = pools(cfg)
    if not served:
        return []
    serving = cfg.serving.namespace
    pickers = Peer(serving, EPP_PODS)
    model_pods = Peer(serving, MODEL_SERVER_PODS)
    engine_ports = tuple(ENGINE_PORTS[s.engine] for s in served)
    precise = any(kv_events(cfg, s) for s in served)
    return [
        Flow("epp-api-server", pickers, Peer(cidrs=api_server_cidrs(cfg)), _tcp(*API_SERVER_PORTS),
             "the endpoint pickers watch their InferencePool, its pods and InferenceObjectives"),
        Flow("epp-to-pools", pickers, model_pods, _tcp(*engine_ports, *((KV_EVENTS_PORT,) if precise else ())),
             "the endpoint pickers scrape the pool's engine metrics"
             + (", tokenize prompts and subscribe to KV-cache events (precise prefix-cache scoring)"
                if precise else "")),
    ]


def with_hbone(cfg: StackConfig, flow: Flow) -> Flow:
    """The flow as the NetworkPolicies must admit it: a connection between two enrolled namespaces travels as HBONE
    to the destination pod's port 15008 (ztunnel), so that port joins the flow's ports (none: every port already)."""
    enrolled = mesh_enrolled(cfg)
    source, dest = flow.source, flow.dest
    if (not flow.ports or source.is_ip or dest.is_ip or source.namespace not in enrolled
            or not (dest.namespace in enrolled or dest.namespace == ANY_NAMESPACE)):
        return flow
    return replace(flow, ports=_tcp(*(p.port for p in flow.ports if p.protocol == "TCP"), HBONE_PORT)
                   + tuple(p for p in flow.ports if p.protocol != "TCP"))


def egress_restricted_namespaces(cfg: StackConfig) -> list[str]:
    """Namespaces whose egress the flows confine: every namespace the program creates."""
    return created_namespaces(cfg)


def platform_flows(cfg: StackConfig) -> list[Flow]:
    """The operators' flows: API server both ways, their own internal and external needs (module docstring)."""
    platform = platform_roles(cfg)
    api_server = Peer(cidrs=api_server_cidrs(cfg))
    found: list[Flow] = []

    def add(name: str, source: Peer, dest: Peer, ports: tuple[Port, ...], why: str) -> None:
        found.append(Flow(name, source, dest, ports, why))

    for ns in platform:
        add("api-server", Peer(ns), api_server, _tcp(*API_SERVER_PORTS),
            "the operator (and its Helm hook Jobs and operands) watch and write the Kubernetes API")
    for ns, name, pods, port, why in API_SERVER_CALLS:
        if ns in platform:
            add(name, api_server, Peer(ns, pods), _tcp(port), f"the API server calls it: {why}")
    if KEDA in platform:
        add("keda-metrics-service", Peer(KEDA, KEDA_METRICS_API_PODS), Peer(KEDA, KEDA_OPERATOR_PODS),
            _tcp(KEDA_METRICS_SERVICE_PORT), "the metrics API server asks the operator for scaler values over gRPC")
    gateway = cfg.rag.gateway
    cert = gateway.effective_certificate if gateway is not None else None
    if CERT_MANAGER in platform and ((cert is not None and cert.issuer == "acme") or acme_through_gateway(cfg)):
        add("acme", Peer(CERT_MANAGER, CERT_MANAGER_CONTROLLER_PODS), _internet(), _tcp(80, 443),
            "the ACME server (443) and the HTTP-01 self check of the public host (80)")
        if INGRESS_NGINX in platform:
            add("acme-self-check", Peer(CERT_MANAGER, CERT_MANAGER_CONTROLLER_PODS),
                Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS), _tcp(80),
                "the HTTP-01 self check when the load balancer's address hairpins back into the cluster")
    if INGRESS_NGINX in platform and gateway is not None:
        add("clients", Peer(cidrs=tuple(gateway.ingress.source_ranges)), Peer(INGRESS_NGINX, INGRESS_CONTROLLER_PODS),
            _tcp(*INGRESS_CLIENT_PORTS), "clients of the public API (rag.gateway.ingress.sourceRanges)")
    mesh = next((ns for ns, role in platform.items() if role == MESH_ROLE), None)
    if mesh is not None:
        istiod = Peer(mesh, ISTIOD_PODS)
        add("istiod-webhook", api_server, istiod, _tcp(ISTIOD_WEBHOOK_PORT),
            "the API server calls it: validation of Istio resources and the gateway injection webhook")
        add("ztunnel-xds", Peer(mesh, ZTUNNEL_PODS), istiod, _tcp(ISTIOD_XDS_PORT),
            "ztunnel gets its configuration and the workloads' certificates from istiod")
        for ns in mesh_enrolled(cfg):
            add("istio-xds", Peer(ns), istiod, _tcp(ISTIOD_XDS_PORT),
                "gateway and waypoint proxies in the mesh get their configuration and certificates from istiod")
        edge = cfg.inference_gateway.edge
        if cfg.inference_gateway.enabled and edge is not None and edge.auth.mode == "jwt":
            add("istiod-jwks", istiod, _internet(), _tcp(443),
                "istiod fetches the JWT issuer's keys (jwksUri) for the edge's RequestAuthentication")
    if GPU_OPERATOR in platform and ownership(cfg).driver == "operator":
        # The driver DaemonSet's pods (NVIDIA/gpu-operator assets/state-driver: `app: nvidia-driver-daemonset`).
        add("gpu-driver-packages", Peer(GPU_OPERATOR, {"app": "nvidia-driver-daemonset"}), _internet(), _tcp(80, 443),
            "the operator's driver containers install kernel headers and packages from the distribution mirrors")
    return found


def created_namespaces(cfg: StackConfig) -> list[str]:
    """Every namespace the program creates: each is default-deny."""
    return [spec.name for spec in namespaces(cfg)]


def endpoint_ports(endpoint: Endpoint) -> tuple[Port, ...]:
    return _tcp(*endpoint.target_ports())
