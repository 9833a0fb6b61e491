"""EFS for ReadWriteMany model caches: file system, mount targets, CSI add-on, StorageClass.

Elastic throughput: model loads are bursts of large sequential reads, which bursting mode would
throttle once its credits run out. Mount targets accept NFS only from the cluster security group
(every managed node carries it). Claims get their own access point owned by the model servers'
UID, so pods never need root to write the cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from config.engine_profiles import SERVER_UID
from config.storage import EFS_STORAGE_CLASS

from ..common import Scope
from .addons import addon
from .iam import EksIdentity, managed_irsa_role

EFS_CSI_POLICY = "service-role/AmazonEFSCSIDriverPolicy"
EFS_CSI_SERVICE_ACCOUNT = "system:serviceaccount:kube-system:efs-csi-controller-sa"
NFS_PORT = 2049
# Model servers and download jobs run as this UID/GID; the EFS access point of each claim is owned by it.
MODEL_CACHE_UID = str(SERVER_UID)


def shared_file_system(scope: Scope, cluster: aws.eks.Cluster, subnet_ids: Sequence[pulumi.Input[str]],
                       identity: EksIdentity, region: str, provider: k8s.Provider, tags: dict[str, str],
                       after: Sequence[pulumi.Resource]) -> aws.efs.FileSystem:
    """The file system, one mount target per node subnet, the EFS CSI add-on (after `after`, the
    system node group) with its IRSA role, and the `ai-platform-rwx` StorageClass."""
    name = scope.name
    file_system = aws.efs.FileSystem(
        f"{name}-efs",
        encrypted=True,
        performance_mode="generalPurpose",
        throughput_mode="elastic",
        tags={**tags, "Name": "model-cache"},
        opts=scope.opts(),
    )
    nfs = aws.ec2.SecurityGroup(
        f"{name}-efs-sg",
        description="NFS from the EKS nodes to the model-cache file system",
        vpc_id=cluster.vpc_config.vpc_id,
        ingress=[aws.ec2.SecurityGroupIngressArgs(
            protocol="tcp", from_port=NFS_PORT, to_port=NFS_PORT,
            security_groups=[cluster.vpc_config.cluster_security_group_id],
            description="NFS from the cluster security group")],
        tags=tags,
        opts=scope.opts(),
    )
    targets = [
        aws.efs.MountTarget(f"{name}-efs-{i}", file_system_id=file_system.id, subnet_id=subnet,
                            security_groups=[nfs.id], opts=scope.opts())
        for i, subnet in enumerate(subnet_ids)
    ]
    role, policy = managed_irsa_role(scope, f"{name}-efs-csi", identity, EFS_CSI_SERVICE_ACCOUNT, EFS_CSI_POLICY,
                                     region, tags)
    efs_csi = addon(scope, cluster, "aws-efs-csi-driver", tags, scope.opts(depends_on=[*after, policy]),
                    service_account_role_arn=role.arn)
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
        opts=scope.opts(provider=provider, depends_on=[efs_csi, *targets]),
    )
    return file_system
