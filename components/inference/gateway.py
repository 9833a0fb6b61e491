"""InferenceGateway: the Gateways, their Envoy pods, body-based routing, the routes and the edge.

How a request flows (docs/inference-gateway.md):

1. A client reaches the public Gateway (HTTPS only, `inferenceGateway.edge`) through the cloud load balancer, or an
   in-cluster caller (the AI gateway, a tenant) the internal Gateway (HTTP on 80, inside the mesh's mutual TLS).
2. The edge (edge.py, public Gateway only): client-sent objective headers are stripped, the local rate limit is
   applied, the JWT is validated (RequestAuthentication) and required (AuthorizationPolicy); its objective claim is
   copied into a header.
3. Body-based routing (GAIE chart body-based-routing v1.5.0, one Release per Gateway) copies the body's `model` into
   `X-Gateway-Model-Name` (config.inference.MODEL_HEADER) through an ext_proc EnvoyFilter.
4. The HTTPRoute rule of that model name (config.inference.routing_table) sends the request to its backends with
   their weights: an InferencePool (whose endpoint picker chooses the pod) or a model Service.

Gateway pods are deployed manually (Istio's "Manual Deployment" of Gateway API Gateways, istio.io docs
tasks/traffic-management/ingress/gateway-api): one Release of Istio's `gateway` chart 1.30.3 per Gateway, and the
Gateway object names that Service in `spec.addresses` (type Hostname, the Service's FQDN). That keeps replicas, the
PodDisruptionBudget, the HPA, the load balancer's source ranges and annotations in typed values we render and
check, instead of in istiod's generated objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config import inference
from config.inference import (
    GATEWAY_CLASS,
    INTERNAL_GATEWAY,
    MODEL_HEADER,
    OBJECTIVE_CLAIM_HEADER,
    OBJECTIVE_HEADER,
    OBJECTIVE_HEADERS,
    PUBLIC_GATEWAY,
    PublicListener,
    acme_through_gateway,
    cert_manager_owner,
    gateway_service,
    objective_of_claim,
    public_listeners,
    rag_exposure,
    routing_table,
)
from config.models import Edge, GatewayCertificate, StackConfig
from config.namespaces import CERT_MANAGER
from config.network import HTTP_PORT, HTTPS_PORT
from config.router import objective_key

from ..helm import pin, release
from ..labels import standard_labels
from ..rag import charts as rag_charts
from .edge import EdgeSecurity, EdgeSecurityArgs

GATEWAY_CHART = pin("gateway")
BBR_CHART = pin("body-based-routing")
GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_GROUP = "gateway.networking.k8s.io"
POOL_GROUP = "inference.networking.k8s.io"
CERT_MANAGER_API = "cert-manager.io/v1"
COMPONENT = "inference-gateway"
# The gateway pods' HPA goes from inferenceGateway.replicas to this many times as many (CPU 80%, the chart's default).
HPA_HEADROOM = 4
DEFAULT_TIMEOUT = int(Edge.model_fields["timeout_seconds"].default)
ACME_LISTENER = "http"
INTERNAL_LISTENER = "http"
RAG_ROUTE = "ai-gateway"
# components/rag/gateway.py NAME and its Service port.
AI_GATEWAY_SERVICE = "ai-gateway"
AI_GATEWAY_PORT = 80
SELF_SIGNED_ISSUER = "inference-gateway-selfsigned"
CA_ISSUER = "inference-gateway-ca"
CA_SECRET = "inference-gateway-ca"
# kubernetes-sigs/gateway-api-inference-extension config/charts/body-based-routing/values.yaml @ v1.5.0.
BBR_IMAGE = {"registry": "registry.k8s.io", "repository": "gateway-api-inference-extension/bbr", "tag": "v1.5.0",
             "pullPolicy": "IfNotPresent"}
BBR_PORT = 9004


def timeout_seconds(cfg: StackConfig) -> int:
    """The request timeout of every route (a streamed completion may run this long): edge.timeoutSeconds."""
    edge = cfg.inference_gateway.edge
    return edge.timeout_seconds if edge is not None else DEFAULT_TIMEOUT


def gateways(cfg: StackConfig) -> list[str]:
    """The Gateways the stack creates: internal always, public with an edge."""
    return [INTERNAL_GATEWAY] + ([PUBLIC_GATEWAY] if cfg.inference_gateway.edge is not None else [])


def service_host(cfg: StackConfig, gateway: str) -> str:
    return f"{gateway_service(gateway)}.{cfg.inference_gateway.namespace}.svc.cluster.local"


def gateway_values(cfg: StackConfig, gateway: str) -> dict[str, Any]:
    """Values of the istio `gateway` chart 1.30.3 Release behind `gateway` (manifests/charts/gateway/values.yaml)."""
    gw = cfg.inference_gateway
    public = gateway == PUBLIC_GATEWAY
    name = gateway_service(gateway)
    timeout = timeout_seconds(cfg)
    if public:
        edge = gw.edge
        assert edge is not None
        ports = [{"name": "https", "port": HTTPS_PORT, "protocol": "TCP", "targetPort": HTTPS_PORT}]
        if acme_through_gateway(cfg):
            ports.insert(0, {"name": "http", "port": HTTP_PORT, "protocol": "TCP", "targetPort": HTTP_PORT})
        service: dict[str, Any] = {
            "type": "LoadBalancer", "ports": ports,
            # The cloud firewall admits only these clients; Local keeps the client's address for the rate limit's
            # logs and the NetworkPolicy (on EKS that needs a Network Load Balancer, as components/rag/charts.py).
            "loadBalancerSourceRanges": list(edge.source_ranges), "externalTrafficPolicy": "Local"}
        if cfg.cluster.provider == "eks":
            # kubernetes/cloud-provider-aws pkg/providers/v1/aws.go ServiceAnnotationLoadBalancerType ("nlb").
            service["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    else:
        service = {"type": "ClusterIP",
                   "ports": [{"name": "http", "port": HTTP_PORT, "protocol": "TCP", "targetPort": HTTP_PORT}]}
    return {
        "service": service,
        "replicaCount": gw.replicas,
        "autoscaling": {"enabled": True, "minReplicas": gw.replicas, "maxReplicas": gw.replicas * HPA_HEADROOM,
                        "targetCPUUtilizationPercentage": 80},
        # The chart renders the PDB only with minReplicas > 1 (templates/poddisruptionbudget.yaml).
        "podDisruptionBudget": {"maxUnavailable": 1} if gw.replicas > 1 else {},
        # The chart's own podAnnotations (injection template and scrape), plus the drain: Envoy keeps serving
        # open (streamed) requests this long after SIGTERM (ProxyConfig terminationDrainDuration).
        "podAnnotations": {
            "prometheus.io/port": "15020", "prometheus.io/scrape": "true", "prometheus.io/path": "/stats/prometheus",
            "inject.istio.io/templates": "gateway", "sidecar.istio.io/inject": "true",
            "proxy.istio.io/config": f'{{"terminationDrainDuration": "{timeout}s"}}'},
        "terminationGracePeriodSeconds": timeout + 30,
        "labels": {
            # The chart's default: gateway pods are Envoy proxies themselves, not captured by ztunnel.
            "istio.io/dataplane-mode": "none",
            # What Istio selects the pods of a Gateway by for policies with targetRefs (the body-based-routing
            # chart's EnvoyFilter targets the Gateway); manually deployed pods need it set.
            "gateway.networking.k8s.io/gateway-name": gateway,
            "app.kubernetes.io/component": COMPONENT,
        },
        # Binding 80/443 as non-root needs the unprivileged-port sysctl (the chart's default pod securityContext),
        # kept here with the restricted profile's seccomp and non-root settings.
        "securityContext": {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}],
                            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
        "priorityClassName": rag_charts.PRIORITY_CLASS,
        "topologySpreadConstraints": [{
            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": name}}}],
        # With Gateway API the gateway reads certificates through istiod, not its own Secret access
        # (values.yaml rbac.enabled: "not needed when using http://gateway-api.org/").
        "rbac": {"enabled": False},
    }


def bbr_values(cfg: StackConfig, gateway: str) -> dict[str, Any]:
    """Values of the body-based-routing chart v1.5.0 Release of `gateway` (config/charts/body-based-routing).

    provider istio renders an EnvoyFilter (targetRefs: the Gateway) inserting an ext_proc filter first in the
    Gateway's HTTP filter chain, calling the BBR Service (port 9004; a DestinationRule sets TLS to it). Only the
    `body-field-to-header` plugin: the body's `model` goes into MODEL_HEADER (`X-Gateway-Model-Name`); the
    default `base-model-to-header` plugin maps adapters to base models from ConfigMaps we do not use (adapters
    are routed by their own name).
    """
    return {
        "bbr": {
            "name": f"{gateway}-body-based-router",
            "replicas": max(2, cfg.inference_gateway.replicas) if cfg.cluster.deletion_protection else 1,
            "image": dict(BBR_IMAGE),
            "port": BBR_PORT,
            "plugins": [{"type": "body-field-to-header", "name": "model-extractor",
                         "json": {"fieldName": "model", "headerName": MODEL_HEADER}}],
        },
        "provider": {"name": "istio"},
        "inferenceGateway": {"name": gateway},
    }


def _listener_routes(namespaces: list[str]) -> dict[str, Any]:
    return {"namespaces": {"from": "Selector", "selector": {"matchExpressions": [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": sorted(set(namespaces))}]}},
        "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}]}


def gateway_spec(cfg: StackConfig, gateway: str) -> dict[str, Any]:
    """The Gateway object's spec. Routes may attach only from the serving namespace (models) and, on the RAG
    listener, the AI gateway's namespace; the ACME listener only takes the gateway namespace's own routes (the
    HTTP-01 solver's and the redirect to HTTPS)."""
    serving = cfg.serving.namespace
    listeners: list[dict[str, Any]] = []
    if gateway == PUBLIC_GATEWAY:
        rag = cfg.rag.gateway
        for li in public_listeners(cfg):
            allowed = [rag.namespace] if li.name == "rag" and rag is not None else [serving]
            listeners.append({"name": li.name, "hostname": li.host, "port": HTTPS_PORT, "protocol": "HTTPS",
                              "tls": {"mode": "Terminate",
                                      "certificateRefs": [{"group": "", "kind": "Secret", "name": li.tls_secret}]},
                              "allowedRoutes": _listener_routes(allowed)})
        if acme_through_gateway(cfg):
            listeners.append({"name": ACME_LISTENER, "port": HTTP_PORT, "protocol": "HTTP",
                              "allowedRoutes": {"namespaces": {"from": "Same"},
                                                "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}]}})
    else:
        listeners.append({"name": INTERNAL_LISTENER, "port": HTTP_PORT, "protocol": "HTTP",
                          "allowedRoutes": _listener_routes([serving])})
    return {"gatewayClassName": GATEWAY_CLASS,
            "addresses": [{"type": "Hostname", "value": service_host(cfg, gateway)}],
            "listeners": listeners}


def _backend_refs(route: inference.Route) -> list[dict[str, Any]]:
    """Weighted backendRefs (Gateway API weights are int32; a lone backend gets every request whatever its weight)."""
    refs = []
    for b in route.backends:
        if b.kind == "InferencePool":
            refs.append({"group": POOL_GROUP, "kind": "InferencePool", "name": b.name, "weight": int(b.weight)})
        else:
            refs.append({"group": "", "kind": "Service", "name": b.name, "port": 80, "weight": int(b.weight)})
    return refs


def _parent(cfg: StackConfig, gateway: str, section: str) -> dict[str, Any]:
    return {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": cfg.inference_gateway.namespace,
            "name": gateway, "sectionName": section}


def route_name(model: str, gateway: str) -> str:
    """The HTTPRoute of one model name on one Gateway (in serving.namespace)."""
    return f"model-{model}" if gateway == INTERNAL_GATEWAY else f"model-{model}-{gateway}"


def model_route_spec(cfg: StackConfig, route: inference.Route, gateway: str) -> dict[str, Any]:
    """The HTTPRoute spec of one model name on one Gateway.

    Every rule matches `/v1` and MODEL_HEADER == the model name, and ends at the route's weighted backends.
    On the public Gateway, requests never keep a client-chosen objective: one rule per objective claim value sets
    OBJECTIVE_HEADER to the objective that value selects (objectives[].claimValues); the fallback rule removes
    every objective header (clients get the pool's default). Rules with more header matches win (Gateway API
    HTTPRoute precedence), so the claim rules take precedence. In-cluster callers choose their objective on the
    internal Gateway, where edge.py's AuthorizationPolicy checks it against objectives[].namespaces.
    """
    match: dict[str, Any] = {"path": {"type": "PathPrefix", "value": "/v1"},
                             "headers": [{"type": "Exact", "name": MODEL_HEADER, "value": route.model}]}
    timeouts = {"request": f"{timeout_seconds(cfg)}s"}
    backends = _backend_refs(route)
    rules: list[dict[str, Any]] = []
    # The EPP looks the objective up among its own pool's InferenceObjectives, named per pool (config/router.py
    # objective_key): a claim maps to the objective of the route's model's pool. Routes to a Service have no EPP.
    pooled = any(b.kind == "InferencePool" for b in route.backends)
    if gateway == PUBLIC_GATEWAY:
        for value, objective in sorted(objective_of_claim(cfg).items()) if pooled else ():
            claimed = {**match, "headers": [*match["headers"],
                                            {"type": "Exact", "name": OBJECTIVE_CLAIM_HEADER, "value": value}]}
            rules.append({"matches": [claimed], "backendRefs": backends, "timeouts": timeouts, "filters": [
                {"type": "RequestHeaderModifier", "requestHeaderModifier": {
                    "set": [{"name": OBJECTIVE_HEADER,
                             "value": objective_key(inference.pool_name(route.base), objective)}],
                    "remove": [h for h in OBJECTIVE_HEADERS if h != OBJECTIVE_HEADER]}}]})
        rules.append({"matches": [match], "backendRefs": backends, "timeouts": timeouts, "filters": [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {"remove": list(OBJECTIVE_HEADERS)}}]})
        edge = cfg.inference_gateway.edge
        assert edge is not None
        return {"parentRefs": [_parent(cfg, PUBLIC_GATEWAY, "api")], "hostnames": [edge.host], "rules": rules}
    rules.append({"matches": [match], "backendRefs": backends, "timeouts": timeouts})
    return {"parentRefs": [_parent(cfg, INTERNAL_GATEWAY, INTERNAL_LISTENER)], "rules": rules}


def model_routes(cfg: StackConfig) -> list[tuple[str, str, dict[str, Any]]]:
    """(name, gateway, spec) of every model HTTPRoute: each routing-table entry on each Gateway."""
    return [(route_name(route.model, gw), gw, model_route_spec(cfg, route, gw))
            for route in routing_table(cfg) for gw in gateways(cfg)]


def rag_route_spec(cfg: StackConfig) -> dict[str, Any] | None:
    """The RAG API's HTTPRoute (in rag.gateway.namespace, so no ReferenceGrant is needed): the public RAG host ->
    the AI gateway Service. None unless rag.gateway is exposed through the gateway."""
    rag = cfg.rag.gateway
    if rag is None or rag_exposure(cfg) != "gateway" or cfg.inference_gateway.edge is None:
        return None
    return {"parentRefs": [_parent(cfg, PUBLIC_GATEWAY, "rag")], "hostnames": [rag.host],
            "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                       "backendRefs": [{"group": "", "kind": "Service", "name": AI_GATEWAY_SERVICE,
                                        "port": AI_GATEWAY_PORT}],
                       "timeouts": {"request": f"{timeout_seconds(cfg)}s"}}]}


