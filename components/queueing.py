"""Kueue (`ai-platform:queueing`): the controller Release and the queue objects of config/queueing.py.

- Release `kueue` (chart kueue 0.19.2, charts.lock.yaml) in the `kueue-system` platform namespace; it installs the
  kueue.x-k8s.io CRDs (chart templates/crd), so every queue object depends on it. Values (`chart_values`): two
  controller replicas with leader election (chart managerConfig `leaderElection.leaderElect: true`; every replica
  serves the webhooks, so a drained node does not stop Job admission cluster-wide) behind a PodDisruptionBudget and
  spread over nodes; the chart's restricted securityContext kept; only the `batch/job` integration (Deployments,
  StatefulSets and bare pods are never queued here: the chart's default list also manages pods, Deployments,
  StatefulSets, LeaderWorkerSets, Ray and Kubeflow kinds, which would put model servers behind queue admission as
  soon as someone labels one); the chart's ServiceMonitor off (it reads a bearer token file, which the platform's
  Prometheus refuses: arbitraryFSAccessThroughSMs.deny) and our own ServiceMonitor instead.
- ResourceFlavors, ClusterQueues, LocalQueues, WorkloadPriorityClasses and, on GKE for queued flex-start pools,
  ProvisioningRequestConfigs and AdmissionChecks (config/queueing.py has the rules).
- With observability: a metrics-reader ServiceAccount and its token Secret in kueue-system, bound to the chart's
  `kueue-metrics-reader` ClusterRole (GET /metrics; Kueue's metrics endpoint authenticates and authorizes every
  scrape), and a ServiceMonitor labelled for the platform's Prometheus on the metrics Service's `https` port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config import queueing
from config.namespaces import KUEUE

from .context import PlatformContext
from .helm import pin, release
from .labels import SCRAPE_LABELS, standard_labels
from .rag.backup import TopLevelObject

# kubernetes-sigs/kueue charts/kueue/Chart.yaml and values.yaml @ v0.19.2 (appVersion v0.19.2, image
# registry.k8s.io/kueue/kueue:v0.19.2).
KUEUE_CHART = pin("kueue")
RELEASE_NAME = "kueue"
"""Fixed, so the chart's names derive from it: kueue-controller-manager, kueue-metrics-reader, ..."""
METRICS_SERVICE = f"{RELEASE_NAME}-controller-manager-metrics-service"
METRICS_READER_ROLE = f"{RELEASE_NAME}-metrics-reader"
METRICS_READER = "kueue-metrics-scraper"
SELECTOR = {"app.kubernetes.io/name": "kueue", "app.kubernetes.io/instance": RELEASE_NAME,
            "control-plane": "controller-manager"}
"""The chart's selector labels (templates/_helpers.tpl kueue.selectorLabels + control-plane) on pods and Services."""

# The chart's controller_manager_config.yaml with the integrations narrowed to batch/job (module docstring); the
# rest is the chart default of v0.19.2.
MANAGER_CONFIG = """apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
health:
  healthProbeBindAddress: :8081
metrics:
  bindAddress: :8443
webhook:
  port: 9443
leaderElection:
  leaderElect: true
  resourceName: c1f6bfd2.kueue.x-k8s.io
controller:
  groupKindConcurrency:
    Job.batch: 5
    Pod: 5
    Workload.kueue.x-k8s.io: 10
    LocalQueue.kueue.x-k8s.io: 5
    ClusterQueue.kueue.x-k8s.io: 5
    ResourceFlavor.kueue.x-k8s.io: 1
clientConnection:
  qps: 300
  burst: 500
integrations:
  frameworks:
  - "batch/job"
"""


def chart_values() -> dict[str, Any]:
    """Values of the kueue chart (every key exists in its values.yaml at 0.19.2; tests/queueing checks them)."""
    return {
        "enablePrometheus": False,
        "controllerManager": {
            "replicas": 2,
            "podDisruptionBudget": {"enabled": True, "minAvailable": 1},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": dict(SELECTOR)}}],
            "manager": {
                # The chart default (requests 500m/512Mi, limits 2 CPU/512Mi): memory requests == limits so the
                # controller is not the first evicted under memory pressure.
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"},
                              "limits": {"cpu": "2", "memory": "512Mi"}},
                "podSecurityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                "containerSecurityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                             "capabilities": {"drop": ["ALL"]}},
            },
        },
        "managerConfig": {"controllerManagerConfigYaml": MANAGER_CONFIG},
    }


