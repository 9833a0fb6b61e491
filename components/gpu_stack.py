"""GpuStack: the NVIDIA GPU Operator, its MIG and sharing configs, and the platform PriorityClasses.

Installed through the cluster's provider after the cluster and its node pools exist, and before
any GPU workload: later components pass `GpuStack.ready` to `depends_on`.

Who installs what on each node image is decided in `config.gpu_stack.ownership` (documented
there): exactly one device plugin advertises `nvidia.com/gpu` per node, GKE's on GKE, the
operator's on EKS AL2023 and existing clusters, Bottlerocket's own on Bottlerocket.

Chart: `gpu-operator` CHART_VERSION from NVIDIA's NGC Helm repository. The chart has no
values.schema.json, so Helm would accept a misspelt key silently; every key set here is checked
against that version's values.yaml in tests/gpu/test_chart_values.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.compute_classes import COMPUTE_CLASS_LABEL
from config.errors import key_path, required
from config.gpu_stack import (
    DEVICE_PLUGIN_CONFIGMAP,
    EXCLUSIVE_CONFIG,
    MIG_CONFIGMAP,
    MIG_CONFIGMAP_KEY,
    MIG_DISABLED,
    Ownership,
    device_plugin_configs,
    kernel_module_type,
    mig_parted_config,
    ownership,
)
from config.models import StackConfig

from .helm import pin, release
from .labels import GPU_TAINT_KEY, SCRAPE_LABELS, standard_labels

CHART = "gpu-operator"
PIN = pin(CHART)
CHART_VERSION = PIN.version
CHART_REPO = PIN.repo

# nvidia-container-toolkit v1.20.0 (what GPU Operator v26.7.0 deploys, values.yaml toolkit.version) maps this env var
# of its installer to the runtime config option `accept-nvidia-visible-devices-envvar-when-unprivileged`
# (cmd/nvidia-ctk-installer/toolkit/toolkit.go); the runtime then ignores NVIDIA_VISIBLE_DEVICES in unprivileged
# containers (internal/config/image/cuda_image.go, VisibleDevices). Default there: true.
ACCEPT_ENVVAR_UNPRIVILEGED = "ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED"

# GKE's COS driver and toolkit live here (NVIDIA's GKE guide, "Using the Google driver installer").
GKE_NVIDIA_DIR = "/home/kubernetes/bin/nvidia"


@dataclass(frozen=True)
class PriorityTier:
    name: str
    value: int
    preempts: bool
    description: str


# Highest first. The stateful data layer is never preempted by platform work and preempts nothing itself (a
# replica of a quorum waits for capacity; the autoscaler adds a node) — a restarted vector store, search or cache
# replica rebuilds from disk or from its peers, far more costly than a pending pod. Serving preempts RAG and batch;
# RAG (gateway, embeddings, exporters) preempts batch; batch preempts nothing and is the first to go. All stay far
# below system-cluster-critical (2000000000).
PRIORITY_CLASSES: tuple[PriorityTier, ...] = (
    PriorityTier("ai-platform-data", 200000, False,
                 "Stateful RAG data layer (vector store, search, cache, etcd): never preempted by serving, RAG or "
                 "batch pods; never preempts."),
    PriorityTier("ai-platform-serving", 100000, True,
                 "Online model serving: preempts RAG and batch pods when GPUs or nodes run short."),
    PriorityTier("ai-platform-rag", 50000, True,
                 "RAG services (gateway, embeddings, exporters, ingress): preempt batch only."),
    PriorityTier("ai-platform-batch", 1000, False,
                 "Batch and offline jobs: never preempts, first to be preempted."),
)


@dataclass(frozen=True)
class GpuStackArgs:
    config: StackConfig
    """Typed stack configuration."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist first (the cluster component: its node pools carry the labels the operator reads)."""
    namespace: k8s.core.v1.Namespace | None = None
    """The `gpu-operator` namespace (created by the Tenancy component, privileged); required with the operator."""
    monitoring_crds: Sequence[pulumi.Resource] = ()
    """The monitoring.coreos.com CRDs: the chart's DCGM ServiceMonitor is installed after them."""


