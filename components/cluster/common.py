"""What the cluster builders share: where their children go, and narrowing config the validation guarantees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi

from config import errors
from config.errors import PathPart, key_path

T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """Where a cluster component's children go: their name prefix and their parent (the component)."""

    name: str
    """Prefix of every child's resource name (`f"{name}-<role>"`)."""
    parent: pulumi.Resource
    """The cluster component; the parent of every child."""

    def opts(self, **options: Any) -> pulumi.ResourceOptions:
        """Options of a child: `parent` plus `options` (depends_on, protect, ...)."""
        return pulumi.ResourceOptions(parent=self.parent, **options)


def required(value: T | None, key: str, *parts: PathPart) -> T:
    """`value`, which stack validation (config.models, config.semantics) guarantees is set.

    Narrows the type; raises `config.errors.Unvalidated` naming the key path only when a caller
    builds a cluster from a config that skipped validation (it does not re-check the rules).
    """
    return errors.required(value, key_path(key, *parts), "the value", "stack validation (config.validate)")
