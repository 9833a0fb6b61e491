"""Edge security on the inference gateway's Envoy pods (components/inference/edge.py): JWT, objectives, the local
rate limit, and the NetworkPolicy side of who reaches which Gateway."""

from __future__ import annotations

import copy

from components.inference.edge import edge_filter_spec, objective_policy_spec, request_authentication_spec
from config import validate
from config.inference import OBJECTIVE_CLAIM_HEADER, OBJECTIVE_HEADER
from tests.conftest import run_stack, stack_values
from tests.netpol import Ip, Network, Pod
from tests.rag.conftest import k8s

PUBLIC = {"app.kubernetes.io/name": "public-gateway"}
INTERNAL = {"app.kubernetes.io/name": "internal-gateway"}
CLIENT = Ip("18.244.0.1")


def cfg_of(stack: str, change=None):
    values = copy.deepcopy(stack_values(stack))
    if change is not None:
        change(values)
    cfg, _ = validate(values, f"Pulumi.{stack}.yaml")
    return cfg


def test_public_gateway_requires_a_valid_token_and_copies_the_objective_claim():
    result = run_stack("prod")
    auth = k8s(result, "RequestAuthentication", "public-jwt", "ai-gateway").inputs["spec"]
    assert auth["selector"] == {"matchLabels": PUBLIC}
    [rule] = auth["jwtRules"]
    assert rule["issuer"] == "https://auth.example.com/"
    assert rule["jwksUri"] == "https://auth.example.com/.well-known/jwks.json"
    assert rule["audiences"] == ["ai-platform"] and rule["forwardOriginalToken"] is False
    assert rule["outputClaimToHeaders"] == [{"header": OBJECTIVE_CLAIM_HEADER, "claim": "tier"}]
    policy = k8s(result, "AuthorizationPolicy", "public-require-jwt", "ai-gateway").inputs["spec"]
    assert policy["action"] == "ALLOW" and policy["selector"] == {"matchLabels": PUBLIC}
    https, acme = policy["rules"]
    assert https == {"from": [{"source": {"requestPrincipals": ["*"]}}], "to": [{"operation": {"ports": ["443"]}}]}
    assert acme == {"to": [{"operation": {"ports": ["80"]}}]}  # prod's ACME HTTP-01 (no token there)
    dev = k8s(run_stack("dev"), "AuthorizationPolicy", "public-require-jwt", "ai-gateway").inputs["spec"]
    assert len(dev["rules"]) == 1  # self-signed: no port 80 at all
    # dev's token has no objective claim: nothing is copied.
    assert "outputClaimToHeaders" not in request_authentication_spec(cfg_of("dev"))["jwtRules"][0]


def test_anonymous_edge_creates_no_jwt_objects():
    cfg = cfg_of("dev", lambda v: v["inferenceGateway"]["edge"].update(auth={"mode": "none"}))
    assert request_authentication_spec(cfg) is None


def test_client_chosen_objectives_are_stripped_first_then_the_rate_limit_applies():
    spec = k8s(run_stack("prod"), "EnvoyFilter", "public-edge", "ai-gateway").inputs["spec"]
    assert spec["workloadSelector"] == {"labels": PUBLIC}
    limit, lua = spec["configPatches"]
    # Both INSERT_FIRST in this order: Lua ends up first in the chain, before jwt_authn adds the claim header.
    assert limit["patch"]["operation"] == lua["patch"]["operation"] == "INSERT_FIRST"
    assert all(p["match"]["context"] == "GATEWAY" for p in (limit, lua))
    code = lua["patch"]["value"]["typed_config"]["default_source_code"]["inline_string"]
    for header in (OBJECTIVE_HEADER, "x-gateway-inference-objective", OBJECTIVE_CLAIM_HEADER):
        assert f'request_handle:headers():remove("{header}")' in code
    config = limit["patch"]["value"]["typed_config"]
    assert config["@type"] == "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
    # edge.rateLimit defaults: 100 requests/s per gateway pod, bursts of 200.
    assert config["token_bucket"] == {"max_tokens": 200, "tokens_per_fill": 100, "fill_interval": "1s"}
    no_limit = cfg_of("dev", lambda v: v["inferenceGateway"]["edge"].update(rateLimit={"rps": None}))
    [only] = edge_filter_spec(no_limit)["configPatches"]
    assert only["patch"]["value"]["name"] == "envoy.filters.http.lua"


def test_tenants_may_send_only_the_objectives_granted_to_their_namespace():
    spec = k8s(run_stack("prod"), "AuthorizationPolicy", "internal-objectives", "ai-gateway").inputs["spec"]
    assert spec["action"] == "DENY" and spec["selector"] == {"matchLabels": INTERNAL}
    header = f"request.headers[{OBJECTIVE_HEADER}]"
    interactive, batch, unknown, alias = spec["rules"]
    # The values are the pools' own objectives (config/router.py objective_key): the only names a pool's EPP finds.
    assert interactive == {"when": [{"key": header, "values": ["qwen72b-interactive", "qwen7b-interactive"]}],
                           "from": [{"source": {"notNamespaces": ["ai-app", "team-apps"]}}]}
    assert batch == {"when": [{"key": header, "values": ["qwen72b-batch", "qwen7b-batch"]}],
                     "from": [{"source": {"notNamespaces": ["ai-rag"]}}]}
    assert unknown == {"when": [{"key": header, "values": ["*"]},
                                {"key": header, "notValues": ["qwen72b-batch", "qwen72b-interactive", "qwen7b-batch",
                                                              "qwen7b-interactive"]}]}
    assert alias == {"when": [{"key": "request.headers[x-gateway-inference-objective]", "values": ["*"]}]}
    # An objective granted only to token holders (claimValues, no namespaces) is refused to every tenant.
    def claims_only(values):
        values["inferenceGateway"]["objectives"][1]["namespaces"] = []
    rules = objective_policy_spec(cfg_of("prod", claims_only))["rules"]
    assert rules[1] == {"when": [{"key": header, "values": ["qwen72b-batch", "qwen7b-batch"]}]}
    assert objective_policy_spec(cfg_of("dev")) is None  # dev defines no objectives


def test_who_reaches_which_gateway():
    net = Network(run_stack("prod").resources)
    public, internal = Pod("ai-gateway", PUBLIC), Pod("ai-gateway", INTERNAL)
    assert net.can_reach(CLIENT, public, 443) and net.can_reach(CLIENT, public, 80)  # 80: ACME only
    assert not net.can_reach(CLIENT, internal, 80) and not net.can_reach(CLIENT, public, 15021)
    for tenant in ("ai-app", "team-apps", "ai-rag"):  # objectives[].namespaces
        assert net.can_reach(Pod(tenant, {"app": "client"}), internal, 80), tenant
    assert not net.can_reach(Pod("observability", {"app": "client"}), internal, 80)
    assert not net.can_reach(Pod("team-apps", {"app": "client"}), public, 443)
    model = Pod("ai-inference", {"app.kubernetes.io/component": "model-server", "ai-platform/model": "qwen7b"})
    epp = Pod("ai-inference", {"app.kubernetes.io/component": "endpoint-picker", "llm-d-router-gateway": "qwen7b-epp"})
    for envoy in (public, internal):
        assert net.can_reach(envoy, model, 8000) and net.can_reach(envoy, epp, 9002)
        assert net.can_reach(envoy, Pod("ai-gateway", {"app": "public-body-based-router"}), 9004)
        assert net.can_reach(envoy, Pod("istio-system", {"app": "istiod"}), 15012)
    assert not net.can_reach(Pod("team-apps", {"app": "client"}), model, 8000)
