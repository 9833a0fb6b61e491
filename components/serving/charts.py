"""Chart pins (from the chart lock, charts.lock.yaml) of the serving layer's autoscalers and the values each chart
receives (pure functions).

Every key set here exists in the pinned chart version's values.yaml; tests/serving/test_chart_values.py
lists them with the upstream defaults and fails on any other key.
"""

from __future__ import annotations

from typing import Any

from config.engine_profiles import profile
from config.models import StackConfig
from config.namespaces import autoscaled

from ..helm import pin
from ..labels import SCRAPE_LABELS

# kedacore/charts keda/Chart.yaml and keda/values.yaml at tag v2.20.2 (appVersion 2.20.2: images
# ghcr.io/kedacore/keda, keda-metrics-apiserver, keda-admission-webhooks :2.20.2). The chart installs the
# keda.sh CRDs (keda/templates/crds, `crds.install: true`), so ScaledObjects depend on this Release.
KEDA = pin("keda")
# prometheus-community/helm-charts charts/prometheus-adapter at tag prometheus-adapter-5.3.0 (appVersion v0.12.0,
# image registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0).
PROMETHEUS_ADAPTER = pin("prometheus-adapter")


def keda_values(cfg: StackConfig, monitoring: bool) -> dict[str, Any]:
    """KEDA watches only the serving namespace; its own metrics are scraped when observability runs."""
    return {
        "watchNamespace": cfg.serving.namespace,
        "prometheus": {"operator": {"enabled": monitoring,
                                    "podMonitor": {"enabled": monitoring, "additionalLabels": dict(SCRAPE_LABELS)}}},
    }


def adapter_metric_name(metric: str) -> str:
    """The custom-metrics API name of an engine metric (colons are not used in API names)."""
    return metric.replace(":", "_")


def hpa_metrics(cfg: StackConfig) -> list[str]:
    """Engine metrics the HPA-scaled models need from prometheus-adapter (sorted, unique)."""
    found: set[str] = set()
    for model in cfg.serving.models:
        signals = profile(model.engine).signals  # None: scales on CPU, not through the adapter
        if model.autoscaling.engine == "hpa" and signals is not None and autoscaled(model):
            found.add(signals.queue)
            if signals.kv_cache is not None:
                found.add(signals.kv_cache)
    return sorted(found)


def adapter_rules(cfg: StackConfig) -> list[dict[str, Any]]:
    """custom.metrics.k8s.io rules: each engine metric per pod of the serving namespace.

    Custom (Pods) metrics, not external ones: KEDA's metrics server owns external.metrics.k8s.io when both run.
    """
    ns = cfg.serving.namespace
    return [{
        "seriesQuery": f'{{__name__="{metric}",namespace="{ns}",pod!=""}}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": f"^{metric}$", "as": adapter_metric_name(metric)},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    } for metric in hpa_metrics(cfg)]


def adapter_values(cfg: StackConfig, prometheus_url: str, prometheus_port: int) -> dict[str, Any]:
    return {
        "prometheus": {"url": prometheus_url, "port": prometheus_port},
        # Only the serving metrics: the default container_* rules would expose every pod's cAdvisor series.
        "rules": {"default": False, "custom": adapter_rules(cfg)},
        "replicas": 2,
        "podDisruptionBudget": {"enabled": True},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    }
