"""Chart contents in the pack: helm-chart-renders, the pack's own renderer (pulumi preview), and the plan's render
handed over to the pack (tools.policy_eval) so every object rule judges what each Release's chart installs."""

from __future__ import annotations

import copy
import json

import pytest

from config.models import ClusterConfig
from policy.rules import charts as pack_charts
from policy.rules.containers import RESOURCES_EXCEPTIONS
from policy.rules.objects import HELM_RELEASE, RENDERERS, KubeObject, RenderFailed, pod_specs
from tests.conftest import run_stack as run_shipped
from tests.render.conftest import rendered, require_charts
from tools import policy_eval, render
from tools.policy_eval import evaluate

from .harness import run_resource, urn
from .test_mutations import baseline, pack_config

RENDERS = "helm-chart-renders"
RENDERS_ADVISORY = "helm-chart-renders-advisory"
KEDA = {"name": "keda", "chart": "keda", "version": "2.20.2", "namespace": "keda",
        "repositoryOpts": {"repo": "https://kedacore.github.io/charts"}, "values": {}}


@pytest.fixture
def handed_over():
    """RENDERERS.rendered for one test (restored after)."""
    saved, saved_release = RENDERERS.rendered, RENDERERS.release
    RENDERERS.rendered = {}
    RENDERERS.release = None
    yield RENDERERS.rendered
    RENDERERS.rendered, RENDERERS.release = saved, saved_release


def deployment(name: str, resources: dict | None) -> dict:
    container = {"name": name, "image": "example/app:1.0.0"}
    if resources is not None:
        container["resources"] = resources
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [container]}}}}


FULL = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "64Mi"}}


# ------------------------------------------------------------------------------- helm-chart-renders


def test_a_rendered_release_is_compliant_in_a_protected_stack(handed_over):
    handed_over[urn(HELM_RELEASE, "keda", "prod")] = [deployment("keda-operator", FULL)]
    assert run_resource(RENDERS, HELM_RELEASE, KEDA, name="keda", stack="prod") == []


@pytest.mark.parametrize("failure", [
    RenderFailed("chart keda 2.20.2 (release keda in keda): no archive: no keda-2.20.2.tgz", unavailable=True),
    RenderFailed("chart keda 2.20.2 (release keda in keda) fails to template: nil pointer evaluating .Values.x"),
])
def test_an_unrenderable_chart_blocks_a_protected_stack(handed_over, failure):
    handed_over[urn(HELM_RELEASE, "keda", "prod")] = failure
    [message] = run_resource(RENDERS, HELM_RELEASE, KEDA, name="keda", stack="prod")
    assert message.startswith("Release keda: its chart was not rendered") and str(failure) in message
    assert run_resource(RENDERS_ADVISORY, HELM_RELEASE, KEDA, name="keda", stack="prod") == []


def test_an_unrenderable_chart_is_advisory_outside_protected_stacks(handed_over):
    handed_over[urn(HELM_RELEASE, "keda", "dev")] = RenderFailed("no Helm v4.1.4", unavailable=True)
    assert run_resource(RENDERS, HELM_RELEASE, KEDA, name="keda", stack="dev") == []
    [message] = run_resource(RENDERS_ADVISORY, HELM_RELEASE, KEDA, name="keda", stack="dev")
    assert "no Helm v4.1.4" in message
    # The prod pack config protects every stack it is used with.
    assert run_resource(RENDERS, HELM_RELEASE, KEDA, {"stacks": ["*"]}, name="keda", stack="dev")


def test_no_renderer_is_never_a_silent_pass(handed_over):
    [message] = run_resource(RENDERS, HELM_RELEASE, KEDA, name="keda", stack="prod")
    assert "no chart renderer is installed" in message


def test_other_resources_are_not_judged(handed_over):
    assert run_resource(RENDERS, "kubernetes:apps/v1:Deployment", deployment("x", FULL), stack="prod") == []


def test_object_rules_name_the_chart_object_and_skip_unrenderable_releases(handed_over):
    handed_over[urn(HELM_RELEASE, "keda", "prod")] = [deployment("keda-operator", None)]
    [message] = run_resource("container-resources", HELM_RELEASE, KEDA, name="keda", stack="prod")
    assert message.startswith("Deployment keda/keda-operator (chart keda): container 'keda-operator' lacks")
    handed_over[urn(HELM_RELEASE, "keda", "prod")] = RenderFailed("no archive", unavailable=True)
    assert run_resource("container-resources", HELM_RELEASE, KEDA, name="keda", stack="prod") == []


