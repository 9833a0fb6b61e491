"""gpu-budget (stack policy): GPUs across all GPU node pools at max scale stay within the budget.

Budget: the pack config `maxGpus` if set; otherwise `maxGpus` from `data["budget.json"]` of the
Kubernetes ConfigMap named `ai-platform-capacity` the program publishes (JSON
`{"maxGpus": 48, "maxMonthlyUsd": 60000}`, either key null or absent; with several such
ConfigMaps the smallest limit wins). No budget anywhere, or `maxGpus` null: compliant. A
budget.json that is not a JSON object is a violation (the published budget is broken).

GPUs of a pool at max scale = GPUs per node x max nodes, for every GPU pool (see
gpu-node-pool-tainted for what a GPU pool is):

- GKE `gcp:container/nodePool:NodePool`: GPUs per node = sum of `nodeConfig.guestAccelerators[].count`;
  a pool with no accelerators but a GPU machine type uses the node label `ai-platform/gpus-per-node`,
  else the machine type (a2/a3/a4 names end in `-<n>g`; g2 sizes below). Max nodes =
  `autoscaling.totalMaxNodeCount`, else `autoscaling.maxNodeCount` (per zone) x len(`nodeLocations`)
  when given, else `autoscaling.maxNodeCount`, else `nodeCount`, else `initialNodeCount` (also per
  zone, so also x len(`nodeLocations`) when given). Without `nodeLocations` a per-zone count is taken
  as the total: a regional pool without nodeLocations is under-counted, so set totalMaxNodeCount.
- EKS `aws:eks/nodeGroup:NodeGroup`: max nodes = `scalingConfig.maxSize`; GPUs per node = the node
  group label `ai-platform/gpus-per-node` when present, else the table below for its instance types
  (the largest when several), else an "unknown instance type" violation.

A GPU pool whose GPUs per node or max nodes cannot be determined is a violation (only when a
budget applies), reported on that pool; the total of the other pools is still checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .helpers import (
    EKS_NODE_GROUP,
    GKE_NODE_POOL,
    KARPENTER_NODE_POOL,
    fmt,
    get,
    gke_accelerators,
    is_gpu_pool,
    is_map,
    number,
    pool_label,
    strings,
)

NAME = "gpu-budget"
CAPACITY_CONFIGMAP = "ai-platform-capacity"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"
BUDGET_KEY = "budget.json"
PLAN_KEY = "plan.json"
GPUS_PER_NODE_LABEL = "ai-platform/gpus-per-node"

# NVIDIA GPUs per EC2 instance (AWS instance type pages: P3, P4, P5, P6, G4dn, G5, G5g, G6, G6e, Gr6).
EKS_GPUS_PER_INSTANCE: dict[str, int] = {
    "p3.2xlarge": 1, "p3.8xlarge": 4, "p3.16xlarge": 8, "p3dn.24xlarge": 8,
    "p4d.24xlarge": 8, "p4de.24xlarge": 8,
    "p5.4xlarge": 1, "p5.48xlarge": 8, "p5e.48xlarge": 8, "p5en.48xlarge": 8, "p6-b200.48xlarge": 8,
    "g4dn.xlarge": 1, "g4dn.2xlarge": 1, "g4dn.4xlarge": 1, "g4dn.8xlarge": 1, "g4dn.16xlarge": 1,
    "g4dn.12xlarge": 4, "g4dn.metal": 8,
    "g5g.xlarge": 1, "g5g.2xlarge": 1, "g5g.4xlarge": 1, "g5g.8xlarge": 1, "g5g.16xlarge": 2, "g5g.metal": 2,
    "gr6.4xlarge": 1, "gr6.8xlarge": 1,
    **{f"{family}.{size}": 1 for family in ("g5", "g6", "g6e")
       for size in ("xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge")},
    **{f"{family}.{size}": gpus for family in ("g5", "g6", "g6e")
       for size, gpus in (("12xlarge", 4), ("24xlarge", 4), ("48xlarge", 8))},
}

# GKE machine types whose GPU count is not in the name (A2/A3/A4 names end in -<n>g).
GKE_G2_GPUS: dict[str, int] = {
    "g2-standard-4": 1, "g2-standard-8": 1, "g2-standard-12": 1, "g2-standard-16": 1, "g2-standard-32": 1,
    "g2-standard-24": 2, "g2-standard-48": 4, "g2-standard-96": 8,
}
_GPU_SUFFIX = re.compile(r"^a[234]-[a-z]+-(\d+)g$")


@dataclass
class PoolGpus:
    """One GPU pool at max scale; `problem` is set when it cannot be computed."""

    label: str
    urn: str
    nodes: float | None = None
    gpus_per_node: float | None = None
    problem: str | None = None

    @property
    def total(self) -> float:
        return (self.nodes or 0.0) * (self.gpus_per_node or 0.0)

    def describe(self) -> str:
        return f"{self.label}: {fmt(self.nodes)} nodes x {fmt(self.gpus_per_node)} GPUs = {fmt(self.total)}"


def gke_machine_gpus(machine_type: Any) -> int | None:
    if not isinstance(machine_type, str):
        return None
    match = _GPU_SUFFIX.match(machine_type.lower())
    return int(match.group(1)) if match else GKE_G2_GPUS.get(machine_type.lower())


def gke_max_nodes(props: Any) -> float | None:
    zones = len(strings(get(props, "nodeLocations"))) or 1
    autoscaling = get(props, "autoscaling")
    if is_map(autoscaling):
        total_max = number(get(autoscaling, "totalMaxNodeCount"))
        if total_max is not None:
            return total_max
        per_zone_max = number(get(autoscaling, "maxNodeCount"))
        if per_zone_max is not None:
            return per_zone_max * zones
    for key in ("nodeCount", "initialNodeCount"):
        count = number(get(props, key))
        if count is not None:
            return count * zones
    return None


def gke_pool(props: Any, name: str, urn: str) -> PoolGpus:
    pool = PoolGpus(pool_label(props, name), urn, nodes=gke_max_nodes(props))
    accelerators = gke_accelerators(props)
    if accelerators:
        counts = [number(get(a, "count")) for a in accelerators]
        if any(c is None for c in counts):
            pool.problem = "a nodeConfig.guestAccelerators entry has no count"
        else:
            pool.gpus_per_node = sum(counts)
    else:
        label = number(get(props, "nodeConfig", "labels", GPUS_PER_NODE_LABEL))
        machine_type = get(props, "nodeConfig", "machineType")
        pool.gpus_per_node = label if label is not None else gke_machine_gpus(machine_type)
        if pool.gpus_per_node is None:
            pool.problem = (f"GPUs per node of machine type {machine_type!r} unknown; declare "
                            f"nodeConfig.guestAccelerators or the node label {GPUS_PER_NODE_LABEL}")
    if pool.nodes is None and pool.problem is None:
        pool.problem = "max node count unknown (no autoscaling max, nodeCount or initialNodeCount)"
    return pool


def eks_pool(props: Any, name: str, urn: str) -> PoolGpus:
    pool = PoolGpus(pool_label(props, name), urn, nodes=number(get(props, "scalingConfig", "maxSize")))
    label = number(get(props, "labels", GPUS_PER_NODE_LABEL))
    if label is not None:
        pool.gpus_per_node = label
    else:
        types = strings(get(props, "instanceTypes"))
        unknown = [t for t in types if t not in EKS_GPUS_PER_INSTANCE]
        if not types or unknown:
            shown = ", ".join(unknown) if unknown else "none declared"
            pool.problem = (f"unknown instance type ({shown}): GPUs per node unknown; set the node group label "
                            f"{GPUS_PER_NODE_LABEL}")
        else:
            pool.gpus_per_node = float(max(EKS_GPUS_PER_INSTANCE[t] for t in types))
    if pool.nodes is None and pool.problem is None:
        pool.problem = "scalingConfig.maxSize unknown"
    return pool


def karpenter_pool(props: Any, name: str, urn: str) -> PoolGpus:
    """A Karpenter NodePool: at most `spec.limits["nvidia.com/gpu"]` GPUs, in nodes of the `gpus-per-node` label."""
    pool = PoolGpus(pool_label(props, name), urn, gpus_per_node=number(
        get(props, "spec", "template", "metadata", "labels", GPUS_PER_NODE_LABEL)))
    limit = number(get(props, "spec", "limits", "nvidia.com/gpu"))
    if limit is None:
        pool.problem = "no spec.limits nvidia.com/gpu: a NodePool without a GPU limit grows without bound"
    elif not pool.gpus_per_node:
        pool.problem = f"GPUs per node unknown; set the template label {GPUS_PER_NODE_LABEL}"
    else:
        pool.nodes = limit / pool.gpus_per_node
    return pool


def gpu_pools(resources) -> list[PoolGpus]:
    """Every GPU node pool / node group / Karpenter NodePool of the stack at max scale."""
    pools = []
    builders = {GKE_NODE_POOL: gke_pool, EKS_NODE_GROUP: eks_pool, KARPENTER_NODE_POOL: karpenter_pool}
    for r in resources:
        if r.resource_type not in builders or not is_gpu_pool(r.resource_type, r.props):
            continue
        build = builders[r.resource_type]
        pools.append(build(r.props, r.name, r.urn))
    return pools


def capacity_configmaps(resources: Iterable[Any]) -> Iterator[tuple[Any, str]]:
    """(resource, "ConfigMap <namespace>/ai-platform-capacity") of every capacity ConfigMap of the stack."""
    for r in resources:
        if r.resource_type == CONFIGMAP_TYPE and get(r.props, "metadata", "name") == CAPACITY_CONFIGMAP:
            yield r, f"ConfigMap {get(r.props, 'metadata', 'namespace', default='default')}/{CAPACITY_CONFIGMAP}"


def capacity_json(r, where: str, key: str, report_violation: ReportViolation) -> Mapping | None:
    """The JSON object in `data[key]` of a capacity ConfigMap; None when absent or reported as broken."""
    raw = get(r.props, "data", key)
    if raw is None:
        return None
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        report_violation(f"{where} data[{key!r}] is not a JSON object: {str(raw)[:80]!r}", r.urn)
        return None
    return parsed


def budget_limit(config: Mapping, resources, report_violation: ReportViolation,
                 key: str = "maxGpus") -> tuple[float | None, str]:
    """(limit, where it came from) for a budget key (`maxGpus`, `maxMonthlyUsd`); (None, "") when none applies.

    The pack config key wins; otherwise the smallest `key` of budget.json over the capacity ConfigMaps.
    """
    configured = number(get(config, key))
    if configured is not None:
        return configured, f"pack config {key}"
    limits: list[tuple[float, str]] = []
    for r, where in capacity_configmaps(resources):
        budget = capacity_json(r, where, BUDGET_KEY, report_violation)
        limit = number(budget.get(key)) if budget is not None else None
        if limit is not None:
            limits.append((limit, f"{where} {BUDGET_KEY} {key}"))
    return min(limits) if limits else (None, "")


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    limit, source = budget_limit(args.get_config(), args.resources, report_violation)
    if limit is None:
        return
    pools = gpu_pools(args.resources)
    for pool in pools:
        if pool.problem:
            report_violation(f"GPU pool {pool.label}: {pool.problem}; cannot check it against the GPU budget "
                             f"({fmt(limit)} from {source}).", pool.urn)
    known = [p for p in pools if not p.problem]
    total = sum(p.total for p in known)
    if total > limit:
        breakdown = "; ".join(p.describe() for p in known)
        report_violation(f"GPUs at max scale: {fmt(total)} > budget {fmt(limit)} ({source}). Per pool: {breakdown}.")


gpu_budget = StackValidationPolicy(
    name=NAME,
    description="GPUs across all GPU node pools at max scale stay within the GPU budget.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "maxGpus": {
            "type": "integer",
            "minimum": 0,
            "description": "GPU budget; overrides budget.json of the ai-platform-capacity ConfigMap.",
        },
    }),
)
