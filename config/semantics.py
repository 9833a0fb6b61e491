"""Checks that need the catalog or more than one config group.

Each check returns `Issue`s (full key path + what is allowed) instead of raising, so one run
reports every problem of a stack file at once.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from . import catalog, compute_classes, inference_checks, karpenter, model_files, queueing, upgrades
from .admission import registry_allowed
from .capacity import EMBEDDING_SERVER, CapacityPlan, canary_model, machine_for, served_models, shape_of
from .cron import to_elasticsearch
from .engines import (
    ENGINES,
    FORMAT_CHECKED_ENGINES,
    FP8_KV_MIN_CAPABILITY,
    MAX_NUM_SEQS_UNSUPPORTED,
    VLLM_FORMAT_MIN_CAPABILITY,
    expert_parallel_args,
    format_runs_on,
    formats_on,
    fp8_kv_runs_on,
    kv_cache_dtype_args,
    quantization_args,
)
from .errors import Issue, key_path, required
from .gpu_stack import driver_issues, layout_problems, ownership, pool_profiles
from .models import GpuPool, PoolReservation, ServedModel, StackConfig
from .namespaces import autoscaled, component_namespaces, credential_namespaces, platform_namespace_names
from .network import eks_subnets
from .pool_scaling import epp_scaled
from .shape import Shape


def _choices(values: Iterable[object]) -> str:
    values = list(values)
    return ", ".join(str(v) for v in values) if values else "(none)"


def check(cfg: StackConfig) -> list[Issue]:
    canaries = inference_checks.canary_issues(cfg)
    if canaries:  # every later check plans the canary servers
        return canaries
    return [*inference_checks.check(cfg),
            *_cluster(cfg), *_pools(cfg), *_gpu_stack(cfg), *_models(cfg), *_rag(cfg), *_rag_data(cfg), *_backup(cfg),
            *_namespaces(cfg), *deployer_issues(cfg, hf_token=False), *_observability(cfg), *_serving(cfg),
            *_admission(cfg), *driver_issues(cfg), *karpenter.check(cfg), *compute_classes.check(cfg),
            *queueing.check(cfg)]


RESERVED_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def _namespaces(cfg: StackConfig) -> Iterator[Issue]:
    tenants = cfg.tenancy.namespaces
    reserved = RESERVED_NAMESPACES | platform_namespace_names()
    for name in tenants:
        if name in reserved:
            yield Issue(f"{key_path('tenancy', 'namespaces')}.{name}",
                        f"'{name}' is reserved for Kubernetes or a platform operator; reserved: "
                        f"{_choices(sorted(reserved))}")
    paths = {"serving": ("serving", "namespace"), "rag": ("rag", "namespace"),
             "gateway": ("rag", "gateway", "namespace"), "observability": ("observability", "namespace")}
    for role, ns in component_namespaces(cfg).items():
        if ns not in tenants:
            yield Issue(key_path(*paths[role]), (
                f"'{ns}' is not a workload namespace; add it to tenancy.namespaces (with its quotas) or use one of: "
                f"{_choices(tenants)}"))


def deployer_issues(cfg: StackConfig, hf_token: bool) -> list[Issue]:
    """No deployer group on a namespace that holds platform credentials (see `credential_namespaces`)."""
    issues = []
    holders = credential_namespaces(cfg, hf_token)
    for ns, tenant in cfg.tenancy.namespaces.items():
        if tenant.deployers and ns in holders:
            issues.append(Issue(f"{key_path('tenancy', 'namespaces')}.{ns}.deployers", (
                f"'{ns}' holds platform credentials ({'; '.join(holders[ns])}), and whoever may create pods there "
                "can read them; deploy tenant workloads into a namespace without platform components (add one to "
                "tenancy.namespaces) or move the platform component to its own namespace")))
    return issues


def _gpu_stack(cfg: StackConfig) -> Iterator[Issue]:
    # On GKE the GPU driver and device plugin are GKE-managed (COS): MIG partitions created from
    # gpu_partition_size are advertised as nvidia.com/gpu, i.e. the single strategy.
    has_mig = any(p.sharing.strategy == "mig" for p in cfg.node_pools.gpu)
    if cfg.cluster.provider == "gke" and has_mig and cfg.gpu_stack.mig_strategy == "mixed":
        yield Issue(key_path("gpuStack", "migStrategy"),
                    "GKE advertises MIG partitions as nvidia.com/gpu; use single on gke")
    if cfg.gpu_stack.host_driver and cfg.cluster.provider != "existing":
        yield Issue(key_path("gpuStack", "hostDriver"),
                    f"only for provider existing; on {cfg.cluster.provider} the node image decides who installs the "
                    "driver")
    owner = ownership(cfg)
    for i, pool in enumerate(cfg.node_pools.gpu):
        strategy = pool.sharing.strategy
        if strategy == "exclusive":
            continue
        if owner.image == "eks-bottlerocket":
            yield Issue(key_path("nodePools", "gpu", i, "sharing", "strategy"), (
                f"{strategy} on Bottlerocket is configured through Bottlerocket's own device plugin settings, which "
                "this program does not manage; use cluster.eks.amiType AL2023_x86_64_NVIDIA or strategy exclusive"))
        elif owner.operator_owns_sharing and not cfg.gpu_stack.operator:
            yield Issue(key_path("gpuStack", "operator"), (
                f"pool '{pool.name}' uses {strategy}, which the GPU Operator's device plugin / MIG manager apply on "
                f"{owner.image} nodes; set operator: true or make the pool exclusive"))


def _cluster(cfg: StackConfig) -> Iterator[Issue]:
    c = cfg.cluster
    yield from _gke_control_plane(cfg)
    if c.provider in ("gke", "eks"):
        sep = "-" if c.provider == "gke" else ""
        region = required(c.region, key_path("cluster", "region"), "a region on gke and eks", "config.models")
        for i, zone in enumerate(c.zones):
            suffix = zone[len(region) + len(sep):] if zone.startswith(region + sep) else ""
            if not (len(suffix) == 1 and suffix.isalpha()):
                example = f"{c.region}{sep}a"
                yield Issue(key_path("cluster", "zones", i), f"zone {zone!r} is not in region {c.region} (e.g. "
                                                             f"{example})")
        dupes = [z for z, n in Counter(c.zones).items() if n > 1]
        if dupes:
            yield Issue(key_path("cluster", "zones"), f"duplicate zones: {_choices(dupes)}")
    if c.provider in ("gke", "eks") and cfg.node_pools.system is None:
        yield Issue(key_path("nodePools", "system"), f"provider {c.provider} needs a system pool: {{machineType, min, "
                                                     f"max}}")
    if c.provider == "existing" and cfg.node_pools.system is not None:
        yield Issue(key_path("nodePools", "system"), "existing clusters bring their own CPU nodes; remove it")
    if c.provider == "eks" and len(set(c.zones)) < 2:
        yield Issue(key_path("cluster", "zones"), "EKS needs subnets in at least 2 zones")
    if c.provider == "eks" and c.zones and not (c.eks and c.eks.subnet_ids):
        vpc_cidr = c.eks.vpc_cidr if c.eks else "10.0.0.0/16"
        try:
            eks_subnets(vpc_cidr, len(c.zones))
        except ValueError as exc:
            yield Issue(key_path("cluster", "eks", "vpcCidr"), str(exc).removeprefix(
                "ai-platform:cluster.eks.vpcCidr "))
    if c.provider == "gke":
        channel = required(c.gcp, key_path("cluster", "gcp"), "a gcp block on gke", "config.models").release_channel
        offered = catalog.GKE_KUBERNETES_VERSIONS[channel]
        if c.kubernetes_version not in offered:
            yield Issue(key_path("cluster", "kubernetesVersion"), (
                f"{c.kubernetes_version} is not offered for new clusters in the GKE {channel} release channel "
                f"(cluster.gcp.releaseChannel); allowed: {_choices(offered)}"))
    if c.provider in ("gke", "eks") and c.region not in catalog.priced_regions(c.provider):
        yield Issue(key_path("cluster", "region"), (
            f"{c.region} is not priced in the catalog, so the capacity plan and budget policies cannot cost "
            f"it; priced {c.provider} regions: {_choices(catalog.priced_regions(c.provider))} (add a region's "
            "prices as data in config/catalog.py REGIONAL_PRICES)"))
    if c.provider == "eks" and c.kubernetes_version not in catalog.CLUSTER_AUTOSCALER_IMAGES:
        yield Issue(key_path("cluster", "kubernetesVersion"), (
            f"{c.kubernetes_version} has no Cluster Autoscaler release in the catalog (its minor must match the "
            f"cluster's); supported on eks: {_choices(catalog.CLUSTER_AUTOSCALER_IMAGES)}"))
    yield from _eks_endpoint(cfg)


def _eks_endpoint(cfg: StackConfig) -> Iterator[Issue]:
    """A protected stack's EKS API server is never public to the whole internet (the pack's
    cluster-endpoint-not-public policy judges the same on the recorded cluster)."""
    c = cfg.cluster
    if c.provider != "eks" or c.eks is None or not c.eks.public_endpoint or not c.deletion_protection:
        return
    for i, cidr in enumerate(c.eks.public_access_cidrs):
        if ipaddress.IPv4Network(cidr).prefixlen == 0:
            yield Issue(key_path("cluster", "eks", "publicAccessCidrs", i), (
                f"{cidr} opens the public API endpoint of a protected stack (cluster.deletionProtection) to the "
                "internet; name the CIDRs that deploy and administer the cluster, or set publicEndpoint: false and "
                "deploy from a self-hosted runner inside the VPC (docs/clusters.md)"))


# Wider than this is not an office or VPN range but a slice of the internet.
WIDEST_AUTHORIZED_PREFIX = 8


def _gke_control_plane(cfg: StackConfig) -> Iterator[Issue]:
    """A protected (production) stack never opens the GKE control plane to the internet; the config-side twin of
    the pack's endpoint policy, so the error names the key."""
    c = cfg.cluster
    if c.provider != "gke" or c.gcp is None:
        return
    if c.deletion_protection:
        for i, net in enumerate(c.gcp.authorized_networks):
            if ipaddress.IPv4Network(net.cidr).prefixlen < WIDEST_AUTHORIZED_PREFIX:
                yield Issue(key_path("cluster", "gcp", "authorizedNetworks", i, "cidr"), (
                    f"{net.cidr} opens the control plane to the internet on a deletion-protected stack "
                    f"(cluster.deletionProtection); allowed: ranges of /{WIDEST_AUTHORIZED_PREFIX} or narrower, or "
                    "none (the IAM-authorized DNS endpoint, cluster.gcp.dnsEndpoint, reaches it from anywhere)"))


