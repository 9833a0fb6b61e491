"""Autoscaling on the endpoint picker's signals, scale from zero, the embedding server and the on-demand fallbacks.

Names: llm-d router v0.10.0 pkg/epp/metrics/llm_d_router_metrics.go (flow_control_queue_size {fairness_id, priority,
inference_pool, model_name, target_model_name}, flow_control_pool_saturation {inference_pool}, ready_endpoints
{name}); the picker runs with `--pool-name <release>` = the InferencePool (chart llm-d-router-gateway v0.10.0
templates `_deployment.yaml`, `_inferencepool.yaml`), scraped in the release's namespace by the chart's
ServiceMonitor. kube-state-metrics v2.20.0 docs/metrics/workload (kube_pod_status_unschedulable, kube_pod_owner,
kube_replicaset_owner). Queries are parsed with the PromQL parser tests/observability uses.
"""

from __future__ import annotations

import copy

import promql_parser
import pytest

from components.observability import metrics as m
from components.serving import autoscaling
from components.serving.server import servers, startup_seconds
from config import ConfigError, validate
from config.engines import series_names
from config.inference import pool_name
from config.namespaces import uses_keda
from config.pool_scaling import EPP_DEFAULT_QUEUE_TTL_SECONDS, fallback_max, flow_control_ttl_seconds
from tests.conftest import run_stack, stack_values

from .conftest import obj, objects, run_serving

PROMETHEUS = "http://monitoring-prometheus.observability.svc.cluster.local:9090"
EPP = {"llm_d_epp_flow_control_queue_size", "llm_d_epp_flow_control_pool_saturation", "llm_d_epp_ready_endpoints"}
KSM = {"kube_pod_status_unschedulable", "kube_pod_owner", "kube_replicaset_owner"}


def selectors(expr: str) -> dict[str, dict[str, str]]:
    """Metric name -> its equality matchers, for every vector selector (raises if the query does not parse)."""
    found: dict[str, dict[str, str]] = {}

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found[node.name] = {x.name: x.value for x in node.matchers.matchers}

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


@pytest.fixture(scope="module")
def prod():
    return run_stack("prod")


def spec(result, name: str) -> dict:
    return obj(result, "ScaledObject", name).inputs["spec"]


def test_pooled_servers_scale_on_held_requests_and_pool_saturation(prod):
    """prod: qwen72b and qwen7b are vLLM behind their InferencePools, flow control on (the default)."""
    for name, queue_depth in (("qwen72b", "8"), ("qwen7b", "10")):
        found = spec(prod, name)
        triggers = {t["name"]: t for t in found["triggers"]}
        assert set(triggers) == {"flow-control-queue", "pool-saturation"}
        queue, saturation = triggers["flow-control-queue"], triggers["pool-saturation"]
        assert all(t["type"] == "prometheus" and t["metricType"] == "AverageValue" for t in triggers.values())
        assert all(t["metadata"]["serverAddress"] == PROMETHEUS for t in triggers.values())
        assert queue["metadata"]["threshold"] == queue_depth and saturation["metadata"]["threshold"] == "0.8"
        # Every priority band and tenant (fairness_id) of the pool's queue, summed.
        assert selectors(queue["metadata"]["query"]) == {
            "llm_d_epp_flow_control_queue_size": {"namespace": "ai-inference", "inference_pool": pool_name(name)}}
        assert queue["metadata"]["query"].startswith("sum(")
        s = selectors(saturation["metadata"]["query"])
        assert set(s) == {"llm_d_epp_flow_control_pool_saturation", "llm_d_epp_ready_endpoints"}
        assert s["llm_d_epp_flow_control_pool_saturation"]["inference_pool"] == pool_name(name)
        # Pool metrics carry the pool's name as `name`.
        assert s["llm_d_epp_ready_endpoints"]["name"] == pool_name(name)
        assert {v["namespace"] for v in s.values()} == {"ai-inference"}
        # Not scaled from zero: no activation games, KEDA's fallback holds the floor if Prometheus is away.
        assert found["minReplicaCount"] >= 1 and found["fallback"]["replicas"] == found["minReplicaCount"]


def test_every_autoscaling_query_parses_and_reads_recorded_names(prod):
    allowed = EPP | KSM | series_names("tei") | series_names("vllm")
    queries = [t["metadata"]["query"] for so in objects(prod, "ScaledObject") for t in so.inputs["spec"]["triggers"]]
    assert len(queries) >= 6
    for query in queries:
        names = set(selectors(query))
        assert names and names <= allowed, query
    assert EPP == autoscaling.EPP_SERIES and KSM == autoscaling.KSM_FALLBACK_SERIES
    # The kube-state-metrics names the fallback reads are in the observability allow-list of that version.
    assert m.source_version("kube-state-metrics") == "2.20.0"


