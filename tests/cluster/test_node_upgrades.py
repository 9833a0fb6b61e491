"""GKE node pool upgrades (issue 16): surge settings, and the one-hour drain window the start-up check uses."""

from __future__ import annotations

import pytest

from config.errors import ConfigError
from config.loader import validate
from tests.conftest import run_stack, stack_values

NODE_POOL = "gcp:container/nodePool:NodePool"


def test_gke_gpu_pools_upgrade_by_surge_one_node_at_a_time():
    pools = [p for p in run_stack("dev").of_type(NODE_POOL) if p.inputs["nodeConfig"].get("guestAccelerators")]
    assert pools
    for p in pools:
        assert p.inputs["upgradeSettings"] == {"strategy": "SURGE", "maxSurge": 1, "maxUnavailable": 0}, p.name


def test_gke_window_is_an_hour():
    values = stack_values("dev")
    model = values["serving"]["models"][0]
    # Up to 4 replicas of a 7B AWQ on one A100 node: 4 x (180 s + 3000 s) exceeds GKE's hour.
    model["startupSeconds"] = 3000
    with pytest.raises(ConfigError, match=r"gke waits 60 min per node \(then evicts anyway\)"):
        validate(values, "Pulumi.dev.yaml")
    pool = next(p for p in values["nodePools"]["gpu"] if p["name"] == model["pool"])
    pool["forceUpgrade"] = True
    validate(values, "Pulumi.dev.yaml")
