"""EKS managed add-ons (vpc-cni, kube-proxy, coredns, aws-ebs-csi-driver) and the default gp3 StorageClass.

Versions follow the cluster: each add-on's `addon_version` is the most recent one EKS offers for the
cluster's Kubernetes version (`aws.eks.get_addon_version`, most_recent), looked up from the cluster's
`version` output, so a `kubernetesVersion` bump updates the add-ons after the control plane (and a new
EKS build of an add-on shows up in the next preview). OVERWRITE lets the managed add-on take over the
self-managed copy EKS starts with, and keeps updates from stalling on fields EKS manages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from ..common import Scope
from .iam import EksIdentity, managed_irsa_role

# The VPC CNI's daemonset runs as kube-system/aws-node; IPv4 clusters need AmazonEKS_CNI_Policy
# (docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html).
VPC_CNI_POLICY = "AmazonEKS_CNI_Policy"
VPC_CNI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:aws-node"
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
DEFAULT_STORAGE_CLASS = "gp3"


def addon(scope: Scope, cluster: aws.eks.Cluster, addon_name: str, tags: dict[str, str],
          opts: pulumi.ResourceOptions, **kwargs: Any) -> aws.eks.Addon:
    """One managed add-on, `f"{name}-addon-{addon_name}"`, at the most recent version for the cluster's version."""
    return aws.eks.Addon(
        f"{scope.name}-addon-{addon_name}",
        cluster_name=cluster.name,
        addon_name=addon_name,
        addon_version=addon_version(cluster, addon_name),
        resolve_conflicts_on_create="OVERWRITE",
        resolve_conflicts_on_update="OVERWRITE",
        tags=tags,
        opts=opts,
        **kwargs,
    )


def addon_version(cluster: aws.eks.Cluster, addon_name: str) -> pulumi.Output[str]:
    """The most recent version of `addon_name` EKS offers for the cluster's Kubernetes version (an output of the
    cluster's `version`: resolved after the control plane is created or upgraded)."""
    found = aws.eks.get_addon_version_output(addon_name=addon_name, kubernetes_version=cluster.version,
                                             most_recent=True)
    version: pulumi.Output[str] = found.apply(lambda result: str(result.version))
    return version


def node_network_addons(scope: Scope, cluster: aws.eks.Cluster, identity: EksIdentity, region: str,
                        tags: dict[str, str]) -> list[aws.eks.Addon]:
    """vpc-cni and kube-proxy: nodes become Ready only with both in place, so node groups follow them.

    The CNI enforces NetworkPolicy (the tenancy component's default-deny) only with enableNetworkPolicy.
    It calls EC2 (ENIs, addresses) with its own IRSA role, not the node role: EKS annotates the aws-node
    service account with `service_account_role_arn`. The add-on waits for the role's policy, so on an
    existing cluster the CNI has its role before the node role's old attachment is deleted (deletes run last).
    """
    cni_role, cni_policy = managed_irsa_role(scope, f"{scope.name}-vpc-cni", identity, VPC_CNI_SERVICE_ACCOUNT,
                                             VPC_CNI_POLICY, region, tags)
    return [
        addon(scope, cluster, "vpc-cni", tags, scope.opts(depends_on=[cni_policy]),
              configuration_values=json.dumps({"enableNetworkPolicy": "true"}),
              service_account_role_arn=cni_role.arn),
        addon(scope, cluster, "kube-proxy", tags, scope.opts()),
    ]


def coredns(scope: Scope, cluster: aws.eks.Cluster, tags: dict[str, str],
            after: Sequence[pulumi.Resource]) -> aws.eks.Addon:
    """coredns, after the nodes it runs on (`after`: the system node group)."""
    return addon(scope, cluster, "coredns", tags, scope.opts(depends_on=list(after)))


def ebs_csi(scope: Scope, cluster: aws.eks.Cluster, identity: EksIdentity, region: str, tags: dict[str, str],
            after: Sequence[pulumi.Resource]) -> aws.eks.Addon:
    """aws-ebs-csi-driver with its IRSA role, after the nodes it runs on (`after`) and its role's policy."""
    role, policy = managed_irsa_role(scope, f"{scope.name}-ebs-csi", identity, EBS_CSI_SERVICE_ACCOUNT,
                                     EBS_CSI_POLICY, region, tags)
    return addon(scope, cluster, "aws-ebs-csi-driver", tags, scope.opts(depends_on=[*after, policy]),
                 service_account_role_arn=role.arn)


def default_storage_class(scope: Scope, provider: k8s.Provider, retain: bool,
                          driver: aws.eks.Addon) -> k8s.storage.v1.StorageClass:
    """The default StorageClass: encrypted gp3 through the EBS CSI `driver`."""
    return k8s.storage.v1.StorageClass(
        f"{scope.name}-{DEFAULT_STORAGE_CLASS}",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=DEFAULT_STORAGE_CLASS,
            annotations={"storageclass.kubernetes.io/is-default-class": "true"},
        ),
        provisioner="ebs.csi.aws.com",
        parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
        # Volumes are created in the zone the pod lands in (EBS volumes are zonal).
        volume_binding_mode="WaitForFirstConsumer",
        allow_volume_expansion=True,
        # Protected stacks keep their data volumes when a claim is deleted.
        reclaim_policy="Retain" if retain else "Delete",
        opts=scope.opts(provider=provider, depends_on=[driver]),
    )
