"""The EKS control plane: the secrets-encryption key, the cluster, who reaches its private endpoint, the
nodes' access entry, the IAM OIDC provider, the kubeconfig and the Kubernetes provider."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from config.models import ClusterConfig, EksConfig

from .. import exec_kubeconfig
from ..common import Scope
from .iam import EksIdentity, EksRoles, partition, secrets_key_policy

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
# AWS KMS's longest waiting period (7-30 days): a key scheduled for deletion by mistake can be recovered
# for a month, and nothing encrypted with it is readable once it is gone.
KEY_DELETION_WINDOW_DAYS = 30


def key_policy(account_id: str, region: str) -> str:
    """The secrets key's policy: AWS's default key policy (the account, i.e. its IAM policies, decides who
    uses and administers the key). Without it no IAM policy could grant the key; nothing else is granted
    here, the cluster role gets its use through `iam.secrets_key_policy`."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "EnableIamPolicies",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition(region)}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })


def secrets_key(scope: Scope, cfg: ClusterConfig, eks_cfg: EksConfig, region: str,
                tags: dict[str, str]) -> pulumi.Output[str]:
    """ARN of the KMS key that encrypts Kubernetes secrets: `eks.kmsKeyArn`, or a key the program creates
    (symmetric, yearly rotation, alias `alias/<cluster>-eks-secrets`), protected with the cluster because
    secrets encrypted with a deleted key are lost."""
    if eks_cfg.kms_key_arn:
        return pulumi.Output.from_input(eks_cfg.kms_key_arn)
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=scope.parent))
    key = aws.kms.Key(
        f"{scope.name}-secrets-key",
        description=f"Envelope encryption of Kubernetes secrets of EKS cluster {cfg.name}",
        enable_key_rotation=True,
        deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
        policy=account.account_id.apply(lambda a: key_policy(a, region)),
        tags=tags,
        opts=scope.opts(protect=cfg.deletion_protection),
    )
    aws.kms.Alias(f"{scope.name}-secrets-key-alias", name=f"alias/{cfg.name}-eks-secrets", target_key_id=key.key_id,
                  opts=scope.opts())
    arn: pulumi.Output[str] = key.arn
    return arn


def control_plane(scope: Scope, cfg: ClusterConfig, eks_cfg: EksConfig, roles: EksRoles,
                  subnet_ids: Sequence[pulumi.Input[str]], region: str, tags: dict[str, str]) -> aws.eks.Cluster:
    """The EKS cluster (API authentication mode, secrets encrypted with a KMS key), created after its
    role's policies.

    Deletion protection twice, both from `cluster.deletionProtection`: EKS's own flag (the API
    refuses to delete it) and Pulumi `protect` (the engine refuses to plan its deletion).

    Endpoint: private always; public only with `publicEndpoint`, and then only to `publicAccessCidrs`
    (config validation refuses an empty list, which EKS would read as 0.0.0.0/0).
    """
    key_arn = secrets_key(scope, cfg, eks_cfg, region, tags)
    key_use = secrets_key_policy(scope, roles, key_arn)
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
        # EKS (1.28+) envelope-encrypts all API data with an AWS-owned key; a customer key adds control over
        # who can decrypt secrets and an audit trail in CloudTrail. It cannot be removed once enabled
        # (docs.aws.amazon.com/eks/latest/userguide/enable-kms.html).
        encryption_config=aws.eks.ClusterEncryptionConfigArgs(
            provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key_arn),
            resources=["secrets"],
        ),
        enabled_cluster_log_types=LOG_TYPES,
        deletion_protection=cfg.deletion_protection,
        tags=tags,
        opts=scope.opts(depends_on=[*roles.cluster_attachments, key_use], protect=cfg.deletion_protection),
    )


def private_endpoint_access(scope: Scope, cluster: aws.eks.Cluster, eks_cfg: EksConfig,
                            tags: dict[str, str]) -> list[aws.vpc.SecurityGroupIngressRule]:
    """HTTPS from `privateAccessCidrs` (the deploy runner's subnet, a VPN) to the private endpoint: the
    cluster security group EKS creates admits only itself (nodes and control plane)."""
    sg_id = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
    return [
        aws.vpc.SecurityGroupIngressRule(
            f"{scope.name}-api-from-{cidr.replace('.', '-').replace('/', '-')}",
            security_group_id=sg_id,
            description="Kubernetes API (private endpoint) from cluster.eks.privateAccessCidrs",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=cidr,
            tags=tags,
            opts=scope.opts(),
        )
        for cidr in eks_cfg.private_access_cidrs
    ]


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
