"""Every value passed to each observability chart exists in that chart version's values.yaml.

Only opentelemetry-collector and loki ship a values.schema.json; the others accept a misspelt key silently.
UPSTREAM records, per chart, every key path the program sets with its upstream default, copied by hand from
the values.yaml at the pinned tag:

- kube-prometheus-stack: prometheus-community/helm-charts tag kube-prometheus-stack-88.5.3,
  charts/kube-prometheus-stack/values.yaml; keys under `grafana.`, `kube-state-metrics.` and
  `prometheus-node-exporter.` that kube-prometheus-stack does not declare itself are checked against its subcharts:
  grafana-community/helm-charts tag grafana-12.11.1 charts/grafana/values.yaml, prometheus-community/helm-charts
  tags kube-state-metrics-8.4.0 and prometheus-node-exporter-4.56.1;
- loki: grafana-community/helm-charts tag loki-18.11.0 charts/loki/values.yaml;
- tempo: grafana-community/helm-charts tag tempo-2.2.4 charts/tempo/values.yaml;
- opentelemetry-collector: open-telemetry/opentelemetry-helm-charts tag opentelemetry-collector-0.170.0;
- jaeger: jaegertracing/helm-charts tag jaeger-4.11.1 charts/jaeger/values.yaml;
- prometheus-operator-crds 31.0.1: no values are passed.

FREE_FORM lists the declared keys whose content is not the chart's own schema: Kubernetes objects
(resources, securityContexts, label maps, selectors, volume claim templates) and config-file passthroughs
(Grafana's grafana.ini sections, Loki's limits_config/compactor/analytics blocks, the collector's whole config):
the key itself must exist upstream (or its parent map, for config-file sections), its content is not checked here.
When a chart version changes, re-read these keys in the new values.yaml.
"""

from __future__ import annotations

import pytest

from components.observability import charts
from tests.chart_values import check_values, leaf_paths

from .conftest import variants

CHECKED = {
    "kube-prometheus-stack": "88.5.3", "grafana": "12.11.1", "kube-state-metrics": "8.4.0",
    "prometheus-node-exporter": "4.56.1", "loki": "18.11.0", "tempo": "2.2.4", "opentelemetry-collector": "0.170.0",
    "jaeger": "4.11.1", "prometheus-operator-crds": "31.0.1",
}

