"""The Cluster Autoscaler: scales the managed node groups (GPU pools from zero) for Pending pods.

EKS tags every managed node group's Auto Scaling group for auto-discovery
(`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>: owned`); the role may
change the size only of groups carrying the second tag. Flags: pods pick their pool by
nodeSelector, so the expander (least-waste, the default: least idle CPU, then memory) rarely
matters; model servers' memory-backed /dev/shm counts as local storage, which would otherwise pin
every GPU node forever; GPU nodes take long to boot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.labels import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, POOL_LABEL, pool_labels
from config import catalog
from config.models import ClusterConfig, GpuPool

from ...helm import pin, release
from ..common import Scope
from .iam import EksIdentity, irsa_role

# The chart pin (charts.lock.yaml). The autoscaler's minor must match the cluster's: the image tag
# comes from CLUSTER_AUTOSCALER_IMAGES (tags cluster-autoscaler-1.xx.y).
CLUSTER_AUTOSCALER = pin("cluster-autoscaler")
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
CLUSTER_AUTOSCALER_SUBJECT = f"system:serviceaccount:kube-system:{CLUSTER_AUTOSCALER_SERVICE_ACCOUNT}"
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"


def autoscaler_tags(pool: GpuPool, node_labels: Mapping[str, str] | None = None,
                    resources: Mapping[str, int] | None = None) -> dict[str, str]:
    """Cluster Autoscaler node-template hints: it can scale a pool up from zero only if it knows
    the labels, the taint and the extended resources a new node will carry (it knows the GPUs of
    p-/g- instance types, but not MIG slices or time-sliced replicas)."""
    labels = node_labels if node_labels is not None else pool_labels(pool)
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    tags[f"{CA_TEMPLATE}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
    tags.update({f"{CA_TEMPLATE}/resources/{r}": str(n) for r, n in sorted((resources or {}).items())})
    return tags


def cluster_autoscaler_policy(cluster_name: str) -> dict[str, Any]:
    """The autoscaler's IAM policy (cloudprovider/aws/README.md, "Full Cluster Autoscaler Features Policy"), with
    the writes limited to this cluster's Auto Scaling groups by their auto-discovery tag."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup"]},
            {"Effect": "Allow", "Resource": "*",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        ],
    }


def cluster_autoscaler_values(cluster_name: str, region: str, version: str,
                              role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Values of the cluster-autoscaler chart (keys checked in tests/cluster/test_cluster_autoscaler.py)."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": catalog.CLUSTER_AUTOSCALER_IMAGES[version]},
        "rbac": {"serviceAccount": {"name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {
            "expander": "least-waste",
            # The system pool is one group per zone (zonal EBS volumes): scale-ups spread evenly over them
            # (cloudprovider/aws/README.md, "Common Notes and Gotchas").
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "skip-nodes-with-system-pods": False,
            "max-node-provision-time": "25m0s",
            "scale-down-unneeded-time": "10m",
            "scale-down-delay-after-add": "10m",
        },
        # On the CPU system pool, never on a GPU node it might scale away.
        "nodeSelector": {POOL_LABEL: "system"},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"cpu": "1", "memory": "600Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                     "readOnlyRootFilesystem": True},
    }


def cluster_autoscaler(scope: Scope, provider: k8s.Provider, cfg: ClusterConfig, region: str, identity: EksIdentity,
                       tags: dict[str, str], after: Sequence[pulumi.Resource]) -> k8s.helm.v3.Release:
    """The autoscaler's IRSA role and policy, and its Release in kube-system after `after` (the system node group)."""
    role = irsa_role(scope, f"{scope.name}-cluster-autoscaler-role", identity, CLUSTER_AUTOSCALER_SUBJECT, tags)
    policy = aws.iam.RolePolicy(
        f"{scope.name}-cluster-autoscaler-policy",
        role=role.name,
        policy=json.dumps(cluster_autoscaler_policy(cfg.name)),
        opts=scope.opts(),
    )
    return release(
        f"{scope.name}-cluster-autoscaler", CLUSTER_AUTOSCALER, "cluster-autoscaler", "kube-system",
        cluster_autoscaler_values(cfg.name, region, cfg.kubernetes_version, role.arn),
        scope.opts(provider=provider, depends_on=[*after, policy]))
