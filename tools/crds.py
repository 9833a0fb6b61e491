"""The CustomResourceDefinitions the platform installs, read from the pinned chart archives.

Which CRDs count as installed is decided by the stack's own Helm Releases (chart, version, values,
`skipCrds`): a stack that does not install KEDA does not validate ScaledObjects against KEDA's CRD.

Per release, as Helm would install it:
- `crds/` directories of the chart and of every *enabled* subchart (dependency `condition`/`tags`
  evaluated on the coalesced values), unless `skipCrds`;
- CRDs in `templates/` (cert-manager, KEDA, prometheus-operator-crds, the ECK CRD subchart, ...),
  whatever `skipCrds` says (Helm renders templates regardless). These need rendering; until the
  helm-render branch's rendered objects are available, a template is read without Helm when it has
  the common shape: an optional `{{- if <values condition> }}` around the whole file (evaluated on
  the release's values: `.Values` paths with `and`/`or`/`not`) and template actions only in
  `metadata` (labels, annotations). Anything else is reported as a note ("needs rendering") and its
  CRDs are not counted. If `helm` is on PATH, `helm template --include-crds` is used instead.
Plain YAML bundles (Gateway API, ...) are read as they are.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from . import mockrun

CRD = "CustomResourceDefinition"


def charts_dir() -> Path | None:
    """The chart archive directory: `AI_PLATFORM_CHARTS`, else ../shared/charts beside the checkout."""
    env = os.environ.get("AI_PLATFORM_CHARTS")
    if env:
        path = Path(env)
        return path if path.is_absolute() else (mockrun.ROOT / path).resolve()
    default = mockrun.ROOT.parent / "shared" / "charts"
    return default if default.is_dir() else None


# --------------------------------------------------------------------------------- releases


@dataclass(frozen=True)
class ReleaseSpec:
    """What one `helm.v3.Release` installs, as recorded by a mock run."""

    source: str
    """The Pulumi resource name (what problems and notes are attributed to)."""
    release_name: str
    chart: str
    version: str
    namespace: str
    values: Mapping[str, Any]
    skip_crds: bool = False


def releases_of(result: Any) -> list[ReleaseSpec]:
    """The Helm Releases of a mock run (`tools.mockrun.RunResult`)."""
    out = []
    for r in result.of_type("kubernetes:helm.sh/v3:Release"):
        i = mockrun.redact(r.inputs)  # secrets never decide which CRDs a chart installs
        out.append(ReleaseSpec(r.name, str(i.get("name") or r.name), str(i["chart"]), str(i.get("version", "")),
                               str(i.get("namespace") or "default"), mockrun.integers(i.get("values") or {}),
                               bool(i.get("skipCrds"))))
    return out



def archive_for(chart: str, version: str, directory: Path) -> Path | None:
    # An OCI chart's Release names the chart by its reference (oci://registry/path/<chart>); its archive is <chart>-...
    chart = chart.rsplit("/", 1)[-1] if chart.startswith("oci://") else chart
    for name in (f"{chart}-{version}.tgz", f"{chart}-v{version.lstrip('v')}.tgz", f"{chart}-{version.lstrip('v')}.tgz"):
        if (directory / name).is_file():
            return directory / name
    return None


@dataclass
class Installed:
    """The CRDs a set of releases installs, and what could not be read."""

    crds: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    by_release: dict[str, list[str]] = field(default_factory=dict)
    """Release (source) -> names of the CRDs it installs."""


def platform_crds(releases: Iterable[ReleaseSpec], directory: Path | None) -> Installed:
    """The CRDs the given releases install (from their archives in `directory`)."""
    installed = Installed()
    for rel in releases:
        archive = archive_for(rel.chart, rel.version, directory) if directory else None
        if archive is None:
            installed.notes.append(f"{rel.source}: no archive of chart {rel.chart} {rel.version} in {directory}; "
                                   f"the CRDs it installs are unknown")
            continue
        found = chart_crds(archive, rel.values, skip_crds=rel.skip_crds, release_name=rel.release_name,
                           namespace=rel.namespace)
        installed.crds += found.crds
        installed.notes += [f"{rel.source}: {n}" for n in found.notes]
        installed.by_release[rel.source] = [c["metadata"]["name"] for c in found.crds]
    return installed


# ----------------------------------------------------------------------------------- archives


def crds_from_archives(paths: Iterable[Path]) -> list[dict]:
    """Every CRD in these chart archives (chart defaults, CRDs included) or plain YAML bundles."""
    out: list[dict] = []
    for path in paths:
        path = Path(path)
        if path.suffix in (".yaml", ".yml"):
            out += [d for d in _load_all(path.read_text(), str(path)) if d.get("kind") == CRD]
        else:
            out += chart_crds(path).crds
    return out


@dataclass
class ChartCrds:
    """The CRDs one release of a chart installs (shared between callers: read-only), and notes on
    CRDs that could not be read without rendering."""

    crds: list[dict]
    notes: list[str]


class Chart:
    """A chart read from an archive: its own files, dependencies and subcharts; values parsed on demand."""

    def __init__(self, members: Mapping[str, bytes], prefix: str):
        files = {n[len(prefix) + 1:]: b for n, b in members.items() if n.startswith(prefix + "/")}
        meta = _yaml(files["Chart.yaml"]) or {}
        self.name, self.version = str(meta.get("name")), str(meta.get("version"))
        deps = list(meta.get("dependencies") or [])
        if not deps and "requirements.yaml" in files:  # apiVersion v1 charts
            deps = list((_yaml(files["requirements.yaml"]) or {}).get("dependencies") or [])
        self.dependencies: list[dict] = deps
        self.files = {n: b for n, b in files.items() if not n.startswith("charts/")}
        """Path inside the chart (Chart.yaml, crds/x.yaml, templates/y.yaml) -> content; subcharts excluded."""
        self._all = files
        self._defaults: dict | None = None

    @property
    def defaults(self) -> dict:
        """The chart's values.yaml."""
        if self._defaults is None:
            self._defaults = _yaml(self.files.get("values.yaml", b"")) or {}
        return self._defaults

    @property
    def subcharts(self) -> list[Chart]:
        """Subcharts vendored as directories or archives under charts/."""
        out = []
        files = self._all
        dirs = {PurePosixPath(n).parts[1] for n in files if n.startswith("charts/") and len(PurePosixPath(n).parts) > 2}
        for d in sorted(dirs):
            if f"charts/{d}/Chart.yaml" in files:
                out.append(Chart(files, f"charts/{d}"))
        for n in sorted(files):
            parts = PurePosixPath(n).parts
            if len(parts) == 2 and parts[0] == "charts" and n.endswith(".tgz"):
                with tarfile.open(fileobj=io.BytesIO(files[n]), mode="r:gz") as tar:
                    inner = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
                out.append(Chart(inner, PurePosixPath(next(iter(inner))).parts[0]))
        return out


