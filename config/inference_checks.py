"""Checks of the mesh, the inference gateway and the per-model routing settings (adapters, canaries, objectives)
that need several config groups at once. Called by config.semantics.check; each names its key path."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import partial

from pydantic import ValidationError

from .admission import MESH_REGISTRY, registry_allowed
from .capacity import CANARY_SUFFIX, canary_model
from .errors import Issue, key_path
from .inference import EPP_ENGINES, rag_exposure
from .models import StackConfig
from .namespaces import platform_namespace_names, platform_roles
from .pool_scaling import pooled
from .router import EPP_IMAGE, kv_events, pools


def canary_issues(cfg: StackConfig) -> list[Issue]:
    """Canaries that cannot be built (checked first: every later check plans the canary servers)."""
    issues = []
    for i, model in enumerate(cfg.serving.models):
        if model.canary is None:
            continue
        try:
            canary_model(model)
        except ValidationError as exc:
            detail = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
            issues.append(Issue(key_path("serving", "models", i, "canary"), f"the canary of '{model.name}' is not a "
                                                                            f"valid server: {detail}"))
    return issues


def autoscaling_issues(cfg: StackConfig) -> Iterator[Issue]:
    """Scale from zero behind an InferencePool and the fallback's replica bounds (config/pool_scaling.py). A
    fallback scales only when its model does (its max is capped at replicas.max), so the model's own observability
    check covers it; the embedding server without observability scales on CPU."""
    for i, model in enumerate(cfg.serving.models):
        path = partial(key_path, "serving", "models", i)
        if (model.autoscaling.scale_to_zero and pooled(cfg, model.engine)
                and not cfg.inference_gateway.router.flow_control):
            yield Issue(path("autoscaling", "scaleToZero"), (
                f"'{model.name}' is routed through an InferencePool whose endpoint picker answers 503 while the pool "
                "has no endpoint; only its flow-control queue holds the first requests while a replica starts: set "
                "inferenceGateway.router.flowControl: true, or replicas.min >= 1"))
        most = model.fallback_max_replicas
        if most is not None:
            if model.fallback_pool is None:
                yield Issue(path("fallbackMaxReplicas"), "only used with fallbackPool (remove it)")
            elif most < model.replicas.min:
                yield Issue(path("fallbackMaxReplicas"), (
                    f"{most} is below replicas.min ({model.replicas.min}): the fallback always keeps replicas.min"))
# The cluster's own namespaces (config.semantics.RESERVED_NAMESPACES, not imported: semantics imports this module).
_CLUSTER_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def mesh_issues(cfg: StackConfig) -> Iterator[Issue]:
    """`mesh.namespace` holds privileged node agents and is the mesh's root namespace (its PeerAuthentication
    applies mesh-wide): it must be a namespace of its own, never a tenant's, an operator's or the cluster's."""
    mesh = cfg.mesh
    if not mesh.enabled:
        return
    # The operators' namespaces as they would be without the mesh (the mesh would take over a name it shares).
    without_mesh = cfg.model_copy(update={"mesh": mesh.model_copy(update={"enabled": False})})
    others = {**dict.fromkeys(cfg.tenancy.namespaces, "a workload namespace (tenancy.namespaces)"),
              **dict.fromkeys(_CLUSTER_NAMESPACES, "the cluster's own namespace"),
              **{ns: f"the namespace of {role}" for ns, role in platform_roles(without_mesh).items()},
              **({cfg.inference_gateway.namespace: "the inference gateway's namespace"}
                 if cfg.inference_gateway.enabled else {})}
    registries = cfg.tenancy.admission.allowed_registries
    istio_image = f"{MESH_REGISTRY}/release/pilot:1.30.3"
    if cfg.tenancy.admission.enabled and registries is not None and not registry_allowed(istio_image, registries):
        yield Issue(key_path("tenancy", "admission", "allowedRegistries"), (
            f"the mesh runs Istio's images from {MESH_REGISTRY}/release (istiod, ztunnel, istio-cni, gateway "
            f"proxies) and the admission policy would refuse them: add {MESH_REGISTRY}/release"))
    if mesh.namespace in others:
        yield Issue(key_path("mesh", "namespace"), (
            f"'{mesh.namespace}' is {others[mesh.namespace]}; Istio's control plane and privileged node agents need a "
            f"namespace of their own (default istio-system)"))


