"""EdgeSecurity: authentication, objectives and limits on the inference gateway's Envoy pods.

Public Gateway (`inferenceGateway.edge`):
- An EnvoyFilter puts two HTTP filters first in the public gateway pods' chain: a Lua filter removing the headers a
  client must not choose (the EPP's objective headers, config.inference.OBJECTIVE_HEADERS, and the header the JWT's
  objective claim is copied to), then Envoy's local rate limit (`edge.rateLimit`: a token bucket of `burst`
  requests refilled by `rps` each second, 429 beyond it). The bucket is per gateway pod (Envoy process): the
  admitted rate is replicas x rps; per-client limits need Envoy's global rate limit with a rate-limit service,
  which the platform does not install.
- A RequestAuthentication validates bearer tokens (`edge.auth.jwt`: issuer, JWKS, audiences; the token is not
  forwarded upstream) and copies `objectiveClaim` into OBJECTIVE_CLAIM_HEADER (outputClaimToHeaders); the public
  HTTPRoutes map its value to an objective (gateway.py). Envoy's jwt_authn adds that header, it does not replace
  one (envoyproxy/envoy source/extensions/filters/http/jwt_authn/authenticator.cc addJWTClaimToHeader: addCopy),
  hence the Lua filter before it.
- An AuthorizationPolicy (ALLOW) requires a valid token's principal on 443; with an ACME certificate, port 80
  (HTTP-01 challenge and the redirect to HTTPS) is open without one. `auth.mode: none` creates neither.

Internal Gateway: an AuthorizationPolicy (DENY) keeps each objective to the tenant namespaces
`objectives[].namespaces` grants it (the caller's namespace is its mesh identity), refuses objectives that do not
exist and the deprecated objective header alias.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config.inference import (
    INTERNAL_GATEWAY,
    OBJECTIVE_CLAIM_HEADER,
    OBJECTIVE_HEADER,
    OBJECTIVE_HEADERS,
    PUBLIC_GATEWAY,
    acme_through_gateway,
    pool_name,
)
from config.models import StackConfig
from config.network import HTTP_PORT, HTTPS_PORT, inference_gateway_pods
from config.router import objective_key, pools

from ..labels import standard_labels

SECURITY_API = "security.istio.io/v1"
NETWORKING_API = "networking.istio.io/v1alpha3"
RATE_LIMIT_STAT_PREFIX = "edge_local_rate_limit"


def _strip_headers_lua() -> str:
    removed = [*OBJECTIVE_HEADERS, OBJECTIVE_CLAIM_HEADER]
    body = "\n".join(f'  request_handle:headers():remove("{h}")' for h in removed)
    return f"function envoy_on_request(request_handle)\n{body}\nend\n"


def edge_filter_spec(cfg: StackConfig) -> dict[str, Any]:
    """The public gateway pods' EnvoyFilter: header stripping (Lua) first, then the local rate limit.

    Each INSERT_FIRST patch goes to the front in the order listed, so the Lua filter (listed last) ends up first.
    Filter names and fields: Envoy extensions envoy.filters.http.lua (v3 Lua, default_source_code) and
    envoy.filters.http.local_ratelimit (v3 LocalRateLimit, token_bucket, filter_enabled/enforced), both in
    Istio's proxy build.
    """
    edge = cfg.inference_gateway.edge
    assert edge is not None
    match = {"context": "GATEWAY",
             "listener": {"filterChain": {"filter": {"name": "envoy.filters.network.http_connection_manager"}}}}
    patches: list[dict[str, Any]] = []
    limit = edge.rate_limit
    if limit.rps is not None:
        always = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}}
        patches.append({"applyTo": "HTTP_FILTER", "match": match, "patch": {"operation": "INSERT_FIRST", "value": {
            "name": "envoy.filters.http.local_ratelimit",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                "stat_prefix": RATE_LIMIT_STAT_PREFIX,
                "token_bucket": {"max_tokens": limit.burst, "tokens_per_fill": limit.rps, "fill_interval": "1s"},
                "filter_enabled": {"runtime_key": "edge_rate_limit_enabled", **always},
                "filter_enforced": {"runtime_key": "edge_rate_limit_enforced", **always},
                "response_headers_to_add": [{"append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
                                             "header": {"key": "x-local-rate-limit", "value": "true"}}]}}}})
    patches.append({"applyTo": "HTTP_FILTER", "match": match, "patch": {"operation": "INSERT_FIRST", "value": {
        "name": "envoy.filters.http.lua",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                         "default_source_code": {"inline_string": _strip_headers_lua()}}}}})
    return {"workloadSelector": {"labels": inference_gateway_pods(PUBLIC_GATEWAY)}, "configPatches": patches}


def request_authentication_spec(cfg: StackConfig) -> dict[str, Any] | None:
    """The public Gateway's JWT rule (Istio RequestAuthentication, security.istio.io/v1 JWTRule), or None with
    auth mode none."""
    edge = cfg.inference_gateway.edge
    if edge is None or edge.auth.mode != "jwt" or edge.auth.jwt is None:
        return None
    jwt = edge.auth.jwt
    rule: dict[str, Any] = {"issuer": jwt.issuer, "jwksUri": jwt.jwks_uri, "audiences": list(jwt.audiences),
                            "forwardOriginalToken": False}
    if jwt.objective_claim is not None:
        rule["outputClaimToHeaders"] = [{"header": OBJECTIVE_CLAIM_HEADER, "claim": jwt.objective_claim}]
    return {"selector": {"matchLabels": inference_gateway_pods(PUBLIC_GATEWAY)}, "jwtRules": [rule]}


def require_jwt_spec(cfg: StackConfig) -> dict[str, Any] | None:
    """ALLOW only authenticated requests on the public Gateway's HTTPS port (and anything on the ACME port)."""
    if request_authentication_spec(cfg) is None:
        return None
    rules: list[dict[str, Any]] = [{"from": [{"source": {"requestPrincipals": ["*"]}}],
                                    "to": [{"operation": {"ports": [str(HTTPS_PORT)]}}]}]
    if acme_through_gateway(cfg):
        rules.append({"to": [{"operation": {"ports": [str(HTTP_PORT)]}}]})
    return {"selector": {"matchLabels": inference_gateway_pods(PUBLIC_GATEWAY)}, "action": "ALLOW", "rules": rules}


