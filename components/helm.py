"""Pinned Helm charts and the one way the platform installs them.

Third-party operators and stateful services install as `helm.v3.Release` (their hooks run, and the
policy pack sees the pinned chart, version and repository on the Release). Every chart is a
`ChartPin` naming the exact version, the https repository and where its values.yaml was read;
each component's tests check the values it passes against that file's keys (tests/chart_values.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import pulumi
import pulumi_kubernetes as k8s


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
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
        namespace=namespace,
        values=dict(values),
        skip_crds=skip_crds,
        atomic=not stateful,
        cleanup_on_fail=not stateful,
        timeout=timeout,
        max_history=10,
        opts=opts,
    )
