"""tools.bench's synthetic stacks are real model servers (the 100-model timing itself is `python -m tools.bench`)."""

from __future__ import annotations

from config import validate
from tests.conftest import run_config
from tools import bench


def test_synthetic_models_are_real_autoscaled_model_servers():
    values = bench.synthetic(3)
    cfg, plan = validate(values, "Pulumi.bench.yaml")
    assert [m.name for m in cfg.serving.models] == ["m000", "m001", "m002"]
    result = run_config(values, stack="bench")
    assert result.error is None, result.error
    kinds = [r.type.rsplit(":", 1)[-1] for r in result.resources]
    assert kinds.count("ModelServer") == 3 and kinds.count("ScaledObject") == 3 and kinds.count("Job") == 3
    assert all(m["monthlyUsdMax"] > 0 for m in result.outputs["models"].values())


def test_synthetic_pool_holds_every_models_max_replicas():
    for models in (1, 10, 100):
        cfg, plan = validate(bench.synthetic(models), "Pulumi.bench.yaml")
        pool = plan.pool("h100-od")
        assert pool.nodes_needed_max <= pool.max_nodes and len(plan.models) == models
