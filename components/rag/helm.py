"""One way to install a pinned chart as a `helm.v3.Release` (hooks run; policies see the Release)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from .charts import ChartPin


def release(name: str, release_name: str, pin: ChartPin, namespace: pulumi.Input[str], values: dict[str, Any],
            parent: pulumi.Resource, depends_on: Sequence[pulumi.Resource] = (), protect: bool = False,
            timeout: int = 900) -> k8s.helm.v3.Release:
    """A Release of `pin` named `release_name` (fixed, so chart-made names are stable).

    Not atomic: a failed first install of a stateful chart must not uninstall (and orphan) volumes; a failed
    upgrade stays for inspection and is rolled forward by the next `pulumi up`.
    """
    return k8s.helm.v3.Release(
        name,
        name=release_name,
        chart=pin.chart,
        version=pin.version,
        repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
        namespace=namespace,
        values=values,
        timeout=timeout,
        max_history=10,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on), protect=protect),
    )
