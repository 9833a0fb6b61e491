"""One error type for every bad stack configuration.

`ConfigError` subclasses `pulumi.RunError` so that under the real CLI the program exits with the
message alone (no Python traceback, no source dump); the offline plan tool catches it and exits 2.
All problems found in one pass are reported together, each with its full key path.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pulumi

PROJECT = "ai-platform"

PathPart = str | int


def key_path(key: str, *parts: PathPart) -> str:
    """`ai-platform:nodePools.gpu[1].sharing` from ("nodePools", "gpu", 1, "sharing")."""
    out = f"{PROJECT}:{key}"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@dataclass(frozen=True)
class Issue:
    """One problem: where (full key path) and what is wrong / what is allowed."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(pulumi.RunError):
    """Invalid stack configuration; raised before any resource is registered."""

    def __init__(self, stack_file: str, issues: Sequence[Issue]):
        self.stack_file = stack_file
        self.issues = tuple(issues)
        lines = [f"invalid stack configuration in {stack_file} ({len(self.issues)} problem(s)):"]
        lines += [f"  - {issue}" for issue in self.issues]
        super().__init__("\n".join(lines))


def raise_if(stack_file: str, issues: Iterable[Issue]) -> None:
    found = list(issues)
    if found:
        raise ConfigError(stack_file, found)


class Unvalidated(RuntimeError):
    """A plan step or component lacks something validation or wiring guarantees it: a bug, not a user error.

    Raised instead of `assert` (which `python -O` removes) where code relies on a guarantee of
    `config.semantics`, `config.loader` or the component that creates a dependency; the message names the
    config key path the guarantee is about and who gives it.
    """

    def __init__(self, path: str, needed: str, guaranteed_by: str = "config validation"):
        self.path = path
        super().__init__(f"{path}: {needed} is missing although {guaranteed_by} guarantees it "
                         "(a bug in ai-platform, not in the stack file)")


T = TypeVar("T")


def required(value: T | None, path: str, needed: str, guaranteed_by: str = "config validation") -> T:
    """`value`, which `guaranteed_by` guarantees is set when the config at `path` asks for it; else `Unvalidated`."""
    if value is None:
        raise Unvalidated(path, needed, guaranteed_by)
    return value
