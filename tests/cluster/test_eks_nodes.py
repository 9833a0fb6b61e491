"""EKS nodes (issue 16): launch templates, versions and upgrade order, replacement, per-zone system groups and
the upgrade drain budget of models."""

from __future__ import annotations

import copy

import pytest

from config.errors import ConfigError
from config.loader import validate
from config.models import GpuPool
from config.upgrades import DRAIN_WINDOW_SECONDS, Rehome, eks_update_minutes
from tests.conftest import run_stack, stack_values

from .conftest import run_cluster
from .test_eks import ADDON, CLUSTER, NODE_GROUP, ZONES, eks_values, gpu_groups, system_groups

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


@pytest.fixture(scope="module")
def eks():
    return run_cluster(eks_values())


def template_of(run, group):
    """The launch template a node group launches from (its latest version)."""
    found = [t for t in run.of_type(LAUNCH_TEMPLATE) if t.urn in group.dependencies]
    assert len(found) == 1, group.name
    assert group.inputs["launchTemplate"]["id"].startswith("lt-0")
    assert group.inputs["launchTemplate"]["version"] == "1"  # the mocks' latestVersion
    return found[0]


def addons(run) -> dict:
    return {a.inputs["addonName"]: a for a in run.of_type(ADDON)}


# ------------------------------------------------------------------------------ launch templates


def test_every_group_launches_from_a_template_with_imdsv2_and_hop_limit_1(eks):
    groups = eks.of_type(NODE_GROUP)
    assert len(groups) == 3 + len(ZONES)
    for g in groups:
        lt = template_of(eks, g)
        assert lt.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                                "httpPutResponseHopLimit": 1}, g.name
        # With a launch template, the disk size belongs to the template; EKS refuses both.
        assert "diskSize" not in g.inputs and "remoteAccess" not in g.inputs
        # No AMI, instance type, subnet or security group in the template: the group sets them, EKS adds the
        # cluster security group.
        assert not {"imageId", "instanceType", "networkInterfaces", "vpcSecurityGroupIds",
                    "iamInstanceProfile"} & set(lt.inputs)


@pytest.mark.parametrize("name, disk", [("h100-od", 300), ("l4-spot", 300)])
def test_al2023_root_volume_is_encrypted_gp3_of_disk_gi(eks, name, disk):
    lt = template_of(eks, gpu_groups(eks)[name])
    assert lt.inputs["blockDeviceMappings"] == [{"deviceName": "/dev/xvda", "ebs": {
        "volumeType": "gp3", "volumeSize": disk, "encrypted": "true", "deleteOnTermination": "true"}}]


def test_system_template_sized_from_system_disk_gi():
    values = eks_values()
    values["nodePools"]["system"]["diskGi"] = 150
    run = run_cluster(values)
    templates = {template_of(run, g).urn for g in system_groups(run)}
    assert len(templates) == 1, "the zone groups share one template (same labels: balanced as similar)"
    [lt] = [t for t in run.of_type(LAUNCH_TEMPLATE) if t.urn in templates]
    assert lt.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 150
    assert lt.inputs["blockDeviceMappings"][0]["deviceName"] == "/dev/xvda"