def check(cfg: StackConfig) -> Iterator[Issue]:
    yield from autoscaling_issues(cfg)
    gw = cfg.inference_gateway
    mesh = cfg.mesh
    protected = cfg.cluster.deletion_protection
    yield from mesh_issues(cfg)
    if gw.enabled and not mesh.enabled:
        yield Issue(key_path("inferenceGateway", "enabled"), "the inference gateway runs on Istio ambient: set "
                                                             "mesh.enabled: true (ai-platform:mesh)")
    rag_gateway = cfg.rag.gateway
    if rag_gateway is not None:
        if rag_gateway.expose == "gateway" and not gw.enabled:
            yield Issue(key_path("rag", "gateway", "expose"), "expose: gateway needs inferenceGateway.enabled: true "
                                                              "(with edge); or use ingress (deprecated)")
        if rag_exposure(cfg) == "gateway" and "ingress" in rag_gateway.model_fields_set:
            yield Issue(key_path("rag", "gateway", "ingress"), (
                "the gateway is exposed through the inference gateway's public Gateway (expose: gateway): the "
                "Ingress settings would be ignored; remove them (limits and source ranges: inferenceGateway.edge)"))
    names = Counter(m.name for m in cfg.serving.models)
    for i, model in enumerate(cfg.serving.models):
        path = partial(key_path, "serving", "models", i)
        if model.name.endswith(CANARY_SUFFIX) and model.name.removesuffix(CANARY_SUFFIX) in names:
            yield Issue(path("name"), f"'{model.name}' is the name of the canary of "
                                      f"'{model.name.removesuffix(CANARY_SUFFIX)}'; choose another name")
        if model.adapters and model.engine != "vllm":
            yield Issue(path("adapters"), f"LoRA adapters are served by vllm only; '{model.name}' runs {model.engine}")
        for j, adapter in enumerate(model.adapters):
            names[adapter.name] += 1
            if names[adapter.name] > 1:
                yield Issue(path("adapters", j, "name"), f"'{adapter.name}' is already a model or adapter name; "
                                                         "clients address adapters by name, so names must be unique")
        if model.canary is not None:
            if not gw.enabled:
                yield Issue(path("canary"), "a canary's traffic share is applied by the inference gateway: set "
                                            "inferenceGateway.enabled: true (with mesh.enabled), or remove the canary")
            engine = model.canary.engine or model.engine
            if "ollama" in (engine, model.engine):
                yield Issue(path("canary", "engine"), "ollama servers are not routed by the inference gateway; a "
                                                      "canary needs vllm, tgi or triton")
        override = model.router
        if override is not None and model.engine not in EPP_ENGINES:
            yield Issue(path("router"), f"the endpoint picker scores {', '.join(EPP_ENGINES)} servers; "
                                        f"'{model.name}' runs {model.engine} (routed to its Service): remove router")
        if override is not None and not gw.enabled:
            yield Issue(path("router"), "endpoint-picker settings need inferenceGateway.enabled: true")
    if not gw.enabled:
        if gw.objectives:
            yield Issue(key_path("inferenceGateway", "objectives"), "objectives need inferenceGateway.enabled: true")
        return
    if protected:
        if gw.router.replicas < 2:
            yield Issue(key_path("inferenceGateway", "router", "replicas"), (
                f"{gw.router.replicas} endpoint picker per pool on a deletion-protected stack: a restart stops (or, "
                "with FailOpen, unbalances) every request to the pool; use 2 or more"))
        if mesh.istiod_replicas < 2:
            yield Issue(key_path("mesh", "istiodReplicas"), "1 istiod on a deletion-protected stack: new pods get no "
                                                            "certificates while it restarts; use 2 or more")
        if mesh.mtls != "strict":
            yield Issue(key_path("mesh", "mtls"), "a deletion-protected stack enforces mutual TLS: use strict")
        if gw.replicas < 2:
            yield Issue(key_path("inferenceGateway", "replicas"), "1 gateway replica on a deletion-protected stack; "
                                                                  "use 2 or more")
    edge = gw.edge
    if edge is not None:
        if edge.auth.mode == "jwt" and edge.auth.jwt is None:
            yield Issue(key_path("inferenceGateway", "edge", "auth", "jwt"), "auth mode jwt needs jwt: {issuer, "
                                                                             "jwksUri, audiences}")
        if edge.auth.mode == "none" and protected:
            yield Issue(key_path("inferenceGateway", "edge", "auth", "mode"), (
                "anonymous clients on the public Gateway of a deletion-protected stack; use jwt"))
        if edge.tls_secret is not None and edge.certificate is not None:
            yield Issue(key_path("inferenceGateway", "edge", "certificate"), "set tlsSecret or certificate, not both")
    elif rag_exposure(cfg) == "gateway":
        yield Issue(key_path("inferenceGateway", "edge"), (
            "rag.gateway is exposed through the inference gateway (expose: gateway) but there is no public Gateway: "
            "set inferenceGateway.edge, or rag.gateway.expose: ingress (deprecated)"))
    yield from edge_issues(cfg)
    yield from _router_issues(cfg)
    seen = Counter(o.name for o in gw.objectives)
    tenants = set(cfg.tenancy.namespaces)
    claim = edge.auth.jwt.objective_claim if edge is not None and edge.auth.jwt is not None else None
    for k, objective in enumerate(gw.objectives):
        opath = partial(key_path, "inferenceGateway", "objectives", k)
        if seen[objective.name] > 1:
            yield Issue(opath("name"), f"objective '{objective.name}' is defined {seen[objective.name]} times")
        for ns in objective.namespaces:
            if ns not in tenants:
                yield Issue(opath("namespaces"), f"'{ns}' is not one of tenancy.namespaces: "
                                                 f"{', '.join(sorted(tenants))}")
        if objective.claim_values and claim is None:
            yield Issue(opath("claimValues"), "claim values need inferenceGateway.edge.auth.jwt.objectiveClaim")
        if not objective.namespaces and not objective.claim_values:
            yield Issue(opath(), f"objective '{objective.name}' names no tenant: list namespaces or claimValues")


