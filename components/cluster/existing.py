"""Bring-your-own cluster: a kubeconfig context (kind, minikube, k3d or any existing cluster).

No cloud resources are created. GPU pools of the config are then only node labels
(`ai-platform/pool=<name>`, see components.labels) that workloads select: label the nodes
yourself (`kubectl label node <n> ai-platform/pool=<pool>`); on a CPU-only laptop cluster use
CPU-only serving (Ollama) and no GPU pools.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from . import Cluster, ClusterArgs
from .common import required


class ExistingCluster(Cluster):
    """A Kubernetes provider for an existing kubeconfig context."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:cluster:Existing", name, None, opts)
        existing = required(args.cluster.existing, "cluster", "existing")
        self.provider = k8s.Provider(
            f"{name}-k8s",
            context=existing.context,
            kubeconfig=existing.kubeconfig,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.name = pulumi.Output.from_input(args.cluster.name)
        self.endpoint = pulumi.Output.from_input(f"context:{existing.context}")
        self.kubeconfig = None
        self.node_pool_names = pulumi.Output.from_input([p.name for p in args.node_pools.gpu])
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "kubeconfig": None,
            "provider": self.provider,
            "node_pool_names": self.node_pool_names,
        })