def _pools(cfg: StackConfig) -> Iterator[Issue]:
    provider = cfg.cluster.provider
    names = [p.name for p in cfg.node_pools.gpu]
    for name, n in Counter(names).items():
        if n > 1:
            yield Issue(key_path("nodePools", "gpu"), f"pool name '{name}' is used {n} times; names must be unique")
    if "system" in names:
        yield Issue(key_path("nodePools", "gpu"), "'system' is reserved for the CPU pool")
    for i, pool in enumerate(cfg.node_pools.gpu):
        yield from _pool(provider, i, pool, cfg.gpu_stack.mig_strategy)
        if provider in ("gke", "eks"):
            region = required(cfg.cluster.region, key_path("cluster", "region"), "a region on gke and eks",
                              "config.models")
            reservation = cfg.cluster.gcp.reservation if provider == "gke" and cfg.cluster.gcp else None
            yield from _pool_capacity(provider, region, i, pool, reservation)
        yield from _pool_capacity_settings(cfg, i, pool)


# GpuPool.capacity values a pool can ask for, per cloud: EC2 has no flex-start (its time-boxed GPU capacity is the
# Capacity Block for ML, a `capacity: reservation` with `reservation.capacityBlock`).
_SELECTABLE = {"gke": ("on-demand", "spot", "flex-start", "reservation"),
               "eks": ("on-demand", "spot", "reservation")}
# GKE reservation names (Compute Engine resource names, RFC 1035) and EC2 capacity reservation ids ("cr-" and 17
# hex digits, e.g. cr-02168da1478b509e0 in docs.aws.amazon.com/eks/latest/userguide/capacity-blocks-mng.html).
# unverified: that no capacity reservation ever had a short (8-digit) id; capacity reservations date from 2018,
# after EC2's move to 17-character ids, so none is expected.
_GKE_RESERVATION_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_EC2_RESERVATION_ID = re.compile(r"^cr-[0-9a-f]{17}$")


