"""Strict validation (tools.validate) and the CRDs the platform installs (tools.crds)."""

from __future__ import annotations

import copy
import dataclasses
import io
import tarfile
from pathlib import Path

import pytest
import yaml

from tools import crds as crd_sources
from tools.validate import (
    CLUSTER_APIS,
    Problem,
    apply_defaults,
    cluster_provider,
    pruned_fields,
    schema_version,
    validate_objects,
    validate_stack,
)

from .conftest import STACKS, run_stack

KUBE = "1.33"

WIDGET_CRD = yaml.safe_load("""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: false
    storage: false
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          apiVersion: {type: string}
          kind: {type: string}
          metadata: {type: object, properties: {name: {type: string, maxLength: 10}}}
          spec:
            type: object
            required: [size, mode]
            properties:
              size: {type: integer, minimum: 1, format: int32}
              port:
                x-kubernetes-int-or-string: true
                anyOf: [{type: integer}, {type: string}]
              mode: {type: string, enum: [fast, safe], default: safe}
              ratio: {type: number, maximum: 1, exclusiveMaximum: true}
              config: {type: object, x-kubernetes-preserve-unknown-fields: true}
              labels: {type: object, additionalProperties: {type: string}}
              note: {type: string, nullable: true}
              tags: {type: array, x-kubernetes-list-type: set, items: {type: string}}
              template:
                type: object
                x-kubernetes-embedded-resource: true
                x-kubernetes-preserve-unknown-fields: true
              env:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    value: {type: string}
          status:
            type: object
            properties:
              ready: {type: boolean}
""")


def widget(**spec) -> dict:
    return {"apiVersion": "example.com/v1", "kind": "Widget",
            "metadata": {"name": "w", "namespace": "ns", "labels": {"a": "b"}},
            "spec": {"size": 2, **spec}}


def problems(*objects, crds=(WIDGET_CRD,), source="program") -> list[Problem]:
    return validate_objects(list(objects), KUBE, list(crds), source)


def paths(found: list[Problem]) -> list[str]:
    return [p.path for p in found]


# --------------------------------------------------------------------------- custom resources


def test_a_valid_custom_resource_has_no_problem():
    assert problems(widget(port=8080, mode="fast", ratio=0.5, labels={"x": "y"}, note=None, tags=["a", "b"],
                           env=[{"name": "A", "value": "1"}, {"name": "B"}])) == []


def test_unknown_field_is_reported_with_its_path_as_pruned():
    found = problems(widget(colour="red", env=[{"name": "A", "valu": "1"}]))
    assert paths(found) == ["spec.colour", "spec.env[0].valu"]
    assert all("would prune" in p.message and "widgets.example.com v1" in p.message for p in found)
    first = found[0]
    assert (first.source, first.api_version, first.kind, first.namespace, first.name) == \
        ("program", "example.com/v1", "Widget", "ns", "w")
    assert str(first).startswith("[program] example.com/v1 Widget ns/w: spec.colour: unknown field 'colour'")


def test_unknown_top_level_field_is_reported():
    obj = widget()
    obj["sepc"] = {}
    assert paths(problems(obj)) == ["sepc"]


def test_integral_floats_are_integers_as_kubernetes_decodes_them():
    assert problems(widget(size=2.0)) == []
    assert paths(problems(widget(size=2.5))) == ["spec.size"]


def test_wrong_type_enum_and_bounds_are_reported():
    found = problems(widget(size="3"), widget(mode="turbo"), widget(ratio=1), widget(size=0), widget(size=2**31))
    assert paths(found) == ["spec.size", "spec.mode", "spec.ratio", "spec.size", "spec.size"]
    assert "int32" in found[-1].message
    assert "not of type 'integer'" in found[0].message
    assert "not one of" in found[1].message


def test_preserve_unknown_fields_subtree_is_kept():
    assert problems(widget(config={"anything": {"deep": [1, {"x": None}]}})) == []


