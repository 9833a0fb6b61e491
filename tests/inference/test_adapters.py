"""LoRA adapters: the vLLM flags (config/engines.py lora_args), which servers load which adapters (the routing
table: the stable server, and a canary only when it serves the same weights), and their download into the model
cache by the download Job (config/engine_profiles.py HF_DOWNLOAD_SCRIPT)."""

from __future__ import annotations

import json
import sys
import types

import pytest

from components.serving.containers import container_args
from components.serving.download import download_container
from components.serving.server import servers
from config import router
from config.engine_profiles import ADAPTERS_ENV, HF_DOWNLOAD_SCRIPT
from config.engines import lora_args
from config.loader import validate
from tests.conftest import run_stack, stack_values

ADAPTER_DIR = "/cache/models/acme-ai/qwen2.5-7b-instruct-sql-lora"


def resolved(values: dict, stack: str = "dev") -> dict:
    cfg, plan = validate(values, f"Pulumi.{stack}.yaml")
    return {s.name: s for s in servers(cfg, plan)}


def job_env(result, name: str) -> dict[str, str]:
    job = next(r for r in result.resources if r.type == "kubernetes:batch/v1:Job"
               and r.inputs["metadata"]["name"] == name)
    return {e["name"]: e.get("value") for e in job.inputs["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_lora_flags_at_vllm_0_33_0():
    assert lora_args([], max_loras=4, max_rank=16) == []
    assert lora_args([("a", "/m/a"), ("b", "/m/b")], max_loras=2, max_rank=64, max_cpu_loras=8) == [
        "--enable-lora", "--max-loras", "2", "--max-lora-rank", "64", "--max-cpu-loras", "8",
        # one --lora-modules with every adapter: the flag is nargs="+" and a second one would replace the list
        "--lora-modules", "a=/m/a", "b=/m/b"]


def test_the_stable_server_loads_its_adapter_from_the_cache_volume():
    result = run_stack("dev")
    deployment = next(r for r in result.resources if r.type == "kubernetes:apps/v1:Deployment"
                      and r.inputs["metadata"]["name"] == "qwen7b")
    args = deployment.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    i = args.index("--enable-lora")
    assert args[i:] == ["--enable-lora", "--max-loras", "4", "--max-lora-rank", "16",
                        "--lora-modules", f"qwen7b-sql={ADAPTER_DIR}"]
    canary = next(r for r in result.resources if r.type == "kubernetes:apps/v1:Deployment"
                  and r.inputs["metadata"]["name"] == "qwen7b-canary")
    assert "--enable-lora" not in canary.inputs["spec"]["template"]["spec"]["containers"][0]["args"], \
        "the canary serves other weights: the adapter is not routed there"


def test_the_download_job_fetches_the_adapter_next_to_the_weights():
    result = run_stack("dev")
    env = job_env(result, "qwen7b-download")
    assert json.loads(env[ADAPTERS_ENV]) == {"acme-ai/qwen2.5-7b-instruct-sql-lora": ADAPTER_DIR}
    assert ADAPTERS_ENV not in job_env(result, "qwen7b-canary-download")
    assert ADAPTERS_ENV not in job_env(result, "embedding-download")


def test_a_canary_of_the_same_weights_loads_the_adapters_too():
    values = stack_values("dev")
    values["serving"]["models"][0]["canary"] = {"weight": 20, "pool": "l4-spot", "replicas": {"min": 1, "max": 1}}
    values["serving"]["models"][0]["lora"] = {"maxLoras": 2, "maxRank": 32, "maxCpuLoras": 6}
    found = resolved(values)
    canary = found["qwen7b-canary"]
    assert [a.name for a in canary.adapters] == ["qwen7b-sql"]
    args = container_args(canary)
    assert args[args.index("--enable-lora"):] == [
        "--enable-lora", "--max-loras", "2", "--max-lora-rank", "32", "--max-cpu-loras", "6",
        "--lora-modules", f"qwen7b-sql={ADAPTER_DIR}"]
    env = {e["name"]: e.get("value") for e in download_container(canary, token=False)["env"]}
    assert json.loads(env[ADAPTERS_ENV]) == {"acme-ai/qwen2.5-7b-instruct-sql-lora": ADAPTER_DIR}


def test_a_model_without_adapters_gets_no_lora_flags():
    values = stack_values("dev")
    values["serving"]["models"][0].pop("adapters")
    found = resolved(values)
    assert "--enable-lora" not in container_args(found["qwen7b"])
    cfg, _ = validate(values, "Pulumi.dev.yaml")
    assert all(p["type"] != "lora-affinity-scorer" for s in router.pools(cfg)
               for p in router.plugins_config(cfg, s)["plugins"])


def test_the_download_script_downloads_each_adapter_into_its_directory(monkeypatch):
    calls = []
    hub = types.ModuleType("huggingface_hub")

    class Api:
        def list_repo_files(self, repo):
            return ["model.safetensors", "config.json"]

    hub.HfApi = Api  # type: ignore[attr-defined]
    hub.snapshot_download = lambda **kw: calls.append(kw)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "huggingface_hub", hub)
    monkeypatch.setenv("MODEL_ID", "Qwen/Qwen2.5-7B-Instruct-AWQ")
    monkeypatch.setenv("MODEL_DIR", "/models/models/Qwen/Qwen2.5-7B-Instruct-AWQ")
    monkeypatch.setenv(ADAPTERS_ENV, json.dumps({"acme-ai/sql-lora": "/models/models/acme-ai/sql-lora"}))
    exec(compile(HF_DOWNLOAD_SCRIPT, "download", "exec"), {})
    assert [(c["repo_id"], c["local_dir"]) for c in calls] == [
        ("Qwen/Qwen2.5-7B-Instruct-AWQ", "/models/models/Qwen/Qwen2.5-7B-Instruct-AWQ"),
        ("acme-ai/sql-lora", "/models/models/acme-ai/sql-lora")]
    monkeypatch.delenv(ADAPTERS_ENV)
    calls.clear()
    exec(compile(HF_DOWNLOAD_SCRIPT, "download", "exec"), {})
    assert len(calls) == 1


@pytest.mark.parametrize("engine", ["tgi"])
def test_adapters_need_vllm(engine):
    values = stack_values("dev")
    values["serving"]["models"][0]["engine"] = engine
    from config.errors import ConfigError
    with pytest.raises(ConfigError, match="LoRA adapters are served by vllm only"):
        validate(values, "Pulumi.dev.yaml")
