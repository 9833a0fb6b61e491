"""Observability: monitoring CRDs, Prometheus/Alertmanager/Grafana, alerts, dashboards, logs, traces.

Created by `Platform` right after Tenancy and before the GPU stack. The first thing it installs is the
monitoring.coreos.com CRDs (`Observability.crds`, the prometheus-operator-crds release): `Platform` hands them
to every later component as `monitoring_crds`, and every ServiceMonitor, PodMonitor and PrometheusRule of the
program (and every Release that renders one) depends on them.

Children, one per concern (each its own component, so switching a part off in config removes its subtree):

- `{name}-crds`: helm Release prometheus-operator-crds;
- `Metrics` (`ai-platform:observability:Metrics`): the Grafana admin password (random, a Pulumi secret) and its
  Secret, the kube-prometheus-stack Release (operator, Prometheus selecting exactly the monitors and rules
  labelled `ai-platform/scrape: "true"` in every namespace, Alertmanager, Grafana, kube-state-metrics, node-exporter
  in the privileged node-agent namespace), one PrometheusRule per rule group (components/observability/rules.py),
  and the monitors of the inference gateway's Envoys, istiod and ztunnel (components/observability/inference.py);
- `Dashboards` (`ai-platform:observability:Dashboards`, `observability.dashboards`): one ConfigMap per generated
  dashboard, labelled for Grafana's dashboard sidecar;
- `Logs` (`ai-platform:observability:Logs`, `observability.logs: loki`): the Loki Release and its datasource;
- `Tracing` (`ai-platform:observability:Tracing`, `observability.tracing: tempo|jaeger`): the Tempo or Jaeger
  Release and its datasource (with trace-to-logs links);
- `Collector` (`ai-platform:observability:Collector`, when tracing or logs is on): the OpenTelemetry Collector
  Release receiving OTLP and exporting traces and logs to those backends.

Chart pins and values: components/observability/charts.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from config.capacity import CapacityPlan
from config.endpoints import endpoint
from config.errors import key_path, required
from config.models import StackConfig
from config.namespaces import NODE_AGENTS

from ..helm import release
from ..labels import SCRAPE_LABELS, standard_labels
from . import charts, datasources, inference
from .dashboards import dashboards
from .rules import rule_groups

COMPONENT = "observability"


def _meta(name: str, namespace: pulumi.Input[str], cfg: StackConfig,
          extra: Mapping[str, str] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace,
                                      labels={**standard_labels(name, COMPONENT, cfg.labels), **(extra or {})})



def _input(value: pulumi.Output[dict[str, Any]]) -> pulumi.Input[dict[str, Any]]:
    """The Output as an Input, so Output.secret(Input[U]) can solve U (mypy infers Never from a bare Output)."""
    return value


def _datasource_map(name: str, resource: str, namespace: pulumi.Input[str], cfg: StackConfig,
                    provisioning: dict[str, Any], parent: pulumi.Resource) -> k8s.core.v1.ConfigMap:
    label, value = charts.DATASOURCE_LABEL
    return k8s.core.v1.ConfigMap(
        name, metadata=_meta(resource, namespace, cfg, {label: value}),
        data={f"{resource}.yaml": yaml.safe_dump(provisioning, sort_keys=False)},
        opts=pulumi.ResourceOptions(parent=parent))


@dataclass(frozen=True)
class ObservabilityArgs:
    config: StackConfig
    """Typed stack configuration."""
    plan: CapacityPlan
    """Capacity plan (per-pool prices and GPUs for the cost rules)."""
    namespaces: Mapping[str, k8s.core.v1.Namespace]
    """Every namespace Tenancy created: the observability namespace and the node-agent namespace are used."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist first (the cluster component, Tenancy's quotas and LimitRanges)."""
    alerting_secret: pulumi.Output[str] | None = None
    """The Alertmanager receiver's URL or key (secret), when observability.alerting.receiver is set."""


@dataclass(frozen=True)
class PartArgs:
    """What each child component of Observability receives."""

    config: StackConfig
    """Typed stack configuration."""
    namespace: k8s.core.v1.Namespace
    """The observability namespace."""
    crds: Sequence[pulumi.Resource]
    """The monitoring CRDs release: anything rendering a monitor or rule depends on it."""
    after: Sequence[pulumi.Resource] = ()
    """Other resources that must exist first."""
    plan: CapacityPlan | None = None
    """Capacity plan (Metrics only: cost recording rules)."""
    node_namespace: k8s.core.v1.Namespace | None = None
    """The privileged observability-node namespace (node agents)."""
    alerting_secret: pulumi.Output[str] | None = None
    """The Alertmanager receiver's URL or key (Metrics only)."""


