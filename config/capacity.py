"""The capacity plan: memory per replica, fit, GPUs, nodes and monthly cost, derived from config.

Memory model (per replica, GiB = 2^30 bytes; the formulas are in config/shape.py, the engine facts next to them):
  weights   = the model's parameters (MoE: every expert) x bytes/param of the quantization; embeddings and an untied
              LM head at 16 bit except GGUF; MXFP4 quantizes only the routed experts
  kv cache  = one maxModelLen sequence (what vLLM checks at start-up): 2 x kv_heads x head_dim (GQA) or
              kv_lora_rank + qk_rope_head_dim (MLA) elements per token and layer, x 2 bytes (1 with kvCacheDtype
              fp8); a sliding-window layer holds at most its window plus vLLM's in-flight tokens; encoders none
  overhead  = 1 GiB per GPU (CUDA context, cuBLAS/NCCL workspaces, CUDA graphs) + 10% of the weights on that GPU
              (activations at the default batch size)
Per GPU the need is weights on the most loaded GPU (/ tensorParallel; with expertParallel ceil(experts / tp) whole
experts) + the KV cache on one GPU (its share of the KV heads; MLA's latent on every GPU) + overhead, compared with
the memory of one schedulable unit (a whole GPU, a MIG slice, or a time-sliced/MPS share: memory / replicas, because
sharing a GPU does not add memory) times the engine's gpuMemoryUtilization.  A model that does not fit even on the
largest node of its pool's GPU is refused naming the smallest node shape of the cloud that holds it (no multi-node
serving yet).

Sizing: a model's replica takes `tensorParallel` units of its pool; nodes needed = ceil(units /
units per node). A pool must reach every model's max replicas within its own `max` (the primary
pool) and hold a critical model's fallback on its on-demand fallback pool: the `<model>-fallback` Deployment
keeps its min replicas whatever the primary does and scales up to `fallbackMaxReplicas` (default: max) for
primary replicas spot cannot place (`ModelPlan.demands()`, which the GPU quotas in `config.quotas` count too). Cost: the
catalog's hourly node price x 730 hours, at pool min and at pool max, split on-demand/spot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal

from . import catalog, model_files
from .engines import (
    FORMAT_CHECKED_ENGINES,
    KV_CACHE_DTYPE_ARGS,
    embedding_engine_key,
    format_runs_on,
    formats_on,
    fp8_kv_runs_on,
)
from .errors import Issue, key_path, required
from .gpu_stack import layout_name, mig_devices, resource_for
from .models import Architecture, Autoscaling, Embedding, GpuPool, Mig, Replicas, ServedModel, StackConfig
from .plan_shape import ModelEntry, PlanOutput, PoolEntry, Scenarios, ThroughputEntry
from .shape import GIB, Shape, kv_cache_gib, kv_share_per_gpu, weights_bytes_per_gpu, weights_gib
from .throughput import Throughput, estimate, share_of

HOURS_PER_MONTH = 730
RUNTIME_OVERHEAD_GIB = 1.0
ACTIVATION_FRACTION = 0.10


def shape_of(model: ServedModel, arch_cfg: Architecture | None = None) -> Shape | None:
    """`shapeFrom` (the model's config.json), else the catalog entry, else config `paramsB` (+ optional
    `architecture`), else None (also for a shapeFrom file that cannot be read: config.semantics reports why)."""
    if model.shape_from is not None:
        read = model_files.read_shape(model.shape_from)  # cached: each file is parsed once
        return read if isinstance(read, Shape) else None
    known = catalog.find_model(model.model)
    if known is not None and model.params_b is None:
        return Shape(params_b=known.params_b, layers=known.layers, hidden=known.hidden, kv_heads=known.kv_heads,
                     head_dim=known.head_dim, vocab=known.vocab, tied_embeddings=known.tied_embeddings,
                     task=known.task, max_context=known.max_context, gated=known.gated, estimated=False,
                     source="catalog", origin=known.source or known.repo, active_params_b=known.active_params_b,
                     experts=known.experts, experts_per_token=known.experts_per_token,
                     expert_params_b=known.expert_params_b, attention=known.attention,
                     kv_lora_rank=known.kv_lora_rank, qk_rope_head_dim=known.qk_rope_head_dim,
                     sliding_window=known.sliding_window, sliding_layers=known.sliding_layers,
                     native_format=known.native_format, weights_bytes=known.weights_bytes, encoder=known.encoder)
    if model.params_b is None:
        return None
    arch = arch_cfg or model.architecture
    if arch is not None:
        return Shape(params_b=model.params_b, layers=arch.layers, hidden=arch.hidden, kv_heads=arch.kv_heads,
                     head_dim=arch.head_dim, vocab=arch.vocab, tied_embeddings=arch.tied_embeddings, task="generate",
                     max_context=None, gated=False, estimated=False, source="architecture",
                     origin=f"{model.name}.architecture", active_params_b=arch.active_params_b,
                     experts=arch.experts, experts_per_token=arch.experts_per_token,
                     expert_params_b=arch.expert_params_b, attention=arch.attention, kv_lora_rank=arch.kv_lora_rank,
                     qk_rope_head_dim=arch.qk_rope_head_dim, sliding_window=arch.sliding_window,
                     sliding_layers=arch.sliding_layers)
    # Only a parameter count: assume a dense MHA decoder (no GQA) with hidden = 128 x layers, the
    # Llama-family ratio; params ~= 12 x layers x hidden^2. This over-estimates the KV cache of
    # modern GQA models on purpose; give `architecture` for a tighter plan.
    layers = max(1, round((model.params_b * 1e9 / (12 * 128**2)) ** (1 / 3)))
    hidden = 128 * layers
    return Shape(params_b=model.params_b, layers=layers, hidden=hidden, kv_heads=hidden // 128, head_dim=128,
                 vocab=32000, tied_embeddings=False, task="generate", max_context=None, gated=False, estimated=True,
                 source="estimate", origin=f"{model.name}.paramsB")


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
    profile: str | None = None  # MIG profile of a slice
    node_fraction: float = 0.0     # share of a node's cost one unit carries (by compute slices for MIG)


def unit_of(pool: GpuPool, profile: str | None = None) -> Unit:
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


def machine_for(provider: str, pool: GpuPool) -> catalog.MachineType | None:
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


def pool_price(provider: str, pool: GpuPool, region: str | None = None) -> tuple[float, str]:
    """(USD per node-hour in `region`, which figure it is) at the pool's capacity (catalog.price_basis): spot at the
    spot figure, flex-start at the Flex-start figure, reservations (and Capacity Blocks) at on-demand; a missing
    spot or flex-start figure falls back to on-demand, an upper bound. None region: the catalog's price region."""
    machine = machine_for(provider, pool)
    if machine is None:
        return 0.0, "not priced"
    block = pool.reservation is not None and pool.reservation.capacity_block
    figure, basis = catalog.price_basis(provider, region, machine.name, pool.capacity, block)
    return (figure or 0.0), basis


def node_price(provider: str, pool: GpuPool, region: str | None = None) -> float:
    """USD per node-hour of the pool at its capacity (`pool_price` without the basis)."""
    return pool_price(provider, pool, region)[0]


def resource_name(cfg: StackConfig, pool: GpuPool, profile: str | None = None) -> str:
    """Extended resource a container requests on this pool (mixed MIG names the profile)."""
    return resource_for(cfg, pool, profile)


@dataclass(frozen=True, kw_only=True)
class Demand:
    """GPU units one Deployment of a model server holds: the pool check and the GPU quota count these."""

    model: str
    """Name of the model server."""
    placement: str
    """primary | fallback."""
    pool: str
    """The pool the Deployment's pods run on."""
    unit: str
    """Unit label of the pool ("1x h100-80gb", "3g.40gb slice")."""
    resource: str
    """Extended resource the pods request."""
    units_min: int
    """Units held at min scale."""
    units_max: int
    """Units held at max scale."""


