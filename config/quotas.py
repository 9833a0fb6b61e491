"""ResourceQuota and LimitRange contents per workload namespace, from the config and the capacity plan.

GPU quotas use the only form Kubernetes accepts for extended resources, `requests.<resource>`
(`requests.nvidia.com/gpu`, `requests.nvidia.com/mig-3g.40gb`): extended resources cannot be
overcommitted, so requests == limits and a `limits.` entry is neither needed nor allowed.

What a namespace's model servers may need at most (`gpu_need`): for every model server in it,
tensorParallel x max replicas of its resource on its pool, plus tensorParallel x min replicas on
its on-demand fallback pool (the fallback Deployment holds the model's floor at every scale): the
`ModelPlan.demands()` the pool check in `config.capacity` counts, so both agree. A configured
`gpuQuota` below that need would leave pods Pending at scale-out with an admission error nobody
sees in a preview, so it is a config error; an omitted `gpuQuota` is sized to the need. MIG
resources are always sized to the need (the config has no knob for them).
"""

from __future__ import annotations

from .capacity import CapacityPlan
from .errors import Issue, key_path
from .models import StackConfig

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


def check(cfg: StackConfig, plan: CapacityPlan) -> list[Issue]:
    """A configured gpuQuota must hold what the namespace's model servers need at max scale."""
    issues = []
    for namespace, need in gpu_need(cfg, plan).items():
        tenant = cfg.tenancy.namespaces.get(namespace)
        if tenant is None or tenant.gpu_quota is None:
            continue
        wanted = need.get(GPU_RESOURCE, 0)
        if tenant.gpu_quota < wanted:
            users = [f"{m.name} ({m.units_per_replica} x {m.max_replicas} max replicas)" if d.placement == "primary"
                     else f"{m.name} fallback ({m.units_per_replica} x {m.min_replicas} min replicas on {d.pool})"
                     for m in plan.models for d in m.demands() if d.resource == GPU_RESOURCE]
            issues.append(Issue(f"{key_path('tenancy', 'namespaces')}.{namespace}.gpuQuota", (
                f"{tenant.gpu_quota} is below the {wanted} nvidia.com/gpu its model servers need at max scale: "
                f"{', '.join(users)}; raise it to at least {wanted} or omit it (sized from the capacity plan)")))
    return issues
