"""mig-requests-match-layouts and mig-workloads-select-mig-pool over pools, MIG-parted ConfigMaps and workloads."""

from __future__ import annotations

import json

import pytest

from .harness import Res, run_stack
from .test_budget import eks_group, gke_pool

LAYOUTS = "mig-requests-match-layouts"
SELECT = "mig-workloads-select-mig-pool"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}

MIG_PARTED = {
    "version": "v1",
    "mig-configs": {
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "all-1g.10gb": [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}],
        "mixed-1x3g.40gb-2x2g.20gb": [{"devices": "all", "mig-enabled": True,
                                       "mig-devices": {"3g.40gb": 1, "2g.20gb": 2}}],
    },
}

MIG_PARTED_YAML = """\
version: v1
mig-configs:
  all-disabled:
    - devices: all
      mig-enabled: false
  all-1g.10gb:
    - devices: all
      mig-enabled: true
      mig-devices: {"1g.10gb": 7}
  mixed-1x3g.40gb-2x2g.20gb:
    - devices: all
      mig-enabled: true
      mig-devices: {"3g.40gb": 1, "2g.20gb": 2}
"""


# ----------------------------------------------------------------------------------- builders


def mig_parted(config=None, raw: str | None = None, name="ai-gpu-mig-parted") -> Res:
    text = raw if raw is not None else json.dumps(config if config is not None else MIG_PARTED, indent=2)
    return Res(CONFIGMAP, name, {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "ai-platform-mig-parted-config", "namespace": "gpu-operator"},
        "data": {"config.yaml": text},
    })


def mig_eks(name, layout, sharing="mig") -> Res:
    group = eks_group(name, ("p4de.24xlarge",), 2)
    group.props["labels"].update({"nvidia.com/mig.config": layout, "ai-platform/sharing": sharing})
    return group


def whole_eks(name) -> Res:
    group = eks_group(name)
    group.props["labels"]["ai-platform/sharing"] = "none"
    return group


def mig_gke(name, partition="1g.10gb", sharing="mig") -> Res:
    pool = gke_pool(name, accelerator="nvidia-tesla-a100", machine_type="a2-highgpu-1g",
                    autoscaling={"totalMaxNodeCount": 2})
    if partition is not None:
        pool.props["nodeConfig"]["guestAccelerators"][0]["gpuPartitionSize"] = partition
    pool.props["nodeConfig"]["labels"]["ai-platform/sharing"] = sharing
    return pool


def container(name="server", resources=None) -> dict:
    c = {"name": name, "image": "vllm/vllm-openai:v0.6.3"}
    if resources is not None:
        c["resources"] = resources
    return c


def spec(resources=None, node_selector=None, affinity_terms=None, init_resources=None) -> dict:
    s = {"containers": [container("metrics"), container("server", resources)], "tolerations": [TOLERATION]}
    if init_resources is not None:
        s["initContainers"] = [container("warmup", init_resources)]
    if node_selector is not None:
        s["nodeSelector"] = node_selector
    if affinity_terms is not None:
        s["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": affinity_terms}}}
    return s


def template(pod: dict) -> dict:
    return {"metadata": {"labels": {"app": "qwen"}}, "spec": pod}


# Each kind nests the pod spec where Kubernetes puts it (written out here, not taken from the rule).
KINDS = {
    "kubernetes:core/v1:Pod": lambda s: {"metadata": {"name": "qwen"}, "spec": s},
    DEPLOYMENT: lambda s: {"spec": {"replicas": 1, "selector": {"matchLabels": {"app": "qwen"}},
                                    "template": template(s)}},
    "kubernetes:apps/v1:StatefulSet": lambda s: {"spec": {"serviceName": "qwen", "template": template(s)}},
    "kubernetes:apps/v1:DaemonSet": lambda s: {"spec": {"template": template(s)}},
    "kubernetes:batch/v1:Job": lambda s: {"spec": {"backoffLimit": 1, "template": template(s)}},
    "kubernetes:batch/v1:CronJob": lambda s: {"spec": {"schedule": "0 3 * * *",
                                                       "jobTemplate": {"spec": {"template": template(s)}}}},
}


