"""EksCluster under mocks: VPC, IAM, node groups, autoscaler hints, add-ons, IRSA, StorageClass."""

from __future__ import annotations

import copy
import ipaddress
import json

import pytest

from components.cluster.eks.network import carve_subnets
from components.labels import pool_labels
from config import catalog, validate
from config.capacity import machine_for
from config.models import GpuPool
from config.network import api_server_cidrs, eks_subnets
from tools.mockrun import ComponentRun

from .conftest import EKS_ENDPOINT, EKS_ISSUER, FAKE_CA, is_secret, run_cluster, unwrap

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
SUBNET = "aws:ec2/subnet:Subnet"
ASG_TAG = "aws:autoscaling/tag:Tag"
CA = "k8s.io/cluster-autoscaler/node-template"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def _extra_spot_type(gpu: str, gpus: int) -> str:
    """Another catalog instance type with the same GPU and count (widens the spot market)."""
    offered = [m.name for m in catalog.GPUS[gpu].eks_instance_types if m.gpus == gpus]
    assert len(offered) >= 2, f"the catalog offers only {offered} for {gpus}x {gpu} on EKS"
    return offered[1]


def eks_values() -> dict:
    """The prod-like EKS stack: p5 (8x H100) on-demand, p4de (8x A100-80GB) spot with MIG, and an
    L4 spot pool with an extra spot instance type. (p4de.24xlarge is the only 8x A100-80GB instance,
    so config.semantics rightly rejects any extra spot type for the p4de pool.)"""
    return {
        "cluster": {
            "provider": "eks",
            "name": "ai-prod",
            "region": "us-east-1",
            "zones": ZONES,
            "kubernetesVersion": "1.33",
            "deletionProtection": True,
            "eks": {"vpcCidr": "10.40.0.0/16", "amiType": "AL2023_x86_64_NVIDIA"},
        },
        "nodePools": {
            "system": {"machineType": "m6i.2xlarge", "min": 3, "max": 6},
            "gpu": [
                {"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand",
                 "min": 1, "max": 3, "sharing": {"strategy": "exclusive"}},
                {"name": "a100-spot", "gpu": "a100-80gb", "gpusPerNode": 8, "capacity": "spot",
                 "min": 0, "max": 2, "sharing": {"strategy": "mig", "profile": "3g.40gb"}},
                {"name": "l4-spot", "gpu": "l4", "gpusPerNode": 1, "capacity": "spot",
                 "min": 0, "max": 4, "spotInstanceTypes": [_extra_spot_type("l4", 1)]},
            ],
        },
        "labels": {"team": "ml-platform"},
    }


@pytest.fixture(scope="module")
def values() -> dict:
    return eks_values()


@pytest.fixture(scope="module")
def eks(values) -> ComponentRun:
    return run_cluster(values)


def groups(run: ComponentRun) -> dict[str, object]:
    """Node groups (recorded) by their pool label (the system pool: its first zone's group)."""
    found: dict[str, object] = {}
    for r in run.of_type(NODE_GROUP):
        found.setdefault(r.inputs["labels"]["ai-platform/pool"], r)
    return found


def system_groups(run: ComponentRun) -> list:
    return [r for r in run.of_type(NODE_GROUP) if r.inputs["labels"]["ai-platform/pool"] == "system"]


def gpu_groups(run: ComponentRun) -> dict[str, object]:
    return {k: v for k, v in groups(run).items() if k != "system"}


def pool(values: dict, name: str) -> GpuPool:
    return GpuPool.model_validate(next(p for p in values["nodePools"]["gpu"] if p["name"] == name))


# ------------------------------------------------------------------------------------ network


def test_vpc_with_public_and_private_subnets_per_zone(eks):
    vpc = eks.one("aws:ec2/vpc:Vpc").inputs
    assert vpc["cidrBlock"] == "10.40.0.0/16"
    assert vpc["enableDnsHostnames"] is True and vpc["enableDnsSupport"] is True
    subnets = [s.inputs for s in eks.of_type(SUBNET)]
    public = [s for s in subnets if s["tags"].get("kubernetes.io/role/elb") == "1"]
    private = [s for s in subnets if s["tags"].get("kubernetes.io/role/internal-elb") == "1"]
    control_plane = [s for s in subnets if "control-plane" in s["tags"]["Name"]]
    assert len(public) == len(private) == len(control_plane) == len(ZONES) == len(subnets) // 3
    assert sorted(s["availabilityZone"] for s in public) == ZONES
    assert sorted(s["availabilityZone"] for s in private) == ZONES
    for s in public + private:
        assert s["tags"]["kubernetes.io/cluster/ai-prod"] == "shared"
    nets = [ipaddress.IPv4Network(s["cidrBlock"]) for s in subnets]
    assert all(n.subnet_of(ipaddress.IPv4Network("10.40.0.0/16")) for n in nets)
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    # Pods take VPC addresses (VPC CNI): private subnets are the big ones.
    assert min(ipaddress.IPv4Network(s["cidrBlock"]).num_addresses for s in private) > \
        max(ipaddress.IPv4Network(s["cidrBlock"]).num_addresses for s in public)


