"""Gateway: the AI gateway application (the image from `rag.gateway.image`) as typed Kubernetes objects.

The image's contract (document it for whoever builds the gateway, e.g. a Spring Boot service):

- serves HTTP on 8080 and management on 8081: `/actuator/health/liveness`, `/actuator/health/readiness`
  and `/actuator/prometheus` (Spring Boot with `management.endpoint.health.probes.enabled`);
- runs as a non-root numeric user (1000 here) with a read-only root filesystem (only `/tmp` is writable);
- reads its wiring from the environment: the non-secret part from the ConfigMap `ai-gateway-config`
  (`envFrom`), credentials from the Secret `ai-gateway-credentials` (`secretKeyRef`), the Elasticsearch
  CA from `/etc/ai-gateway/search-ca/ca.crt`. Every endpoint URL comes from `config/endpoints.py`.

Scaling: an autoscaling/v2 HPA on CPU (and requests/s per pod when `autoscaling.rpsPerPod` is set, which
needs prometheus-adapter to serve `http_server_requests_per_second`), a PDB, zone/host spread, and a
graceful shutdown longer than the request timeout (the edge's with the inference gateway, else the ingress') so
streamed answers finish during rollouts. With the inference gateway every model URL is its internal Gateway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config import sizing
from config.endpoints import endpoints
from config.inference import rag_exposure
from config.models import Gateway as GatewayConfig
from config.models import StackConfig

from ..labels import SCRAPE_LABELS, standard_labels
from . import charts, milvus_users
from .secrets import checksum as credentials_checksum
from .secrets import secret

NAME = "ai-gateway"
CONFIG_MAP = "ai-gateway-config"
CREDENTIALS = "ai-gateway-credentials"
SEARCH_CA = "ai-gateway-search-ca"
SEARCH_CA_DIR = "/etc/ai-gateway/search-ca"
HTTP_PORT = 8080
MANAGEMENT_PORT = 8081
RUN_AS = 1000
RPS_METRIC = "http_server_requests_per_second"


def env_key(name: str) -> str:
    """An env-var-safe upper-case form of a model name (qwen-7b -> QWEN_7B)."""
    return name.upper().replace("-", "_").replace(".", "_")


@dataclass(frozen=True)
class GatewayArgs:
    context: PlatformContext
    """Shared platform inputs."""
    credentials: dict[str, pulumi.Output[str]]
    """Secret Outputs keyed by Secret key (vector-store-password|api-key, elasticsearch-password, redis-password)."""
    gateway: GatewayConfig
    """`rag.gateway` (the component exists only when it is set)."""
    search_ca_pem: pulumi.Output[str] | None = None
    """The Elasticsearch HTTP CA (public), when full-text search is deployed."""


def gateway_config(ctx: PlatformContext, gw: GatewayConfig) -> dict[str, str]:
    """The non-secret environment of the gateway `gw` (ConfigMap data), from config/endpoints.py."""
    cfg = ctx.config
    eps = endpoints(cfg)
    data: dict[str, str] = {
        "SERVER_PORT": str(HTTP_PORT),
        "MANAGEMENT_SERVER_PORT": str(MANAGEMENT_PORT),
        "MANAGEMENT_ENDPOINT_HEALTH_PROBES_ENABLED": "true",
        "MANAGEMENT_ENDPOINTS_WEB_EXPOSURE_INCLUDE": "health,prometheus",
        "SERVER_SHUTDOWN": "graceful",
        "SPRING_LIFECYCLE_TIMEOUT_PER_SHUTDOWN_PHASE": f"{request_timeout(cfg, gw)}s",
        "JAVA_TOOL_OPTIONS": "-XX:MaxRAMPercentage=75 -Djava.io.tmpdir=/tmp",
    }
    models = [m.name for m in cfg.serving.models]
    if models:
        data["AI_GATEWAY_MODELS"] = ",".join(models)
        data["AI_GATEWAY_DEFAULT_MODEL"] = models[0]
        for model in models:
            data[f"AI_GATEWAY_MODEL_{env_key(model)}_URL"] = model_url(cfg, f"model/{model}")
    if "embedding" in eps:
        data["AI_GATEWAY_EMBEDDING_URL"] = model_url(cfg, "embedding")
    store = cfg.rag.vector_store
    if store is not None:
        ep = eps["vector-store"]
        data["AI_GATEWAY_VECTOR_STORE_ENGINE"] = store.engine
        data["AI_GATEWAY_VECTOR_STORE_URL"] = ep.url
        if store.engine == "milvus":
            # Its own user, limited to its own database (milvus_users.py); never root.
            data["AI_GATEWAY_VECTOR_STORE_USERNAME"] = milvus_users.USER
            data["AI_GATEWAY_VECTOR_STORE_DATABASE"] = milvus_users.DATABASE
        else:
            data["AI_GATEWAY_VECTOR_STORE_GRPC_PORT"] = str(ep.ports[1].port)
    if "full-text" in eps:
        data["SPRING_ELASTICSEARCH_URIS"] = eps["full-text"].url
        data["SPRING_ELASTICSEARCH_USERNAME"] = "ai-gateway"
        data["AI_GATEWAY_ELASTICSEARCH_INDEX_PREFIX"] = "rag-"
        data["AI_GATEWAY_ELASTICSEARCH_CA_PATH"] = f"{SEARCH_CA_DIR}/ca.crt"
    if "cache" in eps:
        data["SPRING_DATA_REDIS_HOST"] = eps["cache"].host
        data["SPRING_DATA_REDIS_PORT"] = str(eps["cache"].port)
        data["SPRING_DATA_REDIS_USERNAME"] = charts.REDIS_GATEWAY_USER
    if "otel-collector" in eps:
        otlp = eps["otel-collector"]
        data["OTEL_SERVICE_NAME"] = NAME
        data["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{otlp.host}:{otlp.ports[1].port}"
    data.update(gw.env)
    return data


def request_timeout(cfg: StackConfig, gw: GatewayConfig) -> int:
    """How long one request to the gateway may run (a streamed answer): the edge's timeout when the inference
    gateway exposes it, else the Ingress' proxy timeout. Shutdown waits this long for requests in flight."""
    edge = cfg.inference_gateway.edge
    if rag_exposure(cfg) == "gateway" and edge is not None:
        return edge.timeout_seconds
    return gw.ingress.timeout_seconds


