"""Prometheus scrapes the endpoint pickers, the gateway Envoys, istiod and ztunnel.

The platform's monitors (recorded under mocks) must be selected by the rendered Prometheus and must match what the
pinned charts really render: pod/Service labels and named ports of istio `gateway`, `istiod` and `ztunnel` 1.30.3
(rendered with the pinned Helm from the archives: skipped locally without them, a failure in CI, as tests/render).
The pickers' ServiceMonitors (the router component's) must be selected and name the Service the queries use.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.labels import SCRAPE_LABELS
from components.observability import charts, inference
from config.inference import INTERNAL_GATEWAY, PUBLIC_GATEWAY
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


def test_gateway_envoys_match_the_gateway_charts_pods():
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "inference-gateways")
    endpoint = monitor.spec["podMetricsEndpoints"][0]
    assert endpoint["relabelings"][0]["sourceLabels"] == \
        ["__meta_kubernetes_pod_label_gateway_networking_k8s_io_gateway_name"]
    for gateway in (PUBLIC_GATEWAY, INTERNAL_GATEWAY):
        # A manually deployed Gateway's pods: a `gateway` chart release carrying the Gateway API label.
        values = {"labels": {inference.GATEWAY_NAME_LABEL: gateway}}
        deployment = one(render("gateway-1.30.3.tgz", f"{gateway}-gateway", cfg.inference_gateway.namespace, values),
                         "Deployment")
        template = deployment["spec"]["template"]
        assert selects(monitor.spec["selector"], template["metadata"]["labels"]), gateway
        assert ports(template["spec"])[endpoint["port"]] == 15090
        assert template["metadata"]["annotations"]["prometheus.io/path"] == endpoint["path"]
    # Another release in the namespace (body-based routing, a third gateway) is not scraped as a gateway.
    other = one(render("gateway-1.30.3.tgz", "other", cfg.inference_gateway.namespace), "Deployment")
    assert not selects(monitor.spec["selector"], other["spec"]["template"]["metadata"]["labels"])


def test_istios_automated_gateway_pods_carry_the_same_label_and_port():
    """istiod's own template for Gateways it deploys (istiod chart 1.30.3 files/kube-gateway.yaml)."""
    with tarfile.open(archive("istiod-1.30.3.tgz")) as tar:
        member = tar.extractfile("istiod/files/kube-gateway.yaml")
        assert member is not None
        template = member.read().decode()
    assert f'"{inference.GATEWAY_NAME_LABEL}" .Name' in template
    assert "containerPort: 15090" in template and f"name: {inference.ENVOY_PROM_PORT}" in template


def test_the_stacks_gateway_pods_are_scraped():
    """The gateway component's Releases (when present in the stack) render pods the PodMonitor selects."""
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "inference-gateways")
    releases = [r for r in rendered("dev").releases
                if r.chart == "gateway" and r.namespace == cfg.inference_gateway.namespace]
    if not releases:
        pytest.skip("no istio gateway release in the dev stack yet (the gateway component adds them)")
    selected = set()
    for r in releases:
        for o in r.objects:
            if o.kind == "Deployment":
                labels = o.manifest["spec"]["template"]["metadata"]["labels"]
                if selects(monitor.spec["selector"], labels):
                    selected.add(labels[inference.GATEWAY_NAME_LABEL])
                    assert ports(o.manifest["spec"]["template"]["spec"])[inference.ENVOY_PROM_PORT] == 15090
    assert selected == set(inference.gateways(cfg))


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


def test_the_stacks_istiod_and_ztunnel_are_scraped():
    """The mesh component's Releases (when present in the stack) render what the istiod and ztunnel monitors select."""
    cfg, _ = config("dev")
    objects = [o for r in rendered("dev").releases if r.namespace == cfg.mesh.namespace for o in r.objects]
    services = [o.manifest for o in objects if o.kind == "Service" and o.name == inference.ISTIOD_SERVICE]
    daemonsets = [o.manifest for o in objects if o.kind == "DaemonSet"]
    if not services:
        pytest.skip("no istiod release in the dev stack yet (the mesh component adds it)")
    monitors = {m.name: m for m in inference.monitors(cfg)}
    [service] = services
    assert selects(monitors["istiod"].spec["selector"], service["metadata"]["labels"])
    assert inference.ISTIOD_PORT in {p["name"] for p in service["spec"]["ports"]}
    ztunnel = [d for d in daemonsets if selects(monitors["ztunnel"].spec["selector"],
                                                 d["spec"]["template"]["metadata"]["labels"])]
    assert len(ztunnel) == 1
    assert inference.ZTUNNEL_PORT in ports(ztunnel[0]["spec"]["template"]["spec"])


def test_ztunnel_matches_the_ztunnel_chart():
    cfg, _ = config("dev")
    monitor = next(m for m in inference.monitors(cfg) if m.name == "ztunnel")
    daemonset = one(render("ztunnel-1.30.3.tgz", "ztunnel", cfg.mesh.namespace), "DaemonSet")
    template = daemonset["spec"]["template"]
    assert selects(monitor.spec["selector"], template["metadata"]["labels"])
    assert ports(template["spec"])[monitor.spec["podMetricsEndpoints"][0]["port"]] == 15020


def test_the_stacks_pickers_are_scraped_with_the_platform_label():
    """Each pool's picker has a ServiceMonitor the platform's Prometheus selects, on the Service the queries name."""
    cfg, _ = config("dev")
    ns = cfg.serving.namespace
    result = run_stack("dev")
    services = {r.inputs["metadata"]["name"]: r.inputs for r in result.of_type("kubernetes:core/v1:Service")
                if r.inputs["metadata"]["namespace"] == ns}
    monitors = [r.inputs for r in result.of_type(MONITORING + "ServiceMonitor")
                if r.inputs["metadata"]["namespace"] == ns]
    if not any(p.epp in services for p in inference.pools(cfg)):
        pytest.skip("no endpoint picker in the dev stack yet (the router component creates them)")
    for pool in inference.pools(cfg):
        service = services[pool.epp]  # the `service` target label the dashboards and alerts select on
        found = [m for m in monitors if selects(m["spec"]["selector"], service["metadata"]["labels"])]
        assert len(found) == 1, f"{pool.epp}: {len(found)} ServiceMonitors"
        [monitor] = found
        assert SCRAPE_LABELS.items() <= monitor["metadata"]["labels"].items()
        [endpoint] = monitor["spec"]["endpoints"]
        assert endpoint["port"] == inference.EPP_METRICS_PORT
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
