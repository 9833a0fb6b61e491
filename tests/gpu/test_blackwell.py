"""H200 and Blackwell nodes: the driver each node image ships, what the GPU operator installs, refused combinations.

One mock run per cloud (GKE A4, EKS p6-b200, an existing cluster whose operator installs the driver), the
operator's chart rendered once, and config errors from `validate` (no run).  Expected values are the facts
recorded in config/gpu_stack.py (sources there), restated here by hand.
"""

from __future__ import annotations

import copy
import dataclasses
import tarfile

import pytest
import yaml

from components.cluster.gke.node_pools import boot_disk_type
from components.helm import pin
from config import ConfigError, validate
from config.gpu_stack import driver_issues, kernel_module_type, node_driver
from tests.conftest import run_config, stack_values
from tests.render.conftest import require_charts
from tools import charts, render

from .conftest import pool, stack_with_pools
from .test_chart_values import FREE_FORM_MAPS, UPSTREAM_DEFAULTS

RELEASE = "kubernetes:helm.sh/v3:Release"
GKE_POOL = "gcp:container/nodePool:NodePool"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"


def operator_values(result) -> dict:
    [release] = [r for r in result.of_type(RELEASE) if r.inputs["chart"] == "gpu-operator"]
    return release.inputs["values"]


def existing_with(pools: list[dict], models: list[dict] | None = None, **gpu_stack) -> dict:
    """The local (existing cluster) stack with GPU pools and the operator on."""
    values = stack_values("local")
    values["nodePools"] = {"gpu": pools}
    values["gpuStack"] = {"operator": True, **gpu_stack}
    values["serving"]["models"] += models or []
    values["budget"] = {}
    values["tenancy"]["namespaces"]["ai-inference"]["gpuQuota"] = 16
    return values


def lean(values: dict) -> dict:
    """Only the cluster, its pools and the GPU stack: no observability, mesh or gateway (keeps each run ~1 s)."""
    values["observability"] = {"enabled": False}
    values.pop("mesh", None)
    values.pop("inferenceGateway", None)
    return values


def issues_of(values: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.test.yaml")
    return [str(i) for i in info.value.issues]


B200 = pool("b200", "b200-180gb", {"strategy": "exclusive"})
TGI_ON_B200 = {"name": "qwen", "engine": "tgi", "model": "Qwen/Qwen2.5-7B-Instruct", "pool": "b200",
               "maxModelLen": 4096}


# ------------------------------------------------------------------------------------------ GKE A4 (B200)


@pytest.fixture(scope="module")
def gke_b200():
    # A4 is sold spot, flex-start or reserved on GKE, not on-demand (the catalog's capacities).
    values = lean(stack_with_pools("dev", [{**B200, "capacity": "spot"}]))
    result = run_config(values, stack="test")
    assert result.error is None, result.error
    return result


def test_gke_b200_pool_takes_the_latest_gke_driver_and_a_hyperdisk_boot_disk(gke_b200):
    [node_pool] = [p for p in gke_b200.of_type(GKE_POOL) if p.inputs.get("name") == "b200"]
    config = node_pool.inputs["nodeConfig"]
    assert config["machineType"] == "a4-highgpu-8g"
    [accelerator] = config["guestAccelerators"]
    assert accelerator["type"] == "nvidia-b200" and accelerator["count"] == 8
    # GKE installs the driver (LATEST: the newest branch COS offers for the B200), never the operator.
    assert accelerator["gpuDriverInstallationConfig"] == {"gpuDriverVersion": "LATEST"}
    assert config["diskType"] == "hyperdisk-balanced"


def test_gke_operator_installs_no_driver_and_no_kernel_module_choice(gke_b200):
    values = operator_values(gke_b200)
    assert values["driver"] == {"enabled": False}  # no kernelModuleType: GKE's driver, GKE's modules
    assert values["devicePlugin"]["enabled"] is False and values["migManager"]["enabled"] is False
    assert values["toolkit"]["enabled"] is True


def test_boot_disk_type_only_for_hyperdisk_only_series():
    assert boot_disk_type("a3-ultragpu-8g") == "hyperdisk-balanced"
    assert boot_disk_type("a4-highgpu-8g") == "hyperdisk-balanced"
    assert boot_disk_type("g4-standard-48") == "hyperdisk-balanced"
    assert boot_disk_type("a3-highgpu-8g") is None and boot_disk_type("a2-ultragpu-1g") is None


# ------------------------------------------------------------------------------------- EKS p6-b200 (B200)


@pytest.fixture(scope="module")
def eks_b200():
    values = lean(stack_with_pools("prod", [B200]))
    result = run_config(values, stack="test")
    assert result.error is None, result.error
    return result


def test_eks_b200_group_uses_the_al2023_nvidia_ami(eks_b200):
    [group] = [g for g in eks_b200.of_type(NODE_GROUP) if g.inputs["labels"].get("ai-platform/pool") == "b200"]
    assert group.inputs["instanceTypes"] == ["p6-b200.48xlarge"]
    # The AMI ships driver 580.159.03 (open modules for the B200), fabric manager and NVLSM.
    assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"


def test_eks_operator_leaves_driver_and_toolkit_to_the_ami(eks_b200):
    values = operator_values(eks_b200)
    assert values["driver"] == {"enabled": False} and values["toolkit"]["enabled"] is False
    assert values["devicePlugin"]["enabled"] is True and values["migManager"]["enabled"] is True


# ------------------------------------------------------------- existing cluster: the operator installs the driver


@pytest.fixture(scope="module")
def existing_b200():
    result = run_config(lean(existing_with([B200])), stack="test")
    assert result.error is None, result.error
    return result


def test_operator_installs_open_kernel_modules_for_blackwell(existing_b200):
    values = operator_values(existing_b200)
    assert values["driver"] == {"enabled": True, "kernelModuleType": "open"}


def test_rendered_cluster_policy_asks_for_open_modules(existing_b200, tmp_path):
    require_charts()
    [release] = [r for r in existing_b200.of_type(RELEASE) if r.inputs["chart"] == "gpu-operator"]
    only = dataclasses.replace(existing_b200, resources=[copy.deepcopy(release)])
    (rel,) = render.render_stack(only, "v1.35.0", cache=tmp_path).releases
    assert rel.error is None, rel.error
    [policy] = [o.manifest for o in rel.objects if o.manifest.get("kind") == "ClusterPolicy"]
    driver = policy["spec"]["driver"]
    assert driver["enabled"] is True and driver["kernelModuleType"] == "open"
    assert driver["version"] == "595.91.07"  # the chart's driver: R595 drives H200, B200 and RTX PRO 6000


def test_kernel_module_type_is_a_key_of_the_pinned_chart():
    # The operator values set driver.kernelModuleType: open; the pinned chart must know the key (Helm would drop a
    # misspelt one silently) with its enum's default "auto", and the allow-list must hold the same default.
    require_charts()
    archive = charts.resolve(pin("gpu-operator")).path
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("/values.yaml") and m.name.count("/") == 1)
        values = yaml.safe_load(tar.extractfile(member).read())  # type: ignore[union-attr]
    assert values["driver"]["kernelModuleType"] == "auto"
    assert UPSTREAM_DEFAULTS["driver.kernelModuleType"] == "auto" and "driver.kernelModuleType" not in FREE_FORM_MAPS


