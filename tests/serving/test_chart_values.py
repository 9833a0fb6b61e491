"""Every value passed to the serving charts exists in that chart version's values.yaml, with the upstream type.

Allow-lists read from the pinned values.yaml (source in `components/serving/charts.py`, per ChartPin):

- keda 2.20.2: kedacore/charts keda/values.yaml @ v2.20.2;
- prometheus-adapter 5.3.0: prometheus-community/helm-charts charts/prometheus-adapter/values.yaml @
  prometheus-adapter-5.3.0.

FREE marks a free-form subtree the chart renders with toYaml (resources, labels, the adapter's rule list): only
the top key is checked. When a pin changes, re-check these keys against the new values.yaml.
"""

from __future__ import annotations

import pytest

from components.serving import charts
from config import validate
from tests.chart_values import FREE, check_every_variant, check_pin, leaf_paths

from .conftest import matrix_values, with_serving

FREE_LEAVES = ("resources", "additionalLabels", "custom")

VERSIONS = {"KEDA": "2.20.2", "PROMETHEUS_ADAPTER": "5.3.0"}

KEDA_DEFAULTS: dict[str, object] = {
    "watchNamespace": "",
    "prometheus.operator.enabled": False,
    "prometheus.operator.podMonitor.enabled": False,
    "prometheus.operator.podMonitor.additionalLabels": FREE,
}
ADAPTER_DEFAULTS: dict[str, object] = {
    "prometheus.url": "http://prometheus.default.svc",
    "prometheus.port": 9090,
    "rules.default": True,
    "rules.custom": FREE,
    "replicas": 1,
    "podDisruptionBudget.enabled": False,
    "resources": FREE,
}
DEFAULTS = {"KEDA": KEDA_DEFAULTS, "PROMETHEUS_ADAPTER": ADAPTER_DEFAULTS}




def variants(chart: str) -> list[dict]:
    out = []
    for values in (matrix_values(), with_serving("dev"), with_serving("prod")):
        cfg, _ = validate(values, "Pulumi.test.yaml")
        if chart == "KEDA":
            out += [charts.keda_values(cfg, monitoring) for monitoring in (True, False)]
        else:
            out.append(charts.adapter_values(cfg, "http://prometheus.observability.svc.cluster.local", 9090))
    return out


@pytest.mark.parametrize("chart", sorted(VERSIONS))
def test_chart_version_is_the_one_checked(chart):
    check_pin(getattr(charts, chart), VERSIONS[chart])


@pytest.mark.parametrize("chart", sorted(VERSIONS))
def test_every_value_exists_upstream_with_the_same_type(chart):
    check_every_variant(chart, VERSIONS[chart], variants(chart), DEFAULTS[chart], free_keys=FREE_LEAVES)


def test_allow_list_catches_a_misspelt_key():
    bad = {"watchNamespaces": "x", "prometheus": {"operator": {"podmonitor": {"enabled": True}}}}
    assert [p for p, _ in leaf_paths(bad, free_keys=FREE_LEAVES) if p not in KEDA_DEFAULTS] == ["watchNamespaces",
                                                                         "prometheus.operator.podmonitor.enabled"]


def test_adapter_rules_serve_only_the_serving_metrics_as_custom_pod_metrics():
    cfg, _ = validate(matrix_values(), "x")
    values = charts.adapter_values(cfg, "http://prometheus.observability.svc.cluster.local", 9090)
    assert values["rules"]["default"] is False
    assert values["rules"]["custom"] == [{
        "seriesQuery": '{__name__="nv_inference_pending_request_count",namespace="ai-inference",pod!=""}',
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": "^nv_inference_pending_request_count$", "as": "nv_inference_pending_request_count"},
        "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)",
    }]
    # No `external` rules: KEDA's metrics server owns external.metrics.k8s.io.
    assert "external" not in values["rules"]
