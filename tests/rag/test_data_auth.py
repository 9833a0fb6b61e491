"""Data-layer identities (issue 16): the gateway's scoped Milvus user, Milvus' etcd with authentication, the
gateway's Redis ACL user, and TLS to Elasticsearch, on the recorded resources and the rendered chart objects."""

from __future__ import annotations

import hashlib

import pytest

from components.rag import charts, milvus_users
from components.tenancy import network_policies
from config import validate
from tests.conftest import run_stack, stack_values
from tests.render.objects import containers, one, workloads
from tools.mockrun import unwrap

from .conftest import k8s, release

JOB = "kubernetes:batch/v1:Job"


def gateway_secret(result) -> dict:
    return unwrap(k8s(result, "Secret", "ai-gateway-credentials").inputs["stringData"])


# ------------------------------------------------------------------------------ Milvus gateway user


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_gateway_uses_its_own_milvus_user_never_root(stack):
    result = run_stack(stack)
    data = k8s(result, "ConfigMap", "ai-gateway-config").inputs["data"]
    assert data["AI_GATEWAY_VECTOR_STORE_USERNAME"] == milvus_users.USER != "root"
    assert data["AI_GATEWAY_VECTOR_STORE_DATABASE"] == milvus_users.DATABASE
    root = unwrap(k8s(result, "Secret", charts.MILVUS_SECRET).inputs["stringData"])[charts.MILVUS_ROOT_PASSWORD_KEY]
    user = unwrap(k8s(result, "Secret", charts.MILVUS_GATEWAY_SECRET).inputs["stringData"])
    gateway = gateway_secret(result)
    assert gateway["vector-store-password"] == user[charts.MILVUS_GATEWAY_PASSWORD_KEY] != root
    assert user["username"] == milvus_users.USER
    # Root's password exists only in the data namespace.
    cfg, _ = validate(stack_values(stack), "x")
    for r in result.of_type("kubernetes:core/v1:Secret"):
        if r.inputs.get("type") == "kubernetes.io/service-account-token":
            continue  # filled by Kubernetes (the endpoint pickers' metrics readers): no data from the program
        if root in unwrap(r.inputs["stringData"]).values():
            assert r.inputs["metadata"]["namespace"] == cfg.rag.namespace, r.name


def test_the_users_job_runs_after_milvus_with_both_secrets_and_restricted_pods():
    result = run_stack("prod")
    [job] = [r for r in result.of_type(JOB) if r.name.endswith("vector-store-users")]
    meta = job.inputs["metadata"]
    assert (meta["name"], meta["namespace"]) == (milvus_users.NAME, "ai-rag")
    milvus = release(result, "milvus")
    assert milvus.urn in job.dependencies
    pod = job.inputs["spec"]["template"]
    assert pod["metadata"]["labels"]["ai-platform/role"] == milvus_users.JOB_ROLE
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["securityContext"]["runAsNonRoot"] is True
    [container] = spec["containers"]
    # The chart's own pinned Milvus image (zilliztech/milvus-helm milvus-5.0.19 values.yaml image.all).
    assert container["image"] == milvus_users.IMAGE == "milvusdb/milvus:v2.6.15"
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    env = {e["name"]: e for e in container["env"]}
    assert env["MILVUS_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": charts.MILVUS_SECRET, "key": charts.MILVUS_ROOT_PASSWORD_KEY}
    assert env["MILVUS_GATEWAY_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": charts.MILVUS_GATEWAY_SECRET, "key": charts.MILVUS_GATEWAY_PASSWORD_KEY}
    assert env["MILVUS_URL"]["value"] == "http://milvus.ai-rag.svc.cluster.local:19530"
    assert env["GRANTS"]["value"] == "DatabaseAdmin CollectionAdmin"
    assert {v["name"]: v["emptyDir"]["medium"] for v in spec["volumes"]} == {"work": "Memory"}
    # Re-run on change: the template carries a hash of what it does and of both passwords (plain, not secret).
    annotations = pod["metadata"]["annotations"]
    assert annotations["ai-platform/spec-checksum"] == milvus_users.spec_hash()
    assert isinstance(annotations["ai-platform/credentials-checksum"], str)
    assert len(annotations["ai-platform/credentials-checksum"]) == 16


