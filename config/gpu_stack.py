"""The GPU software stack as data: who owns which NVIDIA component, MIG layouts, sharing configs.

Pure functions of the typed config (no Pulumi), shared by the cluster components (node labels),
the GpuStack component (ConfigMaps, chart values), the capacity plan and the config checks.

Ownership (exactly one `nvidia.com/gpu` advertiser per node)
-----------------------------------------------------------
- GKE (COS, GKE-managed driver via `gpu_driver_installation_config`): GKE installs the driver and
  runs its own device plugin, MIG partitioning (`gpu_partition_size`) and time-sharing/MPS
  (`gpu_sharing_config`). The operator runs only the container toolkit (its operands use the
  `nvidia` RuntimeClass), NFD, GFD and DCGM exporter: `driver`, `devicePlugin` and `migManager`
  are off. A second device plugin would race GKE's for `nvidia.com/gpu`; a MIG manager would label
  MIG-capable nodes `all-disabled` and undo GKE's partitions.
- EKS AL2023 NVIDIA AMI: the AMI ships driver and container toolkit but no device plugin, so the
  operator runs the device plugin (with our sharing configs) and the MIG manager (with our
  MIG-parted layouts), selected per pool by node labels.
- EKS Bottlerocket NVIDIA: the OS ships driver, toolkit, device plugin and MIG manager; the
  operator adds NFD, GFD and DCGM exporter only. Sharing on Bottlerocket is a Bottlerocket setting
  this program does not manage, so config rejects non-exclusive pools there.
- Existing clusters: the operator owns everything; `gpuStack.hostDriver` says the hosts already
  have the driver and toolkit.

MIG layouts (NVIDIA mig-parted `config.yaml`, `version: v1`)
-----------------------------------------------------------
A pool sets `sharing: {strategy: mig, profile: P}` (every GPU split into the catalog's max count
of P: layout `all-P`, NVIDIA's own naming) or `sharing: {strategy: mig, layout: {P: n, ...}}`
(layout `mixed-<n>x<P>-...`). Layouts are checked against the GPU's placement geometry (catalog
`mig_slices` / `mig_placements`) so an impossible one never reaches a node. `+me` is written `.me` in
layout names (label values cannot hold `+`), as NVIDIA's default config does.

MIG resource names
------------------
`mig_resource` is the one place a profile becomes an extended resource name (container requests
and limits, ResourceQuota keys, Cluster Autoscaler node-template tags, the capacity plan). The
NVIDIA device plugin advertises `strings.ReplaceAll("mig-"+profile, "+", ".")` under
`nvidia.com/` (NVIDIA/k8s-device-plugin v0.20.0, the version GPU Operator v26.7.0 deploys:
internal/rm/rm.go, AddDefaultResourcesToConfig), so `1g.10gb+me` is `nvidia.com/mig-1g.10gb.me`;
`+` is not valid in a resource name. The policy pack runs standalone and mirrors this function
(policy/rules/helpers.py `mig_resource`); a test holds both to the same answer for every
catalog profile.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import catalog
from .models import GpuPool, Mig, StackConfig

OPERATOR_NAMESPACE = "gpu-operator"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
DEVICE_PLUGIN_CONFIG_LABEL = "nvidia.com/device-plugin.config"
MIG_CONFIGMAP = "ai-platform-mig-parted-config"
MIG_CONFIGMAP_KEY = "config.yaml"            # the key the MIG manager reads (CONFIG_FILE)
DEVICE_PLUGIN_CONFIGMAP = "ai-platform-device-plugin-config"
MIG_DISABLED = "all-disabled"               # the operator labels unlabelled MIG-capable nodes with this
EXCLUSIVE_CONFIG = "exclusive"              # device-plugin config of whole-GPU and MIG nodes (the default)
MAX_COMPUTE_SLICES = 7
MEMORY_SLICES = 8

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


# ------------------------------------------------------------------------------------ ownership


@dataclass(frozen=True)
class Ownership:
    """Who provides each NVIDIA component on the stack's GPU nodes."""

    image: str          # gke-cos | eks-al2023 | eks-bottlerocket | existing
    driver: str         # gke | ami | host | operator
    toolkit: str        # operator | ami | host
    device_plugin: str  # gke | operator | bottlerocket
    mig: str            # gke | operator | bottlerocket

    @property
    def operator_owns_sharing(self) -> bool:
        """The operator's device plugin and MIG manager read our ConfigMaps and node labels."""
        return self.device_plugin == "operator"


