"""Render every Helm Release of a mock run with real Helm, as the provider would install it.

    from tools import mockrun, render
    result = mockrun.run_program("prod")
    charts = render.render_stack(result, render.kube_version_of(mockrun.stack_config("prod")[0]))
    for rel in charts.releases: rel.release, rel.error, [o.kind for o in rel.objects]

Each recorded `kubernetes:helm.sh/v3:Release` becomes

    helm template <name> <archive> --namespace <namespace> --values <values> --skip-tests
         --kube-version <the stack's cluster version> --api-versions <...> [--include-crds]

- the archive is the locked chart's (tools.charts: `AI_PLATFORM_CHARTS`, the local cache or
  `../shared/charts`, digest-checked against charts.lock.yaml);
- values are the Release's `values` with secrets replaced by "[secret]" (the rendered objects then
  never hold a secret of the program; `ChartObject.manifest` shows every value of a rendered Secret's
  `data`/`stringData` as "[secret]" too, `unredacted()` as rendered);
- `--include-crds` unless the Release sets `skipCrds` (the provider installs `crds/` then);
- `--api-versions` lists, as `group/version` and `group/version/Kind`, every API the program
  installs before this Release: CRDs and APIServices rendered by the Releases it depends on
  (directly or through any resource of its dependency chain), CRDs the program itself creates in that
  chain, and the chart's own `crds/` (Helm installs those before it builds the Capabilities of the
  install). Built-in APIs of the Kubernetes version are Helm's own default set. So
  `.Capabilities.APIVersions.Has "monitoring.coreos.com/v1"` is true in a chart installed after
  prometheus-operator-crds, as on a first `pulumi up`;
- hooks are kept (the provider runs pre/post-install hooks) and marked: `ChartObject.hook` is their
  `helm.sh/hook` annotation; test hooks are not rendered (`helm test` only);
- objects without a namespace get the Release's, as Helm's install does for namespaced kinds.

What `helm template` cannot know, so the render differs from the cluster there:
- `lookup` returns nothing (no cluster): charts that reuse an existing Secret or certificate through
  `lookup` render their "first install" branch;
- generated secrets and random values (`randAlphaNum`, `genCA`, `genSignedCert`, `uuidv4`) differ on
  each render and from the installed ones: the cache keeps the first render, Secrets are redacted;
- Capabilities beyond API versions (the real server's minor/patch, feature gates) and anything that
  depends on objects created outside this program (an API registered by a cluster add-on).

Renders run in parallel (a Release starts once the APIs of the Releases it depends on are read from
their output; CRD schemas are skipped there and large documents are parsed only when their manifest
is read) and are cached on disk (`~/.cache/ai-platform/render/`, or `AI_PLATFORM_RENDER_CACHE`) keyed by the
archive digest, values, release name, namespace, flags and Helm version.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.helm import lock
from policy.rules import helmbin
from policy.rules.helmrender import (  # the rendering core the policy pack shares (see that module)
    CLUSTER_SCOPED_KINDS,
    ENV_CACHE,
    HOOK_ANNOTATION,
    SECRET_MARK,
    SECRET_MARK_B64,
    ChartObject,
    Document,
    Provides,
    RenderError,
    apis_of,
    archive_crds,
    cache_dir,
    parse_documents,
    parse_manifests,
    provided_apis,
    redact_secret,
    template,
    template_args,
    to_objects,
    without_schemas,
)

from . import charts as chart_store
from . import mockrun

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


@dataclass
class ReleaseRender:
    """What one Release renders to (or why it does not)."""

    urn: str
    name: str
    """The Pulumi resource name."""
    release: str
    """The Helm release name."""
    namespace: str
    chart: str
    version: str
    stack: str
    kube_version: str
    include_crds: bool
    api_versions: tuple[str, ...] = ()
    """Passed with --api-versions (beyond Helm's built-in set)."""
    archive: str | None = None
    sha256: str = ""
    objects: list[ChartObject] = field(default_factory=list)
    error: str | None = None
    """Helm's failure (chart, stack and Helm's message) or why it could not render."""
    warnings: list[str] = field(default_factory=list)
    """What Helm printed on stderr while rendering successfully (e.g. values it skipped)."""
    unavailable: bool = False
    """True when no archive or Helm binary was found (not a chart bug)."""
    cached: bool = False
    seconds: float = 0.0
    inputs_key: str = ""
    """`render_key` of the Release inputs it was rendered from (tools.policy_eval: is this render still current?)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"urn": self.urn, "name": self.name, "release": self.release,
                               "namespace": self.namespace, "chart": self.chart, "version": self.version,
                               "kubeVersion": self.kube_version, "includeCrds": self.include_crds,
                               "apiVersions": list(self.api_versions), "archive": self.archive,
                               "sha256": self.sha256, "cached": self.cached, "warnings": list(self.warnings)}
        if self.error is not None:
            out["error"] = self.error
            out["unavailable"] = self.unavailable
        else:
            out["objects"] = [o.to_json() for o in self.objects]
        return out


@dataclass
class StackRender:
    """Every Release of a stack, rendered."""

    stack: str
    kube_version: str
    helm: str | None
    """The Helm version that rendered (v4.1.4), None when there is no Helm binary."""
    releases: list[ReleaseRender]
    unavailable: str | None = None
    """One line saying why nothing could be rendered (no Helm, no archives), else None."""
    seconds: float = 0.0

    def by_urn(self) -> dict[str, ReleaseRender]:
        return {r.urn: r for r in self.releases}

    def release(self, name: str) -> ReleaseRender:
        """By Helm release name or Pulumi resource name."""
        found = [r for r in self.releases if name in (r.release, r.name)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} releases named {name!r} in stack {self.stack}")
        return found[0]

    @property
    def objects(self) -> list[ChartObject]:
        return [o for r in self.releases for o in r.objects]

    @property
    def errors(self) -> list[str]:
        """Template failures (real bugs; missing archives are not in here)."""
        return [r.error for r in self.releases if r.error and not r.unavailable]

    def to_json(self) -> dict[str, Any]:
        return {"kubeVersion": self.kube_version, "helm": self.helm, "unavailable": self.unavailable,
                "releases": [r.to_json() for r in self.releases]}


# ----------------------------------------------------------------------------- the inputs


def kube_version_of(values: Mapping[str, Any]) -> str:
    """`--kube-version` for a stack's config values: its `cluster.kubernetesVersion` (default: the model's)."""
    from config.models import ClusterConfig

    cluster = values.get("cluster") if isinstance(values, Mapping) else None
    minor = (cluster or {}).get("kubernetesVersion") if isinstance(cluster, Mapping) else None
    minor = minor or ClusterConfig.model_fields["kubernetes_version"].default
    return f"v{minor}.0"


def helm_values(inputs: Mapping[str, Any]) -> dict:
    """The Release's values as Helm gets them: secrets redacted, whole numbers as integers."""
    return mockrun.integers(mockrun.redact(inputs.get("values") or {}))



