"""Every Release of every shipped stack renders with real Helm, exactly as the provider would install it."""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import STACKS, run_stack
from tools import helmbin, mockrun, render

from .conftest import chart_objects, rendered, require_charts

SHIPPED = [s for s in ("dev", "prod", "local") if s in STACKS]


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_release_renders(stack):
    out = rendered(stack)
    releases = run_stack(stack).of_type(render.RELEASE_TYPE)
    assert len(out.releases) == len(releases) > 0
    failures = [r.error for r in out.releases if r.error is not None]
    assert not failures, "\n\n".join(failures)
    for rel in out.releases:
        assert rel.objects, f"{rel.chart} (release {rel.release}, stack {stack}) renders no object"
        assert rel.archive and rel.sha256
    assert out.kube_version == render.kube_version_of(mockrun.stack_config(stack)[0])
    assert out.helm == helmbin.HELM_VERSION


@pytest.mark.parametrize("stack", SHIPPED)
def test_namespaced_objects_carry_their_namespace_and_are_unique(stack):
    out = rendered(stack)
    _, scopes = render.apis_of(o.manifest for o in out.objects)
    cluster_kinds = {key.split("/")[-1] for key, scope in scopes.items() if scope == "Cluster"}
    for rel in out.releases:
        for obj in rel.objects:
            if obj.kind in render.CLUSTER_SCOPED_KINDS or obj.kind in cluster_kinds:
                assert not obj.namespace or obj.kind == "Namespace", f"{rel.release}: {obj.label()} is cluster-scoped"
            else:
                assert obj.namespace, f"{rel.release}: {obj.label()} has no namespace"
    keys = Counter(o.key for o in out.objects if o.on_install)
    assert not [k for k, n in keys.items() if n > 1], "two releases render the same object"


def test_api_versions_are_those_installed_before_the_release():
    out = rendered("prod")
    crds = out.release("prometheus-operator-crds")
    assert not any(a.startswith("monitoring.coreos.com") for a in crds.api_versions)
    # The stack and the data services install after the operator's CRDs (depends_on), so their
    # Capabilities-gated monitors render as in the cluster.
    for name in ("monitoring", "redis", "milvus", "keda", "gpu-operator"):
        apis = out.release(name).api_versions
        assert "monitoring.coreos.com/v1" in apis and "monitoring.coreos.com/v1/ServiceMonitor" in apis, name
    # The exporter waits for the ECK operator, whose subchart installs the Elasticsearch CRDs.
    assert "elasticsearch.k8s.elastic.co/v1/Elasticsearch" in out.release("search-exporter").api_versions
    assert not any(a.startswith("elasticsearch.k8s.elastic.co") for a in out.release("redis").api_versions)
    # A chart's own crds/ are installed before its templates are rendered.
    assert "nvidia.com/v1/ClusterPolicy" in out.release("gpu-operator").api_versions


def test_skip_crds_is_honoured():
    stack = rendered("prod").release("monitoring")
    assert not stack.include_crds  # the CRDs come from the prometheus-operator-crds release
    assert not any(o.kind == "CustomResourceDefinition" for o in stack.objects)
    crds = rendered("prod").release("prometheus-operator-crds")
    assert crds.include_crds and sum(o.kind == "CustomResourceDefinition" for o in crds.objects) == 10


def test_hooks_are_kept_and_marked():
    objects = chart_objects("prod", "cert-manager")
    check = [o for o in objects if o.kind == "Job" and o.name == "cert-manager-startupapicheck"]
    assert len(check) == 1 and check[0].hook == "post-install" and check[0].on_install
    upgrade = [o for o in chart_objects("prod", "gpu-operator") if o.name == "gpu-operator-upgrade-crd"]
    assert upgrade and upgrade[0].hook == "pre-upgrade" and not upgrade[0].on_install
    every = rendered("prod").objects
    assert all(o.hook == (o.manifest["metadata"].get("annotations") or {}).get("helm.sh/hook") for o in every)
    assert not [o.label() for o in every if o.hook and "test" in o.hook.split(",")], "test hooks are not installed"


