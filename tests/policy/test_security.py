"""no-plain-secret-env over workloads (and ConfigMaps). no-host-access and run-as-non-root: test_pods.py."""

from __future__ import annotations

import copy

import pytest

from .harness import run_resource
from .test_workloads import KINDS

SECRET_ENV = "no-plain-secret-env"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
HF_TOKEN = "hf_" + "aB3dE6gH9jK2mN5pQ8rS1tU4vW7xY0zAbC"
AWS_KEY = "AKIA" + "ABCDEFGHIJ234567"
GITHUB_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


def container(name="vllm", image="vllm/vllm-openai:v0.6.3", **extra) -> dict:
    return {"name": name, "image": image, **extra}


def workload(namespace: str | None = "ai-inference", kind: str = DEPLOYMENT, containers=None, init=None,
             pod_context=None, **spec_extra) -> dict:
    spec = {"containers": containers if containers is not None else [container()], **spec_extra}
    if init is not None:
        spec["initContainers"] = init
    if pod_context is not None:
        spec["securityContext"] = pod_context
    props = KINDS[kind](spec)
    props.setdefault("metadata", {})["name"] = "qwen7b"
    props["metadata"].pop("namespace", None)
    if namespace is not None:
        props["metadata"]["namespace"] = namespace
    return props


def check_env(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(SECRET_ENV, kind, props, config, name="ai-serving-qwen7b")


# ------------------------------------------------------------------------------- no-plain-secret-env


def env_workload(*env, init_env=None) -> dict:
    init = [container("download", "busybox:1.36", env=list(init_env))] if init_env else None
    return workload(containers=[container(env=list(env))], init=init)


def test_env_from_secrets_and_plain_settings_are_compliant():
    props = env_workload(
        {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token"}}},
        {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
        {"name": "MAX_TOTAL_TOKENS", "value": "8192"},
        {"name": "HF_HOME", "value": "/models"},
        {"name": "DB_PASSWORD", "value": ""},
        {"name": "NO_VALUE"},
    )
    assert check_env(props) == []


@pytest.mark.parametrize("name", ["HF_TOKEN", "hf_token", "HUGGING_FACE_HUB_TOKEN", "DB_PASSWORD", "REDIS_PASSWD",
                                  "OPENAI_API_KEY", "APIKEY", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY",
                                  "TLS_PRIVATE_KEY", "GCP_CREDENTIALS", "credential", "client.secret"])
def test_secret_looking_names_with_plain_values_are_a_violation(name):
    [message] = check_env(env_workload({"name": name, "value": "s3cr3t-v4lue"}))
    assert f"container 'vllm' env {name} looks secret but has a plain value" in message
    assert "valueFrom.secretKeyRef" in message and "s3cr3t-v4lue" not in message


@pytest.mark.parametrize("value, shape", [
    (HF_TOKEN, "a Hugging Face token"), (f"--token {HF_TOKEN}", "a Hugging Face token"),
    (AWS_KEY, "an AWS access key id"), (GITHUB_TOKEN, "a GitHub token"), (PRIVATE_KEY, "a private key"),
])
def test_credentials_in_any_env_value_are_a_violation(value, shape):
    [message] = check_env(env_workload(init_env=[{"name": "EXTRA_ARGS", "value": value}]))
    assert f"initContainer 'download' env EXTRA_ARGS holds {shape} as a plain value" in message
    assert value.strip() not in message and value[:12] not in message


@pytest.mark.parametrize("value", ["hf_short", "hf_" + "a" * 29, "xhf_" + "a" * 40, "AKIA123", "ghp_short",
                                   "-----BEGIN CERTIFICATE-----"])
def test_values_that_only_resemble_credentials_are_fine(value):
    assert check_env(env_workload({"name": "MODEL_ARGS", "value": value})) == []


def test_secret_name_patterns_config_replaces_the_default():
    props = env_workload({"name": "DB_PASSWORD", "value": "x"}, {"name": "MY_PASSPHRASE", "value": "y"})
    [message] = check_env(props, {"secretNamePatterns": ["PASSPHRASE"]})
    assert "MY_PASSPHRASE" in message and "DB_PASSWORD" not in message
    inside_words = env_workload({"name": "TOKENIZERS_PARALLELISM", "value": "false"})
    assert len(check_env(inside_words, {"secretNamePatterns": [".*TOKEN.*"]})) == 1
    assert check_env(props, {"secretNamePatterns": []}) == []


def test_invalid_secret_name_pattern_is_reported():
    messages = check_env(env_workload(), {"secretNamePatterns": ["(", "TOKEN"]})
    [message] = messages
    assert message.endswith(": pack config secretNamePatterns: '(' is not a valid regular expression.")


def test_credentials_in_configmap_data_are_a_violation():
    props = {"metadata": {"name": "gateway-config", "namespace": "ai-app"},
             "data": {"settings.yaml": f"hub:\n  token: {HF_TOKEN}\n", "log_level": "info"}}
    [message] = check_env(props, kind=CONFIGMAP)
    assert message.startswith("ConfigMap ai-app/gateway-config: data['settings.yaml'] holds a Hugging Face token")
    assert HF_TOKEN not in message and "Secret" in message


@pytest.mark.parametrize("props", [{}, {"metadata": {"name": "c"}}, {"data": {"a": "plain", "TOKEN": "not-a-shape"}}],
                         ids=["empty", "no-data", "plain-data"])
def test_configmaps_without_credentials_are_compliant(props):
    assert check_env(props, kind=CONFIGMAP) == []


@pytest.mark.parametrize("props", [
    {}, {"spec": {"template": {"spec": {}}}},
    {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": None}]}}}},
    {"spec": {"template": {"spec": {"containers": [{"name": "c", "env": [{"value": "x"}]}]}}}},
], ids=["empty", "no-containers", "null-env", "env-without-name"])
def test_missing_env_properties_are_compliant(props):
    assert check_env(copy.deepcopy(props)) == []