def objective_policy_spec(cfg: StackConfig) -> dict[str, Any] | None:
    """DENY on the internal Gateway: an objective from a namespace it does not grant, an unknown objective, or the
    deprecated header alias (one header to check). None without objectives."""
    objectives = cfg.inference_gateway.objectives
    if not objectives:
        return None
    header = f"request.headers[{OBJECTIVE_HEADER}]"
    # The header names a pool's InferenceObjective (config/router.py objective_key: `<pool>-<objective>`), the only
    # names the pool's EPP finds.
    pool_names = [pool_name(s.model.name) for s in pools(cfg)]
    keys = {o.name: sorted(objective_key(p, o.name) for p in pool_names) for o in objectives}
    rules: list[dict[str, Any]] = []
    for objective in objectives:
        if not keys[objective.name]:
            continue
        rule: dict[str, Any] = {"when": [{"key": header, "values": keys[objective.name]}]}
        if objective.namespaces:
            rule["from"] = [{"source": {"notNamespaces": sorted(objective.namespaces)}}]
        rules.append(rule)
    rules.append({"when": [{"key": header, "values": ["*"]},
                           {"key": header, "notValues": sorted(k for ks in keys.values() for k in ks)}]})
    for alias in OBJECTIVE_HEADERS[1:]:
        rules.append({"when": [{"key": f"request.headers[{alias}]", "values": ["*"]}]})
    return {"selector": {"matchLabels": inference_gateway_pods(INTERNAL_GATEWAY)}, "action": "DENY", "rules": rules}


@dataclass(frozen=True)
class EdgeSecurityArgs:
    context: PlatformContext
    """Shared platform inputs."""
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """The mesh (Istio CRDs) and the gateway Releases."""


class EdgeSecurity(pulumi.ComponentResource):
    """EnvoyFilter, RequestAuthentication and AuthorizationPolicies of the inference gateway's pods."""

    def __init__(self, name: str, args: EdgeSecurityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:inference:EdgeSecurity", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        gw = cfg.inference_gateway
        ns = ctx.namespace(gw.namespace)
        labels = standard_labels("inference-gateway", "edge", cfg.labels)
        after = list(args.after)
        self.objects: dict[str, k8s.apiextensions.CustomResource] = {}

        def custom(key: str, api_version: str, kind: str, obj: str, spec: dict[str, Any] | None) -> None:
            if spec is None:
                return
            self.objects[key] = k8s.apiextensions.CustomResource(
                f"{name}-{key}", api_version=api_version, kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=obj, namespace=ns, labels=labels), spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=after))

        if gw.edge is not None:
            custom("filter", NETWORKING_API, "EnvoyFilter", "public-edge", edge_filter_spec(cfg))
            custom("jwt", SECURITY_API, "RequestAuthentication", "public-jwt", request_authentication_spec(cfg))
            custom("require-jwt", SECURITY_API, "AuthorizationPolicy", "public-require-jwt", require_jwt_spec(cfg))
        custom("objectives", SECURITY_API, "AuthorizationPolicy", "internal-objectives", objective_policy_spec(cfg))
        self.register_outputs({})
