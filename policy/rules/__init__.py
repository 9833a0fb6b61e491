"""The ai-platform CrossGuard rules, importable without starting the policy pack.

`policy/__main__.py` (run by `pulumi preview --policy-pack policy`) imports this package as
`rules`; tests and the offline plan tool import it as `policy.rules`. Imports inside the package
are relative so both work. New capabilities add a module here and append its policies below.
"""

from __future__ import annotations

from pulumi_policy import Policy

from .budget import gpu_budget
from .critical import critical_models_on_demand
from .gpu_pools import gpu_node_pool_tainted
from .helm import helm_chart_pinned
from .mig import mig_requests_match_layouts, mig_workloads_select_mig_pool
from .protection import cluster_deletion_protection
from .workloads import gpu_workloads_tolerate_gpu_taint

ALL_POLICIES: list[Policy] = [
    helm_chart_pinned,
    gpu_node_pool_tainted,
    gpu_workloads_tolerate_gpu_taint,
    gpu_budget,
    cluster_deletion_protection,
    critical_models_on_demand,
    mig_requests_match_layouts,
    mig_workloads_select_mig_pool,
]
"""Every policy of the pack, in report order (PolicyPack requires a list)."""

POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
"""The same policies by name (the keys of `--policy-pack-config`)."""

__all__ = ["ALL_POLICIES", "POLICIES_BY_NAME"]