def _pool_capacity(provider: str, region: str, i: int, pool: GpuPool,
                   reservation: str | None = None) -> Iterator[Issue]:
    """The pool's machine is sold at the pool's capacity (catalog MachineType.capacities) and priced in region.

    On GKE with `cluster.gcp.reservation`, on-demand pools consume that reservation (SPECIFIC_RESERVATION affinity,
    components/cluster/gke/node_pools.py): their machine must then be sold through reservations instead.
    A machine the cloud does not sell at the pool's capacity is refused with how it IS sold and the alternatives:
    the pool's other selectable capacities on that machine, the GKE reservation where the machine is reservable,
    and the other machine types of the same GPU sold at the asked capacity (same GPU count: `machineType`, other
    counts: `gpusPerNode`)."""
    path = partial(key_path, "nodePools", "gpu", i)
    machine = machine_for(provider, pool)
    if machine is None:  # wrong GPU count / machine type: reported by _pool
        return
    selectable = _SELECTABLE[provider]
    if pool.capacity not in selectable:  # flex-start on EKS
        yield Issue(path("capacity"), (
            f"{pool.capacity} is GKE's Dynamic Workload Scheduler; EKS has no flex-start: for time-boxed GPU capacity "
            f"buy an EC2 Capacity Block for ML of {machine.name} and use capacity: reservation with "
            "reservation: {capacityBlock: true, names: [cr-...]}; allowed on eks: " + _choices(selectable)))
        return
    gpu = catalog.GPUS[pool.gpu]
    offered = gpu.gke_machine_types if provider == "gke" else gpu.eks_instance_types
    cloud = provider.upper()
    reserved = provider == "gke" and pool.capacity == "on-demand" and reservation is not None
    asked = "reservation" if reserved else pool.capacity
    if asked not in machine.capacities:
        sold = sorted(machine.capacities)
        fixes = [f"capacity: {c}" for c in sold if c in selectable]
        if provider == "gke" and pool.capacity == "on-demand" and not reserved and "reservation" in sold:
            fixes.append(f"cluster.gcp.reservation: <a Compute Engine reservation of {machine.name}> (on-demand "
                         "pools consume it)")
        others = [m for m in offered if asked in m.capacities and m.name != machine.name]
        same = [m.name for m in others if m.gpus == machine.gpus]
        if same:
            fixes.append(f"machineType: {' or '.join(same)} for {pool.capacity}")
        counts = sorted({m.gpus for m in others if m.gpus != machine.gpus})
        if counts:
            fixes.append(f"gpusPerNode {' or '.join(str(n) for n in counts)} "
                         f"({', '.join(m.name for m in others if m.gpus in counts)}) for {pool.capacity}")
        if not others:
            fixes.append(f"another GPU: no {cloud} machine with {pool.gpu} is sold {asked}")
        unsupported = [c for c in sold if c not in selectable]
        note = (f"; {' and '.join(unsupported)} is not offered on {cloud} (allowed: {_choices(selectable)})"
                if unsupported else "")
        what = f"machineType {machine.name}" if pool.machine_type else machine.name
        how = (f"through reservations (cluster.gcp.reservation {reservation!r} makes on-demand pools consume one)"
               if reserved else pool.capacity)
        yield Issue(path("capacity"), (
            f"{what} ({machine.gpus}x {pool.gpu}) is not sold {how} on {cloud}, only "
            f"{' / '.join(sold)}; use {' or '.join(fixes)}{note}"))
        return  # its price at a capacity it is not sold at is moot
    if pool.capacity == "spot":
        for j, name in enumerate(pool.spot_instance_types):
            extra = next((m for m in offered if m.name == name), None)
            if extra is not None and "spot" not in extra.capacities:
                yield Issue(path("spotInstanceTypes", j), (
                    f"{name} is not sold as spot, only {' / '.join(sorted(extra.capacities))}; remove it"))
    # A spot pool without a spot figure is priced on-demand (capacity.node_price), so either figure will do there.
    figures = [catalog.price(provider, region, machine.name, c) for c in {pool.capacity, "on-demand"}]
    if region in catalog.priced_regions(provider) and all(f is None for f in figures):
        if region == catalog.PRICE_REGIONS.get(provider):
            # The home region's figures are the catalog's own: none means the cloud lists no price there.
            priced = [m.name for m in offered if m.gpus == machine.gpus and m.name != machine.name
                      and catalog.price(provider, region, m.name, pool.capacity) is not None]
            yield Issue(path("gpu"), (
                f"{machine.name} has no {region} {pool.capacity} price in the catalog (the cloud lists none there: "
                f"it is not offered in {region}); use "
                + (f"machineType: {' or '.join(priced)}" if priced else "another GPU or region")))
        else:
            yield Issue(path("gpu"), (f"the catalog has no {region} {pool.capacity} price for {machine.name}; add "
                                      f"it to config/catalog.py REGIONAL_PRICES['{provider}']['{region}']"))


def _pool_capacity_settings(cfg: StackConfig, i: int, pool: GpuPool) -> Iterator[Issue]:
    """`reservation` and `flexStart` of a pool: given exactly where its capacity reads them, and within what the
    cloud's provisioner can do with them (components/cluster/gke/node_pools.py, .../eks/node_groups.py)."""
    provider = cfg.cluster.provider
    path = partial(key_path, "nodePools", "gpu", i)
    res, flex = pool.reservation, pool.flex_start
    if provider not in _SELECTABLE:  # an existing cluster: its nodes are not the program's
        for key, block in (("reservation", res), ("flexStart", flex)):
            if block is not None:
                yield Issue(path(key), (
                    f"{key} configures nodes the program creates; provider {provider} brings its own nodes "
                    "(capacity only labels them): remove it"))
        return
    if pool.capacity == "reservation" and res is None:
        yield Issue(path("reservation"), (
            "capacity: reservation needs the reservation it consumes: {affinity: specific, names: [...]} (GKE "
            "reservation names, EC2 capacity reservation ids cr-...) or {affinity: any}"))
    elif pool.capacity != "reservation" and res is not None:
        yield Issue(path("reservation"), (
            f"reservation is read only by capacity: reservation pools (this pool is {pool.capacity}); remove it or "
            "set capacity: reservation"))
    if flex is not None and pool.capacity != "flex-start":
        yield Issue(path("flexStart"), (
            f"flexStart is read only by capacity: flex-start pools (this pool is {pool.capacity}); remove it or set "
            "capacity: flex-start"))
    if pool.capacity == "flex-start" and provider == "gke":
        yield from _flex_start(cfg, path, pool)
    if pool.capacity == "reservation" and res is not None:
        yield from _reservation(cfg, path, pool, res)


def _flex_start(cfg: StackConfig, path: Callable[..., str], pool: GpuPool) -> Iterator[Issue]:
    """A GKE flex-start pool: scaled from zero by waiting pods (GKE's flex-start and queued provisioning node pools
    are created with --num-nodes=0 and autoscaling, cloud.google.com/kubernetes-engine/docs/how-to/provisioningrequest
    and .../dws-flex-start-training); queued provisioning hands out nodes only to ProvisioningRequests, which Kueue
    (ai-platform:queueing) creates for admitted workloads."""
    if pool.min > 0:
        yield Issue(path("min"), (
            f"a flex-start pool starts empty and gets nodes only while pods wait for them (at most "
            f"{(pool.flex_start.max_run_duration_hours if pool.flex_start else 168)} h each); min {pool.min} cannot "
            "be held: set min: 0, or use capacity: on-demand or reservation for nodes that must always be there"))
    if pool.flex_start is not None and pool.flex_start.queued and not cfg.queueing.enabled:
        yield Issue(path("flexStart", "queued"), (
            "flex-start without a queue: a queued-provisioning pool gets nodes only through ProvisioningRequests, "
            "which Kueue creates for the workloads it admits; set ai-platform:queueing.enabled: true, or "
            "flexStart.queued: false (nodes come one by one as pods wait)"))


