"""GKE Standard: a regional, VPC-native, private-node cluster with one node pool per GPU pool.

Who owns what on a GPU node (one owner per piece, never two device plugins on a node):

* Driver: GKE. Every GPU pool runs Container-Optimized OS (COS_CONTAINERD) with
  `gpu_driver_installation_config.gpu_driver_version = LATEST`: GKE installs the newest driver
  qualified for the node's GKE version and upgrades it with the node image. LATEST rather than
  DEFAULT because current vLLM/TGI images are built on recent CUDA 12.x and need a recent R5xx
  driver; the GPU Operator cannot install a driver on COS at all.
* Device plugin, MIG partitioning and time-sharing/MPS: GKE. `gpu_partition_size` and
  `gpu_sharing_config` are implemented by GKE's own device plugin, which advertises every
  partition or share as `nvidia.com/gpu` (so on GKE a MIG slice is requested as nvidia.com/gpu,
  whatever `gpuStack.migStrategy` says).
* NVIDIA GPU Operator (added by the GPU stack component): the container toolkit, DCGM exporter and
  feature discovery, with `driver.enabled=false`, `devicePlugin.enabled=false`,
  `migManager.enabled=false` and `toolkit.enabled=true` on GKE. The toolkit is needed even though
  GKE owns the driver and device plugin: GPU Operator v26.7.0 runs its operands (GFD, DCGM
  exporter, the validator) with `runtimeClassName: nvidia` (controllers/object_controls.go,
  setRuntimeClassName), and on COS only the operator's toolkit configures that containerd handler.
  It is installed into GKE's writable `/home/kubernetes/bin/nvidia` next to GKE's driver, as
  NVIDIA's GKE guide ("Using the Google driver installer") sets `toolkit.installDir` and
  `hostPaths.driverInstallDir`. Model servers are unaffected: GKE's device plugin injects the
  driver into the pods that request `nvidia.com/gpu`.

Spot GPU pools scale with location policy ANY (the autoscaler goes where capacity is) and
on-demand pools with BALANCED. Pool `min`/`max` are whole-pool numbers, so they map to
`total_min_node_count`/`total_max_node_count`, not the per-zone fields.
"""

from __future__ import annotations

import math
from typing import Optional

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from config import catalog
from config.capacity import machine_for
from config.models import GcpConfig, GpuPool
from components.labels import (
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    POOL_LABEL,
    cloud_labels,
)

from . import Cluster, ClusterArgs, exec_kubeconfig

# Least privilege for node VMs: write logs and metrics, read Artifact Registry. Workloads that
# need more use Workload Identity with their own service accounts, never the node's.
NODE_ROLES = (
    "roles/logging.logWriter",
    "roles/monitoring.metricWriter",
    "roles/monitoring.viewer",
    "roles/stackdriver.resourceMetadata.writer",
    "roles/artifactregistry.reader",
)
PODS_RANGE = "pods"
SERVICES_RANGE = "services"
IMAGE_TYPE = "COS_CONTAINERD"
GPU_DRIVER_VERSION = "LATEST"
# The GCP API spells taint effects in enum form; Kubernetes shows this as NoSchedule.
TAINT_EFFECT = "NO_SCHEDULE"
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
GKE_SHARING = {"time-slicing": "TIME_SHARING", "mps": "MPS"}
# Scopes are all-or-nothing on GKE; the service account's IAM roles are the real limit.
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def gpu_accelerator(pool: GpuPool) -> gcp.container.NodePoolNodeConfigGuestAcceleratorArgs:
    """The guest accelerator block of a GPU pool (type, count, driver, MIG or sharing)."""
    sharing = pool.sharing
    partition = sharing.profile if sharing.strategy == "mig" else None
    share = None
    if sharing.strategy in GKE_SHARING:
        share = gcp.container.NodePoolNodeConfigGuestAcceleratorGpuSharingConfigArgs(
            gpu_sharing_strategy=GKE_SHARING[sharing.strategy],
            max_shared_clients_per_gpu=sharing.replicas,
        )
    return gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
        type=catalog.GPUS[pool.gpu].gke_accelerator,
        count=pool.gpus_per_node,
        gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
            gpu_driver_version=GPU_DRIVER_VERSION,
        ),
        gpu_partition_size=partition,
        gpu_sharing_config=share,
    )


def gpu_taint() -> gcp.container.NodePoolNodeConfigTaintArgs:
    """The GPU taint in GKE API form (GKE adds the same one itself; declaring it keeps it explicit)."""
    return gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=TAINT_EFFECT)


def initial_nodes_per_zone(total_min: int, zones: int) -> int:
    """Nodes per zone at creation so the pool starts with at least `total_min` nodes."""
    return math.ceil(total_min / max(zones, 1)) if total_min > 0 else 0


