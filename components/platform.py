"""The whole platform: cluster -> tenancy -> observability -> GPU stack -> serving -> RAG.

`Platform` is the only component `__main__.py` creates. It owns the order of things: the
cluster first, then everything else through the cluster's Kubernetes provider.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pulumi
import pulumi_kubernetes as k8s

from config import inference
from config.capacity import CapacityPlan, node_resources
from config.gpu_stack import operator_node_labels
from config.models import StackConfig
from config.namespaces import GPU_OPERATOR
from config.storage import needs_shared_file_system
from config.upgrades import pool_rehomes

from .admission import Admission, AdmissionArgs
from .cluster import ClusterArgs, create_cluster
from .context import PlatformContext
from .gpu_stack import GpuStack, GpuStackArgs
from .inference.crds import GatewayCrds, GatewayCrdsArgs, load_bundles
from .inference.gateway import InferenceGateway, InferenceGatewayArgs
from .inference.router import Routers, RoutersArgs
from .labels import standard_labels
from .mesh import Mesh, MeshArgs
from .observability import Observability, ObservabilityArgs
from .queueing import Queueing, QueueingArgs
from .rag import Rag, RagArgs
from .serving import Serving, ServingArgs
from .tenancy import Tenancy, TenancyArgs

CAPACITY_CONFIGMAP = "ai-platform-capacity"
"""In-cluster copy of the capacity plan and budget; the policy pack's gpu-budget rule reads it."""
PLATFORM_NAMESPACE = "kube-system"


@dataclass(frozen=True)
class PlatformArgs:
    """Everything the platform is built from (validated before any resource exists)."""

    config: StackConfig
    """Typed stack configuration."""
    plan: CapacityPlan
    """Capacity plan derived from the config."""
    hf_token: pulumi.Output[str] | None = None
    """Hugging Face token (secret) for gated models."""
    alerting_secret: pulumi.Output[str] | None = None
    """Alertmanager receiver URL or key (secret)."""


def routing_output(cfg: StackConfig) -> list[dict[str, object]]:
    """The `routing` stack output: per model name the backends and the percent of its requests each gets."""
    return [{"model": r.model, "adapterOf": r.base if r.adapter else None,
             "backends": [{"server": b.server, "kind": b.kind, "name": b.name,
                           "percent": round(r.share(b.server) * 100, 2)} for b in r.backends]}
            for r in inference.routing_table(cfg)]


