"""The GKE control plane: the regional cluster, its kubeconfig and the Kubernetes provider."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.labels import cloud_labels
from config.models import ClusterConfig, GcpConfig

from .. import exec_kubeconfig
from ..common import Scope
from .network import PODS_RANGE, SERVICES_RANGE, GkeNetwork


def private_cluster(gcp_cfg: GcpConfig) -> gcp.container.ClusterPrivateClusterConfigArgs | None:
    """Private nodes (no public IPs) when `gcp.privateNodes`."""
    if not gcp_cfg.private_nodes:
        return None
    return gcp.container.ClusterPrivateClusterConfigArgs(
        enable_private_nodes=True,
        # The API endpoint stays reachable (with credentials) so Pulumi and CI can deploy.
        enable_private_endpoint=False,
        master_ipv4_cidr_block=gcp_cfg.master_ipv4_cidr,
    )


def control_plane(scope: Scope, cfg: ClusterConfig, gcp_cfg: GcpConfig, region: str, network: GkeNetwork,
                  addons: gcp.container.ClusterAddonsConfigArgs | None,
                  labels: Mapping[str, str]) -> gcp.container.Cluster:
    """The regional, VPC-native cluster with Dataplane V2 and Workload Identity, protected by
    `cluster.deletionProtection` (GKE's flag and Pulumi `protect`)."""
    project = gcp_cfg.project
    return gcp.container.Cluster(
        f"{scope.name}-gke",
        name=cfg.name,
        project=project,
        location=region,
        node_locations=list(cfg.zones),
        # Node pools are separate resources; GKE still needs a default pool at creation.
        remove_default_node_pool=True,
        initial_node_count=1,
        min_master_version=cfg.kubernetes_version,
        release_channel=gcp.container.ClusterReleaseChannelArgs(channel=gcp_cfg.release_channel),
        network=network.network,
        subnetwork=network.subnetwork,
        networking_mode="VPC_NATIVE",
        ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
            cluster_secondary_range_name=PODS_RANGE,
            services_secondary_range_name=SERVICES_RANGE,
        ),
        # Dataplane V2 enforces NetworkPolicy (the tenancy component's default-deny); it can
        # only be chosen at creation.
        datapath_provider="ADVANCED_DATAPATH",
        private_cluster_config=private_cluster(gcp_cfg),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
            workload_pool=f"{project}.svc.id.goog",
        ),
        addons_config=addons,
        deletion_protection=cfg.deletion_protection,
        resource_labels=cloud_labels("cluster", labels),
        opts=scope.opts(protect=cfg.deletion_protection),
    )


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin."""
    return exec_kubeconfig(f"gke-{cluster_name}", endpoint, ca_data, {
        "command": "gke-gcloud-auth-plugin",
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
    })


def endpoint(cluster: gcp.container.Cluster) -> pulumi.Output[str]:
    """The API server's https URL (GKE reports an IP)."""
    url: pulumi.Output[str] = cluster.endpoint.apply(lambda ip: f"https://{ip}")  # pulumi_gcp is Any to mypy
    return url


def secret_kubeconfig(cluster: gcp.container.Cluster, url: pulumi.Output[str]) -> pulumi.Output[str]:
    """The cluster's kubeconfig (API server at `url`) as a secret output."""
    return pulumi.Output.secret(
        pulumi.Output.all(cluster.name, url, cluster.master_auth.cluster_ca_certificate)
        .apply(lambda a: kubeconfig(a[0], a[1], a[2]))
    )


def kubernetes_provider(scope: Scope, kubeconfig: pulumi.Output[str],
                        after: Sequence[pulumi.Resource]) -> k8s.Provider:
    """The Kubernetes provider, after `after` (every node pool): workloads need somewhere to run, so
    nothing goes through it before the pools."""
    return k8s.Provider(f"{scope.name}-k8s", kubeconfig=kubeconfig, opts=scope.opts(depends_on=list(after)))