UPSTREAM: dict[str, dict[str, object]] = {
    "kube-prometheus-stack": {
        "fullnameOverride": "",
        "commonLabels": {},
        "crds.enabled": True,
        "defaultRules.create": True,
        "defaultRules.rules.etcd": True,
        "defaultRules.rules.kubeControllerManager": True,
        "defaultRules.rules.kubeProxy": True,
        "defaultRules.rules.kubeSchedulerAlerting": True,
        "defaultRules.rules.kubeSchedulerRecording": True,
        "defaultRules.rules.windows": True,
        "kubeControllerManager.enabled": True,
        "kubeScheduler.enabled": True,
        "kubeEtcd.enabled": True,
        "kubeProxy.enabled": True,
        "coreDns.enabled": True,
        "kubeDns.enabled": False,
        "windowsMonitoring.enabled": False,
        "nodeExporter.operatingSystems.aix.enabled": True,
        "nodeExporter.operatingSystems.darwin.enabled": True,
        "prometheus-node-exporter.namespaceOverride": "",
        "prometheus-node-exporter.prometheus.monitor.additionalLabels": {},   # node-exporter 4.56.1
        "prometheus-node-exporter.resources": {},                             # node-exporter 4.56.1
        "prometheus-node-exporter.containerSecurityContext": {"readOnlyRootFilesystem": True},  # node-exporter 4.56.1
        "kube-state-metrics.metricLabelsAllowlist": [],                       # kube-state-metrics 8.4.0
        "kube-state-metrics.prometheus.monitor.additionalLabels": {},         # kube-state-metrics 8.4.0
        "kube-state-metrics.resources": {},                                   # kube-state-metrics 8.4.0
        "prometheusOperator.admissionWebhooks.enabled": True,
        "prometheusOperator.resources": {},
        "prometheusOperator.prometheusConfigReloader.resources": {},
        "alertmanager.alertmanagerSpec.podMetadata": {},
        "alertmanager.alertmanagerSpec.resources": {},
        "alertmanager.alertmanagerSpec.storage": {},
        "alertmanager.alertmanagerSpec.alertmanagerConfiguration": {},  # line 1091: a global AlertmanagerConfig by name
        "alertmanager.alertmanagerSpec.replicas": 1,
        "alertmanager.alertmanagerSpec.podAntiAffinity": "soft",
        "alertmanager.podDisruptionBudget.enabled": False,
        "alertmanager.podDisruptionBudget.minAvailable": 1,
        "prometheus.prometheusSpec.replicas": 1,
        "prometheus.prometheusSpec.podAntiAffinity": "soft",
        "prometheus.podDisruptionBudget.enabled": False,
        "prometheus.podDisruptionBudget.minAvailable": 1,
        "grafana.admin.existingSecret": "",
        "grafana.admin.userKey": "admin-user",
        "grafana.admin.passwordKey": "admin-password",
        "grafana.defaultDashboardsEnabled": True,
        "grafana.defaultDashboardsTimezone": "utc",
        "grafana.sidecar.dashboards.enabled": True,
        "grafana.sidecar.dashboards.label": "grafana_dashboard",
        "grafana.sidecar.dashboards.labelValue": "1",
        "grafana.sidecar.dashboards.searchNamespace": "ALL",
        "grafana.sidecar.datasources.enabled": True,
        "grafana.sidecar.datasources.label": "grafana_datasource",
        "grafana.sidecar.datasources.labelValue": "1",
        "grafana.sidecar.datasources.searchNamespace": None,                  # grafana 12.11.1
        "grafana.sidecar.datasources.uid": "prometheus",
        "grafana.sidecar.datasources.defaultDatasourceEnabled": True,
        "grafana.sidecar.datasources.isDefaultDatasource": True,
        "grafana.sidecar.resources": {},                                      # grafana 12.11.1
        "grafana.grafana.ini": {},                                            # grafana 12.11.1 (paths, analytics, ...)
        "grafana.plugins": [],                                                # grafana 12.11.1
        "grafana.persistence.enabled": False,                                 # grafana 12.11.1
        "grafana.initChownData.enabled": True,                                # grafana 12.11.1
        "grafana.testFramework.enabled": True,                                # grafana 12.11.1
        "grafana.securityContext": {},                                        # grafana 12.11.1 (runAsUser 472 ...)
        "grafana.resources": {},                                              # grafana 12.11.1
        "grafana.serviceMonitor.enabled": True,
        "grafana.serviceMonitor.labels": {},                                  # grafana 12.11.1
        "prometheus.prometheusSpec.retention": "10d",
        "prometheus.prometheusSpec.retentionSize": "",
        "prometheus.prometheusSpec.scrapeInterval": "",
        "prometheus.prometheusSpec.evaluationInterval": "",
        "prometheus.prometheusSpec.storageSpec": {},
        "prometheus.prometheusSpec.resources": {},
        "prometheus.prometheusSpec.podMetadata": {},
        "prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues": True,
        "prometheus.prometheusSpec.serviceMonitorSelector": {},
        "prometheus.prometheusSpec.serviceMonitorNamespaceSelector": {},
        "prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues": True,
        "prometheus.prometheusSpec.podMonitorSelector": {},
        "prometheus.prometheusSpec.podMonitorNamespaceSelector": {},
        "prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues": True,
        "prometheus.prometheusSpec.ruleSelector": {},
        "prometheus.prometheusSpec.ruleNamespaceSelector": {},
        "prometheus.prometheusSpec.probeSelectorNilUsesHelmValues": True,
        "prometheus.prometheusSpec.probeSelector": {},
        "prometheus.prometheusSpec.probeNamespaceSelector": {},
        "prometheus.prometheusSpec.scrapeConfigSelectorNilUsesHelmValues": True,
        "prometheus.prometheusSpec.scrapeConfigSelector": {},
        "prometheus.prometheusSpec.scrapeConfigNamespaceSelector": {},
        # Passed through tpl/toYaml into the Prometheus spec (templates/prometheus/prometheus.yaml).
        "prometheus.prometheusSpec.additionalConfig": {},
        "prometheus.prometheusSpec.additionalScrapeConfigs": [],
        "prometheus.prometheusSpec.enforcedNamespaceLabel": "",
        "prometheus.prometheusSpec.excludedFromEnforcement": [],
        "coreDns.serviceMonitor.bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "kubeDns.serviceMonitor.bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "kubelet.serviceMonitor.enabled": True,
        "kubeApiServer.serviceMonitor.enabled": True,
    },
    "loki": {
        "deploymentMode": "Monolithic",
        "fullnameOverride": "",
        "loki.auth_enabled": True,
        "loki.commonConfig.replication_factor": 3,
        "loki.storage.type": "s3",
        "loki.schemaConfig": {},
        "loki.limits_config": {},   # declared with reject_old_samples, query_timeout, ... (Loki limits_config block)
        "loki.compactor": {},
        "loki.analytics": {},
        "singleBinary.replicas": 0,
        "singleBinary.resources": {},
        "singleBinary.persistence.size": "10Gi",
        "singleBinary.persistence.storageClass": None,
        "singleBinary.sidecar": True,
        "read.replicas": 3,
        "write.replicas": 3,
        "backend.replicas": 3,
        "ruler.enabled": True,
        "gateway.enabled": True,
        "chunksCache.enabled": True,
        "resultsCache.enabled": True,
        "lokiCanary.enabled": True,
        "test.enabled": True,
        "monitoring.serviceMonitor.enabled": False,
        "monitoring.serviceMonitor.labels": {},
    },
    "tempo": {
        "fullnameOverride": "",
        "tempo.retention": "24h",
        "tempo.reportingEnabled": True,
        "tempo.resources": {},
        "tempo.securityContext": {},
        "securityContext": {},      # runAsUser/runAsGroup/fsGroup 10001, runAsNonRoot
        "persistence.enabled": False,
        "persistence.size": "10Gi",
        "serviceMonitor.enabled": False,
        "serviceMonitor.additionalLabels": {},
    },
    "opentelemetry-collector": {
        "mode": "",
        "fullnameOverride": "",
        "image.repository": "",
        "command.name": "",
        "alternateConfig": {},
        "ports.jaeger-compact.enabled": True,
        "ports.jaeger-thrift.enabled": True,
        "ports.jaeger-grpc.enabled": True,
        "ports.zipkin.enabled": True,
        "ports.metrics.enabled": False,
        "podSecurityContext": {},
        "securityContext": {},
        "resources": {},
        "serviceMonitor.enabled": False,
        "serviceMonitor.extraLabels": {},
        "presets.logsCollection.enabled": False,
        "presets.kubernetesAttributes.enabled": False,
        "ports.otlp.enabled": True,
        "ports.otlp-http.enabled": True,
        "tolerations": [],
        "podMonitor.enabled": False,
        "podMonitor.extraLabels": {},
    },
    "jaeger": {
        "fullnameOverride": "",
        "jaeger.podSecurityContext": {},   # runAsUser/runAsGroup/fsGroup 10001
        "jaeger.securityContext": {},
    },
}