def test_the_fallback_scales_on_the_primarys_unschedulable_pods(prod):
    """qwen7b (spot, replicas 2..16) keeps 2 on h100-od and stands in for up to 5 unplaceable spot replicas."""
    found = spec(prod, "qwen7b-fallback")
    assert found["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen7b-fallback"}
    assert (found["minReplicaCount"], found["maxReplicaCount"]) == (2, 5)
    [trigger] = found["triggers"]
    assert trigger["name"] == "spot-shortfall" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"]["threshold"] == "1"   # one stand-in per unschedulable primary replica
    s = selectors(trigger["metadata"]["query"])
    assert set(s) == KSM
    assert s["kube_replicaset_owner"]["owner_name"] == "qwen7b"          # the primary Deployment, not the fallback
    assert s["kube_replicaset_owner"]["owner_kind"] == "Deployment"
    assert s["kube_pod_owner"]["owner_kind"] == "ReplicaSet"
    assert {v["namespace"] for v in s.values()} == {"ai-inference"}
    behavior = found["advanced"]["horizontalPodAutoscalerConfig"]
    assert behavior["name"] == "qwen7b-fallback"
    assert behavior["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == autoscaling.SPOT_GRACE_SECONDS
    cfg, plan = validate(stack_values("prod"), "x")
    server = next(s for s in servers(cfg, plan) if s.name == "qwen7b")
    assert behavior["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == max(300, startup_seconds(server))
    fallback = obj(prod, "Deployment", "qwen7b-fallback")
    assert "spec.replicas" in fallback.ignore_changes and fallback.urn in obj(prod, "ScaledObject",
                                                                              "qwen7b-fallback").dependencies


def test_the_embedding_server_scales_on_its_engine_queue(prod):
    found = spec(prod, "embedding")
    assert (found["minReplicaCount"], found["maxReplicaCount"]) == (2, 3)
    [trigger] = found["triggers"]
    # TEI 1.9.3's queue gauge, with the labels the embedding server's PodMonitor sets.
    assert selectors(trigger["metadata"]["query"]) == {"te_queue_size": {"namespace": "ai-inference",
                                                                         "model": "embedding"}}
    assert "te_queue_size" in series_names("tei") and trigger["metadata"]["threshold"] == "10"
    # Its on-demand fallback follows spot shortfalls up to the same max.
    assert (spec(prod, "embedding-fallback")["minReplicaCount"], spec(prod, "embedding-fallback")["maxReplicaCount"]) \
        == (2, 3)


def test_fixed_embedding_and_fixed_canary_get_no_scaler():
    dev = run_stack("dev")
    scalers = objects(dev, "ScaledObject") + objects(dev, "HorizontalPodAutoscaler")
    names = {r.inputs["metadata"]["name"] for r in scalers}
    assert "embedding" not in names and "qwen7b-canary" not in names and "qwen7b" in names
    assert obj(dev, "Deployment", "embedding").ignore_changes == []


def test_capacity_plan_prices_the_embedding_max_and_the_fallback_max():
    cfg, plan = validate(stack_values("prod"), "x")
    emb = plan.model("embedding")
    assert (emb.min_replicas, emb.max_replicas) == (2, 3)
    assert emb.monthly_usd_max == pytest.approx(emb.monthly_usd_min * 3 / 2)
    assert emb.fallback is not None and emb.fallback.max_replicas == 3
    fallback_units = {d.model: d.units_max for m_ in plan.models for d in m_.demands() if d.placement == "fallback"}
    assert fallback_units == {"qwen7b": 5, "embedding": 3}
    assert plan.pool("h100-od").units_asked_max == 16 + 5 + 3 <= 24
    output = plan.to_output()["models"]
    assert (output["embedding"]["maxReplicas"], output["qwen7b"]["fallbackMaxReplicas"]) == (3, 5)


# ------------------------------------------------------------------------------------------- scale from zero


def to_zero(values: dict, **router) -> dict:
    """prod with qwen7b (not critical, no fallback) allowed to scale to zero."""
    values = copy.deepcopy(values)
    qwen7b = next(x for x in values["serving"]["models"] if x["name"] == "qwen7b")
    qwen7b.update(critical=False, replicas={"min": 0, "max": 4}, autoscaling={"scaleToZero": True,
                                                                                "cooldownSeconds": 600})
    qwen7b.pop("fallbackPool")
    qwen7b.pop("fallbackMaxReplicas")
    values["inferenceGateway"]["router"].update(router)
    return values


def test_a_pooled_model_scales_from_zero_on_the_pickers_queue():
    cfg, plan = validate(to_zero(stack_values("prod")), "x")
    server = next(s for s in servers(cfg, plan) if s.name == "qwen7b")
    found = autoscaling.scaled_object_spec(server, PROMETHEUS, epp=True)
    assert (found["minReplicaCount"], found["maxReplicaCount"]) == (0, 4)
    triggers = {t["name"]: t for t in found["triggers"]}
    assert set(triggers) == {"flow-control-queue", "pool-saturation"}   # no wakeQuery needed
    assert triggers["flow-control-queue"]["metadata"]["activationThreshold"] == "0"   # 1 held request wakes it
    # An empty pool reads saturation 1.0; times 0 ready endpoints it cannot hold the pool awake.
    assert "llm_d_epp_ready_endpoints" in selectors(triggers["pool-saturation"]["metadata"]["query"])
    assert found["cooldownPeriod"] == 600 and found["initialCooldownPeriod"] == startup_seconds(server)
    assert "fallback" not in found and "idleReplicaCount" not in found
    # The picker must hold the first requests for the cold start (its default is 60 s).
    assert flow_control_ttl_seconds(cfg, plan, "qwen7b") == max(EPP_DEFAULT_QUEUE_TTL_SECONDS, startup_seconds(server))
    assert flow_control_ttl_seconds(cfg, plan, "qwen72b") is None
    assert EPP_DEFAULT_QUEUE_TTL_SECONDS == 60


def problems(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.test.yaml")
    return str(err.value)


def test_scale_to_zero_behind_a_pool_needs_flow_control():
    message = problems(to_zero(stack_values("prod"), flowControl=False))
    assert ("ai-platform:serving.models[1].autoscaling.scaleToZero: 'qwen7b' is routed through an InferencePool"
            in message)
    assert "inferenceGateway.router.flowControl: true" in message


@pytest.mark.parametrize("change, path, text", [
    (lambda v: v["serving"]["models"][0].update(fallbackMaxReplicas=4), "serving.models[0].fallbackMaxReplicas",
     "only used with fallbackPool"),
    (lambda v: v["serving"]["models"][1].update(fallbackMaxReplicas=1), "serving.models[1].fallbackMaxReplicas",
     "1 is below replicas.min (2)"),
    (lambda v: v["rag"]["embedding"].update(maxReplicas=1), "rag.embedding",
     "maxReplicas (1) must be >= replicas (2)"),
], ids=["fallback-max-without-pool", "fallback-max-below-floor", "embedding-max-low"])
def test_replica_bounds_are_checked(change, path, text):
    values = stack_values("prod")
    change(values)
    assert f"ai-platform:{path}: {text}" in problems(values)


def test_the_fallback_max_is_capped_at_the_models_max():
    """Never more stand-ins than primary replicas: a fixed model's fallback stays fixed, whatever its max."""
    values = stack_values("prod")
    cfg, _ = validate(values, "x")
    assert fallback_max(cfg.serving.models[1].model_copy(update={"fallback_max_replicas": 40})) == 16
    values["serving"]["models"][1]["replicas"] = {"min": 2, "max": 2}
    values["rag"]["embedding"].pop("maxReplicas")
    cfg, plan = validate(values, "x")
    fb = plan.model("qwen7b").fallback
    assert fb is not None and fb.max_replicas == 2
    assert not any(autoscaling.fallback_scaled_object_spec(s, PROMETHEUS) for s in servers(cfg, plan))


def test_without_observability_the_embedding_server_scales_on_cpu():
    values = stack_values("prod")
    values["observability"] = {"enabled": False}
    values["tenancy"]["namespaces"].pop("observability")
    values["rag"].pop("gateway")  # (keep the stack small)
    for m_ in values["serving"]["models"]:  # fixed models: their own ranges need Prometheus (their own check)
        m_["replicas"] = {"min": 2, "max": 2}
    cfg, plan = validate(values, "x")
    assert not uses_keda(cfg)   # nothing left that reads Prometheus: fallbacks are fixed with their models
    result = run_serving(values)
    assert not objects(result, "ScaledObject")
    assert obj(result, "HorizontalPodAutoscaler", "embedding").inputs["spec"]["maxReplicas"] == 3
    assert obj(result, "Deployment", "embedding-fallback").ignore_changes == []   # keeps its floor
    embedding = next(s for s in servers(cfg, plan) if s.name == "embedding")
    assert autoscaling.kind(embedding, observed=False) == "cpu-hpa" and autoscaling.kind(embedding) == "keda"
    hpa = autoscaling.hpa_spec(embedding)
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 3)
    assert hpa["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": autoscaling.CPU_TARGET}}}]


def test_keda_is_installed_for_an_embedding_or_a_fallback_alone():
    values = stack_values("prod")
    for m_ in values["serving"]["models"]:
        m_["replicas"] = {"min": 2, "max": 2}
        m_.pop("fallbackMaxReplicas", None)
    cfg, _ = validate(values, "x")
    assert uses_keda(cfg)            # the embedding server scales 2..3
    values["rag"]["embedding"].pop("maxReplicas")
    cfg, _ = validate(values, "x")
    assert not uses_keda(cfg)
    # A model on prometheus-adapter (autoscaling.engine hpa) whose fallback scales: KEDA for the fallback alone.
    values["serving"]["models"][1].update(replicas={"min": 2, "max": 4}, autoscaling={"engine": "hpa"})
    cfg, _ = validate(values, "x")
    assert uses_keda(cfg)