def test_one_nat_gateway_in_a_public_subnet_and_routes(eks):
    nat = eks.one("aws:ec2/natGateway:NatGateway")
    igw = eks.one("aws:ec2/internetGateway:InternetGateway")
    public_urns = {s.urn for s in eks.of_type(SUBNET) if s.inputs["tags"].get("kubernetes.io/role/elb") == "1"}
    assert public_urns & set(nat.dependencies), "NAT gateway is not in a public subnet"
    tables = eks.of_type("aws:ec2/routeTable:RouteTable")
    assert len(tables) == 2
    routes = [t.inputs["routes"][0] for t in tables]
    assert {r["cidrBlock"] for r in routes} == {"0.0.0.0/0"}
    assert sum(1 for r in routes if r.get("natGatewayId")) == 1
    assert sum(1 for r in routes if r.get("gatewayId")) == 1
    assert any(igw.urn in t.dependencies for t in tables)
    assert len(eks.of_type("aws:ec2/routeTableAssociation:RouteTableAssociation")) == 2 * len(ZONES)


def test_existing_subnets_create_no_vpc(values):
    custom = copy.deepcopy(values)
    custom["cluster"]["eks"] = {"subnetIds": ["subnet-0aaa", "subnet-0bbb", "subnet-0ccc"]}
    run = run_cluster(custom)
    # Only the nodes' launch templates.
    assert {r.type for r in run.resources if r.type.startswith("aws:ec2/")} == {"aws:ec2/launchTemplate:LaunchTemplate"}
    assert run.one(CLUSTER).inputs["vpcConfig"]["subnetIds"] == ["subnet-0aaa", "subnet-0bbb", "subnet-0ccc"]
    for g in gpu_groups(run).values():
        assert g.inputs["subnetIds"] == ["subnet-0aaa", "subnet-0bbb", "subnet-0ccc"]
    # One system group per subnet (each subnet lies in one zone), named by its index.
    assert sorted((g.name, g.inputs["subnetIds"][0]) for g in system_groups(run)) == [
        ("test-system-0", "subnet-0aaa"), ("test-system-1", "subnet-0bbb"), ("test-system-2", "subnet-0ccc")]


def test_control_plane_gets_its_own_small_subnets(eks):
    """EKS puts its cross-account ENIs only in the cluster's vpc_config subnets: one /28 per zone that holds
    nothing else, whose CIDRs are the API server's addresses in the NetworkPolicies."""
    subnets = [s for s in eks.of_type(SUBNET) if "control-plane" in s.inputs["tags"]["Name"]]
    assert sorted(s.inputs["availabilityZone"] for s in subnets) == ZONES
    cidrs = sorted(s.inputs["cidrBlock"] for s in subnets)
    assert all(ipaddress.IPv4Network(c).prefixlen == 28 for c in cidrs)
    assert cidrs == sorted(api_server_cidrs(validate(eks_values(), "Pulumi.test.yaml")[0]))
    for s in subnets:  # neither load balancers nor the cluster's own discovery may pick them
        assert not any(k.startswith("kubernetes.io/") for k in s.inputs["tags"])
    cluster = eks.one(CLUSTER)
    assert len(cluster.inputs["vpcConfig"]["subnetIds"]) == len(ZONES)
    assert {s.urn for s in subnets} <= set(cluster.dependencies), "the cluster's subnets are these /28s"
    private = {s.urn for s in eks.of_type(SUBNET) if "kubernetes.io/role/internal-elb" in s.inputs["tags"]}
    assert not private & set(cluster.dependencies)
    for group in eks.of_type(NODE_GROUP):  # nodes stay out of them
        assert not set(cluster.inputs["vpcConfig"]["subnetIds"]) & set(group.inputs["subnetIds"])


