"""The shape of the capacity plan as published: the `capacity` stack output and `plan.json` of the
`kube-system/ai-platform-capacity` ConfigMap, which the policy pack reads (gpu-budget, cost-budget,
critical-models-on-demand) and `tools.plan` prints.

Declared here once. `CapacityPlan.to_output()` builds exactly these TypedDicts, and
`tests/policy/test_plan_shape.py` checks that (a) every shipped stack's output has exactly these keys
with these types and (b) every key the pack reads (`policy/rules/plan_keys.py`) is declared here with
the type the pack expects. Renaming a `ModelPlan` field therefore cannot change what the gate reads.

Why here and not in the pack: the pack runs from `policy/` in its own virtualenv (pulumi-policy only),
so it cannot import `config/`; the program cannot import `policy.rules` either (pulumi-policy is no
runtime dependency, and importing the package builds every policy). The program owns the output, the
pack names the keys it reads, and the pack's tests join the two. Standard library only.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, TypedDict, Union, get_args, get_origin, get_type_hints


class ThroughputEntry(TypedDict):
    """`models.<name>.throughput`: estimated figures of one replica (config/throughput.py; an estimate)."""

    decodeTokensPerSecond: float       # output tokens/s of the whole batch
    perSequenceTokensPerSecond: float  # output tokens/s one sequence sees
    batch: int
    batchFrom: str                     # maxNumSeqs | engine default | KV cache
    engineDefaultBatch: int
    kvCapacitySequences: int           # sequences at the average context the KV cache holds
    bound: str                         # memory | compute
    promptTokens: int                  # the assumed request
    outputTokens: int
    averageContext: int
    prefillTokensPerSecond: float | None
    ttftSeconds: float | None
    usdPerMillionOutputTokens: float | None  # None: nothing priced (existing clusters)
    assumptions: list[str]


class StepEntry(TypedDict):
    """`models.<name>.steps[]`: one capacity step of a model server, in the order its replicas use them."""

    pool: str
    capacity: str                 # on-demand | spot | flex-start | reservation
    via: str                      # pool | computeClass | fallbackPool
    usdPerNodeHour: float
    priceBasis: str               # which figure: spot, on-demand, flex-start, on-demand (reservation), ...
    monthlyUsdMin: float          # the server's min replicas on this step
    monthlyUsdMax: float          # its max replicas on this step (fallback: the fallback's max)


class ModelEntry(TypedDict):
    """`models.<name>`: one model server (GiB and USD rounded to 2 decimals)."""

    name: str
    engine: str
    model: str
    quantization: str
    pool: str | None
    capacity: str              # on-demand | spot | cpu
    unit: str
    resource: str | None
    weightsGib: float
    kvCacheGib: float
    overheadGib: float
    needPerUnitGib: float
    usablePerUnitGib: float
    fits: bool
    estimated: bool
    unitsPerReplica: int
    replicasPerNode: int
    minReplicas: int
    maxReplicas: int
    nodesAtMin: int
    nodesAtMax: int
    cacheGi: int
    monthlyUsdMin: float
    monthlyUsdMax: float
    critical: bool
    fallbackPool: str | None      # the fallback record, flat: None / 0.0 without a fallbackPool
    fallbackResource: str | None
    fallbackMonthlyUsd: float
    fallbackUnit: str | None
    fallbackMaxReplicas: int      # most replicas the fallback scales to (0 without a fallbackPool)
    fallbackMonthlyUsdMax: float  # on-demand cost of those
    spread: str                   # required | preferred | none: replicas of a multi-GPU model one per node or not
    notes: list[str]
    paramsB: float                # total parameters, billions (MoE: every expert)
    activeParamsB: float          # parameters one token activates (= paramsB for dense models): the throughput input
    kvCacheDtype: str             # auto | fp8
    attention: str                # gqa | mla
    slidingWindow: int | None     # tokens a sliding-window layer holds (None: full attention everywhere)
    expertParallel: bool          # whole experts per GPU (vLLM --enable-expert-parallel)
    weightsPerUnitGib: float      # weights on the most loaded GPU/slice of a replica
    kvCachePerUnitGib: float      # KV cache of one full sequence on one GPU/slice
    throughput: ThroughputEntry | None  # the estimate of one replica; None for CPU and embedding servers
    steps: list[StepEntry]        # capacity steps, in order (empty on CPU)
    stepCapacities: list[str]     # the steps' capacities, in order (what flex-start-not-sole-capacity reads)

class PoolEntry(TypedDict):
    """`pools.<name>`: one GPU pool."""

    name: str
    gpu: str
    capacity: str              # on-demand | spot | flex-start | reservation
    machineType: str | None
    gpusPerNode: int
    unit: str
    unitsPerNode: int
    minNodes: int
    maxNodes: int
    nodesNeededMin: int
    nodesNeededMax: int
    usdPerNodeHour: float
    gpusMin: int
    gpusMax: int
    monthlyUsdMin: float
    monthlyUsdMax: float
    models: list[str]
    unitsAskedMin: int
    unitsAskedMax: int
    priceBasis: str            # which figure usdPerNodeHour is (config.catalog.price_basis)


class Totals(TypedDict):
    """`totals`: the stack at pool min and max."""

    gpusMin: int
    gpusMax: int
    monthlyUsdMin: float
    monthlyUsdMax: float
    monthlyUsdOnDemandMax: float
    monthlyUsdSpotMax: float


class ScenarioCost(TypedDict):
    """GPUs and monthly cost of the stack in one scenario."""

    gpus: int
    monthlyUsd: float


class PoolInScenario(TypedDict):
    """`scenarios.spotGone.pools.<name>`: nodes a GPU pool runs when spot is gone (spot pools 0)."""

    nodes: int
    monthlyUsd: float


class SpotMoveEntry(TypedDict):
    """`scenarios.spotGone.moves[]`: where a server on a spot pool goes when spot is gone."""

    model: str
    fromPool: str
    toPool: str | None            # None: nowhere
    via: str | None               # computeClass | fallbackPool | None
    replicas: int                 # replicas on toPool at max scale
    lostReplicas: int             # max replicas with nowhere to run
    critical: bool


class SpotGoneEntry(TypedDict):
    """`scenarios.spotGone`: every spot pool at 0 nodes, servers at max replicas where they can still run."""

    gpus: int
    monthlyUsd: float
    moves: list[SpotMoveEntry]
    pools: dict[str, PoolInScenario]
    notes: list[str]


class Scenarios(TypedDict):
    """`scenarios`: what the budget policies judge."""

    expected: ScenarioCost        # every pool at its min (the plan's monthlyUsdMin)
    max: ScenarioCost             # every pool at its max
    spotGone: SpotGoneEntry
    worstMonthlyUsd: float        # max(max, spotGone)


class PlanOutput(TypedDict):
    """The whole published plan."""

    models: dict[str, ModelEntry]
    pools: dict[str, PoolEntry]
    totals: Totals
    pricesAsOf: str
    pricesRegion: str | None
    flexStartPricesAsOf: str      # date of the Flex-start figures (config.catalog.FLEX_START_PRICES_AS_OF)
    scenarios: Scenarios


def _is_typed_dict(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, dict) and hasattr(t, "__total__")


def _problems(value: Any, t: Any, where: str) -> list[str]:
    origin = get_origin(t)
    if origin is Union or origin is types.UnionType:  # Optional[X] and X | None
        options = get_args(t)
        if value is None and type(None) in options:
            return []
        found = [_problems(value, o, where) for o in options if o is not type(None)]
        return [] if any(not f for f in found) else found[0]
    if _is_typed_dict(t):
        if not isinstance(value, Mapping):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        hints = get_type_hints(t)
        out = [f"{where}.{k}: missing" for k in hints if k not in value]
        out += [f"{where}.{k}: not declared in {t.__name__}" for k in value if k not in hints]
        for k, sub in hints.items():
            if k in value:
                out += _problems(value[k], sub, f"{where}.{k}")
        return out
    if origin is dict:
        _, item = get_args(t)
        if not isinstance(value, Mapping):
            return [f"{where}: expected an object, got {type(value).__name__}"]
        return [p for k, v in value.items() for p in _problems(v, item, f"{where}.{k}")]
    if origin is list:
        (item,) = get_args(t)
        if not isinstance(value, list):
            return [f"{where}: expected a list, got {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in _problems(v, item, f"{where}[{i}]")]
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) if t is float
          else isinstance(value, int) and not isinstance(value, bool) if t is int
          else isinstance(value, t))
    return [] if ok else [f"{where}: expected {t.__name__}, got {type(value).__name__} {value!r}"]


def problems(output: Any) -> list[str]:
    """Every difference between a published plan (parsed JSON or `to_output()`) and `PlanOutput`: missing or
    undeclared keys and wrong value types, each with its path; [] when it matches exactly."""
    return _problems(output, PlanOutput, "plan")


def declared_type(path: tuple[str, ...]) -> Any:
    """The declared type at a path of keys, `*` standing for any model or pool name
    (`("models", "*", "fallbackPool")` -> Optional[str]); KeyError when the path is not declared."""
    t: Any = PlanOutput
    for key in path:
        if get_origin(t) in (Union, types.UnionType):  # an optional object (`throughput`): its keys when present
            t = next(o for o in get_args(t) if o is not type(None))
        if _is_typed_dict(t):
            t = get_type_hints(t)[key]
        elif get_origin(t) is dict and key == "*":
            t = get_args(t)[1]
        else:
            raise KeyError(f"{'.'.join(path)}: no key {key!r} declared at this level")
    return t


__all__ = ["ModelEntry", "PlanOutput", "PoolEntry", "ScenarioCost", "Scenarios", "SpotGoneEntry", "SpotMoveEntry",
           "StepEntry", "ThroughputEntry", "Totals", "declared_type", "problems"]
