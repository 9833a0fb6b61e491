"""How each model server scales, as plain data: KEDA ScaledObject, HPA through prometheus-adapter, or CPU HPA.

- `autoscaling.engine: keda` (default): a ScaledObject on the primary Deployment with one Prometheus trigger per
  signal of the engine (config/engines.py AUTOSCALING_SIGNALS): waiting requests per replica
  (`sum(<queue metric>)` / `queueDepth`) and, for vLLM, KV-cache use per replica (`sum(vllm:kv_cache_usage_perc)`
  / `kvCacheUsage`). Both are AverageValue targets, so the HPA KEDA creates divides the sum by the replica count.
  Queries select `{namespace="<serving ns>", model="<name>"}`: labels the model's PodMonitor sets.
  Scale-to-zero adds the model's `wakeQuery` (with no replica there is no engine metric to wake it).
- `autoscaling.engine: hpa`: an autoscaling/v2 HPA with Pods metrics served by prometheus-adapter
  (custom.metrics.k8s.io, rules in charts.adapter_rules): the same targets per pod.
- An engine without metrics (Ollama; its profile has no signals): a range of replicas scales on CPU utilisation
  with a plain HPA.

Servers behind an InferencePool whose endpoint picker (EPP) runs flow control (config/pool_scaling.py `epp_scaled`)
scale on the picker's signals instead (llm-d router v0.10.0 pkg/epp/metrics/llm_d_router_metrics.go; the picker's
`--pool-name` is the InferencePool's name, `config.inference.pool_name`, and the chart's ServiceMonitor scrapes it in
the pool's namespace, which becomes the `namespace` target label):
  - `flow-control-queue`: requests the picker holds, `sum(llm_d_epp_flow_control_queue_size{inference_pool=...})`
    per replica against `queueDepth` (the engines' own queues stay short: the picker holds what they cannot take);
  - `pool-saturation`: `llm_d_epp_flow_control_pool_saturation` (the average endpoint score, 1.0 = the picker starts
    holding requests) times `llm_d_epp_ready_endpoints`: the pool's load in replicas, per replica against
    `saturation`. Counting ready endpoints keeps replicas that are still loading (not yet in the pool) from
    multiplying, and reads 0 for an empty pool, whose saturation is 1.0 by definition.
  With scaleToZero the queue trigger activates at 1 held request: the picker's queue holds the first requests while
  a replica loads (its TTL: config/pool_scaling.py `flow_control_ttl_seconds`).
- The embedding server (rag.embedding.maxReplicas above replicas) scales through KEDA on its engine's queue, or on
  CPU utilisation without observability.
- A `<name>-fallback` Deployment with room above its floor gets its own ScaledObject (`fallback_scaled_object_spec`).
"""

from __future__ import annotations

from typing import Any

from config.capacity import EMBEDDING_SERVER, MODEL_SERVER
from config.engines import AutoscalingSignals
from config.errors import required
from config.inference import pool_name
from config.namespaces import autoscaled
from config.pool_scaling import fallback_max, fallback_scales

from .charts import adapter_metric_name
from .server import Server, startup_seconds

KEDA_API = "keda.sh/v1alpha1"
POLLING_SECONDS = 15
CPU_TARGET = 70
# Far above any real wake-query value: the trigger only activates the model, the engine triggers size it.
WAKE_THRESHOLD = "1000000"

# The endpoint picker's series (llm-d router v0.10.0, pkg/epp/metrics/llm_d_router_metrics.go, docs/metrics.md):
# flow_control_queue_size {fairness_id, priority, inference_pool, model_name, target_model_name}: requests held;
# flow_control_pool_saturation {inference_pool}: average endpoint score, 1.0 gates dispatch, empty pool = 1.0;
# ready_endpoints {name}: ready endpoints of the pool (pool metrics carry the pool name as `name`).
EPP_QUEUE = "llm_d_epp_flow_control_queue_size"
EPP_SATURATION = "llm_d_epp_flow_control_pool_saturation"
EPP_READY = "llm_d_epp_ready_endpoints"
EPP_SERIES = frozenset({EPP_QUEUE, EPP_SATURATION, EPP_READY})

# kube-state-metrics v2.20.0 docs/metrics/workload: pod-metrics.md (kube_pod_status_unschedulable {namespace, pod},
# kube_pod_owner {namespace, pod, owner_kind, owner_name}) and replicaset-metrics.md (kube_replicaset_owner
# {namespace, replicaset, owner_kind, owner_name}).
KSM_FALLBACK_SERIES = frozenset({"kube_pod_status_unschedulable", "kube_pod_owner", "kube_replicaset_owner"})
# A spot node the cluster autoscaler is still bringing up is no shortage: cloud GPU nodes join within minutes. A
# primary replica left unschedulable for longer than this gets an on-demand stand-in.
SPOT_GRACE_SECONDS = 300


