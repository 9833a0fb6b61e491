"""Every value passed to each RAG chart exists in that chart version's values.yaml.

None of these charts but cert-manager ships a values.schema.json, so Helm would accept a misspelt key
silently. The allow-lists below are the key paths the program sets, with the upstream default, read
from each chart's values.yaml at the pinned tag (source in `components/rag/charts.py`, per ChartPin):

- milvus 5.0.19: zilliztech/milvus-helm charts/milvus/values.yaml @ milvus-5.0.19; keys under `etcd.`
  and `minio.` that the milvus values.yaml does not override come from its bundled subcharts
  charts/etcd-8.12.0.tgz (Bitnami etcd) and charts/minio-8.0.17.tgz values.yaml;
- weaviate 17.8.3, qdrant 1.19.0, eck-operator 3.5.0, prometheus-elasticsearch-exporter 7.4.0,
  redis-ha 4.39.0, ingress-nginx 4.15.1, cert-manager v1.21.1 (see ChartPin.source).

FREE marks a free-form subtree (a Kubernetes object such as resources or a securityContext, a label
map, an env map, the application's own config) that the chart renders with toYaml: only the top key
is checked. COMMENTED marks a key the chart documents as a commented-out example and reads in its
templates (qdrant `persistence.storageClassName`). When a pin changes, re-check these keys against
the new values.yaml.
"""

from __future__ import annotations

import pytest

from components.rag import charts
from config import validate
from config.models import GatewayIngress
from tests.chart_values import COMMENTED, FREE, check_every_variant, check_pin, leaf_paths
from tests.conftest import stack_values

FREE_LEAVES = ("resources", "securityContext", "containerSecurityContext", "podSecurityContext", "labels",
               "annotations", "additionalLabels", "podLabels", "env", "envSecrets", "extraEnvSecrets", "config",
               "authorization", "podDisruptionBudget")

VERSIONS = {"MILVUS": "5.0.19", "WEAVIATE": "17.8.3", "QDRANT": "1.19.0", "ECK_OPERATOR": "3.5.0",
            "ES_EXPORTER": "7.4.0", "REDIS": "4.39.0", "INGRESS_NGINX": "4.15.1", "CERT_MANAGER": "v1.21.1"}

