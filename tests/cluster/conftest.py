"""Cluster component tests: build GkeCluster / EksCluster alone under the shared mock engine.

The mocks (`tools.mockrun.PlatformMocks`) answer with realistic outputs (GKE endpoint IP and CA,
EKS https endpoint, CA data and OIDC issuer, ARNs, node group ASGs) so the code that consumes
them (kubeconfig, IRSA trust policy, provider) really runs.
"""

from __future__ import annotations

from typing import Any

from components.cluster import ClusterArgs
from config import semantics
from config.capacity import plan
from config.models import StackConfig
from tools.mockrun import (  # noqa: F401 - re-exported for the test modules
    EKS_ENDPOINT,
    EKS_ISSUER,
    FAKE_CA,
    GKE_ENDPOINT_IP,
    ComponentRun,
    is_secret,
    run_component,
    unwrap,
)

CLUSTER_ATTRIBUTES = ("name", "endpoint", "kubeconfig", "node_pool_names")


def build_config(values: dict) -> tuple[StackConfig, Any]:
    """Validated config + capacity plan; a test config must itself be a valid stack config."""
    cfg = StackConfig.model_validate(values)
    issues = semantics.check(cfg)
    assert not issues, [str(i) for i in issues]
    capacity, fit = plan(cfg)
    assert not fit, [str(i) for i in fit]
    return cfg, capacity


def run_cluster(values: dict, name: str = "test") -> ComponentRun:
    """Instantiate the cluster component for `values['cluster']['provider']` under mocks."""
    cfg, capacity = build_config(values)
    if cfg.cluster.provider == "gke":
        from components.cluster.gke import GkeCluster as component_class
    else:
        from components.cluster.eks import EksCluster as component_class
    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=capacity, labels=cfg.labels)
    return run_component(lambda: component_class(name, args), CLUSTER_ATTRIBUTES)