FREE_FORM = {
    "kube-prometheus-stack": {
        "commonLabels", "prometheus-node-exporter.prometheus.monitor.additionalLabels",
        "prometheus-node-exporter.resources", "kube-state-metrics.prometheus.monitor.additionalLabels",
        "kube-state-metrics.resources", "prometheusOperator.resources",
        "prometheusOperator.prometheusConfigReloader.resources", "alertmanager.alertmanagerSpec.podMetadata",
        "alertmanager.alertmanagerSpec.resources", "alertmanager.alertmanagerSpec.storage",
        "grafana.sidecar.resources", "grafana.grafana.ini", "grafana.securityContext", "grafana.resources",
        "grafana.serviceMonitor.labels", "prometheus.prometheusSpec.storageSpec", "prometheus.prometheusSpec.resources",
        "prometheus.prometheusSpec.podMetadata", "prometheus.prometheusSpec.serviceMonitorSelector",
        "prometheus.prometheusSpec.serviceMonitorNamespaceSelector", "prometheus.prometheusSpec.podMonitorSelector",
        "prometheus.prometheusSpec.podMonitorNamespaceSelector", "prometheus.prometheusSpec.ruleSelector",
        "prometheus.prometheusSpec.ruleNamespaceSelector", "prometheus.prometheusSpec.probeSelector",
        "prometheus.prometheusSpec.probeNamespaceSelector", "prometheus.prometheusSpec.scrapeConfigSelector",
        "prometheus.prometheusSpec.scrapeConfigNamespaceSelector",
        "alertmanager.alertmanagerSpec.alertmanagerConfiguration",
        "prometheus.prometheusSpec.additionalConfig", "prometheus.prometheusSpec.additionalScrapeConfigs",
        "prometheus.prometheusSpec.excludedFromEnforcement",
        # A Kubernetes SecurityContext (free-form here; the subchart renders it verbatim as the container's).
        "prometheus-node-exporter.containerSecurityContext",
    },
    "loki": {"loki.schemaConfig", "loki.limits_config", "loki.compactor", "loki.analytics", "singleBinary.resources",
             "monitoring.serviceMonitor.labels"},
    "tempo": {"tempo.resources", "tempo.securityContext", "securityContext", "serviceMonitor.additionalLabels"},
    "opentelemetry-collector": {"alternateConfig", "podSecurityContext", "securityContext", "resources",
                                "serviceMonitor.extraLabels", "podMonitor.extraLabels", "tolerations"},
    "jaeger": {"jaeger.podSecurityContext", "jaeger.securityContext"},
}
# Keys a template reads but the chart's values.yaml does not declare: never set them.
UNDECLARED = {"grafana.fullnameOverride", "grafana.sidecar.datasources.url", "persistence.storageClassName",
              "jaeger.resources"}

