"""ingress-tls and loadbalancer-services-allowed."""

from __future__ import annotations

import copy

import pytest

from policy.rules.network import host_covered

from .harness import run_resource

TLS = "ingress-tls"
LB = "loadbalancer-services-allowed"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
BACKEND = {"service": {"name": "ai-gateway", "port": {"number": 8080}}}


def rule(host: str | None) -> dict:
    r = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": BACKEND}]}}
    if host is not None:
        r["host"] = host
    return r


def ingress(hosts=("ai-api.example.com",), tls=None, annotations=None, **spec_extra) -> dict:
    tls = [{"hosts": list(hosts), "secretName": "ai-api-tls"}] if tls is None else tls
    metadata = {"name": "ai-gateway", "namespace": "ai-app"}
    if annotations:
        metadata["annotations"] = annotations
    return {"metadata": metadata,
            "spec": {"ingressClassName": "nginx", "rules": [rule(h) for h in hosts], "tls": tls, **spec_extra}}


def check_tls(props: dict) -> list[str]:
    return run_resource(TLS, INGRESS, props, name="ai-gateway-ingress")


# -------------------------------------------------------------------------------------- ingress-tls


@pytest.mark.parametrize("host, tls_host, covered", [
    ("ai-api.example.com", "ai-api.example.com", True),
    ("AI-API.example.com", "ai-api.EXAMPLE.com", True),
    ("ai-api.example.com", "*.example.com", True),
    ("a.b.example.com", "*.example.com", False),
    ("example.com", "*.example.com", False),
    ("*.example.com", "*.example.com", True),
    ("ai-api.example.com", "other.example.com", False),
    ("ai-api.example.org", "*.example.com", False),
])
def test_wildcards_cover_exactly_one_label(host, tls_host, covered):
    assert host_covered(host, tls_host) is covered


def test_ingress_with_tls_for_every_host_is_compliant():
    props = ingress(hosts=("ai-api.example.com", "chat.example.com"),
                    tls=[{"hosts": ["ai-api.example.com"], "secretName": "api-tls"},
                         {"hosts": ["*.example.com"], "secretName": "wildcard-tls"}])
    assert check_tls(props) == []


def test_cert_manager_ingress_with_tls_hosts_and_secret_name_is_compliant():
    props = ingress(annotations={"cert-manager.io/cluster-issuer": "letsencrypt"})
    assert check_tls(props) == []


def test_ingress_without_tls_is_a_violation_naming_the_hosts():
    [message] = check_tls(ingress(hosts=("ai-api.example.com", "chat.example.com"), tls=[]))
    assert message.startswith("Ingress ai-app/ai-gateway: no spec.tls entry covers "
                              "ai-api.example.com, chat.example.com")
    assert "list each host in a spec.tls entry with a secretName" in message
    assert "cert-manager.io/cluster-issuer" in message


def test_uncovered_host_is_a_violation():
    props = ingress(hosts=("ai-api.example.com", "a.b.example.com"),
                    tls=[{"hosts": ["ai-api.example.com", "*.example.com"], "secretName": "tls"}])
    [message] = check_tls(props)
    assert "no spec.tls entry covers a.b.example.com" in message and "covers ai-api" not in message


@pytest.mark.parametrize("annotations", [None, {"cert-manager.io/issuer": "ca"}], ids=["plain", "cert-manager"])
def test_tls_entry_without_secret_name_is_a_violation_even_with_cert_manager(annotations):
    [message] = check_tls(ingress(tls=[{"hosts": ["ai-api.example.com"]}], annotations=annotations))
    assert "spec.tls[0] has no secretName" in message
    if annotations:
        assert "cert-manager (annotated) creates the secret named by secretName" in message


def test_cert_manager_annotation_does_not_replace_tls_hosts():
    props = ingress(tls=[{"secretName": "ai-api-tls"}], annotations={"cert-manager.io/cluster-issuer": "le"})
    [message] = check_tls(props)
    assert "no spec.tls entry covers ai-api.example.com" in message and "spec.tls[0] has no hosts" in message


@pytest.mark.parametrize("spec_extra, text", [
    ({"defaultBackend": BACKEND}, "spec.defaultBackend serves every host name"),
], ids=["default-backend"])
def test_default_backend_is_a_violation(spec_extra, text):
    assert text in check_tls(ingress(**spec_extra))[0]