def _reservation(cfg: StackConfig, path: Callable[..., str], pool: GpuPool, res: PoolReservation) -> Iterator[Issue]:
    """The reservation of a `capacity: reservation` pool: names where the provisioner needs them, in the cloud's
    form, and the machine type it holds (as declared: the plan cannot see the cloud's reservation)."""
    provider = cfg.cluster.provider
    karpenter = provider == "eks" and cfg.node_pools.provisioner == "karpenter"
    rpath = partial(path, "reservation")
    if res.tags and not karpenter:
        managed = "GKE node pools" if provider == "gke" else "managed node groups"
        yield Issue(rpath("tags"), (
            "tags select EC2 capacity reservations through Karpenter (capacityReservationSelectorTerms) and need "
            f"nodePools.provisioner: karpenter on eks; {managed} consume reservations by name: use reservation.names"))
    if res.affinity == "specific" and not res.names and not (karpenter and res.tags):
        yield Issue(rpath("names"), (
            "affinity: specific needs the reservations to consume: "
            + ("GKE reservation names" if provider == "gke" else "EC2 capacity reservation ids (cr-...)")
            + (" or tags (Karpenter)" if karpenter else "") + "; or affinity: any (any matching reservation)"))
    if res.affinity == "any" and res.names:
        yield Issue(rpath("names"), (
            "names are read only with affinity: specific; remove them (affinity any consumes any matching "
            "reservation) or set affinity: specific"))
    if provider == "gke":
        for j, name in enumerate(res.names):
            if not _GKE_RESERVATION_NAME.match(name):
                yield Issue(rpath("names", j), (
                    f"{name!r} is not a Compute Engine reservation name (lowercase letters, digits and hyphens, "
                    "starting with a letter, at most 63 characters); name the reservation, not its URL: a shared "
                    "reservation's project goes in reservation.project"))
        if res.capacity_block:
            yield Issue(rpath("capacityBlock"), (
                "Capacity Blocks for ML are EC2's; on gke a future reservation is consumed like any reservation: "
                "remove capacityBlock"))
        if res.project is not None and res.affinity != "specific":
            yield Issue(rpath("project"), (
                "project names the owner of a shared reservation consumed by name: set affinity: specific with "
                "names, or remove project (affinity any consumes the cluster project's matching reservations)"))
    else:
        for j, name in enumerate(res.names):
            if not _EC2_RESERVATION_ID.match(name):
                yield Issue(rpath("names", j), (
                    f"{name!r} is not an EC2 capacity reservation id (cr- and 17 hex digits, e.g. "
                    "cr-0123456789abcdef0); On-Demand Capacity Reservations and Capacity Blocks both have one"))
        if res.project is not None:
            yield Issue(rpath("project"), "project is GKE's (a shared reservation's owner); remove it on eks")
        if not karpenter and len(res.names) > 1:
            yield Issue(rpath("names"), (
                f"a managed node group's launch template targets one capacity reservation, not {len(res.names)}; "
                "give each reservation its own pool, or use nodePools.provisioner: karpenter"))
        if res.capacity_block and res.affinity != "specific":
            yield Issue(rpath("affinity"), (
                "a Capacity Block is consumed only when targeted by id: set affinity: specific with its cr- id"))
    machine = machine_for(provider, pool)
    if res.machine_type is not None and machine is not None and res.machine_type != machine.name:
        yield Issue(rpath("machineType"), (
            f"the reservation holds {res.machine_type} but the pool runs {machine.name} ({machine.gpus}x {pool.gpu}): "
            "a reservation serves only VMs of its own machine type; set the pool's machineType (and gpusPerNode) to "
            f"{res.machine_type}, or name a reservation of {machine.name}"))


def _pool(provider: str, i: int, pool: GpuPool, mig_strategy: str) -> Iterator[Issue]:
    gpu = catalog.GPUS[pool.gpu]
    path = partial(key_path, "nodePools", "gpu", i)
    s = pool.sharing
    if s.strategy == "mig":
        if not gpu.mig_profiles:
            with_mig = [k for k, g in catalog.GPUS.items() if g.mig_profiles]
            yield Issue(path("sharing", "strategy"), f"{pool.gpu} has no MIG; GPUs with MIG: {_choices(with_mig)}")
        elif s.layout is not None:
            for problem in layout_problems(pool.gpu, s.layout):
                yield Issue(path("sharing", "layout"), f"invalid MIG layout for {pool.gpu}: {problem}")
            if provider == "gke":
                yield Issue(path("sharing", "layout"), (
                    "GKE partitions every GPU into one profile (gpu_partition_size); use profile on gke, "
                    f"allowed: {_choices(sorted(gpu.gke_partition_sizes))}"))
            elif len(s.layout) > 1 and mig_strategy == "single":
                yield Issue(path("sharing", "layout"), (
                    f"a layout of {len(s.layout)} profiles needs gpuStack.migStrategy: mixed (the single strategy "
                    "advertises every slice as nvidia.com/gpu and requires one profile per node)"))
        elif s.profile not in gpu.mig_profiles:
            yield Issue(path("sharing", "profile"),
                        f"{s.profile!r} is not a MIG profile of {pool.gpu}; allowed: {_choices(gpu.mig_profiles)}")
        elif provider == "gke" and s.profile not in gpu.gke_partition_sizes:
            yield Issue(path("sharing", "profile"), (f"GKE does not offer gpu_partition_size {s.profile!r} on "
                        f"{pool.gpu}; allowed on GKE: {_choices(sorted(gpu.gke_partition_sizes))}"))
    if provider == "gke" and s.strategy in ("time-slicing", "mps"):
        wanted = {"time-slicing": "TIME_SHARING", "mps": "MPS"}[s.strategy]
        if wanted not in gpu.gke_sharing:
            yield Issue(path("sharing", "strategy"), f"GKE does not offer {wanted} on {pool.gpu}")
    if provider == "existing":
        if pool.machine_type or pool.spot_instance_types:
            yield Issue(path("machineType"), "existing clusters have no machine types to choose; remove it")
        return
    cloud = {"gke": "GKE", "eks": "EKS"}[provider]
    offered = gpu.gke_machine_types if provider == "gke" else gpu.eks_instance_types
    if not offered:
        here = [k for k, g in catalog.GPUS.items()
                if (g.gke_machine_types if provider == "gke" else g.eks_instance_types)]
        yield Issue(path("gpu"), f"{pool.gpu} is not offered on {cloud}; {cloud} GPUs: {_choices(here)}")
        return
    counts = sorted({m.gpus for m in offered})
    if pool.gpus_per_node not in counts:
        yield Issue(path("gpusPerNode"),
                    f"{pool.gpu} on {cloud} comes with {_choices(counts)} GPUs per node, not {pool.gpus_per_node}")
    elif pool.machine_type and not any(m.name == pool.machine_type and m.gpus == pool.gpus_per_node for m in offered):
        fit = [m.name for m in offered if m.gpus == pool.gpus_per_node]
        yield Issue(path("machineType"), (f"{pool.machine_type!r} is not a {cloud} machine with {pool.gpus_per_node}x "
                    f"{pool.gpu}; allowed: {_choices(fit)}"))
    if pool.spot_instance_types:
        if provider != "eks" or pool.capacity != "spot":
            yield Issue(path("spotInstanceTypes"), "only EKS spot pools can list extra spot instance types")
        else:
            same = [m.name for m in offered if m.gpus == pool.gpus_per_node]
            for j, name in enumerate(pool.spot_instance_types):
                if name not in same:
                    yield Issue(path("spotInstanceTypes", j),
                                f"{name!r} is not an instance type with {pool.gpus_per_node}x {pool.gpu}; allowed: "
                                f"{_choices(same)}")