# (chart, values builder): the collector chart is installed twice (OTLP deployment, node log DaemonSet).
VALUES = [
    ("kube-prometheus-stack", charts.stack_values),
    ("loki", charts.loki_values),
    ("tempo", charts.tempo_values),
    ("opentelemetry-collector", charts.collector_values),
    ("opentelemetry-collector", charts.node_logs_values),
    ("jaeger", charts.jaeger_values),
]




def test_chart_versions_are_the_ones_checked():
    pinned = {c.chart: c.version for c in (charts.CRDS, charts.STACK, charts.LOKI, charts.TEMPO, charts.COLLECTOR,
                                           charts.JAEGER, charts.GRAFANA_SUBCHART, charts.KSM_SUBCHART,
                                           charts.NODE_EXPORTER_SUBCHART)}
    assert pinned == CHECKED


def test_crds_chart_gets_no_values():
    assert charts.crds_values() == {}


CASES = list(variants())


@pytest.mark.parametrize("case", range(len(CASES)), ids=["-".join(map(str, c)) for c, _ in CASES])
def test_every_value_exists_upstream_with_the_same_type(case):
    cfg, _ = CASES[case][1]
    for chart, build in VALUES:
        check_values(chart, CHECKED[chart], build(cfg), UPSTREAM[chart], free_paths=FREE_FORM[chart],
                     undeclared=UNDECLARED)


def test_allow_list_catches_a_misspelt_key():
    bad = {"prometheus": {"prometheusSpec": {"serviceMonitorSelecter": {}}}, "grafana": {"sidecar": {"dashboard": 1}}}
    paths = [p for p, _ in leaf_paths(bad, free_paths=FREE_FORM["kube-prometheus-stack"])]
    assert [p for p in paths if p not in UPSTREAM["kube-prometheus-stack"]] == paths
