"""GKE node pools: the CPU system pool and one pool per GPU pool (accelerators, MIG or sharing, the pool's
capacity -- on-demand, spot, flex-start with optional queued provisioning, reservation --, the GPU taint).
Pool `min`/`max` are whole-pool numbers (`total_*_node_count`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from components.labels import GPU_TAINT_EFFECT_API, GPU_TAINT_KEY, GPU_TAINT_VALUE, POOL_LABEL, cloud_labels
from config import catalog
from config.capacity import machine_for
from config.compute_classes import COMPUTE_CLASS_LABEL, pool_class
from config.models import FlexStart, GcpConfig, GpuPool, Mps, SystemPool, TimeSlicing

from .. import ClusterArgs
from ..common import Scope, required
from .iam import NodeIdentity

IMAGE_TYPE = "COS_CONTAINERD"
# GKE installs the driver; COS resolves DEFAULT and LATEST per GPU type (its gpu_driver_versions table), so both
# name a driver that supports the attached GPU -- including B200 (R570+) and RTX PRO 6000 (R575+), which only the
# newest branches drive.  LATEST keeps the newest production branch on every node, which newer CUDA in the model
# server images needs (CUDA 13.x containers need R580; config/gpu_stack.py records the sources).
GPU_DRIVER_VERSION = "LATEST"
# Machine series whose VMs boot from Hyperdisk only (no Persistent Disk), so the pool names the boot disk type
# instead of relying on GKE's default (pd-balanced where the machine supports it).  A3 Ultra (H200): the
# GoogleCloudPlatform/cluster-toolkit blueprint for a3-ultragpu-8g node pools sets disk_type hyperdisk-balanced;
# A4 (B200): third-party provisioning code records that a4-highgpu-8g rejects pd-standard and boots A3/A4 GPU pools
# from hyperdisk-balanced; G4 (RTX PRO 6000): third-party code boots g4-* from hyperdisk-balanced.
# unverified: the Compute Engine disk-support table of each series was not in a stored copy here.
HYPERDISK_ONLY_SERIES = ("a3-ultragpu-", "a4-highgpu-", "g4-standard-")
HYPERDISK_BOOT = "hyperdisk-balanced"
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
GKE_SHARING = {"time-slicing": "TIME_SHARING", "mps": "MPS"}
# Scopes are all-or-nothing on GKE; the service account's IAM roles are the real limit.
OAUTH_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@dataclass(frozen=True)
class NodePools:
    """The node pools of the cluster."""

    system: gcp.container.NodePool
    """The CPU system pool."""
    gpu: dict[str, gcp.container.NodePool]
    """One pool per GPU pool, by pool name."""

    @property
    def all(self) -> list[gcp.container.NodePool]:
        return [self.system, *self.gpu.values()]


@dataclass(frozen=True)
class Placement:
    """What every node pool of the cluster shares."""

    cluster: gcp.container.Cluster
    project: str
    region: str
    zones: Sequence[str]
    nodes: NodeIdentity
    """The nodes' service account; pools are created after its roles."""

    def common(self) -> dict[str, Any]:
        """Arguments every NodePool takes alike."""
        return {
            "cluster": self.cluster.name,
            "project": self.project,
            "location": self.region,
            "node_locations": list(self.zones),
            "management": gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
        }


def gpu_accelerator(pool: GpuPool) -> gcp.container.NodePoolNodeConfigGuestAcceleratorArgs:
    """The guest accelerator block of a GPU pool (type, count, driver, MIG or sharing)."""
    sharing = pool.sharing
    partition = sharing.profile if sharing.strategy == "mig" else None
    share = None
    if isinstance(sharing, (TimeSlicing, Mps)):  # the strategies in GKE_SHARING
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
    return gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE,
                                                     effect=GPU_TAINT_EFFECT_API)


def initial_nodes_per_zone(total_min: int, zones: int) -> int:
    """Nodes per zone at creation so the pool starts with at least `total_min` nodes."""
    return math.ceil(total_min / max(zones, 1)) if total_min > 0 else 0


def boot_disk_type(machine_type: str) -> str | None:
    """The boot disk type a machine needs: Hyperdisk Balanced on Hyperdisk-only series, else GKE's default."""
    return HYPERDISK_BOOT if machine_type.startswith(HYPERDISK_ONLY_SERIES) else None


