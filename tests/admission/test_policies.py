"""The admission backstop (components/admission.py): the recorded ValidatingAdmissionPolicies' CEL, evaluated.

Each invariant gets compliant and violating objects across the workload kinds; every shipped stack's own
workloads (the program's objects and every chart-rendered pod template) must be admitted, or the backstop would
block the platform itself.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from config.admission import DEFAULT_REGISTRIES, normalized_image, registry_allowed
from policy.rules.objects import KubeObject, program_object
from tests.admission.cel import RESOURCES, denials, program, recorded_policies
from tests.conftest import STACKS, run_config, run_stack, stack_values
from tests.render.conftest import rendered

GPU = "ai-platform-gpu-taint-requires-gpu-request"
PRIVILEGED = "ai-platform-no-privileged-pods"
REGISTRIES = "ai-platform-allowed-registries"
LOAD_BALANCER = "ai-platform-no-load-balancers"
ALL = {GPU, PRIVILEGED, REGISTRIES, LOAD_BALANCER}

IMAGE = "docker.io/vllm/vllm-openai:v0.33.0"
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def policies(stack: str = "dev") -> dict:
    return recorded_policies(run_stack(stack))


def container(**extra: Any) -> dict:
    return {"name": "app", "image": IMAGE, **extra}


def pod_spec(**extra: Any) -> dict:
    return {"containers": [container()], **extra}


def workload(kind: str, spec: dict, namespace: str = "ai-inference", annotations: dict | None = None) -> dict:
    """`spec` as the pod spec of a `kind` object (a Pod's own spec)."""
    template: dict = {"metadata": {"labels": {"app": "x"}, **({"annotations": annotations} if annotations else {})},
                      "spec": spec}
    group, version, _ = RESOURCES[kind]
    body: dict = {"apiVersion": f"{group}/{version}" if group else version, "kind": kind,
                  "metadata": {"name": "x", "namespace": namespace}}
    if kind == "Pod":
        body["metadata"].update(template["metadata"])
        body["spec"] = spec
    elif kind == "CronJob":
        body["spec"] = {"schedule": "0 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        body["spec"] = {"selector": {"matchLabels": {"app": "x"}}, "template": template}
    return body


def gpu_limits(resource: str = "nvidia.com/gpu", quantity: str = "1") -> dict:
    return {"limits": {resource: quantity}}


# ---------------------------------------------------------------------------------------------- recorded


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_ships_four_policies_with_deny_bindings(stack: str) -> None:
    found = policies(stack)
    assert set(found) == ALL
    for policy in found.values():
        assert policy.actions == ("Deny", "Audit"), policy.name
        assert policy.spec["failurePolicy"] == "Fail"
        for expression in policy.expressions():
            program(expression)  # compiles


def test_mode_warn_and_audit_set_the_binding_actions() -> None:
    for mode, actions in (("warn", ("Warn", "Audit")), ("audit", ("Audit",))):
        values = stack_values("dev")
        values.setdefault("tenancy", {}).setdefault("admission", {})["mode"] = mode
        result = run_config(values)
        assert result.error is None, result.error
        assert {p.actions for p in recorded_policies(result).values()} == {actions}


def test_disabled_ships_no_policy() -> None:
    values = stack_values("dev")
    values.setdefault("tenancy", {})["admission"] = {"enabled": False}
    result = run_config(values)
    assert result.error is None, result.error
    assert not recorded_policies(result)
    # Only the Gateway API's own policy (installed with its CRDs, components/inference/crds.py) is left.
    assert not [r for r in result.resources if "ValidatingAdmissionPolicy" in r.type
                and r.parent_type != "ai-platform:inference:GatewayCrds"]


@pytest.mark.parametrize("admission, expected", [
    ({"allowedRegistries": []}, "allowedRegistries is empty"),
    ({"allowedRegistries": ["https://nvcr.io"]}, "not a registry"),
    ({"allowedRegistries": ["docker.io/*"]}, "not a registry"),
    ({"allowedRegistries": ["nvcr.io"]}, "rag.gateway.image 'registry.example.com/ai-gateway:1.0.0'"),
    ({"mode": "block"}, "mode"),
    ({"exemptNamespaces": ["Kube_System"]}, "not a DNS label"),
    ({"exemptNamespaces": ["gmp-system", "ai-inference"]}, "ai-inference is a workload namespace"),
])
def test_bad_admission_config_is_a_config_error(admission: dict, expected: str) -> None:
    values = stack_values("dev")
    values.setdefault("tenancy", {})["admission"] = admission
    result = run_config(values)
    assert result.error is not None and expected in str(result.error), result.error
    assert "tenancy.admission" in str(result.error)
    assert not result.resources


def test_exempt_namespaces_default_per_cloud() -> None:
    def exempt(stack: str) -> set[str]:
        selector = policies(stack)[REGISTRIES].spec["matchConstraints"]["namespaceSelector"]
        return set(selector["matchExpressions"][0]["values"])

    assert exempt("dev") == {"kube-system", "kube-public", "kube-node-lease", "gmp-system", "gmp-public"}  # GKE
    assert exempt("prod") == {"kube-system", "kube-public", "kube-node-lease"}  # EKS
    values = stack_values("prod")
    values["tenancy"]["admission"]["exemptNamespaces"] = ["amazon-cloudwatch"]
    result = run_config(values)
    assert result.error is None, result.error
    pod = workload("Pod", pod_spec(containers=[container(image="evil.example.net/agent:1")]),
                   namespace="amazon-cloudwatch")
    assert denials(recorded_policies(result), pod) == {}
    assert REGISTRIES in denials(policies("prod"), pod)


def test_prod_lists_its_registries() -> None:
    prod = stack_values("prod")["tenancy"]["admission"]["allowedRegistries"]
    recorded = policies("prod")[REGISTRIES].spec["validations"][0]["expression"]
    for prefix in prod:
        assert f'"{prefix}"' in recorded
    # Narrower than whole public registries: organisations, not docker.io or ghcr.io as such.
    assert "docker.io" not in prod and "ghcr.io" not in prod


# ------------------------------------------------------------------------------ a. GPU taint and requests


@pytest.mark.parametrize("obj", [
    workload("Deployment", pod_spec(tolerations=[GPU_TOLERATION],
                                    containers=[container(resources=gpu_limits())])),
    workload("Job", pod_spec(tolerations=[{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}],
                             containers=[container(resources={"requests": {"nvidia.com/mig-1g.10gb": "1"},
                                                              "limits": {"nvidia.com/mig-1g.10gb": "1"}})])),
    workload("StatefulSet", pod_spec(tolerations=[{"key": "dedicated", "operator": "Exists"}])),
    workload("Pod", pod_spec(containers=[container(env=[{"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}])])),
    # The GPU Operator's operands see every GPU in their own (privileged) namespace.
    workload("DaemonSet", pod_spec(tolerations=[{"operator": "Exists"}]), namespace="gpu-operator"),
], ids=["deployment-gpu", "job-mig-equal", "statefulset-other-taint", "pod-void-devices", "gpu-operator-daemonset"])
def test_gpu_compliant(obj: dict) -> None:
    assert GPU not in denials(policies(), obj)


@pytest.mark.parametrize("obj, expected", [
    (workload("Pod", pod_spec(tolerations=[GPU_TOLERATION])), "tolerates the GPU taint"),
    (workload("Deployment", pod_spec(tolerations=[{"operator": "Exists"}])), "tolerates the GPU taint"),
    (workload("CronJob", pod_spec(tolerations=[GPU_TOLERATION],
                                  containers=[container(resources=gpu_limits(quantity="0"))])),
     "tolerates the GPU taint"),
    (workload("DaemonSet", pod_spec(containers=[container(env=[{"name": "NVIDIA_VISIBLE_DEVICES",
                                                                "value": "all"}])])), "NVIDIA_VISIBLE_DEVICES"),
    (workload("ReplicaSet", pod_spec(containers=[container(volumeMounts=[
        {"name": "d", "mountPath": "/var/run/nvidia-container-devices/all"}])])), "nvidia-container-devices"),
    (workload("Job", pod_spec(), annotations={"cdi.k8s.io/gpu": "nvidia.com/gpu=all"}), "cdi.k8s.io"),
    # A GPU in one container does not cover another container's NVIDIA_VISIBLE_DEVICES.
    (workload("StatefulSet", pod_spec(containers=[
        container(resources=gpu_limits()),
        container(name="side", env=[{"name": "NVIDIA_VISIBLE_DEVICES", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.name"}}}])])), "NVIDIA_VISIBLE_DEVICES"),
], ids=["pod-toleration", "deployment-keyless-exists", "cronjob-zero-gpus", "daemonset-env", "replicaset-mount",
        "job-cdi", "statefulset-sidecar-env"])
def test_gpu_violating(obj: dict, expected: str) -> None:
    found = denials(policies(), obj)
    assert GPU in found and any(expected in m for m in found[GPU]), found


# ------------------------------------------------------------------------------------ b. privileged pods


@pytest.mark.parametrize("obj", [
    workload("Deployment", pod_spec(containers=[container(securityContext={"privileged": False,
                                                                           "runAsNonRoot": True})])),
    workload("Pod", pod_spec(hostNetwork=False, volumes=[{"name": "cache", "emptyDir": {}}])),
    workload("DaemonSet", pod_spec(hostPID=True, hostNetwork=True, volumes=[{"name": "proc", "hostPath": {
        "path": "/proc"}}]), namespace="observability-node"),
    workload("DaemonSet", pod_spec(containers=[container(securityContext={"privileged": True})]),
             namespace="gpu-operator"),
    workload("Pod", pod_spec(hostNetwork=True), namespace="kube-system"),
], ids=["deployment-unprivileged", "pod-emptydir", "node-exporter-shape", "gpu-operator-privileged", "kube-system"])
def test_privileged_compliant(obj: dict) -> None:
    assert PRIVILEGED not in denials(policies(), obj)


@pytest.mark.parametrize("obj, expected", [
    (workload("Pod", pod_spec(containers=[container(securityContext={"privileged": True})])), "privileged containers"),
    (workload("Job", pod_spec(initContainers=[container(name="init", securityContext={"privileged": True})])),
     "privileged containers"),
    (workload("Deployment", pod_spec(hostPID=True)), "hostPID"),
    (workload("StatefulSet", pod_spec(hostIPC=True)), "hostPID"),
    (workload("CronJob", pod_spec(hostNetwork=True)), "hostPID"),
    (workload("DaemonSet", pod_spec(volumes=[{"name": "root", "hostPath": {"path": "/"}}])), "hostPath"),
    # A node-agent namespace the stack does not create is not exempt (local has no GPU Operator).
    (workload("DaemonSet", pod_spec(containers=[container(securityContext={"privileged": True})]),
              namespace="default"), "privileged containers"),
], ids=["pod-privileged", "job-init-privileged", "deployment-hostpid", "statefulset-hostipc", "cronjob-hostnetwork",
        "daemonset-hostpath", "default-namespace"])
def test_privileged_violating(obj: dict, expected: str) -> None:
    found = denials(policies(), obj)
    assert PRIVILEGED in found and any(expected in m for m in found[PRIVILEGED]), found


def test_privileged_exemptions_follow_the_stack_namespaces() -> None:
    daemonset = workload("DaemonSet", pod_spec(containers=[container(securityContext={"privileged": True})]),
                         namespace="gpu-operator")
    assert PRIVILEGED not in denials(policies("dev"), daemonset)
    assert PRIVILEGED in denials(policies("local"), daemonset)  # local runs no GPU Operator


def test_metadata_only_updates_pass_spec_updates_are_judged() -> None:
    old = workload("Deployment", pod_spec(hostPID=True))
    relabelled = copy.deepcopy(old)
    relabelled["metadata"]["labels"] = {"team": "a"}
    assert denials(policies(), relabelled, operation="UPDATE", old=old) == {}
    changed = copy.deepcopy(old)
    changed["spec"]["template"]["spec"]["hostNetwork"] = True
    assert PRIVILEGED in denials(policies(), changed, operation="UPDATE", old=old)
    assert PRIVILEGED in denials(policies(), old, operation="UPDATE", old=workload("Deployment", pod_spec()))


# ------------------------------------------------------------------------------------------ c. registries


@pytest.mark.parametrize("image", [
    "vllm/vllm-openai:v0.33.0", "python:3.13.7-alpine", "nvcr.io/nvidia/gpu-operator:v26.7.0",
    "registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:" + "0" * 64, "registry.example.com/ai-gateway:1.0.0",
])
def test_registry_compliant(image: str) -> None:
    for kind in ("Pod", "Deployment", "CronJob"):
        obj = workload(kind, pod_spec(containers=[container(image=image)]))
        assert REGISTRIES not in denials(policies(), obj), (kind, image)


@pytest.mark.parametrize("kind, image", [
    ("Pod", "evil.example.net/miner:1"),
    ("Deployment", "docker.io.evil.example.net/vllm:1"),  # a prefix of the host is not the registry
    ("StatefulSet", "localhost/debug:1"),
    ("Job", "ghcr.io.attacker.dev/x/y:1"),
    ("DaemonSet", "myregistry:5000/tool:1"),
])
def test_registry_violating(kind: str, image: str) -> None:
    obj = workload(kind, pod_spec(initContainers=[container(name="init", image=image)]))
    found = denials(policies(), obj)
    assert REGISTRIES in found and "allowed registry" in found[REGISTRIES][0], found


def test_prod_refuses_images_outside_its_organisations() -> None:
    # docker.io is allowed in dev (default list) but prod names organisations only.
    obj = workload("Deployment", pod_spec(containers=[container(image="someone/cryptominer:1")]))
    assert REGISTRIES not in denials(policies("dev"), obj)
    assert REGISTRIES in denials(policies("prod"), obj)


def test_normalized_image_matches_the_cel() -> None:
    """config.admission.normalized_image (used by the config check) and the CEL agree."""
    policy = policies()[REGISTRIES]
    for image in ("python:3", "vllm/vllm-openai:v1", "nvcr.io/nvidia/x:1", "localhost/a:1", "host:5000/a/b:1"):
        obj = workload("Pod", pod_spec(containers=[container(image=image)]))
        allowed = not denials({REGISTRIES: policy}, obj)
        assert allowed == registry_allowed(image, DEFAULT_REGISTRIES + ("registry.example.com",)), image
    assert normalized_image("python:3") == "docker.io/library/python:3"


# ---------------------------------------------------------------------------------------- d. LoadBalancer


def service(kind: str | None, namespace: str) -> dict:
    spec: dict = {"ports": [{"port": 80}], "selector": {"app": "x"}}
    if kind:
        spec["type"] = kind
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": namespace}, "spec": spec}


@pytest.mark.parametrize("obj", [
    service(None, "ai-app"), service("ClusterIP", "ai-inference"), service("LoadBalancer", "ai-gateway"),
])
def test_load_balancer_compliant(obj: dict) -> None:
    assert LOAD_BALANCER not in denials(policies(), obj)


@pytest.mark.parametrize("obj", [
    service("LoadBalancer", "ai-app"), service("LoadBalancer", "observability"), service("LoadBalancer", "default"),
])
def test_load_balancer_violating(obj: dict) -> None:
    assert LOAD_BALANCER in denials(policies(), obj)


def test_load_balancer_in_ingress_namespace_only_when_the_stack_installs_it() -> None:
    assert LOAD_BALANCER in denials(policies("local"), service("LoadBalancer", "ingress-nginx"))
    # dev exposes its APIs through the inference gateway's public Gateway (ai-gateway), not ingress-nginx.
    assert LOAD_BALANCER in denials(policies("dev"), service("LoadBalancer", "ingress-nginx"))
    assert LOAD_BALANCER in denials(policies("local"), service("LoadBalancer", "ai-gateway"))


# ------------------------------------------------------------------------------- the platform is admitted


def _stack_objects(stack: str) -> list[KubeObject]:
    found = [o for r in run_stack(stack).resources if (o := program_object(r.type, r.inputs)) is not None]
    for release in rendered(stack).releases:
        assert release.error is None, release.error
        found += [KubeObject(o.manifest, source=f"chart:{release.release}", release_namespace=release.namespace)
                  for o in release.objects]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_workload_of_the_stack_is_admitted(stack: str) -> None:
    found = policies(stack)
    judged = 0
    refused = {}
    for obj in _stack_objects(stack):
        if obj.kind not in RESOURCES:
            continue
        result = denials(found, obj.body, namespace=obj.namespace)
        judged += 1
        if result:
            refused[obj.ref()] = result
    assert not refused, refused
    assert judged > 10


# Operator-created pods (never in a chart): their images come from these custom resources.
def _operand_images(obj: KubeObject) -> list[str]:
    spec = obj.body.get("spec") or {}
    if obj.kind == "ClusterPolicy":
        return [f"{part['repository']}/{part.get('image', 'x')}:1" for part in spec.values()
                if isinstance(part, dict) and part.get("repository")]
    if obj.kind in ("Prometheus", "Alertmanager", "Elasticsearch") and spec.get("image"):
        return [spec["image"]]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_operator_operands_are_admitted(stack: str) -> None:
    policy = {REGISTRIES: policies(stack)[REGISTRIES]}
    images = [i for o in _stack_objects(stack) for i in _operand_images(o)]
    # The operators' own defaults: prometheus-config-reloader, the ECK Elasticsearch image.
    images += ["quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
               "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"]
    refused = [i for i in images
               if denials(policy, workload("StatefulSet", pod_spec(containers=[container(image=i)])))]
    assert not refused
