"""The four istio Releases as Helm renders them for the shipped stacks, and their order in the program."""

from __future__ import annotations

import pytest

from tests.conftest import run_stack
from tests.render.conftest import chart_objects

RELEASES = ("istio-base", "istiod", "istio-cni", "ztunnel")
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
TAG = "1.30.3-distroless"  # the charts' appVersion; the ambient profile picks the distroless variant


def objects(stack: str, release: str, kind: str) -> dict[str, dict]:
    return {o.name: o.manifest for o in chart_objects(stack, release) if o.kind == kind}


def containers(manifest: dict) -> list[dict]:
    spec = manifest["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def env(container: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_release_renders_into_the_mesh_namespace(stack):
    for release in RELEASES:
        found = chart_objects(stack, release)
        assert found, release
        assert {o.manifest["metadata"].get("namespace") for o in found} <= {"istio-system", None}, release


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_images_are_the_charts_app_version_and_every_container_has_limits(stack):
    images = set()
    for release in ("istiod", "istio-cni", "ztunnel"):
        for kind in ("Deployment", "DaemonSet"):
            for manifest in objects(stack, release, kind).values():
                for container in containers(manifest):
                    images.add(container["image"])
                    limits = container["resources"]["limits"]
                    assert {"cpu", "memory"} <= set(limits), (release, container["name"])
    assert images == {f"registry.istio.io/release/{image}:{TAG}" for image in ("pilot", "install-cni", "ztunnel")}


def test_base_installs_the_security_crds_without_the_reader_account():
    crds = objects("dev", "istio-base", "CustomResourceDefinition")
    assert {"authorizationpolicies.security.istio.io", "peerauthentications.security.istio.io"} <= set(crds)
    assert "istio-reader-service-account" not in objects("dev", "istio-base", "ServiceAccount")
    assert not [n for n in objects("dev", "istiod", "ClusterRole") if "reader" in n]


@pytest.mark.parametrize("stack, replicas", [("dev", 1), ("prod", 2)])
def test_istiod_is_ambient_with_the_inference_extension_and_no_gateway_deployments(stack, replicas):
    [deployment] = objects(stack, "istiod", "Deployment").values()
    variables = env(deployment["spec"]["template"]["spec"]["containers"][0])
    assert variables["PILOT_ENABLE_AMBIENT"] == "true"
    assert variables["ENABLE_GATEWAY_API_INFERENCE_EXTENSION"] == "true"
    assert variables["PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER"] == "false"
    # Without the deployment controller the chart drops istiod's RBAC to create gateway Deployments/Services.
    assert "istiod-gateway-controller-istio-system" not in objects(stack, "istiod", "ClusterRole")
    assert deployment["spec"]["replicas"] == replicas and not objects(stack, "istiod", "HorizontalPodAutoscaler")
    pdbs = objects(stack, "istiod", "PodDisruptionBudget")
    assert [p["spec"]["minAvailable"] for p in pdbs.values()] == ([1] if replicas > 1 else [])


def test_gke_gets_its_cni_directory_and_the_critical_pod_quotas():
    for stack, bin_dir, quotas in (("dev", "/home/kubernetes/bin", True), ("prod", "/opt/cni/bin", False)):
        [cni] = objects(stack, "istio-cni", "DaemonSet").values()
        volumes = {v["name"]: v for v in cni["spec"]["template"]["spec"]["volumes"]}
        assert volumes["cni-bin-dir"]["hostPath"]["path"] == bin_dir, stack
        assert objects(stack, "istio-cni", "ConfigMap")["istio-cni-config"]["data"]["AMBIENT_ENABLED"] == "true"
        for release in ("istio-cni", "ztunnel"):
            found = list(objects(stack, release, "ResourceQuota").values())
            assert bool(found) == quotas, (stack, release)
            for quota in found:  # GKE admits system-node-critical pods outside kube-system only under such a quota
                [scope] = quota["spec"]["scopeSelector"]["matchExpressions"]
                assert scope["values"] == ["system-node-critical"]


def test_ztunnel_finds_istiod_in_the_mesh_namespace():
    [ztunnel] = objects("prod", "ztunnel", "DaemonSet").values()
    variables = env(ztunnel["spec"]["template"]["spec"]["containers"][0])
    assert variables["CA_ADDRESS"] == variables["XDS_ADDRESS"] == "istiod.istio-system.svc:15012"


def test_releases_install_in_order_and_before_the_workloads():
    result = run_stack("prod")
    urns = {r.inputs["name"]: r for r in result.of_type(RELEASE_TYPE)}
    deps = {name: set(r.dependencies) for name, r in urns.items()}
    assert urns["istio-base"].urn in deps["istiod"]
    assert urns["istiod"].urn in deps["istio-cni"] and urns["istiod"].urn in deps["ztunnel"]
    # istio-cni captures pods only when they start: observability and the GPU stack (and through it serving) wait.
    for later in ("monitoring", "gpu-operator"):
        assert {urns["istio-cni"].urn, urns["ztunnel"].urn} <= deps[later], later