@dataclass(frozen=True, kw_only=True)
class Fallback:
    """The on-demand pool a spot model keeps its min replicas on when spot capacity is gone (`fallbackPool`)."""

    pool: str
    """The fallback pool's name."""
    resource: str
    """Extended resource the fallback replicas request there."""
    unit: str
    """The fallback pool's unit label."""
    monthly_usd: float
    """On-demand cost of the fallback's min replicas (on top of the model's `monthly_usd_*`)."""
    max_replicas: int = 0
    """Most replicas the fallback scales to (`fallback_max`): its floor plus the primary replicas spot cannot
    place; equal to the model's min replicas when it does not scale."""
    monthly_usd_max: float = 0.0
    """On-demand cost of `max_replicas`."""


@dataclass(frozen=True, kw_only=True)
class Step:
    """One capacity step of a model server: a pool its replicas can run on, in the order they are tried."""

    pool: str
    capacity: str
    """The step pool's capacity: on-demand | spot | flex-start | reservation."""
    via: str
    """How the server reaches it: pool (its own), computeClass (a later pool of its GKE compute class, in priority
    order) or fallbackPool (the `<name>-fallback` Deployment)."""
    usd_per_node_hour: float
    price_basis: str
    """Which price figure the step is priced at (catalog.price_basis)."""
    monthly_usd_min: float
    """The server's min replicas on this step, per month (its share of the step pool's nodes)."""
    monthly_usd_max: float
    """Its max replicas on this step (a fallback: the fallback's max), per month."""
    unit: str = ""
    """The step pool's unit label for this server ("1x a100-80gb", "3g.40gb slice")."""
    resource: str = ""
    """Extended resource the server's pods request on the step pool."""


@dataclass(frozen=True, kw_only=True)
class ModelPlan:
    """Capacity of one model server."""

    name: str
    engine: str
    model: str
    quantization: str
    pool: str | None
    """GPU pool of the primary Deployment; None on CPU."""
    capacity: str
    """on-demand | spot | cpu."""
    unit: str
    """What one unit is ("1g.10gb slice", "cpu")."""
    resource: str | None
    """Extended resource name, None on CPU."""
    weights_gib: float
    kv_cache_gib: float
    overhead_gib: float
    need_per_unit_gib: float
    """Per GPU/slice (after the tensor-parallel split)."""
    usable_per_unit_gib: float
    """Unit memory x gpuMemoryUtilization (CPU: 0 = unchecked)."""
    fits: bool
    estimated: bool
    """The shape was estimated from paramsB alone."""
    units_per_replica: int
    replicas_per_node: int
    min_replicas: int
    max_replicas: int
    nodes_at_min: int
    nodes_at_max: int
    cache_gi: int
    """Model-cache PVC size."""
    monthly_usd_min: float
    monthly_usd_max: float
    critical: bool
    fallback: Fallback | None
    """Where min replicas run when spot is gone; None without `fallbackPool`."""
    spread: str = "none"
    """How replicas of a multi-GPU model spread over nodes: "required" (one per node: the pool's max nodes hold max
    replicas), "preferred" (spread where possible, two may share a node) or "none" (single-GPU or CPU model)."""
    notes: tuple[str, ...] = ()
    """What the plan reader should know that is not an error (a spread the pool is too small to require)."""
    params_b: float = 0.0
    """Total parameters, billions (MoE: every expert)."""
    active_params_b: float = 0.0
    """Parameters one token activates, billions (= params_b for dense models): what a decode step reads."""
    kv_cache_dtype: str = "auto"
    """`kvCacheDtype` (auto: the model's 16-bit dtype; fp8: one byte per element)."""
    attention: str = "gqa"
    """gqa (multi-head / grouped-query) | mla (multi-head latent attention)."""
    sliding_window: int | None = None
    """Tokens a sliding-window layer holds (None: every layer attends fully)."""
    expert_parallel: bool = False
    """Routed experts placed whole on the replica's GPUs (vLLM --enable-expert-parallel)."""
    weights_per_unit_gib: float = 0.0
    """Weights on the most loaded GPU/slice of a replica."""
    kv_cache_per_unit_gib: float = 0.0
    """KV cache of one full-length sequence on one GPU/slice (MLA: the whole latent on every GPU)."""

    throughput: Throughput | None = None
    """Estimated decode/prefill throughput and $ per million output tokens of one replica (config.throughput); None
    for CPU and embedding servers."""
    steps: tuple[Step, ...] = ()
    """Capacity steps in the order the server's replicas use them (own pool, compute-class pools, fallbackPool);
    empty on CPU."""

    # Flat names of the fallback record, read by components/serving until it reads `fallback`.
    @property
    def fallback_pool(self) -> str | None:
        return self.fallback.pool if self.fallback else None

    @property
    def fallback_resource(self) -> str | None:
        return self.fallback.resource if self.fallback else None

    @property
    def fallback_monthly_usd(self) -> float:
        return self.fallback.monthly_usd if self.fallback else 0.0

    @property
    def monthly_usd_worst(self) -> float:
        """The model's most expensive month: the primary at max on its pool with the fallback at its floor, or the
        fallback at its max standing in for primary replicas spot cannot place (whichever costs more)."""
        fb = self.fallback
        if fb is None:
            return self.monthly_usd_max
        per_replica = self.monthly_usd_max / self.max_replicas if self.max_replicas else 0.0
        covered = min(fb.max_replicas, self.max_replicas)
        return max(self.monthly_usd_max + fb.monthly_usd,
                   per_replica * (self.max_replicas - covered) + fb.monthly_usd_max)

    def demands(self) -> tuple[Demand, ...]:
        """What the model's Deployments hold on their pools. The primary scales between min and max replicas; the
        `<name>-fallback` Deployment keeps min replicas on the fallback pool whatever the primary does and scales up
        to its own max for primary replicas spot cannot place, so it counts min at min scale and its max at max
        scale (each pool is sized for its own worst case: spot there, or spot gone)."""
        if self.resource is None or self.pool is None:
            return ()
        tp = self.units_per_replica
        found = [Demand(model=self.name, placement="primary", pool=self.pool, unit=self.unit, resource=self.resource,
                        units_min=tp * self.min_replicas, units_max=tp * self.max_replicas)]
        if self.fallback is not None:
            found.append(Demand(model=self.name, placement="fallback", pool=self.fallback.pool,
                                unit=self.fallback.unit, resource=self.fallback.resource,
                                units_min=tp * self.min_replicas,
                                units_max=tp * max(self.min_replicas, self.fallback.max_replicas)))
        return tuple(found)


@dataclass(frozen=True, kw_only=True)
class PoolPlan:
    """Capacity and cost of one GPU pool."""

    name: str
    gpu: str
    capacity: str
    machine_type: str | None
    """Catalog machine/instance type; None on existing clusters."""
    gpus_per_node: int
    unit: str
    """Unit label, or "<layout> layout" for a mixed MIG layout."""
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
    """Model servers on the pool ("<name> (fallback)" for a fallback Deployment)."""
    units_asked_min: int
    """Units its models' Deployments hold at min scale (fallback floors included)."""
    units_asked_max: int
    """... and at max scale (fallback floors included)."""
    price_basis: str = "on-demand"
    """Which price figure `usd_per_node_hour` is (catalog.price_basis)."""