def test_carve_subnets():
    private, public = carve_subnets("10.0.0.0/16", 3)
    assert private == ["10.0.0.0/18", "10.0.64.0/18", "10.0.128.0/18"]
    assert public == ["10.0.192.0/20", "10.0.208.0/20", "10.0.224.0/20"]
    private, public = carve_subnets("10.0.0.0/16", 4)
    assert len(private) == len(public) == 4
    with pytest.raises(ValueError, match="too small"):
        carve_subnets("10.0.0.0/26", 3)
    for vpc, zones in (("10.0.0.0/16", 3), ("10.0.0.0/16", 2), ("10.0.0.0/16", 4), ("10.0.0.0/20", 1)):
        carved = eks_subnets(vpc, zones)
        nets = [ipaddress.IPv4Network(c) for c in (*carved.private, *carved.public, *carved.control_plane)]
        assert len(carved.control_plane) == zones
        assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:]), (vpc, zones)
        assert all(n.subnet_of(ipaddress.IPv4Network(vpc)) for n in nets)
    # Adding them moved no existing subnet: the first two lists are what carve_subnets always returned.
    assert eks_subnets("10.0.0.0/16", 3).control_plane == ("10.0.255.208/28", "10.0.255.224/28", "10.0.255.240/28")


# ---------------------------------------------------------------------------------------- IAM


def role_by_trust(run: ComponentRun, service: str):
    found = [r for r in run.of_type("aws:iam/role:Role")
             if json.loads(r.inputs["assumeRolePolicy"])["Statement"][0]["Principal"].get("Service") == service]
    assert len(found) == 1, f"expected one role trusted by {service}"
    return found[0]


def policies_of(run: ComponentRun, role) -> set[str]:
    return {a.inputs["policyArn"] for a in run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
            if a.inputs["role"] == role.outputs["name"]}


