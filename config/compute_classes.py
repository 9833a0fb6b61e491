"""GKE custom compute classes (`nodePools.computeClasses[]`, `serving.models[].computeClass`): which pools a class
falls back through, and the config checks that keep its pods schedulable on every step.

A compute class is GKE's own fallback: the cluster autoscaler scales the class's first node pool, and when it cannot
(stock-out, quota, no reservation left) the next one, in order. The program makes one `cloud.google.com/v1`
ComputeClass per entry with one `priorities[]` rule per pool (`nodepools: [<pool>]`), labels and taints the pools
with the class, and makes the servers that name the class select it (components/serving/pods.py).

Upstream facts (GKE docs, "About custom ComputeClasses",
https://cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes, stored copy last updated
2026-04-13):
- manually created node pools join a class through the node label `cloud.google.com/compute-class=<class>` and the
  taint `cloud.google.com/compute-class=<class>:NoSchedule`; a node pool belongs to at most one class;
- the pools of one `nodepools` rule have no order among them, so a fallback order needs one rule per pool, and a
  `nodepools` rule takes no other field;
- pods select a class with nodeSelector `cloud.google.com/compute-class: <class>`;
- a class name cannot begin with `gke` or `autopilot`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from functools import partial

from .errors import Issue, key_path
from .models import GpuPool, NodePoolsConfig, StackConfig

COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
"""Node label and taint key that bind a node pool to a class, and the pods' nodeSelector key (GKE docs above)."""
RESERVED_PREFIXES = ("gke", "autopilot")
"""GKE docs, Limitations: a ComputeClass name cannot begin with these."""
CRITICAL_FIRST = ("on-demand", "reservation")
"""Capacities a critical server's first step may have (capacity that stays while spot is reclaimed)."""


def class_pool_names(node_pools: NodePoolsConfig, name: str) -> tuple[str, ...]:
    """The pool names of class `name` in priority order (empty when there is no such class)."""
    return next((c.pools for c in node_pools.compute_classes if c.name == name), ())


def class_pools(cfg: StackConfig, name: str) -> tuple[GpuPool, ...]:
    """The GPU pools of class `name` in priority order (the steps the capacity plan prices); unknown names skipped."""
    return tuple(p for p in (cfg.pool(n) for n in class_pool_names(cfg.node_pools, name)) if p is not None)


def pool_class(node_pools: NodePoolsConfig, pool: str) -> str | None:
    """The class whose label and taint the node pool `pool` carries (None: it belongs to no class)."""
    return next((c.name for c in node_pools.compute_classes if pool in c.pools), None)


def class_toleration(name: str) -> dict[str, str]:
    """Toleration of class `name`'s node taint (pod spec form)."""
    return {"key": COMPUTE_CLASS_LABEL, "operator": "Equal", "value": name, "effect": "NoSchedule"}


def _choices(values: Iterable[object]) -> str:
    found = [str(v) for v in values]
    return ", ".join(found) if found else "(none)"


def _unit_key(pool: GpuPool) -> tuple[str, int, object]:
    """What decides a server's fit and requests on a pool (config.capacity.unit_of): GPU, GPUs per node, sharing."""
    return pool.gpu, pool.gpus_per_node, pool.sharing


def check(cfg: StackConfig) -> list[Issue]:
    """Every problem of `nodePools.computeClasses` and `serving.models[].computeClass`."""
    return [*_classes(cfg), *_servers(cfg)]


def _classes(cfg: StackConfig) -> Iterator[Issue]:
    classes = cfg.node_pools.compute_classes
    if not classes:
        return
    if cfg.cluster.provider != "gke":
        yield Issue(key_path("nodePools", "computeClasses"), (
            f"custom compute classes are a GKE feature (cloud.google.com/v1 ComputeClass); provider is "
            f"{cfg.cluster.provider}: remove nodePools.computeClasses (on eks, nodePools.provisioner: karpenter "
            "falls back through capacity types, or use fallbackPool)"))
        return
    pools = {p.name: p for p in cfg.node_pools.gpu}
    for name, n in Counter(c.name for c in classes).items():
        if n > 1:
            yield Issue(key_path("nodePools", "computeClasses"), f"class name '{name}' is used {n} times; names "
                                                                   "must be unique")
    owner: dict[str, str] = {}
    for i, cc in enumerate(classes):
        path = partial(key_path, "nodePools", "computeClasses", i)
        if cc.name.startswith(RESERVED_PREFIXES):
            yield Issue(path("name"), f"'{cc.name}': GKE refuses ComputeClass names that begin with "
                                      f"{' or '.join(RESERVED_PREFIXES)}; choose another name")
        for pool_name, n in Counter(cc.pools).items():
            if n > 1:
                yield Issue(path("pools"), f"pool '{pool_name}' is listed {n} times; each step is a different pool")
        first: GpuPool | None = None
        for j, pool_name in enumerate(cc.pools):
            pool = pools.get(pool_name)
            if pool is None:
                yield Issue(path("pools", j), f"no GPU pool named '{pool_name}'; pools: {_choices(pools)}")
                continue
            if pool_name in owner and owner[pool_name] != cc.name:
                yield Issue(path("pools", j), (
                    f"pool '{pool_name}' is already a step of class '{owner[pool_name]}': a node pool carries the "
                    f"label and taint of one class only ({COMPUTE_CLASS_LABEL}=<class>); make a second pool"))
            owner.setdefault(pool_name, cc.name)
            if first is None:
                first = pool
            elif _unit_key(pool) != _unit_key(first):
                yield Issue(path("pools", j), (
                    f"pool '{pool_name}' ({pool.gpus_per_node}x {pool.gpu}, {pool.sharing.strategy}) differs from the "
                    f"first step '{first.name}' ({first.gpus_per_node}x {first.gpu}, {first.sharing.strategy}): a "
                    "server's pods are sized for one GPU unit and must fit every step; use pools of the same gpu, "
                    "gpusPerNode and sharing"))


