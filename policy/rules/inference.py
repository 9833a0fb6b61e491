"""gateway-class-allowed, inferencepool-has-epp, route-parent-platform-gateway, public-listener-tls and
mesh-mtls-strict: the inference gateway's Gateway API, Inference Extension and Istio objects (issue 18).

Stack policies over objects (policy/rules/objects.py): each sees every object `pulumi up` would create, the
program's and every chart's, because each check relates objects to one another (a pool to its picker's Service, a
route to its Gateway). A stack without these kinds (no Gateway API objects, no Istio) has nothing to judge and
passes. Field names and defaults are the bundled CRDs' (gateway-api-standard-v1.6.1.yaml,
gateway-api-inference-extension-crds-v1.6.0.yaml in the shared charts directory); Istio behaviour is Istio 1.30's
(pilot/pkg/config/kube/gateway: deploymentcontroller.go, conversion.go).

**gateway-class-allowed**: every Gateway (`gateway.networking.k8s.io`, any version) names a GatewayClass in
`allowedGatewayClasses` (default `istio`, config/inference.py GATEWAY_CLASS). The stack creates no GatewayClass
outside that list (istiod creates `istio` itself); one it does create with a known name must have that class's
controller (`istio`: `istio.io/gateway-controller`), or it would hand the class's Gateways to another controller.

**inferencepool-has-epp**: every InferencePool is `inference.networking.k8s.io/v1` and its `spec.endpointPickerRef`
(optional in the CRD, required here) names a Service (kind absent or `Service`, group absent or ``), a `port.number`
and an explicit `failureMode` (`FailOpen`|`FailClose`; the CRD defaults to FailClose silently). The stack holds that
picker: a Service of that name in the pool's namespace, not ExternalName (the CRD: implementations must not follow
one), exposing the ref's port as a Service port, with a selector that matches the pod template of a Deployment or
StatefulSet in that namespace (the llm-d router chart runs its picker as either).

**route-parent-platform-gateway**: every route (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute) and ListenerSet
attaches only to what the stack defines: each `parentRefs` entry (ListenerSet: `parentRef`) is a Gateway (group
absent or `gateway.networking.k8s.io`, kind absent or `Gateway`) or a ListenerSet of the stack, the namespace
defaulting to the route's. A Service parent (mesh routing) or a Gateway made elsewhere is a violation: traffic must
enter through the platform's Gateways, whose listeners, TLS and authentication this pack and the edge judge. Every
route backend of kind InferencePool is an InferencePool of the stack (same group, namespace defaulting to the
route's), so a typo cannot leave a model name routed nowhere.

**public-listener-tls**: every listener of a public Gateway (its own `spec.listeners` and those of ListenerSets
attached to it) is HTTPS, or TLS, with TLS terminated on `tls.certificateRefs` (TLS `Passthrough` stays encrypted
to the backend and needs none). A Gateway is internal only when it provably gets a ClusterIP Service; otherwise
it is public (fail closed):
- named in `publicGateways` (default `public`, config/inference.py PUBLIC_GATEWAY): public whatever its Service;
- manual deployment (Istio's IsManaged: more than one address, or one that is not an IPAddress): internal when every
  Hostname address names a Service of the stack (`<name>` in the Gateway's namespace or `<name>.<ns>.svc...`) of type
  ClusterIP without externalIPs;
- otherwise istiod deploys it: its Service type is the Gateway's `networking.istio.io/service-type` annotation
  (metadata.annotations; Istio's default for class `istio` is LoadBalancer), then the `service` overlay of a
  ConfigMap labelled `gateway.istio.io/defaults-for-class: <class>` and of the ConfigMap `spec.infrastructure.
  parametersRef` names (a parametersRef to a ConfigMap not in the stack, or an overlay that does not parse, leaves
  the type unknown: public). Internal when that type is ClusterIP.
One exception on a public Gateway: the ACME HTTP-01 listener (HTTP on port 80, `allowedRoutes.namespaces.from:
Same`, every route of the stack attached to it a redirect to https; cert-manager's solver adds its own route).
HTTP listeners stay possible on internal Gateways (the internal Gateway carries `networking.istio.io/service-type:
ClusterIP`; traffic to it rides the mesh's mTLS).

**mesh-mtls-strict**: in protected stacks (`stacks`, as cluster-deletion-protection) that install istiod (a Release
of the chart `istiod`), the mesh root namespace (the Release's `meshConfig.rootNamespace`, else
`global.istioNamespace`, else `istio-system`) holds a PeerAuthentication without selector whose `mtls.mode` is
`STRICT`, and no PeerAuthentication without selector (namespace-wide) sets PERMISSIVE or DISABLE. Workload- and
port-level exceptions (a selector, `portLevelMtls`) are not judged: they name the pods they open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from .helpers import config_list, get, is_map, maps, number, selector_matches, strings
from .objects import HELM_RELEASE, KubeObject, StackResource, objects
from .protection import DEFAULT_STACKS, protected_stack, stacks_schema

CLASS_NAME = "gateway-class-allowed"
POOL_NAME = "inferencepool-has-epp"
ROUTE_NAME = "route-parent-platform-gateway"
TLS_NAME = "public-listener-tls"
MTLS_NAME = "mesh-mtls-strict"

GATEWAY_GROUP = "gateway.networking.k8s.io"
INFERENCE_GROUP = "inference.networking.k8s.io"
INFERENCE_POOL_API = f"{INFERENCE_GROUP}/v1"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")

DEFAULT_GATEWAY_CLASSES = ("istio",)
"""config/inference.py GATEWAY_CLASS (the pack cannot import config/)."""
CLASS_CONTROLLERS = {"istio": "istio.io/gateway-controller"}
"""The controller of each known class (Istio: pilot/pkg/features ManagedGatewayController)."""
DEFAULT_PUBLIC_GATEWAYS = ("public",)
"""config/inference.py PUBLIC_GATEWAY."""
FAILURE_MODES = ("FailOpen", "FailClose")

SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"
CLASS_DEFAULTS_LABEL = "gateway.istio.io/defaults-for-class"
ISTIO_DEFAULT_SERVICE_TYPE = "LoadBalancer"
"""What istiod gives a Gateway of class `istio` without the annotation (istio.io: 'By default, Istio creates a
LoadBalancer service for a gateway')."""
ISTIOD_CHART = "istiod"
DEFAULT_ROOT_NAMESPACE = "istio-system"
"""istiod chart 1.30.3 values.yaml global.istioNamespace (templates/configmap.yaml rootNamespace default)."""
PEER_AUTHENTICATION_GROUP = "security.istio.io"

Problem = tuple[KubeObject, str]


# ------------------------------------------------------------------------------------- plumbing


def group_of(obj: KubeObject) -> str:
    """'gateway.networking.k8s.io/v1' -> 'gateway.networking.k8s.io'; core 'v1' -> ''."""
    return obj.api_version.rsplit("/", 1)[0] if "/" in obj.api_version else ""


def is_kind(obj: KubeObject, group: str, *kinds: str) -> bool:
    return group_of(obj) == group and obj.kind in kinds


def _key(obj: KubeObject) -> tuple[str, str]:
    return obj.namespace, obj.name


def stack_objects(args: StackValidationArgs, config: Any) -> tuple[list[KubeObject], dict[int, str]]:
    """Every object of every resource of the stack, and the URN each came from (by object id)."""
    urns: dict[int, str] = {}
    found: list[KubeObject] = []
    for r in args.resources:
        resource = StackResource(r.resource_type, r.props, r.name, config, r.urn)
        for obj in objects(cast(ResourceValidationArgs, resource)):
            urns[id(obj)] = r.urn
            found.append(obj)
    return found, urns


def _stack_policy(name: str, description: str, check: Callable[[list[KubeObject], Any, Any], Iterable[Problem]],
                  config_schema: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    """A stack policy that runs `check(objects, pack config, args)` over every object of every resource and reports
    '<Kind> <namespace>/<name>[ (chart <release>)]: <message>' against the resource the object came from."""

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        found, urns = stack_objects(args, config)
        for obj, message in check(found, config, args):
            report_violation(f"{obj.ref()}: {message}", urns.get(id(obj)))

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY, config_schema=config_schema)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


# ------------------------------------------------------------------------------- gateway classes


def class_problems(objs: Iterable[KubeObject], config: Any) -> Iterator[Problem]:
    allowed = config_list(config, "allowedGatewayClasses", DEFAULT_GATEWAY_CLASSES)
    listed = ", ".join(allowed) or "(none)"
    for obj in objs:
        if is_kind(obj, GATEWAY_GROUP, "Gateway"):
            name = get(obj.body, "spec", "gatewayClassName")
            if name not in allowed:
                yield obj, (f"spec.gatewayClassName is {name!r}, not an allowed GatewayClass ({listed}). Use the "
                            f"platform's class: another class is another data plane, outside the mesh, the edge's "
                            f"authentication and these policies.")
        elif is_kind(obj, GATEWAY_GROUP, "GatewayClass"):
            controller = get(obj.body, "spec", "controllerName")
            if obj.name not in allowed:
                yield obj, (f"the stack creates GatewayClass {obj.name!r} (controller {controller!r}); allowed "
                            f"classes: {listed}. Remove it: the platform's class is created by its implementation "
                            f"(istiod creates `istio`).")
            elif obj.name in CLASS_CONTROLLERS and controller != CLASS_CONTROLLERS[obj.name]:
                yield obj, (f"GatewayClass {obj.name!r} has controllerName {controller!r}, not "
                            f"{CLASS_CONTROLLERS[obj.name]!r}: it would hand the platform's Gateways to another "
                            f"controller. Do not create it (istiod does).")


def _check_classes(objs: list[KubeObject], config: Any, args: Any) -> Iterable[Problem]:
    return class_problems(objs, config)


gateway_class_allowed = _stack_policy(
    CLASS_NAME,
    "Every Gateway uses an allowed GatewayClass (default istio); the stack creates no other GatewayClass.",
    _check_classes,
    PolicyConfigSchema(properties={"allowedGatewayClasses": {
        "type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
        "default": list(DEFAULT_GATEWAY_CLASSES),
        "description": "GatewayClass names Gateways may use (config/inference.py GATEWAY_CLASS).",
    }}),
)


# ------------------------------------------------------------------------------ inference pools


def _workload_labels(obj: KubeObject) -> Mapping[str, Any] | None:
    if obj.api_version == "apps/v1" and obj.kind in ("Deployment", "StatefulSet"):
        labels = get(obj.body, "spec", "template", "metadata", "labels")
        return labels if is_map(labels) else {}
    return None


def _service_ports(service: KubeObject) -> list[int]:
    return [int(n) for p in maps(get(service.body, "spec", "ports")) if (n := number(get(p, "port"))) is not None]


def pool_problems(objs: Iterable[KubeObject]) -> Iterator[Problem]:
    objs = list(objs)
    services = {_key(o): o for o in objs if o.api_version == "v1" and o.kind == "Service"}
    workloads = [(o, labels) for o in objs if (labels := _workload_labels(o)) is not None]
    for pool in objs:
        if pool.kind != "InferencePool" or not group_of(pool).startswith("inference.networking."):
            continue
        if pool.api_version != INFERENCE_POOL_API:
            yield pool, (f"is {pool.api_version}: use {INFERENCE_POOL_API} (the bundled Inference Extension CRD "
                         f"v1.6.0 serves only it).")
            continue
        ref = get(pool.body, "spec", "endpointPickerRef")
        if not is_map(ref):
            yield pool, ("has no spec.endpointPickerRef: every pool names its endpoint picker (EPP) Service, port and "
                         "failureMode, so requests are scored by queue, KV cache and prefix cache.")
            continue
        problems = []
        mode = get(ref, "failureMode")
        if mode not in FAILURE_MODES:
            problems.append(f"endpointPickerRef.failureMode is {mode!r}: set FailOpen or FailClose explicitly (absent, "
                            f"the API silently means FailClose: every request fails while the picker is down)")
        kind, group = get(ref, "kind", default="Service"), get(ref, "group", default="")
        name, port = _text(get(ref, "name")), number(get(ref, "port", "number"))
        if (group, kind) != ("", "Service"):
            problems.append(f"endpointPickerRef names {group or 'core'}/{kind}: the picker must be a Service of the "
                            f"stack")
        elif port is None:
            problems.append("endpointPickerRef has no port.number (the picker Service's port)")
        else:
            service = services.get((pool.namespace, name))
            if service is None:
                problems.append(f"endpointPickerRef names Service {pool.namespace}/{name}, which the stack does not "
                                f"create (deploy the pool's picker with it)")
            elif get(service.body, "spec", "type") == "ExternalName":
                problems.append(f"endpointPickerRef names Service {pool.namespace}/{name} of type ExternalName, which "
                                f"implementations must not follow")
            else:
                ports = _service_ports(service)
                if int(port) not in ports:
                    problems.append(f"endpointPickerRef port {int(port)} is not a port of Service "
                                    f"{pool.namespace}/{name} (its ports: {ports or 'none'})")
                selector = get(service.body, "spec", "selector")
                if not is_map(selector) or not selector:
                    problems.append(f"Service {pool.namespace}/{name} has no selector: no picker pods behind it")
                elif not any(w.namespace == pool.namespace and selector_matches({"matchLabels": selector}, labels)
                             for w, labels in workloads):
                    problems.append(f"Service {pool.namespace}/{name} selects {dict(selector)}, which no Deployment or "
                                    f"StatefulSet of the stack in {pool.namespace} runs (no picker pods)")
        if problems:
            yield pool, "; ".join(problems) + "."


def _check_pools(objs: list[KubeObject], config: Any, args: Any) -> Iterable[Problem]:
    return pool_problems(objs)


inferencepool_has_epp = _stack_policy(
    POOL_NAME,
    "Every InferencePool (v1) names its endpoint picker with an explicit failureMode, and the stack runs that picker: "
    "a Service on the ref's port selecting a Deployment/StatefulSet in the pool's namespace.",
    _check_pools,
)


# ------------------------------------------------------------------------------------- routes


def _parent(ref: Any, namespace: str) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name) of a parentRef with the CRD defaults."""
    return (_text(get(ref, "group", default=GATEWAY_GROUP)), _text(get(ref, "kind", default="Gateway")),
            _text(get(ref, "namespace", default=namespace)), _text(get(ref, "name")))


def route_problems(objs: Iterable[KubeObject]) -> Iterator[Problem]:
    objs = list(objs)
    parents = {(group_of(o), o.kind, o.namespace, o.name) for o in objs
               if is_kind(o, GATEWAY_GROUP, "Gateway", "ListenerSet")}
    pools = {(group_of(o), o.namespace, o.name) for o in objs if o.kind == "InferencePool"}
    for obj in objs:
        if is_kind(obj, GATEWAY_GROUP, *ROUTE_KINDS):
            refs = maps(get(obj.body, "spec", "parentRefs"))
        elif is_kind(obj, GATEWAY_GROUP, "ListenerSet"):
            refs = [r for r in (get(obj.body, "spec", "parentRef"),) if is_map(r)]
        else:
            continue
        problems = []
        for ref in refs:
            group, kind, namespace, name = _parent(ref, obj.namespace)
            allowed = ("Gateway",) if obj.kind == "ListenerSet" else ("Gateway", "ListenerSet")
            if group != GATEWAY_GROUP or kind not in allowed:
                problems.append(f"parent {group or 'core'}/{kind} {namespace}/{name} is not a {' or '.join(allowed)} "
                                f"(routes enter through the platform's Gateways only)")
            elif (group, kind, namespace, name) not in parents:
                problems.append(f"parent {kind} {namespace}/{name} is not one the stack defines")
        for index, rule in enumerate(maps(get(obj.body, "spec", "rules"))):
            for backend in maps(get(rule, "backendRefs")):
                if get(backend, "kind") != "InferencePool":
                    continue
                group, name = _text(get(backend, "group", default="")), _text(get(backend, "name"))
                namespace = _text(get(backend, "namespace", default=obj.namespace))
                if (group, namespace, name) not in pools:
                    problems.append(f"rules[{index}] backend InferencePool {namespace}/{name} (group "
                                    f"{group or 'core'!r}) is not an InferencePool of the stack")
        if problems:
            yield obj, ("; ".join(problems) + ". Attach routes to the platform's public/internal Gateways and route to "
                        "the stack's own InferencePools (group inference.networking.k8s.io).")


def _check_routes(objs: list[KubeObject], config: Any, args: Any) -> Iterable[Problem]:
    return route_problems(objs)


route_parent_platform_gateway = _stack_policy(
    ROUTE_NAME,
    "Routes and ListenerSets attach only to Gateways (or ListenerSets) the stack defines, and every InferencePool "
    "backend is one of the stack's pools.",
    _check_routes,
)


# ---------------------------------------------------------------------------- public listeners


def _service_exposure(service: KubeObject | None, what: str) -> str | None:
    """Why a Gateway's Service makes it reachable from outside, or None when it is a plain ClusterIP Service."""
    if service is None:
        return f"{what} is not a Service of the stack"
    kind = _text(get(service.body, "spec", "type", default="ClusterIP")) or "ClusterIP"
    if kind != "ClusterIP":
        return f"{what} is a {kind} Service"
    if strings(get(service.body, "spec", "externalIPs")):
        return f"{what} has externalIPs"
    return None


