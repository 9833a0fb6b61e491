"""no-host-access, run-as-non-root and no-plain-secret-env over workloads (and ConfigMaps)."""

from __future__ import annotations

import copy

import pytest

from .harness import run_resource
from .test_workloads import KINDS

HOST = "no-host-access"
NON_ROOT = "run-as-non-root"
SECRET_ENV = "no-plain-secret-env"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
NON_ROOT_POD = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
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


def check_host(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(HOST, kind, props, config, name="ai-serving-qwen7b")


def check_non_root(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(NON_ROOT, kind, props, config, name="ai-serving-qwen7b")


def check_env(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(SECRET_ENV, kind, props, config, name="ai-serving-qwen7b")


# ------------------------------------------------------------------------------------ no-host-access

HOST_ACCESS = {
    "hostNetwork": ({"hostNetwork": True}, "hostNetwork: true"),
    "hostPID": ({"hostPID": True}, "hostPID: true"),
    "hostIPC": ({"hostIPC": True}, "hostIPC: true"),
    "hostPath": ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "volume 'root' is a hostPath (/)"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_workload_without_host_access_is_compliant(kind):
    props = workload(kind=kind, volumes=[{"name": "cache", "persistentVolumeClaim": {"claimName": "hf-cache"}},
                                         {"name": "tmp", "emptyDir": {}}],
                     hostNetwork=False, containers=[container(securityContext={"privileged": False})])
    assert check_host(props, kind=kind) == []


@pytest.mark.parametrize("extra, text", HOST_ACCESS.values(), ids=HOST_ACCESS.keys())
def test_host_access_in_a_workload_namespace_is_a_violation(extra, text):
    [message] = check_host(workload(**extra))
    assert message.startswith("Deployment qwen7b in namespace ai-inference: ")
    assert text in message and "Host access is only allowed in the system namespaces" in message


def test_privileged_containers_and_init_containers_are_named():
    props = workload(containers=[container(securityContext={"privileged": True})],
                     init=[container("setup", "busybox:1.36", securityContext={"privileged": True})])
    [message] = check_host(props)
    assert "initContainer 'setup' is privileged" in message and "container 'vllm' is privileged" in message


def test_everything_is_listed_in_one_message():
    props = workload(kind=DAEMONSET, hostNetwork=True, hostPID=True,
                     volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}],
                     containers=[container(securityContext={"privileged": True})])
    [message] = check_host(props, kind=DAEMONSET)
    assert all(t in message for t in ("hostNetwork: true", "hostPID: true", "volume 'proc'", "is privileged"))


@pytest.mark.parametrize("namespace", ["gpu-operator", "observability-node", "kube-system", "ingress-nginx"])
def test_system_namespaces_may_reach_the_host(namespace):
    props = workload(namespace, kind=DAEMONSET, hostNetwork=True,
                     volumes=[{"name": "dev", "hostPath": {"path": "/dev"}}],
                     containers=[container(securityContext={"privileged": True})])
    assert check_host(props, kind=DAEMONSET) == []


def test_workload_without_namespace_is_in_default_which_is_not_exempt():
    [message] = check_host(workload(None, hostPID=True))
    assert "in namespace default: hostPID: true" in message


def test_system_namespaces_config_replaces_the_default():
    props = workload("gpu-operator", hostNetwork=True)
    assert len(check_host(props, {"systemNamespaces": []})) == 1
    assert check_host(workload("ai-inference", hostNetwork=True), {"systemNamespaces": ["ai-inference"]}) == []


@pytest.mark.parametrize("props", [
    {}, {"metadata": {"namespace": "ai-app"}}, {"spec": {"template": {"spec": {}}}},
    {"spec": {"template": {"spec": {"volumes": [{"name": "x", "hostPath": None}], "containers": [{"name": "c"}]}}}},
], ids=["empty", "no-spec", "empty-pod-spec", "null-hostpath"])
def test_missing_properties_mean_no_host_access(props):
    assert check_host(props) == []


# ----------------------------------------------------------------------------------- run-as-non-root


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pod_level_run_as_non_root_is_compliant(kind):
    props = workload(kind=kind, pod_context=NON_ROOT_POD, init=[container("download", "busybox:1.36")])
    assert check_non_root(props, kind=kind) == []


def test_container_level_run_as_non_root_is_compliant():
    props = workload(containers=[container(securityContext={"runAsNonRoot": True, "runAsUser": 1000})])
    assert check_non_root(props) == []


def test_absent_security_context_is_a_violation():
    [message] = check_non_root(workload(init=[container("download", "busybox:1.36")]))
    assert message.startswith("Deployment qwen7b: ")
    assert "initContainer 'download' may run as root (runAsNonRoot not set in the container or pod securityContext)" \
        in message
    assert "container 'vllm' may run as root" in message
    assert "Set securityContext.runAsNonRoot: true" in message and "rootImages" in message


def test_container_overrides_the_pod():
    props = workload(pod_context=NON_ROOT_POD, containers=[container(securityContext={"runAsNonRoot": False})])
    [message] = check_non_root(props)
    assert "container 'vllm' may run as root (runAsNonRoot false)" in message
    props = workload(pod_context={"runAsNonRoot": False},
                     containers=[container(securityContext={"runAsNonRoot": True})])
    assert check_non_root(props) == []


@pytest.mark.parametrize("user", [0, 0.0, "0"])
def test_run_as_user_zero_in_a_container_is_a_violation_even_with_run_as_non_root(user):
    props = workload(pod_context=NON_ROOT_POD, containers=[container(securityContext={"runAsUser": user})])
    [message] = check_non_root(props)
    assert "container 'vllm' runs as runAsUser: 0" in message


def test_run_as_user_zero_in_the_pod_is_a_violation_even_when_containers_override_it():
    props = workload(pod_context={"runAsNonRoot": True, "runAsUser": 0},
                     containers=[container(securityContext={"runAsUser": 1000})])
    [message] = check_non_root(props)
    assert message.startswith("Deployment qwen7b: the pod securityContext sets runAsUser: 0")


def test_root_images_allow_list_exempts_only_matching_containers():
    props = workload(pod_context={"runAsNonRoot": False},
                     containers=[container(), container("fix-perms", "busybox:1.36")])
    config = {"rootImages": ["docker.io/library/busybox:*"]}
    [message] = check_non_root(props, config)
    assert "container 'vllm'" in message and "fix-perms" not in message
    config = {"rootImages": ["docker.io/library/busybox:*", "vllm/vllm-openai:v0.6.*"]}
    assert check_non_root(props, config) == []


def test_root_images_cover_a_root_pod_when_every_container_is_allowed():
    props = workload(pod_context={"runAsUser": 0}, containers=[container("nvidia", "nvcr.io/nvidia/driver:550")])
    assert len(check_non_root(props)) == 1
    assert check_non_root(props, {"rootImages": ["nvcr.io/nvidia/*"]}) == []


def test_container_without_image_is_never_on_the_allow_list():
    props = workload(containers=[{"name": "vllm"}])
    assert len(check_non_root(props, {"rootImages": ["*"]})) == 1


@pytest.mark.parametrize("props", [{}, {"spec": {"template": {"spec": {"securityContext": {"runAsUser": 0}}}}}],
                         ids=["empty", "no-containers"])
def test_missing_pod_spec_or_containers_is_compliant(props):
    assert check_non_root(props) == []


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