# --------------------------------------------------------------------- the pack's renderer (preview)


def test_fallback_kube_version_is_the_programs_default():
    assert pack_charts.FALLBACK_KUBE_VERSION == f"v{ClusterConfig.model_fields['kubernetes_version'].default}.0"


def test_cluster_version_is_read_from_gke_and_eks_clusters():
    assert pack_charts.cluster_kube_version("gcp:container/cluster:Cluster", {"minMasterVersion": "1.34"}) == "v1.34.0"
    assert pack_charts.cluster_kube_version("aws:eks/cluster:Cluster", {"version": "1.33"}) == "v1.33.0"
    assert pack_charts.cluster_kube_version("aws:eks/nodeGroup:NodeGroup", {"version": "1.33"}) is None


def _release(stack: str, name: str):
    return next(r for r in run_shipped(stack).resources if r.type == HELM_RELEASE and r.inputs.get("name") == name)


def test_the_pack_renders_a_release_as_the_plan_does():
    """Same core, same inputs (kube version, APIs installed before it) -> the same objects as tools.render."""
    require_charts()
    plan = rendered("prod").release("keda")
    state = pack_charts.PreviewState(kube_version=plan.kube_version, apis=set(plan.api_versions))
    props = policy_eval.unwrap(_release("prod", "keda").inputs)
    objects = pack_charts.render_release(props, {}, state)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [(o.kind, o.name) for o in plan.objects]
    assert {"keda-operator", "keda-operator-metrics-apiserver"} <= {o["metadata"]["name"] for o in objects
                                                                    if o["kind"] == "Deployment"}
    # What the render installs is known to the Releases analysed after it (its APIService and CRDs).
    assert "keda.sh/v1alpha1" in state.apis and "external.metrics.k8s.io/v1beta1" in state.apis
    # Memoised: every policy asks for the same Release.
    assert pack_charts.render_release(props, {}, state) is objects


def test_the_pack_reports_a_missing_archive(tmp_path, monkeypatch):
    require_charts()
    monkeypatch.setenv("AI_PLATFORM_CHARTS", str(tmp_path))
    with pytest.raises(RenderFailed) as failed:
        pack_charts.render_release(dict(KEDA), {}, pack_charts.PreviewState())
    assert failed.value.unavailable and "no keda-2.20.2.tgz" in str(failed.value)


def test_the_pack_reports_a_chart_outside_the_lock():
    with pytest.raises(RenderFailed, match="not in the chart lock"):
        pack_charts.render_release({**KEDA, "version": "2.19.0"}, {}, pack_charts.PreviewState())


def test_the_pack_reports_a_template_error():
    require_charts()
    props = {**KEDA, "values": {"image": {"keda": "not-a-map"}}}
    with pytest.raises(RenderFailed, match="fails to template") as failed:
        pack_charts.render_release(props, {}, pack_charts.PreviewState())
    assert not failed.value.unavailable


def test_preview_observes_cluster_version_and_program_crds():
    state = pack_charts.PreviewState()
    state.observe("aws:eks/cluster:Cluster", {"version": "1.33"})
    crd = {"spec": {"group": "example.com", "names": {"kind": "Widget"}, "scope": "Namespaced",
                    "versions": [{"name": "v1", "served": True}]}}
    state.observe("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition", crd)
    assert state.kube_version == "v1.33.0" and {"example.com/v1", "example.com/v1/Widget"} <= state.apis


# ------------------------------------------------------------------ the plan hands its render over


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_shipped_stacks_render_every_chart_and_pass(stack):
    require_charts()
    before = baseline(stack)
    for name in (RENDERS, RENDERS_ADVISORY, "container-resources", "gpu-workloads-tolerate-gpu-taint",
                 "gpu-access-requires-gpu-request", "mig-requests-match-layouts", "mig-workloads-select-mig-pool"):
        assert before[name] == set(), (name, before[name])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_rules_judge_every_chart_pod(stack):
    """Every pod spec every chart renders meets container-resources (or is a listed exception)."""
    require_charts()
    from policy.rules.containers import check_resources

    checked = 0
    for rel in rendered(stack).releases:
        for o in rel.objects:
            obj = KubeObject(o.manifest, source=f"chart:{rel.release}", release_namespace=rel.namespace)
            assert list(check_resources(obj, {})) == [], obj.ref()
            checked += any(True for _ in pod_specs(obj))
    assert checked > 20


