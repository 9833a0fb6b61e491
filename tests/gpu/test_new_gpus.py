"""H200, B200 and RTX PRO 6000 (issue 19): fit verdicts on their MIG slices and whole GPUs computed by hand, the
capacities the clouds sell their machines at, and the node pools a mock run records for them.

Memory arithmetic (config.shape / config.capacity.plan_model):
  need per unit = (weights + KV cache) / tensorParallel + 1.0 GiB runtime + 10 % of weights / tensorParallel
  usable        = unit memory (catalog, as nvidia-smi reports it) x gpuMemoryUtilization (default 0.9)
  AWQ weights   = (params - embeddings) x (0.5 + 1/32) bytes + embeddings x 2 bytes
  KV per token  = 2 (K and V) x layers x KV heads x head_dim x 2 bytes
"""

from __future__ import annotations

import pytest

from config import ConfigError, catalog, validate
from config.capacity import machine_for
from config.shape import GIB

from ..cluster.conftest import run_cluster
from ..conftest import stack_values

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"

# Qwen2.5-7B (catalog: 7.62B params, 28 layers, hidden 3584, 4 KV heads x 128, vocab 152064, untied embeddings).
QWEN7_EMBED = 152064 * 3584 * 2                                     # 1,089,994,752 params (input + LM head)
QWEN7_AWQ = ((7.62e9 - QWEN7_EMBED) * (0.5 + 1 / 32) + QWEN7_EMBED * 2) / GIB   # 5.2611 GiB
QWEN7_BF16 = 7.62e9 * 2 / GIB                                        # 14.1934 GiB
QWEN7_KV_8K = 2 * 28 * 4 * 128 * 2 * 8192 / GIB                      # 0.4375 GiB
# Qwen2.5-72B (72.7B params, 80 layers, hidden 8192, 8 KV heads x 128, vocab 152064, untied).
QWEN72_EMBED = 152064 * 8192 * 2                                     # 2,491,416,576 params
QWEN72_BF16 = 72.7e9 * 2 / GIB                                       # 135.4145 GiB
QWEN72_AWQ = ((72.7e9 - QWEN72_EMBED) * (0.5 + 1 / 32) + QWEN72_EMBED * 2) / GIB  # 39.3779 GiB
QWEN72_KV_8K = 2 * 80 * 8 * 128 * 2 * 8192 / GIB                     # 2.5 GiB
# BAAI/bge-m3 (0.568B params, an encoder: no KV cache), BF16.
BGE_M3 = 0.568e9 * 2 / GIB                                           # 1.0580 GiB


def need(weights: float, kv: float, tp: int = 1) -> float:
    return (weights + kv) / tp + 1.0 + 0.1 * weights / tp


def gke(pools: list[dict], models: list[dict], **extra) -> dict:
    values = {"cluster": {"provider": "gke", "name": "ai-t", "region": "us-central1", "zones": ["us-central1-a"],
                          "gcp": {"project": "acme-ai-test"}},
              "nodePools": {"system": {"machineType": "e2-standard-4"},
                            "gpu": [{**p, "forceUpgrade": True} for p in pools]},
              "serving": {"models": models, "cacheAccessMode": "ReadWriteMany", "storageClass": "standard-rwx"}}
    values.update(extra)
    return values


def eks(pools: list[dict], models: list[dict], **extra) -> dict:
    prod = stack_values("prod")
    values = {"cluster": prod["cluster"], "nodePools": {"system": prod["nodePools"]["system"],
                                                       "gpu": [{**p, "forceUpgrade": True} for p in pools]},
              "serving": {"models": models, "cacheAccessMode": "ReadWriteMany", "storageClass": "efs"}}
    values.update(extra)
    return values


def pool(name: str, gpu: str, gpus: int, capacity: str, **extra) -> dict:
    return {"name": name, "gpu": gpu, "gpusPerNode": gpus, "capacity": capacity, "min": 0, "max": 2, **extra}


def mig(profile: str) -> dict:
    return {"sharing": {"strategy": "mig", "profile": profile}}


