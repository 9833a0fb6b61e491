"""gateway-class-allowed, inferencepool-has-epp, route-parent-platform-gateway, public-listener-tls and
mesh-mtls-strict (policy/rules/inference.py).

The fixture is the platform's own shape (config/inference.py names): Gateways `public` (HTTPS) and `internal`
(HTTP, ClusterIP) in ai-gateway, an HTTPRoute in ai-inference attached to both, the InferencePool `qwen7b` whose
endpointPickerRef names `qwen7b-epp` on 9002 with FailOpen, and that picker's Service and Deployment. Each policy
has the compliant fixture and a violating edit of it, as program resources and as objects a chart renders. The
fixture's custom resources validate against the bundled Gateway API v1.6.1 and Inference Extension v1.6.0 CRDs.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from policy.rules import inference
from policy.rules.objects import HELM_RELEASE, RENDERERS, KubeObject
from tests.policy.shipped_objects import policy_config, stack_objects
from tools import crds, validate

from .harness import Res, run_stack, urn

CLASS = "gateway-class-allowed"
POOL = "inferencepool-has-epp"
ROUTE = "route-parent-platform-gateway"
TLS = "public-listener-tls"
MTLS = "mesh-mtls-strict"
GATEWAY_API = "gateway.networking.k8s.io/v1"
TYPES = {"Gateway": f"kubernetes:{GATEWAY_API}:Gateway", "GatewayClass": f"kubernetes:{GATEWAY_API}:GatewayClass",
         "HTTPRoute": f"kubernetes:{GATEWAY_API}:HTTPRoute", "GRPCRoute": f"kubernetes:{GATEWAY_API}:GRPCRoute",
         "ListenerSet": f"kubernetes:{GATEWAY_API}:ListenerSet",
         "InferencePool": "kubernetes:inference.networking.k8s.io/v1:InferencePool",
         "Service": "kubernetes:core/v1:Service", "Deployment": "kubernetes:apps/v1:Deployment",
         "StatefulSet": "kubernetes:apps/v1:StatefulSet",
         "ConfigMap": "kubernetes:core/v1:ConfigMap",
         "PeerAuthentication": "kubernetes:security.istio.io/v1:PeerAuthentication"}
GATEWAY_NS, SERVING_NS = "ai-gateway", "ai-inference"
EPP_LABELS = {"llm-d-router-gateway": "qwen7b-epp"}


def meta(name: str, namespace: str | None, **extra) -> dict:
    return {"name": name, **({"namespace": namespace} if namespace else {}), **extra}


def public_gateway() -> dict:
    return {"apiVersion": GATEWAY_API, "kind": "Gateway", "metadata": meta("public", GATEWAY_NS),
            "spec": {"gatewayClassName": "istio", "listeners": [{
                "name": "https", "port": 443, "protocol": "HTTPS", "hostname": "llm-api.example.com",
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "llm-api-tls"}]},
                "allowedRoutes": {"namespaces": {"from": "Selector", "selector": {
                    "matchLabels": {"kubernetes.io/metadata.name": SERVING_NS}}}}}]}}


def internal_gateway() -> dict:
    return {"apiVersion": GATEWAY_API, "kind": "Gateway",
            "metadata": meta("internal", GATEWAY_NS,
                             annotations={"networking.istio.io/service-type": "ClusterIP"}),
            "spec": {"gatewayClassName": "istio", "listeners": [{
                "name": "http", "port": 80, "protocol": "HTTP",
                "allowedRoutes": {"namespaces": {"from": "All"}}}]}}


def route() -> dict:
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": meta("models", SERVING_NS),
            "spec": {"parentRefs": [
                {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": GATEWAY_NS,
                 "sectionName": "https"},
                {"name": "internal", "namespace": GATEWAY_NS}],
                "rules": [{"matches": [{"headers": [{"type": "Exact", "name": "X-Gateway-Model-Name",
                                                     "value": "qwen7b"}]}],
                           "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                            "name": "qwen7b", "weight": 100}]}]}}


def pool() -> dict:
    return {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": meta("qwen7b", SERVING_NS),
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": "qwen7b"}},
                     "targetPorts": [{"number": 8000}],
                     "endpointPickerRef": {"name": "qwen7b-epp", "port": {"number": 9002},
                                           "failureMode": "FailOpen"}}}


def epp_service() -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta("qwen7b-epp", SERVING_NS),
            "spec": {"type": "ClusterIP", "selector": dict(EPP_LABELS),
                     "ports": [{"name": "grpc-ext-proc", "port": 9002, "protocol": "TCP",
                                "appProtocol": "kubernetes.io/h2c"},
                               {"name": "http-metrics", "port": 9090, "protocol": "TCP"}]}}


def epp_deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("qwen7b-epp", SERVING_NS),
            "spec": {"replicas": 2, "selector": {"matchLabels": dict(EPP_LABELS)},
                     "template": {"metadata": {"labels": dict(EPP_LABELS)},
                                  "spec": {"containers": [{"name": "epp",
                                                           "image": "ghcr.io/llm-d/llm-d-router:v0.10.0"}]}}}}


def platform() -> list[dict]:
    return [public_gateway(), internal_gateway(), route(), pool(), epp_service(), epp_deployment()]


def as_program(objects: list[dict]) -> list[Res]:
    """The objects as program resources (pulumi-kubernetes inputs carry no apiVersion/kind)."""
    return [Res(TYPES[o["kind"]], f"{o['kind'].lower()}-{o['metadata']['name']}-{i}",
                {k: v for k, v in o.items() if k not in ("apiVersion", "kind")}) for i, o in enumerate(objects)]


def messages(policy: str, objects: list[dict], config: dict | None = None) -> list[str]:
    return [v.message for v in run_stack(policy, as_program(objects), config)]


def edited(change) -> list[dict]:
    objects = platform()
    change({o["kind"] + "/" + o["metadata"]["name"]: o for o in objects})
    return objects


ALL = (CLASS, POOL, ROUTE, TLS)


# ------------------------------------------------------------------------------------ compliant


def test_the_platform_fixture_passes():
    resources = as_program(platform())
    assert run_stack(CLASS, resources) == []
    assert run_stack(POOL, resources) == []
    assert run_stack(ROUTE, resources) == []
    assert run_stack(TLS, resources) == []


@pytest.mark.parametrize("policy", ALL + (MTLS,))
def test_a_stack_without_gateway_objects_has_nothing_to_judge(policy):
    assert run_stack(policy, as_program([epp_service(), epp_deployment()]), {"stacks": ["*"]}
                     if policy == MTLS else None) == []


def test_the_fixture_validates_against_the_bundled_crds():
    directory = crds.charts_dir()
    if directory is None:
        pytest.skip("charts directory not available (AI_PLATFORM_CHARTS)")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    bundles = [d for name in ("gateway-api-standard-v1.6.1.yaml", "gateway-api-inference-extension-crds-v1.6.0.yaml")
               for d in yaml.load_all(Path(directory, name).read_text(), Loader=loader) if d]
    objects = platform() + [listener_set(), {"apiVersion": GATEWAY_API, "kind": "GatewayClass",
                                             "metadata": {"name": "istio"},
                                             "spec": {"controllerName": "istio.io/gateway-controller"}}]
    assert validate.validate_objects(objects, "1.33", bundles) == []


# ------------------------------------------------------------------------------ gateway classes


def test_a_gateway_of_another_class_is_a_violation():
    found = messages(CLASS, edited(lambda o: o["Gateway/public"]["spec"].update(gatewayClassName="nginx")))
    assert len(found) == 1 and "Gateway ai-gateway/public: spec.gatewayClassName is 'nginx'" in found[0]


def test_the_allowed_class_comes_from_the_pack_config():
    assert len(messages(CLASS, platform(), {"allowedGatewayClasses": ["kgateway"]})) == 2
    objects = edited(lambda o: o["Gateway/internal"]["spec"].update(gatewayClassName="kgateway"))
    assert messages(CLASS, objects, {"allowedGatewayClasses": ["istio", "kgateway"]}) == []


@pytest.mark.parametrize("name, controller, text", [
    ("nginx", "gateway.nginx.org/nginx-gateway-controller", "the stack creates GatewayClass 'nginx'"),
    ("istio", "example.com/other-controller", "has controllerName 'example.com/other-controller'"),
])
def test_the_stack_creates_no_other_gateway_class(name, controller, text):
    klass = {"apiVersion": GATEWAY_API, "kind": "GatewayClass", "metadata": {"name": name},
             "spec": {"controllerName": controller}}
    found = messages(CLASS, platform() + [klass])
    assert len(found) == 1 and text in found[0], found


def test_istios_own_class_with_its_controller_is_fine():
    klass = {"apiVersion": GATEWAY_API, "kind": "GatewayClass", "metadata": {"name": "istio"},
             "spec": {"controllerName": "istio.io/gateway-controller"}}
    assert messages(CLASS, platform() + [klass]) == []


# ------------------------------------------------------------------------------ inference pools


@pytest.mark.parametrize("change, text", [
    (lambda o: o["InferencePool/qwen7b"]["spec"].pop("endpointPickerRef"), "has no spec.endpointPickerRef"),
    (lambda o: o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"].pop("failureMode"),
     "failureMode is None: set FailOpen or FailClose explicitly"),
    (lambda o: o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"].update(name="qwen7b-picker"),
     "names Service ai-inference/qwen7b-picker, which the stack does not create"),
    (lambda o: o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"].update(port={"number": 9003}),
     "port 9003 is not a port of Service ai-inference/qwen7b-epp (its ports: [9002, 9090])"),
    (lambda o: o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"].update(kind="Pod"),
     "endpointPickerRef names core/Pod"),
    (lambda o: o["Service/qwen7b-epp"]["metadata"].update(namespace="ai-gateway"),
     "which the stack does not create"),
    (lambda o: o["Service/qwen7b-epp"]["spec"].update(type="ExternalName", externalName="epp.example.com"),
     "of type ExternalName"),
    (lambda o: o["Service/qwen7b-epp"]["spec"].pop("selector"), "has no selector"),
    (lambda o: o["Deployment/qwen7b-epp"]["spec"]["template"]["metadata"].update(labels={"app": "other"}),
     "which no Deployment or StatefulSet of the stack in ai-inference runs"),
])
def test_a_pool_without_its_picker_is_a_violation(change, text):
    found = messages(POOL, edited(change))
    assert len(found) == 1 and found[0].startswith("InferencePool ai-inference/qwen7b: ") and text in found[0], found


def test_fail_close_and_a_statefulset_picker_pass():
    def change(o):
        o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"]["failureMode"] = "FailClose"
        o["Deployment/qwen7b-epp"]["kind"] = "StatefulSet"

    assert messages(POOL, edited(change)) == []


def test_an_alpha_pool_is_a_violation():
    alpha = pool()
    alpha["apiVersion"] = "inference.networking.x-k8s.io/v1alpha2"
    found = [m for o, m in inference.pool_problems([KubeObject(alpha)])]
    assert found and "use inference.networking.k8s.io/v1" in found[0]


# -------------------------------------------------------------------------------------- routes


@pytest.mark.parametrize("change, text", [
    (lambda o: o["HTTPRoute/models"]["spec"]["parentRefs"].append({"name": "shared", "namespace": "infra"}),
     "parent Gateway infra/shared is not one the stack defines"),
    (lambda o: o["HTTPRoute/models"]["spec"]["parentRefs"][1].pop("namespace"),
     "parent Gateway ai-inference/internal is not one the stack defines"),
    (lambda o: o["HTTPRoute/models"]["spec"]["parentRefs"].append({"group": "", "kind": "Service", "name": "qwen7b"}),
     "parent core/Service ai-inference/qwen7b is not a Gateway or ListenerSet"),
    (lambda o: o["HTTPRoute/models"]["spec"]["rules"][0]["backendRefs"][0].update(name="qwen7b-canary"),
     "backend InferencePool ai-inference/qwen7b-canary (group 'inference.networking.k8s.io') is not an "
     "InferencePool of the stack"),
    (lambda o: o["HTTPRoute/models"]["spec"]["rules"][0]["backendRefs"][0].pop("group"),
     "(group 'core') is not an InferencePool of the stack"),
])
def test_a_route_to_an_outside_gateway_or_pool_is_a_violation(change, text):
    found = messages(ROUTE, edited(change))
    assert len(found) == 1 and found[0].startswith("HTTPRoute ai-inference/models: ") and text in found[0], found


def test_a_grpc_route_is_judged_too():
    grpc = route()
    grpc["kind"] = "GRPCRoute"
    grpc["spec"] = {"parentRefs": [{"name": "elsewhere", "namespace": "istio-system"}]}
    found = messages(ROUTE, platform() + [grpc])
    assert len(found) == 1 and "GRPCRoute ai-inference/models: parent Gateway istio-system/elsewhere" in found[0]


def listener_set(protocol: str = "HTTPS", parent: str = "public") -> dict:
    listener = {"name": "extra", "port": 8443, "protocol": protocol, "hostname": "rag.example.com"}
    if protocol == "HTTPS":
        listener["tls"] = {"certificateRefs": [{"name": "rag-tls"}]}
    return {"apiVersion": GATEWAY_API, "kind": "ListenerSet", "metadata": meta("extra", GATEWAY_NS),
            "spec": {"parentRef": {"name": parent}, "listeners": [listener]}}


def test_a_listener_set_attaches_only_to_a_gateway_of_the_stack():
    assert messages(ROUTE, platform() + [listener_set()]) == []
    found = messages(ROUTE, platform() + [listener_set(parent="shared")])
    assert len(found) == 1 and "ListenerSet ai-gateway/extra: parent Gateway ai-gateway/shared" in found[0]


# ---------------------------------------------------------------------------- public listeners


@pytest.mark.parametrize("listener, text", [
    ({"name": "http", "port": 80, "protocol": "HTTP"}, "listener 'http' is HTTP"),
    ({"name": "https", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Terminate"}},
     "listener 'https' is HTTPS without tls.certificateRefs"),
    ({"name": "tls", "port": 443, "protocol": "TLS", "tls": {"mode": "Terminate", "certificateRefs": []}},
     "listener 'tls' is TLS without tls.certificateRefs"),
    ({"name": "tcp", "port": 5432, "protocol": "TCP"}, "listener 'tcp' is TCP"),
])
def test_an_unencrypted_listener_on_the_public_gateway_is_a_violation(listener, text):
    found = messages(TLS, edited(lambda o: o["Gateway/public"]["spec"]["listeners"].append(listener)))
    assert len(found) == 1 and found[0].startswith("Gateway ai-gateway/public: ") and text in found[0], found
    assert "named 'public', the platform's public Gateway" in found[0]


ACME = {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}


def redirect(**rule) -> dict:
    return {"apiVersion": GATEWAY_API, "kind": "HTTPRoute", "metadata": meta("https-redirect", GATEWAY_NS),
            "spec": {"parentRefs": [{"name": "public", "sectionName": "http"}], "rules": [
                rule or {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]}]}}


def test_the_acme_http01_listener_that_only_redirects_passes():
    # Port 80 for cert-manager's gatewayHTTPRoute solver (components/inference/gateway.py): own namespace only, and
    # the stack's routes on it only redirect to https.
    objects = edited(lambda o: o["Gateway/public"]["spec"]["listeners"].append(dict(ACME)))
    assert messages(TLS, [*objects, redirect()]) == []


@pytest.mark.parametrize("listener, extra", [
    ({**ACME, "allowedRoutes": {"namespaces": {"from": "All"}}}, []),  # any namespace could attach plain HTTP
    ({**ACME, "port": 8080}, []),
    (ACME, [redirect(backendRefs=[{"name": "ai-gateway", "port": 80}])]),  # serves content over plain HTTP
])
def test_an_acme_like_listener_that_serves_plain_http_is_a_violation(listener, extra):
    objects = edited(lambda o: o["Gateway/public"]["spec"]["listeners"].append(dict(listener)))
    [found] = messages(TLS, [*objects, *extra])
    assert "listener 'http' is HTTP" in found


def test_tls_passthrough_is_encrypted_and_passes():
    passthrough = {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}}
    assert messages(TLS, edited(lambda o: o["Gateway/public"]["spec"]["listeners"].append(passthrough))) == []


@pytest.mark.parametrize("change, text", [
    (lambda o: o["Gateway/internal"]["metadata"].pop("annotations"),
     "istiod gives it a LoadBalancer Service (Istio's default)"),
    (lambda o: o["Gateway/internal"]["metadata"]["annotations"].update(
        {"networking.istio.io/service-type": "NodePort"}), "a NodePort Service (annotation"),
    (lambda o: o["Gateway/internal"]["spec"].update(infrastructure={"parametersRef": {
        "group": "", "kind": "ConfigMap", "name": "internal-options"}}),
     "ConfigMap ai-gateway/internal-options is not in the stack"),
    (lambda o: o["Gateway/internal"]["spec"].update(addresses=[{"type": "Hostname",
                                                                "value": "edge.ai-gateway.svc.cluster.local"}]),
     "its address edge.ai-gateway.svc.cluster.local is not a Service of the stack"),
])
def test_http_on_a_gateway_that_is_not_provably_internal_is_a_violation(change, text):
    found = messages(TLS, edited(change))
    assert len(found) == 1 and found[0].startswith("Gateway ai-gateway/internal: listener 'http' is HTTP") \
        and text in found[0], found


def overlay(name: str, service_type: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, GATEWAY_NS, labels=labels or {}),
            "data": {"service": f"spec:\n  type: {service_type}\n"}}


def test_istio_overlays_decide_the_service_type():
    params = {"parametersRef": {"group": "", "kind": "ConfigMap", "name": "internal-options"}}
    objects = edited(lambda o: o["Gateway/internal"]["spec"].update(infrastructure=params))
    assert messages(TLS, objects + [overlay("internal-options", "ClusterIP")]) == []
    found = messages(TLS, objects + [overlay("internal-options", "LoadBalancer")])
    assert len(found) == 1 and "the Service overlay of ConfigMap ai-gateway/internal-options" in found[0]
    class_defaults = overlay("istio-defaults", "LoadBalancer", {"gateway.istio.io/defaults-for-class": "istio"})
    assert len(messages(TLS, platform() + [class_defaults])) == 1


def test_a_manual_gateway_on_a_cluster_ip_service_is_internal():
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta("edge", GATEWAY_NS),
               "spec": {"selector": {"app": "edge"}, "ports": [{"port": 80}]}}

    def manual(o):
        o["Gateway/internal"]["metadata"].pop("annotations")
        o["Gateway/internal"]["spec"]["addresses"] = [{"type": "Hostname", "value": "edge"}]

    assert messages(TLS, edited(manual) + [service]) == []
    service["spec"]["type"] = "LoadBalancer"
    found = messages(TLS, edited(manual) + [service])
    assert len(found) == 1 and "its address edge is a LoadBalancer Service" in found[0]


def test_public_gateway_names_come_from_the_pack_config():
    found = messages(TLS, platform(), {"publicGateways": ["public", "internal"]})
    assert len(found) == 1 and "named 'internal'" in found[0]


def test_a_listener_set_on_the_public_gateway_is_judged():
    assert messages(TLS, platform() + [listener_set()]) == []
    found = messages(TLS, platform() + [listener_set("HTTP")])
    assert len(found) == 1 and found[0].startswith("ListenerSet ai-gateway/extra: listener 'extra' is HTTP "
                                                   "(attached to Gateway ai-gateway/public)")


# -------------------------------------------------------------------------------- chart objects


@pytest.fixture
def handed_over():
    """RENDERERS.rendered for one test (restored after)."""
    saved, saved_release = RENDERERS.rendered, RENDERERS.release
    RENDERERS.rendered, RENDERERS.release = {}, None
    yield RENDERERS.rendered
    RENDERERS.rendered, RENDERERS.release = saved, saved_release


RELEASE = {"name": "qwen7b-epp", "chart": "llm-d-router-gateway", "version": "v0.10.0", "namespace": SERVING_NS,
           "values": {}}


@pytest.mark.parametrize("policy, change, text", [
    (POOL, lambda o: o["InferencePool/qwen7b"]["spec"]["endpointPickerRef"].pop("failureMode"),
     "InferencePool ai-inference/qwen7b (chart qwen7b-epp): endpointPickerRef.failureMode is None"),
    (ROUTE, lambda o: o["HTTPRoute/models"]["spec"]["parentRefs"][0].update(name="llm-d-router-gateway"),
     "HTTPRoute ai-inference/models (chart qwen7b-epp): parent Gateway ai-gateway/llm-d-router-gateway"),
])
def test_chart_objects_are_judged_with_the_programs(handed_over, policy, change, text):
    """The pool, its picker and the route rendered by a Release (namespace from the Release), the Gateways the
    program's: compliant as shipped; an edit is reported against the Release."""
    def render(objects: list[dict]) -> list[Res]:
        charted = [copy.deepcopy(o) for o in objects if o["kind"] not in ("Gateway",)]
        for o in charted:
            o["metadata"].pop("namespace")
        handed_over[urn(HELM_RELEASE, "qwen7b-epp")] = charted
        return as_program([o for o in objects if o["kind"] == "Gateway"]) + [Res(HELM_RELEASE, "qwen7b-epp",
                                                                                  RELEASE)]

    assert run_stack(policy, render(platform())) == []
    found = run_stack(policy, render(edited(change)))
    assert len(found) == 1 and found[0].message.startswith(text), found
    assert found[0].urn == urn(HELM_RELEASE, "qwen7b-epp")