def _models(cfg: StackConfig) -> Iterator[Issue]:
    names = Counter(m.name for m in cfg.serving.models)
    for name, n in names.items():
        if n > 1:
            yield Issue(key_path("serving", "models"), f"model name '{name}' is used {n} times; names must be unique")
    pools = {p.name: p for p in cfg.node_pools.gpu}
    entries: list[tuple[Callable[..., str], ServedModel]] = []
    for i, model in enumerate(cfg.serving.models):
        entries.append((partial(key_path, "serving", "models", i), model))
        yield from _shape_from(partial(key_path, "serving", "models", i), model)
        if model.canary is not None:  # the canary server, checked like a model (config.capacity.canary_model)
            entries.append((partial(key_path, "serving", "models", i, "canary"), canary_model(model)))
    for path, model in entries:
        shape = shape_of(model)
        if shape is None and model.shape_from is None:  # a shapeFrom that cannot be read: _shape_from says why
            yield Issue(path("model"), (
                f"{model.model!r} is not in the model catalog; give its shape one of three ways: shapeFrom: <path of "
                "its config.json, relative to the project directory> (or serving.shapes.fetch: true to fetch it "
                "from the Hugging Face Hub by repo id), paramsB (and optionally architecture), or use a catalog "
                f"model: {_choices(sorted(catalog.MODELS))}"))
        elif shape is not None:
            yield from _context(path, model)
        yield from _memory_options(path, model, shape, [pools[n] for n in (model.pool, model.fallback_pool)
                                                         if n is not None and n in pools])
        if model.pool is not None and model.pool not in pools:
            yield Issue(path("pool"), f"no GPU pool named '{model.pool}'; pools: {_choices(pools)}")
            continue
        # A compute-class server's fallback is its class (config/compute_classes.py judges critical ones: the class
        # must start on an on-demand or reservation pool).
        yield from _fallback(cfg, path, model.pool, model.fallback_pool,
                             model.critical and model.compute_class is None, model.compute_class)
        if model.fallback_pool is not None and model.fallback_pool not in pools:
            continue
        pool = pools.get(model.pool) if model.pool else None
        if pool is None:
            if model.mig_profile is not None:
                yield Issue(path("migProfile"), "the model runs on CPU (no pool); remove migProfile")
            continue
        if model.tensor_parallel > pool.gpus_per_node:
            yield Issue(path("tensorParallel"), (f"{model.tensor_parallel} exceeds the {pool.gpus_per_node} GPUs per "
                                                 "node "
                        f"of pool '{pool.name}'; allowed: 1..{pool.gpus_per_node}"))
        elif model.tensor_parallel > 1 and pool.sharing.strategy != "exclusive":
            yield Issue(path("tensorParallel"), (f"tensor parallelism needs whole GPUs; pool '{pool.name}' shares GPUs "
                        f"({pool.sharing.strategy}); use 1 or an exclusive pool"))
        if model.fallback_pool and model.tensor_parallel > pools[model.fallback_pool].gpus_per_node:
            yield Issue(path("fallbackPool"), f"fallback pool '{model.fallback_pool}' has fewer GPUs per node than "
                                              "tensorParallel")
        yield from _mig_profile(path, model.mig_profile, pool, pools.get(model.fallback_pool or ""))


def _memory_options(path: Callable[..., str], model: ServedModel, shape: Shape | None,
                    pools: list[GpuPool]) -> Iterator[Issue]:
    """kvCacheDtype, expertParallel and the weight format against the engine, the model and the pools' GPUs (issue
    19): an option the engine or the GPU cannot honour is refused, never dropped."""
    quantization = model.quantization or "none"
    try:
        kv_cache_dtype_args(model.engine, model.kv_cache_dtype)
    except ValueError as exc:
        yield Issue(path("kvCacheDtype"), str(exc))
    if model.expert_parallel:
        try:
            expert_parallel_args(model.engine, True)
        except ValueError as exc:
            yield Issue(path("expertParallel"), str(exc))
        if shape is not None and not shape.moe:
            yield Issue(path("expertParallel"), (
                f"{model.model} is a dense model (no routed experts"
                f"{'' if shape.source == 'catalog' else '; architecture.experts is 0'}): expert parallelism needs a "
                "mixture-of-experts model; remove expertParallel"))
        elif model.tensor_parallel == 1:
            yield Issue(path("expertParallel"), (
                "expert parallelism places whole experts on the replica's tensor-parallel GPUs, and tensorParallel is "
                "1 (vLLM would ignore the flag: FusedMoEParallelConfig uses EP only when tp x dp > 1); set "
                "tensorParallel 2 or more, or remove expertParallel"))
    for pool in pools:
        gpu = catalog.GPUS[pool.gpu]
        cc = gpu.compute_capability
        if model.engine in FORMAT_CHECKED_ENGINES and not format_runs_on(quantization, cc):
            able = [k for k, g in catalog.GPUS.items() if format_runs_on(quantization, g.compute_capability)]
            yield Issue(path("quantization"), (
                f"{quantization} weights need compute capability {VLLM_FORMAT_MIN_CAPABILITY[quantization]}+ in "
                f"{model.engine} (vLLM {ENGINES['vllm'].version}); pool '{pool.name}' has {pool.gpu} ({cc}). GPUs that "
                f"run {quantization}: {_choices(able)}; formats {pool.gpu} runs: {_choices(formats_on(cc))}"))
        if model.kv_cache_dtype == "fp8" and not fp8_kv_runs_on(cc):
            able = [k for k, g in catalog.GPUS.items() if fp8_kv_runs_on(g.compute_capability)]
            yield Issue(path("kvCacheDtype"), (
                f"an fp8 KV cache needs FP8 hardware (compute capability {FP8_KV_MIN_CAPABILITY}+); pool "
                f"'{pool.name}' has {pool.gpu} ({cc}). GPUs with it: {_choices(able)}; or use kvCacheDtype: auto"))

def _shape_from(path: Callable[..., str], model: ServedModel) -> Iterator[Issue]:
    """`shapeFrom` must be a readable config.json of a supported architecture, and the only source of the shape."""
    if model.shape_from is None:
        return
    if model.params_b is not None or model.architecture is not None:
        yield Issue(path("shapeFrom"), "shapeFrom reads the shape from the model's files; remove paramsB and "
                                       "architecture (one source for the shape)")
    read = model_files.read_shape(model.shape_from)
    if isinstance(read, model_files.ShapeFileError):
        yield Issue(path("shapeFrom"), f"{read}")


