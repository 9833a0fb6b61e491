"""KEDA ScaledObjects, HPAs and PodMonitors: queries on real engine metrics and the labels the PodMonitor sets.

The ScaledObject schema keys are the keda.sh/v1alpha1 ScaledObject CRD's at chart 2.20.2
(kedacore/charts keda/templates/crds/crd-scaledobjects.yaml @ v2.20.2); trigger metadata keys are the Prometheus
scaler's (kedacore/keda pkg/scalers/prometheus_scaler.go, `prometheusMetadata` keda tags).
"""

from __future__ import annotations

import re

import pytest

from components.serving import charts
from config.engines import METRICS, series_names

from .conftest import GPU_OPERATOR, MONITORING_CRDS, matrix_values, obj, objects, run_serving, with_serving

SCALED_OBJECT_SPEC = {"advanced", "cooldownPeriod", "fallback", "idleReplicaCount", "initialCooldownPeriod",
                      "maxReplicaCount", "minReplicaCount", "pollingInterval", "scaleTargetRef", "triggers"}
ADVANCED = {"horizontalPodAutoscalerConfig", "restoreToOriginalReplicaCount", "scalingModifiers"}
HPA_CONFIG = {"behavior", "name"}
TRIGGER = {"authenticationRef", "metadata", "metricType", "name", "type", "useCachedMetrics"}
FALLBACK = {"behavior", "failureThreshold", "replicas"}
FALLBACK_BEHAVIORS = {"static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower",
                      "scalingModifiers"}
PROMETHEUS_METADATA = {"serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace",
                       "customHeaders", "ignoreNullValues", "unsafeSsl", "awsRegion", "timeout", "identityOwner",
                       "authModes"}
QUERY = re.compile(r'^sum\((?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)'
                   r'\{namespace="(?P<ns>[^"]+)",model="(?P<model>[^"]+)"\}\)$')
PROMETHEUS = "http://monitoring-prometheus.observability.svc.cluster.local:9090"


@pytest.fixture(scope="module")
def matrix():
    # The pools' pickers without flow control: vLLM servers scale on their engine's metrics here (the picker's
    # flow-control signals are tested in test_autoscaling_epp.py).
    values = matrix_values()
    values["inferenceGateway"]["router"]["flowControl"] = False
    return run_serving(values)


def test_vllm_scaled_object_queries_real_metrics_with_the_pod_monitor_labels(matrix):
    so = obj(matrix, "ScaledObject", "chat70")
    spec = so.inputs["spec"]
    triggers = {t["name"]: t for t in spec["triggers"]}
    assert set(triggers) == {"queue-depth", "kv-cache"}
    vllm = series_names("vllm")
    deployment = obj(matrix, "Deployment", "chat70").inputs
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    monitor = obj(matrix, "PodMonitor", "chat70").inputs["spec"]
    relabel = {r["targetLabel"]: r["sourceLabels"] for r in monitor["podMetricsEndpoints"][0]["relabelings"]}
    for name, metric, threshold in (("queue-depth", "vllm:num_requests_waiting", "8"),
                                    ("kv-cache", "vllm:kv_cache_usage_perc", "0.75")):
        trigger = triggers[name]
        assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
        assert set(trigger["metadata"]) <= PROMETHEUS_METADATA
        assert trigger["metadata"]["serverAddress"] == PROMETHEUS and trigger["metadata"]["threshold"] == threshold
        match = QUERY.match(trigger["metadata"]["query"])
        assert match, trigger["metadata"]["query"]
        assert match["metric"] == metric and metric in vllm and METRICS["vllm"].metrics[metric].type == "gauge"
        # namespace: the target label Prometheus sets from the pod's namespace; model: relabelled from the pod label.
        assert match["ns"] == deployment["metadata"]["namespace"] == "ai-inference"
        assert match["model"] == pod_labels["ai-platform/model"] == "chat70"
    assert relabel["model"] == ["__meta_kubernetes_pod_label_ai_platform_model"]
    assert re.sub(r"[^a-zA-Z0-9_]", "_", "ai-platform/model") == "ai_platform_model"
    assert all(pod_labels.get(k) == v for k, v in monitor["selector"]["matchLabels"].items())


def test_scaled_object_bounds_behaviour_and_schema(matrix):
    so = obj(matrix, "ScaledObject", "chat7")
    spec = so.inputs["spec"]
    assert set(spec) <= SCALED_OBJECT_SPEC and set(spec["advanced"]) <= ADVANCED
    assert set(spec["advanced"]["horizontalPodAutoscalerConfig"]) <= HPA_CONFIG
    assert all(set(t) <= TRIGGER for t in spec["triggers"])
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "chat7"}
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 16)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    assert set(spec["fallback"]) <= FALLBACK and spec["fallback"]["behavior"] in FALLBACK_BEHAVIORS
    assert spec["fallback"]["replicas"] == 2
    assert so.inputs["apiVersion"] == "keda.sh/v1alpha1" and so.inputs["kind"] == "ScaledObject"


def test_scaled_objects_depend_on_keda_and_their_deployment(matrix):
    keda = next(r for r in objects(matrix, "Release") if r.inputs["chart"] == "keda")
    assert keda.inputs["version"] == charts.KEDA.version and keda.inputs["repositoryOpts"]["repo"] == charts.KEDA.repo
    assert keda.inputs["namespace"] == "keda"
    assert keda.inputs["values"]["watchNamespace"] == "ai-inference"
    for so in objects(matrix, "ScaledObject"):
        name = so.inputs["metadata"]["name"]
        assert keda.urn in so.dependencies and obj(matrix, "Deployment", name).urn in so.dependencies


