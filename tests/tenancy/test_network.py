"""The NetworkPolicies the Tenancy component records let exactly the designed flows through.

Judged by tests/netpol.py (NetworkPolicy semantics) over the objects the real program registers
for the shipped stacks: every flow of config/network.py is open, and the neighbouring paths a
wrong selector, port or namespace would open are closed.
"""

from __future__ import annotations

import copy
import ipaddress

import pytest

from config import validate
from config.endpoints import endpoints
from config.network import flows
from tests.conftest import run_config, run_stack, stack_values
from tests.netpol import Ip, Network, Pod
from tests.rag.conftest import ingress_run
from tools.mockrun import stack_config

MODEL = {"app.kubernetes.io/component": "model-server", "ai-platform/model": "qwen7b"}
EMBEDDING = {"app.kubernetes.io/component": "embedding"}
DOWNLOAD = {"ai-platform/role": "model-download", "app.kubernetes.io/component": "model-cache"}
GATEWAY = {"app.kubernetes.io/component": "gateway"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
GRAFANA = {"app.kubernetes.io/name": "grafana"}
ALERTMANAGER = {"app.kubernetes.io/name": "alertmanager"}
COLLECTOR = {"app.kubernetes.io/name": "opentelemetry-collector"}
CONTROLLER = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
DNS = Pod("kube-system", {"k8s-app": "kube-dns"})
INTERNAL_ENVOY = {"app.kubernetes.io/name": "internal-gateway"}
MILVUS = {"app.kubernetes.io/name": "milvus", "component": "proxy"}
ETCD = {"app.kubernetes.io/name": "etcd"}
HF_HUB = Ip("18.244.0.1")  # a public address (huggingface.co sits behind CloudFront)
VPC_HOST = Ip("10.40.3.7")
EKS_API_SERVER = Ip("10.40.255.215")  # an ENI in prod's first control-plane /28 (10.40.255.208/28)


@pytest.fixture(scope="module")
def prod():
    return Network(run_stack("prod").resources)


@pytest.fixture(scope="module")
def prod_ports():
    cfg, _ = validate(stack_values("prod"), "Pulumi.prod.yaml")
    eps = endpoints(cfg)
    return {k: e.target_ports() for k, e in eps.items()}


def test_default_deny_in_every_namespace_the_program_creates(stack_name):
    result = run_stack(stack_name)
    values, _ = stack_config(stack_name)
    net = Network(result.resources)
    created = [r.inputs["metadata"]["name"] for r in result.of_type("kubernetes:core/v1:Namespace")]
    assert set(values["tenancy"]["namespaces"]) < set(created), "operator namespaces too"
    for ns in created:
        deny = [p for p in net.policies if p["metadata"]["namespace"] == ns and p["metadata"]["name"] == "default-deny"]
        assert len(deny) == 1, ns
        assert deny[0]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
        stranger = Pod(ns, {"app": "anything"})
        # Nothing from another workload namespace reaches an unlisted pod, and it reaches nothing.
        for other in created:
            if other != ns:
                assert not net.can_reach(Pod(other, {"app": "x"}), stranger, 8080)
        if not (values["cluster"]["provider"] == "existing"
                and (ns == "observability" or ns not in values["tenancy"]["namespaces"])):
            # (an existing cluster without cluster.existing.apiServerCidr opens 443 for the API server to the
            # namespaces that talk to it: observability and the operators')
            assert not net.can_reach(stranger, HF_HUB, 443)
        assert net.can_reach(stranger, DNS, 53, "UDP") and net.can_reach(stranger, DNS, 53, "TCP")
        assert not net.can_reach(stranger, DNS, 80)


def test_gateway_reaches_models_embeddings_and_data_on_their_ports_only(prod, prod_ports):
    gateway = Pod("ai-app", GATEWAY)
    # prod runs the inference gateway: the AI gateway calls models only through the internal Gateway's Envoy pods,
    # which reach the model and embedding servers on their API ports.
    for port in prod_ports["inference-gateway"]:
        assert prod.can_reach(gateway, Pod("ai-gateway", INTERNAL_ENVOY), port)
    for port in prod_ports["model/qwen72b"]:
        assert not prod.can_reach(gateway, Pod("ai-inference", MODEL), port)
        assert prod.can_reach(Pod("ai-gateway", INTERNAL_ENVOY), Pod("ai-inference", MODEL), port)
    for port in prod_ports["embedding"]:
        assert not prod.can_reach(gateway, Pod("ai-inference", EMBEDDING), port)
        assert prod.can_reach(Pod("ai-gateway", INTERNAL_ENVOY), Pod("ai-inference", EMBEDDING), port)
    for key in ("vector-store", "full-text", "cache"):
        for port in prod_ports[key]:
            assert prod.can_reach(gateway, Pod("ai-rag", MILVUS), port), (key, port)
    assert not prod.can_reach(gateway, Pod("ai-inference", MODEL), 22)
    assert not prod.can_reach(gateway, Pod("ai-inference", DOWNLOAD), 8000), "only servers, not jobs"
    assert not prod.can_reach(gateway, Pod("ai-rag", MILVUS), 2379), "etcd is internal to the data layer"
    assert not prod.can_reach(gateway, HF_HUB, 443)
    assert not prod.can_reach(Pod("ai-app", {"app.kubernetes.io/component": "other"}),
                              Pod("ai-inference", MODEL), 8000), "only the gateway's pods"


def test_serving_reaches_the_data_layer_and_nothing_else(prod, prod_ports):
    server = Pod("ai-inference", MODEL)
    for key in ("vector-store", "full-text", "cache"):
        for port in prod_ports[key]:
            assert prod.can_reach(server, Pod("ai-rag", MILVUS), port)
    assert not prod.can_reach(server, Pod("ai-rag", ETCD), 2379)
    assert not prod.can_reach(server, Pod("ai-app", GATEWAY), 8080)
    assert not prod.can_reach(server, Pod("ai-inference", EMBEDDING), 8000), "no lateral traffic between servers"
    assert not prod.can_reach(server, HF_HUB, 443), "model servers never reach the internet"
    assert not prod.can_reach(server, VPC_HOST, 443)
    assert prod.can_reach(server, Pod("observability", COLLECTOR), 4317)
    assert not prod.can_reach(server, Pod("observability", GRAFANA), 3000)


def test_data_layer_accepts_only_serving_and_gateway(prod):
    milvus = Pod("ai-rag", MILVUS)
    assert prod.can_reach(Pod("ai-rag", ETCD), milvus, 19530), "members of the data layer talk freely"
    assert prod.can_reach(milvus, Pod("ai-rag", ETCD), 2379)
    for outsider in (Pod("ai-inference", DOWNLOAD), Pod("ai-app", {"app": "batch"}), Pod("observability", GRAFANA),
                     Pod("ingress-nginx", CONTROLLER), Pod("default", {})):
        assert not prod.can_reach(outsider, milvus, 19530), outsider
    assert not prod.can_reach(milvus, Pod("ai-inference", MODEL), 8000), "the data layer calls nobody"
    # prod's Milvus keeps its segments in the S3 bucket: 443 to public addresses, nothing private.
    assert prod.can_reach(milvus, HF_HUB, 443) and not prod.can_reach(milvus, VPC_HOST, 443)
    assert not prod.can_reach(milvus, HF_HUB, 80)
    assert not prod.can_reach(Pod("ai-rag", ETCD), HF_HUB, 443), "only the bucket's users"


def test_model_downloads_reach_only_the_public_internet_on_443(prod):
    job = Pod("ai-inference", DOWNLOAD)
    assert prod.can_reach(job, HF_HUB, 443)
    assert not prod.can_reach(job, HF_HUB, 80)
    assert not prod.can_reach(job, VPC_HOST, 443), "private ranges are excluded"
    assert not prod.can_reach(job, Pod("ai-rag", MILVUS), 19530)


def test_prometheus_scrapes_every_namespace_and_nothing_else_does(prod):
    prometheus = Pod("observability", PROMETHEUS)
    for target in (Pod("ai-inference", MODEL), Pod("ai-rag", ETCD), Pod("ai-app", GATEWAY),
                   Pod("gpu-operator", {"app": "nvidia-dcgm-exporter"}), Pod("observability", GRAFANA)):
        assert prod.can_reach(prometheus, target, 9400), target
    assert prod.can_reach(prometheus, VPC_HOST, 10250), "kubelet on the nodes"
    assert not prod.can_reach(Pod("observability", GRAFANA), Pod("ai-inference", MODEL), 8000)
    assert prod.can_reach(Pod("observability", GRAFANA), Pod("observability", PROMETHEUS), 9090)
    assert prod.can_reach(Pod("observability", ALERTMANAGER), HF_HUB, 443)
    assert not prod.can_reach(Pod("observability", GRAFANA), HF_HUB, 443)


def test_ingress_controller_reaches_the_gateway_only(prod_ports):
    # prod with the AI gateway exposed through the (deprecated) Ingress instead of the inference gateway.
    prod = Network(ingress_run("prod").resources)
    controller = Pod("ingress-nginx", CONTROLLER)
    for port in prod_ports["gateway"]:
        assert prod.can_reach(controller, Pod("ai-app", GATEWAY), port)
    assert not prod.can_reach(controller, Pod("ai-app", {"app": "other"}), prod_ports["gateway"][0])
    assert not prod.can_reach(controller, Pod("ai-inference", MODEL), 8000)
    assert not prod.can_reach(controller, Pod("ai-rag", MILVUS), 19530)
    assert not prod.can_reach(controller, HF_HUB, 443)
    assert prod.can_reach(controller, EKS_API_SERVER, 443), "the API server (EKS control-plane ENIs, their /28s)"
    assert not prod.can_reach(controller, VPC_HOST, 443), "not the rest of the VPC"
    assert prod.can_reach(controller, DNS, 53, "UDP")


def test_every_designed_flow_is_open(stack_name):
    """Each flow of config/network.py, tried with a pod its selectors pick, passes both sides."""
    values, _ = stack_config(stack_name)
    cfg, _ = validate(values, f"Pulumi.{stack_name}.yaml")
    net = Network(run_stack(stack_name).resources)
    for flow in flows(cfg):
        labels = dict(flow.source.pods) | {k: v[0] for k, v in flow.source.pods_in.items()}
        source: Pod | Ip = (Ip(str(ipaddress.ip_network(flow.source.cidrs[0])[-1])) if flow.source.is_ip
                            else Pod(flow.source.namespace, labels))
        if flow.dest.is_ip:
            cidr = flow.dest.cidrs[0]
            dest = Ip(str(ipaddress.ip_network(cidr)[1])) if cidr != "0.0.0.0/0" else HF_HUB
        else:
            ns = "ai-rag" if flow.dest.namespace == "*" else flow.dest.namespace
            dest = Pod(ns, dict(flow.dest.pods) | {k: v[0] for k, v in flow.dest.pods_in.items()})
        port = flow.ports[0] if flow.ports else None
        assert net.can_reach(source, dest, port.port if port else 12345, port.protocol if port else "TCP"), flow.name


def test_internet_egress_switch_opens_443_for_every_workload():
    values = stack_values("dev")
    closed = Network(run_config(copy.deepcopy(values)).resources)
    values["tenancy"]["internetEgress"] = True
    opened = Network(run_config(values).resources)
    server = Pod("ai-inference", MODEL)
    assert not closed.can_reach(server, HF_HUB, 443)
    assert opened.can_reach(server, HF_HUB, 443)
    assert not opened.can_reach(server, VPC_HOST, 443)
    assert not opened.can_reach(server, HF_HUB, 80)


def test_api_server_range_follows_the_cluster():
    dev = Network(run_stack("dev").resources)
    [policy] = [p for p in dev.policies if p["metadata"]["name"] == "allow-observability-api-server"]
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "172.16.0.0/28"}}]  # GKE private master
    local = Network(run_stack("local").resources)
    [policy] = [p for p in local.policies if p["metadata"]["name"] == "allow-observability-api-server"]
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert {p["port"] for p in policy["spec"]["egress"][0]["ports"]} == {443, 6443}
    values = stack_values("local")
    values["cluster"]["existing"]["apiServerCidr"] = "172.18.0.0/16"
    kind = Network(run_config(values).resources)
    [policy] = [p for p in kind.policies if p["metadata"]["name"] == "allow-observability-api-server"]
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "172.18.0.0/16"}}]
    assert not kind.can_reach(Pod("observability", GRAFANA), HF_HUB, 443)
    prod = Network(run_stack("prod").resources)
    [policy] = [p for p in prod.policies if p["metadata"]["name"] == "allow-observability-api-server"]
    # EKS: the control plane's own /28s (components/cluster/eks/network.py), not the VPC.
    assert policy["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": c}} for c in
                                                 ("10.40.255.208/28", "10.40.255.224/28", "10.40.255.240/28")]