# ------------------------------------------------------------------------------------ mesh mTLS


ISTIOD = Res(HELM_RELEASE, "istiod", {"name": "istiod", "chart": "istiod", "version": "1.30.3",
                                       "namespace": "istio-system", "values": {}})


def peer_authentication(namespace: str, mode: str, selector: dict | None = None) -> dict:
    spec: dict = {"mtls": {"mode": mode}}
    if selector:
        spec["selector"] = {"matchLabels": selector}
    return {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
            "metadata": meta("default", namespace), "spec": spec}


PROTECTED = {"stacks": ["*"]}


def test_a_protected_mesh_has_strict_mtls_mesh_wide():
    strict = as_program([peer_authentication("istio-system", "STRICT")])
    assert run_stack(MTLS, [ISTIOD] + strict, PROTECTED) == []
    permissive = as_program([peer_authentication("istio-system", "PERMISSIVE")])
    found = run_stack(MTLS, [ISTIOD] + permissive, PROTECTED)
    assert [v.urn for v in found] == [ISTIOD.urn, permissive[0].urn]
    assert "root namespace istio-system has no PeerAuthentication without selector with mtls.mode STRICT" \
        in found[0].message
    assert "sets mtls.mode PERMISSIVE for every workload of istio-system" in found[1].message


def test_a_namespace_wide_downgrade_is_a_violation_but_a_workload_exception_is_not():
    base = [peer_authentication("istio-system", "STRICT")]
    found = run_stack(MTLS, [ISTIOD] + as_program(base + [peer_authentication(SERVING_NS, "DISABLE")]), PROTECTED)
    assert len(found) == 1 and "PeerAuthentication ai-inference/default: sets mtls.mode DISABLE" in found[0].message
    exception = peer_authentication(SERVING_NS, "PERMISSIVE", {"app": "legacy-client"})
    assert run_stack(MTLS, [ISTIOD] + as_program(base + [exception]), PROTECTED) == []


