"""The published capacity plan has exactly the shape `config/plan_shape.py` declares, and the pack reads only
declared keys (`policy/rules/plan_keys.py`), so renaming a plan field cannot silently change what the gate reads."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import pytest

from config import validate
from config.plan_shape import declared_type, problems
from policy.rules import plan_keys
from policy.rules.budget import CAPACITY_CONFIGMAP, PLAN_KEY
from tests.conftest import STACKS, run_stack, stack_values
from tools.plan import capacity_lines

RULES = Path(plan_keys.__file__).parent


def published_plan(stack: str) -> dict:
    """plan.json of the stack's capacity ConfigMap, as the pack receives it."""
    [cm] = [r for r in run_stack(stack).of_type("kubernetes:core/v1:ConfigMap")
            if r.inputs["metadata"]["name"] == CAPACITY_CONFIGMAP]
    return json.loads(cm.inputs["data"][PLAN_KEY])


@pytest.mark.parametrize("stack", STACKS)
def test_every_shipped_stack_publishes_exactly_the_declared_shape(stack):
    _, capacity = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    output = json.loads(json.dumps(capacity.to_output()))
    assert problems(output) == []
    assert published_plan(stack) == output
    assert problems(run_stack(stack).outputs["capacity"]) == []


def test_undeclared_missing_and_mistyped_keys_are_named():
    plan = copy.deepcopy(published_plan("prod"))
    name = next(iter(plan["models"]))
    plan["models"][name]["fallbackPoolName"] = plan["models"][name].pop("fallbackPool")
    plan["totals"]["monthlyUsdMax"] = "a lot"
    found = problems(plan)
    assert f"plan.models.{name}.fallbackPool: missing" in found
    assert f"plan.models.{name}.fallbackPoolName: not declared in ModelEntry" in found
    assert any(p.startswith("plan.totals.monthlyUsdMax: expected float") for p in found)
    assert len(found) == 3


@pytest.mark.parametrize("path", sorted(plan_keys.READS), ids=".".join)
def test_every_key_the_pack_reads_is_declared_with_the_type_it_expects(path):
    assert declared_type(path) == plan_keys.READS[path]


def test_an_undeclared_path_is_refused():
    with pytest.raises(KeyError):
        declared_type(("models", "*", "fallbackPoolName"))


def _plan_reads_by_literal(module: Path) -> list[str]:
    """`get(plan|model|pools[...], "<literal>")` calls: plan keys read without a plan_keys name."""
    found = []
    for node in ast.walk(ast.parse(module.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get" and node.args
                and ast.unparse(node.args[0]).split("[")[0] in ("plan", "model", "models", "pools")):
            found += [f"{module.name}:{node.lineno} {ast.unparse(node)}" for a in node.args[1:]
                      if isinstance(a, ast.Constant)]
    return found


@pytest.mark.parametrize("module", ["critical.py", "cost.py"])
def test_the_pack_reads_the_plan_through_plan_keys_only(module):
    assert _plan_reads_by_literal(RULES / module) == []


class _Reads(dict):
    """A dict that records the keys read from it."""

    def __init__(self, data, seen: set, path: tuple):
        super().__init__({k: _wrap(v, seen, (*path, k)) for k, v in data.items()})
        self._seen, self._path = seen, path

    def __getitem__(self, key):
        self._seen.add((*self._path, key))
        return super().__getitem__(key)

    def get(self, key, default=None):
        self._seen.add((*self._path, key))
        return super().get(key, default)


def _wrap(value, seen, path):
    return _Reads(value, seen, path) if isinstance(value, dict) else value


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_report_reads_only_declared_keys(stack):
    plan = published_plan(stack)
    seen: set = set()
    capacity_lines(_wrap(plan, seen, ()), {})
    assert seen
    for path in seen:
        general = tuple("*" if i == 1 and path[0] in ("models", "pools") else k for i, k in enumerate(path))
        declared_type(general)