def test_objects_know_their_template():
    grafana = [o for o in chart_objects("prod", "monitoring")
               if o.kind == "Deployment" and o.name == "monitoring-grafana"]
    assert grafana and grafana[0].source == "kube-prometheus-stack/charts/grafana/templates/deployment.yaml"
    nfd = [o for o in chart_objects("prod", "gpu-operator") if o.name == "nodefeaturerules.nfd.k8s-sigs.io"]
    assert nfd and nfd[0].in_crds_dir
    assert not [o for o in chart_objects("prod", "keda") if o.in_crds_dir]  # keda's CRDs are templates


@pytest.mark.parametrize("stack", SHIPPED)
def test_rendered_secrets_hold_no_value(stack):
    for obj in rendered(stack).objects:
        if obj.kind == "Secret":
            assert set((obj.manifest.get("data") or {}).values()) <= {render.SECRET_MARK_B64}, obj.label()
            assert set((obj.manifest.get("stringData") or {}).values()) <= {render.SECRET_MARK}, obj.label()


def test_a_release_that_fails_to_template_names_chart_stack_and_helm_message(tmp_path):
    require_charts()
    result = run_stack("dev")
    broken = copy.deepcopy(result)
    milvus = next(r for r in broken.resources if r.type == render.RELEASE_TYPE and r.inputs["chart"] == "milvus")
    milvus.inputs["values"]["minio"] = {"enabled": False}  # the bug the render found: minio.tls is then nil
    only = dataclasses.replace(broken, resources=[milvus])
    out = render.render_stack(only, "v1.33.0", cache=tmp_path)
    (rel,) = out.releases
    assert rel.error is not None and not rel.unavailable and out.errors == [rel.error]
    assert "chart milvus 5.0.19" in rel.error and "of stack dev" in rel.error
    assert "nil pointer evaluating interface {}.enabled" in rel.error


def test_second_render_comes_from_the_cache(tmp_path):
    require_charts()
    local = run_stack("local")
    # Two small Releases, one depending on the other's chain (the CRDs release is left out: it is slow cold).
    small = [r for r in local.of_type(render.RELEASE_TYPE) if r.inputs["chart"] in ("qdrant", "redis-ha")]
    result = dataclasses.replace(local, resources=small)
    cold = render.render_stack(result, "v1.33.0", cache=tmp_path)
    warm = render.render_stack(result, "v1.33.0", cache=tmp_path)
    assert not any(r.cached for r in cold.releases) and all(r.cached for r in warm.releases)
    assert [o.manifest for o in warm.objects] == [o.manifest for o in cold.objects]
    assert [(o.source, o.hook) for o in warm.objects] == [(o.source, o.hook) for o in cold.objects]
    assert len(list(tmp_path.glob("*.json"))) == len(cold.releases)


def test_kube_version_comes_from_the_stack():
    assert render.kube_version_of({"cluster": {"provider": "eks", "kubernetesVersion": "1.34"}}) == "v1.34.0"
    from config.models import ClusterConfig

    default = ClusterConfig.model_fields["kubernetes_version"].default
    assert render.kube_version_of({"cluster": {"provider": "existing"}}) == f"v{default}.0"


# ------------------------------------------------------------ Helm flags, on a chart made here

MINI_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: mini\nversion: 0.1.0\n",
    "values.yaml": "replicas: 1\n",
    "crds/widgets.yaml": """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
""",
    "templates/cm.yaml": """apiVersion: v1
kind: ConfigMap
metadata: {name: {{ .Release.Name }}-caps}
data:
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor" | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  replicas: {{ .Values.replicas | quote }}
  namespace: {{ .Release.Namespace | quote }}
""",
    "templates/widget.yaml": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    "templates/hook.yaml": """apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations: {"helm.sh/hook": "pre-install,pre-upgrade"}
spec: {template: {spec: {restartPolicy: Never, containers: [{name: m, image: busybox:1.37}]}}}
""",
    "templates/tests/t.yaml": """apiVersion: v1
kind: Pod
metadata:
  name: smoke
  annotations: {"helm.sh/hook": test}
spec: {containers: [{name: t, image: busybox:1.37}]}
""",
}


