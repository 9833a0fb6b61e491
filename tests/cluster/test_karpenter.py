"""Karpenter on EKS (`nodePools.provisioner: karpenter`, issue 20): IAM, interruption queue, discovery tags, the
charts as rendered, and the EC2NodeClass / NodePool of each GPU pool, validated against the karpenter-crd CRDs."""

from __future__ import annotations

import copy
import json

import pytest

from components.cluster import ClusterArgs
from components.cluster.eks.karpenter import KARPENTER, KARPENTER_CRD, controller_values
from config import semantics
from config.capacity import plan
from config.errors import ConfigError
from config.loader import validate
from config.models import StackConfig
from tests.chart_values import FREE, check_values
from tests.conftest import stack_values
from tests.render.conftest import require_charts
from tools import render
from tools.mockrun import run_component
from tools.plan import k8s_object

from .test_eks import NODE_GROUP, eks_values

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
RESERVATION_ID = "cr-0123456789abcdef0"


def karpenter_values() -> dict:
    """A small EKS stack on Karpenter: H100 on-demand, L4 spot with an extra spot type, H100 from a Capacity Block."""
    values = eks_values()
    values["nodePools"]["provisioner"] = "karpenter"
    l4 = values["nodePools"]["gpu"][2]
    values["nodePools"]["gpu"] = [
        {"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": 3,
         "forceUpgrade": True},
        {**l4, "min": 0},
        {"name": "h100-res", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "reservation", "min": 0, "max": 2,
         "diskGi": 500, "reservation": {"names": [RESERVATION_ID], "capacityBlock": True}},
    ]
    return values


def build(values: dict) -> tuple[StackConfig, object]:
    """Validated config and plan. The capacity availability check (`_pool_capacity`, another change of issue 20)
    may still refuse reservation capacity on p5: that one issue is tolerated here, nothing else."""
    cfg = StackConfig.model_validate(values)
    issues = [i for i in semantics.check(cfg) if not str(i).startswith("ai-platform:nodePools.gpu[2].capacity")]
    assert not issues, [str(i) for i in issues]
    capacity, fit = plan(cfg)
    assert not fit, [str(i) for i in fit]
    return cfg, capacity


@pytest.fixture(scope="module")
def run():
    from components.cluster.eks import EksCluster

    cfg, capacity = build(karpenter_values())
    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=capacity, labels=cfg.labels)
    return run_component(lambda: EksCluster("test", args))


def objects(run, kind: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: k8s_object(r) for r in run.of_type(kind)}


def policy_of(run, name: str) -> dict:
    [p] = [r for r in run.of_type("aws:iam/rolePolicy:RolePolicy") if r.name == name]
    return json.loads(p.inputs["policy"])


# ---------------------------------------------------------------------------------------------- AWS


def test_gpu_pools_get_no_managed_node_group_and_the_system_pool_stays(run):
    pools = {g.inputs["labels"]["ai-platform/pool"] for g in run.of_type(NODE_GROUP)}
    assert pools == {"system"}
    assert not run.of_type("aws:autoscaling/tag:Tag"), "no GPU Auto Scaling group carries autoscaler hints"
    # The autoscaler stays for the managed system groups (one per zone).
    assert [r.inputs["chart"] for r in run.of_type(RELEASE) if r.inputs["chart"] == "cluster-autoscaler"]


