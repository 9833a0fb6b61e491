"""namespace-resource-quota, namespace-default-deny and gpu-quota-for-gpu-namespaces over namespaces,
quotas, NetworkPolicies and GPU workloads."""

from __future__ import annotations

import pytest

from .harness import Res, run_stack

QUOTA = "namespace-resource-quota"
DENY = "namespace-default-deny"
GPU_QUOTA = "gpu-quota-for-gpu-namespaces"

NAMESPACE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
CRONJOB = "kubernetes:batch/v1:CronJob"
WORKLOAD_NAMESPACES = ("ai-inference", "ai-rag", "ai-app", "observability")
PLATFORM_NAMESPACES = ("gpu-operator", "keda", "ingress-nginx", "cert-manager", "observability-node")
HARD = {"requests.cpu": "32", "requests.memory": "256Gi", "limits.memory": "256Gi", "pods": "100"}
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


# ----------------------------------------------------------------------------------- builders


def namespace(name: str) -> Res:
    return Res(NAMESPACE, f"ai-tenancy-ns-{name}", {
        "metadata": {"name": name, "labels": {"ai-platform/namespace-kind": "workload",
                                              "pod-security.kubernetes.io/enforce": "restricted"}}})


def quota(ns: str | None, hard: dict | None = None, name: str | None = None) -> Res:
    metadata = {"name": name or f"{ns}-quota"}
    if ns is not None:
        metadata["namespace"] = ns
    props = {"metadata": metadata}
    if hard is not None:
        props["spec"] = {"hard": hard}
    return Res(RESOURCE_QUOTA, f"ai-tenancy-quota-{name or ns}", props)


def netpol(ns: str | None, name: str, spec: dict | None) -> Res:
    metadata = {"name": name}
    if ns is not None:
        metadata["namespace"] = ns
    props = {"metadata": metadata}
    if spec is not None:
        props["spec"] = spec
    return Res(NETWORK_POLICY, f"ai-tenancy-{ns}-{name}", props)


def deny_all(ns: str) -> Res:
    return netpol(ns, "default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})


def gpu_deployment(ns: str | None, name: str = "qwen7b", resources: dict | None = None,
                   init_resources: dict | None = None) -> Res:
    server = {"name": "vllm", "image": "vllm/vllm-openai:v0.6.3",
              "resources": resources if resources is not None else {"limits": {"nvidia.com/gpu": 1}}}
    spec = {"containers": [server], "tolerations": [TOLERATION]}
    if init_resources is not None:
        spec["initContainers"] = [{"name": "warmup", "image": "busybox:1.36", "resources": init_resources}]
    metadata = {"name": name}
    if ns is not None:
        metadata["namespace"] = ns
    return Res(DEPLOYMENT, f"ai-serving-{name}", {
        "metadata": metadata,
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                 "template": {"metadata": {"labels": {"app.kubernetes.io/name": name}}, "spec": spec}}})


def platform(quotas: bool = True, deny: bool = True) -> list[Res]:
    """The shipped stacks' namespaces (workload and platform) with, per flag, their quotas and denies."""
    resources = [namespace(n) for n in WORKLOAD_NAMESPACES + PLATFORM_NAMESPACES]
    for ns in WORKLOAD_NAMESPACES:
        if quotas:
            resources.append(quota(ns, HARD))
    if deny:  # every namespace the stack creates, operators' included
        resources += [deny_all(ns) for ns in WORKLOAD_NAMESPACES + PLATFORM_NAMESPACES]
    return resources


def messages(policy: str, resources: list[Res], config: dict | None = None) -> list[str]:
    return [v.message for v in run_stack(policy, resources, config)]


# ----------------------------------------------------------------------- namespace-resource-quota


def test_every_workload_namespace_with_a_quota_is_compliant():
    assert run_stack(QUOTA, platform()) == []


def test_platform_namespaces_need_no_quota():
    assert run_stack(QUOTA, [namespace(n) for n in PLATFORM_NAMESPACES + ("kube-system", "default")]) == []


def test_workload_namespace_without_quota_is_a_violation_on_it():
    resources = [r for r in platform()
                 if not (r.type == RESOURCE_QUOTA and r.props["metadata"]["namespace"] == "ai-rag")]
    [violation] = run_stack(QUOTA, resources)
    assert violation.urn == namespace("ai-rag").urn
    assert "Namespace ai-rag has no ResourceQuota" in violation.message and "spec.hard" in violation.message


def test_quota_in_another_namespace_does_not_count():
    violations = run_stack(QUOTA, [namespace("ai-app"), quota("ai-rag", HARD, name="ai-app-quota")])
    assert [v.urn for v in violations] == [namespace("ai-app").urn]


@pytest.mark.parametrize("hard", [None, {}], ids=["no-spec", "empty-hard"])
def test_quota_without_hard_limits_does_not_count(hard):
    [message] = messages(QUOTA, [namespace("ai-app"), quota("ai-app", hard)])
    assert "ResourceQuota ai-app-quota has no spec.hard" in message


