"""RAG config: defaults, semantic checks with full key paths, and the namespaces the switches need."""

from __future__ import annotations

import pytest

from config import validate
from config.errors import ConfigError
from config.namespaces import platform_roles

from .conftest import with_rag
from .test_rag import plain_strings


def problems(values) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.test.yaml")
    return str(err.value)


@pytest.mark.parametrize("store, path, words", [
    ({"engine": "milvus", "mode": "cluster", "replicas": 1}, "rag.vectorStore.replicas", "at least 2 query nodes"),
    ({"engine": "milvus", "mode": "cluster", "replicas": 2, "cluster": {"proxies": 1}},
     "rag.vectorStore.cluster.proxies", "at least 2 proxies"),
    ({"engine": "milvus", "mode": "cluster", "replicas": 2, "cluster": {"etcdReplicas": 2}},
     "rag.vectorStore.cluster.etcdReplicas", "odd member count"),
    ({"engine": "milvus", "cluster": {"proxies": 2}}, "rag.vectorStore.cluster", "only with mode cluster"),
    ({"engine": "milvus", "replicationFactor": 2}, "rag.vectorStore.replicationFactor", "weaviate/qdrant setting"),
    ({"engine": "qdrant", "cluster": {"proxies": 2}}, "rag.vectorStore.cluster", "a milvus setting"),
    ({"engine": "weaviate", "replicas": 2, "replicationFactor": 3}, "rag.vectorStore.replicationFactor",
     "at least as many replicas"),
    ({"engine": "milvus", "mode": "cluster", "replicas": 2, "cluster": {"objectStorage": "minio"}},
     "rag.vectorStore.cluster.objectStorage", "podSecurity: baseline"),
])
def test_vector_store_checks(store, path, words):
    message = problems(with_rag("dev", vectorStore=store))
    assert f"ai-platform:{path}:" in message and words in message


@pytest.mark.parametrize("engine", ["weaviate", "qdrant"])
def test_mode_is_a_milvus_setting(engine):
    message = problems(with_rag("dev", vectorStore={"engine": engine, "mode": "standalone"}))
    assert "mode is a milvus setting" in message


def test_a_bucket_needs_a_cloud():
    values = with_rag("local", vectorStore={"engine": "milvus", "mode": "cluster", "replicas": 2},
                      fullText={"snapshots": True})
    message = problems(values)
    assert "ai-platform:rag.vectorStore.cluster.objectStorage: bucket needs provider gke or eks" in message
    assert "ai-platform:rag.fullText.snapshots:" in message


def test_unused_bucket_settings_are_rejected():
    assert "ai-platform:rag.bucket: nothing uses the bucket" in problems(with_rag("dev", bucket={"name": "acme-rag"}))


def test_gateway_checks():
    values = with_rag("dev")
    gw = values["rag"]["gateway"]
    gw["tlsSecret"] = "x"
    gw["autoscaling"] = {"maxReplicas": 1}
    gw["replicas"] = 2
    gw["env"] = {"DB_PASSWORD": "hunter2", "bad-name": "x"}
    message = problems(values)
    assert "ai-platform:rag.gateway.certificate: set either tlsSecret" in message
    assert "ai-platform:rag.gateway.autoscaling.maxReplicas: must be >= gateway.replicas (2)" in message
    assert "ai-platform:rag.gateway.env.DB_PASSWORD: looks like a secret" in message
    assert "ai-platform:rag.gateway.env.bad-name: not an environment variable name" in message
    values = with_rag("prod")
    values["rag"]["gateway"]["certificate"] = {"issuer": "acme"}
    assert "ai-platform:rag.gateway.certificate.acmeEmail: required with issuer acme" in problems(values)


def test_unknown_rag_keys_fail():
    assert "rag.cache.replica" in problems(with_rag("dev", cache={"replica": 2}))


def test_platform_namespaces_follow_the_gateway_switches():
    cfg, _ = validate(with_rag("dev"), "x")
    # dev exposes the AI gateway through the inference gateway: cert-manager (for its listeners), no ingress-nginx.
    assert "cert-manager" in platform_roles(cfg) and "ingress-nginx" not in platform_roles(cfg)
    values = with_rag("dev")
    values["rag"]["gateway"]["expose"] = "ingress"
    cfg, _ = validate(values, "x")
    assert {"ingress-nginx", "cert-manager"} <= set(platform_roles(cfg))
    values = with_rag("dev", gateway={**with_rag("dev")["rag"]["gateway"], "expose": "ingress"})
    values["inferenceGateway"]["edge"].update(tlsSecret="edge-tls")
    values["inferenceGateway"]["edge"].pop("certificate")
    values["rag"]["gateway"].update(tlsSecret="t", ingress={"installController": False})
    values["rag"]["gateway"].pop("certificate")
    cfg, _ = validate(values, "x")
    assert not {"ingress-nginx", "cert-manager"} & set(platform_roles(cfg))
    cfg, _ = validate(with_rag("prod"), "x")
    assert "elastic-system" in platform_roles(cfg)


def test_the_leak_scan_sees_plain_strings_but_not_secret_wrapped_ones():
    from tools.mockrun import SECRET_SIG, SECRET_VALUE

    inputs = {"a": {"b": ["x-Pwabc-y"]}, "c": {SECRET_SIG: SECRET_VALUE, "value": "Pwabc"}}
    assert list(plain_strings(inputs)) == [(".a.b[0]", "x-Pwabc-y")]
