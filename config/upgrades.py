"""Node upgrades and model start-up: how long a node takes to drain, and whether a cloud waits that long.

A node-pool upgrade replaces nodes one at a time (EKS `update_config.max_unavailable` 1, GKE surge
`max_surge` 1 / `max_unavailable` 0). Every model server has a PodDisruptionBudget of `maxUnavailable: 1`
(components/serving/model_server.py), so draining a node that holds k replicas of a model evicts them one at
a time: each eviction waits until the replacement of the previous one is Ready on a new node, i.e. scheduled,
its image pulled and the weights loaded (at most the model's start-up budget). The cloud waits only so long:

- EKS managed node groups: "If the Pods don't leave the node within 15 minutes and there's no force flag, the
  upgrade phase fails with a PodEvictionFailure error" (docs.aws.amazon.com/eks/latest/userguide/
  managed-node-update-behavior.html, upgrade phase). With the force flag the waiting pods are deleted.
- GKE surge upgrades respect PodDisruptionBudgets for up to one hour, then evict anyway
  (cloud.google.com/kubernetes-engine/docs/concepts/node-pool-upgrade-strategies; the one-hour limit as
  elastic/cloud-on-k8s issue 2448 reports it).

`config.semantics` refuses a GPU pool whose models cannot move off one node inside that window unless the pool
says `forceUpgrade: true`; `components/cluster/eks/node_groups.py` sizes the node group's update timeout from the
same numbers. Standard library only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .capacity import CapacityPlan, served_models
from .models import GpuPool, ServedModel, StackConfig

DRAIN_WINDOW_SECONDS = {"eks": 15 * 60, "gke": 60 * 60}
"""How long the cloud waits for a node's pods to be evicted during an upgrade (sources above)."""
POD_START_SECONDS = 180
"""A replacement replica before its start-up probe runs: scheduled on a node the upgrade already brought up
(surge), and its multi-GB server image pulled."""
NODE_BOOT_SECONDS = 25 * 60
"""A GPU node from launch to Ready (the Cluster Autoscaler's max-node-provision-time, components/cluster/eks/
autoscaler.py): the upgrade's surge nodes come up before any node is drained."""
CORDON_WAIT_SECONDS = 60
"""EKS waits 60 s after the last eviction before it terminates the node (upgrade phase, source above)."""
PRESTOP_SECONDS = 15
"""The model servers' preStop sleep (components/serving/pods.py: terminationGracePeriodSeconds = 15 + drain)."""


def startup_seconds(model: ServedModel, weights_gib: float) -> int:
    """A model server's load budget (its startupProbe window): `startupSeconds`, or 300 s (CUDA init, graph capture,
    compile) + 20 s per GiB of weights read from the cache volume, at most 7200 s."""
    if model.startup_seconds is not None:
        return model.startup_seconds
    return min(7200, int(300 + 20 * weights_gib))


@dataclass(frozen=True)
class Rehome:
    """One model's replicas on one node of a pool, and the time to move them all during an upgrade."""

    model: str
    """The server's name."""
    key: str
    """Its config key path (for messages)."""
    per_node: int
    """Replicas of it one node of the pool may hold."""
    startup: int
    """Its start-up budget in seconds."""
    grace: int
    """Its pods' terminationGracePeriodSeconds."""

    @property
    def seconds(self) -> int:
        """Evicted one at a time, each after the previous one's replacement is Ready."""
        return self.per_node * (POD_START_SECONDS + self.startup)


def drain_seconds(rehomes: Iterable[Rehome], window: int, force: bool) -> int:
    """What one node's drain may take: the slowest model's re-homing, capped by the cloud's window (a longer one
    fails the update, or is cut short by force), plus the last pod's termination grace."""
    found = list(rehomes)
    slowest = max((r.seconds for r in found), default=0)
    grace = max((r.grace for r in found), default=0)
    return (window if force else min(window, slowest)) + grace


def eks_update_minutes(pool: GpuPool, rehomes: Iterable[Rehome]) -> int:
    """Pulumi's update timeout of an EKS node group: the surge nodes' boot, then every node (at most `max`)
    drained, waited on and terminated one at a time, plus 10 minutes."""
    per_node = drain_seconds(rehomes, DRAIN_WINDOW_SECONDS["eks"], pool.force_upgrade) + CORDON_WAIT_SECONDS
    # Never below the provider's default update timeout (60 minutes).
    return max(60, math.ceil((NODE_BOOT_SECONDS + pool.max * per_node) / 60) + 10)


def pool_rehomes(cfg: StackConfig, capacity: CapacityPlan) -> dict[str, list[Rehome]]:
    """Per GPU pool, the model servers whose replicas run there (primary Deployment, or the on-demand fallback).

    A node holds at most `replicasPerNode` of a model's replicas (the capacity plan), and never more than it
    has: `replicas.max` on its pool, the fallback's max (`fallbackMaxReplicas`) on its fallback pool.
    """
    found: dict[str, list[Rehome]] = {}
    for served in served_models(cfg):
        plan = capacity.model(served.model.name)
        if plan.resource is None:
            continue  # a CPU server: it runs on the system pool
        budget = startup_seconds(served.model, plan.weights_gib)
        grace = PRESTOP_SECONDS + served.model.drain_seconds
        found.setdefault(plan.pool or "", []).append(Rehome(
            served.model.name, served.path, min(plan.replicas_per_node, plan.max_replicas), budget, grace))
        if plan.fallback is not None:
            found.setdefault(plan.fallback.pool, []).append(Rehome(
                f"{served.model.name}-fallback", served.path, plan.fallback.max_replicas, budget, grace))
    return found