def _fallback(cfg: StackConfig, path: Callable[..., str], pool_name: str | None, fallback_pool: str | None,
              critical: bool, compute_class: str | None = None) -> Iterator[Issue]:
    """`fallbackPool` and `critical` of a model server (serving.models[] and rag.embedding alike)."""
    pools = {p.name: p for p in cfg.node_pools.gpu}
    if fallback_pool is not None:
        fb = pools.get(fallback_pool)
        if fb is None:
            yield Issue(path("fallbackPool"), f"no GPU pool named '{fallback_pool}'; pools: {_choices(pools)}")
            return
        if fb.capacity != "on-demand":
            yield Issue(path("fallbackPool"), f"fallback pool '{fb.name}' must be on-demand, it is {fb.capacity}")
        if pool_name is None or fb.name == pool_name:
            yield Issue(path("fallbackPool"), "fallbackPool must differ from pool")
        if cfg.serving.cache_access_mode == "ReadWriteOnce":
            yield Issue(path("fallbackPool"), (
                "the fallback replicas run on another node pool and cannot share a ReadWriteOnce model cache; set "
                "serving.cacheAccessMode: ReadWriteMany (a shared file system class) or ReadOnlyMany (GKE)"))
    pool = pools.get(pool_name) if pool_name else None
    if critical and pool is not None and pool.capacity == "spot" and fallback_pool is None:
        on_demand = [p.name for p in cfg.node_pools.gpu if p.capacity == "on-demand"]
        yield Issue(path("critical"), (f"critical model on spot-only pool '{pool.name}': set fallbackPool to an "
                    f"on-demand pool ({_choices(on_demand)}) or use an on-demand pool"))
    if critical and pool is not None and pool.capacity == "flex-start":
        # Flex-start nodes come only when DWS finds capacity and leave after maxRunDurationHours: a latency-critical
        # server needs a step that stays (the policy flex-start-not-sole-capacity judges the published plan alike).
        spec = next((c for c in cfg.node_pools.compute_classes if c.name == compute_class), None)
        steps = [pools[n] for n in (*(spec.pools if spec else ()), fallback_pool or "") if n in pools]
        if not any(p.capacity in ("on-demand", "reservation") for p in steps):
            staying = [p.name for p in cfg.node_pools.gpu if p.capacity in ("on-demand", "reservation")]
            yield Issue(path("critical"), (
                f"critical model on flex-start pool '{pool.name}' has no other step that stays (flex-start nodes come "
                "only when capacity is free and are removed after flexStart.maxRunDurationHours): set fallbackPool "
                f"to an on-demand pool ({_choices(staying)}), add an on-demand or reservation pool to its "
                "computeClass, or set critical: false"))


def _context(path: Callable[..., str], model: ServedModel) -> Iterator[Issue]:
    """maxModelLen within the model's own context (vLLM refuses to start otherwise); every model server."""
    shape = shape_of(model)
    if shape is not None and shape.max_context and model.max_model_len > shape.max_context:
        yield Issue(path("maxModelLen"), f"{model.max_model_len} exceeds {model.model}'s context of "
                                         f"{shape.max_context}")


def _mig_profile(path: Callable[..., str], profile: str | None, pool: GpuPool,
                 fallback: GpuPool | None) -> Iterator[Issue]:
    """A model's migProfile must name a profile of its pool's layout; mixed layouts require one."""
    profiles = pool_profiles(pool)
    if profile is None:
        if len(profiles) > 1:
            yield Issue(path("migProfile"), (f"pool '{pool.name}' has a mixed MIG layout; choose the slice to run on: "
                                             f"{_choices(profiles)}"))
        return
    if not profiles:
        yield Issue(path("migProfile"), f"pool '{pool.name}' is not a MIG pool ({pool.sharing.strategy}); remove "
                                        "migProfile")
    elif profile not in profiles:
        yield Issue(path("migProfile"), f"{profile!r} is not in pool '{pool.name}' layout; allowed: "
                                        f"{_choices(profiles)}")
    fb_profiles = pool_profiles(fallback) if fallback is not None else []
    if fallback is not None and len(fb_profiles) > 1 and profile not in fb_profiles:
        yield Issue(path("migProfile"), (f"{profile!r} is not in fallback pool '{fallback.name}' layout; "
                                         f"allowed: {_choices(fb_profiles)}"))


def _rag(cfg: StackConfig) -> Iterator[Issue]:
    emb = cfg.rag.embedding
    pools = {p.name: p for p in cfg.node_pools.gpu}
    if emb is not None:
        path = partial(key_path, "rag", "embedding")
        if emb.pool is not None and emb.pool not in pools:
            yield Issue(key_path("rag", "embedding", "pool"), f"no GPU pool named '{emb.pool}'; pools: "
                                                              f"{_choices(pools)}")
        elif emb.pool is not None:
            yield from _fallback(cfg, path, emb.pool, emb.fallback_pool, emb.critical)
            yield from _mig_profile(path, emb.mig_profile, pools[emb.pool], pools.get(emb.fallback_pool or ""))
        else:
            if emb.mig_profile is not None:
                yield Issue(key_path("rag", "embedding", "migProfile"), "the embedding server runs on CPU (no pool); "
                                                                        "remove migProfile")
            if emb.fallback_pool is not None:
                yield Issue(path("fallbackPool"), "the embedding server runs on CPU (no pool); remove fallbackPool")
        known = catalog.find_model(emb.model)
        if known is None:
            embedders = [k for k, m in catalog.MODELS.items() if m.task == "embed"]
            yield Issue(key_path("rag", "embedding", "model"),
                        f"{emb.model!r} is not in the model catalog; embedding models: {_choices(embedders)}")
        elif known.task != "embed":
            yield Issue(key_path("rag", "embedding", "model"), f"{emb.model!r} is a generative model, not an embedding "
                                                               "model")
        else:
            # The embedding server as capacity.served_models plans it (the same check as serving.models[]).
            [server] = [x.model for x in served_models(cfg) if x.role == EMBEDDING_SERVER]
            yield from _context(partial(key_path, "rag", "embedding"), server)