@dataclass(frozen=True, kw_only=True)
class SpotMove:
    """Where a model server on a spot pool goes when spot capacity is gone (at max scale)."""

    model: str
    from_pool: str
    to_pool: str | None
    """The step that takes its replicas; None: nowhere (its replicas are lost)."""
    via: str | None
    """computeClass (the next non-spot pool of its compute class takes the primary's pods) | fallbackPool (the
    `<name>-fallback` Deployment scales to its max) | None."""
    replicas: int
    """Replicas running on `to_pool` at max scale."""
    lost_replicas: int
    """Max replicas with nowhere to run."""
    critical: bool


@dataclass(frozen=True, kw_only=True)
class SpotGone:
    """The spot-gone scenario: every spot pool at 0 nodes, every server at max replicas where it can still run."""

    gpus: int
    """GPUs of the non-spot pools holding what still runs (each pool between its min and max nodes)."""
    monthly_usd: float
    moves: tuple[SpotMove, ...]
    """One per model server whose own pool is spot."""
    pool_nodes: tuple[tuple[str, int], ...]
    """(pool, nodes) of every GPU pool in the scenario (spot pools 0)."""
    pool_usd: tuple[tuple[str, float], ...]
    """(pool, monthly USD) of every GPU pool in the scenario."""
    notes: tuple[str, ...] = ()
    """Pools the moved replicas overflow (their max holds fewer: the rest stays pending)."""

    @property
    def losing(self) -> tuple[str, ...]:
        """Model servers that lose replicas (max replicas with nowhere to run)."""
        return tuple(m.model for m in self.moves if m.lost_replicas > 0)


@dataclass(frozen=True, kw_only=True)
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
    prices_region: str | None
    """The region priced (None: existing clusters, nothing priced)."""
    spot_gone: SpotGone | None = None
    """The spot-gone scenario (`spot_gone`)."""

    @property
    def monthly_usd_worst(self) -> float:
        """The most expensive month the plan allows: every pool at max, or spot gone (whichever costs more)."""
        return max(self.monthly_usd_max, self.spot_gone.monthly_usd if self.spot_gone else 0.0)

    def model(self, name: str) -> ModelPlan:
        return next(m for m in self.models if m.name == name)

    def pool(self, name: str) -> PoolPlan:
        return next(p for p in self.pools if p.name == name)

    def to_output(self) -> PlanOutput:
        """The `capacity` stack output and the capacity ConfigMap's plan.json: exactly the shape declared in
        `config.plan_shape` (the keys the policy pack reads), whatever the fields here are called."""
        return {
            "models": {m.name: _model_entry(m) for m in self.models},
            "pools": {p.name: _pool_entry(p) for p in self.pools},
            "totals": {
                "gpusMin": self.gpus_min,
                "gpusMax": self.gpus_max,
                "monthlyUsdMin": _usd(self.monthly_usd_min),
                "monthlyUsdMax": _usd(self.monthly_usd_max),
                "monthlyUsdOnDemandMax": _usd(self.monthly_usd_on_demand_max),
                "monthlyUsdSpotMax": _usd(self.monthly_usd_spot_max),
            },
            "pricesAsOf": self.prices_as_of,
            "pricesRegion": self.prices_region,
            "flexStartPricesAsOf": catalog.FLEX_START_PRICES_AS_OF,
            "scenarios": self._scenarios(),
        }

    def _scenarios(self) -> Scenarios:
        gone = self.spot_gone or SpotGone(gpus=0, monthly_usd=0.0, moves=(), pool_nodes=(), pool_usd=())
        usd = dict(gone.pool_usd)
        return {
            "expected": {"gpus": self.gpus_min, "monthlyUsd": _usd(self.monthly_usd_min)},
            "max": {"gpus": self.gpus_max, "monthlyUsd": _usd(self.monthly_usd_max)},
            "spotGone": {
                "gpus": gone.gpus,
                "monthlyUsd": _usd(gone.monthly_usd),
                "moves": [{"model": m.model, "fromPool": m.from_pool, "toPool": m.to_pool, "via": m.via,
                           "replicas": m.replicas, "lostReplicas": m.lost_replicas, "critical": m.critical}
                          for m in gone.moves],
                "pools": {name: {"nodes": nodes, "monthlyUsd": _usd(usd[name])} for name, nodes in gone.pool_nodes},
                "notes": list(gone.notes),
            },
            "worstMonthlyUsd": _usd(self.monthly_usd_worst),
        }


def _usd(value: float) -> float:
    """Amounts and GiB figures in the output: 2 decimals."""
    return round(value, 2) if isinstance(value, float) else value


def _model_entry(m: ModelPlan) -> ModelEntry:
    fb = m.fallback
    return {
        "name": m.name,
        "engine": m.engine,
        "model": m.model,
        "quantization": m.quantization,
        "pool": m.pool,
        "capacity": m.capacity,
        "unit": m.unit,
        "resource": m.resource,
        "weightsGib": _usd(m.weights_gib),
        "kvCacheGib": _usd(m.kv_cache_gib),
        "overheadGib": _usd(m.overhead_gib),
        "needPerUnitGib": _usd(m.need_per_unit_gib),
        "usablePerUnitGib": _usd(m.usable_per_unit_gib),
        "fits": m.fits,
        "estimated": m.estimated,
        "unitsPerReplica": m.units_per_replica,
        "replicasPerNode": m.replicas_per_node,
        "minReplicas": m.min_replicas,
        "maxReplicas": m.max_replicas,
        "nodesAtMin": m.nodes_at_min,
        "nodesAtMax": m.nodes_at_max,
        "cacheGi": m.cache_gi,
        "monthlyUsdMin": _usd(m.monthly_usd_min),
        "monthlyUsdMax": _usd(m.monthly_usd_max),
        "critical": m.critical,
        "fallbackPool": fb.pool if fb else None,
        "fallbackResource": fb.resource if fb else None,
        "fallbackMonthlyUsd": _usd(fb.monthly_usd) if fb else 0.0,
        "fallbackUnit": fb.unit if fb else None,
        "fallbackMaxReplicas": fb.max_replicas if fb else 0,
        "fallbackMonthlyUsdMax": _usd(fb.monthly_usd_max) if fb else 0.0,
        "spread": m.spread,
        "notes": list(m.notes),
        "paramsB": _usd(m.params_b),
        "activeParamsB": _usd(m.active_params_b),
        "kvCacheDtype": m.kv_cache_dtype,
        "attention": m.attention,
        "slidingWindow": m.sliding_window,
        "expertParallel": m.expert_parallel,
        "weightsPerUnitGib": _usd(m.weights_per_unit_gib),
        "kvCachePerUnitGib": _usd(m.kv_cache_per_unit_gib),
        "throughput": _throughput_entry(m.throughput) if m.throughput is not None else None,
        "steps": [{"pool": s.pool, "capacity": s.capacity, "via": s.via, "usdPerNodeHour": _usd(s.usd_per_node_hour),
                   "priceBasis": s.price_basis, "monthlyUsdMin": _usd(s.monthly_usd_min),
                   "monthlyUsdMax": _usd(s.monthly_usd_max)} for s in m.steps],
        "stepCapacities": [s.capacity for s in m.steps],
    }


def _throughput_entry(t: Throughput) -> ThroughputEntry:
    return {
        "decodeTokensPerSecond": round(t.decode_tokens_per_second, 1),
        "perSequenceTokensPerSecond": round(t.per_sequence_tokens_per_second, 1),
        "batch": t.batch,
        "batchFrom": t.batch_from,
        "engineDefaultBatch": t.engine_default,
        "kvCapacitySequences": t.kv_capacity,
        "bound": t.bound,
        "promptTokens": t.prompt_tokens,
        "outputTokens": t.output_tokens,
        "averageContext": t.average_context,
        "prefillTokensPerSecond": (round(t.prefill_tokens_per_second, 1)
                                   if t.prefill_tokens_per_second is not None else None),
        "ttftSeconds": round(t.ttft_seconds, 4) if t.ttft_seconds is not None else None,
        "usdPerMillionOutputTokens": (round(t.usd_per_million_output_tokens, 4)
                                      if t.usd_per_million_output_tokens is not None else None),
        "assumptions": list(t.assumptions),
    }


