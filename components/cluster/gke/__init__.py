"""GKE Standard: a regional, VPC-native, private-node cluster with one node pool per GPU pool.

Who owns what on a GPU node (one owner per piece, never two device plugins on a node):

* Driver: GKE. Every GPU pool runs Container-Optimized OS (COS_CONTAINERD) with
  `gpu_driver_installation_config.gpu_driver_version = LATEST`: GKE installs the newest driver
  qualified for the node's GKE version and upgrades it with the node image. LATEST rather than
  DEFAULT because current vLLM/TGI images are built on recent CUDA 12.x and need a recent R5xx
  driver; the GPU Operator cannot install a driver on COS at all.
* Device plugin, MIG partitioning and time-sharing/MPS: GKE. `gpu_partition_size` and
  `gpu_sharing_config` are implemented by GKE's own device plugin, which advertises every
  partition or share as `nvidia.com/gpu` (so on GKE a MIG slice is requested as nvidia.com/gpu,
  whatever `gpuStack.migStrategy` says).
* NVIDIA GPU Operator (added by the GPU stack component): the container toolkit, DCGM exporter and
  feature discovery, with `driver.enabled=false`, `devicePlugin.enabled=false`,
  `migManager.enabled=false` and `toolkit.enabled=true` on GKE. The toolkit is needed even though
  GKE owns the driver and device plugin: GPU Operator v26.7.0 runs its operands (GFD, DCGM
  exporter, the validator) with `runtimeClassName: nvidia` (controllers/object_controls.go,
  setRuntimeClassName), and on COS only the operator's toolkit configures that containerd handler.
  It is installed into GKE's writable `/home/kubernetes/bin/nvidia` next to GKE's driver, as
  NVIDIA's GKE guide ("Using the Google driver installer") sets `toolkit.installDir` and
  `hostPaths.driverInstallDir`. Model servers are unaffected: GKE's device plugin injects the
  driver into the pods that request `nvidia.com/gpu`.

Spot GPU pools scale with location policy ANY (the autoscaler goes where capacity is) and
on-demand pools with BALANCED. Pool `min`/`max` are whole-pool numbers, so they map to
`total_min_node_count`/`total_max_node_count`, not the per-zone fields.

Control plane security (docs/security.md, "GKE control plane"): master authorized networks always on (only
`gcp.authorizedNetworks` reach the IP endpoint), the IAM-authorized DNS endpoint that the kubeconfig uses,
optionally no public IP endpoint at all (`gcp.privateEndpoint`); Secrets encrypted with a Cloud KMS key;
Binary Authorization (audit by default); security posture; no legacy ABAC or client certificates; Shielded nodes.

Modules, as for EKS: `network` (VPC, subnetwork, Cloud NAT), `iam` (the nodes' service account),
`security` (KMS key, Binary Authorization policy, posture), `control_plane` (cluster, kubeconfig, Kubernetes
provider), `addons` (the cluster's add-on settings) and `node_pools`.
"""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from .. import Cluster, ClusterArgs
from ..common import Scope, required
from .addons import addons_config
from .compute_classes import compute_classes
from .control_plane import control_plane, endpoint, kubernetes_provider, secret_kubeconfig
from .iam import node_identity
from .network import cluster_network, control_plane_firewall
from .node_pools import Placement, node_pools
from .security import binary_authorization_policy, secrets_key

__all__ = ["GkeCluster"]


class GkeCluster(Cluster):
    """A regional GKE Standard cluster with a CPU system pool and the configured GPU pools.

    Creates (unless `gcp.network` names an existing VPC) a VPC network and subnetwork with
    `pods`/`services` secondary ranges, and with `privateNodes` a Cloud Router + Cloud NAT for
    egress. An existing network brings its own egress and is left untouched.
    """

    cluster: gcp.container.Cluster
    """The GKE cluster resource."""
    node_pools: dict[str, gcp.container.NodePool]
    """GPU node pools by pool name."""
    compute_classes: list[k8s.apiextensions.CustomResource]
    """One ComputeClass per `nodePools.computeClasses[]` entry (compute_classes.py)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:cluster:Gke", name, None, opts)
        cfg = args.cluster
        gcp_cfg = required(cfg.gcp, "cluster", "gcp")
        region = required(cfg.region, "cluster", "region")
        system = required(args.node_pools.system, "nodePools", "system")
        scope = Scope(name, self)

        network = cluster_network(scope, cfg.name, gcp_cfg, region)
        nodes = node_identity(scope, gcp_cfg.project, cfg.name)
        firewall = control_plane_firewall(scope, cfg.name, gcp_cfg, network.network, nodes.email)
        key = secrets_key(scope, cfg, gcp_cfg, region)
        self.cluster = control_plane(scope, cfg, gcp_cfg, region, network, addons_config(args.shared_file_system),
                                     args.labels, key)
        policy = binary_authorization_policy(scope, cfg, gcp_cfg, region)
        pools = node_pools(scope, args, gcp_cfg, system,
                           Placement(self.cluster, gcp_cfg.project, region, cfg.zones, nodes))
        self.node_pools = pools.gpu

        self.name = self.cluster.name
        self.endpoint = endpoint(self.cluster, gcp_cfg)
        self.kubeconfig = secret_kubeconfig(self.cluster, self.endpoint, gcp_cfg)
        # Workloads go in after the Binary Authorization policy that judges their images.
        # ...and after the firewall rule that lets the API server reach their webhooks.
        self.provider = kubernetes_provider(scope, self.kubeconfig, after=[
            *pools.all, *([policy] if policy else []), *([firewall] if firewall else [])])
        self.compute_classes = compute_classes(scope, args.node_pools.compute_classes, self.provider, dict(args.labels))
        self.node_pool_names = pulumi.Output.all(*[p.name for p in pools.all])
        self.register_outputs({
            "name": self.name,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "provider": self.provider,
            "node_pool_names": self.node_pool_names,
        })