def edge_issues(cfg: StackConfig) -> Iterator[Issue]:
    """The gateway namespace, the rate limit and the objective claim values (components/inference)."""
    gw = cfg.inference_gateway
    ns = gw.namespace
    if ns in cfg.tenancy.namespaces:
        yield Issue(key_path("inferenceGateway", "namespace"), (
            f"'{ns}' is a tenant namespace (tenancy.namespaces); the gateway namespace is the platform's own: "
            "choose another name"))
    elif ns in platform_namespace_names() or (cfg.mesh.enabled and ns == cfg.mesh.namespace):
        yield Issue(key_path("inferenceGateway", "namespace"), f"'{ns}' is reserved for a platform operator; "
                                                               "choose another name")
    edge = gw.edge
    if edge is not None and edge.rate_limit.rps is not None and edge.rate_limit.burst < edge.rate_limit.rps:
        yield Issue(key_path("inferenceGateway", "edge", "rateLimit", "burst"), (
            f"burst {edge.rate_limit.burst} is below rps {edge.rate_limit.rps}: the token bucket holds at most "
            "burst requests, so the limit would be burst per second; use burst >= rps"))
    owners: dict[str, str] = {}
    for k, objective in enumerate(gw.objectives):
        for value in objective.claim_values:
            if value in owners:
                yield Issue(key_path("inferenceGateway", "objectives", k, "claimValues"), (
                    f"claim value '{value}' already selects objective '{owners[value]}'; a value selects one "
                    "objective"))
            owners.setdefault(value, objective.name)
def _router_issues(cfg: StackConfig) -> Iterator[Issue]:
    """The endpoint pickers (config/router.py): what they need from the servers and the admission backstop."""
    served = pools(cfg)
    registries = cfg.tenancy.admission.allowed_registries
    if served and cfg.tenancy.admission.enabled and registries is not None and not registry_allowed(EPP_IMAGE,
                                                                                                    registries):
        yield Issue(key_path("tenancy", "admission", "allowedRegistries"), (
            f"the endpoint pickers run {EPP_IMAGE}, from none of the allowed registries; add ghcr.io/llm-d or the "
            "admission policy refuses them"))
    for i, model in enumerate(cfg.serving.models):
        for s in served:
            # vLLM 0.33.0 vllm/v1/core/kv_cache_coordinator.py cache_blocks skips managers without prefix caching:
            # no block is ever stored, so no BlockStored event is published.
            if s.model.name in (model.name, model.name + CANARY_SUFFIX) and kv_events(cfg, s) \
                    and not s.model.prefix_caching:
                yield Issue(key_path("serving", "models", i, "prefixCaching"), (
                    f"precise prefix-cache scoring reads the KV-cache events of '{s.model.name}', which vLLM "
                    "publishes only with prefix caching: set prefixCaching: true, or prefixCache: approximate"))
                break