def test_cluster_and_node_roles(eks):
    managed = "arn:aws:iam::aws:policy/"
    cluster_role = role_by_trust(eks, "eks.amazonaws.com")
    assert policies_of(eks, cluster_role) == {managed + "AmazonEKSClusterPolicy"}
    assert eks.one(CLUSTER).inputs["roleArn"] == cluster_role.outputs["arn"]
    node_role = role_by_trust(eks, "ec2.amazonaws.com")
    # No AmazonEKS_CNI_Policy (the VPC CNI has its own IRSA role) and no SSM unless eks.ssm:
    # tests/cluster/test_eks_control_plane.py.
    assert policies_of(eks, node_role) == {managed + p for p in (
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")}
    assert {g.inputs["nodeRoleArn"] for g in eks.of_type(NODE_GROUP)} == {node_role.outputs["arn"]}


def test_node_access_entry_before_node_groups(eks):
    entry = eks.one("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["type"] == "EC2_LINUX"
    node_role_arns = {g.inputs["nodeRoleArn"] for g in eks.of_type(NODE_GROUP)}
    assert {entry.inputs["principalArn"]} == node_role_arns
    for g in eks.of_type(NODE_GROUP):
        assert entry.urn in g.dependencies, g.name
    assert not eks.of_type("kubernetes:core/v1:ConfigMap"), "aws-auth is not used (authentication mode API)"


# ------------------------------------------------------------------------------------ cluster


def test_cluster(eks):
    c = eks.one(CLUSTER)
    assert c.inputs["name"] == "ai-prod"
    assert c.inputs["version"] == "1.33"
    vpc = c.inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    control_plane_ids = len([s for s in eks.of_type(SUBNET) if "control-plane" in s.inputs["tags"]["Name"]])
    assert len(vpc["subnetIds"]) == control_plane_ids == len(ZONES)
    assert c.inputs["accessConfig"]["authenticationMode"] == "API"
    assert set(c.inputs["enabledClusterLogTypes"]) == {
        "api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert c.inputs["tags"]["team"] == "ml-platform"


def test_public_endpoint_with_cidrs(values):
    custom = copy.deepcopy(values)
    custom["cluster"]["eks"].update(publicEndpoint=True, publicAccessCidrs=["203.0.113.0/24"])
    vpc = run_cluster(custom).one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["endpointPrivateAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_deletion_protection_is_protect_and_api_flag(eks, values):
    c = eks.one(CLUSTER)
    assert c.protect and c.inputs["deletionProtection"] is True
    custom = copy.deepcopy(values)
    custom["cluster"]["deletionProtection"] = False
    off = run_cluster(custom)
    assert not off.one(CLUSTER).protect and off.one(CLUSTER).inputs["deletionProtection"] is False
    assert off.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs["reclaimPolicy"] == "Delete"
    assert eks.one("kubernetes:storage.k8s.io/v1:StorageClass").inputs["reclaimPolicy"] == "Retain"


# -------------------------------------------------------------------------------- node groups


def test_instance_types_and_capacity(eks, values):
    g = gpu_groups(eks)
    h100 = pool(values, "h100-od")
    assert g["h100-od"].inputs["instanceTypes"] == [machine_for("eks", h100).name] == ["p5.48xlarge"]
    assert g["h100-od"].inputs["capacityType"] == "ON_DEMAND"
    assert g["a100-spot"].inputs["instanceTypes"] == ["p4de.24xlarge"]
    assert g["a100-spot"].inputs["capacityType"] == "SPOT"
    l4 = pool(values, "l4-spot")
    assert g["l4-spot"].inputs["instanceTypes"] == [machine_for("eks", l4).name, *l4.spot_instance_types]
    assert len(set(g["l4-spot"].inputs["instanceTypes"])) == 2
    assert g["l4-spot"].inputs["capacityType"] == "SPOT"


def test_extra_spot_types_only_on_spot_groups(eks):
    for name, g in gpu_groups(eks).items():
        if g.inputs["capacityType"] == "ON_DEMAND":
            assert len(g.inputs["instanceTypes"]) == 1, name


@pytest.mark.parametrize("name", ["h100-od", "a100-spot", "l4-spot"])
def test_gpu_group_settings(eks, values, name):
    g = gpu_groups(eks)[name]
    p = pool(values, name)
    assert g.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert g.inputs["scalingConfig"] == {"minSize": p.min, "maxSize": p.max, "desiredSize": p.min}
    assert "scalingConfig.desiredSize" in g.ignore_changes
    assert g.inputs["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "DEFAULT"}
    assert "diskSize" not in g.inputs  # the launch template's volume (tests/cluster/test_eks_nodes.py)
    assert g.inputs["labels"] == pool_labels(p)
    assert "nodeGroupName" not in g.inputs and g.inputs["nodeGroupNamePrefix"] == f"{name}-"
    assert not g.delete_before_replace


def test_every_gpu_group_has_the_gpu_taint(eks):
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    found = gpu_groups(eks)
    assert len(found) == 3
    for name, g in found.items():
        assert taint in g.inputs.get("taints", []), f"GPU node group {name} lacks the GPU taint"


@pytest.mark.parametrize("name", ["h100-od", "a100-spot", "l4-spot"])
def test_autoscaler_scale_from_zero_hints(eks, values, name):
    g = gpu_groups(eks)[name]
    expected = {f"{CA}/label/{k}": v for k, v in pool_labels(pool(values, name)).items()}
    expected[f"{CA}/taint/nvidia.com/gpu"] = "present:NoSchedule"
    assert expected.items() <= g.inputs["tags"].items()
    # ... and copied onto the node group's Auto Scaling group, where the autoscaler reads them.
    asg = f"eks-{name}-"
    asg_tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in eks.of_type(ASG_TAG)
                if t.inputs["autoscalingGroupName"].startswith(asg)}
    assert asg_tags == expected
    for t in eks.of_type(ASG_TAG):
        assert t.inputs["tag"]["propagateAtLaunch"] is False


def test_system_group_is_cpu_only(eks):
    s = groups(eks)["system"]
    assert s.inputs["amiType"] == "AL2023_x86_64_STANDARD"
    assert s.inputs["capacityType"] == "ON_DEMAND"
    assert s.inputs["instanceTypes"] == ["m6i.2xlarge"]
    assert s.inputs["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}  # 3..6 over 3 zones
    assert not s.inputs.get("taints")
    assert not any(k.startswith(CA) for k in s.inputs.get("tags", {}))


def test_bottlerocket_applies_to_gpu_groups_only(values):
    custom = copy.deepcopy(values)
    custom["cluster"]["eks"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    for gpu_pool in custom["nodePools"]["gpu"]:  # Bottlerocket pools share GPUs through its own settings
        gpu_pool["sharing"] = {"strategy": "exclusive"}
    run = run_cluster(custom)
    amis = {name: g.inputs["amiType"] for name, g in groups(run).items()}
    assert amis == {"system": "AL2023_x86_64_STANDARD", "h100-od": "BOTTLEROCKET_x86_64_NVIDIA",
                    "a100-spot": "BOTTLEROCKET_x86_64_NVIDIA", "l4-spot": "BOTTLEROCKET_x86_64_NVIDIA"}


# ---------------------------------------------------------------------------- add-ons and IRSA


def test_core_addons(eks):
    addons = {a.inputs["addonName"]: a for a in eks.of_type(ADDON)}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
    for a in addons.values():
        assert a.inputs["addonVersion"].endswith("-eksbuild.2") or "-eksbuild." in a.inputs["addonVersion"]
        assert a.inputs["resolveConflictsOnUpdate"] == "OVERWRITE"
        assert a.inputs["clusterName"] == "ai-prod"
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    for system in system_groups(eks):
        assert system.urn in addons["coredns"].dependencies
        assert system.urn in addons["aws-ebs-csi-driver"].dependencies


def test_ebs_csi_irsa(eks):
    oidc = eks.one("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc.inputs["url"] == EKS_ISSUER
    assert oidc.inputs["clientIdLists"] == ["sts.amazonaws.com"]
    ebs = next(a for a in eks.of_type(ADDON) if a.inputs["addonName"] == "aws-ebs-csi-driver")
    [role] = [r for r in eks.of_type("aws:iam/role:Role") if r.outputs["arn"] == ebs.inputs["serviceAccountRoleArn"]]
    assert policies_of(eks, role) == {"arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"}
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    host = EKS_ISSUER.removeprefix("https://")
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == oidc.outputs["arn"]
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
        f"{host}:aud": "sts.amazonaws.com",
    }


def test_default_gp3_storage_class(eks):
    sc = eks.one("kubernetes:storage.k8s.io/v1:StorageClass")
    provider = eks.one("pulumi:providers:kubernetes")
    assert sc.provider and sc.provider.startswith(provider.urn)
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["provisioner"] == "ebs.csi.aws.com"
    assert sc.inputs["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc.inputs["parameters"]["type"] == "gp3"
    assert sc.inputs["parameters"]["encrypted"] == "true"
    ebs = next(a for a in eks.of_type(ADDON) if a.inputs["addonName"] == "aws-ebs-csi-driver")
    assert ebs.urn in sc.dependencies


# ------------------------------------------------------------------------ outputs and provider


def test_kubeconfig_is_secret_and_uses_aws_get_token(eks):
    assert eks.secret["kubeconfig"] is True
    config = json.loads(eks.values["kubeconfig"])
    cluster = config["clusters"][0]["cluster"]
    assert cluster["server"] == EKS_ENDPOINT
    assert cluster["certificate-authority-data"] == FAKE_CA
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["command"] == "aws"
    args = exec_["args"]
    assert args[:2] == ["eks", "get-token"]
    assert args[args.index("--cluster-name") + 1] == "ai-prod"
    assert args[args.index("--region") + 1] == "us-east-1"


def test_outputs(eks):
    assert eks.values["endpoint"] == EKS_ENDPOINT
    assert eks.values["name"] == "ai-prod"
    # GPU groups are named from a prefix (the mocks' suffix stands for the provider's).
    names = eks.values["node_pool_names"]
    assert {"h100-od", "a100-spot", "l4-spot"} == {n.rsplit("-", 1)[0] for n in names if not n.startswith("test-")}
    assert len(eks.values["node_pool_names"]) == 3 + len(ZONES)


def test_provider_gets_the_secret_kubeconfig_and_waits_for_node_groups(eks):
    provider = eks.one("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert json.loads(unwrap(provider.inputs["kubeconfig"]))["clusters"][0]["cluster"]["server"] == EKS_ENDPOINT
    deps = set(provider.dependencies)
    assert eks.one(CLUSTER).urn in deps
    assert {g.urn for g in eks.of_type(NODE_GROUP)} <= deps


def test_component_shape(eks):
    component = eks.one("ai-platform:cluster:Eks")
    urns = [r.urn for r in eks.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"
    for r in eks.resources:
        if r is component:
            continue
        assert component.urn in eks.ancestors(r), f"{r.type} {r.name} is not a child of the component"
        assert r.name.startswith("test-"), r.name
    assert eks.output_keys[component.urn] == sorted(
        ["name", "endpoint", "kubeconfig", "provider", "node_pool_names", "oidc_provider_arn", "oidc_issuer"])