@lru_cache(maxsize=64)
def _load_chart(archive: Path, mtime: float) -> Chart:
    with tarfile.open(archive, "r:gz") as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    roots = {PurePosixPath(n).parts[0] for n in members}
    if len(roots) != 1:
        raise ValueError(f"{archive}: expected one chart directory, found {sorted(roots)}")
    return Chart(members, roots.pop())


def load_chart(archive: Path) -> Chart:
    """The chart in a .tgz archive (cached per process by path and modification time)."""
    archive = Path(archive).resolve()
    return _load_chart(archive, archive.stat().st_mtime)


def _yaml(data: bytes) -> Any:
    return yaml.load(data, Loader=_Loader)


def merge(base: Any, override: Any) -> Any:
    """Helm's coalescing of values: maps merge recursively, anything else replaces; null deletes."""
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for k, v in override.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = merge(out.get(k), v)
        return out
    return override if override is not None else base


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, Mapping) or part not in values:
            return None
        values = values[part]
    return values


def _dependency_enabled(dep: Mapping, parent_values: Mapping) -> bool:
    enabled = True
    tags = dep.get("tags") or []
    tag_values = [parent_values.get("tags", {}).get(t) for t in tags if isinstance(parent_values.get("tags"), Mapping)]
    tag_values = [t for t in tag_values if isinstance(t, bool)]
    if tag_values:
        enabled = any(tag_values)
    for path in str(dep.get("condition") or "").split(","):
        value = _lookup(parent_values, path.strip()) if path.strip() else None
        if isinstance(value, bool):
            return value
    return enabled


