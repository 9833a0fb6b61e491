"""ingress-tls and loadbalancer-services-allowed: how traffic enters the cluster.

**ingress-tls** (`kubernetes:networking.k8s.io/v1:Ingress`): every `spec.rules[].host` is covered
by a host of some `spec.tls[]` entry (case-insensitive; a wildcard `*.example.com` covers exactly
one more label: `a.example.com`, not `example.com` or `a.b.example.com`), and every `spec.tls[]`
entry has `hosts` and a `secretName`. With a cert-manager annotation (`cert-manager.io/cluster-issuer`
or `cert-manager.io/issuer`) the secret need not exist yet, since cert-manager creates it, but the entry
still needs both: cert-manager's ingress-shim skips TLS entries without hosts or secretName
(cert-manager `pkg/controller/certificate-shim/sync.go` at 036b016, validateIngressTLSBlock:
"Skipped a TLS block" when hosts or secretName is empty). A rule without
a host, or a `spec.defaultBackend`, serves every host name, which no certificate covers: a
violation. Absent `spec`/`rules` without defaultBackend: nothing is routed, compliant.

**loadbalancer-services-allowed** (an object check: the program's Services and every Service a chart
renders, so `controller.service.type: NodePort` in a Release's values is judged too): a Service that is
reachable from outside the cluster — `spec.type: LoadBalancer` or `NodePort` (a port on every node), or any
`spec.externalIPs` (the nodes answer for those addresses on the Service's ports, whatever its type) — is only
allowed in the namespaces of the pack config `allowedNamespaces` (default `["ingress-nginx"]`: traffic
enters through the ingress controller, where TLS and the Ingress rules apply). The namespace is
`metadata.namespace`, else the Release's namespace for chart objects, else `default`. Absent `spec.type`
is ClusterIP: compliant.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import config_list, get, maps, namespace_of, object_name, strings
from .objects import KubeObject, object_policy

TLS_NAME = "ingress-tls"
LB_NAME = "loadbalancer-services-allowed"

INGRESS_TYPE = "kubernetes:networking.k8s.io/v1:Ingress"
CERT_MANAGER_ANNOTATIONS = ("cert-manager.io/cluster-issuer", "cert-manager.io/issuer")
# ai-gateway: the inference gateway's public Gateway (its Envoy Service, components/inference/gateway.py).
DEFAULT_LB_NAMESPACES = ("ingress-nginx", "ai-gateway")


def host_covered(host: str, tls_host: str) -> bool:
    """Whether a certificate host (maybe `*.domain`) covers a rule host."""
    host, tls_host = host.lower().rstrip("."), tls_host.lower().rstrip(".")
    if host == tls_host:
        return True
    if tls_host.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and label != "*" and bool(dot) and rest == tls_host[2:]
    return False


def _validate_tls(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != INGRESS_TYPE:
        return
    spec = get(args.props, "spec")
    annotations = get(args.props, "metadata", "annotations")
    cert_manager = any(get(annotations, key) for key in CERT_MANAGER_ANNOTATIONS)
    problems = []
    if get(spec, "defaultBackend") is not None:
        problems.append("spec.defaultBackend serves every host name")
    rules = maps(get(spec, "rules"))
    hosts = [get(rule, "host") for rule in rules]
    if any(not isinstance(h, str) or not h for h in hosts):
        problems.append("a rule has no host (it serves every host name)")
    tls = maps(get(spec, "tls"))
    tls_hosts = [h for entry in tls for h in strings(get(entry, "hosts"))]
    uncovered = [h for h in hosts if isinstance(h, str) and h and not any(host_covered(h, t) for t in tls_hosts)]
    if uncovered:
        problems.append(f"no spec.tls entry covers {', '.join(uncovered)}")
    for index, entry in enumerate(tls):
        missing = [field for field in ("hosts", "secretName")
                   if not (strings(get(entry, "hosts")) if field == "hosts" else get(entry, "secretName"))]
        if missing:
            problems.append(f"spec.tls[{index}] has no {' and no '.join(missing)}")
    if not problems:
        return
    how = ("cert-manager (annotated) creates the secret named by secretName" if cert_manager else
           f"name an existing TLS secret, or add a cert-manager annotation ({' or '.join(CERT_MANAGER_ANNOTATIONS)}) "
           f"so cert-manager creates it")
    report_violation(f"Ingress {namespace_of(args.props)}/{object_name(args.props, args.name)}: {'; '.join(problems)}. "
                     f"Give every rule a host and list each host in a spec.tls entry with a secretName ({how}).")


ingress_tls = ResourceValidationPolicy(
    name=TLS_NAME,
    description="Every Ingress host is covered by a TLS entry with a secret (or a cert-manager issuer).",
    validate=_validate_tls,
    enforcement_level=EnforcementLevel.MANDATORY,
)


EXPOSED_TYPES = ("LoadBalancer", "NodePort")


def _check_exposure(obj: KubeObject, config: Any) -> Iterator[str]:
    if obj.kind != "Service" or obj.api_version != "v1":
        return
    found = []
    service_type = get(obj.body, "spec", "type")
    if service_type in EXPOSED_TYPES:
        found.append(f"is of type {service_type}")
    external = strings(get(obj.body, "spec", "externalIPs"))
    if external:
        found.append(f"has externalIPs {', '.join(external)}")
    if not found:
        return
    allowed = config_list(config, "allowedNamespaces", DEFAULT_LB_NAMESPACES)
    if obj.namespace in allowed:
        return
    yield (f"{' and '.join(found)}, which exposes it outside the cluster; only allowed in "
           f"{', '.join(allowed) or 'no namespace'} (allowedNamespaces). Use ClusterIP behind an Ingress.")


loadbalancer_services_allowed = object_policy(
    LB_NAME,
    "Services of type LoadBalancer or NodePort, and externalIPs, only in allowed namespaces (the ingress "
    "controller's), chart Services included.",
    _check_exposure,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "allowedNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_LB_NAMESPACES),
            "description": "Namespaces where Services of type LoadBalancer or NodePort, or with externalIPs, are "
                           "allowed.",
        },
    }),
)
