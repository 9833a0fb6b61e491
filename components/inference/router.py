"""Routers: one InferencePool and endpoint picker (EPP, llm-d router v0.10.0) per model server the gateway routes.

Created by `Platform` after Serving when `inferenceGateway.enabled`. For every server whose engine is in
`config.inference.EPP_ENGINES` (canaries included: a canary is a model server with its own pool), one
`EndpointPicker` component holds, in `serving.namespace`:

- the InferencePool `pool_name(server)` (inference.networking.k8s.io/v1): the server's pods (primary and fallback
  Deployments: components/serving/server.py `selector`), the engine port, the EPP Service and an explicit
  `failureMode` (`serving.models[].router.failureMode` wins over `inferenceGateway.router.failureMode`);
- the EPP `epp_name(server)`: ServiceAccount and Roles, ConfigMap with its EndpointPickerConfig (config/router.py:
  scorers and weights, precise prefix-cache pipeline, flow control), Deployment, Service, PodDisruptionBudget
  (replicas > 1), Istio DestinationRule, and with observability a ServiceMonitor scraping its authenticated
  metrics endpoint with a dedicated read-only ServiceAccount's token;
- one InferenceObjective (llm-d.ai/v1alpha2) per `inferenceGateway.objectives[]` (config/router.py `objectives`).

Why typed objects and not the `llm-d-router-gateway` v0.10.0 chart: its EPP pod template has no securityContext
(routerlib templates/_deployment.yaml; values offer none), so its Deployment fails the pack's run-as-non-root,
no-privilege-escalation and read-only-root-filesystem rules; it names the metrics token Secret and the
InferenceObjectives the same in every release of a namespace (one release per pool collides); and it has no PDB.
The objects below follow that chart's templates at v0.10.0 (names, args, ports, probes, RBAC), with those fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config import router, sizing
from config.capacity import Served
from config.inference import epp_name, pool_name
from config.network import EPP_PODS
from config.pool_scaling import flow_control_ttl_seconds

from ..labels import SCRAPE_LABELS, standard_labels
from ..serving.server import Server, selector, servers

CHART_SELECTOR = "llm-d-router-gateway"
"""The EPP pods' selector label in llm-d-router-gateway v0.10.0 (routerlib _helpers.tpl selectorLabels)."""
METRICS_READER = "metrics-reader"
GRACE_SECONDS = 130
"""routerlib _deployment.yaml @ v0.10.0: terminationGracePeriodSeconds 130 (the longest grace of the pool's pods)."""


@dataclass(frozen=True)
class RoutersArgs:
    context: PlatformContext
    """Shared platform inputs (config, plan, namespaces, monitoring CRDs, gateway CRDs, mesh)."""


