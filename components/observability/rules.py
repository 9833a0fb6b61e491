"""PrometheusRule contents: the platform's recording rules and alerts, generated from the config.

Pure functions (no Pulumi). Alerts exist only for what the config deploys: vLLM alerts when a vLLM model (or
a vLLM embedding server) exists, TGI/Triton/TEI alerts likewise, GPU alerts when DCGM exporter runs on GPU
pools, spot alerts when a spot pool exists, vector-store alerts for the configured engine. Ollama exports no
metrics, so CPU-only Ollama models get only the crash-loop alert. Thresholds come from
`observability.alerts`; every metric name comes from the recorded allow-lists (components.observability.metrics).

Model series: model-server pods carry `ai-platform/model`, which their PodMonitors relabel into the target
label `model`, so queries filter `{namespace="<serving ns>"}` and aggregate `by (namespace, model)`.

GPU series: the GPU Operator's DCGM ServiceMonitor keeps honorLabels false, so `namespace`/`pod` of a DCGM
series are the exporter pod's (the GPU workload's own become exported_namespace/exported_pod). The exporter
pod's node comes from kube_pod_info; the node's pool, capacity type and GPU model from kube_node_labels (the
kube-state-metrics allow-list turns node label `ai-platform/pool` into `label_ai_platform_pool`).

Cost: one recording rule per GPU pool multiplies the pool's current node count by the catalog price of one
node-hour for its capacity type (`usdPerNodeHour` of the capacity plan), and its node count by GPUs per node.
Prices are constants written into the rule at deploy time: a catalog update changes them on the next
`pulumi up`. Nodes of existing clusters count only once they carry the `ai-platform/pool` label.

Spot interruptions, what is observable: AWS Node Termination Handler (when installed with taintNode) taints
a node `aws-node-termination-handler/spot-itn` on an interruption notice and
`aws-node-termination-handler/rebalance-recommendation` on a rebalance recommendation; GCP's node termination
handler taints `cloud.google.com/impending-node-termination` (both keys are the ones the kubernetes-mixin
KubeNodeUnreachable alert ignores). EKS managed node groups and GKE's graceful node shutdown add no taint of
their own: there a preempted node shows only as NotReady before it disappears. So: a termination taint on any
node, and a spot-pool node NotReady, alert; a node that vanishes cleanly (scale-down or preemption) is not
distinguishable in metrics and is not alerted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from config.capacity import CapacityPlan
from config.engines import ENGINE_METRICS_SOURCE, embedding_engine_key
from config.gpu_stack import OPERATOR_NAMESPACE
from config.models import StackConfig
from config.namespaces import component_namespaces

from ..labels import CAPACITY_LABEL, GPU_LABEL, POOL_LABEL
from . import inference
from . import metrics as m
from .charts import ksm_label

SPOT_TAINTS = (
    "aws-node-termination-handler/spot-itn",
    "aws-node-termination-handler/rebalance-recommendation",
    "cloud.google.com/impending-node-termination",
)
RUNBOOK = "https://github.com/ai-platform/runbooks#"  # anchors are the alert names


@dataclass(frozen=True)
class Rule:
    """A recording rule (`record`) or an alert (`alert`)."""

    name: str
    query: m.Query
    record: bool = False
    for_: str = ""
    severity: str = "warning"
    summary: str = ""
    description: str = ""

    def spec(self) -> dict[str, Any]:
        """The rule as the PrometheusRule CRD takes it."""
        if self.record:
            return {"record": self.name, "expr": self.query.expr}
        rule: dict[str, Any] = {"alert": self.name, "expr": self.query.expr,
                                "labels": {"severity": self.severity, "platform": "ai-platform"},
                                "annotations": {"summary": self.summary, "description": self.description}}
        if self.for_:
            rule["for"] = self.for_
        return rule


@dataclass(frozen=True)
class RuleGroup:
    """One Prometheus rule group; each becomes its own PrometheusRule object."""

    key: str
    """Short name: the PrometheusRule is `ai-platform-<key>`."""
    rules: tuple[Rule, ...]

    def spec(self) -> dict[str, Any]:
        return {"groups": [{"name": f"ai-platform.{self.key}", "rules": [r.spec() for r in self.rules]}]}


# ---------------------------------------------------------------------------------------------- usage


def engine_sources(cfg: StackConfig) -> set[str]:
    """Metric sources (config.engines.METRICS keys) of the model and embedding servers the config runs."""
    found = {ENGINE_METRICS_SOURCE[model.engine] for model in cfg.serving.models}
    if cfg.rag.embedding is not None:
        found.add(ENGINE_METRICS_SOURCE[embedding_engine_key(cfg.rag.embedding.engine)])
    found.discard(None)
    return found  # type: ignore[return-value]


def gpu_metrics(cfg: StackConfig) -> bool:
    """Whether DCGM exporter runs: GPU pools with the operator's exporter on."""
    return bool(cfg.node_pools.gpu) and cfg.gpu_stack.operator and cfg.gpu_stack.dcgm_exporter


