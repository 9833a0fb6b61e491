"""Pool capacity types on the managed provisioner (issue 20): what GKE node pools and EKS managed node groups record
for on-demand, spot, flex-start and reservation pools, and the config errors of impossible combinations.

One mock run per cloud (module fixtures); the config errors are pure `semantics.check` calls.
"""

from __future__ import annotations

import copy

import pytest

from config import semantics
from config.models import StackConfig

from .conftest import run_cluster
from .test_eks import NODE_GROUP, eks_values
from .test_eks_nodes import template_of
from .test_gke import GKE, NODE_POOL

CAPACITY_LABEL = "ai-platform/capacity"
RESERVATION_KEY = "compute.googleapis.com/reservation-name"
CB_ID = "cr-0123456789abcdef0"
ODCR_ID = "cr-0fedcba987654321f"


def gke_values(pools: list[dict], **extra) -> dict:
    values = copy.deepcopy(GKE)
    values["nodePools"]["gpu"] = pools
    values.update(extra)
    return values


def eks_with(pools: list[dict], **node_pools) -> dict:
    values = eks_values()
    values["nodePools"]["gpu"] = pools
    values["nodePools"].update(node_pools)
    return values


GKE_POOLS = [
    # Consumes the cluster-wide default reservation (cluster.gcp.reservation), as before issue 20.
    {"name": "l4-od", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 1, "max": 2},
    {"name": "l4-spot", "gpu": "l4", "gpusPerNode": 1, "capacity": "spot", "min": 0, "max": 2},
    # Two reservations shared from another project, held for a3-highgpu-8g (the catalog's 8x H100 machine).
    {"name": "h100-res", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "reservation", "min": 1, "max": 2,
     "reservation": {"names": ["h100-res-a", "h100-res-b"], "project": "acme-shared", "machineType": "a3-highgpu-8g"}},
    {"name": "l4-any", "gpu": "l4", "gpusPerNode": 1, "capacity": "reservation", "min": 0, "max": 2,
     "reservation": {"affinity": "any"}},
    {"name": "a100-flex", "gpu": "a100-80gb", "gpusPerNode": 1, "capacity": "flex-start", "min": 0, "max": 4,
     "flexStart": {"maxRunDurationHours": 24}},
    {"name": "h100-queued", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "flex-start", "min": 0, "max": 2,
     "flexStart": {"queued": True}},
]


@pytest.fixture(scope="module")
def gke_pools() -> dict[str, dict]:
    values = gke_values(GKE_POOLS, queueing={"enabled": True})
    values["cluster"]["gcp"]["reservation"] = "cluster-res"
    run = run_cluster(values)
    return {r.inputs["name"]: r.inputs for r in run.of_type(NODE_POOL) if r.inputs["nodeConfig"].get(
        "guestAccelerators")}


def test_gke_every_gpu_pool_is_labelled_with_its_capacity(gke_pools):
    assert {name: p["nodeConfig"]["labels"][CAPACITY_LABEL] for name, p in gke_pools.items()} == {
        "l4-od": "on-demand", "l4-spot": "spot", "h100-res": "reservation", "l4-any": "reservation",
        "a100-flex": "flex-start", "h100-queued": "flex-start"}
    # The pool label Kueue's ResourceFlavors select on stays the pool name.
    assert all(p["nodeConfig"]["labels"]["ai-platform/pool"] == name for name, p in gke_pools.items())


