"""Chart pins of the RAG data layer and gateway, and the values each chart receives.

Every pin (chart, exact version, https repository) comes from the chart lock, charts.lock.yaml. The values builders are
pure functions of the config (plus a few names/ARNs that may be Outputs), so the tests can check
every key path against the chart version's own values.yaml (tests/rag/test_chart_values.py).
Images are the charts' own pinned defaults unless set here (each noted with its source).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from config import sizing
from config.models import Cache, GatewayIngress, MilvusCluster, StackConfig, VectorStore

from ..helm import pin
from ..labels import SCRAPE_LABELS

# zilliztech/milvus-helm, charts/milvus/values.yaml at tag milvus-5.0.19 (Milvus v2.6.15); subcharts etcd 8.12.0
# (Bitnami chart from bitnami/charts archive-full-index, image milvusdb/etcd:3.5.25-r1 built by Zilliz) and
# minio 8.0.17 (Zilliz's fork of the old MinIO chart, image minio/minio:RELEASE.2024-12-18T13-15-44Z).
MILVUS = pin("milvus")
# weaviate/weaviate-helm, weaviate/values.yaml at tag v17.8.3 (Weaviate 1.38.2).
WEAVIATE = pin("weaviate")
# qdrant/qdrant-helm, charts/qdrant/values.yaml at tag qdrant-1.19.0 (Qdrant v1.19.0).
QDRANT = pin("qdrant")
# elastic/cloud-on-k8s, deploy/eck-operator/values.yaml at tag v3.5.0 (operator 3.5.0, CRDs subchart 3.5.0).
ECK_OPERATOR = pin("eck-operator")
# prometheus-community/helm-charts, charts/prometheus-elasticsearch-exporter/values.yaml at tag
# prometheus-elasticsearch-exporter-7.4.0 (quay.io/prometheuscommunity/elasticsearch-exporter:v1.11.0).
ES_EXPORTER = pin("prometheus-elasticsearch-exporter")
# DandyDeveloper/charts, charts/redis-ha/values.yaml at tag redis-ha-4.39.0: the official Redis image
# (public.ecr.aws/docker/library/redis:8.8.0-alpine), HAProxy 3.3.10-alpine, oliver006/redis_exporter v1.86.0.
# Chosen over Bitnami's chart, whose free images moved to the frozen bitnamilegacy/* repositories in 2025.
REDIS = pin("redis-ha")
# kubernetes/ingress-nginx, charts/ingress-nginx/values.yaml at tag helm-chart-4.15.1 (controller v1.15.1, the
# project's last release: ingress-nginx was retired, best-effort maintenance ended March 2026).
INGRESS_NGINX = pin("ingress-nginx")
# cert-manager/cert-manager, deploy/charts/cert-manager/values.yaml at tag v1.21.1.
CERT_MANAGER = pin("cert-manager")

PRIORITY_CLASS = "ai-platform-rag"
# Stateful stores (vector store, search, cache, etcd, MinIO): above serving and RAG, never preempting (gpu_stack.py).
DATA_PRIORITY_CLASS = "ai-platform-data"
RESTRICTED_POD = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}

# Fixed names: the Services these create are the ones config/endpoints.py promises.
MILVUS_FULLNAME = "milvus"
MILVUS_SERVICE_ACCOUNT = "milvus"
MILVUS_SECRET = "milvus-credentials"
MILVUS_ROOT_PASSWORD_KEY = "root-password"
MILVUS_GATEWAY_SECRET = "milvus-gateway-user"
MILVUS_GATEWAY_PASSWORD_KEY = "password"
MILVUS_ETCD_SECRET = "milvus-etcd-auth"
MILVUS_ETCD_PASSWORD_KEY = "root-password"
MILVUS_ETCD_JWT_SECRET = "milvus-etcd-jwt"
MILVUS_ETCD_JWT_KEY = "jwt-token.pem"
MILVUS_ETCD_USER = "root"  # the Bitnami etcd chart creates only `root` (auth.rbac: "The root user is always root")
MINIO_SECRET = "milvus-minio"
# milvus config.tpl reads minio.tls.enabled whenever externalS3 is off (standalone on local storage too), and only
# the minio subchart declares it; a disabled subchart's values are not merged, so without this key the chart fails
# to template ("nil pointer evaluating interface {}.enabled").
MINIO_DISABLED = {"enabled": False, "tls": {"enabled": False}}
QDRANT_FULLNAME = "qdrant"
QDRANT_SECRET = "qdrant-api-key"
QDRANT_KEY = "api-key"
WEAVIATE_SECRET = "weaviate-api-keys"
WEAVIATE_KEYS_ENV = "AUTHENTICATION_APIKEY_ALLOWED_KEYS"
WEAVIATE_USER = "ai-gateway"
REDIS_FULLNAME = "redis"
REDIS_SECRET = "redis-auth"
REDIS_KEY = "auth"
REDIS_GATEWAY_USER = "ai-gateway"
# Redis ACL rules of the gateway's user (Redis 8.8 command tables, src/commands/*.json): everything but the
# @dangerous (FLUSHALL, FLUSHDB, CONFIG, KEYS, MONITOR, DEBUG, SHUTDOWN, ACL, ...) and @admin categories, plus INFO
# (@dangerous too, but read-only; Spring Boot's Redis health indicator calls it).
REDIS_GATEWAY_RULES = "~* &* +@all -@dangerous -@admin +info"
ES_NAME = "search"
ES_EXPORTER_SECRET = "search-exporter-user"
ES_HTTP_TLS_SECRET = "search-es-http-tls"


# CPU and memory come from config/sizing.py, which the namespace quota check (config/quotas.py) counts too.
resources = sizing.resources
from_config = sizing.from_config


MILVUS_POD_LABELS = {"app.kubernetes.io/name": "milvus", "app.kubernetes.io/instance": MILVUS_FULLNAME}
"""Labels the milvus chart puts on every pod of the release (each also carries `component: <name>`)."""


def milvus_replicas(store: VectorStore) -> dict[str, int]:
    """Cluster mode: replicas per Milvus component, by the chart's `component` pod label. The chart renders no
    PodDisruptionBudget for them (only its etcd subchart has one), so the program adds one per component."""
    topo = store.cluster
    if store.engine != "milvus" or store.milvus_mode != "cluster" or topo is None:
        return {}
    return {"proxy": topo.proxies, "mixcoord": topo.coordinators, "querynode": store.replicas,
            "datanode": topo.data_nodes, "streamingnode": topo.streaming_nodes}


def milvus_etcd_auth(store: VectorStore) -> bool:
    """Whether Milvus runs its own etcd with authentication: cluster mode (standalone embeds etcd in the Milvus
    process, where Milvus refuses auth: paramtable "embedded etcd can not enable auth")."""
    return store.engine == "milvus" and store.milvus_mode == "cluster"


def sized(requirements: dict[str, Any]) -> dict[str, Any]:
    """A private copy of one of config/sizing.py's requests/limits (values are mutated downstream)."""
    return copy.deepcopy(requirements)


