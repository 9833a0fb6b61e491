"""Chart pins and the values passed to each chart: pure functions of the typed config.

Every chart is pinned by version AND repository. None of them is trusted to reject a misspelt key
(only opentelemetry-collector and loki ship a values.schema.json), so every key path set here is
recorded with its upstream default in tests/observability/test_chart_values.py, read from that chart
version's own values.yaml (the test names the tag).

Pins (in the chart lock, charts.lock.yaml; read from the charts' repositories at these tags):

| chart                      | version | repository                                            | app     |
|----------------------------|---------|-------------------------------------------------------|---------|
| prometheus-operator-crds   | 31.0.1  | https://prometheus-community.github.io/helm-charts    | v0.93.1 |
| kube-prometheus-stack      | 88.5.3  | https://prometheus-community.github.io/helm-charts    | v0.93.1 |
|   grafana (subchart)       | 12.11.1 | https://grafana-community.github.io/helm-charts       | 13.2.0  |
|   kube-state-metrics       | 8.4.0   | https://prometheus-community.github.io/helm-charts    | 2.20.0  |
|   prometheus-node-exporter | 4.56.1  | https://prometheus-community.github.io/helm-charts    | 1.12.1  |
| loki                       | 18.11.0 | https://grafana-community.github.io/helm-charts       | 3.7.6   |
| tempo                      | 2.2.4   | https://grafana-community.github.io/helm-charts       | 2.10.8  |
| opentelemetry-collector    | 0.170.0 | https://open-telemetry.github.io/opentelemetry-helm-charts | 0.158.0 |
| jaeger                     | 4.11.1  | https://jaegertracing.github.io/helm-charts           | 2.19.0  |

Grafana's Loki and Tempo charts moved from grafana/helm-charts to grafana-community/helm-charts (the
former no longer has charts/loki or charts/tempo); kube-prometheus-stack 88.5.3 takes its grafana
subchart from the same community repository (Chart.yaml dependencies). Images are the charts' own
defaults (appVersion), so a chart pin pins its images.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from config import sizing
from config.gpu_stack import OPERATOR_NAMESPACE as GPU_OPERATOR_NAMESPACE  # noqa: F401 (re-exported for rules)
from config.models import StackConfig
from config.namespaces import NODE_AGENTS, platform_roles

from ..helm import pin
from ..labels import CAPACITY_LABEL, GPU_LABEL, POOL_LABEL, SCRAPE_LABELS

CRDS = pin("prometheus-operator-crds")
STACK = pin("kube-prometheus-stack")
LOKI = pin("loki")
TEMPO = pin("tempo")
COLLECTOR = pin("opentelemetry-collector")
JAEGER = pin("jaeger")
# Subcharts of kube-prometheus-stack (its Chart.yaml); their values are nested under these keys.
GRAFANA_SUBCHART = STACK.subchart("grafana")
KSM_SUBCHART = STACK.subchart("kube-state-metrics")
NODE_EXPORTER_SUBCHART = STACK.subchart("prometheus-node-exporter")

# fullnameOverride values: Service names then match config/endpoints.py.
STACK_RELEASE = "monitoring"
STACK_FULLNAME = "monitoring"
# The grafana chart reads .Values.fullnameOverride but its values.yaml does not declare it, so its name comes
# from the release: "<release>-grafana".
GRAFANA_FULLNAME = f"{STACK_RELEASE}-grafana"
LOKI_FULLNAME = "loki"
TEMPO_FULLNAME = "tempo"
JAEGER_FULLNAME = "jaeger"
COLLECTOR_FULLNAME = "otel-collector"

# The OpenTelemetry Collector distribution the chart's README installs in Kubernetes (otelcol-k8s has the
# otlp receiver, otlp_grpc/otlp_http exporters, memory_limiter/batch processors and health_check).
COLLECTOR_IMAGE = "ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-k8s"
COLLECTOR_COMMAND = "otelcol-k8s"

# Grafana provisioning: the sidecars of the grafana chart pick up ConfigMaps carrying these labels (the values
# kube-prometheus-stack 88.5.3 sets under grafana.sidecar.*; set again here so the contract is ours).
DASHBOARD_LABEL = ("grafana_dashboard", "1")
DATASOURCE_LABEL = ("grafana_datasource", "1")
GRAFANA_ADMIN_SECRET = "grafana-admin"
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"
GRAFANA_ADMIN_USER = "admin"

# Datasource uids dashboards and links refer to. "prometheus" and "alertmanager" are the uids
# kube-prometheus-stack provisions (grafana.sidecar.datasources.uid / .alertmanager.uid).
PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
TEMPO_UID = "tempo"
JAEGER_UID = "jaeger"

# kube-state-metrics renders node label "ai-platform/pool" as "label_ai_platform_pool" on kube_node_labels.
KSM_NODE_LABELS = (POOL_LABEL, CAPACITY_LABEL, GPU_LABEL)


def ksm_label(node_label: str) -> str:
    """The kube_node_labels label name kube-state-metrics gives a Kubernetes node label."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", node_label)