def test_the_root_namespace_comes_from_the_istiod_release_and_unprotected_stacks_are_not_judged():
    moved = Res(HELM_RELEASE, "istiod", {**ISTIOD.props, "values": {"meshConfig": {"rootNamespace": "mesh-root"}}})
    found = run_stack(MTLS, [moved] + as_program([peer_authentication("istio-system", "STRICT")]), PROTECTED)
    assert len(found) == 1 and "root namespace mesh-root" in found[0].message
    assert run_stack(MTLS, [ISTIOD]) == []  # the test stack is not a production stack by default


# ------------------------------------------------------------------------------ shipped stacks


CHECKS = {CLASS: lambda objs, config: inference.class_problems(objs, config),
          POOL: lambda objs, config: inference.pool_problems(objs),
          ROUTE: lambda objs, config: inference.route_problems(objs),
          TLS: lambda objs, config: inference.tls_problems(objs, config)}


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_every_object_of_the_shipped_stacks_passes(stack):
    """The program's objects and every chart-rendered object, with the stack's pack config and with none."""
    objects = list(stack_objects(stack))
    for name, check in CHECKS.items():
        for config in (policy_config(stack, name), {}):
            found = [f"{o.ref()}: {m}" for o, m in check(objects, config)]
            assert found == [], (name, found)