def test_rule_without_host_is_a_violation():
    props = ingress()
    props["spec"]["rules"].append(rule(None))
    [message] = check_tls(props)
    assert "a rule has no host" in message


@pytest.mark.parametrize("props", [{}, {"metadata": {"name": "x"}}, {"spec": {}}, {"spec": {"rules": []}},
                                   {"spec": {"tls": [{"hosts": ["a.example.com"], "secretName": "s"}]}}],
                         ids=["empty", "no-spec", "empty-spec", "no-rules", "tls-only"])
def test_ingress_routing_nothing_is_compliant(props):
    assert check_tls(props) == []


def test_tls_absent_is_like_empty():
    props = ingress()
    del props["spec"]["tls"]
    assert "no spec.tls entry covers ai-api.example.com" in check_tls(props)[0]


def test_other_types_are_ignored_by_ingress_tls():
    assert run_resource(TLS, SERVICE, ingress(tls=[])) == []


# ---------------------------------------------------------------------------- loadbalancer-services


def service(namespace: str | None, type_: str | None = "LoadBalancer") -> dict:
    props = {"metadata": {"name": "edge"}, "spec": {"ports": [{"port": 443, "targetPort": 8443}]}}
    if namespace is not None:
        props["metadata"]["namespace"] = namespace
    if type_ is not None:
        props["spec"]["type"] = type_
    return props


def check_lb(props: dict, config: dict | None = None) -> list[str]:
    return run_resource(LB, SERVICE, props, config, name="edge-svc")


def test_load_balancer_in_the_ingress_namespace_is_compliant():
    assert check_lb(service("ingress-nginx")) == []


@pytest.mark.parametrize("type_", [None, "ClusterIP", "ExternalName"])
def test_other_service_types_are_compliant_anywhere(type_):
    assert check_lb(service("ai-app", type_)) == []


@pytest.mark.parametrize("type_", ["LoadBalancer", "NodePort"])
def test_load_balancer_and_node_port_elsewhere_are_a_violation(type_):
    [message] = check_lb(service("ai-app", type_))
    assert message.startswith(f"Service ai-app/edge: is of type {type_}")
    assert "only allowed in ingress-nginx, ai-gateway (allowedNamespaces)" in message and "ClusterIP" in message
    assert check_lb(service("ingress-nginx", type_)) == []
    assert check_lb(service("ai-gateway", type_)) == []  # the inference gateway's public Gateway


def test_external_ips_outside_the_ingress_namespace_are_a_violation():
    props = service("ai-app", "ClusterIP")
    props["spec"]["externalIPs"] = ["203.0.113.10"]
    [message] = check_lb(props)
    assert "has externalIPs 203.0.113.10" in message
    props["metadata"]["namespace"] = "ingress-nginx"
    assert check_lb(props) == []


def test_node_port_in_chart_values_is_caught_on_the_rendered_service():
    """A Release whose values turn a chart Service into a NodePort: judged on the rendered object."""
    from policy.rules.network import _check_exposure
    from policy.rules.objects import KubeObject
    rendered = KubeObject({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "grafana"},
                           "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
                          source="chart:monitoring", release_namespace="observability")
    [message] = _check_exposure(rendered, {})
    assert message.startswith("is of type NodePort")
    assert rendered.ref() == "Service observability/grafana (chart monitoring)"


def test_load_balancer_without_namespace_is_in_default():
    assert "Service default/edge" in check_lb(service(None))[0]


def test_allowed_namespaces_config():
    assert check_lb(service("ai-app"), {"allowedNamespaces": ["ai-app"]}) == []
    [message] = check_lb(service("ingress-nginx"), {"allowedNamespaces": []})
    assert "only allowed in no namespace" in message


@pytest.mark.parametrize("props", [{}, {"metadata": {"name": "x"}}, {"spec": {}}], ids=["empty", "no-spec", "no-type"])
def test_missing_properties_are_cluster_ip(props):
    assert check_lb(copy.deepcopy(props)) == []


def test_other_types_are_ignored_by_the_load_balancer_rule():
    assert run_resource(LB, INGRESS, service("ai-app")) == []