def hours(duration: str) -> int:
    """A config duration (12h, 7d, 2w) in whole hours (Tempo only accepts Go durations: no d or w)."""
    number, unit = int(duration[:-1]), duration[-1]
    return number * {"h": 1, "d": 24, "w": 168}[unit]


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str | None = None) -> dict[str, Any]:
    """A container's requests and limits (every container of the stack sets both)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit or memory}}


def sized(requirements: dict[str, Any]) -> dict[str, Any]:
    """A private copy of one of config/sizing.py's requests/limits, which the namespace quota check counts too."""
    return copy.deepcopy(requirements)


RESTRICTED_CONTAINER: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def restricted_pod(uid: int) -> dict[str, Any]:
    """Pod securityContext meeting Pod Security `restricted` for an image that runs as `uid`."""
    return {"runAsNonRoot": True, "runAsUser": uid, "runAsGroup": uid, "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _spread(replicas: int) -> dict[str, Any]:
    """Replicas on different nodes whenever there are several (a node loss must not take them all)."""
    return {"podAntiAffinity": "hard"} if replicas > 1 else {}


def _pdb(replicas: int) -> dict[str, Any]:
    """At most one replica down at a time when there are several."""
    return {"podDisruptionBudget": {"enabled": True, "minAvailable": replicas - 1}} if replicas > 1 else {}


def _volume(size_gi: int, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{size_gi}Gi"}}}
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


# The Prometheus pod's own service-account credentials: only the platform's scrape jobs below may read them.
SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
SA_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
# The label prometheus-operator stamps with a monitor's / rule's own namespace (enforcedNamespaceLabel).
NAMESPACE_LABEL = "namespace"
# Every kind enforcedNamespaceLabel applies to (the Prometheus CRD's excludedFromEnforcement[].resource enum,
# prometheus-operator-crds 31.0.1 crd-prometheuses.yaml).
ENFORCEMENT_RESOURCES = ("prometheusrules", "servicemonitors", "podmonitors", "probes", "scrapeconfigs")


def _drop(regex: str, *labels: str) -> dict[str, Any]:
    return {"action": "drop", "source_labels": list(labels or ("__name__",)), "regex": regex}


def _kubelet_job(path: str, metric_relabel: list[dict[str, Any]], interval: str | None = None) -> dict[str, Any]:
    """One kubelet endpoint as a raw scrape job, labelled as kube-prometheus-stack's kubelet ServiceMonitor labels
    it (job="kubelet", metrics_path, node), so the chart's kubelet/cAdvisor rules and dashboards keep working."""
    job: dict[str, Any] = {
        "job_name": "kubelet" + path.replace("/metrics", "").replace("/", "-"),
        "scheme": "https",
        "metrics_path": path,
        "honor_labels": True,
        "authorization": {"credentials_file": SA_TOKEN},
        # The chart's kubelet monitor skips verification too: kubelet serving certificates are self-signed on
        # GKE/EKS unless serverTLSBootstrap is on.
        "tls_config": {"ca_file": SA_CA, "insecure_skip_verify": True},
        "kubernetes_sd_configs": [{"role": "node"}],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_node_name"], "target_label": "node"},
            {"target_label": "job", "replacement": "kubelet"},
            {"target_label": "metrics_path", "replacement": path},
        ],
    }
    if interval:
        job["scrape_interval"] = interval
    if metric_relabel:
        job["metric_relabel_configs"] = metric_relabel
    return job


def platform_scrape_jobs() -> list[dict[str, Any]]:
    """kubelet, cAdvisor, probes and API-server scrapes as Prometheus-spec scrape jobs (additionalScrapeConfigs).

    They authenticate with Prometheus' own service-account token and CA, files on its filesystem. With
    `arbitraryFSAccessThroughSMs.deny` the operator refuses every ServiceMonitor that names such a file
    (prometheus-operator v0.93.1 pkg/prometheus/resource_selector.go, testForArbitraryFSAccess: bearerTokenFile,
    tlsConfig caFile/certFile/keyFile), the chart's kubelet and apiserver monitors included; a job in the
    Prometheus spec is the platform's own configuration, which no tenant object can reach. Relabelling and drops
    follow the chart's kubelet/apiserver ServiceMonitors (kube-prometheus-stack 88.5.3 templates/exporters/).
    """
    return [
        _kubelet_job("/metrics", [_drop(r"(csi_operations|storage_operation_duration)_seconds_bucket;"
                                        r"(0.25|2.5|15|25|120|600)(\.0)?", "__name__", "le")]),
        _kubelet_job("/metrics/cadvisor", [
            _drop("container_cpu_(cfs_throttled_seconds_total|load_average_10s|system_seconds_total|"
                  "user_seconds_total)"),
            _drop("container_fs_(io_current|io_time_seconds_total|io_time_weighted_seconds_total|reads_merged_total|"
                  "sector_reads_total|sector_writes_total|writes_merged_total)"),
            _drop("container_memory_(mapped_file|swap)"),
            _drop("container_(file_descriptors|tasks_state|threads_max)"),
            _drop("container_memory_failures_total;hierarchy", "__name__", "scope"),
            _drop("container_network_.*;(cali|cilium|cni|lxc|nodelocaldns|tunl).*", "__name__", "interface"),
            _drop("container_spec.*"),
            _drop(".+;", "id", "pod"),
        ], interval="10s"),
        _kubelet_job("/metrics/probes", []),
        {
            "job_name": "apiserver",
            "scheme": "https",
            "authorization": {"credentials_file": SA_TOKEN},
            "tls_config": {"ca_file": SA_CA, "server_name": "kubernetes"},
            "kubernetes_sd_configs": [{"role": "endpoints", "namespaces": {"names": ["default"]}}],
            "relabel_configs": [{"action": "keep", "regex": "kubernetes;https",
                                 "source_labels": ["__meta_kubernetes_service_name",
                                                   "__meta_kubernetes_endpoint_port_name"]}],
            "metric_relabel_configs": [_drop(
                r"(etcd_request|apiserver_request_slo|apiserver_request_sli|apiserver_request)_duration_seconds_bucket;"
                r"(0\.15|0\.2|0\.3|0\.35|0\.4|0\.45|0\.6|0\.7|0\.8|0\.9|1\.25|1\.5|1\.75|2|3|3\.5|4|4\.5|6|7|"
                r"8|9|15|20|40|45|50)(\.0)?", "__name__", "le")],
        },
    ]


def enforcement_exclusions(cfg: StackConfig) -> list[dict[str, str]]:
    """Namespaces whose monitors and rules keep their own `namespace` label (excludedFromEnforcement).

    With `enforcedNamespaceLabel: namespace` the operator (1) overwrites the target label `namespace` of every
    series a monitor scrapes with the monitor's namespace and (2) adds `namespace="<rule's namespace>"` to every
    selector of a PrometheusRule. Tenants' monitors then only ever write their own namespace. The platform's
    rules (observability namespace) aggregate the serving, RAG and GPU-operator namespaces, and the chart's
    monitors there scrape kube-system and the node agents: without the exclusion every rule would select nothing
    and kube-state-metrics/CoreDNS series would all say `observability`. Operator namespaces hold only what the
    platform installs. Monitors the platform puts in tenant namespaces (model servers, RAG, gateway) scrape their
    own namespace only, so enforcement changes nothing for them (tests/observability check both).
    """
    namespaces = [cfg.observability.namespace, *sorted(platform_roles(cfg))]
    return [{"group": "monitoring.coreos.com", "resource": kind, "namespace": ns}
            for ns in namespaces for kind in ENFORCEMENT_RESOURCES]


def crds_values() -> dict[str, Any]:
    """prometheus-operator-crds: every CRD of the operator (the chart's defaults)."""
    return {}


def stack_values(cfg: StackConfig) -> dict[str, Any]:
    """kube-prometheus-stack: operator, Prometheus, Alertmanager, Grafana, kube-state-metrics, node-exporter."""
    obs = cfg.observability
    scrape = {"matchLabels": dict(SCRAPE_LABELS)}
    provider = cfg.cluster.provider
    memory = obs.metrics.memory
    retention_size = f"{max(1, int(obs.metrics.storage_gi * 0.85))}GB"
    return {
        "fullnameOverride": STACK_FULLNAME,
        # On every object the chart renders, ServiceMonitors and PrometheusRules included: the platform's
        # Prometheus selects exactly this label.
        "commonLabels": dict(SCRAPE_LABELS),
        # The CRDs come from the prometheus-operator-crds release, installed first.
        "crds": {"enabled": False},
        "defaultRules": {
            "create": True,
            # Control-plane components GKE and EKS do not expose (and kind binds to localhost): their
            # rules would only ever fire "down" alerts.
            "rules": {"etcd": False, "kubeControllerManager": False, "kubeSchedulerAlerting": False,
                      "kubeSchedulerRecording": False, "kubeProxy": False, "windows": False},
        },
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "kubeProxy": {"enabled": False},
        # GKE runs kube-dns (metrics on its sidecars), EKS and kind CoreDNS (:9153).
        # Their metrics need no credentials: no service-account token file (refused under
        # arbitraryFSAccessThroughSMs.deny, and sent to whatever answers on the port).
        "coreDns": {"enabled": provider != "gke", "serviceMonitor": {"bearerTokenFile": ""}},
        "kubeDns": {"enabled": provider == "gke", "serviceMonitor": {"bearerTokenFile": ""}},
        # Scraped by platform_scrape_jobs() instead: these two monitors read token and CA files.
        "kubelet": {"serviceMonitor": {"enabled": False}},
        "kubeApiServer": {"serviceMonitor": {"enabled": False}},
        "windowsMonitoring": {"enabled": False},
        "nodeExporter": {"operatingSystems": {"aix": {"enabled": False}, "darwin": {"enabled": False}}},
        "prometheus-node-exporter": {
            # hostNetwork/hostPID/host /proc and /sys: only the privileged node-agent namespace admits it.
            "namespaceOverride": NODE_AGENTS,
            # The chart's default is only readOnlyRootFilesystem; node-exporter runs as 65534 on port 9100 and
            # needs no capability or setuid (the pack's no-privilege-escalation rule).
            "containerSecurityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                                         "capabilities": {"drop": ["ALL"]}},
            "prometheus": {"monitor": {"additionalLabels": dict(SCRAPE_LABELS)}},
            "resources": resources("50m", "64Mi", "250m", "128Mi"),
        },
        "kube-state-metrics": {
            # GPU fleet and cost panels join DCGM series to pools through these node labels.
            "metricLabelsAllowlist": [f"nodes=[{','.join(KSM_NODE_LABELS)}]"],
            "prometheus": {"monitor": {"additionalLabels": dict(SCRAPE_LABELS)}},
            "resources": sized(sizing.KUBE_STATE_METRICS),
        },
        "prometheusOperator": {
            # No admission webhook: the API server would need a path into this default-deny namespace and a
            # certificate job; rules are validated by the program's own PromQL tests instead.
            "admissionWebhooks": {"enabled": False},
            "resources": sized(sizing.PROMETHEUS_OPERATOR),
            "prometheusConfigReloader": {"resources": sized(sizing.CONFIG_RELOADER)},
        },
        "alertmanager": {
            **_pdb(obs.metrics.replicas),
            "alertmanagerSpec": {
                # The NetworkPolicy flows select these pods by this label (config/network.py).
                "podMetadata": {"labels": {"app.kubernetes.io/name": "alertmanager"}},
                "resources": sized(sizing.ALERTMANAGER),
                # Silences and notification state survive restarts.
                "storage": _volume(1, obs.storage_class),
                "replicas": obs.metrics.replicas,
                **_spread(obs.metrics.replicas),
                # The program's AlertmanagerConfig is the whole routing tree (the chart's default
                # config, which routes to a null receiver, is then unused).
                **({"alertmanagerConfiguration": {"name": ALERTMANAGER_CONFIG}}
                   if obs.alerting.receiver != "none" else {}),
            },
        },
        "grafana": grafana_values(cfg),
        "prometheus": {
            **_pdb(obs.metrics.replicas),
            "prometheusSpec": {
                "retention": obs.metrics.retention,
                # Keep the volume from filling up before the time-based retention cuts in.
                "retentionSize": retention_size,
                "scrapeInterval": obs.metrics.scrape_interval,
                "evaluationInterval": obs.metrics.scrape_interval,
                "replicas": obs.metrics.replicas,
                **_spread(obs.metrics.replicas),
                "storageSpec": _volume(obs.metrics.storage_gi, obs.storage_class),
                "resources": sizing.prometheus(memory),
                "podMetadata": {"labels": {"app.kubernetes.io/name": "prometheus"}},
                # Exactly the platform's monitors and rules, from every namespace; nothing by Helm release label.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "serviceMonitorSelector": scrape,
                "serviceMonitorNamespaceSelector": {},
                "podMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelector": scrape,
                "podMonitorNamespaceSelector": {},
                "ruleSelectorNilUsesHelmValues": False,
                "ruleSelector": scrape,
                "ruleNamespaceSelector": {},
                "probeSelectorNilUsesHelmValues": False,
                "probeSelector": scrape,
                "probeNamespaceSelector": {},
                "scrapeConfigSelectorNilUsesHelmValues": False,
                "scrapeConfigSelector": scrape,
                "scrapeConfigNamespaceSelector": {},
                # No ServiceMonitor, PodMonitor or Probe may make Prometheus read a file (its service-account
                # token, CA, keys) and send it to a target; credentials come from Secrets in the monitor's own
                # namespace. The platform's kubelet/API-server scrapes are spec-level jobs instead.
                # The chart declares arbitraryFSAccessThroughSMs as `false` (a bool) and passes it through toYaml;
                # setting the CRD's object there makes Helm warn that it ignores the bool default. The spec-level
                # passthrough sets the same field without the warning (the chart's own key stays false: no
                # duplicate).
                "additionalConfig": {"arbitraryFSAccessThroughSMs": {"deny": True}},
                "additionalScrapeConfigs": platform_scrape_jobs(),
                # Tenant monitors and rules only see and write their own namespace (see enforcement_exclusions).
                "enforcedNamespaceLabel": NAMESPACE_LABEL,
                "excludedFromEnforcement": enforcement_exclusions(cfg),
            },
        },
    }


def grafana_values(cfg: StackConfig) -> dict[str, Any]:
    """The grafana subchart (keys under `grafana:` of kube-prometheus-stack)."""
    obs = cfg.observability
    ns = obs.namespace
    return {
        "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": GRAFANA_ADMIN_USER_KEY,
                  "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY},
        "defaultDashboardsEnabled": obs.dashboards,
        "defaultDashboardsTimezone": "utc",
        "sidecar": {
            "dashboards": {"enabled": True, "label": DASHBOARD_LABEL[0], "labelValue": DASHBOARD_LABEL[1],
                           "searchNamespace": ns},
            "datasources": {"enabled": True, "label": DATASOURCE_LABEL[0], "labelValue": DATASOURCE_LABEL[1],
                            "searchNamespace": ns, "uid": PROMETHEUS_UID, "defaultDatasourceEnabled": True,
                            "isDefaultDatasource": True},
            "resources": sized(sizing.GRAFANA_SIDECAR),
        },
        # No outbound calls: no update checks, no usage reports, no plugin pre-installs or auto-updates
        # (Grafana >= 12 runs a background installer against grafana.com at every start; workload namespaces
        # have no internet egress). The image's bundled plugins (Prometheus, Loki, Tempo, Jaeger) stay.
        "grafana.ini": {
            "analytics": {"check_for_updates": False, "check_for_plugin_updates": False, "reporting_enabled": False},
            "plugins": {"preinstall_disabled": True, "preinstall_auto_update": False},
        },
        "plugins": [],
        # Dashboards and datasources are provisioned from ConfigMaps; nothing to keep on a volume (and the
        # chown init container it would need runs as root).
        "persistence": {"enabled": False},
        "initChownData": {"enabled": False},
        "testFramework": {"enabled": False},
        "securityContext": restricted_pod(472),
        "resources": sized(sizing.GRAFANA),
        "serviceMonitor": {"enabled": True, "labels": dict(SCRAPE_LABELS)},
    }


def loki_values(cfg: StackConfig) -> dict[str, Any]:
    """Loki in monolithic mode, filesystem storage on one volume, retention from config."""
    store = cfg.observability.log_store
    sc = cfg.observability.storage_class
    return {
        "deploymentMode": "Monolithic",
        "fullnameOverride": LOKI_FULLNAME,
        "loki": {
            # One tenant: no X-Scope-OrgID header needed by the collector or Grafana.
            "auth_enabled": False,
            "commonConfig": {"replication_factor": 1},
            "storage": {"type": "filesystem"},
            "schemaConfig": {"configs": [{"from": "2024-04-01", "store": "tsdb", "object_store": "filesystem",
                                          "schema": "v13", "index": {"prefix": "loki_index_", "period": "24h"}}]},
            # Loki 3 takes OTLP at /otlp (resource attributes become structured metadata).
            "limits_config": {"retention_period": f"{hours(store.retention)}h", "allow_structured_metadata": True},
            "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
            "analytics": {"reporting_enabled": False},
        },
        "singleBinary": {
            "replicas": 1,
            "resources": sizing.single_binary(store.memory),
            "persistence": {"size": f"{store.storage_gi}Gi", "storageClass": sc},
            # The rules sidecar only serves the ruler, which is off: Prometheus alerts.
            "sidecar": False,
        },
        "read": {"replicas": 0},
        "write": {"replicas": 0},
        "backend": {"replicas": 0},
        "ruler": {"enabled": False},
        "gateway": {"enabled": False},
        "chunksCache": {"enabled": False},
        "resultsCache": {"enabled": False},
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
        "monitoring": {"serviceMonitor": {"enabled": True, "labels": dict(SCRAPE_LABELS)}},
    }


def tempo_values(cfg: StackConfig) -> dict[str, Any]:
    """Tempo single binary, local storage on one volume, retention from config."""
    store = cfg.observability.trace_store
    return {
        "fullnameOverride": TEMPO_FULLNAME,
        "tempo": {
            "retention": f"{hours(store.retention)}h",
            "reportingEnabled": False,
            "resources": sizing.single_binary(store.memory),
            "securityContext": RESTRICTED_CONTAINER,
        },
        "securityContext": restricted_pod(10001),
        "persistence": {"enabled": True, "size": f"{store.storage_gi}Gi"},
        "serviceMonitor": {"enabled": True, "additionalLabels": dict(SCRAPE_LABELS)},
    }


def jaeger_values(cfg: StackConfig) -> dict[str, Any]:
    """Jaeger v2 all-in-one (in-memory storage: the chart provisions no storage backend)."""
    return {
        "fullnameOverride": JAEGER_FULLNAME,
        "jaeger": {"podSecurityContext": restricted_pod(10001), "securityContext": RESTRICTED_CONTAINER},
    }


def collector_config(cfg: StackConfig) -> dict[str, Any]:
    """The collector's whole configuration: OTLP in, traces to Tempo/Jaeger, logs to Loki."""
    obs = cfg.observability
    ns = obs.namespace
    exporters: dict[str, Any] = {}
    pipelines: dict[str, Any] = {}
    processors = ["memory_limiter", "batch"]
    # Exporter names of collector >= 0.14x: otlp -> otlp_grpc, otlphttp -> otlp_http (opentelemetry-helm-charts
    # charts/opentelemetry-demo/UPGRADING.md at opentelemetry-collector-0.170.0).
    if obs.tracing in ("tempo", "jaeger"):
        backend = TEMPO_FULLNAME if obs.tracing == "tempo" else JAEGER_FULLNAME
        exporter = f"otlp_grpc/{obs.tracing}"
        exporters[exporter] = {"endpoint": f"{backend}.{ns}.svc.cluster.local:4317", "tls": {"insecure": True}}
        pipelines["traces"] = {"receivers": ["otlp"], "processors": processors, "exporters": [exporter]}
    if obs.logs == "loki":
        exporters["otlp_http/loki"] = {"endpoint": f"http://{LOKI_FULLNAME}.{ns}.svc.cluster.local:3100/otlp"}
        pipelines["logs"] = {"receivers": ["otlp"], "processors": processors, "exporters": ["otlp_http/loki"]}
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "${env:MY_POD_IP}:4317"},
                                             "http": {"endpoint": "${env:MY_POD_IP}:4318"}}}},
        "processors": {"memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
                       "batch": {}},
        "exporters": exporters,
        # The chart's probes call health_check on :13133.
        "extensions": {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                "host": "${env:MY_POD_IP}", "port": 8888}}}}]}},
            "pipelines": pipelines,
        },
    }