def ownership(cfg: StackConfig) -> Ownership:
    provider = cfg.cluster.provider
    if provider == "gke":
        return Ownership("gke-cos", driver="gke", toolkit="operator", device_plugin="gke", mig="gke")
    if provider == "eks":
        ami = cfg.cluster.eks.ami_type if cfg.cluster.eks else "AL2023_x86_64_NVIDIA"
        if ami.startswith("BOTTLEROCKET"):
            return Ownership("eks-bottlerocket", driver="ami", toolkit="ami", device_plugin="bottlerocket",
                             mig="bottlerocket")
        return Ownership("eks-al2023", driver="ami", toolkit="ami", device_plugin="operator", mig="operator")
    host = cfg.gpu_stack.host_driver
    return Ownership("existing", driver="host" if host else "operator", toolkit="host" if host else "operator",
                     device_plugin="operator", mig="operator")


# ---------------------------------------------------------------------------------- MIG layouts

# Start memory slices each profile shape may occupy on A100 / H100 / H200 / B200 (NVML GPU-instance placements:
# size 1 at 0-6, 1g double-memory at 0/2/4/6, 2g at 0/2/4, 3g at 0/4, 4g at 0, 7g at 0).
_PLACEMENTS: dict[tuple[int, int], tuple[int, ...]] = {
    (1, 1): (0, 1, 2, 3, 4, 5, 6),
    (1, 2): (0, 2, 4, 6),
    (2, 2): (0, 2, 4),
    (3, 4): (0, 4),
    (4, 4): (0,),
    (7, 8): (0,),
}


def _fits(shapes: list[tuple[int, int]], used: frozenset[int] = frozenset(),
          placements: Mapping[tuple[int, int], tuple[int, ...]] = _PLACEMENTS) -> bool:
    """Whether every (compute, memory) instance gets a non-overlapping memory placement."""
    if not shapes:
        return True
    (compute, memory), rest = shapes[0], shapes[1:]
    for start in placements.get((compute, memory), ()):
        slots = frozenset(range(start, start + memory))
        if not slots & used and _fits(rest, used | slots, placements):
            return True
    return False


