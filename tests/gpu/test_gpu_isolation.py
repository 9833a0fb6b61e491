"""GPU isolation (issue 16): a pod that requests no GPU does not get the node's GPUs through NVIDIA_VISIBLE_DEVICES.

Where the GPU Operator owns the container toolkit (GKE, existing clusters without a host toolkit) the toolkit
ignores the variable in unprivileged containers and GPU pods get their devices through CDI; where it does not
(EKS AL2023 / Bottlerocket AMIs, hosts with their own toolkit) the policy gpu-access-requires-gpu-request refuses
the ways around a GPU request, on the program's objects (the offline plan) and on every rendered chart object.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.gpu_stack import ACCEPT_ENVVAR_UNPRIVILEGED, chart_values
from config import validate
from config.gpu_stack import Ownership
from policy.rules.gpu_isolation import EXEMPT_NAMESPACES, NAME, problems
from tests.conftest import run_config, run_stack, stack_values
from tests.render.conftest import chart_objects, rendered
from tools.policy_eval import evaluate

from .conftest import pool, stack_with_pools
from .test_gpu_stack import operator_release

ROOT = Path(__file__).resolve().parents[2]

DENY = {"name": ACCEPT_ENVVAR_UNPRIVILEGED, "value": "false"}


def test_the_operators_toolkit_ignores_the_variable_in_unprivileged_containers():
    cfg, _ = validate(stack_values("dev"), "Pulumi.dev.yaml")
    for owner in (Ownership("gke-cos", "gke", "operator", "gke", "gke"),
                  Ownership("existing", "operator", "operator", "operator", "operator")):
        values = chart_values(cfg, owner)
        assert DENY in values["toolkit"]["env"]
        # Devices reach GPU pods through CDI, never through the variable or a mount list the runtime would trust.
        assert values["cdi"] == {"enabled": True}
        names = {e["name"] for e in values["toolkit"]["env"]} | {e["name"] for e in
                                                                  values["devicePlugin"].get("env", [])}
        assert not names & {"ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS", "DEVICE_LIST_STRATEGY"}
    for owner in (Ownership("eks-al2023", "ami", "ami", "operator", "operator"),
                  Ownership("existing", "host", "host", "operator", "operator")):
        assert chart_values(cfg, owner)["toolkit"] == {"enabled": False}


def test_the_rendered_cluster_policy_carries_the_setting_to_the_toolkit():
    [policy] = [o.manifest for o in chart_objects("dev", "gpu-operator") if o.kind == "ClusterPolicy"]
    assert policy["spec"]["toolkit"]["enabled"] is True
    assert DENY in policy["spec"]["toolkit"]["env"]
    assert policy["spec"]["cdi"]["enabled"] is True
    values = stack_with_pools("local", [pool("gpu", "l4", {"strategy": "exclusive"}, gpus=1)])
    assert DENY in operator_release(run_config(values)).inputs["values"]["toolkit"]["env"]


def type_token(api_version: str, kind: str) -> str:
    return f"kubernetes:{api_version if '/' in api_version else 'core/' + api_version}:{kind}"


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_no_rendered_chart_workload_reaches_gpus_it_did_not_request(stack):
    # The pack judges the program's objects (offline plan, pulumi preview); a helm.sh/v3 Release's objects reach
    # it only as values, so the rule runs here over every object the charts render.
    checked = 0
    for o in rendered(stack).objects:
        if o.namespace in EXEMPT_NAMESPACES:
            continue
        found = problems(type_token(o.api_version, o.kind), o.manifest)
        assert not found, f"{o.label()}: {found}"
        checked += o.kind in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    assert checked


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_policy_is_mandatory_and_passes_on_the_programs_objects(stack):
    config = json.loads((ROOT / "policy" / "config" / f"{stack}.json").read_text())
    assert config[NAME] == "mandatory"
    [verdict] = [v for v in evaluate(run_stack(stack).resources, config) if v.name == NAME]
    assert verdict.enforcement == "mandatory" and verdict.violations == []
