"""The GKE network: existing network/subnetwork names, or a VPC network and a subnetwork with
`pods`/`services` secondary ranges, and for private nodes in a created network a Cloud Router + Cloud NAT.
An existing network brings its own egress and is left untouched."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from config.models import GcpConfig
from config.network import API_SERVER_CALLED_PORTS

from ..common import Scope

PODS_RANGE = "pods"
# The ports GKE's own firewall rule already opens from a private cluster's control plane to its nodes (GKE docs,
# "Add firewall rules for specific use cases": 443 and 10250).
GKE_CONTROL_PLANE_PORTS = frozenset({443, 10250})
SERVICES_RANGE = "services"


@dataclass(frozen=True)
class GkeNetwork:
    """Where the cluster's nodes live."""

    network: pulumi.Input[str]
    """VPC network (name or id)."""
    subnetwork: pulumi.Input[str]
    """Subnetwork of the nodes, with the `pods` and `services` secondary ranges."""


def cluster_network(scope: Scope, cluster_name: str, gcp_cfg: GcpConfig, region: str) -> GkeNetwork:
    """The configured network and subnetwork, or new ones (+ NAT when private)."""
    if gcp_cfg.network and gcp_cfg.subnetwork:
        return GkeNetwork(gcp_cfg.network, gcp_cfg.subnetwork)
    name, project = scope.name, gcp_cfg.project
    created_network = gcp_cfg.network is None
    if gcp_cfg.network is None:
        vpc = gcp.compute.Network(
            f"{name}-vpc",
            name=f"{cluster_name}-vpc",
            project=project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=scope.opts(),
        )
        network: pulumi.Input[str] = vpc.id
    else:
        network = gcp_cfg.network  # existing network, new subnetwork in it
    subnet = gcp.compute.Subnetwork(
        f"{name}-subnet",
        name=f"{cluster_name}-nodes",
        project=project,
        region=region,
        network=network,
        ip_cidr_range=gcp_cfg.subnet_cidr,
        secondary_ip_ranges=[
            gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=gcp_cfg.pods_cidr),
            gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=gcp_cfg.services_cidr),
        ],
        # Private nodes reach Google APIs (Artifact Registry, logging) without public IPs.
        private_ip_google_access=True,
        opts=scope.opts(),
    )
    if gcp_cfg.private_nodes and created_network:
        router = gcp.compute.Router(
            f"{name}-router",
            name=f"{cluster_name}-router",
            project=project,
            region=region,
            network=network,
            opts=scope.opts(),
        )
        gcp.compute.RouterNat(
            f"{name}-nat",
            name=f"{cluster_name}-nat",
            project=project,
            region=region,
            router=router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=scope.opts(),
        )
    return GkeNetwork(network, subnet.id)


def control_plane_firewall(scope: Scope, cluster_name: str, gcp_cfg: GcpConfig, network: pulumi.Input[str],
                           node_email: pulumi.Input[str]) -> gcp.compute.Firewall | None:
    """With private nodes, the control plane (`masterIpv4Cidr`) to the nodes on the ports the API server calls
    the platform's webhooks and aggregated APIs on that GKE's own rule does not open: without it, admission of
    ScaledObjects, Elasticsearch or Ingresses and the external/custom metrics APIs time out. Only the nodes'
    service account is a target; the NetworkPolicies then admit the API server to exactly one pod per port."""
    ports = sorted(set(API_SERVER_CALLED_PORTS) - GKE_CONTROL_PLANE_PORTS)
    if not gcp_cfg.private_nodes or not ports:
        return None
    return gcp.compute.Firewall(
        f"{scope.name}-control-plane-webhooks",
        name=f"{cluster_name}-control-plane-webhooks",
        project=gcp_cfg.project,
        network=network,
        direction="INGRESS",
        source_ranges=[gcp_cfg.master_ipv4_cidr],
        target_service_accounts=[node_email],
        allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in ports])],
        description="The GKE control plane calls the platform's admission webhooks and aggregated APIs",
        opts=scope.opts(),
    )
