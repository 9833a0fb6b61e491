"""MIG layouts: the catalog's counts match NVIDIA's, impossible layouts are rejected with the key."""

from __future__ import annotations

import re

import pytest

from config import ConfigError, catalog, validate
from config.gpu_stack import layout_name, layout_problems, mig_devices
from config.models import Mig

from .conftest import pool, stack_with_pools

MIG_GPUS = [k for k, g in catalog.GPUS.items() if g.mig_profiles]
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# NVIDIA GPU Operator v26.7.0 assets/state-mig-manager/0400_configmap.yaml (default-mig-parted-config):
# instances per GPU of each all-<profile> layout.
NVIDIA_ALL_PROFILE_COUNTS = {
    "a100-40gb": {"1g.5gb": 7, "1g.5gb+me": 1, "1g.10gb": 4, "2g.10gb": 3, "3g.20gb": 2, "4g.20gb": 1, "7g.40gb": 1},
    "a100-80gb": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    "h100-80gb": {"1g.10gb": 7, "1g.10gb+me": 1, "1g.20gb": 4, "2g.20gb": 3, "3g.40gb": 2, "4g.40gb": 1, "7g.80gb": 1},
    # all-1g.35gb carries device-filter 0x233510DE (H200): 4
    "h200-141gb": {"1g.18gb": 7, "1g.18gb+me": 1, "1g.35gb": 4, "2g.35gb": 3, "3g.71gb": 2, "4g.71gb": 1,
                   "7g.141gb": 1},
    "b200-180gb": {"1g.23gb": 7, "1g.23gb+me": 1, "1g.45gb": 4, "2g.45gb": 3, "3g.90gb": 2, "4g.90gb": 1,
                   "7g.180gb": 1},
    "rtx-pro-6000": {"1g.24gb": 4, "1g.24gb+me": 1, "2g.48gb": 2, "4g.96gb": 1},
}

# Mixed layouts NVIDIA documents (operator MIG guide examples, the all-balanced default) and
# full-compute layouts of the A100/H100 placement table.
VALID_80GB = [
    {"3g.40gb": 1, "4g.40gb": 1},
    {"2g.20gb": 2, "3g.40gb": 1},
    {"1g.10gb": 5, "2g.20gb": 1},
    {"1g.10gb": 2, "2g.20gb": 1, "3g.40gb": 1},     # all-balanced
    {"4g.40gb": 1, "2g.20gb": 1, "1g.10gb": 1},
    {"4g.40gb": 1, "1g.10gb": 3},
    {"3g.40gb": 1, "1g.10gb": 4},
    {"2g.20gb": 3, "1g.20gb": 1},
    {"1g.10gb": 6, "1g.20gb": 1},
    {"3g.40gb": 2},
    {"1g.10gb+me": 1, "1g.10gb": 6},
]
INVALID_80GB = [
    ({"4g.40gb": 1, "2g.20gb": 2}, "needs 8 compute slices"),
    ({"4g.40gb": 2}, "exceeds the 1 instances of 4g.40gb"),
    ({"3g.40gb": 2, "1g.10gb": 1}, "needs 9 of 8 memory slices"),
    ({"1g.20gb": 5}, "exceeds the 4 instances of 1g.20gb"),
    ({"1g.10gb+me": 2}, "exceeds the 1 instances"),
    ({"7g.80gb": 1, "1g.10gb": 1}, "compute slices"),
    ({"1g.5gb": 1}, "'1g.5gb' not a MIG profile of"),
]


@pytest.mark.parametrize("gpu", sorted(NVIDIA_ALL_PROFILE_COUNTS))
def test_single_profile_layouts_match_nvidia_defaults(gpu):
    counts = {p: mig_devices(gpu, Mig(strategy="mig", profile=p))[p] for p in catalog.GPUS[gpu].mig_profiles}
    assert counts == NVIDIA_ALL_PROFILE_COUNTS[gpu]
    assert all(not layout_problems(gpu, {p: n}) for p, n in counts.items())


@pytest.mark.parametrize("gpu", ["a100-80gb", "h100-80gb"])
@pytest.mark.parametrize("layout", VALID_80GB, ids=str)
def test_documented_mixed_layouts_are_valid(gpu, layout):
    assert layout_problems(gpu, layout) == []