def test_int_or_string_accepts_both_and_nothing_else():
    assert problems(widget(port=8080), widget(port="http")) == []
    found = problems(widget(port=[80]), widget(port=1.5))
    assert paths(found) == ["spec.port", "spec.port"]


def test_defaults_apply_before_required_is_checked():
    obj = widget()
    assert "mode" not in obj["spec"]
    assert problems(obj) == []  # mode is required but has a default
    del obj["spec"]["size"]
    assert [(p.path, p.message) for p in problems(obj)] == [("spec", "'size' is a required property")]


def test_nullable_allows_null_only_where_declared():
    assert problems(widget(note=None)) == []
    assert problems(widget(mode=None)) == []  # a null with a default is defaulted
    dropped = problems(widget(ratio=None))
    assert paths(dropped) == ["spec.ratio"] and "would drop it" in dropped[0].message
    # Dropping a required field's null leaves it missing.
    assert [(p.path, p.message) for p in problems(widget(size=None))][1] == ("spec", "'size' is a required property")


def test_list_types_set_and_map_reject_duplicates():
    found = problems(widget(tags=["a", "a"], env=[{"name": "A"}, {"name": "A", "value": "2"}]))
    assert paths(found) == ["spec.tags", "spec.env[1]"]
    assert "duplicate" in found[1].message


def test_embedded_resource_keeps_apiversion_kind_metadata_and_checks_metadata_strictly():
    template = {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"a": "b"}}, "spec": {"x": 1}}
    assert problems(widget(template=template)) == []
    bad = copy.deepcopy(template)
    bad["metadata"]["labelz"] = {}
    found = problems(widget(template=bad))
    assert [(p.path, p.message) for p in found] == [("spec.template.metadata.labelz", "unknown field 'labelz'")]
    kindless = {k: v for k, v in template.items() if k != "kind"}
    assert [(p.path, p.message) for p in problems(widget(template=kindless))] == \
        [("spec.template", "'kind' is a required property")]


def test_root_metadata_is_object_meta_whatever_the_crd_says():
    obj = widget()
    obj["metadata"]["annotation"] = {"typo": "x"}
    found = problems(obj)
    assert paths(found) == ["metadata.annotation"]
    long_name = widget()
    long_name["metadata"]["name"] = "w" * 11  # the CRD limits names to 10 characters
    assert [(p.path, p.name) for p in problems(long_name)] == [("metadata.name", "w" * 11)]


def test_custom_resource_without_an_installed_crd_is_a_problem():
    gadget = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    old_version = {**widget(), "apiVersion": "example.com/v1beta1"}  # not served
    found = problems(gadget, old_version)
    assert [p.kind for p in found] == ["Gadget", "Widget"]
    assert all("no CRD installed for group 'example.com'" in p.message for p in found)
    assert "installed CRDs serve v1" in found[1].message
    assert "no CRD installed" in problems(widget(), crds=())[0].message


def test_a_kind_named_like_a_builtin_in_another_group_needs_a_crd():
    impostor = {"apiVersion": "apps.example.com/v1", "kind": "Deployment", "metadata": {"name": "d"}}
    assert "no CRD installed" in problems(impostor)[0].message


def test_apis_the_cluster_provider_installs_are_accepted_unchecked_only_there():
    snapshot = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": {"name": "s"},
                "spec": {"source": {"persistentVolumeClaimName": "c"}}}
    assert validate_objects([snapshot], KUBE, [], provided=CLUSTER_APIS["gke"]) == []
    found = validate_objects([snapshot], KUBE, [], provided=CLUSTER_APIS["eks"])
    assert "no CRD installed for group 'snapshot.storage.k8s.io'" in found[0].message


def test_sources_name_each_object():
    found = problems(widget(colour=1), widget(shade=2), source=["program", "ai-serving-keda"])
    assert [p.source for p in found] == ["program", "ai-serving-keda"]
    with pytest.raises(ValueError):
        problems(widget(), source=["a", "b"])


