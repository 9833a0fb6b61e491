"""GatewayIngress: the public TLS entry of the gateway with `rag.gateway.expose: ingress` (deprecated).

Created only for clusters that already run an Ingress controller: it logs config.inference.INGRESS_DEPRECATION on
every run. With `expose: gateway` (the default with `inferenceGateway.enabled`) the inference gateway's public
Gateway routes the host instead (components/inference/gateway.py) and no Ingress or ingress-nginx exists.

- Controller: ingress-nginx (chart 4.15.1, controller v1.15.1) when `ingress.installController` is on, with
  the IngressClass `ingress.className`; otherwise the Ingress uses an IngressClass the cluster already has.
  ingress-nginx is retired (best-effort maintenance ended March 2026): 4.15.1 is its last release and gets
  no further security fixes; see docs/rag.md for the move to a Gateway API implementation.
- Certificate: an existing Secret (`tlsSecret`), or cert-manager (chart v1.21.1, installed unless
  `certificate.installCertManager` is off). `self-signed`: a self-signed Issuer signs a CA certificate,
  whose CA Issuer signs the host certificate (clients trust `ai-gateway-ca`); `acme`: an ACME Issuer
  (Let's Encrypt by default) solving HTTP-01 through this IngressClass. Issuers are namespaced (in the
  gateway namespace) and created after the cert-manager Release (its CRDs).
- The Ingress: TLS for the host, HTTPS redirect, body size and read/send timeouts from config, no proxy
  buffering so streamed (SSE) tokens reach the client as they are produced, per-client rate limits
  (`ingress.rateLimit`) and, when `ingress.sourceRanges` is narrower than the internet, an allow-list of
  client ranges (on top of the controller Service's `loadBalancerSourceRanges`). It routes only the
  gateway's `http` port: the management port (8081, actuator) is on the Service for Prometheus but no
  Ingress path leads there, and the NetworkPolicies let the controller reach 8080 only. The nginx
  annotations only take effect with ingress-nginx; another controller needs its own equivalents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config.errors import key_path, required
from config.inference import INGRESS_DEPRECATION, cert_manager_owner
from config.models import Gateway as GatewayConfig
from config.namespaces import CERT_MANAGER, INGRESS_NGINX
from config.network import INTERNET

from ..helm import release
from ..labels import standard_labels
from . import charts
from .gateway import NAME

TLS_SECRET = "ai-gateway-tls"
CA_SECRET = "ai-gateway-ca"


def ingress_annotations(ctx: PlatformContext) -> dict[str, str]:
    """ingress-nginx annotations of the gateway Ingress (streaming-friendly)."""
    ing = required(ctx.config.rag.gateway, key_path("rag", "gateway"), "the gateway", "the Rag component").ingress
    timeout = str(ing.timeout_seconds)
    # kubernetes/ingress-nginx docs/user-guide/nginx-configuration/annotations.md (rate limiting,
    # whitelist-source-range) @ controller-v1.15.1.
    limits = ing.rate_limit
    guards: dict[str, str] = {}
    if limits.rps is not None:
        guards["nginx.ingress.kubernetes.io/limit-rps"] = str(limits.rps)
        guards["nginx.ingress.kubernetes.io/limit-burst-multiplier"] = str(limits.burst_multiplier)
    if limits.connections is not None:
        guards["nginx.ingress.kubernetes.io/limit-connections"] = str(limits.connections)
    if INTERNET not in ing.source_ranges:
        guards["nginx.ingress.kubernetes.io/whitelist-source-range"] = ",".join(ing.source_ranges)
    return {
        **guards,
        "nginx.ingress.kubernetes.io/proxy-body-size": ing.body_size,
        "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
        "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
        "nginx.ingress.kubernetes.io/proxy-buffering": "off",
        "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    }


@dataclass(frozen=True)
class GatewayIngressArgs:
    context: PlatformContext
    """Shared platform inputs."""
    service: k8s.core.v1.Service
    """The gateway Service the Ingress routes to."""
    gateway: GatewayConfig
    """`rag.gateway` (the component exists only when it is set)."""


class GatewayIngress(pulumi.ComponentResource):
    """Ingress controller (optional), cert-manager issuers/certificate (optional) and the gateway Ingress."""

    url: str
    """https://<host>."""

    def __init__(self, name: str, args: GatewayIngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Ingress", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        gw = args.gateway
        ns = ctx.namespace(gw.namespace)
        labels = standard_labels(NAME, "ingress", cfg.labels)
        def meta(n: str, **kw: Any) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels=labels, **kw)

        monitoring = ctx.monitoring
        before: list[pulumi.Resource] = [args.service]
        # Only reached with expose: ingress (components/rag/__init__.py); say so on every preview and update.
        pulumi.log.warn(INGRESS_DEPRECATION, resource=self)

        self.controller: k8s.helm.v3.Release | None = None
        if gw.ingress.install_controller:
            values = charts.ingress_nginx_values(gw.ingress, monitoring, cfg.cluster.provider)
            self.controller = release(f"{name}-ingress-nginx", charts.INGRESS_NGINX, "ingress-nginx",
                                      ctx.namespace(INGRESS_NGINX), values,
                                      pulumi.ResourceOptions(parent=self, depends_on=[
                                          ctx.namespaces[INGRESS_NGINX], *(ctx.monitoring_crds if monitoring else [])]),
                                      timeout=900)
            before.append(self.controller)

        secret_name = gw.tls_secret or TLS_SECRET
        cert = gw.effective_certificate
        if cert is not None:
            # cert-manager is installed once: here, or by the inference gateway when its listeners need it too.
            owned = ctx.extra.get("cert_manager")
            crds: list[pulumi.Resource] = [r for r in owned if isinstance(r, pulumi.Resource)] \
                if isinstance(owned, list) else []
            if cert_manager_owner(cfg) == "rag":
                crds.append(release(f"{name}-cert-manager", charts.CERT_MANAGER, "cert-manager",
                                    ctx.namespace(CERT_MANAGER), charts.cert_manager_values(monitoring),
                                    pulumi.ResourceOptions(parent=self, depends_on=[
                                        ctx.namespaces[CERT_MANAGER], *(ctx.monitoring_crds if monitoring else [])]),
                                    timeout=900))
            crd_opts = pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[gw.namespace], *crds])

            def custom(res_name: str, kind: str, obj_name: str, spec: dict[str, Any],
                       depends: tuple[pulumi.Resource, ...] = ()) -> k8s.apiextensions.CustomResource:
                return k8s.apiextensions.CustomResource(
                    res_name, api_version="cert-manager.io/v1", kind=kind, metadata=meta(obj_name), spec=spec,
                    opts=pulumi.ResourceOptions.merge(crd_opts, pulumi.ResourceOptions(depends_on=list(depends))))

            if cert.issuer == "self-signed":
                root = custom(f"{name}-selfsigned-issuer", "Issuer", "ai-gateway-selfsigned", {"selfSigned": {}})
                ca_cert = custom(f"{name}-ca-certificate", "Certificate", CA_SECRET, {
                    "isCA": True, "commonName": "ai-platform gateway CA", "secretName": CA_SECRET,
                    "duration": "87600h", "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {"name": "ai-gateway-selfsigned", "kind": "Issuer", "group": "cert-manager.io"}},
                    depends=(root,))
                issuer = custom(f"{name}-ca-issuer", "Issuer", "ai-gateway-ca", {"ca": {"secretName": CA_SECRET}},
                                depends=(ca_cert,))
                issuer_name = "ai-gateway-ca"
            else:
                issuer = custom(f"{name}-acme-issuer", "Issuer", "ai-gateway-acme", {"acme": {
                    "server": cert.acme_server, "email": cert.acme_email,
                    "privateKeySecretRef": {"name": "ai-gateway-acme-account"},
                    "solvers": [{"http01": {"ingress": {"ingressClassName": gw.ingress.class_name}}}]}},
                    depends=tuple(x for x in [self.controller] if x is not None))
                issuer_name = "ai-gateway-acme"
            before.append(custom(f"{name}-certificate", "Certificate", TLS_SECRET, {
                "secretName": TLS_SECRET, "dnsNames": [gw.host], "duration": "2160h", "renewBefore": "720h",
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "issuerRef": {"name": issuer_name, "kind": "Issuer", "group": "cert-manager.io"}},
                depends=(issuer,)))

        self.ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=meta(NAME, annotations=ingress_annotations(ctx)),
            spec=k8s.networking.v1.IngressSpecArgs(
                ingress_class_name=gw.ingress.class_name,
                tls=[k8s.networking.v1.IngressTLSArgs(hosts=[gw.host], secret_name=secret_name)],
                rules=[k8s.networking.v1.IngressRuleArgs(host=gw.host, http=k8s.networking.v1.HTTPIngressRuleValueArgs(
                    paths=[k8s.networking.v1.HTTPIngressPathArgs(
                        path="/", path_type="Prefix",
                        backend=k8s.networking.v1.IngressBackendArgs(service=k8s.networking.v1.IngressServiceBackendArgs(
                            name=NAME, port=k8s.networking.v1.ServiceBackendPortArgs(name="http"))))]))],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=before),
        )
        self.url = f"https://{gw.host}"
        self.register_outputs({"url": self.url, "ingress": self.ingress})