def layout_problems(gpu_key: str, devices: dict[str, int]) -> list[str]:
    """Why a per-GPU MIG layout cannot be built on `gpu_key` (empty: it can)."""
    gpu = catalog.GPUS[gpu_key]
    if not gpu.mig_profiles:
        return [f"{gpu_key} has no MIG"]
    problems = []
    unknown = [p for p in devices if p not in gpu.mig_profiles]
    if unknown:
        problems.append(f"{', '.join(repr(p) for p in unknown)} not a MIG profile of {gpu_key}; "
                        f"allowed: {', '.join(gpu.mig_profiles)}")
        return problems
    for name, count in devices.items():
        if count > gpu.mig_profiles[name].max_instances:
            problems.append(f"{count}x {name} exceeds the {gpu.mig_profiles[name].max_instances} instances of "
                            f"{name} one {gpu_key} holds")
    media = sum(c for n, c in devices.items() if n.endswith("+me"))
    if media > 1:
        problems.append(f"{media} +me instances: a GPU has one set of media engines")
    compute = sum(gpu.mig_profiles[n].compute_slices * c for n, c in devices.items())
    memory = sum(gpu.mig_profiles[n].memory_slices * c for n, c in devices.items())
    # The GPU's own geometry (catalog GpuModel.mig_slices / mig_placements): 7 compute and 8 memory slices on
    # A100/H100/H200/B200, 4 and 4 on RTX PRO 6000.
    compute_slices, memory_slices = gpu.mig_slices
    placements = gpu.mig_placements if gpu.mig_placements is not None else _PLACEMENTS
    if compute > compute_slices:
        problems.append(f"needs {compute} compute slices; a GPU has {compute_slices}")
    if memory > memory_slices:
        memory_gib = sum(gpu.mig_profiles[n].memory_gib * c for n, c in devices.items())
        problems.append(f"needs {memory} of {memory_slices} memory slices ({memory_gib:.1f} GiB of "
                        f"{gpu.memory_gib:.1f} GiB)")
    if not problems:
        shapes = sorted(((gpu.mig_profiles[n].compute_slices, gpu.mig_profiles[n].memory_slices)
                         for n, c in devices.items() for _ in range(c)), reverse=True)
        if not _fits(shapes, placements=placements):
            rules = ("3g/4g start at slice 0 or 4, 2g at 0/2/4, 7g takes all" if gpu.mig_placements is None
                     else ", ".join(f"{c}g at {'/'.join(map(str, starts))}" for (c, _), starts in placements.items()))
            problems.append("the instances cannot be placed without overlapping memory slices "
                            f"(NVIDIA placement rules: {rules})")
    return problems


def _profile(mig: Mig) -> str:
    """The single profile of a MIG setting without a layout (models.Mig requires one of the two)."""
    if mig.profile is None:
        raise ValueError("a MIG sharing setting needs sharing.profile or sharing.layout")
    return mig.profile


def mig_devices(gpu_key: str, mig: Mig) -> dict[str, int]:
    """profile -> instances per GPU for a pool's MIG setting."""
    if mig.layout is not None:
        return dict(mig.layout)
    profile = _profile(mig)
    return {profile: catalog.GPUS[gpu_key].mig_profiles[profile].max_instances}


def _ambiguous_profiles() -> frozenset[str]:
    """Profile names whose max count differs between catalog GPUs (1g.10gb: 4 on A100-40GB, 7 on 80GB)."""
    counts: dict[str, set[int]] = {}
    for gpu in catalog.GPUS.values():
        for name, profile in gpu.mig_profiles.items():
            counts.setdefault(name, set()).add(profile.max_instances)
    return frozenset(n for n, c in counts.items() if len(c) > 1)


_AMBIGUOUS = _ambiguous_profiles()


def _label_safe(profile: str) -> str:
    """A profile as NVIDIA spells it where `+` is not allowed (label values, resource names)."""
    return profile.replace("+", ".")


def mig_resource(profile: str) -> str:
    """The extended resource the NVIDIA device plugin advertises for a MIG profile (mixed strategy)."""
    return f"nvidia.com/mig-{_label_safe(profile)}"


def layout_name(gpu_key: str, mig: Mig) -> str:
    """The MIG-parted config name (and `nvidia.com/mig.config` label value) of a pool's layout."""
    if mig.layout is None:
        name = f"all-{_label_safe(_profile(mig))}"
        return f"{name}-{gpu_key}" if mig.profile in _AMBIGUOUS else name
    profiles = catalog.GPUS[gpu_key].mig_profiles
    order = sorted(mig.layout, key=lambda p: (-profiles[p].compute_slices, -profiles[p].memory_slices, p)
                   if p in profiles else (0, 0, p))
    name = "mixed-" + "-".join(f"{mig.layout[p]}x{_label_safe(p)}" for p in order)
    if any(p in _AMBIGUOUS for p in mig.layout):
        name += f"-{gpu_key}"
    if len(name) > 63 or not _LABEL_VALUE.match(name):
        name = "mixed-" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return name


def pool_profiles(pool: GpuPool) -> list[str]:
    """MIG profiles a pool's nodes advertise (empty for non-MIG pools)."""
    if pool.sharing.strategy != "mig":
        return []
    return list(pool.sharing.layout) if pool.sharing.layout is not None else [_profile(pool.sharing)]