def redirect_route_spec(cfg: StackConfig) -> dict[str, Any]:
    """Plain HTTP on the ACME listener: everything but the HTTP-01 challenge (cert-manager's own, more specific
    route) is redirected to HTTPS."""
    return {"parentRefs": [_parent(cfg, PUBLIC_GATEWAY, ACME_LISTENER)],
            "rules": [{"filters": [{"type": "RequestRedirect",
                                    "requestRedirect": {"scheme": "https", "statusCode": 301}}]}]}


def cert_manager_values(cfg: StackConfig, monitoring: bool) -> dict[str, Any]:
    """cert-manager v1.21.1 values: the RAG ones, plus Gateway API support when an ACME certificate is solved
    through the public Gateway (the gatewayHTTPRoute solver; chart values.yaml `config` is the controller's
    ControllerConfiguration, `enableGatewayAPI` its switch since v1.15)."""
    values = rag_charts.cert_manager_values(monitoring)
    if acme_through_gateway(cfg):
        values["config"] = {"apiVersion": "controller.config.cert-manager.io/v1alpha1",
                            "kind": "ControllerConfiguration", "enableGatewayAPI": True}
    return values


def issuer_spec(cfg: StackConfig, listener: PublicListener, cert: GatewayCertificate) -> tuple[str, dict[str, Any]]:
    """(issuer name, spec) for a listener's certificate: the shared private CA, or its ACME account solving
    HTTP-01 through the public Gateway's port-80 listener."""
    if cert.issuer == "self-signed":
        return CA_ISSUER, {"ca": {"secretName": CA_SECRET}}
    return f"{listener.name}-acme", {"acme": {
        "server": cert.acme_server, "email": cert.acme_email,
        "privateKeySecretRef": {"name": f"{listener.name}-acme-account"},
        "solvers": [{"http01": {"gatewayHTTPRoute": {"parentRefs": [
            {"group": GATEWAY_GROUP, "kind": "Gateway", "name": PUBLIC_GATEWAY,
             "namespace": cfg.inference_gateway.namespace, "sectionName": ACME_LISTENER}]}}}]}}


