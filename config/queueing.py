"""Kueue objects and checks (`ai-platform:queueing`), as plain data: pure functions of the config and the plan.

What is queued: batch/v1 Jobs in the *queued namespaces* (`queueing.namespaces` keys; omitted: every
`tenancy.namespaces` entry with a `gpuQuota`) that carry `kueue.x-k8s.io/queue-name: default`. Model servers,
the embedding server and every other Deployment/StatefulSet are not queued: they are latency-critical and sized by
the capacity plan (Kueue's chart integrations are limited to `batch/job`, components/queueing.py).

Objects (kueue.x-k8s.io/v1beta2, the storage version of every Kueue 0.19.2 CRD: chart templates/crd/*.yaml list
v1beta1 `storage: false` and v1beta2 `storage: true`):

- a ResourceFlavor per GPU pool, `pool-<pool>`: nodeLabels = the pool's node labels `ai-platform/pool`,
  `ai-platform/gpu`, `ai-platform/capacity` (components/labels.py), and the toleration of the GPU taint, which
  Kueue adds to the admitted pods; and one flavor `cpu` without node labels for CPU and memory (pods land wherever
  the scheduler puts them: GPU nodes are tainted, so on the system pool);
- a ClusterQueue per queued namespace, named after it, selecting it by `kubernetes.io/metadata.name`, in cohort
  `queueing.cohort`, with two resource groups: `cpu`+`memory` on the `cpu` flavor, and the GPU resources the pools
  advertise (`nvidia.com/gpu`, or `nvidia.com/mig-*` for MIG pools on the GPU Operator) on the pool flavors in
  pool order;
- a LocalQueue `default` in each queued namespace pointing at its ClusterQueue;
- on GKE, for each `capacity: flex-start` pool with `flexStart.queued: true`: a ProvisioningRequestConfig
  (`queued-provisioning.gke.io`, the pool's GPU resources, `maxRunDurationSeconds` from
  `flexStart.maxRunDurationHours`) and an AdmissionCheck `<pool>-provisioning`, attached to every ClusterQueue on
  that pool's flavor only (`admissionChecksStrategy.onFlavors`).

Quotas (the rule). The namespace's ResourceQuota (config/quotas.py) stays the hard ceiling: a pod Kueue admits
beyond it would be refused at creation. So Kueue is given what the ResourceQuota leaves once the platform's own
long-running pods are counted:

- GPUs: headroom = `gpuQuota` - what the namespace's model servers need at max scale (`quotas.gpu_need`); of it,
  `borrowingLimitGpus` (default 0) is kept free for borrowing and the rest is the nominal quota, dealt out over the
  GPU pools in pool order, each pool taking at most its GPUs at max scale (`max` x GPUs per node). MIG resources
  are quota'd exactly to the servers' need (config/quotas.py), so their nominal quota is 0;
- CPU and memory: `cpuQuota` / `memoryQuota` minus the requests of every non-Job pod the program runs there at max
  scale (`quotas.compute_need` without the Jobs: the program's own Jobs are admitted through Kueue and must fit
  its quota). A queued namespace therefore needs both quotas (config error otherwise);
- `borrowingLimitGpus` (default 0): the `borrowingLimit` of `nvidia.com/gpu` on every pool flavor that has whole
  GPUs (Kueue's granularity is a flavor's resource); 0 for MIG resources and for pools without the resource;
  `lendingLimitGpus`: the `lendingLimit` of every GPU resource, capped at each flavor's nominal quota (Kueue
  refuses a lendingLimit above nominalQuota). Omitted lending: Kueue lends all unused quota.

Preemption: `reclaimWithinCohort: Any` (a queue gets its nominal quota back from borrowers whatever their priority:
lending must never cost the lender its guarantee) and `withinClusterQueue: LowerPriority` (inside a team's queue a
higher WorkloadPriorityClass evicts lower work; equal priorities wait, so nothing flaps).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .capacity import CapacityPlan, node_resources
from .compute_classes import class_toleration, pool_class
from .errors import Issue, key_path
from .models import GpuPool, StackConfig
from .namespaces import component_namespaces
from .quotas import GPU_RESOURCE, gpu_need, per_pod
from .sizing import format_cpu, format_memory, namespace_pods, quantity

KUEUE_API = "kueue.x-k8s.io/v1beta2"
"""Storage version of every Kueue CRD in chart 0.19.2."""
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
"""The label a Job names its LocalQueue with (Kueue docs, "Run a Kubernetes Job")."""
LOCAL_QUEUE = "default"
"""The LocalQueue every queued namespace gets."""
CPU_FLAVOR = "cpu"
PROVISIONING_CLASS = "queued-provisioning.gke.io"
"""GKE's ProvisioningRequest class for queued provisioning (GKE docs "Deploy GPUs for batch workloads with
ProvisioningRequest"; Kueue site "Provisioning Admission Check Controller")."""
PROVISIONING_MIN_VERSION = (1, 32)
"""GKE serves autoscaling.x-k8s.io/v1 ProvisioningRequests from 1.32.2-gke.1652000 (GKE docs "ProvisioningRequest";
unverified against the page itself: read in a third-party summary of it)."""
PROVISIONING_CONTROLLER = "kueue.x-k8s.io/provisioning-request"
"""Kueue's built-in ProvisioningRequest admission check controller."""
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
PRIORITY_CLASSES = (("batch-high", 1000, "batch work a team needs today; evicts batch-low work in its own queue"),
                    ("batch-low", 100, "backfill (evaluation sweeps, re-indexing): first to be preempted"))