def _servers(cfg: StackConfig) -> Iterator[Issue]:
    classes = {c.name: c for c in cfg.node_pools.compute_classes}
    pool_owner = {p: c.name for c in cfg.node_pools.compute_classes for p in c.pools}
    gke = cfg.cluster.provider == "gke"
    for i, model in enumerate(cfg.serving.models):
        path = partial(key_path, "serving", "models", i)
        name = model.compute_class
        if name is None:
            if model.pool in pool_owner:
                yield Issue(path("pool"), (
                    f"pool '{model.pool}' is a step of compute class '{pool_owner[model.pool]}' and carries its "
                    f"taint ({COMPUTE_CLASS_LABEL}={pool_owner[model.pool]}:NoSchedule); set computeClass: "
                    f"{pool_owner[model.pool]} (with pool its first step) or use a pool outside every class"))
        elif not gke:
            yield Issue(path("computeClass"), f"compute classes are a GKE feature; provider is "
                                              f"{cfg.cluster.provider}: remove computeClass")
            continue
        elif name not in classes:
            yield Issue(path("computeClass"), f"no compute class named '{name}' in nodePools.computeClasses; "
                                              f"classes: {_choices(classes)}")
            continue
        else:
            steps = classes[name].pools
            if model.pool != steps[0]:
                yield Issue(path("pool"), (
                    f"must be '{steps[0]}', the first step of compute class '{name}' (steps: {', '.join(steps)}): the "
                    f"capacity plan sizes the server on it and GKE tries it first"
                    + ("" if model.pool is not None else "; a server without a pool runs on CPU")))
            if model.fallback_pool is not None:
                yield Issue(path("fallbackPool"), (
                    f"compute class '{name}' is already the fallback: GKE moves pods to the next step ("
                    f"{', '.join(steps[1:]) or 'none'}) when a step has no capacity; remove fallbackPool, or remove "
                    "computeClass to keep replicas.min running on an on-demand pool in a second Deployment"))
            if model.canary is not None and model.canary.pool not in (None, steps[0]):
                yield Issue(path("canary", "pool"), (
                    f"the canary of a compute-class server selects class '{name}' too, so it runs on its steps; "
                    "remove canary.pool"))
            first = cfg.pool(steps[0])
            if model.critical and first is not None and first.capacity not in CRITICAL_FIRST:
                yield Issue(path("critical"), (
                    f"a critical model needs capacity that stays when spot is reclaimed, and compute class '{name}' "
                    f"starts on {first.capacity} pool '{first.name}': GKE moves a replica to the next step only once "
                    "its node is gone (a new node and a model load later); put an on-demand or reservation pool "
                    "first, or use pool + fallbackPool without computeClass"))
        if model.fallback_pool in pool_owner:
            yield Issue(path("fallbackPool"), (
                f"pool '{model.fallback_pool}' is a step of compute class '{pool_owner[model.fallback_pool]}' and "
                "carries its taint; a fallback Deployment runs on a pool outside every class"))
    emb = cfg.rag.embedding
    if emb is not None:
        for key, pool_name in (("pool", emb.pool), ("fallbackPool", emb.fallback_pool)):
            if pool_name in pool_owner:
                yield Issue(key_path("rag", "embedding", key), (
                    f"pool '{pool_name}' is a step of compute class '{pool_owner[pool_name]}' and carries its taint "
                    f"({COMPUTE_CLASS_LABEL}={pool_owner[pool_name]}:NoSchedule); the embedding server runs on a pool "
                    "outside every class"))
