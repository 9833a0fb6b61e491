"""gpu-node-pool-tainted over GKE node pools and EKS node groups."""

from __future__ import annotations

import pytest

from .harness import run_resource

GKE = "gcp:container/nodePool:NodePool"
EKS = "aws:eks/nodeGroup:NodeGroup"

GKE_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
EKS_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}


def check(resource_type: str, props: dict, name: str = "a100-spot") -> list[str]:
    return run_resource("gpu-node-pool-tainted", resource_type, props, name=name)


def gke_pool(taints=None, accelerators=True, machine_type="a2-ultragpu-1g", **overrides) -> dict:
    node_config = {
        "machineType": machine_type,
        "spot": True,
        "diskSizeGb": 200,
        "oauthScopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "labels": {"ai-platform/pool": "a100-spot", "ai-platform/gpus-per-node": "1"},
    }
    if accelerators:
        node_config["guestAccelerators"] = [{
            "type": "nvidia-a100-80gb", "count": 1,
            "gpuPartitionSize": "1g.10gb",
            "gpuDriverInstallationConfig": {"gpuDriverVersion": "LATEST"},
        }]
    if taints is not None:
        node_config["taints"] = taints
    props = {
        "name": "a100-spot",
        "cluster": "ai-dev",
        "location": "us-central1",
        "nodeLocations": ["us-central1-a", "us-central1-c"],
        "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 2, "locationPolicy": "ANY"},
        "nodeConfig": node_config,
    }
    props.update(overrides)
    return props


def eks_group(taints=None, ami="AL2023_x86_64_NVIDIA", instance_types=("p5.48xlarge",), **overrides) -> dict:
    props = {
        "clusterName": "ai-prod",
        "nodeGroupName": "h100-od",
        "capacityType": "ON_DEMAND",
        "scalingConfig": {"minSize": 1, "desiredSize": 1, "maxSize": 3},
        "subnetIds": ["subnet-0a", "subnet-0b", "subnet-0c"],
        "labels": {"ai-platform/pool": "h100-od", "ai-platform/gpus-per-node": "8"},
    }
    if ami is not None:
        props["amiType"] = ami
    if instance_types is not None:
        props["instanceTypes"] = list(instance_types)
    if taints is not None:
        props["taints"] = taints
    props.update(overrides)
    return props


# --------------------------------------------------------------------------------------- GKE


def test_gke_gpu_pool_with_taint_passes():
    assert check(GKE, gke_pool(taints=[GKE_TAINT])) == []


def test_gke_gpu_pool_with_extra_taints_passes():
    other = {"key": "ai-platform/capacity", "value": "spot", "effect": "PREFER_NO_SCHEDULE"}
    assert check(GKE, gke_pool(taints=[other, GKE_TAINT])) == []


def test_gke_kubernetes_effect_spelling_is_accepted():
    assert check(GKE, gke_pool(taints=[{**GKE_TAINT, "effect": "NoSchedule"}])) == []


def test_gke_gpu_pool_without_taints_is_a_violation():
    messages = check(GKE, gke_pool())
    assert len(messages) == 1
    assert "a100-spot" in messages[0] and "nvidia.com/gpu" in messages[0] and "nodeConfig.taints" in messages[0]


def test_gke_gpu_pool_with_empty_taints_is_a_violation():
    assert len(check(GKE, gke_pool(taints=[]))) == 1


@pytest.mark.parametrize("taint", [
    {**GKE_TAINT, "effect": "PREFER_NO_SCHEDULE"},
    {**GKE_TAINT, "effect": "NO_EXECUTE"},
    {**GKE_TAINT, "key": "nvidia.com/gpu.present"},
    {**GKE_TAINT, "key": "gpu"},
    {"key": "nvidia.com/gpu", "value": "present"},
])
def test_gke_wrong_taint_is_a_violation(taint):
    assert len(check(GKE, gke_pool(taints=[taint]))) == 1


@pytest.mark.parametrize("machine_type", ["a2-highgpu-1g", "a3-highgpu-8g", "a3-megagpu-8g", "a4-highgpu-8g",
                                          "g2-standard-8", "G2-STANDARD-24"])
