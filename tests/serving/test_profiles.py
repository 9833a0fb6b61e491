"""Engine profiles (config/engine_profiles.py) decide every per-engine difference of the rendered pods."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.serving import autoscaling
from components.serving.server import servers
from config import validate
from config.engine_profiles import HUB_OFFLINE_ENV, PROFILES, SERVER_UID, profile
from config.engines import ENGINES
from config.errors import Unvalidated

from .conftest import container, env, matrix_values, pod, run_serving

SERVING = Path(__file__).resolve().parents[2] / "components" / "serving"
# Every engine: the matrix (vllm, tgi, triton, ollama, tei embeddings) plus vLLM as the embedding server.
SERVERS = {"chat70": "vllm", "tgi7": "tgi", "triton7": "triton", "tiny": "ollama", "embedding": "tei"}


@pytest.fixture(scope="module")
def rendered():
    matrix = run_serving(matrix_values())
    values = matrix_values()
    values["rag"]["embedding"]["engine"] = "vllm"
    embed = run_serving(values)
    return {**dict.fromkeys(SERVERS.items(), matrix), ("embedding", "vllm-embed"): embed}


def test_every_engine_has_a_profile_and_every_profile_an_engine():
    assert set(PROFILES) == set(ENGINES)
    assert all(p.key == key for key, p in PROFILES.items())
    with pytest.raises(ValueError, match="no serving profile for engine 'sglang'"):
        profile("sglang")


def test_components_serving_never_branch_on_an_engine_name():
    names = "|".join(re.escape(f'"{key}"') for key in ENGINES)
    found = [f"{path.name}:{n}: {line.strip()}" for path in sorted(SERVING.glob("*.py"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(names, line)]
    assert found == [], "engine differences belong on config/engine_profiles.py"


def test_run_as_user_and_cache_mount_are_the_engine_facts():
    for key, p in PROFILES.items():
        assert p.cache_mount == ENGINES[key].cache_mount
        assert p.run_as_user == (SERVER_UID if ENGINES[key].non_root else None)


@pytest.mark.parametrize("name,engine", [*SERVERS.items(), ("embedding", "vllm-embed")])
def test_rendered_server_follows_its_profile(rendered, name, engine):
    p, result = PROFILES[engine], rendered[(name, engine)]
    spec, c = pod(result, "Deployment", name), container(result, name)
    download = env(pod(result, "Job", f"{name}-download")["containers"][0])
    assert c["name"] == p.container
    assert {"name": "model-cache", "mountPath": p.cache_mount, "readOnly": not p.own_store} in c["volumeMounts"]
    assert c["securityContext"]["readOnlyRootFilesystem"] is p.read_only_root
    assert c["securityContext"]["runAsNonRoot"] is (p.run_as_user is not None)
    assert spec["securityContext"].get("runAsUser") == p.run_as_user
    e = env(c)
    assert {k: e[k] for k in p.env} == dict(p.env)
    assert all(e.get(k) == v for k, v in HUB_OFFLINE_ENV.items()) is p.hub
    if p.hub:  # the server loads the directory the Job filled
        assert download["MODEL_DIR"] == p.model_dir(download["MODEL_ID"])
        assert download["MODEL_DIR"] in c["args"]
    if p.store_env is not None:
        assert e[p.store_env] == download[p.store_env]
    has_repository = any(v["name"] == getattr(p.repository, "name", None) for v in spec["volumes"])
    assert has_repository is (p.repository is not None)


@pytest.mark.parametrize("name,engine", [*SERVERS.items(), ("embedding", "vllm-embed")])
def test_rendered_download_job_follows_its_profile(rendered, name, engine):
    p, result = PROFILES[engine], rendered[(name, engine)]
    job = pod(result, "Job", f"{name}-download")
    c = job["containers"][0]
    e = env(c)
    step = p.download.step(model=e.get("MODEL_ID", "x"), served_name=name, model_dir=e.get("MODEL_DIR", "x"),
                           cache_mount=p.cache_mount)
    assert c["image"] == step.image
    if p.hub:
        assert c["command"] == step.command and e["HF_HOME"] == f"{p.cache_mount}/huggingface"
    assert ("HF_TOKEN" in e) is p.hub, "the token goes only to Jobs that download from the Hub"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert job["securityContext"].get("runAsUser") == p.run_as_user
    assert c["volumeMounts"][0] == {"name": "model-cache", "mountPath": p.cache_mount}


def test_metric_triggers_for_an_engine_without_metrics_are_a_bug_named_by_key_path():
    cfg, plan = validate(matrix_values(), "Pulumi.test.yaml")
    tiny = next(s for s in servers(cfg, plan) if s.name == "tiny")
    assert autoscaling.kind(tiny) == "cpu-hpa"
    with pytest.raises(Unvalidated, match=r"serving\.models\[4\]\.engine: the engine.s autoscaling metrics"):
        autoscaling.triggers(tiny, "http://prometheus:9090")
