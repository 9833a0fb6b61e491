"""ResourceQuota and LimitRange contents per workload namespace, from the config and the capacity plan.

GPU quotas use the only form Kubernetes accepts for extended resources, `requests.<resource>`
(`requests.nvidia.com/gpu`, `requests.nvidia.com/mig-3g.40gb`): extended resources cannot be
overcommitted, so requests == limits and a `limits.` entry is neither needed nor allowed.

What a namespace's model servers may need at most (`gpu_need`): for every model server in it,
tensorParallel x max replicas of its resource on its pool, plus tensorParallel x the fallback's max
replicas on its on-demand fallback pool (it keeps the floor and stands in for unplaceable spot replicas): the
`ModelPlan.demands()` the pool check in `config.capacity` counts, so both agree. A configured
`gpuQuota` below that need would leave pods Pending at scale-out with an admission error nobody
sees in a preview, so it is a config error; an omitted `gpuQuota` is sized to the need. MIG
resources are always sized to the need (the config has no knob for them).

CPU and memory (`compute_need`): every pod the program runs in the namespace, as `config.sizing`
lists them (the sizes the components set), at max scale and with rolling-update surge, each
container without resources counted with the namespace's LimitRange defaults. A `cpuQuota` /
`memoryQuota` (requests) or `cpuLimitQuota` / `memoryLimitQuota` (limits) below that is a config
error with the breakdown per workload; omitted ones are not checked.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from pydantic.alias_generators import to_camel

from .capacity import CapacityPlan
from .errors import Issue, key_path
from .models import StackConfig, TenantNamespace
from .sizing import Pods, Requirements, format_cpu, format_memory, namespace_pods, quantity

GPU_RESOURCE = "nvidia.com/gpu"


def gpu_need(cfg: StackConfig, plan: CapacityPlan) -> dict[str, dict[str, int]]:
    """namespace -> extended resource -> units its model servers need at max scale."""
    need: dict[str, dict[str, int]] = {}
    ns = cfg.serving.namespace
    for model in plan.models:
        for demand in model.demands():  # the numbers the pool check counts (config/capacity.py)
            amounts = need.setdefault(ns, {})
            amounts[demand.resource] = amounts.get(demand.resource, 0) + demand.units_max
    return need


def quota_hard(cfg: StackConfig, plan: CapacityPlan, namespace: str) -> dict[str, str]:
    """`spec.hard` of a workload namespace's ResourceQuota."""
    tenant = cfg.tenancy.namespaces[namespace]
    hard: dict[str, str] = {}
    for key, value in (("requests.cpu", tenant.cpu_quota), ("requests.memory", tenant.memory_quota),
                       ("limits.cpu", tenant.cpu_limit_quota), ("limits.memory", tenant.memory_limit_quota),
                       ("requests.storage", tenant.storage_quota)):
        if value is not None:
            hard[key] = value
    if tenant.pvc_quota is not None:
        hard["persistentvolumeclaims"] = str(tenant.pvc_quota)
    if tenant.pod_quota is not None:
        hard["pods"] = str(tenant.pod_quota)
    need = gpu_need(cfg, plan).get(namespace, {})
    gpus = tenant.gpu_quota if tenant.gpu_quota is not None else need.get(GPU_RESOURCE)
    if gpus is not None:
        hard[f"requests.{GPU_RESOURCE}"] = str(gpus)
    for resource, units in sorted(need.items()):
        if resource != GPU_RESOURCE:
            hard[f"requests.{resource}"] = str(units)
    if not hard:
        # A quota object must exist in every workload namespace (policy namespace-resource-quota);
        # with no limits configured it still counts objects, which caps runaway controllers.
        hard["pods"] = "500"
    return hard


# ResourceQuota key -> (TenantNamespace field, resource, requests or limits).
COMPUTE_QUOTAS = {
    "requests.cpu": ("cpu_quota", "cpu", "requests"),
    "requests.memory": ("memory_quota", "memory", "requests"),
    "limits.cpu": ("cpu_limit_quota", "cpu", "limits"),
    "limits.memory": ("memory_limit_quota", "memory", "limits"),
}


def _container_amount(container: Requirements | None, tenant: TenantNamespace, resource: str, kind: str) -> Decimal:
    """What admission makes of one container: its own value, else (requests) its limit, else the LimitRange
    default of the namespace (`containerDefaults`)."""
    own = (container or {}).get(kind, {}).get(resource)
    if own is None and kind == "requests":
        own = (container or {}).get("limits", {}).get(resource)  # the API defaults requests to limits
    if own is None:
        defaults = tenant.container_defaults
        own = {("cpu", "requests"): defaults.cpu_request, ("memory", "requests"): defaults.memory_request,
               ("cpu", "limits"): defaults.cpu_limit, ("memory", "limits"): defaults.memory_limit}[(resource, kind)]
    return quantity(own)


