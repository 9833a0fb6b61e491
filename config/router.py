"""The endpoint picker (EPP) of every InferencePool, as plain data: llm-d router v0.10.0.

Pure functions of the typed config; `components/inference/router.py` turns them into objects. Every upstream fact
below was read in llm-d/llm-d-router at tag v0.10.0 (paths relative to that repository):

- Plugin types and their parameters: pkg/epp/framework/plugins/scheduling/scorer/{queuedepth/queue.go
  `queue-scorer`, kvcacheutilization/kvcache_utilization.go `kv-cache-utilization-scorer`, prefix/plugin.go
  `prefix-cache-scorer`, loraaffinity/lora_affinity.go `lora-affinity-scorer`}; the precise pipeline from
  deploy/config/epp-precise-prefix-cache-config.yaml and the READMEs of requestcontrol/dataproducer/
  {preciseprefixcache (`precise-prefix-cache-producer`, `kvEventsConfig`), tokenizer (`token-producer`, `vllm.url`)}
  (the `precise-prefix-cache-scorer` type is deprecated there in favour of producer + `prefix-cache-scorer`).
- Data layer: `metrics-data-source` / `core-metrics-extractor` (config/charts/routerlib templates/_config.yaml, the
  chart's default-plugins.yaml), `endpoint-notification-source` (datalayer/source/notifications).
- Flow control: a feature gate, off by default (cmd/epp/runner/runner.go `RegisterFeatureGate(flowcontrol.FeatureGate,
  false)`, pkg/epp/flowcontrol/config.go `FeatureGate = "flowControl"`; docs/architecture.md "FlowControl").
- Objectives: the EPP reads the objective from the `x-llm-d-inference-objective` header (pkg/epp/metadata/consts.go)
  and looks it up by *name* among the InferenceObjectives of its pool's namespace whose `poolRef` is its pool
  (pkg/epp/datastore/datastore.go ObjectiveGet, pkg/epp/controller/inferenceobjective_reconciler.go). Names are
  unique per namespace, so one object cannot serve two pools: each pool gets its own, named `objective_key`.
- KV events: the producer dials every pool pod at `tcp://<pod IP>:5557` (pkg/kvevents/pool.go
  DefaultPodReconcilerConfig SocketPort 5557, topic filter `kv@`, topics `kv@<pod>@<model>` per
  pkg/kvevents/engineadapter/common.go); vLLM publishes with `--kv-events-config` (see config/engines.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final, Literal

from .capacity import Served, served_models
from .endpoints import endpoints
from .engines import KV_EVENTS_PORT, KV_EVENTS_TOPIC_PREFIX
from .inference import EPP_ENGINES, enabled, epp_name, pool_name, routing_table
from .models import Adapter, Resources, RouterScorers, StackConfig

EPP_VERSION: Final = "v0.10.0"
EPP_IMAGE: Final = f"ghcr.io/llm-d/llm-d-router-endpoint-picker:{EPP_VERSION}"
"""config/charts/llm-d-router-gateway/values.yaml @ v0.10.0 (router.epp.image registry/repository/tag; the routerlib
default is tag `main` with pullPolicy Always, which the platform never ships)."""
EPP_USER: Final = 65532
"""Dockerfile.epp @ v0.10.0: `USER 65532:65532` (distroless nonroot)."""
EXT_PROC_PORT: Final = 9002
HEALTH_PORT: Final = 9003
METRICS_PORT: Final = 9090
"""routerlib templates/_deployment.yaml and _service.yaml @ v0.10.0: grpc 9002 (ext_proc), grpc-health 9003,
metrics 9090."""
POOL_GROUP: Final = "inference.networking.k8s.io"
OBJECTIVE_API: Final = "llm-d.ai/v1alpha2"
OBJECTIVE_HEADER: Final = "x-llm-d-inference-objective"
"""The request header the EPP reads the objective from (pkg/epp/metadata/consts.go ObjectiveKey @ v0.10.0)."""
CONFIG_FILE: Final = "plugins.yaml"
EPP_COMPONENT: Final = "endpoint-picker"
SCORER_TYPES: Final = {"queue": "queue-scorer", "kv_cache": "kv-cache-utilization-scorer",
                       "prefix_cache": "prefix-cache-scorer", "lora_affinity": "lora-affinity-scorer"}
PRECISE_PRODUCER: Final = "precise-prefix-cache-producer"
TOKEN_PRODUCER: Final = "token-producer"


@dataclass(frozen=True)
class RouterSettings:
    """The effective picker settings of one pool: `inferenceGateway.router`, with the model's `router` override."""

    failure_mode: Literal["FailOpen", "FailClose"]
    prefix_cache: Literal["approximate", "precise"]
    scorers: RouterScorers
    flow_control: bool
    replicas: int
    resources: Resources


def settings(cfg: StackConfig, served: Served) -> RouterSettings:
    """A server's picker settings; every key of `serving.models[].router` wins over `inferenceGateway.router`."""
    base = cfg.inference_gateway.router
    override = served.model.router
    return RouterSettings(
        failure_mode=(override.failure_mode if override and override.failure_mode else base.failure_mode),
        prefix_cache=(override.prefix_cache if override and override.prefix_cache else base.prefix_cache),
        scorers=(override.scorers if override and override.scorers else base.scorers),
        flow_control=base.flow_control, replicas=base.replicas, resources=base.resources)


def pools(cfg: StackConfig) -> list[Served]:
    """Every server that gets an InferencePool and an EPP (engines in EPP_ENGINES, canaries included), in config
    order; none without `inferenceGateway.enabled`."""
    if not enabled(cfg):
        return []
    return [s for s in served_models(cfg) if s.engine in EPP_ENGINES]


