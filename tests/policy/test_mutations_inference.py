"""Mutation corpus for the inference gateway policies (issue 18, policy/rules/inference.py).

Each mutation edits the real recorded resources of a stack that enables the inference gateway (dev, prod) and is
judged by the shared `assert_caught` (the stack's own pack config, a new violation, a mandatory policy that
blocks). Where the stack already holds the target (the program's `public` Gateway, an HTTPRoute, an InferencePool)
the mutation edits it; otherwise it adds the dangerous object, so the corpus catches the same edit before and after
the gateway's objects land.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from tests.conftest import run_stack as run_shipped
from tests.conftest import stack_values
from tests.policy.test_mutations import Mutation, assert_caught, edit
from tools.mockrun import Recorded

STACKS = ("dev", "prod", "local")
GATEWAY_API = "gateway.networking.k8s.io/v1"
GATEWAY_NS, SERVING_NS = "ai-gateway", "ai-inference"


def _kind(r: Recorded, group: str, kind: str) -> bool:
    return r.type.startswith(f"kubernetes:{group}/") and r.type.endswith(f":{kind}")


def find_or_add(stack: str, resources: list[Recorded], group: str, kind: str, where: Callable[[dict], bool],
                props: dict, version: str = "v1") -> Recorded:
    """The stack's first program object of that kind matching `where`, else a new one with `props`."""
    for r in resources:
        if _kind(r, group, kind) and where(r.inputs):
            return r
    name = props["metadata"]["name"]
    type_ = f"kubernetes:{group}/{version}:{kind}"
    added = Recorded(urn=f"urn:pulumi:{stack}::ai-platform::{type_}::mutant-{name}", type=type_, name=f"mutant-{name}",
                     parent=None, custom=True, inputs=copy.deepcopy(props), dependencies=[], provider=None,
                     protect=False, ignore_changes=[], outputs=copy.deepcopy(props))
    resources.append(added)
    return added


def named(name: str) -> Callable[[dict], bool]:
    return lambda props: (props.get("metadata") or {}).get("name") == name


def _gateway(name: str, listener: dict) -> dict:
    return {"metadata": {"name": name, "namespace": GATEWAY_NS},
            "spec": {"gatewayClassName": "istio", "listeners": [listener]}}


HTTPS = {"name": "https", "port": 443, "protocol": "HTTPS",
         "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "llm-api-tls"}]}}


def foreign_gateway_class(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find_or_add(stack, resources, "gateway.networking.k8s.io", "Gateway", named("public"),
                         _gateway("public", HTTPS))
    edit(target, lambda p: p["spec"].update(gatewayClassName="nginx"))
    return {"gateway-class-allowed": "Gateway ai-gateway/public: spec.gatewayClassName is 'nginx'"}


def extra_gateway_class(stack: str, resources: list[Recorded]) -> dict[str, str]:
    find_or_add(stack, resources, "gateway.networking.k8s.io", "GatewayClass", named("shadow"),
                {"metadata": {"name": "shadow"}, "spec": {"controllerName": "example.com/shadow-controller"}})
    return {"gateway-class-allowed": "the stack creates GatewayClass 'shadow'"}


def pool_without_failure_mode(stack: str, resources: list[Recorded]) -> dict[str, str]:
    pool = {"metadata": {"name": "mutant", "namespace": SERVING_NS},
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/instance": "mutant"}},
                     "targetPorts": [{"number": 8000}],
                     "endpointPickerRef": {"name": "mutant-epp", "port": {"number": 9002}}}}
    target = find_or_add(stack, resources, "inference.networking.k8s.io", "InferencePool", lambda p: True, pool)
    edit(target, lambda p: p["spec"]["endpointPickerRef"].pop("failureMode", None))
    return {"inferencepool-has-epp": "endpointPickerRef.failureMode is None: set FailOpen or FailClose explicitly"}


def route_to_outside_gateway(stack: str, resources: list[Recorded]) -> dict[str, str]:
    route = {"metadata": {"name": "mutant", "namespace": SERVING_NS},
             "spec": {"parentRefs": [], "rules": [{"backendRefs": [{"name": "qwen7b", "port": 8000}]}]}}
    target = find_or_add(stack, resources, "gateway.networking.k8s.io", "HTTPRoute", lambda p: True, route)
    edit(target, lambda p: p["spec"].setdefault("parentRefs", []).append(
        {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "shared", "namespace": "infra"}))
    return {"route-parent-platform-gateway": "parent Gateway infra/shared is not one the stack defines"}


def http_on_public_gateway(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find_or_add(stack, resources, "gateway.networking.k8s.io", "Gateway", named("public"),
                         _gateway("public", HTTPS))
    edit(target, lambda p: p["spec"]["listeners"].append({"name": "plain-http", "port": 80, "protocol": "HTTP"}))
    return {"public-listener-tls": "listener 'plain-http' is HTTP"}


def _gateway_enabled(values: dict) -> bool:
    return bool(values.get("inferenceGateway", {}).get("enabled"))


MUTATIONS = [
    Mutation("foreign-gateway-class", _gateway_enabled, foreign_gateway_class),
    Mutation("extra-gateway-class", _gateway_enabled, extra_gateway_class),
    Mutation("pool-without-failure-mode", _gateway_enabled, pool_without_failure_mode),
    Mutation("route-to-outside-gateway", _gateway_enabled, route_to_outside_gateway),
    Mutation("http-on-public-gateway", _gateway_enabled, http_on_public_gateway),
]

# One stack per mutation, alternating GKE (dev) and EKS (prod): the checks read no cloud resource, and each pack
# evaluation costs about a second.
CASES = [pytest.param(stack, m, id=f"{stack}-{m.name}") for i, m in enumerate(MUTATIONS)
         for stack in [s for s in STACKS if m.applies(stack_values(s))][i % 2:][:1]]


def test_every_mutation_runs_somewhere():
    assert {m.name for _, m in (c.values for c in CASES)} == {m.name for m in MUTATIONS}


@pytest.mark.parametrize("stack, mutation", CASES)
def test_the_pack_catches_the_mutation(stack, mutation):
    resources = copy.deepcopy(run_shipped(stack).resources)
    expected = mutation.apply(stack, resources)
    assert_caught(stack, resources, expected, mutation.name)
