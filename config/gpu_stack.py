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
from .engines import ENGINES
from .errors import Issue, key_path
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


# ------------------------------------------------------------------------- drivers, CUDA and node images
#
# What each GPU needs from the host (driver branch, CUDA, kernel modules), what each node image ships, and
# which model-server images can run on which architecture.  Sources, read 2026-12-07 (newest stored copies):
#
#  * Driver branch per GPU: the first driver release whose supported-gpus.json lists the PCI device with the
#    `kernelopen` feature, as the EKS AMI build extracts it (awslabs/amazon-eks-ami
#    templates/al2023/runtime/gpu/nvidia-open-supported-devices-<branch>.txt, generated by
#    hack/generate-nvidia-open-supported-devices.sh from NVIDIA-Linux-x86_64-<version>.run): H200 0x2335 first in
#    560.31.02 (not in 555.42.02); B200 0x2901 first in 570.124.06 (not in 560.31.02); RTX PRO 6000 Blackwell
#    Server Edition 0x2BB5 first in 575.57.08 (not in 570.124.06).  COS agrees for the RTX PRO 6000: its GPU
#    driver policy had to admit the R575 New Feature Branch because the card "requires an NFB driver as a
#    minimum" (cos.googlesource.com cos/overlays/board-overlays, scripts/gpu_driver_versions, 2025).
#  * CUDA: CUDA 12.8 is the first toolkit with compute capability 10.0 (B200) and 12.0 (RTX PRO 6000)
#    (NVIDIA Blackwell Compatibility Guide, v12.8; CUDA 12.8 release notes); Hopper 9.0 since CUDA 11.8.
#  * Open kernel modules only on Blackwell: NVIDIA's driver README ("kernel_open") and the R560 transition note
#    (open modules are the default from R560; Grace Hopper and Blackwell are supported only with the open
#    modules).  # unverified: read from NVIDIA's documentation pages as recalled, no stored copy found here.
#  * Node images: AL2023_x86_64_NVIDIA AMI release v20260714 (awslabs/amazon-eks-ami CHANGELOG.md,
#    kmod-nvidia-latest-dkms 580.159.03 and nvidia-container-toolkit 1.19.1 for every Kubernetes 1.30-1.36);
#    the AMI loads the open module when every attached GPU is in the open list (runtime/gpu/nvidia-kmod-load.sh)
#    and installs and enables nvidia-fabricmanager, nvidia-imex and NVLSM (provisioners/install-nvidia-driver.sh).
#    Bottlerocket: variants/aws-k8s-1.33-nvidia ships kmod-6.12-nvidia-r570-tesla, aws-k8s-1.34-nvidia and
#    aws-k8s-1.35-nvidia kmod-6.12-nvidia-r580-tesla (bottlerocket-os/bottlerocket Cargo.toml; the r580 package
#    is 580.159.03 with the open GPU modules, fabricmanager and NVLSM: bottlerocket-kernel-kit
#    packages/kmod-6.12-nvidia-r580/kmod-6.12-nvidia-r580.spec).  The GPU operator's own driver (existing
#    clusters without hostDriver) is driver.version 595.91.07 (gpu-operator v26.7.0 values.yaml).
#  * GKE (COS): `gpu_driver_installation_config.gpu_driver_version` DEFAULT or LATEST is resolved per GPU type
#    by COS's gpu_driver_versions table, so both labels name a driver that supports the attached GPU on any GKE
#    version that offers the machine (mid-2025 entry: B200 LATEST 570.133.20; RTX PRO 6000 DEFAULT = LATEST =
#    575.57.08).  # unverified: the branch each label gives on the GKE versions the catalog allows today (no
#    stored copy of the GKE driver table); the program asks for LATEST everywhere (node_pools.GPU_DRIVER_VERSION).


@dataclass(frozen=True)
class DriverNeed:
    """What a GPU needs from its node's NVIDIA driver and from the CUDA in a container."""

    min_branch: int
    """Oldest driver branch (major version) that supports the GPU."""
    min_cuda: str
    """Oldest CUDA toolkit that compiles for the GPU's compute capability."""
    open_modules_only: bool
    """The proprietary kernel modules do not support the GPU (Blackwell): the open GPU kernel modules are a must."""


# Only the GPUs whose needs exceed what every node image shipped for years; older catalog GPUs need nothing
# the images lack.
GPU_DRIVER_NEEDS: dict[str, DriverNeed] = {
    "h200-141gb": DriverNeed(min_branch=560, min_cuda="11.8", open_modules_only=False),
    "b200-180gb": DriverNeed(min_branch=570, min_cuda="12.8", open_modules_only=True),
    "rtx-pro-6000": DriverNeed(min_branch=575, min_cuda="12.8", open_modules_only=True),
}

# Driver branch the EKS node images ship, per Kubernetes minor (sources above).
AL2023_NVIDIA_DRIVER = "580.159.03"
BOTTLEROCKET_NVIDIA_BRANCH: dict[str, int] = {"1.33": 570, "1.34": 580, "1.35": 580}
OPERATOR_DRIVER = "595.91.07"  # gpu-operator v26.7.0 values.yaml driver.version: what the operator installs


def _branch(version: str) -> int:
    return int(version.split(".")[0])


