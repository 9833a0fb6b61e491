"""Serving in the shipped stacks: component tree, GPU-stack ordering, outputs, Services, flows, policies."""

from __future__ import annotations

import json

import pytest

from config import validate
from config.endpoints import endpoints
from tests.conftest import run_config, run_stack
from tests.netpol import Ip, Network, Pod
from tools import mockrun
from tools.policy_eval import evaluate

from .conftest import matrix_values, with_serving

PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
KEDA_OPERATOR = {"app.kubernetes.io/name": "keda-operator", "app": "keda-operator"}
HF_HUB = Ip("18.244.0.1")


def k8s(result, kind: str, name: str, namespace: str = "ai-inference"):
    found = [r for r in result.resources if r.custom and r.type.endswith(f":{kind}")
             and r.inputs.get("metadata", {}).get("name") == name
             and r.inputs["metadata"].get("namespace") == namespace]
    assert len(found) == 1, f"expected one {kind} {name}"
    return found[0]


def gpu_workloads(result):
    for r in result.resources:
        spec = (r.inputs.get("spec") or {}).get("template", {}).get("spec") if r.custom else None
        if spec and any(k.startswith("nvidia.com/") for c in spec.get("containers", [])
                        for k in (c.get("resources", {}).get("limits") or {})):
            yield r


def test_serving_sits_under_the_platform_with_one_model_server_per_model_and_canary(stack_name):
    result = run_stack(stack_name)
    serving = [r for r in result.resources if r.type == "ai-platform:serving:Serving"]
    servers = [r for r in result.resources if r.type == "ai-platform:serving:ModelServer"]
    values, _ = mockrun.stack_config(stack_name)
    models = values["serving"]["models"]
    expected = len(models) + sum(1 for m in models if m.get("canary")) + (1 if values.get("rag", {}).get("embedding")
                                                                          else 0)
    assert len(serving) == 1 and serving[0].parent_type == "ai-platform:platform:Platform"
    assert len(servers) == expected and all(s.parent == serving[0].urn for s in servers)
    canaries = {m["name"] + "-canary" for m in models if m.get("canary")}
    assert canaries <= {s.name.removeprefix(f"{serving[0].name}-") for s in servers}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_gpu_workload_depends_on_the_gpu_operator_release(stack):
    result = run_stack(stack)
    [operator] = [r for r in result.resources if r.type == "kubernetes:helm.sh/v3:Release"
                  and r.inputs["chart"] == "gpu-operator"]
    found = list(gpu_workloads(result))
    assert found
    for r in found:
        assert operator.urn in r.dependencies, f"{r.name} does not wait for the GPU Operator"


def test_cpu_servers_wait_for_their_priority_class():
    result = run_stack("local")
    priority = next(r for r in result.resources if r.type.endswith(":PriorityClass")
                    and r.inputs["metadata"]["name"] == "ai-platform-serving")
    assert priority.urn in k8s(result, "Deployment", "qwen-small").dependencies


def test_models_output(stack_name):
    result = run_stack(stack_name)
    values, _ = mockrun.stack_config(stack_name)
    cfg, plan = validate(values, "x")
    eps = endpoints(cfg)
    models = result.outputs["models"]
    for m in cfg.serving.models:
        entry, p = models[m.name], plan.model(m.name)
        assert entry["url"] == eps[f"model/{m.name}"].url == f"http://{m.name}.ai-inference.svc.cluster.local:80/v1"
        assert entry["gpusPerReplica"] == p.units_per_replica and entry["gpuResource"] == p.resource
        worst = p.monthly_usd_max + p.fallback_monthly_usd
        if p.fallback is not None:  # or the fallback at its max standing in for spot replicas
            per_replica = p.monthly_usd_max / p.max_replicas
            worst = max(worst, per_replica * (p.max_replicas - p.fallback.max_replicas) + p.fallback.monthly_usd_max)
        assert entry["monthlyUsdMax"] == pytest.approx(worst, abs=0.01)
        assert entry["replicas"] == {"min": m.replicas.min, "max": m.replicas.max}
    if cfg.rag.embedding is not None:
        assert models["embedding"]["url"] == "http://embedding.ai-inference.svc.cluster.local:80/v1"


def test_prod_outputs_show_the_on_demand_fallback_and_its_cost():
    qwen7b = run_stack("prod").outputs["models"]["qwen7b"]
    assert qwen7b["capacity"] == "spot" and qwen7b["gpuResource"] == "nvidia.com/mig-3g.40gb"
    assert qwen7b["fallback"]["pool"] == "h100-od" and qwen7b["fallback"]["gpuResource"] == "nvidia.com/gpu"
    assert qwen7b["fallback"]["replicas"] == 2 and qwen7b["fallback"]["monthlyUsd"] > 0
    # The fallback stands in for up to fallbackMaxReplicas (5) primary replicas spot cannot place.
    assert qwen7b["fallback"]["maxReplicas"] == 5
    assert qwen7b["fallback"]["monthlyUsdMax"] == pytest.approx(qwen7b["fallback"]["monthlyUsd"] * 5 / 2, abs=0.02)
    assert qwen7b["gpusMax"] == 16 + 5
    plan = json.loads(next(r for r in run_stack("prod").resources if r.type == "kubernetes:core/v1:ConfigMap"
                           and r.inputs["metadata"]["name"] == "ai-platform-capacity").inputs["data"]["plan.json"])
    assert plan["models"]["qwen7b"]["fallbackMonthlyUsd"] == qwen7b["fallback"]["monthlyUsd"]
    assert plan["models"]["qwen7b"]["fallbackMaxReplicas"] == 5
    assert plan["models"]["qwen7b"]["fallbackMonthlyUsdMax"] == qwen7b["fallback"]["monthlyUsdMax"]


