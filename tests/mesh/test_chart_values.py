"""Every value the Mesh component passes to the istio charts exists in that chart's values.yaml at 1.30.3.

The istio charts ship no values.schema.json. Their defaults sit under `_internal_defaults_do_not_set` in
values.yaml (istio/istio manifests/charts/{base,istio-control/istio-discovery,istio-cni,ztunnel}/values.yaml at
tag 1.30.3, as in the pinned archives); the allow-lists below are the keys the program sets with their upstream
defaults. COMMENTED marks keys the charts read in templates but do not declare: `profile` and `global.platform`
(templates/zzz_profile.yaml merges files/profile-<name>.yaml and files/profile-platform-<name>.yaml),
`global.enableReaderRBAC` in istiod (templates/reader-clusterrole.yaml: `dig "global" "enableReaderRBAC" true`)
and the cni chart's `cni.cniBinDir` (its README's "GKE notes" spelling, which the platform profile uses too).
"""

from __future__ import annotations

import copy

import pytest

from components import mesh
from tests.chart_values import COMMENTED, FREE, check_every_variant, check_pin, leaf_paths
from tests.mesh.conftest import stack_cfg

VERSION = "1.30.3"
BASE = {"global.istioNamespace": "istio-system", "global.enableReaderRBAC": True}
ISTIOD = {
    "profile": COMMENTED,
    "global.istioNamespace": "istio-system",
    "global.enableReaderRBAC": COMMENTED,
    "global.platform": COMMENTED,
    "autoscaleEnabled": True,
    "replicaCount": 1,
    "pdb.minAvailable": 1,
    "resources": FREE,
    "env": FREE,
}
CNI = {"profile": COMMENTED, "global.platform": COMMENTED, "resources": FREE, "cni.cniBinDir": COMMENTED}
ZTUNNEL = {"profile": COMMENTED, "global.platform": COMMENTED, "istioNamespace": "istio-system", "resources": FREE}
FREE_KEYS = ("resources", "env")


def variants() -> list:
    """The shipped stacks (GKE, EKS, existing) with the mesh on."""
    found = []
    for stack in ("dev", "prod", "local"):
        cfg = stack_cfg(stack)
        found.append(cfg.model_copy(update={"mesh": cfg.mesh.model_copy(update={"enabled": True})}))
    return found


@pytest.mark.parametrize("pin", [mesh.BASE, mesh.ISTIOD, mesh.CNI, mesh.ZTUNNEL], ids=lambda p: p.chart)
def test_pins_are_the_checked_version(pin):
    check_pin(pin, VERSION)
    assert pin.app_version == VERSION and pin.repo == "https://istio-release.storage.googleapis.com/charts"


@pytest.mark.parametrize("chart, build, allowed", [
    ("base", mesh.base_values, BASE), ("istiod", mesh.istiod_values, ISTIOD),
    ("cni", mesh.cni_values, CNI), ("ztunnel", mesh.ztunnel_values, ZTUNNEL)])
def test_every_value_exists_upstream(chart, build, allowed):
    check_every_variant(chart, VERSION, [build(cfg) for cfg in variants()], allowed, free_keys=FREE_KEYS)


def test_allow_list_catches_a_misspelt_key():
    values = copy.deepcopy(mesh.istiod_values(variants()[0]))
    values["replicas"] = 2
    assert [p for p, _ in leaf_paths(values, free_keys=FREE_KEYS) if p not in ISTIOD] == ["replicas"]


def test_values_per_cloud():
    gke, eks, existing = variants()
    assert mesh.cni_values(gke)["global"] == {"platform": "gke"} == mesh.ztunnel_values(gke)["global"]
    assert mesh.cni_values(gke)["cni"] == {"cniBinDir": "/home/kubernetes/bin"}
    for cfg in (eks, existing):
        assert "global" not in mesh.cni_values(cfg) and "cni" not in mesh.cni_values(cfg)
        assert "global" not in mesh.ztunnel_values(cfg)


def test_istiod_replicas_follow_the_config():
    cfg = stack_cfg("prod")
    values = mesh.istiod_values(cfg)
    assert cfg.mesh.istiod_replicas == 2
    assert (values["autoscaleEnabled"], values["replicaCount"], values["pdb"]) == (False, 2, {"minAvailable": 1})
    assert values["env"] == {"ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true",
                             "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "false"}