def test_quota_without_namespace_is_in_default():
    assert len(messages(QUOTA, [namespace("ai-app"), quota(None, HARD, name="q")])) == 1
    assert messages(QUOTA, [namespace("ai-app"), quota(None, HARD, name="q")], {"systemNamespaces": ["ai-app"]}) == []


def test_namespace_without_name_is_a_violation():
    unnamed = Res(NAMESPACE, "ai-tenancy-ns-x", {})
    [violation] = run_stack(QUOTA, [unnamed])
    assert violation.urn == unnamed.urn and "no metadata.name" in violation.message


def test_no_namespaces_is_compliant():
    assert run_stack(QUOTA, [quota("ai-app", HARD)]) == []


def test_system_namespaces_config_replaces_the_default():
    resources = [namespace("ai-app"), namespace("kube-system")]
    assert [m.split(" has")[0] for m in messages(QUOTA, resources, {"systemNamespaces": ["ai-app"]})] \
        == ["Namespace kube-system"]
    assert len(messages(QUOTA, resources, {"systemNamespaces": []})) == 2


# ------------------------------------------------------------------------- namespace-default-deny


def test_one_deny_all_policy_per_namespace_is_compliant():
    assert run_stack(DENY, platform()) == []


def test_two_single_direction_deny_policies_are_compliant():
    resources = [namespace("ai-rag"),
                 netpol("ai-rag", "deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}),
                 netpol("ai-rag", "deny-egress", {"podSelector": {}, "policyTypes": ["Egress"]}),
                 netpol("ai-rag", "allow-dns", {"podSelector": {}, "policyTypes": ["Egress"],
                                                "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})]
    assert run_stack(DENY, resources) == []


@pytest.mark.parametrize("selector", [None, {}, {"matchLabels": {}}, {"matchLabels": {}, "matchExpressions": []}],
                         ids=["absent", "empty", "empty-match-labels", "empty-both"])
def test_empty_or_absent_pod_selector_selects_every_pod(selector):
    spec = {"policyTypes": ["Ingress", "Egress"]}
    if selector is not None:
        spec["podSelector"] = selector
    assert run_stack(DENY, [namespace("ai-app"), netpol("ai-app", "deny", spec)]) == []


def test_namespace_without_network_policy_is_a_violation_naming_the_fix():
    [violation] = run_stack(DENY, [namespace("ai-inference")])
    assert violation.urn == namespace("ai-inference").urn
    assert "Namespace ai-inference has no default-deny NetworkPolicy for Ingress and Egress" in violation.message
    assert "podSelector: {}, policyTypes: [Ingress, Egress]" in violation.message


@pytest.mark.parametrize("spec, missing, note", [
    ({"podSelector": {"matchLabels": {"app": "x"}}, "policyTypes": ["Ingress", "Egress"]}, "Ingress and Egress",
     "podSelector is not empty"),
    ({"podSelector": {}, "policyTypes": ["Ingress"]}, "Egress", "policyTypes lacks Egress"),
    ({"podSelector": {}}, "Egress", "policyTypes lacks Egress"),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [{}]}, "Ingress", "has ingress rules"),
    ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"],
      "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}, "Egress", "has egress rules"),
    ({"podSelector": {}, "egress": [{}]}, "Egress", "has egress rules"),
], ids=["selects-some-pods", "ingress-only", "types-default-to-ingress", "allow-all-ingress", "egress-rules",
        "defaulted-types-with-egress-rules"])
def test_policies_that_are_not_a_pure_deny(spec, missing, note):
    [message] = messages(DENY, [namespace("ai-app"), netpol("ai-app", "almost", spec)])
    assert f"NetworkPolicy for {missing} (other NetworkPolicies there: almost: {note})" in message


def test_deny_in_another_namespace_does_not_count():
    violations = run_stack(DENY, [namespace("ai-app"), namespace("ai-rag"), deny_all("ai-rag")])
    assert [v.urn for v in violations] == [namespace("ai-app").urn]


def test_network_policy_without_spec_denies_ingress_only():
    [message] = messages(DENY, [namespace("ai-app"), netpol("ai-app", "bare", None)])
    assert "NetworkPolicy for Egress (" in message


def test_network_policy_without_namespace_is_in_default():
    resources = [namespace("ai-app"), netpol(None, "deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]})]
    assert len(messages(DENY, resources)) == 1


def test_operator_namespaces_need_a_deny_too_and_config_exempts():
    resources = [namespace(n) for n in PLATFORM_NAMESPACES]
    assert len(messages(DENY, resources)) == len(PLATFORM_NAMESPACES)
    assert run_stack(DENY, [*resources, *(deny_all(n) for n in PLATFORM_NAMESPACES)]) == []
    assert len(messages(DENY, resources, {"exemptNamespaces": ["gpu-operator"]})) == len(PLATFORM_NAMESPACES) - 1
    assert run_stack(DENY, [namespace("kube-system"), namespace("default")]) == [], "the cluster's own"


def test_unnamed_namespace_is_a_violation_for_deny_too():
    assert "no metadata.name" in messages(DENY, [Res(NAMESPACE, "x", {"metadata": {}})])[0]


# ------------------------------------------------------------------- gpu-quota-for-gpu-namespaces


def test_gpu_namespace_with_requests_quota_is_compliant():
    resources = [namespace("ai-inference"), gpu_deployment("ai-inference"),
                 quota("ai-inference", {**HARD, "requests.nvidia.com/gpu": "16"})]
    assert run_stack(GPU_QUOTA, resources) == []


def test_gpu_namespace_without_gpu_quota_is_a_violation():
    resources = [namespace("ai-inference"), gpu_deployment("ai-inference"), quota("ai-inference", HARD)]
    [violation] = run_stack(GPU_QUOTA, resources)
    assert violation.urn == namespace("ai-inference").urn
    message = violation.message
    assert "Namespace ai-inference runs GPU workloads" in message
    assert "Deployment qwen7b container 'vllm'" in message
    assert "spec.hard['requests.nvidia.com/gpu']" in message
    assert "only with the requests. prefix" in message


@pytest.mark.parametrize("key", ["limits.nvidia.com/gpu", "nvidia.com/gpu"])
def test_limits_or_bare_gpu_quota_keys_do_not_count(key):
    resources = [gpu_deployment("ai-inference"), quota("ai-inference", {key: "16"})]
    [violation] = run_stack(GPU_QUOTA, resources)
    assert f"found '{key}' in ResourceQuota ai-inference-quota, which does not count" in violation.message
    assert violation.urn == resources[0].urn  # no Namespace resource: reported on the workload


def test_every_mig_profile_needs_its_own_quota_key():
    resources = [gpu_deployment("ai-inference", resources={"limits": {"nvidia.com/mig-1g.10gb": 1}},
                                init_resources={"requests": {"nvidia.com/mig-3g.40gb": "1"}}),
                 quota("ai-inference", {"requests.nvidia.com/mig-1g.10gb": "14"})]
    [message] = messages(GPU_QUOTA, resources)
    assert "requests.nvidia.com/mig-3g.40gb" in message and "initContainer 'warmup'" in message
    assert "requests.nvidia.com/mig-1g.10gb'" not in message
    resources.append(quota("ai-inference", {"requests.nvidia.com/mig-3g.40gb": "2"}, name="mig-3g"))
    assert run_stack(GPU_QUOTA, resources) == []


def test_cronjob_gpu_request_counts():
    cron = Res(CRONJOB, "ai-batch-eval", {"metadata": {"name": "eval", "namespace": "ai-rag"}, "spec": {
        "schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [
            {"name": "eval", "image": "eval:1.0", "resources": {"requests": {"nvidia.com/gpu": "1"}}}]}}}}}})
    [message] = messages(GPU_QUOTA, [cron])
    assert "Namespace ai-rag" in message and "CronJob eval container 'eval'" in message


