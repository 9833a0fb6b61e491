"""The inference gateway's names and routing table: pure functions of the typed config.

One source for every name the mesh, gateway, router, observability and policy code share: the Gateways, the
InferencePool and endpoint picker (EPP) of each model server, and the routing table (which model name a client
sends ends at which pool, with which weight). The components create objects with exactly these names; the plan
prints the table; tests/inference/test_routing_table.py checks it by hand.

Request path (docs/inference-gateway.md): client -> public Gateway (TLS, JWT, limits) or internal Gateway (the
AI gateway, in-cluster tenants) -> body-based routing copies the request body's `model` into MODEL_HEADER ->
the HTTPRoute rule matching that header -> weighted InferencePool backends (stable, canary) -> the pool's EPP
picks the endpoint (queue, KV cache, prefix cache, LoRA affinity) -> the model server pod.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from .capacity import EMBEDDING_SERVER, served_models
from .models import GatewayCertificate, StackConfig

GATEWAY_CLASS: Final = "istio"
"""The only GatewayClass the platform's Gateways and routes use (Istio's, created by istiod)."""
PUBLIC_GATEWAY: Final = "public"
"""The internet-facing Gateway (HTTPS only) in `inferenceGateway.namespace`."""
INTERNAL_GATEWAY: Final = "internal"
"""The in-cluster Gateway (ClusterIP, HTTP inside the mesh's mTLS) the AI gateway and tenants call."""
MODEL_HEADER: Final = "X-Gateway-Model-Name"
"""Header body-based routing sets from the request body's `model` (gateway-api-inference-extension v1.5.0,
pkg/bbr: `X-Gateway-Model-Name`); HTTPRoute rules match on it."""
EPP_SUFFIX: Final = "-epp"

# Engines the llm-d router's EPP scores (its modelServers.type and the metrics it reads); other engines (TGI, TEI)
# are routed to their Service without an endpoint picker.
EPP_ENGINES: Final[dict[str, str]] = {"vllm": "vllm"}


def enabled(cfg: StackConfig) -> bool:
    """Whether the stack routes model traffic through the inference gateway."""
    return cfg.inference_gateway.enabled


def rag_exposure(cfg: StackConfig) -> Literal["gateway", "ingress"] | None:
    """How the AI gateway (rag.gateway) is reached from outside: through the public Gateway, or through a
    (deprecated) Ingress; None without rag.gateway."""
    gateway = cfg.rag.gateway
    if gateway is None:
        return None
    if gateway.expose is not None:
        return gateway.expose
    return "gateway" if enabled(cfg) else "ingress"


INGRESS_DEPRECATION: Final = (
    "rag.gateway is exposed through an Ingress (ingress-nginx, retired upstream in March 2026): supported only for "
    "clusters that already run it; move to the inference gateway (mesh.enabled, inferenceGateway.enabled with "
    "edge, rag.gateway.expose: gateway); see docs/inference-gateway.md")


def pool_name(server: str) -> str:
    """The InferencePool of a model server (in serving.namespace): the server's name."""
    return server


def epp_name(server: str) -> str:
    """The endpoint picker (its Deployment, Service, ServiceAccount and ConfigMap; components/inference/router.py)
    of a server's pool: the names llm-d-router-gateway v0.10.0 gives them for a release named after the pool."""
    return server + EPP_SUFFIX


@dataclass(frozen=True)
class Backend:
    """One backend of a route: an InferencePool (picker-routed) or a Service (engines without a picker)."""

    server: str
    """Model server name (serving.models[].name, `<name>-canary`, `embedding`)."""
    kind: Literal["InferencePool", "Service"]
    name: str
    """The InferencePool's or Service's name (in serving.namespace)."""
    weight: int
    """Share of the route's requests (out of the sum of its backends' weights)."""


@dataclass(frozen=True)
class Route:
    """Where requests for one model name go."""

    model: str
    """The name clients send as the body's `model` (a model, one of its LoRA adapters, or `embedding`)."""
    base: str
    """The serving.models[] entry it belongs to (the adapter's base model; `embedding` for the embedding server)."""
    adapter: str | None
    """The LoRA adapter name when `model` is one."""
    backends: tuple[Backend, ...]

    def share(self, server: str) -> float:
        """The fraction of this route's requests that `server` gets."""
        total = sum(b.weight for b in self.backends)
        return sum(b.weight for b in self.backends if b.server == server) / total if total else 0.0


def _backend(server: str, engine: str, weight: int) -> Backend:
    if engine in EPP_ENGINES:
        return Backend(server, "InferencePool", pool_name(server), weight)
    return Backend(server, "Service", server, weight)


def routing_table(cfg: StackConfig) -> list[Route]:
    """Every model name the gateway routes, in config order: each model, then its adapters, then `embedding`.

    A canary takes `canary.weight` percent of its model's requests (weight 0 keeps it deployed and idle, 100 sends
    it everything). An adapter's requests go to the servers that load it: the stable server, and the canary too
    when it serves the same base weights (canary.model unset).
    """
    by_name = {s.model.name: s for s in served_models(cfg)}
    routes: list[Route] = []
    for model in cfg.serving.models:
        stable = by_name[model.name]
        canary = model.canary
        backends = [_backend(model.name, stable.engine, 100 - (canary.weight if canary else 0))]
        if canary is not None:
            twin = by_name[model.name + "-canary"]
            backends.append(_backend(twin.model.name, twin.engine, canary.weight))
        routes.append(Route(model.name, model.name, None, tuple(backends)))
        same_weights = canary is not None and (canary.model is None or canary.model == model.model)
        for adapter in model.adapters:
            held = tuple(b for b in backends if b.server == model.name or same_weights)
            routes.append(Route(adapter.name, model.name, adapter.name, held))
    for served in served_models(cfg):
        if served.role == EMBEDDING_SERVER:
            routes.append(Route(served.model.name, served.model.name, None,
                                (_backend(served.model.name, served.engine, 100),)))
    return routes



# ------------------------------------------------------------------------------------- the edge (gateway.py, edge.py)

OBJECTIVE_HEADER: Final = "x-llm-d-inference-objective"
"""Header the llm-d router's EPP reads the request's InferenceObjective from (llm-d/llm-d-router v0.10.0
pkg/epp/metadata/consts.go ObjectiveKey)."""
OBJECTIVE_HEADERS: Final = (OBJECTIVE_HEADER, "x-gateway-inference-objective")
"""Every name the EPP accepts for it (the same file: OldObjectiveKey is a deprecated alias it still reads), so the
public Gateway strips both from client requests."""
OBJECTIVE_CLAIM_HEADER: Final = "x-ai-platform-objective-claim"
"""Where the public Gateway's RequestAuthentication copies `edge.auth.jwt.objectiveClaim` (outputClaimToHeaders);
the public HTTPRoutes map its value to OBJECTIVE_HEADER. Stripped from client requests before JWT validation."""
GATEWAY_SUFFIX: Final = "-gateway"


def gateway_service(gateway: str) -> str:
    """The Deployment and Service (istio `gateway` chart release) behind a Gateway, in inferenceGateway.namespace."""
    return gateway + GATEWAY_SUFFIX


def internal_base_url(cfg: StackConfig) -> str:
    """The OpenAI-compatible base URL in-cluster callers (the AI gateway, tenants) use: the internal Gateway."""
    return f"http://{gateway_service(INTERNAL_GATEWAY)}.{cfg.inference_gateway.namespace}.svc.cluster.local:80/v1"


def objective_of_claim(cfg: StackConfig) -> dict[str, str]:
    """Value of `edge.auth.jwt.objectiveClaim` -> the objective it selects (objectives[].claimValues)."""
    return {value: o.name for o in cfg.inference_gateway.objectives for value in o.claim_values}


@dataclass(frozen=True)
class PublicListener:
    """One HTTPS listener of the public Gateway: a host and where its certificate comes from."""

    name: str
    """Listener (sectionName) name: `api` (edge.host) or `rag` (rag.gateway.host)."""
    host: str
    tls_secret: str
    """Secret in inferenceGateway.namespace holding the certificate (existing, or written by cert-manager)."""
    certificate: GatewayCertificate | None
    """cert-manager settings; None: `tls_secret` already exists (tlsSecret in config)."""


def public_listeners(cfg: StackConfig) -> list[PublicListener]:
    """The public Gateway's HTTPS listeners (empty without an edge)."""
    edge = cfg.inference_gateway.edge
    if not enabled(cfg) or edge is None:
        return []
    found = [PublicListener("api", edge.host, edge.tls_secret or "inference-api-tls",
                            None if edge.tls_secret else (edge.certificate or GatewayCertificate()))]
    rag = cfg.rag.gateway
    if rag is not None and rag_exposure(cfg) == "gateway":
        found.append(PublicListener("rag", rag.host, rag.tls_secret or "rag-api-tls", rag.effective_certificate))
    return found


def cert_manager_owner(cfg: StackConfig) -> Literal["inference-gateway", "rag"] | None:
    """Which component installs cert-manager (one Release per cluster): the inference gateway when one of its
    listeners needs it (it is created before Rag), else the RAG Ingress; None when nothing needs it or the cluster
    runs its own (`certificate.installCertManager: false`)."""
    if any(li.certificate is not None and li.certificate.install_cert_manager for li in public_listeners(cfg)):
        return "inference-gateway"
    rag = cfg.rag.gateway
    cert = rag.effective_certificate if rag is not None and rag_exposure(cfg) == "ingress" else None
    return "rag" if cert is not None and cert.install_cert_manager else None


def acme_through_gateway(cfg: StackConfig) -> bool:
    """Whether a public listener's certificate is an ACME one (HTTP-01 through the public Gateway's port 80)."""
    return any(li.certificate is not None and li.certificate.issuer == "acme" for li in public_listeners(cfg))