def test_the_users_script_calls_the_rest_v2_endpoints_without_credentials_on_the_command_line():
    script = milvus_users.SCRIPT
    for path in ("databases/create", "roles/create", "roles/grant_privilege_v2", "users/create",
                 "users/grant_role", "users/update_password", "users/drop"):
        assert f"{path} " in script or f"{path} \\" in script, path
    assert '"collectionName\\":\\"*\\"' in script and "$DATABASE" in script
    # Passwords reach curl through files (-K header file, -d @body), never as arguments.
    assert "-K \"$WORK/auth\"" in script and "-d @\"$WORK/body\"" in script
    assert "Bearer $" not in script.replace('Bearer %s:%s', '')
    assert "cluster" not in " ".join(milvus_users.GRANTS).lower()


def test_only_milvus_stacks_get_the_users_job_and_its_network_flow():
    assert not [r for r in run_stack("local").of_type(JOB) if r.name.endswith("vector-store-users")]
    cfg, _ = validate(stack_values("prod"), "x")
    policies = {(p.namespace, p.name): p for p in network_policies(cfg)}
    egress = policies[("ai-rag", "allow-milvus-users-to-ai-rag")]
    assert egress.pod_selector == {"matchLabels": {"ai-platform/role": "milvus-users"}}
    [rule] = egress.egress
    # 15008: ztunnel's HBONE port, as the mesh carries the flow inside the (enrolled) data namespace.
    assert rule["ports"] == [{"port": 15008, "protocol": "TCP"}, {"port": 19530, "protocol": "TCP"}]
    assert rule["to"][0]["podSelector"]["matchExpressions"] == [
        {"key": "component", "operator": "In", "values": ["proxy", "standalone"]}]
    assert ("ai-rag", "allow-milvus-users-from-ai-rag") in policies
    cfg, _ = validate(stack_values("local"), "x")
    assert not [p for p in network_policies(cfg) if "milvus-users" in p.name]


# ------------------------------------------------------------------------------------ etcd auth


def test_prod_etcd_requires_authentication_with_the_programs_secrets():
    result = run_stack("prod")
    etcd = release(result, "milvus").inputs["values"]["etcd"]["auth"]
    assert etcd["rbac"] == {"create": True, "allowNoneAuthentication": False,
                            "existingSecret": charts.MILVUS_ETCD_SECRET,
                            "existingSecretPasswordKey": charts.MILVUS_ETCD_PASSWORD_KEY}
    for name in (charts.MILVUS_ETCD_SECRET, charts.MILVUS_ETCD_JWT_SECRET):
        assert k8s(result, "Secret", name).inputs["metadata"]["namespace"] == "ai-rag"
    # The etcd root password generator is protected like Milvus' root (etcd reads it only at bootstrap).
    [gen] = [r for r in result.of_type("random:index/randomPassword:RandomPassword")
             if r.name.endswith("etcd-root-password")]
    assert gen.protect