MILVUS_DEFAULTS: dict[str, object] = {
    'attu.enabled': False,
    'cluster.enabled': True,
    'containerSecurityContext': FREE,
    'dataNode.extraEnv': FREE,
    'dataNode.replicas': 1,
    'dataNode.resources': FREE,
    'etcd.auth.rbac.allowNoneAuthentication': True,  # subchart etcd
    'etcd.auth.rbac.create': False,  # milvus values.yaml (subchart etcd default: true)
    'etcd.auth.rbac.existingSecret': '',  # subchart etcd
    'etcd.auth.rbac.existingSecretPasswordKey': '',  # subchart etcd
    'etcd.auth.token.enabled': False,  # milvus values.yaml (subchart etcd default: true)
    'etcd.auth.token.privateKey.existingSecret': '',  # subchart etcd
    'etcd.auth.token.privateKey.filename': 'jwt-token.pem',  # subchart etcd
    'etcd.auth.token.type': 'jwt',  # subchart etcd
    'etcd.containerSecurityContext': FREE,  # subchart etcd
    'etcd.enabled': True,
    'etcd.pdb.create': False,
    'etcd.persistence.size': '10Gi',
    'etcd.persistence.storageClass': None,
    'etcd.podSecurityContext': FREE,  # subchart etcd
    'etcd.priorityClassName': '',  # subchart etcd
    'etcd.replicaCount': 3,
    'etcd.resources': FREE,  # subchart etcd
    'externalS3.bucketName': '',
    'externalS3.cloudProvider': 'aws',
    'externalS3.enabled': False,
    'externalS3.host': '',
    'externalS3.port': '',
    'externalS3.region': '',
    'externalS3.rootPath': '',
    'externalS3.useIAM': False,
    'externalS3.useSSL': False,
    'externalS3.useVirtualHost': False,
    'fullnameOverride': '',
    'kafka.enabled': False,
    'labels': FREE,
    'metrics.enabled': True,
    'metrics.serviceMonitor.additionalLabels': FREE,
    'metrics.serviceMonitor.enabled': False,
    'minio.enabled': True,
    'minio.existingSecret': '',
    'minio.mode': 'distributed',
    'minio.persistence.size': '500Gi',
    'minio.persistence.storageClass': None,
    'minio.podDisruptionBudget': FREE,
    'minio.priorityClassName': '',  # subchart minio
    'minio.replicas': 4,  # subchart minio
    'minio.resources': FREE,
    'minio.tls.enabled': False,  # subchart minio
    'mixCoordinator.activeStandby.enabled': False,
    'mixCoordinator.extraEnv': FREE,
    'mixCoordinator.replicas': 1,
    'mixCoordinator.resources': FREE,
    'proxy.extraEnv': FREE,
    'proxy.replicas': 1,
    'proxy.resources': FREE,
    'pulsar.enabled': False,
    'pulsarv3.enabled': True,
    'queryNode.extraEnv': FREE,
    'queryNode.replicas': 1,
    'queryNode.resources': FREE,
    'securityContext': FREE,
    'service.type': 'ClusterIP',
    'serviceAccount.annotations': FREE,
    'serviceAccount.create': False,
    'serviceAccount.name': None,
    'standalone.disk.enabled': True,
    'standalone.extraEnv': FREE,
    'standalone.persistence.persistentVolumeClaim.size': '50Gi',
    'standalone.persistence.persistentVolumeClaim.storageClass': None,
    'standalone.resources': FREE,
    'streaming.woodpecker.storage.type': 'minio',
    'streamingNode.extraEnv': FREE,
    'streamingNode.replicas': 1,
    'streamingNode.resources': FREE,
}
WEAVIATE_DEFAULTS: dict[str, object] = {
    'authentication.anonymous_access.enabled': True,
    'containerSecurityContext': FREE,
    'env': FREE,
    'envSecrets': FREE,
    'grpcService.type': 'LoadBalancer',
    'initContainers.sysctlInitContainer.enabled': True,
    'podDisruptionBudgets.weaviate.enabled': False,
    'priorityClassName': '',
    'replicas': 1,
    'resources': FREE,
    'securityContext': FREE,
    'service.type': 'LoadBalancer',
    'storage.size': '32Gi',
    'storage.storageClassName': '',
}
QDRANT_DEFAULTS: dict[str, object] = {
    'config': FREE,
    'containerSecurityContext': FREE,
    'env': FREE,
    'fullnameOverride': '',
    'image.useUnprivilegedImage': False,
    'metrics.serviceMonitor.additionalLabels': FREE,
    'metrics.serviceMonitor.authorization': FREE,
    'metrics.serviceMonitor.enabled': False,
    'persistence.size': '10Gi',
    'persistence.storageClassName': COMMENTED,  # documented as a commented example
    'podDisruptionBudget': FREE,
    'podSecurityContext': FREE,
    'priorityClassName': '',
    'replicaCount': 1,
    'resources': FREE,
}
ECK_OPERATOR_DEFAULTS: dict[str, object] = {
    'installCRDs': True,
    'managedNamespaces': FREE,
    'podLabels': FREE,
    'resources': FREE,
    'podSecurityContext': FREE,
}
ES_EXPORTER_DEFAULTS: dict[str, object] = {
    'es.ssl.ca.path': '/ssl/ca.pem',
    'es.ssl.client.enabled': True,
    'es.ssl.enabled': False,
    'es.ssl.useExistingSecrets': False,
    'es.uri': 'http://localhost:9200',
    'extraEnvSecrets': FREE,
    'podLabels': FREE,
    'priorityClassName': '',
    'resources': FREE,
    'secretMounts': FREE,
    'serviceMonitor.enabled': False,
    'serviceMonitor.interval': '10s',
    'serviceMonitor.labels': FREE,
}
REDIS_DEFAULTS: dict[str, object] = {
    'auth': False,
    'authKey': 'auth',
    'existingSecret': None,
    'exporter.enabled': False,
    'exporter.resources': FREE,
    'exporter.serviceMonitor.enabled': False,
    'exporter.serviceMonitor.labels': FREE,
    'fullnameOverride': '',
    'haproxy.enabled': False,
    'haproxy.init.resources': FREE,
    'haproxy.podDisruptionBudget': FREE,
    'haproxy.priorityClassName': '',
    'haproxy.replicas': 3,
    'haproxy.resources': FREE,
    'hardAntiAffinity': True,
    'init.resources': FREE,
    'labels': FREE,
    'persistentVolume.enabled': True,
    'persistentVolume.size': '10Gi',
    'persistentVolume.storageClass': None,
    'podDisruptionBudget': FREE,
    'priorityClassName': '',
    'redis.config': FREE,
    'redis.disableCommands': FREE,
    'redis.resources': FREE,
    'replicas': 3,
    'sentinel.quorum': 2,
    'sentinel.resources': FREE,
    'splitBrainDetection.resources': FREE,
}
INGRESS_NGINX_DEFAULTS: dict[str, object] = {
    'controller.ingressClass': 'nginx',
    'controller.ingressClassResource.enabled': True,
    'controller.ingressClassResource.name': 'nginx',
    'controller.metrics.enabled': False,
    'controller.metrics.serviceMonitor.additionalLabels': FREE,
    'controller.metrics.serviceMonitor.enabled': False,
    'controller.minAvailable': 1,
    'controller.priorityClassName': '',
    'controller.replicaCount': 1,
    'controller.resources': FREE,
    'controller.service.type': 'LoadBalancer',
    'controller.service.loadBalancerSourceRanges': [],
    'controller.service.externalTrafficPolicy': '',
    'controller.service.annotations': FREE,
    'controller.config': FREE,
    'controller.topologySpreadConstraints': FREE,
    'controller.admissionWebhooks.createSecretJob.resources': FREE,
    'controller.admissionWebhooks.patchWebhookJob.resources': FREE,
}
CERT_MANAGER_DEFAULTS: dict[str, object] = {
    'crds.enabled': False,
    'crds.keep': True,
    'prometheus.enabled': True,
    'prometheus.servicemonitor.enabled': False,
    'prometheus.servicemonitor.labels': FREE,
    'resources': FREE,
    'webhook.resources': FREE,
    'cainjector.resources': FREE,
    'startupapicheck.resources': FREE,
}

