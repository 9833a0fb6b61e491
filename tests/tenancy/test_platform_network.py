"""Operator namespaces are default-deny like the workload ones, judged on the rendered charts.

Every admission webhook and aggregated API the charts register is resolved (webhook/APIService ->
Service -> selected pods -> container port) and must be reachable from the API server's addresses and
from nothing else; every operator pod (Helm hook Jobs included) reaches the API server and DNS and not
the internet; Prometheus scrapes every container port. Evaluated by tests/netpol.py over the
NetworkPolicies the program records.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from config import validate
from config.errors import ConfigError
from config.namespaces import platform_namespace_names
from config.network import api_server_cidrs
from tests.conftest import run_config, run_stack, stack_values
from tests.netpol import Ip, Network, Pod, matches
from tests.rag.conftest import ingress_run
from tests.render.conftest import rendered

STACKS = ("dev", "prod")
WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")
PLATFORM = platform_namespace_names()
INTERNET_HOST = Ip("18.244.0.1")
PROMETHEUS = Pod("observability", {"app.kubernetes.io/name": "prometheus"})
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
STRANGER = Pod("ai-app", {"app.kubernetes.io/name": "debug"})
MILVUS = Pod("ai-rag", {"app.kubernetes.io/name": "milvus", "component": "proxy"})


@cache
def network(stack: str) -> Network:
    return Network(run_stack(stack).resources)


def api_server(stack: str) -> Ip:
    cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    return Ip(str(ipaddress.ip_network(api_server_cidrs(cfg)[0])[4]))


def manifests(stack: str) -> list[dict[str, Any]]:
    return [o.manifest for o in rendered(stack).objects]


def pods(objects: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, str], dict[str, Any]]]:
    """(namespace, workload name, pod labels, pod spec) of every workload the charts render."""
    for o in objects:
        if o["kind"] in WORKLOADS:
            template = o["spec"]["template"]
            yield (o["metadata"].get("namespace", ""), o["metadata"]["name"],
                   template.get("metadata", {}).get("labels") or {}, template["spec"])


def container_port(spec: dict[str, Any], target: int | str) -> int:
    if isinstance(target, int):
        return target
    return next(p["containerPort"] for c in spec["containers"] for p in c.get("ports", []) if p.get("name") == target)


def api_server_targets(objects: list[dict[str, Any]]) -> list[tuple[str, Pod, int]]:
    """(what, pod, port) the API server calls: each webhook's and APIService's Service, resolved to its pods."""
    services = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Service"}
    refs: list[tuple[str, dict[str, Any]]] = []
    for o in objects:
        if o["kind"] in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            refs += [(f"{o['kind']} {o['metadata']['name']}", w["clientConfig"]["service"]) for w in o["webhooks"]]
        elif o["kind"] == "APIService" and o["spec"].get("service"):
            refs.append((f"APIService {o['metadata']['name']}", o["spec"]["service"]))
    found = []
    for what, ref in refs:
        svc = services[(ref["namespace"], ref["name"])]
        svc_port = next(p for p in svc["spec"]["ports"] if p["port"] == ref.get("port", 443))
        selected = [(ns, labels, spec) for ns, _, labels, spec in pods(objects)
                    if ns == ref["namespace"] and matches({"matchLabels": svc["spec"]["selector"]}, labels)]
        assert selected, f"{what}: no pod behind Service {ref['namespace']}/{ref['name']}"
        for ns, labels, spec in selected:
            target = svc_port.get("targetPort", svc_port["port"])
            found.append((what, Pod(ns, labels), container_port(spec, target)))
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_server_and_only_it_reaches_every_webhook_and_aggregated_api(stack):
    net, api = network(stack), api_server(stack)
    targets = api_server_targets(manifests(stack))
    kinds = {what.split()[0] for what, _, _ in targets}
    assert {"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"} <= kinds
    for what, pod, port in targets:
        assert net.can_reach(api, pod, port), (what, pod.namespace, port)
        assert not net.can_reach(STRANGER, pod, port), (what, "a pod of another namespace")
        assert not net.can_reach(INTERNET_HOST, pod, port), (what, "an internet address")


@pytest.mark.parametrize("stack", STACKS)
def test_operator_pods_reach_the_api_server_and_dns_and_nothing_outside(stack):
    net, api = network(stack), api_server(stack)
    values = stack_values(stack)
    acme = (values["rag"]["gateway"].get("certificate") or {}).get("issuer") == "acme"
    seen = set()
    for ns, name, labels, spec in pods(manifests(stack)):
        if ns not in PLATFORM or spec.get("hostNetwork"):
            continue
        seen.add(ns)
        pod = Pod(ns, labels)
        assert net.can_reach(pod, api, 443), (ns, name)
        assert net.can_reach(pod, DNS, 53, "UDP") and net.can_reach(pod, DNS, 53, "TCP"), (ns, name)
        assert not net.can_reach(pod, MILVUS, 19530), (ns, name)
        assert not net.can_reach(pod, Ip("10.99.1.1"), 443), (ns, name, "no private address but the API server")
        cert_manager_controller = ns == "cert-manager" and labels.get("app.kubernetes.io/component") == "controller"
        # istiod fetches the edge's JWT keys (flow istiod-jwks; dev and prod validate JWTs at the edge).
        istiod = ns == "istio-system" and labels.get("app") == "istiod"
        assert net.can_reach(pod, INTERNET_HOST, 443) == ((cert_manager_controller and acme) or istiod), (ns, name)
        for container in spec["containers"]:  # scraping: any port Prometheus finds
            for port in container.get("ports", []):
                assert net.can_reach(PROMETHEUS, pod, port["containerPort"]), (ns, name, port)
                xds = ns == "istio-system" and port["containerPort"] == 15012  # every enrolled namespace's proxies
                if (ns != "ingress-nginx" or port["containerPort"] not in (80, 443)) and not xds:
                    assert not net.can_reach(STRANGER, pod, port["containerPort"]), (ns, name, port)
    created = {r.inputs["metadata"]["name"] for r in run_stack(stack).of_type("kubernetes:core/v1:Namespace")}
    assert seen == created & PLATFORM, "every operator namespace has pods to judge"


def test_host_network_pods_are_only_node_exporter():
    """NetworkPolicy does not apply to host-network pods (their traffic is the node's): docs/tenancy.md lists
    them; any new one must be added there."""
    for stack in STACKS:
        host = {(ns, name) for ns, name, _, spec in pods(manifests(stack)) if spec.get("hostNetwork")}
        assert host == {("observability-node", "monitoring-prometheus-node-exporter")}, (stack, host)


def test_keda_metrics_api_reaches_the_operator_only_on_its_grpc_port():
    net = network("prod")
    metrics_api = Pod("keda", {"app": "keda-operator-metrics-apiserver"})
    operator = Pod("keda", {"app": "keda-operator", "app.kubernetes.io/name": "keda-operator"})
    assert net.can_reach(metrics_api, operator, 9666)
    assert not net.can_reach(metrics_api, operator, 8080)
    assert not net.can_reach(Pod("keda", {"app": "keda-admission-webhooks"}), operator, 9666)


# ---------------------------------------------------------------------------------------- the ingress



@pytest.mark.parametrize("stack", STACKS)
def test_only_https_and_the_acme_port_are_on_the_load_balancer(stack):
    # dev and prod expose the platform through the inference gateway's public Gateway (ingress-nginx is not
    # installed): the one LoadBalancer carries 443, and 80 only where an ACME certificate is solved over HTTP-01.
    assert "ingress-nginx" not in {r.release for r in rendered(stack).releases}
    lbs = [o for o in manifests(stack) if o["kind"] == "Service" and o["spec"].get("type") == "LoadBalancer"]
    [lb] = lbs
    assert (lb["metadata"]["namespace"], lb["metadata"]["name"]) == ("ai-gateway", "public-gateway")
    want = {(443, 443)} | ({(80, 80)} if stack == "prod" else set())
    assert {(p["port"], p["targetPort"]) for p in lb["spec"]["ports"]} == want
    assert lb["spec"]["loadBalancerSourceRanges"] == ["0.0.0.0/0"]
    assert lb["spec"]["externalTrafficPolicy"] == "Local", "client addresses reach Envoy"
    nlb = (lb["metadata"].get("annotations") or {}).get("service.beta.kubernetes.io/aws-load-balancer-type")
    assert nlb == ("nlb" if stack == "prod" else None)


def test_the_deprecated_ingress_controller_keeps_http_and_https_only_on_its_load_balancer():
    values = ingress_run("prod").named("ai-rag-ingress-ingress-nginx").inputs["values"]["controller"]
    assert values["service"]["type"] == "LoadBalancer" and values["service"]["externalTrafficPolicy"] == "Local"
    assert values["service"]["annotations"] == {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    assert values["config"] == {"limit-req-status-code": "429", "limit-conn-status-code": "429"}


def test_clients_reach_the_controller_but_not_its_management_ports_nor_the_gateways():
    run = ingress_run("prod")  # the AI gateway behind the (deprecated) Ingress
    net = Network(run.resources)
    controller = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                       "app.kubernetes.io/component": "controller"})
    gateway = Pod("ai-app", {"app.kubernetes.io/component": "gateway"})
    for port in (80, 443):
        assert net.can_reach(INTERNET_HOST, controller, port)
    for port in (10254, 8443):  # metrics, admission
        assert not net.can_reach(INTERNET_HOST, controller, port)
    # The controller forwards to the gateway's API port only; actuator (8081) is for Prometheus.
    assert net.can_reach(controller, gateway, 8080) and not net.can_reach(controller, gateway, 8081)
    assert net.can_reach(PROMETHEUS, gateway, 8081)
    result = run
    [ingress] = list(result.of_type("kubernetes:networking.k8s.io/v1:Ingress"))
    [path] = ingress.inputs["spec"]["rules"][0]["http"]["paths"]
    assert path["path"] == "/" and path["backend"]["service"] == {"name": "ai-gateway", "port": {"name": "http"}}
    [service] = [r for r in result.of_type("kubernetes:core/v1:Service")
                 if r.inputs["metadata"]["name"] == "ai-gateway"]
    http = next(p for p in service.inputs["spec"]["ports"] if p["name"] == "http")
    assert http["targetPort"] == "http"  # container port 8080, never management


def test_rate_limits_and_source_ranges_follow_the_config():
    result = ingress_run("dev")
    [ingress] = result.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    notes = ingress.inputs["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/limit-rps"] == "20"
    assert notes["nginx.ingress.kubernetes.io/limit-burst-multiplier"] == "5"
    assert notes["nginx.ingress.kubernetes.io/limit-connections"] == "50"
    assert "nginx.ingress.kubernetes.io/whitelist-source-range" not in notes, "open to the internet by default"

    values = stack_values("dev")
    values["rag"]["gateway"]["expose"] = "ingress"
    values["rag"]["gateway"]["ingress"] = {"sourceRanges": ["203.0.113.0/24", "198.51.100.0/24"],
                                           "rateLimit": {"rps": 5, "burstMultiplier": 2, "connections": None}}
    narrowed = run_config(values)
    [ingress] = narrowed.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    notes = ingress.inputs["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/whitelist-source-range"] == "203.0.113.0/24,198.51.100.0/24"
    assert notes["nginx.ingress.kubernetes.io/limit-rps"] == "5"
    assert "nginx.ingress.kubernetes.io/limit-connections" not in notes
    [release] = [r for r in narrowed.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "ingress-nginx"]
    service = release.inputs["values"]["controller"]["service"]
    assert service["loadBalancerSourceRanges"] == ["203.0.113.0/24", "198.51.100.0/24"]
    net = Network(narrowed.resources)
    controller = Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx",
                                       "app.kubernetes.io/component": "controller"})
    assert net.can_reach(Ip("203.0.113.9"), controller, 443)
    assert not net.can_reach(INTERNET_HOST, controller, 443)


def test_lets_encrypt_behind_narrow_source_ranges_is_a_config_error():
    values = stack_values("prod")
    values["rag"]["gateway"]["ingress"] = {"sourceRanges": ["203.0.113.0/24"]}
    with pytest.raises(ConfigError, match=r"rag\.gateway\.ingress\.sourceRanges.*Let's Encrypt"):
        validate(values, "Pulumi.prod.yaml")


def test_a_vpc_without_room_for_the_control_plane_subnets_is_a_config_error():
    values = stack_values("prod")
    values["cluster"]["eks"]["vpcCidr"] = "10.40.0.0/26"
    with pytest.raises(ConfigError, match=r"cluster\.eks\.vpcCidr"):
        validate(values, "Pulumi.prod.yaml")


def test_prometheus_adapter_is_fenced_like_the_other_operators():
    """No shipped stack autoscales through prometheus-adapter: switch every model to `autoscaling.engine: hpa`."""
    values = stack_values("prod")
    for model in values["serving"]["models"]:
        model.setdefault("autoscaling", {})["engine"] = "hpa"
    net = Network(run_config(values).resources)
    adapter = Pod("prometheus-adapter", {"app.kubernetes.io/name": "prometheus-adapter"})
    assert net.can_reach(api_server("prod"), adapter, 6443), "the custom.metrics.k8s.io APIService"
    assert not net.can_reach(STRANGER, adapter, 6443)
    assert net.can_reach(adapter, Pod("observability", {"app.kubernetes.io/name": "prometheus"}), 9090)
    assert net.can_reach(adapter, api_server("prod"), 443) and not net.can_reach(adapter, INTERNET_HOST, 443)
    assert net.can_reach(PROMETHEUS, adapter, 6443)
