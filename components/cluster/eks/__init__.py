"""EKS: a cluster with managed node groups, one per GPU pool, access entries and core add-ons.

Networking: unless `eks.subnetIds` names existing private subnets, a VPC is created with one
public and one private subnet per configured zone (CIDRs carved from `vpcCidr`), an internet
gateway and ONE NAT gateway in the first zone. One NAT gateway is a cost/availability trade-off:
it costs a third of per-zone NAT and GPU nodes mostly pull images and weights at start-up, but an
outage of that zone cuts egress for nodes in every zone. Teams that need zone-independent egress
bring their own VPC (`subnetIds`).

GPU software ownership: `AL2023_x86_64_NVIDIA` ships the driver and the NVIDIA container toolkit
(the GPU Operator then runs with driver and toolkit disabled and provides the device plugin);
`BOTTLEROCKET_x86_64_NVIDIA` ships its own device plugin too (the operator must then also leave
the device plugin off).

Control plane and IAM: Kubernetes secrets are envelope-encrypted with a KMS key (the program's,
rotated yearly, or `eks.kmsKeyArn`); the endpoint is private unless `eks.publicEndpoint` with
`publicAccessCidrs`, and `eks.privateAccessCidrs` (the deploy runner) reach the private one; the VPC
CNI has its own IRSA role, so the node role holds only AmazonEKSWorkerNodePolicy and
AmazonEC2ContainerRegistryReadOnly (plus AmazonSSMManagedInstanceCore with `eks.ssm`).

Deletion protection: the cluster gets EKS's own `deletion_protection` flag (the API refuses to
delete it) and Pulumi `protect` (the engine refuses to plan its deletion), both from
`cluster.deletionProtection`. Turning protection off is a config change applied with `pulumi up`
before `pulumi destroy`.

The package follows the split of terraform-aws-eks and pulumi-eks, one module per concern:
`network` (VPC, subnets, NAT, routes), `iam` (control-plane and node roles, the IRSA-role helper,
`EksIdentity`), `control_plane` (cluster, access entry, OIDC provider, kubeconfig, Kubernetes
provider), `node_groups`, `addons` (managed add-ons, default StorageClass), `autoscaler` (Cluster
Autoscaler, its chart pin and node-template hints), `karpenter` (with `nodePools.provisioner: karpenter`: the
GPU pools' NodePools instead of their managed groups) and `shared_file_system` (EFS). `EksCluster`
calls them in order; what one step returns is what the next depends on.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.labels import cloud_labels
from config.models import EksConfig

from .. import Cluster, ClusterArgs
from ..common import Scope, required
from .addons import coredns, default_storage_class, ebs_csi, node_network_addons
from .autoscaler import CLUSTER_AUTOSCALER, cluster_autoscaler, cluster_autoscaler_values
from .control_plane import (
    control_plane,
    kubeconfig,
    kubernetes_provider,
    node_access_entry,
    oidc_identity,
    private_endpoint_access,
    secret_kubeconfig,
)
from .iam import EksIdentity, cluster_roles
from .karpenter import DISCOVERY_TAG, Karpenter, karpenter
from .network import carve_subnets, private_subnets
from .node_groups import NodeGroups, Placement, gpu_node_groups, system_node_groups, system_zones
from .shared_file_system import shared_file_system

# What other modules import from components.cluster.eks (the rest lives in, and is imported from, its module).
__all__ = ["CLUSTER_AUTOSCALER", "EksCluster", "EksIdentity", "carve_subnets", "cluster_autoscaler_values",
           "kubeconfig"]


class EksCluster(Cluster):
    """An EKS cluster with a CPU system node group, the configured GPU node groups, core add-ons
    (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver with IRSA), a default gp3 StorageClass, the
    Cluster Autoscaler and, for ReadWriteMany model caches, an EFS file system."""

    cluster: aws.eks.Cluster
    """The EKS cluster resource."""
    node_groups: dict[str, aws.eks.NodeGroup]
    """GPU node groups by pool name."""
    identity: EksIdentity
    """The cluster's IAM OIDC provider and issuer (for IRSA roles of later components)."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider (`identity.provider_arn`)."""
    oidc_issuer: pulumi.Output[str]
    """OIDC issuer URL of the cluster (`identity.issuer`)."""
    cluster_autoscaler: pulumi.Resource
    """The Cluster Autoscaler's Release."""
    shared_file_system: aws.efs.FileSystem | None
    """The EFS file system of ReadWriteMany model caches, when `ClusterArgs.shared_file_system`."""
    karpenter: Karpenter | None
    """Karpenter and its NodePools, with `nodePools.provisioner: karpenter` (then `node_groups` is empty)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:cluster:Eks", name, None, opts)
        cfg = args.cluster
        eks_cfg = cfg.eks or EksConfig()
        region = required(cfg.region, "cluster", "region")
        system = required(args.node_pools.system, "nodePools", "system")
        scope = Scope(name, self)
        tags = cloud_labels("cluster", args.labels)

        # Karpenter: GPU nodes come from a NodePool per pool, not from managed groups (the system pool stays managed:
        # it runs the controller).
        use_karpenter = args.node_pools.provisioner == "karpenter"
        subnets = private_subnets(scope, cfg.name, eks_cfg, cfg.zones, tags,
                                  {DISCOVERY_TAG: cfg.name} if use_karpenter else None)
        subnet_ids = subnets.nodes
        roles = cluster_roles(scope, region, tags, ssm=eks_cfg.ssm)
        self.cluster = control_plane(scope, cfg, eks_cfg, roles, subnets.control_plane, region, tags)
        private_endpoint_access(scope, self.cluster, eks_cfg, tags)
        self.identity = oidc_identity(scope, self.cluster, tags)
        node_access = node_access_entry(scope, self.cluster, roles, tags)
        network_addons = node_network_addons(scope, self.cluster, self.identity, region, tags)
        # Upgrade order (a kubernetesVersion bump): the control plane; vpc-cni and kube-proxy (their versions
        # are looked up from the cluster's version); the system groups; coredns and the EBS CSI driver, which
        # need the system nodes to run on when they are created; then the GPU groups, after every add-on.
        placement = Placement(self.cluster, roles, subnet_ids, system_zones(cfg.zones, eks_cfg),
                              after=[*roles.node_attachments, node_access, *network_addons])
        system_groups = system_node_groups(scope, args, system, placement)
        dns = coredns(scope, self.cluster, tags, after=system_groups)
        ebs_driver = ebs_csi(scope, self.cluster, self.identity, region, tags, after=system_groups)
        groups = NodeGroups(system_groups, {} if use_karpenter else gpu_node_groups(
            scope, args, eks_cfg, placement, after=[*network_addons, dns, ebs_driver]))
        self.node_groups = groups.gpu

        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.oidc_issuer = self.identity.issuer
        self.oidc_provider_arn = self.identity.provider_arn
        self.kubeconfig = secret_kubeconfig(self.cluster, region)
        self.provider = kubernetes_provider(scope, self.kubeconfig, after=[*groups.all, dns])
        default_storage_class(scope, self.provider, retain=cfg.deletion_protection, driver=ebs_driver)
        # With Karpenter the autoscaler still sizes the managed system groups; no GPU group exists for it to touch
        # (it discovers Auto Scaling groups by tag, and Karpenter's nodes belong to none).
        self.cluster_autoscaler = cluster_autoscaler(scope, self.provider, cfg, region, self.identity, tags,
                                                     after=groups.system)
        self.shared_file_system = (
            shared_file_system(scope, self.cluster, subnet_ids, self.identity, region, self.provider, tags,
                               after=groups.system)
            if args.shared_file_system else None)
        self.karpenter = (
            karpenter(scope, self.provider, self.cluster, cfg.name, region, eks_cfg, args.node_pools.gpu,
                      {p.name: args.node_labels(p) for p in args.node_pools.gpu}, roles.node, self.identity,
                      subnet_ids, tags, cloud_labels("gpu-pool", args.labels),
                      after=[*groups.system, dns, *network_addons])
            if use_karpenter else None)
        self.node_pool_names = pulumi.Output.all(*[g.node_group_name for g in groups.all])
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "provider": self.provider,
            "node_pool_names": self.node_pool_names,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer": self.oidc_issuer,
        })
