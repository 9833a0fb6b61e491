"""Helpers for RAG tests: shipped stacks with a changed `rag` group, and typed lookups in a run."""

from __future__ import annotations

import copy
from functools import cache

from tests.conftest import run_config, stack_values

RELEASE = "kubernetes:helm.sh/v3:Release"


def with_rag(stack: str, **changes) -> dict:
    """A shipped stack's values with keys of `ai-platform:rag` replaced (None removes a key)."""
    values = copy.deepcopy(stack_values(stack))
    rag = values.setdefault("rag", {})
    for key, value in changes.items():
        if value is None:
            rag.pop(key, None)
        else:
            rag[key] = value
    return values


@cache
def ingress_run(stack: str):
    """A shipped stack with the AI gateway exposed through the (deprecated) Ingress instead of the inference gateway's
    public Gateway (`rag.gateway.expose: ingress`), run once per session."""
    values = with_rag(stack)
    values["rag"]["gateway"]["expose"] = "ingress"
    result = run_config(values)
    assert result.error is None, result.error
    return result


def release(result, chart: str):
    found = [r for r in result.of_type(RELEASE) if r.inputs["chart"] == chart]
    assert len(found) == 1, f"expected one {chart} Release, found {len(found)}"
    return found[0]


def k8s(result, kind: str, name: str, namespace: str | None = None):
    """The recorded Kubernetes object of a kind (type suffix, e.g. 'Deployment') and metadata.name."""
    found = [r for r in result.resources if r.custom and r.type.endswith(f":{kind}")
             and r.inputs.get("metadata", {}).get("name") == name
             and (namespace is None or r.inputs["metadata"].get("namespace") == namespace)]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]