def vector_source(cfg: StackConfig) -> str | None:
    store = cfg.rag.vector_store
    return store.engine if store is not None else None


def workload_namespaces(cfg: StackConfig) -> list[str]:
    """Namespaces of the platform's serving, data and gateway pods."""
    roles = component_namespaces(cfg)
    return sorted({ns for role, ns in roles.items() if role != "observability"})


def _num(value: float) -> str:
    return f"{value:g}"


def _pct(value: float) -> str:
    return f"{value * 100:g}%"


# ---------------------------------------------------------------------------------------------- groups


def node_rules(cfg: StackConfig) -> list[Rule]:
    """Node -> pool, capacity type and GPU model (from kube-state-metrics' kube_node_labels)."""
    expr = f'kube_node_labels{{{ksm_label(POOL_LABEL)}!=""}}'
    # "gpu_model", not "gpu": DCGM series already carry `gpu` (the device index).
    for target, label in (("pool", POOL_LABEL), ("capacity", CAPACITY_LABEL), ("gpu_model", GPU_LABEL)):
        expr = f'label_replace({expr}, "{target}", "$1", "{ksm_label(label)}", "(.+)")'
    query = m.Query(f"max by (node, pool, capacity, gpu_model) ({expr})", ("kube-state-metrics",))
    return [Rule(m.NODE_POOL_INFO, query, record=True)]


def _per_gpu(expr: str) -> str:
    """A DCGM expression with the node, pool, capacity type and GPU model of each series."""
    return (f"({expr}) * on (namespace, pod) group_left (node) {m.DCGM_EXPORTER_NODE}"
            f" * on (node) group_left (pool, capacity, gpu_model) {m.NODE_POOL_INFO}")


def gpu_recording_rules(cfg: StackConfig) -> list[Rule]:
    dcgm = ("dcgm", "ai-platform")
    # DCGM_FI_DEV_GPU_UTIL (percent) is not reported for MIG slices; DCGM_FI_PROF_GR_ENGINE_ACTIVE (ratio) is.
    util = "DCGM_FI_DEV_GPU_UTIL / 100 or DCGM_FI_PROF_GR_ENGINE_ACTIVE"
    return [
        Rule(m.DCGM_EXPORTER_NODE, m.Query(
            f'max by (namespace, pod, node) (kube_pod_info{{namespace="{OPERATOR_NAMESPACE}", '
            f'pod=~"nvidia-dcgm-exporter-.*"}})', ("kube-state-metrics",)), record=True),
        Rule(m.GPU_UTILIZATION, m.Query(_per_gpu(util), dcgm), record=True),
        Rule(m.GPU_MEMORY_USED, m.Query(_per_gpu("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"),
                                        dcgm), record=True),
        Rule(m.GPU_TEMPERATURE, m.Query(_per_gpu("DCGM_FI_DEV_GPU_TEMP"), dcgm), record=True),
    ]


def cost_rules(cfg: StackConfig, plan: CapacityPlan) -> list[Rule]:
    rules = []
    for pool in plan.pools:
        nodes = f'count by (pool, capacity) ({m.NODE_POOL_INFO}{{pool="{pool.name}"}})'
        rules.append(Rule(m.POOL_GPUS, m.Query(f"{nodes} * {pool.gpus_per_node}", ("ai-platform",)), record=True))
        rules.append(Rule(m.POOL_USD_PER_HOUR, m.Query(f"{nodes} * {_num(round(pool.usd_per_node_hour, 4))}",
                                                       ("ai-platform",)), record=True))
    return rules


