"""EKS Cluster Autoscaler: pinned chart, IRSA limited to this cluster's groups, scale-from-zero resources."""

from __future__ import annotations

import json

import pytest

from components.cluster.eks.autoscaler import CLUSTER_AUTOSCALER, cluster_autoscaler_values
from config import ConfigError, validate
from tests.chart_values import FREE, check_values
from tests.conftest import run_stack, stack_values

RELEASE = "kubernetes:helm.sh/v3:Release"
CA = "k8s.io/cluster-autoscaler/node-template"

# kubernetes/autoscaler cluster-autoscaler/charts/cluster-autoscaler/values.yaml at tag
# cluster-autoscaler-chart-9.59.0: every key the program sets, with its upstream default.
CHECKED_VERSION = "9.59.0"
UPSTREAM = {
    "cloudProvider": "aws",
    "awsRegion": "",
    "autoDiscovery.clusterName": None,        # declared empty (`clusterName:  # cluster.local`)
    "image.tag": "v1.35.0",
    "rbac.serviceAccount.name": "",
    "rbac.serviceAccount.annotations": FREE,
    "extraArgs": FREE,                        # flags of the binary (FAQ "What are the parameters to CA")
    "nodeSelector": FREE,
    "resources": FREE,
    "securityContext": FREE,
    "containerSecurityContext": FREE,
}
FREE_PATHS = {k for k, v in UPSTREAM.items() if v is FREE}


@pytest.fixture(scope="module")
def prod():
    return run_stack("prod")


def test_chart_is_pinned_and_its_values_exist_upstream():
    assert CLUSTER_AUTOSCALER.version == CHECKED_VERSION
    assert CLUSTER_AUTOSCALER.repo == "https://kubernetes.github.io/autoscaler"
    values = cluster_autoscaler_values("ai-prod", "us-east-1", "1.33", "arn:aws:iam::1:role/x")
    assert check_values("cluster-autoscaler", CHECKED_VERSION, values, UPSTREAM, free_paths=FREE_PATHS) == set(UPSTREAM)


def test_autoscaler_runs_with_an_irsa_role_that_can_only_resize_this_cluster(prod):
    [ca] = [r for r in prod.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]
    values = ca.inputs["values"]
    assert ca.inputs["namespace"] == "kube-system" and ca.inputs["version"] == CHECKED_VERSION
    assert values["autoDiscovery"] == {"clusterName": "ai-prod"} and values["awsRegion"] == "us-east-1"
    assert values["image"] == {"tag": "v1.33.6"}, "the autoscaler's minor matches the cluster's 1.33"
    assert values["nodeSelector"] == {"ai-platform/pool": "system"}
    [role] = [r for r in prod.of_type("aws:iam/role:Role") if "cluster-autoscaler" in r.name]
    assert values["rbac"]["serviceAccount"] == {
        "name": "cluster-autoscaler", "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]}}
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in trust["Condition"]["StringEquals"].values()
    [policy] = [r for r in prod.of_type("aws:iam/rolePolicy:RolePolicy") if "cluster-autoscaler" in r.name]
    read, write = json.loads(policy.inputs["policy"])["Statement"]
    assert "Condition" not in read and not any(a.startswith(("autoscaling:Set", "autoscaling:Terminate"))
                                               for a in read["Action"])
    assert write["Action"] == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert write["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/ai-prod": "owned"}}
    assert policy.urn in ca.dependencies
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):  # the system pool: one group per zone
        assert prod.named(f"ai-cluster-system-{zone}").urn in ca.dependencies


def test_gpu_groups_tell_the_autoscaler_what_a_new_node_advertises(prod):
    """Scale-up from zero: MIG slices and shared GPUs are invisible in the instance type, so the ASG says them."""
    tags: dict[str, dict[str, str]] = {}
    for tag in prod.of_type("aws:autoscaling/tag:Tag"):
        pool = tag.name.split("-gpu-", 1)[1].split("-ca-", 1)[0]
        tags.setdefault(pool, {})[tag.inputs["tag"]["key"]] = tag.inputs["tag"]["value"]
    resources = {pool: {k.removeprefix(f"{CA}/resources/"): v for k, v in t.items() if "/resources/" in k}
                 for pool, t in tags.items()}
    # p5.48xlarge: 8 whole H100s; p4de.24xlarge: 8 A100s, each 1x 3g.40gb + 2x 2g.20gb (mixed strategy).
    assert resources == {"h100-od": {"nvidia.com/gpu": "8"},
                         "a100-spot": {"nvidia.com/mig-3g.40gb": "8", "nvidia.com/mig-2g.20gb": "16"}}


def test_gke_relies_on_its_own_node_pool_autoscaling():
    assert not [r for r in run_stack("dev").of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]


def test_eks_version_without_an_autoscaler_release_is_a_config_error():
    values = stack_values("prod")
    values["cluster"]["kubernetesVersion"] = "1.31"
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    assert "ai-platform:cluster.kubernetesVersion: 1.31 has no Cluster Autoscaler release" in str(err.value)
    assert "1.33, 1.34, 1.35" in str(err.value)