def test_gke_reservation_pools_consume_their_own_reservations(gke_pools):
    res = gke_pools["h100-res"]
    assert res["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION", "key": RESERVATION_KEY,
        "values": ["projects/acme-shared/reservations/h100-res-a", "projects/acme-shared/reservations/h100-res-b"]}
    assert gke_pools["l4-any"]["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "ANY_RESERVATION"}
    # ANY puts unused reservations first; reserved VMs are never spot, never flex-start.
    for name in ("h100-res", "l4-any"):
        assert gke_pools[name]["autoscaling"]["locationPolicy"] == "ANY"
        assert gke_pools[name]["nodeConfig"].get("spot", False) is False
        assert "flexStart" not in gke_pools[name]["nodeConfig"] and "queuedProvisioning" not in gke_pools[name]
    # h100-res min 1 over the fixture's 2 zones: ceil(1 / 2) = 1 node per zone at creation.
    assert res["initialNodeCount"] == 1


def test_gke_on_demand_pools_keep_the_cluster_reservation_and_spot_takes_none(gke_pools):
    assert gke_pools["l4-od"]["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION", "key": RESERVATION_KEY, "values": ["cluster-res"]}
    assert gke_pools["l4-od"]["autoscaling"]["locationPolicy"] == "BALANCED"
    assert "reservationAffinity" not in gke_pools["l4-spot"]["nodeConfig"]
    assert gke_pools["l4-spot"]["nodeConfig"]["spot"] is True


def test_gke_flex_start_pool(gke_pools):
    flex = gke_pools["a100-flex"]
    node = flex["nodeConfig"]
    assert node["flexStart"] is True and node.get("spot", False) is False
    assert node["maxRunDuration"] == "86400s"  # 24 h x 3,600 s
    assert node["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}
    assert flex["autoscaling"] == {"totalMinNodeCount": 0, "totalMaxNodeCount": 4, "locationPolicy": "ANY"}
    assert flex["initialNodeCount"] == 0
    assert flex["management"] == {"autoRepair": False, "autoUpgrade": True}
    assert "queuedProvisioning" not in flex
    # Other pools keep auto-repair.
    assert gke_pools["l4-od"]["management"]["autoRepair"] is True


def test_gke_queued_flex_start_pool(gke_pools):
    queued = gke_pools["h100-queued"]
    assert queued["queuedProvisioning"] == {"enabled": True}
    assert queued["nodeConfig"]["flexStart"] is True
    # The run limit of a queued node is its ProvisioningRequest's (maxRunDurationSeconds), not the pool's.
    assert "maxRunDuration" not in queued["nodeConfig"]
    assert queued["nodeConfig"]["reservationAffinity"] == {"consumeReservationType": "NO_RESERVATION"}


# --------------------------------------------------------------------------------------------------- EKS

EKS_POOLS = [
    {"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": 1},
    {"name": "h100-cb", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "reservation", "min": 0, "max": 2,
     "reservation": {"names": [CB_ID], "capacityBlock": True, "machineType": "p5.48xlarge"}},
    {"name": "l4-odcr", "gpu": "l4", "gpusPerNode": 1, "capacity": "reservation", "min": 1, "max": 2,
     "reservation": {"names": [ODCR_ID]}},
    {"name": "l4-open", "gpu": "l4", "gpusPerNode": 1, "capacity": "reservation", "min": 0, "max": 2,
     "reservation": {"affinity": "any"}},
]


@pytest.fixture(scope="module")
def eks_groups():
    run = run_cluster(eks_with(EKS_POOLS))
    groups = {g.inputs["labels"]["ai-platform/pool"]: g for g in run.of_type(NODE_GROUP)}
    return {name: (g.inputs, template_of(run, g).inputs) for name, g in groups.items() if name != "system"}


def test_eks_capacity_types_and_labels(eks_groups):
    assert {n: g["capacityType"] for n, (g, _) in eks_groups.items()} == {
        "h100-od": "ON_DEMAND", "h100-cb": "CAPACITY_BLOCK", "l4-odcr": "ON_DEMAND", "l4-open": "ON_DEMAND"}
    assert {n: g["labels"][CAPACITY_LABEL] for n, (g, _) in eks_groups.items()} == {
        "h100-od": "on-demand", "h100-cb": "reservation", "l4-odcr": "reservation", "l4-open": "reservation"}


def test_eks_capacity_block_group_targets_the_block_from_its_template(eks_groups):
    group, lt = eks_groups["h100-cb"]
    assert lt["capacityReservationSpecification"] == {"capacityReservationTarget": {"capacityReservationId": CB_ID}}
    assert lt["instanceMarketOptions"] == {"marketType": "capacity-block"}
    # The block's instance type is the template's; EKS refuses it on both.
    assert lt["instanceType"] == "p5.48xlarge" and "instanceTypes" not in group
    # The template keeps the hardening of every group.
    assert lt["metadataOptions"]["httpTokens"] == "required"


def test_eks_odcr_groups(eks_groups):
    group, lt = eks_groups["l4-odcr"]
    assert lt["capacityReservationSpecification"] == {"capacityReservationTarget": {"capacityReservationId": ODCR_ID}}
    assert "instanceMarketOptions" not in lt and "instanceType" not in lt
    assert group["instanceTypes"] == ["g6.xlarge"]  # the catalog's first 1x L4 instance type
    _, lt_open = eks_groups["l4-open"]
    assert lt_open["capacityReservationSpecification"] == {"capacityReservationPreference": "open"}
    _, lt_od = eks_groups["h100-od"]
    assert "capacityReservationSpecification" not in lt_od and "instanceMarketOptions" not in lt_od


# ------------------------------------------------------------------------------------------- config errors


def issues(values: dict) -> dict[str, str]:
    """Config issues by key path (without the project prefix)."""
    found = semantics.check(StackConfig.model_validate(values))
    return {i.path.removeprefix("ai-platform:"): i.message for i in found}


def test_valid_configs_have_no_issues():
    values = gke_values(GKE_POOLS, queueing={"enabled": True})
    assert issues(values) == {}
    assert issues(eks_with(EKS_POOLS)) == {}


def test_flex_start_on_eks_names_capacity_blocks():
    found = issues(eks_with([{"name": "p", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "flex-start"}]))
    message = found["nodePools.gpu[0].capacity"]
    assert "EKS has no flex-start" in message and "Capacity Block for ML of p5.48xlarge" in message
    assert "capacity: reservation" in message and "capacityBlock: true" in message
    assert "allowed on eks: on-demand, spot, reservation" in message


def test_flex_start_queued_without_a_queue():
    pool = {"name": "q", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "flex-start", "flexStart": {"queued": True}}
    message = issues(gke_values([pool]))["nodePools.gpu[0].flexStart.queued"]
    assert message.startswith("flex-start without a queue")
    assert "queueing.enabled: true" in message and "flexStart.queued: false" in message
    assert issues(gke_values([pool], queueing={"enabled": True})) == {}


def test_flex_start_pool_must_start_empty():
    pool = {"name": "f", "gpu": "l4", "capacity": "flex-start", "min": 1, "max": 2,
            "flexStart": {"maxRunDurationHours": 48}}
    message = issues(gke_values([pool]))["nodePools.gpu[0].min"]
    assert "at most 48 h each" in message and "set min: 0" in message


def test_flex_start_on_a_machine_not_sold_so():
    # N1 + T4 is not sold flex-start (catalog: accelerator-optimized machines and G2 only).
    message = issues(gke_values([{"name": "t", "gpu": "t4", "capacity": "flex-start"}]))["nodePools.gpu[0].capacity"]
    assert "(1x t4) is not sold flex-start on GKE, only on-demand / reservation / spot" in message
    assert "use capacity: on-demand or capacity: reservation or capacity: spot" in message


def test_flex_start_settings_on_a_pool_of_another_capacity():
    pool = {"name": "p", "gpu": "l4", "capacity": "spot", "flexStart": {"maxRunDurationHours": 24}}
    message = issues(gke_values([pool]))["nodePools.gpu[0].flexStart"]
    assert "read only by capacity: flex-start pools (this pool is spot)" in message


def test_reservation_block_required_and_only_with_capacity_reservation():
    found = issues(gke_values([{"name": "r", "gpu": "l4", "capacity": "reservation"},
                               {"name": "o", "gpu": "l4", "reservation": {"names": ["x"]}}]))
    assert "capacity: reservation needs the reservation it consumes" in found["nodePools.gpu[0].reservation"]
    assert "(this pool is on-demand)" in found["nodePools.gpu[1].reservation"]


def test_specific_reservation_without_names():
    found = issues(gke_values([{"name": "r", "gpu": "l4", "capacity": "reservation",
                                "reservation": {"affinity": "specific"}}]))
    assert "affinity: specific needs the reservations to consume: GKE reservation names" in found[
        "nodePools.gpu[0].reservation.names"]
    found = issues(eks_with([{"name": "r", "gpu": "l4", "capacity": "reservation", "reservation": {}}]))
    assert "EC2 capacity reservation ids (cr-...)" in found["nodePools.gpu[0].reservation.names"]


def test_reservation_holding_another_machine_type():
    pool = {"name": "r", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "reservation",
            "reservation": {"names": ["h100-res"], "machineType": "a3-megagpu-8g"}}
    message = issues(gke_values([pool]))["nodePools.gpu[0].reservation.machineType"]
    assert message.startswith("the reservation holds a3-megagpu-8g but the pool runs a3-highgpu-8g (8x h100-80gb)")
    pool = {"name": "r", "gpu": "l4", "capacity": "reservation",
            "reservation": {"names": [ODCR_ID], "machineType": "g6.2xlarge"}}
    assert "holds g6.2xlarge but the pool runs g6.xlarge" in issues(eks_with([pool]))[
        "nodePools.gpu[0].reservation.machineType"]


def test_reservation_tags_need_karpenter():
    pool = {"name": "r", "gpu": "l4", "capacity": "reservation", "reservation": {"tags": {"team": "ml"}}}
    message = issues(eks_with([pool]))["nodePools.gpu[0].reservation.tags"]
    assert "need nodePools.provisioner: karpenter on eks; managed node groups consume reservations by name" in message
    found = issues(eks_with([pool], provisioner="karpenter"))
    assert not {k for k in found if k.startswith("nodePools.gpu[0].reservation")}
    assert "GKE node pools" in issues(gke_values([pool]))["nodePools.gpu[0].reservation.tags"]


def test_reservation_names_in_each_clouds_form():
    found = issues(eks_with([{"name": "r", "gpu": "l4", "capacity": "reservation",
                              "reservation": {"names": ["my-odcr", ODCR_ID]}}]))
    assert "'my-odcr' is not an EC2 capacity reservation id" in found["nodePools.gpu[0].reservation.names[0]"]
    assert "targets one capacity reservation, not 2" in found["nodePools.gpu[0].reservation.names"]
    found = issues(gke_values([{"name": "r", "gpu": "l4", "capacity": "reservation",
                                "reservation": {"names": ["projects/p/reservations/x"], "capacityBlock": True}}]))
    assert "not a Compute Engine reservation name" in found["nodePools.gpu[0].reservation.names[0]"]
    assert "Capacity Blocks for ML are EC2's" in found["nodePools.gpu[0].reservation.capacityBlock"]


def test_capacity_block_needs_its_id():
    found = issues(eks_with([{"name": "r", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "reservation",
                              "reservation": {"affinity": "any", "capacityBlock": True}}]))
    assert "consumed only when targeted by id" in found["nodePools.gpu[0].reservation.affinity"]


def test_existing_cluster_refuses_provisioning_settings():
    cfg = StackConfig.model_validate({
        "cluster": {"provider": "existing", "name": "local", "existing": {"context": "kind"}},
        "nodePools": {"gpu": [{"name": "f", "gpu": "l4", "capacity": "flex-start", "flexStart": {}}]}})
    found = {i.path.removeprefix("ai-platform:"): i.message
             for i in semantics._pool_capacity_settings(cfg, 0, cfg.node_pools.gpu[0])}
    assert "provider existing brings its own nodes" in found["nodePools.gpu[0].flexStart"]
