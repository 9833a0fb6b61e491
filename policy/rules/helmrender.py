"""The chart-rendering core the policy pack and the offline plan share: Helm's output as objects.

The pack runs under `pulumi preview --policy-pack policy` from `policy/` in its own virtualenv and cannot
import the program (config/, components/) nor tools/; the offline plan (tools/render.py, tools/charts.py)
imports this module, so both find chart archives, call `helm template`, cache and parse its output with
the same code:

- where a locked chart's archive is (`AI_PLATFORM_CHARTS`, else `.cache/charts/` of the checkout, else
  `../shared/charts/`), checked against its pin's digest (`resolve`);
- the flags of one `helm template` (`template_args`), the render itself with its on-disk cache (`template`);
- parsing its output into objects (hooks marked, Secrets redacted, the release namespace on namespaced kinds:
  `parse_documents`, `to_objects`), and the APIs a render installs (`apis_of`, `provided_apis`, `archive_crds`).

The Helm binary comes from policy/rules/helmbin.py (also `tools.helmbin`). Only the standard library and PyYAML
(a dependency of `pulumi`, so in the pack's virtualenv) are used.
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from . import helmbin

HOOK_ANNOTATION = "helm.sh/hook"
CACHE_FORMAT = 5
ENV_CACHE = "AI_PLATFORM_RENDER_CACHE"
SECRET_MARK = "[secret]"
"""What a secret shows as (tools.mockrun.REDACTED: the program's secrets reach Helm as this)."""
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


# ------------------------------------------------------------------------------ chart archives


class Pin(Protocol):
    """What archive lookup needs of a locked chart (components.helm.ChartPin; the pack builds its own)."""

    @property
    def chart(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def archive(self) -> str: ...


ROOT = Path(__file__).resolve().parents[2]
"""This checkout (its caches and ../shared), also when tools.diff plans another ref's program with it."""
ENV = "AI_PLATFORM_CHARTS"
PULL_RECORD = "pulled.lock.yaml"


def local_cache() -> Path:
    """The git-ignored directory `pull` fills."""
    return ROOT / ".cache" / "charts"


def shared_dir() -> Path:
    """The team's pinned archives beside the checkout."""
    return ROOT.parent / "shared" / "charts"


def chart_dirs() -> list[Path]:
    """Directories searched for archives (see the module docstring)."""
    if os.environ.get(ENV):
        return [Path(os.environ[ENV]).expanduser().resolve()]
    return [d for d in (local_cache(), shared_dir()) if d.is_dir()]


def describe_dirs() -> str:
    """Where archives were looked for, for one-line messages."""
    if os.environ.get(ENV):
        return f"{ENV}={os.environ[ENV]}"
    return f"{ENV} unset, {local_cache()} and {shared_dir()}"


_digests: dict[tuple[str, int, int], str] = {}
_digest_lock = threading.Lock()


def sha256(path: Path) -> str:
    """sha256 of a file (memoised by path, size and mtime)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _digest_lock:
        if key in _digests:
            return _digests[key]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with _digest_lock:
        _digests[key] = digest
    return digest


def read_record(directory: Path) -> dict[str, dict[str, Any]]:
    """What `pull` recorded in a directory: {chart: {version, repository, sha256}}."""
    path = directory / PULL_RECORD
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("charts") or {}


def chart_metadata(archive: Path) -> dict[str, Any]:
    """The top-level Chart.yaml of a chart archive."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:  # helm package writes Chart.yaml first: stop there, do not read the whole archive
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                handle = tar.extractfile(member)
                return yaml.safe_load(handle.read()) if handle else {}
    return {}


def check_archive(pin: Pin, archive: Path) -> list[str]:
    """Problems of an archive against its pin (empty: usable)."""
    problems = []
    digest = sha256(archive)
    recorded = read_record(archive.parent).get(pin.chart) or {}
    if digest != pin.sha256 and not (recorded.get("sha256") == digest and str(recorded.get("version")) == pin.version):
        problems.append(f"{archive}: sha256 {digest} is neither the lock's ({pin.sha256}) nor one recorded by "
                        f"`python -m tools.charts pull`")
    try:
        meta = chart_metadata(archive)
    except (tarfile.TarError, OSError, yaml.YAMLError) as exc:
        return problems + [f"{archive}: not a chart archive ({exc})"]
    if meta.get("name") != pin.chart or str(meta.get("version")) != pin.version:
        problems.append(f"{archive}: Chart.yaml says {meta.get('name')} {meta.get('version')}, "
                        f"the lock {pin.chart} {pin.version}")
    return problems


@dataclass(frozen=True)
class Resolved:
    """Where a locked chart renders from."""

    pin: Pin
    path: Path | None
    """The archive (None when none was found or it failed its checks)."""
    sha256: str = ""
    problem: str = ""
    """Why there is no usable archive."""


def resolve(pin: Pin, dirs: Iterable[Path] | None = None) -> Resolved:
    """The archive of a locked chart in the chart directories, checked against the lock."""
    dirs = list(chart_dirs() if dirs is None else dirs)
    for directory in dirs:
        archive = directory / pin.archive
        if archive.is_file():
            problems = check_archive(pin, archive)
            if problems:
                return Resolved(pin, None, "", "; ".join(problems))
            return Resolved(pin, archive, sha256(archive))
    return Resolved(pin, None, "", f"no {pin.archive} in {', '.join(map(str, dirs)) or 'any chart directory'}")



# ------------------------------------------------------------------------------------ data


class ChartObject:
    """One object a chart renders.

    Large documents (CRDs with their OpenAPI schemas) are parsed only when `manifest` is first read:
    the plan needs their kind, name and namespace (the head), not megabytes of schema.
    """

    __slots__ = ("_head", "_manifest", "_namespace", "_raw", "_text", "hook", "source")

    def __init__(self, manifest: dict[str, Any], source: str, hook: str | None = None, *, text: str | None = None,
                 namespace: str | None = None):
        self._head = manifest
        """The manifest, or when `text` is given its head (everything but CRD schemas)."""
        self._text = text
        self._raw: dict[str, Any] | None = None if text is not None else manifest
        self._manifest: dict[str, Any] | None = None
        self._namespace = namespace
        """The namespace given to a lazily parsed manifest (the Release's, for a namespaced kind)."""
        self.source = source
        """The template it came from, as Helm prints it (`chart/templates/x.yaml`, `chart/charts/sub/...`)."""
        self.hook = hook
        """The `helm.sh/hook` annotation when the object is a hook (pre-install, post-install, ...)."""

    @property
    def manifest(self) -> dict[str, Any]:
        """The whole object, a Secret's `data`/`stringData` values shown as "[secret]"."""
        if self._manifest is None:
            self._manifest = redact_secret(self.unredacted())
        return self._manifest

    @property
    def judged(self) -> dict[str, Any]:
        """The object as the policy pack judges it: `manifest`, except that a CustomResourceDefinition not parsed
        yet is its head (everything but the OpenAPI schemas, which hold nothing a rule looks at): parsing
        megabytes of schema for every evaluation would cost more than all the rules together."""
        if self._manifest is None and self._raw is None and self.kind == "CustomResourceDefinition":
            return self._head
        return self.manifest

    def unredacted(self) -> dict[str, Any]:
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


_own_crds: dict[str, list[dict[str, Any]]] = {}
_own_crds_lock = threading.Lock()


def archive_crds(archive: Path, digest: str) -> list[dict[str, Any]]:
    """The CRDs in the `crds/` directories of a chart archive and its subcharts (schemas left out)."""
    with _own_crds_lock:
        if digest in _own_crds:
            return _own_crds[digest]
    found: list[dict[str, Any]] = []
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


def parse_manifests(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(source template, object) for every document of `helm template` output, in order, fully parsed."""
    return [(source, doc if lazy is None else yaml.load(lazy, Loader=_Loader))
            for source, doc, lazy in parse_documents(text)]


LAZY_BYTES = 16384
"""Documents larger than this (CRDs) are kept as text and parsed when their manifest is read."""
_SECRET_KIND = re.compile(r"^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", re.MULTILINE)

Document = tuple[str, dict[str, Any], str | None]
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
    docs: list[dict[str, Any]] = []
    for chunk in _DOC_SPLIT.split(text):
        if _API_KINDS.search(chunk):
            docs += [d for d in yaml.load_all(without_schemas(chunk), Loader=_Loader) if isinstance(d, dict)]
    return apis_of(docs)


def redact_secret(manifest: dict[str, Any]) -> dict[str, Any]:
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


def _cache_key(digest: str, values: dict[str, Any], args: list[str], helm_version: str) -> str:
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


def template(helm: helmbin.Helm, archive: Path, digest: str, release: str, namespace: str, values: dict[str, Any],
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