def render_key(inputs: Mapping[str, Any]) -> str:
    """A digest of what a Release renders from (name, namespace, chart, version, repository, values with secrets
    redacted, skipCrds): equal keys, equal renders for the same dependencies and Kubernetes version."""
    fields = {k: inputs.get(k) for k in ("name", "namespace", "chart", "version", "repositoryOpts", "skipCrds")}
    payload = json.dumps([mockrun.integers(mockrun.redact(fields)), helm_values(inputs)], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def dependency_closure(result: mockrun.RunResult, urn: str) -> set[str]:
    """URNs of every resource `urn` waits for, directly or through others (what exists before it)."""
    by_urn = result.by_urn()
    children: dict[str, list[str]] = {}
    for r in result.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)
    seen: set[str] = set()
    stack = list(by_urn[urn].dependencies)
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        res = by_urn.get(dep)
        if res is None:
            continue
        stack.extend(res.dependencies)
        if not res.custom:  # depending on a component waits for all of its children
            stack.extend(children.get(dep, []))
    seen.discard(urn)
    return seen



def render_stack(result: mockrun.RunResult, kube_version: str, *, dirs: list[Path] | None = None,
                 cache: Path | bool | None = True, workers: int | None = None,
                 allow_fetch: bool = True) -> StackRender:
    """Render every Release of `result` (see the module docstring). Never raises for a chart's failure:
    each ReleaseRender carries its objects or its error."""
    start = time.perf_counter()
    cache_path = cache_dir() if cache is True else (cache or None)
    releases = result.of_type(RELEASE_TYPE)
    renders = {r.urn: _skeleton(result.stack, r, kube_version) for r in releases}
    if not releases:
        return StackRender(result.stack, kube_version, None, [], None, 0.0)
    try:
        helm = helmbin.find(allow_fetch=allow_fetch)
    except helmbin.HelmNotAvailable as exc:
        line = f"charts not rendered: no Helm {helmbin.HELM_VERSION} ({exc})"
        return _unavailable(result, renders, kube_version, line, start)

    locked = lock()
    resolved = {}
    for r in releases:
        rel = renders[r.urn]
        # An OCI chart is installed as `oci://<registry path>/<chart>` with no repositoryOpts (ChartPin.reference).
        pin = locked.get(rel.chart.rstrip("/").rsplit("/", 1)[-1] if rel.chart.startswith("oci://") else rel.chart)
        repo = (r.inputs.get("repositoryOpts") or {}).get("repo")
        if pin is None or pin.version != rel.version or (
                rel.chart != pin.reference if pin.oci else pin.repo != repo):
            rel.error = (f"chart {rel.chart} {rel.version} of release {rel.release} (stack {rel.stack}) is not "
                         f"in the chart lock {chart_store.LOCK_FILE.name}")
            continue
        found = chart_store.resolve(pin, dirs)
        if found.path is None:
            rel.error, rel.unavailable = f"no archive: {found.problem}", True
            continue
        resolved[r.urn] = found
        rel.archive, rel.sha256 = str(found.path), found.sha256
    if not resolved:
        line = (f"charts not rendered: no chart archive found ({chart_store.describe_dirs()}); "
                "`python -m tools.charts pull` fetches them")
        if all(r.unavailable for r in renders.values()):
            return _unavailable(result, renders, kube_version, line, start, helm)

    # Dependency order between releases, and what each one's chain installs before it.
    closure = {r.urn: dependency_closure(result, r.urn) for r in releases}
    release_deps = {u: {d for d in closure[u] if d in renders} for u in renders}
    # The APIs of each CRD the program creates, read once (the gateway's CRDs are megabytes of schema; many Releases
    # wait for them).
    program_crds = {r.urn: apis_of([mockrun.redact({**r.inputs, "kind": "CustomResourceDefinition"})])
                    for r in result.of_type(CRD_TYPE)}
    inputs = {r.urn: r.inputs for r in releases}
    # What each Release installs (API versions, scopes), published as soon as its output is read: a Release
    # waits only for those of the Releases it depends on, not for their whole output to be parsed.
    provides: dict[str, Provides] = {}
    ready = {urn: threading.Event() for urn in renders}
    slots = threading.Semaphore(workers or max(2, os.cpu_count() or 2))

    def publish(urn: str, provided: Provides) -> None:
        provides[urn] = provided
        ready[urn].set()

    def run_one(urn: str) -> None:
        rel = renders[urn]
        try:
            for dep in release_deps[urn]:
                ready[dep].wait()
            if urn not in resolved:
                return
            began = time.perf_counter()
            apis: set[str] = set()
            scopes: dict[str, str] = {}
            sources = [provides.get(d, (set(), {})) for d in release_deps[urn]]
            sources += [program_crds[u] for u in closure[urn] if u in program_crds]
            if rel.include_crds:
                sources.append(apis_of(archive_crds(resolved[urn].path, resolved[urn].sha256)))
            for found_apis, found_scopes in sources:
                apis |= found_apis
                scopes.update(found_scopes)
            rel.api_versions = tuple(sorted(apis))
            args = template_args(rel.release, rel.namespace, kube_version, apis, rel.include_crds)
            try:
                pairs, rel.cached = template(helm, resolved[urn].path, resolved[urn].sha256, rel.release,
                                             rel.namespace, helm_values(inputs[urn]), args, cache_path,
                                             on_provides=lambda p: publish(urn, p), slots=slots,
                                             warnings=rel.warnings)
                rel.objects = to_objects(pairs, rel.namespace, scopes)
            except RenderError as exc:
                rel.error = (f"chart {rel.chart} {rel.version} (release {rel.release} in {rel.namespace}) of stack "
                             f"{rel.stack} fails to template: {exc}")
            except (OSError, yaml.YAMLError) as exc:
                rel.error = f"chart {rel.chart} {rel.version} of stack {rel.stack}: {type(exc).__name__}: {exc}"
            rel.seconds = time.perf_counter() - began
        finally:
            ready[urn].set()  # failed or not: never leave a dependent waiting

    # One thread per Release (they mostly wait: for their dependencies, or on Helm); `slots` bounds Helm.
    with ThreadPoolExecutor(max_workers=len(renders)) as pool:
        for fut in [pool.submit(run_one, urn) for urn in renders]:
            fut.result()
    ordered = [renders[r.urn] for r in releases]
    return StackRender(result.stack, kube_version, helm.version, ordered, None,
                       time.perf_counter() - start)


