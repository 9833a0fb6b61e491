"""Cluster components built from a config that skipped validation fail with the key path, not an assert."""

from __future__ import annotations

import pytest

from components.cluster import ClusterArgs
from components.cluster.common import required
from config.errors import Unvalidated
from config.models import ClusterConfig, NodePoolsConfig, StackConfig
from tools.mockrun import run_component

from .test_eks import eks_values
from .test_gke import variant as gke_values


def test_required_names_the_key_path():
    assert required("us-east-1", "cluster", "region") == "us-east-1"
    with pytest.raises(Unvalidated, match=r"ai-platform:nodePools\.gpu\[2\]\.machineType: the value is missing"):
        required(None, "nodePools", "gpu", 2, "machineType")


@pytest.mark.parametrize("values", [eks_values(), gke_values()], ids=["eks", "gke"])
def test_a_cluster_without_its_system_pool_names_the_key(values):
    del values["nodePools"]["system"]  # config.semantics rejects this; the component is built without it
    cfg = StackConfig.model_validate(values)
    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=None, labels=cfg.labels)
    if cfg.cluster.provider == "eks":
        from components.cluster.eks import EksCluster as component_class
    else:
        from components.cluster.gke import GkeCluster as component_class
    with pytest.raises(Unvalidated, match=r"ai-platform:nodePools\.system: the value is missing"):
        run_component(lambda: component_class("test", args))


def test_an_existing_cluster_without_its_context_block_names_the_key():
    from components.cluster.existing import ExistingCluster

    cluster = ClusterConfig.model_construct(provider="existing", name="kind", existing=None)
    args = ClusterArgs(cluster=cluster, node_pools=NodePoolsConfig(), plan=None)
    with pytest.raises(Unvalidated, match=r"ai-platform:cluster\.existing: the value is missing"):
        run_component(lambda: ExistingCluster("test", args))
