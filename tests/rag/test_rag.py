"""The RAG component: Milvus modes, engines, data safety, bucket identities, gateway, ingress and TLS."""

from __future__ import annotations

import json

import pytest

from config import validate
from config.endpoints import endpoints
from policy.rules import POLICIES_BY_NAME  # noqa: F401  (the pack loads)
from tests.conftest import run_config, run_stack, stack_values
from tools.mockrun import unwrap
from tools.policy_eval import evaluate

from .conftest import RELEASE, ingress_run, k8s, release, with_rag

CR = "kubernetes:"


def env_of(values: list, name: str):
    return next(e for e in values if e["name"] == name)


# ------------------------------------------------------------------------------------------ Milvus


def test_milvus_standalone_is_one_pod_with_embedded_etcd_and_local_storage():
    result = run_stack("dev")
    v = release(result, "milvus").inputs["values"]
    assert v["cluster"] == {"enabled": False}
    assert v["etcd"] == {"enabled": False} and v["minio"] == {"enabled": False, "tls": {"enabled": False}}
    assert v["pulsarv3"] == {"enabled": False}
    env = v["standalone"]["extraEnv"]
    assert env_of(env, "ETCD_USE_EMBED")["value"] == "true"
    assert env_of(env, "COMMON_STORAGETYPE")["value"] == "local"
    assert env_of(env, "COMMON_SECURITY_AUTHORIZATIONENABLED")["value"] == "true"
    assert env_of(env, "COMMON_SECURITY_DEFAULTROOTPASSWORD")["valueFrom"] == {
        "secretKeyRef": {"name": "milvus-credentials", "key": "root-password"}}
    assert v["standalone"]["persistence"]["persistentVolumeClaim"]["size"] == "50Gi"
    assert v["standalone"]["disk"] == {"enabled": False}
    assert v["streaming"] == {"woodpecker": {"storage": {"type": "local"}}}
    for key in ("proxy", "queryNode", "dataNode", "streamingNode", "mixCoordinator", "externalS3"):
        assert key not in v


