"""The capacity plan: memory per replica, fit, GPUs, nodes and monthly cost, derived from config.

Memory model (per replica, GiB = 2^30 bytes):
  weights   = transformer body x bytes/param of the quantization + embeddings (and an untied LM
              head) kept at 16 bit by AWQ/GPTQ/FP8/INT8 checkpoints
  kv cache  = 2 (K and V) x layers x kv_heads x head_dim x 2 bytes x maxModelLen: one full-length
              sequence must fit, which is what vLLM checks at start-up; encoders (embed) have none
  overhead  = 1 GiB per GPU (CUDA context, cuBLAS/NCCL workspaces, CUDA graphs) + 10% of the
              weights on that GPU (activations at the default batch size)
Per GPU the need is (weights + kv) / tensorParallel + overhead, compared with the memory of one
schedulable unit (a whole GPU, a MIG slice, or a time-sliced/MPS share: memory / replicas, because
sharing a GPU does not add memory) times the engine's gpuMemoryUtilization.

Sizing: a model's replica takes `tensorParallel` units of its pool; nodes needed = ceil(units /
units per node). A pool must reach every model's max replicas within its own `max` (the primary
pool) and hold a critical model's min replicas on its on-demand fallback pool, at min *and* at max
scale: the `<model>-fallback` Deployment keeps its min replicas whatever the primary does
(`ModelPlan.demands()`, which the GPU quotas in `config.quotas` count too). Cost: the
catalog's hourly node price x 730 hours, at pool min and at pool max, split on-demand/spot.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

from . import catalog
from .errors import Issue, key_path
from .gpu_stack import layout_name, mig_devices, resource_for
from .models import Architecture, Autoscaling, GpuPool, Replicas, ServedModel, StackConfig

GIB = float(2**30)
HOURS_PER_MONTH = 730
RUNTIME_OVERHEAD_GIB = 1.0
ACTIVATION_FRACTION = 0.10
KV_BYTES = 2  # fp16/bf16 KV cache
# Effective bytes per parameter of the transformer body. 4-bit group-wise formats carry one fp16
# scale + zero per group of 128 weights (+1/32 byte per weight); GGUF Q4_K_M averages ~4.85 bits.
BYTES_PER_PARAM = {"none": 2.0, "fp8": 1.0, "int8": 1.0, "awq": 0.5 + 1 / 32, "gptq": 0.5 + 1 / 32, "gguf": 4.85 / 8}
# Quantized checkpoints keep embeddings / LM head in 16 bit, except GGUF which quantizes them too.
EMBEDDING_BYTES = {"none": 2.0, "fp8": 2.0, "int8": 2.0, "awq": 2.0, "gptq": 2.0, "gguf": 4.85 / 8}


@dataclass(frozen=True)
class Shape:
    """The transformer numbers the memory model needs."""

    params_b: float
    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    task: str
    max_context: Optional[int]
    gated: bool
    estimated: bool  # True when derived from paramsB alone (conservative MHA estimate)


def shape_of(model: ServedModel, arch_cfg: Optional[Architecture] = None) -> Optional[Shape]:
    """Catalog entry, else config `paramsB` (+ optional `architecture`), else None."""
    known = catalog.find_model(model.model)
    if known is not None and model.params_b is None:
        return Shape(known.params_b, known.layers, known.hidden, known.kv_heads, known.head_dim, known.vocab,
                     known.tied_embeddings, known.task, known.max_context, known.gated, False)
    if model.params_b is None:
        return None
    arch = arch_cfg or model.architecture
    if arch is not None:
        return Shape(model.params_b, arch.layers, arch.hidden, arch.kv_heads, arch.head_dim, arch.vocab,
                     arch.tied_embeddings, "generate", None, False, False)
    # Only a parameter count: assume a dense MHA decoder (no GQA) with hidden = 128 x layers, the
    # Llama-family ratio; params ~= 12 x layers x hidden^2. This over-estimates the KV cache of
    # modern GQA models on purpose; give `architecture` for a tighter plan.
    layers = max(1, round((model.params_b * 1e9 / (12 * 128**2)) ** (1 / 3)))
    hidden = 128 * layers
    return Shape(model.params_b, layers, hidden, hidden // 128, 128, 32000, False, "generate", None, False, True)


def weights_gib(shape: Shape, quantization: str) -> float:
    embed_params = shape.vocab * shape.hidden * (1 if shape.tied_embeddings else 2)
    body_params = max(0.0, shape.params_b * 1e9 - embed_params)
    return (body_params * BYTES_PER_PARAM[quantization] + embed_params * EMBEDDING_BYTES[quantization]) / GIB


def kv_cache_gib(shape: Shape, max_model_len: int) -> float:
    if shape.task == "embed":
        return 0.0
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * KV_BYTES * max_model_len / GIB


def cache_volume_gi(weights: float) -> int:
    """Model-cache PVC size: weights + 25% (tokenizer, configs, partial downloads), 10 GiB steps."""
    return int(math.ceil((weights * 1.25 + 5) / 10.0) * 10)


@dataclass(frozen=True)
class Unit:
    """What one schedulable GPU unit of a pool is."""

    kind: str            # gpu | mig | time-slicing | mps
    memory_gib: float    # memory one unit can use (before gpuMemoryUtilization)
    per_node: int        # units per node
    label: str           # human form: "1x a100-80gb", "1g.10gb slice", "1/4 of l4"
    profile: Optional[str] = None  # MIG profile of a slice
    node_fraction: float = 0.0     # share of a node's cost one unit carries (by compute slices for MIG)


def unit_of(pool: GpuPool, profile: Optional[str] = None) -> Unit:
    """One schedulable unit of a pool; on a MIG pool, an instance of `profile` (default: its first)."""
    gpu = catalog.GPUS[pool.gpu]
    sharing = pool.sharing
    if sharing.strategy == "mig":
        devices = mig_devices(pool.gpu, sharing)
        name = profile if profile in devices else next(iter(devices))
        mig = gpu.mig_profiles[name]
        slices = sum(gpu.mig_profiles[p].compute_slices * n for p, n in devices.items())
        return Unit("mig", mig.memory_gib, pool.gpus_per_node * devices[name], f"{mig.name} slice", mig.name,
                    mig.compute_slices / slices / pool.gpus_per_node)
    if sharing.strategy in ("time-slicing", "mps"):
        # Sharing divides one GPU's memory; it adds none.
        per_node = pool.gpus_per_node * sharing.replicas
        return Unit(sharing.strategy, gpu.memory_gib / sharing.replicas, per_node,
                    f"1/{sharing.replicas} of {pool.gpu}", None, 1 / per_node)
    return Unit("gpu", gpu.memory_gib, pool.gpus_per_node, f"1x {pool.gpu}", None, 1 / pool.gpus_per_node)


def pool_units(pool: GpuPool) -> list[Unit]:
    """Every kind of unit a pool's nodes offer (several for a mixed MIG layout)."""
    if pool.sharing.strategy == "mig":
        return [unit_of(pool, p) for p in mig_devices(pool.gpu, pool.sharing)]
    return [unit_of(pool)]