def test_no_kernel_module_choice_without_blackwell_or_with_host_drivers():
    hopper = pool("h200", "h200-141gb", {"strategy": "exclusive"})
    cfg, _ = validate(existing_with([hopper]), "Pulumi.test.yaml")
    assert kernel_module_type(cfg) is None  # the chart's auto
    cfg, _ = validate(existing_with([B200], hostDriver=True), "Pulumi.test.yaml")
    assert kernel_module_type(cfg) is None  # the hosts' driver: nothing for the operator to choose
    assert node_driver(cfg)[0] is None


# ------------------------------------------------------------------------------------------- refused combinations


def test_tgi_is_refused_on_blackwell_with_engine_version_and_gpu():
    problems = issues_of(existing_with([B200], [TGI_ON_B200]))
    [mine] = [p for p in problems if "cannot run on" in p]
    assert mine.startswith("ai-platform:serving.models[1].engine: tgi 3.3.7 cannot run on b200-180gb (pool 'b200'")
    assert "compute capability 10.0" in mine and "use engine triton or vllm" in mine


def test_tgi_is_refused_on_a_blackwell_fallback_pool_too():
    hopper = pool("h200", "h200-141gb", {"strategy": "exclusive"})
    model = {**TGI_ON_B200, "pool": "h200", "fallbackPool": "b200"}
    problems = [p for p in issues_of(existing_with([hopper, B200], [model])) if "cannot run on" in p]
    assert len(problems) == 1 and "b200-180gb (pool 'b200'" in problems[0]


def test_tgi_on_hopper_is_not_refused_for_its_architecture():
    hopper = pool("h200", "h200-141gb", {"strategy": "exclusive"})
    cfg = validate(existing_with([hopper]), "Pulumi.test.yaml")[0]
    model = cfg.serving.models[0].model_copy(update={"engine": "tgi", "pool": "h200"})
    cfg = cfg.model_copy(update={"serving": cfg.serving.model_copy(update={"models": (model,)})})
    assert driver_issues(cfg) == []


def bottlerocket(version: str, gpu: str) -> dict:
    values = stack_with_pools("prod", [pool("blackwell", gpu, {"strategy": "exclusive"})])
    values["cluster"]["kubernetesVersion"] = version
    values["cluster"].setdefault("eks", {})["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    return values


def test_rtx_pro_6000_is_refused_on_bottlerocket_r570():
    # aws-k8s-1.33-nvidia ships kmod-6.12-nvidia-r570-tesla; the RTX PRO 6000 (0x2BB5) needs R575.
    problems = [p for p in issues_of(bottlerocket("1.33", "rtx-pro-6000")) if "NVIDIA driver" in p]
    assert problems == [
        "ai-platform:nodePools.gpu[0].gpu: rtx-pro-6000 needs NVIDIA driver R575 or later, but Bottlerocket "
        "aws-k8s-1.33-nvidia ships R570; use cluster.kubernetesVersion 1.34 or later (Bottlerocket R580), or "
        "cluster.eks.amiType AL2023_x86_64_NVIDIA"]


@pytest.mark.parametrize("version, gpu", [("1.33", "b200-180gb"), ("1.34", "rtx-pro-6000")])
def test_bottlerocket_drivers_that_do_drive_the_gpu(version, gpu):
    # B200 needs R570 (what 1.33 ships); 1.34 ships R580 >= the RTX PRO 6000's R575.
    cfg, _ = validate(bottlerocket(version, gpu), "Pulumi.test.yaml")  # no config error at all
    assert driver_issues(cfg) == []