def workload(pod: dict, kind=DEPLOYMENT, name="qwen") -> Res:
    return Res(kind, name, KINDS[kind](pod))


def mig(profile: str, section="limits", quantity=1) -> dict:
    return {section: {f"nvidia.com/mig-{profile}": quantity}}


def layouts(resources) -> list:
    return run_stack(LAYOUTS, resources)


def select(resources) -> list:
    return run_stack(SELECT, resources)


def eks_stack() -> list[Res]:
    return [mig_parted(), mig_eks("a100-mig", "mixed-1x3g.40gb-2x2g.20gb"), mig_eks("a100-small", "all-1g.10gb"),
            whole_eks("h100-od")]


# ------------------------------------------------------------------- mig-requests-match-layouts


@pytest.mark.parametrize("profile", ["3g.40gb", "2g.20gb", "1g.10gb"])
def test_eks_profiles_resolved_through_the_configmap_are_compliant(profile):
    assert layouts([*eks_stack(), workload(spec(mig(profile)))]) == []


def test_profile_no_pool_configures_is_a_violation_naming_the_container_and_profiles():
    w = workload(spec(mig("7g.80gb")), name="big")
    [violation] = layouts([*eks_stack(), w])
    assert violation.urn == w.urn
    assert "Deployment default/big" in violation.message and "container 'server'" in violation.message
    assert "nvidia.com/mig-7g.80gb" in violation.message
    assert "configured MIG profiles: 1g.10gb, 2g.20gb, 3g.40gb" in violation.message


def test_yaml_configmap_in_nvidia_form_is_parsed():
    stack = [mig_parted(raw=MIG_PARTED_YAML), mig_eks("a100-mig", "mixed-1x3g.40gb-2x2g.20gb")]
    assert layouts([*stack, workload(spec(mig("2g.20gb")))]) == []
    [violation] = layouts([*stack, workload(spec(mig("1g.10gb")))])
    assert "configured MIG profiles: 2g.20gb, 3g.40gb" in violation.message


def test_only_layouts_a_pool_selects_count():
    """all-1g.10gb is defined in the ConfigMap but no pool uses it."""
    stack = [mig_parted(), mig_eks("a100-mig", "mixed-1x3g.40gb-2x2g.20gb")]
    [violation] = layouts([*stack, workload(spec(mig("1g.10gb")))])
    assert "nvidia.com/mig-1g.10gb" in violation.message


def test_disabled_layout_and_zero_counts_configure_nothing():
    config = {"mig-configs": {"all-disabled": [{"devices": "all", "mig-enabled": False,
                                                "mig-devices": {"1g.10gb": 7}}],
                              "odd": [{"devices": "all", "mig-enabled": True, "mig-devices": {"2g.20gb": 0}}]}}
    stack = [mig_parted(config), mig_eks("a", "all-disabled"), mig_eks("b", "odd")]
    for profile in ("1g.10gb", "2g.20gb"):
        [violation] = layouts([*stack, workload(spec(mig(profile)))])
        assert "no GPU pool has a MIG layout" in violation.message