def _subchart_dependency(chart: Chart, sub: Chart) -> dict | None:
    candidates = [d for d in chart.dependencies if d.get("name") == sub.name]
    if len(candidates) > 1:
        version = sub.version.lstrip("v")
        candidates = [d for d in candidates if str(d.get("version", "")).lstrip("v") == version] or candidates
    return candidates[0] if candidates else None


def chart_crds(archive: Path, values: Mapping | None = None, *, skip_crds: bool = False,
               release_name: str = "release", namespace: str = "default") -> ChartCrds:
    """The CRDs a release of this chart archive installs with these values."""
    helm = shutil.which("helm")
    if helm:
        try:
            return _helm_crds(helm, archive, values or {}, skip_crds, release_name, namespace)
        except (subprocess.CalledProcessError, OSError) as e:
            note = f"helm template failed ({e}); CRDs read from the archive instead"
            found = chart_crds_without_helm(load_chart(archive), values or {}, skip_crds)
            return ChartCrds(found.crds, [note] + found.notes)
    return _cached_crds(Path(archive).resolve(), json.dumps(values or {}, sort_keys=True), skip_crds)


@lru_cache(maxsize=128)
def _cached_crds(archive: Path, values_json: str, skip_crds: bool) -> ChartCrds:
    return chart_crds_without_helm(load_chart(archive), json.loads(values_json), skip_crds)


def _helm_crds(helm: str, archive: Path, values: Mapping, skip_crds: bool, release_name: str,
               namespace: str) -> ChartCrds:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        json.dump(values, f)
        f.flush()
        cmd = [helm, "template", release_name, str(archive), "--namespace", namespace, "--values", f.name]
        if not skip_crds:
            cmd.append("--include-crds")
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=300).stdout
    return ChartCrds([d for d in _load_all(out, str(archive)) if d.get("kind") == CRD], [])