def vllm_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    ns = cfg.serving.namespace
    sel = f'namespace="{ns}"'
    by = "by (namespace, model)"
    src = ("vllm",)

    def p99(metric: str) -> str:
        return f"histogram_quantile(0.99, sum by (namespace, model, le) (rate({metric}_bucket{{{sel}}}[5m])))"

    return [
        Rule("VllmQueueDepthHigh", m.Query(f"avg {by} (vllm:num_requests_waiting{{{sel}}}) > {_num(a.queue_depth)}",
                                           src), for_="5m",
             summary="vLLM {{ $labels.model }}: requests waiting per replica above " + _num(a.queue_depth),
             description="{{ $value | humanize }} requests wait per replica; the autoscaler is not keeping up "
                         "or the pool has no free GPUs (vllm:num_requests_waiting, vLLM "
                         f"{m.source_version('vllm')})."),
        Rule("VllmP99LatencyHigh", m.Query(f"{p99('vllm:e2e_request_latency_seconds')} > {_num(a.p99_latency_seconds)}",
                                           src), for_="10m",
             summary="vLLM {{ $labels.model }}: P99 end-to-end latency above " + f"{_num(a.p99_latency_seconds)}s",
             description="P99 of vllm:e2e_request_latency_seconds is {{ $value | humanizeDuration }}."),
        Rule("VllmTimeToFirstTokenHigh", m.Query(
            f"{p99('vllm:time_to_first_token_seconds')} > {_num(a.ttft_p99_seconds)}", src), for_="10m",
             summary="vLLM {{ $labels.model }}: P99 time to first token above " + f"{_num(a.ttft_p99_seconds)}s",
             description="P99 of vllm:time_to_first_token_seconds is {{ $value | humanizeDuration }}."),
        Rule("VllmKvCacheNearlyFull", m.Query(
            f"max {by} (vllm:kv_cache_usage_perc{{{sel}}}) > {_num(a.kv_cache_usage)}", src), for_="10m",
             summary="vLLM {{ $labels.model }}: KV cache above " + _pct(a.kv_cache_usage),
             description="KV-cache usage {{ $value | humanizePercentage }}: requests will queue or be preempted."),
        Rule("VllmPreemptions", m.Query(
            f"sum {by} (rate(vllm:num_preemptions_total{{{sel}}}[5m])) * 60 > {_num(a.preemptions_per_minute)}",
            src), for_="10m",
             summary="vLLM {{ $labels.model }}: preempting requests",
             description="{{ $value | humanize }} preemptions per minute: the KV cache is too small for the batch "
                         "(raise gpuMemoryUtilization, lower maxModelLen or add replicas)."),
        Rule("VllmErrorRateHigh", m.Query(
            f'sum {by} (rate(vllm:request_success_total{{{sel}, finished_reason="error"}}[5m])) '
            f"/ sum {by} (rate(vllm:request_success_total{{{sel}}}[5m])) > {_num(a.error_rate)}", src),
             for_="10m", severity="critical",
             summary="vLLM {{ $labels.model }}: more than " + _pct(a.error_rate) + " of requests fail",
             description="{{ $value | humanizePercentage }} of finished requests ended with finished_reason=error."),
    ]


def tgi_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    sel = f'namespace="{cfg.serving.namespace}"'
    by = "by (namespace, model)"
    src = ("tgi",)
    return [
        Rule("TgiQueueDepthHigh", m.Query(f"avg {by} (tgi_queue_size{{{sel}}}) > {_num(a.queue_depth)}", src),
             for_="5m", summary="TGI {{ $labels.model }}: queue per replica above " + _num(a.queue_depth),
             description="{{ $value | humanize }} requests queued per replica (tgi_queue_size)."),
        Rule("TgiP99LatencyHigh", m.Query(
            f"histogram_quantile(0.99, sum by (namespace, model, le) (rate(tgi_request_duration_bucket{{{sel}}}[5m]))) "
            f"> {_num(a.p99_latency_seconds)}", src), for_="10m",
             summary="TGI {{ $labels.model }}: P99 latency above " + f"{_num(a.p99_latency_seconds)}s",
             description="P99 of tgi_request_duration is {{ $value | humanizeDuration }}."),
        Rule("TgiErrorRateHigh", m.Query(
            f"sum {by} (rate(tgi_request_failure{{{sel}}}[5m])) / sum {by} (rate(tgi_request_count{{{sel}}}[5m])) "
            f"> {_num(a.error_rate)}", src), for_="10m", severity="critical",
             summary="TGI {{ $labels.model }}: more than " + _pct(a.error_rate) + " of requests fail",
             description="{{ $value | humanizePercentage }} of requests failed (tgi_request_failure)."),
    ]