def node_resources(cfg: StackConfig, pool: GpuPool) -> dict[str, int]:
    """Extended resources one node of the pool advertises once its device plugin runs (per resource name)."""
    found: dict[str, int] = {}
    for unit in pool_units(pool):
        resource = resource_for(cfg, pool, unit.profile)
        found[resource] = found.get(resource, 0) + unit.per_node
    return found


def machine_for(provider: str, pool: GpuPool) -> Optional[catalog.MachineType]:
    """The catalog machine type for a pool on a cloud (None for existing clusters or no match).

    Without a `machineType` override: the first machine with the pool's GPU count that the cloud sells
    at the pool's capacity (else the first with that GPU count, which config then refuses).
    """
    gpu = catalog.GPUS[pool.gpu]
    offered = {"gke": gpu.gke_machine_types, "eks": gpu.eks_instance_types}.get(provider, ())
    if pool.machine_type:
        return next((m for m in offered if m.name == pool.machine_type and m.gpus == pool.gpus_per_node), None)
    fitting = [m for m in offered if m.gpus == pool.gpus_per_node]
    return next((m for m in fitting if pool.capacity in m.capacities), next(iter(fitting), None))


def node_price(provider: str, pool: GpuPool, region: Optional[str] = None) -> float:
    """USD per node-hour in `region` (None: the catalog's price region); a spot pool without a recorded
    spot price is priced on-demand (an upper bound)."""
    machine = machine_for(provider, pool)
    if machine is None:
        return 0.0
    spot = catalog.price(provider, region, machine.name, "spot") if pool.capacity == "spot" else None
    return spot if spot is not None else (catalog.price(provider, region, machine.name, "on-demand") or 0.0)


def resource_name(cfg: StackConfig, pool: GpuPool, profile: Optional[str] = None) -> str:
    """Extended resource a container requests on this pool (mixed MIG names the profile)."""
    return resource_for(cfg, pool, profile)


