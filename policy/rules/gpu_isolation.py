"""gpu-access-requires-gpu-request: a pod that requests no GPU cannot ask the NVIDIA runtime for one.

Kubernetes hands a container GPUs through the device plugin, which only runs for containers that
request `nvidia.com/gpu` or `nvidia.com/mig-<profile>`. The NVIDIA container runtime has three
other doors that bypass the request, and on EKS AL2023 and Bottlerocket NVIDIA AMIs (whose
toolkit the GPU Operator does not configure, and whose default runtime is `nvidia`) or on hosts
with their own toolkit, nothing else closes them:

- env `NVIDIA_VISIBLE_DEVICES` (nvidia-container-toolkit v1.20.0 accepts it from unprivileged
  containers unless `accept-nvidia-visible-devices-envvar-when-unprivileged = false`,
  internal/config/image/cuda_image.go `VisibleDevices`);
- a volume mounted under `/var/run/nvidia-container-devices` (read as a device list when the
  toolkit has `accept-nvidia-visible-devices-as-volume-mounts`);
- pod annotations `cdi.k8s.io/*` (CDI device requests, preferred over both).

Object rule (policy/rules/objects.py) over Pod, ReplicationController, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob, the objects Helm Releases render to and custom resources' pod
templates, outside the pack config `systemNamespaces` (default: the cluster's and the GPU
Operator's namespaces, whose privileged operands must see every GPU). Violations:

- a container or init container that sets `NVIDIA_VISIBLE_DEVICES` (a literal value other than
  `void`, `none` or empty, which select no GPU, or any `valueFrom`) and requests no GPU/MIG
  resource (quantity > 0, limits or requests);
- a container or init container that mounts a volume at or under `/var/run/nvidia-container-devices`
  and requests no GPU/MIG resource;
- a pod template with a `cdi.k8s.io/` annotation when no container requests a GPU/MIG resource;
- a pod template that tolerates the GPU taint `nvidia.com/gpu:NoSchedule` (explicitly or with a
  key-less `Exists`) when no container requests a GPU/MIG resource: it would land on a GPU node,
  where an image that sets `NVIDIA_VISIBLE_DEVICES=all` itself (every CUDA base image does; no
  policy sees image env) gets every GPU of the node on those AMIs.

`NVIDIA_DRIVER_CAPABILITIES` is not checked: it selects driver libraries for the devices a
container already gets, no devices. Env from `envFrom` ConfigMaps is not visible to the pack.
Absent pod spec, containers, env, volumeMounts, annotations or tolerations: compliant.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyConfigSchema

from .helpers import (
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    POD_SPEC_PATHS,
    SYSTEM_NAMESPACES,
    config_list,
    containers,
    get,
    gpu_resources,
    is_map,
    maps,
    pod_spec,
    tolerates_gpu_taint,
)
from .objects import KubeObject, object_policy, pod_specs

NAME = "gpu-access-requires-gpu-request"
VISIBLE_DEVICES = "NVIDIA_VISIBLE_DEVICES"
NO_DEVICES = ("", "void", "none")
DEVICE_MOUNT_DIR = "/var/run/nvidia-container-devices"
CDI_ANNOTATION_PREFIX = "cdi.k8s.io/"
# `default` is not exempt: a workload that names no namespace lands there by omission.
EXEMPT_NAMESPACES = tuple(ns for ns in SYSTEM_NAMESPACES if ns != "default")


def _sets_visible_devices(container: Mapping[str, Any]) -> bool:
    for env in maps(get(container, "env")):
        if get(env, "name") != VISIBLE_DEVICES:
            continue
        if get(env, "valueFrom") is not None:
            return True
        if str(get(env, "value", default="") or "").strip().lower() not in NO_DEVICES:
            return True
    return False


def _mounts_device_list(container: Mapping[str, Any]) -> list[str]:
    return [str(get(m, "mountPath")) for m in maps(get(container, "volumeMounts"))
            if str(get(m, "mountPath", default="") or "").rstrip("/") == DEVICE_MOUNT_DIR
            or str(get(m, "mountPath", default="") or "").startswith(DEVICE_MOUNT_DIR + "/")]


def _template_annotations(resource_type: str, props: Any) -> Mapping[str, Any]:
    path = POD_SPEC_PATHS.get(resource_type, ())
    found = get(props, *path[:-1], "metadata", "annotations")
    return found if is_map(found) else {}


def problems(resource_type: str, props: Any) -> list[str]:
    """Why a workload could reach GPUs it did not request (empty: it cannot)."""
    spec = pod_spec(resource_type, props)
    return [] if spec is None else spec_problems(spec, _template_annotations(resource_type, props))


def spec_problems(spec: Mapping[str, Any], annotations: Mapping[str, Any]) -> list[str]:
    """`problems` of one pod spec and its pod template's annotations."""
    found = []
    any_gpu = False
    for kind, name, container in containers(spec):
        if gpu_resources(container):
            any_gpu = True
            continue
        if _sets_visible_devices(container):
            found.append(f"{kind} {name!r} sets {VISIBLE_DEVICES} but requests no nvidia.com/gpu or MIG resource")
        for path in _mounts_device_list(container):
            found.append(f"{kind} {name!r} mounts {path} (a device list for the NVIDIA runtime) but requests no GPU")
    if any_gpu:
        return found
    cdi = sorted(str(k) for k in annotations if str(k).startswith(CDI_ANNOTATION_PREFIX))
    if cdi:
        found.append(f"the pod template requests CDI devices ({', '.join(cdi)}) but no container requests a GPU")
    if any(tolerates_gpu_taint(t) for t in maps(get(spec, "tolerations"))):
        found.append(f"the pod tolerates {GPU_TAINT_KEY}:{GPU_TAINT_EFFECT} but no container requests a GPU, so it can "
                     f"run on a GPU node where an image's own {VISIBLE_DEVICES}=all reaches every GPU")
    return found


def check(obj: KubeObject, config: Any = None) -> Iterator[str]:
    """gpu-access-requires-gpu-request for one object: every pod spec it holds (workloads, CR pod templates)."""
    if obj.namespace in config_list(config, "systemNamespaces", EXEMPT_NAMESPACES):
        return
    workload_type = next((t for t in POD_SPEC_PATHS if t.rsplit(":", 1)[-1] == obj.kind), None)
    for where, spec in pod_specs(obj):
        # Template annotations of the workload kinds; a CR's pod template is judged on its spec.
        annotations = _template_annotations(workload_type, obj.body) if workload_type else {}
        found = spec_problems(spec, annotations)
        if found:
            scope = "" if where == "pod template" else f"{where}: "
            yield (f"in namespace {obj.namespace}: {scope}{'; '.join(found)}. Request the GPU (resources.limits "
                   f"nvidia.com/gpu or nvidia.com/mig-<profile>) or drop the variable, mount, annotation or "
                   f"toleration; {VISIBLE_DEVICES}=void is allowed.")


gpu_access_requires_gpu_request = object_policy(
    NAME,
    "Pods that request no GPU neither set NVIDIA_VISIBLE_DEVICES, mount an NVIDIA device list, carry CDI "
    "annotations nor tolerate the GPU taint (chart objects and custom resources' pod templates included).",
    check,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "systemNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(EXEMPT_NAMESPACES),
            "description": "Namespaces whose (privileged) operands may see every GPU: the cluster's and the GPU "
                           "Operator's.",
        },
    }),
)
