"""CPU and memory quotas against what the program's pods ask for at max scale (issue 13)."""

from __future__ import annotations

import pytest

from config import ConfigError, quotas, sizing, validate
from tests.conftest import run_stack, stack_values

NS = "ai-platform:tenancy.namespaces"


def problems(values) -> list:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.t.yaml")
    return list(info.value.issues)


def test_memory_quota_below_what_the_model_servers_request_is_refused_with_the_breakdown():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["ai-inference"]["memoryQuota"] = "512Gi"
    [issue] = problems(values)
    assert issue.path == f"{NS}.ai-inference.memoryQuota"
    # qwen72b 8 x 56Gi + qwen7b 16 x 25Gi + its fallback at its max 5 x 25Gi + embedding 3 x 10Gi + its fallback
    # 3 x 10Gi + 3 download Jobs x 2Gi + the endpoint pickers of qwen72b and qwen7b 2 x 1Gi each
    assert issue.message.startswith("512Gi is below the 1043Gi of memory requests")
    for part in ("Deployment qwen72b 8 x 56Gi", "Deployment qwen7b 16 x 25Gi", "Deployment qwen7b-fallback 5 x 25Gi",
                 "Deployment embedding 3 x 10Gi", "Deployment embedding-fallback 3 x 10Gi",
                 "Job qwen7b-download 1 x 2Gi", "Deployment qwen72b-epp 2 x 1Gi"):
        assert part in issue.message


def test_cpu_quota_below_what_the_data_layer_requests_is_refused():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["ai-rag"]["cpuQuota"] = "8"
    [issue] = problems(values)
    assert issue.path == f"{NS}.ai-rag.cpuQuota"
    # with Job milvus-users 1 x 50m and redis-ha's split-brain-fix sidecars 3 x 10m (sizing.SMALL_HELPER)
    assert "8 is below the 22830m of cpu requests" in issue.message
    assert "StatefulSet search-es-default 3 x 2" in issue.message
    assert "StatefulSet milvus-etcd 3 x 250m" in issue.message


def test_observability_memory_quota_counts_its_charts_pods():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["observability"]["memoryQuota"] = "16Gi"
    [issue] = problems(values)
    assert issue.path == f"{NS}.observability.memoryQuota"
    # Prometheus 8Gi + its config-reloader 32Mi, x 2 replicas; Grafana and its two sidecars; Loki, Tempo, ...
    assert "16Gi is below the 22400Mi of memory requests" in issue.message
    assert "StatefulSet prometheus 2 x 8224Mi" in issue.message and "Deployment grafana 2 x 320Mi" in issue.message


def test_limit_quotas_count_limits():
    values = stack_values("prod")
    values["tenancy"]["namespaces"]["ai-app"]["memoryLimitQuota"] = "20Gi"
    [issue] = problems(values)
    assert issue.path == f"{NS}.ai-app.memoryLimitQuota"
    assert "20Gi is below the 26Gi of memory limits (limits.memory)" in issue.message


def test_rolling_update_surge_is_counted():
    """The gateway rolls with maxSurge 1: at its HPA's max (3 in dev) a rollout runs a 4th pod."""
    values = stack_values("dev")
    values["tenancy"]["namespaces"]["ai-app"]["memoryQuota"] = "3Gi"
    [issue] = problems(values)
    assert "Deployment ai-gateway 4 x 1Gi (1 of them rolling-update surge)" in issue.message
    values["tenancy"]["namespaces"]["ai-app"]["memoryQuota"] = "4Gi"
    validate(values, "Pulumi.t.yaml")


def test_containers_without_resources_count_the_limitrange_defaults():
    """The Jaeger all-in-one container has no resources: admission gives it the namespace's defaults."""
    values = stack_values("dev")
    values["observability"]["tracing"] = "jaeger"
    ns = values["observability"].get("namespace", "observability")
    cfg, plan = validate(values, "Pulumi.t.yaml")
    before = quotas.compute_need(cfg, plan)[ns]["requests.memory"][0]
    values["tenancy"]["namespaces"].setdefault(ns, {})["containerDefaults"] = {"memoryRequest": "1Gi",
                                                                               "memoryLimit": "1Gi"}
    cfg, plan = validate(values, "Pulumi.t.yaml")
    after = quotas.compute_need(cfg, plan)[ns]["requests.memory"][0]
    assert after - before == sizing.quantity("1Gi") - sizing.quantity("128Mi")  # one Jaeger pod


def test_quotas_that_hold_the_need_pass_and_omitted_ones_are_not_checked():
    values = stack_values("prod")
    cfg, plan = validate(values, "Pulumi.t.yaml")
    need = quotas.compute_need(cfg, plan)["ai-inference"]["requests.memory"][0]
    values["tenancy"]["namespaces"]["ai-inference"]["memoryQuota"] = sizing.format_memory(need)
    validate(values, "Pulumi.t.yaml")
    del values["tenancy"]["namespaces"]["ai-inference"]["memoryQuota"]
    validate(values, "Pulumi.t.yaml")


def _containers(spec: dict) -> list[dict]:
    return [c.get("resources") for c in spec["template"]["spec"]["containers"]]


def _walk(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_quota_check_counts_what_the_components_deploy(stack):
    """One source: every sized container of config.sizing is what the program's objects and chart values carry."""
    result = run_stack(stack)
    cfg, plan = validate(stack_values(stack), "Pulumi.t.yaml")
    objects = {(r.type.rsplit(":", 1)[-1], r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs
               for r in result.resources if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")}
    chart_resources = [d for r in result.resources if r.type == "kubernetes:helm.sh/v3:Release"
                       for d in _walk(r.inputs.get("values", {})) if set(d) == {"requests", "limits"}]
    es = [r.inputs for r in result.resources if r.type.endswith(":Elasticsearch")]
    es_resources = [c["resources"] for e in es for n in e["spec"]["nodeSets"]
                    for c in n["podTemplate"]["spec"]["containers"]]
    owned = 0
    for namespace, groups in sizing.namespace_pods(cfg, plan).items():
        for pods in groups:
            kind, name = pods.workload.split(" ", 1)
            found = objects.get((kind, namespace, name))
            if found is not None:
                assert _containers(found["spec"]) == list(pods.containers), pods.workload
                if kind == "Deployment" and found["spec"]["strategy"]["type"] == "Recreate":
                    assert pods.surge == 0, pods.workload  # the endpoint pickers: no surge pod
                elif kind == "Deployment":
                    rolling = found["spec"]["strategy"]["rollingUpdate"]
                    assert rolling["maxSurge"] == pods.surge, pods.workload
                owned += 1
            else:
                for container in pods.containers:
                    if container is not None:
                        assert container in chart_resources + es_resources, (pods.workload, container)
    assert owned >= 2  # at least a model server and its download Job are the program's own objects