def per_pod(pods: Pods, tenant: TenantNamespace, resource: str, kind: str) -> Decimal:
    return sum((_container_amount(c, tenant, resource, kind) for c in pods.containers), Decimal(0))


def compute_need(cfg: StackConfig, plan: CapacityPlan) -> dict[str, dict[str, tuple[Decimal, list[str]]]]:
    """namespace -> quota key (requests.cpu, requests.memory, limits.cpu, limits.memory) -> (what the program's pods
    ask for at max scale, surge pods of rolling updates included; the breakdown per workload)."""
    need: dict[str, dict[str, tuple[Decimal, list[str]]]] = {}
    for namespace, groups in namespace_pods(cfg, plan).items():
        tenant = cfg.tenancy.namespaces.get(namespace)
        if tenant is None:
            continue
        for key, (_, resource, kind) in COMPUTE_QUOTAS.items():
            total, parts = Decimal(0), []
            fmt = format_cpu if resource == "cpu" else format_memory
            for pods in groups:
                count = pods.replicas + pods.surge
                if count == 0:
                    continue
                each = per_pod(pods, tenant, resource, kind)
                total += each * count
                parts.append((each * count, f"{pods.workload} {count} x {fmt(each)}"
                              + (f" ({pods.surge} of them rolling-update surge)" if pods.surge else "")))
            need.setdefault(namespace, {})[key] = (total, _breakdown(parts, fmt))
    return need


BREAKDOWN_LINES = 12


def _breakdown(parts: list[tuple[Decimal, str]], fmt: Callable[[Decimal], str]) -> list[str]:
    """Each workload's share in config order; beyond BREAKDOWN_LINES, the largest ones and the rest summed."""
    if len(parts) <= BREAKDOWN_LINES:
        return [text for _, text in parts]
    largest = sorted(parts, key=lambda p: p[0], reverse=True)
    shown, rest = largest[:BREAKDOWN_LINES - 1], largest[BREAKDOWN_LINES - 1:]
    return [text for _, text in shown] + [f"{len(rest)} more workloads {fmt(sum((a for a, _ in rest), Decimal(0)))}"]


def check(cfg: StackConfig, plan: CapacityPlan) -> list[Issue]:
    """Configured quotas must hold what the namespace's pods need at max scale: GPUs for the model servers, CPU and
    memory (requests, and limits when the quota sets them) for every pod the program runs there."""
    issues: list[Issue] = []
    for namespace, need in gpu_need(cfg, plan).items():
        tenant = cfg.tenancy.namespaces.get(namespace)
        if tenant is None or tenant.gpu_quota is None:
            continue
        wanted = need.get(GPU_RESOURCE, 0)
        if tenant.gpu_quota < wanted:
            users = [f"{m.name} ({m.units_per_replica} x {m.max_replicas} max replicas)" if d.placement == "primary"
                     else f"{m.name} fallback ({d.units_max} units at its max replicas on {d.pool})"
                     for m in plan.models for d in m.demands() if d.resource == GPU_RESOURCE]
            issues.append(Issue(f"{key_path('tenancy', 'namespaces')}.{namespace}.gpuQuota", (
                f"{tenant.gpu_quota} is below the {wanted} nvidia.com/gpu its model servers need at max scale: "
                f"{', '.join(users)}; raise it to at least {wanted} or omit it (sized from the capacity plan)")))
    for namespace, compute in compute_need(cfg, plan).items():
        tenant = cfg.tenancy.namespaces[namespace]
        for key, (field, resource, kind) in COMPUTE_QUOTAS.items():
            configured = getattr(tenant, field)
            total, parts = compute[key]
            if configured is None or quantity(configured) >= total:
                continue
            fmt = format_cpu if resource == "cpu" else format_memory
            issues.append(Issue(f"{key_path('tenancy', 'namespaces')}.{namespace}.{to_camel(field)}", (
                f"{configured} is below the {fmt(total)} of {resource} {kind} ({key}) the program's pods in "
                f"'{namespace}' need at max scale: {'; '.join(parts)}; pods beyond the quota are refused at "
                f"admission. Raise it to at least {fmt(total)} (plus room for anything else deployed there) or "
                f"omit it")))
    return issues