def test_gke_gpu_machine_family_without_accelerators_is_a_gpu_pool(machine_type):
    untainted = gke_pool(accelerators=False, machine_type=machine_type)
    assert len(check(GKE, untainted)) == 1
    assert check(GKE, gke_pool(accelerators=False, machine_type=machine_type, taints=[GKE_TAINT])) == []


def test_gke_accelerators_make_a_gpu_pool_whatever_the_machine_type():
    assert len(check(GKE, gke_pool(machine_type="n1-standard-8"))) == 1


@pytest.mark.parametrize("machine_type", ["e2-standard-8", "n2-standard-16", "c3-standard-8", "a1-fake", None])
def test_gke_cpu_pool_needs_no_taint(machine_type):
    props = gke_pool(accelerators=False, machine_type=machine_type)
    if machine_type is None:
        del props["nodeConfig"]["machineType"]
    assert check(GKE, props) == []


def test_gke_pool_without_node_config_is_compliant():
    props = gke_pool()
    del props["nodeConfig"]
    assert check(GKE, props) == []


def test_gke_null_accelerator_list_is_not_a_gpu_pool():
    props = gke_pool(accelerators=False, machine_type="e2-standard-8")
    props["nodeConfig"]["guestAccelerators"] = None
    assert check(GKE, props) == []


# --------------------------------------------------------------------------------------- EKS


def test_eks_gpu_node_group_with_taint_passes():
    assert check(EKS, eks_group(taints=[EKS_TAINT]), name="h100-od") == []


def test_eks_gpu_node_group_without_taints_is_a_violation():
    messages = check(EKS, eks_group(), name="h100-od")
    assert len(messages) == 1
    assert "h100-od" in messages[0] and "to taints" in messages[0]


@pytest.mark.parametrize("ami", ["AL2_x86_64_GPU", "AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA",
                                 "BOTTLEROCKET_ARM_64_NVIDIA", "AL2023_ARM_64_NVIDIA"])
def test_eks_gpu_ami_makes_a_gpu_node_group(ami):
    assert len(check(EKS, eks_group(ami=ami, instance_types=None))) == 1
    assert check(EKS, eks_group(ami=ami, instance_types=None, taints=[EKS_TAINT])) == []


@pytest.mark.parametrize("instance_type", ["p3.8xlarge", "p4d.24xlarge", "p4de.24xlarge", "p5.48xlarge",
                                           "p5e.48xlarge", "p5en.48xlarge", "g4dn.xlarge", "g5.12xlarge",
                                           "g6.xlarge", "g6e.48xlarge"])
def test_eks_gpu_instance_family_makes_a_gpu_node_group(instance_type):
    group = eks_group(ami="AL2023_x86_64_STANDARD", instance_types=("m6i.2xlarge", instance_type))
    assert len(check(EKS, group)) == 1
    assert check(EKS, {**group, "taints": [EKS_TAINT]}) == []


@pytest.mark.parametrize("taint", [
    {**EKS_TAINT, "effect": "NO_EXECUTE"},
    {**EKS_TAINT, "effect": "PREFER_NO_SCHEDULE"},
    {**EKS_TAINT, "key": "nvidia.com/mig"},
])
def test_eks_wrong_taint_is_a_violation(taint):
    assert len(check(EKS, eks_group(taints=[taint]))) == 1


def test_eks_cpu_node_group_needs_no_taint():
    group = eks_group(ami="AL2023_x86_64_STANDARD", instance_types=("m6i.2xlarge", "c7i.4xlarge"))
    assert check(EKS, group, name="system") == []


def test_eks_node_group_without_ami_or_instance_types_is_compliant():
    assert check(EKS, eks_group(ami=None, instance_types=None)) == []


def test_other_resource_types_are_ignored():
    assert check("gcp:container/cluster:Cluster", gke_pool()) == []
    assert check("aws:ec2/launchTemplate:LaunchTemplate", eks_group()) == []