def served_name(served: Served) -> str:
    """The model name the server's engine answers to (a canary answers to its stable model's name)."""
    return served.canary_of or served.model.name


def adapters(cfg: StackConfig, server: str) -> tuple[Adapter, ...]:
    """The LoRA adapters `server` loads: those whose route (config.inference.routing_table) sends requests to it
    (the stable server, and a canary that serves the same base weights)."""
    by_name = {a.name: a for m in cfg.serving.models for a in m.adapters}
    return tuple(by_name[r.adapter] for r in routing_table(cfg)
                 if r.adapter is not None and any(b.server == server for b in r.backends))


def kv_events(cfg: StackConfig, served: Served) -> bool:
    """Whether the server publishes KV-cache events to its EPP (precise prefix-cache scoring with a weight)."""
    if served not in pools(cfg):
        return False
    found = settings(cfg, served)
    return found.prefix_cache == "precise" and found.scorers.prefix_cache > 0


def render_url(cfg: StackConfig, served: Served) -> str:
    """Where the EPP's token producer tokenizes prompts in precise mode: the pool's own vLLM Service (vLLM 0.33.0
    `--enable-scale-out` registers /v1/completions/render and /v1/chat/completions/render on `vllm serve`), so the
    tokens are exactly the served model's and the EPP needs no tokenizer download or sidecar."""
    ep = endpoints(cfg)[f"model/{served.model.name}"]
    return f"http://{ep.host}:{ep.port}"


def plugins_config(cfg: StackConfig, served: Served, queue_ttl_seconds: int | None = None) -> dict[str, Any]:
    """The EndpointPickerConfig (llm-d.ai/v1alpha1) of a server's EPP: the scorers with a weight above 0, the
    lora-affinity scorer only when the server loads adapters, the precise producer pipeline in precise mode, and
    the flowControl feature gate with, for a pool that scales from zero, how long a queued request may wait
    (`queue_ttl_seconds`: config.pool_scaling.flow_control_ttl_seconds; apix/config/v1alpha1
    endpointpickerconfig_types.go FlowControlConfig.DefaultRequestTTL @ v0.10.0, default 60 s)."""
    found = settings(cfg, served)
    weights = found.scorers
    precise = kv_events(cfg, served)
    plugins: list[dict[str, Any]] = []
    profile: list[dict[str, Any]] = []
    sources: list[dict[str, Any]] = [{"pluginRef": "metrics-data-source",
                                      "extractors": [{"pluginRef": "core-metrics-extractor"}]}]
    if precise:
        plugins += [
            {"type": TOKEN_PRODUCER, "parameters": {"modelName": served_name(served),
                                                    "vllm": {"url": render_url(cfg, served)}}},
            {"type": "endpoint-notification-source"},
            {"type": PRECISE_PRODUCER, "parameters": {"kvEventsConfig": {
                "topicFilter": KV_EVENTS_TOPIC_PREFIX, "discoverPods": True,
                "podDiscoveryConfig": {"socketPort": KV_EVENTS_PORT}}}},
        ]
        sources.append({"pluginRef": "endpoint-notification-source", "extractors": [{"pluginRef": PRECISE_PRODUCER}]})
    for key, plugin_type in SCORER_TYPES.items():
        weight = float(getattr(weights, key))
        if weight <= 0 or (key == "lora_affinity" and not adapters(cfg, served.model.name)):
            continue
        plugin: dict[str, Any] = {"type": plugin_type}
        if key == "prefix_cache" and precise:
            plugin["parameters"] = {"prefixMatchInfoProducerName": PRECISE_PRODUCER}
        plugins.append(plugin)
        profile.append({"pluginRef": plugin_type, "weight": weight})
    plugins += [{"type": "metrics-data-source",
                 "parameters": {"scheme": "http", "path": "/metrics", "insecureSkipVerify": False}},
                {"type": "core-metrics-extractor"}, {"type": "max-score-picker"}]
    profile.append({"pluginRef": "max-score-picker"})
    config: dict[str, Any] = {"apiVersion": "llm-d.ai/v1alpha1", "kind": "EndpointPickerConfig"}
    if found.flow_control:
        config["featureGates"] = ["flowControl"]
        if queue_ttl_seconds is not None:
            config["flowControl"] = {"defaultRequestTTL": f"{queue_ttl_seconds}s"}
    config.update(plugins=plugins, schedulingProfiles=[{"name": "default", "plugins": profile}],
                  dataLayer={"sources": sources})
    return config


def plugins_yaml(cfg: StackConfig, served: Served, queue_ttl_seconds: int | None = None) -> str:
    """The config file as the EPP reads it (JSON is YAML; keys in a stable order)."""
    return json.dumps(plugins_config(cfg, served, queue_ttl_seconds), indent=2)


def objective_key(pool: str, objective: str) -> str:
    """Name of the InferenceObjective of `objective` on `pool`, and the `x-llm-d-inference-objective` value a
    request to that pool must carry to get its priority (see the module docstring: one name, one pool)."""
    return f"{pool}-{objective}"


@dataclass(frozen=True)
class Objective:
    """One InferenceObjective: a priority band of one pool."""

    name: str
    pool: str
    objective: str
    priority: int


def objectives(cfg: StackConfig) -> list[Objective]:
    """One InferenceObjective per `inferenceGateway.objectives[]` per pool."""
    return [Objective(objective_key(pool_name(s.model.name), o.name), pool_name(s.model.name), o.name, o.priority)
            for s in pools(cfg) for o in cfg.inference_gateway.objectives]


__all__ = ["EPP_IMAGE", "OBJECTIVE_HEADER", "RouterSettings", "adapters", "epp_name", "kv_events", "objectives",
           "plugins_config", "pools", "settings"]
