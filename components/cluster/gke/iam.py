"""The node VMs' service account and its project roles."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from ..common import Scope

# Least privilege for node VMs: write logs and metrics, read Artifact Registry. Workloads that
# need more use Workload Identity with their own service accounts, never the node's.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)


@dataclass(frozen=True)
class NodeIdentity:
    """The service account every node pool runs as."""

    email: pulumi.Output[str]
    """Its email (the node pools' `service_account`)."""
    roles: list[gcp.projects.IAMMember]
    """Its project roles: node pools are created after them."""


def account_id(cluster_name: str) -> str:
    """The node service account's id (6-30 characters, not ending with a hyphen)."""
    return f"{cluster_name[:24].rstrip('-')}-nodes"


def node_identity(scope: Scope, project: str, cluster_name: str) -> NodeIdentity:
    """The nodes' service account with the NODE_ROLES."""
    node_sa = gcp.serviceaccount.Account(
        f"{scope.name}-nodes-sa",
        project=project,
        account_id=account_id(cluster_name),
        display_name=f"GKE nodes of {cluster_name}",
        opts=scope.opts(),
    )
    sa_member = pulumi.Output.concat("serviceAccount:", node_sa.email)
    roles = [
        gcp.projects.IAMMember(
            f"{scope.name}-nodes-{role.split('/')[-1].replace('.', '-').lower()}",
            project=project,
            role=role,
            member=sa_member,
            opts=scope.opts(),
        )
        for role in NODE_ROLES
    ]
    return NodeIdentity(node_sa.email, roles)
