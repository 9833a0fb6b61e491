"""Shared harness: run the real program under Pulumi mocks for a stack file or a config dict."""

from __future__ import annotations

import copy
import gc
from collections import Counter
from functools import cache

import pytest

from tools import mockrun

STACKS = mockrun.available_stacks()


def pytest_configure(config) -> None:
    """Collect garbage less often (in every xdist worker too, which runs this hook).

    A worker keeps its session-scoped stack runs, chart renders and the cloud SDKs' modules alive: hundreds of
    thousands of long-lived objects that every full collection walks again, while a mock run or a pack evaluation
    allocates millions of short-lived ones. With CPython's default thresholds (700, 10, 10) those walks were a fifth
    of the suite's CPU time; a larger first generation collects the cycles a run leaves (asyncio futures) a little
    later for a few hundred MB more memory per worker.
    """
    gc.set_threshold(100_000, 50, 100)


def assert_unique_urns(result: mockrun.RunResult) -> None:
    """Mocks do not reject duplicate resource names; the engine would."""
    dupes = [u for u, n in Counter(r.urn for r in result.resources).items() if n > 1]
    assert not dupes, f"duplicate URNs: {dupes}"


@cache
def _run_stack(stack: str) -> mockrun.RunResult:
    return mockrun.run_program(stack)


def run_stack(stack: str) -> mockrun.RunResult:
    """Run a shipped stack once per session (results are read-only by convention)."""
    result = _run_stack(stack)
    assert result.error is None, f"stack {stack} failed: {result.error}"
    assert_unique_urns(result)
    return result


def run_config(values: dict, stack: str = "test", secrets: list | None = None) -> mockrun.RunResult:
    """Run the program with an explicit config (keys without the `ai-platform:` prefix)."""
    result = mockrun.run_program(stack, values, secrets or [])
    if result.error is None:
        assert_unique_urns(result)
    return result


def stack_values(stack: str) -> dict:
    """A deep copy of a shipped stack's config values, to mutate in tests."""
    values, _ = mockrun.stack_config(stack)
    return copy.deepcopy(values)


@pytest.fixture(params=STACKS)
def stack_name(request) -> str:
    return request.param
