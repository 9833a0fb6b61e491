"""crd-bundle-locked: the CRDs of the chart lock's CRD bundles come only from those bundles, at the locked version.

The program installs the inference gateway's CRDs (Gateway API, InferencePool, InferenceObjective) from pinned,
digest-checked release assets (charts.lock.yaml `crdBundles:`, components/inference/crds.py). A second installer of
the same CRDs, a chart that ships its own Gateway API CRDs or a hand-written CRD in the program, would fight over
them: whichever applies last decides the schema every Gateway, HTTPRoute and InferencePool is stored with, and an
older one can drop fields the routes use. So every CustomResourceDefinition whose `spec.group` is one of a locked
bundle's `groups`:

- must come from the program, not from a chart's render (a chart installing them: skip its CRDs there);
- must carry the bundle's `versionAnnotation` (upstream's `<group>/bundle-version`) with the locked `version`.

The program refuses, before registering anything, a bundle file whose digest is not the lock's (or the one
`python -m tools.charts pull` recorded) and whose CRDs are not of these groups at this version; this rule holds the
rest of the stack to the same lock. Config `chartLock` as in helm-chart-locked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import PolicyConfigSchema

from .helm import lock_path
from .helpers import get
from .objects import KubeObject, object_policy

NAME = "crd-bundle-locked"


@lru_cache(maxsize=8)
def read_bundles(path: str) -> dict[str, dict[str, Any]]:
    """{bundle name: entry} of a lock file's `crdBundles:` (empty when it has none; OSError/YAMLError if unreadable)."""
    data = yaml.safe_load(Path(path).read_text()) or {}
    found = data.get("crdBundles") if isinstance(data, dict) else None
    return {str(k): dict(v or {}) for k, v in (found or {}).items()} if isinstance(found, dict) else {}


def bundle_of(group: str, bundles: Mapping[str, Mapping[str, Any]]) -> tuple[str, Mapping[str, Any]] | None:
    """The locked bundle that defines `group` (None: no bundle does)."""
    for name, entry in sorted(bundles.items()):
        if group in (entry.get("groups") or []):
            return name, entry
    return None


def check(obj: KubeObject, config: Any) -> Iterable[str]:
    if obj.kind != "CustomResourceDefinition" or not obj.api_version.startswith("apiextensions.k8s.io/"):
        return []
    group = get(obj.body, "spec", "group")
    if not isinstance(group, str):
        return []
    path = lock_path(get(config, "chartLock", default=""))
    try:
        bundles = read_bundles(str(path))
    except (OSError, yaml.YAMLError) as exc:
        return [f"the chart lock {path} cannot be read ({type(exc).__name__}: {exc})"]
    found = bundle_of(group, bundles)
    if found is None:
        return []
    name, entry = found
    where = f"the locked CRD bundle {name!r} ({path.name} crdBundles:)"
    if obj.source.startswith("chart:"):
        return [f"the {group} CRDs are installed by the program from {where}; a chart installing them too would "
                f"replace their schema: leave its CRDs out (its values, or skipCrds)"]
    annotation = str(entry.get("versionAnnotation") or "")
    version = get(obj.body, "metadata", "annotations", annotation) if annotation else None
    if version != entry.get("version"):
        return [f"{annotation or 'its bundle-version annotation'} is {version!r}, not the version "
                f"{entry.get('version')!r} of {where}: install the {group} CRDs from that bundle only "
                "(components/inference/crds.py)"]
    return []


crd_bundle_locked = object_policy(
    NAME,
    "CRDs of the chart lock's CRD bundles (Gateway API, InferencePool, InferenceObjective) come only from the "
    "program's locked bundles, at the locked version.",
    check,
    config_schema=PolicyConfigSchema(properties={
        "chartLock": {
            "type": "string",
            "default": "",
            "description": "Path of the chart lock, relative to the repository (default: charts.lock.yaml).",
        },
    }),
)
