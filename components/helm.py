"""Pinned Helm charts and the one way the platform installs them.

Third-party operators and stateful services install as `helm.v3.Release` (their hooks run, and the
policy pack sees the pinned chart, version and repository on the Release). Every chart is a
`ChartPin` read from the chart lock (`charts.lock.yaml` at the repository root, also read by the
renderer and the policy pack): the exact version, the https repository, where its values.yaml was
read and the digest of the pinned archive. Components look pins up by chart name (`pin("keda")`);
each component's tests check the values it passes against that file's keys (tests/chart_values.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

LOCK_FILE = Path(__file__).resolve().parent.parent / "charts.lock.yaml"


@dataclass(frozen=True)
class ChartPin:
    """One Helm chart: name, exact version, https repository."""

    chart: str
    version: str
    repo: str
    source: str = ""
    """Where its values.yaml was read (repository, path, tag)."""
    app_version: str = ""
    """The application version the chart deploys by default."""
    sha256: str = ""
    """Digest of the pinned archive `<chart>-<version>.tgz` (empty for a subchart: it is inside its parent's)."""
    subcharts: tuple[ChartPin, ...] = field(default=(), compare=False)
    """Charts bundled inside this one (their values nest under their names)."""

    @property
    def oci(self) -> bool:
        """Whether the chart is published to an OCI registry (`repository: oci://...`): Helm installs it as
        `<repository>/<chart>` (its `--repo` takes only https chart repositories)."""
        return self.repo.startswith("oci://")

    @property
    def reference(self) -> str:
        """What `helm install`/`helm pull` is given: the chart name (with `--repo`), or its OCI reference."""
        return f"{self.repo.rstrip('/')}/{self.chart}" if self.oci else self.chart

    @property
    def archive(self) -> str:
        """The archive's file name, as `helm pull` writes it."""
        return f"{self.chart}-{self.version}.tgz"

    def subchart(self, name: str) -> ChartPin:
        """The pin of a bundled subchart (KeyError naming the lock when there is none)."""
        for sub in self.subcharts:
            if sub.chart == name:
                return sub
        raise KeyError(f"{self.chart} bundles no subchart {name!r} in {LOCK_FILE.name}")


class ChartLockError(ValueError):
    """The chart lock is missing an entry or a required field."""


def _pin(name: str, entry: Mapping[str, Any]) -> ChartPin:
    missing = [k for k in ("version", "repository", "source") if not entry.get(k)]
    if missing:
        raise ChartLockError(f"{LOCK_FILE.name}: chart {name!r} lacks {', '.join(missing)}")
    subs = tuple(_pin(sub, e) for sub, e in sorted((entry.get("subcharts") or {}).items()))
    return ChartPin(name, str(entry["version"]), str(entry["repository"]), str(entry["source"]),
                    str(entry.get("appVersion") or ""), str(entry.get("sha256") or ""), subs)


def read_lock(path: Path = LOCK_FILE) -> dict[str, ChartPin]:
    """Every chart of a lock file by name."""
    data = yaml.safe_load(path.read_text()) or {}
    return {name: _pin(name, entry or {}) for name, entry in sorted((data.get("charts") or {}).items())}


@cache
def lock() -> dict[str, ChartPin]:
    """The repository's chart lock (read once)."""
    return read_lock(LOCK_FILE)


def pin(name: str) -> ChartPin:
    """The locked pin of chart `name` (ChartLockError when the lock has no such chart)."""
    try:
        return lock()[name]
    except KeyError:
        raise ChartLockError(f"chart {name!r} is not in {LOCK_FILE.name}; locked: {', '.join(lock())}") from None


def release(name: str, pin: ChartPin, release_name: str, namespace: pulumi.Input[str], values: Mapping[str, Any],
            opts: pulumi.ResourceOptions, *, stateful: bool = False, skip_crds: bool = False,
            timeout: int = 600) -> k8s.helm.v3.Release:
    """A Release of `pin` named `release_name` (fixed, so the names the chart derives from it are stable).

    Stateless operators are atomic: a failed upgrade rolls back rather than leave half the
    webhooks or daemonsets updated. Stateful charts are not: a failed first install must not
    uninstall (and orphan) its volumes; a failed upgrade stays for inspection and is rolled
    forward by the next `pulumi up`.
    """
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        chart=pin.reference,
        version=pin.version,
        repository_opts=None if pin.oci else k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
        namespace=namespace,
        values=dict(values),
        skip_crds=skip_crds,
        atomic=not stateful,
        cleanup_on_fail=not stateful,
        timeout=timeout,
        max_history=10,
        opts=opts,
    )