@dataclass(frozen=True)
class QueueingArgs:
    context: PlatformContext
    after: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Queueing(pulumi.ComponentResource):
    """Kueue and the platform's queues."""

    ready: list[pulumi.Resource]
    """The Release and every queue object: Jobs naming a LocalQueue depend on them."""

    def __init__(self, name: str, args: QueueingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:queueing:Queueing", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        user = cfg.labels
        monitoring = list(ctx.monitoring_crds) if ctx.monitoring else []
        self.release = release(f"{name}-kueue", KUEUE_CHART, RELEASE_NAME, ctx.namespace(KUEUE), chart_values(),
                               pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *monitoring]))
        after = pulumi.ResourceOptions(parent=self, depends_on=[self.release])

        def custom(kind: str, obj_name: str, spec: dict[str, Any]) -> k8s.apiextensions.CustomResource:
            """A cluster-scoped Kueue object."""
            metadata = k8s.meta.v1.ObjectMetaArgs(name=obj_name, labels=standard_labels(obj_name, "queueing", user))
            return k8s.apiextensions.CustomResource(
                f"{name}-{kind.lower()}-{obj_name}", api_version=queueing.KUEUE_API, kind=kind, metadata=metadata,
                spec=spec, opts=after)

        self.ready: list[pulumi.Resource] = [self.release]
        for flavor in queueing.resource_flavors(cfg):
            self.ready.append(custom("ResourceFlavor", flavor.name, flavor.spec))
        for priority_name, value, why in queueing.PRIORITY_CLASSES:
            # No spec: `value` and `description` sit beside metadata.
            self.ready.append(TopLevelObject(
                f"{name}-workloadpriorityclass-{priority_name}", queueing.KUEUE_API, "WorkloadPriorityClass",
                {"name": priority_name, "labels": standard_labels(priority_name, "queueing", user)},
                {"value": value, "description": why}, after))
        checks: list[pulumi.Resource] = []
        for pool in queueing.provisioning_pools(cfg):
            check_name = queueing.admission_check_name(pool)
            checks.append(custom("ProvisioningRequestConfig", check_name,
                                 queueing.provisioning_config_spec(cfg, pool)))
            checks.append(custom("AdmissionCheck", check_name, queueing.admission_check_spec(pool)))
        self.ready += checks
        for namespace in queueing.queued_namespaces(cfg):
            cluster_queue = custom("ClusterQueue", namespace, queueing.cluster_queue_spec(cfg, ctx.plan, namespace))
            local = k8s.apiextensions.CustomResource(
                f"{name}-localqueue-{namespace}", api_version=queueing.KUEUE_API, kind="LocalQueue",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=queueing.LOCAL_QUEUE, namespace=ctx.namespace(namespace),
                                                    labels=standard_labels(queueing.LOCAL_QUEUE, "queueing", user)),
                spec=queueing.local_queue_spec(namespace),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, cluster_queue]))
            self.ready += [cluster_queue, local]

        if ctx.monitoring:
            labels = standard_labels(METRICS_READER, "queueing", user)
            ns = ctx.namespace(KUEUE)
            account = k8s.core.v1.ServiceAccount(
                f"{name}-metrics-reader", metadata=k8s.meta.v1.ObjectMetaArgs(name=METRICS_READER, namespace=ns,
                                                                              labels=labels),
                automount_service_account_token=False, opts=pulumi.ResourceOptions(parent=self))
            token = k8s.core.v1.Secret(
                f"{name}-metrics-token",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=METRICS_READER, namespace=ns, labels=labels,
                                                    annotations={"kubernetes.io/service-account.name": METRICS_READER}),
                type="kubernetes.io/service-account-token",
                opts=pulumi.ResourceOptions(parent=self, depends_on=[account]))
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-metrics-reader-binding", metadata=k8s.meta.v1.ObjectMetaArgs(name=METRICS_READER,
                                                                                      labels=labels),
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                          "name": METRICS_READER_ROLE},
                subjects=[{"kind": "ServiceAccount", "name": METRICS_READER, "namespace": KUEUE}],
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, account]))
            k8s.apiextensions.CustomResource(
                f"{name}-service-monitor", api_version="monitoring.coreos.com/v1", kind="ServiceMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=RELEASE_NAME, namespace=ns,
                                                    labels={**labels, **SCRAPE_LABELS}),
                spec=service_monitor_spec(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*monitoring, token, self.release]))
        self.register_outputs({})


def service_monitor_spec() -> dict[str, Any]:
    """Kueue's metrics (HTTPS, self-signed serving certificate: the chart's own monitor skips verification too) with
    the metrics reader's token from its Secret (no file: arbitraryFSAccessThroughSMs.deny)."""
    return {
        "endpoints": [{"port": "https", "scheme": "https", "path": "/metrics",
                       "tlsConfig": {"insecureSkipVerify": True},
                       "authorization": {"credentials": {"name": METRICS_READER, "key": "token"}}}],
        "namespaceSelector": {"matchNames": [KUEUE]},
        # Only the metrics Service (the webhook and visibility Services carry the same selector labels).
        "selector": {"matchLabels": {**SELECTOR, "app.kubernetes.io/component": "metrics-service"}},
    }
