"""The HTTPRoutes the program records: each model name a client sends ends at the right backends with the right
weights, on both Gateways; the RAG API's route; no Ingress when the AI gateway is exposed through the Gateway,
and the deprecation warning when it is not (components/inference/gateway.py, components/rag)."""

from __future__ import annotations

import copy
import logging

from components.inference.gateway import model_routes
from config import validate
from config.inference import INGRESS_DEPRECATION, MODEL_HEADER, OBJECTIVE_CLAIM_HEADER, OBJECTIVE_HEADER
from tests.conftest import run_config, run_stack, stack_values

ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
POOL = {"group": "inference.networking.k8s.io", "kind": "InferencePool"}


def routes(result) -> dict[str, dict]:
    """HTTPRoute name -> recorded object (metadata + spec)."""
    return {r.inputs["metadata"]["name"]: r.inputs for r in result.of_type(ROUTE)}


def model_of(rule: dict) -> str:
    [match] = rule["matches"]
    assert match["path"] == {"type": "PathPrefix", "value": "/v1"}
    [model] = [h["value"] for h in match["headers"] if h["name"] == MODEL_HEADER]
    return model


def backends(rule: dict) -> list[tuple[str, str, int]]:
    return [(b["kind"], b["name"], b["weight"]) for b in rule["backendRefs"]]


def test_dev_model_adapter_and_canary_end_at_their_pools_with_their_weights():
    # dev: qwen7b (vLLM) with a 10% canary (another model version on L4), its LoRA adapter qwen7b-sql, and the
    # TEI embedding server (no endpoint picker: its Service). Written out by hand, not from routing_table.
    expected = {
        "qwen7b": [("InferencePool", "qwen7b", 90), ("InferencePool", "qwen7b-canary", 10)],
        # The canary serves other base weights (canary.model), so the adapter stays on the stable pool: its only
        # backend, so it gets all of the adapter's requests whatever the weight says.
        "qwen7b-sql": [("InferencePool", "qwen7b", 90)],
        "embedding": [("Service", "embedding", 100)],
    }
    found = routes(run_stack("dev"))
    for model, want in expected.items():
        for name in (f"model-{model}", f"model-{model}-public"):
            route = found[name]
            assert route["metadata"]["namespace"] == "ai-inference", name  # the backends' namespace: no ReferenceGrant
            for rule in route["spec"]["rules"]:
                assert model_of(rule) == model
                assert backends(rule) == want, name
                pools = [b for b in rule["backendRefs"] if b["kind"] == "InferencePool"]
                assert all(b["group"] == POOL["group"] for b in pools)
                services = [b for b in rule["backendRefs"] if b["kind"] == "Service"]
                assert all(b["port"] == 80 and b["group"] == "" for b in services)
                assert rule["timeouts"] == {"request": "300s"}  # edge.timeoutSeconds' default
    assert {n for n in found if n.startswith("model-")} == {
        f"model-{m}{s}" for m in expected for s in ("", "-public")}


def test_every_model_name_of_a_larger_config_reaches_its_servers_on_both_gateways():
    values = copy.deepcopy(stack_values("dev"))
    qwen = values["serving"]["models"][0]
    qwen["canary"] = {"weight": 25}  # same weights: adapters follow the canary too
    for quota in ("gpuQuota", "memoryQuota"):  # the twin canary outgrows dev's serving quota
        values["tenancy"]["namespaces"]["ai-inference"].pop(quota)
    qwen["adapters"] = [{"name": "qwen7b-sql", "source": "acme/qwen7b-sql-lora"},
                        {"name": "qwen7b-chat", "source": "acme/qwen7b-chat-lora"}]
    cfg, _ = validate(values, "x")
    found = {(name, gateway): spec for name, gateway, spec in model_routes(cfg)}
    want = [("InferencePool", "qwen7b", 75), ("InferencePool", "qwen7b-canary", 25)]
    for model in ("qwen7b", "qwen7b-sql", "qwen7b-chat"):
        for name, gateway in ((f"model-{model}", "internal"), (f"model-{model}-public", "public")):
            spec = found[(name, gateway)]
            assert [p["name"] for p in spec["parentRefs"]] == [gateway]
            assert {backends(rule)[0] for rule in spec["rules"]} == {want[0]}
            assert all(backends(rule) == want and model_of(rule) == model for rule in spec["rules"])
            # int32 in the HTTPRoute CRD (the routing table's weights may be floats)
            assert all(type(b["weight"]) is int for rule in spec["rules"] for b in rule["backendRefs"])
    assert backends(found[("model-embedding", "internal")]["rules"][0]) == [("Service", "embedding", 100)]