@pytest.fixture(scope="module")
def mini_archive(tmp_path_factory) -> Path:
    require_charts()
    src = tmp_path_factory.mktemp("mini") / "mini"
    for name, text in MINI_CHART.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    helm = helmbin.find()
    out = helm.run("package", str(src), "--destination", str(src.parent))
    assert out.returncode == 0, out.stderr
    return src.parent / "mini-0.1.0.tgz"


def _render_mini(archive: Path, apis: set[str], include_crds: bool, cache: Path):
    helm = helmbin.find()
    digest = render.chart_store.sha256(archive)
    crds = render.archive_crds(archive, digest) if include_crds else []
    own, scopes = render.apis_of(crds)
    args = render.template_args("rel", "team-a", "v1.34.0", apis | own, include_crds)
    pairs, cached = render.template(helm, archive, digest, "rel", "team-a", {"replicas": 3}, args, cache)
    return {o.kind: o for o in render.to_objects(pairs, "team-a", scopes)}, cached


def test_flags_reach_helm_as_the_provider_sets_them(mini_archive, tmp_path):
    api_versions = {"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor"}
    objects, cached = _render_mini(mini_archive, api_versions, True, tmp_path)
    data = objects["ConfigMap"].manifest["data"]
    assert data == {"monitoring": "true", "kube": "v1.34.0", "replicas": "3", "namespace": "team-a"}
    assert objects["ConfigMap"].namespace == "team-a"  # filled in as Helm's install does
    assert objects["Widget"].namespace is None  # cluster-scoped by its own CRD
    crd = objects["CustomResourceDefinition"]
    assert crd.in_crds_dir and crd.source == "mini/crds/widgets.yaml"
    assert objects["Job"].hook == "pre-install,pre-upgrade" and objects["Job"].on_install
    assert "Pod" not in objects  # test hooks are for `helm test`, not install
    assert not cached and _render_mini(mini_archive, api_versions, True, tmp_path)[1]


def test_without_the_api_the_gate_is_closed_and_skip_crds_drops_crds(mini_archive, tmp_path):
    objects, _ = _render_mini(mini_archive, set(), False, tmp_path)
    assert objects["ConfigMap"].manifest["data"]["monitoring"] == "false"
    assert "CustomResourceDefinition" not in objects


def test_own_crds_are_api_versions_of_the_release(mini_archive):
    crds = render.archive_crds(mini_archive, render.chart_store.sha256(mini_archive))
    apis, scopes = render.apis_of(crds)
    assert apis == {"example.com/v1", "example.com/v1/Widget"} and scopes == {"example.com/Widget": "Cluster"}


def test_parse_keeps_sources_across_multi_document_crd_files():
    text = ("---\n# Source: c/crds/a.yaml\nkind: A\napiVersion: v1\n---\nkind: B\napiVersion: v1\nkey: =\n"
            "---\n# Source: c/templates/x.yaml\nkind: C\napiVersion: v1\nwhen: 2024-01-01\n---\n")
    assert render.parse_manifests(text) == [
        ("c/crds/a.yaml", {"kind": "A", "apiVersion": "v1"}),
        ("c/crds/a.yaml", {"kind": "B", "apiVersion": "v1", "key": "="}),
        ("c/templates/x.yaml", {"kind": "C", "apiVersion": "v1", "when": "2024-01-01"}),
    ]


def test_helm_that_is_not_found_leaves_one_line(monkeypatch):
    def missing(allow_fetch=True):
        raise helmbin.HelmNotAvailable("offline")
    monkeypatch.setattr(helmbin, "find", missing)
    out = render.render_stack(run_stack("local"), "v1.33.0")
    assert out.unavailable and "offline" in out.unavailable and "\n" not in out.unavailable
    assert out.errors == [] and all(r.unavailable for r in out.releases)


