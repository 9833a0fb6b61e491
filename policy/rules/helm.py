"""helm-chart-pinned: every Helm chart is an exact version from a pinned repository; helm-chart-locked: and
it is the one the chart lock (charts.lock.yaml, also read by the program and the renderer) names.

Applies to `kubernetes:helm.sh/v3:Release` and `kubernetes:helm.sh/v4:Chart`.

- `version` must be an exact SemVer version (1.2.3, v1.2.3, 1.2.3-rc.1). Absent, empty, `latest`,
  or a range/wildcard (^1.2, ~1.2.0, >=1, 1.2.x, *, 1.2) is a violation: the chart could change
  under an unchanged program.
- The chart must come from a pinned source: `repositoryOpts.repo` set to an https URL, or `chart`
  an `oci://` reference. An http repository is a violation. A chart with neither (a local path, or
  a `repo/name` alias resolved from someone's local Helm config) is a violation unless it matches
  an entry of the pack config `allowedLocalCharts` (exact path or fnmatch glob, compared with any
  leading `./` and trailing `/` removed). Allow-listed local charts are versioned by the
  repository they live in, so they are exempt from the version requirement; if they do set
  `version`, it must still be exact.
- Absent `chart` means the inputs are not visible, so there is nothing to judge: compliant. This is
  what `pulumi preview` shows for `helm.sh/v4:Chart`: it is a component the kubernetes provider
  registers without inputs (RegisterComponentResource passes no props), so the CLI can only check
  v3 Releases; a runner that records the program's own inputs (the offline plan) can check both. The objects a
  v4 Chart renders are ordinary resources and are checked by the other rules.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import get, strings

NAME = "helm-chart-pinned"
HELM_TYPES = ("kubernetes:helm.sh/v3:Release", "kubernetes:helm.sh/v4:Chart")

_EXACT_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$")


def is_exact_version(version: Any) -> bool:
    """An exact SemVer 2 version (Helm's chart version format); ranges and `latest` are not."""
    return isinstance(version, str) and bool(_EXACT_SEMVER.match(version.strip()))


def _normalise_path(path: str) -> str:
    path = path.strip()
    while path.startswith("./"):
        path = path[2:]
    return path.rstrip("/")


def is_allowed_local(chart: str, allowed: list[str]) -> bool:
    chart = _normalise_path(chart)
    return any(fnmatch.fnmatchcase(chart, _normalise_path(pattern)) for pattern in allowed)


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in HELM_TYPES:
        return
    props = args.props
    allowed = strings(get(args.get_config(), "allowedLocalCharts", default=[]))
    chart = get(props, "chart")
    version = get(props, "version")
    repo = get(props, "repositoryOpts", "repo")

    if chart is None:
        return
    if not isinstance(chart, str) or not chart.strip():
        report_violation(f"`chart` is {chart!r}: nothing identifies the chart to pin.")
        return

    local_allowed = False
    if chart.startswith("oci://"):
        pass
    elif isinstance(repo, str) and repo.strip():
        if not repo.strip().lower().startswith("https://"):
            report_violation(f"chart {chart!r}: repositoryOpts.repo {repo!r} is not an https URL.")
    elif "://" in chart:
        report_violation(f"chart {chart!r} is a URL; use an oci:// reference or repositoryOpts.repo "
                         "(https) with an exact version.")
    elif is_allowed_local(chart, allowed):
        local_allowed = True
    else:
        report_violation(f"chart {chart!r} has no pinned repository: set repositoryOpts.repo (https URL) or use "
                         "an oci:// reference; a local chart must be listed in the pack config allowedLocalCharts.")

    if version is None and local_allowed:
        return
    if not is_exact_version(version):
        shown = "not set" if version is None or version == "" else repr(version)
        report_violation(f"chart {chart!r}: version is {shown}; pin an exact version (e.g. 1.2.3), "
                         "not a range or `latest`.")


helm_chart_pinned = ResourceValidationPolicy(
    name=NAME,
    description="Helm charts use an exact version from a pinned (https or oci://) repository.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "allowedLocalCharts": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Local chart paths (exact or fnmatch globs) allowed without a repository.",
        },
    }),
)


# ------------------------------------------------------------------------------ helm-chart-locked

LOCKED_NAME = "helm-chart-locked"
LOCK_FILE = "charts.lock.yaml"
_REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository the pack lives in (policy/rules/helm.py -> policy/ -> the repository)."""


@lru_cache(maxsize=8)
def read_lock(path: str) -> dict[str, dict]:
    """{chart name: {version, repository, ...}} of a chart lock file (OSError/YAMLError/ValueError if unusable).

    PyYAML comes with the `pulumi` package, a requirement of the pack.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    charts = data.get("charts") if isinstance(data, dict) else None
    if not isinstance(charts, dict):
        raise ValueError("no `charts:` map")
    return {str(name): dict(entry or {}) for name, entry in charts.items()}


def lock_path(configured: Any) -> Path:
    """The lock the pack checks against: config `chartLock` (relative to the repository), else the repository's."""
    if isinstance(configured, str) and configured.strip():
        path = Path(configured.strip())
        return path if path.is_absolute() else _REPO_ROOT / path
    return _REPO_ROOT / LOCK_FILE


def chart_name(chart: str) -> str:
    """The chart's name: the last path segment of an oci:// reference, else the chart itself."""
    return chart.rstrip("/").rsplit("/", 1)[-1] if chart.startswith("oci://") else chart


def _validate_locked(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in HELM_TYPES:
        return
    props = args.props
    chart = get(props, "chart")
    if not isinstance(chart, str) or not chart.strip():
        return  # nothing to compare (helm-chart-pinned reports an empty chart)
    path = lock_path(get(args.get_config(), "chartLock", default=""))
    try:
        locked = read_lock(str(path))
    except (OSError, ValueError, yaml.YAMLError) as exc:
        report_violation(f"chart {chart!r}: the chart lock {path} cannot be read ({type(exc).__name__}: {exc}).")
        return
    name = chart_name(chart.strip())
    entry = locked.get(name)
    if entry is None:
        report_violation(f"chart {chart!r} is not in the chart lock {path.name}; add it there (version, repository, "
                         f"values source, archive digest). Locked: {', '.join(sorted(locked)) or 'none'}.")
        return
    version, repo = get(props, "version"), get(props, "repositoryOpts", "repo")
    if str(version) != str(entry.get("version")):
        report_violation(f"chart {chart!r}: version {version!r} is not the locked {entry.get('version')!r} "
                         f"({path.name}).")
    if not chart.startswith("oci://") and repo != entry.get("repository"):
        report_violation(f"chart {chart!r}: repository {repo!r} is not the locked {entry.get('repository')!r} "
                         f"({path.name}).")


helm_chart_locked = ResourceValidationPolicy(
    name=LOCKED_NAME,
    description="Helm charts are the chart lock's: chart, exact version and repository as in charts.lock.yaml.",
    validate=_validate_locked,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "chartLock": {
            "type": "string",
            "default": "",
            "description": "Path of the chart lock, relative to the repository (default: charts.lock.yaml).",
        },
    }),
)
