"""GkeCluster under mocks: GPU pools, sharing, spot, taints, network, identity and the kubeconfig."""

from __future__ import annotations

import copy
import json

import pytest

from components.labels import pool_labels
from config import catalog
from config.capacity import machine_for
from tools.mockrun import ComponentRun

from .conftest import FAKE_CA, GKE_ENDPOINT_IP, is_secret, run_cluster, unwrap

NODE_POOL = "gcp:container/nodePool:NodePool"
CLUSTER = "gcp:container/cluster:Cluster"
NETWORK_TYPES = ("gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork",
                 "gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat")

# DESIGN.md's GKE stack: H100 8-GPU on-demand, A100-80GB spot split into MIG 1g.10gb slices,
# an L4 pool shared by time-slicing, and a B200 spot pool split into MIG 3g.90gb slices.
GKE = {
    "cluster": {
        "provider": "gke",
        "name": "ai-prod",
        "region": "us-central1",
        "zones": ["us-central1-a", "us-central1-c"],
        "kubernetesVersion": "1.35",
        "deletionProtection": True,
        "gcp": {"project": "acme-ai-prod"},
    },
    "nodePools": {
        "system": {"machineType": "e2-standard-8", "min": 2, "max": 5},
        "gpu": [
            {"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand",
             "min": 1, "max": 4, "sharing": {"strategy": "exclusive"}},
            {"name": "a100-spot", "gpu": "a100-80gb", "gpusPerNode": 1, "capacity": "spot",
             "min": 0, "max": 8, "sharing": {"strategy": "mig", "profile": "1g.10gb"}},
            {"name": "l4-ts", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand",
             "min": 1, "max": 3, "sharing": {"strategy": "time-slicing", "replicas": 4}},
            # A4 (B200) is sold through reservations, Spot and Flex-start only (issue 19).
            {"name": "b200-mig", "gpu": "b200-180gb", "gpusPerNode": 8, "capacity": "spot",
             "min": 0, "max": 1, "sharing": {"strategy": "mig", "profile": "3g.90gb"}},
        ],
    },
    "labels": {"team": "ml-platform"},
}
GPU_POOLS = {p["name"]: p for p in GKE["nodePools"]["gpu"]}
EXPECTED_ACCELERATOR = {"h100-80gb": "nvidia-h100-80gb", "a100-80gb": "nvidia-a100-80gb", "l4": "nvidia-l4",
                        "b200-180gb": "nvidia-b200"}


def variant(**cluster_changes) -> dict:
    values = copy.deepcopy(GKE)
    for key, value in cluster_changes.items():
        if key == "gcp":
            values["cluster"]["gcp"].update(value)
        else:
            values["cluster"][key] = value
    return values


@pytest.fixture(scope="module")
def gke() -> ComponentRun:
    return run_cluster(GKE)


@pytest.fixture(scope="module")
def gke_reserved() -> ComponentRun:
    return run_cluster(variant(gcp={"reservation": "h100-reservation"}))


def gpu_pools(run: ComponentRun) -> dict[str, dict]:
    """GPU node pools by config pool name (the pool label), from the recorded inputs."""
    out = {}
    for r in run.of_type(NODE_POOL):
        cfg = r.inputs["nodeConfig"]
        if cfg.get("guestAccelerators"):
            out[cfg["labels"]["ai-platform/pool"]] = r.inputs
    return out


def system_pool(run: ComponentRun) -> dict:
    pools = [r.inputs for r in run.of_type(NODE_POOL)
             if r.inputs["nodeConfig"]["labels"].get("ai-platform/pool") == "system"]
    assert len(pools) == 1
    return pools[0]


def typed_pool(name: str):
    from config.models import GpuPool

    return GpuPool.model_validate(GPU_POOLS[name])


# ------------------------------------------------------------------------------------ GPU pools


