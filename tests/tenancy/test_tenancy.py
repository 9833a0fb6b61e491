"""Tenancy component: namespaces and their Pod Security levels, quotas, LimitRanges, RBAC, ordering."""

from __future__ import annotations

import pytest

from components.tenancy import CREDENTIAL_NAMESPACE_DEPLOYER_RULES, DEPLOYER_RULES, VIEWER_RULES
from config import ConfigError, validate
from tests.conftest import run_config, run_stack, stack_values

NAMESPACE = "kubernetes:core/v1:Namespace"
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMITS = "kubernetes:core/v1:LimitRange"
ROLE = "kubernetes:rbac.authorization.k8s.io/v1:Role"
BINDING = "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"
CLUSTER_ROLE = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"
CLUSTER_BINDING = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"


def namespaces(result) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs["metadata"] for r in result.of_type(NAMESPACE)}


def in_namespace(result, type_: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["namespace"]: r.inputs for r in result.of_type(type_)
            if r.parent and "Tenancy" in r.parent}


def test_workload_namespaces_enforce_their_level_and_warn_at_restricted(stack_name):
    result = run_stack(stack_name)
    found = namespaces(result)
    for name, meta in found.items():
        labels = meta["labels"]
        assert labels["pod-security.kubernetes.io/warn"] == "restricted"
        assert labels["pod-security.kubernetes.io/audit"] == "restricted"
        kind = labels["ai-platform/namespace-kind"]
        if kind == "workload":
            assert labels["pod-security.kubernetes.io/enforce"] == "restricted", name
        elif labels["pod-security.kubernetes.io/enforce"] != "restricted":
            assert meta["annotations"]["ai-platform/pod-security-reason"], f"{name}: exception without a reason"