# Env names that look like credentials: the gateway's secrets come from generated Secrets only.
SECRET_LOOKING = ("PASSWORD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "CREDENTIAL", "PRIVATE_KEY")


def _rag_data(cfg: StackConfig) -> Iterator[Issue]:
    """Vector store, search, cache, bucket and gateway settings (issue 8)."""
    rag = cfg.rag
    vs = rag.vector_store
    cloud = cfg.cluster.provider in ("gke", "eks")
    if vs is not None:
        path = partial(key_path, "rag", "vectorStore")
        if vs.engine == "milvus":
            if vs.replication_factor is not None:
                yield Issue(path("replicationFactor"), "a weaviate/qdrant setting; Milvus sets in-memory replicas when "
                                                       "a collection is loaded (remove it)")
            if vs.milvus_mode == "standalone" and vs.cluster is not None:
                yield Issue(path("cluster"), "only with mode cluster; standalone runs one pod (remove cluster or set "
                                             "mode: cluster)")
            if vs.milvus_mode == "cluster":
                topo = vs.cluster
                if vs.replicas < 2:
                    yield Issue(path("replicas"), "mode cluster needs at least 2 query nodes for HA (got "
                                                  f"{vs.replicas}); "
                                                  "use mode standalone for a single node")
                if topo is not None and topo.proxies < 2:
                    yield Issue(path("cluster", "proxies"), "mode cluster needs at least 2 proxies for HA (got "
                                                            f"{topo.proxies})")
                if topo is not None and (topo.etcd_replicas < 3 or topo.etcd_replicas % 2 == 0):
                    yield Issue(path("cluster", "etcdReplicas"),
                                f"etcd needs an odd member count of at least 3 for quorum (got {topo.etcd_replicas}); "
                                "allowed: 3, 5, 7")
                storage = (topo.object_storage if topo is not None else "bucket")
                if storage == "bucket" and not cloud:
                    yield Issue(path("cluster", "objectStorage"), (
                        f"bucket needs provider gke or eks (the program creates S3/GCS with workload identity); "
                        f"provider is {cfg.cluster.provider}: use objectStorage minio"))
                tenant = cfg.tenancy.namespaces.get(rag.namespace)
                if storage == "minio" and tenant is not None and tenant.pod_security == "restricted":
                    yield Issue(path("cluster", "objectStorage"), (
                        "the Milvus chart's MinIO pods set no seccompProfile/capabilities, which Pod Security "
                        f"'restricted' rejects; set tenancy.namespaces.{rag.namespace}.podSecurity: baseline or use "
                        "objectStorage bucket"))
        else:
            if vs.cluster is not None:
                yield Issue(path("cluster"), f"a milvus setting; {vs.engine} scales with replicas (remove cluster)")
            if vs.replication_factor is not None and vs.replication_factor > vs.replicas:
                yield Issue(path("replicationFactor"),
                            f"{vs.replication_factor} copies need at least as many replicas (replicas is "
                            f"{vs.replicas})")
    ft = rag.full_text
    if ft is not None and ft.snapshots and not cloud:
        yield Issue(key_path("rag", "fullText", "snapshots"),
                    "snapshots go to the RAG bucket, which needs provider gke or eks (provider is "
                    f"{cfg.cluster.provider})")
    if rag.bucket is not None and not rag.needs_bucket:
        yield Issue(key_path("rag", "bucket"), "nothing uses the bucket: set vectorStore.cluster.objectStorage bucket "
                                               "(milvus cluster) or fullText.snapshots, or remove rag.bucket")
    gw = rag.gateway
    if gw is not None:
        gpath = partial(key_path, "rag", "gateway")
        if gw.tls_secret is not None and gw.certificate is not None:
            yield Issue(gpath("certificate"), "set either tlsSecret (an existing secret) or certificate "
                                              "(cert-manager), not both")
        cert = gw.effective_certificate
        if cert is not None and cert.issuer == "acme" and cert.acme_email is None:
            yield Issue(gpath("certificate", "acmeEmail"), "required with issuer acme (the ACME account's contact)")
        if (cert is not None and cert.issuer == "acme" and "letsencrypt.org" in cert.acme_server
                and "0.0.0.0/0" not in gw.ingress.source_ranges and gw.ingress.install_controller):
            # letsencrypt.org/docs/faq: validation comes from unpublished, changing addresses.
            yield Issue(gpath("ingress", "sourceRanges"), (
                "Let's Encrypt validates HTTP-01 on port 80 from addresses it does not publish, so a source-range "
                "list without 0.0.0.0/0 never gets a certificate; use tlsSecret, issuer self-signed, an ACME "
                "server inside your ranges (certificate.acmeServer), or keep 0.0.0.0/0"))
        if gw.autoscaling.max_replicas < gw.replicas:
            yield Issue(gpath("autoscaling", "maxReplicas"),
                        f"must be >= gateway.replicas ({gw.replicas}); got {gw.autoscaling.max_replicas}")
        for name in gw.env:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
                yield Issue(gpath("env", name), "not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
            elif any(word in name.upper() for word in SECRET_LOOKING):
                yield Issue(gpath("env", name), "looks like a secret; gateway.env is plain text in a ConfigMap. "
                                                "Credentials come from the program's generated Secrets")


def _backup(cfg: StackConfig) -> Iterator[Issue]:
    """rag.backup: a backup asked for explicitly must have something to back up, somewhere to put it."""
    rag = cfg.rag
    path = partial(key_path, "rag", "backup")
    es = rag.backup.elasticsearch
    if es.enabled and "elasticsearch" not in rag.bucket_users:
        yield Issue(path("elasticsearch", "enabled"), "snapshots go to the RAG bucket: needs rag.fullText with "
                                                      "snapshots: true (or remove enabled)")
    if "elasticsearch" in rag.backups:
        try:
            to_elasticsearch(es.schedule)
        except ValueError as exc:
            yield Issue(path("elasticsearch", "schedule"), str(exc))
    if rag.backup.milvus.enabled and "milvus" not in rag.bucket_users:
        yield Issue(path("milvus", "enabled"), "milvus-backup copies segments between bucket prefixes: needs "
                                               "vectorStore milvus in mode cluster with objectStorage bucket; "
                                               "standalone and MinIO volumes are covered by rag.backup.volumes")
    if rag.backup.volumes.enabled and cfg.cluster.provider not in ("gke", "eks"):
        yield Issue(path("volumes", "enabled"), "volume snapshots need provider gke or eks (the program knows their "
                                                f"CSI drivers); provider is {cfg.cluster.provider}")


def _observability(cfg: StackConfig) -> Iterator[Issue]:
    obs = cfg.observability
    if not obs.enabled:
        return
    retention = obs.log_store.retention
    hours = int(retention[:-1]) * {"h": 1, "d": 24, "w": 168}[retention[-1]]
    if obs.logs == "loki" and hours % 24:
        # Loki deletes whole index periods (24h): its retention_period must be a multiple of them.
        yield Issue(key_path("observability", "logStore", "retention"),
                    f"{retention!r} is not a whole number of days; Loki keeps logs in 24h index periods (e.g. 1d, 7d, "
                    "2w)")


# ------------------------------------------------------------------------------------------ serving

FALLBACK_SUFFIX = "-fallback"
EMBEDDING_SERVICE = "embedding"


def _serving(cfg: StackConfig) -> Iterator[Issue]:
    """Model-server settings the engines, autoscalers and model-cache volumes can really honour (issue 7)."""
    serving = cfg.serving
    names = {m.name for m in serving.models}
    tenant = cfg.tenancy.namespaces.get(serving.namespace)
    pod_security = tenant.pod_security if tenant is not None else "restricted"
    for i, model in enumerate(serving.models):
        path = partial(key_path, "serving", "models", i)
        if model.name.endswith(FALLBACK_SUFFIX) and model.name[: -len(FALLBACK_SUFFIX)] in names:
            yield Issue(path("name"), f"'{model.name}' is the name of model '{model.name[:-len(FALLBACK_SUFFIX)]}''s "
                                      "on-demand fallback Deployment; choose another name")
        if model.name == EMBEDDING_SERVICE and cfg.rag.embedding is not None:
            yield Issue(path("name"), "'embedding' is the Service of rag.embedding; choose another name")
        try:
            quantization_args(model.engine, required(model.quantization, path("quantization"),
                                                     "quantization (defaulted by ServedModel)", "config.models"))
        except ValueError as exc:
            yield Issue(path("quantization"), str(exc))
        if model.max_num_seqs is not None:
            engines = [(path("maxNumSeqs"), model.engine)]
            if model.canary is not None and model.canary.engine is not None:
                engines.append((path("canary", "engine"), model.canary.engine))
            for where, engine in engines:
                if engine in MAX_NUM_SEQS_UNSUPPORTED:
                    yield Issue(where, (f"maxNumSeqs {model.max_num_seqs} cannot be honoured by engine {engine}: "
                                        f"{MAX_NUM_SEQS_UNSUPPORTED[engine]}; remove maxNumSeqs or use engine vllm "
                                        "or triton"))
        if not ENGINES[model.engine].non_root and pod_security == "restricted":
            yield Issue(path("engine"), (
                f"the {model.engine} {ENGINES[model.engine].version} image runs only as root "
                f"({ENGINES[model.engine].non_root_note.split(':')[0]}), which Pod Security 'restricted' rejects; set "
                f"tenancy.namespaces.{serving.namespace}.podSecurity: baseline and allow the image in the policy "
                f"pack's run-as-non-root rootImages (see docs/security.md), or use engine vllm"))
        auto = model.autoscaling
        if auto.scale_to_zero:
            if model.engine == "ollama":
                yield Issue(path("autoscaling", "scaleToZero"),
                            "ollama exports no metrics to wake it from zero; use fixed replicas (min >= 1)")
            elif auto.engine == "hpa":
                yield Issue(path("autoscaling", "scaleToZero"),
                            "a HorizontalPodAutoscaler cannot scale to zero; use autoscaling.engine: keda")
            elif auto.wake_query is None and not epp_scaled(cfg, model.engine):
                yield Issue(path("autoscaling", "wakeQuery"), (
                    "required with scaleToZero: with no replica running the engine exports no queue metric, so KEDA "
                    "needs a query that is above 0 while the model is wanted (e.g. the gateway's request rate for it); "
                    "servers behind an InferencePool with inferenceGateway.router.flowControl wake on the endpoint "
                    "picker's queue instead"))
        elif auto.wake_query is not None:
            yield Issue(path("autoscaling", "wakeQuery"), "only used with scaleToZero: true (remove it)")
        if autoscaled(model) and model.engine != "ollama" and not cfg.observability.enabled:
            yield Issue(path("autoscaling"), (
                f"replicas {model.replicas.min}..{model.replicas.max} scale on Prometheus queries, and "
                "observability.enabled is false; enable observability or set replicas.min == replicas.max"))
    emb = cfg.rag.embedding
    if emb is not None and emb.engine == "vllm" and emb.pool is None:
        yield Issue(key_path("rag", "embedding", "pool"),
                    "engine vllm needs a GPU pool (its image is CUDA-only); use engine tei for CPU embeddings")
    mode = serving.cache_access_mode
    if mode == "ReadWriteMany" and serving.storage_class is None and cfg.cluster.provider == "existing":
        yield Issue(key_path("serving", "storageClass"), (
            "cacheAccessMode ReadWriteMany on an existing cluster needs the StorageClass of a shared file system "
            "(NFS, CephFS, a cloud file service); gke and eks clusters get one from the program (Filestore, EFS)"))
    if mode == "ReadOnlyMany":
        if serving.snapshot_class is None:
            yield Issue(key_path("serving", "snapshotClass"), (
                "required with cacheAccessMode ReadOnlyMany: the filled volume is snapshotted and restored as a "
                "read-only many-reader volume (e.g. a VolumeSnapshotClass of pd.csi.storage.gke.io)"))
        if cfg.cluster.provider == "eks":
            yield Issue(key_path("serving", "cacheAccessMode"), (
                "EBS volumes cannot be attached read-only to many nodes; on eks use ReadWriteMany with an EFS class"))
    elif serving.snapshot_class is not None:
        yield Issue(key_path("serving", "snapshotClass"), "only used with cacheAccessMode ReadOnlyMany (remove it)")


def upgrade_drains(cfg: StackConfig, capacity: CapacityPlan) -> list[Issue]:
    """Every GPU pool's models can move off one node inside the cloud's upgrade drain window (config/upgrades.py),
    unless the pool accepts forced evictions (`forceUpgrade`)."""
    provider = cfg.cluster.provider
    if provider not in upgrades.DRAIN_WINDOW_SECONDS:
        return []
    window = upgrades.DRAIN_WINDOW_SECONDS[provider]
    rehomes = upgrades.pool_rehomes(cfg, capacity)
    issues = []
    for i, pool in enumerate(cfg.node_pools.gpu):
        slow = sorted((r for r in rehomes.get(pool.name, []) if r.seconds > window), key=lambda r: -r.seconds)
        if pool.force_upgrade or not slow:
            continue
        r = slow[0]
        others = f" (also: {', '.join(o.model for o in slow[1:])})" if slow[1:] else ""
        fits = window // r.per_node - upgrades.POD_START_SECONDS
        lower = (f"lower {r.key}.startupSeconds to {fits} s if it loads that fast, "
                 if fits >= 60 and r.key.startswith(key_path("serving")) else "")
        issues.append(Issue(key_path("nodePools", "gpu", i, "forceUpgrade"), (
            f"an upgrade drains pool '{pool.name}' one node at a time and {provider} waits {window // 60} min per "
            f"node ({'then the update fails' if provider == 'eks' else 'then evicts anyway'}); the "
            f"PodDisruptionBudget moves one replica of '{r.model}' at a time, so its {r.per_node} replica(s) on a "
            f"node need {r.per_node} x ({upgrades.POD_START_SECONDS} s start + {r.startup} s start-up budget) = "
            f"{r.seconds} s{others}; {lower}or set forceUpgrade: true to accept replicas deleted before their "
            "replacements are Ready (docs/clusters.md, Upgrades)")))
    return issues


def serving_capacity(cfg: StackConfig, capacity: CapacityPlan) -> list[Issue]:
    """A ReadWriteOnce model cache attaches to one node: every replica of a GPU model must fit there."""
    if cfg.serving.cache_access_mode != "ReadWriteOnce":
        return []
    issues = []
    paths = {m.name: key_path("serving", "models", i, "replicas", "max") for i, m in enumerate(cfg.serving.models)}
    emb = cfg.rag.embedding
    paths[EMBEDDING_SERVICE] = key_path("rag", "embedding", "maxReplicas" if emb and emb.max_replicas else "replicas")
    for model in capacity.models:
        if model.resource is not None and model.max_replicas > model.replicas_per_node:
            issues.append(Issue(paths.get(model.name, model.name), (
                f"{model.max_replicas} replicas of '{model.name}' need {model.nodes_at_max} nodes of pool "
                f"'{model.pool}' ({model.replicas_per_node} per node), but a ReadWriteOnce model cache attaches to one "
                f"node; lower it to {model.replicas_per_node} or set serving.cacheAccessMode: ReadWriteMany or "
                "ReadOnlyMany")))
    return issues


def _admission(cfg: StackConfig) -> Iterator[Issue]:
    """The admission backstop exempts no workload namespace, and its registry allow-list covers the images the
    config names (the platform would otherwise be refused by its own policy)."""
    admission = cfg.tenancy.admission
    if not admission.enabled:
        return
    tenants = sorted(set(admission.exempt_namespaces or ()) & set(cfg.tenancy.namespaces))
    if tenants:
        yield Issue(key_path("tenancy", "admission", "exemptNamespaces"),
                    f"{_choices(tenants)} is a workload namespace: exempting it turns the backstop off for its "
                    f"tenants; exempt only cloud add-on namespaces (e.g. gmp-system), or set mode: warn while you "
                    f"fix its workloads")
    registries = admission.allowed_registries
    if registries is None:
        return
    path = key_path("tenancy", "admission", "allowedRegistries")
    gateway = cfg.rag.gateway
    if gateway is not None and not registry_allowed(gateway.image, registries):
        yield Issue(path, f"rag.gateway.image {gateway.image!r} is from none of the allowed registries "
                          f"({_choices(registries)}); add its registry or the admission policy refuses the gateway")