def _pool_entry(p: PoolPlan) -> PoolEntry:
    return {
        "name": p.name,
        "gpu": p.gpu,
        "capacity": p.capacity,
        "machineType": p.machine_type,
        "gpusPerNode": p.gpus_per_node,
        "unit": p.unit,
        "unitsPerNode": p.units_per_node,
        "minNodes": p.min_nodes,
        "maxNodes": p.max_nodes,
        "nodesNeededMin": p.nodes_needed_min,
        "nodesNeededMax": p.nodes_needed_max,
        "usdPerNodeHour": _usd(p.usd_per_node_hour),
        "gpusMin": p.gpus_min,
        "gpusMax": p.gpus_max,
        "monthlyUsdMin": _usd(p.monthly_usd_min),
        "monthlyUsdMax": _usd(p.monthly_usd_max),
        "models": list(p.models),
        "unitsAskedMin": p.units_asked_min,
        "unitsAskedMax": p.units_asked_max,
        "priceBasis": p.price_basis,
    }


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def _model_issue(path: str, model: ServedModel, message: str) -> Issue:
    return Issue(path, f"model '{model.name}': {message}")


MODEL_SERVER: Final = "model-server"
"""Role of a `serving.models[]` entry (also its pods' app.kubernetes.io/component)."""
EMBEDDING_SERVER: Final = "embedding"
"""Role of the RAG embedding server (`rag.embedding`)."""
Role = Literal["model-server", "embedding"]


@dataclass(frozen=True)
class Served:
    """One model server the stack runs, with where it is configured and what it is for."""

    path: str
    """Key path of its config entry (`ai-platform:serving.models[0]`, `ai-platform:rag.embedding`)."""
    model: ServedModel
    role: Role
    """MODEL_SERVER for `serving.models[]`, EMBEDDING_SERVER for `rag.embedding`."""
    canary_of: str | None = None
    """For a canary server (`serving.models[].canary`): the name of the model it is a canary of (the name its
    engine serves under, so requests for that model reach either)."""

    @property
    def engine(self) -> str:
        """Key of config.engines.ENGINES (`rag.embedding` maps tei | vllm to tei | vllm-embed)."""
        return embedding_engine_key(self.model.engine) if self.role == EMBEDDING_SERVER else self.model.engine


CANARY_SUFFIX: Final = "-canary"


def canary_model(model: ServedModel) -> ServedModel:
    """The canary server of `model` (which has a `canary`): the stable entry with the canary's differences, named
    `<name>-canary`, without a canary of its own. A canary runs on its pool alone (no fallback) and is never
    critical: the stable server carries the model's availability."""
    canary = required(model.canary, model.name, "a canary", "the caller")
    changes: dict[str, object] = {"name": model.name + CANARY_SUFFIX, "canary": None, "critical": False,
                                  "fallback_pool": None, "fallback_max_replicas": None}
    if canary.model is not None and canary.model != model.model:
        changes.update(model=canary.model, quantization=canary.quantization, params_b=None, architecture=None,
                       shape_from=None)
    elif canary.quantization is not None:
        changes["quantization"] = canary.quantization
    if canary.engine is not None:
        changes["engine"] = canary.engine
    if canary.pool is not None:
        changes["pool"] = canary.pool
        changes["mig_profile"] = None
    changes["replicas"] = canary.replicas or Replicas(min=1, max=model.replicas.max)
    data = {**model.model_dump(exclude_unset=False), **changes}
    if data.get("quantization") is None:
        data.pop("quantization")
    return ServedModel.model_validate(data)


def fallback_max(model: ServedModel) -> int:
    """Most replicas of a model's `<name>-fallback` Deployment (`fallbackMaxReplicas` capped at `replicas.max`, or
    `replicas.max`): it keeps `replicas.min` and adds one replica per primary replica the spot pool cannot place."""
    most = model.fallback_max_replicas if model.fallback_max_replicas is not None else model.replicas.max
    # Never more stand-ins than primary replicas; never fewer than the floor.
    return max(model.replicas.min, min(most, model.replicas.max))


def embedding_max(emb: Embedding) -> int:
    """Most replicas of the embedding server (`maxReplicas`, or `replicas`: fixed)."""
    return emb.max_replicas if emb.max_replicas is not None else emb.replicas


def served_models(cfg: StackConfig) -> list[Served]:
    """Every model server: `serving.models[]` in order (each followed by its canary), then the RAG embedding
    server."""
    entries: list[Served] = []
    for i, m in enumerate(cfg.serving.models):
        entries.append(Served(key_path("serving", "models", i), m, MODEL_SERVER))
        if m.canary is not None:
            entries.append(Served(key_path("serving", "models", i, "canary"), canary_model(m), MODEL_SERVER,
                                  canary_of=m.name))
    emb = cfg.rag.embedding
    if emb is not None:
        # The embedding server shares the model-server skeleton; model_construct because "tei"
        # is an embedding-only engine that serving.models[] does not accept (hence the ignore: the
        # field's Literal type, not a stub gap; Served.engine maps it back for the embedding role).
        entries.append(Served(key_path("rag", "embedding"), ServedModel.model_construct(
            name="embedding",
            engine=emb.engine,  # type: ignore[arg-type]
            model=emb.model, quantization="none",
            max_model_len=emb.max_model_len, pool=emb.pool, fallback_pool=emb.fallback_pool, tensor_parallel=1,
            gpu_memory_utilization=0.9, replicas=Replicas(min=emb.replicas, max=embedding_max(emb)),
            autoscaling=Autoscaling(), critical=emb.critical, params_b=None, architecture=None,
            mig_profile=emb.mig_profile), EMBEDDING_SERVER))
    return entries


def priced_region(cfg: StackConfig) -> str | None:
    """The region the plan prices (None on existing clusters: nothing is priced)."""
    return cfg.cluster.region if cfg.cluster.provider in ("gke", "eks") else None


TP_SIZES: Final = (1, 2, 4, 8, 16)
"""`tensorParallel` values (config/models.py ServedModel.tensor_parallel)."""
WINDOWED_ENGINES: Final = frozenset({"vllm", "triton"})
"""Engines whose KV cache keeps only the window of a sliding-window layer: vLLM's hybrid KV cache manager (on by
default in 0.33.0, vllm/config/vllm.py; Triton serves through vLLM).  Others are planned as if every layer attended
fully (TGI 3.3.7 and Ollama: unverified, so the conservative figure).  Llama 4's chunked local attention is not a
window here: vLLM 0.33.0 turns the hybrid manager off for it by default (attention_chunk_size set and
VLLM_ALLOW_CHUNKED_LOCAL_ATTN_WITH_HYBRID_KV_CACHE unset), and kv_cache_planning.py unify_hybrid_kv_cache_specs
then caches those layers in full."""


def startup_in_flight_tokens(engine: str, gpu: str, device_gib: float) -> int:
    """Tokens vLLM 0.33.0 reserves beyond the window of each sliding-window layer in its start-up check.

    kv_cache_interface.py SlidingWindowSpec: window - 1 + `max_in_flight_tokens`; vllm/config/vllm.py:
    max_in_flight_tokens = max_concurrent_batches (2 with async scheduling, on by default) x max_num_batched_tokens,
    whose OpenAI-server default (vllm/engine/arg_utils.py get_batch_defaults) depends on the device memory: 16384 from
    160 GiB, 8192 from 70 GiB except A100s, else 2048.  0 for engines that do not window (WINDOWED_ENGINES).
    """
    if engine not in WINDOWED_ENGINES:
        return 0
    if device_gib >= 160:
        batched = 16384
    elif device_gib >= 70 and not gpu.startswith("a100"):
        batched = 8192
    else:
        batched = 2048
    return 2 * batched