def test_one_node_pool_per_gpu_pool_plus_system(gke):
    assert set(gpu_pools(gke)) == set(GPU_POOLS)
    assert len(gke.of_type(NODE_POOL)) == len(GPU_POOLS) + 1
    # GPU pools keep their config name on GKE too.
    assert {p["name"] for p in gpu_pools(gke).values()} == set(GPU_POOLS)


@pytest.mark.parametrize("pool_name", sorted(GPU_POOLS))
def test_machine_type_and_accelerator(gke, pool_name):
    pool = typed_pool(pool_name)
    node_config = gpu_pools(gke)[pool_name]["nodeConfig"]
    assert node_config["machineType"] == machine_for("gke", pool).name
    [accel] = node_config["guestAccelerators"]
    assert accel["type"] == catalog.GPUS[pool.gpu].gke_accelerator == EXPECTED_ACCELERATOR[pool.gpu]
    assert accel["count"] == pool.gpus_per_node
    # GKE installs the driver (COS); the GPU Operator runs with driver/toolkit/device plugin off.
    assert accel["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert node_config["imageType"] == "COS_CONTAINERD"


def test_h100_is_an_a3_machine_with_8_gpus(gke):
    node_config = gpu_pools(gke)["h100-od"]["nodeConfig"]
    assert node_config["machineType"].startswith("a3-")
    assert node_config["guestAccelerators"][0]["count"] == 8


def test_mig_pool_sets_partition_size_and_no_sharing(gke):
    [accel] = gpu_pools(gke)["a100-spot"]["nodeConfig"]["guestAccelerators"]
    assert accel["gpuPartitionSize"] == "1g.10gb"
    assert "gpuSharingConfig" not in accel


def test_b200_mig_pool_is_an_a4_machine_with_its_partition_size(gke):
    node_config = gpu_pools(gke)["b200-mig"]["nodeConfig"]
    assert node_config["machineType"] == "a4-highgpu-8g" and node_config["spot"] is True
    [accel] = node_config["guestAccelerators"]
    assert (accel["type"], accel["count"], accel["gpuPartitionSize"]) == ("nvidia-b200", 8, "3g.90gb")


def test_time_slicing_pool_sets_sharing_config(gke):
    [accel] = gpu_pools(gke)["l4-ts"]["nodeConfig"]["guestAccelerators"]
    assert accel["gpuSharingConfig"] == {"gpuSharingStrategy": "TIME_SHARING", "maxSharedClientsPerGpu": 4}
    assert "gpuPartitionSize" not in accel


def test_exclusive_pool_has_neither_partition_nor_sharing(gke):
    [accel] = gpu_pools(gke)["h100-od"]["nodeConfig"]["guestAccelerators"]
    assert "gpuPartitionSize" not in accel and "gpuSharingConfig" not in accel


def test_mps_pool_sets_mps_sharing():
    values = copy.deepcopy(GKE)
    values["nodePools"]["gpu"][2]["sharing"] = {"strategy": "mps", "replicas": 3}
    [accel] = gpu_pools(run_cluster(values))["l4-ts"]["nodeConfig"]["guestAccelerators"]
    assert accel["gpuSharingConfig"] == {"gpuSharingStrategy": "MPS", "maxSharedClientsPerGpu": 3}


@pytest.mark.parametrize("pool_name", sorted(GPU_POOLS))
def test_spot_and_location_policy(gke, pool_name):
    inputs = gpu_pools(gke)[pool_name]
    spot = GPU_POOLS[pool_name]["capacity"] == "spot"
    assert inputs["nodeConfig"].get("spot", False) is spot
    assert "preemptible" not in inputs["nodeConfig"]
    assert inputs["autoscaling"]["locationPolicy"] == ("ANY" if spot else "BALANCED")


@pytest.mark.parametrize("pool_name", sorted(GPU_POOLS))
def test_autoscaling_uses_whole_pool_totals(gke, pool_name):
    scaling = gpu_pools(gke)[pool_name]["autoscaling"]
    assert scaling["totalMinNodeCount"] == GPU_POOLS[pool_name]["min"]
    assert scaling["totalMaxNodeCount"] == GPU_POOLS[pool_name]["max"]
    # Per-zone bounds would multiply the pool by the number of zones.
    assert "minNodeCount" not in scaling and "maxNodeCount" not in scaling


def test_initial_size_reaches_min_and_is_ignored_afterwards(gke):
    pools = {r.inputs["nodeConfig"]["labels"]["ai-platform/pool"]: r for r in gke.of_type(NODE_POOL)}
    zones = len(GKE["cluster"]["zones"])
    assert pools["a100-spot"].inputs.get("initialNodeCount", 0) == 0  # min 0: no idle GPUs
    assert pools["h100-od"].inputs["initialNodeCount"] * zones >= 1
    assert pools["system"].inputs["initialNodeCount"] * zones >= 2
    for r in pools.values():
        assert "initialNodeCount" in r.ignore_changes


def test_every_gpu_pool_has_the_gpu_taint(gke):
    taint = {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
    pools = gpu_pools(gke)
    assert pools, "no GPU pools recorded"
    for name, inputs in pools.items():
        assert taint in inputs["nodeConfig"].get("taints", []), f"GPU pool {name} lacks the GPU taint"


@pytest.mark.parametrize("pool_name", sorted(GPU_POOLS))
def test_node_labels_are_the_pool_labels(gke, pool_name):
    labels = gpu_pools(gke)[pool_name]["nodeConfig"]["labels"]
    assert labels == pool_labels(typed_pool(pool_name))
    assert labels["ai-platform/pool"] == pool_name
    assert labels["ai-platform/gpus-per-node"] == str(GPU_POOLS[pool_name]["gpusPerNode"])


@pytest.mark.parametrize("pool_name", sorted(GPU_POOLS))
def test_gpu_node_hardening(gke, pool_name):
    inputs = gpu_pools(gke)[pool_name]
    node_config = inputs["nodeConfig"]
    assert node_config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}
    assert node_config["shieldedInstanceConfig"] == {"enableSecureBoot": True, "enableIntegrityMonitoring": True}
    assert inputs["management"] == {"autoRepair": True, "autoUpgrade": True}
    assert node_config["diskSizeGb"] == 300  # GpuPool.diskGi default


def test_gpu_pools_are_replaced_delete_first(gke):
    for r in gke.of_type(NODE_POOL):
        if r.inputs["nodeConfig"].get("guestAccelerators"):
            assert r.delete_before_replace, r.name


def test_system_pool_is_cpu_only(gke):
    inputs = system_pool(gke)
    node_config = inputs["nodeConfig"]
    assert not node_config.get("guestAccelerators")
    assert not node_config.get("taints")
    assert node_config["machineType"] == "e2-standard-8"
    assert inputs["autoscaling"]["totalMinNodeCount"] == 2
    assert inputs["autoscaling"]["totalMaxNodeCount"] == 5
    assert node_config.get("spot", False) is False


# ---------------------------------------------------------------------------------- reservations


def test_no_reservation_affinity_without_reservation(gke):
    for r in gke.of_type(NODE_POOL):
        assert "reservationAffinity" not in r.inputs["nodeConfig"], r.name


def test_reservation_affinity_on_on_demand_gpu_pools(gke_reserved):
    pools = gpu_pools(gke_reserved)
    for name in ("h100-od", "l4-ts"):
        assert pools[name]["nodeConfig"]["reservationAffinity"] == {
            "consumeReservationType": "SPECIFIC_RESERVATION",
            "key": "compute.googleapis.com/reservation-name",
            "values": ["h100-reservation"],
        }
    # Spot VMs cannot consume reservations; the system pool does not use the GPU reservation.
    assert "reservationAffinity" not in pools["a100-spot"]["nodeConfig"]
    assert "reservationAffinity" not in system_pool(gke_reserved)["nodeConfig"]


# ----------------------------------------------------------------------------------- the cluster


def test_regional_vpc_native_cluster(gke):
    c = gke.one(CLUSTER).inputs
    assert c["name"] == "ai-prod"
    assert c["location"] == "us-central1"
    assert c["nodeLocations"] == ["us-central1-a", "us-central1-c"]
    assert c["removeDefaultNodePool"] is True and c["initialNodeCount"] == 1
    assert c["minMasterVersion"] == "1.35"
    assert c["releaseChannel"] == {"channel": "REGULAR"}
    assert c["workloadIdentityConfig"] == {"workloadPool": "acme-ai-prod.svc.id.goog"}
    assert c["ipAllocationPolicy"] == {"clusterSecondaryRangeName": "pods", "servicesSecondaryRangeName": "services"}
    assert c["networkingMode"] == "VPC_NATIVE"
    assert c["resourceLabels"]["part-of"] == "ai-platform"
    assert c["resourceLabels"]["team"] == "ml-platform"


def test_deletion_protection_follows_config(gke):
    cluster = gke.one(CLUSTER)
    assert cluster.inputs["deletionProtection"] is True and cluster.protect
    off = run_cluster(variant(deletionProtection=False)).one(CLUSTER)
    assert off.inputs["deletionProtection"] is False and not off.protect


def test_private_nodes_get_router_and_nat(gke):
    c = gke.one(CLUSTER).inputs
    assert c["privateClusterConfig"]["enablePrivateNodes"] is True
    assert c["privateClusterConfig"]["masterIpv4CidrBlock"] == "172.16.0.0/28"
    router = gke.one("gcp:compute/router:Router")
    nat = gke.one("gcp:compute/routerNat:RouterNat")
    assert nat.inputs["router"] == router.inputs["name"]
    assert nat.inputs["region"] == "us-central1"
    assert nat.inputs["natIpAllocateOption"] == "AUTO_ONLY"


def test_created_network_has_secondary_ranges(gke):
    network = gke.one("gcp:compute/network:Network")
    assert network.inputs["autoCreateSubnetworks"] is False
    subnet = gke.one("gcp:compute/subnetwork:Subnetwork").inputs
    assert subnet["ipCidrRange"] == "10.10.0.0/20"
    assert {r["rangeName"]: r["ipCidrRange"] for r in subnet["secondaryIpRanges"]} == {
        "pods": "10.16.0.0/14", "services": "10.20.0.0/20"}
    assert subnet["privateIpGoogleAccess"] is True
    assert subnet["region"] == "us-central1"
    assert gke.one(CLUSTER).inputs["subnetwork"].endswith(subnet["name"])


def subnet_urn(run: ComponentRun) -> str:
    return run.one("gcp:compute/subnetwork:Subnetwork").urn


def test_cluster_uses_the_created_subnetwork(gke):
    cluster = gke.one(CLUSTER)
    assert subnet_urn(gke) in cluster.dependencies
    assert gke.one("gcp:compute/network:Network").urn in cluster.dependencies


def test_public_nodes_get_no_nat():
    run = run_cluster(variant(gcp={"privateNodes": False}))
    assert not run.of_type("gcp:compute/router:Router")
    assert not run.of_type("gcp:compute/routerNat:RouterNat")
    assert "privateClusterConfig" not in run.one(CLUSTER).inputs
    assert run.of_type("gcp:compute/network:Network")


def test_existing_network_creates_no_network():
    run = run_cluster(variant(gcp={"network": "shared-vpc", "subnetwork": "gke-nodes"}))
    for t in NETWORK_TYPES:
        assert not run.of_type(t), f"{t} created for an existing network"
    c = run.one(CLUSTER).inputs
    assert c["network"] == "shared-vpc" and c["subnetwork"] == "gke-nodes"


# ----------------------------------------------------------------------------- node identity


def test_node_service_account_least_privilege(gke):
    sa = gke.one("gcp:serviceaccount/account:Account")
    email = sa.outputs["email"]
    members = gke.of_type("gcp:projects/iAMMember:IAMMember")
    assert {m.inputs["role"] for m in members} == {
        "roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer",
        "roles/stackdriver.resourceMetadata.writer", "roles/artifactregistry.reader"}
    for m in members:
        assert m.inputs["member"] == f"serviceAccount:{email}"
        assert m.inputs["project"] == "acme-ai-prod"
    for r in gke.of_type(NODE_POOL):
        assert r.inputs["nodeConfig"]["serviceAccount"] == email
        # Nodes boot only after their roles exist (image pulls from Artifact Registry).
        assert {m.urn for m in members} <= set(r.dependencies)


def test_service_account_id_is_valid_for_long_cluster_names():
    values = copy.deepcopy(GKE)
    values["cluster"]["name"] = "a-very-long-cluster-name-for-testing-ids"
    account_id = run_cluster(values).one("gcp:serviceaccount/account:Account").inputs["accountId"]
    assert 6 <= len(account_id) <= 30 and not account_id.endswith("-")


# ------------------------------------------------------------------------ outputs and provider


def dns_endpoint(run: ComponentRun) -> str:
    return run.one(CLUSTER).outputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["endpoint"]


def test_kubeconfig_is_secret_and_uses_the_auth_plugin(gke):
    assert gke.secret["kubeconfig"] is True
    config = json.loads(gke.values["kubeconfig"])
    cluster = config["clusters"][0]["cluster"]
    # Default: the IAM-authorized DNS endpoint, whose certificate is publicly trusted (no cluster CA).
    assert cluster["server"] == f"https://{dns_endpoint(gke)}"
    assert cluster["server"].endswith(".us-central1.gke.goog")
    assert "certificate-authority-data" not in cluster
    exec_ = config["users"][0]["user"]["exec"]
    assert exec_["command"] == "gke-gcloud-auth-plugin"
    assert exec_["apiVersion"] == "client.authentication.k8s.io/v1beta1"
    assert exec_["provideClusterInfo"] is True
    assert config["current-context"] == config["contexts"][0]["name"]


def test_ip_endpoint_kubeconfig_trusts_the_cluster_ca():
    run = run_cluster(variant(gcp={"dnsEndpoint": False}))
    cluster = json.loads(run.values["kubeconfig"])["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://{GKE_ENDPOINT_IP}" == run.values["endpoint"]
    assert cluster["certificate-authority-data"] == FAKE_CA


def test_outputs(gke):
    assert gke.values["endpoint"] == f"https://{dns_endpoint(gke)}"
    assert gke.values["name"] == "ai-prod"
    assert set(GPU_POOLS) <= set(gke.values["node_pool_names"])
    assert len(gke.values["node_pool_names"]) == len(GPU_POOLS) + 1
    assert gke.secret["endpoint"] is False


def test_provider_gets_the_secret_kubeconfig_and_waits_for_pools(gke):
    provider = gke.one("pulumi:providers:kubernetes")
    assert is_secret(provider.inputs["kubeconfig"])
    assert json.loads(unwrap(provider.inputs["kubeconfig"]))["clusters"][0]["cluster"]["server"].startswith("https://")
    deps = set(provider.dependencies)
    assert gke.one(CLUSTER).urn in deps
    assert {r.urn for r in gke.of_type(NODE_POOL)} <= deps


def test_component_shape(gke):
    component = gke.one("ai-platform:cluster:Gke")
    assert component.name == "test"
    urns = [r.urn for r in gke.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"
    for r in gke.resources:
        if r is component:
            continue
        assert component.urn in gke.ancestors(r), f"{r.type} {r.name} is not a child of the component"
        assert r.name.startswith("test-"), r.name
    assert gke.output_keys[component.urn] == sorted(["name", "endpoint", "kubeconfig", "provider", "node_pool_names"])
