"""container-resources: what every container of a workload declares.

It looks at Pod, ReplicationController, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob
(`spec.jobTemplate.spec.template`), containers and init containers. Absent pod spec or containers:
nothing runs, compliant. Other resource types are ignored.

container-resources is an object rule (policy/rules/objects.py): it also judges every object a Helm
Release's chart renders (hooks included: they run in the cluster too) and the pod templates custom
resources embed (ECK node sets, KEDA ScaledJobs), each reported as '<Kind> <namespace>/<name>
[(chart <release>)]: ...'. Chart objects that cannot carry resources are listed once, with the reason,
in RESOURCES_EXCEPTIONS (namespace, kind and name of the rendered object).

**container-resources**: every container sets `resources.requests.cpu`, `resources.requests.memory`,
`resources.limits.cpu` and `resources.limits.memory` (explicitly: Kubernetes would copy a limit into
an absent request, but the scheduler's view should be written down). A container with absent
`resources` lacks all four. Pack config `requireCpuLimit` (default true) set to false drops the
`limits.cpu` requirement, for teams that avoid CPU throttling; a memory limit is always required.

image-pinned lives in policy/rules/images.py (`parse_image` is re-exported here for older imports).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ResourceValidationArgs,
)

from .helpers import containers, get, kind_of, object_name
from .images import ImageRef, parse_image
from .objects import KubeObject, object_policy, pod_specs

RESOURCES_NAME = "container-resources"

__all__ = ["ImageRef", "container_resources", "parse_image", "workload_label"]


def workload_label(args: ResourceValidationArgs) -> str:
    return f"{kind_of(args.resource_type)} {object_name(args.props, args.name)}"


# ------------------------------------------------------------------------------------ resources


def _missing_resources(container: Any, require_cpu_limit: bool) -> list[str]:
    wanted = [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]
    if require_cpu_limit:
        wanted.insert(2, ("limits", "cpu"))
    missing = []
    for section, resource in wanted:
        value = get(container, "resources", section, resource)
        if value is None or (isinstance(value, str) and not value.strip()):
            missing.append(f"{section}.{resource}")
    return missing


# Chart objects that cannot carry resources, matched exactly (namespace, kind, name; chart-rendered only).
RESOURCES_EXCEPTIONS: dict[tuple[str, str, str], str] = {
    ("gpu-operator", "Job", "gpu-operator-cleanup-gpucluster"):
        "gpu-operator v26.7.0 templates/cleanup_gpucluster.yaml: a pre-delete hook (runs on `helm uninstall` only) "
        "whose container the chart gives no resources and no value to set them",
    ("gpu-operator", "Job", "gpu-operator-upgrade-crd"):
        "gpu-operator v26.7.0 templates/upgrade_crd.yaml: a pre-upgrade hook (operator.upgradeCRD) whose container "
        "the chart gives no resources and no value to set them",
    **{("ai-gateway", "Deployment", f"{gateway}-body-based-router"):
       "body-based-routing v1.5.0 (gateway-api-inference-extension config/charts/body-based-routing/templates/"
       "bbr.yaml) gives its container no resources and has no value to set them"
       for gateway in ("public", "internal")},
}


def resources_exception(obj: KubeObject) -> str | None:
    """Why a chart object is exempt from container-resources (None: it is not)."""
    if not obj.source.startswith("chart:"):
        return None
    return RESOURCES_EXCEPTIONS.get((obj.namespace, obj.kind, obj.name))


def check_resources(obj: KubeObject, config: Any) -> Iterator[str]:
    """container-resources for one object: every pod spec it holds (workloads, CR pod templates)."""
    require_cpu_limit = get(config, "requireCpuLimit") is not False
    if resources_exception(obj) is not None:
        return
    for where, spec in pod_specs(obj):
        gaps = [f"{kind} {name!r} lacks {', '.join(missing)}" for kind, name, container in containers(spec)
                if (missing := _missing_resources(container, require_cpu_limit))]
        if gaps:
            what = "cpu and memory requests and limits" if require_cpu_limit else \
                "cpu and memory requests and a memory limit"
            scope = "" if where == "pod template" else f"{where}: "
            yield (f"{scope}{'; '.join(gaps)}. Set {what} in every container's resources so the scheduler and the "
                   f"namespace quota can account for it.")


container_resources = object_policy(
    RESOURCES_NAME,
    "Every container and init container sets cpu and memory requests and limits (chart objects and custom "
    "resources' pod templates included).",
    check_resources,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "requireCpuLimit": {
            "type": "boolean",
            "default": True,
            "description": "Require limits.cpu too (false for teams that avoid CPU throttling; memory limits stay "
                           "required).",
        },
    }),
)