def test_pruning_and_defaulting_helpers():
    schema = WIDGET_CRD["spec"]["versions"][1]["schema"]["openAPIV3Schema"]
    obj = widget(labels={"k": "v"}, config={"free": 1})
    obj["status"] = {"ready": True, "phase": "x"}
    assert list(pruned_fields(obj, schema, root=True)) == [("status", "phase")]
    assert apply_defaults({"spec": {}}, schema) == {"spec": {"mode": "safe"}}


# --------------------------------------------------------------------------------- built-in kinds


def deployment() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
            "spec": {"selector": {"matchLabels": {"app": "d"}},
                     "template": {"metadata": {"labels": {"app": "d"}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}}


def test_builtin_object_validates_strictly():
    assert problems(deployment(), crds=()) == []
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    bad["spec"]["replicas"] = "3"
    found = problems(bad, crds=())
    assert [(p.path, p.message) for p in found] == [
        ("spec.replicas", "\"3\" is not of type ['integer', 'null']"),
        ("spec.template.spec.containers[0].imagePullPolicyy", "unknown field 'imagePullPolicyy'")]


def test_kubernetes_version_maps_to_the_shipped_schemas():
    assert schema_version("1.33") == "1.33.0"
    assert schema_version("v1.30.4") == "1.30.0"
    with pytest.raises(ValueError, match=r"ships no schemas for Kubernetes 1.20"):
        schema_version("1.20")
    # A field that exists only in newer APIs: validated against the stack's own minor.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "resizePolicy": [
               {"resourceName": "cpu", "restartPolicy": "NotRequired"}]}]}}
    assert validate_objects([pod], "1.33", []) == []
    assert paths(validate_objects([pod], "1.26", [])) == ["spec.containers[0].resizePolicy"]


# --------------------------------------------------------------------- CRDs read from chart archives


def _archive(tmp_path: Path, files: dict[str, str], name: str = "demo-1.0.0.tgz") -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:gz") as tar:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _crd_yaml(kind: str, group: str = "example.com", header: str = "", labels: str = "") -> str:
    return f"""{header}apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: {kind.lower()}s.{group}
  labels:
{labels or '    app: demo'}
spec:
  group: {group}
  names: {{kind: {kind}, plural: {kind.lower()}s}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {{type: object, properties: {{spec: {{type: object}}}}}}
"""


@pytest.fixture
def demo_chart(tmp_path) -> Path:
    return _archive(tmp_path, {
        "demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\ndependencies:\n"
                           "- {name: sub, version: 0.1.0, condition: sub.enabled}\n",
        "demo/values.yaml": "crds: {install: true}\nsub: {enabled: false}\n",
        "demo/crds/plain.yaml": _crd_yaml("Plain"),
        "demo/templates/crd-templated.yaml": _crd_yaml(
            "Templated", header="{{- if .Values.crds.install }}\n",
            labels='    app: {{ .Release.Name }}\n    {{- include "demo.labels" . | nindent 4 }}') + "{{- end }}\n",
        "demo/templates/deployment.yaml": "kind: Deployment\n{{ .Values.x }}\n",
        "demo/charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        "demo/charts/sub/crds/sub.yaml": _crd_yaml("Sub"),
    })


def test_chart_crds_follow_skip_crds_values_and_subchart_conditions(demo_chart):
    def kinds(values=None, skip=False):
        found = crd_sources.chart_crds(demo_chart, values, skip_crds=skip)
        return sorted(c["spec"]["names"]["kind"] for c in found.crds)

    assert kinds() == ["Plain", "Templated"]
    assert kinds(skip=True) == ["Templated"]  # Helm renders templated CRDs whatever skipCrds says
    assert kinds({"crds": {"install": False}}) == ["Plain"]
    assert kinds({"sub": {"enabled": True}}) == ["Plain", "Sub", "Templated"]
    assert crd_sources.crds_from_archives([demo_chart]) == crd_sources.chart_crds(demo_chart).crds