def is_mig_capable(pool: GpuPool) -> bool:
    return bool(catalog.GPUS[pool.gpu].mig_profiles)


def mig_parted_config(cfg: StackConfig) -> dict[str, Any]:
    """The MIG manager's config.yaml: all-disabled plus every layout the pools use."""
    configs: dict[str, list[dict[str, Any]]] = {MIG_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    for pool in cfg.node_pools.gpu:
        if pool.sharing.strategy == "mig":
            configs[layout_name(pool.gpu, pool.sharing)] = [{
                "devices": "all",
                "mig-enabled": True,
                "mig-devices": mig_devices(pool.gpu, pool.sharing),
            }]
    return {"version": "v1", "mig-configs": configs}


# ------------------------------------------------------------------------- device-plugin configs


def device_plugin_config_name(pool: GpuPool) -> str:
    """The named device-plugin config a pool selects with `nvidia.com/device-plugin.config`."""
    sharing = pool.sharing
    if sharing.strategy in ("time-slicing", "mps"):
        return f"{sharing.strategy}-{sharing.replicas}"
    return EXCLUSIVE_CONFIG


def device_plugin_configs(cfg: StackConfig) -> dict[str, dict[str, Any]]:
    """Named NVIDIA device-plugin configs (`version: v1`): exclusive plus one per sharing setup.

    `renameByDefault: false` keeps the resource `nvidia.com/gpu` (what the capacity plan and the
    workloads request); `failRequestsGreaterThanOne: true` rejects pods asking for two shares of a
    GPU, which would get no more memory or compute. `flags.migStrategy` repeats the operator's
    `mig.strategy` so the file and the operator never disagree.
    """
    flags = {"migStrategy": cfg.gpu_stack.mig_strategy}
    configs: dict[str, dict[str, Any]] = {EXCLUSIVE_CONFIG: {"version": "v1", "flags": flags}}
    for pool in cfg.node_pools.gpu:
        sharing = pool.sharing
        if sharing.strategy not in ("time-slicing", "mps"):
            continue
        key = "timeSlicing" if sharing.strategy == "time-slicing" else "mps"
        configs[device_plugin_config_name(pool)] = {
            "version": "v1",
            "flags": flags,
            "sharing": {key: {
                "renameByDefault": False,
                "failRequestsGreaterThanOne": True,
                "resources": [{"name": "nvidia.com/gpu", "replicas": sharing.replicas}],
            }},
        }
    return configs


# ----------------------------------------------------------------------------------- node labels


def operator_node_labels(cfg: StackConfig, pool: GpuPool) -> dict[str, str]:
    """Node labels that select this pool's MIG layout and device-plugin config.

    Only where the operator's device plugin / MIG manager run (EKS AL2023, existing clusters);
    GKE and Bottlerocket configure sharing themselves, so they get none.
    """
    if not cfg.gpu_stack.operator or not ownership(cfg).operator_owns_sharing:
        return {}
    labels = {DEVICE_PLUGIN_CONFIG_LABEL: device_plugin_config_name(pool)}
    if pool.sharing.strategy == "mig":
        labels[MIG_CONFIG_LABEL] = layout_name(pool.gpu, pool.sharing)
    elif is_mig_capable(pool):
        labels[MIG_CONFIG_LABEL] = MIG_DISABLED
    return labels


def resource_for(cfg: StackConfig, pool: GpuPool, profile: str | None = None) -> str:
    """Extended resource a container requests on a pool: nvidia.com/mig-<profile> only for mixed MIG.

    Single-strategy MIG, time-slicing, MPS and whole GPUs are all advertised as nvidia.com/gpu.
    """
    if pool.sharing.strategy == "mig" and cfg.gpu_stack.mig_strategy == "mixed":
        profiles = pool_profiles(pool)
        return mig_resource(profile or profiles[0])
    return "nvidia.com/gpu"