def triton_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    sel = f'namespace="{cfg.serving.namespace}"'
    by = "by (namespace, model)"
    src = ("triton",)
    ok = f"sum {by} (rate(nv_inference_request_success{{{sel}}}[5m]))"
    failed = f"sum {by} (rate(nv_inference_request_failure{{{sel}}}[5m]))"
    return [
        Rule("TritonQueueDepthHigh", m.Query(
            f"avg {by} (nv_inference_pending_request_count{{{sel}}}) > {_num(a.queue_depth)}", src), for_="5m",
             summary="Triton {{ $labels.model }}: pending requests per replica above " + _num(a.queue_depth),
             description="{{ $value | humanize }} pending requests per replica."),
        # Triton has latency histograms only with --metrics-config histogram_latencies=true: the average from its
        # cumulative duration counter is what is always there.
        Rule("TritonLatencyHigh", m.Query(
            f"sum {by} (rate(nv_inference_request_duration_us{{{sel}}}[5m])) / {ok} / 1e6 "
            f"> {_num(a.p99_latency_seconds)}", src), for_="10m",
             summary="Triton {{ $labels.model }}: average latency above " + f"{_num(a.p99_latency_seconds)}s",
             description="Average request duration {{ $value | humanizeDuration }} (no histogram without "
                         "histogram_latencies)."),
        Rule("TritonErrorRateHigh", m.Query(f"{failed} / ({ok} + {failed}) > {_num(a.error_rate)}", src),
             for_="10m", severity="critical",
             summary="Triton {{ $labels.model }}: more than " + _pct(a.error_rate) + " of requests fail",
             description="{{ $value | humanizePercentage }} of inference requests failed."),
    ]


def tei_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    sel = f'namespace="{cfg.serving.namespace}"'
    by = "by (namespace)"
    src = ("tei",)
    return [
        Rule("EmbeddingQueueDepthHigh", m.Query(f"avg {by} (te_queue_size{{{sel}}}) > {_num(a.queue_depth)}", src),
             for_="5m", summary="Embedding server: queue per replica above " + _num(a.queue_depth),
             description="{{ $value | humanize }} inputs queued per replica (te_queue_size)."),
        Rule("EmbeddingP99LatencyHigh", m.Query(
            f"histogram_quantile(0.99, sum by (namespace, le) (rate(te_request_duration_bucket{{{sel}}}[5m]))) "
            f"> {_num(a.p99_latency_seconds)}", src), for_="10m",
             summary="Embedding server: P99 latency above " + f"{_num(a.p99_latency_seconds)}s",
             description="P99 of te_request_duration is {{ $value | humanizeDuration }}."),
        Rule("EmbeddingErrorRateHigh", m.Query(
            f"sum {by} (rate(te_request_failure{{{sel}}}[5m])) / sum {by} (rate(te_request_count{{{sel}}}[5m])) "
            f"> {_num(a.error_rate)}", src), for_="10m", severity="critical",
             summary="Embedding server: more than " + _pct(a.error_rate) + " of requests fail",
             description="{{ $value | humanizePercentage }} of requests failed (te_request_failure)."),
    ]


