"""RAG flows against the Tenancy component's recorded NetworkPolicies (judged by tests/netpol.py).

Gateway -> model servers, embeddings and the data layer, and model servers -> the data layer go
through (with the inference gateway, models only through its internal Gateway); the data layer's internal ports
stay inside its namespace, and nothing reaches the gateway but the public entry (the public Gateway, or the ingress
controller) and Prometheus on the management port.
"""

from __future__ import annotations

import pytest

from tests.conftest import run_stack
from tests.netpol import Ip, Network, Pod

from .conftest import k8s

# Chart pods carry the charts' own labels (milvus-helm, ECK and redis-ha templates).
MILVUS_PROXY = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": "milvus", "component": "proxy",
                "app.kubernetes.io/part-of": "ai-platform", "app.kubernetes.io/component": "vector-store"}
ES = {"elasticsearch.k8s.elastic.co/cluster-name": "search", "common.k8s.elastic.co/type": "elasticsearch",
      "app.kubernetes.io/name": "search", "app.kubernetes.io/component": "full-text"}
HAPROXY = {"app": "redis-ha-haproxy", "release": "redis"}
MODEL = {"app.kubernetes.io/component": "model-server", "ai-platform/model": "qwen7b"}
EMBEDDING = {"app.kubernetes.io/component": "embedding"}
CONTROLLER = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
# The inference gateway's Envoy pods (istio `gateway` chart releases, components/inference/gateway.py).
PUBLIC_ENVOY = {"app.kubernetes.io/name": "public-gateway", "istio": "public-gateway"}
INTERNAL_ENVOY = {"app.kubernetes.io/name": "internal-gateway", "istio": "internal-gateway"}


@pytest.fixture(scope="module")
def prod():
    result = run_stack("prod")
    gateway_labels = k8s(result, "Deployment", "ai-gateway").inputs["spec"]["template"]["metadata"]["labels"]
    return Network(result.resources), Pod("ai-app", gateway_labels)


def test_gateway_reaches_serving_and_data_serving_reaches_data(prod):
    net, gateway = prod
    serving = [Pod("ai-inference", MODEL), Pod("ai-inference", EMBEDDING)]
    data = [(Pod("ai-rag", MILVUS_PROXY), 19530), (Pod("ai-rag", ES), 9200), (Pod("ai-rag", HAPROXY), 6379)]
    for target, port in data:
        assert net.can_reach(gateway, target, port), (target, port)
        assert net.can_reach(serving[0], target, port), (target, port)
    # prod runs the inference gateway: the AI gateway calls models only through the internal Gateway, and the
    # public Gateway (not ingress-nginx, which prod no longer installs) forwards the RAG API host to it.
    for server in serving:
        assert not net.can_reach(gateway, server, 8000), server
        assert net.can_reach(Pod("ai-gateway", INTERNAL_ENVOY), server, 8000), server
    assert net.can_reach(gateway, Pod("ai-gateway", INTERNAL_ENVOY), 80)
    assert net.can_reach(Pod("ai-gateway", PUBLIC_ENVOY), gateway, 8080)
    assert not net.can_reach(Pod("ingress-nginx", CONTROLLER), gateway, 8080)


def test_and_nothing_else(prod):
    net, gateway = prod
    stranger = Pod("ai-app", {"app.kubernetes.io/name": "debug"})
    for target, port in ((Pod("ai-rag", MILVUS_PROXY), 19530), (Pod("ai-rag", ES), 9200),
                         (Pod("ai-rag", HAPROXY), 6379)):
        assert not net.can_reach(stranger, target, port)
    # Internal ports of the data layer (ES transport, Sentinel, etcd) stay inside ai-rag.
    assert not net.can_reach(gateway, Pod("ai-rag", ES), 9300)
    assert not net.can_reach(gateway, Pod("ai-rag", HAPROXY), 26379)
    assert not net.can_reach(gateway, Pod("ai-rag", {"app.kubernetes.io/name": "etcd"}), 2379)
    # Nobody but the ingress controller calls the gateway's API.
    assert not net.can_reach(Pod("ai-rag", MILVUS_PROXY), gateway, 8080)
    assert not net.can_reach(Pod("ai-inference", MODEL), gateway, 8080)
    # The data layer does not call the model servers.
    assert not net.can_reach(Pod("ai-rag", ES), Pod("ai-inference", MODEL), 8000)


# Flows the RAG layer needs beyond the request paths: the operator managing Elasticsearch, the ACME
# challenge, and object storage for the bucket's users (nothing else in the namespace gets it).
ECK_OPERATOR = {"app.kubernetes.io/name": "elastic-operator", "app.kubernetes.io/instance": "eck-operator"}
ACME_SOLVER = {"acme.cert-manager.io/http01-solver": "true"}
OBJECT_STORAGE = Ip("52.216.0.10")  # an S3 address (s3.us-east-1.amazonaws.com); GCS is public too


def test_eck_operator_reaches_elasticsearch(prod):
    net, _ = prod
    assert net.can_reach(Pod("elastic-system", ECK_OPERATOR), Pod("ai-rag", ES), 9200)


def test_the_public_gateway_reaches_the_acme_http01_solver(prod):
    # prod's certificates (edge and RAG host) are solved through the public Gateway: cert-manager's solver pods run
    # beside it in the gateway namespace, and the Ingress path is gone.
    net, _ = prod
    assert net.can_reach(Pod("ai-gateway", PUBLIC_ENVOY), Pod("ai-gateway", ACME_SOLVER), 8089)
    assert not net.can_reach(Pod("ingress-nginx", CONTROLLER), Pod("ai-app", ACME_SOLVER), 8089)


def test_milvus_and_elasticsearch_reach_object_storage(prod):
    net, _ = prod
    assert net.can_reach(Pod("ai-rag", MILVUS_PROXY), OBJECT_STORAGE, 443)
    assert net.can_reach(Pod("ai-rag", ES), OBJECT_STORAGE, 443)
    assert not net.can_reach(Pod("ai-rag", {"app.kubernetes.io/name": "redis-ha"}), OBJECT_STORAGE, 443)
    assert not net.can_reach(Pod("ai-rag", MILVUS_PROXY), OBJECT_STORAGE, 80)
