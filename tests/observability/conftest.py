"""Helpers for the observability tests: stack configs and their observability variants."""

from __future__ import annotations

import itertools

from config import validate
from tests.conftest import stack_values

STACKS = ("dev", "prod", "local")
TRACING = ("tempo", "jaeger", "none")
LOGS = ("loki", "none")


def config(stack: str, **observability):
    """The typed config of a shipped stack, with observability keys overridden (camelCase)."""
    values = stack_values(stack)
    values.setdefault("observability", {}).update(observability)
    if observability:  # variants (local with Loki and Tempo on) outgrow the shipped stack's observability quota
        values["tenancy"]["namespaces"].get(values["observability"].get("namespace", "observability"), {}).pop(
            "memoryQuota", None)
    cfg, plan = validate(values, f"Pulumi.{stack}.yaml")
    return cfg, plan


def variants():
    """Every shipped stack with every tracing x logs choice, dashboards on and off, and each alert receiver."""
    for stack, tracing, logs, dashboards in itertools.product(STACKS, TRACING, LOGS, (True, False)):
        yield (stack, tracing, logs, dashboards), config(stack, tracing=tracing, logs=logs, dashboards=dashboards)
    for receiver in ("slack", "pagerduty", "webhook"):
        yield ("prod", receiver), config("prod", alerting={"receiver": receiver})
    yield ("prod", "ha"), config("prod", metrics={**stack_values("prod")["observability"]["metrics"], "replicas": 2})
