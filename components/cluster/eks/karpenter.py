"""Karpenter on EKS (`nodePools.provisioner: karpenter`): GPU nodes from a NodePool per GPU pool instead of managed
node groups.

What is created (docs/clusters.md, "Karpenter"):
- the karpenter-crd release (the CRDs as templates, so `helm upgrade` updates them; the controller release then skips
  its own `crds/`: the chart's documented way, karpenter.sh "Upgrading": "karpenter-crd chart");
- the controller release in kube-system (2 replicas, PDB maxUnavailable 1, on the managed system pool) with an IRSA
  role (the EKS component runs every AWS-calling workload on IRSA; the cluster has no Pod Identity agent) and a
  least-privilege policy written from Karpenter's reference CloudFormation policy;
- the SQS interruption queue (SSE, 5-minute retention) and the EventBridge rules that feed it: spot interruption
  warnings, rebalance recommendations, instance state changes and AWS Health scheduled changes, so Karpenter drains
  a node before EC2 takes it;
- `karpenter.sh/discovery: <cluster>` tags on the node subnets and the cluster security group (what the node classes
  select);
- per GPU pool an EC2NodeClass (the pool's disk and reservation live on the node class) and a NodePool.

Nodes reuse the managed groups' node role and its EC2_LINUX access entry: the same permissions, one principal.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.labels import GPU_TAINT_EFFECT, GPU_TAINT_KEY, GPU_TAINT_VALUE, POOL_LABEL
from config.capacity import machine_for
from config.models import EksConfig, GpuPool

from ...helm import pin, release
from ..common import Scope, required
from .iam import EksIdentity, irsa_role, partition

KARPENTER = pin("karpenter")
KARPENTER_CRD = pin("karpenter-crd")
NAMESPACE = "kube-system"
SERVICE_ACCOUNT = "karpenter"
SUBJECT = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
DISCOVERY_TAG = "karpenter.sh/discovery"
NODE_CLASS_GROUP = "karpenter.k8s.aws"

# Karpenter's well-known labels (karpenter.sh/v1 NodePool requirements; kubernetes.io instance-type label).
CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# Pool capacity -> Karpenter capacity type. `reserved` covers On-Demand Capacity Reservations and Capacity Blocks
# for ML alike (karpenter.sh docs "NodePools", capacity-type: spot | on-demand | reserved; the reservedCapacity
# feature gate, BETA and on by default in the 1.14.1 chart's values.yaml).
CAPACITY_TYPES = {"on-demand": "on-demand", "spot": "spot", "reservation": "reserved"}

# The image family per configured AMI type. The alias picks the family's EKS-optimized AMI for the cluster's version
# and the instance's accelerator: for an NVIDIA instance type AL2023 resolves the `.../amazon-linux-2023/x86_64/nvidia`
# SSM parameter and Bottlerocket the `aws-k8s-<version>-nvidia` variant (karpenter-provider-aws
# pkg/providers/amifamily/al2023.go and bottlerocket.go, DescribeImageQuery by GPU/Neuron requirements).
# unverified: those files were not read at v1.14.1 here (no copy at hand); the behaviour is Karpenter's documented
# alias resolution ("AMI Selector Terms", alias), to be checked against the tag before relying on it.
AMI_ALIASES = {"AL2023_x86_64_NVIDIA": "al2023@latest", "BOTTLEROCKET_x86_64_NVIDIA": "bottlerocket@latest"}
ROOT_DEVICE = "/dev/xvda"
BOTTLEROCKET_DATA_DEVICE = "/dev/xvdb"
# As the managed groups' launch templates (node_groups.IMDS_HOP_LIMIT): IMDSv2 only, one hop, so pods on the pod
# network cannot read the node role's credentials.
IMDS_HOP_LIMIT = 1

# Disruption of GPU nodes: only empty nodes are consolidated (a GPU node with a model server on it is never
# repacked: its replicas would reload weights for minutes), after the same 10 minutes the Cluster Autoscaler waits
# (autoscaler.py scale-down-unneeded-time); at most one node of a pool is disrupted at a time (drift after a new AMI,
# expiry), and every drain honours the model servers' PodDisruptionBudgets (Karpenter evicts through the Eviction
# API: karpenter.sh docs "Disruption", "Termination Controller").
CONSOLIDATE_AFTER = "10m"
DISRUPTION_BUDGET_NODES = "1"
# A node is replaced after 30 days (Karpenter's own default, stated so a reviewer sees it): picks up AMI fixes even
# when no new AMI drifts it.
EXPIRE_AFTER = "720h"
# `forceUpgrade` pools: how long a drain may wait on PodDisruptionBudgets before Karpenter deletes the remaining pods,
# EKS's own managed-group window (config/upgrades.py DRAIN_WINDOW_SECONDS["eks"]). Without it a drain waits forever.
FORCED_DRAIN = "15m"

CONTROLLER_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
"""Karpenter's getting-started sizing (1 CPU, 1 Gi) with half a CPU requested: the controller is idle between
batches; memory is a limit, as it grows with the number of instance types it caches."""

# EventBridge rules of the reference template (karpenter-provider-aws website/content/en/preview/getting-started/
# getting-started-with-karpenter/cloudformation.yaml: ScheduledChangeRule, SpotInterruptionRule, RebalanceRule,
# InstanceStateChangeRule).
INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
# Regions the AWS Price List API answers in (docs.aws.amazon.com/awsaccountbilling "Using the AWS Price List Query
# API": us-east-1, eu-central-1, ap-south-1; cn-northwest-1 in China). unverified: read from memory of that page and
# of Karpenter's pricing client, not re-read for this change.
PRICING_REGIONS = ("us-east-1", "eu-central-1", "ap-south-1", "cn-northwest-1")
# The reference queue keeps messages 5 minutes: a spot warning comes 2 minutes before the reclaim, older ones are moot.
QUEUE_RETENTION_SECONDS = 300


def controller_policy(cluster: str, region: str, account: str, queue_arn: str, node_role_arn: str) -> dict[str, Any]:
    """The controller's IAM policy: Karpenter's reference `KarpenterControllerPolicy` (karpenter-provider-aws
    website/content/en/preview/getting-started/getting-started-with-karpenter/cloudformation.yaml), statement for
    statement. Writes are scoped by the `kubernetes.io/cluster/<cluster>: owned` and `karpenter.sh/nodepool` tags
    Karpenter puts on what it launches; reads are regional; PassRole names only the node role, to EC2 only."""
    p = partition(region)
    ec2 = f"arn:{p}:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster}": "owned"}
    owned_resource = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster}": "owned"}
    profile_request = {**owned, "aws:RequestTag/topology.kubernetes.io/region": region}
    profile_resource = {**owned_resource, "aws:ResourceTag/topology.kubernetes.io/region": region}
    profiles = f"arn:{p}:iam::{account}:instance-profile/*"
    launched = [f"{ec2}:*:{k}/*" for k in ("fleet", "instance", "volume", "network-interface", "launch-template")]
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "AllowScopedEC2InstanceActions", "Effect": "Allow",
         "Resource": [f"{ec2}::image/*", f"{ec2}::snapshot/*", f"{ec2}:*:spot-instances-request/*",
                      f"{ec2}:*:security-group/*", f"{ec2}:*:subnet/*", f"{ec2}:*:launch-template/*",
                      # Reserved pools launch into a capacity reservation: RunInstances/CreateFleet name it.
                      # unverified: the reference template at the v1.14.1 tag (read: the preview copy); ARN form
                      # from the EC2 service authorization reference (resource type capacity-reservation).
                      f"{ec2}:*:capacity-reservation/*"],
         "Action": ["ec2:RunInstances", "ec2:CreateFleet"]},
        {"Sid": "AllowScopedEC2InstanceActionsWithTags", "Effect": "Allow", "Resource": launched,
         "Action": ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
         "Condition": {"StringEquals": owned, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceCreationTagging", "Effect": "Allow", "Resource": launched,
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": {**owned, "ec2:CreateAction": ["RunInstances", "CreateFleet",
                                                                       "CreateLaunchTemplate"]},
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowScopedResourceTagging", "Effect": "Allow", "Resource": f"{ec2}:*:instance/*",
         "Action": "ec2:CreateTags",
         "Condition": {"StringEquals": owned_resource,
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                       "ForAllValues:StringEquals": {"aws:TagKeys": ["karpenter.sh/nodeclaim", "Name"]}}},
        {"Sid": "AllowScopedDeletion", "Effect": "Allow",
         "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
         "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
         "Condition": {"StringEquals": owned_resource,
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}}},
        {"Sid": "AllowRegionalReadActions", "Effect": "Allow", "Resource": "*",
         "Action": ["ec2:DescribeAvailabilityZones", "ec2:DescribeImages", "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeInstanceTypes", "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups", "ec2:DescribeSpotPriceHistory", "ec2:DescribeSubnets",
                    # capacityReservationSelectorTerms are resolved with DescribeCapacityReservations.
                    # unverified: listed in the v1.14.1 template per a third-party report; the preview copy read
                    # lacks it.
                    "ec2:DescribeCapacityReservations"],
         "Condition": {"StringEquals": {"aws:RequestedRegion": region}}},
        {"Sid": "AllowSSMReadActions", "Effect": "Allow",
         "Resource": f"arn:{p}:ssm:{region}::parameter/aws/service/*", "Action": "ssm:GetParameter"},
        # The pricing API has no resource-level permissions (read-only, public prices); it answers only in a few
        # regions, so the statement is limited to those (Karpenter's pricing client picks one of them by the
        # cluster's partition and region, karpenter-provider-aws pkg/providers/pricing).
        {"Sid": "AllowPricingReadActions", "Effect": "Allow", "Resource": "*", "Action": "pricing:GetProducts",
         "Condition": {"StringEquals": {"aws:RequestedRegion": list(PRICING_REGIONS)}}},
        {"Sid": "AllowInterruptionQueueActions", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]},
        {"Sid": "AllowPassingInstanceRole", "Effect": "Allow", "Resource": node_role_arn, "Action": "iam:PassRole",
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}},
        # Upstream grants the instance-profile actions on "*" with tag conditions; here also only on this account's
        # instance profiles (Karpenter creates one per EC2NodeClass for the node role).
        {"Sid": "AllowScopedInstanceProfileCreationActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:CreateInstanceProfile"],
         "Condition": {"StringEquals": profile_request,
                       "StringLike": {"aws:RequestTag/karpenter.sh/nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileTagActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:TagInstanceProfile"],
         "Condition": {"StringEquals": {**profile_resource, **profile_request},
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodeclass": "*",
                                      "aws:RequestTag/karpenter.sh/nodeclass": "*"}}},
        {"Sid": "AllowScopedInstanceProfileActions", "Effect": "Allow", "Resource": profiles,
         "Action": ["iam:AddRoleToInstanceProfile", "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile"],
         "Condition": {"StringEquals": profile_resource,
                       "StringLike": {"aws:ResourceTag/karpenter.sh/nodeclass": "*"}}},
        # Karpenter names its instance profiles itself; reading one is harmless and has no tag condition upstream.
        {"Sid": "AllowInstanceProfileReadActions", "Effect": "Allow",
         "Resource": profiles, "Action": "iam:GetInstanceProfile"},
        {"Sid": "AllowAPIServerEndpointDiscovery", "Effect": "Allow",
         "Resource": f"arn:{p}:eks:{region}:{account}:cluster/{cluster}", "Action": "eks:DescribeCluster"},
    ]}


def queue_policy(queue_arn: str) -> dict[str, Any]:
    """Only EventBridge (and SQS itself) may send to the interruption queue (the reference template's
    KarpenterInterruptionQueuePolicy)."""
    return {"Version": "2012-10-17", "Id": "EC2InterruptionPolicy", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
        "Action": "sqs:SendMessage", "Resource": queue_arn}]}


def controller_values(cluster: str, queue: pulumi.Input[str], role_arn: pulumi.Input[str]) -> dict[str, Any]:
    """Values of the karpenter chart (keys checked against its 1.14.1 values.yaml in
    tests/cluster/test_karpenter.py)."""
    return {
        "settings": {"clusterName": cluster, "interruptionQueue": queue,
                     # On by default in 1.14.1; stated because reserved pools need it.
                     "featureGates": {"reservedCapacity": True}},
        "serviceAccount": {"name": SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role_arn}},
        "replicas": 2,
        "podDisruptionBudget": {"name": "karpenter", "maxUnavailable": 1},
        # The controller never runs on a node it manages: the managed system pool (the chart's affinity also keeps
        # it off karpenter.sh/nodepool nodes).
        "nodeSelector": {"kubernetes.io/os": "linux", POOL_LABEL: "system"},
        "podSecurityContext": {"fsGroup": 65532, "runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                               "seccompProfile": {"type": "RuntimeDefault"}},
        "controller": {"resources": CONTROLLER_RESOURCES,
                       "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}},
    }


def node_class_spec(pool: GpuPool, eks_cfg: EksConfig, cluster: str, node_role: pulumi.Input[str],
                    tags: Mapping[str, str]) -> dict[str, Any]:
    """The EC2NodeClass of a pool: the configured NVIDIA image family, IMDSv2 with hop limit 1, encrypted gp3 volumes
    sized from `diskGi` (the managed launch templates' hardening, node_groups.launch_template), the discovery-tagged
    subnets and security group, the shared node role, and the pool's capacity reservations."""
    def ebs(size: int | None) -> dict[str, Any]:
        volume: dict[str, Any] = {"volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}
        if size is not None:
            volume["volumeSize"] = f"{size}Gi"
        return volume

    if eks_cfg.ami_type.startswith("BOTTLEROCKET"):
        # The OS volume keeps the image's size; container images and weights go to the data volume.
        devices: list[dict[str, Any]] = [{"deviceName": ROOT_DEVICE, "ebs": ebs(None)},
                   {"deviceName": BOTTLEROCKET_DATA_DEVICE, "ebs": ebs(pool.disk_gi)}]
    else:
        devices = [{"deviceName": ROOT_DEVICE, "ebs": ebs(pool.disk_gi), "rootVolume": True}]
    discovery = [{"tags": {DISCOVERY_TAG: cluster}}]
    spec: dict[str, Any] = {
        "role": node_role,
        "amiSelectorTerms": [{"alias": AMI_ALIASES[eks_cfg.ami_type]}],
        "subnetSelectorTerms": discovery,
        "securityGroupSelectorTerms": discovery,
        "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                            "httpPutResponseHopLimit": IMDS_HOP_LIMIT, "httpTokens": "required"},
        "blockDeviceMappings": devices,
        "tags": dict(tags),
    }
    if pool.capacity == "reservation" and pool.reservation is not None:
        r = pool.reservation
        spec["capacityReservationSelectorTerms"] = (
            [{"id": cr} for cr in r.names] if r.names else [{"tags": dict(r.tags)}])
    return spec


def _quantity_gi(gib: float) -> str:
    return f"{int(gib)}Gi" if float(gib).is_integer() else f"{int(gib * 1024)}Mi"


def node_pool_spec(pool: GpuPool, node_labels: Mapping[str, str]) -> dict[str, Any]:
    """The NodePool of a GPU pool: its instance types and capacity type, the managed groups' labels and GPU taint,
    limits from `max` nodes, empty-only consolidation with one node disrupted at a time."""
    machine = required(machine_for("eks", pool), "nodePools", "gpu", pool.name, "machineType")
    types = [machine.name]
    if pool.capacity == "spot":
        types += [t for t in pool.spot_instance_types if t != machine.name]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": NODE_CLASS_GROUP, "kind": "EC2NodeClass", "name": pool.name},
        "requirements": [
            {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": types},
            {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [CAPACITY_TYPES[pool.capacity]]},
        ],
        "taints": [{"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": GPU_TAINT_EFFECT}],
        "expireAfter": EXPIRE_AFTER,
    }
    if pool.force_upgrade:
        template_spec["terminationGracePeriod"] = FORCED_DRAIN
    # Limits count what the nodes' instance types offer: the largest of the pool's types, `max` times (extra spot
    # types carry the same GPU count, config.semantics).
    return {
        "template": {"metadata": {"labels": dict(node_labels)}, "spec": template_spec},
        "limits": {"nvidia.com/gpu": str(pool.max * pool.gpus_per_node), "cpu": str(pool.max * machine.vcpus),
                   "memory": _quantity_gi(pool.max * machine.memory_gib)},
        "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": CONSOLIDATE_AFTER,
                       "budgets": [{"nodes": DISRUPTION_BUDGET_NODES}]},
    }


@dataclass(frozen=True)
class Karpenter:
    """What the Karpenter step created."""

    controller: k8s.helm.v3.Release
    crds: k8s.helm.v3.Release
    queue: aws.sqs.Queue
    role: aws.iam.Role
    node_classes: dict[str, k8s.apiextensions.CustomResource]
    node_pools: dict[str, k8s.apiextensions.CustomResource]


def discovery_tags(scope: Scope, cluster: aws.eks.Cluster, subnet_ids: Sequence[pulumi.Input[str]],
                   cluster_name: str, tag_subnets: bool) -> list[aws.ec2.Tag]:
    """`karpenter.sh/discovery` on the cluster security group (EKS creates it; every managed node carries it) and,
    with `tag_subnets`, on configured subnets (the program's own subnets carry it in their `tags`: an ec2.Tag on
    a resource whose tags Pulumi manages would flip back and forth)."""
    sg = cluster.vpc_config.apply(lambda v: v.cluster_security_group_id or "")
    tags = [aws.ec2.Tag(f"{scope.name}-karpenter-discovery-sg", resource_id=sg, key=DISCOVERY_TAG, value=cluster_name,
                        opts=scope.opts())]
    if tag_subnets:
        tags += [aws.ec2.Tag(f"{scope.name}-karpenter-discovery-subnet-{i}", resource_id=s, key=DISCOVERY_TAG,
                             value=cluster_name, opts=scope.opts()) for i, s in enumerate(subnet_ids)]
    return tags


def interruption_queue(scope: Scope, cluster_name: str, tags: dict[str, str]) -> aws.sqs.Queue:
    """The SQS queue Karpenter reads interruption events from, its policy and the EventBridge rules feeding it."""
    queue = aws.sqs.Queue(f"{scope.name}-karpenter-queue", name=f"{cluster_name}-karpenter",
                          message_retention_seconds=QUEUE_RETENTION_SECONDS, sqs_managed_sse_enabled=True,
                          tags=tags, opts=scope.opts())
    aws.sqs.QueuePolicy(f"{scope.name}-karpenter-queue-policy", queue_url=queue.id,
                        policy=queue.arn.apply(lambda arn: json.dumps(queue_policy(arn))), opts=scope.opts())
    for key, pattern in INTERRUPTION_EVENTS.items():
        rule = aws.cloudwatch.EventRule(
            f"{scope.name}-karpenter-{key}", description=f"Karpenter interruption events of {cluster_name}: "
                                                         f"{pattern['detail-type'][0]}",
            event_pattern=json.dumps(pattern), tags=tags, opts=scope.opts())
        aws.cloudwatch.EventTarget(f"{scope.name}-karpenter-{key}-target", rule=rule.name, arn=queue.arn,
                                   target_id="KarpenterInterruptionQueueTarget", opts=scope.opts())
    return queue


def karpenter(scope: Scope, provider: k8s.Provider, cluster: aws.eks.Cluster, cluster_name: str, region: str,
              eks_cfg: EksConfig, pools: Sequence[GpuPool], node_labels: Mapping[str, Mapping[str, str]],
              node_role: aws.iam.Role, identity: EksIdentity, subnet_ids: Sequence[pulumi.Input[str]],
              tags: dict[str, str], node_tags: dict[str, str], after: Sequence[pulumi.Resource]) -> Karpenter:
    """Karpenter and a NodePool + EC2NodeClass per GPU pool, after `after` (the system node groups)."""
    discovery = discovery_tags(scope, cluster, subnet_ids, cluster_name, tag_subnets=bool(eks_cfg.subnet_ids))
    queue = interruption_queue(scope, cluster_name, tags)
    role = irsa_role(scope, f"{scope.name}-karpenter-role", identity, SUBJECT, tags)
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=scope.parent)).account_id
    policy = aws.iam.RolePolicy(
        f"{scope.name}-karpenter-policy", role=role.name,
        policy=pulumi.Output.all(account, queue.arn, node_role.arn).apply(
            lambda a: json.dumps(controller_policy(cluster_name, region, a[0], a[1], a[2]))),
        opts=scope.opts())
    crds = release(f"{scope.name}-karpenter-crd", KARPENTER_CRD, "karpenter-crd", NAMESPACE, {},
                   scope.opts(provider=provider, depends_on=list(after)))
    controller = release(
        f"{scope.name}-karpenter", KARPENTER, "karpenter", NAMESPACE,
        controller_values(cluster_name, queue.name, role.arn),
        scope.opts(provider=provider, depends_on=[*after, crds, policy, *discovery]), skip_crds=True)
    node_classes, node_pools = {}, {}
    for pool in pools:
        node_classes[pool.name] = k8s.apiextensions.CustomResource(
            f"{scope.name}-nodeclass-{pool.name}", api_version=f"{NODE_CLASS_GROUP}/v1", kind="EC2NodeClass",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels={POOL_LABEL: pool.name}),
            spec=node_class_spec(pool, eks_cfg, cluster_name, node_role.name, node_tags),
            opts=scope.opts(provider=provider, depends_on=[crds, controller]))
        node_pools[pool.name] = k8s.apiextensions.CustomResource(
            f"{scope.name}-nodepool-{pool.name}", api_version="karpenter.sh/v1", kind="NodePool",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=pool.name, labels={POOL_LABEL: pool.name}),
            spec=node_pool_spec(pool, node_labels[pool.name]),
            opts=scope.opts(provider=provider, depends_on=[crds, controller, node_classes[pool.name]]))
    return Karpenter(controller, crds, queue, role, node_classes, node_pools)