DEFAULTS = {"MILVUS": MILVUS_DEFAULTS, "WEAVIATE": WEAVIATE_DEFAULTS, "QDRANT": QDRANT_DEFAULTS,
            "ECK_OPERATOR": ECK_OPERATOR_DEFAULTS, "ES_EXPORTER": ES_EXPORTER_DEFAULTS, "REDIS": REDIS_DEFAULTS,
            "INGRESS_NGINX": INGRESS_NGINX_DEFAULTS, "CERT_MANAGER": CERT_MANAGER_DEFAULTS}




def _cfg(stack: str, **rag):
    values = stack_values(stack)
    values["rag"].update(rag)
    if rag:  # variants (3 replicas of a vector store) outgrow the shipped stack's data-layer quota
        values["tenancy"]["namespaces"]["ai-rag"].pop("memoryQuota", None)
    if rag.get("vectorStore", {}).get("cluster", {}).get("objectStorage") == "minio":
        values["tenancy"]["namespaces"]["ai-rag"]["podSecurity"] = "baseline"
    cfg, _ = validate(values, f"Pulumi.{stack}.yaml")
    return cfg


def variants(chart: str) -> list[dict]:
    """Values the program can pass to `chart`, across stacks, engines, monitoring and storage settings."""
    out: list[dict] = []
    if chart == "MILVUS":
        prod_cluster = stack_values("prod")["rag"]["vectorStore"]
        minio = {**prod_cluster, "cluster": {**prod_cluster["cluster"], "objectStorage": "minio"}}
        for cfg in (_cfg("dev"), _cfg("prod"), _cfg("prod", vectorStore=minio),
                    _cfg("dev", vectorStore={"engine": "milvus", "mode": "cluster", "replicas": 2})):
            for monitoring in (True, False):
                out.append(charts.milvus_values(cfg, cfg.rag.vector_store, monitoring, "sc", "bucket", "us-east-1",
                                                {"eks.amazonaws.com/role-arn": "arn"}))
    elif chart in ("WEAVIATE", "QDRANT"):
        build = charts.weaviate_values if chart == "WEAVIATE" else charts.qdrant_values
        for stack in ("dev", "prod", "local"):
            cfg = _cfg(stack, vectorStore={"engine": chart.lower(), "replicas": 3, "replicationFactor": 2})
            out += [build(cfg.rag.vector_store, m, sc) for m in (True, False) for sc in ("sc", None)]
    elif chart == "ECK_OPERATOR":
        out.append(charts.eck_operator_values("ai-rag"))
    elif chart == "ES_EXPORTER":
        out += [charts.es_exporter_values("ai-rag", m) for m in (True, False)]
    elif chart == "REDIS":
        for stack in ("dev", "prod", "local"):
            cache = _cfg(stack).rag.cache
            out += [charts.redis_values(cache, m, sc) for m in (True, False) for sc in ("sc", None)]
    elif chart == "INGRESS_NGINX":
        out += [charts.ingress_nginx_values(GatewayIngress(), m, p) for m in (True, False) for p in ("eks", "gke")]
    else:
        out += [charts.cert_manager_values(m) for m in (True, False)]
    return out


@pytest.mark.parametrize("chart", sorted(VERSIONS))
def test_chart_version_is_the_one_checked(chart):
    check_pin(getattr(charts, chart), VERSIONS[chart])


@pytest.mark.parametrize("chart", sorted(VERSIONS))
def test_every_value_exists_upstream_with_the_same_type(chart):
    check_every_variant(chart, VERSIONS[chart], variants(chart), DEFAULTS[chart], free_keys=FREE_LEAVES)


def test_allow_list_catches_a_misspelt_key():
    bad = {"standalone": {"extraEnvs": []}, "cluster": {"enable": True}}
    unknown = [p for p, _ in leaf_paths(bad, free_keys=FREE_LEAVES) if p not in MILVUS_DEFAULTS]
    assert unknown == ["standalone.extraEnvs", "cluster.enable"]
