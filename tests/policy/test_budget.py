"""gpu-budget (stack policy) over GKE/EKS pools, the capacity ConfigMap and pack config."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .harness import Res, run_stack

GKE = "gcp:container/nodePool:NodePool"
EKS = "aws:eks/nodeGroup:NodeGroup"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


def capacity_configmap(budget, name="ai-platform-capacity", raw: str | None = None) -> Res:
    data = {"plan.json": json.dumps({"pools": []}),
            "budget.json": raw if raw is not None else json.dumps(budget, sort_keys=True)}
    return Res(CONFIGMAP, "ai-capacity", {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "kube-system", "labels": {"app.kubernetes.io/part-of": "ai-platform"}},
        "data": data,
    })


def gke_pool(name, gpus=1, accelerator="nvidia-l4", machine_type="g2-standard-8", autoscaling=None,
             node_locations=None, **extra) -> Res:
    node_config = {"machineType": machine_type, "taints": [TAINT], "labels": {"ai-platform/pool": name}}
    if gpus is not None:
        node_config["guestAccelerators"] = [{"type": accelerator, "count": gpus}]
    props = {"name": name, "cluster": "ai-dev", "location": "us-central1", "nodeConfig": node_config, **extra}
    if autoscaling is not None:
        props["autoscaling"] = autoscaling
    if node_locations is not None:
        props["nodeLocations"] = node_locations
    return Res(GKE, f"ai-{name}", props)


def eks_group(name, instance_types=("p5.48xlarge",), max_size=3, gpus_label=None, ami="AL2023_x86_64_NVIDIA") -> Res:
    labels = {"ai-platform/pool": name}
    if gpus_label is not None:
        labels["ai-platform/gpus-per-node"] = gpus_label
    props = {"clusterName": "ai-prod", "nodeGroupName": name, "amiType": ami, "labels": labels, "taints": [TAINT],
             "subnetIds": ["subnet-0a", "subnet-0b"]}
    if instance_types is not None:
        props["instanceTypes"] = list(instance_types)
    if max_size is not None:
        props["scalingConfig"] = {"minSize": 0, "desiredSize": 0, "maxSize": max_size}
    return Res(EKS, f"ai-{name}", props)


def system_pools() -> list[Res]:
    """CPU pools and other resources the rule must ignore."""
    return [
        Res(GKE, "ai-system", {"name": "system", "nodeConfig": {"machineType": "e2-standard-8"},
                               "autoscaling": {"totalMaxNodeCount": 50}}),
        Res(EKS, "ai-system", {"nodeGroupName": "system", "amiType": "AL2023_x86_64_STANDARD",
                               "instanceTypes": ["m6i.2xlarge"], "scalingConfig": {"maxSize": 40}}),
        Res("kubernetes:core/v1:Namespace", "ai-inference", {"metadata": {"name": "ai-inference"}}),
        Res("pulumi:providers:kubernetes", "ai-k8s", {"kubeconfig": "{}"}),
        Res("ai-platform:platform:Platform", "ai", {}),
    ]


def check(resources: list[Res], config: dict | None = None):
    return run_stack("gpu-budget", resources, config)


# ---------------------------------------------------------------------------------------- EKS


def prod_eks(budget=40) -> list[Res]:
    return [eks_group("h100-od", ("p5.48xlarge",), 3), eks_group("a100-spot", ("p4de.24xlarge",), 2),
            capacity_configmap({"maxGpus": budget, "maxMonthlyUsd": 250000}), *system_pools()]


def test_eks_prod_shape_at_the_limit_passes():
    assert check(prod_eks(budget=40)) == []


def test_eks_over_budget_is_one_stack_violation_with_breakdown():
    violations = check(prod_eks(budget=39))
    assert len(violations) == 1
    message = violations[0].message
    assert violations[0].urn is None
    assert "40 > budget 39" in message
    assert "h100-od (ai-h100-od): 3 nodes x 8 GPUs = 24" in message
    assert "a100-spot (ai-a100-spot): 2 nodes x 8 GPUs = 16" in message
    assert "ConfigMap kube-system/ai-platform-capacity" in message
    assert "ai-system" not in message


def test_eks_gpus_per_node_label_wins_over_the_table():
    resources = [eks_group("h100-od", ("p5.48xlarge",), 3, gpus_label="4"), capacity_configmap({"maxGpus": 12})]
    assert check(resources) == []
    violations = check([eks_group("h100-od", ("p5.48xlarge",), 3, gpus_label="5"), capacity_configmap({"maxGpus": 12})])
    assert len(violations) == 1 and "3 nodes x 5 GPUs = 15" in violations[0].message


@pytest.mark.parametrize("instance_type, per_node", [
    ("p4d.24xlarge", 8), ("p4de.24xlarge", 8), ("p5.48xlarge", 8), ("p5en.48xlarge", 8), ("g5.xlarge", 1),
    ("g5.12xlarge", 4), ("g5.48xlarge", 8), ("g6.xlarge", 1), ("g6e.12xlarge", 4), ("g4dn.12xlarge", 4),
])
def test_eks_instance_table(instance_type, per_node):
    resources = [eks_group("pool", (instance_type,), 2, ami="AL2023_x86_64_STANDARD")]
    assert check(resources + [capacity_configmap({"maxGpus": 2 * per_node})]) == []
    violations = check(resources + [capacity_configmap({"maxGpus": 2 * per_node - 1})])
    assert len(violations) == 1 and f"2 nodes x {per_node} GPUs" in violations[0].message


def test_eks_mixed_instance_types_count_the_largest():
    resources = [eks_group("l4", ("g6.xlarge", "g6.12xlarge"), 2), capacity_configmap({"maxGpus": 7})]
    violations = check(resources)
    assert len(violations) == 1 and "2 nodes x 4 GPUs = 8" in violations[0].message


def test_eks_unknown_instance_type_is_a_violation_on_that_pool():
    unknown = eks_group("mystery", ("p9.96xlarge",), 2)
    violations = check([unknown, eks_group("h100-od", ("p5.48xlarge",), 1), capacity_configmap({"maxGpus": 48})])
    assert len(violations) == 1
    assert violations[0].urn == unknown.urn
    assert "unknown instance type (p9.96xlarge)" in violations[0].message
    assert "ai-platform/gpus-per-node" in violations[0].message


def test_eks_unknown_pool_does_not_hide_an_exceeded_total():
    violations = check([eks_group("mystery", ("p9.96xlarge",), 2), eks_group("h100-od", ("p5.48xlarge",), 2),
                        capacity_configmap({"maxGpus": 8})])
    assert len(violations) == 2
    assert "16 > budget 8" in violations[1].message


def test_eks_missing_instance_types_without_label_is_a_violation():
    violations = check([eks_group("h100", None, 2), capacity_configmap({"maxGpus": 8})])
    assert len(violations) == 1 and "none declared" in violations[0].message


def test_eks_missing_scaling_config_is_a_violation():
    group = eks_group("h100", ("p5.48xlarge",), None)
    violations = check([group, capacity_configmap({"maxGpus": 8})])
    assert len(violations) == 1 and violations[0].urn == group.urn and "maxSize unknown" in violations[0].message


def test_unknown_pools_are_fine_without_a_budget():
    assert check([eks_group("mystery", ("p9.96xlarge",), 2), eks_group("h100", ("p5.48xlarge",), None)]) == []


# ---------------------------------------------------------------------------------------- GKE


def test_gke_total_max_node_count():
    resources = [gke_pool("l4", gpus=1, autoscaling={"totalMinNodeCount": 0, "totalMaxNodeCount": 3},
                          node_locations=["us-central1-a", "us-central1-c"]),
                 gke_pool("a100", gpus=2, accelerator="nvidia-a100-80gb", machine_type="a2-ultragpu-2g",
                          autoscaling={"totalMaxNodeCount": 2})]
    assert check(resources + [capacity_configmap({"maxGpus": 7})]) == []
    violations = check(resources + [capacity_configmap({"maxGpus": 6})])
    assert len(violations) == 1
    assert "7 > budget 6" in violations[0].message
    assert "l4 (ai-l4): 3 nodes x 1 GPUs = 3" in violations[0].message
    assert "a100 (ai-a100): 2 nodes x 2 GPUs = 4" in violations[0].message


def test_gke_per_zone_max_times_node_locations():
    pool = gke_pool("l4", gpus=1, autoscaling={"minNodeCount": 0, "maxNodeCount": 2},
                    node_locations=["us-central1-a", "us-central1-b", "us-central1-c"])
    violations = check([pool, capacity_configmap({"maxGpus": 5})])
    assert len(violations) == 1 and "6 nodes x 1 GPUs = 6" in violations[0].message
    assert check([pool, capacity_configmap({"maxGpus": 6})]) == []


def test_gke_per_zone_max_without_node_locations():
    pool = gke_pool("l4", gpus=1, autoscaling={"maxNodeCount": 4})
    assert "4 nodes x 1 GPUs" in check([pool, capacity_configmap({"maxGpus": 3})])[0].message


@pytest.mark.parametrize("counts, zones, nodes", [
    ({"nodeCount": 2}, None, 2), ({"nodeCount": 2}, ["us-central1-a", "us-central1-c"], 4),
    ({"initialNodeCount": 3}, None, 3), ({"nodeCount": 1, "initialNodeCount": 5}, None, 1),
])
def test_gke_fixed_size_pools(counts, zones, nodes):
    pool = gke_pool("l4", gpus=2, node_locations=zones, **counts)
    violations = check([pool, capacity_configmap({"maxGpus": 2 * nodes - 1})])
    assert len(violations) == 1 and f"{nodes} nodes x 2 GPUs" in violations[0].message
    assert check([pool, capacity_configmap({"maxGpus": 2 * nodes})]) == []


def test_gke_accelerator_counts_are_summed():
    pool = gke_pool("mixed", gpus=1, autoscaling={"totalMaxNodeCount": 1})
    pool.props["nodeConfig"]["guestAccelerators"].append({"type": "nvidia-l4", "count": 3})
    assert "1 nodes x 4 GPUs = 4" in check([pool, capacity_configmap({"maxGpus": 3})])[0].message


@pytest.mark.parametrize("machine_type, per_node", [
    ("a3-highgpu-8g", 8), ("a2-megagpu-16g", 16), ("a2-ultragpu-1g", 1), ("g2-standard-24", 2), ("g2-standard-96", 8),
])
def test_gke_gpu_machine_without_accelerators_uses_the_machine_type(machine_type, per_node):
    pool = gke_pool("gpu", gpus=None, machine_type=machine_type, autoscaling={"totalMaxNodeCount": 2})
    assert check([pool, capacity_configmap({"maxGpus": 2 * per_node})]) == []
    assert len(check([pool, capacity_configmap({"maxGpus": 2 * per_node - 1})])) == 1


def test_gke_gpus_per_node_label_without_accelerators():
    pool = gke_pool("gpu", gpus=None, machine_type="a2-custom-thing", autoscaling={"totalMaxNodeCount": 2})
    pool.props["nodeConfig"]["labels"]["ai-platform/gpus-per-node"] = "4"
    assert "2 nodes x 4 GPUs = 8" in check([pool, capacity_configmap({"maxGpus": 7})])[0].message


def test_gke_unknown_gpu_machine_is_a_violation():
    pool = gke_pool("gpu", gpus=None, machine_type="a2-custom-thing", autoscaling={"totalMaxNodeCount": 2})
    violations = check([pool, capacity_configmap({"maxGpus": 100})])
    assert len(violations) == 1 and violations[0].urn == pool.urn and "a2-custom-thing" in violations[0].message


def test_gke_accelerator_without_count_is_a_violation():
    pool = gke_pool("gpu", autoscaling={"totalMaxNodeCount": 2})
    del pool.props["nodeConfig"]["guestAccelerators"][0]["count"]
    violations = check([pool, capacity_configmap({"maxGpus": 100})])
    assert len(violations) == 1 and "no count" in violations[0].message


def test_gke_pool_without_any_node_count_is_a_violation():
    pool = gke_pool("gpu")
    violations = check([pool, capacity_configmap({"maxGpus": 100})])
    assert len(violations) == 1 and violations[0].urn == pool.urn and "max node count unknown" in violations[0].message


# ------------------------------------------------------------------------------- budget sources


def test_no_budget_anywhere_is_compliant():
    assert check([eks_group("h100", ("p5.48xlarge",), 100), *system_pools()]) == []


@pytest.mark.parametrize("budget", [{"maxGpus": None, "maxMonthlyUsd": 60000}, {"maxMonthlyUsd": 60000}, {}])
def test_budget_without_max_gpus_is_compliant(budget):
    assert check([eks_group("h100", ("p5.48xlarge",), 100), capacity_configmap(budget)]) == []


def test_configmap_with_another_name_is_not_the_budget():
    assert check([eks_group("h100", ("p5.48xlarge",), 100), capacity_configmap({"maxGpus": 1}, name="other")]) == []


def test_configmap_without_budget_key_is_not_a_budget():
    cm = capacity_configmap({"maxGpus": 1})
    del cm.props["data"]["budget.json"]
    assert check([eks_group("h100", ("p5.48xlarge",), 100), cm]) == []


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "48"])
def test_invalid_budget_json_is_a_violation_on_the_configmap(raw):
    cm = capacity_configmap(None, raw=raw)
    violations = check([eks_group("h100", ("p5.48xlarge",), 1), cm])
    assert len(violations) == 1 and violations[0].urn == cm.urn and "not a JSON object" in violations[0].message


def test_pack_config_overrides_a_looser_configmap():
    violations = check(prod_eks(budget=100), {"maxGpus": 32})
    assert len(violations) == 1 and "40 > budget 32 (pack config maxGpus)" in violations[0].message


def test_pack_config_overrides_a_stricter_configmap():
    assert check(prod_eks(budget=8), {"maxGpus": 40}) == []
    assert check(prod_eks(budget=8), {"maxGpus": 40.0}) == []


def test_pack_config_budget_without_configmap():
    assert len(check([eks_group("h100", ("p5.48xlarge",), 2)], {"maxGpus": 15})) == 1
    assert check([eks_group("h100", ("p5.48xlarge",), 2)], {"maxGpus": 16}) == []


def test_pack_config_zero_budget_rejects_any_gpu():
    violations = check([gke_pool("l4", autoscaling={"totalMaxNodeCount": 1})], {"maxGpus": 0})
    assert len(violations) == 1 and "1 > budget 0" in violations[0].message


def test_empty_pack_config_falls_back_to_configmap():
    assert len(check(prod_eks(budget=39), {})) == 1


def test_strictest_of_several_configmaps_wins():
    second = capacity_configmap({"maxGpus": 16})
    second.name = "ai-capacity-2"
    violations = check(prod_eks(budget=100) + [second])
    assert len(violations) == 1 and "40 > budget 16" in violations[0].message


# ----------------------------------------------------------------------------------- property


POOL = st.one_of(
    st.tuples(st.just("gke-total"), st.integers(0, 12), st.integers(0, 8)),
    st.tuples(st.just("gke-zonal"), st.integers(0, 6), st.integers(0, 8)),
    st.tuples(st.just("eks-label"), st.integers(0, 12), st.integers(0, 8)),
    st.tuples(st.just("eks-table"), st.integers(0, 12), st.sampled_from(["p5.48xlarge", "g5.xlarge", "g6.12xlarge"])),
)
TABLE = {"p5.48xlarge": 8, "g5.xlarge": 1, "g6.12xlarge": 4}


def build(index: int, pool) -> tuple[Res, int]:
    """A pool resource and its GPUs at max scale, computed here independently of the rule."""
    form, nodes, gpus = pool
    name = f"p{index}"
    if form == "gke-total":
        return gke_pool(name, gpus=gpus, autoscaling={"totalMaxNodeCount": nodes}), nodes * gpus
    if form == "gke-zonal":
        zones = ["us-central1-a", "us-central1-b"]
        return gke_pool(name, gpus=gpus, autoscaling={"maxNodeCount": nodes}, node_locations=zones), 2 * nodes * gpus
    if form == "eks-label":
        return eks_group(name, ("p4d.24xlarge",), nodes, gpus_label=str(gpus)), nodes * gpus
    return eks_group(name, (gpus,), nodes), nodes * TABLE[gpus]


@settings(max_examples=60, deadline=None)
@given(pools=st.lists(POOL, max_size=6), limit=st.integers(0, 300), from_config=st.booleans())
def test_violation_iff_total_exceeds_limit(pools, limit, from_config):
    built = [build(i, p) for i, p in enumerate(pools)]
    total = sum(gpus for _, gpus in built)
    resources = [r for r, _ in built] + system_pools()
    if from_config:
        violations = check(resources + [capacity_configmap({"maxGpus": limit + 1000})], {"maxGpus": limit})
    else:
        violations = check(resources + [capacity_configmap({"maxGpus": limit})])
    assert len(violations) == (1 if total > limit else 0)
    if violations:
        assert f"{total} > budget {limit}" in violations[0].message
