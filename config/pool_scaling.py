"""What each model server scales on, as pure functions of the config: the config checks, the serving component and
the router's endpoint-picker settings read the same answers.

- A server behind an InferencePool (its engine in `inference.EPP_ENGINES`, `inferenceGateway.enabled`) whose picker
  runs flow control (`inferenceGateway.router.flowControl`) scales on the picker's signals: requests held in the
  flow-control queue and pool saturation (llm-d router v0.10.0 pkg/epp/metrics). Scale from zero needs that queue:
  it holds the first requests while a replica starts (`flow_control_ttl_seconds` is how long it must hold them).
- Every other server scales on its engine's own queue / KV-cache metrics (config/engines.py AUTOSCALING_SIGNALS).
- The embedding server scales between `rag.embedding.replicas` and `maxReplicas` on its engine's queue.
- A `<name>-fallback` Deployment scales between `replicas.min` and `fallback_max` on the primary replicas the spot
  pool cannot place.
"""

from __future__ import annotations

from .capacity import CapacityPlan, embedding_max, fallback_max, served_models
from .inference import EPP_ENGINES
from .models import ServedModel, StackConfig
from .upgrades import startup_seconds

__all__ = ["EPP_DEFAULT_QUEUE_TTL_SECONDS", "embedding_max", "embedding_scales", "epp_scaled", "fallback_max",
           "fallback_scales", "flow_control_ttl_seconds", "pooled"]

EPP_DEFAULT_QUEUE_TTL_SECONDS = 60
"""The picker's flow-control queue-wait budget when its config sets none (llm-d router v0.10.0
pkg/epp/flowcontrol/controller/config.go `defaultRequestTTL = 60 * time.Second`)."""


def pooled(cfg: StackConfig, engine: str) -> bool:
    """Whether a server of `engine` is routed through an InferencePool and its endpoint picker."""
    return cfg.inference_gateway.enabled and engine in EPP_ENGINES


def epp_scaled(cfg: StackConfig, engine: str) -> bool:
    """Whether a server of `engine` scales on its picker's flow-control signals (pooled, flow control on: without
    flow control the picker exports no flow-control series)."""
    return pooled(cfg, engine) and cfg.inference_gateway.router.flow_control


def fallback_scales(model: ServedModel) -> bool:
    """Whether the model's fallback Deployment has an autoscaler (a fallback pool and room above the floor)."""
    return model.fallback_pool is not None and fallback_max(model) > model.replicas.min


def embedding_scales(cfg: StackConfig) -> bool:
    emb = cfg.rag.embedding
    return emb is not None and embedding_max(emb) > emb.replicas


def flow_control_ttl_seconds(cfg: StackConfig, plan: CapacityPlan, server: str) -> int | None:
    """How long the picker of `server`'s pool must hold a queued request (EndpointPickerConfig
    `flowControl.defaultRequestTTL`), or None to keep the picker's default: a pool that scales from zero holds the
    first requests while a replica loads, so the budget is the server's startupProbe budget (the router's v0.10.0
    release note: "Scale-to-zero deployments should raise `defaultRequestTTL` above the expected cold-start time")."""
    for served in served_models(cfg):
        model = served.model
        if model.name != server or not epp_scaled(cfg, served.engine) or not model.autoscaling.scale_to_zero:
            continue
        return max(EPP_DEFAULT_QUEUE_TTL_SECONDS, startup_seconds(model, plan.model(server).weights_gib))
    return None
