"""helm-chart-pinned and helm-chart-locked over helm.sh/v3 Release and helm.sh/v4 Chart props."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from .harness import run_resource

RELEASE = "kubernetes:helm.sh/v3:Release"
CHART = "kubernetes:helm.sh/v4:Chart"
HELM_TYPES = [RELEASE, CHART]

PROMETHEUS_REPO = "https://prometheus-community.github.io/helm-charts"


def check(resource_type: str, props: dict, config: dict | None = None) -> list[str]:
    return run_resource("helm-chart-pinned", resource_type, props, config, name="kube-prometheus-stack")


def repo_chart(**overrides) -> dict:
    props = {
        "chart": "kube-prometheus-stack",
        "version": "65.1.0",
        "namespace": "monitoring",
        "repositoryOpts": {"repo": PROMETHEUS_REPO},
        "values": {"grafana": {"enabled": True}, "prometheus": {"prometheusSpec": {"retention": "7d"}}},
    }
    props.update(overrides)
    return props


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_https_repository_and_exact_version_pass(resource_type):
    assert check(resource_type, repo_chart()) == []


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_oci_reference_with_exact_version_passes(resource_type):
    props = {"chart": "oci://registry-1.docker.io/bitnamicharts/redis", "version": "20.1.3"}
    assert check(resource_type, props) == []


@pytest.mark.parametrize("version", ["v65.1.0", "1.2.3-rc.1", "0.1.0+build.5", "1.0.0-alpha.1+sha.5114f85"])
def test_exact_semver_forms_pass(version):
    assert check(RELEASE, repo_chart(version=version)) == []


@pytest.mark.parametrize("resource_type", HELM_TYPES)
@pytest.mark.parametrize("version", ["latest", "", "^65.1.0", "~65.1", ">=65.0.0", "65.1.x", "65.x", "*", "65.1",
                                     ">=1.0.0 <2.0.0", "65.1.0 || 66.0.0", "=65.1.0", "x"])
def test_ranges_and_latest_are_violations(resource_type, version):
    messages = check(resource_type, repo_chart(version=version))
    assert len(messages) == 1
    assert "version" in messages[0] and "exact" in messages[0]


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_missing_version_is_a_violation(resource_type):
    props = repo_chart()
    del props["version"]
    messages = check(resource_type, props)
    assert len(messages) == 1
    assert "version is not set" in messages[0]


def test_null_version_is_a_violation():
    assert len(check(CHART, repo_chart(version=None))) == 1


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_absent_chart_is_compliant(resource_type):
    """The CLI shows helm.sh/v4:Chart (a provider-side component) without inputs: nothing to judge."""
    assert check(resource_type, {}) == []
    assert check(resource_type, {"version": "latest"}) == []


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_empty_chart_is_a_violation(resource_type):
    messages = check(resource_type, {"chart": "", "version": "1.0.0", "repositoryOpts": {"repo": PROMETHEUS_REPO}})
    assert len(messages) == 1
    assert "nothing identifies the chart" in messages[0]


@pytest.mark.parametrize("resource_type", HELM_TYPES)
def test_http_repository_is_a_violation(resource_type):
    messages = check(resource_type, repo_chart(repositoryOpts={"repo": "http://charts.example.com"}))
    assert len(messages) == 1
    assert "not an https URL" in messages[0]


@pytest.mark.parametrize("resource_type", HELM_TYPES)
@pytest.mark.parametrize("chart", ["prometheus-community/kube-prometheus-stack", "./charts/gateway", "charts/gateway",
                                   "/srv/charts/gateway"])
def test_chart_without_pinned_repository_is_a_violation(resource_type, chart):
    messages = check(resource_type, {"chart": chart, "version": "1.0.0"})
    assert len(messages) == 1
    assert "no pinned repository" in messages[0] and "allowedLocalCharts" in messages[0]


def test_empty_repository_counts_as_no_repository():
    messages = check(RELEASE, {"chart": "charts/gateway", "version": "1.0.0", "repositoryOpts": {"repo": ""}})
    assert len(messages) == 1 and "no pinned repository" in messages[0]


def test_plain_chart_url_is_a_violation():
    messages = check(CHART, {"chart": "https://example.com/charts/gateway-1.0.0.tgz", "version": "1.0.0"})
    assert len(messages) == 1 and "is a URL" in messages[0]


def test_unpinned_source_and_range_report_both():
    assert len(check(RELEASE, {"chart": "bitnami/redis", "version": "^20"})) == 2


@pytest.mark.parametrize("allowed", [["charts/gateway"], ["./charts/gateway/"], ["charts/*"]])
@pytest.mark.parametrize("chart", ["./charts/gateway", "charts/gateway", "charts/gateway/"])
def test_allow_listed_local_chart_passes_without_version(allowed, chart):
    assert check(RELEASE, {"chart": chart}, {"allowedLocalCharts": allowed}) == []


def test_allow_list_does_not_cover_other_paths():
    messages = check(RELEASE, {"chart": "./other/gateway"}, {"allowedLocalCharts": ["charts/*"]})
    assert len(messages) == 2  # unpinned source, and no version either


def test_allow_listed_local_chart_with_range_is_still_a_violation():
    messages = check(CHART, {"chart": "./charts/gateway", "version": "latest"},
                     {"allowedLocalCharts": ["charts/gateway"]})
    assert len(messages) == 1 and "'latest'" in messages[0]


def test_allow_listed_local_chart_with_exact_version_passes():
    assert check(CHART, {"chart": "./charts/gateway", "version": "0.3.0"},
                 {"allowedLocalCharts": ["charts/gateway"]}) == []


def test_default_config_allows_no_local_chart():
    assert len(check(RELEASE, {"chart": "./charts/gateway", "version": "0.3.0"}, {"allowedLocalCharts": []})) == 1


def test_other_resource_types_are_ignored():
    props = {"chart": "bitnami/redis", "version": "latest"}
    assert check("kubernetes:core/v1:ConfigMap", props) == []
    assert check("kubernetes:helm.sh/v3:Chart", props) == []


# ------------------------------------------------------------------------------ helm-chart-locked

LOCK = yaml.safe_load((Path(__file__).resolve().parents[2] / "charts.lock.yaml").read_text())["charts"]


def locked(resource_type: str, props: dict, config: dict | None = None) -> list[str]:
    return run_resource("helm-chart-locked", resource_type, props, config, name="kube-prometheus-stack")


def as_locked(chart: str) -> dict:
    entry = LOCK[chart]
    return {"chart": chart, "version": entry["version"], "repositoryOpts": {"repo": entry["repository"]},
            "namespace": "observability"}


@pytest.mark.parametrize("chart", sorted(LOCK))
def test_every_locked_chart_passes(chart):
    assert locked(RELEASE, as_locked(chart)) == []


def test_other_version_than_the_lock_is_a_violation():
    messages = locked(RELEASE, repo_chart())  # kube-prometheus-stack 65.1.0
    assert len(messages) == 1
    assert "'65.1.0' is not the locked '88.5.3'" in messages[0] and "charts.lock.yaml" in messages[0]


def test_other_repository_than_the_lock_is_a_violation():
    props = {**as_locked("keda"), "repositoryOpts": {"repo": "https://charts.example.com/keda"}}
    messages = locked(CHART, props)
    assert len(messages) == 1 and "is not the locked 'https://kedacore.github.io/charts'" in messages[0]


def test_chart_missing_from_the_lock_is_a_violation():
    messages = locked(RELEASE, {"chart": "oci://ghcr.io/example/charts/unlocked", "version": "1.0.0"})
    assert len(messages) == 1 and "'oci://ghcr.io/example/charts/unlocked' is not in the chart lock" in messages[0]
    assert "kube-prometheus-stack" in messages[0]  # lists what is locked


def test_absent_chart_and_other_types_are_not_judged():
    assert locked(RELEASE, {}) == []
    assert locked("kubernetes:core/v1:ConfigMap", {"chart": "nope", "version": "1"}) == []


def test_configured_lock_file(tmp_path):
    lock = tmp_path / "other.lock.yaml"
    lock.write_text("charts:\n  keda: {version: 9.9.9, repository: https://kedacore.github.io/charts}\n")
    assert locked(RELEASE, {**as_locked("keda"), "version": "9.9.9"}, {"chartLock": str(lock)}) == []
    assert len(locked(RELEASE, as_locked("keda"), {"chartLock": str(lock)})) == 1


def test_unreadable_lock_is_a_violation(tmp_path):
    messages = locked(RELEASE, as_locked("keda"), {"chartLock": str(tmp_path / "missing.yaml")})
    assert len(messages) == 1 and "cannot be read" in messages[0]
