"""The EKS network: the configured private subnets, or a VPC with public/private subnets per zone,
an internet gateway, ONE NAT gateway and their route tables (see the package docstring on why one)."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from config.models import EksConfig

from ..common import Scope


def carve_subnets(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """(private, public) CIDRs, one each per zone, carved from `vpc_cidr`.

    Private subnets get the big blocks (the VPC CNI gives every pod a VPC address): the VPC is
    split into the smallest power of two of blocks that leaves one spare; the spare block is
    split again for the public subnets (load balancers and the NAT gateway only).
    """
    vpc = ipaddress.IPv4Network(vpc_cidr)
    bits = math.ceil(math.log2(zones + 1))
    blocks = list(vpc.subnets(prefixlen_diff=bits))
    private = blocks[:zones]
    public = list(blocks[-1].subnets(prefixlen_diff=max(1, math.ceil(math.log2(zones)))))[:zones]
    if public[0].prefixlen > 28:  # AWS subnets are /16../28
        raise ValueError(f"ai-platform:cluster.eks.vpcCidr {vpc_cidr} is too small for {zones} zones "
                         f"(public subnets would be /{public[0].prefixlen})")
    return [str(n) for n in private], [str(n) for n in public]


def private_subnets(scope: Scope, cluster_name: str, eks_cfg: EksConfig, zones: Sequence[str],
                    tags: dict[str, str]) -> list[pulumi.Input[str]]:
    """Private subnet ids for the control plane and the nodes: the configured ones or a new VPC's."""
    if eks_cfg.subnet_ids:
        return list(eks_cfg.subnet_ids)
    name = scope.name
    private_cidrs, public_cidrs = carve_subnets(eks_cfg.vpc_cidr, len(zones))
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
            tags={**tags, **shared, "Name": f"{cluster_name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"},
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
    return [s.id for s in private]
