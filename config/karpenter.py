"""Config checks of `nodePools.provisioner: karpenter` (components/cluster/eks/karpenter.py).

Karpenter runs on EKS only, as a controller on the managed system pool; it creates a GPU pool's nodes for pending
pods (no minimum: the models' `replicas.min` keep their nodes), buys on-demand, spot or reserved capacity (On-Demand
Capacity Reservations and Capacity Blocks for ML, selected by id or tags), and has no flex-start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial

from .errors import Issue, key_path
from .models import StackConfig

# EC2NodeClass capacityReservationSelectorTerms[].id (karpenter-crd 1.14.1 karpenter.k8s.aws_ec2nodeclasses.yaml).
RESERVATION_ID = re.compile(r"^cr-[0-9a-z]+$")
CAPACITIES = ("on-demand", "spot", "reservation")


def check(cfg: StackConfig) -> Iterator[Issue]:
    """Issues of a stack whose provisioner is karpenter (none for managed)."""
    pools = cfg.node_pools
    if pools.provisioner != "karpenter":
        return
    provider = cfg.cluster.provider
    if provider != "eks":
        instead = ("GKE node pools with their autoscaler; computeClasses give workloads a fallback order"
                   if provider == "gke" else "an existing cluster brings its own nodes")
        yield Issue(key_path("nodePools", "provisioner"), (
            f"karpenter provisions EC2 instances and runs on EKS only, not on {provider}; use provisioner: managed "
            f"({instead})"))
        return
    for i, pool in enumerate(pools.gpu):
        path = partial(key_path, "nodePools", "gpu", i)
        if pool.min > 0:
            yield Issue(path("min"), (
                f"{pool.min}: Karpenter creates a pool's nodes for pending pods and keeps none without them, so a "
                "minimum would be ignored; set min: 0 (the models' replicas.min keep their nodes) or use "
                "provisioner: managed"))
        if pool.capacity not in CAPACITIES:
            yield Issue(path("capacity"), (
                f"{pool.capacity} is not a Karpenter capacity type; allowed with provisioner karpenter: "
                f"{', '.join(CAPACITIES)} (reservation: On-Demand Capacity Reservations and Capacity Blocks for ML)"))
        if pool.capacity != "reservation":
            continue
        r = pool.reservation
        if r is None or (not r.names and not r.tags):
            yield Issue(path("reservation"), (
                "a Karpenter reservation pool selects its capacity reservations by id or tags; set reservation.names "
                "(ids cr-...) or reservation.tags"))
            continue
        if r.names and r.tags:
            yield Issue(path("reservation", "tags"), (
                "select reservations by names (ids) or by tags, not both (Karpenter would launch into either set)"))
        for j, name in enumerate(r.names):
            if not RESERVATION_ID.match(name):
                yield Issue(path("reservation", "names", j), (
                    f"{name!r} is not an EC2 capacity reservation id; allowed: cr- followed by lowercase letters and "
                    "digits (On-Demand Capacity Reservations and Capacity Blocks for ML both have one)"))
        if r.project is not None:
            yield Issue(path("reservation", "project"), "a GKE setting; EC2 reservations are selected by id or tags")