def gpu_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    src = ("ai-platform",)
    return [
        Rule("GpuUtilizationLow", m.Query(
            f"avg by (pool, capacity) ({m.GPU_UTILIZATION}) < {_num(a.gpu_utilization_low)}", src), for_="2h",
             severity="info", summary="GPU pool {{ $labels.pool }} ({{ $labels.capacity }}) is mostly idle",
             description="Average GPU utilisation {{ $value | humanizePercentage }} for 2h: GPUs are paid for and "
                         "wasted (lower the pool's min, scale models down or share GPUs)."),
        Rule("GpuUtilizationHigh", m.Query(
            f"avg by (pool, capacity) ({m.GPU_UTILIZATION}) > {_num(a.gpu_utilization_high)}", src), for_="30m",
             summary="GPU pool {{ $labels.pool }} ({{ $labels.capacity }}) is saturated",
             description="Average GPU utilisation {{ $value | humanizePercentage }}: capacity is short (raise the "
                         "pool's max or the models' max replicas)."),
        Rule("GpuMemoryNearlyFull", m.Query(
            f"max by (node, pool, gpu, UUID, GPU_I_PROFILE, GPU_I_ID) ({m.GPU_MEMORY_USED}) "
            f"> {_num(a.gpu_memory_usage)}", src), for_="15m",
             summary="GPU {{ $labels.UUID }} {{ $labels.GPU_I_PROFILE }} on {{ $labels.node }} memory above "
                     + _pct(a.gpu_memory_usage),
             description="Framebuffer {{ $value | humanizePercentage }} used."),
        # DCGM_FI_DEV_XID_ERRORS holds the last XID seen: alert when it changes.
        Rule("GpuXidError", m.Query(
            f"(changes(DCGM_FI_DEV_XID_ERRORS[10m]) > 0) * on (namespace, pod) group_left (node) "
            f"{m.DCGM_EXPORTER_NODE}", ("dcgm", "ai-platform")), severity="critical",
             summary="GPU {{ $labels.gpu }} on {{ $labels.node }} reported XID {{ $labels.err_code }}",
             description="XID {{ $labels.err_code }} ({{ $labels.err_msg }}): check the node; XIDs 48, 63, 64, 74, "
                         "79, 94, 95 usually need a drain and a GPU reset or replacement."),
    ]


def spot_alerts(cfg: StackConfig) -> list[Rule]:
    taints = "|".join(SPOT_TAINTS)
    return [
        Rule("SpotInterruptionNotice", m.Query(
            f'max by (node, key) (kube_node_spec_taint{{key=~"{taints}"}}) '
            f"* on (node) group_left (pool, capacity) {m.NODE_POOL_INFO}", ("kube-state-metrics", "ai-platform")),
             summary="Node {{ $labels.node }} (pool {{ $labels.pool }}) is being interrupted",
             description="Taint {{ $labels.key }}: the node goes away within minutes; its model replicas restart "
                         "elsewhere (or on the on-demand fallback)."),
        Rule("SpotNodeNotReady", m.Query(
            f'max by (node) (kube_node_status_condition{{condition="Ready", status="true"}}) == 0 '
            f'and on (node) {m.NODE_POOL_INFO}{{capacity="spot"}}', ("kube-state-metrics", "ai-platform")),
             for_="2m", summary="Spot node {{ $labels.node }} is NotReady",
             description="A spot node stopped reporting: usually a preemption in progress."),
    ]


def workload_alerts(cfg: StackConfig) -> list[Rule]:
    namespaces = "|".join(workload_namespaces(cfg))
    return [
        Rule("PlatformPodCrashLooping", m.Query(
            f'max by (namespace, pod, container) (kube_pod_container_status_waiting_reason{{namespace=~"{namespaces}", '
            f'reason="CrashLoopBackOff"}}) == 1', ("kube-state-metrics",)), for_="5m", severity="critical",
             summary="{{ $labels.namespace }}/{{ $labels.pod }} ({{ $labels.container }}) is crash-looping",
             description="The container keeps restarting (model too large for its GPU, bad arguments, missing "
                         "weights or secret): see its logs."),
    ]


