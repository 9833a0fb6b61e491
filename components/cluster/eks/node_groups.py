"""EKS managed node groups: the CPU system pool (one group per zone) and one group per GPU pool.

Every group launches from a launch template of the program's: IMDSv2 only with a response hop limit of 1
(pods on the pod network cannot reach the instance metadata service, hence not the node role's credentials;
host-network pods such as the VPC CNI and kube-proxy still can), encrypted gp3 volumes sized from `diskGi`,
and the stack's tags on the instances and volumes. With a launch template the node group must not set
`disk_size` (the size is the template's; docs.aws.amazon.com/eks/latest/userguide/launch-templates.html,
"Launch template configuration basics").

Versions: every group carries the cluster's `version`, and is created (and on a version bump updated) after
the control plane and the add-ons that must lead it (components/cluster/eks/__init__.py). Updates replace nodes
one at a time (`max_unavailable` 1, the DEFAULT strategy: new nodes are up before old ones drain); Pulumi's
update timeout is sized from the pool's size and its models' start-up budgets (config/upgrades.py).

GPU groups: `capacity_type` ON_DEMAND/SPOT/CAPACITY_BLOCK (reservation pools target their EC2 capacity
reservation through the launch template), the configured NVIDIA AMI, the GPU taint, the Cluster
Autoscaler's node-template hints copied onto their Auto Scaling groups (scale from zero), and a name
prefix instead of a fixed name, so a change EKS can only make by replacement creates the new group before
the old one is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.labels import GPU_TAINT_EFFECT_API, GPU_TAINT_KEY, GPU_TAINT_VALUE, POOL_LABEL, cloud_labels
from config import upgrades
from config.capacity import machine_for
from config.models import EksConfig, GpuPool, SystemPool

from .. import ClusterArgs
from ..common import Scope, required
from .autoscaler import CA_TEMPLATE, autoscaler_tags
from .iam import EksRoles

SYSTEM_AMI = "AL2023_x86_64_STANDARD"
# The cluster autoscaler owns desired_size.
AUTOSCALED = ["scalingConfig.desiredSize"]
# Root devices of the EKS AMIs (Karpenter's defaults per AMI family, karpenter-provider-aws
# pkg/providers/amifamily/al2023.go and bottlerocket.go): AL2023 boots from and stores images on /dev/xvda;
# Bottlerocket's /dev/xvda is its OS volume (the variant's image size: 4 GiB for aws-k8s-*-nvidia,
# bottlerocket variants/aws-k8s-1.31-nvidia/Cargo.toml) and /dev/xvdb its data volume (container images,
# bottlerocket README "Default Volumes"), which gets `diskGi`.
ROOT_DEVICE = "/dev/xvda"
BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb"
# IMDSv2 tokens only; a PUT response travels one hop, so it dies at a pod's network namespace
# (docs.aws.amazon.com/eks/latest/userguide/launch-templates.html: containers need 2 to use IMDSv2).
IMDS_HOP_LIMIT = 1
UPDATE_STRATEGY = "DEFAULT"
"""Surge: EKS launches the new nodes (up to twice the zones) before it drains an old one, so evicted replicas
land on Ready nodes (managed-node-update-behavior.html, scale up and upgrade phases). MINIMAL would drain first
and make every replacement wait for a GPU node to boot."""


@dataclass(frozen=True)
class NodeGroups:
    """The node groups of the cluster."""

    system: list[aws.eks.NodeGroup]
    """The CPU system pool, one group per zone (coredns, add-on controllers, the autoscaler, data layer)."""
    gpu: dict[str, aws.eks.NodeGroup]
    """One group per GPU pool, by pool name."""

    @property
    def all(self) -> list[aws.eks.NodeGroup]:
        return [*self.system, *self.gpu.values()]


@dataclass(frozen=True)
class Placement:
    """What every node group of the cluster shares."""

    cluster: aws.eks.Cluster
    roles: EksRoles
    subnet_ids: Sequence[pulumi.Input[str]]
    """The private subnets, one per zone."""
    zones: Sequence[str]
    """Names of the system groups: the zone of each subnet (created subnets), else the subnet's index."""
    after: Sequence[pulumi.Resource]
    """Created (and updated) before any group: the node role's policies and access entry, the CNI and kube-proxy."""


@dataclass(frozen=True)
class Reserved:
    """How a `capacity: reservation` pool's instances consume EC2 capacity reservations (its launch template)."""

    reservation_id: str | None
    """The On-Demand Capacity Reservation or Capacity Block targeted (affinity specific); None: any open one."""
    capacity_block: bool
    instance_type: str
    """A Capacity Block's template names the instance type (the group then names none)."""

    def specification(self) -> aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs:
        """Target the reservation by id (EC2: with a target, the preference is omitted), else any open one."""
        if self.reservation_id is None:
            return aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(capacity_reservation_preference="open")
        target = aws.ec2.LaunchTemplateCapacityReservationSpecificationCapacityReservationTargetArgs
        return aws.ec2.LaunchTemplateCapacityReservationSpecificationArgs(
            capacity_reservation_target=target(capacity_reservation_id=self.reservation_id))


