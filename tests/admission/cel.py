"""Evaluate the recorded ValidatingAdmissionPolicies like the API server does, with cel-python.

The policies are read back from the resources the program registered (the mock run's inputs), so the tests judge
exactly the expressions `pulumi up` would ship. Evaluation follows the API server's order: matchConstraints
(resource rules, operations, namespaceSelector), matchConditions, then the variables (in order: each may use the
earlier ones) and the validations, with Kubernetes' variables bound: object, oldObject, request, params (null: no
paramKind), namespaceObject and variables. An expression that errors counts as a failure (failurePolicy Fail) and
is reported as such, so a broken expression never passes as compliant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import celpy

from tools import mockrun

VAP = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy"
BINDING = "kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding"

# kind -> (API group, version, resource) of what the API server receives.
RESOURCES = {
    "Pod": ("", "v1", "pods"),
    "ReplicationController": ("", "v1", "replicationcontrollers"),
    "Service": ("", "v1", "services"),
    "Deployment": ("apps", "v1", "deployments"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "DaemonSet": ("apps", "v1", "daemonsets"),
    "Job": ("batch", "v1", "jobs"),
    "CronJob": ("batch", "v1", "cronjobs"),
}

_ENV = celpy.Environment()


@cache
def program(expression: str) -> Any:
    """Compile once (a syntax error fails here, like the API server's compile step)."""
    return _ENV.program(_ENV.compile(expression))


def pruned(value: Any) -> Any:
    """The object as the API server hands it to CEL: decoded into its Go type, where a JSON null is an absent
    field (charts and the program's inputs may carry `volumes: null`)."""
    if isinstance(value, Mapping):
        return {k: pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


def evaluate(expression: str, activation: Mapping[str, Any]) -> Any:
    return program(expression).evaluate(dict(activation))


@dataclass(frozen=True)
class Policy:
    """One recorded ValidatingAdmissionPolicy (camelCase spec as registered) and its binding's actions."""

    name: str
    spec: Mapping[str, Any]
    actions: tuple[str, ...]

    def expressions(self) -> list[str]:
        spec = self.spec
        return ([c["expression"] for c in spec.get("matchConditions") or []]
                + [v["expression"] for v in spec.get("variables") or []]
                + [v["expression"] for v in spec.get("validations") or []])

    def matches(self, obj: Mapping[str, Any], operation: str, namespace: str) -> bool:
        group, _version, resource = RESOURCES[obj["kind"]]
        constraints = self.spec["matchConstraints"]
        if not any(group in r["apiGroups"] and resource in r["resources"] and operation in r["operations"]
                   for r in constraints["resourceRules"]):
            return False
        for req in (constraints.get("namespaceSelector") or {}).get("matchExpressions") or []:
            assert req["key"] == "kubernetes.io/metadata.name", req
            if req["operator"] == "NotIn" and namespace in req["values"]:
                return False
            if req["operator"] == "In" and namespace not in req["values"]:
                return False
        return True

    def failures(self, obj: Mapping[str, Any], *, namespace: str, operation: str = "CREATE",
                 old: Mapping[str, Any] | None = None) -> list[str] | None:
        """None when the policy does not judge the request; else the messages of the failed validations
        ('error: ...' for an expression that errors, which failurePolicy Fail refuses too)."""
        if not self.matches(obj, operation, namespace):
            return None
        group, version, resource = RESOURCES[obj["kind"]]
        activation: dict[str, Any] = {
            "object": celpy.json_to_cel(pruned(obj)),
            "oldObject": celpy.json_to_cel(pruned(old) if old is not None else None),
            "request": celpy.json_to_cel({
                "operation": operation, "namespace": namespace, "name": obj.get("metadata", {}).get("name", ""),
                "kind": {"group": group, "version": version, "kind": obj["kind"]},
                "resource": {"group": group, "version": version, "resource": resource},
                "userInfo": {"username": "kubernetes-admin", "groups": ["system:masters"]}}),
            "params": celpy.json_to_cel(None),
            "namespaceObject": celpy.json_to_cel({"metadata": {
                "name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}}}),
        }
        for condition in self.spec.get("matchConditions") or []:
            try:
                matched = evaluate(condition["expression"], activation)
            except celpy.CELEvalError as exc:
                return [f"error: {exc}"]
            if isinstance(matched, celpy.CELEvalError):
                return [f"error: {matched}"]
            if not matched:
                return None
        variables: dict[str, Any] = {}
        activation["variables"] = celpy.celtypes.MapType({})
        found = []
        try:
            for var in self.spec.get("variables") or []:
                variables[var["name"]] = evaluate(var["expression"], activation)
                activation["variables"] = celpy.celtypes.MapType(
                    {celpy.celtypes.StringType(k): v for k, v in variables.items()})
        except celpy.CELEvalError as exc:
            return [f"error: {exc}"]
        for validation in self.spec["validations"]:
            try:
                result = evaluate(validation["expression"], activation)
            except celpy.CELEvalError as exc:
                found.append(f"error: {exc}")
                continue
            if isinstance(result, celpy.CELEvalError):
                found.append(f"error: {result}")
            elif not isinstance(result, celpy.celtypes.BoolType):
                found.append(f"error: {validation['expression']!r} is not a bool: {result!r}")
            elif not result:
                found.append(validation["message"])
        return found


def recorded_policies(result: mockrun.RunResult) -> dict[str, Policy]:
    """Policy name -> Policy, from a run's recorded resources: the Admission component's (tenancy.admission), not
    the policies other components install with their CRDs (the Gateway API's safe-upgrades)."""
    ours = [r for r in result.resources if r.parent_type == "ai-platform:admission:Admission"]
    actions = {r.inputs["spec"]["policyName"]: tuple(r.inputs["spec"]["validationActions"])
               for r in ours if r.type == BINDING}
    return {r.inputs["metadata"]["name"]: Policy(r.inputs["metadata"]["name"], r.inputs["spec"],
                                                  actions.get(r.inputs["metadata"]["name"], ()))
            for r in ours if r.type == VAP}


def denials(policies: Mapping[str, Policy], obj: Mapping[str, Any], *, namespace: str | None = None,
            operation: str = "CREATE", old: Mapping[str, Any] | None = None) -> dict[str, list[str]]:
    """Policy name -> failed messages, for every policy that judges `obj` and fails it."""
    ns = namespace or obj.get("metadata", {}).get("namespace") or "default"
    found = {}
    for name, policy in policies.items():
        failed = policy.failures(obj, namespace=ns, operation=operation, old=old)
        if failed:
            found[name] = failed
    return found
