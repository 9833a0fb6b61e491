"""GPU and model catalog: the verified facts the capacity planner and the cluster components rely on.

Pure data plus two tiny helpers; standard library only.

Sources (stored copies, read on PRICES_AS_OF):

MIG profiles
  * NVIDIA MIG User Guide, "Supported MIG Profiles" (A100-SXM4-40GB, A100-SXM4-80GB, H100-SXM5-80GB tables; v580:
    H200 141GB, B200 180GB and RTX PRO 6000 Blackwell tables)
    https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html
  * `nvidia-smi mig -lgip` / `-lgipp` outputs (instance memory in MiB, placements => memory slices) quoted in
    the MIG user guide, GKE/GCE docs and NVIDIA/mig-parted + NVIDIA/gpu-operator default mig configs
    (https://github.com/NVIDIA/mig-parted, https://github.com/NVIDIA/gpu-operator).
  * Per-instance memory differs by a few hundred MiB between driver releases (e.g. 2g.10gb 9.62-9.75 GiB on
    A100-40GB); the LOWER reported value is used so memory estimates stay conservative.

GKE
  * GPUs on Compute Engine / machine types: https://cloud.google.com/compute/docs/gpus
    and https://cloud.google.com/compute/docs/accelerator-optimized-machines
  * Multi-instance GPUs: https://cloud.google.com/kubernetes-engine/docs/how-to/gpus-multi
  * Time-sharing: https://cloud.google.com/kubernetes-engine/docs/how-to/timesharing-gpus
  * MPS: https://cloud.google.com/kubernetes-engine/docs/how-to/nvidia-mps-gpus
  * GKE's partitioner: https://github.com/GoogleCloudPlatform/container-engine-accelerators
    (partition_gpu/partition_gpu.go; read at 992db81, 2026-06-11: partition sizes and max counts for
    nvidia-h200-141gb, nvidia-b200 and nvidia-rtx-pro-6000)
  * AI Hypercomputer "GPU machine types" (https://docs.cloud.google.com/ai-hypercomputer/docs/gpu): A4 and A3 Ultra
    specs and "you must reserve capacity to create instances or clusters, use Spot VMs, use Flex-start VMs, or create
    a resize request in a MIG" (no on-demand); "Consumption options"
    (https://cloud.google.com/ai-hypercomputer/docs/consumption-models): reservations for all GPU machine types,
    Flex-start and Spot for "any GPU machine except A4X".

EKS / EC2
  * https://aws.amazon.com/ec2/instance-types/ (g4dn, g5, g6, g6e, g7e, p4d, p4de, p5, p5e, p5en, p6-b200)
  * Reservations: EC2 On-Demand Capacity Reservations (any instance type, in one zone) and EC2 Capacity Blocks for
    ML (P-family GPU instances, reserved ahead for a fixed term).
  * https://aws.amazon.com/ec2/pricing/on-demand/ and https://aws.amazon.com/ec2/spot/pricing/

Prices
  * EC2 us-east-1 on-demand and spot: SkyPilot catalog v8 (AWS Pricing API + DescribeSpotPriceHistory snapshot)
    https://github.com/skypilot-org/skypilot-catalog/blob/master/catalogs/v8/aws/vms.csv
    Spot = median over the us-east-1 availability zones (Local Zones excluded).  p5.48xlarge on-demand is the
    post-June-2025 price ($55.04).  The stored copy read for issue 19 (00148f2) gives the same p5.48xlarge figures
    and the p5en, p5e, p6-b200 and g7e rows.
  * GCE A3 Ultra / A4 (issue 19): SkyPilot v8 gcp/vms.csv stored copy 006059e, VM row + GPU row in us-central1;
    G4 has no rows there (its figures are marked unverified).
  * GCE us-central1: Google Cloud pricing, https://cloud.google.com/compute/gpus-pricing and
    https://cloud.google.com/products/compute/pricing/accelerator-optimized (whole-machine figures for
    g2-standard-4/-48, a2-highgpu-1g/-8g, a2-ultragpu-*, a3-highgpu-*), completed with the SkyPilot GCP catalog
    (VM + GPU SKU prices) https://github.com/skypilot-org/skypilot-catalog/blob/master/catalogs/v8/gcp/vms.csv
    Note: that SkyPilot GCP file lists DWS flex-start prices as "on-demand" for A100-80GB and H100 in
    us-central1 -- those figures are NOT used here.
  * SPOT PRICES ARE INDICATIVE ONLY.  AWS spot moves continuously per AZ; GCE Spot prices are dynamic and are
    revised periodically.  Use them for rough monthly estimates, never for billing.
  * Prices are per whole machine/instance per hour, Linux, no sustained/committed-use discount.

Models
  * Each architecture comes from the model's config.json on the Hugging Face Hub (copies found in the code
    corpus / HF docs); the comment on each entry names the file it was read from.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from .model_catalog import MODELS, ModelArch, find_model  # re-exported: the model half lives in model_catalog

PRICES_AS_OF = "2026-11-22"
# The region every MachineType price below is for, per cloud.  Other regions are priced only through
# REGIONAL_PRICES; a stack in a region the catalog does not price is a config error.
PRICE_REGIONS = {"gke": "us-central1", "eks": "us-east-1"}

# How a machine can be obtained:
#   on-demand   pay as you go, no commitment (GCE "standard" provisioning model)
#   spot        preemptible spare capacity (GCE Spot VMs, EC2 Spot Instances)
#   flex-start  GCE Dynamic Workload Scheduler Flex-start: queued, runs up to 7 days, then deleted
#   reservation capacity reserved ahead: GCE reservations / future reservations (AI Hypercomputer), EC2 On-Demand
#               Capacity Reservations or Capacity Blocks for ML.  Billed whether used or not.
# A pool chooses one (GpuPool.capacity; flex-start on GKE only); config refuses a capacity its machine is not sold at
# and names how it IS sold (config/semantics.py, _pool_capacity).
CAPACITIES: frozenset[str] = frozenset({"on-demand", "spot", "flex-start", "reservation"})
# Every machine in this catalog can be reserved: GCE "Reservations ... All GPU machine types" (AI Hypercomputer
# consumption options); EC2 On-Demand Capacity Reservations accept any instance type.
_ON_DEMAND_AND_SPOT: frozenset[str] = frozenset({"on-demand", "spot", "reservation"})


# ---------------------------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MigProfile:
    name: str            # exact NVIDIA GPU-instance profile name, e.g. "1g.10gb"
    memory_gib: float    # memory of one instance as nvidia-smi reports it (MiB / 1024)
    compute_slices: int  # the "Ng" part (compute slices out of the GPU's mig_slices[0]: 7, or 4 on RTX PRO 6000)
    memory_slices: int   # memory slices out of the GPU's mig_slices[1] (8, or 4 on RTX PRO 6000)
    max_instances: int   # max instances of this profile on one GPU (homogeneous layout)


@dataclass(frozen=True)
class MachineType:
    name: str                    # "a2-ultragpu-1g" / "p4de.24xlarge"
    gpus: int
    vcpus: int
    memory_gib: float            # GCE "GB" in machine-type tables are binary GiB (2^30 bytes)
    # whole machine, in PRICE_REGIONS region, Linux; for machines not sold on-demand, the list price a reservation
    # is billed at where the cloud publishes one (GCE), None where it publishes none (EC2 Capacity-Blocks-only types)
    on_demand_usd_hour: float | None
    spot_usd_hour: float | None  # None where spot is not offered / no price published
    capacities: frozenset[str] = _ON_DEMAND_AND_SPOT  # how the cloud sells it (subset of CAPACITIES)


@dataclass(frozen=True)
class GpuModel:
    key: str
    display: str
    memory_gib: float                           # usable memory per GPU (nvidia-smi total, MiB/1024)
    architecture: str                           # "turing", "ampere", "ada", "hopper", "blackwell"
    mig_profiles: Mapping[str, MigProfile]      # empty when the GPU has no MIG
    gke_accelerator: str | None                 # GKE guest_accelerators type
    gke_machine_types: tuple[MachineType, ...]  # ascending gpus; within a GPU count the first one is the default
    gke_partition_sizes: frozenset[str]         # values GKE accepts for guest_accelerators.gpu_partition_size
    gke_sharing: frozenset[str]                 # subset of {"TIME_SHARING", "MPS"}
    eks_instance_types: tuple[MachineType, ...]  # ascending gpus; within a GPU count the first one is the default
    fp8: bool                                   # hardware FP8 tensor cores (Ada / Hopper / Blackwell)
    # --- performance (dense, no sparsity; the throughput estimate's inputs) ---------------------------------
    compute_capability: str = ""                # CUDA compute capability ("8.0", "9.0", "10.0"): what kernels run
    hbm_gb_s: float = 0.0                       # memory bandwidth, GB/s (10^9 bytes)
    bf16_tflops: float = 0.0                    # dense BF16/FP16 tensor-core TFLOPS
    fp8_tflops: float = 0.0                     # dense FP8 tensor-core TFLOPS (0: no FP8 tensor cores)
    fp4_tflops: float = 0.0                     # dense FP4 tensor-core TFLOPS (0: none; Blackwell has them)
    # --- MIG geometry (config.gpu_stack.layout_problems) ---------------------------------------------------------
    mig_slices: tuple[int, int] = (7, 8)        # (compute, memory) slices of one GPU
    # (compute, memory) slices of a profile -> memory slices it may start at (NVML GPU-instance placements); None:
    # the A100/H100 geometry in config.gpu_stack (which H200 and B200 share: same 7/8 slices, same profile shapes)
    mig_placements: Mapping[tuple[int, int], tuple[int, ...]] | None = None


def _mig(*profiles: MigProfile) -> Mapping[str, MigProfile]:
    return MappingProxyType({p.name: p for p in profiles})


_NO_MIG: Mapping[str, MigProfile] = MappingProxyType({})


def _also(capacity: str, machines: tuple[MachineType, ...]) -> tuple[MachineType, ...]:
    """The same machines, each also sold at `capacity`."""
    return tuple(replace(m, capacities=m.capacities | {capacity}) for m in machines)


# ---------------------------------------------------------------------------------------------------------------
# MIG profiles (NVIDIA MIG user guide, "Supported MIG Profiles")
#
# Decisions:
#  * "+me" (media extensions: the GPU's NVDEC/NVJPG/OFA engines) profiles are included because nvidia-smi and
#    the NVIDIA device plugin expose them (as resource nvidia.com/mig-1g.5gb.me: the plugin writes "+" as ".",
#    see config.gpu_stack.mig_resource).  Only ONE +me instance fits a GPU (there is one set of media engines),
#    so max_instances is 1.  GKE does not offer them.
#  * 1g.10gb on A100-40GB (1 GPC, 2 memory slices, max 4) needs driver R525+; 1g.20gb on 80GB parts likewise.
#  * Memory slices are read from `nvidia-smi mig -lgipp` placements (e.g. A100-80GB 1g.10gb places at 0..6 with
#    size 1, 1g.20gb at 0,2,4,6 with size 2).  NVIDIA's own summary table prints "1/8" memory for 1g.10gb on the
#    40GB part -- it is really 2/8 (10 GB of 40 GB).
# ---------------------------------------------------------------------------------------------------------------

_A100_40GB_MIG = _mig(
    MigProfile("1g.5gb", 4.75, 1, 1, 7),       # 4864 MiB
    MigProfile("1g.5gb+me", 4.75, 1, 1, 1),    # same slice + all media engines; one per GPU
    MigProfile("1g.10gb", 9.62, 1, 2, 4),      # 9856 MiB; R525+ drivers; NOT 7 per GPU (only 8 memory slices)
    MigProfile("2g.10gb", 9.62, 2, 2, 3),      # 9856-9984 MiB depending on driver
    MigProfile("3g.20gb", 19.50, 3, 4, 2),     # 19968-20096 MiB
    MigProfile("4g.20gb", 19.50, 4, 4, 1),     # 19968 MiB
    MigProfile("7g.40gb", 39.25, 7, 8, 1),     # 40192 MiB
)

_A100_80GB_MIG = _mig(
    MigProfile("1g.10gb", 9.50, 1, 1, 7),      # 9728 MiB
    MigProfile("1g.10gb+me", 9.50, 1, 1, 1),   # one per GPU
    MigProfile("1g.20gb", 19.50, 1, 2, 4),     # 19968 MiB; R525+ drivers
    MigProfile("2g.20gb", 19.50, 2, 2, 3),     # 19968 MiB
    MigProfile("3g.40gb", 39.25, 3, 4, 2),     # 40192-40448 MiB
    MigProfile("4g.40gb", 39.25, 4, 4, 1),     # 40192 MiB
    MigProfile("7g.80gb", 78.75, 7, 8, 1),     # 80640-81152 MiB depending on driver
)

_H100_80GB_MIG = _mig(
    MigProfile("1g.10gb", 9.62, 1, 1, 7),      # 9856-9984 MiB
    MigProfile("1g.10gb+me", 9.62, 1, 1, 1),   # one per GPU
    MigProfile("1g.20gb", 19.50, 1, 2, 4),     # 19968-20096 MiB
    MigProfile("2g.20gb", 19.50, 2, 2, 3),     # 19968-20096 MiB
    MigProfile("3g.40gb", 39.25, 3, 4, 2),     # 40192-40448 MiB
    MigProfile("4g.40gb", 39.25, 4, 4, 1),     # 40192-40448 MiB
    MigProfile("7g.80gb", 79.25, 7, 8, 1),     # 81152 MiB
)

# H200 141GB (NVIDIA MIG user guide v580, "H200 MIG Profiles": 1g.18gb x7, 1g.18gb+me x1, 1g.35gb x4 (1/4 of
# memory), 2g.35gb x3, 3g.71gb x2, 4g.71gb x1, 7g.141gb x1; the same counts in the GPU operator v26.7.0 default
# mig-parted config (assets/state-mig-manager/0400_configmap.yaml: all-1g.18gb ... all-7g.141gb) and in GKE's
# partitioner).  Instance memory as nvidia-smi reports it (driver 570.86.15, H200 in MIG mode): 1g.18gb 16384 MiB
# (16 SMs), 2g.35gb 33280 MiB (32 SMs); 3g/4g.71gb 71424 MiB (a second nvidia-smi listing); 7g.141gb 140.00 GiB in
# an `nvidia-smi mig -lgip` listing.  Note the 1-slice instance is 16.00 GiB, not 141/8 = 17.6.
_H200_141GB_MIG = _mig(
    MigProfile("1g.18gb", 16.00, 1, 1, 7),     # 16384 MiB
    MigProfile("1g.18gb+me", 16.00, 1, 1, 1),  # same slice + media engines; one per GPU
    MigProfile("1g.35gb", 32.50, 1, 2, 4),     # 2 memory slices like 2g.35gb (33280 MiB)  # unverified: no listing
    MigProfile("2g.35gb", 32.50, 2, 2, 3),     # 33280 MiB
    MigProfile("3g.71gb", 69.75, 3, 4, 2),     # 71424 MiB
    MigProfile("4g.71gb", 69.75, 4, 4, 1),     # 71424 MiB (same 4 memory slices as 3g.71gb)
    MigProfile("7g.141gb", 140.00, 7, 8, 1),   # lgip 140.00 GiB
)

# B200 180GB (MIG user guide v580 "B200 MIG Profiles": 1g.23gb x7, 1g.23gb+me x1, 1g.45gb x4 (2/8 memory), 2g.45gb x3,
# 3g.90gb x2, 4g.90gb x1, 7g.180gb x1; operator v26.7.0 default config "# GB200, B200" all-1g.23gb: 7, and the
# 0x290110DE (B200) all-balanced 2x 1g.23gb + 2g.45gb + 3g.90gb; GKE partitioner nvidia-b200 sizes).  Memory: 1g.23gb
# 20992 MiB (B200 MIG slices on a UCloud node, "2x B200 MIG 1g.23gb (2x20,992 MiB)"), 2g.45gb 44.25 GiB and 3g.90gb
# 89 GiB as CUDA reports them (torch total_memory on B200 MIG slices).
_B200_180GB_MIG = _mig(
    MigProfile("1g.23gb", 20.50, 1, 1, 7),     # 20992 MiB
    MigProfile("1g.23gb+me", 20.50, 1, 1, 1),  # one per GPU
    MigProfile("1g.45gb", 44.25, 1, 2, 4),     # 2 memory slices like 2g.45gb  # unverified: no listing
    MigProfile("2g.45gb", 44.25, 2, 2, 3),     # 44.25 GiB (CUDA)
    MigProfile("3g.90gb", 89.00, 3, 4, 2),     # "89 GB" (CUDA, GiB); lower bound of 89.x
    MigProfile("4g.90gb", 89.00, 4, 4, 1),     # same 4 memory slices as 3g.90gb  # unverified: no listing
    # unverified: no listing found; 2 x the 3g.90gb figure (a lower bound: 8 memory slices hold at least two 4-slice
    # instances' worth)
    MigProfile("7g.180gb", 178.00, 7, 8, 1),
)

# RTX PRO 6000 Blackwell Server Edition (MIG user guide v580 "RTX PRO 6000 Blackwell MIG Profiles", which covers the
# Server Edition: FOUR compute and four memory slices, 1g.24gb (1/4) x4, 1g.24gb+me x1, 2g.48gb (1/2) x2, 4g.96gb x1;
# the same counts in GKE's partitioner and the operator's "# RTX-PRO-6000-96GB" configs).  The +gfx (graphics),
# +me.all and -me variants are not catalogued: the config's profile names are `<n>g.<m>gb[+me]`.  Memory: 1g.24gb
# 24192 MiB (46 SMs) in an nvidia-smi listing of RTX PRO 6000 MIG devices (driver 610.43.02).
_RTX_PRO_6000_MIG = _mig(
    MigProfile("1g.24gb", 23.62, 1, 1, 4),     # 24192 MiB = 23.625 GiB
    MigProfile("1g.24gb+me", 23.62, 1, 1, 1),  # one per GPU
    MigProfile("2g.48gb", 47.25, 2, 2, 2),     # unverified: no listing; 2 x 1g.24gb (lower bound)
    MigProfile("4g.96gb", 94.50, 4, 4, 1),     # unverified: no listing; 4 x 1g.24gb (lower bound)
)
# Placements on the 4-slice GPU: 1g at 0..3, 2g at 0 or 2, 4g at 0.  # unverified: inferred from the profile sizes
# and counts (no `nvidia-smi mig -lgipp` output found); the operator's balanced layout 2x 1g.24gb + 1x 2g.48gb fits.
_RTX_PRO_6000_PLACEMENTS: Mapping[tuple[int, int], tuple[int, ...]] = MappingProxyType({
    (1, 1): (0, 1, 2, 3), (2, 2): (0, 2), (4, 4): (0,),
})

# GKE time-sharing: "all NVIDIA GPU models" (GKE >= 1.23.7-gke.1400).  MPS: "you can enable NVIDIA MPS for all
# NVIDIA GPU types" on Standard clusters, GKE >= 1.27.7-gke.1088000 (older doc versions say "all NVIDIA Tesla
# GPU types").
_GKE_SHARING = frozenset({"TIME_SHARING", "MPS"})


# ---------------------------------------------------------------------------------------------------------------
# GKE machine types (us-central1).  Specs: cloud.google.com/compute/docs/gpus + accelerator-optimized-machines.
# Capacities: every machine is on-demand, Spot and reservable unless noted; the accelerator-optimized ones (A2, A3,
# G2) are also Flex-start ("Flex-start VMs support all accelerator-optimized machine types (except A4X and G4)",
# cloud.google.com/compute/docs/instances/about-flex-start-vms); N1+T4 is not accelerator-optimized.
# ---------------------------------------------------------------------------------------------------------------

# T4 is attached to N1 VMs.  GKE/GCE allow 1, 2 or 4 T4 per N1 VM; 1-2 GPUs -> up to 48 vCPU / 312 GB,
# 4 GPUs -> up to 96 vCPU / 624 GB.  Price = N1 VM (0.0475 USD/vCPU-h incl. memory for n1-standard;
# spot 0.01306) + T4 0.35 USD/h (spot 0.175).
_GKE_T4 = (
    MachineType("n1-standard-4", 1, 4, 15.0, 0.54, 0.22723),
    MachineType("n1-standard-8", 1, 8, 30.0, 0.73, 0.27946),
    MachineType("n1-standard-16", 2, 16, 60.0, 1.46, 0.55892),
    MachineType("n1-standard-32", 4, 32, 120.0, 2.92, 1.11784),
)

# G2 = L4.  On-demand = g2 VM SKU + L4 0.56004 USD/h (matches Google's published g2-standard-4 0.706832 and
# g2-standard-48 4.001665).  Spot: Google publishes 0.424056 (g2-standard-4) and 2.400672 (g2-standard-48),
# i.e. 60 % of on-demand; the other sizes use that same 60 %.
_GKE_L4 = _also("flex-start", (
    MachineType("g2-standard-4", 1, 4, 16.0, 0.70683, 0.42406),
    MachineType("g2-standard-8", 1, 8, 32.0, 0.85363, 0.51218),    # unverified: spot derived (60 % of OD)
    MachineType("g2-standard-12", 1, 12, 48.0, 1.00042, 0.60025),  # unverified: spot derived (60 % of OD)
    MachineType("g2-standard-16", 1, 16, 64.0, 1.14721, 0.68833),  # unverified: spot derived (60 % of OD)
    MachineType("g2-standard-32", 1, 32, 128.0, 1.73438, 1.04063),  # unverified: spot derived (60 % of OD)
    MachineType("g2-standard-24", 2, 24, 96.0, 2.00083, 1.20050),  # unverified: spot derived (60 % of OD)
    MachineType("g2-standard-48", 4, 48, 192.0, 4.00167, 2.40067),
    MachineType("g2-standard-96", 8, 96, 384.0, 8.00334, 4.80200),  # unverified: spot derived (60 % of OD)
))

# A2 Standard ("highgpu"/"megagpu") = A100 40GB.  Published: a2-highgpu-1g 3.673385 / spot 2.20401,
# a2-highgpu-8g 29.38708 / spot 17.63208; the 2g/4g sizes are exactly linear between them.
_GKE_A100_40GB = _also("flex-start", (
    MachineType("a2-highgpu-1g", 1, 12, 85.0, 3.67339, 2.20401),
    MachineType("a2-highgpu-2g", 2, 24, 170.0, 7.34677, 4.40802),
    MachineType("a2-highgpu-4g", 4, 48, 340.0, 14.69354, 8.81604),
    MachineType("a2-highgpu-8g", 8, 96, 680.0, 29.38708, 17.63208),
    # unverified: on-demand = SKU sum (VM 8.79698 + 16 x 2.93391); spot derived as 60 % of on-demand.
    MachineType("a2-megagpu-16g", 16, 96, 1360.0, 55.73951, 33.44371),
))

# A2 Ultra = A100 80GB.  Published on-demand and spot figures for every size.
_GKE_A100_80GB = _also("flex-start", (
    MachineType("a2-ultragpu-1g", 1, 12, 170.0, 5.06880, 3.04124),
    MachineType("a2-ultragpu-2g", 2, 24, 340.0, 10.13760, 6.08248),
    MachineType("a2-ultragpu-4g", 4, 48, 680.0, 20.27520, 12.16495),
    MachineType("a2-ultragpu-8g", 8, 96, 1360.0, 40.55040, 24.32990),
))

# A3 High = H100 80GB (accelerator nvidia-h100-80gb); A3 Edge uses the same accelerator.  A3 Mega
# (a3-megagpu-8g) uses a DIFFERENT accelerator type, nvidia-h100-mega-80gb, so it is not listed here.
# a3-highgpu-1g/-2g/-4g exist but are NOT sold on-demand: Spot VMs or DWS Flex-start only
# (cloud.google.com/compute/docs/accelerator-optimized-machines, A3 High machine types).  Their
# on_demand_usd_hour is the list-equivalent (1/8, 2/8, 4/8 of a3-highgpu-8g) and is never used: config
# refuses an on-demand pool on them.
_SPOT_OR_FLEX = frozenset({"spot", "flex-start"})
_GKE_H100_80GB = _also("flex-start", (
    MachineType("a3-highgpu-1g", 1, 26, 234.0, 11.06125, 6.62029, _SPOT_OR_FLEX),
    MachineType("a3-highgpu-2g", 2, 52, 468.0, 22.12250, 13.24057, _SPOT_OR_FLEX),
    MachineType("a3-highgpu-4g", 4, 104, 936.0, 44.24500, 26.48115, _SPOT_OR_FLEX),
    MachineType("a3-highgpu-8g", 8, 208, 1872.0, 88.49000, 52.96230),
    # unverified: a3-edgegpu-8g price assumed equal to a3-highgpu-8g (same VM and GPU SKU prices in the
    # billing catalog); it is only offered in a few regions and may not be orderable in us-central1.
    MachineType("a3-edgegpu-8g", 8, 208, 1872.0, 88.49000, 52.96230),
))


# Prices of the new GCE machines: SkyPilot catalog v8 gcp/vms.csv (stored copy 006059e), us-central1, VM row + GPU
# row (the catalog prices A3/A4 GPUs as separate SKUs).  These machines are not sold on-demand: their "on-demand"
# figure is the list price a reservation is billed at.  # unverified: not cross-checked against Google's
# accelerator-optimized pricing page (the stored copy's tables could not be read).
_RESERVATION_SPOT_FLEX = frozenset({"reservation", "spot", "flex-start"})

# A3 Ultra = H200 141GB (nvidia-h200-141gb), 8 GPUs only: 224 vCPU, 2,952 GB (AI Hypercomputer "GPU machine types").
# Sold through reservations, Spot or Flex-start only ("you must reserve capacity ..., use Spot VMs, use Flex-start
# VMs, or create a resize request in a MIG").  Price: VM 12.266 + 8x H200 74.49392 = 86.75992 on-demand list;
# Spot 3.74713 + 37.2472 = 40.99433.
_GKE_H200_141GB = (
    MachineType("a3-ultragpu-8g", 8, 224, 2952.0, 86.75992, 40.99433, _RESERVATION_SPOT_FLEX),
)

# A4 = B200 (nvidia-b200), 8 GPUs only: 224 vCPU, 3,968 GB (AI Hypercomputer "GPU machine types"); the same
# reservation / Spot / Flex-start-only note as A3 Ultra.  Price: the B200 SKU row carries the whole machine (the
# a4-highgpu-8g VM row is 0.0): 90.216 list, Spot 32.6064.
_GKE_B200_180GB = (
    MachineType("a4-highgpu-8g", 8, 224, 3968.0, 90.216, 32.6064, _RESERVATION_SPOT_FLEX),
)

# G4 = RTX PRO 6000 Blackwell Server Edition (nvidia-rtx-pro-6000): g4-standard-48/-96/-192/-384 with 1/2/4/8 GPUs
# (SkyPilot's GCP catalog maps RTXPRO6000 to exactly these), 48 vCPU / 180 GB per GPU (g4-standard-48: "48 vCPUs,
# 180GB RAM"; the larger sizes scale linearly).  Sold on-demand ("Standard" provisioning), Spot and Flex-start
# ("any GPU machine except A4X", AI Hypercomputer consumption options; the older about-flex-start page excluded G4),
# and through reservations.
# unverified: prices.  The stored SkyPilot GCP catalog has no G4 rows; 4.50 USD/h per GPU is the g4-standard-48
# on-demand figure a dated (2026-07-18) billing note quotes, scaled linearly.  No Spot figure was found: a spot
# pool is priced at on-demand (an upper bound, config.capacity.node_price).
_GKE_RTX_PRO_6000 = (
    MachineType("g4-standard-48", 1, 48, 180.0, 4.50, None, _ON_DEMAND_AND_SPOT | {"flex-start"}),
    MachineType("g4-standard-96", 2, 96, 360.0, 9.00, None, _ON_DEMAND_AND_SPOT | {"flex-start"}),
    MachineType("g4-standard-192", 4, 192, 720.0, 18.00, None, _ON_DEMAND_AND_SPOT | {"flex-start"}),
    MachineType("g4-standard-384", 8, 384, 1440.0, 36.00, None, _ON_DEMAND_AND_SPOT | {"flex-start"}),
)


# ---------------------------------------------------------------------------------------------------------------
# EC2 instance types (us-east-1).  Specs and prices: SkyPilot catalog v8 aws/vms.csv (AWS Pricing API);
# spot = median of the us-east-1 AZs.
# ---------------------------------------------------------------------------------------------------------------

_EKS_T4 = (  # g4dn
    MachineType("g4dn.xlarge", 1, 4, 16.0, 0.526, 0.2039),
    MachineType("g4dn.2xlarge", 1, 8, 32.0, 0.752, 0.3145),
    MachineType("g4dn.4xlarge", 1, 16, 64.0, 1.204, 0.4498),
    MachineType("g4dn.8xlarge", 1, 32, 128.0, 2.176, 0.6947),
    MachineType("g4dn.16xlarge", 1, 64, 256.0, 4.352, 0.9668),
    MachineType("g4dn.12xlarge", 4, 48, 192.0, 3.912, 1.3211),
    MachineType("g4dn.metal", 8, 96, 384.0, 7.824, 2.9633),
)

_EKS_L4 = (  # g6
    MachineType("g6.xlarge", 1, 4, 16.0, 0.8048, 0.3820),
    MachineType("g6.2xlarge", 1, 8, 32.0, 0.9776, 0.4765),
    MachineType("g6.4xlarge", 1, 16, 64.0, 1.3232, 0.6820),
    MachineType("g6.8xlarge", 1, 32, 128.0, 2.0144, 0.9544),
    MachineType("g6.16xlarge", 1, 64, 256.0, 3.3968, 1.1594),
    MachineType("g6.12xlarge", 4, 48, 192.0, 4.6016, 1.9992),
    MachineType("g6.24xlarge", 4, 96, 384.0, 6.6752, 2.9160),
    MachineType("g6.48xlarge", 8, 192, 768.0, 13.3504, 5.5119),
)

_EKS_A10G = (  # g5
    MachineType("g5.xlarge", 1, 4, 16.0, 1.006, 0.4360),
    MachineType("g5.2xlarge", 1, 8, 32.0, 1.212, 0.4985),
    MachineType("g5.4xlarge", 1, 16, 64.0, 1.624, 0.6603),
    MachineType("g5.8xlarge", 1, 32, 128.0, 2.448, 0.9401),
    MachineType("g5.16xlarge", 1, 64, 256.0, 4.096, 1.2446),
    MachineType("g5.12xlarge", 4, 48, 192.0, 5.672, 2.1824),
    MachineType("g5.24xlarge", 4, 96, 384.0, 8.144, 3.1697),
    MachineType("g5.48xlarge", 8, 192, 768.0, 16.288, 5.8671),
)

_EKS_L40S = (  # g6e -- every size up to 16xlarge has ONE GPU (g6e.2xlarge is 1x L40S, not 2)
    MachineType("g6e.xlarge", 1, 4, 32.0, 1.861, 1.0046),
    MachineType("g6e.2xlarge", 1, 8, 64.0, 2.24208, 0.9180),
    MachineType("g6e.4xlarge", 1, 16, 128.0, 3.00424, 1.1459),
    MachineType("g6e.8xlarge", 1, 32, 256.0, 4.52856, 1.3280),
    MachineType("g6e.16xlarge", 1, 64, 512.0, 7.57719, 1.6389),
    MachineType("g6e.12xlarge", 4, 48, 384.0, 10.49264, 5.2764),
    MachineType("g6e.24xlarge", 4, 96, 768.0, 15.06559, 5.4375),
    MachineType("g6e.48xlarge", 8, 192, 1536.0, 30.13118, 10.3727),
)

# p4d / p4de are the ONLY A100 instances on EC2 and come only with 8 GPUs.
_EKS_A100_40GB = (MachineType("p4d.24xlarge", 8, 96, 1152.0, 21.957642, 8.0001),)
_EKS_A100_80GB = (MachineType("p4de.24xlarge", 8, 96, 1152.0, 27.44705, 9.3120),)

# p5.4xlarge (1x H100 80GB, 16 vCPU, 256 GiB) exists since 2025; no spot price is published for it in
# us-east-1, hence None.  p5.48xlarge on-demand is the June-2025 reduced price; spot median of 6 AZs
# (two AZs sat at the on-demand cap).
# unverified: whether p5.4xlarge is sold as spot.  The missing price is no evidence that it is not, so both
# capacities stay recorded and a spot pool on it is priced at on-demand (an upper bound).
_EKS_H100_80GB = (
    MachineType("p5.4xlarge", 1, 16, 256.0, 6.88, None),
    MachineType("p5.48xlarge", 8, 192, 2048.0, 55.04, 23.45),
)


# p5en / p5e = H200 141GB, 8 GPUs, 192 vCPU, 2,048 GiB (SkyPilot v8 aws/vms.csv rows, MemoryInfo 144384 MiB).
# p5en.48xlarge: on-demand 63.296, Spot median of use1-az2 18.2492 and use1-az6 16.5551 = 17.40215 (the Atlanta Local
# Zone use1-atl2-az1 excluded).  p5e.48xlarge: no on-demand price in any region and no us-east-1 row at all; Spot
# prices appear only in us-east-2 / us-west-2 / ap-southeast-3.  AWS sells P5e through EC2 Capacity Blocks for ML:
# recorded as reservation and spot, with no us-east-1 figure (a pool on it names the missing price).
_EKS_H200_141GB = (
    MachineType("p5en.48xlarge", 8, 192, 2048.0, 63.296, 17.40215),
    MachineType("p5e.48xlarge", 8, 192, 2048.0, None, None, frozenset({"reservation", "spot"})),
)

# p6-b200.48xlarge = 8x B200 (MemoryInfo 183359 MiB, as nvidia-smi reports), 192 vCPU, 2,048 GiB.  On-demand
# 113.9328; Spot: one us-east-1 AZ row, use1-az6 21.0148 (use1-atl2-az1 Local Zone excluded).
_EKS_B200_180GB = (MachineType("p6-b200.48xlarge", 8, 192, 2048.0, 113.9328, 21.0148),)

# g7e = RTX PRO 6000 Blackwell Server Edition ("RTX PRO Server 6000" in the AWS API): 1 GPU on 2x/4x/8xlarge,
# 2/4/8 on 12x/24x/48xlarge.  us-east-1 on-demand; Spot = mean of the two us-east-1 AZ rows (use1-az2, use1-az6).
_EKS_RTX_PRO_6000 = (
    MachineType("g7e.2xlarge", 1, 8, 64.0, 3.36312, 1.5094),      # spot 1.4782 / 1.5406
    MachineType("g7e.4xlarge", 1, 16, 128.0, 3.99816, 1.94185),   # spot 1.7772 / 2.1065
    MachineType("g7e.8xlarge", 1, 32, 256.0, 5.26824, 2.39785),   # spot 2.2840 / 2.5117
    MachineType("g7e.12xlarge", 2, 48, 512.0, 8.28608, 3.6946),   # spot 3.6846 / 3.7046
    MachineType("g7e.24xlarge", 4, 96, 1024.0, 16.57216, 7.2858),  # spot 7.2628 / 7.3088
    MachineType("g7e.48xlarge", 8, 192, 2048.0, 33.14432, 14.66155),  # spot 14.8213 / 14.5018
)


# ---------------------------------------------------------------------------------------------------------------
# GPUs
# memory_gib = nvidia-smi "memory.total" / 1024: T4 15360 MiB, L4 23034, A10G 23028, L40S 46068,
# A100-SXM4-40GB 40960, A100-SXM4-80GB 81920, H100 80GB HBM3 81559, H200 143771, B200 183359 (also the AWS API's
# MemoryInfo for p6-b200), RTX PRO 6000 Blackwell Server Edition 97887.
#
# Performance, dense (NVIDIA prints "*" figures with 2:4 sparsity: dense is half of them):
#   compute_capability  CUDA GPUs table (https://developer.nvidia.com/cuda-gpus): T4 7.5, A100 8.0, A10G 8.6 (GA102),
#                       L4/L40S 8.9, H100/H200 9.0, B200 10.0, RTX PRO 6000 Blackwell 12.0 (the TEI v1.9.3 README
#                       files B200 under "Blackwell 10.0" and RTX PRO 6000 under "12.0").
#   T4          datasheet: 320 GB/s, "Mixed Precision (FP16/FP32) 65 TFLOPS" (Turing has no BF16 and no sparsity).
#   L4          datasheet: 300 GB/s, FP16/BF16 242* -> 121, FP8 485* -> 242.5.
#   A10G        NVIDIA publishes no A10G datasheet; 600 GB/s and the A10 datasheet's BF16 125 (250*) are used.
#               # unverified: A10G tensor throughput (AWS's part), A10 figure assumed
#   L40S        datasheet: 864 GB/s, BF16 362.05 (733*), FP8 733 (1,466*).
#   A100        datasheet: 40GB SXM 1,555 GB/s, 80GB SXM 2,039 GB/s, BF16 312 (624*), no FP8.
#   H100 SXM    datasheet: 3.35 TB/s, BF16 1,979* -> 989.5, FP8 3,958* -> 1,979.
#   H200 SXM    datasheet: 4.8 TB/s, BF16 1,979* -> 989.5, FP8 3,958* -> 1,979 (the H100 SXM tensor cores).
#   B200        HGX B200 datasheet, per GPU (8-GPU figures / 8): 8 TB/s (64 TB/s), FP4 9 PF dense (72 PF), FP8
#               9 PF* -> 4.5 PF (72 PF* / 8), BF16 4.5 PF* -> 2.25 PF (36 PF* / 8).
#   RTX PRO 6000 Blackwell Server Edition product page: 1,597 GB/s (the 1,792 GB/s figure is the Workstation
#               Edition), "FP4 4 PFLOPS", "FP8 2 PFLOPS", "FP16 | BF16 1 PFLOP", all with sparsity -> 2,000 /
#               1,000 / 500 dense.  # unverified: NVIDIA does not print the dense BF16 figure; half of 1 PFLOP.
# ---------------------------------------------------------------------------------------------------------------

GPUS: Mapping[str, GpuModel] = MappingProxyType({
    "t4": GpuModel(
        key="t4", display="NVIDIA T4 16GB", memory_gib=15.0, architecture="turing",
        mig_profiles=_NO_MIG,
        gke_accelerator="nvidia-tesla-t4", gke_machine_types=_GKE_T4,
        gke_partition_sizes=frozenset(), gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_T4, fp8=False,
        compute_capability="7.5", hbm_gb_s=320, bf16_tflops=65, fp8_tflops=0
    ),
    "l4": GpuModel(
        key="l4", display="NVIDIA L4 24GB", memory_gib=22.49, architecture="ada",
        mig_profiles=_NO_MIG,
        gke_accelerator="nvidia-l4", gke_machine_types=_GKE_L4,
        gke_partition_sizes=frozenset(), gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_L4, fp8=True,
        compute_capability="8.9", hbm_gb_s=300, bf16_tflops=121, fp8_tflops=242.5
    ),
    "a10g": GpuModel(  # AWS-only part (g5); not offered on Google Cloud
        key="a10g", display="NVIDIA A10G 24GB", memory_gib=22.49, architecture="ampere",
        mig_profiles=_NO_MIG,
        gke_accelerator=None, gke_machine_types=(),
        gke_partition_sizes=frozenset(), gke_sharing=frozenset(),
        eks_instance_types=_EKS_A10G, fp8=False,
        compute_capability="8.6", hbm_gb_s=600, bf16_tflops=125, fp8_tflops=0
    ),
    "l40s": GpuModel(  # not offered on Google Cloud (no GCE accelerator type)
        key="l40s", display="NVIDIA L40S 48GB", memory_gib=44.99, architecture="ada",
        mig_profiles=_NO_MIG,
        gke_accelerator=None, gke_machine_types=(),
        gke_partition_sizes=frozenset(), gke_sharing=frozenset(),
        eks_instance_types=_EKS_L40S, fp8=True,
        compute_capability="8.9", hbm_gb_s=864, bf16_tflops=362.05, fp8_tflops=733
    ),
    "a100-40gb": GpuModel(
        key="a100-40gb", display="NVIDIA A100 40GB", memory_gib=40.0, architecture="ampere",
        mig_profiles=_A100_40GB_MIG,
        gke_accelerator="nvidia-tesla-a100", gke_machine_types=_GKE_A100_40GB,
        # GKE "Running multi-instance GPUs" table for nvidia-tesla-a100.
        gke_partition_sizes=frozenset({"1g.5gb", "2g.10gb", "3g.20gb", "7g.40gb"}),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_A100_40GB, fp8=False,
        compute_capability="8.0", hbm_gb_s=1555, bf16_tflops=312, fp8_tflops=0
    ),
    "a100-80gb": GpuModel(
        key="a100-80gb", display="NVIDIA A100 80GB", memory_gib=80.0, architecture="ampere",
        mig_profiles=_A100_80GB_MIG,
        gke_accelerator="nvidia-a100-80gb", gke_machine_types=_GKE_A100_80GB,
        # GKE doc table for nvidia-a100-80gb.  # unverified: GKE's partitioner source also knows 1g.20gb and
        # 4g.40gb, but the documented list has only these four; keep to the documented ones.
        gke_partition_sizes=frozenset({"1g.10gb", "2g.20gb", "3g.40gb", "7g.80gb"}),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_A100_80GB, fp8=False,
        compute_capability="8.0", hbm_gb_s=2039, bf16_tflops=312, fp8_tflops=0
    ),
    "h100-80gb": GpuModel(
        key="h100-80gb", display="NVIDIA H100 80GB", memory_gib=79.65, architecture="hopper",
        mig_profiles=_H100_80GB_MIG,
        gke_accelerator="nvidia-h100-80gb", gke_machine_types=_GKE_H100_80GB,
        # GKE doc table for nvidia-h100-80gb (1g.20gb is H100-only on GKE).  # unverified: 4g.40gb is not in
        # the documented list although the partitioner code maps it.
        gke_partition_sizes=frozenset({"1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "7g.80gb"}),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_H100_80GB, fp8=True,
        compute_capability="9.0", hbm_gb_s=3350, bf16_tflops=989.5, fp8_tflops=1979
    ),
    "h200-141gb": GpuModel(
        key="h200-141gb", display="NVIDIA H200 141GB", memory_gib=140.40, architecture="hopper",
        mig_profiles=_H200_141GB_MIG,
        gke_accelerator="nvidia-h200-141gb", gke_machine_types=_GKE_H200_141GB,
        # GKE's MIG page names H200 among the supported GPUs; its partitioner maps these nvidia-h200-141gb sizes
        # (no +me).  # unverified: the GKE doc's size table itself could not be read.
        gke_partition_sizes=frozenset({"1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"}),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_H200_141GB, fp8=True,
        compute_capability="9.0", hbm_gb_s=4800, bf16_tflops=989.5, fp8_tflops=1979
    ),
    "b200-180gb": GpuModel(
        key="b200-180gb", display="NVIDIA B200 180GB", memory_gib=179.06, architecture="blackwell",
        mig_profiles=_B200_180GB_MIG,
        gke_accelerator="nvidia-b200", gke_machine_types=_GKE_B200_180GB,
        # GKE's MIG page names B200 among the supported GPUs; its partitioner maps these nvidia-b200 sizes.
        # unverified: the GKE doc's size table itself could not be read.
        gke_partition_sizes=frozenset({"1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"}),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_B200_180GB, fp8=True,
        compute_capability="10.0", hbm_gb_s=8000, bf16_tflops=2250, fp8_tflops=4500, fp4_tflops=9000,
    ),
    "rtx-pro-6000": GpuModel(
        key="rtx-pro-6000", display="NVIDIA RTX PRO 6000 Blackwell Server Edition 96GB", memory_gib=95.59,
        architecture="blackwell",
        mig_profiles=_RTX_PRO_6000_MIG, mig_slices=(4, 4), mig_placements=_RTX_PRO_6000_PLACEMENTS,
        gke_accelerator="nvidia-rtx-pro-6000", gke_machine_types=_GKE_RTX_PRO_6000,
        # GKE's MIG page lists A100, H100, H200 and B200 only, so no partition size is offered here although the
        # partitioner code maps nvidia-rtx-pro-6000 sizes.  # unverified: whether GKE accepts them on G4 node pools
        gke_partition_sizes=frozenset(),
        gke_sharing=_GKE_SHARING,
        eks_instance_types=_EKS_RTX_PRO_6000, fp8=True,
        compute_capability="12.0", hbm_gb_s=1597, bf16_tflops=500, fp8_tflops=1000, fp4_tflops=2000,
    ),
})


# Cluster Autoscaler image per Kubernetes minor (its minor must match the cluster's): the newest patch
# tag of each minor in kubernetes/autoscaler (tags cluster-autoscaler-1.33.6, -1.34.5, -1.35.2),
# published as registry.k8s.io/autoscaling/cluster-autoscaler:v<tag>.
CLUSTER_AUTOSCALER_IMAGES: Mapping[str, str] = MappingProxyType({"1.33": "v1.33.6", "1.34": "v1.34.5",
                                                                 "1.35": "v1.35.2"})


# GKE Kubernetes minor versions available for new clusters, per release channel (the cluster's
# gcp.releaseChannel; EXTENDED also offers minors in extended support).  Source: GKE release notes, "Current
# versions" table, row "Available minor versions" (https://cloud.google.com/kubernetes-engine/docs/release-notes),
# newest stored copy, read 2026-12-07: Rapid 1.34 to 1.37, Regular 1.34 to 1.36, Stable 1.34 to 1.35,
# Extended 1.31 to 1.36 (default patches 1.36.4-gke.1082000 / 1.35.7-gke.1222000 / 1.35.6-gke.1250000, i.e.
# September 2026: the Regular-channel feed makes 1.35.8-gke.1036000 the default on 2026-09-17).  1.33 left
# the Regular channel in July 2026 (Regular-channel release notes, 2026-07-09).  GKE adds a minor to Rapid a
# few weeks after its upstream release and keeps it about 14 months in standard support
# (https://cloud.google.com/kubernetes-engine/versioning): refresh this table from the release notes.
GKE_KUBERNETES_VERSIONS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "RAPID": ("1.34", "1.35", "1.36", "1.37"),
    "REGULAR": ("1.34", "1.35", "1.36"),
    "STABLE": ("1.34", "1.35"),
    "EXTENDED": ("1.31", "1.32", "1.33", "1.34", "1.35", "1.36"),
})


# ---------------------------------------------------------------------------------------------------------------
# Prices per region
#
# The MachineType figures are for PRICE_REGIONS.  To price another region, add its figures here as data
# (provider -> region -> machine/instance type -> (on-demand, spot) USD per hour, spot None where not sold or
# not published), with the source and date in a comment, e.g. from the SkyPilot catalog rows of that region
# (catalogs/v8/gcp/vms.csv, catalogs/v8/aws/vms.csv) or the cloud's pricing pages.  Every GPU machine type a
# stack's pools use must be listed for the stack's region, or config names the missing one.
# ---------------------------------------------------------------------------------------------------------------

REGIONAL_PRICES: Mapping[str, Mapping[str, Mapping[str, tuple[float | None, float | None]]]] = MappingProxyType({
    "gke": MappingProxyType({}),
    "eks": MappingProxyType({}),
})


# ---------------------------------------------------------------------------------------------------------------
# Prices per capacity step (issue 20): what a pool of each `capacity` is priced at.
#
#   on-demand    the MachineType on-demand figure (PRICES_AS_OF)
#   spot         the MachineType spot figure; none recorded: on-demand (an upper bound)
#   reservation  the on-demand figure.  GCE: "You're charged for the reserved resources at the same on-demand rate
#                as running VMs, including any applicable discounts, until the reservation is deleted. A VM consuming
#                a reservation doesn't incur separate charges" (compute/docs/instances/reservations-overview
#                #reservation-billing, as quoted by Google's "Use reservations" inference page, read 2026-12-07).
#                EC2 On-Demand Capacity Reservations bill the on-demand rate of the reserved instances whether used
#                or not (EC2 User Guide "Capacity Reservation pricing and billing"; # unverified: not re-read here).
#                Committed-use discounts / Savings Plans are not modelled: the plan is then an upper bound.
#   capacity block (reservation with capacityBlock: true, EC2 Capacity Blocks for ML): the on-demand figure.
#                # unverified: Capacity Block prices are offer prices set by supply and demand at purchase time
#                (EC2 User Guide, "Capacity Blocks pricing and billing").  The only published table found (the
#                "Amazon EC2 Capacity Blocks for ML Pricing" page, rates valid until 2025-01-01) gave p5.48xlarge in
#                US East (N. Virginia) an effective 39.33 USD per instance-hour and p5e.48xlarge only in US East
#                (Ohio); no p5en or p6-b200 figure for us-east-1 was found.  That table is superseded, so Capacity
#                Block pools are priced at on-demand, assumed an upper bound; p5e.48xlarge has no us-east-1 figure
#                at all and stays unpriced (a pool on it is refused with the priced machine types).
#   flex-start   FLEX_START_USD_HOUR where recorded, else on-demand (an upper bound).  GCE Flex-start VMs (Dynamic
#                Workload Scheduler) bill "vCPUs, memory, and any attached GPUs at a discounted price" for A4, A3,
#                A2 and H4D machines (cloud.google.com/compute/docs/instances/about-flex-start-vms); GKE's flex-start
#                page states "discounts (up to 53%) for vCPUs, GPUs and TPUs" (kubernetes-engine/docs/concepts/dws).
#                G2 is not in the discounted list: its flex-start price is its on-demand price.
# ---------------------------------------------------------------------------------------------------------------

FLEX_START_PRICES_AS_OF = "2026-12-07"
# GCE us-central1 Flex-start figures, USD per machine-hour.  Source: SkyPilot catalog v8 gcp/vms.csv, stored copy
# 006059e, read 2026-12-07: the A100-80GB GPU rows of us-central1 (1/2/4/8 GPUs: 1.8462, 3.6924, 7.38479,
# 14.76958) are the DWS flex-start GPU SKU (the standard A100 80GB GPU part is 5.0688 - 1.09962 = 3.96918 per
# GPU, so 1.8462 is 53.5 % off: Google's "up to 53%"), plus the A2 Ultra VM rows (1.09962 ... 8.79698) at the
# standard VM price (the VM part is discounted too, by an unpublished amount: these figures are an upper bound).
# a2-ultragpu-1g = 1.09962 + 1.8462 = 2.94582; -2g = 2.19924 + 3.6924 = 5.89164; -4g = 4.39849 + 7.38479 =
# 11.78328; -8g = 8.79698 + 14.76958 = 23.56656.
# Not recorded (priced on-demand, an upper bound):
#   * a3-highgpu-*: # unverified: the same file's us-central1 H100 row (4.20076 per GPU) is 57 % below the standard
#     H100 GPU part (88.49 / 8 - 1.18251 = 9.87874), more than the 53 % Google states, so it is not used;
#   * a2-highgpu-* (A100 40GB): that file's rows are the standard price (23.47126 = 29.38708 - 5.91582): no figure;
#   * a3-ultragpu-8g, a4-highgpu-8g: the file's rows are the list price; no flex-start figure found;
#   * g2-standard-*: no discount (see above), so on-demand is the price, not only a bound.
FLEX_START_USD_HOUR: Mapping[str, float] = MappingProxyType({
    "a2-ultragpu-1g": 2.94582,
    "a2-ultragpu-2g": 5.89164,
    "a2-ultragpu-4g": 11.78328,
    "a2-ultragpu-8g": 23.56656,
})


def price_basis(provider: str, region: str | None, machine: str, capacity: str,
                capacity_block: bool = False) -> tuple[float | None, str]:
    """(USD per machine-hour, which figure it is) of a pool of `capacity` on `machine` in `region`.

    The second element names the figure used, for the plan report: "spot", "on-demand", "flex-start",
    "on-demand (reservation)", "on-demand (Capacity Block, unverified upper bound)", "on-demand (no spot figure:
    upper bound)", "on-demand (no flex-start figure: upper bound)"."""
    on_demand = price(provider, region, machine, "on-demand")
    if capacity == "spot":
        spot = price(provider, region, machine, "spot")
        return (spot, "spot") if spot is not None else (on_demand, "on-demand (no spot figure: upper bound)")
    if capacity == "reservation":
        return on_demand, ("on-demand (Capacity Block, unverified upper bound)" if capacity_block
                           else "on-demand (reservation)")
    if capacity == "flex-start":
        home = region is None or region == PRICE_REGIONS.get(provider)
        flex = FLEX_START_USD_HOUR.get(machine) if provider == "gke" and home else None
        if flex is not None:
            return flex, "flex-start"
        if provider == "gke" and machine.startswith("g2-"):
            return on_demand, "on-demand (G2 flex-start is not discounted)"
        return on_demand, "on-demand (no flex-start figure: upper bound)"
    return on_demand, "on-demand"


