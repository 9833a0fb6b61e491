"""The pack's exceptions for Istio's node agents (policy/rules/pods.py NODE_AGENTS): exactly what their charts
render is allowed, to those two DaemonSets in the mesh namespace only."""

from __future__ import annotations

import copy

import pytest

from policy.rules import pods
from tests.policy.harness import run_resource
from tests.render.conftest import chart_objects

DAEMONSET = "kubernetes:apps/v1:DaemonSet"
CONTROLS = (pods.HOST_NAME, pods.NON_ROOT_NAME, pods.ESCALATION_NAME)


def rendered(release: str) -> dict:
    [found] = [o.manifest for o in chart_objects("dev", release) if o.kind == "DaemonSet"]
    return copy.deepcopy(found)


@pytest.mark.parametrize("release", ["istio-cni", "ztunnel"])
def test_the_rendered_node_agents_pass_and_only_in_their_namespace(release):
    props = rendered(release)
    for policy in CONTROLS:
        assert run_resource(policy, DAEMONSET, props, name="res") == [], policy
    moved = copy.deepcopy(props)
    moved["metadata"]["namespace"] = "ai-inference"
    for policy in CONTROLS:
        assert len(run_resource(policy, DAEMONSET, moved, name="res")) == 1, policy


@pytest.mark.parametrize("release", ["istio-cni", "ztunnel"])
def test_a_capability_beyond_the_entry_is_still_a_violation(release):
    props = rendered(release)
    props["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"].append("SYS_MODULE")
    [message] = run_resource(pods.ESCALATION_NAME, DAEMONSET, props, name="res")
    assert "adds capabilities SYS_MODULE" in message and "SYS_ADMIN" not in message
    privileged = rendered(release)
    privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert "is privileged" in run_resource(pods.HOST_NAME, DAEMONSET, privileged, name="res")[0]
