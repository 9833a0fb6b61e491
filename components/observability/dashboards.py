"""Grafana dashboards, generated from the config with Grafana's grafana-foundation-sdk (Grafana 11.6 types).

Pure functions (no Pulumi). Each dashboard is built with the SDK's typed builders, encoded to Grafana's
dashboard JSON model, then given stable panel ids and query refIds (the SDK leaves both to the caller). The
Observability component writes each one into a ConfigMap that Grafana's dashboard sidecar loads.

Dashboards exist only for what the config deploys:

- **Inference** (a row per engine with metrics: vLLM, TGI, Triton, TEI): QPS, P50/P90/P99 end-to-end latency,
  time to first token, tokens/s, queue depth, KV cache, preemptions, errors, per model (variable `model`).
- **GPU fleet** (DCGM exporter on GPU pools): utilisation, memory, temperature, MIG slices, XIDs, per pool and
  capacity type (variable `pool`).
- **RAG** (vector store, Elasticsearch, Redis as configured): vector search latency, indexing rate, search rate,
  Elasticsearch health, cache hit ratio.
- **Cost** (GPU pools): GPUs by pool and capacity type and their cost per hour from the catalog price.
- **Inference gateway** (inferenceGateway / mesh): a row per InferencePool (requests and errors, time to first
  token, latency per tenant and priority, flow-control queue and saturation, ready endpoints, routing decisions per
  endpoint, prefix-cache hit rate, KV cache), a row for the gateway Envoys (responses by code, P99 latency, 429s,
  5xx ratio) and one for the mesh (istiod pushes and errors, ztunnel connections).
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass, field
from typing import Any, TypeVar

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

from config.catalog import PRICES_AS_OF
from config.models import StackConfig

from . import inference as ig
from . import metrics as m
from .charts import PROMETHEUS_UID
from .rules import engine_sources, gpu_metrics, vector_source

PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
TAGS = ["ai-platform"]
RATE = "$__rate_interval"


@dataclass
class Target:
    """One panel query: PromQL, its sources, and the legend."""

    query: m.Query
    legend: str = ""


@dataclass
class Dashboard:
    """A generated dashboard: its JSON model and every query in it (for validation)."""

    uid: str
    title: str
    model: dict[str, Any]
    queries: list[m.Query] = field(default_factory=list)

    def json(self) -> str:
        return json.dumps(self.model, indent=1, sort_keys=True)


_Panel = TypeVar("_Panel", timeseries.Panel, stat.Panel)


class _Board:
    """Collects panels through the SDK builders and remembers every query."""

    def __init__(self, uid: str, title: str, description: str):
        self.uid, self.title = uid, title
        self.builder = (dashboard.Dashboard(title).uid(uid).tags(TAGS).description(description).refresh("30s")
                        .time("now-6h", "now").timezone("utc").editable())
        self.queries: list[m.Query] = []

    def variable(self, name: str, label: str, metric_selector: m.Query, label_name: str) -> None:
        """A multi-value query variable from label_values(<selector>, <label>)."""
        self.queries.append(metric_selector)
        self.builder = self.builder.with_variable(
            dashboard.QueryVariable(name).label(label).datasource(PROMETHEUS)
            .query(f"label_values({metric_selector.expr}, {label_name})").multi(True).include_all(True)
            .all_value(".*").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))

    def row(self, title: str) -> None:
        self.builder = self.builder.with_row(dashboard.Row(title))

    def _targets(self, panel: _Panel, targets: list[Target]) -> _Panel:
        for target in targets:
            self.queries.append(target.query)
            query = prometheus.Dataquery().expr(target.query.expr).datasource(PROMETHEUS)
            if target.legend:
                query = query.legend_format(target.legend)
            panel = panel.with_target(query)
        return panel

    def timeseries(self, title: str, targets: list[Target], unit: str, description: str = "", span: int = 12,
                   stack: bool = False) -> None:
        panel = (timeseries.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit)
                 .span(span).height(8).fill_opacity(10 if not stack else 40))
        self.builder = self.builder.with_panel(self._targets(panel, targets))

    def stat(self, title: str, targets: list[Target], unit: str, description: str = "", span: int = 6,
             decimals: int | None = None) -> None:
        panel = (stat.Panel().title(title).description(description).datasource(PROMETHEUS).unit(unit).span(span)
                 .height(5))
        if decimals is not None:
            panel = panel.decimals(decimals)
        self.builder = self.builder.with_panel(self._targets(panel, targets))

    def build(self) -> Dashboard:
        model = json.loads(JSONEncoder(sort_keys=True).encode(self.builder.build()))
        _finish(model)
        return Dashboard(self.uid, self.title, model, self.queries)


def _finish(model: dict[str, Any]) -> None:
    """Stable ids (1..n in layout order) and refIds (A, B, ...) the SDK leaves unset."""
    for index, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = index
        for ref, target in zip(string.ascii_uppercase, panel.get("targets", []), strict=False):
            target["refId"] = ref
    model["version"] = 1


def _q(expr: str, *sources: str) -> m.Query:
    return m.Query(expr, tuple(sources))


def _src(source: str) -> str:
    return f"{source} {m.source_version(source)}"


# ------------------------------------------------------------------------------------------ inference


def _quantiles(metric: str, sel: str, by: str, source: str, scale: str = "") -> list[Target]:
    return [Target(_q(f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}[{RATE}]))){scale}",
                      source), f"{{{{{by.split(', ')[0]}}}}} p{int(q * 100)}")
            for q in (0.5, 0.9, 0.99)]


def inference(cfg: StackConfig) -> Dashboard | None:
    sources = engine_sources(cfg)
    if not sources:
        return None
    ns = cfg.serving.namespace
    board = _Board("ai-platform-inference", "AI platform / Inference",
                   "Model servers per model: traffic, latency, time to first token, tokens, queues, KV cache.")
    board.variable("model", "Model", _q(f'up{{namespace="{ns}"}}', "prometheus"), "model")
    sel = f'namespace="{ns}", model=~"$model"'
    if "vllm" in sources:
        v = "vllm"
        board.row(f"vLLM ({_src(v)})")
        board.timeseries("Requests per second", [Target(_q(
            f"sum by (model) (rate(vllm:request_success_total{{{sel}}}[{RATE}]))", v), "{{model}}")], "reqps",
            "Finished requests per second (vllm:request_success_total).")
        board.timeseries("End-to-end latency P50 / P90 / P99",
                         _quantiles("vllm:e2e_request_latency_seconds", sel, "model", v), "s")
        board.timeseries("Time to first token P50 / P90 / P99",
                         _quantiles("vllm:time_to_first_token_seconds", sel, "model", v), "s")
        board.timeseries("Tokens per second", [
            Target(_q(f"sum by (model) (rate(vllm:generation_tokens_total{{{sel}}}[{RATE}]))", v),
                   "{{model}} generated"),
            Target(_q(f"sum by (model) (rate(vllm:prompt_tokens_total{{{sel}}}[{RATE}]))", v), "{{model}} prompt"),
        ], "short")
        board.timeseries("Queue depth and running requests", [
            Target(_q(f"sum by (model) (vllm:num_requests_waiting{{{sel}}})", v), "{{model}} waiting"),
            Target(_q(f"sum by (model) (vllm:num_requests_running{{{sel}}})", v), "{{model}} running"),
        ], "short")
        board.timeseries("KV-cache usage (max over replicas)", [Target(_q(
            f"max by (model) (vllm:kv_cache_usage_perc{{{sel}}})", v), "{{model}}")], "percentunit")
        board.timeseries("Preemptions per minute", [Target(_q(
            f"sum by (model) (rate(vllm:num_preemptions_total{{{sel}}}[{RATE}])) * 60", v), "{{model}}")], "short")
        board.timeseries("Failed requests ratio", [Target(_q(
            f'sum by (model) (rate(vllm:request_success_total{{{sel}, finished_reason="error"}}[{RATE}])) '
            f"/ sum by (model) (rate(vllm:request_success_total{{{sel}}}[{RATE}]))", v), "{{model}}")],
            "percentunit")
    if "tgi" in sources:
        t = "tgi"
        board.row(f"TGI ({_src(t)})")
        board.timeseries("Requests per second", [Target(_q(
            f"sum by (model) (rate(tgi_request_count{{{sel}}}[{RATE}]))", t), "{{model}}")], "reqps")
        board.timeseries("Latency P50 / P90 / P99", _quantiles("tgi_request_duration", sel, "model", t), "s")
        board.timeseries("Generated tokens per second", [Target(_q(
            f"sum by (model) (rate(tgi_request_generated_tokens_sum{{{sel}}}[{RATE}]))", t), "{{model}}")], "short")
        board.timeseries("Queue and batch size", [
            Target(_q(f"sum by (model) (tgi_queue_size{{{sel}}})", t), "{{model}} queued"),
            Target(_q(f"sum by (model) (tgi_batch_current_size{{{sel}}})", t), "{{model}} batch"),
        ], "short")
    if "triton" in sources:
        r = "triton"
        board.row(f"Triton ({_src(r)})")
        ok = f"sum by (model) (rate(nv_inference_request_success{{{sel}}}[{RATE}]))"
        board.timeseries("Requests per second", [Target(_q(ok, r), "{{model}}")], "reqps")
        board.timeseries("Average latency", [Target(_q(
            f"sum by (model) (rate(nv_inference_request_duration_us{{{sel}}}[{RATE}])) / {ok} / 1e6", r),
            "{{model}}")], "s", "Triton exports latency histograms only with histogram_latencies=true.")
        board.timeseries("Pending requests", [Target(_q(
            f"sum by (model) (nv_inference_pending_request_count{{{sel}}})", r), "{{model}}")], "short")
    if "tei" in sources:
        e = "tei"
        esel = f'namespace="{ns}"'
        board.row(f"Embeddings ({_src(e)})")
        board.timeseries("Requests per second", [Target(_q(
            f"sum by (method) (rate(te_request_count{{{esel}}}[{RATE}]))", e), "{{method}}")], "reqps")
        board.timeseries("Latency P50 / P90 / P99", [
            Target(_q(f"histogram_quantile({q}, sum by (le) (rate(te_request_duration_bucket{{{esel}}}[{RATE}])))", e),
                   f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)], "s")
        board.timeseries("Queue", [Target(_q(f"sum (te_queue_size{{{esel}}})", e), "queued")], "short")
    return board.build()


# ------------------------------------------------------------------------------------------- GPU fleet


def gpu_fleet(cfg: StackConfig) -> Dashboard | None:
    if not gpu_metrics(cfg):
        return None
    board = _Board("ai-platform-gpu-fleet", "AI platform / GPU fleet",
                   f"DCGM exporter ({_src('dcgm')}) joined to node pools through kube-state-metrics node labels.")
    board.variable("pool", "Pool", _q(m.NODE_POOL_INFO, "ai-platform"), "pool")
    p = 'pool=~"$pool"'
    a = "ai-platform"
    board.row("Pools")
    board.stat("GPUs by pool and capacity type", [Target(_q(
        f"sum by (pool, capacity) ({m.POOL_GPUS}{{{p}}})", a), "{{pool}} {{capacity}}")], "short", span=12)
    board.stat("MIG slices by profile", [Target(_q(
        f'count by (pool, GPU_I_PROFILE) ({m.GPU_UTILIZATION}{{{p}, GPU_I_PROFILE!=""}})', a),
        "{{pool}} {{GPU_I_PROFILE}}")], "short", span=12)
    board.timeseries("Utilisation by pool and capacity type", [Target(_q(
        f"avg by (pool, capacity) ({m.GPU_UTILIZATION}{{{p}}})", a), "{{pool}} {{capacity}}")], "percentunit",
        "DCGM_FI_DEV_GPU_UTIL on whole GPUs, DCGM_FI_PROF_GR_ENGINE_ACTIVE on MIG slices.")
    board.timeseries("Memory used by pool and capacity type", [Target(_q(
        f"avg by (pool, capacity) ({m.GPU_MEMORY_USED}{{{p}}})", a), "{{pool}} {{capacity}}")], "percentunit")
    board.row("GPUs and slices")
    board.timeseries("Utilisation per GPU or slice", [Target(_q(
        f"avg by (node, gpu, GPU_I_PROFILE, GPU_I_ID) ({m.GPU_UTILIZATION}{{{p}}})", a),
        "{{node}} gpu{{gpu}} {{GPU_I_PROFILE}} {{GPU_I_ID}}")], "percentunit")
    board.timeseries("Memory used per GPU or slice", [Target(_q(
        f"max by (node, gpu, GPU_I_PROFILE, GPU_I_ID) ({m.GPU_MEMORY_USED}{{{p}}})", a),
        "{{node}} gpu{{gpu}} {{GPU_I_PROFILE}} {{GPU_I_ID}}")], "percentunit")
    board.timeseries("Temperature", [Target(_q(
        f"max by (node, gpu) ({m.GPU_TEMPERATURE}{{{p}}})", a), "{{node}} gpu{{gpu}}")], "celsius")
    board.timeseries("XID errors", [Target(_q(
        "sum by (err_code, err_msg) (changes(DCGM_FI_DEV_XID_ERRORS[$__rate_interval]))", "dcgm"),
        "XID {{err_code}} {{err_msg}}")], "short", "DCGM_FI_DEV_XID_ERRORS holds the last XID: changes are events.")
    return board.build()


# ------------------------------------------------------------------------------------------------- RAG


def rag(cfg: StackConfig) -> Dashboard | None:
    engine = vector_source(cfg)
    if engine is None and cfg.rag.full_text is None and cfg.rag.cache is None:
        return None
    ns = cfg.rag.namespace
    sel = f'namespace="{ns}"'
    board = _Board("ai-platform-rag", "AI platform / RAG data layer",
                   "Vector search latency and throughput, indexing, Elasticsearch health, cache.")
    if engine == "milvus":
        s = "milvus"
        board.row(f"Milvus ({_src(s)})")
        board.timeseries("Vector search latency P50 / P90 / P99", [Target(_q(
            f'histogram_quantile({q}, sum by (le) (rate(milvus_proxy_sq_latency_bucket{{{sel}, query_type="search"}}'
            f"[{RATE}]))) / 1000", s), f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)], "s")
        board.timeseries("Vectors searched and inserted per second", [
            Target(_q(f"sum (rate(milvus_proxy_search_vectors_count{{{sel}}}[{RATE}]))", s), "searched"),
            Target(_q(f"sum (rate(milvus_proxy_insert_vectors_count{{{sel}}}[{RATE}]))", s), "inserted (indexing)"),
        ], "short")
    elif engine == "qdrant":
        s = "qdrant"
        search = f'{sel}, endpoint=~".*/points/(search|query).*"'
        board.row(f"Qdrant ({_src(s)})")
        board.timeseries("Vector search latency P50 / P90 / P99", [Target(_q(
            f"histogram_quantile({q}, sum by (le) (rate(rest_responses_duration_seconds_bucket{{{search}}}[{RATE}])))",
            s), f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)], "s")
        board.timeseries("Searches per second", [Target(_q(
            f"sum (rate(rest_responses_total{{{search}}}[{RATE}]))", s), "REST searches")], "reqps")
        board.timeseries("Vectors stored and indexing rate", [
            Target(_q(f"sum (collections_vector_total{{{sel}}})", s), "vectors"),
            Target(_q(f"sum (deriv(collections_vector_total{{{sel}}}[{RATE}]))", s), "added per second"),
        ], "short")
    elif engine == "weaviate":
        s = "weaviate"
        board.row(f"Weaviate ({_src(s)})")
        board.timeseries("Query latency P50 / P90 / P99", [Target(_q(
            f"histogram_quantile({q}, sum by (le) (rate(queries_durations_ms_bucket{{{sel}}}[{RATE}]))) / 1000", s),
            f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)], "s")
        board.timeseries("Batch imports per second (indexing)", [Target(_q(
            f"sum (rate(batch_durations_ms_count{{{sel}}}[{RATE}]))", s), "batches")], "short")
    if cfg.rag.full_text is not None:
        s = "elasticsearch-exporter"
        board.row(f"Elasticsearch ({_src(s)})")
        board.stat("Cluster health", [Target(_q(
            f"max by (color) (elasticsearch_cluster_health_status{{{sel}}}) == 1", s), "{{color}}")], "none")
        board.stat("Unassigned shards", [Target(_q(
            f"max (elasticsearch_cluster_health_unassigned_shards{{{sel}}})", s), "unassigned")], "short")
        board.timeseries("Indexing rate", [Target(_q(
            f"sum (rate(elasticsearch_indices_indexing_index_total{{{sel}}}[{RATE}]))", s), "docs/s")], "short")
        board.timeseries("Average search latency", [Target(_q(
            f"sum (rate(elasticsearch_indices_search_query_time_seconds{{{sel}}}[{RATE}])) "
            f"/ sum (rate(elasticsearch_indices_search_query_total{{{sel}}}[{RATE}]))", s), "avg")], "s")
    if cfg.rag.cache is not None:
        s = "redis-exporter"
        board.row(f"Semantic cache ({_src(s)})")
        hits = f"sum (rate(redis_keyspace_hits_total{{{sel}}}[{RATE}]))"
        misses = f"sum (rate(redis_keyspace_misses_total{{{sel}}}[{RATE}]))"
        board.timeseries("Hit ratio", [Target(_q(f"{hits} / ({hits} + {misses})", s), "hits")], "percentunit")
        board.timeseries("Memory used", [Target(_q(f"sum (redis_memory_used_bytes{{{sel}}})", s), "used")], "bytes")
    return board.build()


# ------------------------------------------------------------------------------------------------ cost


def cost(cfg: StackConfig) -> Dashboard | None:
    if not cfg.node_pools.gpu:
        return None
    a = "ai-platform"
    note = (f"Nodes of each GPU pool x the catalog price of one node-hour for its capacity type (prices as of "
            f"{PRICES_AS_OF}; spot prices are indicative).")
    board = _Board("ai-platform-cost", "AI platform / GPU cost", note)
    usd = m.POOL_USD_PER_HOUR
    board.stat("Cost per hour", [Target(_q(f"sum ({usd})", a), "USD/h")], "currencyUSD", note, decimals=2)
    board.stat("Projected per month (730 h)", [Target(_q(f"sum ({usd}) * 730", a), "USD/month")], "currencyUSD",
               note, decimals=0)
    board.stat("GPUs running", [Target(_q(f"sum ({m.POOL_GPUS})", a), "GPUs")], "short")
    board.stat("Spot share of cost", [Target(_q(f'sum ({usd}{{capacity="spot"}}) / sum ({usd})', a), "spot")],
               "percentunit")
    board.timeseries("Cost per hour by pool and capacity type", [Target(_q(
        f"sum by (pool, capacity) ({usd})", a), "{{pool}} {{capacity}}")], "currencyUSD", note, stack=True)
    board.timeseries("GPUs by pool and capacity type", [Target(_q(
        f"sum by (pool, capacity) ({m.POOL_GPUS})", a), "{{pool}} {{capacity}}")], "short", stack=True)
    return board.build()


# ----------------------------------------------------------------------------------- inference gateway


def _pool_row(board: _Board, cfg: StackConfig, pool: ig.Pool) -> None:
    """One InferencePool: what its endpoint picker sees and decides, and its model servers' prefix-cache hits."""
    e = "llm-d-epp"
    ns = cfg.serving.namespace
    # Series the picker labels with its pool carry `name` / `inference_pool`; the rest are told apart by the picker's
    # Service (one picker per pool), the `service` target label of the chart's ServiceMonitor.
    sel = f'namespace="{ns}", service="{pool.epp}"'
    fc = f'namespace="{ns}", inference_pool="{pool.name}"'
    pool_sel = f'namespace="{ns}", name="{pool.name}"'
    share = f"{pool.weight}% of {pool.model}" if pool.weight < 100 else pool.model
    board.row(f"Pool {pool.name} ({share}; picker {pool.epp}, {_src(e)})")
    board.timeseries("Requests and errors per second", [
        Target(_q(f"sum by (target_model_name) (rate(llm_d_epp_request_total{{{sel}}}[{RATE}]))", e),
               "{{target_model_name}}"),
        Target(_q(f"sum by (error_code) (rate(llm_d_epp_request_error_total{{{sel}}}[{RATE}]))", e),
               "error {{error_code}}"),
    ], "reqps", "Requests the picker handled, by the model (or adapter) they target, and errors by code.", span=8)
    board.timeseries("Time to first token P50 / P90 / P99", [Target(_q(
        f"histogram_quantile({q}, sum by (le) (rate(llm_d_epp_request_ttft_seconds_bucket{{{sel}}}[{RATE}])))", e),
        f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)], "s", span=8)
    board.timeseries("Latency P90 per tenant and priority", [Target(_q(
        f"histogram_quantile(0.9, sum by (fairness_id, priority, le) "
        f"(rate(llm_d_epp_request_duration_seconds_bucket{{{sel}}}[{RATE}])))", e),
        "{{fairness_id}} (priority {{priority}})")], "s",
        "End-to-end latency per flow (fairness_id: the tenant) and InferenceObjective priority.", span=8)
    if ig.flow_control(cfg):
        board.timeseries("Flow-control queue per tenant and priority", [Target(_q(
            f"sum by (fairness_id, priority) (llm_d_epp_flow_control_queue_size{{{fc}}})", e),
            "{{fairness_id}} (priority {{priority}})")], "short",
            "Requests the picker holds while the pool is saturated; higher priorities leave first.", span=8)
        board.timeseries("Saturation", [Target(_q(
            f"max (llm_d_epp_flow_control_pool_saturation{{{fc}}})", e), "saturation")], "short",
            "1 is the dispatch set point: above it requests wait in the queue (an empty pool reads 1).", span=8)
    board.timeseries("Ready endpoints", [Target(_q(f"max (llm_d_epp_ready_endpoints{{{pool_sel}}})", e), "ready")],
                     "short", span=8)
    board.timeseries("Routing decisions per endpoint", [Target(_q(
        f"sum by (endpoint_name, status) (rate(llm_d_epp_scheduler_attempts_total{{{sel}}}[{RATE}]))", e),
        "{{endpoint_name}} {{status}}")], "reqps",
        "Which model-server pod the scheduler picked (status: success or failure).", span=8)
    servers = f'namespace="{ns}", model="{pool.server}"'
    hits = [Target(_q(
        f"sum (rate(vllm:prefix_cache_hits_total{{{servers}}}[{RATE}])) "
        f"/ sum (rate(vllm:prefix_cache_queries_total{{{servers}}}[{RATE}]))", "vllm"),
        "model servers: cached / prompt tokens")]
    if pool.prefix_cache == "approximate":
        hits.append(Target(_q(
            f"sum (rate(llm_d_epp_prefix_indexer_hit_ratio_sum{{{sel}}}[{RATE}])) "
            f"/ sum (rate(llm_d_epp_prefix_indexer_hit_ratio_count{{{sel}}}[{RATE}]))", e),
            "picker's prefix index: matched share"))
    board.timeseries("Prefix-cache hit rate", hits, "percentunit",
                     f"vLLM's own prefix-cache hits ({_src('vllm')}) and, with approximate prefix-cache scoring, the "
                     "share of each prompt the picker's index matched.", span=8)
    board.timeseries("KV-cache utilisation (pool average)", [
        Target(_q(f"max (llm_d_epp_average_kv_cache_utilization{{{pool_sel}}})", e), "KV cache"),
    ], "percentunit", "Average over the pool's endpoints, as the picker scrapes them.", span=8)
    board.timeseries("Model-server queue (average per endpoint)", [
        Target(_q(f"max (llm_d_epp_average_queue_size{{{pool_sel}}})", e), "waiting"),
        Target(_q(f"max (llm_d_epp_average_running_requests{{{pool_sel}}})", e), "running"),
    ], "short", span=8)