def test_autoscaled_deployments_leave_the_replica_count_to_the_autoscaler(matrix):
    for name in ("chat70", "chat7", "tgi7", "triton7", "tiny", "chat7-fallback", "embedding", "embedding-fallback"):
        assert "spec.replicas" in obj(matrix, "Deployment", name).ignore_changes, name


def test_tgi_scales_on_its_queue_only(matrix):
    [trigger] = obj(matrix, "ScaledObject", "tgi7").inputs["spec"]["triggers"]
    match = QUERY.match(trigger["metadata"]["query"])
    assert match["metric"] == "tgi_queue_size" and match["metric"] in series_names("tgi")
    assert (match["ns"], match["model"]) == ("ai-inference", "tgi7")


def test_hpa_engine_uses_prometheus_adapter_pod_metrics(matrix):
    hpa = obj(matrix, "HorizontalPodAutoscaler", "triton7")
    spec = hpa.inputs["spec"]
    adapter = next(r for r in objects(matrix, "Release") if r.inputs["chart"] == "prometheus-adapter")
    assert adapter.inputs["version"] == "5.3.0" and adapter.inputs["namespace"] == "prometheus-adapter"
    assert adapter.inputs["values"]["prometheus"] == {"url": "http://monitoring-prometheus.observability.svc.cluster.local",
                                                      "port": 9090}
    served = {rule["name"]["as"] for rule in adapter.inputs["values"]["rules"]["custom"]}
    [metric] = spec["metrics"]
    assert metric["type"] == "Pods" and metric["pods"]["metric"]["name"] in served
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "10"}
    rule = adapter.inputs["values"]["rules"]["custom"][0]
    assert "nv_inference_pending_request_count" in series_names("triton") and rule["seriesQuery"].startswith(
        '{__name__="nv_inference_pending_request_count"')
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 2)
    assert adapter.urn in hpa.dependencies
    assert not objects(matrix, "ScaledObject") or "triton7" not in {
        r.inputs["metadata"]["name"] for r in objects(matrix, "ScaledObject")}


def test_ollama_scales_on_cpu_and_is_never_scraped(matrix):
    spec = obj(matrix, "HorizontalPodAutoscaler", "tiny").inputs["spec"]
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 70}}}]
    assert "tiny" not in {r.inputs["metadata"]["name"] for r in objects(matrix, "PodMonitor")}


def test_embedding_scales_on_tei_queue_and_has_a_pod_monitor(matrix):
    """prod's rag.embedding: replicas 2, maxReplicas 3 (fixed replicas: tests/serving/test_autoscaling_epp.py)."""
    spec = obj(matrix, "ScaledObject", "embedding").inputs["spec"]
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 3)
    [trigger] = spec["triggers"]
    match = QUERY.match(trigger["metadata"]["query"])
    assert match["metric"] == "te_queue_size" and match["metric"] in series_names("tei")
    assert (match["ns"], match["model"]) == ("ai-inference", "embedding")
    assert trigger["metadata"]["threshold"] == "10"
    monitor = obj(matrix, "PodMonitor", "embedding").inputs
    assert monitor["spec"]["podMetricsEndpoints"][0]["path"] == "/metrics"


def test_pod_monitors_are_scraped_and_wait_for_the_crds(matrix):
    for monitor in objects(matrix, "PodMonitor"):
        assert monitor.inputs["metadata"]["labels"]["ai-platform/scrape"] == "true"
        assert any(MONITORING_CRDS in d for d in monitor.dependencies)
        assert monitor.inputs["spec"]["podMetricsEndpoints"][0]["port"] == "http"


def test_no_monitors_without_monitoring_crds():
    result = run_serving(matrix_values(), monitoring=False)
    assert not objects(result, "PodMonitor")
    assert objects(result, "ScaledObject"), "KEDA queries still exist; they read 0 until the monitors are there"
    keda = next(r for r in objects(result, "Release") if r.inputs["chart"] == "keda")
    assert keda.inputs["values"]["prometheus"]["operator"]["podMonitor"]["enabled"] is False


def test_scale_to_zero_wakes_on_the_wake_query():
    models = [{"name": "nightly", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
               "pool": "h100-od", "replicas": {"min": 0, "max": 2},
               "autoscaling": {"scaleToZero": True, "cooldownSeconds": 900,
                               "wakeQuery": 'sum(rate(gateway_requests_total{model="nightly"}[5m]))'}},
              {"name": "warm", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
               "pool": "h100-od", "replicas": {"min": 1, "max": 2},
               "autoscaling": {"scaleToZero": True, "wakeQuery": "vector(1)"}}]
    result = run_serving(with_serving("prod", models))
    nightly = obj(result, "ScaledObject", "nightly").inputs["spec"]
    assert nightly["minReplicaCount"] == 0 and nightly["cooldownPeriod"] == 900 and "idleReplicaCount" not in nightly
    assert nightly["initialCooldownPeriod"] >= 300 and "fallback" not in nightly
    wake = next(t for t in nightly["triggers"] if t["name"] == "wake")
    assert wake["metadata"]["activationThreshold"] == "0"
    assert wake["metadata"]["query"] == 'sum(rate(gateway_requests_total{model="nightly"}[5m]))'
    warm = obj(result, "ScaledObject", "warm").inputs["spec"]
    assert (warm["minReplicaCount"], warm["idleReplicaCount"]) == (1, 0)


def test_every_gpu_workload_depends_on_the_gpu_stack(matrix):
    gpu = next(r for r in matrix.resources if r.name == GPU_OPERATOR)
    for kind in ("Deployment", "Job"):
        for r in objects(matrix, kind):
            assert gpu.urn in r.dependencies, r.name
