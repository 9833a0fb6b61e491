"""What a shipped stack creates, as objects: the program's own and every chart's (first install), with
the small selector logic the rendered-object tests share (labels, tolerations, namespaces)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from tests.conftest import run_stack
from tools.plan import k8s_object

from .conftest import rendered


class Obj(dict):
    """A manifest that knows where it came from ("program" or the Helm release name)."""

    source: str = "program"

    @property
    def kind(self) -> str:
        return self["kind"]

    @property
    def name(self) -> str:
        return self["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self["metadata"].get("namespace")

    @property
    def labels(self) -> dict:
        return self["metadata"].get("labels") or {}

    def __repr__(self) -> str:
        return f"{self.kind} {self.namespace or ''}/{self.name} ({self.source})"


def _obj(manifest: Mapping, source: str) -> Obj:
    out = Obj(manifest)
    out.source = source
    return out


def program_objects(stack: str) -> list[Obj]:
    return [_obj(o, "program") for o in (k8s_object(r) for r in run_stack(stack).resources) if o is not None]


@cache
def _all(stack: str) -> tuple[Obj, ...]:
    charts = [_obj(o.manifest, rel.release) for rel in rendered(stack).releases for o in rel.objects if o.on_install]
    return tuple(program_objects(stack) + charts)


def all_objects(stack: str) -> tuple[Obj, ...]:
    """The program's objects and every chart object a first install creates (read-only by convention)."""
    rendered(stack)  # skips (or fails in CI) without charts
    return _all(stack)


def of_kind(stack: str, kind: str, source: str | None = None) -> list[Obj]:
    return [o for o in all_objects(stack) if o.kind == kind and (source is None or o.source == source)]


def one(stack: str, kind: str, name: str, source: str | None = None) -> Obj:
    found = [o for o in of_kind(stack, kind, source) if o.name == name]
    assert len(found) == 1, f"{len(found)} {kind} named {name} in {stack}: {found}"
    return found[0]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against labels; None selects nothing, {} everything."""
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def tolerates(tolerations: list[Mapping[str, Any]], taint: Mapping[str, str]) -> bool:
    """Kubernetes' matching: key (or empty key with Exists), effect (or empty), value unless Exists."""
    for t in tolerations or []:
        op = t.get("operator", "Equal")
        key_ok = t.get("key") == taint["key"] or (not t.get("key") and op == "Exists")
        effect_ok = not t.get("effect") or t["effect"] == taint["effect"]
        value_ok = op == "Exists" or t.get("value", "") == taint.get("value", "")
        if key_ok and effect_ok and value_ok:
            return True
    return False


WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet")


def workloads(stack: str) -> Iterator[Obj]:
    for o in all_objects(stack):
        if o.kind in WORKLOADS:
            yield o


def pod_labels(workload: Obj) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def containers(pod_spec: Mapping) -> list[Mapping]:
    return [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