@dataclass(frozen=True)
class Memory:
    """What one replica of a model needs, whole and on its most loaded GPU/slice (GiB)."""

    weights: float
    kv: float
    """One full-length sequence (maxModelLen), whole model."""
    weights_per_unit: float
    kv_per_unit: float
    overhead: float

    @property
    def need(self) -> float:
        return self.weights_per_unit + self.kv_per_unit + self.overhead


def memory_of(shape: Shape, model: ServedModel, quantization: str, tp: int, gpu: str | None,
              device_gib: float, kv_dtype: str | None = None) -> Memory:
    """A replica's memory at tensor parallel `tp` on `gpu` (None: CPU) with `device_gib` per device."""
    kv_dtype = kv_dtype or model.kv_cache_dtype
    in_flight = startup_in_flight_tokens(model.engine, gpu, device_gib) if gpu else 0
    weights = weights_gib(shape, quantization)
    kv = kv_cache_gib(shape, model.max_model_len, kv_dtype, in_flight, windowed=model.engine in WINDOWED_ENGINES)
    if shape.task == "embed" and model.engine != "vllm":
        # Only vLLM (the embedding server's `vllm` engine) pages a KV cache for an embedding model. TEI embeds a batch
        # in one forward pass and keeps no paged KV cache (router/src/main.rs v1.9.3 sizes batches by
        # --max-batch-tokens, not by cached sequences); its per-batch activations are in the overhead.
        kv = 0.0
    weights_unit = weights_bytes_per_gpu(shape, quantization, tp, model.expert_parallel) / GIB
    kv_unit = kv * kv_share_per_gpu(shape, tp)
    return Memory(weights, kv, weights_unit, kv_unit, RUNTIME_OVERHEAD_GIB + ACTIVATION_FRACTION * weights_unit)


def _device_gib(pool: GpuPool, unit: Unit) -> float:
    """Memory the engine sees as its device: the slice for MIG, the whole GPU otherwise (time-slicing and MPS share
    it, vLLM still sizes its defaults from the device total)."""
    return unit.memory_gib if unit.kind == "mig" else catalog.GPUS[pool.gpu].memory_gib


def _machines(provider: str, gpu: str) -> tuple[catalog.MachineType, ...]:
    found = catalog.GPUS[gpu]
    return {"gke": found.gke_machine_types, "eks": found.eks_instance_types}.get(provider, ())


def _largest_tp(gpus: int) -> int:
    return max(t for t in TP_SIZES if t <= max(1, gpus))


def _runs(model: ServedModel, quantization: str, gpu: str) -> bool:
    """Whether the model's weight format and KV dtype run on `gpu` (config.engines tables)."""
    cc = catalog.GPUS[gpu].compute_capability
    if model.engine in FORMAT_CHECKED_ENGINES and not format_runs_on(quantization, cc):
        return False
    return model.kv_cache_dtype == "auto" or fp8_kv_runs_on(cc)


@dataclass(frozen=True)
class NodeShape:
    """One node shape of a cloud that holds a model on a single node."""

    gpu: str
    gpus: int
    machine: str
    tensor_parallel: int
    usd_per_hour: float
    sold: str
    """How the machine is sold (catalog capacities), e.g. "on-demand, spot" or "reservation, spot, flex-start"."""
    capacity: str
    """The capacity `usd_per_hour` is for: on-demand where sold so, else the first priced one."""


def smallest_node(cfg: StackConfig, model: ServedModel, shape: Shape, quantization: str) -> NodeShape | None:
    """The cheapest node shape (per hour, on-demand) on the stack's cloud whose GPUs run the model's format and hold
    one replica, at the smallest tensorParallel that fits; None when no single node does (or no cloud catalog)."""
    provider = cfg.cluster.provider
    found: list[NodeShape] = []
    for key, gpu in catalog.GPUS.items():
        if not _runs(model, quantization, key):
            continue
        for machine in _machines(provider, key):
            for tp in (t for t in TP_SIZES if t <= machine.gpus):
                mem = memory_of(shape, model, quantization, tp, key, gpu.memory_gib)
                if mem.need <= gpu.memory_gib * model.gpu_memory_utilization:
                    # Priced at on-demand where the cloud sells it so, else at its reservation list price, else spot;
                    # a machine with no price in the stack's region (p5e.48xlarge in us-east-1) is not offered.
                    for capacity in ("on-demand", "reservation", "spot"):
                        price = catalog.price(provider, priced_region(cfg), machine.name,
                                              "spot" if capacity == "spot" else "on-demand")
                        if capacity in machine.capacities and price is not None:
                            found.append(NodeShape(key, machine.gpus, machine.name, tp, price,
                                                   ", ".join(sorted(machine.capacities)), capacity))
                            break
                    break
    return min(found, key=lambda n: (n.usd_per_hour, n.gpus), default=None)


MULTI_NODE_NOT_SUPPORTED: Final = (
    "serving one replica across nodes (LeaderWorkerSet, tensor x pipeline parallel) is not supported yet: it needs "
    "RDMA networking between the nodes (EFA on EKS, GPUDirect-TCPXO/RDMA on GKE) that the platform does not provision "
    "(docs/capacity.md, Models larger than one node)")


def _larger_than_a_node(cfg: StackConfig, model: ServedModel, shape: Shape, quantization: str, pool: GpuPool,
                        mem: Memory) -> str | None:
    """The error text when even the largest node of the pool's GPU on this cloud cannot hold one replica (None when
    it can: an ordinary fit error)."""
    gpu = catalog.GPUS[pool.gpu]
    machines = _machines(cfg.cluster.provider, pool.gpu)
    most = max([m.gpus for m in machines] + [pool.gpus_per_node])
    tp = _largest_tp(most)
    at_most = memory_of(shape, model, quantization, tp, pool.gpu, gpu.memory_gib)
    usable = gpu.memory_gib * model.gpu_memory_utilization
    if at_most.need <= usable:
        return None
    biggest = next((m.name for m in machines if m.gpus == most), None)
    where = f"{most}x {pool.gpu}" + (f" ({biggest}, the largest {pool.gpu} node on {cfg.cluster.provider})"
                                     if biggest else "")
    text = (f"does not fit on one node: weights {mem.weights:.1f} GiB + KV cache {mem.kv:.1f} for maxModelLen "
            f"{model.max_model_len} need {at_most.need:.1f} GiB per GPU even at tensorParallel {tp} on {where}, which "
            f"gives {usable:.1f} GiB per GPU; ")
    node = smallest_node(cfg, model, shape, quantization) if cfg.cluster.provider in ("gke", "eks") else None
    if node is not None:
        text += (f"the smallest node on {cfg.cluster.provider} that holds it: {node.gpus}x {node.gpu} "
                 f"({node.machine}, tensorParallel {node.tensor_parallel}, ${node.usd_per_hour:.2f}/hour "
                 f"{node.capacity}; sold as {node.sold}): "
                 f"use a pool with gpu {node.gpu} and gpusPerNode {node.gpus}; ")
    else:
        text += (f"no single node on {cfg.cluster.provider} holds it with quantization {quantization} (use a "
                 "smaller format or lower maxModelLen); ")
    return text + MULTI_NODE_NOT_SUPPORTED


