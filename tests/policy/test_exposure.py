"""ingress-safe-annotations and ingress-no-management-routes (Services: test_network.py)."""

from __future__ import annotations

import pytest

from .harness import run_resource

ANNOTATIONS = "ingress-safe-annotations"
MANAGEMENT = "ingress-no-management-routes"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"

# The gateway's Ingress as the program writes it (components/rag/ingress.py).
SHIPPED_ANNOTATIONS = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "300",
                       "nginx.ingress.kubernetes.io/limit-rps": "20",
                       "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
                       "cert-manager.io/cluster-issuer": "letsencrypt"}


def ingress(annotations=None, port=None, path="/", default_backend=None) -> dict:
    backend = {"service": {"name": "ai-gateway", "port": port or {"name": "http"}}}
    spec: dict = {"rules": [{"host": "ai-api.example.com",
                             "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]}}],
                  "tls": [{"hosts": ["ai-api.example.com"], "secretName": "ai-api-tls"}]}
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    return {"metadata": {"name": "ai-gateway", "namespace": "ai-app",
                         "annotations": {**SHIPPED_ANNOTATIONS, **(annotations or {})}}, "spec": spec}


def test_the_shipped_ingress_is_compliant():
    assert run_resource(ANNOTATIONS, INGRESS, ingress()) == []
    assert run_resource(MANAGEMENT, INGRESS, ingress()) == []
    restricted = {"nginx.ingress.kubernetes.io/whitelist-source-range": "203.0.113.0/24,198.51.100.7/32"}
    assert run_resource(ANNOTATIONS, INGRESS, ingress(restricted)) == []


@pytest.mark.parametrize("key", ["nginx.ingress.kubernetes.io/server-snippet",
                                 "nginx.ingress.kubernetes.io/configuration-snippet",
                                 "nginx.ingress.kubernetes.io/auth-snippet",
                                 "nginx.ingress.kubernetes.io/stream-snippet",
                                 "nginx.ingress.kubernetes.io/modsecurity-snippet",
                                 "nginx.org/location-snippets"])
def test_snippet_annotations_are_a_violation(key):
    [message] = run_resource(ANNOTATIONS, INGRESS, ingress({key: "location /x { return 200; }"}))
    assert message.startswith(f"Ingress ai-app/ai-gateway: annotation {key} injects raw controller configuration")


@pytest.mark.parametrize("key", ["nginx.ingress.kubernetes.io/whitelist-source-range",
                                 "nginx.ingress.kubernetes.io/allowlist-source-range"])
@pytest.mark.parametrize("ranges", ["0.0.0.0/0", "10.0.0.0/8, 0.0.0.0/0", "::/0"])
def test_world_source_ranges_are_a_violation(key, ranges):
    [message] = run_resource(ANNOTATIONS, INGRESS, ingress({key: ranges}))
    assert f"annotation {key} allows" in message and "the whole internet" in message


def test_other_kinds_are_ignored():
    bad = ingress({"nginx.ingress.kubernetes.io/server-snippet": "x"}, port={"name": "metrics"})
    assert run_resource(ANNOTATIONS, SERVICE, bad) == [] and run_resource(MANAGEMENT, SERVICE, bad) == []
    assert run_resource(ANNOTATIONS, INGRESS, {}) == [] and run_resource(MANAGEMENT, INGRESS, {}) == []


@pytest.mark.parametrize("port, text", [
    ({"name": "management"}, "port 'management'"), ({"name": "http-metrics"}, "port 'http-metrics'"),
    ({"name": "admin"}, "port 'admin'"), ({"number": 8081}, "port 8081"), ({"number": 9090}, "port 9090"),
    ({"number": 15000}, "port 15000"),
])
def test_routes_to_management_ports_are_a_violation(port, text):
    [message] = run_resource(MANAGEMENT, INGRESS, ingress(port=port))
    assert f"routes to Service ai-gateway {text}, a management port" in message


@pytest.mark.parametrize("path", ["/actuator", "/actuator/env", "/metrics", "/debug/pprof", "/-/reload", "/admin"])
def test_management_paths_are_a_violation(path):
    [message] = run_resource(MANAGEMENT, INGRESS, ingress(path=path))
    assert "publishes the management path" in message


@pytest.mark.parametrize("path, port", [("/v1", {"number": 8080}), ("/administration-ui", {"name": "http"}),
                                        ("/metricsdashboard", {"name": "web"}), ("/", {"number": 80})])
def test_application_ports_and_paths_are_compliant(path, port):
    assert run_resource(MANAGEMENT, INGRESS, ingress(port=port, path=path)) == []


def test_default_backend_to_a_management_port_is_a_violation():
    default = {"service": {"name": "prometheus", "port": {"number": 9090}}}
    [message] = run_resource(MANAGEMENT, INGRESS, ingress(default_backend=default))
    assert "spec.defaultBackend routes to Service prometheus port 9090" in message
