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
from .security import SecretsKey, binary_authorization, database_encryption, security_posture

GKE_GATEWAY_API_CHANNEL = "CHANNEL_DISABLED"
"""GKE's own Gateway API (and its CRDs) stays off: the platform owns those CRDs (see `control_plane`)."""


def private_cluster(gcp_cfg: GcpConfig) -> gcp.container.ClusterPrivateClusterConfigArgs | None:
    """Private nodes (no public IPs) when `gcp.privateNodes`; with `gcp.privateEndpoint` the control plane's
    public IP endpoint is off too."""
    if not gcp_cfg.private_nodes:
        return None
    return gcp.container.ClusterPrivateClusterConfigArgs(
        enable_private_nodes=True,
        enable_private_endpoint=gcp_cfg.private_endpoint,
        master_ipv4_cidr_block=gcp_cfg.master_ipv4_cidr,
    )


def authorized_networks(gcp_cfg: GcpConfig) -> gcp.container.ClusterMasterAuthorizedNetworksConfigArgs:
    """Master authorized networks, always on: only `gcp.authorizedNetworks` reach the IP endpoint from outside
    the VPC (an empty list: no one), and Compute Engine's public IPs are not let in either (CIS GKE 5.6.3)."""
    return gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[
            gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(cidr_block=n.cidr,
                                                                             display_name=n.display_name)
            for n in gcp_cfg.authorized_networks
        ],
        gcp_public_cidrs_access_enabled=False,
    )


def control_plane_endpoints(gcp_cfg: GcpConfig) -> gcp.container.ClusterControlPlaneEndpointsConfigArgs:
    """The DNS-based endpoint, open to IAM-authorized callers outside the VPC when `gcp.dnsEndpoint` (CIS GKE
    5.6.4 prefers it to IP access): a request reaches the API server only with `container.clusters.connect`."""
    return gcp.container.ClusterControlPlaneEndpointsConfigArgs(
        dns_endpoint_config=gcp.container.ClusterControlPlaneEndpointsConfigDnsEndpointConfigArgs(
            allow_external_traffic=gcp_cfg.dns_endpoint,
        ),
    )


def control_plane(scope: Scope, cfg: ClusterConfig, gcp_cfg: GcpConfig, region: str, network: GkeNetwork,
                  addons: gcp.container.ClusterAddonsConfigArgs | None,
                  labels: Mapping[str, str], secrets_key: SecretsKey) -> gcp.container.Cluster:
    """The regional, VPC-native cluster with Dataplane V2 and Workload Identity, protected by
    `cluster.deletionProtection` (GKE's flag and Pulumi `protect`), its control plane reachable as
    `authorized_networks` and `control_plane_endpoints` say, Secrets encrypted with `secrets_key`
    (created after the GKE service agent's grant on it)."""
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
        master_authorized_networks_config=authorized_networks(gcp_cfg),
        control_plane_endpoints_config=control_plane_endpoints(gcp_cfg),
        workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
            workload_pool=f"{project}.svc.id.goog",
        ),
        database_encryption=database_encryption(secrets_key),
        binary_authorization=binary_authorization(gcp_cfg),
        security_posture_config=security_posture(gcp_cfg),
        # CIS GKE: RBAC only (no legacy ABAC), no client certificates (credentials that cannot be revoked),
        # Shielded GKE nodes (nodes prove their identity to the control plane).
        enable_legacy_abac=False,
        master_auth=gcp.container.ClusterMasterAuthArgs(
            client_certificate_config=gcp.container.ClusterMasterAuthClientCertificateConfigArgs(
                issue_client_certificate=False,
            ),
        ),
        enable_shielded_nodes=True,
        addons_config=addons,
        # The platform installs the Gateway API CRDs itself, pinned (charts.lock.yaml crdBundles:, components/
        # inference/crds.py); GKE's managed Gateway API would install and upgrade the same CRDs on its own
        # schedule and fight over them. Disabled explicitly, so turning it on outside Pulumi shows as drift.
        # (pulumi-gcp 10.2.0 ClusterGatewayApiConfigArgs.channel: CHANNEL_DISABLED | CHANNEL_EXPERIMENTAL |
        # CHANNEL_STANDARD.)
        gateway_api_config=gcp.container.ClusterGatewayApiConfigArgs(channel=GKE_GATEWAY_API_CHANNEL),
        deletion_protection=cfg.deletion_protection,
        resource_labels=cloud_labels("cluster", labels),
        opts=scope.opts(protect=cfg.deletion_protection, depends_on=list(secrets_key.grants)),
    )


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str | None) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin."""
    return exec_kubeconfig(f"gke-{cluster_name}", endpoint, ca_data, {
        "command": "gke-gcloud-auth-plugin",
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
    })


def endpoint(cluster: gcp.container.Cluster, gcp_cfg: GcpConfig) -> pulumi.Output[str]:
    """The API server's https URL: the DNS-based endpoint (`gke-....gke.goog`) when `gcp.dnsEndpoint`, which
    reaches the control plane from anywhere with IAM, else the IP endpoint GKE reports (public, or private with
    `gcp.privateEndpoint`)."""
    if gcp_cfg.dns_endpoint:
        dns: pulumi.Output[str] = cluster.control_plane_endpoints_config.dns_endpoint_config.endpoint
        return dns.apply(lambda host: f"https://{host}")
    ip_url: pulumi.Output[str] = cluster.endpoint.apply(lambda ip: f"https://{ip}")
    return ip_url


def secret_kubeconfig(cluster: gcp.container.Cluster, url: pulumi.Output[str],
                      gcp_cfg: GcpConfig) -> pulumi.Output[str]:
    """The cluster's kubeconfig (API server at `url`) as a secret output. The DNS endpoint serves a publicly
    trusted certificate (Google's front end, not the cluster CA), so its kubeconfig carries no CA data, as
    `gcloud container clusters get-credentials --dns-endpoint` writes it."""
    ca = cluster.master_auth.cluster_ca_certificate
    return pulumi.Output.secret(
        pulumi.Output.all(cluster.name, url, ca)
        .apply(lambda a: kubeconfig(a[0], a[1], None if gcp_cfg.dns_endpoint else a[2]))
    )


def kubernetes_provider(scope: Scope, kubeconfig: pulumi.Output[str],
                        after: Sequence[pulumi.Resource]) -> k8s.Provider:
    """The Kubernetes provider, after `after` (every node pool): workloads need somewhere to run, so
    nothing goes through it before the pools."""
    return k8s.Provider(f"{scope.name}-k8s", kubeconfig=kubeconfig, opts=scope.opts(depends_on=list(after)))