def _overlay_type(configmap: KubeObject) -> str | None:
    """`spec.type` the ConfigMap's `service` overlay sets (None: it sets none). Raises ValueError when unparsable."""
    text = get(configmap.body, "data", "service")
    if text is None:
        return None
    try:
        overlay = yaml.safe_load(text) if isinstance(text, str) else None
    except yaml.YAMLError as error:
        raise ValueError(str(error)) from error
    if not is_map(overlay):
        raise ValueError("not a YAML object")
    found = get(overlay, "spec", "type")
    return found if isinstance(found, str) else None


def exposure(gateway: KubeObject, objs: list[KubeObject], config: Any) -> str | None:
    """Why a Gateway is public (see the module docstring), or None when it provably has a ClusterIP Service."""
    if gateway.name in config_list(config, "publicGateways", DEFAULT_PUBLIC_GATEWAYS):
        return f"named {gateway.name!r}, the platform's public Gateway"
    services = {_key(o): o for o in objs if o.api_version == "v1" and o.kind == "Service"}
    addresses = maps(get(gateway.body, "spec", "addresses"))
    if len(addresses) > 1 or (addresses and get(addresses[0], "type", default="IPAddress") != "IPAddress"):
        hostnames = [_text(get(a, "value")) for a in addresses if get(a, "type") == "Hostname"]
        if not hostnames:
            return "its addresses name no Service (manual deployment)"
        for value in hostnames:
            name, _, rest = value.partition(".")
            namespace = rest.split(".", 1)[0] if rest else gateway.namespace
            why = _service_exposure(services.get((namespace, name)), f"its address {value}")
            if why:
                return why
        return None
    kind = _text(get(gateway.body, "metadata", "annotations", SERVICE_TYPE_ANNOTATION)) or ISTIO_DEFAULT_SERVICE_TYPE
    origin = (f"annotation {SERVICE_TYPE_ANNOTATION}" if get(gateway.body, "metadata", "annotations",
                                                             SERVICE_TYPE_ANNOTATION) else "Istio's default")
    class_name = get(gateway.body, "spec", "gatewayClassName")
    overlays = [o for o in objs if o.api_version == "v1" and o.kind == "ConfigMap"
                and get(o.body, "metadata", "labels", CLASS_DEFAULTS_LABEL) == class_name]
    params = get(gateway.body, "spec", "infrastructure", "parametersRef")
    if is_map(params):
        if (get(params, "group"), get(params, "kind")) != ("", "ConfigMap"):
            return f"its infrastructure.parametersRef is {get(params, 'kind')!r}, which Istio does not read"
        found = next((o for o in objs if o.api_version == "v1" and o.kind == "ConfigMap"
                      and _key(o) == (gateway.namespace, get(params, "name"))), None)
        if found is None:
            return (f"its infrastructure.parametersRef ConfigMap {gateway.namespace}/{get(params, 'name')} is not in "
                    f"the stack (its Service overlay is unknown)")
        overlays.append(found)
    for overlay in overlays:
        try:
            overlay_kind = _overlay_type(overlay)
        except ValueError:
            return f"the Service overlay of ConfigMap {overlay.namespace}/{overlay.name} does not parse"
        if overlay_kind:
            kind, origin = overlay_kind, f"the Service overlay of ConfigMap {overlay.namespace}/{overlay.name}"
    if kind != "ClusterIP":
        return f"istiod gives it a {kind} Service ({origin})"
    return None


