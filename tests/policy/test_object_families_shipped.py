"""The RBAC, exposure, NetworkPolicy-content and secrets checks pass on everything the shipped stacks create: the
program's own objects (every stack) and every object the charts render (dev and prod, with the pinned charts)."""

from __future__ import annotations

import json

import pytest

from policy.rules import exposure, netpol_content, network, rbac, secrets
from policy.rules.objects import KubeObject, pod_specs, program_object
from tests.conftest import run_stack
from tests.render.conftest import rendered
from tools import mockrun

CHECKS = {
    rbac.BINDINGS_NAME: rbac._check_binding,
    rbac.RULES_NAME: rbac._check_rules,
    network.LB_NAME: network._check_exposure,
    exposure.ANNOTATIONS_NAME: exposure._check_annotations,
    exposure.MANAGEMENT_NAME: exposure._check_management,
    netpol_content.ALLOW_ALL_NAME: netpol_content._check_allow_all,
    netpol_content.INTERNET_NAME: netpol_content._check_internet,
    netpol_content.FLOW_LABELS_NAME: netpol_content._check_flow_labels,
    secrets.SECRET_ENV_NAME: secrets._check_secrets,
}


def pack_config(stack: str, policy: str) -> dict:
    value = json.loads((mockrun.ROOT / "policy" / "config" / f"{stack}.json").read_text()).get(policy, {})
    return value if isinstance(value, dict) else {}


def violations(stack: str, objects: list[KubeObject]) -> list[str]:
    return [f"{name}: {obj.ref()}: {message}" for obj in objects for name, check in CHECKS.items()
            for message in check(obj, pack_config(stack, name))]


def program_objects(stack: str) -> list[KubeObject]:
    return [obj for r in run_stack(stack).resources if (obj := program_object(r.type, r.inputs)) is not None]


def chart_objects(stack: str) -> list[KubeObject]:
    found = []
    for release in rendered(stack).releases:
        assert release.error is None, release.error
        found += [KubeObject(o.manifest, source=f"chart:{release.release}", release_namespace=release.namespace)
                  for o in release.objects if not o.in_crds_dir]
    return found


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_program_objects_pass(stack):
    objects = program_objects(stack)
    assert {o.kind for o in objects} >= {"NetworkPolicy", "ConfigMap", "Deployment"}
    assert violations(stack, objects) == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_chart_objects_pass(stack):
    objects = chart_objects(stack)
    kinds = {o.kind for o in objects}
    assert {"ClusterRole", "ClusterRoleBinding", "Role", "Service", "ConfigMap"} <= kinds
    assert violations(stack, objects) == []


def test_the_rbac_exceptions_all_match_a_rendered_role():
    """Every exception names a role some shipped chart renders (no stale or misspelt entries)."""
    rendered_roles = {(o.source.split(":", 1)[1], o.kind, o.name) for stack in ("dev", "prod")
                      for o in chart_objects(stack) if o.kind in ("Role", "ClusterRole")}
    # ingress-nginx: the deprecated Ingress path (rag.gateway.expose: ingress), which no shipped stack renders now.
    assert {(e.release, e.kind, e.name) for e in rbac.EXCEPTIONS if e.release != "ingress-nginx"} <= rendered_roles
    # ... and each is needed: without the exception the role would be reported.
    for obj in (o for stack in ("dev", "prod") for o in chart_objects(stack)
                if any((e.release, e.kind, e.name) == (o.source.split(":", 1)[1], o.kind, o.name)
                       for e in rbac.EXCEPTIONS)):
        findings = {code for rule in obj.body.get("rules") or [] for code, _ in rbac.rule_findings(obj.kind, rule)}
        assert findings, obj.ref()


def test_the_chart_env_exceptions_all_match_a_rendered_variable():
    seen = set()
    for obj in (o for stack in ("dev", "prod") for o in chart_objects(stack) if o.source.startswith("chart:")):
        release = obj.source.split(":", 1)[1]
        for _, spec in pod_specs(obj):
            for container in spec.get("containers") or []:
                for env in container.get("env") or []:
                    seen.add((release, obj.kind, obj.name, container.get("name"), env.get("name")))
    # Weaviate ships in no stack: its entries are needed by the engine variant that
    # tests/rag/test_rag.py::test_switching_the_vector_store_engine judges with the whole pack.
    assert {e[:5] for e in secrets.ENV_EXCEPTIONS if e[0] != "weaviate"} <= seen