def kept_by_exclude_protected(result) -> set[str]:
    """URNs `pulumi destroy --exclude-protected` keeps: protected resources and, transitively, what they depend
    on (dependencies and parents), as pulumi/pulumi pkg/cmd/pulumi/operations/destroy.go separateProtected
    computes it."""
    by_urn, kept = result.by_urn(), set()
    todo = [r.urn for r in result.resources if r.protect]
    while todo:
        urn = todo.pop()
        if urn in kept or urn not in by_urn:
            continue
        kept.add(urn)
        res = by_urn[urn]
        todo += [*res.dependencies, *([res.parent] if res.parent else [])]
    return kept


def test_destroy_exclude_protected_keeps_the_fence_around_protected_data():
    result = run_stack("prod")
    kept = kept_by_exclude_protected(result)
    survivors = [r for r in result.resources if r.urn in kept]
    names = {(r.inputs.get("metadata", {}).get("namespace"), r.inputs.get("metadata", {}).get("name"), r.type)
             for r in survivors if r.type.startswith("kubernetes:")}
    policy = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    assert (None, "ai-rag", "kubernetes:core/v1:Namespace") in names
    for name in ("default-deny", "allow-dns-to-kube-system", "allow-data-internal-to-ai-rag",
                 "allow-data-internal-from-ai-rag"):
        assert ("ai-rag", name, policy) in names, name
    assert ("ai-rag", "search", "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch") in names
    # What is left fences Elasticsearch off from every other pod, and lets its nodes find each other.
    net = Network(survivors)
    es = Pod("ai-rag", {"common.k8s.elastic.co/type": "elasticsearch"})
    for outsider in (Pod("ai-app", GATEWAY), Pod("default", {}), Pod("ai-inference", MODEL),
                     Pod("elastic-system", {"app.kubernetes.io/name": "elastic-operator"})):
        assert not net.can_reach(outsider, es, 9200), outsider
    assert net.can_reach(es, es, 9300) and net.can_reach(es, DNS, 53, "UDP")
    assert not net.can_reach(es, HF_HUB, 443)
    # Only the stable baseline is protected (allows that follow the config can still change or go).
    protected = [r for r in result.of_type(policy) if r.protect]
    assert {r.inputs["metadata"]["namespace"] for r in protected} == {"ai-rag"}
    assert not [r for r in result.of_type(policy) if r.inputs["metadata"]["namespace"] != "ai-rag" and r.protect]


def test_without_deletion_protection_nothing_is_kept():
    result = run_stack("dev")
    assert not [r for r in result.resources if r.protect and r.type.startswith("kubernetes:")]