class Metrics(pulumi.ComponentResource):
    """kube-prometheus-stack (with the Grafana admin Secret) and the platform's PrometheusRules."""

    def __init__(self, name: str, args: PartArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Metrics", name, None, opts)
        cfg = args.config
        ns = args.namespace.metadata.name
        # Letters and digits only: the value is safe in URLs, env vars and the grafana.ini the chart renders.
        generated = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False,
                                          opts=pulumi.ResourceOptions(parent=self))
        # Typed as an Input: Output.secret(Input[U]) cannot solve U from a bare Output argument.
        admin_password: pulumi.Input[str] = generated.result
        self.grafana_admin_password: pulumi.Output[str] = pulumi.Output.secret(admin_password)
        self.grafana_admin_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=_meta(charts.GRAFANA_ADMIN_SECRET, ns, cfg),
            type="Opaque",
            string_data=pulumi.Output.secret(_input(pulumi.Output.all(**{
                charts.GRAFANA_ADMIN_USER_KEY: charts.GRAFANA_ADMIN_USER,
                charts.GRAFANA_ADMIN_PASSWORD_KEY: self.grafana_admin_password,
            }))),
            opts=pulumi.ResourceOptions(parent=self))
        self.alerting: list[pulumi.Resource] = []
        receiver = cfg.observability.alerting.receiver
        if receiver != "none":
            alerting_secret = required(args.alerting_secret, key_path("alertingSecret"), "the receiver's secret",
                                       "config.loader (required with observability.alerting.receiver)")
            receiver_secret = k8s.core.v1.Secret(
                f"{name}-alerting-secret",
                metadata=_meta(charts.ALERTING_SECRET, ns, cfg),
                type="Opaque",
                string_data=pulumi.Output.secret(
                    _input(pulumi.Output.all(**{charts.ALERTING_SECRET_KEY: alerting_secret}))),
                opts=pulumi.ResourceOptions(parent=self))
            self.alerting = [receiver_secret, k8s.apiextensions.CustomResource(
                f"{name}-alerting",
                api_version="monitoring.coreos.com/v1alpha1",
                kind="AlertmanagerConfig",
                metadata=_meta(charts.ALERTMANAGER_CONFIG, ns, cfg),
                spec=charts.alertmanager_config(cfg),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.crds, receiver_secret]))]
        self.release = release(
            f"{name}-stack", charts.STACK, charts.STACK_RELEASE, ns, charts.stack_values(cfg),
            pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.crds, self.grafana_admin_secret,
                                                            *self.alerting]),
            skip_crds=True, timeout=900)
        self.rules: list[k8s.apiextensions.CustomResource] = []
        plan = required(args.plan, key_path("observability", "enabled"), "the capacity plan",
                        "Observability (it passes its plan to Metrics)")
        for group in rule_groups(cfg, plan):
            rule_name = f"ai-platform-{group.key}"
            self.rules.append(k8s.apiextensions.CustomResource(
                f"{name}-rules-{group.key}",
                api_version="monitoring.coreos.com/v1",
                kind="PrometheusRule",
                metadata=_meta(rule_name, ns, cfg, SCRAPE_LABELS),
                spec=group.spec(),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.crds])))
        # The gateway Envoys, istiod and ztunnel (components/observability/inference.py). Created here, in the
        # observability namespace (excluded from namespace enforcement), so their series keep their pods' namespace
        # and nothing waits for the mesh's namespace: a monitor whose targets do not exist yet selects nothing.
        self.monitors = [
            k8s.apiextensions.CustomResource(
                f"{name}-monitor-{monitor.name}",
                api_version="monitoring.coreos.com/v1",
                kind=monitor.kind,
                metadata=_meta(monitor.name, ns, cfg, SCRAPE_LABELS),
                spec=monitor.spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.crds]))
            for monitor in inference.monitors(cfg)
        ]
        self.register_outputs({"grafana_admin_password": self.grafana_admin_password,
                               "rules": [r.metadata["name"] for r in self.rules],
                               "monitors": [mon.metadata["name"] for mon in self.monitors]})