def _fit_hints(provider: str, model: ServedModel, shape: Shape, quantization: str, pool: GpuPool, unit: Unit,
               usable: float, mem: Memory) -> list[str]:
    """What would make a model that does not fit its unit fit, most specific first."""
    hint = []
    tp = model.tensor_parallel
    gpu = catalog.GPUS[pool.gpu]
    fitting = [t for t in TP_SIZES if tp < t
               and memory_of(shape, model, quantization, t, pool.gpu, gpu.memory_gib).need <= usable]
    if tp < pool.gpus_per_node and unit.kind == "gpu":
        within = [t for t in fitting if t <= pool.gpus_per_node]
        hint.append(f"raise tensorParallel (pool '{pool.name}' has {pool.gpus_per_node} GPUs per node)"
                    + (f": {within[0]} fits" if within else ""))
    if unit.kind == "gpu" and not any(t <= pool.gpus_per_node for t in fitting):
        # A larger node of the same GPU on this cloud (a2-megagpu-16g holds 16 A100 40GB).
        bigger = [(t, m) for t in fitting for m in _machines(provider, pool.gpu) if t <= m.gpus]
        if bigger:
            t, machine = bigger[0]
            hint.append(f"use a pool of {machine.gpus}x {pool.gpu} ({machine.name}) with tensorParallel {t}")
    halved = mem.need - mem.kv_per_unit / 2
    if (model.kv_cache_dtype == "auto" and mem.kv_per_unit > 0
            and (halved <= usable or mem.kv_per_unit > 0.1 * mem.need)
            and "fp8" in KV_CACHE_DTYPE_ARGS.get(model.engine, {}) and fp8_kv_runs_on(gpu.compute_capability)):
        hint.append(f"set kvCacheDtype: fp8 (halves the KV cache: {mem.kv_per_unit:.1f} -> {mem.kv_per_unit / 2:.1f} "
                    f"GiB per unit{', then it fits' if halved <= usable else ''})")
    runs = formats_on(gpu.compute_capability) if model.engine in FORMAT_CHECKED_ENGINES else ()
    four_bit = [q for q in ("awq", "gptq", "nvfp4") if q in runs]
    if quantization == "none":
        hint.append("use a quantized checkpoint (" + ", ".join(four_bit + ["fp8"] if runs else ["awq", "gptq", "fp8"])
                    + ")")
    elif quantization in ("fp8", "int8") and four_bit:
        hint.append(f"use a 4-bit checkpoint {pool.gpu} runs ({', '.join(four_bit)})")
    hint.append("lower maxModelLen" if mem.kv_per_unit > 0.2 * mem.need else "use a pool with a larger GPU or slice")
    return hint


def _split_notes(model: ServedModel, shape: Shape, tp: int) -> str:
    """How the split over tensorParallel differs from "everything / tp", for the fit error."""
    notes = []
    if model.expert_parallel and shape.moe and tp > 1:
        notes.append(f"expertParallel: {-(-shape.experts // tp)} of {shape.experts} whole experts per GPU")
    if shape.attention == "mla" and tp > 1:
        notes.append("the MLA latent KV cache is on every GPU")
    elif shape.attention == "gqa" and tp > shape.kv_heads:
        notes.append(f"{shape.kv_heads} KV heads: each GPU holds one (replicated)")
    return f" ({'; '.join(notes)})" if notes else ""


def plan_model(cfg: StackConfig, path: str, model: ServedModel) -> tuple[ModelPlan, list[Issue]]:
    """One model server's plan (`path`: its key path) with its fit problems (empty list = it fits).

    Assumes `config.semantics` found no structural problem (pools exist, profiles valid, a shape is known).
    Memory per GPU/slice (config.shape): the weights on the most loaded GPU (tensor-parallel, experts whole with
    expertParallel) + the KV cache of one maxModelLen sequence on one GPU (split by KV head; MLA's latent on every
    GPU; sliding-window layers at most their window plus vLLM's in-flight tokens) + overhead.
    """
    shape = required(shape_of(model), path, "the model's shape (a catalog model, or paramsB)", "config.semantics")
    issues: list[Issue] = []
    quantization = required(model.quantization, path, "quantization (defaulted by ServedModel)", "config.models")
    tp = model.tensor_parallel
    # CPU (ollama without a pool) until a pool says otherwise: nothing to fit, place or price.
    pool = cfg.pool(model.pool) if model.pool else None
    unit = unit_of(pool, model.mig_profile) if pool is not None else None
    mem = (memory_of(shape, model, quantization, tp, pool.gpu, _device_gib(pool, unit))
           if pool is not None and unit is not None else memory_of(shape, model, quantization, tp, None, 0.0))
    weights, kv, overhead, need = mem.weights, mem.kv, mem.overhead, mem.need
    capacity, unit_label, usable, fits = "cpu", "cpu", 0.0, True
    resource: str | None = None
    units, per_node, nodes_at_min, nodes_at_max, share = 0, 0, 0, 0, 0.0
    fallback: Fallback | None = None
    spread_kind, notes = "none", []
    rate: Throughput | None = None
    steps: tuple[Step, ...] = ()
    if pool is not None and unit is not None:
        capacity, unit_label, resource = pool.capacity, unit.label, resource_name(cfg, pool, unit.profile)
        usable = unit.memory_gib * model.gpu_memory_utilization
        fits = need <= usable
        if not fits:
            too_big = _larger_than_a_node(cfg, model, shape, quantization, pool, mem)
            if too_big is not None:
                issues.append(_model_issue(path, model, too_big))
            else:
                hint = _fit_hints(cfg.cluster.provider, model, shape, quantization, pool, unit, usable, mem)
                issues.append(_model_issue(path, model, (
                    f"does not fit: needs {need:.1f} GiB per {unit.label} (weights {weights:.1f} + KV cache {kv:.1f} "
                    f"for maxModelLen {model.max_model_len}, split over tensorParallel {tp}"
                    f"{_split_notes(model, shape, tp)}, + overhead {overhead:.1f}) "
                    f"but pool '{pool.name}' gives {usable:.1f} GiB ({unit.memory_gib:.1f} x gpuMemoryUtilization "
                    f"{model.gpu_memory_utilization}); " + "; or ".join(hint))))
        units, per_node = tp, unit.per_node // tp
        nodes_at_min, nodes_at_max = _ceil_div(model.replicas.min, per_node), _ceil_div(model.replicas.max, per_node)
        # A model's own share of node-hours (pools are shared, so this is a fraction of nodes).
        share = node_price(cfg.cluster.provider, pool, priced_region(cfg)) * HOURS_PER_MONTH * unit.node_fraction * tp
        fallback, found = plan_fallback(cfg, path, model, need)
        issues += found
        steps = plan_steps(cfg, model, fallback)
        spread_kind = spread(units, model.replicas.max, pool.max, cfg.serving.cache_access_mode)
        notes = _spread_notes(cfg, model, pool, units, cfg.pool(model.fallback_pool or ""))
        if spread_kind == "required":
            # One replica per node: as many nodes as replicas.
            nodes_at_min, nodes_at_max = model.replicas.min, model.replicas.max
        gpu = catalog.GPUS[pool.gpu]
        # A time-sliced/MPS unit is 1/replicas of a GPU (unit_of advertises each GPU `replicas` times).
        replicas = unit.per_node // pool.gpus_per_node if unit.kind in ("time-slicing", "mps") else 1
        # The KV cache gets what the replica's units leave after weights and overhead (config.throughput).
        rate = estimate(shape=shape, engine=model.engine, quantization=quantization,
                        kv_cache_dtype=model.kv_cache_dtype, max_num_seqs=model.max_num_seqs, tensor_parallel=tp,
                        max_model_len=model.max_model_len, gpu=gpu,
                        share=share_of(gpu, unit.kind, unit.profile, replicas),
                        kv_pool_bytes=max(0.0, (usable - overhead) * tp - weights) * GIB, replica_monthly_usd=share)
    return ModelPlan(
        name=model.name, engine=model.engine, model=model.model, quantization=quantization,
        pool=pool.name if pool else None, capacity=capacity, unit=unit_label, resource=resource,
        weights_gib=weights, kv_cache_gib=kv, overhead_gib=overhead, need_per_unit_gib=need,
        usable_per_unit_gib=usable, fits=fits, estimated=shape.estimated,
        units_per_replica=units, replicas_per_node=per_node,
        min_replicas=model.replicas.min, max_replicas=model.replicas.max,
        nodes_at_min=nodes_at_min, nodes_at_max=nodes_at_max, cache_gi=cache_volume_gi(weights),
        monthly_usd_min=share * model.replicas.min, monthly_usd_max=share * model.replicas.max,
        critical=model.critical, fallback=fallback, spread=spread_kind, notes=tuple(notes),
        params_b=shape.params_b, active_params_b=shape.active_b, kv_cache_dtype=model.kv_cache_dtype,
        attention=shape.attention, sliding_window=shape.sliding_window if shape.sliding_layers else None,
        expert_parallel=model.expert_parallel and shape.moe and tp > 1,
        weights_per_unit_gib=mem.weights_per_unit, kv_cache_per_unit_gib=mem.kv_per_unit,
        throughput=rate, steps=steps), issues