def node_config(service_account: pulumi.Input[str], machine_type: str, disk_gi: int, *,
                labels: dict[str, str], resource_labels: dict[str, str],
                guest_accelerators: list[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs] | None = None,
                taints: list[gcp.container.NodePoolNodeConfigTaintArgs] | None = None,
                spot: bool = False,
                reservation_affinity: gcp.container.NodePoolNodeConfigReservationAffinityArgs | None = None,
                flex_start: bool | None = None, max_run_duration: str | None = None,
                ) -> gcp.container.NodePoolNodeConfigArgs:
    """Node VM settings: COS, the nodes' service account, GKE metadata server, legacy metadata endpoints off,
    Shielded VM with secure boot and integrity monitoring."""
    return gcp.container.NodePoolNodeConfigArgs(
        machine_type=machine_type,
        disk_size_gb=disk_gi,
        disk_type=boot_disk_type(machine_type),
        image_type=IMAGE_TYPE,
        service_account=service_account,
        oauth_scopes=OAUTH_SCOPES,
        labels=labels,
        resource_labels=resource_labels,
        guest_accelerators=guest_accelerators,
        taints=taints,
        spot=spot,
        reservation_affinity=reservation_affinity,
        flex_start=flex_start,
        max_run_duration=max_run_duration,
        # CIS GKE: the Compute Engine metadata server's legacy (v0.1/v1beta1) endpoints stay off. GKE sets this
        # itself since 1.12; declaring it keeps the provider from unsetting it (pulumi_gcp NodeConfig.metadata).
        metadata={"disable-legacy-endpoints": "true"},
        # Pods see the GKE metadata server (Workload Identity), never the node's credentials.
        workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
        shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
            enable_secure_boot=True,
            enable_integrity_monitoring=True,
        ),
    )


def surge_upgrades() -> gcp.container.NodePoolUpgradeSettingsArgs:
    """One new node before one old node drains, never a node short (config/upgrades.py: GKE respects the model
    servers' PodDisruptionBudgets for up to an hour per node, which config.semantics checks their start-up
    budgets against)."""
    return gcp.container.NodePoolUpgradeSettingsArgs(strategy="SURGE", max_surge=1, max_unavailable=0)


def node_pools(scope: Scope, args: ClusterArgs, gcp_cfg: GcpConfig, system: SystemPool,
               placement: Placement) -> NodePools:
    """The system pool and one pool per GPU pool."""
    gpu = {pool.name: gpu_node_pool(scope, args, gcp_cfg, i, pool, placement)
           for i, pool in enumerate(args.node_pools.gpu)}
    return NodePools(system_node_pool(scope, args, system, placement), gpu)


def system_node_pool(scope: Scope, args: ClusterArgs, system: SystemPool,
                     placement: Placement) -> gcp.container.NodePool:
    """The CPU system pool (on-demand, balanced across zones)."""
    return gcp.container.NodePool(
        f"{scope.name}-system",
        autoscaling=gcp.container.NodePoolAutoscalingArgs(
            total_min_node_count=system.min,
            total_max_node_count=system.max,
            location_policy="BALANCED",
        ),
        initial_node_count=initial_nodes_per_zone(system.min, len(placement.zones)),
        node_config=node_config(
            placement.nodes.email, system.machine_type, system.disk_gi,
            labels={POOL_LABEL: "system"},
            resource_labels=cloud_labels("system-pool", args.labels),
        ),
        # The autoscaler owns the size; initial_node_count only matters at creation and
        # changing it would replace the pool.
        opts=scope.opts(depends_on=list(placement.nodes.roles), ignore_changes=["initialNodeCount"]),
        **placement.common(),
    )