def listener_problem(listener: Any) -> str | None:
    """Why a listener is not fit for a public Gateway, or None."""
    protocol = get(listener, "protocol")
    mode = get(listener, "tls", "mode", default="Terminate")
    refs = maps(get(listener, "tls", "certificateRefs"))
    if protocol not in ("HTTPS", "TLS"):
        return f"is {protocol}"
    if protocol == "TLS" and mode == "Passthrough":
        return None
    if mode != "Terminate":
        return f"is {protocol} with tls.mode {mode!r}"
    if not refs:
        return f"is {protocol} without tls.certificateRefs"
    return None


def acme_listener(listener: Any, gateway: KubeObject, objs: list[KubeObject]) -> bool:
    """The one plain-HTTP listener a public Gateway may have: ACME HTTP-01 on port 80 (Let's Encrypt validates only
    there; cert-manager's gatewayHTTPRoute solver attaches its own route at runtime). It admits only routes of the
    Gateway's own namespace (`allowedRoutes.namespaces.from: Same`), and every route of the stack attached to it
    only redirects to https (components/inference/gateway.py)."""
    if get(listener, "protocol") != "HTTP" or get(listener, "port") != 80:
        return False
    if get(listener, "allowedRoutes", "namespaces", "from") != "Same":
        return False
    name = get(listener, "name")
    for route in (o for o in objs if is_kind(o, GATEWAY_GROUP, "HTTPRoute") and o.namespace == gateway.namespace):
        parents = [ref for ref in maps(get(route.body, "spec", "parentRefs"))
                   if get(ref, "name") == gateway.name and get(ref, "sectionName") in (None, name)]
        if not parents:
            continue
        for rule in maps(get(route.body, "spec", "rules")):
            filters = maps(get(rule, "filters"))
            if maps(get(rule, "backendRefs")) or not filters or any(
                    get(f, "type") != "RequestRedirect" or get(f, "requestRedirect", "scheme") != "https"
                    for f in filters):
                return False
    return True


