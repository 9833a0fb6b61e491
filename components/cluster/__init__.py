"""Cluster components: one per `cluster.provider`, all yielding a Kubernetes provider.

Every later component is created through `Cluster.provider`, so nothing touches the cluster
before it exists, and a bring-your-own cluster looks the same to the rest of the program.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from config.capacity import CapacityPlan
from config.models import ClusterConfig, GpuPool, NodePoolsConfig
from config.upgrades import Rehome


@dataclass(frozen=True)
class ClusterArgs:
    """Inputs of every cluster component."""

    cluster: ClusterConfig
    """`ai-platform:cluster`."""
    node_pools: NodePoolsConfig
    """`ai-platform:nodePools` (system pool + GPU pools)."""
    plan: CapacityPlan
    """Capacity plan (machine types per pool)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """User labels for cloud resources."""
    pool_node_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Extra node labels per GPU pool name (the GPU stack's MIG layout / device-plugin config selectors)."""
    pool_node_resources: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    """Extended resources one node of each GPU pool advertises (config.capacity.node_resources): the EKS cluster
    autoscaler learns them from ASG tags to scale a pool up from zero."""
    shared_file_system: bool = False
    """Provide a ReadWriteMany StorageClass for the model caches (config.storage): EFS on EKS, Filestore on GKE."""
    pool_rehomes: Mapping[str, Sequence[Rehome]] = field(default_factory=dict)
    """Per GPU pool, the model servers an upgrade must move off each node (config.upgrades.pool_rehomes): node
    upgrade settings and timeouts are sized from their start-up budgets."""

    def node_labels(self, pool: GpuPool) -> dict[str, str]:
        """All node labels of a GPU pool: ai-platform/* plus the GPU stack's selectors."""
        from components.labels import pool_labels

        return {**pool_labels(pool), **self.pool_node_labels.get(pool.name, {})}


class Cluster(pulumi.ComponentResource):
    """What the rest of the program needs from a cluster, whatever created it."""

    name: pulumi.Output[str]
    """Cluster name."""
    endpoint: pulumi.Output[str]
    """API server endpoint (https URL), or the kubeconfig context for existing clusters."""
    kubeconfig: pulumi.Output[str] | None
    """Secret kubeconfig (None for existing clusters: the user's own kubeconfig is used)."""
    provider: k8s.Provider
    """Kubernetes provider bound to this cluster."""
    node_pool_names: pulumi.Output[list[str]]
    """Names of the node pools / node groups (GPU pools are labels only on existing clusters)."""


def exec_kubeconfig(context: str, endpoint: str, ca_data: str | None, exec_spec: Mapping[str, object]) -> str:
    """A kubeconfig (JSON is valid YAML) whose user authenticates with an exec credential plugin; `ca_data` None
    trusts the system CAs (an endpoint with a publicly trusted certificate)."""
    cluster = {"server": endpoint, **({"certificate-authority-data": ca_data} if ca_data is not None else {})}
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": context, "cluster": cluster}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
        "users": [{"name": context, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", **exec_spec}}}],
    }, indent=2)


def create_cluster(name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None) -> Cluster:
    """The cluster component for `args.cluster.provider`."""
    provider = args.cluster.provider
    if provider == "gke":
        from .gke import GkeCluster

        return GkeCluster(name, args, opts)
    if provider == "eks":
        from .eks import EksCluster

        return EksCluster(name, args, opts)
    from .existing import ExistingCluster

    return ExistingCluster(name, args, opts)