@pytest.mark.parametrize("stack, platform", [
    # dev and prod expose the AI gateway through the inference gateway (ai-gateway): no ingress-nginx.
    ("dev", {"gpu-operator", "observability-node", "keda", "ai-gateway", "cert-manager", "istio-system"}),
    ("prod", {"gpu-operator", "observability-node", "keda", "ai-gateway", "cert-manager", "elastic-system",
              "istio-system"}),
    ("local", {"observability-node"}),
])
def test_platform_namespaces_follow_the_features(stack, platform):
    found = namespaces(run_stack(stack))
    workload = {n for n, m in found.items() if m["labels"]["ai-platform/namespace-kind"] == "workload"}
    assert workload == set(stack_values(stack)["tenancy"]["namespaces"])
    assert set(found) - workload == platform
    assert found.get("gpu-operator", {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}})[
        "labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_prod_quotas_hold_gpus_and_mig_slices_the_models_need():
    quotas = in_namespace(run_stack("prod"), QUOTA)
    assert set(quotas) == {"ai-inference", "ai-rag", "ai-app", "team-apps", "observability"}
    # qwen72b: TP2 x 8 max; qwen7b's on-demand fallback: 1 x 5 at its max on h100-od; configured 40 wins.
    # qwen7b: 16 x 3g.40gb at max; embedding: 3 x 2g.20gb at its maxReplicas.
    assert quotas["ai-inference"]["spec"]["hard"] == {
        "requests.memory": "1152Gi", "requests.nvidia.com/gpu": "40",
        "requests.nvidia.com/mig-3g.40gb": "16", "requests.nvidia.com/mig-2g.20gb": "3"}
    assert quotas["ai-rag"]["spec"]["hard"] == {"requests.memory": "256Gi"}
    for hard in (q["spec"]["hard"] for q in quotas.values()):
        assert not any(k.startswith("limits.nvidia.com") or k == "nvidia.com/gpu" for k in hard)


def test_omitted_gpu_quota_is_sized_from_the_plan():
    values = stack_values("prod")
    del values["tenancy"]["namespaces"]["ai-inference"]["gpuQuota"]
    quotas = in_namespace(run_config(values), QUOTA)
    # 2 x 8 + the fallbacks at their max: qwen7b 5, embedding 3
    assert quotas["ai-inference"]["spec"]["hard"]["requests.nvidia.com/gpu"] == "24"


def test_gpu_quota_below_the_need_is_a_config_error_with_the_numbers():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["ai-inference"]["gpuQuota"] = 10
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    message = str(err.value)
    assert "Pulumi.prod.yaml" in message
    assert "ai-platform:tenancy.namespaces.ai-inference.gpuQuota: 10 is below the 24 nvidia.com/gpu" in message
    assert "qwen72b (2 x 8 max replicas)" in message
    assert "qwen7b fallback (5 units at its max replicas on h100-od)" in message


def test_local_blocks_gpus_with_a_zero_quota_and_keeps_a_quota_everywhere():
    quotas = in_namespace(run_stack("local"), QUOTA)
    assert quotas["ai-inference"]["spec"]["hard"]["requests.nvidia.com/gpu"] == "0"
    values = stack_values("local")
    values["tenancy"]["namespaces"]["ai-app"] = {}
    assert in_namespace(run_config(values), QUOTA)["ai-app"]["spec"]["hard"] == {"pods": "500"}


def test_quota_keys_from_config():
    values = stack_values("dev")
    values["tenancy"]["namespaces"]["ai-rag"] = {"cpuQuota": "16", "memoryQuota": "64Gi", "cpuLimitQuota": "32",
                                                 "memoryLimitQuota": "96Gi", "storageQuota": "500Gi",
                                                 "pvcQuota": 20, "podQuota": 50}
    hard = in_namespace(run_config(values), QUOTA)["ai-rag"]["spec"]["hard"]
    assert hard == {"requests.cpu": "16", "requests.memory": "64Gi", "limits.cpu": "32", "limits.memory": "96Gi",
                    "requests.storage": "500Gi", "persistentvolumeclaims": "20", "pods": "50"}


def test_limit_ranges_default_every_container():
    values = stack_values("dev")
    values["tenancy"]["namespaces"]["ai-app"]["containerDefaults"] = {"cpuRequest": "250m", "memoryLimit": "1Gi"}
    limits = in_namespace(run_config(values), LIMITS)
    assert set(limits) == set(values["tenancy"]["namespaces"])
    [item] = limits["ai-app"]["spec"]["limits"]
    assert item == {"type": "Container", "defaultRequest": {"cpu": "250m", "memory": "128Mi"},
                    "default": {"cpu": "1", "memory": "1Gi"}}


def test_rbac_has_no_wildcards_and_viewers_never_read_secrets():
    for groups, resources, verbs in DEPLOYER_RULES + VIEWER_RULES:
        assert "*" not in verbs and "*" not in resources and "*" not in groups
    assert not any("secrets" in resources for _, resources, _ in VIEWER_RULES)
    secrets = [verbs for _, resources, verbs in DEPLOYER_RULES if "secrets" in resources]
    assert secrets == [["get", "list", "watch", "create", "update", "patch", "delete"]]
    platform_owned = {"roles", "rolebindings", "resourcequotas", "limitranges", "networkpolicies", "namespaces"}
    writes = {"create", "update", "patch", "delete"}
    for _, resources, verbs in DEPLOYER_RULES:
        assert not (platform_owned & set(resources) and writes & set(verbs)), resources


def test_roles_are_recorded_and_bound_only_to_configured_groups():
    result = run_stack("prod")
    roles = in_namespace(result, ROLE)
    assert set(roles) == set(stack_values("prod")["tenancy"]["namespaces"])
    for role in roles.values():
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] and "*" not in rule["resources"]
    bindings = in_namespace(result, BINDING)  # the deployers' (the backup CronJob's own binding is not one)
    assert set(bindings) == {"team-apps"}, "only namespaces with deployers get a binding"
    assert bindings["team-apps"]["subjects"] == [{"kind": "Group", "name": "ai-app-deployers",
                                                  "apiGroup": "rbac.authorization.k8s.io"}]
    assert bindings["team-apps"]["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                                "name": "ai-platform-deployer"}
    values = stack_values("prod")
    for tenant in values["tenancy"]["namespaces"].values():
        tenant.pop("deployers", None)
    values["tenancy"]["viewers"] = ["oncall", "auditors"]
    result = run_config(values)
    assert not in_namespace(result, BINDING)
    [viewer] = [r for r in result.of_type(CLUSTER_BINDING) if r.parent and "Tenancy" in r.parent]
    assert [s["name"] for s in viewer.inputs["subjects"]] == ["oncall", "auditors"]
    [role] = [r for r in result.of_type(CLUSTER_ROLE) if r.inputs["metadata"]["name"] == "ai-platform-viewer"]
    assert not any("secrets" in rule["resources"] for rule in role.inputs["rules"])


def test_everything_namespaced_depends_on_its_namespace(stack_name):
    result = run_stack(stack_name)
    ns_urns = {r.inputs["metadata"]["name"]: r.urn for r in result.of_type(NAMESPACE)}
    checked = 0
    for r in result.resources:
        if not (r.custom and r.type.startswith("kubernetes:")) or r.type.startswith("kubernetes:helm.sh"):
            continue
        ns = (r.inputs.get("metadata") or {}).get("namespace")
        if ns in ns_urns:
            assert ns_urns[ns] in r.dependencies, f"{r.type} {r.name} does not depend on namespace {ns}"
            checked += 1
    for release in result.of_type("kubernetes:helm.sh/v3:Release"):
        if release.inputs.get("namespace") in ns_urns:
            assert ns_urns[release.inputs["namespace"]] in release.dependencies, release.name
    assert checked


@pytest.mark.parametrize("change, path, text", [
    (lambda v: v["tenancy"]["namespaces"].pop("ai-rag"), "ai-platform:rag.namespace",
     "'ai-rag' is not a workload namespace; add it to tenancy.namespaces"),
    (lambda v: v["serving"].__setitem__("namespace", "models"), "ai-platform:serving.namespace",
     "'models' is not a workload namespace"),
    (lambda v: v["tenancy"]["namespaces"].__setitem__("kube-system", {}), "ai-platform:tenancy.namespaces.kube-system",
     "'kube-system' is reserved"),
    (lambda v: v["tenancy"]["namespaces"].__setitem__("gpu-operator", {}),
     "ai-platform:tenancy.namespaces.gpu-operator", "reserved for Kubernetes or a platform operator"),
    (lambda v: v["tenancy"]["namespaces"]["ai-app"].__setitem__("podSecurity", "lenient"),
     "ai-platform:tenancy.namespaces.ai-app.podSecurity", "restricted"),
])
def test_bad_namespaces_are_config_errors(change, path, text):
    values = stack_values("prod")
    change(values)
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    assert any(i.path == path and text in i.message for i in err.value.issues), err.value


# ------------------------------------------------------------------------- platform credentials


SECRET = "kubernetes:core/v1:Secret"


def _grants_secrets(role: dict) -> bool:
    return any("secrets" in rule["resources"] or "*" in rule["resources"] for rule in role["rules"])


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_no_deployer_group_can_reach_a_namespace_holding_platform_credentials(stack):
    """On the recorded objects: every namespace with a Secret the program (or a chart it installs) creates has no
    deployer binding and a deployer Role without Secrets; tenants' namespaces keep theirs."""
    from config.namespaces import credential_namespaces

    result = run_stack(stack)
    cfg, _ = validate(stack_values(stack), "Pulumi.t.yaml")
    holders = credential_namespaces(cfg)
    with_secrets = {r.inputs["metadata"]["namespace"] for r in result.of_type(SECRET)}
    # Charts' own Secrets (ECK's elastic user, Grafana, redis-ha...) live in the namespaces of their Releases.
    with_secrets |= {r.inputs["namespace"] for r in result.of_type("kubernetes:helm.sh/v3:Release")
                     if r.inputs["namespace"] in cfg.tenancy.namespaces}
    assert with_secrets & set(cfg.tenancy.namespaces) <= set(holders), "a credential namespace is not known"
    roles = in_namespace(result, ROLE)
    bound = {r.inputs["metadata"]["namespace"] for r in result.of_type(BINDING)  # the deployers' bindings
             if r.inputs["roleRef"]["name"] == "ai-platform-deployer"}
    for ns in cfg.tenancy.namespaces:
        if ns in holders:
            assert ns not in bound or ns == cfg.serving.namespace, f"deployers bound in {ns}"
            assert not _grants_secrets(roles[ns]), f"the deployer Role in {ns} grants Secrets"
        else:
            assert _grants_secrets(roles[ns]), f"tenants of {ns} manage their own Secrets"
    if stack == "prod":
        assert bound == {"team-apps"}


def test_credential_namespace_role_is_the_deployer_role_without_secrets():
    assert [r for r in DEPLOYER_RULES if "secrets" not in r[1]] == list(CREDENTIAL_NAMESPACE_DEPLOYER_RULES)
    assert len(CREDENTIAL_NAMESPACE_DEPLOYER_RULES) == len(DEPLOYER_RULES) - 1


@pytest.mark.parametrize("namespace", ["ai-rag", "ai-app", "observability"])
def test_a_deployer_group_on_a_namespace_holding_platform_credentials_is_a_config_error(namespace):
    values = stack_values("prod")
    values["tenancy"]["namespaces"][namespace]["deployers"] = ["team-x"]
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    [issue] = err.value.issues
    assert issue.path == f"ai-platform:tenancy.namespaces.{namespace}.deployers"
    assert "holds platform credentials" in issue.message and "whoever may create pods there" in issue.message


def test_hf_token_forbids_deployers_in_the_serving_namespace():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["ai-inference"]["deployers"] = ["ai-inference-deployers"]
    allowed = run_config(values)  # no token: the serving namespace holds no credential
    assert allowed.error is None, allowed.error
    [role] = [r for r in allowed.of_type(ROLE) if r.inputs["metadata"]["namespace"] == "ai-inference"
              and r.inputs["metadata"]["name"] == "ai-platform-deployer"]
    assert not _grants_secrets(role.inputs), "the token may be set at any time: no Secrets for deployers there"
    values["hfToken"] = "hf_secret"
    result = run_config(values, secrets=["hfToken"])
    assert result.error is not None
    assert "tenancy.namespaces.ai-inference.deployers" in str(result.error)
    assert "the Hugging Face token (hf-token)" in str(result.error)
    values["tenancy"]["namespaces"]["ai-inference"].pop("deployers")
    assert run_config(values, secrets=["hfToken"]).error is None
