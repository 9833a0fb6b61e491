"""no-host-access and run-as-non-root: pod security the platform enforces (no-plain-secret-env: secrets.py).

Both are resource policies over Pod, ReplicationController, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob (`spec.jobTemplate.spec.template`), containers and init
containers. Absent pod spec or containers: compliant.

**no-host-access**: outside the pack config `systemNamespaces` (default: kube-system, kube-public,
kube-node-lease, gpu-operator, observability-node, keda, cert-manager, ingress-nginx,
elastic-system) no pod spec sets `hostNetwork`, `hostPID` or `hostIPC` to true, has a `hostPath`
volume, or has a container with `securityContext.privileged: true`. The namespace is the
workload's `metadata.namespace`; absent means `default`. `default` is deliberately not exempt,
unlike in namespace-resource-quota's list (there it means "needs no quota"; here a workload that
lands in `default` by omission must not get host access). Absent fields mean false / no volume.

**run-as-non-root**: every container runs as non-root: its effective `runAsNonRoot` (the
container's `securityContext.runAsNonRoot`, else the pod's `securityContext.runAsNonRoot`) is
true, and its effective `runAsUser` (container, else pod) is not 0. Absent securityContext or
runAsNonRoot at both levels is a violation (Kubernetes would then run the image's own user,
often root). `runAsUser: 0` in the pod securityContext is a violation even when every container
overrides it or sets runAsNonRoot (unless every container's image is allow-listed). Containers
whose image matches a glob of the pack config `rootImages` (default `[]`; fnmatch, compared with
the image as written and its normalized form such as `docker.io/library/busybox:1.36`) are
exempt: list there, with the reason beside it in the config, the images that must run as root.

**no-plain-secret-env** lives in policy/rules/secrets.py (an object check, chart objects included); it is
re-exported here for existing imports.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .containers import parse_image, workload_label
from .helpers import (
    SYSTEM_NAMESPACES,
    config_list,
    containers,
    get,
    maps,
    namespace_of,
    number,
    pod_spec,
)
from .secrets import SECRET_ENV_NAME, no_plain_secret_env  # noqa: F401  (re-exported)

HOST_NAME = "no-host-access"
NON_ROOT_NAME = "run-as-non-root"

# The system namespaces without `default`: a workload lands there when it names no namespace.
HOST_ACCESS_NAMESPACES = tuple(ns for ns in SYSTEM_NAMESPACES if ns != "default")

# ------------------------------------------------------------------------------------ host access


def host_access(spec: Any) -> list[str]:
    """What in a pod spec reaches into the node."""
    found = [f"{field}: true" for field in ("hostNetwork", "hostPID", "hostIPC") if get(spec, field) is True]
    for volume in maps(get(spec, "volumes")):
        host_path = get(volume, "hostPath")
        if host_path is not None:
            found.append(f"volume {get(volume, 'name', default='<unnamed>')!r} is a hostPath "
                         f"({get(host_path, 'path', default='?')})")
    found += [f"{kind} {name!r} is privileged" for kind, name, container in containers(spec)
              if get(container, "securityContext", "privileged") is True]
    return found


def _validate_host(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    system = config_list(args.get_config(), "systemNamespaces", HOST_ACCESS_NAMESPACES)
    namespace = namespace_of(args.props)
    if namespace in system:
        return
    found = host_access(spec)
    if found:
        report_violation(
            f"{workload_label(args)} in namespace {namespace}: {'; '.join(found)}. Host access is only allowed in the "
            f"system namespaces ({', '.join(system) or 'none'}): drop it (use a PVC or emptyDir instead of hostPath), "
            f"or run the workload in one of those namespaces.")


no_host_access = ResourceValidationPolicy(
    name=HOST_NAME,
    description="No privileged containers, hostPath volumes or hostNetwork/hostPID/hostIPC outside system namespaces.",
    validate=_validate_host,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "systemNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(HOST_ACCESS_NAMESPACES),
            "description": "Namespaces where host access (privileged, hostPath, host namespaces) is allowed.",
        },
    }),
)


# ---------------------------------------------------------------------------------------- non-root


def root_allowed(image: Any, patterns: list[str]) -> bool:
    if not isinstance(image, str) or not image.strip() or not patterns:
        return False
    candidates = (image.strip(), parse_image(image).normalized)
    return any(fnmatchcase(c, p) for c in candidates for p in patterns)


def _validate_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    patterns = config_list(args.get_config(), "rootImages", [])
    pod_context = get(spec, "securityContext")
    problems, checked = [], 0
    for kind, name, container in containers(spec):
        if root_allowed(get(container, "image"), patterns):
            continue
        checked += 1
        own = get(container, "securityContext")
        non_root = get(own, "runAsNonRoot")
        if non_root is None:
            non_root = get(pod_context, "runAsNonRoot")
        user = number(get(own, "runAsUser"))
        if user is None:
            user = number(get(pod_context, "runAsUser"))
        if user == 0:
            problems.append(f"{kind} {name!r} runs as runAsUser: 0")
        elif non_root is not True:
            state = "false" if non_root is False else "not set in the container or pod securityContext"
            problems.append(f"{kind} {name!r} may run as root (runAsNonRoot {state})")
    if checked and number(get(pod_context, "runAsUser")) == 0:
        problems.insert(0, "the pod securityContext sets runAsUser: 0")
    if problems:
        report_violation(
            f"{workload_label(args)}: {'; '.join(problems)}. Set securityContext.runAsNonRoot: true with a non-zero "
            f"runAsUser (pod or container), or, for an image that must run as root, add it to the pack config "
            f"rootImages with the reason.")


run_as_non_root = ResourceValidationPolicy(
    name=NON_ROOT_NAME,
    description="Every container runs with runAsNonRoot: true and never as user 0, unless its image is allow-listed.",
    validate=_validate_non_root,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "rootImages": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "fnmatch globs of images allowed to run as root (document why for each).",
        },
    }),
)
