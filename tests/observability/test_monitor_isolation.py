"""Prometheus refuses monitors that read files and stamps tenant monitors/rules with their own namespace (issue 16).

Judged on the rendered Prometheus CR (kube-prometheus-stack 88.5.3) and on every monitor and rule the stack
installs, the program's own (recorded) and the charts' (rendered): nothing the platform ships may be refused by
`arbitraryFSAccessThroughSMs.deny` or broken by `enforcedNamespaceLabel`.
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from components.observability import charts
from tests.conftest import run_stack
from tests.render.conftest import chart_objects, rendered

from .conftest import config

STACKS = ("dev", "prod", "local")
MONITORS = ("ServiceMonitor", "PodMonitor", "Probe", "ScrapeConfig")
FILE_KEYS = ("bearerTokenFile", "caFile", "certFile", "keyFile", "credentialsFile", "passwordFile")
RESOURCE = {"ServiceMonitor": "servicemonitors", "PodMonitor": "podmonitors", "Probe": "probes",
            "ScrapeConfig": "scrapeconfigs", "PrometheusRule": "prometheusrules"}


def prometheus_cr(stack: str) -> dict:
    [prom] = [o.manifest for o in chart_objects(stack, charts.STACK_RELEASE) if o.kind == "Prometheus"]
    return prom


def monitoring_objects(stack: str) -> list[tuple[str, str, str, dict]]:
    """(kind, namespace, name, spec) of every monitor and rule: the program's and every chart's."""
    found = []
    for r in run_stack(stack).resources:
        if r.type.startswith("kubernetes:monitoring.coreos.com/"):
            kind = r.type.rsplit(":", 1)[1]
            found.append((kind, r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"], r.inputs["spec"]))
    for o in rendered(stack).objects:
        if o.kind in (*MONITORS, "PrometheusRule"):
            found.append((o.kind, o.namespace, o.name, o.manifest.get("spec", {})))
    return found


def file_references(node, path: str = "") -> list[str]:
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in
                ([f"{path}.{k}"] if k in FILE_KEYS and v else file_references(v, f"{path}.{k}"))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in file_references(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("stack", STACKS)
def test_prometheus_denies_file_access_and_enforces_the_namespace_label(stack):
    spec = prometheus_cr(stack)["spec"]
    assert spec["arbitraryFSAccessThroughSMs"] == {"deny": True}
    assert spec["enforcedNamespaceLabel"] == "namespace"
    excluded = {(e["resource"], e["namespace"]) for e in spec["excludedFromEnforcement"]}
    cfg, _ = config(stack)
    # The platform's rules live in the observability namespace and are excluded; tenant namespaces never are.
    assert ("prometheusrules", cfg.observability.namespace) in excluded
    tenants = set(cfg.tenancy.namespaces) - {cfg.observability.namespace}
    assert tenants and not {ns for _, ns in excluded} & tenants


@pytest.mark.parametrize("stack", STACKS)
def test_no_monitor_the_platform_ships_is_refused_for_reading_files(stack):
    # The operator silently drops a refused monitor (prometheus-operator v0.93.1 testForArbitraryFSAccess).
    for kind, ns, name, spec in monitoring_objects(stack):
        if kind in MONITORS:
            assert not file_references(spec), f"{kind} {ns}/{name} reads files: {file_references(spec)}"


@pytest.mark.parametrize("stack", STACKS)
def test_kubelet_and_api_server_are_scraped_by_spec_level_jobs(stack):
    objects = chart_objects(stack, charts.STACK_RELEASE)
    kinds = {(o.kind, o.name) for o in objects}
    assert ("ServiceMonitor", f"{charts.STACK_FULLNAME}-kubelet") not in kinds
    assert ("ServiceMonitor", f"{charts.STACK_FULLNAME}-apiserver") not in kinds
    ref = prometheus_cr(stack)["spec"]["additionalScrapeConfigs"]
    [secret] = [o.unredacted() for o in objects if o.kind == "Secret" and o.name == ref["name"]]
    jobs = yaml.safe_load(base64.b64decode(secret["data"][ref["key"]]))
    by_name = {j["job_name"]: j for j in jobs}
    assert set(by_name) == {"kubelet", "kubelet-cadvisor", "kubelet-probes", "apiserver"}
    for name in ("kubelet", "kubelet-cadvisor", "kubelet-probes"):
        relabel = by_name[name]["relabel_configs"]
        # The labels the chart's kubelet rules and dashboards select on: job="kubelet", metrics_path, node.
        assert {"target_label": "job", "replacement": "kubelet"} in relabel
        assert {"target_label": "metrics_path", "replacement": by_name[name]["metrics_path"]} in relabel
    assert by_name["kubelet-cadvisor"]["metrics_path"] == "/metrics/cadvisor"
    # The chart's own rules still look for these jobs.
    rules = json.dumps([o.manifest for o in objects if o.kind == "PrometheusRule"])
    assert 'job=\\"kubelet\\"' in rules and 'job=\\"apiserver\\"' in rules
    for job in jobs:
        assert job["authorization"] == {"credentials_file": charts.SA_TOKEN}


@pytest.mark.parametrize("stack", STACKS)
def test_namespace_enforcement_leaves_the_platforms_monitors_and_rules_intact(stack):
    spec = prometheus_cr(stack)["spec"]
    excluded = {(e["resource"], e["namespace"]) for e in spec["excludedFromEnforcement"]}
    for kind, ns, name, body in monitoring_objects(stack):
        if (RESOURCE[kind], ns) in excluded:
            continue
        # Enforced: the rule's selectors get namespace="<ns>" and the monitor's series namespace="<ns>", which is
        # only harmless when the object never looks beyond its own namespace.
        assert kind != "PrometheusRule", f"platform rule {ns}/{name} would get namespace=\"{ns}\" on every selector"
        selector = body.get("namespaceSelector", {})
        assert not selector.get("any"), f"{kind} {ns}/{name} scrapes every namespace"
        assert selector.get("matchNames", [ns]) == [ns], f"{kind} {ns}/{name} scrapes {selector['matchNames']}"


def test_a_tenant_namespace_is_not_excluded_even_when_it_holds_platform_monitors():
    # Model servers' PodMonitors sit in the serving namespace, which tenants deploy to as well.
    cfg, _ = config("prod")
    excluded = {e["namespace"] for e in charts.enforcement_exclusions(cfg)}
    assert cfg.serving.namespace not in excluded and cfg.rag.namespace not in excluded
