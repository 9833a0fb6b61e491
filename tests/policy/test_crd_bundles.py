"""crd-bundle-locked: CRDs of the chart lock's CRD bundles come only from the program, at the locked version."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policy.rules.crd_bundles import check
from policy.rules.objects import KubeObject

from .harness import run_resource

CRD = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
BUNDLES = yaml.safe_load((Path(__file__).resolve().parents[2] / "charts.lock.yaml").read_text())["crdBundles"]


def crd(group: str, annotations: dict | None, name: str = "things") -> dict:
    """A CRD's props as the program registers it (schemas left out: the rule does not read them)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{name}.{group}", "annotations": annotations or {}},
            "spec": {"group": group, "names": {"kind": "Thing", "plural": name}, "scope": "Namespaced",
                     "versions": [{"name": "v1", "served": True, "storage": True}]}}


def locked(props: dict, config: dict | None = None) -> list[str]:
    return run_resource("crd-bundle-locked", CRD, props, config, name="gw-crd")


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_the_locked_bundles_crds_pass(bundle):
    entry = BUNDLES[bundle]
    for group in entry["groups"]:
        assert locked(crd(group, {entry["versionAnnotation"]: entry["version"]})) == []


def test_crds_of_other_groups_are_not_judged():
    assert locked(crd("monitoring.coreos.com", {})) == []
    assert locked({"metadata": {"name": "x"}}) == []


def test_another_version_of_a_locked_group_is_a_violation():
    messages = locked(crd("gateway.networking.k8s.io", {"gateway.networking.k8s.io/bundle-version": "v1.2.0"},
                          "httproutes"))
    assert len(messages) == 1
    assert "gateway.networking.k8s.io/bundle-version is 'v1.2.0', not the version 'v1.6.1'" in messages[0]
    assert "'gateway-api'" in messages[0] and messages[0].startswith("CustomResourceDefinition")
    # A hand-written CRD of the group without upstream's annotation is not the bundle's either.
    assert "is None" in locked(crd("llm-d.ai", {}, "inferenceobjectives"))[0]


def test_a_chart_installing_a_locked_groups_crd_is_a_violation():
    body = crd("inference.networking.k8s.io", {"inference.networking.k8s.io/bundle-version": "v1.6.0"},
               "inferencepools")
    messages = list(check(KubeObject(body, source="chart:some-router"), {}))
    assert len(messages) == 1 and "installed by the program from the locked CRD bundle" in messages[0]
    assert "'gateway-api-inference-extension'" in messages[0] and "skipCrds" in messages[0]
    assert list(check(KubeObject(crd("cert-manager.io", {}), source="chart:cert-manager"), {})) == []


def test_configured_and_unreadable_lock(tmp_path):
    lock = tmp_path / "other.lock.yaml"
    lock.write_text("charts: {}\n")
    body = crd("gateway.networking.k8s.io", {"gateway.networking.k8s.io/bundle-version": "v0.1"})
    assert locked(body, {"chartLock": str(lock)}) == []  # a lock without bundles holds no group
    messages = locked(body, {"chartLock": str(tmp_path / "missing.yaml")})
    assert len(messages) == 1 and "cannot be read" in messages[0]