def tls_problems(objs: Iterable[KubeObject], config: Any) -> Iterator[Problem]:
    objs = list(objs)
    gateways = [o for o in objs if is_kind(o, GATEWAY_GROUP, "Gateway")]
    if not gateways:
        return
    listener_sets = [o for o in objs if is_kind(o, GATEWAY_GROUP, "ListenerSet")]
    for gateway in gateways:
        why = exposure(gateway, objs, config)
        if why is None:
            continue
        owners = [(gateway, maps(get(gateway.body, "spec", "listeners")))]
        owners += [(s, maps(get(s.body, "spec", "listeners"))) for s in listener_sets
                   if _parent(get(s.body, "spec", "parentRef"), s.namespace) == (GATEWAY_GROUP, "Gateway",
                                                                                   gateway.namespace, gateway.name)]
        for owner, listeners in owners:
            bad = [f"listener {get(listener, 'name', default='?')!r} {problem}" for listener in listeners
                   if (problem := listener_problem(listener))
                   and not (owner is gateway and acme_listener(listener, gateway, objs))]
            if bad:
                on = "" if owner is gateway else f" (attached to Gateway {gateway.namespace}/{gateway.name})"
                yield owner, (f"{'; '.join(bad)}{on}, but the Gateway is public: {why}. Public listeners are HTTPS "
                              f"(or TLS) with tls.certificateRefs (a cert-manager Certificate's Secret); plain HTTP "
                              f"only on an internal Gateway (annotation {SERVICE_TYPE_ANNOTATION}: ClusterIP).")