ALERTMANAGER_CONFIG = "ai-platform"
ALERTING_SECRET = "alertmanager-receiver"
ALERTING_SECRET_KEY = "secret"


def alertmanager_config(cfg: StackConfig) -> dict[str, Any]:
    """The AlertmanagerConfig (monitoring.coreos.com/v1alpha1) Alertmanager uses as its whole configuration.

    Alerts are grouped per alert, namespace and model; Watchdog (the always-firing heartbeat of
    kube-prometheus-stack) goes to `null`: point a dead man's switch at it separately. The URL or
    integration key stays in the Secret ALERTING_SECRET; the operator reads it from there.
    """
    alerting = cfg.observability.alerting
    receiver = alerting.receiver
    ref = {"name": ALERTING_SECRET, "key": ALERTING_SECRET_KEY}
    if receiver == "slack":
        slack: dict[str, Any] = {"apiURL": ref, "sendResolved": True,
                                 "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}',
                                 "text": '{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}'}
        if alerting.slack_channel:
            slack["channel"] = alerting.slack_channel
        target: dict[str, Any] = {"name": receiver, "slackConfigs": [slack]}
    elif receiver == "pagerduty":
        target = {"name": receiver, "pagerdutyConfigs": [{"routingKey": ref, "sendResolved": True}]}
    else:
        target = {"name": receiver, "webhookConfigs": [{"urlSecret": ref, "sendResolved": True}]}
    return {
        "route": {
            "receiver": receiver,
            "groupBy": ["alertname", "namespace", "model"],
            "groupWait": "30s",
            "groupInterval": "5m",
            "repeatInterval": alerting.repeat_interval,
            "routes": [{"receiver": "null", "matchers": [{"name": "alertname", "value": "Watchdog",
                                                          "matchType": "="}]}],
        },
        "receivers": [{"name": "null"}, target],
    }


