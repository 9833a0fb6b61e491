"""cluster-deletion-protection: prod clusters carry the cloud flag and Pulumi protect."""

from __future__ import annotations

import copy

import pytest

from policy.rules.protection import protected_stack, stack_of
from tests.conftest import run_config, stack_values
from tools.policy_eval import evaluate

from .harness import run_resource

NAME = "cluster-deletion-protection"
GKE = "gcp:container/cluster:Cluster"
EKS = "aws:eks/cluster:Cluster"
PROPS = {
    GKE: {"name": "ai-prod", "location": "us-central1", "deletionProtection": True,
          "releaseChannel": {"channel": "REGULAR"}},
    EKS: {"name": "ai-prod", "version": "1.33", "deletionProtection": True, "roleArn": "arn:aws:iam::1:role/c"},
}


def props(kind: str, **changes) -> dict:
    p = copy.deepcopy(PROPS[kind])
    for key, value in changes.items():
        if value is None:
            p.pop(key, None)
        else:
            p[key] = value
    return p


@pytest.mark.parametrize("kind", [GKE, EKS])
def test_protected_prod_cluster_is_compliant(kind):
    assert run_resource(NAME, kind, props(kind), stack="prod", protect=True) == []


@pytest.mark.parametrize("kind", [GKE, EKS])
@pytest.mark.parametrize("flag, protect, missing", [
    (False, True, ["deletionProtection: true"]),
    (None, True, ["deletionProtection: true"]),
    (True, False, ["`protect`"]),
    (False, False, ["deletionProtection: true", "`protect`"]),
])
def test_unprotected_prod_cluster_is_a_violation(kind, flag, protect, missing):
    [message] = run_resource(NAME, kind, props(kind, deletionProtection=flag), stack="prod", protect=protect)
    assert "protected stack 'prod'" in message and "ai-prod" in message
    assert all(m in message for m in missing), message
    assert ("deletionProtection" in message) == (flag is not True)
    assert ("protect` resource option" in message) == (not protect)


@pytest.mark.parametrize("stack", ["prod", "prod-eu", "production", "production-us"])
def test_default_patterns_cover_prod_names(stack):
    assert run_resource(NAME, GKE, props(GKE, deletionProtection=False), stack=stack, protect=True)


@pytest.mark.parametrize("stack", ["dev", "local", "staging", "product", "preprod"])
def test_other_stacks_may_be_unprotected_by_default(stack):
    assert run_resource(NAME, EKS, props(EKS, deletionProtection=False), stack=stack) == []


def test_pack_config_chooses_the_stacks():
    unprotected = props(GKE, deletionProtection=False)
    assert run_resource(NAME, GKE, unprotected, {"stacks": ["*"]}, stack="dev")
    assert run_resource(NAME, GKE, unprotected, {"stacks": ["staging-*"]}, stack="staging-1")
    assert run_resource(NAME, GKE, unprotected, {"stacks": ["staging-*"]}, stack="prod") == []
    assert run_resource(NAME, GKE, unprotected, {"stacks": []}, stack="prod") == []


def test_other_resource_types_are_ignored():
    assert run_resource(NAME, "gcp:container/nodePool:NodePool", {"name": "gpu"}, stack="prod") == []
    assert run_resource(NAME, "aws:rds/instance:Instance", {"deletionProtection": False}, stack="prod") == []


def test_stack_of_reads_the_urn():
    assert stack_of("urn:pulumi:prod::ai-platform::gcp:container/cluster:Cluster::ai") == "prod"
    assert stack_of("urn:pulumi:team-a.prod::p::t::n") == "team-a.prod"
    assert stack_of("not-a-urn") == ""
    assert not protected_stack("garbage", ["*"])


def _verdict(result, config):
    return next(v for v in evaluate(result.resources, config) if v.name == NAME)


def test_shipped_prod_stack_is_protected_and_turning_it_off_is_caught():
    values = stack_values("prod")
    assert values["cluster"]["deletionProtection"] is True
    assert _verdict(run_config(values, stack="prod"), {}).passed
    values["cluster"]["deletionProtection"] = False
    result = run_config(values, stack="prod")
    assert result.error is None
    verdict = _verdict(result, {})
    assert verdict.blocking
    [violation] = verdict.violations
    assert "deletionProtection" in violation.message and "protect" in violation.message
    assert "$aws:eks/cluster:Cluster::" in violation.urn


def test_dev_stack_on_gke_is_not_protected_but_the_prod_pack_config_would_demand_it():
    result = run_config(stack_values("dev"), stack="dev")
    assert _verdict(result, {}).passed
    assert _verdict(result, {NAME: {"stacks": ["*"]}}).blocking
