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

Deletion protection: the cluster gets EKS's own `deletion_protection` flag (the API refuses to
delete it) and Pulumi `protect` (the engine refuses to plan its deletion), both from
`cluster.deletionProtection`. Turning protection off is a config change applied with `pulumi up`
before `pulumi destroy`.
"""

from __future__ import annotations

import ipaddress
import json
import math
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from config import catalog
from config.capacity import machine_for
from config.storage import EFS_STORAGE_CLASS
from config.models import EksConfig, GpuPool
from components.labels import (
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    POOL_LABEL,
    cloud_labels,
    pool_labels,
)

from ..helm import pin, release
from . import Cluster, ClusterArgs, exec_kubeconfig

CLUSTER_POLICIES = ("AmazonEKSClusterPolicy",)
NODE_POLICIES = (
    "AmazonEKSWorkerNodePolicy",
    "AmazonEKS_CNI_Policy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonSSMManagedInstanceCore",
)
EBS_CSI_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
EBS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:ebs-csi-controller-sa"
LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
SYSTEM_AMI = "AL2023_x86_64_STANDARD"
# The EKS API spells taint effects in enum form; Kubernetes shows this as NoSchedule.
TAINT_EFFECT = "NO_SCHEDULE"
CA_TEMPLATE = "k8s.io/cluster-autoscaler/node-template"
DEFAULT_STORAGE_CLASS = "gp3"
EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"
# kubernetes/autoscaler, cluster-autoscaler/charts/cluster-autoscaler/values.yaml at tag
# cluster-autoscaler-chart-9.59.0 (appVersion 1.35.0). The autoscaler's minor must match the
# cluster's: the image tag comes from CLUSTER_AUTOSCALER_IMAGES (tags cluster-autoscaler-1.xx.y).
CLUSTER_AUTOSCALER = pin("cluster-autoscaler")
CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"
CLUSTER_AUTOSCALER_SUBJECT = f"system:serviceaccount:kube-system:{CLUSTER_AUTOSCALER_SERVICE_ACCOUNT}"
EFS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:efs-csi-controller-sa"
NFS_PORT = 2049
# Model servers and download jobs run as this UID/GID; the EFS access point of each claim is owned
# by it (components.serving.pods).
MODEL_CACHE_UID = "1000"


def partition(region: str) -> str:
    """AWS partition of a region (ARNs of AWS-managed policies differ per partition)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


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
        raise ValueError(f"vpcCidr {vpc_cidr} is too small for {zones} zones (public subnets would be /{public[0].prefixlen})")
    return [str(n) for n in private], [str(n) for n in public]


def autoscaler_tags(pool: GpuPool, node_labels: Optional[Mapping[str, str]] = None,
                    resources: Optional[Mapping[str, int]] = None) -> dict[str, str]:
    """Cluster Autoscaler node-template hints: it can scale a pool up from zero only if it knows
    the labels, the taint and the extended resources a new node will carry (it knows the GPUs of
    p-/g- instance types, but not MIG slices or time-sliced replicas)."""
    labels = node_labels if node_labels is not None else pool_labels(pool)
    tags = {f"{CA_TEMPLATE}/label/{k}": v for k, v in labels.items()}
    tags[f"{CA_TEMPLATE}/taint/{GPU_TAINT_KEY}"] = f"{GPU_TAINT_VALUE}:{GPU_TAINT_EFFECT}"
    tags.update({f"{CA_TEMPLATE}/resources/{r}": str(n) for r, n in sorted((resources or {}).items())})
    return tags


