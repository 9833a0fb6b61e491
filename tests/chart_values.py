"""Shared check that every value the program passes to a Helm chart exists in that chart's values.yaml.

Most charts ship no values.schema.json, so Helm accepts a misspelt key silently. Each chart's test
module records, from the values.yaml at the pinned tag, every key path the program sets with its
upstream default (an allow-list; never a copy of the file), and runs the program's values through
`check_values` for every config variant it can produce.

- FREE marks a free-form subtree the chart renders with toYaml (a Kubernetes object such as
  resources or a securityContext, a label map, an application config file): the key itself must
  exist upstream, its content is not the chart's schema.
- COMMENTED marks a key the chart documents only as a commented-out example but reads in its templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

FREE = object()
COMMENTED = object()


def leaf_paths(values: Mapping, free_paths: Iterable[str] = (), free_keys: Iterable[str] = (),
               prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf; free paths/keys and empty maps are leaves."""
    free_paths, free_keys = frozenset(free_paths), frozenset(free_keys)
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value and path not in free_paths and key not in free_keys:
            yield from leaf_paths(value, free_paths, free_keys, path + ".")
        else:
            yield path, value


def check_pin(pin: Any, version: str) -> None:
    """The pinned chart is the version whose values.yaml the allow-list was read from, from an https repo."""
    assert pin.version == version, f"{pin.chart} is pinned at {pin.version}; its allow-list was read at {version}"
    assert pin.repo.startswith("https://") and pin.version in pin.source


def check_every_variant(chart: str, version: str, variants: Iterable[Mapping], allowed: Mapping[str, Any],
                        **free: Iterable[str]) -> None:
    """check_values over every variant, and every allow-list entry is used by some variant (none stale)."""
    seen: set[str] = set()
    for values in variants:
        seen |= check_values(chart, version, values, allowed, **free)
    assert seen == set(allowed), f"allow-list entries no variant uses: {sorted(set(allowed) - seen)}"


def check_values(chart: str, version: str, values: Mapping, allowed: Mapping[str, Any], *,
                 free_paths: Iterable[str] = (), free_keys: Iterable[str] = (),
                 undeclared: Iterable[str] = ()) -> set[str]:
    """Assert every leaf of `values` is in `allowed` with the upstream type; return the paths seen."""
    undeclared = frozenset(undeclared)
    seen = set()
    for path, value in leaf_paths(values, free_paths, free_keys):
        assert path not in undeclared, f"{chart}: {path} is read by a template but not declared in values.yaml"
        assert path in allowed, f"{path} is not a key of {chart} {version} values.yaml"
        upstream = allowed[path]
        if upstream is not FREE and upstream is not COMMENTED and upstream is not None and value is not None:
            assert type(value) is type(upstream), f"{chart} {path}: {type(value).__name__} vs upstream {upstream!r}"
        seen.add(path)
    return seen