@dataclass(frozen=True)
class InferenceGatewayArgs:
    context: PlatformContext
    """Shared platform inputs (gateway_crds and mesh_ready must be filled)."""


class InferenceGateway(pulumi.ComponentResource):
    """Gateway pods (istio `gateway` chart), Gateways, body-based routing, certificates, HTTPRoutes and the edge's
    security (edge.py) of `ai-platform:inferenceGateway`."""

    internal_url: str
    """The OpenAI-compatible base URL of the internal Gateway (in-cluster callers)."""
    public_url: str | None
    """https://<edge.host>/v1, or None without an edge."""
    cert_manager: list[pulumi.Resource]
    """The cert-manager Release when this component installs it (the RAG Ingress' issuers depend on it)."""

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:inference:InferenceGateway", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        gw = cfg.inference_gateway
        ns = ctx.namespace(gw.namespace)
        labels = standard_labels(COMPONENT, COMPONENT, cfg.labels)
        crds = list(ctx.gateway_crds)
        mesh = list(ctx.mesh_ready)
        monitoring = ctx.monitoring

        def custom(res_name: str, api_version: str, kind: str, obj: str, namespace: pulumi.Input[str],
                   spec: dict[str, Any], depends: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                res_name, api_version=api_version, kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=obj, namespace=namespace, labels=labels), spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends))

        # cert-manager: one Release per cluster (config.inference.cert_manager_owner); it needs the Gateway API
        # CRDs before it starts when its Gateway API support is on.
        self.cert_manager = []
        if cert_manager_owner(cfg) == "inference-gateway":
            self.cert_manager.append(release(
                f"{name}-cert-manager", rag_charts.CERT_MANAGER, "cert-manager", ctx.namespace(CERT_MANAGER),
                cert_manager_values(cfg, monitoring),
                pulumi.ResourceOptions(parent=self, depends_on=[
                    ctx.namespaces[CERT_MANAGER], *crds, *(ctx.monitoring_crds if monitoring else [])]),
                timeout=900))
        issuer_deps = [ctx.namespaces[gw.namespace], *self.cert_manager]
        certificates: list[pulumi.Resource] = []
        listeners = public_listeners(cfg)
        issuers: dict[str, pulumi.Resource] = {}
        if any(li.certificate is not None and li.certificate.issuer == "self-signed" for li in listeners):
            root = custom(f"{name}-selfsigned-issuer", CERT_MANAGER_API, "Issuer", SELF_SIGNED_ISSUER, ns,
                          {"selfSigned": {}}, issuer_deps)
            ca = custom(f"{name}-ca-certificate", CERT_MANAGER_API, "Certificate", CA_SECRET, ns, {
                "isCA": True, "commonName": "ai-platform inference gateway CA", "secretName": CA_SECRET,
                "duration": "87600h", "privateKey": {"algorithm": "ECDSA", "size": 256},
                "issuerRef": {"name": SELF_SIGNED_ISSUER, "kind": "Issuer", "group": "cert-manager.io"}},
                [root])
            issuers[CA_ISSUER] = custom(f"{name}-ca-issuer", CERT_MANAGER_API, "Issuer", CA_ISSUER, ns,
                                        issuer_spec(cfg, listeners[0], GatewayCertificate())[1], [ca])
        for li in listeners:
            if li.certificate is None:
                continue
            issuer, spec = issuer_spec(cfg, li, li.certificate)
            if issuer not in issuers:
                issuers[issuer] = custom(f"{name}-{issuer}-issuer", CERT_MANAGER_API, "Issuer", issuer, ns, spec,
                                         [*issuer_deps, *crds])
            certificates.append(custom(f"{name}-{li.name}-certificate", CERT_MANAGER_API, "Certificate",
                                       li.tls_secret, ns, {
                "secretName": li.tls_secret, "dnsNames": [li.host], "duration": "2160h", "renewBefore": "720h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "issuerRef": {"name": issuer, "kind": "Issuer", "group": "cert-manager.io"}}, [issuers[issuer]]))

        # The Envoy pods first (the chart's Service is what the Gateway's address names), then the Gateways.
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.gateways: dict[str, k8s.apiextensions.CustomResource] = {}
        for gateway in gateways(cfg):
            self.releases[gateway] = release(
                f"{name}-{gateway}", GATEWAY_CHART, gateway_service(gateway), ns, gateway_values(cfg, gateway),
                pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[gw.namespace], *mesh]))
            self.gateways[gateway] = custom(
                f"{name}-{gateway}-gateway", GATEWAY_API, "Gateway", gateway, ns, gateway_spec(cfg, gateway),
                [*crds, *mesh, self.releases[gateway], *(certificates if gateway == PUBLIC_GATEWAY else [])])
            # Its EnvoyFilter targets the Gateway: after the Gateway and Istio's CRDs.
            bbr = bbr_values(cfg, gateway)["bbr"]
            release(f"{name}-{gateway}-bbr", BBR_CHART, f"{gateway}-bbr", ns, bbr_values(cfg, gateway),
                    pulumi.ResourceOptions(parent=self, depends_on=[self.gateways[gateway], *mesh]))
            if bbr["replicas"] > 1:
                # The chart has no PodDisruptionBudget; every request of this Gateway passes through these pods.
                k8s.policy.v1.PodDisruptionBudget(
                    f"{name}-{gateway}-bbr-pdb",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=bbr["name"], namespace=ns, labels=labels),
                    spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                        max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"app": bbr["name"]})),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[gw.namespace]]))

        serving_ns = ctx.namespace(cfg.serving.namespace)
        self.routes: dict[str, k8s.apiextensions.CustomResource] = {}
        for route, gateway, spec in model_routes(cfg):
            self.routes[route] = custom(f"{name}-route-{route}", GATEWAY_API, "HTTPRoute", route, serving_ns, spec,
                                        [*crds, self.gateways[gateway]])
        rag_spec = rag_route_spec(cfg)
        if rag_spec is not None and cfg.rag.gateway is not None:
            self.routes[RAG_ROUTE] = custom(f"{name}-route-rag", GATEWAY_API, "HTTPRoute", RAG_ROUTE,
                                            ctx.namespace(cfg.rag.gateway.namespace), rag_spec,
                                            [*crds, self.gateways[PUBLIC_GATEWAY]])
        if acme_through_gateway(cfg):
            custom(f"{name}-https-redirect", GATEWAY_API, "HTTPRoute", "https-redirect", ns,
                   redirect_route_spec(cfg), [*crds, self.gateways[PUBLIC_GATEWAY]])

        self.edge = EdgeSecurity(f"{name}-edge", EdgeSecurityArgs(ctx, after=[*mesh, *self.releases.values()]),
                                 pulumi.ResourceOptions(parent=self))

        self.internal_url = inference.internal_base_url(cfg)
        self.public_url = f"https://{gw.edge.host}/v1" if gw.edge is not None else None
        self.register_outputs({"internal_url": self.internal_url, "public_url": self.public_url,
                               "cert_manager": self.cert_manager})
