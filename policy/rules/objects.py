"""The Kubernetes objects a resource stands for, and object-level policies over them.

A policy that judges Kubernetes objects is written once, as a check of one object, and sees every object
`pulumi up` would create through `objects(args)`:

- a resource the program registers (`kubernetes:<group>/<version>:<Kind>`) is one object: its inputs with
  `apiVersion` and `kind` put back;
- a `helm.sh/v3` Release stands for the objects its chart renders to (the offline plan hands over its own
  render by URN; under `pulumi preview` the pack renders the chart itself with the same core,
  policy/rules/charts.py); a Release whose chart cannot be rendered contributes no objects here, and
  `helm-chart-renders` reports it;
- pod templates embedded in custom resources (ECK node sets, KEDA ScaledJobs, ...) are reached through
  `pod_specs(obj)` so container rules apply to them as to Deployments.

`object_policy(...)` turns a check `(obj, config) -> messages` into a ResourceValidationPolicy that reports
each message against the resource with the object's kind, namespace and name (and the Release it came from).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .helpers import POD_SPEC_PATHS, get, is_map, maps

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"


@dataclass(frozen=True)
class StackResource:
    """What `objects()` reads of a stack policy's resource (PolicyResource + the pack config, for chart rendering):
    stack policies call `objects()` per resource through this."""

    resource_type: str
    props: Any
    name: str
    config: Any
    urn: str = ""
    """The Release's URN: the offline plan hands its renders over by URN."""

    def get_config(self) -> Any:
        return self.config


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object as the API server would receive it (camelCase, `apiVersion`/`kind` set)."""

    body: Mapping[str, Any]
    """The whole object."""
    source: str = "program"
    """"program" for the program's own resources, `chart:<release name>` for a chart's rendered objects."""
    release_namespace: str = ""
    """A chart object's Release namespace (where an object without `metadata.namespace` lands)."""
    fallback_name: str = ""
    """The Pulumi resource name of a program object without `metadata.name` (the provider auto-names it)."""

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def api_version(self) -> str:
        return str(self.body.get("apiVersion", ""))

    @property
    def name(self) -> str:
        return str(get(self.body, "metadata", "name", default="") or "") or self.fallback_name

    @property
    def namespace(self) -> str:
        """`metadata.namespace`, else the Release's namespace for chart objects, else `default`."""
        found = get(self.body, "metadata", "namespace")
        if isinstance(found, str) and found:
            return found
        return self.release_namespace or "default"

    def ref(self) -> str:
        """'Deployment ai-inference/qwen7b' (+ ' (chart ingress-nginx)' for rendered objects) for messages."""
        where = f" (chart {self.source.split(':', 1)[1]})" if self.source.startswith("chart:") else ""
        return f"{self.kind} {self.namespace}/{self.name}{where}"


def program_object(resource_type: str, props: Any, name: str = "") -> KubeObject | None:
    """The object a pulumi-kubernetes resource registers; None for non-Kubernetes types and for Helm/YAML
    components (`helm.sh/*`, `yaml/*`), which stand for many objects. `name`: the Pulumi resource name, shown
    when the props have no `metadata.name`."""
    if not resource_type.startswith("kubernetes:") or not is_map(props):
        return None
    _, group_version, kind = resource_type.split(":", 2)
    if group_version.startswith(("helm.sh/", "yaml/", "kustomize/")) or "/" not in group_version:
        return None
    group, version = group_version.rsplit("/", 1)
    api_version = version if group == "core" else f"{group}/{version}"
    return KubeObject({**props, "apiVersion": api_version, "kind": kind}, fallback_name=name)


class RenderFailed(Exception):
    """A Release whose chart cannot be rendered: no archive, no Helm, or a template error (`helm-chart-renders`
    reports it; the other rules see no objects for the Release)."""

    def __init__(self, message: str, *, unavailable: bool = False):
        super().__init__(message)
        self.unavailable = unavailable
        """True when the archive or Helm is missing (not a bug of the chart's values)."""


ReleaseResult = list[Mapping[str, Any]] | RenderFailed
"""What a Release renders to: its objects, or why it could not be rendered."""