NODE_LOGS_FULLNAME = "node-logs"


def node_logs_config(cfg: StackConfig) -> dict[str, Any]:
    """The node agent's configuration: the chart's logsCollection preset adds the filelog receiver for
    /var/log/pods and kubernetesAttributes the k8sattributes processor; everything goes to Loki over OTLP."""
    obs = cfg.observability
    return {
        "receivers": {},
        "processors": {"memory_limiter": {"check_interval": "5s", "limit_percentage": 80, "spike_limit_percentage": 25},
                       "batch": {}},
        "exporters": {"otlp_http/loki": {
            "endpoint": f"http://{LOKI_FULLNAME}.{obs.namespace}.svc.cluster.local:3100/otlp"}},
        "extensions": {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                "host": "${env:MY_POD_IP}", "port": 8888}}}}]}},
            "pipelines": {"logs": {"receivers": [], "processors": ["memory_limiter", "batch"],
                                   "exporters": ["otlp_http/loki"]}},
        },
    }


def node_logs_values(cfg: StackConfig) -> dict[str, Any]:
    """OpenTelemetry Collector as a DaemonSet on every node (GPU nodes included) shipping pod logs to Loki.

    Runs as root without capabilities: kubelet writes /var/log/pods root-owned and 0640, readable by
    its owner only. That and the hostPath are why it lives in the privileged observability-node
    namespace, not in the restricted observability namespace.
    """
    return {
        "mode": "daemonset",
        "fullnameOverride": NODE_LOGS_FULLNAME,
        "image": {"repository": COLLECTOR_IMAGE},
        "command": {"name": COLLECTOR_COMMAND},
        "alternateConfig": node_logs_config(cfg),
        "presets": {"logsCollection": {"enabled": True}, "kubernetesAttributes": {"enabled": True}},
        # No receiver listens: it only reads files and pushes.
        "ports": {"otlp": {"enabled": False}, "otlp-http": {"enabled": False}, "jaeger-compact": {"enabled": False},
                  "jaeger-thrift": {"enabled": False}, "jaeger-grpc": {"enabled": False}, "zipkin": {"enabled": False},
                  "metrics": {"enabled": True}},
        "tolerations": [{"operator": "Exists"}],
        "podSecurityContext": {"runAsUser": 0, "runAsGroup": 0, "seccompProfile": {"type": "RuntimeDefault"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": True},
        "resources": resources("50m", "128Mi", "500m", "256Mi"),
        # A DaemonSet gets no Service from this chart, so its own metrics are scraped per pod.
        "podMonitor": {"enabled": True, "extraLabels": dict(SCRAPE_LABELS)},
    }


def collector_values(cfg: StackConfig) -> dict[str, Any]:
    """OpenTelemetry Collector, deployment mode, OTLP only."""
    return {
        "mode": "deployment",
        "fullnameOverride": COLLECTOR_FULLNAME,
        "image": {"repository": COLLECTOR_IMAGE},
        "command": {"name": COLLECTOR_COMMAND},
        # The whole config, not merged with the chart's default (which also opens Jaeger and Zipkin receivers).
        "alternateConfig": collector_config(cfg),
        "ports": {"jaeger-compact": {"enabled": False}, "jaeger-thrift": {"enabled": False},
                  "jaeger-grpc": {"enabled": False}, "zipkin": {"enabled": False}, "metrics": {"enabled": True}},
        "podSecurityContext": restricted_pod(10001),
        "securityContext": RESTRICTED_CONTAINER,
        "resources": sized(sizing.COLLECTOR),
        "serviceMonitor": {"enabled": True, "extraLabels": dict(SCRAPE_LABELS)},
    }