def test_controller_role_is_irsa_for_the_karpenter_service_account(run):
    [role] = [r for r in run.of_type("aws:iam/role:Role") if r.name == "test-karpenter-role"]
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert len(trust) == 1 and trust[0]["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:karpenter" in trust[0]["Condition"]["StringEquals"].values()
    [controller] = [r for r in run.of_type(RELEASE) if r.inputs["chart"].endswith("/karpenter")]
    assert controller.inputs["values"]["serviceAccount"]["annotations"] == {
        "eks.amazonaws.com/role-arn": role.outputs["arn"]}


def test_controller_policy_is_least_privilege(run):
    statements = policy_of(run, "test-karpenter-policy")["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    for s in statements:
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        assert not any(a == "*" or a.endswith(":*") for a in actions), s["Sid"]
        # A statement on every resource is a read or is conditioned.
        if s["Resource"] == "*":
            assert "Condition" in s or all(":Get" in a or ":Describe" in a for a in actions), s["Sid"]
    # Launches and deletions only of what carries this cluster's ownership tag.
    for sid in ("AllowScopedEC2InstanceActionsWithTags", "AllowScopedDeletion"):
        assert by_sid[sid]["Condition"]["StringEquals"].get(
            "aws:RequestTag/kubernetes.io/cluster/ai-prod" if "WithTags" in sid
            else "aws:ResourceTag/kubernetes.io/cluster/ai-prod") == "owned"
    assert by_sid["AllowScopedDeletion"]["Action"] == ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"]
    # PassRole: only the shared node role, only to EC2.
    [node_role] = [r for r in run.of_type("aws:iam/role:Role") if r.name == "test-node-role"]
    assert by_sid["AllowPassingInstanceRole"]["Resource"] == node_role.outputs["arn"]
    assert by_sid["AllowPassingInstanceRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    [queue] = run.of_type("aws:sqs/queue:Queue")
    assert by_sid["AllowInterruptionQueueActions"]["Resource"] == queue.outputs["arn"]
    assert by_sid["AllowAPIServerEndpointDiscovery"]["Resource"].endswith(":cluster/ai-prod")
    assert "ec2:DescribeCapacityReservations" in by_sid["AllowRegionalReadActions"]["Action"]


def test_interruption_queue_and_rules(run):
    [queue] = run.of_type("aws:sqs/queue:Queue")
    assert queue.inputs["sqsManagedSseEnabled"] is True and queue.inputs["messageRetentionSeconds"] == 300
    [qp] = run.of_type("aws:sqs/queuePolicy:QueuePolicy")
    [stmt] = json.loads(qp.inputs["policy"])["Statement"]
    assert stmt["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert stmt["Action"] == "sqs:SendMessage" and stmt["Resource"] == queue.outputs["arn"]
    patterns = {json.loads(r.inputs["eventPattern"])["detail-type"][0] for r in run.of_type(
        "aws:cloudwatch/eventRule:EventRule")}
    assert patterns == {"AWS Health Event", "EC2 Spot Instance Interruption Warning",
                        "EC2 Instance Rebalance Recommendation", "EC2 Instance State-change Notification"}
    targets = run.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == 4 and {t.inputs["arn"] for t in targets} == {queue.outputs["arn"]}
    [controller] = [r for r in run.of_type(RELEASE) if r.inputs["chart"].endswith("/karpenter")]
    assert controller.inputs["values"]["settings"]["interruptionQueue"] == "ai-prod-karpenter"
    assert controller.inputs["values"]["settings"]["clusterName"] == "ai-prod"


def test_discovery_tags_on_private_subnets_and_the_cluster_security_group(run):
    subnets = [s.inputs["tags"] for s in run.of_type("aws:ec2/subnet:Subnet")]
    private = [t for t in subnets if t.get("kubernetes.io/role/internal-elb") == "1"]
    assert len(private) == 3 and all(t["karpenter.sh/discovery"] == "ai-prod" for t in private)
    assert not [t for t in subnets if "karpenter.sh/discovery" in t and t not in private]
    [sg] = run.of_type("aws:ec2/tag:Tag")
    assert sg.inputs == {"resourceId": "sg-0c1d2e3f4a5b67890", "key": "karpenter.sh/discovery", "value": "ai-prod"}


def test_configured_subnets_are_tagged_by_id():
    values = karpenter_values()
    values["cluster"]["eks"] = {"subnetIds": ["subnet-0aaa", "subnet-0bbb"], "amiType": "AL2023_x86_64_NVIDIA"}
    values["cluster"]["zones"] = values["cluster"]["zones"][:2]
    cfg, capacity = build(values)
    from components.cluster.eks import EksCluster

    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=capacity, labels=cfg.labels)
    tagged = {t.inputs["resourceId"] for t in run_component(lambda: EksCluster("test", args)).of_type(
        "aws:ec2/tag:Tag")}
    assert tagged == {"subnet-0aaa", "subnet-0bbb", "sg-0c1d2e3f4a5b67890"}


# ------------------------------------------------------------------------------ NodePool / EC2NodeClass


def test_node_pools_capacity_types_instance_types_and_taint(run):
    pools = objects(run, NODE_POOL)
    assert set(pools) == {"h100-od", "l4-spot", "h100-res"}

    def req(name: str, key: str) -> list[str]:
        [r] = [r for r in pools[name]["spec"]["template"]["spec"]["requirements"] if r["key"] == key]
        assert r["operator"] == "In"
        return r["values"]

    assert req("h100-od", "karpenter.sh/capacity-type") == ["on-demand"]
    assert req("l4-spot", "karpenter.sh/capacity-type") == ["spot"]
    assert req("h100-res", "karpenter.sh/capacity-type") == ["reserved"]
    assert req("h100-od", "node.kubernetes.io/instance-type") == ["p5.48xlarge"]
    l4_spot = next(p for p in karpenter_values()["nodePools"]["gpu"] if p["name"] == "l4-spot")
    assert req("l4-spot", "node.kubernetes.io/instance-type") == ["g6.xlarge", *l4_spot["spotInstanceTypes"]]
    for name, p in pools.items():
        spec = p["spec"]["template"]["spec"]
        # The managed groups' taint (NO_SCHEDULE in the EKS API is NoSchedule in Kubernetes).
        assert spec["taints"] == [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]
        assert spec["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name}
        assert spec["expireAfter"] == "720h"
    # forceUpgrade bounds a PDB-blocked drain as EKS does for managed groups (15 min).
    assert pools["h100-od"]["spec"]["template"]["spec"]["terminationGracePeriod"] == "15m"
    assert "terminationGracePeriod" not in pools["l4-spot"]["spec"]["template"]["spec"]


def test_node_pool_labels_match_the_managed_groups(run):
    pools = objects(run, NODE_POOL)
    labels = pools["h100-res"]["spec"]["template"]["metadata"]["labels"]
    assert labels["ai-platform/pool"] == "h100-res" and labels["ai-platform/capacity"] == "reservation"
    assert labels["ai-platform/gpu"] == "h100-80gb" and labels["ai-platform/gpus-per-node"] == "8"
    # The same labels a managed group of this pool would carry (the managed path on the same stack).
    managed = eks_values()
    managed_run = _managed_run(managed)
    group_labels = {g.inputs["labels"]["ai-platform/pool"]: g.inputs["labels"] for g in managed_run.of_type(NODE_GROUP)}
    assert pools["h100-od"]["spec"]["template"]["metadata"]["labels"] == group_labels["h100-od"]


def _managed_run(values: dict):
    from .conftest import run_cluster

    return run_cluster(values)


def test_limits_from_max_nodes(run):
    pools = objects(run, NODE_POOL)
    # h100-od: 3 x p5.48xlarge (8 GPUs, 192 vCPU, 2,048 GiB) -> 24 GPUs, 576 vCPU, 6,144 GiB.
    assert pools["h100-od"]["spec"]["limits"] == {"nvidia.com/gpu": "24", "cpu": "576", "memory": "6144Gi"}
    # l4-spot: 4 x g6.xlarge (1 GPU, 4 vCPU, 16 GiB) -> 4 GPUs, 16 vCPU, 64 GiB.
    assert pools["l4-spot"]["spec"]["limits"] == {"nvidia.com/gpu": "4", "cpu": "16", "memory": "64Gi"}
    # h100-res: 2 x p5.48xlarge -> 16 GPUs, 384 vCPU, 4,096 GiB.
    assert pools["h100-res"]["spec"]["limits"] == {"nvidia.com/gpu": "16", "cpu": "384", "memory": "4096Gi"}


def test_disruption_only_empty_gpu_nodes_one_at_a_time(run):
    for name, p in objects(run, NODE_POOL).items():
        assert p["spec"]["disruption"] == {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m",
                                           "budgets": [{"nodes": "1"}]}, name


def test_node_classes_are_hardened_like_the_launch_templates(run):
    classes = objects(run, NODE_CLASS)
    assert set(classes) == {"h100-od", "l4-spot", "h100-res"}
    [node_role] = [r for r in run.of_type("aws:iam/role:Role") if r.name == "test-node-role"]
    for c in classes.values():
        spec = c["spec"]
        assert spec["amiSelectorTerms"] == [{"alias": "al2023@latest"}]
        assert spec["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled",
                                           "httpPutResponseHopLimit": 1, "httpTokens": "required"}
        assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [
            {"tags": {"karpenter.sh/discovery": "ai-prod"}}]
        assert spec["role"] == node_role.outputs["name"]
        assert spec["tags"]["team"] == "ml-platform" and spec["tags"]["component"] == "gpu-pool"
    # diskGi: 300 by default, 500 on h100-res.
    assert classes["h100-od"]["spec"]["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "rootVolume": True,
                                                                  "ebs": {"volumeSize": "300Gi", "volumeType": "gp3",
                                                                          "encrypted": True,
                                                                          "deleteOnTermination": True}}]
    assert classes["h100-res"]["spec"]["blockDeviceMappings"][0]["ebs"]["volumeSize"] == "500Gi"


def test_reservation_pool_selects_its_reservations(run):
    classes = objects(run, NODE_CLASS)
    assert classes["h100-res"]["spec"]["capacityReservationSelectorTerms"] == [{"id": RESERVATION_ID}]
    assert "capacityReservationSelectorTerms" not in classes["h100-od"]["spec"]


def test_reservation_by_tags_and_bottlerocket():
    values = karpenter_values()
    values["cluster"]["eks"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    values["nodePools"]["gpu"][2]["reservation"] = {"affinity": "any", "tags": {"team": "ml"}}
    cfg, capacity = build(values)
    from components.cluster.eks import EksCluster

    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=capacity, labels=cfg.labels)
    classes = objects(run_component(lambda: EksCluster("test", args)), NODE_CLASS)
    assert classes["h100-res"]["spec"]["capacityReservationSelectorTerms"] == [{"tags": {"team": "ml"}}]
    assert classes["h100-res"]["spec"]["amiSelectorTerms"] == [{"alias": "bottlerocket@latest"}]
    devices = {d["deviceName"]: d["ebs"] for d in classes["h100-res"]["spec"]["blockDeviceMappings"]}
    assert devices == {"/dev/xvda": {"volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
                       "/dev/xvdb": {"volumeType": "gp3", "encrypted": True, "deleteOnTermination": True,
                                     "volumeSize": "500Gi"}}


def test_custom_resources_wait_for_the_crds_and_the_controller(run):
    releases = {r.inputs["name"]: r.urn for r in run.of_type(RELEASE)}
    [controller] = [r for r in run.of_type(RELEASE) if r.inputs["name"] == "karpenter"]
    assert controller.inputs["skipCrds"] is True and releases["karpenter-crd"] in controller.dependencies
    for r in run.of_type(NODE_POOL) + run.of_type(NODE_CLASS):
        assert {releases["karpenter-crd"], releases["karpenter"]} <= set(r.dependencies), r.name


# -------------------------------------------------------------------------- charts: values, render, CRDs

# aws/karpenter-provider-aws charts/karpenter/values.yaml (release-v1.14.1): every key the program sets.
CHECKED_VERSION = "1.14.1"
UPSTREAM = {
    "settings.clusterName": "",
    "settings.interruptionQueue": "",
    "settings.featureGates.reservedCapacity": True,
    "serviceAccount.name": "",
    "serviceAccount.annotations": FREE,
    "replicas": 2,
    "podDisruptionBudget.name": "karpenter",
    "podDisruptionBudget.maxUnavailable": 1,
    "nodeSelector": FREE,
    "podSecurityContext": FREE,
    "controller.resources": FREE,
    "controller.securityContext.seccompProfile": FREE,
}


def test_chart_pins_and_values_exist_upstream():
    for pin in (KARPENTER, KARPENTER_CRD):
        assert pin.version == CHECKED_VERSION and pin.repo == "oci://public.ecr.aws/karpenter"
    assert KARPENTER.sha256 == "9e77fcd14419702c6de199c35fcd4ba1e2c4ee667252ef464e3ffc8f48435792"
    assert KARPENTER_CRD.sha256 == "de95bd15d181e64dd54624f3beb847010e62263943c28cc4d7d152e488ab63b6"
    values = controller_values("ai-prod", "ai-prod-karpenter", "arn:aws:iam::1:role/x")
    free = {k for k, v in UPSTREAM.items() if v is FREE}
    assert check_values("karpenter", CHECKED_VERSION, values, UPSTREAM, free_paths=free) == set(UPSTREAM)


@pytest.fixture(scope="module")
def rendered(run):
    require_charts()
    return render.render_stack(run, "1.33")


def test_controller_renders_two_replicas_with_a_pdb_on_the_system_pool(rendered):
    rel = rendered.release("karpenter")
    assert rel.error is None, rel.error
    by_kind = {o.manifest["kind"]: o.manifest for o in rel.objects}
    assert "CustomResourceDefinition" not in by_kind, "the CRDs come from karpenter-crd"
    deploy = by_kind["Deployment"]
    assert deploy["spec"]["replicas"] == 2
    pod = deploy["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "ai-platform/pool": "system"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["CLUSTER_NAME"] == "ai-prod" and env["INTERRUPTION_QUEUE"] == "ai-prod-karpenter"
    assert by_kind["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1


def test_node_pools_and_classes_validate_strictly_against_the_crds(run, rendered):
    from tools.validate import validate_objects

    crd_rel = rendered.release("karpenter-crd")
    assert crd_rel.error is None, crd_rel.error
    crds = [o.manifest for o in crd_rel.objects if o.manifest["kind"] == "CustomResourceDefinition"]
    assert {c["metadata"]["name"] for c in crds} >= {"nodepools.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws"}
    ours = [*objects(run, NODE_POOL).values(), *objects(run, NODE_CLASS).values()]
    assert len(ours) == 6
    assert validate_objects(ours, "1.33", crds) == []
    # And the check has teeth: an unknown capacity-type operator and a misspelt field are refused.
    bad = copy.deepcopy(ours[0])
    bad["spec"]["template"]["spec"]["requirements"][0]["operator"] = "Within"
    bad["spec"]["disruption"]["budget"] = [{"nodes": "1"}]
    assert len(validate_objects([bad], "1.33", crds)) >= 2


# ---------------------------------------------------------------------------------------------- config


def test_karpenter_on_gke_is_a_config_error():
    values = stack_values("dev")
    values.setdefault("nodePools", {})["provisioner"] = "karpenter"
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.dev.yaml")
    assert "ai-platform:nodePools.provisioner: karpenter provisions EC2 instances and runs on EKS only, not on gke" \
        in str(err.value)
    assert "provisioner: managed" in str(err.value)


@pytest.mark.parametrize("change, path, says", [
    (lambda v: v["nodePools"]["gpu"][0].update(min=1), "nodePools.gpu[0].min", "set min: 0"),
    (lambda v: v["nodePools"]["gpu"][2].update(reservation={"capacityBlock": True}), "nodePools.gpu[2].reservation",
     "set reservation.names (ids cr-...) or reservation.tags"),
    (lambda v: v["nodePools"]["gpu"][2]["reservation"].update(names=["my-block"]),
     "nodePools.gpu[2].reservation.names[0]", "not an EC2 capacity reservation id"),
    (lambda v: v["nodePools"]["gpu"][2]["reservation"].update(tags={"a": "b"}), "nodePools.gpu[2].reservation.tags",
     "not both"),
])
def test_karpenter_pool_config_errors(change, path, says):
    values = karpenter_values()
    change(values)
    issues = [str(i) for i in semantics.check(StackConfig.model_validate(values))]
    assert any(i.startswith(f"ai-platform:{path}: ") and says in i for i in issues), issues


def test_managed_stays_the_default_and_prod_is_unchanged():
    cfg = StackConfig.model_validate(stack_values("prod"))
    assert cfg.node_pools.provisioner == "managed"
    managed = _managed_run(eks_values())
    assert not managed.of_type(NODE_POOL) and not managed.of_type("aws:sqs/queue:Queue")
    assert {g.inputs["labels"]["ai-platform/pool"] for g in managed.of_type(NODE_GROUP)} == {
        "system", "h100-od", "a100-spot", "l4-spot"}
