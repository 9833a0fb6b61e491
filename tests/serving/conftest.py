"""Helpers for serving tests: stack variants, the Serving component under mocks, typed lookups."""

from __future__ import annotations

import copy

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from components.serving import Serving, ServingArgs
from config import validate
from config.namespaces import namespaces
from tests.conftest import stack_values
from tools import mockrun

HF_TOKEN = "hf_" + "Qm7Ry2Tz9Vw4Xa6Cd1Ef8Gh3Jk5Lm0NpPqRs"
MONITORING_CRDS = "monitoring-crds"
GPU_OPERATOR = "gpu-operator-release"


def with_serving(stack: str, models: list | None = None, **serving) -> dict:
    """A shipped stack's values with `serving.models` (and other serving keys) replaced."""
    values = copy.deepcopy(stack_values(stack))
    group = values.setdefault("serving", {})
    if models is not None:
        group["models"] = models
    for key, value in serving.items():
        if value is None:
            group.pop(key, None)
        else:
            group[key] = value
    return values


# Every engine on prod's pools: vLLM tensor-parallel 2, TGI, Triton (fp8), Ollama on CPU; plus prod's embeddings.
MATRIX_MODELS = [
    {"name": "chat70", "engine": "vllm", "model": "Qwen/Qwen2.5-72B-Instruct-AWQ", "quantization": "awq",
     "maxModelLen": 32768, "pool": "h100-od", "tensorParallel": 2, "replicas": {"min": 2, "max": 6},
     "autoscaling": {"queueDepth": 8, "kvCacheUsage": 0.75}, "critical": True},
    {"name": "chat7", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct", "maxModelLen": 16384, "pool": "a100-spot",
     "migProfile": "3g.40gb", "fallbackPool": "h100-od", "fallbackMaxReplicas": 4, "replicas": {"min": 2, "max": 16},
     "critical": True},
    {"name": "tgi7", "engine": "tgi", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
     "maxModelLen": 8192, "pool": "h100-od", "replicas": {"min": 1, "max": 2}},
    {"name": "triton7", "engine": "triton", "model": "Qwen/Qwen2.5-7B-Instruct", "quantization": "fp8",
     "maxModelLen": 8192, "pool": "h100-od", "replicas": {"min": 1, "max": 2}, "autoscaling": {"engine": "hpa"}},
    {"name": "tiny", "engine": "ollama", "model": "qwen2.5:0.5b", "maxModelLen": 4096,
     "replicas": {"min": 1, "max": 3}},
]


def matrix_values() -> dict:
    values = with_serving("prod", copy.deepcopy(MATRIX_MODELS))
    # TGI's image runs only as root (config/engines.py): the serving namespace must allow it.
    values["tenancy"]["namespaces"]["ai-inference"]["podSecurity"] = "baseline"
    return values


def run_serving(values: dict, monitoring: bool = True, hf_token: str | None = HF_TOKEN):
    """Build only the Serving component (namespaces, monitoring CRDs and the GPU operator are stand-ins)."""
    cfg, plan = validate(values, "Pulumi.test.yaml")

    def factory():
        spaces = {s.name: k8s.core.v1.Namespace(f"ns-{s.name}", metadata={"name": s.name}) for s in namespaces(cfg)}
        crds = [k8s.core.v1.ConfigMap(MONITORING_CRDS, metadata={"name": "crds", "namespace": "default"})]
        gpu = [k8s.core.v1.ConfigMap(GPU_OPERATOR, metadata={"name": "gpu", "namespace": "default"})]
        ctx = PlatformContext(config=cfg, plan=plan, namespaces=spaces, monitoring_crds=crds if monitoring else (),
                              gpu_ready=gpu, hf_token=pulumi.Output.secret(hf_token) if hf_token else None)
        return Serving("ai-serving", ServingArgs(ctx))

    return mockrun.run_component(factory, ("models",))


def objects(result, kind: str) -> list:
    return [r for r in result.resources if r.custom and r.type.rsplit(":", 1)[-1] == kind]


def obj(result, kind: str, name: str):
    found = [r for r in objects(result, kind) if r.inputs.get("metadata", {}).get("name") == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod(result, kind: str, name: str) -> dict:
    r = obj(result, kind, name)
    return r.inputs["spec"]["template"]["spec"]


def container(result, name: str, kind: str = "Deployment") -> dict:
    return pod(result, kind, name)["containers"][0]


def env(c: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}
