"""The Gateways, their Envoy pods (istio `gateway` chart 1.30.3), body-based routing (GAIE body-based-routing
v1.5.0) and their certificates, on the recorded resources and the rendered charts (components/inference/gateway.py).
"""

from __future__ import annotations

import copy
import tarfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.inference.gateway import bbr_values, gateway_values
from config import validate
from config.errors import ConfigError
from config.inference import MODEL_HEADER
from tests.chart_values import leaf_paths
from tests.conftest import run_stack, stack_values
from tests.rag.conftest import k8s, release
from tests.render.conftest import chart_objects, rendered
from tools.crds import charts_dir
from tools.validate import validate_objects

CHARTS = charts_dir() or Path("/nonexistent")  # AI_PLATFORM_CHARTS, else ../shared/charts
GATEWAY = "kubernetes:gateway.networking.k8s.io/v1:Gateway"


def gateways(result) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r for r in result.of_type(GATEWAY)}


def test_each_gateway_is_bound_to_its_own_envoy_deployment():
    # Istio's manual deployment: the Gateway's single address (type Hostname) is the chart Service's FQDN.
    result = run_stack("prod")
    found = gateways(result)
    assert set(found) == {"public", "internal"}
    for name, gw in found.items():
        spec = gw.inputs["spec"]
        assert gw.inputs["metadata"]["namespace"] == "ai-gateway"
        assert spec["gatewayClassName"] == "istio"
        assert spec["addresses"] == [{"type": "Hostname",
                                      "value": f"{name}-gateway.ai-gateway.svc.cluster.local"}]
        rel = [r for r in result.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == f"{name}-gateway"]
        assert len(rel) == 1 and rel[0].inputs["chart"] == "gateway" and rel[0].inputs["version"] == "1.30.3"
        assert rel[0].inputs["repositoryOpts"]["repo"] == "https://istio-release.storage.googleapis.com/charts"
        assert rel[0].urn in gw.dependencies


def test_public_listeners_are_https_with_cert_manager_secrets_and_narrow_allowed_routes():
    result = run_stack("prod")
    listeners = {li["name"]: li for li in gateways(result)["public"].inputs["spec"]["listeners"]}
    # prod's edge and RAG certificates are ACME: port 80 exists only for HTTP-01 and the redirect to HTTPS.
    assert set(listeners) == {"api", "rag", "http"}
    for name, host, namespace in (("api", "llm-api.example.com", "ai-inference"), ("rag", "ai-api.example.com",
                                                                                     "ai-app")):
        li = listeners[name]
        assert (li["protocol"], li["port"], li["hostname"]) == ("HTTPS", 443, host)
        [ref] = li["tls"]["certificateRefs"]
        assert li["tls"]["mode"] == "Terminate"
        cert = k8s(result, "Certificate", ref["name"], "ai-gateway")
        assert cert.inputs["spec"]["secretName"] == ref["name"] and cert.inputs["spec"]["dnsNames"] == [host]
        [expr] = li["allowedRoutes"]["namespaces"]["selector"]["matchExpressions"]
        assert (expr["key"], expr["values"]) == ("kubernetes.io/metadata.name", [namespace])
    assert listeners["http"]["protocol"] == "HTTP" and listeners["http"]["allowedRoutes"]["namespaces"] == {
        "from": "Same"}
    [internal] = gateways(result)["internal"].inputs["spec"]["listeners"]
    assert (internal["protocol"], internal["port"]) == ("HTTP", 80)
    # dev's certificates are self-signed: HTTPS only, no plain-HTTP listener at all.
    dev = gateways(run_stack("dev"))["public"].inputs["spec"]["listeners"]
    assert {(li["protocol"], li["port"]) for li in dev} == {("HTTPS", 443)}


def test_acme_is_solved_through_the_public_gateway_and_one_cert_manager_is_installed():
    result = run_stack("prod")
    issuer = k8s(result, "Issuer", "api-acme", "ai-gateway").inputs["spec"]["acme"]
    assert issuer["email"] == "platform-team@example.com"
    assert issuer["solvers"] == [{"http01": {"gatewayHTTPRoute": {"parentRefs": [
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public", "namespace": "ai-gateway",
         "sectionName": "http"}]}}}]
    cm = release(result, "cert-manager")
    assert cm.inputs["namespace"] == "cert-manager"
    # cert-manager v1.21.1 values.yaml `config` is the ControllerConfiguration; enableGatewayAPI turns on the
    # gatewayHTTPRoute solver (cert-manager docs, "ACME HTTP-01": Gateway API support since v1.15).
    assert cm.inputs["values"]["config"] == {"apiVersion": "controller.config.cert-manager.io/v1alpha1",
                                             "kind": "ControllerConfiguration", "enableGatewayAPI": True}
    assert cm.urn in k8s(result, "Issuer", "api-acme", "ai-gateway").dependencies
    redirect = k8s(result, "HTTPRoute", "https-redirect", "ai-gateway").inputs["spec"]
    assert redirect["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    dev = run_stack("dev")
    issuers = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in dev.of_type(
        "kubernetes:cert-manager.io/v1:Issuer")}
    assert issuers == {"inference-gateway-selfsigned": {"selfSigned": {}},
                       "inference-gateway-ca": {"ca": {"secretName": "inference-gateway-ca"}}}
    assert "config" not in release(dev, "cert-manager").inputs["values"]