def chart_crds_without_helm(chart: Chart, user_values: Mapping, skip_crds: bool = False,
                            parent: str = "") -> ChartCrds:
    values = merge(chart.defaults, user_values)
    where = f"{parent}{chart.name}"
    crds: list[dict] = []
    notes: list[str] = []
    for name in sorted(chart.files):
        text = chart.files[name].decode("utf-8", "replace")
        if name.startswith("crds/") and name.endswith((".yaml", ".yml", ".json")):
            if not skip_crds:
                crds += [d for d in _load_all(text, f"{where}/{name}") if d.get("kind") == CRD]
        elif name.startswith("templates/") and not PurePosixPath(name).name.startswith("_") and CRD in text:
            try:
                crds += [d for d in detemplate(text, values) if d.get("kind") == CRD]
            except NeedsRendering as e:
                notes.append(f"{where}/{name}: needs rendering ({e}); its CRDs are not counted")
        elif (chart.name, name) in FILES_CRD_TEMPLATES:
            crds += _files_crds(chart, name, values)
        elif name.startswith("templates/") and ".Files." in text and [f for f in _crd_files(chart) if f in text]:
            # e.g. Istio's base chart: `{{ .Files.Get "files/crd-all.gen.yaml" }}` behind values.
            used = [f for f in _crd_files(chart) if f in text]
            notes.append(f"{where}/{name}: may install the CRDs of {', '.join(used)} through .Files; "
                         f"needs rendering, not counted")
    for sub in chart.subcharts:
        dep = _subchart_dependency(chart, sub) or {}
        if dep and not _dependency_enabled(dep, values):
            continue
        key = dep.get("alias") or sub.name
        sub_values = dict(values.get(key) or {}) if isinstance(values.get(key), Mapping) else {}
        if isinstance(values.get("global"), Mapping):
            sub_values["global"] = merge(sub_values.get("global") or {}, values["global"])
        found = chart_crds_without_helm(sub, sub_values, skip_crds, f"{where}/charts/")
        crds += found.crds
        notes += found.notes
    return ChartCrds(crds, notes)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML, with a bare `=` read as the string it is (PyYAML's `value` tag; PromQL operators)."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


# Templates known to install a file's CRDs through .Files, read without Helm. Istio's base chart
# (1.30.3 templates/crds.yaml): with global.resourceScope `all` or `cluster`, every CRD of files/crd-all.gen.yaml
# but those named in base.excludedCRDs, whether base.enableCRDTemplates templates them (relabelled) or not.
FILES_CRD_TEMPLATES = {("base", "templates/crds.yaml"): "files/crd-all.gen.yaml"}


def _files_crds(chart: Chart, template: str, values: Mapping) -> list[dict]:
    glob = values.get("global") if isinstance(values.get("global"), Mapping) else {}
    if (glob or {}).get("resourceScope", "all") not in ("all", "cluster"):
        return []
    base = values.get("base") if isinstance(values.get("base"), Mapping) else {}
    excluded = set((base or {}).get("excludedCRDs") or ())
    source = FILES_CRD_TEMPLATES[(chart.name, template)]
    text = chart.files[source].decode("utf-8", "replace")
    return [d for d in _load_all(text, f"{chart.name}/{source}")
            if d.get("kind") == CRD and d.get("metadata", {}).get("name") not in excluded]


def _crd_files(chart: Chart) -> list[str]:
    """Files outside crds/ and templates/ that hold CRDs (read by templates through .Files)."""
    return sorted(n for n, b in chart.files.items() if not n.startswith(("crds/", "templates/"))
                  and n.endswith((".yaml", ".yml")) and CRD.encode() in b)


def _load_all(text: str, where: str) -> list[dict]:
    try:
        return [d for d in yaml.load_all(text, Loader=_Loader) if isinstance(d, dict)]
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: not YAML: {e}") from e


# ------------------------------------------------------------------ reading a CRD template without Helm


class NeedsRendering(Exception):
    """The template is not of the shape `detemplate` can read faithfully."""


_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
_ACTION_LINE = re.compile(r"^\s*\{\{-?\s*(.*?)\s*-?\}\}\s*$")
_INLINE = re.compile(r"\{\{.*?\}\}")
PLACEHOLDER = "templated"


def detemplate(text: str, values: Mapping) -> list[dict]:
    """The objects of a CRD template whose template actions only touch metadata (see the module doc)."""
    lines = _COMMENT.sub("", text).splitlines()
    content = [i for i, line in enumerate(lines) if line.strip() and not line.strip().startswith("#")]
    if not content:
        return []
    first = _ACTION_LINE.match(lines[content[0]])
    if first and re.match(r"^if\s", first[1]):
        last = _ACTION_LINE.match(lines[content[-1]])
        if not last or last[1] != "end":
            raise NeedsRendering("the opening `if` does not wrap the whole file")
        if not truthy(evaluate(first[1][3:], values)):
            return []
        lines = lines[content[0] + 1:content[-1]]
    out: list[str] = []
    open_blocks = 0
    in_spec = False
    for line in lines:
        if line.rstrip() == "---":
            if open_blocks:
                raise NeedsRendering("a template block spans documents")
            in_spec = False
            out.append(line)
            continue
        if re.match(r"^spec:", line):
            if open_blocks:
                raise NeedsRendering("a template block wraps the spec")
            in_spec = True
        action = _ACTION_LINE.match(line)
        if action:
            if in_spec:
                raise NeedsRendering(f"template action in the spec: {line.strip()}")
            word = action[1].split(" ")[0]
            if word in ("if", "with", "range", "define", "block"):
                open_blocks += 1
            elif word == "end":
                open_blocks -= 1
            continue
        if "{{" in line:
            if in_spec:
                raise NeedsRendering(f"template action in the spec: {line.strip()}")
            line = _INLINE.sub(PLACEHOLDER, line)
        out.append(line)
    try:
        docs = [d for d in yaml.load_all("\n".join(out), Loader=_Loader) if isinstance(d, dict)]
    except yaml.YAMLError as e:
        raise NeedsRendering(f"not YAML without its template actions: {e}") from e
    return docs


# A tiny evaluator for `if` conditions: `.Values.a.b`, `and`, `or`, `not`, `eq`, `ne`, parentheses, literals.

_TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()]+)')