@pytest.mark.parametrize("layout, message", INVALID_80GB, ids=lambda v: str(v))
def test_impossible_layouts_are_rejected(layout, message):
    problems = layout_problems("a100-80gb", layout)
    assert any(message in p for p in problems), problems


def test_placement_geometry():
    """NVML placements: 1-slice instances start at 0-6 (never 7), 2g at 0/2/4, 3g at 0/4, 4g/7g at 0."""
    from config.gpu_stack import _fits

    assert _fits([(1, 1)] * 7) and not _fits([(1, 1)] * 8)
    assert _fits([(2, 2)] * 3) and not _fits([(2, 2)] * 4)
    assert _fits([(4, 4), (3, 4)]) and not _fits([(4, 4), (4, 4)])
    assert _fits([(3, 4), (1, 2), (1, 2)])          # 3g at 0, 1g.20gb at 4 and 6
    assert not _fits([(7, 8), (1, 1)])
    assert _fits([(1, 2)] * 3 + [(1, 1)] * 2)      # 1g.20gb at 0/2/6 leaves 4 and 5 for 1g.10gb


def test_a100_40gb_uses_its_own_profile_names():
    assert layout_problems("a100-40gb", {"3g.20gb": 1, "2g.10gb": 1, "1g.5gb": 2}) == []
    assert "not a MIG profile of a100-40gb" in layout_problems("a100-40gb", {"3g.40gb": 1})[0]
    assert layout_problems("l4", {"1g.10gb": 1}) == ["l4 has no MIG"]


def test_layout_names_are_valid_label_values_and_distinct():
    names = {}
    for gpu in MIG_GPUS:
        for profile in catalog.GPUS[gpu].mig_profiles:
            mig = Mig(strategy="mig", profile=profile)
            name = layout_name(gpu, mig)
            assert LABEL_VALUE.match(name) and len(name) <= 63, name
            assert "+" not in name
            devices = mig_devices(gpu, mig)
            assert names.setdefault(name, devices) == devices, f"{name} means two layouts"
    for layout in VALID_80GB:
        name = layout_name("a100-80gb", Mig(strategy="mig", layout=layout))
        assert LABEL_VALUE.match(name) and len(name) <= 63, name
    assert layout_name("a100-80gb", Mig(strategy="mig", profile="3g.40gb")) == "all-3g.40gb"
    mixed = Mig(strategy="mig", layout={"2g.20gb": 2, "3g.40gb": 1})
    assert layout_name("a100-80gb", mixed) == "mixed-1x3g.40gb-2x2g.20gb"
    # 1g.10gb is 4 per A100-40GB but 7 per 80GB GPU: the name says which.
    assert layout_name("a100-40gb", Mig(strategy="mig", profile="1g.10gb")) == "all-1g.10gb-a100-40gb"
    assert layout_name("h100-80gb", Mig(strategy="mig", profile="1g.10gb+me")) == "all-1g.10gb.me"


# ------------------------------------------------------------------------------ config errors


