"""container-resources: what every container of a workload declares.

A resource policy over Pod, ReplicationController, Deployment, StatefulSet, DaemonSet,
ReplicaSet, Job and CronJob (`spec.jobTemplate.spec.template`), containers and init containers.
Absent pod spec or containers: nothing runs, compliant. Other resource types are ignored.

**container-resources**: every container sets `resources.requests.cpu`, `resources.requests.memory`,
`resources.limits.cpu` and `resources.limits.memory` (explicitly: Kubernetes would copy a limit into
an absent request, but the scheduler's view should be written down). A container with absent
`resources` lacks all four. Pack config `requireCpuLimit` (default true) set to false drops the
`limits.cpu` requirement, for teams that avoid CPU throttling; a memory limit is always required.

image-pinned lives in policy/rules/images.py (`parse_image` is re-exported here for older imports).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import containers, get, kind_of, object_name, pod_spec
from .images import ImageRef, parse_image

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


def _validate_resources(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    require_cpu_limit = get(args.get_config(), "requireCpuLimit") is not False
    gaps = [f"{kind} {name!r} lacks {', '.join(missing)}" for kind, name, container in containers(spec)
            if (missing := _missing_resources(container, require_cpu_limit))]
    if gaps:
        what = "cpu and memory requests and limits" if require_cpu_limit else \
            "cpu and memory requests and a memory limit"
        report_violation(f"{workload_label(args)}: {'; '.join(gaps)}. Set {what} in every container's resources "
                         f"so the scheduler and the namespace quota can account for it.")


container_resources = ResourceValidationPolicy(
    name=RESOURCES_NAME,
    description="Every container and init container sets cpu and memory requests and limits.",
    validate=_validate_resources,
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
