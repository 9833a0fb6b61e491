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

import base64
import contextlib
import hashlib
import json
import os
import re
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.helm import lock

from . import charts as chart_store
from . import helmbin, mockrun

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"
HOOK_ANNOTATION = "helm.sh/hook"
CACHE_FORMAT = 5
ENV_CACHE = "AI_PLATFORM_RENDER_CACHE"
SECRET_MARK = mockrun.REDACTED
SECRET_MARK_B64 = base64.b64encode(SECRET_MARK.encode()).decode()



class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML as Kubernetes reads it: `=` and dates are strings (PyYAML would reject or convert them)."""


_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)

# Built-in kinds that are not namespaced (custom kinds: their CRD's scope).
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding", "ClusterTrustBundle",
    "ComponentStatus", "CSIDriver", "CSINode", "CustomResourceDefinition", "DeviceClass", "FlowSchema",
    "IngressClass", "IPAddress", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume", "PriorityClass",
    "PriorityLevelConfiguration", "ResourceSlice", "RuntimeClass", "ServiceCIDR", "StorageClass",
    "StorageVersionMigration", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration", "VolumeAttachment", "VolumeAttributesClass",
})


class RenderError(RuntimeError):
    """A Release that Helm could not template (the message names chart, stack and Helm's message)."""


# ------------------------------------------------------------------------------------ data


class ChartObject:
    """One object a chart renders.

    Large documents (CRDs with their OpenAPI schemas) are parsed only when `manifest` is first read:
    the plan needs their kind, name and namespace (the head), not megabytes of schema.
    """

    __slots__ = ("_head", "_manifest", "_namespace", "_raw", "_text", "hook", "source")

    def __init__(self, manifest: dict, source: str, hook: str | None = None, *, text: str | None = None,
                 namespace: str | None = None):
        self._head = manifest
        """The manifest, or when `text` is given its head (everything but CRD schemas)."""
        self._text = text
        self._raw: dict | None = None if text is not None else manifest
        self._manifest: dict | None = None
        self._namespace = namespace
        """The namespace given to a lazily parsed manifest (the Release's, for a namespaced kind)."""
        self.source = source
        """The template it came from, as Helm prints it (`chart/templates/x.yaml`, `chart/charts/sub/...`)."""
        self.hook = hook
        """The `helm.sh/hook` annotation when the object is a hook (pre-install, post-install, ...)."""

    @property
    def manifest(self) -> dict:
        """The whole object, a Secret's `data`/`stringData` values shown as "[secret]"."""
        if self._manifest is None:
            self._manifest = redact_secret(self.unredacted())
        return self._manifest

    def unredacted(self) -> dict:
        """The object as Helm rendered it, Secrets included. They hold no secret of the program (its secret
        values reach Helm as "[secret]"), only chart defaults and values generated at render time; for
        callers that mask them themselves (tools.diff compares their digests). Never print or write it."""
        if self._raw is None:
            raw = yaml.load(self._text or "", Loader=_Loader) or {}
            if self._namespace:
                raw = {**raw, "metadata": {**(raw.get("metadata") or {}), "namespace": self._namespace}}
            self._raw = raw
        return self._raw

    @property
    def api_version(self) -> str:
        return str(self._head.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self._head.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self._head.get("metadata") or {}).get("name", ""))

    @property
    def namespace(self) -> str | None:
        return (self._head.get("metadata") or {}).get("namespace")

    @property
    def in_crds_dir(self) -> bool:
        """Comes from a chart's (or subchart's) `crds/` directory: installed before the templates when the
        Release does not skip CRDs, never upgraded or deleted by Helm."""
        parts = self.source.split("/")
        return any(part == "crds" and (i == 1 or (i >= 3 and parts[i - 2] == "charts"))
                   for i, part in enumerate(parts[:-1]))

    @property
    def on_install(self) -> bool:
        """Created by a first install: not a hook, or a pre-/post-install hook (not upgrade/delete/rollback only)."""
        return self.hook is None or any(h.strip() in ("pre-install", "post-install") for h in self.hook.split(","))

    @property
    def key(self) -> tuple[str, str, str, str]:
        """(apiVersion, kind, namespace or "", name): unique per object in a cluster."""
        return self.api_version, self.kind, self.namespace or "", self.name

    def label(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        marks = (" [hook: " + self.hook + "]" if self.hook else "") + (" [crds/]" if self.in_crds_dir else "")
        return f"{self.kind} {where}{marks}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "hook": self.hook, "manifest": self.manifest}

    def __repr__(self) -> str:
        return f"ChartObject({self.label()!r}, source={self.source!r})"


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


def apis_of(manifests: Iterable[Mapping[str, Any]]) -> tuple[set[str], dict[str, str]]:
    """API versions (`g/v` and `g/v/Kind`) served by CRDs and APIServices; and each custom kind's scope."""
    apis: set[str] = set()
    scopes: dict[str, str] = {}
    for m in manifests:
        kind, spec = m.get("kind"), m.get("spec") or {}
        if kind == "CustomResourceDefinition":
            group, names = spec.get("group"), spec.get("names") or {}
            crd_kind = names.get("kind")
            versions = [v.get("name") for v in spec.get("versions") or [] if v.get("served", True)]
            if not versions and spec.get("version"):
                versions = [spec["version"]]
            for version in versions:
                if group and version:
                    apis.add(f"{group}/{version}")
                    if crd_kind:
                        apis.add(f"{group}/{version}/{crd_kind}")
            if crd_kind:
                scopes[f"{group}/{crd_kind}"] = spec.get("scope", "Namespaced")
        elif kind == "APIService" and spec.get("group") and spec.get("version"):
            apis.add(f"{spec['group']}/{spec['version']}")
    return apis, scopes


_own_crds: dict[str, list[dict]] = {}
_own_crds_lock = threading.Lock()


def archive_crds(archive: Path, digest: str) -> list[dict]:
    """The CRDs in the `crds/` directories of a chart archive and its subcharts (schemas left out)."""
    with _own_crds_lock:
        if digest in _own_crds:
            return _own_crds[digest]
    found: list[dict] = []
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/")
            if member.isfile() and len(parts) >= 3 and parts[-2] == "crds" and \
                    parts[-1].endswith((".yaml", ".yml", ".json")):
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                try:
                    docs = list(yaml.load_all(without_schemas(handle.read().decode("utf-8")), Loader=_Loader))
                except (yaml.YAMLError, UnicodeDecodeError):
                    continue
                found += [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
            elif member.isfile() and member.name.endswith(".tgz") and "/charts/" in member.name:
                # A subchart kept as an archive inside the chart (milvus ships them so).
                handle = tar.extractfile(member)
                if handle is not None:
                    with tempfile.NamedTemporaryFile(suffix=".tgz") as sub:
                        sub.write(handle.read())
                        sub.flush()
                        found += archive_crds(Path(sub.name), hashlib.sha256(Path(sub.name).read_bytes()).hexdigest())
    with _own_crds_lock:
        _own_crds[digest] = found
    return found


# ----------------------------------------------------------------------------- helm output


_DOC_SPLIT = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (.+)$", re.MULTILINE)


def parse_manifests(text: str) -> list[tuple[str, dict]]:
    """(source template, object) for every document of `helm template` output, in order, fully parsed."""
    return [(source, doc if lazy is None else yaml.load(lazy, Loader=_Loader))
            for source, doc, lazy in parse_documents(text)]


LAZY_BYTES = 16384
"""Documents larger than this (CRDs) are kept as text and parsed when their manifest is read."""
_SECRET_KIND = re.compile(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)

Document = tuple[str, dict, str | None]
"""(source template, manifest or head, the document's text when only its head was parsed)."""


def parse_documents(text: str) -> list[Document]:
    """Every document of `helm template` output (Secrets as rendered), large ones parsed only for their head."""
    out: list[Document] = []
    source = ""
    for chunk in _DOC_SPLIT.split(text):
        match = _SOURCE.search(chunk)
        if match:
            source = match.group(1).strip()
        if not chunk.strip():
            continue
        if len(chunk) > LAZY_BYTES and not _SECRET_KIND.search(chunk):
            head = yaml.load(without_schemas(chunk), Loader=_Loader)
            if isinstance(head, dict) and head:
                out.append((source, head, chunk))
            continue
        for doc in yaml.load_all(chunk, Loader=_Loader):
            if isinstance(doc, dict) and doc:
                out.append((source, doc, None))
    return out


_API_KINDS = re.compile(r"^kind:[ \t]*[\"']?(CustomResourceDefinition|APIService)[\"']?[ \t]*$", re.MULTILINE)
_SCHEMA_KEY = re.compile(r"^( *)(- +)?(schema|validation):[ \t]*$")


def without_schemas(text: str) -> str:
    """YAML text with every CRD `schema:`/`validation:` block replaced by `{}` (block style, as charts write
    CRDs): the APIs a CRD serves, without parsing megabytes of OpenAPI."""
    out: list[str] = []
    skip: int | None = None
    for line in text.splitlines():
        if skip is not None:
            body = line.lstrip(" ")
            if not body or len(line) - len(body) > skip:
                continue
            skip = None
        match = _SCHEMA_KEY.match(line)
        if match:
            skip = len(match.group(1)) + len(match.group(2) or "")
            out.append(f"{match.group(1)}{match.group(2) or ''}{match.group(3)}: {{}}")
            continue
        out.append(line)
    return "\n".join(out)


def provided_apis(text: str) -> tuple[set[str], dict[str, str]]:
    """`apis_of` the CRDs and APIServices in YAML text, read quickly (schemas skipped)."""
    docs: list[dict] = []
    for chunk in _DOC_SPLIT.split(text):
        if _API_KINDS.search(chunk):
            docs += [d for d in yaml.load_all(without_schemas(chunk), Loader=_Loader) if isinstance(d, dict)]
    return apis_of(docs)


def redact_secret(manifest: dict) -> dict:
    """A v1 Secret with every data/stringData value replaced by the secret marker."""
    if manifest.get("kind") != "Secret" or manifest.get("apiVersion") != "v1":
        return manifest
    out = dict(manifest)
    if isinstance(out.get("data"), dict):
        out["data"] = dict.fromkeys(out["data"], SECRET_MARK_B64)
    if isinstance(out.get("stringData"), dict):
        out["stringData"] = dict.fromkeys(out["stringData"], SECRET_MARK)
    return out


def to_objects(docs: list[Document], namespace: str, scopes: Mapping[str, str]) -> list[ChartObject]:
    """Chart objects with hooks marked, secrets redacted and the release namespace on namespaced kinds."""
    _, own_scopes = apis_of(head for _, head, _ in docs)
    scopes = {**scopes, **own_scopes}
    objects = []
    for source, head, text in docs:
        meta = dict(head.get("metadata") or {})
        kind = str(head.get("kind", ""))
        group = str(head.get("apiVersion", "")).rpartition("/")[0]
        scope = scopes.get(f"{group}/{kind}")
        cluster_scoped = scope == "Cluster" if scope else kind in CLUSTER_SCOPED_KINDS
        default_ns = None
        if not cluster_scoped and not meta.get("namespace"):
            meta["namespace"] = default_ns = namespace
            head = {**head, "metadata": meta}
        hook = (meta.get("annotations") or {}).get(HOOK_ANNOTATION)
        objects.append(ChartObject(head, source, str(hook) if hook else None, text=text, namespace=default_ns))
    return objects


# ----------------------------------------------------------------------------------- render


def cache_dir() -> Path:
    """`AI_PLATFORM_RENDER_CACHE`, else `$XDG_CACHE_HOME/ai-platform/render` (`~/.cache/...`): one cache for
    every checkout, worktree and the temporary worktrees of `tools.plan --diff` (entries are keyed by
    content, so sharing them is safe)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-platform" / "render"


def _cache_key(digest: str, values: dict, args: list[str], helm_version: str) -> str:
    payload = json.dumps({"format": CACHE_FORMAT, "archive": digest, "values": values, "args": args,
                          "helm": helm_version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def template_args(release: str, namespace: str, kube_version: str, api_versions: Iterable[str],
                  include_crds: bool) -> list[str]:
    """The flags of `helm template` after the archive (values file excluded)."""
    args = ["--namespace", namespace, "--kube-version", kube_version, "--skip-tests"]
    for api in sorted(set(api_versions)):
        args += ["--api-versions", api]
    if include_crds:
        args.append("--include-crds")
    return args


Provides = tuple[set[str], dict[str, str]]
"""(API versions, custom kind scopes) a render installs: what `apis_of` returns."""


def template(helm: helmbin.Helm, archive: Path, digest: str, release: str, namespace: str, values: dict,
             args: list[str], cache: Path | None, on_provides: Callable[[Provides], None] | None = None,
             slots: threading.Semaphore | None = None,
             warnings: list[str] | None = None) -> tuple[list[Document], bool]:
    """Run (or reuse) one `helm template`; returns (its documents, from cache). Raises RenderError.

    Helm's stderr of a successful render (warnings) is appended to `warnings` when given.

    `on_provides` gets the APIs the output installs as soon as they are known (before the whole output
    is parsed), so the Releases waiting for them can start; `slots` bounds concurrent Helm processes.
    """
    key = _cache_key(digest, values, [release, *args], helm.version)
    hit = cache / f"{key}.json" if cache else None
    if hit is not None and hit.exists():
        try:
            data = json.loads(hit.read_text())
            pairs = [(d["source"], d["head"], d["text"]) if "text" in d else (d["source"], d["manifest"], None)
                     for d in data["objects"]]
            if on_provides:
                on_provides((set(data["provides"]["apis"]), dict(data["provides"]["scopes"])))
            if warnings is not None:
                warnings.extend(data.get("warnings") or [])
            return pairs, True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged entry is rendered again
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="values-") as handle:
        json.dump(values, handle)
        handle.flush()
        with slots or contextlib.nullcontext():
            out = helm.run("template", release, str(archive), "--values", handle.name, *args, timeout=300)
    if out.returncode != 0:
        raise RenderError((out.stderr or out.stdout).strip())
    said = [line for line in out.stderr.splitlines() if line.strip()]
    if warnings is not None:
        warnings.extend(said)
    provides = provided_apis(out.stdout)
    if on_provides:
        on_provides(provides)
    pairs = parse_documents(out.stdout)
    if hit is not None:
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_name(f".{hit.name}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"provides": {"apis": sorted(provides[0]), "scopes": provides[1]}, "warnings": said,
                                   "objects": [{"source": s, "head": m, "text": t} if t is not None else
                                               {"source": s, "manifest": m} for s, m, t in pairs]}))
        os.replace(tmp, hit)
    return pairs, False


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
        pin = locked.get(rel.chart)
        if pin is None or pin.version != rel.version or pin.repo != (r.inputs.get("repositoryOpts") or {}).get("repo"):
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
    program_crds = {r.urn: {**r.inputs, "kind": "CustomResourceDefinition"} for r in result.of_type(CRD_TYPE)}
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
            sources.append(apis_of(mockrun.redact(program_crds[u]) for u in closure[urn] if u in program_crds))
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
                         include_crds=not i.get("skipCrds"))


def _unavailable(result: mockrun.RunResult, renders: dict[str, ReleaseRender], kube_version: str, line: str,
                 start: float, helm: helmbin.Helm | None = None) -> StackRender:
    for rel in renders.values():
        if rel.error is None:
            rel.error, rel.unavailable = line, True
    return StackRender(result.stack, kube_version, helm.version if helm else None,
                       list(renders.values()), line, time.perf_counter() - start)


__all__ = [
    "ChartObject",
    "ReleaseRender",
    "RenderError",
    "StackRender",
    "apis_of",
    "cache_dir",
    "dependency_closure",
    "helm_values",
    "kube_version_of",
    "parse_manifests",
    "render_stack",
    "template_args",
]
