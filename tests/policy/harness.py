"""Call the real policies the way the analyzer does, and collect what they report.

`run_resource` / `run_stack` take a policy *name* (resolved through POLICIES_BY_NAME, which is how
test_pack checks that every policy is exercised) and plain props. Each call validates twice:
once with the props as given, once in the form the engine delivers them (a protobuf Struct round
trip, so every number is a float, then pulumi_policy's unknown-checking Mapping/Sequence
proxies). Both must report the same violations, which are returned.
"""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from policy.rules import POLICIES_BY_NAME

STACK = "test"


def urn(resource_type: str, name: str, stack: str = STACK) -> str:
    return f"urn:pulumi:{stack}::ai-platform::{resource_type}::{name}"


def options(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _struct_round_trip(value: dict) -> dict:
    struct = struct_pb2.Struct()
    struct.update(value)
    return json_format.MessageToDict(struct)


def engine_form(props: dict) -> Any:
    """Props as the analyzer hands them to a policy (floats, read-only proxies)."""
    return unknown_checking_proxy(deserialize_properties(_struct_round_trip(props)))


def engine_config(config: dict | None) -> dict:
    """Pack config as the analyzer hands it to a policy (a plain dict, numbers as floats)."""
    return _struct_round_trip(config or {})


@dataclass
class Violation:
    message: str
    urn: str | None


class Collector:
    """A report_violation callback that records every call."""

    def __init__(self) -> None:
        self.violations: list[Violation] = []

    def __call__(self, message: str, urn: str | None = None) -> None:
        assert isinstance(message, str) and message, "a violation needs a message"
        self.violations.append(Violation(message, urn))


def _finish(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(result)


def _resource_once(policy, resource_type: str, props: Any, config: dict | None, name: str,
                   stack: str, protect: bool) -> list[Violation]:
    collector = Collector()
    args = ResourceValidationArgs(resource_type, props, urn(resource_type, name, stack), name, options(protect),
                                  None, config)
    _finish(policy.validate(args, collector))
    return collector.violations


def run_resource(policy_name: str, resource_type: str, props: dict, config: dict | None = None,
                 name: str = "res", stack: str = STACK, protect: bool = False) -> list[str]:
    """Violation messages of a resource policy for one resource (in `stack`, with Pulumi `protect`)."""
    policy = POLICIES_BY_NAME[policy_name]
    assert isinstance(policy, ResourceValidationPolicy)
    plain = _resource_once(policy, resource_type, props, config, name, stack, protect)
    engine = _resource_once(policy, resource_type, engine_form(props), engine_config(config), name, stack, protect)
    assert [v.message for v in plain] == [v.message for v in engine], "engine-form props changed the verdict"
    return [v.message for v in plain]


@dataclass
class Res:
    """A resource of the stack for run_stack."""

    type: str
    name: str
    props: dict

    @property
    def urn(self) -> str:
        return urn(self.type, self.name)


def _stack_once(policy, resources: list[Res], config: Any, engine: bool) -> list[Violation]:
    collector = Collector()
    stack = [PolicyResource(r.type, engine_form(r.props) if engine else r.props, r.urn, r.name, options(),
                            None, None, [], {}) for r in resources]
    _finish(policy.validate(StackValidationArgs(stack, config), collector))
    return collector.violations


def run_stack(policy_name: str, resources: list[Res], config: dict | None = None) -> list[Violation]:
    """Violations (message, urn) of a stack policy over the given resources."""
    policy = POLICIES_BY_NAME[policy_name]
    assert isinstance(policy, StackValidationPolicy)
    plain = _stack_once(policy, resources, config, engine=False)
    engine = _stack_once(policy, resources, engine_config(config), engine=True)
    assert [(v.message, v.urn) for v in plain] == [(v.message, v.urn) for v in engine], \
        "engine-form props changed the verdict"
    return plain