def _monitor_labels() -> dict[str, str]:
    return dict(SCRAPE_LABELS)


# ------------------------------------------------------------------------------------------ Milvus


def milvus_values(cfg: StackConfig, store: VectorStore, monitoring: bool, storage_class: str | None,
                  bucket: Any | None = None, region: str | None = None,
                  identity_annotations: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Values for the milvus chart: standalone (embedded etcd, local storage on the PVC) or cluster.

    Auth is on: every Milvus process gets `common.security.*` through environment variables (Milvus
    reads any config key from the environment, above the chart's ConfigMap), the root password from
    the `milvus-credentials` Secret, so no credential is written into the chart's ConfigMap.
    """
    cluster = store.milvus_mode == "cluster"
    topo = store.cluster or MilvusCluster()
    auth_env = [
        {"name": "COMMON_SECURITY_AUTHORIZATIONENABLED", "value": "true"},
        {"name": "COMMON_SECURITY_DEFAULTROOTPASSWORD",
         "valueFrom": {"secretKeyRef": {"name": MILVUS_SECRET, "key": MILVUS_ROOT_PASSWORD_KEY}}},
    ]
    if milvus_etcd_auth(store):
        # milvus pkg/util/paramtable (etcd config, since 2.3.7): etcd.auth.enabled, etcd.auth.userName, .password.
        auth_env += [
            {"name": "ETCD_AUTH_ENABLED", "value": "true"},
            {"name": "ETCD_AUTH_USERNAME", "value": MILVUS_ETCD_USER},
            {"name": "ETCD_AUTH_PASSWORD",
             "valueFrom": {"secretKeyRef": {"name": MILVUS_ETCD_SECRET, "key": MILVUS_ETCD_PASSWORD_KEY}}},
        ]
    minio = cluster and topo.object_storage == "minio"
    if minio:
        auth_env += [
            {"name": "MINIO_ACCESSKEYID", "valueFrom": {"secretKeyRef": {"name": MINIO_SECRET, "key": "accesskey"}}},
            {"name": "MINIO_SECRETACCESSKEY",
             "valueFrom": {"secretKeyRef": {"name": MINIO_SECRET, "key": "secretkey"}}},
        ]
    pod_sc = {**RESTRICTED_POD, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000}
    main = from_config(store.resources, sized(sizing.MILVUS_MAIN))
    values: dict[str, Any] = {
        "fullnameOverride": MILVUS_FULLNAME,
        "cluster": {"enabled": cluster},
        "securityContext": pod_sc,
        "containerSecurityContext": dict(RESTRICTED_CONTAINER),
        "labels": {"app.kubernetes.io/part-of": "ai-platform", "app.kubernetes.io/component": "vector-store"},
        "service": {"type": "ClusterIP"},
        "metrics": {"enabled": True, "serviceMonitor": {"enabled": monitoring, "additionalLabels": _monitor_labels()}},
        "serviceAccount": {"create": True, "name": MILVUS_SERVICE_ACCOUNT,
                           "annotations": dict(identity_annotations or {})},
        # Milvus 2.6 streams through Woodpecker (embedded in the streaming node / standalone process); no Pulsar.
        "pulsarv3": {"enabled": False},
        "pulsar": {"enabled": False},
        "kafka": {"enabled": False},
        "attu": {"enabled": False},
    }
    if not cluster:
        values["etcd"] = {"enabled": False}
        values["minio"] = dict(MINIO_DISABLED)
        values["streaming"] = {"woodpecker": {"storage": {"type": "local"}}}
        values["standalone"] = {
            "resources": main,
            "extraEnv": [
                *auth_env,
                # Embedded etcd and local object storage on the standalone PVC (Milvus' own standalone_embed setup).
                {"name": "ETCD_USE_EMBED", "value": "true"},
                {"name": "ETCD_DATA_DIR", "value": "/var/lib/milvus/etcd"},
                {"name": "COMMON_STORAGETYPE", "value": "local"},
            ],
            # disk.enabled mounts an emptyDir over /var/lib/milvus/data, which would hide the local storage on the PVC.
            "disk": {"enabled": False},
            "persistence": {"persistentVolumeClaim": {"size": f"{store.storage_gi}Gi", "storageClass": storage_class}},
        }
        return values

    small = sized(sizing.MILVUS_SMALL)
    values["proxy"] = {"replicas": topo.proxies, "resources": small, "extraEnv": list(auth_env)}
    values["mixCoordinator"] = {"replicas": topo.coordinators, "resources": small, "extraEnv": list(auth_env),
                                "activeStandby": {"enabled": topo.coordinators > 1}}
    values["queryNode"] = {"replicas": store.replicas, "resources": main, "extraEnv": list(auth_env)}
    values["dataNode"] = {"replicas": topo.data_nodes, "resources": sized(sizing.MILVUS_WORKER),
                          "extraEnv": list(auth_env)}
    values["streamingNode"] = {"replicas": topo.streaming_nodes, "resources": sized(sizing.MILVUS_WORKER),
                               "extraEnv": list(auth_env)}
    values["etcd"] = {
        "replicaCount": topo.etcd_replicas,
        "pdb": {"create": True},
        "priorityClassName": DATA_PRIORITY_CLASS,
        "resources": sized(sizing.ETCD),
        "podSecurityContext": {"enabled": True, "fsGroup": 1001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"enabled": True, "runAsUser": 1001, "runAsNonRoot": True,
                                     "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        "persistence": {"size": f"{topo.etcd_storage_gi}Gi", "storageClass": storage_class or ""},
        # etcd subchart 8.12.0 (values.yaml auth.*): RBAC on with the root password from our Secret, no
        # unauthenticated access, JWT tokens signed with our key (the chart's own key is regenerated per render).
        "auth": {
            "rbac": {"create": True, "allowNoneAuthentication": False, "existingSecret": MILVUS_ETCD_SECRET,
                     "existingSecretPasswordKey": MILVUS_ETCD_PASSWORD_KEY},
            "token": {"enabled": True, "type": "jwt",
                      "privateKey": {"existingSecret": MILVUS_ETCD_JWT_SECRET, "filename": MILVUS_ETCD_JWT_KEY}},
        },
    }
    if minio:
        values["minio"] = {
            "mode": "distributed",
            "replicas": topo.minio_replicas,
            "existingSecret": MINIO_SECRET,
            "priorityClassName": DATA_PRIORITY_CLASS,
            "podDisruptionBudget": {"enabled": True},
            "resources": sized(sizing.MINIO),
            "persistence": {"size": f"{topo.minio_storage_gi}Gi", "storageClass": storage_class},
        }
    else:
        values["minio"] = dict(MINIO_DISABLED)
        values["externalS3"] = _external_storage(cfg, bucket, region)
    return values


def _external_storage(cfg: StackConfig, bucket: Any, region: str | None) -> dict[str, Any]:
    """S3 (eks) or GCS through its S3-compatible endpoint (gke), with workload identity instead of keys."""
    common = {"enabled": True, "port": "443", "useSSL": True, "bucketName": bucket, "rootPath": "milvus",
              "useIAM": True, "useVirtualHost": False}
    if cfg.cluster.provider == "gke":
        # Milvus' documented GKE setup: storage.googleapis.com with the pod's Workload Identity token.
        return {**common, "host": "storage.googleapis.com", "cloudProvider": "gcp"}
    return {**common, "host": f"s3.{region}.amazonaws.com", "cloudProvider": "aws", "region": region or ""}


# ------------------------------------------------------------------------------- Weaviate / Qdrant


def weaviate_values(store: VectorStore, monitoring: bool, storage_class: str | None) -> dict[str, Any]:
    """Values for the weaviate chart: API keys from the `weaviate-api-keys` Secret, ClusterIP services."""
    env: dict[str, Any] = {
        "AUTHENTICATION_APIKEY_ENABLED": "true",
        "AUTHENTICATION_APIKEY_USERS": WEAVIATE_USER,
        "AUTHORIZATION_ADMINLIST_ENABLED": "true",
        "AUTHORIZATION_ADMINLIST_USERS": WEAVIATE_USER,
        "REPLICATION_MINIMUM_FACTOR": str(store.replication_factor or 1),
        "PROMETHEUS_MONITORING_ENABLED": monitoring,
        "DISABLE_TELEMETRY": "true",
    }
    return {
        "replicas": store.replicas,
        "resources": from_config(store.resources, sized(sizing.WEAVIATE)),
        "securityContext": {**RESTRICTED_POD, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000},
        # Weaviate (one Go binary) writes only to its data volume /var/lib/weaviate; the chart's values.yaml
        # (weaviate-helm, containerSecurityContext) lists readOnlyRootFilesystem: true as a supported setting.
        "containerSecurityContext": {**RESTRICTED_CONTAINER, "readOnlyRootFilesystem": True},
        # The sysctl init container runs privileged (vm.max_map_count); Pod Security restricted forbids it.
        "initContainers": {"sysctlInitContainer": {"enabled": False}},
        "storage": {"size": f"{store.storage_gi}Gi", "storageClassName": storage_class or ""},
        "service": {"type": "ClusterIP"},
        "grpcService": {"type": "ClusterIP"},
        "authentication": {"anonymous_access": {"enabled": False}},
        "env": env,
        "envSecrets": {WEAVIATE_KEYS_ENV: WEAVIATE_SECRET},
        "priorityClassName": DATA_PRIORITY_CLASS,
        "podDisruptionBudgets": {"weaviate": {"enabled": store.replicas > 1}},
    }


def qdrant_values(store: VectorStore, monitoring: bool, storage_class: str | None) -> dict[str, Any]:
    """Values for the qdrant chart: API key from the `qdrant-api-key` Secret (env), unprivileged image."""
    values: dict[str, Any] = {
        "fullnameOverride": QDRANT_FULLNAME,
        "replicaCount": store.replicas,
        # The -unprivileged image owns its directories, so the chart skips its root chown init container.
        "image": {"useUnprivilegedImage": True},
        "env": [{"name": "QDRANT__SERVICE__API_KEY",
                 "valueFrom": {"secretKeyRef": {"name": QDRANT_SECRET, "key": QDRANT_KEY}}}],
        "resources": from_config(store.resources, sized(sizing.QDRANT)),
        "podSecurityContext": {**RESTRICTED_POD, "fsGroup": 3000, "fsGroupChangePolicy": "OnRootMismatch"},
        "containerSecurityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 2000,
                                     "allowPrivilegeEscalation": False, "privileged": False,
                                     "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}},
        "persistence": {"size": f"{store.storage_gi}Gi", "storageClassName": storage_class},
        "priorityClassName": DATA_PRIORITY_CLASS,
        "podDisruptionBudget": {"enabled": store.replicas > 1},
        "metrics": {"serviceMonitor": {
            "enabled": monitoring, "additionalLabels": _monitor_labels(),
            # /metrics sits behind the API key once one is set.
            "authorization": {"type": "Bearer", "credentials": {"name": QDRANT_SECRET, "key": QDRANT_KEY}}}},
        # Qdrant's own config (merged into production.yaml): default copies of new collections.
        "config": {"storage": {"collection": {"replication_factor": store.replication_factor or 1}}},
    }
    if not storage_class:
        values["persistence"].pop("storageClassName")
    return values


# ---------------------------------------------------------------------------------- Elasticsearch


def eck_operator_values(namespace: str) -> dict[str, Any]:
    """Values for the eck-operator chart: CRDs installed, only the RAG namespace managed."""
    return {
        "installCRDs": True,
        "managedNamespaces": [namespace],
        "resources": resources("100m", "256Mi", "1", "512Mi"),
        "podLabels": {"app.kubernetes.io/part-of": "ai-platform"},
        # The chart's default lacks a seccomp profile, which Pod Security restricted (elastic-system) requires.
        "podSecurityContext": dict(RESTRICTED_POD),
    }


def es_exporter_values(namespace: str, monitoring: bool) -> dict[str, Any]:
    """Values for prometheus-elasticsearch-exporter: TLS against the platform CA, a monitoring-only user."""
    return {
        "es": {
            "uri": f"https://{ES_NAME}-es-http.{namespace}.svc:9200",
            "ssl": {"enabled": True, "useExistingSecrets": True, "ca": {"path": "/ssl/ca.crt"},
                    "client": {"enabled": False}},
        },
        "secretMounts": [{"name": "es-ca", "secretName": ES_HTTP_TLS_SECRET, "path": "/ssl"}],
        "extraEnvSecrets": {
            "ES_USERNAME": {"secret": ES_EXPORTER_SECRET, "key": "username"},
            "ES_PASSWORD": {"secret": ES_EXPORTER_SECRET, "key": "password"},
        },
        "resources": sized(sizing.ES_EXPORTER),
        "priorityClassName": PRIORITY_CLASS,
        "podLabels": {"app.kubernetes.io/part-of": "ai-platform", "app.kubernetes.io/component": "full-text"},
        "serviceMonitor": {"enabled": monitoring, "labels": _monitor_labels(), "interval": "30s"},
    }


# ---------------------------------------------------------------------------------------- Redis


def redis_acl_user(password_sha256: Any) -> Any:
    """The redis.conf `user` line of the gateway (the password as its SHA-256, `#<hex>`, as redis.conf allows)."""
    if isinstance(password_sha256, str):
        return f"{REDIS_GATEWAY_USER} on #{password_sha256} {REDIS_GATEWAY_RULES}"
    return password_sha256.apply(lambda h: f"{REDIS_GATEWAY_USER} on #{h} {REDIS_GATEWAY_RULES}")


def redis_values(cache: Cache, monitoring: bool, storage_class: str | None,
                 gateway_password_sha256: Any = "0" * 64) -> dict[str, Any]:
    """Values for redis-ha: auth from `redis-auth`, persistence per config, HAProxy in front of several servers.

    Two users: `default` (password in `redis-auth`, read only in the data namespace) for the chart's own machinery
    (replication, Sentinel, HAProxy checks, the exporter) and operators; `ai-gateway` (ACL in redis.conf) for the
    gateway, without FLUSHALL/FLUSHDB/CONFIG and the rest of @dangerous/@admin.
    """
    ha = cache.replicas > 1
    config: dict[str, Any] = {
        "maxmemory": f"{cache.max_memory_mi}mb",
        "maxmemory-policy": "allkeys-lru",
        # A single server has no replica to wait for.
        "min-replicas-to-write": 1 if ha else 0,
        # The chart writes `<key> <value>` lines into redis.conf: '""' renders `save ""` (no RDB snapshots).
        "save": "900 1" if cache.persistence else '""',
        # The chart writes `<key> <value>` lines into redis.conf: this is the `user` directive of the ACL.
        "user": redis_acl_user(gateway_password_sha256),
    }
    values: dict[str, Any] = {
        "fullnameOverride": REDIS_FULLNAME,
        "replicas": cache.replicas,
        "auth": True,
        "existingSecret": REDIS_SECRET,
        "authKey": REDIS_KEY,
        "priorityClassName": DATA_PRIORITY_CLASS,
        "hardAntiAffinity": ha,
        "redis": {"config": config, "resources": sizing.redis_server(cache.max_memory_mi),
                  # Not renamed away: operators (default user) may flush the rebuildable cache; clients cannot (ACL).
                  "disableCommands": []},
        "sentinel": {"quorum": cache.replicas // 2 + 1, "resources": sized(sizing.SENTINEL)},
        # DandyDeveloper/charts redis-ha 4.39.0 values.yaml: init.resources (config-init and the other init
        # containers), splitBrainDetection.resources (the split-brain-fix sidecar); both {} by default.
        "init": {"resources": sized(sizing.SMALL_HELPER)},
        "splitBrainDetection": {"resources": sized(sizing.SMALL_HELPER)},
        "persistentVolume": {"enabled": cache.persistence, "size": f"{cache.storage_gi}Gi",
                             "storageClass": storage_class},
        "exporter": {"enabled": True, "resources": sized(sizing.REDIS_EXPORTER),
                     "serviceMonitor": {"enabled": monitoring, "labels": _monitor_labels()}},
        "podDisruptionBudget": {"maxUnavailable": 1} if ha else {},
        "haproxy": {"enabled": ha},
        "labels": {"app.kubernetes.io/part-of": "ai-platform", "app.kubernetes.io/component": "cache"},
    }
    if ha:
        values["haproxy"].update(replicas=sizing.HAPROXY_REPLICAS, priorityClassName=PRIORITY_CLASS,
                                 resources=sized(sizing.HAPROXY),
                                 # values.yaml haproxy.init.resources: the haproxy pods' config-init container.
                                 init={"resources": sized(sizing.SMALL_HELPER)},
                                 podDisruptionBudget={"maxUnavailable": 1})
    return values


# ------------------------------------------------------------------------------- ingress / certs


def ingress_nginx_values(ingress: GatewayIngress, monitoring: bool, provider: str | None = None) -> dict[str, Any]:
    """Values for ingress-nginx: our IngressClass, HA controller, metrics for the platform Prometheus.

    The LoadBalancer Service carries only http/https (the chart puts metrics and the admission webhook on
    their own ClusterIP Services) and admits only `ingress.sourceRanges` (the cloud's firewall / security
    group). `externalTrafficPolicy: Local` keeps the client's address, so per-client rate limits and the
    NetworkPolicy see the client, not a node; on EKS that needs a Network Load Balancer (the in-tree Classic
    ELB replaces the client's address with its own).
    """
    service: dict[str, Any] = {
        "type": "LoadBalancer",
        # kubernetes/ingress-nginx charts/ingress-nginx/values.yaml @ helm-chart-4.15.1: controller.service.*
        "loadBalancerSourceRanges": list(ingress.source_ranges),
        "externalTrafficPolicy": "Local",
    }
    if provider == "eks":
        # kubernetes/cloud-provider-aws pkg/providers/v1/aws.go ServiceAnnotationLoadBalancerType ("nlb").
        service["annotations"] = {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}
    return {
        "controller": {
            "ingressClass": ingress.class_name,
            "ingressClassResource": {"name": ingress.class_name, "enabled": True},
            "replicaCount": ingress.controller_replicas,
            "minAvailable": 1,
            "resources": resources("100m", "256Mi", "1", "512Mi"),
            "priorityClassName": PRIORITY_CLASS,
            "service": service,
            # Rate-limited clients get 429 Too Many Requests instead of nginx's default 503 (ingress-nginx
            # docs/user-guide/nginx-configuration/configmap.md: limit-req-status-code, limit-conn-status-code).
            "config": {"limit-req-status-code": "429", "limit-conn-status-code": "429"},
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx",
                                                  "app.kubernetes.io/component": "controller"}}}],
            "metrics": {"enabled": monitoring,
                        "serviceMonitor": {"enabled": monitoring, "additionalLabels": _monitor_labels()}},
            # values.yaml @ helm-chart-4.15.1 controller.admissionWebhooks.{createSecretJob,patchWebhookJob}.resources
            # ({} by default): the hook Jobs that write and patch the admission webhook's certificate.
            "admissionWebhooks": {"createSecretJob": {"resources": sized(sizing.SMALL_HELPER)},
                                  "patchWebhookJob": {"resources": sized(sizing.SMALL_HELPER)}},
        },
    }


def cert_manager_values(monitoring: bool) -> dict[str, Any]:
    """Values for cert-manager: CRDs installed (and kept on uninstall), metrics for the platform Prometheus."""
    return {
        "crds": {"enabled": True, "keep": True},
        "prometheus": {"enabled": True, "servicemonitor": {"enabled": monitoring, "labels": _monitor_labels()}},
        # cert-manager deploy/charts/cert-manager/values.yaml @ v1.21.1: resources, webhook.resources,
        # cainjector.resources, startupapicheck.resources ({} by default).
        "resources": sized(sizing.CERT_MANAGER),
        "webhook": {"resources": sized(sizing.CERT_MANAGER)},
        "cainjector": {"resources": sized(sizing.CERT_MANAGER_CAINJECTOR)},
        "startupapicheck": {"resources": sized(sizing.SMALL_HELPER)},
    }