@dataclass(frozen=True)
class Demand:
    """GPU units one Deployment of a model server holds: the pool check and the GPU quota count these."""

    model: str
    placement: str                # primary | fallback
    pool: str
    unit: str                     # unit label of the pool ("1x h100-80gb", "3g.40gb slice")
    resource: str                 # extended resource the pods request
    units_min: int
    units_max: int


@dataclass(frozen=True)
class ModelPlan:
    """Capacity of one model server."""

    name: str
    engine: str
    model: str
    quantization: str
    pool: Optional[str]
    capacity: str                 # on-demand | spot | cpu
    unit: str                     # what one unit is ("1g.10gb slice", "cpu")
    resource: Optional[str]       # extended resource name, None on CPU
    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    need_per_unit_gib: float      # per GPU/slice (after tensor parallel split)
    usable_per_unit_gib: float    # unit memory x gpuMemoryUtilization (CPU: 0 = unchecked)
    fits: bool
    estimated: bool
    units_per_replica: int
    replicas_per_node: int
    min_replicas: int
    max_replicas: int
    nodes_at_min: int
    nodes_at_max: int
    cache_gi: int
    monthly_usd_min: float
    monthly_usd_max: float
    critical: bool = False
    fallback_pool: Optional[str] = None  # on-demand pool holding min replicas when spot is gone
    fallback_resource: Optional[str] = None  # extended resource the fallback replicas request there
    fallback_monthly_usd: float = 0.0  # on-demand cost of the fallback's min replicas (on top of monthly_usd_*)
    fallback_unit: Optional[str] = None  # the fallback pool's unit label

    def demands(self) -> tuple[Demand, ...]:
        """What the model's Deployments hold on their pools. The primary scales between min and max replicas; the
        `<name>-fallback` Deployment runs min replicas on the fallback pool at every scale (it has no autoscaler and
        keeps its floor whatever the primary does), so it counts at min *and* at max."""
        if self.resource is None or self.pool is None:
            return ()
        tp = self.units_per_replica
        found = [Demand(self.name, "primary", self.pool, self.unit, self.resource,
                        tp * self.min_replicas, tp * self.max_replicas)]
        if self.fallback_pool and self.fallback_resource:
            floor = tp * self.min_replicas
            found.append(Demand(self.name, "fallback", self.fallback_pool, self.fallback_unit or "",
                                self.fallback_resource, floor, floor))
        return tuple(found)


@dataclass(frozen=True)
class PoolPlan:
    """Capacity and cost of one GPU pool."""

    name: str
    gpu: str
    capacity: str
    machine_type: Optional[str]
    gpus_per_node: int
    unit: str
    units_per_node: int
    min_nodes: int
    max_nodes: int
    nodes_needed_min: int
    nodes_needed_max: int
    usd_per_node_hour: float
    gpus_min: int
    gpus_max: int
    monthly_usd_min: float
    monthly_usd_max: float
    models: tuple[str, ...]
    units_asked_min: int = 0   # units its models' Deployments hold at min scale (fallback floors included)
    units_asked_max: int = 0   # ... and at max scale (fallback floors included)


@dataclass(frozen=True)
class CapacityPlan:
    """Per model, per pool and stack totals; `to_output()` is the `capacity` stack output."""

    models: tuple[ModelPlan, ...]
    pools: tuple[PoolPlan, ...]
    gpus_min: int
    gpus_max: int
    monthly_usd_min: float
    monthly_usd_max: float
    monthly_usd_on_demand_max: float
    monthly_usd_spot_max: float
    prices_as_of: str
    prices_region: Optional[str] = None  # the region priced (None: existing clusters, nothing priced)

    def model(self, name: str) -> ModelPlan:
        return next(m for m in self.models if m.name == name)

    def pool(self, name: str) -> PoolPlan:
        return next(p for p in self.pools if p.name == name)

    def to_output(self) -> dict:
        return {
            "models": {m.name: _rounded(asdict(m)) for m in self.models},
            "pools": {p.name: _rounded(asdict(p)) for p in self.pools},
            "totals": _rounded({
                "gpusMin": self.gpus_min,
                "gpusMax": self.gpus_max,
                "monthlyUsdMin": self.monthly_usd_min,
                "monthlyUsdMax": self.monthly_usd_max,
                "monthlyUsdOnDemandMax": self.monthly_usd_on_demand_max,
                "monthlyUsdSpotMax": self.monthly_usd_spot_max,
            }),
            "pricesAsOf": self.prices_as_of,
            "pricesRegion": self.prices_region,
        }


