"""netpol-no-allow-all, netpol-internet-egress and privileged-flow-labels."""

from __future__ import annotations

import pytest

from policy.rules.netpol_content import DEFAULT_INTERNET_EGRESS, _check_flow_labels
from policy.rules.objects import KubeObject

from .harness import run_resource

ALLOW_ALL = "netpol-no-allow-all"
INTERNET = "netpol-internet-egress"
FLOW_LABELS = "privileged-flow-labels"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
PRIVATE = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
WORLD = {"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE}}


def netpol(name: str, pods: dict | None, egress=None, ingress=None, namespace: str = "ai-inference") -> dict:
    spec: dict = {"podSelector": {"matchLabels": pods} if pods else {}}
    if egress is not None:
        spec["egress"] = egress
    if ingress is not None:
        spec["ingress"] = ingress
    spec["policyTypes"] = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    return {"metadata": {"name": name, "namespace": namespace}, "spec": spec}


def tcp(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": p} for p in ports]


# ------------------------------------------------------------------------------------- allow-all


def test_default_deny_and_named_flows_are_compliant():
    assert run_resource(ALLOW_ALL, NETPOL, netpol("default-deny", None, egress=[], ingress=[])) == []
    flow = netpol("allow-gateway-to-serving", {"app.kubernetes.io/component": "model-server"}, ingress=[
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ai-app"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}}}], "ports": tcp(8000)}])
    assert run_resource(ALLOW_ALL, NETPOL, flow) == []
    # Every namespace, but one port: the platform's scrape-style flows are named by port.
    scoped = netpol("dns", None, egress=[{"to": [{"namespaceSelector": {}}], "ports": tcp(53)}])
    assert run_resource(ALLOW_ALL, NETPOL, scoped) == []


@pytest.mark.parametrize("egress, ingress, text", [
    ([{}], None, "egress[0] has no to peers: every destination on every port"),
    ([{"to": [], "ports": tcp(443)}], None, "egress[0] has no to peers: every destination on its ports"),
    (None, [{}], "ingress[0] has no from peers: every source on every port"),
    ([{"to": [{}]}], None, "egress[0] has a peer {} (everything)"),
    ([{"to": [{"namespaceSelector": {}}]}], None, "egress[0] allows every pod of every namespace"),
    (None, [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": tcp(8000)}],
     "ingress[0] allows 0.0.0.0/0 (the whole internet) in"),
])
def test_allow_all_rules_are_a_violation(egress, ingress, text):
    [message] = run_resource(ALLOW_ALL, NETPOL, netpol("allow-everything", {"app": "x"}, egress, ingress))
    assert text in message


def test_the_designed_allow_all_flows_are_excepted_by_name_and_selector():
    scrape = netpol("allow-prometheus-scrape-to-all", {"app.kubernetes.io/name": "prometheus"},
                    egress=[{"to": [{"namespaceSelector": {}}]}], namespace="observability")
    assert run_resource(ALLOW_ALL, NETPOL, scrape) == []
    # The same rule for other pods, or under another name, is not the designed flow.
    scrape["spec"]["podSelector"] = {"matchLabels": {"app.kubernetes.io/name": "grafana"}}
    assert len(run_resource(ALLOW_ALL, NETPOL, scrape)) == 1


# ------------------------------------------------------------------------------- internet egress


@pytest.mark.parametrize("entry", DEFAULT_INTERNET_EGRESS, ids=lambda e: ",".join(e["podLabels"].values()))
def test_the_designed_internet_flows_are_compliant(entry):
    policy = netpol("allow-x", dict(entry["podLabels"]), egress=[{"to": [WORLD], "ports": tcp(*entry["ports"])}])
    assert run_resource(INTERNET, NETPOL, policy) == []


@pytest.mark.parametrize("pods, ports, text", [
    ({"app.kubernetes.io/component": "model-server"}, (443,), "opens 0.0.0.0/0 on 443 to "
                                                              "app.kubernetes.io/component=model-server"),
    (None, (443,), "on 443 to every pod"),
    ({"ai-platform/role": "model-download"}, (22,), "on 22 to ai-platform/role=model-download"),
    ({"ai-platform/role": "model-download"}, (), "on every port"),
])
def test_other_internet_egress_is_a_violation(pods, ports, text):
    rule = {"to": [WORLD], **({"ports": tcp(*ports)} if ports else {})}
    [message] = run_resource(INTERNET, NETPOL, netpol("allow-x", pods, egress=[rule]))
    assert text in message and "not a designed internet flow" in message


def test_ipv6_world_and_config():
    policy = netpol("allow-x", {"app": "web"}, egress=[{"to": [{"ipBlock": {"cidr": "::/0"}}], "ports": tcp(443)}])
    assert "opens ::/0" in run_resource(INTERNET, NETPOL, policy)[0]
    assert run_resource(INTERNET, NETPOL, policy, {"internetEgress": [{"podLabels": {"app": "web"},
                                                                       "ports": [443]}]}) == []
    assert run_resource(INTERNET, NETPOL, policy, {"internetEgressNamespaces": ["ai-inference"]}) == []
    # internetEgressNamespaces opens 443 only.
    policy["spec"]["egress"][0]["ports"] = tcp(22)
    assert len(run_resource(INTERNET, NETPOL, policy, {"internetEgressNamespaces": ["ai-inference"]})) == 1


def test_unknown_api_server_address_flows_are_accepted_on_their_ports_only():
    api = netpol("allow-api-server", None, egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                                                     "ports": tcp(443, 6443)}])
    assert run_resource(INTERNET, NETPOL, api) == []
    api["spec"]["egress"][0]["ports"] = tcp(443, 22)
    assert len(run_resource(INTERNET, NETPOL, api)) == 1


def test_private_cidrs_are_not_the_internet():
    policy = netpol("allow-x", {"app": "web"}, egress=[{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}])
    assert run_resource(INTERNET, NETPOL, policy) == []


# ------------------------------------------------------------------------------ flow identities


def workload(labels: dict, kind: str = "Deployment") -> dict:
    template = {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    return {"metadata": {"name": "qwen7b", "namespace": "ai-inference"}, "spec": {"template": template}}


def test_the_download_job_may_carry_the_download_identity():
    assert run_resource(FLOW_LABELS, JOB, workload({"ai-platform/role": "model-download"})) == []
    assert run_resource(FLOW_LABELS, DEPLOYMENT, workload({"app.kubernetes.io/component": "model-server"})) == []


def test_the_download_identity_on_a_model_server_is_a_violation():
    [message] = run_resource(FLOW_LABELS, DEPLOYMENT, workload({"ai-platform/role": "model-download"}))
    assert message.startswith("Deployment ai-inference/qwen7b: pod template carries ai-platform/role: model-download")


def test_other_role_identities_only_on_program_jobs_and_cronjobs():
    cron = {"metadata": {"name": "backup", "namespace": "ai-rag"},
            "spec": {"jobTemplate": {"spec": {"template": workload({"ai-platform/role": "milvus-backup"})["spec"][
                "template"]}}}}
    assert run_resource(FLOW_LABELS, "kubernetes:batch/v1:CronJob", cron) == []
    [message] = run_resource(FLOW_LABELS, "kubernetes:apps/v1:StatefulSet", workload({"ai-platform/role":
                                                                                       "milvus-users"}))
    assert "ai-platform/role: milvus-users, a network identity reserved" in message
    # A chart's Job is not the program's.
    body = {"apiVersion": "batch/v1", "kind": "Job", **workload({"ai-platform/role": "model-download"})}
    chart_job = KubeObject(body, source="chart:milvus", release_namespace="ai-rag")
    assert len(list(_check_flow_labels(chart_job, {}))) == 1
    pod = KubeObject({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {
        "ai-platform/role": "model-download"}}, "spec": {"containers": []}})
    assert len(list(_check_flow_labels(pod, {}))) == 1