def reservation_affinity(index: int, pool: GpuPool, gcp_cfg: GcpConfig,
                         project: str) -> gcp.container.NodePoolNodeConfigReservationAffinityArgs | None:
    """How a GPU pool's VMs consume Compute Engine reservations.

    `capacity: reservation`: the pool's own reservation, SPECIFIC_RESERVATION by name (`projects/<p>/reservations/
    <name>` for a reservation shared from another project) or ANY_RESERVATION. On-demand pools consume
    `cluster.gcp.reservation` (the cluster-wide default). Spot VMs cannot consume reservations, and flex-start VMs
    must not (NO_RESERVATION: GKE's flex-start and queued-provisioning node pools are created with
    --reservation-affinity=none, cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest)."""
    if pool.capacity == "reservation":
        res = required(pool.reservation, "nodePools", "gpu", index, "reservation")
        if res.affinity == "any":
            return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="ANY_RESERVATION")
        owner = res.project if res.project and res.project != project else None
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="SPECIFIC_RESERVATION",
            key=RESERVATION_KEY,
            values=[f"projects/{owner}/reservations/{n}" if owner else n for n in res.names],
        )
    if pool.capacity == "flex-start":
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(consume_reservation_type="NO_RESERVATION")
    if pool.capacity == "on-demand" and gcp_cfg.reservation:
        return gcp.container.NodePoolNodeConfigReservationAffinityArgs(
            consume_reservation_type="SPECIFIC_RESERVATION",
            key=RESERVATION_KEY,
            values=[gcp_cfg.reservation],
        )
    return None


def gpu_node_pool(scope: Scope, args: ClusterArgs, gcp_cfg: GcpConfig, index: int, pool: GpuPool,
                  placement: Placement) -> gcp.container.NodePool:
    """The node pool of GPU pool `pool` (`nodePools.gpu[index]`).

    On-demand pools scale with location policy BALANCED; spot, flex-start and reservation pools with ANY (the
    autoscaler goes where capacity is: ANY also puts unused reservations first, and GKE's flex-start pools are
    created with it). Flex-start pools (GKE Dynamic Workload Scheduler) set `flex_start`, the nodes' run limit
    `max_run_duration` and, when queued, `queued_provisioning`; GKE creates them without auto-repair
    (--no-enable-autorepair in the flex-start and queued provisioning guides).
    """
    machine = required(machine_for("gke", pool), "nodePools", "gpu", index, "machineType")
    spot = pool.capacity == "spot"
    flex = (pool.flex_start or FlexStart()) if pool.capacity == "flex-start" else None
    queued = flex is not None and flex.queued
    common = placement.common()
    if flex is not None:
        common["management"] = gcp.container.NodePoolManagementArgs(auto_repair=False, auto_upgrade=True)
    # A step of a compute class carries the class's node label and NoSchedule taint, as GKE requires of manually
    # created node pools (config/compute_classes.py has the source): only pods of the class land there.
    klass = pool_class(args.node_pools, pool.name)
    class_label = {COMPUTE_CLASS_LABEL: klass} if klass else {}
    class_taint = ([gcp.container.NodePoolNodeConfigTaintArgs(key=COMPUTE_CLASS_LABEL, value=klass,
                                                              effect=GPU_TAINT_EFFECT_API)] if klass else [])
    return gcp.container.NodePool(
        f"{scope.name}-gpu-{pool.name}",
        name=pool.name,
        autoscaling=gcp.container.NodePoolAutoscalingArgs(
            total_min_node_count=pool.min,
            total_max_node_count=pool.max,
            location_policy="BALANCED" if pool.capacity == "on-demand" else "ANY",
        ),
        initial_node_count=initial_nodes_per_zone(pool.min, len(placement.zones)),
        upgrade_settings=surge_upgrades(),
        # Queued provisioning: nodes only for ProvisioningRequests (Kueue's admission checks create them).
        queued_provisioning=gcp.container.NodePoolQueuedProvisioningArgs(enabled=True) if queued else None,
        node_config=node_config(
            placement.nodes.email, machine.name, pool.disk_gi,
            labels={**args.node_labels(pool), **class_label},
            resource_labels=cloud_labels("gpu-pool", args.labels),
            guest_accelerators=[gpu_accelerator(pool)],
            taints=[gpu_taint(), *class_taint],
            spot=spot,
            reservation_affinity=reservation_affinity(index, pool, gcp_cfg, placement.project),
            flex_start=flex is not None or None,
            # pulumi-gcp NodePoolNodeConfig.max_run_duration: seconds, terminated by "s". A queued pool's run limit
            # is its ProvisioningRequest's maxRunDurationSeconds (set where Kueue's ProvisioningRequestConfig is).
            max_run_duration=f"{flex.max_run_duration_hours * 3600}s" if flex is not None and not queued else None,
        ),
        # A fixed name, and delete before replace: GPU quota rarely holds two copies of
        # a pool, so create-before-delete would stall on quota anyway.
        opts=scope.opts(depends_on=list(placement.nodes.roles), delete_before_replace=True,
                        ignore_changes=["initialNodeCount"]),
        **common,
    )
