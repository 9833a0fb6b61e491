"""What the cluster builders share: where their children go, and narrowing config the validation guarantees."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, TypeVar

import pulumi

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


def required(value: Optional[T], key: str, *parts: PathPart) -> T:
    """`value`, which stack validation (config.models, config.semantics) guarantees is set.

    Raises ValueError naming the key path only when a caller builds a component from a config that
    skipped validation; it narrows the type, it does not re-check the rules.
    """
    if value is None:
        raise ValueError(f"{key_path(key, *parts)} is required here; validate the stack config "
                         "(config.validate) before building the cluster")
    return value