def error(values: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.test.yaml")
    return str(info.value)


def test_invalid_layout_names_the_key_and_the_reason():
    values = stack_with_pools("prod",
                              [pool("a", "a100-80gb", {"strategy": "mig", "layout": {"4g.40gb": 1, "2g.20gb": 2}})],
                              mig_strategy="mixed")
    message = error(values)
    assert "Pulumi.test.yaml" in message
    assert ("ai-platform:nodePools.gpu[0].sharing.layout: invalid MIG layout for a100-80gb: "
            "needs 8 compute slices") in message


def test_layout_with_wrong_profile_lists_the_allowed_ones():
    values = stack_with_pools("prod", [pool("a", "h100-80gb", {"strategy": "mig", "layout": {"3g.20gb": 1}})])
    message = error(values)
    assert "ai-platform:nodePools.gpu[0].sharing.layout" in message
    assert "'3g.20gb' not a MIG profile of h100-80gb; allowed: 1g.10gb" in message


def test_profile_and_layout_are_exclusive():
    values = stack_with_pools("prod", [pool("a", "h100-80gb", {"strategy": "mig", "profile": "3g.40gb",
                                                               "layout": {"3g.40gb": 2}})])
    assert "set exactly one of 'profile'" in error(values)
    values["nodePools"]["gpu"][0]["sharing"] = {"strategy": "mig"}
    assert "set exactly one of 'profile'" in error(values)


def test_multi_profile_layout_needs_the_mixed_strategy():
    values = stack_with_pools("prod",
                              [pool("a", "a100-80gb", {"strategy": "mig", "layout": {"3g.40gb": 1, "2g.20gb": 2}})],
                              mig_strategy="single")
    assert ("ai-platform:nodePools.gpu[0].sharing.layout: "
            "a layout of 2 profiles needs gpuStack.migStrategy: mixed") in error(values)
    values["gpuStack"]["migStrategy"] = "mixed"
    validate(values, "Pulumi.test.yaml")


def test_gke_rejects_mixed_layouts():
    values = stack_with_pools("dev", [pool("a", "a100-40gb", {"strategy": "mig", "layout": {"3g.20gb": 2}}, gpus=1)])
    assert "ai-platform:nodePools.gpu[0].sharing.layout: GKE partitions every GPU into one profile" in error(values)


def test_bottlerocket_rejects_operator_sharing():
    values = stack_with_pools("prod", [pool("a", "l4", {"strategy": "time-slicing", "replicas": 4}, gpus=1)])
    values["cluster"]["eks"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    assert "ai-platform:nodePools.gpu[0].sharing.strategy: time-slicing on Bottlerocket" in error(values)


def test_sharing_on_eks_needs_the_operator():
    values = stack_with_pools("prod", [pool("a", "l4", {"strategy": "mps", "replicas": 2}, gpus=1)])
    values["gpuStack"]["operator"] = False
    assert "ai-platform:gpuStack.operator: pool 'a' uses mps" in error(values)


def test_host_driver_is_for_existing_clusters_only():
    values = stack_with_pools("prod", [pool("a", "l4", {"strategy": "exclusive"}, gpus=1)])
    values["gpuStack"]["hostDriver"] = True
    assert "ai-platform:gpuStack.hostDriver: only for provider existing" in error(values)


def _mixed_with_model(mig_profile=None, embedding_profile="2g.20gb") -> dict:
    values = stack_with_pools("prod", [
        pool("od", "h100-80gb", {"strategy": "exclusive"}, gpus=8, max=2),
        pool("mig", "a100-80gb", {"strategy": "mig", "layout": {"3g.40gb": 1, "2g.20gb": 2}}, capacity="spot"),
    ], mig_strategy="mixed")
    model = {"name": "chat", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct", "maxModelLen": 8192, "pool": "mig"}
    if mig_profile:
        model["migProfile"] = mig_profile
    values["serving"] = {"models": [model]}
    values["rag"] = {"embedding": {"model": "BAAI/bge-m3", "pool": "mig", "migProfile": embedding_profile}}
    return values


def test_models_on_a_mixed_pool_choose_a_slice():
    assert "ai-platform:serving.models[0].migProfile: pool 'mig' has a mixed MIG layout; choose the slice to run on: " \
           "3g.40gb, 2g.20gb" in error(_mixed_with_model())
    message = error(_mixed_with_model("1g.10gb"))
    assert "ai-platform:serving.models[0].migProfile: '1g.10gb' is not in pool 'mig' layout" in message
    assert "ai-platform:rag.embedding.migProfile: '4g.40gb' is not in pool 'mig' layout" in \
           error(_mixed_with_model("3g.40gb", embedding_profile="4g.40gb"))
    cfg, plan = validate(_mixed_with_model("3g.40gb"), "Pulumi.test.yaml")
    assert plan.model("chat").resource == "nvidia.com/mig-3g.40gb"
    assert plan.model("embedding").resource == "nvidia.com/mig-2g.20gb"


def test_mig_profile_on_a_whole_gpu_pool_is_rejected():
    values = _mixed_with_model("3g.40gb")
    values["serving"]["models"][0]["pool"] = "od"
    assert "ai-platform:serving.models[0].migProfile: pool 'od' is not a MIG pool (exclusive)" in error(values)