def _skeleton(stack: str, r: mockrun.Recorded, kube_version: str) -> ReleaseRender:
    i = r.inputs
    return ReleaseRender(urn=r.urn, name=r.name, release=str(i.get("name") or r.name),
                         namespace=str(i.get("namespace") or "default"), chart=str(i.get("chart")),
                         version=str(i.get("version")), stack=stack, kube_version=kube_version,
                         include_crds=not i.get("skipCrds"), inputs_key=render_key(i))


def _unavailable(result: mockrun.RunResult, renders: dict[str, ReleaseRender], kube_version: str, line: str,
                 start: float, helm: helmbin.Helm | None = None) -> StackRender:
    for rel in renders.values():
        if rel.error is None:
            rel.error, rel.unavailable = line, True
    return StackRender(result.stack, kube_version, helm.version if helm else None,
                       list(renders.values()), line, time.perf_counter() - start)


__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "ENV_CACHE",
    "HOOK_ANNOTATION",
    "SECRET_MARK",
    "SECRET_MARK_B64",
    "ChartObject",
    "Document",
    "ReleaseRender",
    "RenderError",
    "StackRender",
    "apis_of",
    "cache_dir",
    "dependency_closure",
    "helm_values",
    "kube_version_of",
    "parse_documents",
    "parse_manifests",
    "provided_apis",
    "redact_secret",
    "render_key",
    "render_stack",
    "template_args",
    "without_schemas",
]
