"""The EKS control plane: the cluster, the nodes' access entry, the IAM OIDC provider, the kubeconfig and
the Kubernetes provider."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from config.models import ClusterConfig, EksConfig

from .. import exec_kubeconfig
from ..common import Scope
from .iam import EksIdentity, EksRoles

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]


def control_plane(scope: Scope, cfg: ClusterConfig, eks_cfg: EksConfig, roles: EksRoles,
                  subnet_ids: Sequence[pulumi.Input[str]], tags: dict[str, str]) -> aws.eks.Cluster:
    """The EKS cluster (API authentication mode), created after its role's policies.

    Deletion protection twice, both from `cluster.deletionProtection`: EKS's own flag (the API
    refuses to delete it) and Pulumi `protect` (the engine refuses to plan its deletion).
    """
    return aws.eks.Cluster(
        f"{scope.name}-eks",
        name=cfg.name,
        version=cfg.kubernetes_version,
        role_arn=roles.cluster.arn,
        vpc_config=aws.eks.ClusterVpcConfigArgs(
            subnet_ids=subnet_ids,  # the control-plane /28s (network.py): EKS puts its ENIs there only
            endpoint_private_access=True,
            endpoint_public_access=eks_cfg.public_endpoint,
            public_access_cidrs=list(eks_cfg.public_access_cidrs) if eks_cfg.public_endpoint else None,
        ),
        access_config=aws.eks.ClusterAccessConfigArgs(
            authentication_mode="API",
            # The identity running Pulumi administers the cluster (it creates the add-ons'
            # StorageClass and everything after); other admins get access entries.
            bootstrap_cluster_creator_admin_permissions=True,
        ),
        enabled_cluster_log_types=LOG_TYPES,
        deletion_protection=cfg.deletion_protection,
        tags=tags,
        opts=scope.opts(depends_on=roles.cluster_attachments, protect=cfg.deletion_protection),
    )


def node_access_entry(scope: Scope, cluster: aws.eks.Cluster, roles: EksRoles,
                      tags: dict[str, str]) -> aws.eks.AccessEntry:
    """The node role's access entry. Node groups must be created after it: EKS would otherwise create
    an entry for the node role itself, and a principal can only be in one access entry."""
    return aws.eks.AccessEntry(
        f"{scope.name}-node-access",
        cluster_name=cluster.name,
        principal_arn=roles.node.arn,
        type="EC2_LINUX",
        tags=tags,
        opts=scope.opts(),
    )


def oidc_identity(scope: Scope, cluster: aws.eks.Cluster, tags: dict[str, str]) -> EksIdentity:
    """The cluster's IAM OIDC provider (for IRSA roles)."""
    issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
    oidc = aws.iam.OpenIdConnectProvider(
        f"{scope.name}-oidc",
        url=issuer,
        client_id_lists=["sts.amazonaws.com"],
        tags=tags,
        opts=scope.opts(),
    )
    return EksIdentity(provider_arn=oidc.arn, issuer=issuer)


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`."""
    return exec_kubeconfig(f"eks-{cluster_name}", endpoint, ca_data, {
        "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
    })


def secret_kubeconfig(cluster: aws.eks.Cluster, region: str) -> pulumi.Output[str]:
    """The cluster's kubeconfig as a secret output."""
    return pulumi.Output.secret(
        pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data)
        .apply(lambda a: kubeconfig(a[0], region, a[1], a[2]))
    )


def kubernetes_provider(scope: Scope, kubeconfig: pulumi.Output[str],
                        after: Sequence[pulumi.Resource]) -> k8s.Provider:
    """The Kubernetes provider of the cluster, after `after` (the node groups and coredns): nothing is
    deployed through it before workloads have somewhere to run and names resolve."""
    return k8s.Provider(f"{scope.name}-k8s", kubeconfig=kubeconfig, opts=scope.opts(depends_on=list(after)))