"""WorkloadPriorityClasses (kueue.x-k8s.io/priority-class label on a Job); a Job without one has priority 0."""


@dataclass(frozen=True)
class Flavor:
    """One ResourceFlavor: its name and spec."""

    name: str
    spec: dict[str, Any]
    pool: str | None = None
    """The GPU pool it stands for (None: the CPU flavor)."""


def enabled(cfg: StackConfig) -> bool:
    return cfg.queueing.enabled


def queued_namespaces(cfg: StackConfig) -> tuple[str, ...]:
    """Namespaces with a ClusterQueue and a LocalQueue (module docstring); none with queueing off."""
    q = cfg.queueing
    if not q.enabled:
        return ()
    if q.namespaces:
        return tuple(q.namespaces)
    return tuple(ns for ns, tenant in cfg.tenancy.namespaces.items() if tenant.gpu_quota is not None)


def queue_name(cfg: StackConfig, namespace: str) -> str | None:
    """The LocalQueue a Job in `namespace` names (None: the namespace is not queued)."""
    return LOCAL_QUEUE if namespace in queued_namespaces(cfg) else None


def job_labels(cfg: StackConfig, namespace: str) -> dict[str, str]:
    """Labels a Job the platform creates in `namespace` adds: the queue-name label where the namespace is queued."""
    name = queue_name(cfg, namespace)
    return {QUEUE_NAME_LABEL: name} if name else {}


def flavor_name(pool: GpuPool) -> str:
    return f"pool-{pool.name}"


def gpu_resources(cfg: StackConfig) -> list[str]:
    """Every GPU resource a pool advertises, nvidia.com/gpu first, then the MIG ones sorted."""
    found = {r for pool in cfg.node_pools.gpu for r in node_resources(cfg, pool)}
    return sorted(found, key=lambda r: (r != GPU_RESOURCE, r))


def resource_flavors(cfg: StackConfig) -> list[Flavor]:
    """The CPU flavor, then one per GPU pool (pool order)."""
    # Spelled as components/labels.py spells them (config/ cannot import components/); tests/queueing checks both.
    flavors = [Flavor(CPU_FLAVOR, {})]
    for pool in cfg.node_pools.gpu:
        tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
        klass = pool_class(cfg.node_pools, pool.name)
        if klass is not None:
            # A compute-class step carries the class's NoSchedule taint too (config.compute_classes).
            tolerations.append(class_toleration(klass))
        flavors.append(Flavor(flavor_name(pool), {
            "nodeLabels": {"ai-platform/pool": pool.name, "ai-platform/gpu": pool.gpu,
                           "ai-platform/capacity": pool.capacity},
            "tolerations": tolerations,
        }, pool.name))
    return flavors


def gpu_headroom(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, int]:
    """GPU resource -> units the namespace's ResourceQuota leaves after its model servers at max scale."""
    tenant = cfg.tenancy.namespaces[namespace]
    need = gpu_need(cfg, plan).get(namespace, {})
    out = dict.fromkeys(gpu_resources(cfg), 0)
    if GPU_RESOURCE in out and tenant.gpu_quota is not None:
        out[GPU_RESOURCE] = max(tenant.gpu_quota - need.get(GPU_RESOURCE, 0), 0)
    return out


def long_running_need(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, Decimal]:
    """cpu / memory requests of the program's non-Job pods in the namespace at max scale (surge included)."""
    tenant = cfg.tenancy.namespaces[namespace]
    total = {"cpu": Decimal(0), "memory": Decimal(0)}
    for pods in namespace_pods(cfg, plan).get(namespace, []):
        if pods.workload.startswith("Job "):
            continue
        for resource in total:
            total[resource] += per_pod(pods, tenant, resource, "requests") * (pods.replicas + pods.surge)
    return total