def reserved(pool: GpuPool, instance_type: str) -> Reserved | None:
    """The reservation a GPU pool's group consumes (config.semantics checks: one id, a Capacity Block by id)."""
    res = pool.reservation
    if pool.capacity != "reservation" or res is None:
        return None
    target = res.names[0] if res.affinity == "specific" and res.names else None
    return Reserved(target, res.capacity_block, instance_type)


def capacity_type(pool: GpuPool) -> str:
    """The group's EKS capacity type: SPOT, CAPACITY_BLOCK for a Capacity Block for ML (EKS CreateNodegroup
    capacityType; docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html), else ON_DEMAND (On-Demand
    Capacity Reservations are on-demand instances launched into the reservation)."""
    if pool.capacity == "spot":
        return "SPOT"
    if pool.capacity == "reservation" and pool.reservation is not None and pool.reservation.capacity_block:
        return "CAPACITY_BLOCK"
    return "ON_DEMAND"


def launch_template(scope: Scope, role: str, ami_type: str, disk_gi: int,
                    tags: dict[str, str], reservation: Reserved | None = None) -> aws.ec2.LaunchTemplate:
    """The launch template of a group: IMDSv2 with hop limit 1, encrypted gp3 volumes, tags on instances and volumes.

    No image, instance type, subnet or security group: the node group sets the AMI type and instance types, and EKS
    adds the cluster security group when the template names none. A reservation pool's template also targets its
    capacity reservation; a Capacity Block's template sets market type `capacity-block` and the instance type
    (capacity-blocks-mng.html: LaunchTemplateData InstanceMarketOptions.MarketType "capacity-block",
    CapacityReservationSpecification.CapacityReservationTarget.CapacityReservationId, InstanceType).
    """
    def volume(size: int | None) -> aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs:
        return aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
            volume_type="gp3", encrypted="true", delete_on_termination="true", volume_size=size)

    if ami_type.startswith("BOTTLEROCKET"):
        # The OS volume keeps the AMI's size (a smaller one fails the launch), only encrypted and gp3.
        devices = [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name=ROOT_DEVICE, ebs=volume(None)),
                   aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name=BOTTLEROCKET_DATA_DEVICE,
                                                                ebs=volume(disk_gi))]
    else:
        devices = [aws.ec2.LaunchTemplateBlockDeviceMappingArgs(device_name=ROOT_DEVICE, ebs=volume(disk_gi))]
    return aws.ec2.LaunchTemplate(
        f"{scope.name}-{role}-lt",
        description=f"EKS {role} nodes: IMDSv2 only (hop limit 1), encrypted gp3",
        metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
            http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=IMDS_HOP_LIMIT),
        block_device_mappings=devices,
        tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                            for kind in ("instance", "volume")],
        capacity_reservation_specification=reservation.specification() if reservation else None,
        instance_market_options=(aws.ec2.LaunchTemplateInstanceMarketOptionsArgs(market_type="capacity-block")
                                 if reservation and reservation.capacity_block else None),
        instance_type=reservation.instance_type if reservation and reservation.capacity_block else None,
        # Each change is a new version the node groups roll to; the default version follows it.
        update_default_version=True,
        tags=tags,
        opts=scope.opts(),
    )


def template_ref(template: aws.ec2.LaunchTemplate) -> aws.eks.NodeGroupLaunchTemplateArgs:
    """A node group's reference to the latest version of `template` (a new version rolls the group's nodes)."""
    return aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str))


def system_zones(zones: Sequence[str], eks_cfg: EksConfig) -> list[str]:
    """Name suffixes of the system groups: the zones of the subnets the program creates (one per zone, in
    order), or the index of each configured `subnetIds` entry (each subnet lies in one zone)."""
    return [str(i) for i in range(len(eks_cfg.subnet_ids))] if eks_cfg.subnet_ids else list(zones)


def zone_split(total: int, zones: int, index: int) -> int:
    """Zone `index`'s share of `total` nodes spread over `zones` zones (the first zones take the remainder)."""
    return total // zones + (1 if index < total % zones else 0)


def gpu_node_groups(scope: Scope, args: ClusterArgs, eks_cfg: EksConfig, placement: Placement,
                    after: Sequence[pulumi.Resource]) -> dict[str, aws.eks.NodeGroup]:
    """One group per GPU pool, by pool name, each also after `after` (every add-on: on a version bump the GPU
    nodes are the last to change)."""
    return {pool.name: gpu_node_group(scope, args, eks_cfg, i, pool, placement, after)
            for i, pool in enumerate(args.node_pools.gpu)}