def test_routes_attach_to_the_platform_gateways_listeners_only():
    result = run_stack("prod")
    for name, route in routes(result).items():
        for parent in route["spec"]["parentRefs"]:
            assert parent["group"] == "gateway.networking.k8s.io" and parent["kind"] == "Gateway", name
            assert parent["namespace"] == "ai-gateway" and parent["name"] in ("public", "internal"), name
            assert parent["sectionName"] == {"internal": "http", "public": "api"}.get(parent["name"]) or \
                (name, parent["sectionName"]) in {("ai-gateway", "rag"), ("https-redirect", "http")}, name


def test_public_routes_set_the_objective_from_the_token_claim_only():
    # prod: objectiveClaim `tier`; interactive and batch are selected by its values. A client's own objective
    # headers never pass the public Gateway (the fallback rule removes them; edge.py strips them before JWT).
    route = routes(run_stack("prod"))["model-qwen7b-public"]["spec"]
    assert route["hostnames"] == ["llm-api.example.com"]
    by_claim = {}
    for rule in route["rules"]:
        [match] = rule["matches"]
        claim = [h["value"] for h in match["headers"] if h["name"] == OBJECTIVE_CLAIM_HEADER]
        [modifier] = [f["requestHeaderModifier"] for f in rule["filters"] if f["type"] == "RequestHeaderModifier"]
        by_claim[claim[0] if claim else None] = modifier
        assert rule["timeouts"] == {"request": "600s"}
    # The objective of the route's model's pool (config/router.py objective_key): what qwen7b's EPP looks up.
    assert by_claim["interactive"]["set"] == [{"name": OBJECTIVE_HEADER, "value": "qwen7b-interactive"}]
    assert by_claim["batch"]["set"] == [{"name": OBJECTIVE_HEADER, "value": "qwen7b-batch"}]
    assert "set" not in by_claim[None]
    assert set(by_claim[None]["remove"]) == {OBJECTIVE_HEADER, "x-gateway-inference-objective"}
    internal = routes(run_stack("prod"))["model-qwen7b"]["spec"]
    assert all("filters" not in rule for rule in internal["rules"])  # tenants choose; edge.py checks


def test_the_rag_api_is_routed_to_the_ai_gateway_and_no_ingress_exists():
    for stack, host in (("dev", "ai-api.dev.example.com"), ("prod", "ai-api.example.com")):
        result = run_stack(stack)
        rag = routes(result)["ai-gateway"]
        assert rag["metadata"]["namespace"] == "ai-app"
        spec = rag["spec"]
        assert spec["hostnames"] == [host]
        assert spec["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                       "namespace": "ai-gateway", "name": "public", "sectionName": "rag"}]
        [rule] = spec["rules"]
        assert rule["backendRefs"] == [{"group": "", "kind": "Service", "name": "ai-gateway", "port": 80}]
        assert not result.of_type("kubernetes:networking.k8s.io/v1:Ingress")
        assert "ingress-nginx" not in {r.inputs["chart"] for r in result.of_type("kubernetes:helm.sh/v3:Release")}
        assert result.outputs["gatewayUrl"] == f"https://{host}"


def test_the_ingress_path_warns_that_it_is_deprecated(caplog):
    values = copy.deepcopy(stack_values("dev"))
    values["rag"]["gateway"]["expose"] = "ingress"
    with caplog.at_level(logging.WARNING):
        result = run_config(values)
    assert result.error is None, result.error
    assert INGRESS_DEPRECATION in caplog.text
    assert len(result.of_type("kubernetes:networking.k8s.io/v1:Ingress")) == 1
    assert "ai-gateway" not in routes(result)  # the public Gateway does not route the RAG host then


def test_the_plan_prints_the_deprecation_as_a_note():
    from tools.plan import deprecation_notes

    values = copy.deepcopy(stack_values("dev"))
    cfg, _ = validate(values, "x")
    assert deprecation_notes(cfg) == []
    values["rag"]["gateway"]["expose"] = "ingress"
    cfg, _ = validate(values, "x")
    assert deprecation_notes(cfg) == [INGRESS_DEPRECATION]
