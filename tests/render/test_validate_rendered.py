"""Every object `pulumi up` creates validates strictly: the program's and every chart's, against the
Kubernetes schemas of the stack's version and the CRD schemas the platform itself installs (taken from the
rendered CRDs, not from the archives)."""

from __future__ import annotations

import copy

import pytest

from tests.conftest import run_stack
from tools import validate

from .conftest import rendered
from .test_render import SHIPPED


def chart_objects(stack: str) -> list[tuple[str, dict]]:
    """(Pulumi Release name, manifest) of every object a first install creates (upgrade/delete hooks are not)."""
    return [(rel.name, obj.manifest) for rel in rendered(stack).releases for obj in rel.objects if obj.on_install]


@pytest.mark.parametrize("stack", SHIPPED)
def test_program_and_chart_objects_validate_strictly(stack):
    extra = chart_objects(stack)
    report = validate.validate_stack(run_stack(stack), None, extra=extra, read_archives=False)
    assert report.problems == [], "\n".join(map(str, report.problems))
    assert report.objects > len(extra) > 0 and report.crds >= 10 and report.custom > 0


def test_a_misspelt_field_in_a_chart_object_is_caught():
    extra = chart_objects("local")
    monitor = copy.deepcopy(next(o for _, o in extra if o["kind"] == "ServiceMonitor"))
    monitor["spec"]["endpointz"] = []
    report = validate.validate_stack(run_stack("local"), None, extra=[*extra, ("some-release", monitor)],
                                     read_archives=False)
    assert [p.source for p in report.problems] == ["some-release"]
    assert "endpointz" in str(report.problems[0]) and "would prune it" in str(report.problems[0])