def chart_values(cfg: StackConfig, owner: Ownership | None = None) -> dict[str, Any]:
    """Values for the gpu-operator chart, per node image (see config.gpu_stack.ownership)."""
    owner = owner or ownership(cfg)
    operator_sharing = owner.operator_owns_sharing
    values: dict[str, Any] = {
        "cdi": {"enabled": True},
        "nfd": {"enabled": True},
        # The NFD subchart's resources (node-feature-discovery values.yaml in gpu-operator v26.7.0: master, worker,
        # gc) set requests and a memory limit but no CPU limit; Helm merges these into them (the post-delete prune
        # Job reuses master's), so every NFD container has the requests and limits container-resources requires.
        "node-feature-discovery": {
            "master": {"resources": {"limits": {"cpu": "500m"}}},
            "worker": {"resources": {"limits": {"cpu": "200m"}}},
            "gc": {"resources": {"limits": {"cpu": "100m"}}},
        },
        "gfd": {"enabled": True},
        "mig": {"strategy": cfg.gpu_stack.mig_strategy},
        "driver": {"enabled": owner.driver == "operator"},
        "toolkit": {"enabled": owner.toolkit == "operator"},
        # The operator's plugin only where nothing else advertises nvidia.com/gpu.
        "devicePlugin": {"enabled": owner.device_plugin == "operator"},
        # Off on GKE (it would label MIG-capable nodes all-disabled and undo gpu_partition_size)
        # and on Bottlerocket (which runs its own MIG manager).
        "migManager": {"enabled": owner.mig == "operator"},
        "dcgmExporter": {
            "enabled": cfg.gpu_stack.dcgm_exporter,
            "serviceMonitor": {
                "enabled": cfg.gpu_stack.dcgm_exporter and cfg.observability.enabled,
                "interval": "15s",
                "additionalLabels": dict(SCRAPE_LABELS),
            },
        },
    }
    module_type = kernel_module_type(cfg, owner)
    if module_type is not None:
        # Blackwell runs only on the open GPU kernel modules; say so instead of trusting `auto`'s detection.
        values["driver"]["kernelModuleType"] = module_type
    if owner.toolkit == "operator":
        # GPU isolation: a container that requests no GPU but carries NVIDIA_VISIBLE_DEVICES=all (every CUDA base
        # image does) must not get the node's GPUs through the `nvidia` runtime. The operator's own operands that
        # read the variable run privileged (assets/state-*/ at v26.7.0), which the option does not affect.
        # Devices reach GPU pods through CDI (cdi.enabled: the operator sets the device plugin's
        # DEVICE_LIST_STRATEGY=cdi-annotations,cdi-cri, controllers/object_controls.go transformDevicePluginCtrForCDI),
        # never through the variable. Deliberately not `volume-mounts` / ACCEPT_NVIDIA_VISIBLE_DEVICES_AS_VOLUME_MOUNTS:
        # with CDI the `nvidia` runtime is not the default runtime (NVIDIA_RUNTIME_SET_AS_DEFAULT=false), so mount-list
        # devices would reach no runc container, and accepting mounts under /var/run/nvidia-container-devices would
        # let any pod ask for GPUs with an emptyDir there.
        values["toolkit"]["env"] = [{"name": ACCEPT_ENVVAR_UNPRIVILEGED, "value": "false"}]
    if owner.image == "gke-cos":
        values["hostPaths"] = {"driverInstallDir": GKE_NVIDIA_DIR}
        values["toolkit"].update(installDir=GKE_NVIDIA_DIR)
        # GKE >= 1.33: let the toolkit read containerd's config file, not `containerd config dump`.
        values["toolkit"]["env"].append({"name": "RUNTIME_CONFIG_SOURCE", "value": "file"})
    if cfg.node_pools.compute_classes:
        # Steps of a GKE compute class carry its NoSchedule taint (components/cluster/gke/node_pools.py): the operands
        # (toolkit, DCGM exporter, GFD, validator) and the NFD worker that finds GPU nodes for them must tolerate it
        # too. Helm replaces lists, so the chart's own tolerations (values.yaml of v26.7.0) are repeated.
        gpu = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
        klass = {"key": COMPUTE_CLASS_LABEL, "operator": "Exists", "effect": "NoSchedule"}
        control_plane = {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "value": "",
                         "effect": "NoSchedule"}
        values["daemonsets"] = {"tolerations": [gpu, klass]}
        values["node-feature-discovery"]["worker"]["tolerations"] = [control_plane, gpu, klass]
    if operator_sharing:
        values["devicePlugin"]["config"] = {"name": DEVICE_PLUGIN_CONFIGMAP, "default": EXCLUSIVE_CONFIG}
        values["migManager"]["config"] = {"name": MIG_CONFIGMAP, "default": MIG_DISABLED}
    return values