def priced_regions(provider: str) -> tuple[str, ...]:
    """Regions whose prices the catalog records for a cloud (`gke` / `eks`)."""
    home = PRICE_REGIONS.get(provider)
    return tuple(r for r in (home, *REGIONAL_PRICES.get(provider, {})) if r)


def price(provider: str, region: str | None, machine: str, capacity: str) -> float | None:
    """USD per hour of one machine in a region at a capacity; None where the catalog has no figure."""
    if region is None or region == PRICE_REGIONS.get(provider):
        for gpu in GPUS.values():
            for m in (gpu.gke_machine_types if provider == "gke" else gpu.eks_instance_types):
                if m.name == machine:
                    return m.spot_usd_hour if capacity == "spot" else m.on_demand_usd_hour
        return None
    figures = REGIONAL_PRICES.get(provider, {}).get(region, {}).get(machine)
    if figures is None:
        return None
    return figures[1] if capacity == "spot" else figures[0]



def gpu_keys() -> tuple[str, ...]:
    """Catalog GPU keys in catalog order."""
    return tuple(GPUS)


__all__ = [
    "CAPACITIES",
    "FLEX_START_PRICES_AS_OF",
    "FLEX_START_USD_HOUR",
    "GKE_KUBERNETES_VERSIONS",
    "GPUS",
    "MODELS",
    "PRICES_AS_OF",
    "PRICE_REGIONS",
    "REGIONAL_PRICES",
    "GpuModel",
    "MachineType",
    "MigProfile",
    "ModelArch",
    "find_model",
    "gpu_keys",
    "price",
    "price_basis",
    "priced_regions",
]