def rag_alerts(cfg: StackConfig) -> list[Rule]:
    a = cfg.observability.alerts
    sel = f'namespace="{cfg.rag.namespace}"'
    rules: list[Rule] = []
    limit = _num(a.vector_search_p99_seconds)
    engine = vector_source(cfg)
    search: m.Query | None = None
    if engine == "milvus":
        search = m.Query('histogram_quantile(0.99, sum by (namespace, le) '
                         f'(rate(milvus_proxy_sq_latency_bucket{{{sel}, '
                         f'query_type="search"}}[5m]))) / 1000 > {limit}', ("milvus",))
    elif engine == "qdrant":
        search = m.Query(
            f"histogram_quantile(0.99, sum by (namespace, le) ("
            f'rate(rest_responses_duration_seconds_bucket{{{sel}, endpoint=~".*/points/(search|query).*"}}[5m]) '
            f'or rate(grpc_responses_duration_seconds_bucket{{{sel}, endpoint=~".*(Search|Query).*"}}[5m]))) '
            f"> {limit}", ("qdrant",))
    elif engine == "weaviate":
        search = m.Query(f"histogram_quantile(0.99, sum by (namespace, le) (rate(queries_durations_ms_bucket{{{sel}}}"
                         f"[5m]))) / 1000 > {limit}", ("weaviate",))
    if search is not None:
        rules.append(Rule("VectorSearchLatencyHigh", search, for_="10m",
                          summary=f"{engine}: P99 vector search latency above {limit}s",
                          description="P99 search latency {{ $value | humanizeDuration }}: retrieval slows every "
                                      "RAG request."))
    if cfg.rag.full_text is not None:
        es = ("elasticsearch-exporter",)
        rules += [
            Rule("ElasticsearchClusterRed", m.Query(
                f'max by (namespace, cluster) (elasticsearch_cluster_health_status{{{sel}, color="red"}}) == 1', es),
                 for_="5m", severity="critical", summary="Elasticsearch cluster {{ $labels.cluster }} is red",
                 description="Primary shards are unassigned: searches fail for the affected indices."),
            Rule("ElasticsearchClusterYellow", m.Query(
                f'max by (namespace, cluster) (elasticsearch_cluster_health_status{{{sel}, color="yellow"}}) == 1',
                es), for_="30m", summary="Elasticsearch cluster {{ $labels.cluster }} is yellow",
                 description="Replica shards are unassigned: one more node loss loses data."),
        ]
    if cfg.rag.cache is not None:
        rules.append(Rule("RedisDown", m.Query(f"max by (namespace) (redis_up{{{sel}}}) == 0", ("redis-exporter",)),
                          for_="5m", summary="Redis (semantic cache) is down",
                          description="The exporter cannot reach Redis: cache misses on every request."))
    return rules


def _alternatives(values: list[str]) -> str:
    """A regex matching exactly these label values."""
    return "|".join(values)


def _absent_any(selectors: list[str]) -> str:
    """`absent(...)` for each selector, or-ed: fires (with the selector's labels) for every one without a target."""
    return " or ".join(f"absent({sel})" for sel in selectors)