def _yaml(data: dict[str, Any]) -> str:
    """JSON is YAML; sorted keys keep the ConfigMap stable between runs."""
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


class GpuStack(pulumi.ComponentResource):
    """NVIDIA GPU Operator + MIG-parted and device-plugin ConfigMaps + PriorityClasses."""

    def __init__(self, name: str, args: GpuStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:gpu:GpuStack", name, None, opts)
        cfg = args.config
        owner = ownership(cfg)
        child = pulumi.ResourceOptions(parent=self)
        labels = cfg.labels

        self.priority_classes = [
            k8s.scheduling.v1.PriorityClass(
                f"{name}-{tier.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=tier.name,
                                                    labels=standard_labels(tier.name, "priority", labels)),
                value=tier.value,
                preemption_policy="PreemptLowerPriority" if tier.preempts else "Never",
                global_default=False,
                description=tier.description,
                opts=child,
            )
            for tier in PRIORITY_CLASSES
        ]
        self.ownership = owner
        self.release: k8s.helm.v3.Release | None = None
        self.ready: list[pulumi.Resource] = list(self.priority_classes)
        if not cfg.gpu_stack.operator:
            self.register_outputs({})
            return

        self.namespace = required(args.namespace, key_path("gpuStack", "operator"), "the gpu-operator namespace",
                                  "Tenancy (it creates it with the operator)")
        ns = self.namespace.metadata.name
        before_release: list[pulumi.Resource] = [self.namespace]

        if owner.image == "gke-cos":
            # GKE admits system-node-critical / system-cluster-critical pods outside kube-system
            # only against a ResourceQuota scoped to those classes (NVIDIA's GKE guide).
            before_release.append(k8s.core.v1.ResourceQuota(
                f"{name}-critical-pods",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="gpu-operator-quota", namespace=ns,
                                                    labels=standard_labels("gpu-operator-quota", "gpu-stack", labels)),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(
                    hard={"pods": "100"},
                    scope_selector=k8s.core.v1.ScopeSelectorArgs(match_expressions=[
                        k8s.core.v1.ScopedResourceSelectorRequirementArgs(
                            scope_name="PriorityClass", operator="In",
                            values=["system-node-critical", "system-cluster-critical"]),
                    ]),
                ),
                opts=child,
            ))

        self.mig_config_map: k8s.core.v1.ConfigMap | None = None
        self.device_plugin_config_map: k8s.core.v1.ConfigMap | None = None
        if owner.operator_owns_sharing:
            self.mig_config_map = k8s.core.v1.ConfigMap(
                f"{name}-mig-parted",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=MIG_CONFIGMAP, namespace=ns,
                                                    labels=standard_labels(MIG_CONFIGMAP, "gpu-stack", labels)),
                data={MIG_CONFIGMAP_KEY: _yaml(mig_parted_config(cfg))},
                opts=child,
            )
            self.device_plugin_config_map = k8s.core.v1.ConfigMap(
                f"{name}-device-plugin",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=DEVICE_PLUGIN_CONFIGMAP, namespace=ns,
                    labels=standard_labels(DEVICE_PLUGIN_CONFIGMAP, "gpu-stack", labels)),
                data={key: _yaml(config) for key, config in device_plugin_configs(cfg).items()},
                opts=child,
            )
            before_release += [self.mig_config_map, self.device_plugin_config_map]

        # Atomic: a failed upgrade rolls back instead of leaving half-updated daemonsets on GPU nodes.
        self.release = release(
            f"{name}-operator", PIN, "gpu-operator", ns, chart_values(cfg, owner),
            pulumi.ResourceOptions(parent=self, depends_on=[*args.after, *args.monitoring_crds, *before_release]),
            timeout=900)
        self.ready.append(self.release)
        self.register_outputs({"namespace": ns, "chart_version": CHART_VERSION})