def test_several_configmaps_are_merged():
    first = mig_parted({"mig-configs": {"a": [{"mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]}}, name="one")
    second = mig_parted({"mig-configs": {"b": [{"mig-enabled": True, "mig-devices": {"3g.40gb": 2}}]}}, name="two")
    stack = [first, second, mig_eks("x", "a"), mig_eks("y", "b")]
    assert layouts([*stack, workload(spec(mig("1g.10gb"))), workload(spec(mig("3g.40gb")), name="w2")]) == []
    assert layouts([*stack, workload(spec(mig("2g.20gb")))])


def test_a_layout_defined_in_two_configmaps_gets_the_union_of_its_profiles():
    first = mig_parted({"mig-configs": {"a": [{"mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]}}, name="one")
    second = mig_parted({"mig-configs": {"a": [{"mig-enabled": True, "mig-devices": {"3g.40gb": 2}}]}}, name="two")
    stack = [first, second, mig_eks("x", "a")]
    assert layouts([*stack, workload(spec(mig("1g.10gb"))), workload(spec(mig("3g.40gb")), name="w2")]) == []


def test_configmaps_that_are_not_mig_parted_are_ignored():
    """A config.yaml that is not YAML or has no mig-configs does not define layouts (built-in names apply)."""
    other = [mig_parted(raw="key: [unclosed", name="broken"), mig_parted({"version": "v1"}, name="plugin")]
    assert layouts([*other, mig_eks("a", "all-1g.10gb"), workload(spec(mig("1g.10gb")))]) == []


def test_gke_partition_size_counts_as_configured():
    assert layouts([mig_gke("a100-mig", "1g.10gb"), workload(spec(mig("1g.10gb")))]) == []
    [violation] = layouts([mig_gke("a100-mig", "1g.10gb"), workload(spec(mig("3g.40gb")))])
    assert "configured MIG profiles: 1g.10gb" in violation.message


def test_no_mig_pool_at_all():
    [violation] = layouts([whole_eks("h100-od"), mig_gke("a100", partition=None), workload(spec(mig("1g.10gb")))])
    assert "no GPU pool has a MIG layout" in violation.message


@pytest.mark.parametrize("layout, profile", [("all-1g.10gb", "1g.10gb"), ("all-3g.40gb", "3g.40gb"),
                                             ("all-1g.10gb.me", "1g.10gb.me")])
def test_builtin_layout_names_without_configmap(layout, profile):
    assert layouts([mig_eks("a100", layout), workload(spec(mig(profile)))]) == []


ME_LAYOUT = {"version": "v1", "mig-configs": {"me": [
    {"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb+me": 1}}]}}


@pytest.mark.parametrize("resources", [[mig_eks("a100", "all-1g.10gb.me")],
                                       [mig_parted(ME_LAYOUT), mig_eks("a100", "me")]])
def test_plus_me_is_not_a_resource_the_device_plugin_advertises(resources):
    """The device plugin advertises 1g.10gb+me as nvidia.com/mig-1g.10gb.me; a `+` request is never met."""
    [violation] = layouts([*resources, workload(spec(mig("1g.10gb+me")))])
    assert "nvidia.com/mig-1g.10gb+me" in violation.message
    assert "request nvidia.com/mig-1g.10gb.me" in violation.message


def test_builtin_me_layout_does_not_provide_the_plain_profile():
    [violation] = layouts([mig_eks("a100", "all-1g.10gb.me"), workload(spec(mig("1g.10gb")))])
    assert "configured MIG profiles: 1g.10gb+me" in violation.message


@pytest.mark.parametrize("layout", ["all-balanced", "all-enabled", "all-disabled"])
def test_builtin_layouts_without_known_profiles_are_accepted_but_provide_none(layout):
    assert layouts([mig_eks("a100", layout)]) == []
    [violation] = layouts([mig_eks("a100", layout), workload(spec(mig("1g.10gb")))])
    assert "no GPU pool has a MIG layout" in violation.message


def test_layout_missing_from_the_configmap_is_a_violation_on_the_pool():
    pool = mig_eks("a100-mig", "mixed-2x3g.40gb")
    [violation] = layouts([mig_parted(), pool])
    assert violation.urn == pool.urn
    assert "'mixed-2x3g.40gb'" in violation.message and "not defined in any MIG-parted ConfigMap" in violation.message
    assert "defined: all-1g.10gb, all-disabled, mixed-1x3g.40gb-2x2g.20gb" in violation.message


def test_builtin_name_is_not_a_definition_when_a_configmap_exists():
    config = {"mig-configs": {"all-disabled": [{"devices": "all", "mig-enabled": False}]}}
    pool = mig_eks("a100", "all-3g.40gb")
    found = layouts([mig_parted(config), pool, workload(spec(mig("3g.40gb")))])
    assert [v.urn for v in found] == [pool.urn, workload(spec()).urn]


def test_unknown_layout_without_configmap_is_a_violation_on_the_pool():
    pool = mig_eks("a100", "mixed-1x3g.40gb-2x2g.20gb")
    [violation] = layouts([pool])
    assert violation.urn == pool.urn and "default MIG config" in violation.message


def test_gke_pool_label_layout_is_checked_too():
    pool = mig_gke("a100", partition=None)
    pool.props["nodeConfig"]["labels"]["nvidia.com/mig.config"] = "nope"
    [violation] = layouts([mig_parted(), pool])
    assert violation.urn == pool.urn and "GKE node pool" in violation.message


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_workload_kind_is_checked(kind):
    stack = eks_stack()
    assert layouts([*stack, workload(spec(mig("1g.10gb")), kind)]) == []
    [violation] = layouts([*stack, workload(spec(mig("4g.40gb")), kind)])
    assert kind.rsplit(":", 1)[-1] in violation.message


def test_init_container_request_is_checked():
    [violation] = layouts([*eks_stack(), workload(spec(init_resources=mig("4g.40gb", "requests")))])
    assert "initContainer 'warmup'" in violation.message


def test_request_and_limit_of_the_same_resource_are_one_violation():
    both = {"requests": {"nvidia.com/mig-4g.40gb": "1"}, "limits": {"nvidia.com/mig-4g.40gb": "1"}}
    assert len(layouts([*eks_stack(), workload(spec(both))])) == 1


def test_whole_gpus_and_zero_quantities_are_ignored():
    stack = [whole_eks("h100-od")]
    assert layouts([*stack, workload(spec({"limits": {"nvidia.com/gpu": 1}}))]) == []
    assert layouts([*stack, workload(spec(mig("1g.10gb", quantity="0")))]) == []
    assert layouts([*stack, workload(spec(mig("1g.10gb", quantity=0)))]) == []
    assert layouts([*stack, workload(spec(mig("1g.10gb", quantity="1")))])


# ---------------------------------------------------------------- mig-workloads-select-mig-pool


@pytest.mark.parametrize("selector", [{"ai-platform/pool": "a100-mig"}, {"ai-platform/sharing": "mig"},
                                      {"nvidia.com/mig.config": "all-1g.10gb"},
                                      {"kubernetes.io/os": "linux", "ai-platform/pool": "a100-small"}])
def test_node_selector_on_mig_nodes_is_compliant(selector):
    assert select([*eks_stack(), workload(spec(mig("1g.10gb"), node_selector=selector))]) == []


@pytest.mark.parametrize("selector", [None, {}, {"ai-platform/pool": "h100-od"}, {"ai-platform/sharing": "none"},
                                      {"nvidia.com/mig.config": "all-disabled"}, {"ai-platform/pool": "ghost"},
                                      {"kubernetes.io/os": "linux"}])
def test_node_selector_not_on_mig_nodes_is_a_violation(selector):
    w = workload(spec(mig("1g.10gb"), node_selector=selector), name="qwen-mig")
    [violation] = select([*eks_stack(), w])
    assert violation.urn == w.urn
    assert "Deployment default/qwen-mig" in violation.message
    assert "container 'server' nvidia.com/mig-1g.10gb" in violation.message
    assert "{ai-platform/pool: <a MIG pool: a100-mig, a100-small>}" in violation.message
    assert "{ai-platform/sharing: mig}" in violation.message


def test_gke_pool_labels_are_read():
    stack = [mig_gke("a100-mig"), mig_gke("l4", partition=None, sharing="time-slicing")]
    assert select([*stack, workload(spec(mig("1g.10gb"), node_selector={"ai-platform/pool": "a100-mig"}))]) == []
    assert select([*stack, workload(spec(mig("1g.10gb"), node_selector={"ai-platform/pool": "l4"}))])


@pytest.mark.parametrize("non_mig_first", [False, True])
def test_pool_name_shared_with_a_non_mig_group_does_not_qualify(non_mig_first):
    stack = [mig_eks("a100", "all-1g.10gb"), mig_eks("a100", "all-disabled", sharing="none")]
    if non_mig_first:
        stack.reverse()
    assert select([*stack, workload(spec(mig("1g.10gb"), node_selector={"ai-platform/pool": "a100"}))])


def test_message_without_mig_pools_suggests_the_sharing_label():
    [violation] = select([whole_eks("h100-od"), workload(spec(mig("1g.10gb")))])
    assert "no node pool of the stack is labelled ai-platform/sharing=mig" in violation.message
    assert "<a MIG pool" not in violation.message


def expr(key, values, operator="In") -> dict:
    return {"key": key, "operator": operator, "values": values}


@pytest.mark.parametrize("terms", [
    [{"matchExpressions": [expr("ai-platform/pool", ["a100-mig", "a100-small"])]}],
    [{"matchExpressions": [expr("kubernetes.io/arch", ["amd64"]), expr("ai-platform/sharing", ["mig"])]}],
    [{"matchExpressions": [expr("ai-platform/pool", ["a100-mig"])]},
     {"matchExpressions": [expr("nvidia.com/mig.config", ["all-1g.10gb"])]}],
], ids=["pools-in", "and-with-other", "two-terms-both-mig"])
def test_required_affinity_on_mig_nodes_is_compliant(terms):
    assert select([*eks_stack(), workload(spec(mig("1g.10gb"), affinity_terms=terms))]) == []


@pytest.mark.parametrize("terms", [
    [],
    [{"matchExpressions": [expr("ai-platform/pool", ["a100-mig", "h100-od"])]}],
    [{"matchExpressions": [expr("ai-platform/pool", ["a100-mig"])]},
     {"matchExpressions": [expr("ai-platform/pool", ["h100-od"])]}],
    [{"matchExpressions": [expr("ai-platform/sharing", ["mig"], "NotIn")]}],
    [{"matchExpressions": [{"key": "nvidia.com/mig.config", "operator": "Exists"}]}],
    [{"matchExpressions": [expr("ai-platform/pool", [])]}],
    [{"matchFields": [expr("metadata.name", ["node-1"])]}],
], ids=["no-terms", "one-value-not-mig", "one-term-not-mig", "not-in", "exists", "empty-values", "match-fields"])
def test_required_affinity_not_only_on_mig_nodes_is_a_violation(terms):
    assert len(select([*eks_stack(), workload(spec(mig("1g.10gb"), affinity_terms=terms))])) == 1


def test_preferred_affinity_does_not_count():
    pod = spec(mig("1g.10gb"))
    pod["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [expr("ai-platform/sharing", ["mig"])]}}]}}
    assert select([*eks_stack(), workload(pod)])


def test_node_selector_qualifies_even_when_affinity_does_not():
    terms = [{"matchExpressions": [expr("kubernetes.io/os", ["linux"])]}]
    pod = spec(mig("1g.10gb"), node_selector={"ai-platform/sharing": "mig"}, affinity_terms=terms)
    assert select([*eks_stack(), workload(pod)]) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_workload_kind_must_select_mig_nodes(kind):
    stack = eks_stack()
    assert select([*stack, workload(spec(mig("1g.10gb"), node_selector={"ai-platform/sharing": "mig"}), kind)]) == []
    [violation] = select([*stack, workload(spec(mig("1g.10gb")), kind)])
    assert kind.rsplit(":", 1)[-1] in violation.message


def test_init_container_mig_request_must_select_mig_nodes():
    [violation] = select([*eks_stack(), workload(spec(init_resources=mig("1g.10gb", "requests")))])
    assert "initContainer 'warmup' nvidia.com/mig-1g.10gb" in violation.message


def test_whole_gpu_and_zero_mig_workloads_need_no_mig_selector():
    stack = eks_stack()
    assert select([*stack, workload(spec({"limits": {"nvidia.com/gpu": 1}}))]) == []
    assert select([*stack, workload(spec(mig("1g.10gb", quantity="0")))]) == []
    assert select([*stack, workload(spec(mig("1g.10gb", quantity="500m")))])


def test_each_workload_is_reported():
    found = select([*eks_stack(), workload(spec(mig("1g.10gb")), name="a"), workload(spec(mig("2g.20gb")), name="b"),
                    workload(spec(mig("1g.10gb"), node_selector={"ai-platform/sharing": "mig"}), name="c")])
    assert [v.urn.rsplit("::", 1)[-1] for v in found] == ["a", "b"]