def inference_gateway_alerts(cfg: StackConfig) -> list[Rule]:
    """Endpoint pickers, pools and gateway Envoys (inferenceGateway.enabled); see docs/observability.md."""
    a = cfg.observability.alerts
    pools = inference.pools(cfg)
    ns = cfg.serving.namespace
    epp = ("llm-d-epp",)
    rules: list[Rule] = []
    if pools:
        epps = _alternatives([p.epp for p in pools])
        names = _alternatives([p.name for p in pools])
        failure = cfg.inference_gateway.router.failure_mode
        rules += [
            Rule("InferencePickerUnavailable", m.Query(
                f'sum by (namespace, deployment) (kube_deployment_status_replicas_available{{namespace="{ns}", '
                f'deployment=~"{epps}"}}) < 1', ("kube-state-metrics",)), for_="5m", severity="critical",
                 summary="Endpoint picker {{ $labels.deployment }} has no available replica",
                 description="The pool has no endpoint picker: with failureMode FailOpen (inferenceGateway.router."
                             f"failureMode is {failure} unless the model overrides it) the gateway sends requests to "
                             "any endpoint of the pool (no load, KV-cache or prefix-aware routing, no priorities); "
                             "with FailClose it refuses them. Check the picker's pods and logs "
                             "(kubectl -n " + ns + " describe deploy {{ $labels.deployment }})."),
            Rule("InferencePickerMetricsMissing", m.Query(
                f'(max by (namespace, service) (up{{namespace="{ns}", service=~"{epps}"}}) == 0) or '
                + _absent_any([f'up{{namespace="{ns}", service="{p.epp}"}}' for p in pools]), ("prometheus",)),
                 for_="15m",
                 summary="Prometheus cannot scrape endpoint picker {{ $labels.service }}",
                 description="No metrics from the picker (target down, its ServiceMonitor not selected, or its "
                             "metrics token refused): the pool's dashboards and saturation alerts are blind. Check "
                             "the picker's ServiceMonitor carries ai-platform/scrape=true and its token Secret "
                             "exists (Prometheus > Status > Targets)."),
        ]
        steady = [p for p in pools if not p.scale_to_zero]
        if steady:
            rules.append(Rule("InferencePoolNoReadyEndpoints", m.Query(
                f'max by (namespace, name) (llm_d_epp_ready_endpoints{{namespace="{ns}", '
                f'name=~"{_alternatives([p.name for p in steady])}"}}) == 0', epp), for_="5m", severity="critical",
                summary="InferencePool {{ $labels.name }} has no ready endpoint",
                description="The picker sees no ready model server: every request for this pool fails or waits. "
                            "Check the model server pods (GPU capacity, spot preemption, image or weights "
                            "download) and the InferencePool's selector."))
        if inference.flow_control(cfg):
            sel = f'namespace="{ns}", inference_pool=~"{names}"'
            idle = [p for p in pools if p.scale_to_zero]
            if idle:
                # A pool scaled to zero has no endpoints on purpose; it is only a problem while requests wait.
                rules.append(Rule("InferencePoolNotScalingUp", m.Query(
                    f'(max by (namespace, name) (llm_d_epp_ready_endpoints{{namespace="{ns}", '
                    f'name=~"{_alternatives([p.name for p in idle])}"}}) == 0) and on (namespace, name) '
                    f'label_replace(sum by (namespace, inference_pool) (llm_d_epp_flow_control_queue_size{{{sel}}}) '
                    f'> 0, "name", "$1", "inference_pool", "(.+)")', epp), for_="10m", severity="critical",
                    summary="InferencePool {{ $labels.name }} holds requests but no endpoint started",
                    description="The pool scaled to zero and requests have waited 10 minutes in the picker's queue: "
                                "the autoscaler did not start a replica (KEDA ScaledObject, GPU capacity)."))
            rules += [
                Rule("InferencePoolSaturated", m.Query(
                    f"max by (namespace, inference_pool) (llm_d_epp_flow_control_pool_saturation{{{sel}}}) "
                    f"> {_num(a.pool_saturation)}", epp), for_=a.pool_saturation_for,
                     summary="InferencePool {{ $labels.inference_pool }} saturated (" + "{{ $value | humanize }})",
                     description="Saturation above " + _num(a.pool_saturation) + " for " + a.pool_saturation_for
                                 + ": the picker holds requests instead of dispatching them (lowest priority first). "
                                   "Raise the model's replicas.max or the GPU pool's max, or lower traffic."),
                Rule("InferenceFlowControlQueueGrowing", m.Query(
                    f"sum by (namespace, inference_pool) (llm_d_epp_flow_control_queue_size{{{sel}}}) "
                    f"> {_num(a.flow_control_queue)} and sum by (namespace, inference_pool) "
                    f"(delta(llm_d_epp_flow_control_queue_size{{{sel}}}[10m])) > 0", epp), for_="10m",
                     summary="InferencePool {{ $labels.inference_pool }}: flow-control queue above "
                             + _num(a.flow_control_queue) + " and growing",
                     description="Requests arrive faster than the pool dispatches them; they will time out or be "
                                 "rejected (429). Check the pool's saturation and replicas, and which tenants "
                                 "(fairness_id) fill the queue on the inference-gateway dashboard."),
                Rule("InferenceRequestsShed", m.Query(
                    f'sum by (namespace, inference_pool) (rate(llm_d_epp_flow_control_requests_total{{{sel}, '
                    f'outcome=~"Rejected.*|EvictedTTL|EvictedOther"}}[5m])) / sum by (namespace, inference_pool) '
                    f"(rate(llm_d_epp_flow_control_requests_total{{{sel}}}[5m])) > {_num(a.error_rate)}", epp),
                     for_="10m",
                     summary="InferencePool {{ $labels.inference_pool }}: more than " + _pct(a.error_rate)
                             + " of requests rejected or evicted",
                     description="{{ $value | humanizePercentage }} of requests leave the flow-control queue without "
                                 "reaching a model server (capacity limits, no endpoints, TTL): add capacity."),
            ]
    gw_ns = cfg.inference_gateway.namespace
    gw = f'namespace="{gw_ns}", job="{inference.GATEWAY_JOB}"'
    by = f"by (namespace, {inference.GATEWAY_LABEL})"
    istio = ("istio-proxy",)
    rules += [
        Rule("InferenceGatewayDown", m.Query(
            f"(sum {by} (up{{{gw}}}) == 0) or "
            + _absent_any([f'up{{{gw}, {inference.GATEWAY_LABEL}="{g}"}}' for g in inference.gateways(cfg)]),
            ("prometheus",)), for_="5m", severity="critical",
             summary="Gateway {{ $labels.gateway }} has no scrapeable Envoy",
             description="No Envoy pod of the Gateway answers: model traffic through it fails. Check the gateway "
                         f"Deployment in {gw_ns} and istiod (the Envoys get their configuration from it)."),
        Rule("InferenceGatewayErrorRateHigh", m.Query(
            f'sum {by} (rate(istio_requests_total{{{gw}, response_code=~"5.."}}[5m])) / sum {by} '
            f"(rate(istio_requests_total{{{gw}}}[5m])) > {_num(a.error_rate)}", istio), for_="10m",
             severity="critical",
             summary="Gateway {{ $labels.gateway }}: more than " + _pct(a.error_rate) + " of requests end in 5xx",
             description="{{ $value | humanizePercentage }} of the Gateway's responses are 5xx: 503 with no ready "
                         "endpoint or picker (FailClose), 504 past the timeout, 500 from the model servers. The "
                         "inference-gateway dashboard shows which response codes and pools."),
    ]
    return rules


