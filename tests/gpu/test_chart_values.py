"""Every value passed to the gpu-operator chart exists in that chart version's values.yaml.

The chart ships no values.schema.json, so Helm accepts a misspelt key silently. UPSTREAM_DEFAULTS
is copied by hand from NVIDIA/gpu-operator tag v26.7.0 (commit 10ee5b3638b8),
deployments/gpu-operator/values.yaml, byte-identical to values.yaml in the published
gpu-operator-v26.7.0.tgz. When CHART_VERSION changes, re-check these keys against the new file.
"""

from __future__ import annotations

import itertools

import pytest

from components.gpu_stack import CHART_VERSION, chart_values
from config import validate
from config.gpu_stack import Ownership
from tests.chart_values import check_values, leaf_paths
from tests.conftest import stack_values

UPSTREAM_VERSION = "v26.7.0"
UPSTREAM_DEFAULTS: dict[str, object] = {
    "cdi.enabled": True,
    "nfd.enabled": True,
    "gfd.enabled": True,
    "mig.strategy": "single",
    "driver.enabled": True,
    "driver.kernelModuleType": "auto",
    "toolkit.enabled": True,
    "toolkit.installDir": "/usr/local/nvidia",
    "toolkit.env": [],
    "hostPaths.driverInstallDir": "/run/nvidia/driver",
    "devicePlugin.enabled": True,
    "devicePlugin.config.name": "",
    "devicePlugin.config.default": "",
    "migManager.enabled": True,
    "migManager.config.name": "",         # present (with create/data) under migManager.config
    "migManager.config.default": "all-disabled",
    "dcgmExporter.enabled": True,
    "dcgmExporter.serviceMonitor.enabled": True,
    "dcgmExporter.serviceMonitor.interval": "15s",
    "dcgmExporter.serviceMonitor.additionalLabels": {},
    # The bundled node-feature-discovery subchart's values.yaml (charts/node-feature-discovery in v26.7.0).
    "node-feature-discovery.master.resources": {},
    "node-feature-discovery.worker.resources": {},
    "node-feature-discovery.gc.resources": {},
}
FREE_FORM_MAPS = {"dcgmExporter.serviceMonitor.additionalLabels", "node-feature-discovery.master.resources",
                  "node-feature-discovery.worker.resources", "node-feature-discovery.gc.resources"}
# Keys NVIDIA removed that older guides (and NVIDIA's own GKE page) still pass; Helm would ignore them.
REMOVED = {"cdi.default", "operator.defaultRuntime"}

OWNERS = [
    Ownership("gke-cos", driver="gke", toolkit="operator", device_plugin="gke", mig="gke"),
    Ownership("eks-al2023", driver="ami", toolkit="ami", device_plugin="operator", mig="operator"),
    Ownership("eks-bottlerocket", driver="ami", toolkit="ami", device_plugin="bottlerocket", mig="bottlerocket"),
    Ownership("existing", driver="operator", toolkit="operator", device_plugin="operator", mig="operator"),
    Ownership("existing", driver="host", toolkit="host", device_plugin="operator", mig="operator"),
]




def test_chart_version_is_the_one_checked():
    assert CHART_VERSION == UPSTREAM_VERSION


@pytest.mark.parametrize("stack, owner", list(itertools.product(["dev", "prod"], OWNERS)),
                         ids=lambda v: v if isinstance(v, str) else f"{v.image}-{v.driver}")
def test_every_value_exists_upstream_with_the_same_type(stack, owner):
    cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    seen = check_values("gpu-operator", UPSTREAM_VERSION, chart_values(cfg, owner), UPSTREAM_DEFAULTS,
                        free_paths=FREE_FORM_MAPS)
    assert not seen & REMOVED


def test_allow_list_catches_a_misspelt_key():
    bad = {"devicePlugin": {"enable": True}, "cdi": {"default": True}}
    paths = [p for p, _ in leaf_paths(bad, free_paths=FREE_FORM_MAPS)]
    assert [p for p in paths if p not in UPSTREAM_DEFAULTS] == ["devicePlugin.enable", "cdi.default"]
