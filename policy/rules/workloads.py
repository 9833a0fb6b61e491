"""gpu-workloads-tolerate-gpu-taint: pods that ask for GPUs tolerate the GPU taint.

GPU nodes carry nvidia.com/gpu=present:NoSchedule (see gpu-node-pool-tainted), so a pod that
requests or limits `nvidia.com/gpu` or a MIG slice `nvidia.com/mig-<profile>` without a matching
toleration stays Pending forever. Checked on Pod, ReplicationController, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob (`spec.jobTemplate.spec.template`), for containers and
init containers; an object rule (policy/rules/objects.py), so also on every object a Helm Release's
chart renders and on the pod templates of custom resources (ECK node sets, KEDA ScaledJobs).

A toleration matches with Kubernetes semantics: effect empty or NoSchedule, and either operator
Exists with key nvidia.com/gpu or an empty key (tolerates every taint), or operator Equal (the
default) with key nvidia.com/gpu and value `present`.

Absent properties: no pod spec, no containers or no resources means no GPU is asked for:
compliant. A GPU quantity that parses to 0 asks for none. Absent tolerations on a GPU pod are a
violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import EnforcementLevel

from .helpers import (
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    containers,
    fmt,
    get,
    gpu_resources,
    maps,
    tolerates_gpu_taint,
)
from .objects import KubeObject, object_policy, pod_specs

NAME = "gpu-workloads-tolerate-gpu-taint"


def _show(quantity) -> str:
    return fmt(quantity) if isinstance(quantity, (int, float)) and not isinstance(quantity, bool) else str(quantity)


def check(obj: KubeObject, config: Any = None) -> Iterator[str]:
    """gpu-workloads-tolerate-gpu-taint for one object: every pod spec it holds (workloads, CR pod templates)."""
    for where, spec in pod_specs(obj):
        asks = [f"{kind} {name!r} {section}.{resource}={_show(quantity)}"
                for kind, name, container in containers(spec)
                for section, resource, quantity in gpu_resources(container)]
        if not asks or any(tolerates_gpu_taint(t) for t in maps(get(spec, "tolerations"))):
            continue
        scope = "" if where == "pod template" else f"{where}: "
        yield (f"{scope}asks for GPUs ({'; '.join(asks)}) but its pod spec has no toleration for "
               f"{GPU_TAINT_KEY}:{GPU_TAINT_EFFECT}; add "
               f"{{key: {GPU_TAINT_KEY}, operator: Exists, effect: NoSchedule}}.")


gpu_workloads_tolerate_gpu_taint = object_policy(
    NAME,
    f"Workloads requesting nvidia.com/gpu or MIG resources tolerate the {GPU_TAINT_KEY} taint (chart objects and "
    "custom resources' pod templates included).",
    check,
    enforcement_level=EnforcementLevel.MANDATORY,
)