class Routers(pulumi.ComponentResource):
    """An InferencePool and endpoint picker per routed model server, and their InferenceObjectives."""

    pickers: dict[str, EndpointPicker]
    """EndpointPicker components by server name."""

    def __init__(self, name: str, args: RoutersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:inference:Routers", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        by_name = {s.name: s for s in servers(cfg, ctx.plan)}
        self.pickers = {}
        for served in router.pools(cfg):
            server = by_name[served.model.name]
            self.pickers[server.name] = EndpointPicker(
                f"{name}-{server.name}", EndpointPickerArgs(ctx, served, server),
                pulumi.ResourceOptions(parent=self))
        self.register_outputs({"pickers": {n: p.pool_name for n, p in self.pickers.items()}})


@dataclass(frozen=True)
class EndpointPickerArgs:
    context: PlatformContext
    """Shared platform inputs."""
    served: Served
    """The server's config entry (settings and plugins: config/router.py)."""
    server: Server
    """The resolved server (its pod selector and engine port)."""


def pod_security() -> dict[str, Any]:
    """The EPP's pod securityContext: the image's numeric nonroot user (Dockerfile.epp `USER 65532:65532`)."""
    return {"runAsNonRoot": True, "runAsUser": router.EPP_USER, "runAsGroup": router.EPP_USER,
            "fsGroup": router.EPP_USER, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}


def epp_args(pool: str, namespace: str, replicas: int) -> list[str]:
    """The EPP's command line (routerlib templates/_deployment.yaml @ v0.10.0, InferencePool mode)."""
    args = ["--pool-name", pool, "--pool-namespace", namespace, "--pool-group", router.POOL_GROUP,
            "--zap-encoder", "json", "--config-file", f"/config/{router.CONFIG_FILE}"]
    if replicas > 1:
        # One leader serves; the others keep a warm datastore (haPopulateNonLeaderDatastore, on by default).
        args.append("--ha-enable-leader-election")
    return args + ["--grpc-health-port", str(router.HEALTH_PORT), "--tracing=false"]


def epp_pod_labels(cfg_labels: dict[str, str], epp: str) -> dict[str, str]:
    return {**standard_labels(epp, router.EPP_COMPONENT, cfg_labels), **EPP_PODS, CHART_SELECTOR: epp}


def epp_pod_spec(epp: str, pool: str, namespace: str, settings: router.RouterSettings) -> dict[str, Any]:
    """The EPP pod: one hardened container, its config file, and scratch space for the read-only root."""
    replicas = settings.replicas
    # Several replicas run one leader; the probes then ask for liveness/readiness (the leader alone is ready).
    live, ready = ("liveness", "readiness") if replicas > 1 else ("inference-extension", "inference-extension")
    res = settings.resources
    spec: dict[str, Any] = {
        "serviceAccountName": epp,
        "terminationGracePeriodSeconds": GRACE_SECONDS,
        "enableServiceLinks": False,
        "securityContext": pod_security(),
        "containers": [{
            "name": "epp",
            "image": router.EPP_IMAGE,
            "imagePullPolicy": "IfNotPresent",
            "args": epp_args(pool, namespace, replicas),
            "ports": [{"name": "grpc", "containerPort": router.EXT_PROC_PORT},
                      {"name": "grpc-health", "containerPort": router.HEALTH_PORT},
                      {"name": "metrics", "containerPort": router.METRICS_PORT}],
            "livenessProbe": {"grpc": {"port": router.HEALTH_PORT, "service": live}, "initialDelaySeconds": 5,
                              "periodSeconds": 10},
            "readinessProbe": {"grpc": {"port": router.HEALTH_PORT, "service": ready}, "periodSeconds": 2},
            "env": [{"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "resources": sizing.resources(res.cpu, res.memory, res.cpu_limit, res.memory_limit),
            "securityContext": container_security(),
            "volumeMounts": [{"name": "plugins-config-volume", "mountPath": "/config", "readOnly": True},
                             {"name": "tmp", "mountPath": "/tmp"}],
        }],
        "volumes": [{"name": "plugins-config-volume", "configMap": {"name": epp}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
    }
    if replicas > 1:
        mine = {"matchLabels": {CHART_SELECTOR: epp}}
        spec["topologySpreadConstraints"] = [
            {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": mine}
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")]
    return spec


def deployment_spec(epp: str, pool: str, namespace: str, settings: router.RouterSettings,
                    labels: dict[str, str]) -> dict[str, Any]:
    return {
        "replicas": settings.replicas,
        # routerlib _deployment.yaml: Recreate, so an old leader never holds the lease while its successor waits.
        "strategy": {"type": "Recreate"},
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": {CHART_SELECTOR: epp}},
        "template": {"metadata": {"labels": labels}, "spec": epp_pod_spec(epp, pool, namespace, settings)},
    }


def inference_pool_spec(server: Server, epp: str, settings: router.RouterSettings) -> dict[str, Any]:
    """The pool: every pod of the server (both placements), the engine port, the EPP with an explicit failureMode."""
    return {
        "selector": {"matchLabels": selector(server)},
        "targetPorts": [{"number": server.spec.port}],
        "appProtocol": "http",
        "endpointPickerRef": {"group": "", "kind": "Service", "name": epp, "port": {"number": router.EXT_PROC_PORT},
                              "failureMode": settings.failure_mode},
    }


def service_monitor_spec(epp: str, namespace: str, token_secret: str) -> dict[str, Any]:
    """Scrape the EPP's metrics (authenticated: TokenReview + SubjectAccessReview on GET /metrics) with the
    metrics reader's token (routerlib templates/_servicemonitor.yaml @ v0.10.0)."""
    return {
        "endpoints": [{"interval": "10s", "port": "http-metrics", "path": "/metrics",
                       "authorization": {"credentials": {"name": token_secret, "key": "token"}}}],
        "jobLabel": "app.kubernetes.io/name",
        "namespaceSelector": {"matchNames": [namespace]},
        "selector": {"matchLabels": {"app.kubernetes.io/name": epp, "app.kubernetes.io/component":
                                     router.EPP_COMPONENT}},
    }


class EndpointPicker(pulumi.ComponentResource):
    """One model server's InferencePool, its endpoint picker and InferenceObjectives."""

    pool_name: str
    epp_name: str
    deployment: k8s.apps.v1.Deployment
    pool: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: EndpointPickerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:inference:EndpointPicker", name, None, opts)
        ctx, served, server = args.context, args.served, args.server
        cfg = ctx.config
        settings = router.settings(cfg, served)
        ns_name = server.namespace
        ns = ctx.namespace(ns_name)
        self.pool_name = pool = pool_name(server.name)
        self.epp_name = epp = epp_name(server.name)
        labels = standard_labels(epp, router.EPP_COMPONENT, cfg.labels)
        child = pulumi.ResourceOptions(parent=self)

        def meta(n: str, extra: dict[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels={**labels, **(extra or {})})

        def role(role_name: str, rules: list[dict[str, Any]], subject: str) -> list[pulumi.Resource]:
            made = k8s.rbac.v1.Role(f"{name}-{role_name}-role", metadata=meta(f"{epp}-{role_name}"), rules=rules,
                                    opts=child)
            binding = k8s.rbac.v1.RoleBinding(
                f"{name}-{role_name}-binding", metadata=meta(f"{epp}-{role_name}"),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{epp}-{role_name}"},
                subjects=[{"kind": "ServiceAccount", "name": subject, "namespace": ns_name}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[made]))
            return [made, binding]

        # ------------------------------------------------------------------------------- identity and RBAC
        account = k8s.core.v1.ServiceAccount(f"{name}-account", metadata=meta(epp), opts=child)
        rbac: list[pulumi.Resource] = [account]
        # routerlib templates/rbac.yaml and _rbac.yaml @ v0.10.0: read the pods, the pool, objectives and rewrites.
        rbac += role("sa", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "watch", "list"]}], epp)
        rbac += role("non-sa", [
            {"apiGroups": ["llm-d.ai"], "resources": ["inferenceobjectives", "inferencemodelrewrites"],
             "verbs": ["get", "watch", "list"]},
            {"apiGroups": [router.POOL_GROUP], "resources": ["inferencepools"], "verbs": ["get", "watch", "list"]},
        ], epp)
        if settings.replicas > 1:
            # routerlib _leader-election-rbac.yaml @ v0.10.0.
            rbac += role("leader-election", [
                {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
                 "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
            ], epp)

        # ----------------------------------------------------------------------------------- workload
        config = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(epp),
                                       data={router.CONFIG_FILE: router.plugins_yaml(
                                           cfg, served, flow_control_ttl_seconds(cfg, args.context.plan,
                                                                                 served.model.name))}, opts=child)
        pod_labels = epp_pod_labels(dict(cfg.labels), epp)
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment", metadata=meta(epp),
            spec=deployment_spec(epp, pool, ns_name, settings, pod_labels),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[config, *rbac, *ctx.gateway_crds]))
        service = k8s.core.v1.Service(
            f"{name}-service", metadata=meta(epp),
            spec={"type": "ClusterIP", "selector": {CHART_SELECTOR: epp},
                  "ports": [{"name": "grpc-ext-proc", "protocol": "TCP", "port": router.EXT_PROC_PORT,
                             "targetPort": "grpc", "appProtocol": "kubernetes.io/h2c"},
                            {"name": "http-metrics", "protocol": "TCP", "port": router.METRICS_PORT,
                             "targetPort": "metrics"}]},
            opts=child)
        if settings.replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb", metadata=meta(epp),
                spec={"maxUnavailable": 1, "selector": {"matchLabels": {CHART_SELECTOR: epp}},
                      "unhealthyPodEvictionPolicy": "AlwaysAllow"},
                opts=child)
        if cfg.mesh.enabled:
            # routerlib templates/istio.yaml @ v0.10.0: the EPP serves ext_proc over TLS with its own self-signed
            # certificate (secure serving is on by default), so the gateway originates TLS without verifying it.
            k8s.apiextensions.CustomResource(
                f"{name}-destination-rule", api_version="networking.istio.io/v1", kind="DestinationRule",
                metadata=meta(epp),
                spec={"host": f"{epp}.{ns_name}.svc.cluster.local",
                      "trafficPolicy": {"tls": {"mode": "SIMPLE", "insecureSkipVerify": True}}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.mesh_ready, service]))

        # ------------------------------------------------------------------------------------ metrics
        if ctx.monitoring:
            reader = f"{epp}-{METRICS_READER}"
            reader_account = k8s.core.v1.ServiceAccount(f"{name}-metrics-reader", metadata=meta(reader),
                                                        automount_service_account_token=False, opts=child)
            token = k8s.core.v1.Secret(
                f"{name}-metrics-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=reader, namespace=ns, labels=labels,
                                                    annotations={"kubernetes.io/service-account.name": reader}),
                type="kubernetes.io/service-account-token",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[reader_account]))
            cluster_name = f"{epp}-{ns_name}"
            # The EPP checks each scrape's token (TokenReview) and its right to GET /metrics (SubjectAccessReview):
            # it may review; only the reader may read.
            review = k8s.rbac.v1.ClusterRole(
                f"{name}-metrics-auth-role", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{cluster_name}-auth",
                                                                              labels=labels),
                rules=[{"apiGroups": ["authentication.k8s.io"], "resources": ["tokenreviews"], "verbs": ["create"]},
                       {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"],
                        "verbs": ["create"]}], opts=child)
            reading = k8s.rbac.v1.ClusterRole(
                f"{name}-metrics-read-role", metadata=k8s.meta.v1.ObjectMetaArgs(name=f"{cluster_name}-metrics",
                                                                             labels=labels),
                rules=[{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}], opts=child)
            for role_res, role_name, subject in ((review, f"{cluster_name}-auth", epp),
                                                 (reading, f"{cluster_name}-metrics", reader)):
                k8s.rbac.v1.ClusterRoleBinding(
                    f"{name}-metrics-{role_name.removeprefix(cluster_name + '-')}-binding",
                    metadata=k8s.meta.v1.ObjectMetaArgs(name=role_name, labels=labels),
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
                    subjects=[{"kind": "ServiceAccount", "name": subject, "namespace": ns_name}],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[role_res]))
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=meta(epp, dict(SCRAPE_LABELS)), spec=service_monitor_spec(epp, ns_name, reader),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.monitoring_crds, token, service]))

        # ------------------------------------------------------------------------ pool and objectives
        self.pool = k8s.apiextensions.CustomResource(
            f"{name}-pool", api_version=f"{router.POOL_GROUP}/v1", kind="InferencePool", metadata=meta(pool),
            spec=inference_pool_spec(server, epp, settings),
            # Only the CRD and the picker's Service: the pool selects the servers' pods by label and the picker
            # waits for ready ones, so nothing here waits for a model to download and load.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.gateway_crds, service]))
        for objective in router.objectives(cfg):
            if objective.pool != pool:
                continue
            k8s.apiextensions.CustomResource(
                f"{name}-objective-{objective.objective}", api_version=router.OBJECTIVE_API,
                kind="InferenceObjective", metadata=meta(objective.name),
                spec={"priority": objective.priority,
                      "poolRef": {"group": router.POOL_GROUP, "kind": "InferencePool", "name": pool}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.gateway_crds, self.pool]))
        self.register_outputs({"pool_name": self.pool_name, "epp_name": self.epp_name,
                               "deployment": self.deployment, "pool": self.pool})