def _check_tls(objs: list[KubeObject], config: Any, args: Any) -> Iterable[Problem]:
    return tls_problems(objs, config)


public_listener_tls = _stack_policy(
    TLS_NAME,
    "Every listener of a public Gateway (named public, or not provably ClusterIP) is HTTPS/TLS with certificateRefs.",
    _check_tls,
    PolicyConfigSchema(properties={"publicGateways": {
        "type": "array", "items": {"type": "string", "minLength": 1},
        "default": list(DEFAULT_PUBLIC_GATEWAYS),
        "description": "Gateway names that are public whatever their Service (config/inference.py PUBLIC_GATEWAY).",
    }}),
)


# ------------------------------------------------------------------------------------ mesh mTLS


def _is_istiod(resource_type: str, props: Any) -> bool:
    chart = _text(get(props, "chart"))
    return resource_type == HELM_RELEASE and chart.rstrip("/").rsplit("/", 1)[-1] == ISTIOD_CHART


def root_namespace(release_props: Any) -> str:
    """The mesh root namespace an istiod Release configures (chart templates/configmap.yaml)."""
    values = get(release_props, "values")
    return (_text(get(values, "meshConfig", "rootNamespace")) or _text(get(values, "global", "istioNamespace"))
            or DEFAULT_ROOT_NAMESPACE)


