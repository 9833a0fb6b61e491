"""EKS managed node groups: the CPU system group and one group per GPU pool.

GPU groups: `capacity_type` ON_DEMAND/SPOT, the configured NVIDIA AMI, the GPU taint, and the
Cluster Autoscaler's node-template hints copied onto their Auto Scaling groups (scale from zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.labels import GPU_TAINT_EFFECT_API, GPU_TAINT_KEY, GPU_TAINT_VALUE, POOL_LABEL, cloud_labels
from config.capacity import machine_for
from config.models import EksConfig, GpuPool, SystemPool

from .. import ClusterArgs
from ..common import Scope, required
from .autoscaler import CA_TEMPLATE, autoscaler_tags
from .iam import EksRoles

SYSTEM_AMI = "AL2023_x86_64_STANDARD"
# The cluster autoscaler owns desired_size.
AUTOSCALED = ["scalingConfig.desiredSize"]


@dataclass(frozen=True)
class NodeGroups:
    """The node groups of the cluster."""

    system: aws.eks.NodeGroup
    """The CPU system group (coredns, add-on controllers, the autoscaler, data layer)."""
    gpu: dict[str, aws.eks.NodeGroup]
    """One group per GPU pool, by pool name."""

    @property
    def all(self) -> list[aws.eks.NodeGroup]:
        return [self.system, *self.gpu.values()]


@dataclass(frozen=True)
class Placement:
    """What every node group of the cluster shares."""

    cluster: aws.eks.Cluster
    roles: EksRoles
    subnet_ids: Sequence[pulumi.Input[str]]
    after: Sequence[pulumi.Resource]
    """Created before any group: the node role's policies and access entry, the CNI and kube-proxy."""


def node_groups(scope: Scope, args: ClusterArgs, eks_cfg: EksConfig, system: SystemPool,
                placement: Placement) -> NodeGroups:
    """The system group and one group per GPU pool."""
    gpu = {pool.name: gpu_node_group(scope, args, eks_cfg, i, pool, placement)
           for i, pool in enumerate(args.node_pools.gpu)}
    return NodeGroups(system_node_group(scope, args, system, placement), gpu)


def system_node_group(scope: Scope, args: ClusterArgs, system: SystemPool, placement: Placement) -> aws.eks.NodeGroup:
    """The CPU system group (on-demand, the standard AL2023 AMI)."""
    return aws.eks.NodeGroup(
        f"{scope.name}-system",
        cluster_name=placement.cluster.name,
        node_role_arn=placement.roles.node.arn,
        subnet_ids=placement.subnet_ids,
        ami_type=SYSTEM_AMI,
        capacity_type="ON_DEMAND",
        instance_types=[system.machine_type],
        disk_size=system.disk_gi,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=system.min, max_size=system.max,
                                                          desired_size=system.min),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        labels={POOL_LABEL: "system"},
        tags=cloud_labels("system-pool", args.labels),
        opts=scope.opts(depends_on=list(placement.after), ignore_changes=list(AUTOSCALED)),
    )


def gpu_node_group(scope: Scope, args: ClusterArgs, eks_cfg: EksConfig, index: int, pool: GpuPool,
                   placement: Placement) -> aws.eks.NodeGroup:
    """The group of GPU pool `pool` (`nodePools.gpu[index]`), and its autoscaler hints on its Auto Scaling group."""
    machine = required(machine_for("eks", pool), "nodePools", "gpu", index, "machineType")
    spot = pool.capacity == "spot"
    instance_types = [machine.name]
    if spot:
        instance_types += [t for t in pool.spot_instance_types if t != machine.name]
    node_labels = args.node_labels(pool)
    ca_tags = autoscaler_tags(pool, node_labels, args.pool_node_resources.get(pool.name))
    group = aws.eks.NodeGroup(
        f"{scope.name}-gpu-{pool.name}",
        node_group_name=pool.name,
        cluster_name=placement.cluster.name,
        node_role_arn=placement.roles.node.arn,
        subnet_ids=placement.subnet_ids,
        ami_type=eks_cfg.ami_type,
        capacity_type="SPOT" if spot else "ON_DEMAND",
        instance_types=instance_types,
        disk_size=pool.disk_gi,
        scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=pool.min, max_size=pool.max,
                                                          desired_size=pool.min),
        update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
        labels=node_labels,
        taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=GPU_TAINT_EFFECT_API)],
        tags={**cloud_labels("gpu-pool", args.labels), **ca_tags},
        # A fixed name, and delete before replace: GPU capacity (quota, scarce p-family
        # instances) rarely holds two copies of a group.
        opts=scope.opts(depends_on=list(placement.after), ignore_changes=list(AUTOSCALED), delete_before_replace=True),
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