def test_milvus_cluster_values_follow_the_config():
    result = run_stack("prod")
    v = release(result, "milvus").inputs["values"]
    cfg = stack_values("prod")["rag"]["vectorStore"]
    topo = cfg["cluster"]
    assert v["cluster"] == {"enabled": True} and "standalone" not in v
    # Replicas per component, authentication and PDBs as rendered: tests/render/test_rendered_objects.py.
    assert v["mixCoordinator"]["activeStandby"] == {"enabled": True}
    assert v["etcd"]["replicaCount"] == topo["etcdReplicas"] == 3
    assert v["minio"] == {"enabled": False, "tls": {"enabled": False}}
    s3 = v["externalS3"]
    bucket = result.named("ai-rag-storage-bucket")
    assert s3["bucketName"] == bucket.outputs["bucket"]
    assert (s3["host"], s3["useIAM"], s3["useSSL"], s3["cloudProvider"]) == (
        "s3.us-east-1.amazonaws.com", True, True, "aws")
    assert "accessKey" not in s3 and "secretKey" not in s3
    role_arn = v["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert v["serviceAccount"]["name"] == "milvus" and role_arn.startswith("arn:aws:iam::")
    assert v["queryNode"]["resources"] == {"requests": {"cpu": "2", "memory": "8Gi"},
                                           "limits": {"cpu": "4", "memory": "8Gi"}}


def test_standalone_and_cluster_differ_exactly_in_the_mode_keys():
    dev = release(run_stack("dev"), "milvus").inputs["values"]
    cluster_cfg = with_rag("dev", vectorStore={"engine": "milvus", "mode": "cluster", "replicas": 2, "storageGi": 50,
                                               "resources": {"cpu": "1", "memory": "4Gi"}})
    cluster = release(run_config(cluster_cfg), "milvus").inputs["values"]
    changed = {k for k in set(dev) | set(cluster) if dev.get(k) != cluster.get(k)}
    # bucket storage, not MinIO
    assert cluster["minio"] == dev["minio"] == {"enabled": False, "tls": {"enabled": False}}
    assert cluster["queryNode"]["resources"] == dev["standalone"]["resources"]
    assert changed == {"cluster", "standalone", "etcd", "streaming", "externalS3", "proxy", "mixCoordinator",
                       "queryNode", "dataNode", "streamingNode", "serviceAccount"}


def test_milvus_cluster_on_gke_uses_gcs_with_workload_identity():
    values = with_rag("dev", vectorStore={"engine": "milvus", "mode": "cluster", "replicas": 2})
    result = run_config(values)
    assert result.error is None, result.error
    v = release(result, "milvus").inputs["values"]
    [bucket] = result.of_type("gcp:storage/bucket:Bucket")
    assert bucket.inputs["uniformBucketLevelAccess"] is True
    assert bucket.inputs["publicAccessPrevention"] == "enforced"
    assert bucket.inputs["versioning"] == {"enabled": True}
    assert v["externalS3"]["host"] == "storage.googleapis.com" and v["externalS3"]["cloudProvider"] == "gcp"
    assert v["externalS3"]["bucketName"] == bucket.outputs["name"]
    account = result.named("ai-rag-storage-milvus-sa")
    assert v["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": account.outputs["email"]}
    wi = result.named("ai-rag-storage-milvus-workload-identity")
    assert wi.inputs["role"] == "roles/iam.workloadIdentityUser"
    assert wi.inputs["member"] == "serviceAccount:acme-ai-dev.svc.id.goog[ai-rag/milvus]"


def test_prod_bucket_is_private_versioned_encrypted_and_reached_by_irsa():
    result = run_stack("prod")
    bucket = result.named("ai-rag-storage-bucket")
    assert bucket.protect and bucket.inputs["forceDestroy"] is False
    pab = result.named("ai-rag-storage-bucket-public-access")
    assert all(pab.inputs[k]
               for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    versioning = result.named("ai-rag-storage-bucket-versioning")
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = result.named("ai-rag-storage-bucket-sse")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    subjects = {}
    for role in result.of_type("aws:iam/role:Role"):
        doc = json.loads(role.inputs["assumeRolePolicy"])
        cond = doc["Statement"][0].get("Condition", {}).get("StringEquals", {})
        subjects.update({v: role.name for k, v in cond.items() if k.endswith(":sub")})
    assert "system:serviceaccount:ai-rag:milvus" in subjects
    assert "system:serviceaccount:ai-rag:search-es" in subjects
    policies = {p.name: json.loads(p.inputs["policy"]) for p in result.of_type("aws:iam/rolePolicy:RolePolicy")}
    milvus = policies["ai-rag-storage-milvus-policy"]["Statement"]
    assert milvus[1]["Resource"] == f"{bucket.outputs['arn']}/milvus/*"


# ---------------------------------------------------------------------------------- engines


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("engine", ["milvus", "weaviate", "qdrant"])
def test_switching_the_vector_store_engine(stack, engine):
    store = {"engine": engine, "replicas": 3 if stack == "prod" else 1, "storageGi": 20}
    if engine == "milvus" and stack == "prod":
        store.update(mode="cluster")
    elif engine != "milvus":
        store["replicationFactor"] = store["replicas"]
    result = run_config(with_rag(stack, vectorStore=store))
    assert result.error is None, result.error
    charts_used = {r.inputs["chart"] for r in result.of_type(RELEASE)}
    assert engine in charts_used and not ({"milvus", "weaviate", "qdrant"} - {engine}) & charts_used
    cfg, _ = validate(with_rag(stack, vectorStore=store), "x")
    url = endpoints(cfg)["vector-store"].url
    assert result.outputs["dataEndpoints"]["vector-store"] == url
    config = k8s(result, "ConfigMap", "ai-gateway-config").inputs["data"]
    assert config["AI_GATEWAY_VECTOR_STORE_ENGINE"] == engine and config["AI_GATEWAY_VECTOR_STORE_URL"] == url
    secret_key = "vector-store-password" if engine == "milvus" else "vector-store-api-key"
    creds = unwrap(k8s(result, "Secret", "ai-gateway-credentials").inputs["stringData"])
    assert secret_key in creds
    failing = [v.name for v in evaluate(result.resources, {}) if v.blocking]
    assert not failing
    v = release(result, engine).inputs["values"]
    if engine == "weaviate":
        assert v["envSecrets"] == {"AUTHENTICATION_APIKEY_ALLOWED_KEYS": "weaviate-api-keys"}
        assert v["authentication"]["anonymous_access"]["enabled"] is False
        assert v["env"]["REPLICATION_MINIMUM_FACTOR"] == str(store["replicas"])
        assert v["service"]["type"] == v["grpcService"]["type"] == "ClusterIP"
        assert v["initContainers"]["sysctlInitContainer"]["enabled"] is False
    if engine == "qdrant":
        assert v["env"] == [{"name": "QDRANT__SERVICE__API_KEY",
                             "valueFrom": {"secretKeyRef": {"name": "qdrant-api-key", "key": "api-key"}}}]
        assert v["replicaCount"] == store["replicas"]
        assert v["config"]["storage"]["collection"]["replication_factor"] == store["replicas"]
        assert v["image"]["useUnprivilegedImage"] is True


# ------------------------------------------------------------------------------------ secrets


def secret_values(result) -> set[str]:
    """Every generated secret the run produced (mock passwords and private keys)."""
    found = {r.outputs["result"] for r in result.of_type("random:index/randomPassword:RandomPassword")}
    found |= {r.outputs["privateKeyPem"] for r in result.of_type("tls:index/privateKey:PrivateKey")}
    return found


def plain_strings(value, path=""):
    """(path, string) of every string in a recorded input that is not inside a secret wrapper."""
    from tools.mockrun import is_secret

    if is_secret(value):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield from plain_strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from plain_strings(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


SHAPES = {
    "dev": {}, "prod": {}, "local": {},
    "dev-weaviate": {"vectorStore": {"engine": "weaviate"}},
    "prod-minio": {"vectorStore": {"engine": "milvus", "mode": "cluster", "replicas": 2,
                                   "cluster": {"objectStorage": "minio"}}, "fullText": {"replicas": 1}, "bucket": None},
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_secret_value_appears_in_any_plain_input(shape):
    stack = shape.split("-")[0]
    if SHAPES[shape]:
        values = with_rag(stack, **SHAPES[shape])
        if shape == "prod-minio":
            values["tenancy"]["namespaces"]["ai-rag"]["podSecurity"] = "baseline"
        result = run_config(values)
        assert result.error is None, result.error
    else:
        result = run_stack(stack)
    secrets = secret_values(result)
    assert len(secrets) >= 2
    for r in result.resources:
        for path, text in plain_strings(r.inputs):
            leaked = [s for s in secrets if s in text]
            assert not leaked, f"{r.type} {r.name} input {path} carries a generated secret in plain text"
    for name, value in result.outputs.items():
        if name in result.secret_outputs:  # encrypted in state (e.g. grafanaAdminPassword)
            continue
        assert not [s for s in secrets if s in json.dumps(value)], f"stack output {name} leaks a secret"


def test_every_kubernetes_secret_is_wholly_secret():
    from tools.mockrun import is_secret

    for stack in ("dev", "prod", "local"):
        for r in run_stack(stack).of_type("kubernetes:core/v1:Secret"):
            if r.inputs.get("type") == "kubernetes.io/service-account-token":
                assert "stringData" not in r.inputs and "data" not in r.inputs, r.name  # Kubernetes fills it
                continue
            assert is_secret(r.inputs["stringData"]), r.name


def test_passwords_are_generated_long_and_shared_with_the_gateway_by_value():
    result = run_stack("prod")
    passwords = result.of_type("random:index/randomPassword:RandomPassword")
    assert all(p.inputs["length"] >= 32 and p.inputs["special"] is False for p in passwords)
    gateway = unwrap(k8s(result, "Secret", "ai-gateway-credentials").inputs["stringData"])
    # Redis and Milvus: the gateway's own users (tests/rag/test_data_auth.py), never the admin/root password.
    redis = unwrap(k8s(result, "Secret", "redis-auth").inputs["stringData"])
    assert gateway["redis-password"] != redis["auth"]
    milvus = unwrap(k8s(result, "Secret", "milvus-gateway-user").inputs["stringData"])
    assert gateway["vector-store-password"] == milvus["password"]
    es_user = unwrap(k8s(result, "Secret", "search-gateway-user").inputs["stringData"])
    assert gateway["elasticsearch-password"] == es_user["password"]
    # Losing the Milvus root password generator would lock the gateway out (Milvus reads it once).
    [root] = [p for p in passwords if p.name.endswith("vector-store-root-password")]
    assert root.protect


# ------------------------------------------------------------------------------------ gateway


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gateway_env_references_only_objects_the_program_creates(stack):
    result = run_stack(stack)
    deployment = k8s(result, "Deployment", "ai-gateway")
    ns = deployment.inputs["metadata"]["namespace"]
    created = {(r.type.rsplit(":", 1)[-1], r.inputs["metadata"]["name"]) for r in result.resources
               if r.custom and r.type.rsplit(":", 1)[-1] in ("Secret", "ConfigMap")
               and r.inputs["metadata"].get("namespace") == ns}
    [container] = deployment.inputs["spec"]["template"]["spec"]["containers"]
    refs = []
    for source in container.get("envFrom", []):
        refs.append(("ConfigMap", source["configMapRef"]["name"]) if "configMapRef" in source
                    else ("Secret", source["secretRef"]["name"]))
    for var in container["env"]:
        assert "value" not in var, f"{var['name']} has a plain value"
        src = var["valueFrom"]
        kind, ref = ("Secret", src["secretKeyRef"]) if "secretKeyRef" in src else ("ConfigMap", src["configMapKeyRef"])
        refs.append((kind, ref["name"]))
        obj = k8s(result, kind, ref["name"], ns)
        data = unwrap(obj.inputs.get("stringData") or obj.inputs.get("data"))
        assert ref["key"] in data, f"{ref['name']} has no key {ref['key']}"
    for volume in deployment.inputs["spec"]["template"]["spec"]["volumes"]:
        if "configMap" in volume:
            refs.append(("ConfigMap", volume["configMap"]["name"]))
    assert refs and set(refs) <= created, set(refs) - created


def test_gateway_config_points_at_the_endpoints_module():
    result = run_stack("prod")
    cfg, _ = validate(stack_values("prod"), "x")
    eps = endpoints(cfg)
    data = k8s(result, "ConfigMap", "ai-gateway-config").inputs["data"]
    # prod runs the inference gateway: every model (and the embedding server) is called through its internal
    # Gateway, which routes on the body's `model`; never a model Service.
    internal = eps["inference-gateway"].url
    assert internal == "http://internal-gateway.ai-gateway.svc.cluster.local:80/v1"
    assert data["AI_GATEWAY_MODEL_QWEN72B_URL"] == data["AI_GATEWAY_MODEL_QWEN7B_URL"] == internal
    assert data["AI_GATEWAY_EMBEDDING_URL"] == internal
    model_urls = {ep.url for key, ep in eps.items() if key.startswith("model/") or key == "embedding"}
    assert not model_urls & set(data.values())
    assert data["SPRING_ELASTICSEARCH_URIS"] == eps["full-text"].url
    assert data["SPRING_DATA_REDIS_HOST"] == eps["cache"].host == "redis-haproxy.ai-rag.svc.cluster.local"
    ca = k8s(result, "ConfigMap", "ai-gateway-search-ca").inputs["data"]["ca.crt"]
    [es_ca] = result.of_type("tls:index/selfSignedCert:SelfSignedCert")
    assert ca == es_ca.outputs["certPem"]


def test_gateway_workload_passes_the_pack_shape():
    result = run_stack("prod")
    deployment = k8s(result, "Deployment", "ai-gateway")
    spec = deployment.inputs["spec"]
    pod = spec["template"]["spec"]
    [c] = pod["containers"]
    assert pod["priorityClassName"] == "ai-platform-rag"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert set(c["resources"]) == {"requests", "limits"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/actuator/health/liveness", "port": "management"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/actuator/health/readiness", "port": "management"}
    assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    assert {t["topologyKey"] for t in pod["topologySpreadConstraints"]} == {"topology.kubernetes.io/zone",
                                                                           "kubernetes.io/hostname"}
    # Longer than a streamed answer may run: prod exposes the gateway through the inference gateway, whose edge
    # timeout (inferenceGateway.edge.timeoutSeconds 600) bounds a request, not the (unused) Ingress' 300.
    assert pod["terminationGracePeriodSeconds"] == 600 + 30
    assert deployment.ignore_changes == ["spec.replicas"]
    hpa = k8s(result, "HorizontalPodAutoscaler", "ai-gateway")
    assert hpa.type == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
    assert (hpa.inputs["spec"]["minReplicas"], hpa.inputs["spec"]["maxReplicas"]) == (3, 12)
    assert [m["type"] for m in hpa.inputs["spec"]["metrics"]] == ["Resource"]
    pdb = k8s(result, "PodDisruptionBudget", "ai-gateway")
    assert pdb.inputs["spec"]["selector"] == spec["selector"]


def test_rps_autoscaling_adds_a_pods_metric():
    values = with_rag("prod")
    values["rag"]["gateway"]["autoscaling"]["rpsPerPod"] = 50
    hpa = k8s(run_config(values), "HorizontalPodAutoscaler", "ai-gateway")
    pods = [m for m in hpa.inputs["spec"]["metrics"] if m["type"] == "Pods"]
    assert pods[0]["pods"]["metric"]["name"] == "http_server_requests_per_second"
    assert pods[0]["pods"]["target"] == {"type": "AverageValue", "averageValue": "50.0"}


# -------------------------------------------------------------------------------- ingress / TLS


def test_dev_ingress_uses_a_self_signed_ca_chain():
    result = ingress_run("dev")
    ingress = k8s(result, "Ingress", "ai-gateway")
    spec = ingress.inputs["spec"]
    assert spec["tls"] == [{"hosts": ["ai-api.dev.example.com"], "secretName": "ai-gateway-tls"}]
    assert spec["ingressClassName"] == "nginx"
    ann = ingress.inputs["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert ann["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "300"
    assert ann["nginx.ingress.kubernetes.io/proxy-body-size"] == "10m"
    issuers = {r.inputs["metadata"]["name"]: r.inputs["spec"]
               for r in result.of_type("kubernetes:cert-manager.io/v1:Issuer") if r.inputs["metadata"]["namespace"]
               == "ai-app"}
    assert issuers == {"ai-gateway-selfsigned": {"selfSigned": {}},
                       "ai-gateway-ca": {"ca": {"secretName": "ai-gateway-ca"}}}
    cert = k8s(result, "Certificate", "ai-gateway-tls")
    assert cert.inputs["spec"]["dnsNames"] == ["ai-api.dev.example.com"]
    assert cert.inputs["spec"]["issuerRef"]["name"] == "ai-gateway-ca"
    # One cert-manager (the inference gateway's edge needs it too, and installs it first); the Ingress' issuers wait.
    cm = release(result, "cert-manager")
    assert cm.urn in k8s(result, "Issuer", "ai-gateway-selfsigned").dependencies
    assert cert.urn in ingress.dependencies
    assert release(result, "ingress-nginx").urn in ingress.dependencies


def test_prod_ingress_uses_acme_http01_through_its_class():
    result = ingress_run("prod")
    issuer = k8s(result, "Issuer", "ai-gateway-acme").inputs["spec"]["acme"]
    assert issuer["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuer["email"] == "platform-team@example.com"
    assert issuer["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    ann = k8s(result, "Ingress", "ai-gateway").inputs["metadata"]["annotations"]
    assert ann["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "300"  # rag.gateway.ingress.timeoutSeconds
    v = release(result, "ingress-nginx").inputs["values"]["controller"]
    assert v["replicaCount"] == 2 and v["ingressClassResource"]["name"] == "nginx"


def test_existing_tls_secret_and_existing_ingress_class_install_nothing():
    values = with_rag("dev")
    gw = values["rag"]["gateway"]
    gw.pop("certificate")
    gw["tlsSecret"] = "corp-wildcard"
    gw["ingress"] = {"className": "traefik", "installController": False}
    gw["expose"] = "ingress"
    edge = values["inferenceGateway"]["edge"]
    edge.pop("certificate")
    edge["tlsSecret"] = "corp-wildcard"
    result = run_config(values)
    assert result.error is None, result.error
    charts_used = {r.inputs["chart"] for r in result.of_type(RELEASE)}
    assert not {"cert-manager", "ingress-nginx"} & charts_used
    assert not [r for r in result.resources if r.type.startswith("kubernetes:cert-manager.io")]
    namespaces = {r.inputs["metadata"]["name"] for r in result.of_type("kubernetes:core/v1:Namespace")}
    assert not {"cert-manager", "ingress-nginx"} & namespaces
    spec = k8s(result, "Ingress", "ai-gateway").inputs["spec"]
    assert spec["ingressClassName"] == "traefik" and spec["tls"][0]["secretName"] == "corp-wildcard"


# ---------------------------------------------------------------------------- search and cache


def test_elasticsearch_resource_follows_the_config_after_its_operator():
    result = run_stack("prod")
    es = k8s(result, "Elasticsearch", "search")
    spec = es.inputs["spec"]
    assert es.type == "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
    [node_set] = spec["nodeSets"]
    assert node_set["count"] == 3
    container = node_set["podTemplate"]["spec"]["containers"][0]
    assert {"name": "ES_JAVA_OPTS", "value": "-Xms8g -Xmx8g"} in container["env"]
    assert container["resources"]["limits"]["memory"] == "16Gi"
    assert node_set["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert node_set["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "ai-platform-rag"
    assert spec["http"]["tls"]["certificate"]["secretName"] == "search-es-http-tls"
    assert spec["volumeClaimDeletePolicy"] == "DeleteOnScaledownOnly"
    assert node_set["podTemplate"]["spec"]["serviceAccountName"] == "search-es"
    assert es.protect
    assert release(result, "eck-operator").urn in es.dependencies
    exporter = release(result, "prometheus-elasticsearch-exporter")
    assert es.urn in exporter.dependencies
    ev = exporter.inputs["values"]
    assert ev["es"]["uri"] == "https://search-es-http.ai-rag.svc:9200"
    assert ev["serviceMonitor"]["labels"] == {"ai-platform/scrape": "true"}
    eck = release(result, "eck-operator")
    assert eck.inputs["namespace"] == "elastic-system" and eck.inputs["values"]["managedNamespaces"] == ["ai-rag"]


def test_redis_ha_in_prod_single_in_dev():
    # Replicas, HAProxy, auth from the program's Secret and volumes as rendered: tests/render/test_rendered_objects.py.
    prod = release(run_stack("prod"), "redis-ha").inputs["values"]
    assert prod["redis"]["config"]["min-replicas-to-write"] == 1 and prod["sentinel"]["quorum"] == 2
    dev = release(run_stack("dev"), "redis-ha").inputs["values"]
    assert dev["haproxy"] == {"enabled": False} and dev["redis"]["config"]["save"] == '""'
    assert dev["redis"]["config"]["min-replicas-to-write"] == 0


# ---------------------------------------------------------------------------------- data safety


STATEFUL_CHARTS = {"milvus", "redis-ha"}


def test_prod_protects_stateful_resources_and_retains_volumes():
    result = run_stack("prod")
    for chart in STATEFUL_CHARTS:
        assert release(result, chart).protect, chart
    assert k8s(result, "Elasticsearch", "search").protect
    sc = k8s(result, "StorageClass", "ai-platform-rag")
    assert sc.inputs["reclaimPolicy"] == "Retain" and sc.inputs["provisioner"] == "ebs.csi.aws.com"
    for chart in ("cert-manager", "eck-operator"):
        assert not release(result, chart).protect


def test_dev_protects_nothing_and_deletes_volumes():
    result = run_stack("dev")
    assert not [r.name for r in result.resources if r.protect and r.type.startswith(("kubernetes:", "random:"))]
    sc = k8s(result, "StorageClass", "ai-platform-rag")
    assert sc.inputs["reclaimPolicy"] == "Delete" and sc.inputs["provisioner"] == "pd.csi.storage.gke.io"


def test_local_uses_the_cluster_default_storage_class():
    result = run_stack("local")
    assert not result.of_type("kubernetes:storage.k8s.io/v1:StorageClass")
    v = release(result, "qdrant").inputs["values"]
    assert "storageClassName" not in v["persistence"]
    assert "gatewayUrl" not in result.outputs
    assert set(result.outputs["dataEndpoints"]) == {"vector-store", "cache"}


# ----------------------------------------------------------------------------------- monitoring


def test_monitoring_off_creates_no_monitors():
    values = with_rag("prod")
    values["observability"] = {"enabled": False}
    values["tenancy"]["namespaces"].pop("observability")
    for model in values["serving"]["models"]:  # autoscaling on queue depth needs Prometheus (config check)
        model["replicas"] = {"min": model["replicas"]["min"], "max": model["replicas"]["min"]}
    result = run_config(values)
    assert result.error is None, result.error
    assert not [r for r in result.resources if r.type.startswith("kubernetes:monitoring.coreos.com")]
    assert release(result, "milvus").inputs["values"]["metrics"]["serviceMonitor"]["enabled"] is False
    assert release(result, "redis-ha").inputs["values"]["exporter"]["serviceMonitor"]["enabled"] is False


# -------------------------------------------------------------------------------------- outputs


def test_stack_outputs_gateway_url_and_data_endpoints():
    result = run_stack("prod")
    assert result.outputs["gatewayUrl"] == "https://ai-api.example.com"
    assert result.outputs["dataEndpoints"] == {
        "vector-store": "grpc://milvus.ai-rag.svc.cluster.local:19530",
        "full-text": "https://search-es-http.ai-rag.svc.cluster.local:9200",
        "cache": "redis://redis-haproxy.ai-rag.svc.cluster.local:6379",
        "gateway": "http://ai-gateway.ai-app.svc.cluster.local:80",
    }
    bucket = result.named("ai-rag-storage-bucket")
    assert result.outputs["ragBucket"] == bucket.outputs["bucket"]
    assert "ragBucket" not in run_stack("dev").outputs


def test_rag_components_and_outputs():
    result = run_stack("prod")
    types = {r.type for r in result.resources}
    for t in ("Rag", "Storage", "VectorStore", "Search", "Cache", "Gateway"):
        assert f"ai-platform:rag:{t}" in types
    # Exposed through the inference gateway: no Ingress component, no Ingress, no ingress-nginx.
    assert "ai-platform:rag:Ingress" not in types and "ai-platform:inference:InferenceGateway" in types
    assert not result.of_type("kubernetes:networking.k8s.io/v1:Ingress")
    assert "ingress-nginx" not in {r.inputs["chart"] for r in result.of_type(RELEASE)}
    assert result.outputs["gatewayUrl"] == "https://ai-api.example.com"
