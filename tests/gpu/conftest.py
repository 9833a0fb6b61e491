"""Stack configs for GPU-stack tests: the prod (EKS) or dev (GKE) stack with chosen GPU pools."""

from __future__ import annotations

import copy

from tests.conftest import stack_values


def stack_with_pools(base: str, pools: list[dict], mig_strategy: str = "single", **cluster_changes) -> dict:
    """`base` stack values with only these GPU pools, no models, no budget limit."""
    values = copy.deepcopy(stack_values(base))
    values.setdefault("nodePools", {})["gpu"] = pools
    values["serving"] = {"models": []}
    values["rag"] = {}
    values["budget"] = {}
    values["gpuStack"] = {"operator": True, "migStrategy": mig_strategy}
    for key, value in cluster_changes.items():
        values["cluster"][key] = value
    return values


def pool(name: str, gpu: str, sharing: dict, gpus: int = 8, capacity: str = "on-demand", **extra) -> dict:
    return {"name": name, "gpu": gpu, "gpusPerNode": gpus, "capacity": capacity, "min": 0, "max": 2,
            "sharing": sharing, **extra}
