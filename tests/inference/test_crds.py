"""The inference gateway's CRD bundles: pinned, resolved and digest-checked like chart archives, every object
registered as a typed resource, their schemas known to strict validation and to the charts rendered after them."""

from __future__ import annotations

import copy
import functools
import shutil
from collections import Counter
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components import helm
from components.inference.crds import GATEWAY_BUNDLES, CrdBundleError, GatewayCrds, GatewayCrdsArgs, load_bundles
from policy.rules import helmrender
from tests.conftest import run_config, run_stack, stack_values
from tools import charts, crds, mockrun, validate
from tools.plan import k8s_object

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
VAP_TYPE = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING_TYPE = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"
COMPONENT = "ai-platform:inference:GatewayCrds"
CLUSTERS = ("gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster")
ROLE = {"CustomResourceDefinition": "crd", "ValidatingAdmissionPolicy": "vap",
        "ValidatingAdmissionPolicyBinding": "vap-binding"}


def bundle_file(name: str) -> Path:
    found = helm.resolve_bundle(helm.bundle(name))
    if found.path is None:
        pytest.skip(found.problem)  # tests/test_crd_bundles_are_the_teams_files fails in CI instead
    return found.path


def file_objects(name: str) -> list[dict]:
    """A bundle's objects read independently of the component (plain PyYAML)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [d for d in yaml.load_all(bundle_file(name).read_text(), Loader=loader) if d]


# ------------------------------------------------------------------------------------------ the lock


def test_crd_bundles_are_the_teams_files():
    sums_file = charts.shared_dir() / "SHA256SUMS"
    if not sums_file.exists():
        pytest.skip(f"{sums_file} not here")
    sums = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line.strip())
    assert set(GATEWAY_BUNDLES) <= set(helm.bundles())
    for p in helm.bundles().values():
        assert sums.get(p.file) == p.sha256, p.name
        assert p.url.startswith("https://github.com/") and f"/releases/download/{p.version}/" in p.url, p.name
        assert p.version in p.file and p.version in p.source, p.name


def test_a_bundle_missing_a_field_or_with_a_plain_http_url_is_refused(tmp_path):
    lock = tmp_path / "charts.lock.yaml"
    lock.write_text("crdBundles:\n  gateway-api: {version: v1.6.1, file: x.yaml}\n")
    with pytest.raises(helm.ChartLockError, match=r"gateway-api.*lacks url, source, sha256, groups, versionAnnotation"):
        helm.read_bundles(lock)
    lock.write_text("crdBundles:\n  gateway-api: {version: v1, file: x.yaml, url: 'http://x', source: s, sha256: d, "
                    "groups: [g], versionAnnotation: a}\n")
    with pytest.raises(helm.ChartLockError, match=r"url must be https"):
        helm.read_bundles(lock)
    with pytest.raises(helm.ChartLockError, match=r"not in charts.lock.yaml"):
        helm.bundle("no-such-bundle")


# ------------------------------------------------------------------------------------ resolution


def test_bundle_dirs_are_the_chart_dirs(tmp_path, monkeypatch):
    # The program cannot import the pack's lookup: its copy must search the same directories in the same order.
    monkeypatch.setenv(helm.CHARTS_ENV, str(tmp_path))
    assert helm.bundle_dirs() == helmrender.chart_dirs() == [tmp_path.resolve()]
    monkeypatch.delenv(helm.CHARTS_ENV)
    assert helm.bundle_dirs() == helmrender.chart_dirs()
    # tools.plan --diff plans another ref from a temporary worktree, pointed at this checkout's directories.
    (tmp_path / "checkout" / ".cache" / "charts").mkdir(parents=True)
    monkeypatch.setenv(helm.CHECKOUT_ENV, str(tmp_path / "checkout"))
    assert helm.bundle_dirs()[0] == tmp_path / "checkout" / ".cache" / "charts"


def test_resolution_follows_ai_platform_charts_and_refuses_a_changed_file(tmp_path, monkeypatch):
    pin = helm.bundle("llm-d-router")
    shutil.copy(bundle_file("llm-d-router"), tmp_path / pin.file)
    monkeypatch.setenv(helm.CHARTS_ENV, str(tmp_path))
    assert helm.resolve_bundle(pin).path == tmp_path / pin.file
    assert [b.path for b in load_bundles(["llm-d-router"])] == [tmp_path / pin.file]
    with (tmp_path / pin.file).open("a") as handle:
        handle.write("# changed\n")
    found = helm.resolve_bundle(pin)
    assert found.path is None and "neither the lock's" in found.problem
    with pytest.raises(CrdBundleError) as err:
        load_bundles(["llm-d-router"])
    assert "llm-d-router v0.10.0" in str(err.value) and f"AI_PLATFORM_CHARTS={tmp_path}" in str(err.value)
    assert charts.verify_bundles(tmp_path, [pin, helm.bundle("gateway-api")]) == [
        found.problem, "gateway-api-standard-v1.6.1.yaml: missing"]


def test_a_bundle_with_an_object_the_program_does_not_install_is_refused(tmp_path):
    pin = helm.bundle("llm-d-router")
    extra = "\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n"
    text = bundle_file("llm-d-router").read_text() + extra
    (tmp_path / pin.file).write_text(text)
    # Accepted by its digest only as a pulled file would be: recorded beside it.
    charts.write_record(tmp_path, charts={}, crd_bundles={pin.name: {
        "version": pin.version, "url": pin.url, "sha256": helm.file_sha256(tmp_path / pin.file)}})
    assert helm.resolve_bundle(pin, [tmp_path]).path == tmp_path / pin.file
    with pytest.raises(CrdBundleError, match=r"holds objects the program does not install: apps/v1 Deployment"):
        load_bundles(["llm-d-router"], [tmp_path])


def test_a_bundle_whose_crds_are_not_the_locked_version_is_refused(tmp_path):
    pin = helm.bundle("gateway-api-inference-extension")
    text = bundle_file(pin.name).read_text().replace("bundle-version: v1.6.0", "bundle-version: v1.5.0", 1)
    (tmp_path / pin.file).write_text(text)
    charts.write_record(tmp_path, charts={}, crd_bundles={pin.name: {
        "version": pin.version, "url": pin.url, "sha256": helm.file_sha256(tmp_path / pin.file)}})
    groups = r"inference.networking.k8s.io, inference.networking.x-k8s.io"
    with pytest.raises(CrdBundleError, match=rf"not of groups {groups} at v1.6.0: inferencepoolimports.* v1.5.0"):
        load_bundles([pin.name], [tmp_path])


def test_a_missing_bundle_fails_the_program_before_any_resource(tmp_path, monkeypatch):
    monkeypatch.setenv(helm.CHARTS_ENV, str(tmp_path))
    result = run_config(stack_values("dev"), stack="dev")
    assert isinstance(result.error, CrdBundleError)
    message = str(result.error)
    for pin in map(helm.bundle, GATEWAY_BUNDLES):
        assert f"no {pin.file} in {tmp_path.resolve()}" in message
    assert "python -m tools.charts pull" in message and "inferenceGateway.enabled" in message
    assert [r.name for r in result.resources if r.custom] == []  # only the Platform component itself


# ------------------------------------------------------------------------------------------ pull


def test_pull_downloads_a_bundle_records_its_digest_and_refuses_changed_bytes(tmp_path, capsys):
    team = helm.bundle("gateway-api-inference-extension")
    upstream = tmp_path / "release" / "manifests.yaml"
    upstream.parent.mkdir()
    shutil.copy(bundle_file(team.name), upstream)
    pin = helm.CrdBundlePin(team.name, team.version, team.file, upstream.as_uri(), team.source, team.sha256)
    dest = tmp_path / "cache"
    dest.mkdir()
    (dest / charts.PULL_RECORD).write_text("charts:\n  tempo: {version: 2.2.4, repository: r, sha256: s}\n")
    assert charts.pull_bundles([pin], dest) == []
    assert helm.read_bundle_record(dest)[pin.name] == {"version": pin.version, "url": pin.url, "sha256": team.sha256}
    assert charts.read_record(dest)["tempo"]["sha256"] == "s"  # the charts' record is kept
    assert helm.resolve_bundle(pin, [dest]).path == dest / pin.file
    assert charts.pull_bundles([pin], dest) == [] and "cached" in capsys.readouterr().out
    # The release asset is re-published with other bytes: the next pull refuses them.
    (dest / pin.file).unlink()
    with upstream.open("a") as handle:
        handle.write("# re-published\n")
    problems = charts.pull_bundles([pin], dest)
    assert len(problems) == 1 and "differs from the one recorded at the first pull" in problems[0]
    assert not (dest / pin.file).exists()
    bad = helm.CrdBundlePin(pin.name, pin.version, pin.file, (tmp_path / "nothing.yaml").as_uri(), "", "")
    assert "nothing.yaml" in charts.pull_bundles([bad], dest)[0]


# ----------------------------------------------------------------------------------- registration


@functools.cache
def _component_run() -> mockrun.ComponentRun:
    """GatewayCrds after a stand-in for the cluster, and two Releases of a locked chart: one waits for the CRDs."""
    loaded = load_bundles()

    def build() -> GatewayCrds:
        cluster = k8s.core.v1.Namespace("cluster-stand-in")
        component = GatewayCrds("gw", GatewayCrdsArgs(loaded, after=[cluster], labels={"team": "ml"}))
        tempo = helm.pin("tempo")
        for name, after in (("after-crds", [component]), ("unordered", [])):
            helm.release(name, tempo, name, "default", {}, pulumi.ResourceOptions(depends_on=after))
        return component

    return mockrun.run_component(build)


def test_every_bundle_object_is_registered_with_its_full_spec():
    run = _component_run()
    component = run.one(COMPONENT)
    cluster = run.named("cluster-stand-in")
    expected = [o for name in GATEWAY_BUNDLES for o in file_objects(name)]
    kinds = Counter(o["kind"] for o in expected)
    assert kinds == Counter({"CustomResourceDefinition": 14, "ValidatingAdmissionPolicy": 1,
                             "ValidatingAdmissionPolicyBinding": 1})
    registered = {(o["kind"], o["metadata"]["name"]): (r, o) for r in run.resources
                  if (o := k8s_object(r)) is not None and r.parent == component.urn}
    assert len(registered) == len(expected)
    for want in expected:
        r, got = registered[(want["kind"], want["metadata"]["name"])]
        assert got["apiVersion"] == want["apiVersion"]
        assert got["spec"] == want["spec"], r.name  # every schema, CEL rule and default as the file has it
        assert got["metadata"]["annotations"] == want["metadata"]["annotations"]
        assert got["metadata"]["labels"]["team"] == "ml"
        assert {**got["metadata"]["labels"], **want["metadata"].get("labels", {})} == got["metadata"]["labels"]
        assert r.name == f"gw-{ROLE[want['kind']]}-{want['metadata']['name']}"  # stable: the object's own name
        assert cluster.urn in r.dependencies
        # Deleting a CRD deletes every Gateway, route and pool of its kind: never a side effect of the program.
        assert r.retain_on_delete == (want["kind"] == "CustomResourceDefinition")
    binding = run.one(BINDING_TYPE)
    assert run.one(VAP_TYPE).urn in binding.dependencies
    assert binding.inputs["spec"]["policyName"] == run.one(VAP_TYPE).inputs["metadata"]["name"]


def test_dev_and_prod_install_the_crds_after_the_cluster_and_local_none():
    for stack in ("dev", "prod"):
        run = run_stack(stack)
        component = run.one(COMPONENT)
        crd_names = {r.inputs["metadata"]["name"] for r in run.of_type(CRD_TYPE) if r.parent == component.urn}
        assert {"gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io",
                "inferencepools.inference.networking.k8s.io", "inferenceobjectives.llm-d.ai"} <= crd_names
        cluster = next(r for r in run.resources if r.type in CLUSTERS)
        assert all(cluster.urn in r.dependencies for r in run.resources if r.parent == component.urn), stack
    local = run_stack("local")
    assert not local.of_type(COMPONENT) and not [r for r in local.of_type(CRD_TYPE) if "gateway" in r.name]


def test_gke_leaves_gateway_api_to_the_platform():
    cluster = run_stack("dev").one("gcp:container/cluster:Cluster")
    assert cluster.inputs["gatewayApiConfig"] == {"channel": "CHANNEL_DISABLED"}


# ------------------------------------------------------------------------------------ validation


def _pool(**spec_changes) -> dict:
    spec = {"selector": {"matchLabels": {"app": "qwen7b"}}, "targetPorts": [{"number": 8000}],
            "endpointPickerRef": {"name": "qwen7b-epp", "port": {"number": 9002}, "failureMode": "FailOpen"}}
    spec.update(spec_changes)
    return {"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
            "metadata": {"name": "qwen7b", "namespace": "ai-inference"}, "spec": spec}


def _route() -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "qwen7b", "namespace": "ai-inference"},
            "spec": {"parentRefs": [{"name": "internal", "namespace": "ai-gateway"}],
                     "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/v1"},
                                             "headers": [{"name": "X-Gateway-Model-Name", "value": "qwen7b"}]}],
                                "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool",
                                                 "name": "qwen7b", "weight": 90}]}]}}


def _objective() -> dict:
    return {"apiVersion": "llm-d.ai/v1alpha2", "kind": "InferenceObjective",
            "metadata": {"name": "interactive", "namespace": "ai-inference"},
            "spec": {"priority": 10, "poolRef": {"name": "qwen7b"}}}


def _gateway() -> dict:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "internal", "namespace": "ai-gateway"},
            "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}


def test_the_validator_knows_the_bundled_schemas():
    installed = crds.bundle_crds(GATEWAY_BUNDLES)
    good = [_pool(), _route(), _objective(), _gateway()]
    assert validate.validate_objects(good, "1.35", installed) == []

    unknown = _pool(extensionRef={"name": "qwen7b-epp"})  # the v1alpha2 field name: pruned by the API server
    no_selector = _pool()
    del no_selector["spec"]["selector"]
    bad_port = _pool(targetPorts=[{"number": 0}])
    bad_mode = _pool()
    bad_mode["spec"]["endpointPickerRef"]["failureMode"] = "Retry"
    glob = _route()
    glob["spec"]["rules"][0]["matches"][0]["path"]["type"] = "Glob"
    misplaced = _route()
    misplaced["spec"]["rules"][0]["backendRef"] = misplaced["spec"]["rules"][0].pop("backendRefs")
    old_objective = {**_objective(), "apiVersion": "inference.networking.x-k8s.io/v1alpha2"}
    problems = validate.validate_objects([unknown, no_selector, bad_port, bad_mode, glob, misplaced, old_objective],
                                         "1.35", installed)
    assert any(p.path == "spec.extensionRef" and "would prune it" in p.message for p in problems)
    assert any(p.path == "spec" and "'selector' is a required property" in p.message for p in problems)
    assert any(p.path == "spec.targetPorts[0].number" for p in problems)
    assert any(p.path == "spec.endpointPickerRef.failureMode" and "Retry" in p.message for p in problems)
    assert any(p.kind == "HTTPRoute" and p.path == "spec.rules[0].matches[0].path.type" for p in problems)
    assert any(p.kind == "HTTPRoute" and p.path == "spec.rules[0].backendRef" for p in problems)
    assert any(p.kind == "InferenceObjective" and "no CRD installed" in p.message for p in problems)
    assert len({(p.kind, p.path) for p in problems}) == 7


def test_a_custom_resource_must_wait_for_the_program_crd():
    loaded = load_bundles(["gateway-api-inference-extension"])

    def build() -> GatewayCrds:
        crd = GatewayCrds("gw", GatewayCrdsArgs(loaded))
        body = copy.deepcopy(_pool())
        for name, opts in (("waits", pulumi.ResourceOptions(depends_on=[crd])), ("races", None)):
            k8s.apiextensions.CustomResource(name, api_version=body["apiVersion"], kind=body["kind"],
                                             metadata={**body["metadata"], "name": name}, spec=body["spec"], opts=opts)
        return crd

    run = mockrun.run_component(build)
    problems = validate.ordering_problems(run, crds.Installed())
    assert [p.name for p in problems] == ["races"]
    assert "inferencepools.inference.networking.k8s.io" in problems[0].message


def test_charts_installed_after_the_crds_see_their_apis():
    from tests.render.conftest import require_charts
    from tools import render

    require_charts()
    charts_render = render.render_stack(_component_run(), "v1.35.0")
    after, unordered = charts_render.release("after-crds"), charts_render.release("unordered")
    assert after.error is None, after.error
    # `.Capabilities.APIVersions.Has "gateway.networking.k8s.io/v1/HTTPRoute"` is true in a chart that waits for them.
    for api in ("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1/HTTPRoute",
                "inference.networking.k8s.io/v1/InferencePool", "llm-d.ai/v1alpha2/InferenceObjective"):
        assert api in after.api_versions and api not in unordered.api_versions, api