def test_an_existing_tls_secret_needs_no_cert_manager():
    values = copy.deepcopy(stack_values("dev"))
    values["inferenceGateway"]["edge"].pop("certificate")
    values["inferenceGateway"]["edge"]["tlsSecret"] = "corp-wildcard"
    values["rag"]["gateway"].pop("certificate")
    values["rag"]["gateway"]["tlsSecret"] = "corp-rag"
    cfg, _ = validate(values, "x")
    from config.inference import cert_manager_owner, public_listeners
    assert cert_manager_owner(cfg) is None
    assert [(li.name, li.tls_secret, li.certificate) for li in public_listeners(cfg)] == [
        ("api", "corp-wildcard", None), ("rag", "corp-rag", None)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_rendered_envoy_pods_service_hpa_and_pdb_follow_the_config(stack):
    replicas = {"dev": 1, "prod": 3}[stack]
    public = {o.manifest["kind"]: o.manifest for o in chart_objects(stack, "public-gateway")}
    internal = {o.manifest["kind"]: o.manifest for o in chart_objects(stack, "internal-gateway")}
    for objs, name in ((public, "public-gateway"), (internal, "internal-gateway")):
        pod = objs["Deployment"]["spec"]["template"]
        assert pod["metadata"]["labels"]["gateway.networking.k8s.io/gateway-name"] == name.removesuffix("-gateway")
        assert pod["metadata"]["labels"]["istio.io/dataplane-mode"] == "none"
        assert pod["spec"]["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        # Envoy drains streamed requests for the edge timeout before it stops.
        assert pod["metadata"]["annotations"]["inject.istio.io/templates"] == "gateway"
        assert (objs["HorizontalPodAutoscaler"]["spec"]["minReplicas"],
                objs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]) == (replicas, replicas * 4)
        assert ("PodDisruptionBudget" in objs) == (replicas > 1)
    timeout = {"dev": 300, "prod": 600}[stack]
    pod = public["Deployment"]["spec"]["template"]
    assert pod["spec"]["terminationGracePeriodSeconds"] == timeout + 30
    assert f'"terminationDrainDuration": "{timeout}s"' in pod["metadata"]["annotations"]["proxy.istio.io/config"]
    assert internal["Service"]["spec"]["type"] == "ClusterIP"
    assert {p["port"] for p in internal["Service"]["spec"]["ports"]} == {80}
    assert public["Service"]["spec"]["type"] == "LoadBalancer"
    assert "Role" not in public  # Gateway API: certificates reach Envoy through istiod, not a Secret-reading Role


def test_body_based_routing_sets_the_model_header_on_each_gateway():
    for gateway in ("public", "internal"):
        objs = {(o.manifest["kind"], o.manifest["metadata"]["name"]): o.manifest
                for o in chart_objects("dev", f"{gateway}-bbr")}
        deployment = objs[("Deployment", f"{gateway}-body-based-router")]
        [c] = deployment["spec"]["template"]["spec"]["containers"]
        assert c["image"] == "registry.k8s.io/gateway-api-inference-extension/bbr:v1.5.0"
        plugins = [a for prev, a in zip(c["args"], c["args"][1:], strict=False) if prev == "--plugin"]
        assert plugins == ['body-field-to-header:model-extractor:{"fieldName":"model","headerName":"'
                           + MODEL_HEADER + '"}']
        envoy_filter = objs[("EnvoyFilter", f"{gateway}-body-based-router")]
        assert envoy_filter["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                       "name": gateway}]
        [patch] = envoy_filter["spec"]["configPatches"]
        grpc = patch["patch"]["value"]["typed_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
        assert grpc == f"outbound|9004||{gateway}-body-based-router.ai-gateway.svc.cluster.local"
    bbr = {r.inputs["name"]: r for r in run_stack("dev").of_type("kubernetes:helm.sh/v3:Release")}["public-bbr"]
    assert bbr.inputs["chart"] == "oci://registry.k8s.io/gateway-api-inference-extension/charts/body-based-routing"
    assert bbr.inputs["version"] == "v1.5.0" and not bbr.inputs.get("repositoryOpts")


# ------------------------------------------------------------------ values and CRs against the pinned sources

def _chart_values(archive: str, top: str) -> dict:
    with tarfile.open(CHARTS / archive) as tar:
        return yaml.safe_load(tar.extractfile(f"{top}/values.yaml").read())  # type: ignore[union-attr]


FREE = ("service", "podDisruptionBudget", "podAnnotations", "labels", "securityContext", "resources", "json",
        "topologySpreadConstraints", "plugins", "image")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_value_passed_exists_in_the_charts_values(stack):
    if not CHARTS.is_dir():
        pytest.skip("no chart archives")
    cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    gateway_keys = {p for p, _ in leaf_paths(_chart_values("gateway-1.30.3.tgz", "gateway")[
        "_internal_defaults_do_not_set"], free_keys=FREE)}
    bbr_keys = {p for p, _ in leaf_paths(_chart_values("body-based-routing-v1.5.0.tgz", "body-based-routing"),
                                         free_keys=FREE)}
    for gateway in ("public", "internal"):
        for path, _ in leaf_paths(gateway_values(cfg, gateway), free_keys=FREE):
            assert path in gateway_keys or path == "replicaCount", path
        for path, _ in leaf_paths(bbr_values(cfg, gateway), free_keys=FREE):
            assert path in bbr_keys, path


@cache
def _bundled_crds() -> list[dict]:
    crds = [d for d in yaml.safe_load_all((CHARTS / "gateway-api-standard-v1.6.1.yaml").read_text())
            if d and d.get("kind") == "CustomResourceDefinition"]
    with tarfile.open(CHARTS / "base-1.30.3.tgz") as tar:
        text = tar.extractfile("base/files/crd-all.gen.yaml").read()  # type: ignore[union-attr]
    crds += [d for d in yaml.safe_load_all(text) if d and d.get("kind") == "CustomResourceDefinition"]
    return crds


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gateway_objects_validate_against_the_pinned_crds(stack):
    # Gateway API v1.6.1 (standard channel) and Istio 1.30.3 (base chart) CRD schemas, as the plan will once the
    # program installs them.
    if not CHARTS.is_dir():
        pytest.skip("no chart archives")
    groups = ("gateway.networking.k8s.io/", "security.istio.io/", "networking.istio.io/")
    objects = [r.inputs for r in run_stack(stack).resources
               if r.custom and str(r.inputs.get("apiVersion", "")).startswith(groups)]
    assert len(objects) >= 10
    assert validate_objects(objects, "1.33", _bundled_crds(), "program") == []


# ------------------------------------------------------------------ namespace and config errors

def test_the_gateway_namespace_is_a_baseline_platform_namespace_without_ingress_nginx():
    found = {r.inputs["metadata"]["name"]: r.inputs["metadata"] for r in
             run_stack("prod").of_type("kubernetes:core/v1:Namespace")}
    meta = found["ai-gateway"]
    assert meta["labels"]["ai-platform/namespace-kind"] == "platform"
    assert meta["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
    assert "body-based-routing" in meta["annotations"]["ai-platform/pod-security-reason"]
    assert "ingress-nginx" not in found
    assert "ai-gateway" in {o.manifest["metadata"].get("namespace") for o in rendered("prod").objects}


def problems(values: dict) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.dev.yaml")
    return str(err.value)


def test_config_errors_of_the_edge():
    values = copy.deepcopy(stack_values("prod"))
    values["inferenceGateway"]["namespace"] = "ai-app"
    assert "inferenceGateway.namespace: 'ai-app' is a tenant namespace" in problems(values)
    values = copy.deepcopy(stack_values("prod"))
    values["inferenceGateway"]["namespace"] = "cert-manager"
    assert "inferenceGateway.namespace: 'cert-manager' is reserved" in problems(values)
    values = copy.deepcopy(stack_values("prod"))
    values["inferenceGateway"]["edge"]["rateLimit"] = {"rps": 100, "burst": 50}
    assert "inferenceGateway.edge.rateLimit.burst: burst 50 is below rps 100" in problems(values)
    values = copy.deepcopy(stack_values("prod"))
    values["inferenceGateway"]["objectives"][1]["claimValues"] = ["interactive"]
    assert "claim value 'interactive' already selects objective 'interactive'" in problems(values)