def test_exceptions_are_precise_and_still_needed():
    require_charts()
    found = {(o.namespace, o.kind, o.name) for o in rendered("prod").objects}
    assert set(RESOURCES_EXCEPTIONS) <= found
    assert all(reason for reason in RESOURCES_EXCEPTIONS.values())


def _mutated(stack: str, release: str, change) -> list:
    resources = copy.deepcopy(run_shipped(stack).resources)
    target = next(r for r in resources if r.type == HELM_RELEASE and r.inputs.get("name") == release)
    change(target.inputs)
    return resources


def _new(stack: str, verdicts, name: str) -> list[str]:
    before = baseline(stack)[name]
    return [v.message for verdict in verdicts if verdict.name == name for v in verdict.violations
            if v.message not in before]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_values_edit_that_drops_a_charts_resources_is_caught(stack):
    require_charts()
    resources = _mutated(stack, "cert-manager", lambda i: i["values"].pop("resources"))
    new = _new(stack, evaluate(resources, pack_config(stack), charts=rendered(stack)), "container-resources")
    assert any(m.startswith("Deployment cert-manager/cert-manager (chart cert-manager): container "
                            "'cert-manager-controller' lacks") for m in new), new


def test_a_values_edit_that_breaks_the_template_blocks_prod():
    require_charts()
    resources = _mutated("prod", "keda", lambda i: i["values"].update(image={"keda": "not-a-map"}))
    verdicts = evaluate(resources, pack_config("prod"), charts=rendered("prod"))
    [message] = _new("prod", verdicts, RENDERS)
    assert message.startswith("Release keda: its chart was not rendered") and "fails to template" in message
    assert next(v for v in verdicts if v.name == RENDERS).blocking


def test_without_charts_the_releases_are_reported(monkeypatch):
    verdicts = evaluate(run_shipped("prod").resources, pack_config("prod"), render_charts=False)
    renders = next(v for v in verdicts if v.name == RENDERS)
    assert renders.blocking and all("no chart renderer" in v.message for v in renders.violations)
    assert len(renders.violations) == sum(r.type == HELM_RELEASE for r in run_shipped("prod").resources)


def test_the_plans_render_is_used_not_rendered_again(monkeypatch):
    require_charts()
    charts = rendered("dev")

    def no_render(*args, **kwargs):
        raise AssertionError("rendered twice")

    monkeypatch.setattr(render, "render_stack", no_render)
    verdicts = evaluate(run_shipped("dev").resources, pack_config("dev"), charts=charts)
    assert next(v for v in verdicts if v.name == RENDERS_ADVISORY).passed
    # ... and the handed-over results are gone after the evaluation.
    assert RENDERERS.rendered == {}


def test_render_key_follows_what_helm_renders_from():
    inputs = json.loads(json.dumps(KEDA))
    key = render.render_key(inputs)
    assert render.render_key({**inputs, "atomic": True}) == key
    assert render.render_key({**inputs, "values": {"x": 1}}) != key
    assert render.render_key({**inputs, "namespace": "other"}) != key


def test_the_packs_renderer_needs_nothing_beyond_its_virtualenv():
    """policy/requirements.txt installs pulumi-policy and pulumi (which brings PyYAML): the rendering core imports
    nothing else (no tools/, no program), so it runs from policy/ under `pulumi preview`."""
    import ast
    import sys
    from pathlib import Path

    allowed = set(sys.stdlib_module_names) | {"yaml", "pulumi_policy", "__future__"}
    for name in ("charts", "helmrender", "helmbin", "preview", "objects"):
        tree = ast.parse((Path(pack_charts.__file__).parent / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] in allowed, (name, node.module)
            elif isinstance(node, ast.Import):
                assert all(a.name.split(".")[0] in allowed for a in node.names), (name, ast.dump(node))


def test_container_rules_apply_to_a_keda_scaled_job():
    job = {"metadata": {"name": "batch", "namespace": "ai-app"},
           "spec": {"jobTargetRef": {"template": {"spec": {"containers": [{"name": "worker", "image": "x/y:1.0"}]}}}}}
    [message] = run_resource("container-resources", "kubernetes:keda.sh/v1alpha1:ScaledJob", job, name="batch")
    assert message.startswith("ScaledJob ai-app/batch: job template: container 'worker' lacks requests.cpu")
    job["spec"]["jobTargetRef"]["template"]["spec"]["containers"][0]["resources"] = FULL
    assert run_resource("container-resources", "kubernetes:keda.sh/v1alpha1:ScaledJob", job, name="batch") == []