def _rounded(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        camel = k.split("_")[0] + "".join(w.title() for w in k.split("_")[1:])
        out[camel] = round(v, 2) if isinstance(v, float) else list(v) if isinstance(v, tuple) else v
    return out


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _model_issue(path: str, model: ServedModel, message: str) -> Issue:
    return Issue(path, f"model '{model.name}': {message}")


def served_models(cfg: StackConfig) -> list[tuple[str, ServedModel]]:
    """Every model server with its key path: `serving.models[]` plus the RAG embedding server."""
    entries = [(key_path("serving", "models", i), m) for i, m in enumerate(cfg.serving.models)]
    emb = cfg.rag.embedding
    if emb is not None:
        # The embedding server shares the model-server skeleton; model_construct because "tei"
        # is an embedding-only engine that serving.models[] does not accept.
        entries.append((key_path("rag", "embedding"), ServedModel.model_construct(
            name="embedding", engine=emb.engine, model=emb.model, quantization="none",
            max_model_len=emb.max_model_len, pool=emb.pool, fallback_pool=None, tensor_parallel=1,
            gpu_memory_utilization=0.9, replicas=Replicas(min=emb.replicas, max=emb.replicas),
            autoscaling=Autoscaling(), critical=False, params_b=None, architecture=None,
            mig_profile=emb.mig_profile)))
    return entries


def plan(cfg: StackConfig) -> tuple[CapacityPlan, list[Issue]]:
    """Compute the plan; return it with every fit/sizing problem found (empty list = valid).

    Assumes `config.semantics` found no structural problem (pools exist, profiles valid, ...).
    """
    provider = cfg.cluster.provider
    region = cfg.cluster.region if provider in ("gke", "eks") else None
    issues: list[Issue] = []
    models: list[ModelPlan] = []
    # Units asked of each pool, per kind of unit (a mixed MIG layout offers several).
    units_min: dict[str, dict[str, int]] = {p.name: {} for p in cfg.node_pools.gpu}
    units_max: dict[str, dict[str, int]] = {p.name: {} for p in cfg.node_pools.gpu}
    on_pool: dict[str, list[str]] = {p.name: [] for p in cfg.node_pools.gpu}

    for path, model in served_models(cfg):
        shape = shape_of(model)
        assert shape is not None, "semantics rejects models without a shape"
        weights = weights_gib(shape, model.quantization)
        kv = kv_cache_gib(shape, model.max_model_len)
        tp = model.tensor_parallel
        overhead = RUNTIME_OVERHEAD_GIB + ACTIVATION_FRACTION * weights / tp
        need = (weights + kv) / tp + overhead
        pool = cfg.pool(model.pool) if model.pool else None
        if pool is None:  # CPU (ollama without a pool)
            models.append(ModelPlan(
                model.name, model.engine, model.model, model.quantization, None, "cpu", "cpu", None,
                weights, kv, overhead, need, 0.0, True, shape.estimated, 0, 0,
                model.replicas.min, model.replicas.max, 0, 0, cache_volume_gi(weights), 0.0, 0.0,
                critical=model.critical))
            continue
        unit = unit_of(pool, model.mig_profile)
        usable = unit.memory_gib * model.gpu_memory_utilization
        fits = need <= usable
        if not fits:
            hint = []
            if tp < pool.gpus_per_node and unit.kind == "gpu":
                hint.append(f"raise tensorParallel (pool '{pool.name}' has {pool.gpus_per_node} GPUs per node)")
            if model.quantization == "none":
                hint.append("use a quantized checkpoint (awq, gptq, fp8)")
            hint.append("lower maxModelLen" if kv > 0.2 * need else "use a pool with a larger GPU or slice")
            issues.append(_model_issue(path, model, (
                f"does not fit: needs {need:.1f} GiB per {unit.label} (weights {weights:.1f} + KV cache {kv:.1f} "
                f"for maxModelLen {model.max_model_len}, split over tensorParallel {tp}, + overhead {overhead:.1f}) "
                f"but pool '{pool.name}' gives {usable:.1f} GiB ({unit.memory_gib:.1f} x gpuMemoryUtilization "
                f"{model.gpu_memory_utilization}); " + "; or ".join(hint))))
        per_node = unit.per_node // tp
        price = node_price(provider, pool, region)
        on_pool[pool.name].append(model.name)
        # A model's own share of node-hours (pools are shared, so this is a fraction of nodes).
        share = price * HOURS_PER_MONTH * unit.node_fraction * tp
        fb_pool = cfg.pool(model.fallback_pool or "")
        fb_unit = unit_of(fb_pool, model.mig_profile) if fb_pool else None
        fb_share = (node_price(provider, fb_pool, region) * HOURS_PER_MONTH * fb_unit.node_fraction
                    * tp * model.replicas.min) if fb_pool and fb_unit else 0.0
        models.append(ModelPlan(
            model.name, model.engine, model.model, model.quantization, pool.name, pool.capacity, unit.label,
            resource_name(cfg, pool, unit.profile), weights, kv, overhead, need, usable, fits, shape.estimated, tp, per_node,
            model.replicas.min, model.replicas.max,
            _ceil_div(model.replicas.min, per_node), _ceil_div(model.replicas.max, per_node),
            cache_volume_gi(weights), share * model.replicas.min, share * model.replicas.max,
            critical=model.critical, fallback_pool=model.fallback_pool,
            fallback_resource=resource_name(cfg, fb_pool, fb_unit.profile) if fb_pool and fb_unit else None,
            fallback_monthly_usd=fb_share, fallback_unit=fb_unit.label if fb_unit else None))
        for demand in models[-1].demands():
            _add(units_min[demand.pool], demand.unit, demand.units_min)
            _add(units_max[demand.pool], demand.unit, demand.units_max)
        if fb_pool is not None and fb_unit is not None:
            on_pool[fb_pool.name].append(f"{model.name} (fallback)")
            if need > fb_unit.memory_gib * model.gpu_memory_utilization:
                issues.append(_model_issue(path, model, (
                    f"does not fit its fallbackPool '{fb_pool.name}': needs {need:.1f} GiB per {fb_unit.label}, "
                    f"pool gives {fb_unit.memory_gib * model.gpu_memory_utilization:.1f} GiB")))

    pools: list[PoolPlan] = []
    for index, pool in enumerate(cfg.node_pools.gpu):
        units = pool_units(pool)
        need_min = max(_ceil_div(units_min[pool.name].get(u.label, 0), u.per_node) for u in units)
        need_max = max(_ceil_div(units_max[pool.name].get(u.label, 0), u.per_node) for u in units)
        asked = ", ".join(f"{units_max[pool.name].get(u.label, 0)} x {u.label} ({u.per_node} per node)"
                          for u in units)
        users = ", ".join(on_pool[pool.name])
        if len(units) == 1:
            unit_label, per_node = units[0].label, units[0].per_node
        else:
            unit_label = f"{layout_name(pool.gpu, pool.sharing)} layout"
            per_node = sum(u.per_node for u in units)
        if need_max > pool.max:
            issues.append(Issue(key_path("nodePools", "gpu", index, "max"), (
                f"pool '{pool.name}' needs {need_max} nodes for its models at max replicas "
                f"({asked}; {users}; a fallback Deployment keeps its min replicas at every scale) "
                f"but max is {pool.max}; raise max or lower serving.models[].replicas")))
        elif need_min > pool.max:
            issues.append(Issue(key_path("nodePools", "gpu", index, "max"), (
                f"pool '{pool.name}' needs {need_min} nodes to hold min replicas of its models but max is {pool.max}")))
        machine = machine_for(provider, pool)
        price = node_price(provider, pool, region)
        pools.append(PoolPlan(
            pool.name, pool.gpu, pool.capacity, machine.name if machine else None, pool.gpus_per_node,
            unit_label, per_node, pool.min, pool.max, need_min, need_max, price,
            pool.min * pool.gpus_per_node, pool.max * pool.gpus_per_node,
            pool.min * price * HOURS_PER_MONTH, pool.max * price * HOURS_PER_MONTH, tuple(on_pool[pool.name]),
            sum(units_min[pool.name].values()), sum(units_max[pool.name].values())))

    result = CapacityPlan(
        models=tuple(models),
        pools=tuple(pools),
        gpus_min=sum(p.gpus_min for p in pools),
        gpus_max=sum(p.gpus_max for p in pools),
        monthly_usd_min=sum(p.monthly_usd_min for p in pools),
        monthly_usd_max=sum(p.monthly_usd_max for p in pools),
        monthly_usd_on_demand_max=sum(p.monthly_usd_max for p in pools if p.capacity == "on-demand"),
        monthly_usd_spot_max=sum(p.monthly_usd_max for p in pools if p.capacity == "spot"),
        prices_as_of=catalog.PRICES_AS_OF,
        prices_region=region,
    )
    return result, issues


def _ceil_div(a: int, b: int) -> int:
    return 0 if a <= 0 else -(-a // max(b, 1))
