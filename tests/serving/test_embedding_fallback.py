"""The RAG embedding server gets an on-demand fallback like any critical model (issue 16).

`rag.embedding.fallbackPool` and `critical` mean what they mean on serving.models[]: the same config checks
(config.semantics._fallback), the same capacity-plan fallback (config.capacity.plan_fallback), the same
`<name>-fallback` Deployment, and critical-models-on-demand judges it like a model.
"""

from __future__ import annotations

import copy
import json

import pytest

from config import ConfigError, validate
from tests.conftest import run_stack, stack_values
from tools.policy_eval import evaluate

from .conftest import obj, pod, run_serving, with_serving


def problems(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.test.yaml")
    return str(err.value)


def embedding(values: dict, **changes) -> dict:
    values = copy.deepcopy(values)
    values["rag"]["embedding"].update(changes)
    for key, value in changes.items():
        if value is None:
            values["rag"]["embedding"].pop(key)
    return values


@pytest.fixture(scope="module")
def prod():
    return run_serving(with_serving("prod"))


def test_prods_embeddings_keep_their_replicas_on_demand(prod):
    emb = stack_values("prod")["rag"]["embedding"]
    assert emb["pool"] == "a100-spot" and emb["fallbackPool"] == "h100-od" and emb["critical"] is True
    spec = obj(prod, "Deployment", "embedding-fallback").inputs["spec"]
    assert spec["replicas"] == emb["replicas"]
    fallback = pod(prod, "Deployment", "embedding-fallback")
    assert fallback["nodeSelector"] == {"ai-platform/pool": "h100-od"}
    # A whole H100 there (h100-od is not partitioned), the MIG slice on the spot pool.
    assert fallback["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod(prod, "Deployment", "embedding")["containers"][0]["resources"]["limits"]["nvidia.com/mig-2g.20gb"] == "1"
    labels = obj(prod, "Deployment", "embedding-fallback").inputs["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "embedding"
    _, plan = validate(stack_values("prod"), "Pulumi.prod.yaml")
    model = plan.model("embedding")
    assert model.critical and model.fallback is not None and model.fallback.pool == "h100-od"
    assert model.fallback.resource == "nvidia.com/gpu" and model.fallback.monthly_usd > 0
    # The fallback floor counts on h100-od at every scale (capacity, quotas).
    assert "embedding (fallback)" in plan.pool("h100-od").models


def test_critical_models_on_demand_judges_the_embedding_server_like_a_model():
    result = run_stack("prod")
    config = json.loads(open("policy/config/prod.json").read())
    [verdict] = [v for v in evaluate(result.resources, config) if v.name == "critical-models-on-demand"]
    assert verdict.violations == []
    # Without its fallback Deployment the plan's promise is not kept: the policy says so.
    kept = [r for r in result.resources
            if not (r.type == "kubernetes:apps/v1:Deployment" and r.inputs["metadata"]["name"] == "embedding-fallback")]
    [verdict] = [v for v in evaluate(kept, config) if v.name == "critical-models-on-demand"]
    [violation] = verdict.violations
    assert "'embedding'" in violation.message and "embedding-fallback" in violation.message


def test_embedding_fallback_config_errors_name_the_key():
    prod = stack_values("prod")
    assert "rag.embedding.critical: critical model on spot-only pool 'a100-spot'" in problems(
        embedding(prod, fallbackPool=None))
    assert "rag.embedding.fallbackPool: no GPU pool named 'nope'" in problems(embedding(prod, fallbackPool="nope"))
    assert "rag.embedding.fallbackPool: fallbackPool must differ from pool" in problems(
        embedding(prod, fallbackPool="a100-spot"))
    assert "fallback pool 'a100-spot' must be on-demand" in problems(
        embedding(prod, pool="h100-od", migProfile=None, fallbackPool="a100-spot"))
    assert "rag.embedding.fallbackPool: the embedding server runs on CPU" in problems(
        embedding(prod, pool=None, migProfile=None, engine="tei"))
    rwo = embedding(prod)
    rwo["serving"]["cacheAccessMode"] = "ReadWriteOnce"
    rwo["serving"]["models"] = []
    assert "rag.embedding.fallbackPool: the fallback replicas run on another node pool" in problems(rwo)
    # Not critical and no fallback: spot only is allowed (dev's embeddings).
    validate(embedding(prod, fallbackPool=None, critical=False), "x")