def test_rendered_etcd_refuses_anonymous_clients_and_every_milvus_process_logs_in():
    etcd = one("prod", "StatefulSet", "milvus-etcd", "milvus")
    [container] = [c for c in containers(etcd["spec"]["template"]["spec"]) if c["name"] == "etcd"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ALLOW_NONE_AUTHENTICATION"]["value"] == "no"
    assert env["ETCD_ROOT_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": charts.MILVUS_ETCD_SECRET, "key": charts.MILVUS_ETCD_PASSWORD_KEY}
    assert env["ETCD_AUTH_TOKEN"]["value"].startswith("jwt,priv-key=/opt/bitnami/etcd/certs/token/jwt-token.pem")
    volumes = {v["name"]: v for v in etcd["spec"]["template"]["spec"]["volumes"]}
    assert volumes["etcd-jwt-token"]["secret"]["secretName"] == charts.MILVUS_ETCD_JWT_SECRET
    milvus = [w for w in workloads("prod") if w.source == "milvus" and w.kind == "Deployment"]
    assert len(milvus) == 5
    for w in milvus:
        env = {e["name"]: e for c in containers(w["spec"]["template"]["spec"]) for e in c.get("env") or []}
        assert env["ETCD_AUTH_ENABLED"]["value"] == "true" and env["ETCD_AUTH_USERNAME"]["value"] == "root", w
        assert env["ETCD_AUTH_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == charts.MILVUS_ETCD_SECRET, w


def test_chart_renders_no_secret_of_its_own_for_etcd():
    from tests.render.objects import of_kind

    names = {o.name for o in of_kind("prod", "Secret", "milvus")}
    assert not names & {"milvus-etcd", "milvus-etcd-jwt-token"}, names


def test_standalone_embeds_etcd_without_auth_settings():
    v = release(run_stack("dev"), "milvus").inputs["values"]
    assert not [e for e in v["standalone"]["extraEnv"] if e["name"].startswith("ETCD_AUTH")]


# ------------------------------------------------------------------------------------ Redis ACL


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_gateway_has_a_redis_acl_user_without_flush_or_config(stack):
    result = run_stack(stack)
    [gateway_pw] = [r for r in result.of_type("random:index/randomPassword:RandomPassword")
                    if r.name.endswith("cache-gateway-password")]
    password = gateway_pw.outputs["result"]
    default = unwrap(k8s(result, "Secret", charts.REDIS_SECRET).inputs["stringData"])[charts.REDIS_KEY]
    assert password != default and password not in str(release(result, "redis-ha").inputs["values"])
    digest = hashlib.sha256(password.encode()).hexdigest()
    user = release(result, "redis-ha").inputs["values"]["redis"]["config"]["user"]
    assert user == f"ai-gateway on #{digest} ~* &* +@all -@dangerous -@admin +info"
    if stack != "local":  # local runs no gateway
        assert gateway_secret(result)["redis-password"] == password
        data = k8s(result, "ConfigMap", "ai-gateway-config").inputs["data"]
        assert data["SPRING_DATA_REDIS_USERNAME"] == charts.REDIS_GATEWAY_USER


def test_rendered_redis_conf_carries_the_acl_user():
    result = run_stack("prod")
    digest = hashlib.sha256(gateway_secret(result)["redis-password"].encode()).hexdigest()
    config_map = one("prod", "ConfigMap", "redis-configmap", "redis")
    conf = config_map["data"]["redis.conf"]
    lines = [line.strip() for line in conf.splitlines()]
    assert f"user ai-gateway on #{digest} ~* &* +@all -@dangerous -@admin +info" in lines
    assert "requirepass replace-default-auth" in lines  # the default user: the chart's machinery and operators


# ------------------------------------------------------------------------------------------- TLS


def test_the_gateway_reaches_elasticsearch_over_https_and_trusts_its_ca():
    result = run_stack("prod")
    data = k8s(result, "ConfigMap", "ai-gateway-config").inputs["data"]
    assert data["SPRING_ELASTICSEARCH_URIS"].startswith("https://search-es-http.ai-rag.svc")
    assert data["AI_GATEWAY_ELASTICSEARCH_CA_PATH"] == "/etc/ai-gateway/search-ca/ca.crt"
    deployment = k8s(result, "Deployment", "ai-gateway")
    mounts = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "search-ca", "mountPath": "/etc/ai-gateway/search-ca", "readOnly": True} in mounts
    es = k8s(result, "Elasticsearch", "search")
    assert es.inputs["spec"]["http"]["tls"]["certificate"]["secretName"] == charts.ES_HTTP_TLS_SECRET


def test_gateway_pods_roll_when_a_credential_changes():
    result = run_stack("prod")
    deployment = k8s(result, "Deployment", "ai-gateway")
    annotations = deployment.inputs["spec"]["template"]["metadata"]["annotations"]
    value = annotations["ai-platform/credentials-checksum"]
    assert isinstance(value, str) and len(value) == 16  # plain (not a secret), so the template diff shows
    gateway = gateway_secret(result)
    expected = hashlib.sha256("\0".join(gateway[k] for k in sorted(gateway)).encode()).hexdigest()[:16]
    assert value == expected