def system_node_groups(scope: Scope, args: ClusterArgs, system: SystemPool,
                       placement: Placement) -> list[aws.eks.NodeGroup]:
    """The CPU system pool (on-demand, the standard AL2023 AMI) as one group per zone.

    The data layer's EBS volumes are zonal: a pod whose volume is in zone b can only run in zone b, and the
    Cluster Autoscaler can add a node in a given zone only if some Auto Scaling group spans just that zone
    (cluster-autoscaler cloudprovider/aws README, "Common notes and gotchas": one group per zone for EBS, with
    --balance-similar-node-groups, which components/cluster/eks/autoscaler.py sets). The groups share one launch
    template, so their nodes carry the same labels and the autoscaler balances them as similar.
    """
    tags = cloud_labels("system-pool", args.labels)
    template = launch_template(scope, "system", SYSTEM_AMI, system.disk_gi, tags)
    zones = len(placement.subnet_ids)
    groups = []
    for i, (zone, subnet) in enumerate(zip(placement.zones, placement.subnet_ids, strict=True)):
        low, high = zone_split(system.min, zones, i), max(1, -(-system.max // zones))
        groups.append(aws.eks.NodeGroup(
            f"{scope.name}-system-{zone}",
            cluster_name=placement.cluster.name,
            version=placement.cluster.version,
            node_role_arn=placement.roles.node.arn,
            subnet_ids=[subnet],
            ami_type=SYSTEM_AMI,
            capacity_type="ON_DEMAND",
            instance_types=[system.machine_type],
            launch_template=template_ref(template),
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=low, max_size=high, desired_size=low),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1, update_strategy=UPDATE_STRATEGY),
            labels={POOL_LABEL: "system"},
            tags=tags,
            opts=scope.opts(depends_on=list(placement.after), ignore_changes=list(AUTOSCALED)),
        ))
    return groups


def gpu_node_group(scope: Scope, args: ClusterArgs, eks_cfg: EksConfig, index: int, pool: GpuPool,
                   placement: Placement, after: Sequence[pulumi.Resource] = ()) -> aws.eks.NodeGroup:
    """The group of GPU pool `pool` (`nodePools.gpu[index]`), and its autoscaler hints on its Auto Scaling group."""
    machine = required(machine_for("eks", pool), "nodePools", "gpu", index, "machineType")
    spot = pool.capacity == "spot"
    instance_types = [machine.name]
    if spot:
        instance_types += [t for t in pool.spot_instance_types if t != machine.name]
    node_labels = args.node_labels(pool)
    ca_tags = autoscaler_tags(pool, node_labels, args.pool_node_resources.get(pool.name))
    tags = cloud_labels("gpu-pool", args.labels)
    reservation = reserved(pool, machine.name)
    template = launch_template(scope, f"gpu-{pool.name}", eks_cfg.ami_type, pool.disk_gi, tags, reservation)
    update_minutes = upgrades.eks_update_minutes(pool, args.pool_rehomes.get(pool.name, ()))
    group = aws.eks.NodeGroup(
        f"{scope.name}-gpu-{pool.name}",
        # A prefix, not a fixed name: a replacement (a new AMI type, capacity type, subnets) creates the new
        # group first and deletes the old one after, so the pool never drops to zero nodes. The autoscaler
        # finds the new group by the auto-discovery tags EKS puts on every group's Auto Scaling group.
        node_group_name_prefix=f"{pool.name}-",
        cluster_name=placement.cluster.name,
        version=placement.cluster.version,
        node_role_arn=placement.roles.node.arn,
        subnet_ids=placement.subnet_ids,
        ami_type=eks_cfg.ami_type,
        capacity_type=capacity_type(pool),
        # EKS refuses instance types on both the group and its template: a Capacity Block's are the template's.
        instance_types=None if reservation and reservation.capacity_block else instance_types,
        launch_template=template_ref(template),
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=pool.min, max_size=pool.max,
                                                          desired_size=pool.min),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1, update_strategy=UPDATE_STRATEGY),
        # Only where the pool accepts it (config.semantics refuses the pool otherwise): replicas still waiting on
        # their PodDisruptionBudget after EKS's 15 minutes are deleted instead of failing the update.
        force_update_version=pool.force_upgrade,
        labels=node_labels,
        taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT_API)],
        tags={**tags, **ca_tags},
        opts=scope.opts(depends_on=[*placement.after, *after], ignore_changes=list(AUTOSCALED),
                        custom_timeouts=pulumi.CustomTimeouts(update=f"{update_minutes}m")),
    )
    # Node-group tags stay on the EKS node group; the autoscaler reads the Auto Scaling
    # group's tags, so the node-template hints are copied there as well.
    asg_name = group.resources.apply(
        lambda rs: rs[0].autoscaling_groups[0].name if rs and rs[0].autoscaling_groups else None)
    for key, value in sorted(ca_tags.items()):
        hint = key.removeprefix(f"{CA_TEMPLATE}/").replace("/", "-").replace(".", "-")
        aws.autoscaling.Tag(
            f"{scope.name}-gpu-{pool.name}-ca-{hint}",
            autoscaling_group_name=asg_name,
            tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
            opts=scope.opts(),
        )
    return group
