"""Enrolment, mTLS and the AuthorizationPolicies derived from the flows table, and how NetworkPolicies admit the mesh.

Judged on the objects the real program registers for the shipped stacks (mock runs), with a small evaluator of
AuthorizationPolicy ALLOW semantics (ztunnel, L4): a workload selected by some ALLOW policy accepts a connection
only when a rule of one of them matches (`from.source.namespaces`: the peer's mesh identity; `to.operation.ports`);
a source outside the mesh has no namespace identity.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping

import pytest

import config.mesh as mesh_config
from config import ConfigError, validate
from config.inference import INTERNAL_GATEWAY
from config.mesh import authorization_policies, mesh_flows, peer_authentications
from config.namespaces import mesh_enrolled
from config.network import HBONE_PORT, PROBE_SNAT_CIDR, Flow, Peer, Port, inference_gateway_pods, with_hbone
from tests.conftest import run_stack, stack_values
from tests.mesh.conftest import stack_cfg
from tests.netpol import Ip, Network, Pod

AUTHZ = "kubernetes:security.istio.io/v1:AuthorizationPolicy"
PEER_AUTHN = "kubernetes:security.istio.io/v1:PeerAuthentication"
MODEL = {"app.kubernetes.io/component": "model-server", "ai-platform/model": "qwen7b"}
GATEWAY = {"app.kubernetes.io/component": "gateway"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
DEBUG = {"app.kubernetes.io/name": "debug"}


def recorded(stack: str, type_: str) -> list[dict]:
    return [r.inputs for r in run_stack(stack).of_type(type_)]


def _selected(policy: Mapping, labels: Mapping[str, str]) -> bool:
    wanted = (policy["spec"].get("selector") or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def _source_matches(source: Mapping, source_ns: str | None) -> bool:
    """`namespaces` needs that identity; `notPrincipals: ["*"]` matches only a connection without one."""
    assert set(source) <= {"namespaces", "notPrincipals"}, source
    if "notPrincipals" in source:
        assert source["notPrincipals"] == ["*"]
        return source_ns is None
    return source_ns in source["namespaces"]


def _rule_matches(rule: Mapping, source_ns: str | None, port: int) -> bool:
    sources = rule.get("from")
    if sources is not None and not any(_source_matches(s["source"], source_ns) for s in sources):
        return False
    targets = rule.get("to")
    return targets is None or any(str(port) in t["operation"].get("ports", []) for t in targets)


def mesh_allows(policies: list[dict], source_ns: str | None, dest_ns: str, labels: Mapping[str, str],
                port: int) -> bool:
    """Whether ztunnel lets a connection in (source_ns None: a source outside the mesh)."""
    # The edge's own policies on the Gateways' Envoy pods (JWT, objectives: L7, enforced by those Envoys) are
    # judged in tests/inference/test_edge.py; this evaluates the flow-derived ones.
    applicable = [p for p in policies if p["metadata"]["namespace"] == dest_ns and _selected(p, labels)
                  and p["metadata"]["name"].startswith("allow-")]
    assert all(p["spec"]["action"] == "ALLOW" for p in applicable)
    if not applicable:
        return True
    return any(_rule_matches(rule, source_ns, port) for p in applicable for rule in p["spec"].get("rules", []))


# ------------------------------------------------------------------------------------------ enrolment


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_workload_namespaces_and_only_they_join_the_mesh(stack):
    cfg = stack_cfg(stack)
    labels = {ns["metadata"]["name"]: ns["metadata"]["labels"]
              for ns in recorded(stack, "kubernetes:core/v1:Namespace")}
    enrolled = {ns for ns, found in labels.items() if found.get("istio.io/dataplane-mode") == "ambient"}
    gateway = {cfg.inference_gateway.namespace} if cfg.inference_gateway.enabled else set()
    assert enrolled == ((set(cfg.tenancy.namespaces) | gateway) if cfg.mesh.enabled else set())
    assert "istio-system" not in enrolled
    if cfg.mesh.enabled:
        assert labels["istio-system"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_the_inference_gateway_namespace_joins_when_the_program_creates_it():
    cfg = stack_cfg("prod")
    assert mesh_enrolled(cfg)[-1] == cfg.inference_gateway.namespace
    values = stack_values("prod")
    values["inferenceGateway"]["enabled"] = False
    for model in values["serving"]["models"]:
        model.pop("canary", None)
    values["inferenceGateway"].pop("objectives")
    values["rag"]["gateway"]["expose"] = "ingress"
    off, _ = validate(values, "Pulumi.prod.yaml")
    assert cfg.inference_gateway.namespace not in mesh_enrolled(off)


# ------------------------------------------------------------------------------------------------ mTLS


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_mutual_tls_is_strict_mesh_wide_with_plaintext_only_where_a_source_has_no_identity(stack):
    found = {(p["metadata"]["namespace"], p["metadata"]["name"]): p["spec"] for p in recorded(stack, PEER_AUTHN)}
    assert found.pop(("istio-system", "default")) == {"mtls": {"mode": "STRICT"}}
    enrolled = mesh_enrolled(stack_cfg(stack))
    plain = {(f.name, ns) for f, ns in mesh_flows(stack_cfg(stack))
             if f.source.is_ip or f.source.namespace not in enrolled}
    # Flows onto the same pods share one PeerAuthentication (its name joins theirs).
    assert plain and len(found) <= len(plain)
    assert all(any(flow in name for _, name in found) for flow, _ in plain), (plain, found)
    for (_, name), spec in found.items():
        assert spec["mtls"] == {"mode": "STRICT"} and spec["selector"]["matchLabels"], name
        assert all(mode == {"mode": "PERMISSIVE"} for mode in spec["portLevelMtls"].values()), name
    keda = found[("observability", "plaintext-keda-to-prometheus")]
    assert keda["selector"]["matchLabels"] == PROMETHEUS and list(keda["portLevelMtls"]) == ["9090"]


def test_permissive_mode_and_no_authorization_follow_the_config():
    cfg = stack_cfg("dev")
    relaxed = cfg.model_copy(update={"mesh": cfg.mesh.model_copy(update={"mtls": "permissive",
                                                                         "authorization": False})})
    assert [(p.name, p.spec()) for p in peer_authentications(relaxed)] == [
        ("default", {"mtls": {"mode": "PERMISSIVE"}})]
    assert authorization_policies(relaxed) == []
    off = cfg.model_copy(update={"mesh": cfg.mesh.model_copy(update={"enabled": False})})
    assert peer_authentications(off) == [] and authorization_policies(off) == []


# ------------------------------------------------------------------------------------------ authorization


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_enrolled_namespace_allows_nothing_by_default(stack):
    policies = recorded(stack, AUTHZ)
    for ns in mesh_enrolled(stack_cfg(stack)):
        [baseline] = [p for p in policies if (p["metadata"]["namespace"], p["metadata"]["name"]) ==
                      (ns, "allow-nothing")]
        assert baseline["spec"] == {"action": "ALLOW"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_designed_flow_is_allowed_by_the_mesh(stack):
    """Reachability: each flow ending in the mesh, tried with its source identity, passes on its port."""
    cfg = stack_cfg(stack)
    policies = recorded(stack, AUTHZ)
    enrolled = mesh_enrolled(cfg)
    flows = mesh_flows(cfg)
    assert {f.name for f, _ in flows} >= {"inference-gateway-to-serving", "ai-gateway-to-inference", "gateway-to-data",
                                          "prometheus-scrape", "otlp"}
    for flow, ns in flows:
        source = None if flow.source.is_ip or flow.source.namespace not in enrolled else flow.source.namespace
        keys = list(flow.dest.pods_in)
        for values in itertools.product(*(flow.dest.pods_in[k] for k in keys)):
            labels = dict(flow.dest.pods) | dict(zip(keys, values, strict=True))
            port = next((p.port for p in flow.ports if p.protocol == "TCP"), 12345)
            assert mesh_allows(policies, source, ns, labels, port), (flow.name, ns, labels)
            # ztunnel enforces L4 only; the edge's policies on the Gateways' Envoy pods (edge.py: JWT, objectives) are
            # enforced by those Envoys, which read L7.
            for rule in (r for p in policies if p["metadata"]["name"].startswith("allow-")
                         for r in p["spec"].get("rules", [])):
                assert set(rule) <= {"from", "to"}, "L4 fields only (no waypoint)"


@pytest.mark.parametrize("source, dest_ns, labels, port", [
    ("ai-inference", "ai-app", GATEWAY, 8080),        # models never call the gateway
    ("ai-rag", "ai-inference", MODEL, 8000),          # the data layer never calls the models
    ("ai-app", "ai-rag", {}, 22),                     # the gateway reaches the data layer only on its ports
    ("ai-app", "ai-inference", MODEL, 9090),
    (None, "ai-rag", {"app.kubernetes.io/name": "milvus"}, 19530),  # no identity, no designed flow
    (None, "ai-inference", MODEL, 8000),
    ("observability", "ai-app", GATEWAY, 8080),       # allowed (scraping: every port)
    ("ai-inference", "observability", PROMETHEUS, 9090),  # keda's plaintext allowance admits no mesh identity
])
def test_what_the_table_does_not_list_is_denied(source, dest_ns, labels, port):
    allowed = mesh_allows(recorded("dev", AUTHZ), source, dest_ns, labels, port)
    assert allowed == (source == "observability")


def test_a_flow_added_to_the_table_is_allowed_by_mesh_and_network_policies(monkeypatch):
    """New flows (another part of the platform adding, say, gateway -> endpoint picker on 9002) need no mesh code."""
    cfg = stack_cfg("dev")
    epp = Flow("gateway-to-epp", Peer("ai-app", GATEWAY), Peer("ai-inference", {"app": "qwen7b-epp"}),
               (Port(9002),), "the gateway asks the endpoint picker")
    real = mesh_config.flows
    monkeypatch.setattr(mesh_config, "flows", lambda c: [*real(c), epp])
    [policy] = [p for p in authorization_policies(cfg) if p.flow == "gateway-to-epp"]
    assert (policy.namespace, dict(policy.selector)) == ("ai-inference", {"app": "qwen7b-epp"})
    assert policy.spec()["rules"] == [{"from": [{"source": {"namespaces": ["ai-app"]}}],
                                       "to": [{"operation": {"ports": ["9002"]}}]}]
    assert [p.port for p in with_hbone(cfg, epp).ports] == [9002, HBONE_PORT]


# --------------------------------------------------------------------------------------- NetworkPolicies


@pytest.fixture(scope="module")
def dev_net():
    return Network(run_stack("dev").resources)


def test_hbone_is_admitted_between_enrolled_pods_of_a_flow_only(dev_net):
    gateway, model = Pod("ai-app", GATEWAY), Pod("ai-inference", MODEL)
    envoy = Pod("ai-gateway", inference_gateway_pods(INTERNAL_GATEWAY))
    assert dev_net.can_reach(gateway, envoy, 80) and dev_net.can_reach(gateway, envoy, HBONE_PORT)
    assert dev_net.can_reach(envoy, model, 8000) and dev_net.can_reach(envoy, model, HBONE_PORT)
    assert not dev_net.can_reach(gateway, model, HBONE_PORT), "the AI gateway calls models through the Gateway"
    assert not dev_net.can_reach(Pod("ai-app", DEBUG), model, HBONE_PORT)
    assert not dev_net.can_reach(model, gateway, HBONE_PORT)
    keda = Pod("keda", {"app.kubernetes.io/name": "keda-operator"})
    prometheus = Pod("observability", PROMETHEUS)
    assert dev_net.can_reach(keda, prometheus, 9090)
    assert not dev_net.can_reach(keda, prometheus, HBONE_PORT), "keda is outside the mesh: plaintext, no HBONE"


def test_kubelet_probes_reach_every_enrolled_pod_from_the_snat_address(dev_net):
    probe = Ip(PROBE_SNAT_CIDR.removesuffix("/32"))
    for ns in mesh_enrolled(stack_cfg("dev")):
        assert dev_net.can_reach(probe, Pod(ns, DEBUG), 8000), ns
    assert not dev_net.can_reach(Ip("169.254.7.126"), Pod("ai-inference", MODEL), 8000)
    assert not dev_net.can_reach(probe, Pod("keda", {"app": "keda-admission-webhooks"}), 9443), "not enrolled"


def test_mesh_control_plane_flows(dev_net):
    istiod = Pod("istio-system", {"app": "istiod"})
    assert dev_net.can_reach(Pod("ai-app", DEBUG), istiod, 15012)
    assert dev_net.can_reach(Pod("istio-system", {"app": "ztunnel"}), istiod, 15012)
    assert not dev_net.can_reach(Pod("keda", {"app": "keda-operator"}), istiod, 15012)
    assert not dev_net.can_reach(Pod("ai-app", DEBUG), istiod, 15017)
    local = Network(run_stack("local").resources)
    assert not local.can_reach(Ip("169.254.7.127"), Pod("ai-inference", MODEL), 8000), "no mesh, no probe rule"


# ------------------------------------------------------------------------------------------ config errors


@pytest.mark.parametrize("namespace, what", [
    ("ai-rag", "a workload namespace"), ("kube-system", "the cluster's own namespace"),
    ("keda", "the namespace of keda")])
def test_the_mesh_namespace_must_be_its_own(namespace, what):
    values = copy.deepcopy(stack_values("dev"))
    values["mesh"]["namespace"] = namespace
    with pytest.raises(ConfigError, match=rf"mesh\.namespace.*'{namespace}' is {what}"):
        validate(values, "Pulumi.dev.yaml")


def test_an_admission_registry_list_without_istio_is_refused():
    values = copy.deepcopy(stack_values("prod"))
    values["tenancy"]["admission"]["allowedRegistries"].remove("registry.istio.io/release")
    with pytest.raises(ConfigError, match=r"allowedRegistries.*registry\.istio\.io/release"):
        validate(values, "Pulumi.prod.yaml")
