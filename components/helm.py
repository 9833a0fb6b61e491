"""Pinned Helm charts and the one way the platform installs them.

Third-party operators and stateful services install as `helm.v3.Release` (their hooks run, and the
policy pack sees the pinned chart, version and repository on the Release). Every chart is a
`ChartPin` read from the chart lock (`charts.lock.yaml` at the repository root, also read by the
renderer and the policy pack): the exact version, the https repository, where its values.yaml was
read and the digest of the pinned archive. Components look pins up by chart name (`pin("keda")`);
each component's tests check the values it passes against that file's keys (tests/chart_values.py).
"""

from __future__ import annotations

import hashlib
import os
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


# ------------------------------------------------------------------------------------------- CRD bundles


@dataclass(frozen=True)
class CrdBundlePin:
    """One CRD bundle of the lock's `crdBundles:`: CRDs a project publishes as a plain YAML release asset."""

    name: str
    version: str
    file: str
    """Its file name in the chart directories (resolved like a chart archive, tools.charts)."""
    url: str
    """The upstream release asset `python -m tools.charts pull` downloads."""
    source: str
    """Repository, path, tag and commit it is built from."""
    sha256: str
    """Digest of the team's file (../shared/charts/SHA256SUMS)."""
    groups: tuple[str, ...] = ()
    """The API groups its CRDs define (no other source may install CRDs of these groups)."""
    version_annotation: str = ""
    """The annotation each of its CRDs carries with `version` (upstream's `<group>/bundle-version`)."""


def read_bundles(path: Path = LOCK_FILE) -> dict[str, CrdBundlePin]:
    """Every CRD bundle of a lock file by name (ChartLockError when one lacks a field)."""
    data = yaml.safe_load(path.read_text()) or {}
    out = {}
    for name, entry in sorted((data.get("crdBundles") or {}).items()):
        entry = entry or {}
        missing = [k for k in ("version", "file", "url", "source", "sha256", "groups", "versionAnnotation")
                   if not entry.get(k)]
        if missing:
            raise ChartLockError(f"{path.name}: CRD bundle {name!r} lacks {', '.join(missing)}")
        if not str(entry["url"]).startswith("https://"):
            raise ChartLockError(f"{path.name}: CRD bundle {name!r}: url must be https, not {entry['url']!r}")
        out[name] = CrdBundlePin(name, str(entry["version"]), str(entry["file"]), str(entry["url"]),
                                 str(entry["source"]), str(entry["sha256"]), tuple(map(str, entry["groups"])),
                                 str(entry["versionAnnotation"]))
    return out


@cache
def bundles() -> dict[str, CrdBundlePin]:
    """The repository's CRD bundles (read once)."""
    return read_bundles(LOCK_FILE)


def bundle(name: str) -> CrdBundlePin:
    """The locked CRD bundle `name` (ChartLockError when the lock has none)."""
    try:
        return bundles()[name]
    except KeyError:
        raise ChartLockError(f"CRD bundle {name!r} is not in {LOCK_FILE.name} (crdBundles:); "
                             f"locked: {', '.join(bundles())}") from None


# Where bundle files are: the chart directories of policy/rules/helmrender.py (`chart_dirs`), in the same order.
# The program cannot import the pack's package (pulumi-policy is not a program requirement) and the pack cannot
# import the program, so the few lines are here too; tests/inference/test_crds.py holds the two together.
CHARTS_ENV = "AI_PLATFORM_CHARTS"
CHECKOUT_ENV = "AI_PLATFORM_CHECKOUT"
"""The checkout whose `.cache/charts/` and `../shared/charts/` are searched (default: this program's): `tools.plan
--diff` plans another ref from a temporary worktree and points it at the working checkout's caches."""
PULL_RECORD = "pulled.lock.yaml"


def _checkout() -> Path:
    return Path(os.environ[CHECKOUT_ENV]) if os.environ.get(CHECKOUT_ENV) else LOCK_FILE.parent


def bundle_dirs() -> list[Path]:
    """`AI_PLATFORM_CHARTS` alone when set, else the checkout's `.cache/charts/` and `../shared/charts/` that exist."""
    if os.environ.get(CHARTS_ENV):
        return [Path(os.environ[CHARTS_ENV]).expanduser().resolve()]
    root = _checkout()
    return [d for d in (root / ".cache" / "charts", root.parent / "shared" / "charts") if d.is_dir()]


def describe_bundle_dirs() -> str:
    """Where bundles were looked for, for one-line messages."""
    if os.environ.get(CHARTS_ENV):
        return f"{CHARTS_ENV}={os.environ[CHARTS_ENV]}"
    root = _checkout()
    return f"{CHARTS_ENV} unset, {root / '.cache' / 'charts'} and {root.parent / 'shared' / 'charts'}"


def read_bundle_record(directory: Path) -> dict[str, dict[str, Any]]:
    """What `python -m tools.charts pull` recorded for bundles in a directory: {name: {version, url, sha256}}."""
    path = directory / PULL_RECORD
    if not path.exists():
        return {}
    recorded: dict[str, dict[str, Any]] = (yaml.safe_load(path.read_text()) or {}).get("crdBundles") or {}
    return recorded


_digests: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file (memoised by path, size and modification time)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _digests:
        _digests[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return _digests[key]


def check_bundle(pin: CrdBundlePin, path: Path) -> list[str]:
    """Problems of a bundle file against its pin (empty: usable): its digest must be the lock's, or the one `pull`
    recorded beside it for this version."""
    digest = file_sha256(path)
    recorded = read_bundle_record(path.parent).get(pin.name) or {}
    if digest == pin.sha256 or (recorded.get("sha256") == digest and str(recorded.get("version")) == pin.version):
        return []
    return [f"{path}: sha256 {digest} is neither the lock's ({pin.sha256}) nor one recorded by "
            "`python -m tools.charts pull`"]


@dataclass(frozen=True)
class ResolvedBundle:
    """Where a locked CRD bundle is read from."""

    pin: CrdBundlePin
    path: Path | None
    """The file (None when none was found or it failed its check)."""
    sha256: str = ""
    problem: str = ""
    """Why there is no usable file."""


def resolve_bundle(pin: CrdBundlePin, dirs: list[Path] | None = None) -> ResolvedBundle:
    """The file of a locked CRD bundle in the chart directories (the first holding it), digest-checked."""
    dirs = bundle_dirs() if dirs is None else list(dirs)
    for directory in dirs:
        path = directory / pin.file
        if path.is_file():
            problems = check_bundle(pin, path)
            if problems:
                return ResolvedBundle(pin, None, "", "; ".join(problems))
            return ResolvedBundle(pin, path, file_sha256(path))
    return ResolvedBundle(pin, None, "", f"no {pin.file} in {', '.join(map(str, dirs)) or 'any chart directory'}")