def inference_gateway(cfg: StackConfig) -> Dashboard | None:
    if not ig.enabled(cfg) and not ig.mesh_enabled(cfg):
        return None
    board = _Board("ai-platform-inference-gateway", "AI platform / Inference gateway",
                   "Per InferencePool: the endpoint picker's queue, saturation, routing and prefix-cache hits; the "
                   "gateway Envoys; istiod and ztunnel.")
    if ig.enabled(cfg):
        for pool in ig.pools(cfg):
            _pool_row(board, cfg, pool)
        i = "istio-proxy"
        gw = f'namespace="{cfg.inference_gateway.namespace}", job="{ig.GATEWAY_JOB}"'
        g = ig.GATEWAY_LABEL
        board.row(f"Gateways ({', '.join(ig.gateways(cfg))}; Istio {m.ISTIO_VERSION})")
        board.timeseries("Responses by code", [Target(_q(
            f"sum by ({g}, response_code) (rate(istio_requests_total{{{gw}}}[{RATE}]))", i),
            f"{{{{{g}}}}} {{{{response_code}}}}")], "reqps", span=12, stack=True)
        board.timeseries("P99 latency", [Target(_q(
            f"histogram_quantile(0.99, sum by ({g}, le) (rate(istio_request_duration_milliseconds_bucket{{{gw}}}"
            f"[{RATE}])))", i), f"{{{{{g}}}}}")], "ms", span=12)
        board.timeseries("Rate-limited requests (429)", [Target(_q(
            f'sum by ({g}) (rate(istio_requests_total{{{gw}, response_code="429"}}[{RATE}]))', i), f"{{{{{g}}}}}")],
            "reqps", "Refused by the edge's per-pod limit (edge.rateLimit) or by the picker's flow control.", span=12)
        board.timeseries("5xx ratio", [Target(_q(
            f'sum by ({g}) (rate(istio_requests_total{{{gw}, response_code=~"5.."}}[{RATE}])) '
            f"/ sum by ({g}) (rate(istio_requests_total{{{gw}}}[{RATE}]))", i), f"{{{{{g}}}}}")],
            "percentunit", span=12)
    if ig.mesh_enabled(cfg):
        d, z = "istiod", "ztunnel"
        istiod = f'namespace="{cfg.mesh.namespace}", job="{ig.ISTIOD_JOB}"'
        zt = f'namespace="{cfg.mesh.namespace}", job="{ig.ZTUNNEL_JOB}"'
        board.row(f"Mesh (istiod, ztunnel; Istio {m.ISTIO_VERSION})")
        board.timeseries("istiod pushes by type", [Target(_q(
            f'sum by (type) (rate(pilot_xds_pushes{{{istiod}, type!~".+_senderr"}}[{RATE}]))', d), "{{type}}")],
            "ops", span=8)
        board.timeseries("istiod push errors and rejects", [
            Target(_q(f'sum by (type) (rate(pilot_xds_pushes{{{istiod}, type=~".+_senderr"}}[{RATE}]))', d),
                   "{{type}}"),
            Target(_q(f"sum by (type) (rate(pilot_total_xds_rejects{{{istiod}}}[{RATE}]))", d), "rejected {{type}}"),
            Target(_q(f"sum (rate(pilot_total_xds_internal_errors{{{istiod}}}[{RATE}]))", d), "internal errors"),
        ], "ops", span=8)
        board.timeseries("Connected proxies and convergence P99", [
            Target(_q(f"sum (pilot_xds{{{istiod}}})", d), "connected"),
            Target(_q(f"histogram_quantile(0.99, sum by (le) (rate(pilot_proxy_convergence_time_bucket{{{istiod}}}"
                      f"[{RATE}])))", d), "convergence p99 (s)"),
        ], "short", span=8)
        board.timeseries("ztunnel connections per second", [
            Target(_q(f"sum (rate(istio_tcp_connections_opened_total{{{zt}}}[{RATE}]))", z), "opened"),
            Target(_q(f"sum (rate(istio_tcp_connections_closed_total{{{zt}}}[{RATE}]))", z), "closed"),
            Target(_q(f"sum (rate(istio_tcp_connections_failed_total{{{zt}}}[{RATE}]))", z), "failed"),
        ], "ops", span=12)
        board.timeseries("ztunnel open sockets per node", [Target(_q(
            f"sum by (pod) (istio_tcp_sockets_open{{{zt}}})", z), "{{pod}}")], "short", span=12)
    return board.build()


def dashboards(cfg: StackConfig) -> list[Dashboard]:
    """Every dashboard the config calls for."""
    return [d for d in (inference(cfg), gpu_fleet(cfg), rag(cfg), cost(cfg), inference_gateway(cfg))
            if d is not None]