@dataclass
class _Renderers:
    """How a Release becomes objects (policy/rules/charts.py).

    - `rendered`: results the offline plan hands over by Release URN (tools.policy_eval fills it for one
      evaluation with the plan's own render, so nothing renders twice); looked up first;
    - `release`: `(release props, pack config) -> objects` (raising RenderFailed), renders a Release itself:
      the pack installs policy/rules/charts.py's renderer under `pulumi preview`. None until one is installed.
    """

    release: Callable[[Mapping[str, Any], Any], list[Mapping[str, Any]]] | None = None
    rendered: dict[str, ReleaseResult] = field(default_factory=dict)
    cache: dict[str, list[KubeObject]] = field(default_factory=dict)


RENDERERS = _Renderers()


def release_objects(args: ResourceValidationArgs | Any) -> list[KubeObject] | None:
    """The objects a `helm.sh/v3` Release renders to; None when nothing can render Releases here (no renderer
    installed, no result handed over). Raises RenderFailed when its chart cannot be rendered. `args` is a
    ResourceValidationArgs, or a stack policy's PolicyResource (no pack config)."""
    found = RENDERERS.rendered.get(args.urn)
    if found is None:
        if RENDERERS.release is None:
            return None
        get_config = getattr(args, "get_config", None)
        found = RENDERERS.release(args.props, get_config() if get_config is not None else {})
    if isinstance(found, RenderFailed):
        raise found
    release = str(get(args.props, "name", default=args.name))
    namespace = str(get(args.props, "namespace", default="default"))
    return [KubeObject(body, source=f"chart:{release}", release_namespace=namespace) for body in found]


def objects(args: ResourceValidationArgs | Any) -> Iterator[KubeObject]:
    """Every Kubernetes object `args`' resource stands for (see the module docstring). Stack policies pass each
    PolicyResource of `StackValidationArgs.resources` (same `resource_type`, `props`, `urn`, `name`)."""
    found = program_object(args.resource_type, args.props, str(getattr(args, "name", "") or ""))
    if found is not None:
        yield found
        return
    if args.resource_type == HELM_RELEASE:
        try:
            rendered = release_objects(args)
        except (RenderFailed, UnknownValueError):
            # helm-chart-renders reports it (an unknown chart, version, name or namespace during preview: the
            # analyzer's advisory "can't run during preview" note, once).
            return
        yield from rendered or ()


# Pod templates of the workload kinds (apps/v1, batch/v1, core/v1), by kind.
_WORKLOAD_PATHS = {resource_type.rsplit(":", 1)[-1]: path for resource_type, path in POD_SPEC_PATHS.items()}


def pod_specs(obj: KubeObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, pod spec) for every pod spec in the object: the workload kinds' template, and the pod templates
    custom resources embed (ECK `Elasticsearch`/`Kibana` node sets' `podTemplate`, KEDA `ScaledJob`'s
    `jobTargetRef.template`)."""
    path = _WORKLOAD_PATHS.get(obj.kind)
    if path is not None:
        spec = get(obj.body, *path)
        if is_map(spec):
            yield "pod template", spec
        return
    if obj.api_version.startswith("elasticsearch.k8s.elastic.co/"):
        for node_set in maps(get(obj.body, "spec", "nodeSets")):
            spec = get(node_set, "podTemplate", "spec")
            if is_map(spec):
                yield f"node set {get(node_set, 'name', default='?')}", spec
    elif obj.api_version.startswith("keda.sh/") and obj.kind == "ScaledJob":
        spec = get(obj.body, "spec", "jobTargetRef", "template", "spec")
        if is_map(spec):
            yield "job template", spec


Check = Callable[[KubeObject, Any], Iterable[str]]


def object_policy(name: str, description: str, check: Check, *,
                  config_schema: PolicyConfigSchema | None = None,
                  enforcement_level: EnforcementLevel = EnforcementLevel.MANDATORY) -> ResourceValidationPolicy:
    """A resource policy that runs `check(obj, pack config)` on every object of every resource and reports
    each message as '<Kind> <namespace>/<name>[ (chart <release>)]: <message>'."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        config = args.get_config()
        for obj in objects(args):
            for message in check(obj, config):
                report_violation(f"{obj.ref()}: {message}", None)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=enforcement_level, config_schema=config_schema)