def test_missing_archives_leave_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("AI_PLATFORM_CHARTS", str(tmp_path))
    try:
        helmbin.find(allow_fetch=False)
    except helmbin.HelmNotAvailable:
        pytest.skip("no Helm binary here")
    out = render.render_stack(run_stack("local"), "v1.33.0")
    assert out.unavailable.startswith("charts not rendered: no chart archive found (AI_PLATFORM_CHARTS=")
    assert "python -m tools.charts pull" in out.unavailable and out.errors == []


def test_helm_binary_is_not_committed():
    tracked = subprocess.run(["git", "ls-files"], cwd=mockrun.ROOT, capture_output=True, text=True).stdout.split()
    assert not [f for f in tracked if f.endswith((".tgz", ".whl")) or f.rsplit("/", 1)[-1] == "helm"]


@pytest.mark.parametrize("chart", ["prometheus-operator-crds", "keda", "gpu-operator"])
def test_quick_api_scan_equals_a_full_parse(chart):
    """Dependents start from `provided_apis` (schemas skipped); it must find exactly what a full parse finds."""
    require_charts()
    from components.helm import pin
    from tools import charts

    archive = charts.resolve(pin(chart)).path
    out = helmbin.find().run("template", "x", str(archive), "--namespace", "x", "--include-crds")
    assert out.returncode == 0, out.stderr
    full = render.apis_of(m for _, m in render.parse_manifests(out.stdout))
    assert render.provided_apis(out.stdout) == full and full[0]
    own = render.apis_of(render.archive_crds(archive, render.chart_store.sha256(archive)))
    assert own[0] <= full[0]


def test_no_secret_of_the_program_reaches_a_chart_object():
    """Values reach Helm with secrets redacted: no generated password or secret config value is rendered."""
    result = run_stack("prod")
    secrets = [mockrun.mock_password(r.name, int(r.inputs.get("length", 16)))
               for r in result.of_type("random:index/randomPassword:RandomPassword")]
    assert secrets
    text = "\n".join(json.dumps(o.manifest) for o in rendered("prod").objects)
    assert not [s for s in secrets if s in text]
    assert mockrun.SECRET_SIG not in text


def test_crds_the_program_creates_before_a_release_are_its_api_versions(tmp_path):
    require_charts()
    local = run_stack("local")
    qdrant = copy.deepcopy(next(r for r in local.of_type(render.RELEASE_TYPE) if r.inputs["chart"] == "qdrant"))
    crd = mockrun.Recorded(
        urn="urn:pulumi:local::ai-platform::kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition::gw",
        type=render.CRD_TYPE, name="gw", parent=None, custom=True, dependencies=[], provider=None, protect=False,
        ignore_changes=[], inputs={"spec": {"group": "gateway.networking.k8s.io", "scope": "Namespaced",
                                            "names": {"kind": "HTTPRoute"},
                                            "versions": [{"name": "v1", "served": True}]}})
    component = mockrun.Recorded(urn="urn:pulumi:local::ai-platform::ai-platform:x:Crds::crds",
                                 type="ai-platform:x:Crds", name="crds", parent=None, custom=False, inputs={},
                                 dependencies=[], provider=None, protect=False, ignore_changes=[])
    crd.parent = component.urn
    qdrant.dependencies = [component.urn]  # depending on a component waits for its children
    run = dataclasses.replace(local, resources=[component, crd, qdrant])
    assert render.dependency_closure(run, qdrant.urn) == {component.urn, crd.urn}
    (rel,) = render.render_stack(run, "v1.33.0", cache=tmp_path).releases
    assert rel.error is None and {"gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1/HTTPRoute"} <= \
        set(rel.api_versions)


@pytest.mark.parametrize("stack", SHIPPED)
def test_helm_prints_no_warning_for_our_values(stack):
    assert {r.release: r.warnings for r in rendered(stack).releases if r.warnings} == {}