def compute_headroom(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, Decimal]:
    """cpu / memory the ResourceQuota leaves for queued work (needs cpuQuota and memoryQuota: `check`)."""
    tenant = cfg.tenancy.namespaces[namespace]
    need = long_running_need(cfg, plan, namespace)
    quota = {"cpu": tenant.cpu_quota, "memory": tenant.memory_quota}
    return {r: max(quantity(q) - need[r], Decimal(0)) if q is not None else Decimal(0) for r, q in quota.items()}


def gpu_split(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, dict[str, int]]:
    """pool -> GPU resource -> nominal quota: (headroom - borrowingLimitGpus) dealt out in pool order, each pool
    taking at most what it has at max scale."""
    settings = cfg.queueing.namespaces.get(namespace)
    keep = (settings.borrowing_limit_gpus or 0) if settings else 0
    remaining = {r: max(units - keep, 0) for r, units in gpu_headroom(cfg, plan, namespace).items()}
    split: dict[str, dict[str, int]] = {}
    for pool in cfg.node_pools.gpu:
        offered = node_resources(cfg, pool)
        split[pool.name] = {}
        for resource in remaining:
            take = min(remaining[resource], offered.get(resource, 0) * pool.max)
            split[pool.name][resource] = take
            remaining[resource] -= take
    return split


def provisioning_pools(cfg: StackConfig) -> list[GpuPool]:
    """GKE flex-start pools with queued provisioning (each gets a ProvisioningRequestConfig + AdmissionCheck)."""
    if cfg.cluster.provider != "gke" or not cfg.queueing.enabled:
        return []
    return [p for p in cfg.node_pools.gpu
            if p.capacity == "flex-start" and p.flex_start is not None and p.flex_start.queued]


def admission_check_name(pool: GpuPool) -> str:
    return f"{pool.name}-provisioning"


def provisioning_config_spec(cfg: StackConfig, pool: GpuPool) -> dict[str, Any]:
    """ProvisioningRequestConfig of a queued flex-start pool: GKE's class, the pool's GPU resources, and the
    pool's max run duration (GKE reads `maxRunDurationSeconds` from the ProvisioningRequest's parameters, which
    Kueue copies from this config's `parameters`)."""
    hours = pool.flex_start.max_run_duration_hours if pool.flex_start else 168
    return {"provisioningClassName": PROVISIONING_CLASS, "managedResources": sorted(node_resources(cfg, pool)),
            "parameters": {"maxRunDurationSeconds": str(hours * 3600)}}


def admission_check_spec(pool: GpuPool) -> dict[str, Any]:
    return {"controllerName": PROVISIONING_CONTROLLER,
            "parameters": {"apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig",
                           "name": admission_check_name(pool)}}