class Dashboards(pulumi.ComponentResource):
    """One ConfigMap per generated Grafana dashboard (loaded by the Grafana dashboard sidecar)."""

    def __init__(self, name: str, args: PartArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Dashboards", name, None, opts)
        cfg = args.config
        ns = args.namespace.metadata.name
        label, value = charts.DASHBOARD_LABEL
        self.config_maps = [
            k8s.core.v1.ConfigMap(
                f"{name}-{board.uid}",
                metadata=_meta(f"dashboard-{board.uid}", ns, cfg, {label: value}),
                data={f"{board.uid}.json": board.json()},
                opts=pulumi.ResourceOptions(parent=self))
            for board in dashboards(cfg)
        ]
        self.register_outputs({"config_maps": [c.metadata.name for c in self.config_maps]})


class Logs(pulumi.ComponentResource):
    """Loki (monolithic) and its Grafana datasource."""

    def __init__(self, name: str, args: PartArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Logs", name, None, opts)
        cfg = args.config
        ns = args.namespace.metadata.name
        self.release = release(f"{name}-loki", charts.LOKI, charts.LOKI_FULLNAME, ns, charts.loki_values(cfg),
                                pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.crds]))
        self.datasource = _datasource_map(f"{name}-datasource", "datasource-loki", ns, cfg, datasources.loki(cfg), self)
        self.node_logs: k8s.helm.v3.Release | None = None
        if cfg.observability.log_store.node_logs:
            node_namespace = required(args.node_namespace, key_path("observability", "logStore", "nodeLogs"),
                                      "the observability-node namespace", "Tenancy (it creates it with observability)")
            self.node_logs = release(
                f"{name}-node-logs", charts.COLLECTOR, charts.NODE_LOGS_FULLNAME, node_namespace.metadata.name,
                charts.node_logs_values(cfg),
                pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.crds, self.release]))
        self.register_outputs({"release": self.release.name,
                               "node_logs": self.node_logs.name if self.node_logs else None})


class Tracing(pulumi.ComponentResource):
    """Tempo (or Jaeger) and its Grafana datasource."""

    def __init__(self, name: str, args: PartArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Tracing", name, None, opts)
        cfg = args.config
        ns = args.namespace.metadata.name
        after = pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.crds])
        if cfg.observability.tracing == "tempo":
            self.release = release(f"{name}-tempo", charts.TEMPO, charts.TEMPO_FULLNAME, ns, charts.tempo_values(cfg),
                                    after)
        else:
            self.release = release(f"{name}-jaeger", charts.JAEGER, charts.JAEGER_FULLNAME, ns,
                                    charts.jaeger_values(cfg), after)
        provisioning = required(datasources.traces(cfg), key_path("observability", "tracing"),
                                "the trace datasource", "Observability (it creates Tracing only for tempo or jaeger)")
        self.datasource = _datasource_map(f"{name}-datasource", f"datasource-{cfg.observability.tracing}", ns, cfg,
                                          provisioning, self)
        self.register_outputs({"release": self.release.name})


class Collector(pulumi.ComponentResource):
    """OpenTelemetry Collector (deployment): OTLP in, traces and logs out to the configured backends."""

    def __init__(self, name: str, args: PartArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Collector", name, None, opts)
        cfg = args.config
        ns = args.namespace.metadata.name
        self.release = release(f"{name}-otel", charts.COLLECTOR, charts.COLLECTOR_FULLNAME, ns,
                                charts.collector_values(cfg),
                                pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.crds]))
        self.register_outputs({"release": self.release.name})


class Observability(pulumi.ComponentResource):
    """Monitoring CRDs first, then metrics, dashboards, logs, traces and the OTLP collector (see module doc)."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:observability:Observability", name, None, opts)
        cfg = args.config
        obs = cfg.observability
        namespace = args.namespaces[obs.namespace]
        # The node-agent namespace must exist before node-exporter lands there (namespaceOverride).
        after = [*args.after, namespace, *([args.namespaces[NODE_AGENTS]] if NODE_AGENTS in args.namespaces else [])]
        self.crds_release = release(f"{name}-crds", charts.CRDS, "prometheus-operator-crds", namespace.metadata.name,
                                     charts.crds_values(), pulumi.ResourceOptions(parent=self, depends_on=list(after)))
        self.crds: list[pulumi.Resource] = [self.crds_release]
        child = pulumi.ResourceOptions(parent=self)

        def part(plan: CapacityPlan | None = None) -> PartArgs:
            return PartArgs(cfg, namespace, self.crds, after, plan, args.namespaces.get(NODE_AGENTS))

        metrics_args = dataclasses.replace(part(args.plan), alerting_secret=args.alerting_secret)

        self.metrics = Metrics(f"{name}-metrics", metrics_args, child)
        self.dashboards = Dashboards(f"{name}-dashboards", part(), child) if obs.dashboards else None
        self.logs = Logs(f"{name}-logs", part(), child) if obs.logs == "loki" else None
        self.tracing = Tracing(f"{name}-tracing", part(), child) if obs.tracing != "none" else None
        self.collector = Collector(f"{name}-collector", part(), child) \
            if obs.tracing != "none" or obs.logs != "none" else None

        grafana = required(endpoint(cfg, "grafana"), key_path("observability", "enabled"), "the Grafana endpoint",
                           "config.endpoints (with observability on)")
        self.grafana_url = grafana.url
        self.grafana_admin_password = self.metrics.grafana_admin_password
        self.register_outputs({
            "crds": [self.crds_release.name],
            "grafana_url": self.grafana_url,
            "grafana_admin_password": self.grafana_admin_password,
        })