def _num(value: float) -> str:
    return f"{value:g}"


def promql(metric: str, namespace: str, model: str) -> str:
    """Sum of an engine metric over every pod of one model (labels set by the model's PodMonitor)."""
    return f'sum({metric}{{namespace="{namespace}",model="{model}"}})'


def kind(server: Server, observed: bool = True) -> str | None:
    """keda | hpa | cpu-hpa, or None for fixed replicas (min == max). `observed`: the stack runs Prometheus."""
    if server.component == EMBEDDING_SERVER:
        # rag.embedding.maxReplicas above replicas: KEDA on the engine's queue (TEI and vLLM both export one), or
        # CPU utilisation when there is no Prometheus to ask.
        if server.model.replicas.max <= server.model.replicas.min:
            return None
        return "keda" if observed else "cpu-hpa"
    if server.component != MODEL_SERVER or not autoscaled(server.model):
        return None
    if server.profile.signals is None:  # the engine exports no queue metric (Ollama)
        return "cpu-hpa"
    return server.model.autoscaling.engine


def _signals(server: Server) -> AutoscalingSignals:
    """The engine's metrics, for a server whose kind() is keda or hpa (so it has them)."""
    return required(server.profile.signals, f"{server.path}.engine", "the engine's autoscaling metrics",
                    "autoscaling.kind (engines without them scale on CPU)")