def mesh_alerts(cfg: StackConfig) -> list[Rule]:
    """istiod and ztunnel (mesh.enabled); see docs/observability.md."""
    ns = cfg.mesh.namespace
    istiod = f'namespace="{ns}", job="{inference.ISTIOD_JOB}"'
    ztunnel = f'namespace="{ns}", job="{inference.ZTUNNEL_JOB}"'
    return [
        Rule("IstiodDown", m.Query(
            f"(sum by (namespace) (up{{{istiod}}}) == 0) or absent(up{{{istiod}}})", ("prometheus",)), for_="5m",
             severity="critical", summary="istiod is down",
             description="No istiod answers: new pods, endpoints, routes and certificates stop propagating (running "
                         "traffic continues with the last configuration until certificates expire). Check the "
                         f"istiod Deployment in {ns} and its logs."),
        Rule("IstiodPushErrors", m.Query(
            f'sum by (namespace, type) (rate(pilot_xds_pushes{{{istiod}, type=~".+_senderr"}}[5m])) > 0 or '
            f"sum by (namespace, type) (increase(pilot_total_xds_rejects{{{istiod}}}[10m])) > 0", ("istiod",)),
             for_="15m", summary="istiod: configuration pushes fail or are rejected ({{ $labels.type }})",
             description="Envoys or ztunnel refuse or do not receive istiod's configuration: routes, policies or "
                         "endpoints are stale. istiod's logs name the proxy and the rejected resource (usually a "
                         "conflicting or invalid HTTPRoute, policy or EnvoyFilter)."),
        Rule("ZtunnelDown", m.Query(f"max by (namespace, pod) (up{{{ztunnel}}}) == 0", ("prometheus",)), for_="5m",
             severity="critical", summary="ztunnel {{ $labels.pod }} is down",
             description="Pods of ambient namespaces on this node lose their mesh traffic (mTLS and authorization "
                         "go through ztunnel). Check the ztunnel DaemonSet pod and the istio-cni pod on that node."),
    ]


def rule_groups(cfg: StackConfig, plan: CapacityPlan) -> list[RuleGroup]:
    """Every rule group the config calls for (empty groups are left out)."""
    sources = engine_sources(cfg)
    groups: list[RuleGroup] = []
    if cfg.node_pools.gpu:
        groups.append(RuleGroup("nodes", tuple(node_rules(cfg))))
        groups.append(RuleGroup("cost", tuple(cost_rules(cfg, plan))))
    if gpu_metrics(cfg):
        groups.append(RuleGroup("gpu-recording", tuple(gpu_recording_rules(cfg))))
        groups.append(RuleGroup("gpu", tuple(gpu_alerts(cfg))))
    if any(p.capacity == "spot" for p in cfg.node_pools.gpu):
        groups.append(RuleGroup("spot", tuple(spot_alerts(cfg))))
    for source, build in (("vllm", vllm_alerts), ("tgi", tgi_alerts), ("triton", triton_alerts), ("tei", tei_alerts)):
        if source in sources:
            groups.append(RuleGroup(f"serving-{source}", tuple(build(cfg))))
    if workload_namespaces(cfg):
        groups.append(RuleGroup("workloads", tuple(workload_alerts(cfg))))
    rag = rag_alerts(cfg)
    if rag:
        groups.append(RuleGroup("rag", tuple(rag)))
    if inference.enabled(cfg):
        groups.append(RuleGroup("inference-gateway", tuple(inference_gateway_alerts(cfg))))
    if inference.mesh_enabled(cfg):
        groups.append(RuleGroup("mesh", tuple(mesh_alerts(cfg))))
    return groups