def test_templated_crd_that_needs_helm_is_a_note_not_a_guess(tmp_path):
    archive = _archive(tmp_path, {
        "demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
        "demo/templates/crd.yaml": _crd_yaml("Hooked").replace("scope: Namespaced",
                                                               "scope: {{ .Values.scope }}"),
        "demo/templates/crd2.yaml": ("{{- if .Capabilities.APIVersions.Has \"x/v1\" }}\n" + _crd_yaml("Gated")
                                     + "{{- end }}\n"),
    })
    found = crd_sources.chart_crds(archive)
    assert found.crds == []
    assert len(found.notes) == 2 and all("needs rendering" in n for n in found.notes)


def test_condition_evaluator():
    values = {"a": {"on": True, "off": False, "name": "x"}, "n": 0}
    evaluate = crd_sources.evaluate
    assert crd_sources.truthy(evaluate(".Values.a.on", values))
    assert not crd_sources.truthy(evaluate(".Values.missing.key", values))
    assert crd_sources.truthy(evaluate("or .Values.a.off .Values.a.on", values))
    assert not crd_sources.truthy(evaluate("and .Values.a.on (not .Values.a.on)", values))
    assert crd_sources.truthy(evaluate('eq .Values.a.name "x"', values))
    assert not crd_sources.truthy(evaluate(".Values.n", values))
    with pytest.raises(crd_sources.NeedsRendering):
        evaluate('include "x" .', values)


def test_plain_yaml_bundles_are_read(tmp_path):
    bundle = tmp_path / "bundle.yaml"
    bundle.write_text(_crd_yaml("One") + "---\n" + _crd_yaml("Two") + "---\nkind: ValidatingAdmissionPolicy\n")
    assert crd_sources.crd_names(crd_sources.crds_from_archives([bundle])) == ["ones.example.com", "twos.example.com"]


# ----------------------------------------------------------------------------------- whole stacks


@pytest.fixture(scope="session")
def charts() -> Path:
    directory = crd_sources.charts_dir()
    if directory is None:
        pytest.skip("no chart archives: set AI_PLATFORM_CHARTS (CI: ../shared/charts)")
    return directory


@pytest.mark.parametrize("stack", STACKS)
def test_every_program_object_of_the_stack_validates_strictly(stack, charts):
    report = validate_stack(run_stack(stack), charts)
    assert report.objects > 0
    # Only the CSI snapshot APIs (served by GKE itself / the EKS snapshot-controller add-on, no schema offline; the
    # backup VolumeSnapshotClass is checked field by field in tests/rag/test_backup.py) may go unchecked.
    assert all(n.startswith("snapshot.storage.k8s.io/v1 ") for n in report.notes), report.notes
    assert not report.problems, "\n".join(map(str, report.problems))


def test_the_stacks_validate_their_custom_resources_against_installed_crds(charts):
    """Custom resources are validated, not skipped: each stack has some and the CRDs come from its charts."""
    for stack in STACKS:
        report = validate_stack(run_stack(stack), charts)
        assert report.custom > 0, stack


def test_cluster_provider_and_version_come_from_the_run(charts):
    assert [cluster_provider(run_stack(s)) for s in ("dev", "prod", "local")] == ["gke", "eks", "existing"]
    assert validate_stack(run_stack("prod"), charts).kube_version == "1.33"


def test_only_crds_of_installed_charts_count(charts):
    """A stack without KEDA does not validate ScaledObjects against KEDA's CRD."""
    result = run_stack("dev")
    releases = crd_sources.releases_of(result)
    assert any(r.chart == "keda" for r in releases)
    without_keda = [r for r in releases if r.chart != "keda"]
    installed = crd_sources.platform_crds(without_keda, charts)
    assert not any(name.endswith(".keda.sh") for name in crd_sources.crd_names(installed.crds))
    from tools.plan import k8s_object

    scaled = [o for o in (k8s_object(r) for r in result.resources) if o and o["kind"] == "ScaledObject"]
    assert scaled
    found = validate_objects(scaled, KUBE, installed.crds)
    assert found and all("no CRD installed for group 'keda.sh'" in p.message for p in found)