def test_service_selects_primary_and_fallback_pods_and_pdb_guards_both():
    result = run_stack("prod")
    service = k8s(result, "Service", "qwen7b").inputs["spec"]
    assert service["type"] == "ClusterIP"
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    pdb = k8s(result, "PodDisruptionBudget", "qwen7b").inputs["spec"]
    assert pdb["maxUnavailable"] == 1 and pdb["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    for name in ("qwen7b", "qwen7b-fallback"):
        deployment = k8s(result, "Deployment", name).inputs["spec"]
        labels = deployment["template"]["metadata"]["labels"]
        assert all(labels[k] == v for k, v in service["selector"].items())
        assert all(labels[k] == v for k, v in pdb["selector"]["matchLabels"].items())
    primary = k8s(result, "Deployment", "qwen7b").inputs["spec"]["selector"]["matchLabels"]
    fallback = k8s(result, "Deployment", "qwen7b-fallback").inputs["spec"]["selector"]["matchLabels"]
    assert primary["ai-platform/placement"] == "primary" and fallback["ai-platform/placement"] == "fallback"
    assert k8s(result, "Deployment", "qwen7b-fallback").inputs["spec"]["replicas"] == 2


def test_keda_is_installed_only_where_a_model_scales_on_metrics():
    for stack, expected in (("dev", True), ("prod", True), ("local", False)):
        charts = {r.inputs["chart"] for r in run_stack(stack).resources if r.type == "kubernetes:helm.sh/v3:Release"}
        assert ("keda" in charts) is expected, stack
        assert "prometheus-adapter" not in charts


def test_flows_model_servers_need():
    result = run_stack("prod")
    net = Network(result.resources)
    gateway_deployment = k8s(result, "Deployment", "ai-gateway", "ai-app")
    gateway = Pod("ai-app", gateway_deployment.inputs["spec"]["template"]["metadata"]["labels"])
    labels = lambda name: k8s(result, "Deployment", name).inputs["spec"]["template"]["metadata"]["labels"]  # noqa: E731
    server, fallback = Pod("ai-inference", labels("qwen7b")), Pod("ai-inference", labels("qwen7b-fallback"))
    embedding = Pod("ai-inference", labels("embedding"))
    job = k8s(result, "Job", "qwen7b-download")
    download = Pod("ai-inference", job.inputs["spec"]["template"]["metadata"]["labels"])
    # prod routes models through the inference gateway: its Envoy pods reach the servers, the AI gateway does not.
    envoy = Pod("ai-gateway", {"app.kubernetes.io/name": "internal-gateway"})
    assert net.can_reach(envoy, server, 8000) and net.can_reach(envoy, fallback, 8000)
    assert net.can_reach(envoy, embedding, 8080)
    assert not net.can_reach(gateway, server, 8000) and not net.can_reach(gateway, embedding, 8080)
    assert net.can_reach(download, HF_HUB, 443), "the download Job fetches the weights"
    assert not net.can_reach(server, HF_HUB, 443), "model servers never reach the internet"
    assert not net.can_reach(gateway, download, 8000)
    assert net.can_reach(Pod("observability", PROMETHEUS), server, 8000), "Prometheus scrapes the engine"
    assert net.can_reach(Pod("keda", KEDA_OPERATOR), Pod("observability", PROMETHEUS), 9090), "KEDA's queries"
    assert not net.can_reach(Pod("keda", {"app.kubernetes.io/name": "keda-admission-webhooks"}),
                             Pod("observability", PROMETHEUS), 9090)


def test_prometheus_adapter_flow_and_namespace():
    values = with_serving("prod")
    values["serving"]["models"][0]["autoscaling"]["engine"] = "hpa"
    result = run_config(values)
    assert result.error is None, result.error
    net = Network(result.resources)
    adapter = Pod("prometheus-adapter", {"app.kubernetes.io/name": "prometheus-adapter"})
    assert net.can_reach(adapter, Pod("observability", PROMETHEUS), 9090)
    namespace = next(r for r in result.resources if r.type == "kubernetes:core/v1:Namespace"
                     and r.inputs["metadata"]["name"] == "prometheus-adapter")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_tgi_stack_passes_the_pack_once_its_image_is_an_allowed_root_image():
    values = matrix_values()
    # A prod stack keeps every model server at 2+ replicas (serving-replicas-ha is mandatory).
    for model in values["serving"]["models"]:
        model["replicas"]["min"] = max(2, model["replicas"]["min"])
    result = run_config(values)
    assert result.error is None, result.error
    config = json.loads((mockrun.ROOT / "policy" / "config" / "prod.json").read_text())
    blocking = {v.name: [x.message for x in v.violations] for v in evaluate(result.resources, config) if v.blocking}
    assert set(blocking) == {"run-as-non-root"} and "tgi" in blocking["run-as-non-root"][0]
    config["run-as-non-root"]["rootImages"] = ["ghcr.io/huggingface/text-generation-inference:*"]
    blocking = {v.name: [x.message for x in v.violations] for v in evaluate(result.resources, config) if v.blocking}
    assert not blocking, blocking
