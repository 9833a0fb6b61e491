"""cluster-endpoint-not-public: a protected cluster's API server is never open to 0.0.0.0/0."""

from __future__ import annotations

import copy

import pytest

from policy.rules.endpoint import world
from tests.conftest import run_config, stack_values
from tools.policy_eval import evaluate

from .harness import run_resource

NAME = "cluster-endpoint-not-public"
GKE = "gcp:container/cluster:Cluster"
EKS = "aws:eks/cluster:Cluster"

EKS_PRIVATE = {"name": "ai-prod", "deletionProtection": True,
               "vpcConfig": {"endpointPrivateAccess": True, "endpointPublicAccess": False, "subnetIds": ["subnet-1"]}}
GKE_AUTHORIZED = {"name": "ai-prod", "deletionProtection": True,
                  "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
                  "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24",
                                                                     "displayName": "office"}]}}


def eks(**vpc) -> dict:
    props = copy.deepcopy(EKS_PRIVATE)
    for key, value in vpc.items():
        if value is None:
            props["vpcConfig"].pop(key, None)
        else:
            props["vpcConfig"][key] = value
    return props


def gke(**changes) -> dict:
    props = copy.deepcopy(GKE_AUTHORIZED)
    for key, value in changes.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


# ------------------------------------------------------------------------------------ compliant


@pytest.mark.parametrize("props", [
    eks(),
    eks(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24", "198.51.100.7/32"]),
], ids=["private", "public-to-named-cidrs"])
def test_eks_private_or_limited_endpoint_is_compliant(props):
    assert run_resource(NAME, EKS, props, stack="prod", protect=True) == []


@pytest.mark.parametrize("props", [
    gke(),
    gke(privateClusterConfig={"enablePrivateNodes": True, "enablePrivateEndpoint": True},
        masterAuthorizedNetworksConfig=None),
    gke(masterAuthorizedNetworksConfig=None,
        controlPlaneEndpointsConfig={"ipEndpointsConfig": {"enabled": False},
                                     "dnsEndpointConfig": {"allowExternalTraffic": True}}),
    gke(masterAuthorizedNetworksConfig={}),  # enabled with no networks: nothing public reaches it
], ids=["authorized-networks", "private-endpoint", "dns-endpoint-only", "authorized-networks-empty"])
def test_gke_private_or_authorized_endpoint_is_compliant(props):
    assert run_resource(NAME, GKE, props, stack="prod", protect=True) == []


@pytest.mark.parametrize("stack", ["dev", "staging", "local"])
def test_unprotected_clusters_are_not_judged(stack):
    open_eks = eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    open_eks["deletionProtection"] = False
    assert run_resource(NAME, EKS, open_eks, stack=stack) == []
    assert run_resource(NAME, GKE, gke(deletionProtection=False, masterAuthorizedNetworksConfig=None),
                        stack=stack) == []


def test_other_resource_types_are_ignored():
    assert run_resource(NAME, "aws:eks/nodeGroup:NodeGroup", {"deletionProtection": True}, stack="prod") == []


# ------------------------------------------------------------------------------------ violating


@pytest.mark.parametrize("props, text", [
    (eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"]), "open to 0.0.0.0/0"),
    (eks(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24", "0.0.0.0/0"]), "open to 0.0.0.0/0"),
    (eks(endpointPublicAccess=True, publicAccessCidrs=[]), "without publicAccessCidrs"),
    (eks(endpointPublicAccess=True, publicAccessCidrs=None), "without publicAccessCidrs"),
    # EKS turns the public endpoint on when the flag is absent.
    (eks(endpointPublicAccess=None, publicAccessCidrs=None), "without publicAccessCidrs"),
], ids=["world", "world-among-others", "empty", "absent-cidrs", "absent-flag"])
def test_eks_public_to_the_world_is_a_violation(props, text):
    [message] = run_resource(NAME, EKS, props, stack="prod", protect=True)
    assert text in message and "EKS cluster ai-prod of protected stack 'prod'" in message
    assert "publicAccessCidrs" in message


@pytest.mark.parametrize("props, text", [
    (gke(masterAuthorizedNetworksConfig=None), "without masterAuthorizedNetworksConfig"),
    (gke(privateClusterConfig=None, masterAuthorizedNetworksConfig=None), "without masterAuthorizedNetworksConfig"),
    (gke(masterAuthorizedNetworksConfig={"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"},
                                                        {"cidrBlock": "0.0.0.0/0", "displayName": "all"}]}),
     "authorized networks include 0.0.0.0/0"),
], ids=["no-authorized-networks", "not-private-at-all", "world-authorized"])
def test_gke_public_to_the_world_is_a_violation(props, text):
    [message] = run_resource(NAME, GKE, props, stack="prod", protect=True)
    assert text in message and "GKE cluster ai-prod" in message


def test_any_protection_marker_makes_a_cluster_protected():
    open_eks = eks(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
    unflagged = dict(open_eks, deletionProtection=False)
    assert run_resource(NAME, EKS, open_eks, stack="dev")  # the cloud flag
    assert run_resource(NAME, EKS, unflagged, stack="dev", protect=True)  # Pulumi protect
    assert run_resource(NAME, EKS, unflagged, stack="prod-eu")  # a protected stack name
    assert run_resource(NAME, EKS, unflagged, {"stacks": ["*"]}, stack="dev")  # the pack config
    assert run_resource(NAME, EKS, unflagged, {"stacks": []}, stack="prod") == []


def test_world_cidrs():
    assert world("0.0.0.0/0") and world("::/0") and world("10.0.0.0/0")
    assert not world("0.0.0.0/1") and not world("203.0.113.0/24") and not world("garbage") and not world(None)


# ------------------------------------------------------------------------------- shipped stacks


def _verdict(result, config):
    return next(v for v in evaluate(result.resources, config) if v.name == NAME)


def test_shipped_prod_stack_passes_and_an_open_endpoint_is_caught():
    values = stack_values("prod")
    assert _verdict(run_config(values, stack="prod"), {NAME: {"stacks": ["*"]}}).passed
    # Config validation refuses 0.0.0.0/0 on a protected stack, so open it on an unprotected config and judge
    # it as the prod pack config does (every stack protected).
    values["cluster"]["deletionProtection"] = False
    values["cluster"]["eks"].update(publicEndpoint=True, publicAccessCidrs=["0.0.0.0/0"])
    result = run_config(values, stack="prod")
    assert result.error is None
    verdict = _verdict(result, {NAME: {"stacks": ["*"]}})
    assert verdict.blocking
    [violation] = verdict.violations
    assert "open to 0.0.0.0/0" in violation.message and "$aws:eks/cluster:Cluster::" in violation.urn