def test_bottlerocket_sizes_the_data_volume_and_keeps_the_os_volume():
    values = eks_values()
    values["cluster"]["eks"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    for gpu_pool in values["nodePools"]["gpu"]:
        gpu_pool["sharing"] = {"strategy": "exclusive"}
        gpu_pool["diskGi"] = 500
    run = run_cluster(values)
    for name, g in gpu_groups(run).items():
        devices = {d["deviceName"]: d["ebs"] for d in template_of(run, g).inputs["blockDeviceMappings"]}
        assert devices == {
            # The OS volume: the AMI's own size (4 GiB for the NVIDIA variants), encrypted gp3.
            "/dev/xvda": {"volumeType": "gp3", "encrypted": "true", "deleteOnTermination": "true"},
            # Container images live on the data volume: it gets diskGi.
            "/dev/xvdb": {"volumeType": "gp3", "volumeSize": 500, "encrypted": "true", "deleteOnTermination": "true"},
        }, name
    # The system pool stays on AL2023.
    system_lt = template_of(run, system_groups(run)[0])
    assert [d["deviceName"] for d in system_lt.inputs["blockDeviceMappings"]] == ["/dev/xvda"]


def test_instances_and_volumes_are_tagged(eks):
    for g in eks.of_type(NODE_GROUP):
        lt = template_of(eks, g)
        specs = {s["resourceType"]: s["tags"] for s in lt.inputs["tagSpecifications"]}
        assert set(specs) == {"instance", "volume"}
        for tags in specs.values():
            assert tags["team"] == "ml-platform" and tags["part-of"] == "ai-platform"


# ------------------------------------------------------------------------- versions and ordering


def test_node_groups_carry_the_cluster_version(eks):
    cluster = eks.one(CLUSTER)
    for g in eks.of_type(NODE_GROUP):
        assert g.inputs["version"] == cluster.inputs["version"] == "1.33", g.name
        assert cluster.urn in g.dependencies


def test_addon_versions_are_resolved_for_the_cluster_version():
    values = eks_values()
    values["cluster"]["kubernetesVersion"] = "1.34"
    found = addons(run_cluster(values))
    # kube-proxy's build follows the minor it was looked up for (the mocks answer like describe-addon-versions).
    assert found["kube-proxy"].inputs["addonVersion"] == "v1.34.3-eksbuild.2"
    for a in found.values():
        assert a.inputs["addonVersion"].startswith("v") and "-eksbuild." in a.inputs["addonVersion"]


def test_upgrade_order_control_plane_then_addons_then_gpu_groups(eks):
    cluster = eks.one(CLUSTER).urn
    found = addons(eks)
    for a in found.values():
        assert cluster in a.dependencies, a.inputs["addonName"]
    network = {found["vpc-cni"].urn, found["kube-proxy"].urn}
    for s in system_groups(eks):
        assert network <= set(s.dependencies), s.name
    every_addon = {a.urn for a in found.values()}
    for name, g in gpu_groups(eks).items():
        assert every_addon <= set(g.dependencies), name


# ----------------------------------------------------------------------------- GPU group replacement


def test_gpu_groups_are_replaced_create_before_delete(eks):
    for name, g in gpu_groups(eks).items():
        assert not g.delete_before_replace
        assert "nodeGroupName" not in g.inputs
        assert g.inputs["nodeGroupNamePrefix"] == f"{name}-"
        # The autoscaler's hints follow the group's Auto Scaling group, whatever its name.
        asg = g.outputs["resources"][0]["autoscalingGroups"][0]["name"]
        assert any(t.inputs["autoscalingGroupName"] == asg for t in eks.of_type("aws:autoscaling/tag:Tag"))


# ----------------------------------------------------------------------------- system pool per zone


def test_system_pool_is_one_group_per_zone(eks):
    private = {s.outputs.get("availabilityZone") or s.inputs["availabilityZone"]: s
               for s in eks.of_type("aws:ec2/subnet:Subnet")
               if s.inputs["tags"].get("kubernetes.io/role/internal-elb") == "1"}
    groups = {g.name.removeprefix("test-system-"): g for g in system_groups(eks)}
    assert set(groups) == set(ZONES)
    for zone, g in groups.items():
        assert len(g.inputs["subnetIds"]) == 1 and private[zone].urn in g.dependencies
    # min 3 / max 6 over three zones.
    assert sum(g.inputs["scalingConfig"]["minSize"] for g in groups.values()) == 3
    assert all(g.inputs["scalingConfig"]["maxSize"] == 2 for g in groups.values())


def test_uneven_system_pool_split():
    values = eks_values()
    values["nodePools"]["system"].update(min=2, max=4)
    sizes = sorted((g.name, g.inputs["scalingConfig"]["minSize"], g.inputs["scalingConfig"]["maxSize"])
                   for g in system_groups(run_cluster(values)))
    assert sizes == [("test-system-us-east-1a", 1, 2), ("test-system-us-east-1b", 1, 2),
                     ("test-system-us-east-1c", 0, 2)]


def test_autoscaler_balances_similar_groups():
    from components.cluster.eks.autoscaler import cluster_autoscaler_values

    assert cluster_autoscaler_values("c", "us-east-1", "1.33", "arn")["extraArgs"]["balance-similar-node-groups"]


# --------------------------------------------------------------------------- upgrades and start-up


def test_update_strategy_surge_and_one_node_at_a_time(eks):
    for g in eks.of_type(NODE_GROUP):
        assert g.inputs["updateConfig"] == {"maxUnavailable": 1, "updateStrategy": "DEFAULT"}, g.name


def test_update_timeout_grows_with_the_pool():
    pool = GpuPool(name="p", gpu="h100-80gb", gpus_per_node=8, max=3)
    slow = [Rehome("m", "k", per_node=2, startup=600, grace=75)]
    # 25 min of surge boot + 3 nodes x (min(15 min, 2 x 780 s) + 75 s grace + 60 s) + 10 min.
    assert eks_update_minutes(pool, slow) == 25 + 3 * 17 + 10 + 1  # rounded up
    bigger = pool.model_copy(update={"max": 10})
    assert eks_update_minutes(bigger, slow) > eks_update_minutes(pool, slow)
    assert eks_update_minutes(GpuPool(name="q", gpu="l4", max=1), []) == 60  # never below the default


def test_prod_node_groups_get_update_timeouts_and_force_where_configured():
    run = run_stack("prod")
    groups = {g.inputs["labels"]["ai-platform/pool"]: g for g in run.of_type(NODE_GROUP)
              if g.inputs["labels"]["ai-platform/pool"] != "system"}
    for name, g in groups.items():
        assert g.inputs["forceUpdateVersion"] is True, name  # Pulumi.prod.yaml: forceUpgrade
        minutes = int(g.custom_timeouts["update"].removesuffix("m"))
        assert minutes >= 25 + g.inputs["scalingConfig"]["maxSize"] * 15, name


def test_a_model_that_cannot_move_within_the_eks_window_is_a_config_error():
    values = stack_values("prod")
    for gpu_pool in values["nodePools"]["gpu"]:
        gpu_pool.pop("forceUpgrade", None)
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.prod.yaml")
    text = str(err.value)
    assert "ai-platform:nodePools.gpu[0].forceUpgrade" in text and "'qwen72b'" in text
    assert f"waits {DRAIN_WINDOW_SECONDS['eks'] // 60} min per node" in text


def test_a_fast_model_fits_without_force():
    values = copy.deepcopy(stack_values("prod"))
    values["nodePools"]["gpu"] = [values["nodePools"]["gpu"][0]]
    values["nodePools"]["gpu"][0].pop("forceUpgrade")
    values["nodePools"]["gpu"][0]["max"] = 8
    qwen72b = values["serving"]["models"][0]
    values["serving"]["models"] = [qwen72b]
    values["rag"].pop("embedding")
    # One replica per node (tensor parallel 8) that loads within 12 minutes fits the 15-minute window.
    qwen72b.update(tensorParallel=8, startupSeconds=700, replicas={"min": 2, "max": 4})
    validate(values, "Pulumi.prod.yaml")
    qwen72b["startupSeconds"] = 800
    with pytest.raises(ConfigError, match="1 x \\(180 s start \\+ 800 s start-up budget\\) = 980 s"):
        validate(values, "Pulumi.prod.yaml")