def _behavior(server: Server) -> dict[str, Any]:
    auto = server.model.autoscaling
    return {
        # One replica at a time, after the stabilisation window: a GPU replica is slow to bring back.
        "scaleDown": {"stabilizationWindowSeconds": auto.scale_down_stabilization_seconds,
                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
        "scaleUp": {"stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]},
    }


def epp_queries(server: Server) -> dict[str, str]:
    """PromQL of the picker's signals for the server's InferencePool: held requests and load in replicas."""
    ns, pool = server.namespace, pool_name(server.name)
    flow = f'{{namespace="{ns}",inference_pool="{pool}"}}'
    return {
        "flow-control-queue": f"sum({EPP_QUEUE}{flow})",
        # max(): with several picker replicas only the elected leader serves and evaluates the pool.
        "pool-saturation": f'max({EPP_SATURATION}{flow}) * max({EPP_READY}{{namespace="{ns}",name="{pool}"}})',
    }


def _epp_triggers(server: Server, prometheus_url: str) -> list[dict[str, Any]]:
    auto = server.model.autoscaling
    queries = epp_queries(server)
    # Activation (0 <-> 1 replicas) at any held request or any load: a pool at 0 wakes on its first request.
    return [{"type": "prometheus", "name": name, "metricType": "AverageValue",
             "metadata": {"serverAddress": prometheus_url, "query": queries[name], "threshold": _num(threshold),
                          "activationThreshold": "0"}}
            for name, threshold in (("flow-control-queue", auto.queue_depth), ("pool-saturation", auto.saturation))]


def triggers(server: Server, prometheus_url: str, epp: bool = False) -> list[dict[str, Any]]:
    """The ScaledObject's triggers: the picker's (`epp`: pooled with flow control) or the engine's signals."""
    auto = server.model.autoscaling
    ns = server.namespace
    if epp:
        found = _epp_triggers(server, prometheus_url)
    else:
        signals = _signals(server)
        found = [{"type": "prometheus", "name": "queue-depth", "metricType": "AverageValue",
                  "metadata": {"serverAddress": prometheus_url, "query": promql(signals.queue, ns, server.name),
                               "threshold": _num(auto.queue_depth)}}]
        if signals.kv_cache is not None:
            found.append({"type": "prometheus", "name": "kv-cache", "metricType": "AverageValue",
                          "metadata": {"serverAddress": prometheus_url,
                                       "query": promql(signals.kv_cache, ns, server.name),
                                       "threshold": _num(auto.kv_cache_usage)}})
    if auto.scale_to_zero and auto.wake_query is not None:
        found.append({"type": "prometheus", "name": "wake", "metricType": "AverageValue",
                      "metadata": {"serverAddress": prometheus_url, "query": auto.wake_query,
                                   "threshold": WAKE_THRESHOLD, "activationThreshold": "0"}})
    return found


def scaled_object_spec(server: Server, prometheus_url: str, epp: bool = False) -> dict[str, Any]:
    """keda.sh/v1alpha1 ScaledObject spec for the model's primary Deployment (`epp`: on its picker's signals)."""
    model = server.model
    auto = model.autoscaling
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": server.name},
        "pollingInterval": POLLING_SECONDS,
        "minReplicaCount": model.replicas.min,
        "maxReplicaCount": model.replicas.max,
        "advanced": {"horizontalPodAutoscalerConfig": {"name": server.name, "behavior": _behavior(server)}},
        "triggers": triggers(server, prometheus_url, epp),
    }
    if auto.scale_to_zero:
        spec["cooldownPeriod"] = auto.cooldown_seconds
        # Never idle a model that is still loading.
        spec["initialCooldownPeriod"] = startup_seconds(server)
        if model.replicas.min > 0:
            spec["idleReplicaCount"] = 0
    else:
        # Prometheus unreachable: keep serving with at least the floor rather than guessing.
        spec["fallback"] = {"failureThreshold": 5, "replicas": model.replicas.min,
                            "behavior": "currentReplicasIfHigher"}
    return spec


def unschedulable_query(server: Server) -> str:
    """Pods of the primary Deployment the scheduler cannot place (kube-state-metrics: pod -> ReplicaSet ->
    Deployment through the owner series, so no pod label has to be exported)."""
    ns = server.namespace
    owners = (f'label_replace(kube_pod_owner{{namespace="{ns}",owner_kind="ReplicaSet"}}, "replicaset", "$1", '
              f'"owner_name", "(.+)") * on (namespace, replicaset) group_left () '
              f'kube_replicaset_owner{{namespace="{ns}",owner_kind="Deployment",owner_name="{server.name}"}}')
    return (f'sum(kube_pod_status_unschedulable{{namespace="{ns}"}} * on (namespace, pod) group_left () '
            f"max by (namespace, pod) ({owners}))")


def fallback_scaled_object_spec(server: Server, prometheus_url: str) -> dict[str, Any] | None:
    """ScaledObject of `<name>-fallback` (None when it has no room above its floor): `replicas.min` on the on-demand
    pool at all times, plus one replica per primary replica left unschedulable for SPOT_GRACE_SECONDS (spot capacity
    gone or reclaimed), up to `fallback_max`. It does not read the pool's queue: the primary already scales on it,
    and its replicas that spot cannot place are exactly what this counts, so on-demand GPUs answer only what spot
    could not."""
    model = server.model
    if not fallback_scales(model):
        return None
    name = f"{server.name}-fallback"
    floor = model.replicas.min
    behavior = {
        "scaleUp": {"stabilizationWindowSeconds": SPOT_GRACE_SECONDS,
                    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]},
        # A primary replica that got its node is scheduled (no longer counted) long before it serves: keep its
        # stand-in through the primary's load budget.
        "scaleDown": {"stabilizationWindowSeconds": max(model.autoscaling.scale_down_stabilization_seconds,
                                                        startup_seconds(server)),
                      "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
    }
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "pollingInterval": POLLING_SECONDS,
        "minReplicaCount": floor,
        "maxReplicaCount": fallback_max(model),
        "advanced": {"horizontalPodAutoscalerConfig": {"name": name, "behavior": behavior}},
        "triggers": [{"type": "prometheus", "name": "spot-shortfall", "metricType": "AverageValue",
                      "metadata": {"serverAddress": prometheus_url, "query": unschedulable_query(server),
                                   "threshold": "1", "activationThreshold": "0"}}],
    }
    if floor > 0:
        spec["fallback"] = {"failureThreshold": 5, "replicas": floor, "behavior": "currentReplicasIfHigher"}
    else:
        spec["cooldownPeriod"] = model.autoscaling.cooldown_seconds
    return spec


def hpa_spec(server: Server) -> dict[str, Any]:
    """autoscaling/v2 HPA spec: Pods metrics from prometheus-adapter (hpa) or CPU utilisation (Ollama)."""
    model = server.model
    auto = model.autoscaling
    if server.component == EMBEDDING_SERVER or kind(server) == "cpu-hpa":
        metrics = [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": CPU_TARGET}}}]
    else:
        signals = _signals(server)
        targets = [(signals.queue, auto.queue_depth)]
        if signals.kv_cache is not None:
            targets.append((signals.kv_cache, auto.kv_cache_usage))
        metrics = [{"type": "Pods", "pods": {"metric": {"name": adapter_metric_name(metric)},
                                             "target": {"type": "AverageValue", "averageValue": _num(value)}}}
                   for metric, value in targets]
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": server.name},
        "minReplicas": model.replicas.min,
        "maxReplicas": model.replicas.max,
        "metrics": metrics,
        "behavior": _behavior(server),
    }