def step_pools(cfg: StackConfig, model: ServedModel) -> list[tuple[GpuPool, str]]:
    """(pool, via) of a GPU model server in the order its replicas use them: its own pool, then the later pools of its
    compute class (`nodePools.computeClasses[].pools`, priority order), then its fallbackPool. Unknown names are
    skipped (config.semantics reports them); each pool once."""
    own = cfg.pool(model.pool or "")
    if own is None:
        return []
    found = [(own, "pool")]
    spec = next((c for c in cfg.node_pools.compute_classes if c.name == model.compute_class), None)
    for name in spec.pools if spec is not None else ():
        pool = cfg.pool(name)
        if pool is not None and all(pool.name != p.name for p, _ in found):
            found.append((pool, "computeClass"))
    fb = cfg.pool(model.fallback_pool or "")
    if fb is not None and all(fb.name != p.name for p, _ in found):
        found.append((fb, "fallbackPool"))
    return found


def plan_steps(cfg: StackConfig, model: ServedModel, fallback: Fallback | None) -> tuple[Step, ...]:
    """Every capacity step of a GPU model server, each priced for the server's replicas on it: a replica carries
    `tensorParallel` units of the step pool's node price (its unit's share of a node), min and max replicas (the
    fallback step: the fallback Deployment's max)."""
    region = priced_region(cfg)
    steps = []
    for pool, via in step_pools(cfg, model):
        price, basis = pool_price(cfg.cluster.provider, pool, region)
        unit = unit_of(pool, model.mig_profile)
        per_replica = price * HOURS_PER_MONTH * unit.node_fraction * model.tensor_parallel
        most = fallback.max_replicas if via == "fallbackPool" and fallback is not None else model.replicas.max
        steps.append(Step(pool=pool.name, capacity=pool.capacity, via=via, usd_per_node_hour=price, price_basis=basis,
                          monthly_usd_min=per_replica * model.replicas.min, monthly_usd_max=per_replica * most,
                          unit=unit.label, resource=resource_name(cfg, pool, unit.profile)))
    return tuple(steps)


def spread(units_per_replica: int, replicas: int, pool_max_nodes: int, cache_access_mode: str) -> str:
    """Replica spreading of one Deployment: "required" when each replica spans several GPUs/slices and the pool can
    grow to one node per replica, "preferred" when it cannot (or the cache volume pins every replica to one node:
    then "none"), "none" for single-unit replicas (packing them keeps GPUs busy; losing a node loses few)."""
    if units_per_replica <= 1 or replicas <= 1:
        return "none"
    if cache_access_mode == "ReadWriteOnce":
        return "none"
    return "required" if pool_max_nodes >= replicas else "preferred"


def _spread_notes(cfg: StackConfig, model: ServedModel, pool: GpuPool, units: int,
                  fallback: GpuPool | None) -> list[str]:
    notes = []
    placements = [(pool, model.replicas.max, "")]
    if fallback is not None:
        placements.append((fallback, max(model.replicas.min, fallback_max(model)), "fallback "))
    for where, replicas, what in placements:
        found = spread(units, replicas, where.max, cfg.serving.cache_access_mode)
        if found == "preferred":
            notes.append(f"{what}replicas ({replicas} x {units} units) spread over nodes only where possible: pool "
                         f"'{where.name}' max {where.max} nodes < {replicas} replicas, so two may share a node (and "
                         f"fail together); nodePools.gpu max >= {replicas} makes it one replica per node")
        elif units > 1 and replicas > 1 and found == "none":
            notes.append(f"{what}replicas ({replicas} x {units} units) share one node: serving.cacheAccessMode "
                         f"ReadWriteOnce pins every replica to the node holding the cache volume")
    return notes


def plan_fallback(cfg: StackConfig, path: str, model: ServedModel,
                  need: float) -> tuple[Fallback | None, list[Issue]]:
    """Where a GPU model keeps min replicas when spot is gone (None without `fallbackPool`), and whether its
    `need` (GiB per unit) fits there."""
    fb_pool = cfg.pool(model.fallback_pool or "")
    if fb_pool is None:
        return None, []
    unit = unit_of(fb_pool, model.mig_profile)
    price = node_price(cfg.cluster.provider, fb_pool, priced_region(cfg))
    per_replica = price * HOURS_PER_MONTH * unit.node_fraction * model.tensor_parallel
    most = max(model.replicas.min, fallback_max(model))
    fallback = Fallback(
        pool=fb_pool.name, resource=resource_name(cfg, fb_pool, unit.profile), unit=unit.label,
        monthly_usd=per_replica * model.replicas.min, max_replicas=most, monthly_usd_max=per_replica * most)
    usable = unit.memory_gib * model.gpu_memory_utilization
    if need <= usable:
        return fallback, []
    return fallback, [_model_issue(path, model, (
        f"does not fit its fallbackPool '{fb_pool.name}': needs {need:.1f} GiB per {unit.label}, "
        f"pool gives {usable:.1f} GiB"))]