def evaluate(expression: str, values: Mapping) -> Any:
    tokens = _TOKEN.findall(expression.strip())
    value, rest = _pipeline(tokens, values)
    if rest:
        raise NeedsRendering(f"cannot evaluate {expression!r}")
    return value


def _pipeline(tokens: list[str], values: Mapping) -> tuple[Any, list[str]]:
    if not tokens:
        raise NeedsRendering("empty condition")
    head = tokens[0]
    if head in ("and", "or", "not", "eq", "ne"):
        args, rest = [], tokens[1:]
        while rest and rest[0] != ")":
            arg, rest = _operand(rest, values)
            args.append(arg)
        if head == "not":
            if len(args) != 1:
                raise NeedsRendering("not takes one argument")
            return not truthy(args[0]), rest
        if head == "and":
            return next((a for a in args if not truthy(a)), args[-1]), rest
        if head == "or":
            return next((a for a in args if truthy(a)), args[-1]), rest
        if len(args) != 2:
            raise NeedsRendering(f"{head} takes two arguments")
        return (args[0] == args[1]) == (head == "eq"), rest
    return _operand(tokens, values)


def _operand(tokens: list[str], values: Mapping) -> tuple[Any, list[str]]:
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        value, rest = _pipeline(rest, values)
        if not rest or rest[0] != ")":
            raise NeedsRendering("unbalanced parentheses")
        return value, rest[1:]
    if head.startswith(".Values."):
        return _lookup(values, head[len(".Values."):]), rest
    if head in ("true", "false"):
        return head == "true", rest
    if head.startswith('"'):
        return json.loads(head), rest
    if re.fullmatch(r"-?\d+", head):
        return int(head), rest
    raise NeedsRendering(f"cannot evaluate {head!r} without Helm")


def truthy(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, maps and lists are false."""
    return bool(value) if value is not None else False


def crd_names(crds: Sequence[Mapping]) -> list[str]:
    return sorted({c["metadata"]["name"] for c in crds})


def bundle_crds(names: Iterable[str] | None = None, dirs: list[Path] | None = None) -> list[dict]:
    """The CRDs of the chart lock's CRD bundles (`crdBundles:`; all of them by default), read from the resolved,
    digest-checked files (components.inference.crds.load_bundles: CrdBundleError when one is missing). The
    program installs them itself (GatewayCrds), so a mock run's CRD resources carry the same schemas; this is for
    validating custom resources without a run (tests of the gateway's objects)."""
    from components.helm import bundles
    from components.inference.crds import CRD as BUNDLE_CRD
    from components.inference.crds import load_bundles

    loaded = load_bundles(tuple(names) if names is not None else tuple(bundles()), dirs)
    return [dict(o) for b in loaded for o in b.objects if o.get("kind") == BUNDLE_CRD]
