"""Capacity math against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from config import ConfigError, catalog, validate
from config.capacity import HOURS_PER_MONTH, cache_volume_gi, shape_of
from config.models import ServedModel
from config.shape import GIB, kv_cache_gib, weights_gib

CUSTOM_ARCH = {"layers": 32, "hidden": 4096, "kvHeads": 8, "headDim": 128, "vocab": 32000, "tiedEmbeddings": False}

# Replicas here span nodes, which a ReadWriteOnce model cache cannot (a config check): share the cache.
SHARED_CACHE = {"cacheAccessMode": "ReadWriteMany", "storageClass": "standard-rwx"}


def upgradable(pools):
    """Pools that accept forced upgrade drains: these capacity tests pack nodes densely, and the drain-window check
    (config.upgrades) has its own tests in tests/cluster/test_eks_nodes.py and test_node_upgrades.py."""
    return [{**p, "forceUpgrade": True} for p in pools]


def gke(pools, models, **extra):
    values = {"cluster": {"provider": "gke", "name": "ai-t", "region": "us-central1", "zones": ["us-central1-a"],
                          "gcp": {"project": "acme-ai-test"}},
              "nodePools": {"system": {"machineType": "e2-standard-4"}, "gpu": upgradable(pools)},
              "serving": {"models": models, **SHARED_CACHE}}
    values.update(extra)
    return values


def model(name="m", pool="p", **kw):
    base = {"name": name, "engine": "vllm", "model": "acme/custom-7b", "paramsB": 7, "architecture": CUSTOM_ARCH,
            "maxModelLen": 8192, "pool": pool, "replicas": {"min": 1, "max": 1}}
    base.update(kw)
    return base


def test_kv_cache_and_weights_by_hand():
    m = ServedModel.model_validate(model())
    shape = shape_of(m)
    # K and V x 32 layers x 8 KV heads x 128 dims x 2 bytes = 131072 bytes per token; x 8192 = 1 GiB
    assert kv_cache_gib(shape, 8192) == pytest.approx(1.0)
    embed = 32000 * 4096 * 2  # untied: input embeddings + LM head
    assert weights_gib(shape, "none") == pytest.approx(7e9 * 2 / GIB)
    assert weights_gib(shape, "awq") == pytest.approx(((7e9 - embed) * (0.5 + 1 / 32) + embed * 2) / GIB)
    assert weights_gib(shape, "fp8") == pytest.approx(((7e9 - embed) * 1 + embed * 2) / GIB)


def test_catalog_model_shape_qwen7b():
    qwen = catalog.find_model("Qwen/Qwen2.5-7B-Instruct-AWQ")
    assert qwen is not None and qwen.repo == "Qwen/Qwen2.5-7B-Instruct"
    per_token = 2 * qwen.layers * qwen.kv_heads * qwen.head_dim * 2
    assert per_token == 2 * 28 * 4 * 128 * 2  # Qwen2.5-7B: 28 layers, 4 KV heads (GQA), head_dim 128


def test_fit_per_gpu_and_tensor_parallel_split():
    pools = [{"name": "p", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": 2}]
    cfg, capacity = validate(gke(pools, [model(tensorParallel=2, replicas={"min": 3, "max": 8})]), "Pulumi.t.yaml")
    m = capacity.model("m")
    weights = 7e9 * 2 / GIB
    expected = (weights + 1.0) / 2 + 1.0 + 0.1 * weights / 2
    assert m.need_per_unit_gib == pytest.approx(expected)
    assert m.usable_per_unit_gib == pytest.approx(catalog.GPUS["h100-80gb"].memory_gib * 0.9)
    assert m.units_per_replica == 2 and m.replicas_per_node == 4
    assert (m.nodes_at_min, m.nodes_at_max) == (1, 2)  # 3 replicas -> 1 node, 8 replicas -> 2 nodes
    pool = capacity.pool("p")
    assert (pool.nodes_needed_min, pool.nodes_needed_max) == (1, 2)


def test_mig_units_per_node_come_from_the_catalog():
    pools = [{"name": "p", "gpu": "a100-80gb", "gpusPerNode": 8, "capacity": "spot", "min": 0, "max": 1,
              "sharing": {"strategy": "mig", "profile": "1g.10gb"}}]
    cfg, capacity = validate(gke(pools, [model(model="Qwen/Qwen2.5-0.5B-Instruct", paramsB=None, architecture=None,
                                               maxModelLen=4096, replicas={"min": 1, "max": 56})]), "Pulumi.t.yaml")
    profile = catalog.GPUS["a100-80gb"].mig_profiles["1g.10gb"]
    assert profile.max_instances == 7
    assert capacity.pool("p").units_per_node == 8 * 7
    assert capacity.model("m").usable_per_unit_gib == pytest.approx(profile.memory_gib * 0.9)
    assert capacity.pool("p").nodes_needed_max == 1


def test_time_slicing_does_not_create_memory():
    pools = [{"name": "p", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 0, "max": 4,
              "sharing": {"strategy": "time-slicing", "replicas": 4}}]
    cfg, capacity = validate(gke(pools, [model(model="Qwen/Qwen2.5-0.5B-Instruct", paramsB=None, architecture=None,
                                               maxModelLen=2048)]), "Pulumi.t.yaml")
    l4 = catalog.GPUS["l4"].memory_gib
    assert capacity.model("m").usable_per_unit_gib == pytest.approx(l4 / 4 * 0.9)
    assert capacity.pool("p").units_per_node == 4
    assert capacity.pool("p").gpus_max == 4  # 4 nodes x 1 physical GPU, not 16


def test_time_sliced_share_too_small_is_rejected():
    pools = [{"name": "p", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 0, "max": 4,
              "sharing": {"strategy": "time-slicing", "replicas": 4}}]
    with pytest.raises(Exception) as info:
        validate(gke(pools, [model()]), "Pulumi.t.yaml")
    assert "per 1/4 of l4" in str(info.value)


def test_monthly_cost_is_price_times_730_hours():
    pools = [{"name": "od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 1, "max": 3},
             {"name": "sp", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "spot", "min": 0, "max": 2}]
    cfg, capacity = validate(gke(pools, []), "Pulumi.t.yaml")
    machine = next(m for m in catalog.GPUS["h100-80gb"].gke_machine_types if m.gpus == 8)
    od, sp = capacity.pool("od"), capacity.pool("sp")
    assert od.machine_type == machine.name
    assert od.monthly_usd_min == pytest.approx(machine.on_demand_usd_hour * HOURS_PER_MONTH)
    assert od.monthly_usd_max == pytest.approx(3 * machine.on_demand_usd_hour * HOURS_PER_MONTH)
    assert sp.monthly_usd_max == pytest.approx(2 * machine.spot_usd_hour * HOURS_PER_MONTH)
    assert capacity.monthly_usd_max == pytest.approx(od.monthly_usd_max + sp.monthly_usd_max)
    assert capacity.monthly_usd_spot_max == pytest.approx(sp.monthly_usd_max)
    assert capacity.gpus_max == 40 and capacity.gpus_min == 8


def test_model_cost_share_and_spot_on_demand_split():
    pools = [{"name": "p", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": 2}]
    cfg, capacity = validate(gke(pools, [model(tensorParallel=2, replicas={"min": 2, "max": 4})]), "Pulumi.t.yaml")
    price = next(m for m in catalog.GPUS["h100-80gb"].gke_machine_types if m.gpus == 8).on_demand_usd_hour
    # 2 replicas x 2 GPUs = half of an 8-GPU node
    assert capacity.model("m").monthly_usd_min == pytest.approx(price * HOURS_PER_MONTH * 4 / 8)
    assert capacity.model("m").monthly_usd_max == pytest.approx(price * HOURS_PER_MONTH * 8 / 8)


def test_unknown_model_with_params_only_is_a_conservative_estimate():
    m = ServedModel.model_validate({"name": "x", "engine": "vllm", "model": "acme/x", "paramsB": 7, "pool": "p"})
    shape = shape_of(m)
    assert shape.estimated and shape.layers == round((7e9 / (12 * 128**2)) ** (1 / 3))
    known = shape_of(ServedModel.model_validate(
        {"name": "y", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct", "pool": "p"}))
    assert kv_cache_gib(shape, 8192) > kv_cache_gib(known, 8192)  # no GQA assumed -> larger


def test_embedding_server_is_planned_on_its_pool():
    pools = [{"name": "p", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 0, "max": 2}]
    values = gke(pools, [], rag={"embedding": {"model": "BAAI/bge-m3", "pool": "p", "replicas": 2}})
    cfg, capacity = validate(values, "Pulumi.t.yaml")
    emb = capacity.model("embedding")
    assert emb.kv_cache_gib == 0 and emb.pool == "p"
    assert capacity.pool("p").nodes_needed_max == 2


def test_cache_volume_rounds_up_to_10gi():
    assert cache_volume_gi(0.0) == 10
    assert cache_volume_gi(13.04) == math.ceil((13.04 * 1.25 + 5) / 10) * 10


def test_plan_output_is_json_ready():
    import json

    from .conftest import stack_values

    cfg, capacity = validate(stack_values("prod"), "Pulumi.prod.yaml")
    out = json.loads(json.dumps(capacity.to_output()))
    assert set(out) == {"models", "pools", "totals", "pricesAsOf", "pricesRegion", "flexStartPricesAsOf", "scenarios"}
    assert out["totals"]["gpusMax"] == 40
    assert out["models"]["qwen7b"]["resource"] == "nvidia.com/mig-3g.40gb"  # mixed MIG strategy


def eks_mixed(models, layout=None, max_nodes=2):
    pools = [{"name": "p", "gpu": "a100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": max_nodes,
              "sharing": {"strategy": "mig", "layout": layout or {"3g.40gb": 1, "2g.20gb": 2}}}]
    return {"cluster": {"provider": "eks", "name": "ai-t", "region": "us-east-1",
                        "zones": ["us-east-1a", "us-east-1b"]},
            "nodePools": {"system": {"machineType": "m6i.xlarge"}, "gpu": upgradable(pools)},
            "gpuStack": {"migStrategy": "mixed"},
            "serving": {"models": models, **SHARED_CACHE}}


def test_mixed_layout_counts_each_profile_separately():
    """Per node: 8 GPUs x (1x 3g.40gb + 2x 2g.20gb) = 8 big and 16 small slices."""
    small = model(name="small", model="Qwen/Qwen2.5-0.5B-Instruct", paramsB=None, architecture=None, maxModelLen=4096,
                  migProfile="2g.20gb", replicas={"min": 1, "max": 16})
    big = model(name="big", migProfile="3g.40gb", replicas={"min": 1, "max": 9})
    cfg, capacity = validate(eks_mixed([small, big]), "Pulumi.t.yaml")
    assert capacity.model("small").replicas_per_node == 16 and capacity.model("small").nodes_at_max == 1
    assert capacity.model("big").replicas_per_node == 8 and capacity.model("big").nodes_at_max == 2
    assert capacity.model("big").usable_per_unit_gib == pytest.approx(
        catalog.GPUS["a100-80gb"].mig_profiles["3g.40gb"].memory_gib * 0.9)
    pool = capacity.pool("p")
    assert pool.nodes_needed_max == 2          # the 3g.40gb demand decides, not the sum of slices
    assert pool.units_per_node == 24 and pool.unit == "mixed-1x3g.40gb-2x2g.20gb layout"
    # Cost shares by compute slices: a 3g slice carries 3/7 of a GPU, a 2g slice 2/7.
    price = capacity.pool("p").usd_per_node_hour
    assert capacity.model("big").monthly_usd_max == pytest.approx(price * HOURS_PER_MONTH * 9 * 3 / 7 / 8, rel=1e-3)
    assert capacity.model("small").monthly_usd_max == pytest.approx(price * HOURS_PER_MONTH * 16 * 2 / 7 / 8, rel=1e-3)


def test_mixed_layout_overflow_names_the_profile():
    big = model(name="big", migProfile="3g.40gb", replicas={"min": 1, "max": 17})
    with pytest.raises(Exception) as info:
        validate(eks_mixed([big]), "Pulumi.t.yaml")
    assert "ai-platform:nodePools.gpu[0].max" in str(info.value)
    assert "17 x 3g.40gb slice (8 per node)" in str(info.value)


# ----------------------------------------------------------------------------------- issue 13


def test_embedding_max_model_len_is_checked_against_the_models_context_like_serving_models():
    pools = [{"name": "p", "gpu": "l4", "gpusPerNode": 1, "capacity": "on-demand", "min": 0, "max": 2}]
    context = catalog.find_model("BAAI/bge-m3").max_context
    values = gke(pools, [], rag={"embedding": {"model": "BAAI/bge-m3", "pool": "p", "maxModelLen": 16384}})
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.t.yaml")
    [issue] = info.value.issues
    assert issue.path == "ai-platform:rag.embedding.maxModelLen"
    assert "16384" in issue.message and str(context) in issue.message
    # The same words as for serving.models[] (one check for both).
    served = gke(pools, [model(model="Qwen/Qwen2.5-7B-Instruct", paramsB=None, architecture=None,
                               maxModelLen=65536)])
    with pytest.raises(ConfigError) as other:
        validate(served, "Pulumi.t.yaml")
    [served_issue] = [i for i in other.value.issues if i.path.endswith("maxModelLen")]
    assert served_issue.message.replace("65536", "N").replace("Qwen/Qwen2.5-7B-Instruct", "M").split("of")[0] == \
        issue.message.replace("16384", "N").replace("BAAI/bge-m3", "M").split("of")[0]
    values["rag"]["embedding"]["maxModelLen"] = context
    validate(values, "Pulumi.t.yaml")  # exactly the model's context is fine


def fallback_stack(od_max, fallback_max=2):
    """A critical spot model whose on-demand fallback (a floor of 2, fixed unless `fallback_max` is higher) shares
    the pool of a big on-demand model."""
    pools = [{"name": "od", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 1, "max": od_max},
             {"name": "sp", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "spot", "min": 0, "max": 4}]
    big = model(name="big", pool="od", tensorParallel=2, replicas={"min": 2, "max": 8})  # 16 GPUs at max: 2 nodes
    small = model(name="small", pool="sp", fallbackPool="od", critical=True, replicas={"min": 2, "max": 16},
                  fallbackMaxReplicas=fallback_max)
    return gke(pools, [big, small])


def test_a_scaling_fallback_is_sized_and_priced_at_its_max():
    """The fallback keeps 2 replicas and stands in for up to `fallbackMaxReplicas` unplaceable spot replicas: `od`
    must hold big's 16 GPUs and the fallback's max (6: 22 GPUs, 3 nodes; 10: 26 GPUs, 4 nodes > max 3)."""
    cfg, capacity = validate(fallback_stack(od_max=3, fallback_max=6), "Pulumi.t.yaml")
    small = capacity.model("small")
    fb = small.fallback
    assert fb is not None and (fb.max_replicas, capacity.pool("od").nodes_needed_max) == (6, 3)
    assert fb.monthly_usd_max == pytest.approx(fb.monthly_usd * 3)   # 6 replicas vs the floor's 2
    [demand] = [d for d in small.demands() if d.placement == "fallback"]
    assert (demand.units_min, demand.units_max) == (2, 6)
    # The worst month: spot at max with the floor on-demand, or 6 stand-ins on-demand for 6 of the 16 spot replicas.
    spot_replica = small.monthly_usd_max / 16
    assert small.monthly_usd_worst == pytest.approx(max(small.monthly_usd_max + fb.monthly_usd,
                                                        spot_replica * 10 + fb.monthly_usd_max))
    with pytest.raises(ConfigError) as info:
        validate(fallback_stack(od_max=3, fallback_max=10), "Pulumi.t.yaml")
    [issue] = info.value.issues
    assert issue.path == "ai-platform:nodePools.gpu[0].max" and "needs 4 nodes" in issue.message
    assert "fallbackMaxReplicas" in issue.message
    # Omitted: the fallback may stand in for every replica (replicas.max).
    values = fallback_stack(od_max=4)
    values["serving"]["models"][1].pop("fallbackMaxReplicas")
    _, capacity = validate(values, "Pulumi.t.yaml")
    fb = capacity.model("small").fallback
    assert fb is not None and fb.max_replicas == 16 and capacity.pool("od").nodes_needed_max == 4


def test_fallback_floor_counts_at_max_scale_too():
    """At max scale `od` holds big's 16 GPUs and small's fixed fallback Deployment (2 replicas, whatever the primary
    does): 18 GPUs, 3 nodes. Before issue 13 the floor was counted at min only and max 2 planned ok."""
    with pytest.raises(ConfigError) as info:
        validate(fallback_stack(od_max=2), "Pulumi.t.yaml")
    [issue] = info.value.issues
    assert issue.path == "ai-platform:nodePools.gpu[0].max"
    assert "needs 3 nodes" in issue.message and "max is 2" in issue.message
    assert "small (fallback)" in issue.message
    cfg, capacity = validate(fallback_stack(od_max=3), "Pulumi.t.yaml")
    od = capacity.pool("od")
    assert (od.nodes_needed_min, od.nodes_needed_max) == (1, 3)   # 4 + 2 GPUs; 16 + 2 GPUs
    assert capacity.pool("sp").nodes_needed_max == 2               # the primary alone, 16 replicas


def test_pool_check_and_gpu_quota_count_the_same_fallback_gpus():
    from config import quotas

    cfg, capacity = validate(fallback_stack(od_max=3), "Pulumi.t.yaml")
    need = quotas.gpu_need(cfg, capacity)[cfg.serving.namespace]["nvidia.com/gpu"]
    # big 2 x 8 + small 1 x 16 (spot) + small's fallback 1 x 2 (on-demand)
    assert need == 16 + 16 + 2
    asked = sum(capacity.pool(p).units_asked_max for p in ("od", "sp"))
    assert asked == need
    assert need == sum(d.units_max for m in capacity.models for d in m.demands())


def test_the_fallback_demand_is_what_the_fallback_deployment_requests():
    """prod: qwen7b-fallback runs replicas.min pods on h100-od, each with tensorParallel GPUs, and its ScaledObject
    takes it to fallbackMaxReplicas (5) at most."""
    from tests.conftest import run_stack, stack_values

    result = run_stack("prod")
    cfg, capacity = validate(stack_values("prod"), "Pulumi.prod.yaml")
    [demand] = [d for d in capacity.model("qwen7b").demands() if d.placement == "fallback"]
    [deployment] = [r.inputs for r in result.of_type("kubernetes:apps/v1:Deployment")
                    if r.inputs["metadata"]["name"] == "qwen7b-fallback"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert pod["nodeSelector"]["ai-platform/pool"] == demand.pool == "h100-od"
    per_pod = int(container["resources"]["requests"][demand.resource])
    assert deployment["spec"]["replicas"] * per_pod == demand.units_min == 2
    scaled = {r.inputs["spec"]["scaleTargetRef"]["name"]: r.inputs["spec"] for r in result.resources
              if r.type.endswith(("ScaledObject", "HorizontalPodAutoscaler"))}
    assert "qwen7b" in scaled
    assert scaled["qwen7b-fallback"]["maxReplicaCount"] * per_pod == demand.units_max == 5


def test_plan_is_the_model_step_then_the_pool_step():
    from config.capacity import plan_model, plan_pool, served_models

    cfg, capacity = validate(fallback_stack(od_max=3), "Pulumi.t.yaml")
    steps = [plan_model(cfg, s.path, s.model) for s in served_models(cfg)]
    assert all(found == [] for _, found in steps)
    models = tuple(planned for planned, _ in steps)
    assert models == capacity.models
    small = capacity.model("small")
    assert small.fallback is not None and small.fallback.pool == "od" and small.fallback.resource == "nvidia.com/gpu"
    assert capacity.model("big").fallback is None
    demands = [d for m in models for d in m.demands()]
    pools = [plan_pool(cfg, i, p, demands) for i, p in enumerate(cfg.node_pools.gpu)]
    assert tuple(p for p, _ in pools) == capacity.pools
    assert capacity.pool("od").models == ("big", "small (fallback)")
    _, [issue] = plan_pool(cfg, 0, cfg.node_pools.gpu[0].model_copy(update={"max": 2}), demands)
    assert issue.path == "ai-platform:nodePools.gpu[0].max" and "needs 3 nodes" in issue.message


def test_a_model_without_a_shape_is_a_named_bug_not_an_assert():
    from config.capacity import plan_model
    from config.errors import Unvalidated

    cfg, _ = validate(fallback_stack(od_max=3), "Pulumi.t.yaml")
    shapeless = cfg.serving.models[0].model_copy(update={"model": "acme/unknown", "params_b": None})
    with pytest.raises(Unvalidated, match=r"ai-platform:serving\.models\[0\]: the model's shape"):
        plan_model(cfg, "ai-platform:serving.models[0]", shapeless)


@pytest.mark.parametrize("folder", ["config", "components/rag", "components/observability", "components/tenancy.py",
                                    "components/gpu_stack.py", "components/platform.py", "components/helm.py"])
def test_no_assert_statements_where_python_dash_o_would_drop_them(folder):
    """Guarantees relied on are raised as errors naming the key path (config.errors.required), not asserted."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / folder
    files = [root] if root.suffix == ".py" else sorted(root.rglob("*.py"))
    found = [f"{f.relative_to(root.parent)}:{node.lineno}" for f in files
             for node in ast.walk(ast.parse(f.read_text())) if isinstance(node, ast.Assert)]
    assert found == []