def _selects_all(obj: KubeObject) -> bool:
    selector = get(obj.body, "spec", "selector")
    return not is_map(selector) or not get(selector, "matchLabels")


def mtls_problems(objs: Iterable[KubeObject], roots: Iterable[str]) -> tuple[list[str], list[Problem]]:
    """(root namespaces without a mesh-wide STRICT PeerAuthentication, namespace-wide downgrades)."""
    authentications = [o for o in objs if is_kind(o, PEER_AUTHENTICATION_GROUP, "PeerAuthentication")]
    strict = {o.namespace for o in authentications
              if _selects_all(o) and get(o.body, "spec", "mtls", "mode") == "STRICT"}
    missing = sorted({r for r in roots if r not in strict})
    downgrades = [(o, f"sets mtls.mode {get(o.body, 'spec', 'mtls', 'mode')} for every workload of {o.namespace}: "
                      f"plaintext is accepted there. Keep STRICT (protected stacks); open single workloads or ports "
                      f"with a selector and portLevelMtls if a client outside the mesh must reach them.")
                  for o in authentications
                  if _selects_all(o) and get(o.body, "spec", "mtls", "mode") in ("PERMISSIVE", "DISABLE")]
    return missing, downgrades


def _validate_mtls(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    patterns = config_list(config, "stacks", DEFAULT_STACKS)
    istiod = [r for r in args.resources if _is_istiod(r.resource_type, r.props)]
    if not istiod or not protected_stack(istiod[0].urn, patterns):
        return
    found, urns = stack_objects(args, config)
    roots = {root_namespace(r.props): r.urn for r in istiod}
    missing, downgrades = mtls_problems(found, roots)
    for namespace in missing:
        report_violation(f"The mesh root namespace {namespace} has no PeerAuthentication without selector with "
                         f"mtls.mode STRICT: enrolled workloads accept plaintext. Add one (mesh.mtls: strict).",
                         roots[namespace])
    for obj, message in downgrades:
        report_violation(f"{obj.ref()}: {message}", urns.get(id(obj)))


mesh_mtls_strict = StackValidationPolicy(
    name=MTLS_NAME,
    description="Protected stacks with Istio have a mesh-wide STRICT PeerAuthentication and no namespace-wide "
                "PERMISSIVE/DISABLE.",
    validate=_validate_mtls,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=stacks_schema("Stack-name globs where Istio's mTLS must be STRICT mesh-wide (default: production "
                                "stacks)."),
)
