"""IAM of an EKS cluster: the control plane's and the nodes' roles, and the one IRSA-role helper.

IRSA (IAM roles for service accounts): a role whose trust policy accepts web identities from the
cluster's OIDC provider for exactly one Kubernetes service account. Every workload that calls AWS
(EBS/EFS CSI drivers, the Cluster Autoscaler, the RAG data layer's bucket users) gets its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from ..common import Scope

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
# No AmazonEKS_CNI_Policy: the VPC CNI has its own IRSA role (addons.vpc_cni); on the node role every pod
# that reaches the instance profile would hold the CNI's ENI and address permissions
# (docs.aws.amazon.com/eks/latest/userguide/cni-iam-role.html).
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEC2ContainerRegistryReadOnly",
)
# Only with `eks.ssm`: Session Manager shells on nodes are an access path a team opts into.
SSM_POLICY = "AmazonSSMManagedInstanceCore"
# What the control plane needs on the secrets-encryption key (the cluster_encryption policy of
# terraform-aws-eks main.tf; EKS wraps data keys with Encrypt/Decrypt and inspects the key and its grants).
SECRETS_KEY_ACTIONS = ("kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey")


@dataclass(frozen=True)
class EksIdentity:
    """The cluster's IAM OIDC identity provider: what an IRSA role's trust policy names."""

    provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider."""
    issuer: pulumi.Output[str]
    """OIDC issuer URL of the cluster (https://oidc.eks.<region>.amazonaws.com/id/...)."""


@dataclass(frozen=True)
class EksRoles:
    """The roles of the control plane and the nodes, with their managed-policy attachments."""

    cluster: aws.iam.Role
    """Role the EKS control plane assumes."""
    cluster_attachments: list[aws.iam.RolePolicyAttachment]
    """Its policies: the control plane is created after them."""
    node: aws.iam.Role
    """Role of every node (system and GPU groups)."""
    node_attachments: list[aws.iam.RolePolicyAttachment]
    """Its policies: node groups are created after them."""


def partition(region: str) -> str:
    """AWS partition of a region (ARNs of AWS-managed policies differ per partition)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def managed_policy_prefix(region: str) -> str:
    """ARN prefix of AWS-managed policies in the region's partition."""
    return f"arn:{partition(region)}:iam::aws:policy"


def assume_role(service: str) -> str:
    """Trust policy that lets an AWS service assume a role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })


def irsa_trust(provider_arn: str, issuer: str, subject: str) -> str:
    """Trust policy that lets only the service account `subject` (system:serviceaccount:<ns>:<name>) assume a role."""
    host = issuer.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
        }],
    })


def cluster_roles(scope: Scope, region: str, tags: dict[str, str], ssm: bool = False) -> EksRoles:
    """The control plane's role and the nodes' role, each with its AWS-managed policies (the nodes'
    AmazonSSMManagedInstanceCore only with `ssm`)."""
    prefix = managed_policy_prefix(region)
    cluster_role = aws.iam.Role(
        f"{scope.name}-cluster-role",
        assume_role_policy=assume_role("eks.amazonaws.com"),
        tags=tags,
        opts=scope.opts(),
    )
    cluster_attachments = [
        aws.iam.RolePolicyAttachment(f"{scope.name}-cluster-{p}", role=cluster_role.name,
                                     policy_arn=f"{prefix}/{p}", opts=scope.opts())
        for p in CLUSTER_POLICIES
    ]
    node_role = aws.iam.Role(
        f"{scope.name}-node-role",
        assume_role_policy=assume_role("ec2.amazonaws.com"),
        tags=tags,
        opts=scope.opts(),
    )
    node_attachments = [
        aws.iam.RolePolicyAttachment(f"{scope.name}-node-{p.replace('_', '-')}", role=node_role.name,
                                     policy_arn=f"{prefix}/{p}", opts=scope.opts())
        for p in (*NODE_POLICIES, *((SSM_POLICY,) if ssm else ()))
    ]
    return EksRoles(cluster_role, cluster_attachments, node_role, node_attachments)


def secrets_key_policy(scope: Scope, roles: EksRoles, key_arn: pulumi.Input[str]) -> aws.iam.RolePolicy:
    """The cluster role's permission to use the secrets-encryption key (the key policy delegates to IAM)."""
    return aws.iam.RolePolicy(
        f"{scope.name}-cluster-secrets-key",
        role=roles.cluster.name,
        policy=pulumi.Output.from_input(key_arn).apply(lambda arn: json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": list(SECRETS_KEY_ACTIONS), "Resource": arn}],
        })),
        opts=scope.opts(),
    )


def irsa_role(scope: Scope, resource_name: str, identity: EksIdentity, subject: str,
              tags: dict[str, str]) -> aws.iam.Role:
    """An IAM role only the Kubernetes service account `subject` of this cluster can assume."""
    return aws.iam.Role(
        resource_name,
        assume_role_policy=pulumi.Output.all(identity.provider_arn, identity.issuer).apply(
            lambda a: irsa_trust(a[0], a[1], subject)),
        tags=tags,
        opts=scope.opts(),
    )


def managed_irsa_role(scope: Scope, prefix: str, identity: EksIdentity, subject: str, policy: str, region: str,
                      tags: dict[str, str]) -> tuple[aws.iam.Role, aws.iam.RolePolicyAttachment]:
    """`{prefix}-role` for the service account `subject` with the AWS managed policy `policy` attached as
    `{prefix}-policy` (what an EKS add-on's `service_account_role_arn` takes). The add-on must depend on the
    attachment, not only the role: a role without its policy makes the controller fail its first calls."""
    role = irsa_role(scope, f"{prefix}-role", identity, subject, tags)
    attachment = aws.iam.RolePolicyAttachment(
        f"{prefix}-policy",
        role=role.name,
        policy_arn=f"{managed_policy_prefix(region)}/{policy}",
        opts=scope.opts(),
    )
    return role, attachment
