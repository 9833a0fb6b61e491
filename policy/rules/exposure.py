"""ingress-safe-annotations and ingress-no-management-routes: what an Ingress may publish.

Object checks (policy/rules/objects.py) over every `networking.k8s.io` Ingress, the program's and the charts'.
Services of type LoadBalancer/NodePort and externalIPs are loadbalancer-services-allowed (policy/rules/network.py).

**ingress-safe-annotations**: no annotation injects raw controller configuration — any annotation whose name
(after the prefix) ends in `-snippet` or `-snippets`: ingress-nginx's `server-snippet`, `configuration-snippet`,
`auth-snippet`, `stream-snippet`, `modsecurity-snippet` (ingress-nginx docs, "Annotations"; disabled by
default since controller v1.9 because a snippet can read the controller's service-account token and every
Secret it serves), NGINX Inc's `nginx.org/server-snippets`/`location-snippets`. And no source allow-list
(`nginx.ingress.kubernetes.io/whitelist-source-range`, `allowlist-source-range`, `denylist-source-range` does
not count) contains a range open to the world (`/0`, e.g. `0.0.0.0/0`, `::/0`): it reads as restricted but
restricts nothing.

**ingress-no-management-routes**: no Ingress backend (rules' paths and `spec.defaultBackend`) routes to a
management port or path. A management port is a Service port named (whole word, separated by `-`/`_`)
`management`, `metrics`, `admin`, `debug`, `pprof`, `actuator`, `monitoring`, `health`, or numbered 8081 (Spring
Boot management, the gateway's), 9090 (Prometheus), 9100 (node-exporter), 9901/15000 (Envoy admin), 6060 (Go
pprof), 10250 (kubelet); a management path starts with `/actuator`, `/metrics`, `/debug`, `/-/` (Prometheus and
Alertmanager admin) or `/admin`. Those serve metrics, heap dumps, reload/shutdown and config endpoints that are
meant for Prometheus and operators inside the cluster only.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .helpers import get, is_map, maps, number
from .objects import KubeObject, object_policy

ANNOTATIONS_NAME = "ingress-safe-annotations"
MANAGEMENT_NAME = "ingress-no-management-routes"

SOURCE_RANGE_ANNOTATIONS = ("nginx.ingress.kubernetes.io/whitelist-source-range",
                            "nginx.ingress.kubernetes.io/allowlist-source-range")
MANAGEMENT_PORT_WORDS = ("management", "metrics", "admin", "debug", "pprof", "actuator", "monitoring", "health")
MANAGEMENT_PORT_NUMBERS = (8081, 9090, 9100, 9901, 15000, 6060, 10250)
MANAGEMENT_PATHS = ("/actuator", "/metrics", "/debug", "/-/", "/admin")

_SNIPPET = re.compile(r"-snippets?$")


def _is_ingress(obj: KubeObject) -> bool:
    return obj.kind == "Ingress" and obj.api_version.startswith(("networking.k8s.io/", "extensions/"))


def annotation_problems(annotations: Any) -> list[str]:
    if not is_map(annotations):
        return []
    problems = []
    for key, value in annotations.items():
        short = str(key).rsplit("/", 1)[-1]
        if _SNIPPET.search(short):
            problems.append(f"annotation {key} injects raw controller configuration")
        elif key in SOURCE_RANGE_ANNOTATIONS and isinstance(value, str):
            world = [r.strip() for r in value.split(",") if r.strip().endswith("/0")]
            if world:
                problems.append(f"annotation {key} allows {', '.join(world)} (the whole internet)")
    return problems


def _check_annotations(obj: KubeObject, config: Any) -> Iterator[str]:
    if not _is_ingress(obj):
        return
    problems = annotation_problems(get(obj.body, "metadata", "annotations"))
    if problems:
        yield (f"{'; '.join(problems)}. Use the controller's dedicated annotations (or a ConfigMap the platform "
               f"owns) instead of snippets, and list real client ranges in source allow-lists.")


ingress_safe_annotations = object_policy(
    ANNOTATIONS_NAME,
    "No Ingress annotation injects controller configuration (*-snippet) or allow-lists the whole internet.",
    _check_annotations,
)


def management_port(port: Any) -> str | None:
    """Why a backend `service.port` ({name} or {number}) is a management port, or None."""
    name = get(port, "name")
    if isinstance(name, str) and any(w in MANAGEMENT_PORT_WORDS for w in re.split(r"[-_.]", name.lower())):
        return f"port {name!r}"
    value = number(get(port, "number"))
    if value is not None and int(value) in MANAGEMENT_PORT_NUMBERS:
        return f"port {int(value)}"
    return None


def _backends(spec: Any) -> Iterator[tuple[str, Any, str]]:
    """(where, backend, path) of every backend of an Ingress spec."""
    default = get(spec, "defaultBackend")
    if is_map(default):
        yield "spec.defaultBackend", default, ""
    for rule in maps(get(spec, "rules")):
        for path in maps(get(rule, "http", "paths")):
            yield f"rule {get(rule, 'host', default='*')} path {get(path, 'path', default='/')}", \
                get(path, "backend"), str(get(path, "path", default="") or "")


def _check_management(obj: KubeObject, config: Any) -> Iterator[str]:
    if not _is_ingress(obj):
        return
    problems = []
    for where, backend, path in _backends(get(obj.body, "spec")):
        service = get(backend, "service", "name", default="?")
        port = management_port(get(backend, "service", "port"))
        if port:
            problems.append(f"{where} routes to Service {service} {port}, a management port")
        lowered = path.lower()
        prefix = next((p for p in MANAGEMENT_PATHS
                       if lowered == p.rstrip("/") or lowered.startswith(p.rstrip("/") + "/")), None)
        if prefix:
            problems.append(f"{where} publishes the management path {prefix}")
    if problems:
        yield (f"{'; '.join(problems)}. Route the application's port only; metrics and admin endpoints stay inside "
               f"the cluster (Prometheus scrapes them through its NetworkPolicy flow).")


ingress_no_management_routes = object_policy(
    MANAGEMENT_NAME,
    "No Ingress routes to a management/metrics port or path (actuator, metrics, admin, pprof, ...).",
    _check_management,
)
