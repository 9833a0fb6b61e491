"""Typed configs of the shipped stacks for mesh tests (validated once per session)."""

from __future__ import annotations

from functools import cache

from config import StackConfig, validate
from tests.conftest import stack_values


@cache
def stack_cfg(stack: str) -> StackConfig:
    cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    return cfg