def test_workload_without_namespace_is_in_default():
    [message] = messages(GPU_QUOTA, [gpu_deployment(None)])
    assert message.startswith("Namespace default runs GPU workloads")


def test_quota_elsewhere_does_not_count_and_each_namespace_is_reported():
    resources = [gpu_deployment("ai-inference"), gpu_deployment("ai-rag", name="embed"),
                 quota("ai-rag", {"requests.nvidia.com/gpu": "2"})]
    [message] = messages(GPU_QUOTA, resources)
    assert message.startswith("Namespace ai-inference")


@pytest.mark.parametrize("resources", [
    {}, {"requests": {"cpu": "1"}}, {"limits": {"nvidia.com/gpu": 0}}, {"limits": {"nvidia.com/gpu": "0"}},
], ids=["no-resources", "cpu-only", "zero", "zero-string"])
def test_workloads_asking_for_no_gpu_need_no_quota(resources):
    assert run_stack(GPU_QUOTA, [gpu_deployment("ai-app", resources=resources)]) == []


@pytest.mark.parametrize("props", [{}, {"metadata": {"name": "x", "namespace": "ai-app"}},
                                   {"spec": {"template": {}}}, {"spec": {"template": {"spec": {}}}}],
                         ids=["empty", "no-spec", "no-pod-spec", "no-containers"])
def test_workloads_with_missing_properties_ask_for_no_gpu(props):
    assert run_stack(GPU_QUOTA, [Res(DEPLOYMENT, "w", props)]) == []


def test_quota_without_spec_does_not_count_for_gpus():
    assert len(run_stack(GPU_QUOTA, [gpu_deployment("ai-inference"), quota("ai-inference", None)])) == 1
