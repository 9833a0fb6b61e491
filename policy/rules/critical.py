"""critical-models-on-demand: a model marked `critical: true` never depends on spot capacity alone.

The program publishes its capacity plan in the ConfigMap `ai-platform-capacity` (key `plan.json`,
`models.<name>` with `pool`, `fallbackPool`, `capacity` and `critical`). For every critical model
the policy looks at its pool and its fallback pool and requires at least one of them to be
on-demand capacity that can run nodes:

- the pool's node pool / node group is found by its node label `ai-platform/pool=<pool>`
  (GKE `nodeConfig.labels`, EKS `labels`). Spot means GKE `nodeConfig.spot` or
  `nodeConfig.preemptible` true, EKS `capacityType` SPOT; anything else is on-demand. An on-demand
  pool whose max node count is 0 gives no capacity.
- a pool with no node pool resource (an existing cluster, where pools are node labels) is judged
  by the `capacity` the plan records for it (`pools.<name>.capacity`).

A critical model whose pools are all spot (or unknown) is a violation, reported on the ConfigMap.
A plan.json that is not a JSON object is a violation too (the published plan is broken).

When only the fallback pool gives on-demand capacity and the stack runs the model's server (a Deployment or
StatefulSet named `<model>` whose pod template has `app.kubernetes.io/component: model-server`, or `embedding`
for the RAG embedding server), the capacity
must really be used: a Deployment or StatefulSet `<model>-fallback` in the same namespace, pinned to the fallback
pool (`nodeSelector` `ai-platform/pool: <fallbackPool>` or the equivalent required node affinity, as
serving-pods-select-gpu-pool reads it), with at least one replica (`spec.replicas`, absent = 1). Otherwise
the violation is reported on the primary workload.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from . import plan_keys as plan_key
from .budget import PLAN_KEY, capacity_configmaps, capacity_json, eks_pool, gke_pool, karpenter_pool
from .helpers import (
    DEPLOYMENT_TYPE,
    GKE_NODE_POOL,
    KARPENTER_NODE_POOL,
    STATEFULSET_TYPE,
    get,
    is_map,
    karpenter_capacity_types,
    namespace_of,
    node_labels,
    number,
    pod_spec,
)
from .serving import COMPONENT_LABEL, selected_pools, template_labels

NAME = "critical-models-on-demand"
POOL_LABEL = "ai-platform/pool"


def pool_resources(resources) -> dict[str, list]:
    """Node pool / node group resources by their `ai-platform/pool` node label."""
    found: dict[str, list] = {}
    for r in resources:
        labels = node_labels(r.resource_type, r.props)
        if labels is None:
            continue
        label = get(labels, POOL_LABEL)
        if isinstance(label, str):
            found.setdefault(label, []).append(r)
    return found


def resource_capacity(r) -> tuple[str, float | None]:
    """('spot' | 'on-demand', max nodes or None) of a node pool / node group resource."""
    if r.resource_type == GKE_NODE_POOL:
        spot = get(r.props, "nodeConfig", "spot") is True or get(r.props, "nodeConfig", "preemptible") is True
        return ("spot" if spot else "on-demand"), gke_pool(r.props, r.name, r.urn).nodes
    if r.resource_type == KARPENTER_NODE_POOL:
        # reserved (capacity reservations, Capacity Blocks) is on-demand capacity held for the stack.
        spot = karpenter_capacity_types(r.props) == ["spot"]
        return ("spot" if spot else "on-demand"), karpenter_pool(r.props, r.name, r.urn).nodes
    capacity = str(get(r.props, "capacityType", default="ON_DEMAND")).upper()
    return ("spot" if capacity == "SPOT" else "on-demand"), eks_pool(r.props, r.name, r.urn).nodes


def describe_pool(name: str, plan: Any, resources: dict[str, list]) -> tuple[bool, str]:
    """(gives on-demand capacity, how the pool was judged)."""
    found = resources.get(name, [])
    if found:
        parts, usable = [], False
        for r in found:
            capacity, nodes = resource_capacity(r)
            scalable = nodes is None or nodes > 0
            usable = usable or (capacity == "on-demand" and scalable)
            parts.append(f"{r.name} {capacity}" + ("" if scalable else " with max 0 nodes"))
        return usable, f"'{name}' ({', '.join(parts)})"
    capacity = get(plan, plan_key.POOLS, name, plan_key.POOL_CAPACITY)
    if capacity is None:
        return False, f"'{name}' (no node pool labelled {POOL_LABEL}={name} and not in the plan)"
    return capacity == "on-demand", f"'{name}' ({capacity} per the plan)"


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = pool_resources(args.resources)
    for r, where in capacity_configmaps(args.resources):
        plan = capacity_json(r, where, PLAN_KEY, report_violation)
        if plan is None:
            continue
        models = get(plan, plan_key.MODELS, default={})
        for model_name in sorted(models) if is_map(models) else []:
            model = models[model_name]
            if get(model, plan_key.MODEL_CRITICAL) is not True or get(model, plan_key.MODEL_CAPACITY) == "cpu":
                continue
            pools = [p for p in (get(model, plan_key.MODEL_POOL), get(model, plan_key.MODEL_FALLBACK_POOL))
                     if isinstance(p, str)]
            verdicts = [describe_pool(p, plan, resources) for p in pools]
            if verdicts and verdicts[0][0]:
                continue
            if any(ok for ok, _ in verdicts):
                _check_fallback_workload(args.resources, model_name, get(model, plan_key.MODEL_FALLBACK_POOL),
                                         report_violation)
                continue
            seen = "; ".join(text for _, text in verdicts) or "no pool"
            report_violation(
                f"critical model '{model_name}' has no on-demand capacity: {seen}. Set its fallbackPool to an "
                f"on-demand GPU pool (or move it to one) so losing spot capacity cannot take it down.", r.urn)


def _workloads(resources) -> dict[str, list]:
    """Deployments / StatefulSets by metadata.name."""
    found: dict[str, list] = {}
    for r in resources:
        if r.resource_type in (DEPLOYMENT_TYPE, STATEFULSET_TYPE):
            name = get(r.props, "metadata", "name")
            if isinstance(name, str):
                found.setdefault(name, []).append(r)
    return found


# Model servers and the RAG embedding server (whose Deployment is `embedding`, its fallback `embedding-fallback`).
SERVER_COMPONENTS = ("model-server", "embedding")


def _check_fallback_workload(resources, model_name: str, fallback_pool: str, report_violation: ReportViolation) -> None:
    by_name = _workloads(resources)
    primaries = [r for r in by_name.get(model_name, [])
                 if get(template_labels(r.resource_type, r.props), COMPONENT_LABEL) in SERVER_COMPONENTS]
    for primary in primaries:
        ns = namespace_of(primary.props)
        fallbacks = [r for r in by_name.get(f"{model_name}-fallback", []) if namespace_of(r.props) == ns]
        good = [r for r in fallbacks
                if selected_pools(pod_spec(r.resource_type, r.props) or {}) == [fallback_pool]
                and (number(get(r.props, "spec", "replicas", default=1)) or 0) >= 1]
        if good:
            continue
        seen = (f"{model_name}-fallback does not run on '{fallback_pool}' with at least one replica" if fallbacks
                else f"there is no Deployment {ns}/{model_name}-fallback")
        report_violation(
            f"critical model '{model_name}' runs on spot capacity and relies on its on-demand fallback pool "
            f"'{fallback_pool}', but {seen}. Keep replicas.min of the model on '{fallback_pool}' in a "
            f"{model_name}-fallback Deployment (nodeSelector {POOL_LABEL}: {fallback_pool}).", primary.urn)


critical_models_on_demand = StackValidationPolicy(
    name=NAME,
    description="Models marked critical have on-demand capacity (their pool or fallbackPool), never spot alone.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
)