def node_driver(cfg: StackConfig) -> tuple[int | None, str]:
    """The driver branch the stack's GPU nodes run (None: decided outside this program) and where it comes from."""
    owner = ownership(cfg)
    version = cfg.cluster.kubernetes_version
    if owner.image == "eks-al2023":
        return _branch(AL2023_NVIDIA_DRIVER), f"the AL2023_x86_64_NVIDIA AMI ({AL2023_NVIDIA_DRIVER})"
    if owner.image == "eks-bottlerocket":
        branch = BOTTLEROCKET_NVIDIA_BRANCH.get(version)
        return branch, f"Bottlerocket aws-k8s-{version}-nvidia"
    if owner.driver == "operator":
        return _branch(OPERATOR_DRIVER), f"the GPU operator's driver ({OPERATOR_DRIVER})"
    if owner.image == "gke-cos":
        return None, "GKE (gpu_driver_version LATEST, chosen per GPU type)"
    return None, "the hosts (gpuStack.hostDriver)"


def is_blackwell(gpu_key: str) -> bool:
    return catalog.GPUS[gpu_key].architecture == "blackwell"


def kernel_module_type(cfg: StackConfig, owner: Ownership | None = None) -> str | None:
    """The operator's `driver.kernelModuleType` where it installs the driver: `open` as soon as one pool is
    Blackwell (the proprietary modules cannot drive it; the open ones drive every catalog GPU, Turing and later),
    else None (the chart's `auto`: open for R560+ on GPUs that support it)."""
    if (owner or ownership(cfg)).driver != "operator":
        return None
    return "open" if any(is_blackwell(p.gpu) for p in cfg.node_pools.gpu) else None


# Model-server images that cannot run on an architecture: engine -> architecture -> why (named in the error).
ENGINE_UNSUPPORTED: dict[str, dict[str, str]] = {
    # text-generation-inference@v3.3.7 (maintenance mode): docs/source/installation_nvidia.md supports H100, A100,
    # A10G and T4; the Dockerfile builds its CUDA kernels (flash-attention, exllama, AWQ, custom kernels) with
    # TORCH_CUDA_ARCH_LIST "8.0;8.6;9.0+PTX" on nvidia/cuda:12.4.1, a CUDA that predates Blackwell (12.8).
    "tgi": {"blackwell": "its kernels are built for compute capability 8.0/8.6/9.0 with CUDA 12.4, which predates "
                         "Blackwell (CUDA 12.8), and its documented GPUs end at H100"},
}
# Engines that do run on Blackwell, for the error's alternatives: the vLLM image builds for
# TORCH_CUDA_ARCH_LIST '7.0 7.5 8.0 8.9 9.0 10.0 12.0' on CUDA 12.9.1 (vllm-project/vllm docker/Dockerfile,
# commit dead20ba; # unverified: not re-read at v0.33.0, the repository is too large to fetch); Triton 26.07
# vllm-python-py3 is CUDA 13.3 (server docs/introduction/compatibility.md); TEI v1.9.3 publishes 100- and 120-
# images (config.engines.TEI_IMAGES).


def _engine_issue(path: str, engine: str, version: str, gpu_key: str, pool: str) -> Issue | None:
    reason = ENGINE_UNSUPPORTED.get(engine, {}).get(catalog.GPUS[gpu_key].architecture)
    if reason is None:
        return None
    others = sorted(e for e in ("vllm", "triton") if catalog.GPUS[gpu_key].architecture not in
                    ENGINE_UNSUPPORTED.get(e, {}))
    return Issue(path, (f"{engine} {version} cannot run on {gpu_key} (pool '{pool}', "
                        f"{catalog.GPUS[gpu_key].architecture}, compute capability "
                        f"{catalog.GPUS[gpu_key].compute_capability}): {reason}; use engine "
                        f"{' or '.join(others)}, or a pool of an older GPU"))


def driver_issues(cfg: StackConfig) -> list[Issue]:
    """GPUs the node image's driver cannot drive, and model servers whose image cannot run on the pool's GPU."""
    issues: list[Issue] = []
    branch, source = node_driver(cfg)
    for i, pool in enumerate(cfg.node_pools.gpu):
        need = GPU_DRIVER_NEEDS.get(pool.gpu)
        if need is None or branch is None or branch >= need.min_branch:
            continue
        fix = ("cluster.kubernetesVersion 1.34 or later (Bottlerocket R580), or cluster.eks.amiType "
               "AL2023_x86_64_NVIDIA" if ownership(cfg).image == "eks-bottlerocket" else "a newer driver")
        issues.append(Issue(key_path("nodePools", "gpu", i, "gpu"), (
            f"{pool.gpu} needs NVIDIA driver R{need.min_branch} or later, but {source} ships R{branch}; use {fix}")))
    pools = {p.name: p for p in cfg.node_pools.gpu}
    for i, model in enumerate(cfg.serving.models):
        for name in dict.fromkeys(n for n in (model.pool, model.fallback_pool) if n is not None):
            if name in pools and (issue := _engine_issue(key_path("serving", "models", i, "engine"), model.engine,
                                                         ENGINES[model.engine].version, pools[name].gpu, name)):
                issues.append(issue)
    return issues