def cluster_autoscaler_policy(cluster_name: str) -> dict:
    """The autoscaler's IAM policy (cloudprovider/aws/README.md, "Full Cluster Autoscaler Features Policy"), with
    the writes limited to this cluster's Auto Scaling groups by their auto-discovery tag."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Resource": "*", "Action": [
                "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeLaunchConfigurations", "autoscaling:DescribeScalingActivities",
                "ec2:DescribeImages", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplateVersions",
                "ec2:GetInstanceTypesFromInstanceRequirements", "eks:DescribeNodegroup"]},
            {"Effect": "Allow", "Resource": "*",
             "Action": ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        ],
    }


def cluster_autoscaler_values(cluster_name: str, region: str, version: str, role_arn: pulumi.Input[str]) -> dict:
    """Values of the cluster-autoscaler chart (keys checked in tests/cluster/test_chart_values.py)."""
    return {
        "cloudProvider": "aws",
        "awsRegion": region,
        "autoDiscovery": {"clusterName": cluster_name},
        "image": {"tag": catalog.CLUSTER_AUTOSCALER_IMAGES[version]},
        "rbac": {"serviceAccount": {"name": CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
                                    "annotations": {"eks.amazonaws.com/role-arn": role_arn}}},
        "extraArgs": {
            "expander": "least-waste",
            "balance-similar-node-groups": True,
            "skip-nodes-with-local-storage": False,
            "skip-nodes-with-system-pods": False,
            "max-node-provision-time": "25m0s",
            "scale-down-unneeded-time": "10m",
            "scale-down-delay-after-add": "10m",
        },
        # On the CPU system pool, never on a GPU node it might scale away.
        "nodeSelector": {POOL_LABEL: "system"},
        "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"cpu": "1", "memory": "600Mi"}},
        "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "runAsGroup": 65534,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "containerSecurityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                     "readOnlyRootFilesystem": True},
    }


def kubeconfig(cluster_name: str, region: str, endpoint: str, ca_data: str) -> str:
    """A kubeconfig that authenticates with `aws eks get-token`."""
    return exec_kubeconfig(f"eks-{cluster_name}", endpoint, ca_data, {
        "command": "aws",
        "args": ["eks", "get-token", "--cluster-name", cluster_name, "--region", region, "--output", "json"],
    })


def _assume_role(service: str) -> str:
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })


def _irsa_trust(provider_arn: str, issuer: str, subject: str) -> str:
    host = issuer.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:sub": subject, f"{host}:aud": "sts.amazonaws.com"}},
        }],
    })


class EksCluster(Cluster):
    """An EKS cluster with a CPU system node group, the configured GPU node groups, core add-ons
    (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver with IRSA) and a default gp3 StorageClass."""

    oidc_provider_arn: pulumi.Output[str]
    """ARN of the cluster's IAM OIDC provider (for IRSA roles of later components)."""
    oidc_issuer: pulumi.Output[str]
    """OIDC issuer URL of the cluster."""

    def __init__(self, name: str, args: ClusterArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ai-platform:cluster:Eks", name, None, opts)
        cfg = args.cluster
        eks_cfg = cfg.eks or EksConfig()
        assert cfg.region  # guaranteed by ClusterConfig validation
        system = args.node_pools.system
        if system is None:
            raise ValueError("provider eks needs nodePools.system (the CPU system pool)")
        region, cluster_name = cfg.region, cfg.name
        arn_prefix = f"arn:{partition(region)}:iam::aws:policy"
        child = pulumi.ResourceOptions(parent=self)
        tags = cloud_labels("cluster", args.labels)

        subnet_ids = self._network(name, cluster_name, eks_cfg, list(cfg.zones), tags, child)

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=_assume_role("eks.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        cluster_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-cluster-{p}", role=cluster_role.name,
                                         policy_arn=f"{arn_prefix}/{p}", opts=child)
            for p in CLUSTER_POLICIES
        ]
        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=_assume_role("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        node_attachments = [
            aws.iam.RolePolicyAttachment(f"{name}-node-{p.replace('_', '-')}", role=node_role.name,
                                         policy_arn=f"{arn_prefix}/{p}", opts=child)
            for p in NODE_POLICIES
        ]

        self.cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            version=cfg.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=eks_cfg.public_endpoint,
                public_access_cidrs=list(eks_cfg.public_access_cidrs) if eks_cfg.public_endpoint else None,
            ),
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                # The identity running Pulumi administers the cluster (it creates the add-ons'
                # StorageClass and everything after); other admins get access entries.
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            enabled_cluster_log_types=LOG_TYPES,
            deletion_protection=cfg.deletion_protection,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=cluster_attachments,
                                        protect=cfg.deletion_protection),
        )

        # Created before any node group: EKS would otherwise create an entry for the node role
        # itself, and a principal can only be in one access entry.
        node_access = aws.eks.AccessEntry(
            f"{name}-node-access",
            cluster_name=self.cluster.name,
            principal_arn=node_role.arn,
            type="EC2_LINUX",
            tags=tags,
            opts=child,
        )

        def addon(addon_name: str, **kwargs) -> aws.eks.Addon:
            # addon_version is left to EKS (the default version for the cluster's Kubernetes
            # version); OVERWRITE lets the managed add-on take over the self-managed copy.
            return aws.eks.Addon(
                f"{name}-addon-{addon_name}",
                cluster_name=self.cluster.name,
                addon_name=addon_name,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=tags,
                **kwargs,
            )

        # vpc-cni and kube-proxy must be in place before nodes can become Ready. The CNI enforces
        # NetworkPolicy (the tenancy component's default-deny) only with enableNetworkPolicy.
        vpc_cni = addon("vpc-cni", configuration_values=json.dumps({"enableNetworkPolicy": "true"}), opts=child)
        kube_proxy = addon("kube-proxy", opts=child)

        group_opts = pulumi.ResourceOptions(parent=self, depends_on=[*node_attachments, node_access, vpc_cni, kube_proxy],
                                            # The cluster autoscaler owns desired_size.
                                            ignore_changes=["scalingConfig.desiredSize"])
        system_group = aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=self.cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=subnet_ids,
            ami_type=SYSTEM_AMI,
            capacity_type="ON_DEMAND",
            instance_types=[system.machine_type],
            disk_size=system.disk_gi,
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=system.min, max_size=system.max,
                                                              desired_size=system.min),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            labels={POOL_LABEL: "system"},
            tags=cloud_labels("system-pool", args.labels),
            opts=group_opts,
        )

        self.node_groups: dict[str, aws.eks.NodeGroup] = {}
        for pool in args.node_pools.gpu:
            machine = machine_for("eks", pool)
            if machine is None:  # config.semantics rejects this before any resource exists
                raise ValueError(f"no EKS instance type with {pool.gpus_per_node}x {pool.gpu} for pool '{pool.name}'")
            spot = pool.capacity == "spot"
            instance_types = [machine.name]
            if spot:
                instance_types += [t for t in pool.spot_instance_types if t != machine.name]
            node_labels = args.node_labels(pool)
            ca_tags = autoscaler_tags(pool, node_labels, args.pool_node_resources.get(pool.name))
            group = aws.eks.NodeGroup(
                f"{name}-gpu-{pool.name}",
                node_group_name=pool.name,
                cluster_name=self.cluster.name,
                node_role_arn=node_role.arn,
                subnet_ids=subnet_ids,
                ami_type=eks_cfg.ami_type,
                capacity_type="SPOT" if spot else "ON_DEMAND",
                instance_types=instance_types,
                disk_size=pool.disk_gi,
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=pool.min, max_size=pool.max,
                                                                  desired_size=pool.min),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                labels=node_labels,
                taints=[aws.eks.NodeGroupTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect=TAINT_EFFECT)],
                tags={**cloud_labels("gpu-pool", args.labels), **ca_tags},
                # A fixed name, and delete before replace: GPU capacity (quota, scarce p-family
                # instances) rarely holds two copies of a group.
                opts=pulumi.ResourceOptions.merge(group_opts, pulumi.ResourceOptions(delete_before_replace=True)),
            )
            self.node_groups[pool.name] = group
            # Node-group tags stay on the EKS node group; the autoscaler reads the Auto Scaling
            # group's tags, so the node-template hints are copied there as well.
            asg_name = group.resources.apply(
                lambda rs: rs[0].autoscaling_groups[0].name if rs and rs[0].autoscaling_groups else None)
            for key, value in sorted(ca_tags.items()):
                hint = key.removeprefix(f"{CA_TEMPLATE}/").replace("/", "-").replace(".", "-")
                aws.autoscaling.Tag(
                    f"{name}-gpu-{pool.name}-ca-{hint}",
                    autoscaling_group_name=asg_name,
                    tag=aws.autoscaling.TagTagArgs(key=key, value=value, propagate_at_launch=False),
                    opts=child,
                )

        all_groups = [system_group, *self.node_groups.values()]
        coredns = addon("coredns", opts=pulumi.ResourceOptions(parent=self, depends_on=[system_group]))

        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        oidc = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=tags,
            opts=child,
        )
        ebs_role = self._irsa_role(f"{name}-ebs-csi-role", (oidc, issuer), EBS_CSI_SERVICE_ACCOUNT, tags)
        ebs_policy = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi-policy",
            role=ebs_role.name,
            policy_arn=f"{arn_prefix}/{EBS_CSI_POLICY}",
            opts=child,
        )
        ebs_csi = addon("aws-ebs-csi-driver", service_account_role_arn=ebs_role.arn,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[system_group, ebs_policy]))

        self.name = self.cluster.name
        self.endpoint = self.cluster.endpoint
        self.oidc_issuer = issuer
        self.oidc_provider_arn = oidc.arn
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data)
            .apply(lambda a: kubeconfig(a[0], region, a[1], a[2]))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*all_groups, coredns]),
        )
        k8s.storage.v1.StorageClass(
            f"{name}-{DEFAULT_STORAGE_CLASS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEFAULT_STORAGE_CLASS,
                annotations={"storageclass.kubernetes.io/is-default-class": "true"},
            ),
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            # Volumes are created in the zone the pod lands in (EBS volumes are zonal).
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # Protected stacks keep their data volumes when a claim is deleted.
            reclaim_policy="Retain" if cfg.deletion_protection else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[ebs_csi]),
        )
        self.cluster_autoscaler = self._cluster_autoscaler(name, cluster_name, region, cfg.kubernetes_version,
                                                           (oidc, issuer), tags, [system_group])
        self.shared_file_system: Optional[aws.efs.FileSystem] = None
        if args.shared_file_system:
            self.shared_file_system = self._efs(name, subnet_ids, (oidc, issuer), arn_prefix, tags, addon,
                                                [system_group])
        self.node_pool_names = pulumi.Output.all(*[g.node_group_name for g in all_groups])
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "provider": self.provider,
            "node_pool_names": self.node_pool_names,
            "oidc_provider_arn": self.oidc_provider_arn,
            "oidc_issuer": self.oidc_issuer,
        })

    def _irsa_role(self, resource_name: str, identity, subject: str, tags: dict[str, str]) -> aws.iam.Role:
        """An IAM role only the Kubernetes service account `subject` of this cluster can assume (IRSA).

        `identity` is the cluster's (OIDC provider, issuer URL)."""
        oidc, issuer = identity
        return aws.iam.Role(
            resource_name,
            assume_role_policy=pulumi.Output.all(oidc.arn, issuer).apply(lambda a: _irsa_trust(a[0], a[1], subject)),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _cluster_autoscaler(self, name: str, cluster_name: str, region: str, version: str, identity,
                            tags: dict[str, str], after: list[pulumi.Resource]) -> k8s.helm.v3.Release:
        """The Cluster Autoscaler: scales the managed node groups (GPU pools from zero) for Pending pods.

        EKS tags every managed node group's Auto Scaling group for auto-discovery
        (`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>: owned`); the role may
        change the size only of groups carrying the second tag. Flags: pods pick their pool by
        nodeSelector, so the expander (least-waste, the default: least idle CPU, then memory) rarely
        matters; model servers' memory-backed /dev/shm counts as local storage,
        which would otherwise pin every GPU node forever; GPU nodes take long to boot.
        """
        child = pulumi.ResourceOptions(parent=self)
        role = self._irsa_role(f"{name}-cluster-autoscaler-role", identity, CLUSTER_AUTOSCALER_SUBJECT, tags)
        policy = aws.iam.RolePolicy(
            f"{name}-cluster-autoscaler-policy",
            role=role.name,
            policy=json.dumps(cluster_autoscaler_policy(cluster_name)),
            opts=child,
        )
        return release(
            f"{name}-cluster-autoscaler", CLUSTER_AUTOSCALER, "cluster-autoscaler", "kube-system",
            cluster_autoscaler_values(cluster_name, region, version, role.arn),
            pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[*after, policy]))

    def _efs(self, name: str, subnet_ids, identity, arn_prefix: str, tags: dict[str, str], addon,
             after: list[pulumi.Resource]) -> aws.efs.FileSystem:
        """EFS for ReadWriteMany model caches: file system, mount targets, CSI add-on, StorageClass.

        Elastic throughput: model loads are bursts of large sequential reads, which bursting mode
        would throttle once its credits run out. Mount targets accept NFS only from the cluster
        security group (every managed node carries it). Claims get their own access point owned
        by the model servers' UID, so pods never need root to write the cache.
        """
        child = pulumi.ResourceOptions(parent=self)
        file_system = aws.efs.FileSystem(
            f"{name}-efs",
            encrypted=True,
            performance_mode="generalPurpose",
            throughput_mode="elastic",
            tags={**tags, "Name": "model-cache"},
            opts=child,
        )
        nfs = aws.ec2.SecurityGroup(
            f"{name}-efs-sg",
            description="NFS from the EKS nodes to the model-cache file system",
            vpc_id=self.cluster.vpc_config.vpc_id,
            ingress=[aws.ec2.SecurityGroupIngressArgs(
                protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT,
                security_groups=[self.cluster.vpc_config.cluster_security_group_id],
                description="NFS from the cluster security group")],
            tags=tags,
            opts=child,
        )
        targets = [
            aws.efs.MountTarget(f"{name}-efs-{i}", file_system_id=file_system.id, subnet_id=subnet,
                                security_groups=[nfs.id], opts=child)
            for i, subnet in enumerate(subnet_ids)
        ]
        role = self._irsa_role(f"{name}-efs-csi-role", identity, EFS_CSI_SERVICE_ACCOUNT, tags)
        policy = aws.iam.RolePolicyAttachment(f"{name}-efs-csi-policy", role=role.name,
                                              policy_arn=f"{arn_prefix}/{EFS_CSI_POLICY}", opts=child)
        efs_csi = addon("aws-efs-csi-driver", service_account_role_arn=role.arn,
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, policy]))
        k8s.storage.v1.StorageClass(
            f"{name}-{EFS_STORAGE_CLASS}",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=EFS_STORAGE_CLASS),
            provisioner="efs.csi.aws.com",
            parameters={
                "provisioningMode": "efs-ap",
                "fileSystemId": file_system.id,
                "directoryPerms": "750",
                "uid": MODEL_CACHE_UID,
                "gid": MODEL_CACHE_UID,
                "basePath": "/model-cache",
            },
            # The cache is re-downloadable; deleting a claim frees its directory.
            reclaim_policy="Delete",
            volume_binding_mode="Immediate",
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[efs_csi, *targets]),
        )
        return file_system

    def _network(self, name: str, cluster_name: str, eks_cfg: EksConfig, zones: Sequence[str],
                 tags: dict[str, str], child: pulumi.ResourceOptions) -> pulumi.Input[list]:
        """Private subnet ids for the cluster and nodes: the configured ones or a new VPC's."""
        if eks_cfg.subnet_ids:
            return list(eks_cfg.subnet_ids)
        private_cidrs, public_cidrs = carve_subnets(eks_cfg.vpc_cidr, len(zones))
        shared = {f"kubernetes.io/cluster/{cluster_name}": "shared"}
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=eks_cfg.vpc_cidr,
            # EKS private endpoints and node registration need VPC DNS.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags={**tags, "Name": f"{cluster_name}-vpc"},
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id,
                                      tags={**tags, "Name": f"{cluster_name}-igw"}, opts=child)
        public, private = [], []
        for zone, pub_cidr, priv_cidr in zip(zones, public_cidrs, private_cidrs):
            public.append(aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=pub_cidr,
                tags={**tags, **shared, "Name": f"{cluster_name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=child,
            ))
            private.append(aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=priv_cidr,
                tags={**tags, **shared, "Name": f"{cluster_name}-private-{zone}", "kubernetes.io/role/internal-elb": "1"},
                opts=child,
            ))
        eip = aws.ec2.Eip(f"{name}-nat-eip", domain="vpc", tags={**tags, "Name": f"{cluster_name}-nat"},
                          opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]))
        nat = aws.ec2.NatGateway(
            f"{name}-nat",
            allocation_id=eip.id,
            subnet_id=public[0].id,
            tags={**tags, "Name": f"{cluster_name}-nat"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=igw.id)],
            tags={**tags, "Name": f"{cluster_name}-public"},
            opts=child,
        )
        private_rt = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
            tags={**tags, "Name": f"{cluster_name}-private"},
            opts=child,
        )
        for zone, pub, priv in zip(zones, public, private):
            aws.ec2.RouteTableAssociation(f"{name}-public-rta-{zone}", subnet_id=pub.id,
                                          route_table_id=public_rt.id, opts=child)
            aws.ec2.RouteTableAssociation(f"{name}-private-rta-{zone}", subnet_id=priv.id,
                                          route_table_id=private_rt.id, opts=child)
        return [s.id for s in private]