def cluster_queue_spec(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, Any]:
    """The ClusterQueue of a queued namespace (module docstring: quotas, limits, preemption)."""
    settings = cfg.queueing.namespaces.get(namespace)
    borrow = settings.borrowing_limit_gpus if settings else None
    lend = settings.lending_limit_gpus if settings else None
    compute = compute_headroom(cfg, plan, namespace)
    groups: list[dict[str, Any]] = [{
        "coveredResources": ["cpu", "memory"],
        "flavors": [{"name": CPU_FLAVOR, "resources": [
            {"name": "cpu", "nominalQuota": format_cpu(compute["cpu"])},
            {"name": "memory", "nominalQuota": format_memory(compute["memory"])}]}],
    }]
    resources = gpu_resources(cfg)
    if resources:
        split = gpu_split(cfg, plan, namespace)
        flavors = []
        for pool in cfg.node_pools.gpu:
            quotas = []
            offered = node_resources(cfg, pool)
            for resource in resources:
                nominal = split[pool.name][resource]
                # Borrowing only whole GPUs where the pool has them: MIG quotas are sized exactly to the servers
                # (no ResourceQuota room to borrow into), and a pool without the resource cannot run the pods.
                may_borrow = resource == GPU_RESOURCE and resource in offered and borrow is not None
                entry: dict[str, Any] = {"name": resource, "nominalQuota": nominal,
                                         "borrowingLimit": borrow if may_borrow else 0}
                if lend is not None:
                    entry["lendingLimit"] = min(lend, nominal)
                quotas.append(entry)
            flavors.append({"name": flavor_name(pool), "resources": quotas})
        groups.append({"coveredResources": resources, "flavors": flavors})
    spec: dict[str, Any] = {
        "cohortName": cfg.queueing.cohort,
        "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": groups,
        "preemption": {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"},
    }
    checks = [{"name": admission_check_name(p), "onFlavors": [flavor_name(p)]} for p in provisioning_pools(cfg)]
    if checks:
        spec["admissionChecksStrategy"] = {"admissionChecks": checks}
    return spec


def local_queue_spec(namespace: str) -> dict[str, Any]:
    return {"clusterQueue": namespace}


# ------------------------------------------------------------------------------------------ checks

# Component roles whose charts render Jobs (Helm hooks, operators' init Jobs) that cannot carry the queue label:
# their namespaces cannot be queued, or those Jobs would wait forever for admission (policy job-names-local-queue).
_UNQUEUEABLE_ROLES = {"rag": ("rag", "namespace"), "gateway": ("rag", "gateway", "namespace"),
                      "observability": ("observability", "namespace")}


def check(cfg: StackConfig) -> list[Issue]:
    """Structural checks (before the plan): namespaces, roles, quotas present, provider."""
    q = cfg.queueing
    issues: list[Issue] = []
    ns_path = key_path("queueing", "namespaces")
    # flexStart.queued without queueing, or outside GKE, is reported by config.semantics with the pool's other
    # capacity checks ("flex-start without a queue"; flex-start is GKE only).
    version = tuple(int(x) for x in cfg.cluster.kubernetes_version.split("."))
    if provisioning_pools(cfg) and version < PROVISIONING_MIN_VERSION:
        issues.append(Issue(key_path("cluster", "kubernetesVersion"), (
            f"{cfg.cluster.kubernetes_version} does not serve the ProvisioningRequest API v1 that Kueue's "
            f"provisioning admission check creates for queued flex-start pools; use "
            f"{'.'.join(map(str, PROVISIONING_MIN_VERSION))} or newer")))
    if not q.enabled:
        if q.namespaces:
            issues.append(Issue(ns_path, "set only with queueing.enabled: true (Kueue is not installed otherwise)"))
        return issues
    tenants = cfg.tenancy.namespaces
    roles = {ns: role for role, ns in component_namespaces(cfg).items() if role in _UNQUEUEABLE_ROLES}
    for name in q.namespaces:
        if name not in tenants:
            issues.append(Issue(f"{ns_path}.{name}", (
                f"'{name}' is not a tenancy namespace; queue one of: {', '.join(tenants) or '(none)'}")))
    for name in queued_namespaces(cfg):
        if name not in tenants:
            continue
        where = f"{ns_path}.{name}" if name in q.namespaces else key_path("queueing", "enabled")
        if name in roles:
            issues.append(Issue(where, (
                f"'{name}' holds the {roles[name]} components, whose charts render Jobs (Helm hooks) that cannot "
                f"carry the {QUEUE_NAME_LABEL} label and would never be admitted; queue only namespaces without "
                f"them (set queueing.namespaces, or move {'.'.join(_UNQUEUEABLE_ROLES[roles[name]])})")))
        tenant = tenants[name]
        missing = [k for k, v in (("cpuQuota", tenant.cpu_quota), ("memoryQuota", tenant.memory_quota)) if v is None]
        if missing:
            issues.append(Issue(f"{key_path('tenancy', 'namespaces')}.{name}", (
                f"queued namespace '{name}' needs {' and '.join(missing)}: Kueue's CPU and memory quota for its Jobs "
                "is what the namespace's ResourceQuota leaves after the platform's own pods")))
    return issues


def plan_check(cfg: StackConfig, plan: CapacityPlan) -> list[Issue]:
    """Limits against the quota headroom (after the plan: the headroom is the quota minus the servers' need)."""
    issues: list[Issue] = []
    need = gpu_need(cfg, plan)
    for name in queued_namespaces(cfg):
        settings = cfg.queueing.namespaces.get(name)
        tenant = cfg.tenancy.namespaces.get(name)
        if settings is None or tenant is None:
            continue
        quota = tenant.gpu_quota if tenant.gpu_quota is not None else need.get(name, {}).get(GPU_RESOURCE, 0)
        servers = need.get(name, {}).get(GPU_RESOURCE, 0)
        headroom = max(quota - servers, 0)
        path = f"{key_path('queueing', 'namespaces')}.{name}"
        borrow = settings.borrowing_limit_gpus or 0
        if borrow > headroom:
            issues.append(Issue(f"{path}.borrowingLimitGpus", (
                f"{borrow} is above the {headroom} GPUs the namespace's gpuQuota ({quota}) leaves after its model "
                f"servers ({servers} at max scale); the ResourceQuota would refuse borrowed pods: raise "
                f"tenancy.namespaces.{name}.gpuQuota or lower it to at most {headroom}")))
        nominal = headroom - borrow
        if settings.lending_limit_gpus is not None and settings.lending_limit_gpus > nominal:
            issues.append(Issue(f"{path}.lendingLimitGpus", (
                f"{settings.lending_limit_gpus} is above the namespace's nominal GPU quota in Kueue ({nominal} = "
                f"gpuQuota {quota} - model servers {servers} - borrowingLimitGpus {borrow}); at most {nominal}")))
    return issues
