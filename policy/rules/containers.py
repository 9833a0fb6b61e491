"""container-resources and image-pinned: what every container of a workload declares.

Both look at Pod, ReplicationController, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job and CronJob
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

**image-pinned**: every container's `image` names an immutable version: a digest
(`@sha256:<hex>`), or a tag other than `latest`. A reference is parsed as Docker does: the first
path component is a registry host when it contains `.` or `:` or is `localhost` (so the port in
`localhost:5000/app` is not a tag), otherwise the image is on Docker Hub (`nginx` is
`docker.io/library/nginx`). Absent or empty `image` is a violation (nothing pins what would run).
Pack config `allowedRegistries` (default `[]`: any registry) lists reference prefixes such as
`registry.example.com/` or `docker.io/vllm/`; an image must start with one of them, compared
against both the image as written and its normalized form (`docker.io/library/nginx:1.27`;
`index.docker.io` reads as `docker.io`). A prefix that does not end in `/` matches only up to a
`/`, `:` or `@` boundary (`docker.io/library/nginx` does not allow `docker.io/library/nginx-evil`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import config_list, containers, get, kind_of, object_name, pod_spec
from .objects import KubeObject, object_policy, pod_specs

RESOURCES_NAME = "container-resources"
IMAGE_NAME = "image-pinned"

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


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


# ---------------------------------------------------------------------------------------- images


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference."""

    registry: str
    path: str
    tag: str | None
    digest: str | None

    @property
    def normalized(self) -> str:
        return (f"{self.registry}/{self.path}" + (f":{self.tag}" if self.tag else "")
                + (f"@{self.digest}" if self.digest else ""))


def parse_image(image: str) -> ImageRef:
    """Split an image reference the way Docker does (registry, repository path, tag, digest)."""
    rest, _, digest = image.strip().partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = DOCKER_HUB, rest
    if registry == "index.docker.io":
        registry = DOCKER_HUB
    last = path.rsplit("/", 1)[-1]
    tag = None
    if ":" in last:
        tag = last.rsplit(":", 1)[1]
        path = path[: len(path) - len(tag) - 1]
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag or None, digest or None)


def _prefix_allows(prefix: str, reference: str) -> bool:
    if not prefix or not reference.startswith(prefix):
        return False
    return prefix.endswith("/") or len(reference) == len(prefix) or reference[len(prefix)] in "/:@"


def registry_allowed(image: str, ref: ImageRef, prefixes: list[str]) -> bool:
    return not prefixes or any(_prefix_allows(p, image.strip()) or _prefix_allows(p, ref.normalized)
                               for p in prefixes)


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned; None when it is."""
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    ref = parse_image(image)
    if ref.digest is not None:
        return None if _DIGEST.match(ref.digest) else f"image {image!r} has a malformed digest"
    if ref.tag is None:
        return f"image {image!r} has no tag or digest"
    if ref.tag.lower() == "latest":
        return f"image {image!r} uses the mutable tag 'latest'"
    return None


def _validate_images(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    prefixes = config_list(args.get_config(), "allowedRegistries", [])
    unpinned, foreign = [], []
    for kind, name, container in containers(spec):
        image = get(container, "image")
        problem = image_problem(image)
        if problem:
            unpinned.append(f"{kind} {name!r} {problem}")
        elif not registry_allowed(image, parse_image(image), prefixes):
            foreign.append(f"{kind} {name!r} image {image!r} ({parse_image(image).normalized})")
    if unpinned:
        report_violation(f"{workload_label(args)}: {'; '.join(unpinned)}. Pin a version tag (e.g. repo:1.2.3) or a "
                         f"digest (repo@sha256:...); 'latest' and untagged images change under you.")
    if foreign:
        report_violation(f"{workload_label(args)}: {'; '.join(foreign)} not from an allowed registry "
                         f"(allowedRegistries: {', '.join(prefixes)}). Mirror the image into one of them.")


image_pinned = ResourceValidationPolicy(
    name=IMAGE_NAME,
    description="Container images are pinned to a version tag (not latest) or a digest, from allowed registries.",
    validate=_validate_images,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "Image reference prefixes allowed (e.g. registry.example.com/, docker.io/vllm/); empty: "
                           "any registry.",
        },
    }),
)
