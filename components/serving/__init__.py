"""Serving: every model server of `serving.models` plus the RAG embedding server, and their autoscalers.

Created by `Platform` after the GPU stack and before the RAG layer. Children:

- KEDA (chart `keda`, `charts.KEDA`) in the `keda` namespace when a model scales through KEDA, and
  prometheus-adapter (`charts.PROMETHEUS_ADAPTER`) in `prometheus-adapter` when one uses `autoscaling.engine: hpa`;
- the service accounts `model-server` and `model-download` (no API token mounted) and, with `hfToken`, the Secret
  `hf-token` the download Jobs read;
- one `ModelServer` (`ai-platform:serving:ModelServer`) per server: see model_server.py (objects), server.py
  (the resolved server), pods.py, containers.py and download.py (what its pods run). Engines differ only through
  their profile (config/engine_profiles.py).

GPU workloads depend on the GPU stack (`PlatformContext.gpu_ready`: the GPU Operator release and the
PriorityClasses). `models` (the stack output) gives per server its in-cluster URL, GPUs and monthly cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config.capacity import MODEL_SERVER
from config.endpoints import endpoints
from config.errors import key_path, required
from config.namespaces import KEDA, PROMETHEUS_ADAPTER, uses_keda, uses_prometheus_adapter

from ..helm import release
from ..labels import standard_labels
from . import autoscaling, charts
from .download import DOWNLOAD_ACCOUNT, HF_SECRET, HF_SECRET_KEY, needs_hf_token
from .model_server import ModelServer, ModelServerArgs
from .pods import SERVER_ACCOUNT
from .server import Server, servers


@dataclass(frozen=True)
class ServingArgs:
    context: PlatformContext
    """Shared platform inputs (config, plan, namespaces, monitoring CRDs, GPU stack, HF token)."""


def model_outputs(server: Server, url: str, observed: bool = True) -> dict[str, Any]:
    """One entry of the `models` stack output (plan figures; costs are monthly USD at 730 h)."""
    plan = server.plan
    units = plan.units_per_replica
    fallback = None
    fb = plan.fallback
    if fb is not None:
        fallback = {"pool": fb.pool, "gpuResource": fb.resource, "replicas": plan.min_replicas,
                    "maxReplicas": fb.max_replicas, "monthlyUsd": round(fb.monthly_usd, 2),
                    "monthlyUsdMax": round(fb.monthly_usd_max, 2)}
    return {
        "url": url,
        "engine": server.engine,
        "model": plan.model,
        "pool": plan.pool,
        "capacity": plan.capacity,
        "gpuResource": plan.resource,
        "gpusPerReplica": units,
        "gpusMax": units * plan.max_replicas + (units * fb.max_replicas if fb is not None else 0),
        "replicas": {"min": plan.min_replicas, "max": plan.max_replicas},
        "autoscaling": autoscaling.kind(server, observed),
        "monthlyUsdMin": round(plan.monthly_usd_min + plan.fallback_monthly_usd, 2),
        "monthlyUsdMax": round(plan.monthly_usd_worst, 2),
        "fallback": fallback,
    }


class Serving(pulumi.ComponentResource):
    """Model servers, the embedding server, KEDA / prometheus-adapter."""

    servers: dict[str, ModelServer]
    """ModelServer components by server name ("embedding" for the embedding server)."""
    keda: k8s.helm.v3.Release | None
    adapter: k8s.helm.v3.Release | None
    models: dict[str, dict[str, Any]]
    """The `models` stack output: per server its URL, GPUs, replicas and monthly cost."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:serving:Serving", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        ns_name = cfg.serving.namespace
        ns = ctx.namespace(ns_name)
        user = cfg.labels
        child = pulumi.ResourceOptions(parent=self)
        eps = endpoints(cfg)
        prometheus = eps.get("prometheus")  # None without observability

        self.keda = None
        if uses_keda(cfg):
            self.keda = release(
                f"{name}-keda", charts.KEDA, "keda", ctx.namespace(KEDA), charts.keda_values(cfg, ctx.monitoring),
                pulumi.ResourceOptions(parent=self, depends_on=list(ctx.monitoring_crds) if ctx.monitoring else []))
        self.adapter = None
        if uses_prometheus_adapter(cfg):
            source = required(prometheus, key_path("observability", "enabled"), "the Prometheus endpoint",
                              "config.semantics (a model scaled on engine metrics needs observability)")
            self.adapter = release(
                f"{name}-prometheus-adapter", charts.PROMETHEUS_ADAPTER, "prometheus-adapter",
                ctx.namespace(PROMETHEUS_ADAPTER), charts.adapter_values(cfg, f"http://{source.host}", source.port),
                child)

        def meta(n: str, component: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels=standard_labels(n, component, user))

        after: list[pulumi.Resource] = [
            k8s.core.v1.ServiceAccount(f"{name}-server-account", metadata=meta(SERVER_ACCOUNT, MODEL_SERVER),
                                       automount_service_account_token=False, opts=child),
            k8s.core.v1.ServiceAccount(f"{name}-download-account",
                                       metadata=meta(DOWNLOAD_ACCOUNT, "model-download"),
                                       automount_service_account_token=False, opts=child),
        ]
        resolved = servers(cfg, ctx.plan)
        hf_token = ctx.hf_token is not None and any(needs_hf_token(s) for s in resolved)
        if hf_token:
            # Typed as an Input: Output.secret(Input[U]) cannot solve U from a bare Output argument.
            token_data: pulumi.Input[dict[str, Any]] = pulumi.Output.all(**{HF_SECRET_KEY: ctx.hf_token})
            after.append(k8s.core.v1.Secret(
                f"{name}-hf-token", metadata=meta(HF_SECRET, "model-download"), type="Opaque",
                string_data=pulumi.Output.secret(token_data),
                opts=child))

        self.servers = {}
        for server in resolved:
            self.servers[server.name] = ModelServer(f"{name}-{server.name}", ModelServerArgs(
                context=ctx, server=server, prometheus_url=prometheus.url if prometheus else None, keda=self.keda,
                adapter=self.adapter, hf_token=hf_token, after=tuple(after)), child)
        self.models = {s.name: model_outputs(s, self.servers[s.name].url, cfg.observability.enabled)
                       for s in resolved}
        self.register_outputs({"servers": {n: s.url for n, s in self.servers.items()}, "keda": self.keda,
                               "adapter": self.adapter, "models": self.models})