def plan_pool(cfg: StackConfig, index: int, pool: GpuPool, demands: Sequence[Demand]) -> tuple[PoolPlan, list[Issue]]:
    """One GPU pool's plan (`index`: its place in nodePools.gpu) from what every model server asks of the
    stack's pools, with its sizing problems (empty list = its max holds its models)."""
    provider = cfg.cluster.provider
    mine = [d for d in demands if d.pool == pool.name]
    # Units asked of the pool, per kind of unit (a mixed MIG layout offers several).
    units_min: dict[str, int] = {}
    units_max: dict[str, int] = {}
    for demand in mine:
        _add(units_min, demand.unit, demand.units_min)
        _add(units_max, demand.unit, demand.units_max)
    users = [d.model if d.placement == "primary" else f"{d.model} (fallback)" for d in mine]
    units = pool_units(pool)
    need_min = max(_ceil_div(units_min.get(u.label, 0), u.per_node) for u in units)
    need_max = max(_ceil_div(units_max.get(u.label, 0), u.per_node) for u in units)
    if len(units) == 1:
        unit_label, per_node = units[0].label, units[0].per_node
    else:
        # Several kinds of unit come only from a mixed MIG layout (pool_units).
        mig = required(pool.sharing if isinstance(pool.sharing, Mig) else None,
                       key_path("nodePools", "gpu", index, "sharing"), "a MIG layout", "config.gpu_stack.pool_units")
        unit_label = f"{layout_name(pool.gpu, mig)} layout"
        per_node = sum(u.per_node for u in units)
    issues: list[Issue] = []
    if need_max > pool.max:
        asked = ", ".join(f"{units_max.get(u.label, 0)} x {u.label} ({u.per_node} per node)" for u in units)
        issues.append(Issue(key_path("nodePools", "gpu", index, "max"), (
            f"pool '{pool.name}' needs {need_max} nodes for its models at max replicas "
            f"({asked}; {', '.join(users)}; a fallback Deployment counts at its max, fallbackMaxReplicas) "
            f"but max is {pool.max}; raise max or lower serving.models[].replicas (or fallbackMaxReplicas)")))
    elif need_min > pool.max:
        issues.append(Issue(key_path("nodePools", "gpu", index, "max"), (
            f"pool '{pool.name}' needs {need_min} nodes to hold min replicas of its models but max is {pool.max}")))
    machine = machine_for(provider, pool)
    price, basis = pool_price(provider, pool, priced_region(cfg))
    return PoolPlan(
        name=pool.name, gpu=pool.gpu, capacity=pool.capacity, machine_type=machine.name if machine else None,
        gpus_per_node=pool.gpus_per_node, unit=unit_label, units_per_node=per_node,
        min_nodes=pool.min, max_nodes=pool.max, nodes_needed_min=need_min, nodes_needed_max=need_max,
        usd_per_node_hour=price, gpus_min=pool.min * pool.gpus_per_node, gpus_max=pool.max * pool.gpus_per_node,
        monthly_usd_min=pool.min * price * HOURS_PER_MONTH, monthly_usd_max=pool.max * price * HOURS_PER_MONTH,
        models=tuple(users), units_asked_min=sum(units_min.values()), units_asked_max=sum(units_max.values()),
        price_basis=basis), issues


def spot_gone(cfg: StackConfig, models: Sequence[ModelPlan]) -> SpotGone:
    """What runs where when no spot node is left, at max scale (the worst moment to lose spot).

    A server on a non-spot pool stays (its Deployments as planned, `ModelPlan.demands()`). A server on a spot pool
    moves to the first non-spot pool of its compute class (GKE schedules its pods there by itself; its fallback, if
    any, keeps its floor), else its `<name>-fallback` Deployment scales to its max on the fallbackPool (primary
    replicas above that max are lost), else all its replicas are lost. Each non-spot pool then runs the nodes its
    Deployments need, at least its min and at most its max (replicas beyond the max stay pending: a note)."""
    spot = {p.name for p in cfg.node_pools.gpu if p.capacity == "spot"}
    demands: list[Demand] = []
    moves: list[SpotMove] = []
    for m in models:
        if m.pool is None or m.resource is None:
            continue
        if m.pool not in spot:
            demands += m.demands()
            continue
        tp, fb = m.units_per_replica, m.fallback
        target = next((s for s in m.steps if s.via == "computeClass" and s.capacity != "spot"), None)
        if target is not None:
            demands.append(Demand(model=m.name, placement="primary", pool=target.pool, unit=target.unit,
                                  resource=target.resource, units_min=tp * m.min_replicas,
                                  units_max=tp * m.max_replicas))
            if fb is not None:  # the fallback Deployment keeps its floor whatever the primary does
                demands.append(Demand(model=m.name, placement="fallback", pool=fb.pool, unit=fb.unit,
                                      resource=fb.resource, units_min=tp * m.min_replicas,
                                      units_max=tp * m.min_replicas))
            moves.append(SpotMove(model=m.name, from_pool=m.pool, to_pool=target.pool, via="computeClass",
                                  replicas=m.max_replicas, lost_replicas=0, critical=m.critical))
        elif fb is not None:
            held = max(m.min_replicas, fb.max_replicas)
            demands.append(Demand(model=m.name, placement="fallback", pool=fb.pool, unit=fb.unit, resource=fb.resource,
                                  units_min=tp * m.min_replicas, units_max=tp * held))
            moves.append(SpotMove(model=m.name, from_pool=m.pool, to_pool=fb.pool, via="fallbackPool", replicas=held,
                                  lost_replicas=max(0, m.max_replicas - held), critical=m.critical))
        else:
            moves.append(SpotMove(model=m.name, from_pool=m.pool, to_pool=None, via=None, replicas=0,
                                  lost_replicas=m.max_replicas, critical=m.critical))
    region, provider = priced_region(cfg), cfg.cluster.provider
    nodes_of: list[tuple[str, int]] = []
    usd_of: list[tuple[str, float]] = []
    notes: list[str] = []
    for pool in cfg.node_pools.gpu:
        if pool.name in spot:
            nodes_of.append((pool.name, 0))
            usd_of.append((pool.name, 0.0))
            continue
        asked: dict[str, int] = {}
        for d in demands:
            if d.pool == pool.name:
                _add(asked, d.unit, d.units_max)
        needed = max((_ceil_div(asked.get(u.label, 0), u.per_node) for u in pool_units(pool)), default=0)
        if needed > pool.max:
            notes.append(f"pool '{pool.name}' would need {needed} nodes but max is {pool.max}: the replicas beyond "
                         "stay pending")
        nodes = max(pool.min, min(pool.max, needed))
        nodes_of.append((pool.name, nodes))
        usd_of.append((pool.name, nodes * node_price(provider, pool, region) * HOURS_PER_MONTH))
    gpus = sum(n * p.gpus_per_node for (_, n), p in zip(nodes_of, cfg.node_pools.gpu, strict=True))
    return SpotGone(gpus=gpus, monthly_usd=sum(u for _, u in usd_of), moves=tuple(moves),
                    pool_nodes=tuple(nodes_of), pool_usd=tuple(usd_of), notes=tuple(notes))


def plan(cfg: StackConfig) -> tuple[CapacityPlan, list[Issue]]:
    """Compute the plan; return it with every fit/sizing problem found (empty list = valid).

    Assumes `config.semantics` found no structural problem (pools exist, profiles valid, ...).
    """
    issues: list[Issue] = []
    models: list[ModelPlan] = []
    for served in served_models(cfg):
        planned, found = plan_model(cfg, served.path, served.model)
        if served.role == EMBEDDING_SERVER:  # embeddings emit no tokens: no decode throughput
            planned = replace(planned, throughput=None)
        models.append(planned)
        issues += found
    demands = [d for m in models for d in m.demands()]
    pools: list[PoolPlan] = []
    for index, pool in enumerate(cfg.node_pools.gpu):
        planned_pool, found = plan_pool(cfg, index, pool, demands)
        pools.append(planned_pool)
        issues += found
    return CapacityPlan(
        models=tuple(models),
        pools=tuple(pools),
        gpus_min=sum(p.gpus_min for p in pools),
        gpus_max=sum(p.gpus_max for p in pools),
        monthly_usd_min=sum(p.monthly_usd_min for p in pools),
        monthly_usd_max=sum(p.monthly_usd_max for p in pools),
        monthly_usd_on_demand_max=sum(p.monthly_usd_max for p in pools if p.capacity == "on-demand"),
        monthly_usd_spot_max=sum(p.monthly_usd_max for p in pools if p.capacity == "spot"),
        prices_as_of=catalog.PRICES_AS_OF,
        prices_region=priced_region(cfg),
        spot_gone=spot_gone(cfg, models),
    ), issues


def _ceil_div(a: int, b: int) -> int:
    return 0 if a <= 0 else -(-a // max(b, 1))