def served(model: str, quantization: str = "none", max_len: int = 8192, tp: int = 1, pool_name: str = "p") -> dict:
    return {"name": "m", "engine": "vllm", "model": model, "quantization": quantization, "maxModelLen": max_len,
            "tensorParallel": tp, "pool": pool_name, "replicas": {"min": 1, "max": 1}}


def fit_error(values: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.t.yaml")
    return str(info.value)


# ----------------------------------------------------------------------------------------- fit verdicts


def test_qwen7b_awq_at_8k_fits_an_h200_1g_18gb_slice():
    values = gke([pool("p", "h200-141gb", 8, "spot", **mig("1g.18gb"))],
                 [served("Qwen/Qwen2.5-7B-Instruct-AWQ", "awq")])
    _, capacity = validate(values, "Pulumi.t.yaml")
    m = capacity.model("m")
    # 5.2611 + 0.4375 + 1.0 + 0.5261 = 7.2247 GiB <= 16.00 (16384 MiB) x 0.9 = 14.40 GiB
    assert m.need_per_unit_gib == pytest.approx(need(QWEN7_AWQ, QWEN7_KV_8K)) == pytest.approx(7.2247, abs=1e-3)
    assert m.usable_per_unit_gib == pytest.approx(16.00 * 0.9)
    assert m.fits and m.unit == "1g.18gb slice"
    assert capacity.pool("p").units_per_node == 8 * 7  # 7 slices per H200, 8 GPUs per a3-ultragpu-8g


def test_qwen7b_bf16_at_32k_does_not_fit_an_h200_1g_18gb_slice_but_fits_1g_35gb():
    model = served("Qwen/Qwen2.5-7B-Instruct", max_len=32768)
    # 14.1934 + 4 x 0.4375 = 1.75 KV + 1.0 + 1.4193 = 18.3627 GiB > 14.40 GiB
    message = fit_error(gke([pool("p", "h200-141gb", 8, "spot", **mig("1g.18gb"))], [model]))
    assert "ai-platform:serving.models[0]" in message and "does not fit" in message
    assert "needs 18.4 GiB per 1g.18gb slice" in message
    assert "gives 14.4 GiB (16.0 x gpuMemoryUtilization 0.9)" in message
    # The 1g.35gb slice (two memory slices, 33280 MiB = 32.50 GiB): 18.36 <= 29.25 GiB
    _, capacity = validate(gke([pool("p", "h200-141gb", 8, "spot", **mig("1g.35gb"))], [model]), "Pulumi.t.yaml")
    assert capacity.model("m").usable_per_unit_gib == pytest.approx(32.50 * 0.9)
    assert capacity.pool("p").units_per_node == 8 * 4


def test_bge_m3_fits_a_b200_1g_23gb_slice():
    values = eks([pool("b200", "b200-180gb", 8, "on-demand", **mig("1g.23gb"))], [],
                 rag={"embedding": {"model": "BAAI/bge-m3", "pool": "b200", "migProfile": "1g.23gb"}})
    _, capacity = validate(values, "Pulumi.t.yaml")
    emb = capacity.model("embedding")
    # 1.0580 + 0 (no KV) + 1.0 + 0.1058 = 2.1638 GiB <= 20.50 (20992 MiB) x 0.9 = 18.45 GiB
    assert emb.kv_cache_gib == 0
    assert emb.need_per_unit_gib == pytest.approx(need(BGE_M3, 0.0)) == pytest.approx(2.1638, abs=1e-3)
    assert emb.usable_per_unit_gib == pytest.approx(20.50 * 0.9) and emb.fits
    assert capacity.pool("b200").machine_type == "p6-b200.48xlarge"


def test_qwen72b_bf16_fits_two_h200_not_one_and_not_two_h100():
    model = served("Qwen/Qwen2.5-72B-Instruct", tp=2)
    _, capacity = validate(eks([pool("p", "h200-141gb", 8, "on-demand")], [model]), "Pulumi.t.yaml")
    m = capacity.model("m")
    # (135.4145 + 2.5) / 2 + 1.0 + 13.5415 / 2 = 76.7280 GiB <= 140.40 x 0.9 = 126.36 GiB
    assert m.need_per_unit_gib == pytest.approx(need(QWEN72_BF16, QWEN72_KV_8K, 2)) == pytest.approx(76.728, abs=1e-3)
    assert m.usable_per_unit_gib == pytest.approx(140.40 * 0.9) and m.fits and m.units_per_replica == 2
    assert capacity.pool("p").machine_type == "p5en.48xlarge"
    # One H200: 135.4145 + 2.5 + 1.0 + 13.5415 = 152.456 GiB > 126.36 GiB
    assert "does not fit: needs 152.5 GiB per 1x h200-141gb" in fit_error(
        eks([pool("p", "h200-141gb", 8, "on-demand")], [served("Qwen/Qwen2.5-72B-Instruct", tp=1)]))
    # Two H100: 76.728 GiB > 79.65 x 0.9 = 71.685 GiB
    assert "does not fit: needs 76.7 GiB per 1x h100-80gb" in fit_error(
        eks([pool("p", "h100-80gb", 8, "on-demand")], [model]))


def test_qwen72b_bf16_fits_one_b200():
    _, capacity = validate(eks([pool("p", "b200-180gb", 8, "on-demand")], [served("Qwen/Qwen2.5-72B-Instruct")]),
                           "Pulumi.t.yaml")
    m = capacity.model("m")
    # 152.456 GiB <= 179.06 (183359 MiB) x 0.9 = 161.154 GiB
    assert m.need_per_unit_gib == pytest.approx(need(QWEN72_BF16, QWEN72_KV_8K)) == pytest.approx(152.456, abs=1e-3)
    assert m.usable_per_unit_gib == pytest.approx(179.06 * 0.9) and m.fits


def test_qwen72b_awq_fits_a_whole_rtx_pro_6000_not_its_2g_48gb_slice():
    model = served("Qwen/Qwen2.5-72B-Instruct-AWQ", "awq")
    # 39.3779 + 2.5 + 1.0 + 3.9378 = 46.8157 GiB
    expected = need(QWEN72_AWQ, QWEN72_KV_8K)
    assert expected == pytest.approx(46.8157, abs=1e-3)
    _, capacity = validate(eks([pool("p", "rtx-pro-6000", 1, "on-demand")], [model]), "Pulumi.t.yaml")
    m = capacity.model("m")
    assert m.need_per_unit_gib == pytest.approx(expected)
    assert m.usable_per_unit_gib == pytest.approx(95.59 * 0.9) and m.fits  # 86.03 GiB (97887 MiB)
    assert capacity.pool("p").machine_type == "g7e.2xlarge"
    # The 2g.48gb slice: 47.25 x 0.9 = 42.525 GiB < 46.8 GiB
    message = fit_error(eks([pool("p", "rtx-pro-6000", 1, "on-demand", **mig("2g.48gb"))], [model]))
    assert "does not fit: needs 46.8 GiB per 2g.48gb slice" in message and "gives 42.5 GiB" in message


def test_qwen7b_awq_fits_the_rtx_pro_6000_1g_24gb_slice_four_per_gpu():
    values = eks([pool("p", "rtx-pro-6000", 1, "on-demand", **mig("1g.24gb"))],
                 [served("Qwen/Qwen2.5-7B-Instruct-AWQ", "awq", max_len=32768)])
    _, capacity = validate(values, "Pulumi.t.yaml")
    m = capacity.model("m")
    # 5.2611 + 1.75 + 1.0 + 0.5261 = 8.5372 GiB <= 23.62 (24192 MiB) x 0.9 = 21.26 GiB
    assert m.need_per_unit_gib == pytest.approx(need(QWEN7_AWQ, 4 * QWEN7_KV_8K)) == pytest.approx(8.5372, abs=1e-3)
    assert m.usable_per_unit_gib == pytest.approx(23.62 * 0.9) and m.fits
    assert capacity.pool("p").units_per_node == 4  # RTX PRO 6000: four 1g.24gb slices, not seven


def test_rtx_pro_6000_mig_geometry_has_four_slices():
    from config.gpu_stack import layout_problems

    assert layout_problems("rtx-pro-6000", {"1g.24gb": 2, "2g.48gb": 1}) == []  # NVIDIA's all-balanced
    assert layout_problems("rtx-pro-6000", {"1g.24gb": 4}) == []
    assert any("needs 5 compute slices; a GPU has 4" in p for p in layout_problems("rtx-pro-6000",
                                                                                 {"2g.48gb": 2, "1g.24gb": 1}))
    assert any("exceeds the 2 instances" in p for p in layout_problems("rtx-pro-6000", {"2g.48gb": 3}))
    # H200 keeps the 7/8 geometry: 3g.71gb + 2g.35gb + 2x 1g.18gb is NVIDIA's all-balanced for 0x2335.
    assert layout_problems("h200-141gb", {"3g.71gb": 1, "2g.35gb": 1, "1g.18gb": 2}) == []
    assert layout_problems("b200-180gb", {"3g.90gb": 1, "2g.45gb": 1, "1g.23gb": 2}) == []


# ------------------------------------------------------------------------- what each cloud sells


def test_on_demand_h200_on_gke_is_refused_with_how_a3_ultra_is_sold():
    message = fit_error(gke([pool("p", "h200-141gb", 8, "on-demand")], []))
    assert ("ai-platform:nodePools.gpu[0].capacity: a3-ultragpu-8g (8x h200-141gb) is not sold on-demand on GKE, "
            "only flex-start / reservation / spot; use capacity: flex-start or capacity: reservation or capacity: spot "
            "or cluster.gcp.reservation: <a Compute Engine reservation of a3-ultragpu-8g> (on-demand pools consume it) "
            "or another GPU: no GKE machine with h200-141gb is sold on-demand") in message


def test_a_gke_reservation_makes_an_on_demand_a3_ultra_pool_valid():
    values = gke([pool("p", "h200-141gb", 8, "on-demand")], [])
    values["cluster"]["gcp"]["reservation"] = "h200-block"
    _, capacity = validate(values, "Pulumi.t.yaml")
    # A reservation is billed at the list price: VM 12.266 + 8x H200 74.49392 (SkyPilot v8 GCP rows)
    assert capacity.pool("p").usd_per_node_hour == pytest.approx(12.266 + 74.49392)


def test_a_gke_reservation_cannot_hold_a3_highgpu_1g():
    """A3 High 1g/2g/4g are Spot / Flex-start only: an on-demand pool consuming the reservation is refused."""
    values = gke([pool("p", "h100-80gb", 1, "on-demand")], [])
    values["cluster"]["gcp"]["reservation"] = "h100-block"
    message = fit_error(values)
    assert ("ai-platform:nodePools.gpu[0].capacity: a3-highgpu-1g (1x h100-80gb) is not sold through reservations "
            "(cluster.gcp.reservation 'h100-block' makes on-demand pools consume one) on GKE, only flex-start / "
            "spot; use capacity: flex-start or capacity: spot or gpusPerNode 8 (a3-highgpu-8g, a3-edgegpu-8g) for "
            "on-demand") in message


def test_on_demand_b200_on_gke_is_refused_and_spot_is_priced():
    message = fit_error(gke([pool("p", "b200-180gb", 8, "on-demand")], []))
    assert "a4-highgpu-8g (8x b200-180gb) is not sold on-demand on GKE" in message
    assert "use capacity: flex-start or capacity: reservation or capacity: spot" in message
    cfg, capacity = validate(gke([pool("p", "b200-180gb", 8, "spot")], []), "Pulumi.t.yaml")
    assert capacity.pool("p").usd_per_node_hour == pytest.approx(32.6064)  # SkyPilot v8 B200 x8 spot row


def test_p5e_is_sold_through_capacity_blocks_not_on_demand():
    values = eks([pool("p", "h200-141gb", 8, "on-demand", machineType="p5e.48xlarge")], [])
    message = fit_error(values)
    assert ("ai-platform:nodePools.gpu[0].capacity: machineType p5e.48xlarge (8x h200-141gb) is not sold on-demand "
            "on EKS, only reservation / spot; use capacity: reservation or capacity: spot or machineType: "
            "p5en.48xlarge for on-demand") in message
    # Spot p5e: no us-east-1 row at all in the price list, so not offered there.
    values = eks([pool("p", "h200-141gb", 8, "spot", machineType="p5e.48xlarge")], [])
    assert ("ai-platform:nodePools.gpu[0].gpu: p5e.48xlarge has no us-east-1 spot price in the catalog (the cloud "
            "lists none there: it is not offered in us-east-1); use machineType: p5en.48xlarge") in fit_error(values)


def test_default_h200_instance_on_eks_is_p5en_at_its_price():
    cfg, capacity = validate(eks([pool("p", "h200-141gb", 8, "on-demand")], []), "Pulumi.t.yaml")
    assert machine_for("eks", cfg.node_pools.gpu[0]).name == "p5en.48xlarge"
    assert capacity.pool("p").usd_per_node_hour == pytest.approx(63.296)
    cfg, capacity = validate(eks([pool("p", "h200-141gb", 8, "spot")], []), "Pulumi.t.yaml")
    # median of the two us-east-1 AZ rows: (18.2492 + 16.5551) / 2
    assert capacity.pool("p").usd_per_node_hour == pytest.approx((18.2492 + 16.5551) / 2)


def test_g4_without_a_spot_figure_is_priced_on_demand_as_an_upper_bound():
    cfg, capacity = validate(gke([pool("p", "rtx-pro-6000", 2, "spot")], []), "Pulumi.t.yaml")
    assert capacity.pool("p").machine_type == "g4-standard-96"
    assert capacity.pool("p").usd_per_node_hour == pytest.approx(9.00)  # 2 x 4.50, spot unknown


def test_rtx_pro_6000_has_no_gke_partition_size():
    message = fit_error(gke([pool("p", "rtx-pro-6000", 1, "on-demand", **mig("1g.24gb"))], []))
    assert "ai-platform:nodePools.gpu[0].sharing.profile: GKE does not offer gpu_partition_size '1g.24gb'" in message


def test_the_new_machines_record_their_specs():
    h200, b200, rtx = (catalog.GPUS[k] for k in ("h200-141gb", "b200-180gb", "rtx-pro-6000"))
    assert [(m.name, m.gpus, m.vcpus, m.memory_gib) for m in h200.gke_machine_types] == [
        ("a3-ultragpu-8g", 8, 224, 2952.0)]
    assert [(m.name, m.gpus, m.vcpus, m.memory_gib) for m in b200.gke_machine_types] == [
        ("a4-highgpu-8g", 8, 224, 3968.0)]
    assert [m.name for m in h200.eks_instance_types] == ["p5en.48xlarge", "p5e.48xlarge"]
    assert [(m.name, m.gpus) for m in rtx.eks_instance_types] == [
        ("g7e.2xlarge", 1), ("g7e.4xlarge", 1), ("g7e.8xlarge", 1), ("g7e.12xlarge", 2), ("g7e.24xlarge", 4),
        ("g7e.48xlarge", 8)]
    assert [(m.name, m.gpus, m.vcpus) for m in rtx.gke_machine_types] == [
        ("g4-standard-48", 1, 48), ("g4-standard-96", 2, 96), ("g4-standard-192", 4, 192),
        ("g4-standard-384", 8, 384)]
    assert (h200.compute_capability, b200.compute_capability, rtx.compute_capability) == ("9.0", "10.0", "12.0")


# ------------------------------------------------------------------------------ recorded node pools
# The GKE side (a4-highgpu-8g, nvidia-b200, gpuPartitionSize 3g.90gb) is the b200-mig pool of the shared
# tests/cluster/test_gke.py run.


def test_eks_h200_pool_records_the_p5en_instance_type():
    values = eks([pool("h200", "h200-141gb", 8, "on-demand")], [])
    run = run_cluster(values)
    [group] = [r.inputs for r in run.of_type(NODE_GROUP) if r.inputs["labels"]["ai-platform/pool"] == "h200"]
    assert group["instanceTypes"] == ["p5en.48xlarge"]
    assert group["capacityType"] == "ON_DEMAND"
