"""Prometheus scrapes the endpoint pickers, the gateway Envoys, istiod and ztunnel.

The platform's monitors (recorded under mocks) must be selected by the rendered Prometheus and must match what the
pinned charts really render: pod/Service labels and named ports of istio `gateway`, `istiod` and `ztunnel` 1.30.3,
and the ServiceMonitor of llm-d-router-gateway v0.10.0 with the values `epp_monitoring_values` gives it. Charts are
rendered with the pinned Helm from the archives (skipped locally without them, a failure in CI, as tests/render).
"""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.labels import SCRAPE_LABELS
from components.observability import charts, inference
from config.inference import INTERNAL_GATEWAY, PUBLIC_GATEWAY, epp_name, pool_name
from policy.rules import helmbin
from policy.rules.helmrender import chart_dirs
from tests.conftest import run_stack
from tests.render.conftest import IN_CI, chart_objects, rendered

from .conftest import config

MONITORING = "kubernetes:monitoring.coreos.com/v1:"


def recorded_monitors(stack: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run_stack(stack).resources
            if r.type in (MONITORING + "PodMonitor", MONITORING + "ServiceMonitor")
            and r.inputs["metadata"]["namespace"] == "observability"}


def selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions In/Exists) against labels."""
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "Exists" and expr["key"] not in labels:
            return False
    return True


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_monitors_are_recorded_and_selected_by_prometheus(stack):
    cfg, _ = config(stack)
    monitors = recorded_monitors(stack)
    assert {"inference-gateways", "istiod", "ztunnel"} <= set(monitors)
    [prom] = [o.manifest for o in chart_objects(stack, charts.STACK_RELEASE) if o.kind == "Prometheus"]
    spec = prom["spec"]
    for name in ("inference-gateways", "istiod", "ztunnel"):
        inputs = monitors[name]
        kind = "podMonitor" if "podMetricsEndpoints" in inputs["spec"] else "serviceMonitor"
        assert selects(spec[f"{kind}Selector"], inputs["metadata"]["labels"]), name
        assert spec[f"{kind}NamespaceSelector"] == {}  # any namespace, the observability one included
    gateways = monitors["inference-gateways"]["spec"]["namespaceSelector"]
    assert gateways == {"matchNames": [cfg.inference_gateway.namespace]}
    assert monitors["istiod"]["spec"]["namespaceSelector"] == {"matchNames": [cfg.mesh.namespace]}
    # Kept out of namespace enforcement, or every series would say namespace="observability".
    excluded = {(e["resource"], e["namespace"]) for e in spec["excludedFromEnforcement"]}
    assert {("podmonitors", "observability"), ("servicemonitors", "observability")} <= excluded


def test_no_mesh_monitors_without_the_mesh():
    assert not {"inference-gateways", "istiod", "ztunnel"} & set(recorded_monitors("local"))


# ---------------------------------------------------------------------------------------------- charts


def archive(name: str) -> Path:
    for directory in chart_dirs():
        if (directory / name).is_file():
            return directory / name
    message = f"chart archive {name} not found in {[str(d) for d in chart_dirs()]}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@cache
def _render(name: str, release: str, namespace: str, values_json: str) -> tuple[dict, ...]:
    try:
        helm = helmbin.find()
    except helmbin.HelmNotAvailable as exc:
        if IN_CI:
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        handle.write(values_json)
    try:
        out = helm.run("template", release, str(archive(name)), "--namespace", namespace, "--values", handle.name)
    finally:
        os.unlink(handle.name)
    assert out.returncode == 0, out.stderr
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def render(name: str, release: str, namespace: str, values: dict | None = None) -> list[dict]:
    return list(_render(name, release, namespace, json.dumps(values or {}, sort_keys=True)))


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    [found] = [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    return found


def ports(pod_spec: dict) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in pod_spec["containers"] for p in c.get("ports", []) if "name" in p}


def test_gateway_envoys_match_the_gateway_chart():
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "inference-gateways")
    for release in (PUBLIC_GATEWAY, INTERNAL_GATEWAY):
        deployment = one(render("gateway-1.30.3.tgz", release, cfg.inference_gateway.namespace), "Deployment")
        template = deployment["spec"]["template"]
        assert selects(monitor.spec["selector"], template["metadata"]["labels"]), release
        assert template["metadata"]["labels"]["app"] == release  # relabelled into the `gateway` target label
        endpoint = monitor.spec["podMetricsEndpoints"][0]
        assert ports(template["spec"])[endpoint["port"]] == 15090
        assert template["metadata"]["annotations"]["prometheus.io/path"] == endpoint["path"]
    # Another release in the namespace (body-based routing, a third gateway) is not scraped as a gateway.
    other = one(render("gateway-1.30.3.tgz", "other", cfg.inference_gateway.namespace), "Deployment")
    assert not selects(monitor.spec["selector"], other["spec"]["template"]["metadata"]["labels"])


def test_istiod_matches_the_istiod_chart():
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "istiod")
    objects = render("istiod-1.30.3.tgz", "istiod", cfg.mesh.namespace)
    service = one(objects, "Service", inference.ISTIOD_SERVICE)
    assert selects(monitor.spec["selector"], service["metadata"]["labels"])
    service_ports = {p["name"]: p["port"] for p in service["spec"]["ports"]}
    assert service_ports[monitor.spec["endpoints"][0]["port"]] == 15014
    # The ServiceMonitor's job is the Service's name, which the alerts select on.
    assert service["metadata"]["name"] == inference.ISTIOD_JOB


def test_ztunnel_matches_the_ztunnel_chart():
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "ztunnel")
    daemonset = one(render("ztunnel-1.30.3.tgz", "ztunnel", cfg.mesh.namespace), "DaemonSet")
    template = daemonset["spec"]["template"]
    assert selects(monitor.spec["selector"], template["metadata"]["labels"])
    assert ports(template["spec"])[monitor.spec["podMetricsEndpoints"][0]["port"]] == 15020


def epp_render(server: str) -> list[dict]:
    values = {"router": {"modelServers": {"matchLabels": {"ai-platform/model": server}},
                         "monitoring": inference.epp_monitoring_values(server, SCRAPE_LABELS)},
              "provider": {"name": "istio"}}
    return render("llm-d-router-gateway-v0.10.0.tgz", server, "ai-inference", values)


def test_the_pickers_service_monitor_is_selected_and_authenticates_with_its_own_token():
    cfg, _ = config("dev")
    secrets = set()
    for pool in inference.pools(cfg):
        objects = epp_render(pool.server)
        monitor = one(objects, "ServiceMonitor")
        assert SCRAPE_LABELS.items() <= monitor["metadata"]["labels"].items()
        service = one(objects, "Service")
        # The queries tell pools apart by the picker's Service: the chart names it `<release>-epp`.
        assert service["metadata"]["name"] == pool.epp == epp_name(pool.server)
        assert one(objects, "InferencePool")["metadata"]["name"] == pool.name == pool_name(pool.server)
        assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
        [endpoint] = monitor["spec"]["endpoints"]
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]}[endpoint["port"]] == \
            inference.EPP_METRICS_PORT_NUMBER
        secret = endpoint["authorization"]["credentials"]["name"]
        token = one(objects, "Secret", secret)
        assert token["type"] == "kubernetes.io/service-account-token"
        secrets.add(secret)
    assert len(secrets) == len(inference.pools(cfg))  # one token Secret per picker: no clash in one namespace


def test_the_stacks_pickers_are_scraped_with_the_platform_label():
    """The router component's releases (when present in the stack) render what the dashboards and alerts read."""
    cfg, _ = config("dev")
    releases = [r for r in rendered("dev").releases if r.chart == "llm-d-router-gateway"]
    if not releases:
        pytest.skip("no llm-d-router-gateway release in the dev stack yet (the router component adds them)")
    services = {o.name for r in releases for o in r.objects if o.kind == "Service"}
    assert {p.epp for p in inference.pools(cfg)} <= services
    for r in releases:
        for o in r.objects:
            if o.kind == "ServiceMonitor":
                assert SCRAPE_LABELS.items() <= o.manifest["metadata"]["labels"].items(), o.name
