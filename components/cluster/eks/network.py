"""The EKS network: the configured private subnets, or a VPC with public/private subnets per zone,
an internet gateway, ONE NAT gateway and their route tables (see the package docstring on why one),
and one small control-plane subnet per zone.

The control-plane subnets (/28, `config.network.eks_subnets`) are the cluster's `vpc_config` subnets:
EKS puts its cross-account ENIs there and nowhere else, so their CIDRs are exactly the API server's
addresses. The NetworkPolicies allow operators to reach the API server, and the API server to reach
webhooks, from those CIDRs only, not the whole VPC. They hold nothing else (no load balancer or
cluster tags) and need no route beyond the VPC's local one. With `subnetIds` the configured subnets
serve both (and the API-server rules fall back to any address: docs/tenancy.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from config.models import EksConfig
from config.network import eks_subnets

from ..common import Scope


def carve_subnets(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs, one each per zone, carved from `vpc_cidr` (`config.network.eks_subnets`)."""
    carved = eks_subnets(vpc_cidr, zones)
    return list(carved.private), list(carved.public)


@dataclass(frozen=True)
class EksSubnetIds:
    """Where the nodes and the control plane's ENIs go."""

    nodes: list[pulumi.Input[str]]
    """Private subnets of the node groups (and EFS mount targets)."""
    control_plane: list[pulumi.Input[str]]
    """The cluster's `vpc_config` subnets: the control-plane /28s, or the configured subnets."""


def private_subnets(scope: Scope, cluster_name: str, eks_cfg: EksConfig, zones: Sequence[str],
                    tags: dict[str, str], node_subnet_tags: Mapping[str, str] | None = None) -> EksSubnetIds:
    """Subnet ids for the nodes and the control plane: the configured ones or a new VPC's (its private subnets also
    carry `node_subnet_tags`: Karpenter's discovery tag)."""
    if eks_cfg.subnet_ids:
        return EksSubnetIds(list(eks_cfg.subnet_ids), list(eks_cfg.subnet_ids))
    name = scope.name
    carved = eks_subnets(eks_cfg.vpc_cidr, len(zones))
    private_cidrs, public_cidrs = carved.private, carved.public
    shared = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=eks_cfg.vpc_cidr,
        # EKS private endpoints and node registration need VPC DNS.
        enable_dns_support=True,
        enable_dns_hostnames=True,
        tags={**tags, "Name": f"{cluster_name}-vpc"},
        opts=scope.opts(),
    )
    igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id,
                                  tags={**tags, "Name": f"{cluster_name}-igw"}, opts=scope.opts())
    public, private = [], []
    for zone, pub_cidr, priv_cidr in zip(zones, public_cidrs, private_cidrs, strict=True):
        public.append(aws.ec2.Subnet(
            f"{name}-public-{zone}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=pub_cidr,
            tags={**tags, **shared, "Name": f"{cluster_name}-public-{zone}", "kubernetes.io/role/elb": "1"},
            opts=scope.opts(),
        ))
        private.append(aws.ec2.Subnet(
            f"{name}-private-{zone}",
            vpc_id=vpc.id,
            availability_zone=zone,
            cidr_block=priv_cidr,
            tags={**tags, **shared, "Name": f"{cluster_name}-private-{zone}", "kubernetes.io/role/internal-elb": "1",
                  **(node_subnet_tags or {})},
            opts=scope.opts(),
        ))
    eip = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags={**tags, "Name": f"{cluster_name}-nat"},
                      opts=scope.opts(depends_on=[igw]))
    nat = aws.ec2.NatGateway(
        f"{name}-nat",
        allocation_id=eip.id,
        subnet_id=public[0].id,
        tags={**tags, "Name": f"{cluster_name}-nat"},
        opts=scope.opts(depends_on=[igw]),
    )
    public_rt = aws.ec2.RouteTable(
        f"{name}-public-rt",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
        tags={**tags, "Name": f"{cluster_name}-public"},
        opts=scope.opts(),
    )
    private_rt = aws.ec2.RouteTable(
        f"{name}-private-rt",
        vpc_id=vpc.id,
        routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
        tags={**tags, "Name": f"{cluster_name}-private"},
        opts=scope.opts(),
    )
    for zone, pub, priv in zip(zones, public, private, strict=True):
        aws.ec2.RouteTableAssociation(f"{name}-public-rta-{zone}", subnet_id=pub.id,
                                      route_table_id=public_rt.id, opts=scope.opts())
        aws.ec2.RouteTableAssociation(f"{name}-private-rta-{zone}", subnet_id=priv.id,
                                      route_table_id=private_rt.id, opts=scope.opts())
    # No cluster or load-balancer tags: nothing but EKS's ENIs may land here (the main route table's local
    # route is all they need: they only talk to nodes and pods inside the VPC).
    control_plane = [aws.ec2.Subnet(
        f"{name}-control-plane-{zone}",
        vpc_id=vpc.id,
        availability_zone=zone,
        cidr_block=cidr,
        tags={**tags, "Name": f"{cluster_name}-control-plane-{zone}"},
        opts=scope.opts(),
    ) for zone, cidr in zip(zones, carved.control_plane, strict=True)]
    return EksSubnetIds([s.id for s in private], [s.id for s in control_plane])
