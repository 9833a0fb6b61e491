"""image-pinned: every container image names one immutable build from an allowed registry.

An object policy over every pod spec of every object the stack would create (the program's workloads,
chart-rendered workloads, pod templates in custom resources; containers, init and ephemeral containers).

An image reference is parsed as Docker does: the first path component is a registry host when it contains
`.` or `:` or is `localhost` (so the port in `localhost:5000/app` is not a tag), otherwise the image is on
Docker Hub (`nginx` is `docker.io/library/nginx`, `index.docker.io` reads as `docker.io`).

- **Pinned**: a digest (`@sha256:<hex>`, with or without a tag), or a tag that does not fully match
  (case-insensitively) a regular expression of the pack config `mutableTagPatterns` (default: `latest`,
  branch/channel names such as `stable`, `main`, `nightly`, `edge`, and floating versions that name only a
  major or major.minor such as `3`, `v2`, `3.13`, `3.13-alpine`: all move when upstream publishes).
  Absent/empty image or no tag: a violation.
- **Digests in protected stacks**: in stacks whose name matches a glob of the pack config `digestStacks`
  (default `[]`), a tag is not enough: the image needs a digest. Off by default and in the shipped prod config:
  the images the program and its charts ship are version tags whose digests cannot be verified offline, and
  a digest written without checking it pins nothing; a team that mirrors its images sets it (see
  docs/policy.md).
- **Registries**: pack config `allowedRegistries` (default `[]`: any) lists reference prefixes such as
  `registry.example.com/` or `docker.io/vllm/`; an image must start with one, compared against the image as
  written and its normalized form. A prefix that does not end in `/` matches only up to a `/`, `:` or `@`
  boundary (`docker.io/library/nginx` does not allow `docker.io/library/nginx-evil`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import config_list, get, maps
from .objects import KubeObject, objects, pod_specs
from .protection import stack_of

IMAGE_NAME = "image-pinned"

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")

# Channel/branch names and floating versions (major or major.minor), each with optional variant suffixes
# (`latest-distroless`, `3.13-slim-bookworm`); a suffix with digits (`main-4f2a9c1`, `stable-1.2.3`) names a build.
DEFAULT_MUTABLE_TAG_PATTERNS = (
    r"(latest|stable|edge|nightly|main|master|dev|devel|develop|head|canary|rolling)(-[a-z]+)*",
    r"v?\d+(\.\d+)?(-[a-z]+)*",
)


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


def tag_matchers(config: Any) -> tuple[list[re.Pattern[str]], list[str]]:
    """(compiled mutableTagPatterns, invalid patterns)."""
    compiled, invalid = [], []
    for pattern in config_list(config, "mutableTagPatterns", DEFAULT_MUTABLE_TAG_PATTERNS):
        try:
            compiled.append(re.compile(rf"(?:{pattern})", re.IGNORECASE))
        except re.error:
            invalid.append(pattern)
    return compiled, invalid


def image_problem(image: Any, mutable: list[re.Pattern[str]] | None = None, need_digest: bool = False) -> str | None:
    """Why an image reference is not pinned; None when it is."""
    if not isinstance(image, str) or not image.strip():
        return "has no image"
    ref = parse_image(image)
    if ref.digest is not None:
        return None if _DIGEST.match(ref.digest) else f"image {image!r} has a malformed digest"
    if ref.tag is None:
        return f"image {image!r} has no tag or digest"
    if mutable is None:
        mutable = tag_matchers({})[0]
    if any(m.fullmatch(ref.tag) for m in mutable):
        return f"image {image!r} uses the mutable tag {ref.tag!r}"
    if need_digest:
        return f"image {image!r} has no digest (required in this stack)"
    return None


# ECK runs the main container of an Elasticsearch node set with `spec.image`, else its default image for
# `spec.version` (ECK docs, "Elasticsearch specification": image defaults to
# docker.elastic.co/elasticsearch/elasticsearch:<version>); a podTemplate that names the container without an
# image gets that one.
ECK_IMAGES = {"Elasticsearch": ("elasticsearch", "docker.elastic.co/elasticsearch/elasticsearch")}


def _operator_image(obj: KubeObject, container_name: Any) -> Any:
    default = ECK_IMAGES.get(obj.kind) if obj.api_version.startswith("elasticsearch.k8s.elastic.co/") else None
    if default is None or container_name != default[0]:
        return None
    version = get(obj.body, "spec", "version")
    return get(obj.body, "spec", "image") or (f"{default[1]}:{version}" if isinstance(version, str) else None)


# Istio gateway injection (istio/istio manifests/charts/gateway templates/deployment.yaml @ 1.30.3): the chart's
# `istio-proxy` container says `image: auto` and its pod `sidecar.istio.io/inject: "true"`; istiod's injection webhook
# replaces it with the proxy image of the pinned istiod chart, so that chart pins the image.
INJECTED = ("istio-proxy", "auto")


def _injected(obj: KubeObject, container: Any) -> bool:
    labels = get(obj.body, "spec", "template", "metadata", "labels") or {}
    return (get(container, "name"), get(container, "image")) == INJECTED and \
        str(get(labels, "sidecar.istio.io/inject")) == "true"


def _images(obj: KubeObject) -> Iterator[tuple[str, Any]]:
    for where, spec in pod_specs(obj):
        prefix = "" if where in ("pod template", "job template") else f"{where}: "
        for field, kind in (("initContainers", "initContainer"), ("containers", "container"),
                            ("ephemeralContainers", "ephemeralContainer")):
            for container in maps(get(spec, field)):
                name = get(container, "name", default="<unnamed>")
                image = get(container, "image")
                if _injected(obj, container):
                    continue
                if image is None and field == "containers":
                    image = _operator_image(obj, name)
                yield f"{prefix}{kind} {name!r}", image


def check_images(obj: KubeObject, config: Any, need_digest: bool = False) -> list[str]:
    """The violation messages of one object (without the object's ref)."""
    mutable, _ = tag_matchers(config)
    prefixes = config_list(config, "allowedRegistries", [])
    unpinned, foreign = [], []
    for label, image in _images(obj):
        problem = image_problem(image, mutable, need_digest)
        if problem:
            unpinned.append(f"{label} {problem}")
        elif not registry_allowed(image, parse_image(image), prefixes):
            foreign.append(f"{label} image {image!r} ({parse_image(image).normalized})")
    messages = []
    if unpinned:
        messages.append(f"{'; '.join(unpinned)}. Pin a release version tag (e.g. repo:1.2.3) or a digest "
                        f"(repo@sha256:...); 'latest', channel and floating tags change under you.")
    if foreign:
        messages.append(f"{'; '.join(foreign)} not from an allowed registry (allowedRegistries: "
                        f"{', '.join(prefixes)}). Mirror the image into one of them or add its prefix with the reason.")
    return messages


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    _, invalid = tag_matchers(config)
    if invalid:
        report_violation(f"pack config mutableTagPatterns: {', '.join(repr(p) for p in invalid)} "
                         f"{'is' if len(invalid) == 1 else 'are'} not a valid regular expression.", None)
    stack = stack_of(args.urn)
    need_digest = bool(stack) and any(fnmatchcase(stack, p) for p in config_list(config, "digestStacks", []))
    for obj in objects(args):
        for message in check_images(obj, config, need_digest):
            report_violation(f"{obj.ref()}: {message}", None)


image_pinned = ResourceValidationPolicy(
    name=IMAGE_NAME,
    description="Container images are pinned (no latest/channel/floating tag; a digest where required) and come "
                "from allowed registries.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "allowedRegistries": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "Image reference prefixes allowed (e.g. registry.example.com/, docker.io/vllm/); empty: "
                           "any registry.",
        },
        "mutableTagPatterns": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_MUTABLE_TAG_PATTERNS),
            "description": "Regular expressions (case-insensitive, whole tag) of tags that move: a match is a "
                           "violation.",
        },
        "digestStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Glob patterns of stack names whose images need a digest (@sha256:...), not only a tag.",
        },
    }),
)