def model_url(cfg: StackConfig, key: str) -> str:
    """The base URL the gateway calls a model (or the embedding server) at: with the inference gateway, its internal
    Gateway, which routes by the body's `model` (the same URL for every model; never a model Service, so canary
    weights, adapters and the endpoint picker apply); without it, the model's Service (config/endpoints.py)."""
    if cfg.inference_gateway.enabled:
        return endpoints(cfg)["inference-gateway"].url
    return endpoints(cfg)[key].url


SECRET_ENV = {
    "vector-store-password": "AI_GATEWAY_VECTOR_STORE_PASSWORD",
    "vector-store-api-key": "AI_GATEWAY_VECTOR_STORE_API_KEY",
    "elasticsearch-password": "SPRING_ELASTICSEARCH_PASSWORD",
    "redis-password": "SPRING_DATA_REDIS_PASSWORD",
}


class Gateway(pulumi.ComponentResource):
    """Deployment, Service, HPA, PDB, ConfigMap, Secret and ServiceMonitor of the AI gateway."""

    service: k8s.core.v1.Service
    deployment: k8s.apps.v1.Deployment

    def __init__(self, name: str, args: GatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Gateway", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        gw = args.gateway
        ns_name = gw.namespace
        ns = ctx.namespace(ns_name)
        labels = standard_labels(NAME, "gateway", cfg.labels)
        selector = {"app.kubernetes.io/name": labels["app.kubernetes.io/name"],
                    "app.kubernetes.io/component": labels["app.kubernetes.io/component"]}
        def meta(n: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels=labels)

        child = pulumi.ResourceOptions(parent=self)

        data = gateway_config(ctx, gw)
        config_map = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(CONFIG_MAP), data=data, opts=child)
        creds = secret(f"{name}-credentials", self, meta(CREDENTIALS), args.credentials)
        volumes = [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="1Gi"))]
        mounts = [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")]
        needs: list[pulumi.Resource] = [config_map, creds]
        if args.search_ca_pem is not None:
            needs.append(k8s.core.v1.ConfigMap(f"{name}-search-ca", metadata=meta(SEARCH_CA),
                                               data={"ca.crt": args.search_ca_pem}, opts=child))
            volumes.append(k8s.core.v1.VolumeArgs(name="search-ca", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=SEARCH_CA)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name="search-ca", mount_path=SEARCH_CA_DIR, read_only=True))
        account = k8s.core.v1.ServiceAccount(f"{name}-service-account", metadata=meta(NAME),
                                             automount_service_account_token=False, opts=child)

        env = [k8s.core.v1.EnvVarArgs(name=SECRET_ENV[key], value_from=k8s.core.v1.EnvVarSourceArgs(
                   secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=CREDENTIALS, key=key)))
               for key in sorted(args.credentials)]
        def probe(path: str, **kw: int) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port="management"), timeout_seconds=3, **kw)

        res = gw.resources
        container = k8s.core.v1.ContainerArgs(
            name="gateway",
            image=gw.image,
            ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=HTTP_PORT),
                   k8s.core.v1.ContainerPortArgs(name="management", container_port=MANAGEMENT_PORT)],
            env_from=[k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=CONFIG_MAP))],
            env=env,
            resources=k8s.core.v1.ResourceRequirementsArgs(**charts.resources(res.cpu, res.memory, res.cpu_limit,
                                                                               res.memory_limit)),
            startup_probe=probe("/actuator/health/liveness", period_seconds=5, failure_threshold=36),
            liveness_probe=probe("/actuator/health/liveness", period_seconds=10, failure_threshold=3),
            readiness_probe=probe("/actuator/health/readiness", period_seconds=5, failure_threshold=3),
            # Give the ingress time to drop the endpoint before the JVM stops accepting requests.
            lifecycle=k8s.core.v1.LifecycleArgs(pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                sleep=k8s.core.v1.SleepActionArgs(seconds=10))),
            security_context=k8s.core.v1.SecurityContextArgs(
                allow_privilege_escalation=False, read_only_root_filesystem=True, run_as_non_root=True,
                capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"])),
            volume_mounts=mounts,
        )
        spread = [k8s.core.v1.TopologySpreadConstraintArgs(
                      max_skew=1, topology_key=key, when_unsatisfiable="ScheduleAnyway",
                      label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector))
                  for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]
        checksum = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata=meta(NAME),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=gw.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="RollingUpdate", rolling_update=
                    k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=sizing.GATEWAY_ROLLOUT["maxUnavailable"],
                        max_surge=sizing.GATEWAY_ROLLOUT["maxSurge"])),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    # The credentials' hash rolls the pods when a password is rotated (env is read at start).
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={
                        "ai-platform/config-checksum": checksum,
                        "ai-platform/credentials-checksum": credentials_checksum(
                            *(args.credentials[k] for k in sorted(args.credentials)))}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=NAME,
                        automount_service_account_token=False,
                        priority_class_name=charts.PRIORITY_CLASS,
                        termination_grace_period_seconds=request_timeout(cfg, gw) + 30,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True, run_as_user=RUN_AS, run_as_group=RUN_AS, fs_group=RUN_AS,
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
                        topology_spread_constraints=spread,
                        containers=[container],
                        volumes=volumes,
                    ),
                ),
            ),
            # The HPA owns the replica count after creation.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*needs, account],
                                        ignore_changes=["spec.replicas"]),
        )
        self.service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(NAME),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP", selector=selector,
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=80, target_port="http"),
                       k8s.core.v1.ServicePortArgs(name="management", port=MANAGEMENT_PORT, target_port="management")]),
            opts=child,
        )
        auto = gw.autoscaling
        metrics = [k8s.autoscaling.v2.MetricSpecArgs(
            type="Resource",
            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                name="cpu", target=k8s.autoscaling.v2.MetricTargetArgs(type="Utilization",
                                                                        average_utilization=auto.cpu_utilization)))]
        if auto.rps_per_pod is not None:
            metrics.append(k8s.autoscaling.v2.MetricSpecArgs(type="Pods", pods=k8s.autoscaling.v2.PodsMetricSourceArgs(
                metric=k8s.autoscaling.v2.MetricIdentifierArgs(name=RPS_METRIC),
                target=k8s.autoscaling.v2.MetricTargetArgs(type="AverageValue", average_value=str(auto.rps_per_pod)))))
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata=meta(NAME),
            spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                    api_version="apps/v1", kind="Deployment", name=NAME),
                min_replicas=gw.replicas, max_replicas=auto.max_replicas, metrics=metrics,
                behavior=k8s.autoscaling.v2.HorizontalPodAutoscalerBehaviorArgs(
                    scale_down=k8s.autoscaling.v2.HPAScalingRulesArgs(stabilization_window_seconds=300))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.deployment]),
        )
        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=meta(NAME),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1, selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)),
            opts=child,
        )
        if ctx.monitoring:
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=NAME, namespace=ns, labels={**labels, **SCRAPE_LABELS}),
                spec={"selector": {"matchLabels": selector},
                      "endpoints": [{"port": "management", "path": "/actuator/prometheus", "interval": "30s"}]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(ctx.monitoring_crds)),
            )
        self.register_outputs({"service": self.service, "deployment": self.deployment})
