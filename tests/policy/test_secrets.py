"""no-plain-secret-env beyond token shapes: connection strings, URL passwords, secret-looking config entries, envFrom,
chart objects (the name-based and token-shape cases are in test_security.py)."""

from __future__ import annotations

import pytest

from policy.rules.objects import KubeObject
from policy.rules.secrets import _check_secrets, credential_shape, high_entropy

from .harness import run_resource

SECRET_ENV = "no-plain-secret-env"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
TOKEN = "q7Zt2VbN9xKc4LmP8rWs"  # 20 characters, mixed classes: generated-looking


def deployment(*env, env_from=None) -> dict:
    container = {"name": "gateway", "image": "registry.example.com/ai-gateway:1.0.0", "env": list(env)}
    if env_from is not None:
        container["envFrom"] = env_from
    return {"metadata": {"name": "ai-gateway", "namespace": "ai-app"},
            "spec": {"template": {"spec": {"containers": [container]}}}}


def configmap(**data) -> dict:
    return {"metadata": {"name": "ai-gateway-config", "namespace": "ai-app"}, "data": data}


@pytest.mark.parametrize("value, shape", [
    ("postgresql://app:Sup3rS3cret@db.ai-rag:5432/rag", "a URL with a password in its userinfo"),
    ("redis://:hunter2@redis-master:6379/0", "a URL with a password in its userinfo"),
    ("host=db port=5432 user=app password=hunter2 dbname=rag", "a connection string with password="),
    ("jdbc:sqlserver://db:1433;databaseName=rag;user=app;Password=hunter2;", "a connection string with password="),
    ("https://search:9200/?user=app&pwd=hunter2", "a connection string with password="),
])
def test_passwords_in_dsns_are_credentials(value, shape):
    assert credential_shape(value) == shape
    [message] = run_resource(SECRET_ENV, DEPLOYMENT, deployment({"name": "DATABASE_URL", "value": value}))
    assert f"env DATABASE_URL holds {shape} as a plain value" in message and "hunter2" not in message
    [message] = run_resource(SECRET_ENV, CONFIGMAP, configmap(DATABASE_URL=value))
    assert f"data['DATABASE_URL'] holds {shape}" in message


@pytest.mark.parametrize("value", ["postgresql://app@db:5432/rag", "https://search.ai-rag:9200",
                                   "postgresql://app:${DB_PASSWORD}@db/rag", "password=$(DB_PASSWORD)",
                                   "host=db user=app password= dbname=rag", "http://[::1]:8080/x"])
def test_dsns_without_literal_passwords_are_fine(value):
    assert credential_shape(value) is None


def test_secret_looking_configmap_entries_are_a_violation():
    [message] = run_resource(SECRET_ENV, CONFIGMAP, configmap(DB_PASSWORD="changeme", API_TOKEN=TOKEN,
                                                              LOG_LEVEL="info"))
    assert "data['DB_PASSWORD'] looks secret" in message and "data['API_TOKEN'] looks secret" in message
    assert "changeme" not in message and TOKEN not in message and "LOG_LEVEL" not in message


def test_secret_looking_keys_inside_config_files_are_a_violation():
    files = configmap(**{"application.yaml": "spring:\n  redis:\n    password: hunter2\n    host: redis\n",
                         "app.ini": f"[hub]\napi_key = {TOKEN}\ntimeout = 30\n",
                         "settings.json": f'{{"clientSecret": "x", "client_secret": "{TOKEN}"}}'})
    [message] = run_resource(SECRET_ENV, CONFIGMAP, files)
    assert "data['application.yaml'] sets password to a literal secret" in message
    assert "data['app.ini'] sets api_key to a literal secret" in message
    assert "data['settings.json'] sets client_secret to a literal secret" in message
    assert "hunter2" not in message and TOKEN not in message


@pytest.mark.parametrize("data", [
    {"TOKEN": "not-a-shape"}, {"token_file": "/var/run/secrets/token"}, {"API_KEY": "${API_KEY}"},
    {"settings.yaml": "auth:\n  password: ${REDIS_PASSWORD}\n  token_path: /var/run/token\n  secret: false\n"},
    {"script.py": "with open(path) as f:\n    token = f.read().strip()\n"},
    {"MAX_TOTAL_TOKENS": "8192", "SPRING_ELASTICSEARCH_USERNAME": "ai-gateway"},
])
def test_settings_and_references_under_secret_names_are_fine(data):
    assert run_resource(SECRET_ENV, CONFIGMAP, configmap(**data)) == []


def test_high_entropy_needs_length_classes_and_a_token_alphabet():
    assert high_entropy(TOKEN) and high_entropy("d41d8cd98f00b204e9800998ecf8427e")
    assert not high_entropy("short1A") and not high_entropy("aaaaaaaaaaaaaaaaaaaa")
    assert not high_entropy("f.read().strip() + x") and not high_entropy("abcdefghijklmnopqrst")


def test_env_from_a_credentials_configmap_is_a_violation():
    bad = deployment(env_from=[{"configMapRef": {"name": "db-credentials"}}])
    [message] = run_resource(SECRET_ENV, DEPLOYMENT, bad)
    assert "envFrom reads ConfigMap db-credentials, whose name says it holds credentials" in message
    ok = deployment(env_from=[{"configMapRef": {"name": "ai-gateway-config"}},
                              {"secretRef": {"name": "db-credentials"}}])
    assert run_resource(SECRET_ENV, DEPLOYMENT, ok) == []


def _chart_statefulset(release: str, name: str, var: str, value: str) -> KubeObject:
    return KubeObject({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": name},
                       "spec": {"template": {"spec": {"containers": [
                           {"name": "etcd", "image": "etcd:3", "env": [{"name": var, "value": value}]}]}}}},
                      source=f"chart:{release}", release_namespace="ai-rag")


def test_chart_env_exceptions_are_precise():
    excused = _chart_statefulset("milvus", "milvus-etcd", "ETCD_INITIAL_CLUSTER_TOKEN", "x")
    assert list(_check_secrets(excused, {})) == []
    # Another variable, workload or release is judged; a credential shape is never excused.
    for obj in (_chart_statefulset("milvus", "milvus-etcd", "ETCD_ROOT_PASSWORD", "x"),
                _chart_statefulset("milvus", "other-etcd", "ETCD_INITIAL_CLUSTER_TOKEN", "x"),
                _chart_statefulset("other", "milvus-etcd", "ETCD_INITIAL_CLUSTER_TOKEN", "x"),
                _chart_statefulset("milvus", "milvus-etcd", "ETCD_INITIAL_CLUSTER_TOKEN", "redis://:pw1@x")):
        [message] = _check_secrets(obj, {})
        assert message.startswith("container 'etcd' env ETCD_"), obj.ref()


def test_secrets_in_chart_configmaps_are_caught_on_the_rendered_object():
    """A Release's values that put a password into a chart ConfigMap (e.g. grafana.ini): judged when rendered."""
    rendered = KubeObject({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "monitoring-grafana"},
                           "data": {"grafana.ini": "[security]\nadmin_user = admin\nadmin_password = hunter2\n"}},
                          source="chart:monitoring", release_namespace="observability")
    [message] = _check_secrets(rendered, {})
    assert "data['grafana.ini'] sets admin_password to a literal secret" in message