class Platform(pulumi.ComponentResource):
    """A production GPU inference platform on one Kubernetes cluster."""

    def __init__(self, name: str, args: PlatformArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:platform:Platform", name, None, opts)
        cfg = args.config
        # The gateway's CRD bundles are files (charts.lock.yaml crdBundles:): a missing or changed one fails here,
        # before any resource is registered.
        gateway_bundles = load_bundles() if cfg.inference_gateway.enabled else ()
        self.cluster = create_cluster(
            f"{name}-cluster",
            ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=args.plan, labels=cfg.labels,
                        pool_node_labels={p.name: operator_node_labels(cfg, p) for p in cfg.node_pools.gpu},
                        pool_node_resources={p.name: node_resources(cfg, p) for p in cfg.node_pools.gpu},
                        shared_file_system=needs_shared_file_system(cfg),
                        pool_rehomes=pool_rehomes(cfg, args.plan)),
            pulumi.ResourceOptions(parent=self),
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=self.cluster.provider)

        # Gateway API, InferencePool and InferenceObjective CRDs (cluster-scoped: only the cluster before them).
        self.gateway_crds = (GatewayCrds(f"{name}-gateway-crds", GatewayCrdsArgs(
            gateway_bundles, after=[self.cluster], labels=cfg.labels), k8s_opts) if gateway_bundles else None)

        # Every namespace first: nothing deploys into a namespace that does not exist yet.
        self.tenancy = Tenancy(f"{name}-tenancy", TenancyArgs(cfg, args.plan, after=[self.cluster]), k8s_opts)
        # The in-cluster backstop for changes made outside Pulumi (tenancy.admission).
        self.admission = (Admission(f"{name}-admission", AdmissionArgs(cfg, after=[self.cluster, *self.tenancy.ready]),
                                    k8s_opts) if cfg.tenancy.admission.enabled else None)

        # The mesh next (mesh.enabled): istio-cni captures a pod into ambient only when the pod starts, so every
        # workload below (observability, the GPU stack and through it serving) starts after it.
        self.mesh: Mesh | None = None
        mesh_ready: list[pulumi.Resource] = []
        if cfg.mesh.enabled:
            self.mesh = Mesh(f"{name}-mesh", MeshArgs(cfg, self.tenancy.namespaces,
                                                      after=[self.cluster, *self.tenancy.ready]), k8s_opts)
            mesh_ready = list(self.mesh.ready)

        # Monitoring CRDs first (Observability.crds): every ServiceMonitor, PodMonitor and PrometheusRule of the
        # program, and every Release that renders one, depends on them.
        self.observability: Observability | None = None
        monitoring_crds: list[pulumi.Resource] = []
        if cfg.observability.enabled:
            self.observability = Observability(f"{name}-observability", ObservabilityArgs(
                cfg, args.plan, self.tenancy.namespaces, after=[self.cluster, *self.tenancy.ready, *mesh_ready],
                alerting_secret=args.alerting_secret), k8s_opts)
            monitoring_crds = list(self.observability.crds)

        # After the cluster and every node pool; GPU workloads depend on gpu_stack.ready.
        self.gpu_stack = GpuStack(f"{name}-gpu", GpuStackArgs(
            cfg, after=[self.cluster, *mesh_ready], namespace=self.tenancy.namespaces.get(GPU_OPERATOR),
            monitoring_crds=monitoring_crds), k8s_opts)

        self.context = PlatformContext(
            config=cfg, plan=args.plan, namespaces=self.tenancy.namespaces, monitoring_crds=monitoring_crds,
            gpu_ready=self.gpu_stack.ready, hf_token=args.hf_token, mesh_ready=mesh_ready,
            gateway_crds=(self.gateway_crds,) if self.gateway_crds else ())

        # Kueue and the queues (queueing.enabled), before serving: the model-download Jobs of a queued namespace name
        # its LocalQueue and wait for admission.
        self.queueing: Queueing | None = None
        if cfg.queueing.enabled:
            self.queueing = Queueing(f"{name}-queueing", QueueingArgs(
                self.context, after=[self.cluster, *self.tenancy.ready, *mesh_ready]), k8s_opts)
            self.context = replace(self.context, queue_ready=tuple(self.queueing.ready))

        plan_output = args.plan.to_output()
        self.capacity_config_map = k8s.core.v1.ConfigMap(
            f"{name}-capacity",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=CAPACITY_CONFIGMAP,
                namespace=PLATFORM_NAMESPACE,
                labels=standard_labels(CAPACITY_CONFIGMAP, "capacity-plan", cfg.labels),
            ),
            data={
                "plan.json": json.dumps(plan_output, sort_keys=True),
                "budget.json": json.dumps(cfg.budget.model_dump(by_alias=True), sort_keys=True),
            },
            opts=k8s_opts,
        )

        self.cluster_name = self.cluster.name
        self.kubeconfig = self.cluster.kubeconfig
        self.capacity = plan_output
        self.monthly_cost = {
            "minUsd": round(args.plan.monthly_usd_min, 2),
            "maxUsd": round(args.plan.monthly_usd_max, 2),
            "onDemandMaxUsd": round(args.plan.monthly_usd_on_demand_max, 2),
            "spotMaxUsd": round(args.plan.monthly_usd_spot_max, 2),
            "pricesAsOf": args.plan.prices_as_of,
            "pricesRegion": args.plan.prices_region,
        }

        # Model servers and the embedding server, after the GPU stack (their pods depend on context.gpu_ready).
        self.serving: Serving | None = None
        if cfg.serving.models or cfg.rag.embedding is not None:
            self.serving = Serving(f"{name}-serving", ServingArgs(self.context), k8s_opts)
        self.models = self.serving.models if self.serving else {}
        # Where each model name a client sends ends up, with its share (the plan prints it; config/inference.py).
        self.routing = routing_output(cfg) if inference.enabled(cfg) else None

        # InferencePools and their endpoint pickers (one per routed model server, canaries included).
        self.routers: Routers | None = None
        if cfg.inference_gateway.enabled and self.serving is not None:
            self.routers = Routers(f"{name}-routers", RoutersArgs(self.context), k8s_opts)

        # The inference gateway (Gateways, routes, the edge), after serving: its routes end at the model servers'
        # InferencePools and Services. The AI gateway (Rag) calls models through its internal Gateway.
        self.inference_gateway: InferenceGateway | None = None
        rag_context = self.context
        if cfg.inference_gateway.enabled:
            self.inference_gateway = InferenceGateway(f"{name}-inference-gateway",
                                                      InferenceGatewayArgs(self.context), k8s_opts)
            # The RAG Ingress' issuers (expose: ingress) wait for the cert-manager this component installs.
            rag_context = replace(self.context, extra={**self.context.extra,
                                                       "cert_manager": self.inference_gateway.cert_manager})

        # RAG data layer and gateway, after serving (models are reached only through config/endpoints.py).
        rag = cfg.rag
        self.rag: Rag | None = None
        if rag.vector_store or rag.full_text or rag.cache or rag.gateway:
            self.rag = Rag(f"{name}-rag", RagArgs(rag_context, self.cluster), k8s_opts)
        self.gateway_url = self.rag.gateway_url if self.rag else None
        self.data_endpoints = self.rag.data_endpoints if self.rag else {}
        self.rag_bucket = self.rag.bucket_name if self.rag else None
        self.grafana_url = self.observability.grafana_url if self.observability else None
        self.grafana_admin_password = self.observability.grafana_admin_password if self.observability else None

        self.register_outputs({
            "cluster_name": self.cluster_name,
            "kubeconfig": self.kubeconfig,
            "capacity": self.capacity,
            "monthly_cost": self.monthly_cost,
            "gateway_url": self.gateway_url,
            "data_endpoints": self.data_endpoints,
            "rag_bucket": self.rag_bucket,
            "grafana_url": self.grafana_url,
            "grafana_admin_password": self.grafana_admin_password,
            "models": self.models,
            "routing": self.routing,
        })
