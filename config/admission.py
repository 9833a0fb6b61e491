"""What the in-cluster admission backstop (components/admission.py) allows: registries and exempt namespaces.

Pure functions of the typed config, shared by the component, the config checks and the tests.
"""

from __future__ import annotations

import re

from .models import StackConfig
from .namespaces import INGRESS_NGINX, namespaces

CLUSTER_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")
"""The cluster's own namespaces: its add-ons (CNI, kube-proxy, CSI drivers, DNS) run privileged from the cloud's
registries; no policy judges them."""

GKE_EXEMPT_NAMESPACES = ("gmp-system", "gmp-public")
"""GKE's Managed Service for Prometheus (on by default on GKE 1.27+) runs its collectors there from Google's
registries."""

DEFAULT_REGISTRIES = (
    "docker.io",           # engines (vllm/vllm-openai, ollama/ollama), Milvus, Grafana/Loki/Tempo, Qdrant, Weaviate
    "docker.elastic.co",   # ECK operator and the Elasticsearch it runs
    "ghcr.io",             # KEDA, text-embeddings-inference, OpenTelemetry collector
    "nvcr.io",             # GPU Operator and its operands (from the ClusterPolicy)
    "public.ecr.aws",      # Redis, HAProxy (docker library mirror)
    "quay.io",             # prometheus-operator and its Prometheus/Alertmanager, node-exporter, cert-manager
    "registry.k8s.io",     # kube-state-metrics, ingress-nginx, node-feature-discovery, cluster-autoscaler
)
"""The registries the platform's charts, engines and operators pull from (tests/admission prove every image of the
shipped stacks is covered)."""

MESH_REGISTRY = "registry.istio.io"
"""Istio's images (pilot, ztunnel, install-cni, and proxyv2 for the gateways: the istio charts' 1.30.3 values.yaml
`hub`), allowed with `mesh.enabled`."""

_HAS_REGISTRY = re.compile(r"^[^/]*[.:][^/]*/")


def normalized_image(image: str) -> str:
    """The image with its registry spelled out, as the container runtime resolves it: `python:3` is
    `docker.io/library/python:3`, `vllm/vllm-openai:v1` is `docker.io/vllm/vllm-openai:v1`; the first path
    segment is a registry when it has a dot or a port, or is `localhost`. Mirrored by the CEL of the policy."""
    if _HAS_REGISTRY.match(image) or image.startswith("localhost/"):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def registry_allowed(image: str, registries: tuple[str, ...]) -> bool:
    """Whether an image comes from one of the registries (or registry/path prefixes)."""
    found = normalized_image(image)
    return any(found.startswith(prefix + "/") for prefix in registries)


def allowed_registries(cfg: StackConfig) -> tuple[str, ...]:
    """`tenancy.admission.allowedRegistries`, else the platform's registries plus the gateway image's."""
    configured = cfg.tenancy.admission.allowed_registries
    if configured is not None:
        return configured
    found = list(DEFAULT_REGISTRIES)
    if cfg.mesh.enabled:
        found.append(MESH_REGISTRY)
    gateway = cfg.rag.gateway
    if gateway is not None and not registry_allowed(gateway.image, tuple(found)):
        found.append(normalized_image(gateway.image).split("/", 1)[0])
    return tuple(found)


def exempt_namespaces(cfg: StackConfig) -> tuple[str, ...]:
    """Namespaces no policy judges: the cluster's own and `tenancy.admission.exemptNamespaces` (its default)."""
    extra = cfg.tenancy.admission.exempt_namespaces
    if extra is None:
        extra = GKE_EXEMPT_NAMESPACES if cfg.cluster.provider == "gke" else ()
    return tuple(dict.fromkeys((*CLUSTER_NAMESPACES, *extra)))


def privileged_namespaces(cfg: StackConfig) -> tuple[str, ...]:
    """Namespaces whose Pod Security level is privileged (the node agents': gpu-operator, observability-node; a
    tenant namespace only when its `podSecurity` says so): there pods may be privileged and tolerate the GPU taint
    without requesting a GPU (the GPU Operator's operands and node-exporter run on every GPU node)."""
    return tuple(spec.name for spec in namespaces(cfg) if spec.pod_security == "privileged")


def load_balancer_namespaces(cfg: StackConfig) -> tuple[str, ...]:
    """Namespaces where a Service may be a LoadBalancer: the ingress controller's, when the platform installs it, and
    the inference gateway's when it has a public Gateway (its Envoy Service, components/inference/gateway.py)."""
    gw = cfg.inference_gateway
    public = gw.namespace if gw.enabled and gw.edge is not None else None
    return tuple(spec.name for spec in namespaces(cfg) if spec.name in (INGRESS_NGINX, public))
