"""Catalog facts the config must respect: what a cloud sells per capacity, the Kubernetes versions it
offers, and the regions the catalog prices (issue 13)."""

from __future__ import annotations

import re

import pytest

from config import ConfigError, catalog, validate
from config.capacity import machine_for

from .conftest import run_config, stack_values


def errors_of(values: dict, stack_file: str = "Pulumi.test.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, stack_file)
    return str(info.value)


def _h100_dev(gpus: int, capacity: str, **extra) -> dict:
    """dev with its A100 pool swapped for an H100 pool (the model moves with it)."""
    values = stack_values("dev")
    pool = next(p for p in values["nodePools"]["gpu"] if p["name"] == "a100-spot")
    pool.update({"gpu": "h100-80gb", "gpusPerNode": gpus, "capacity": capacity, **extra})
    return values


# ------------------------------------------------------------------- capacity per machine type


@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_on_demand_h100_with_fewer_than_8_gpus_on_gke_is_refused(gpus):
    message = errors_of(_h100_dev(gpus, "on-demand"))
    assert f"ai-platform:nodePools.gpu[0].capacity: a3-highgpu-{gpus}g" in message
    assert "not sold on-demand" in message
    assert "capacity: spot" in message and "gpusPerNode 8" in message
    assert "capacity: flex-start" in message  # A3 High 1g/2g/4g are sold spot and flex-start (issue 20 pools)


@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_spot_h100_with_fewer_than_8_gpus_on_gke_is_accepted_at_the_spot_price(gpus):
    cfg, plan = validate(_h100_dev(gpus, "spot"), "Pulumi.test.yaml")
    machine = machine_for("gke", cfg.node_pools.gpu[0])
    assert machine.name == f"a3-highgpu-{gpus}g"
    assert plan.pool("a100-spot").usd_per_node_hour == pytest.approx(machine.spot_usd_hour)


def test_on_demand_h100_with_8_gpus_on_gke_is_accepted():
    validate(_h100_dev(8, "on-demand", max=2), "Pulumi.test.yaml")


def test_machine_type_override_is_checked_for_capacity_too():
    message = errors_of(_h100_dev(1, "on-demand", machineType="a3-highgpu-1g"))
    assert "ai-platform:nodePools.gpu[0].capacity: machineType a3-highgpu-1g (1x h100-80gb)" in message


def test_every_catalog_machine_records_its_capacities_and_the_rule_holds_for_each():
    """The rule is generic: any machine type without a capacity is refused for it, on both clouds."""
    seen = set()
    for gpu in catalog.GPUS.values():
        for machines in (gpu.gke_machine_types, gpu.eks_instance_types):
            for machine in machines:
                assert machine.capacities and machine.capacities <= catalog.CAPACITIES, machine
                seen |= machine.capacities
                if "on-demand" in machine.capacities:
                    assert machine.on_demand_usd_hour is not None, machine
    assert seen == catalog.CAPACITIES == {"on-demand", "spot", "flex-start", "reservation"}
    not_on_demand = {m.name for g in catalog.GPUS.values() for m in (*g.gke_machine_types, *g.eks_instance_types)
                     if "on-demand" not in m.capacities}
    # A3 High 1-4g: Spot / Flex-start only; A3 Ultra and A4: reservation / Spot / Flex-start (AI Hypercomputer "GPU
    # machine types"); p5e: EC2 Capacity Blocks (no on-demand price in any region).
    assert not_on_demand == {"a3-highgpu-1g", "a3-highgpu-2g", "a3-highgpu-4g", "a3-ultragpu-8g", "a4-highgpu-8g",
                             "p5e.48xlarge"}


def test_eks_spot_instance_types_must_be_sold_as_spot(monkeypatch):
    """An extra spot instance type the catalog does not record as spot is refused (same rule, other cloud)."""
    from dataclasses import replace
    from types import MappingProxyType

    g5 = catalog.GPUS["a10g"]
    types = tuple(replace(m, capacities=frozenset({"on-demand"})) if m.name == "g5.2xlarge" else m
                  for m in g5.eks_instance_types)
    gpus = MappingProxyType({**catalog.GPUS, "a10g": replace(g5, eks_instance_types=types)})
    monkeypatch.setattr(catalog, "GPUS", gpus)
    values = stack_values("prod")
    values["nodePools"]["gpu"].append({"name": "a10g-spot", "gpu": "a10g", "gpusPerNode": 1, "capacity": "spot",
                                       "min": 0, "max": 1, "spotInstanceTypes": ["g5.2xlarge"]})
    message = errors_of(values)
    assert "ai-platform:nodePools.gpu[2].spotInstanceTypes[0]: g5.2xlarge" in message
    assert "not sold as spot" in message


# ------------------------------------------------------------------------ Kubernetes versions


def test_gke_version_is_checked_against_the_channel():
    values = stack_values("dev")
    values["cluster"]["kubernetesVersion"] = "1.19"
    message = errors_of(values)
    assert "ai-platform:cluster.kubernetesVersion: 1.19" in message
    allowed = catalog.GKE_KUBERNETES_VERSIONS["REGULAR"]
    assert ", ".join(allowed) in message and "REGULAR" in message


def test_gke_extended_channel_offers_older_minors():
    assert set(catalog.GKE_KUBERNETES_VERSIONS["REGULAR"]) < set(catalog.GKE_KUBERNETES_VERSIONS["EXTENDED"])
    values = stack_values("dev")
    values["cluster"]["gcp"]["releaseChannel"] = "EXTENDED"
    values["cluster"]["kubernetesVersion"] = catalog.GKE_KUBERNETES_VERSIONS["EXTENDED"][0]
    validate(values, "Pulumi.test.yaml")


def test_every_channel_offers_the_shipped_gke_version():
    shipped = stack_values("dev")["cluster"]["kubernetesVersion"]
    for channel, versions in catalog.GKE_KUBERNETES_VERSIONS.items():
        assert all(re.fullmatch(r"1\.\d\d", v) for v in versions), channel
        assert shipped in versions, channel


def test_gke_no_longer_offers_1_33_outside_extended():
    values = stack_values("dev")
    values["cluster"]["kubernetesVersion"] = "1.33"
    assert "ai-platform:cluster.kubernetesVersion: 1.33 is not offered" in errors_of(values)
    values["cluster"]["gcp"]["releaseChannel"] = "EXTENDED"
    validate(values, "Pulumi.test.yaml")


# ------------------------------------------------------------------------------------ regions


@pytest.mark.parametrize("stack, region, zones", [("dev", "europe-west4", ["europe-west4-a", "europe-west4-b"]),
                                                  ("prod", "eu-west-1", ["eu-west-1a", "eu-west-1b"])])
def test_a_region_the_catalog_does_not_price_is_refused(stack, region, zones):
    values = stack_values(stack)
    values["cluster"].update(region=region, zones=zones)
    message = errors_of(values)
    provider = values["cluster"]["provider"]
    assert f"ai-platform:cluster.region: {region}" in message
    assert ", ".join(catalog.priced_regions(provider)) in message
    assert "config/catalog.py" in message  # where to add a region's prices


def test_prices_are_read_per_region():
    pool_machine = catalog.GPUS["l4"].gke_machine_types[0]
    assert catalog.price("gke", "us-central1", pool_machine.name, "spot") == pool_machine.spot_usd_hour
    assert catalog.price("gke", "us-central1", pool_machine.name, "on-demand") == pool_machine.on_demand_usd_hour
    assert catalog.price("gke", "europe-west4", pool_machine.name, "spot") is None


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_priced_region_is_in_the_capacity_output_and_the_report(stack):
    from tools.plan import capacity_lines

    result = run_config(stack_values(stack), stack=stack)
    assert result.error is None
    capacity = result.outputs["capacity"]
    region = stack_values(stack)["cluster"]["region"]
    assert capacity["pricesRegion"] == region
    totals = capacity_lines(capacity, result.outputs["monthlyCost"])[-1]
    assert f"prices for {region}" in totals


def test_existing_clusters_price_nothing_and_say_so():
    from tools.plan import capacity_lines

    result = run_config(stack_values("local"), stack="local")
    assert result.error is None
    assert result.outputs["capacity"]["pricesRegion"] is None
    assert capacity_lines(result.outputs["capacity"], result.outputs["monthlyCost"])[-1].endswith(
        "no cloud machines priced (existing cluster)")


def test_a_region_added_as_data_is_accepted_and_priced_from_its_table(monkeypatch):
    from types import MappingProxyType

    l4 = "g2-standard-4"
    table = MappingProxyType({"europe-west4": MappingProxyType({l4: (0.9, 0.5)})})
    monkeypatch.setattr(catalog, "REGIONAL_PRICES", MappingProxyType({**catalog.REGIONAL_PRICES, "gke": table}))
    values = stack_values("dev")
    values["cluster"].update(region="europe-west4", zones=["europe-west4-a", "europe-west4-b"])
    # The A100 pool's machine has no europe-west4 figure yet: named, with where to add it.
    message = errors_of(values)
    assert ("ai-platform:nodePools.gpu[0].gpu: the catalog has no europe-west4 spot price for a2-ultragpu-1g; "
            "add it to config/catalog.py REGIONAL_PRICES['gke']['europe-west4']") in message
    assert "cluster.region" not in message
    table = MappingProxyType({"europe-west4": MappingProxyType({l4: (0.9, 0.5), "a2-ultragpu-1g": (6.0, None)})})
    monkeypatch.setattr(catalog, "REGIONAL_PRICES", MappingProxyType({**catalog.REGIONAL_PRICES, "gke": table}))
    cfg, plan = validate(values, "Pulumi.test.yaml")
    assert plan.prices_region == "europe-west4"
    assert plan.pool("l4-spot").usd_per_node_hour == 0.5
    assert plan.pool("a100-spot").usd_per_node_hour == 6.0  # no spot figure: priced on-demand (upper bound)


def test_the_policy_pack_knows_every_gpu_machine_family_of_the_catalog():
    """The pack runs without config/, so its GPU family lists must name every family the catalog can provision: a
    GPU node pool of a family it does not know would escape the GPU-pool policies (taints, labels, sizing)."""
    from policy.rules.helpers import (
        EKS_GPU_INSTANCE_FAMILIES,
        GKE_GPU_MACHINE_FAMILIES,
        eks_instance_family,
        gke_machine_family,
    )
    gke = {gke_machine_family(m.name) for g in catalog.GPUS.values() for m in g.gke_machine_types}
    eks = {eks_instance_family(m.name) for g in catalog.GPUS.values() for m in g.eks_instance_types}
    # N1 VMs carry T4s only through guestAccelerators (the pack recognises them by the accelerator).
    assert gke - {"n1"} <= set(GKE_GPU_MACHINE_FAMILIES), gke - set(GKE_GPU_MACHINE_FAMILIES)
    assert eks <= EKS_GPU_INSTANCE_FAMILIES, eks - EKS_GPU_INSTANCE_FAMILIES
    assert {"g4", "a4"} <= gke and {"g7e", "p6-b200", "p5en"} <= eks  # the new GPUs' families are in the catalog
