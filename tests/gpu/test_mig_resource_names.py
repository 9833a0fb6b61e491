"""MIG `+me` profiles: every user of a MIG resource name says what the NVIDIA device plugin advertises.

The device plugin (NVIDIA/k8s-device-plugin v0.20.0, internal/rm/rm.go AddDefaultResourcesToConfig)
names mixed-strategy MIG resources `strings.ReplaceAll("mig-"+profile, "+", ".")`: the profile
`1g.10gb+me` is advertised as `nvidia.com/mig-1g.10gb.me` (`+` is not valid in a resource name).
"""

from __future__ import annotations

import pytest

from config import catalog
from config.gpu_stack import mig_resource
from policy.rules.helpers import mig_resource as pack_mig_resource
from tests.conftest import run_config, stack_values
from tools.policy_eval import evaluate

ME = "nvidia.com/mig-1g.10gb.me"
CA = "k8s.io/cluster-autoscaler/node-template/resources"


def test_one_mapping_and_the_pack_agrees_for_every_catalog_profile():
    for gpu in catalog.GPUS.values():
        for profile in gpu.mig_profiles:
            name = mig_resource(profile)
            assert "+" not in name and name == pack_mig_resource(profile)
    assert mig_resource("1g.10gb+me") == ME
    assert mig_resource("3g.40gb") == "nvidia.com/mig-3g.40gb"


@pytest.fixture(scope="module")
def me_stack():
    """prod with a media-extension slice in the A100 layout, used by the embedding server."""
    values = stack_values("prod")
    a100 = next(p for p in values["nodePools"]["gpu"] if p["name"] == "a100-spot")
    a100["sharing"] = {"strategy": "mig", "layout": {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb+me": 1}}
    values["rag"]["embedding"]["migProfile"] = "1g.10gb+me"
    result = run_config(values, stack="prod")
    assert result.error is None, result.error
    return result


def _requests(result) -> set[str]:
    names = set()
    for r in result.resources:
        spec = ((r.inputs.get("spec") or {}).get("template") or {}).get("spec") or {}
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            res = c.get("resources") or {}
            for section in ("requests", "limits"):
                names.update(k for k in (res.get(section) or {}) if k.startswith("nvidia.com/mig-"))
    return names


def test_pods_request_the_advertised_name(me_stack):
    names = _requests(me_stack)
    assert ME in names
    assert not [n for n in names if "+" in n]


def test_quota_counts_the_advertised_name(me_stack):
    keys = set()
    for q in me_stack.of_type("kubernetes:core/v1:ResourceQuota"):
        keys.update(q.inputs["spec"]["hard"])
    assert f"requests.{ME}" in keys
    assert not [k for k in keys if "+" in k]


def test_autoscaler_tags_carry_the_advertised_name(me_stack):
    tags = {t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in me_stack.of_type("aws:autoscaling/tag:Tag")}
    assert tags.get(f"{CA}/{ME}") == "8"
    assert not [k for k in tags if "+" in k]


def test_capacity_plan_names_the_advertised_resource(me_stack):
    assert me_stack.outputs["capacity"]["models"]["embedding"]["resource"] == ME


def test_policies_pass_on_the_advertised_name(me_stack):
    failing = {v.name: [x.message for x in v.violations] for v in evaluate(me_stack.resources) if v.blocking}
    assert not failing