def kubeconfig(cluster_name: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with gke-gcloud-auth-plugin."""
    return exec_kubeconfig(f"gke-{cluster_name}", endpoint, ca_data, {
        "command": "gke-gcloud-auth-plugin",
        "installHint": "Install gke-gcloud-auth-plugin: gcloud components install gke-gcloud-auth-plugin",
        "provideClusterInfo": True,
    })


def _account_id(cluster_name: str) -> str:
    # Service account ids are 6-30 characters and must not end with a hyphen.
    return f"{cluster_name[:24].rstrip('-')}-nodes"


class GkeCluster(Cluster):
    """A regional GKE Standard cluster with a CPU system pool and the configured GPU pools.

    Creates (unless `gcp.network` names an existing VPC) a VPC network and subnetwork with
    `pods`/`services` secondary ranges, and with `privateNodes` a Cloud Router + Cloud NAT for
    egress. An existing network brings its own egress and is left untouched.
    """

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ai-platform:cluster:Gke", name, None, opts)
        cfg = args.cluster
        gcp_cfg = cfg.gcp
        assert gcp_cfg is not None and cfg.region  # guaranteed by ClusterConfig validation
        system = args.node_pools.system
        if system is None:
            raise ValueError("provider gke needs nodePools.system (the CPU system pool)")
        project, region, zones = gcp_cfg.project, cfg.region, list(cfg.zones)
        child = pulumi.ResourceOptions(parent=self)

        network, subnetwork = self._network(name, cfg.name, gcp_cfg, region, child)

        node_sa = gcp.serviceaccount.Account(
            f"{name}-nodes-sa",
            project=project,
            account_id=_account_id(cfg.name),
            display_name=f"GKE nodes of {cfg.name}",
            opts=child,
        )
        sa_member = pulumi.Output.concat("serviceAccount:", node_sa.email)
        node_roles = [
            gcp.projects.IAMMember(
                f"{name}-nodes-{role.split('/')[-1].replace('.', '-').lower()}",
                project=project,
                role=role,
                member=sa_member,
                opts=child,
            )
            for role in NODE_ROLES
        ]

        private = (
            gcp.container.ClusterPrivateClusterConfigArgs(
                enable_private_nodes=True,
                # The API endpoint stays reachable (with credentials) so Pulumi and CI can deploy.
                enable_private_endpoint=False,
                master_ipv4_cidr_block=gcp_cfg.master_ipv4_cidr,
            )
            if gcp_cfg.private_nodes
            else None
        )
        self.cluster = gcp.container.Cluster(
            f"{name}-gke",
            name=cfg.name,
            project=project,
            location=region,
            node_locations=zones,
            # Node pools are separate resources; GKE still needs a default pool at creation.
            remove_default_node_pool=True,
            initial_node_count=1,
            min_master_version=cfg.kubernetes_version,
            release_channel=gcp.container.ClusterReleaseChannelArgs(channel=gcp_cfg.release_channel),
            network=network,
            subnetwork=subnetwork,
            networking_mode="VPC_NATIVE",
            ip_allocation_policy=gcp.container.ClusterIpAllocationPolicyArgs(
                cluster_secondary_range_name=PODS_RANGE,
                services_secondary_range_name=SERVICES_RANGE,
            ),
            # Dataplane V2 enforces NetworkPolicy (the tenancy component's default-deny); it can
            # only be chosen at creation.
            datapath_provider="ADVANCED_DATAPATH",
            private_cluster_config=private,
            workload_identity_config=gcp.container.ClusterWorkloadIdentityConfigArgs(
                workload_pool=f"{project}.svc.id.goog",
            ),
            # Filestore CSI (GKE then provides the standard-rwx class) only for ReadWriteMany model caches.
            addons_config=gcp.container.ClusterAddonsConfigArgs(
                gcp_filestore_csi_driver_config=gcp.container.ClusterAddonsConfigGcpFilestoreCsiDriverConfigArgs(
                    enabled=True),
            ) if args.shared_file_system else None,
            deletion_protection=cfg.deletion_protection,
            resource_labels=cloud_labels("cluster", args.labels),
            opts=pulumi.ResourceOptions(parent=self, protect=cfg.deletion_protection),
        )

        pool_opts = pulumi.ResourceOptions(parent=self, depends_on=node_roles)
        common = dict(
            cluster=self.cluster.name,
            project=project,
            location=region,
            node_locations=zones,
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        )

        system_pool = gcp.container.NodePool(
            f"{name}-system",
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=system.min,
                total_max_node_count=system.max,
                location_policy="BALANCED",
            ),
            initial_node_count=initial_nodes_per_zone(system.min, len(zones)),
            node_config=self._node_config(
                node_sa.email, system.machine_type, system.disk_gi,
                labels={POOL_LABEL: "system"},
                resource_labels=cloud_labels("system-pool", args.labels),
            ),
            # The autoscaler owns the size; initial_node_count only matters at creation and
            # changing it would replace the pool.
            opts=pulumi.ResourceOptions.merge(pool_opts, pulumi.ResourceOptions(ignore_changes=["initialNodeCount"])),
            **common,
        )

        self.node_pools: dict[str, gcp.container.NodePool] = {}
        for pool in args.node_pools.gpu:
            machine = machine_for("gke", pool)
            if machine is None:  # config.semantics rejects this before any resource exists
                raise ValueError(f"no GKE machine type with {pool.gpus_per_node}x {pool.gpu} for pool '{pool.name}'")
            spot = pool.capacity == "spot"
            # Spot VMs cannot consume reservations; on-demand pools take the named reservation.
            reservation = (
                gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                    consume_reservation_type="SPECIFIC_RESERVATION",
                    key=RESERVATION_KEY,
                    values=[gcp_cfg.reservation],
                )
                if gcp_cfg.reservation and not spot
                else None
            )
            self.node_pools[pool.name] = gcp.container.NodePool(
                f"{name}-gpu-{pool.name}",
                name=pool.name,
                autoscaling=gcp.container.NodePoolAutoscalingArgs(
                    total_min_node_count=pool.min,
                    total_max_node_count=pool.max,
                    location_policy="ANY" if spot else "BALANCED",
                ),
                initial_node_count=initial_nodes_per_zone(pool.min, len(zones)),
                node_config=self._node_config(
                    node_sa.email, machine.name, pool.disk_gi,
                    labels=args.node_labels(pool),
                    resource_labels=cloud_labels("gpu-pool", args.labels),
                    guest_accelerators=[gpu_accelerator(pool)],
                    taints=[gpu_taint()],
                    spot=spot,
                    reservation_affinity=reservation,
                ),
                # A fixed name, and delete before replace: GPU quota rarely holds two copies of
                # a pool, so create-before-delete would stall on quota anyway.
                opts=pulumi.ResourceOptions.merge(pool_opts, pulumi.ResourceOptions(
                    delete_before_replace=True, ignore_changes=["initialNodeCount"])),
                **common,
            )

        all_pools = [system_pool, *self.node_pools.values()]
        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint.apply(lambda ip: f"https://{ip}")
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.endpoint, self.cluster.master_auth.cluster_ca_certificate)
            .apply(lambda a: kubeconfig(a[0], a[1], a[2]))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Workloads need somewhere to run: nothing goes through this provider before the pools.
            opts=pulumi.ResourceOptions(parent=self, depends_on=all_pools),
        )
        self.node_pool_names = pulumi.Output.all(*[p.name for p in all_pools])
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "provider": self.provider,
            "node_pool_names": self.node_pool_names,
        })

    def _network(self, name: str, cluster_name: str, gcp_cfg: GcpConfig, region: str,
                 child: pulumi.ResourceOptions) -> tuple[pulumi.Input[str], pulumi.Input[str]]:
        """(network, subnetwork) for the cluster: existing names, or a new VPC (+ NAT when private)."""
        if gcp_cfg.network and gcp_cfg.subnetwork:
            return gcp_cfg.network, gcp_cfg.subnetwork
        project = gcp_cfg.project
        created_network = gcp_cfg.network is None
        if created_network:
            vpc = gcp.compute.Network(
                f"{name}-vpc",
                name=f"{cluster_name}-vpc",
                project=project,
                auto_create_subnetworks=False,
                routing_mode="REGIONAL",
                opts=child,
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
            opts=child,
        )
        if gcp_cfg.private_nodes and created_network:
            router = gcp.compute.Router(
                f"{name}-router",
                name=f"{cluster_name}-router",
                project=project,
                region=region,
                network=network,
                opts=child,
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
                opts=child,
            )
        return network, subnet.id

    @staticmethod
    def _node_config(service_account: pulumi.Input[str], machine_type: str, disk_gi: int, *,
                     labels: dict[str, str], resource_labels: dict[str, str],
                     guest_accelerators: Optional[list] = None, taints: Optional[list] = None,
                     spot: bool = False,
                     reservation_affinity: Optional[gcp.container.NodePoolNodeConfigReservationAffinityArgs] = None,
                     ) -> gcp.container.NodePoolNodeConfigArgs:
        return gcp.container.NodePoolNodeConfigArgs(
            machine_type=machine_type,
            disk_size_gb=disk_gi,
            image_type=IMAGE_TYPE,
            service_account=service_account,
            oauth_scopes=OAUTH_SCOPES,
            labels=labels,
            resource_labels=resource_labels,
            guest_accelerators=guest_accelerators,
            taints=taints,
            spot=spot,
            reservation_affinity=reservation_affinity,
            workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
            shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                enable_secure_boot=True,
                enable_integrity_monitoring=True,
            ),
        )
