"""ModelServer: one model (or the embedding server) as typed Kubernetes objects, from `server.Server`.

Children (named `<component name>-<role>`): the model-cache PVC and the download Job that fills it (plus the
VolumeSnapshot and the many-reader PVC for ReadOnlyMany), the model repository ConfigMap (Triton), the primary
Deployment and, for a spot model with `fallbackPool`, the `<name>-fallback` Deployment on the on-demand pool,
the Service, the PodDisruptionBudget, the PodMonitor (with observability) and the autoscaler (KEDA ScaledObject,
HPA through prometheus-adapter, or CPU HPA for Ollama), and the fallback's own ScaledObject.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config import queueing
from config.capacity import EMBEDDING_SERVER
from config.endpoints import endpoints
from config.errors import required
from config.pool_scaling import epp_scaled, fallback_scales
from config.storage import model_cache_storage_class

from ..labels import PLACEMENT_LABEL, SCRAPE_LABELS
from . import autoscaling, download, pods
from .containers import PORT_NAME
from .server import (
    FALLBACK,
    PRIMARY,
    Server,
    cache_claim,
    download_labels,
    object_labels,
    repository_config_map,
    repository_files,
    seed_claim,
    selector,
    startup_seconds,
)

SNAPSHOT_API = "snapshot.storage.k8s.io"


@dataclass(frozen=True)
class ModelServerArgs:
    context: PlatformContext
    """Shared platform inputs (config, plan, namespaces, monitoring CRDs, GPU stack)."""
    server: Server
    """The resolved model server (config entry, engine, plan, pools)."""
    prometheus_url: str | None = None
    """Prometheus address for KEDA triggers (config/endpoints.py `prometheus`)."""
    keda: pulumi.Resource | None = None
    """The KEDA Release (its CRDs): ScaledObjects depend on it."""
    adapter: pulumi.Resource | None = None
    """The prometheus-adapter Release: HPAs on custom metrics depend on it."""
    hf_token: bool = False
    """Whether the `hf-token` Secret exists (the download Job then reads HF_TOKEN from it)."""
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """Service accounts and the token Secret the pods use."""


class ModelServer(pulumi.ComponentResource):
    """Cache volume, download Job, Deployment(s), Service, PDB, PodMonitor and autoscaler of one model server."""

    url: str
    """In-cluster URL of the OpenAI-compatible API (http://<name>.<ns>.svc.cluster.local:80/v1)."""
    download: k8s.batch.v1.Job
    """The Job that fills the model cache."""
    cache: k8s.core.v1.PersistentVolumeClaim
    """The PVC the servers mount."""
    deployment: k8s.apps.v1.Deployment
    """The primary Deployment (on `pool`)."""
    fallback: k8s.apps.v1.Deployment | None
    """`<name>-fallback` on `fallbackPool`, or None."""
    service: k8s.core.v1.Service
    autoscaler: pulumi.Resource | None
    """ScaledObject or HPA, or None for fixed replicas."""
    fallback_autoscaler: pulumi.Resource | None
    """ScaledObject of `<name>-fallback` (primary replicas spot cannot place), or None."""

    def __init__(self, name: str, args: ModelServerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:serving:ModelServer", name, None, opts)
        ctx, server = args.context, args.server
        cfg = ctx.config
        mode = cfg.serving.cache_access_mode
        ns = ctx.namespace(server.namespace)
        labels = object_labels(server, cfg)
        def meta(n: str, extra: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels={**labels, **(extra or {})})

        child = pulumi.ResourceOptions(parent=self)
        size = f"{server.plan.cache_gi}Gi"
        storage_class = model_cache_storage_class(cfg)

        # ------------------------------------------------------------------- model cache and download
        def claim(role: str, claim_name: str, access: str, data_source: dict[str, Any] | None = None,
                  depends: Sequence[pulumi.Resource] = ()) -> k8s.core.v1.PersistentVolumeClaim:
            spec = {"accessModes": [access], "resources": {"requests": {"storage": size}}}
            if storage_class is not None:
                spec["storageClassName"] = storage_class
            if data_source is not None:
                spec["dataSource"] = data_source
            return k8s.core.v1.PersistentVolumeClaim(
                f"{name}-{role}",
                # Bound only once a pod uses it (WaitForFirstConsumer classes): do not wait for Bound here.
                metadata=k8s.meta.v1.ObjectMetaArgs(name=claim_name, namespace=ns, labels=labels,
                                                    annotations={"pulumi.com/skipAwait": "true"}),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends)))

        seed_access = "ReadWriteOnce" if mode == "ReadOnlyMany" else mode
        seed = claim("model-seed" if mode == "ReadOnlyMany" else "model-cache", seed_claim(server, mode),
                     seed_access)
        job_spec = download.download_job_spec(server, cfg, args.hf_token and download.needs_hf_token(server))
        self.download = k8s.batch.v1.Job(
            f"{name}-download",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{server.name}-download", namespace=ns,
                                                # Queued namespaces (queueing.enabled): admitted through Kueue.
                                                labels={**download_labels(server, cfg),
                                                        **queueing.job_labels(cfg, cfg.serving.namespace)}),
            spec=job_spec,
            # Pulumi waits for the Job to complete (pulumi-kubernetes batch/v1 Job await: Complete, fail on Failed):
            # servers start only once the weights are on the volume. A new model
            # replaces the Job (same name, so the old one goes first) and downloads into the same volume.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[seed, *args.after, *ctx.gpu_ready, *ctx.queue_ready],
                                        delete_before_replace=True,
                                        custom_timeouts=pulumi.CustomTimeouts(create="6h", update="6h")))
        ready: list[pulumi.Resource] = [self.download]
        self.cache = seed
        if mode == "ReadOnlyMany":
            snapshot_name = cache_claim(server, mode)
            snapshot = k8s.apiextensions.CustomResource(
                f"{name}-model-snapshot",
                api_version=f"{SNAPSHOT_API}/v1",
                kind="VolumeSnapshot",
                metadata=meta(snapshot_name),
                spec={"volumeSnapshotClassName": cfg.serving.snapshot_class,
                      "source": {"persistentVolumeClaimName": seed_claim(server, mode)}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.download]))
            self.cache = claim("model-cache", snapshot_name, "ReadOnlyMany",
                               {"apiGroup": SNAPSHOT_API, "kind": "VolumeSnapshot", "name": snapshot_name},
                               depends=[snapshot])
            ready.append(self.cache)
        repository = server.profile.repository
        if repository is not None:
            # Keyed by file name; the pod's volume maps each key back to its path in the repository.
            data = {path.rsplit("/", 1)[-1]: content if isinstance(content, str)
                    else json.dumps(content, indent=2, sort_keys=True)
                    for path, content in repository_files(server).items()}
            ready.append(k8s.core.v1.ConfigMap(
                f"{name}-{repository.name}",
                metadata=meta(required(repository_config_map(server), f"{server.path}.engine",
                                       "the model repository's ConfigMap", "the engine profile's repository")),
                data=data, opts=child))

        # -------------------------------------------------------------------------------- workloads
        kind = autoscaling.kind(server, cfg.observability.enabled)
        startup = startup_seconds(server)
        timeouts = pulumi.CustomTimeouts(create=f"{startup // 60 + 30}m", update=f"{startup // 60 + 30}m")
        needs = [*ready, *args.after, *ctx.gpu_ready]
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(server.name, {PLACEMENT_LABEL: PRIMARY}),
            spec=pods.deployment_spec(server, cfg, PRIMARY),
            # The autoscaler owns the replica count once it exists.
            opts=pulumi.ResourceOptions(parent=self, depends_on=needs, custom_timeouts=timeouts,
                                        ignore_changes=["spec.replicas"] if kind else None))
        self.fallback = None
        # The fallback's trigger reads kube-state-metrics through Prometheus: without observability it keeps its floor.
        fallback_scaled = server.fallback is not None and fallback_scales(server.model) and cfg.observability.enabled
        if server.fallback is not None:
            # Holds replicas.min on the on-demand pool whatever happens to spot capacity, and (with room above that
            # floor) its own ScaledObject adds stand-ins for primary replicas spot cannot place; the plan prices
            # both. The Service, PDB and PodMonitor select both Deployments.
            self.fallback = k8s.apps.v1.Deployment(
                f"{name}-fallback",
                metadata=meta(f"{server.name}-fallback", {PLACEMENT_LABEL: FALLBACK}),
                spec=pods.deployment_spec(server, cfg, FALLBACK),
                opts=pulumi.ResourceOptions(parent=self, depends_on=needs, custom_timeouts=timeouts,
                                            ignore_changes=["spec.replicas"] if fallback_scaled else None))
        workloads = [self.deployment] + ([self.fallback] if self.fallback else [])

        ep = endpoints(cfg)["embedding" if server.component == EMBEDDING_SERVER else f"model/{server.name}"]
        self.url = ep.url
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(ep.service),
            spec={"type": "ClusterIP", "selector": selector(server),
                  "ports": [{"name": p.name, "port": p.port, "targetPort": PORT_NAME, "protocol": "TCP"}
                            for p in ep.ports]},
            opts=child)
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(server.name),
            # Voluntary disruptions (drains, upgrades, autoscaler scale-down) take one replica at a time;
            # unready pods may always go, so a stuck replica never blocks a node drain.
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector(server)},
                  "unhealthyPodEvictionPolicy": "AlwaysAllow"},
            opts=child)
        if ctx.monitoring and server.metrics:
            k8s.apiextensions.CustomResource(
                f"{name}-pod-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=meta(server.name, dict(SCRAPE_LABELS)),
                spec=pod_monitor_spec(server),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.monitoring_crds, *workloads]))

        # ------------------------------------------------------------------------------ autoscaling
        self.autoscaler: pulumi.Resource | None = None
        self.fallback_autoscaler: pulumi.Resource | None = None
        def keda_inputs() -> tuple[pulumi.Resource, str]:
            path = f"{server.path}.autoscaling.engine"
            return (required(args.keda, path, "the KEDA Release", "Serving"),
                    required(args.prometheus_url, path, "the Prometheus URL",
                             "config.semantics (a model scaled on engine metrics needs observability)"))

        if kind == "keda":
            keda, prometheus_url = keda_inputs()
            self.autoscaler = k8s.apiextensions.CustomResource(
                f"{name}-scaled-object",
                api_version=autoscaling.KEDA_API,
                kind="ScaledObject",
                metadata=meta(server.name),
                spec=autoscaling.scaled_object_spec(server, prometheus_url, epp_scaled(cfg, server.engine)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[keda, self.deployment]))
        elif kind in ("hpa", "cpu-hpa"):
            depends = [self.deployment] + ([args.adapter] if kind == "hpa" and args.adapter is not None else [])
            self.autoscaler = k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa", metadata=meta(server.name), spec=autoscaling.hpa_spec(server),
                opts=pulumi.ResourceOptions(parent=self, depends_on=depends))
        if self.fallback is not None and fallback_scaled:
            keda, prometheus_url = keda_inputs()
            fallback_spec = required(autoscaling.fallback_scaled_object_spec(server, prometheus_url),
                                     f"{server.path}.fallbackMaxReplicas", "the fallback's ScaledObject",
                                     "config.pool_scaling.fallback_scales")
            self.fallback_autoscaler = k8s.apiextensions.CustomResource(
                f"{name}-fallback-scaled-object",
                api_version=autoscaling.KEDA_API,
                kind="ScaledObject",
                metadata=meta(f"{server.name}-fallback"),
                spec=fallback_spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[keda, self.fallback]))
        self.register_outputs({"url": self.url, "download": self.download, "cache": self.cache,
                               "deployment": self.deployment, "fallback": self.fallback, "service": self.service,
                               "autoscaler": self.autoscaler, "fallback_autoscaler": self.fallback_autoscaler})


def pod_monitor_spec(server: Server) -> dict[str, Any]:
    """Scrape the engine's metrics endpoint on every pod of the model; the pod label `ai-platform/model` becomes
    the target label `model` (Prometheus keeps `namespace` and `pod`), which the autoscaling queries select on."""
    return {
        "selector": {"matchLabels": selector(server)},
        "podMetricsEndpoints": [{
            "port": PORT_NAME,
            "path": server.spec.metrics_path,
            "interval": "15s",
            "relabelings": [
                {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_label_ai_platform_model"],
                 "targetLabel": "model"},
                {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_label_ai_platform_placement"],
                 "targetLabel": "placement"},
            ],
        }],
    }
