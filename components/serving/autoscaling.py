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
"""

from __future__ import annotations

from typing import Any

from config.capacity import MODEL_SERVER
from config.engines import AutoscalingSignals
from config.errors import required
from config.namespaces import autoscaled

from .charts import adapter_metric_name
from .server import Server, startup_seconds

KEDA_API = "keda.sh/v1alpha1"
POLLING_SECONDS = 15
CPU_TARGET = 70
# Far above any real wake-query value: the trigger only activates the model, the engine triggers size it.
WAKE_THRESHOLD = "1000000"


def _num(value: float) -> str:
    return f"{value:g}"


def promql(metric: str, namespace: str, model: str) -> str:
    """Sum of an engine metric over every pod of one model (labels set by the model's PodMonitor)."""
    return f'sum({metric}{{namespace="{namespace}",model="{model}"}})'


def kind(server: Server) -> str | None:
    """keda | hpa | cpu-hpa, or None for fixed replicas (the embedding server, min == max)."""
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


def triggers(server: Server, prometheus_url: str) -> list[dict[str, Any]]:
    auto = server.model.autoscaling
    signals = _signals(server)
    ns = server.namespace
    found = [{"type": "prometheus", "name": "queue-depth", "metricType": "AverageValue",
              "metadata": {"serverAddress": prometheus_url, "query": promql(signals.queue, ns, server.name),
                           "threshold": _num(auto.queue_depth)}}]
    if signals.kv_cache is not None:
        found.append({"type": "prometheus", "name": "kv-cache", "metricType": "AverageValue",
                      "metadata": {"serverAddress": prometheus_url,
                                   "query": promql(signals.kv_cache, ns, server.name),
                                   "threshold": _num(auto.kv_cache_usage)}})
    if auto.scale_to_zero:
        found.append({"type": "prometheus", "name": "wake", "metricType": "AverageValue",
                      "metadata": {"serverAddress": prometheus_url, "query": auto.wake_query,
                                   "threshold": WAKE_THRESHOLD, "activationThreshold": "0"}})
    return found


def scaled_object_spec(server: Server, prometheus_url: str) -> dict[str, Any]:
    """keda.sh/v1alpha1 ScaledObject spec for the model's primary Deployment."""
    model = server.model
    auto = model.autoscaling
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": server.name},
        "pollingInterval": POLLING_SECONDS,
        "minReplicaCount": model.replicas.min,
        "maxReplicaCount": model.replicas.max,
        "advanced": {"horizontalPodAutoscalerConfig": {"name": server.name, "behavior": _behavior(server)}},
        "triggers": triggers(server, prometheus_url),
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


def hpa_spec(server: Server) -> dict[str, Any]:
    """autoscaling/v2 HPA spec: Pods metrics from prometheus-adapter (hpa) or CPU utilisation (Ollama)."""
    model = server.model
    auto = model.autoscaling
    if kind(server) == "cpu-hpa":
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