def test_cert_manager_crds_only_when_its_values_install_them(charts):
    archive = crd_sources.archive_for("cert-manager", "v1.21.1", charts)
    assert crd_sources.chart_crds(archive, {}).crds == []  # chart default: crds.enabled false
    names = crd_sources.crd_names(crd_sources.chart_crds(archive, {"crds": {"enabled": True}}).crds)
    assert "certificates.cert-manager.io" in names and len(names) == 6


def test_crds_loaded_through_files_are_a_note(tmp_path):
    archive = _archive(tmp_path, {
        "demo/Chart.yaml": "apiVersion: v2\nname: demo\nversion: 1.0.0\n",
        "demo/files/crd-all.yaml": _crd_yaml("Hidden"),
        "demo/templates/crds.yaml": '{{ .Files.Get "files/crd-all.yaml" }}\n',
    })
    found = crd_sources.chart_crds(archive)
    assert found.crds == [] and "files/crd-all.yaml through .Files" in found.notes[0]


def test_helm_on_path_renders_the_crds(tmp_path, monkeypatch, demo_chart):
    """With a helm binary on PATH, `helm template --include-crds` decides (a stand-in helm here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "rendered.yaml").write_text(_crd_yaml("Rendered") + "---\nkind: ConfigMap\n")
    helm = bin_dir / "helm"
    helm.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/args\ncat {tmp_path}/rendered.yaml\n')
    helm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    found = crd_sources.chart_crds(demo_chart, {"a": 1}, release_name="rel", namespace="ns")
    assert [c["spec"]["names"]["kind"] for c in found.crds] == ["Rendered"]
    crd_sources.chart_crds(demo_chart, {}, skip_crds=True, release_name="rel", namespace="ns")
    first, second = (tmp_path / "args").read_text().splitlines()
    assert first.startswith(f"template rel {demo_chart} --namespace ns --values ") and first.endswith("--include-crds")
    assert not second.endswith("--include-crds")


def test_custom_resources_wait_for_the_release_installing_their_crd(charts):
    """A ScaledObject that does not depend on the KEDA release may be sent before its CRD exists."""
    result = run_stack("dev")
    assert validate_stack(result, charts).problems == []
    resources = [dataclasses.replace(r, dependencies=[]) if r.type == "kubernetes:keda.sh/v1alpha1:ScaledObject" else r
                 for r in result.resources]
    found = validate_stack(dataclasses.replace(result, resources=resources), charts).problems
    assert found and {p.kind for p in found} == {"ScaledObject"}
    assert "does not depend on Release ai-serving-keda, which installs its CRD" in found[0].message


def test_rendered_objects_and_their_crds_join_the_stack_validation(charts):
    """How tools.plan passes each release's rendered objects: attributed to the release; rendered CRDs install."""
    result = run_stack("local")
    monitor = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
               "metadata": {"name": "m", "namespace": "observability"},
               "spec": {"endpoints": [{"port": "http", "intervall": "30s"}], "selector": {}}}
    widget_obj = widget()
    found = validate_stack(result, charts, extra=[("ai-observability-metrics-stack", monitor),
                                                  ("some-release", WIDGET_CRD), ("some-release", widget_obj)]).problems
    assert [(p.source, p.kind, p.path) for p in found] == [
        ("ai-observability-metrics-stack", "ServiceMonitor", "spec.endpoints[0].intervall")]
    # Rendered CRDs alone: without the archives, the monitoring CRDs are not known.
    rendered_only = validate_stack(result, charts, extra=[("some-release", WIDGET_CRD), ("some-release", widget_obj)],
                                   read_archives=False)
    assert {p.kind for p in rendered_only.problems} == {"PrometheusRule"}
    assert all("no CRD installed" in p.message for p in rendered_only.problems)
