"""Strict validation of the Kubernetes objects a stack creates.

    python -m tools.validate [--stack <name>]... [--charts DIR] [--json]

`validate_objects(objects, kube_version, crds)` checks every object and returns a list of `Problem`s
(empty when everything validates):

- **Built-in kinds** (core, apps, *.k8s.io, ...) against kubernetes-validate's *strict* JSON schemas of
  the stack's Kubernetes minor (`cluster.kubernetesVersion`): unknown fields, wrong types, missing
  required fields and bad enum values are problems. Every error of an object is reported, not only the
  first (kubernetes-validate's own `validate()` stops at the first).
- **Custom resources** against the `openAPIV3Schema` of the CRD version the platform itself installs
  (`crds`, see `tools.crds`). The API server does not reject unknown fields of a custom resource: it
  *prunes* them silently (structural-schema pruning) and stores what is left. A misspelt or
  misplaced field is therefore dropped without a word, which is exactly the bug this catches: here
  "strict" means every field the API server would prune is reported ("unknown field ... would be
  pruned"). Before the type checks the schema's defaults are applied as the API server applies them,
  so a required field with a default is not a problem; a null where the schema allows none (and
  has no default) is dropped by the API server and reported as such. The Kubernetes extensions are honoured:
  `x-kubernetes-preserve-unknown-fields` (a subtree kept as is), `x-kubernetes-int-or-string`,
  `x-kubernetes-embedded-resource` (apiVersion/kind/metadata allowed, metadata checked as ObjectMeta),
  `nullable`, `x-kubernetes-list-type: set|map` (duplicates rejected), `format: int32|int64` (other
  formats are not checked). CEL rules
  (`x-kubernetes-validations`) are not evaluated. Root `metadata` is checked strictly as ObjectMeta.
- A custom resource whose group/version/kind no installed CRD serves, and that Kubernetes does not
  build in, is itself a problem ("no CRD installed for ...").
- Custom resources of CRDs the cloud installs with the cluster (GKE's ComputeClass) are checked against the
  minimal schemas in `tools.cluster_crds`, which this project wrote from the documented API (a note says so).

`validate_stack(result, charts_dir)` does this for one mock run of the program (its own objects, and
the CRDs its Helm Releases install) and is what the tests and `tools.plan` call. It also reports a
custom resource that does not depend on the Release installing its CRD (`ordering_problems`).
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource

# ------------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class Problem:
    """One reason an object would not be stored as written."""

    source: str
    """Where the object comes from: "program", or the Helm release that renders it."""
    api_version: str
    kind: str
    namespace: str | None
    name: str
    path: str
    """The field, dotted with list indices in brackets (`spec.endpoints[0].port`); "" for the object."""
    message: str

    @property
    def object(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.api_version} {self.kind} {ns}{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """For `--json` output."""
        return {"source": self.source, "apiVersion": self.api_version, "kind": self.kind,
                "namespace": self.namespace, "name": self.name, "path": self.path, "message": self.message}

    def __str__(self) -> str:
        where = f" {self.path}:" if self.path else ""
        return f"[{self.source}] {self.object}:{where} {self.message}"


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(source: str, obj: Mapping, path: Iterable[Any], message: str) -> Problem:
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    return Problem(source, str(obj.get("apiVersion", "")), str(obj.get("kind", "")), meta.get("namespace"),
                   str(meta.get("name", meta.get("generateName", ""))), _path(path), message)


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, shortened (it repeats whole subtrees) and in Kubernetes' words."""
    if error.validator in ("oneOf", "anyOf"):
        return f"{_short(error.instance)} is not valid under any of the allowed forms"
    if error.validator == "type":
        return f"{_short(error.instance)} is not of type {error.validator_value!r}"
    if error.validator == "enum":
        return f"{_short(error.instance)} is not one of {error.validator_value!r}"
    return error.message if len(error.message) < 300 else error.message[:297] + "..."


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------------------ built-in (kubernetes-validate)


def schema_versions() -> list[str]:
    """Kubernetes versions kubernetes-validate ships strict schemas for ("1.25.0", ..., "1.37.0")."""
    import kubernetes_validate.utils as kv

    return kv.all_versions()


def schema_version(kube_version: str) -> str:
    """The shipped schema version for a cluster version: "1.33" or "v1.33.2" -> "1.33.0".

    Exact minor only: kubernetes-validate itself compares versions as strings and silently falls
    back to the newest older schema, which for a cluster minor it does not ship would validate
    against the wrong API.
    """
    match = re.match(r"^v?(\d+)\.(\d+)", str(kube_version).strip())
    if not match:
        raise ValueError(f"not a Kubernetes version: {kube_version!r}")
    wanted = (int(match[1]), int(match[2]))
    for version in schema_versions():
        if tuple(int(x) for x in version.split(".")[:2]) == wanted:
            return version
    raise ValueError(f"kubernetes-validate ships no schemas for Kubernetes {wanted[0]}.{wanted[1]} "
                     f"(it has {', '.join(v.rsplit('.', 1)[0] for v in schema_versions())})")


@cache
def _registry(version: str) -> tuple[Path, Registry]:
    import kubernetes_validate

    directory = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{version}-local-strict"
    definitions = json.loads((directory / "_definitions.json").read_text())
    return directory, Resource.from_contents(definitions) @ Registry()


@cache
def _builtin_validator(version: str, api_version: str, kind: str) -> jsonschema.Validator | None:
    """kubernetes-validate's strict schema for this kind (the same file its `validate()` reads)."""
    directory, registry = _registry(version)
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = directory / f"{kind.lower()}-{api}.json"
    if not path.is_file():
        return None
    schema = json.loads(path.read_text())
    # The file name drops the group's domain (rbac.authorization.k8s.io/v1 -> rbac-v1): the schema's
    # apiVersion enum is what tells foo.example.com/v1 from a built-in foo/v1.
    enum = (schema.get("properties", {}).get("apiVersion") or {}).get("enum")
    if enum and api_version not in enum:
        return None
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def _object_meta_validator(version: str) -> jsonschema.Validator:
    _, registry = _registry(version)
    ref = {"$ref": "https://kubernetes.io/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    return jsonschema.Draft202012Validator(ref, registry=registry)


def is_builtin(api_version: str, kind: str, kube_version: str) -> bool:
    """Whether Kubernetes `kube_version` serves this kind itself (no CRD needed)."""
    return _builtin_validator(schema_version(kube_version), api_version, kind) is not None


# -------------------------------------------------------------------------- CRDs (structural schemas)


@dataclass(frozen=True)
class CrdVersion:
    """One served version of an installed CRD and its openAPIV3Schema."""

    group: str
    kind: str
    version: str
    schema: Mapping[str, Any]
    crd: str
    """The CRD's name (plural.group)."""


def crd_index(crds: Iterable[Mapping]) -> dict[tuple[str, str, str], CrdVersion]:
    """(group, version, kind) -> the served version's schema, for apiextensions.k8s.io/v1 CRDs."""
    index: dict[tuple[str, str, str], CrdVersion] = {}
    for crd in crds:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        spec = crd.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        for v in spec.get("versions") or []:
            if v.get("served") is False:
                continue
            schema = ((v.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                        "x-kubernetes-preserve-unknown-fields": True}
            index[(group, v["name"], kind)] = CrdVersion(group, kind, v["name"], schema,
                                                         (crd.get("metadata") or {}).get("name", ""))
    return index


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _field_schema(schema: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    props = schema.get("properties") or {}
    if key in props:
        return props[key]
    additional = schema.get("additionalProperties")
    return additional if isinstance(additional, Mapping) else None


def pruned_nulls(value: Any, schema: Mapping[str, Any], path: tuple = ()) -> Iterator[tuple]:
    """Paths of nulls the API server drops: map fields that are not `nullable` and have no default.

    (apiextensions-apiserver's PruneNonNullableNullsWithoutDefaults; a null with a default is
    defaulted instead.)
    """
    if isinstance(value, dict):
        for key, item in value.items():
            sub = _field_schema(schema, key)
            if sub is None:
                continue
            if item is None and not sub.get("nullable") and "default" not in sub:
                yield path + (key,)
            else:
                yield from pruned_nulls(item, sub, path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from pruned_nulls(item, schema["items"], path + (index,))


def apply_defaults(value: Any, schema: Mapping[str, Any]) -> Any:
    """Prune and default `value` (in place) as the API server does before it validates a custom resource.

    Non-nullable nulls without a default are dropped (`pruned_nulls`); then defaults are set
    top-down where fields are absent (or null and not nullable). Defaults inside
    anyOf/allOf/oneOf/not are not allowed in structural schemas and are ignored here too.
    """
    if isinstance(value, dict):
        for key in [k for k, v in value.items() if v is None]:
            sub = _field_schema(schema, key)
            if sub is not None and not sub.get("nullable") and "default" not in sub:
                del value[key]
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if "default" in sub and (key not in value or (value[key] is None and not sub.get("nullable"))):
                value[key] = copy.deepcopy(sub["default"])
        for key, item in value.items():
            if key in props:
                apply_defaults(item, props[key])
            elif isinstance(schema.get("additionalProperties"), Mapping):
                apply_defaults(item, schema["additionalProperties"])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            apply_defaults(item, schema["items"])
    return value


def pruned_fields(value: Any, schema: Mapping[str, Any], path: tuple = (), root: bool = False) -> Iterator[tuple]:
    """Paths of the fields the API server's structural pruning would drop from `value`.

    Mirrors apiextensions-apiserver's pruning: an object keeps only the fields its `properties`
    name, every field when it has `additionalProperties` (each checked against that schema), and
    unknown fields as well where `x-kubernetes-preserve-unknown-fields: true`; apiVersion, kind and
    metadata are kept at the root and in `x-kubernetes-embedded-resource` objects. Pruning only
    looks at the schema's own properties (structural schemas may not declare fields in
    anyOf/allOf/oneOf).
    """
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        implicit = ("apiVersion", "kind", "metadata") if root or schema.get("x-kubernetes-embedded-resource") else ()
        for key, item in value.items():
            if key == "metadata" and implicit:
                continue  # ObjectMeta, whatever the schema says (checked strictly as ObjectMeta)
            if key in props:
                yield from pruned_fields(item, props[key], path + (key,))
            elif isinstance(additional, Mapping):
                yield from pruned_fields(item, additional, path + (key,))
            elif key in implicit or additional is True or preserve:
                continue
            else:
                yield path + (key,)
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from pruned_fields(item, schema["items"], path + (index,))


_FORMATS = jsonschema.FormatChecker(formats=())


@_FORMATS.checks("int32")
def _int32(value: Any) -> bool:
    return not isinstance(value, int) or -2**31 <= value < 2**31


@_FORMATS.checks("int64")
def _int64(value: Any) -> bool:
    return not isinstance(value, int) or -2**63 <= value < 2**63


def go_pattern(pattern: str) -> str:
    """A Go (RE2) pattern as Python's `re` takes it: RE2 accepts an inline flag group such as `(?i)` anywhere (it
    applies from there on), Python only at the start; from there to the end is the same as a scoped `(?i:...)`
    (Kueue 0.19.2's AdmissionCheck `parameters.kind`: `^(?i)[a-z]([-a-z0-9]*[a-z0-9])?$`)."""
    for flags in ("(?i)", "(?s)", "(?m)", "(?is)"):
        at = pattern.find(flags)
        if at > 0:
            return f"{pattern[:at]}(?{flags[2:-1]}:{pattern[at + len(flags):]})"
    return pattern


def to_json_schema(schema: Any, root: bool = False) -> Any:
    """A Kubernetes structural (OpenAPI v3) schema as a Draft 4 JSON Schema with its extensions.

    Unknown fields are not rejected here (see `pruned_fields`); types, formats, enums, required,
    patterns, bounds, lists and the int-or-string/nullable/embedded-resource extensions are.
    Draft 4 because OpenAPI v3.0 schemas use its boolean `exclusiveMinimum`/`exclusiveMaximum`.
    """
    if isinstance(schema, list):
        return [to_json_schema(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not", "anyOf", "allOf", "oneOf"):
            out[key] = to_json_schema(value)
        elif key == "format":
            if value in _FORMATS.checkers:
                out[key] = value  # int32/int64 bounds; other formats (byte, date-time, ...) are not checked
        elif key in ("description", "example", "externalDocs", "default", "nullable") or key.startswith("x-"):
            continue
        elif key == "pattern" and isinstance(value, str):
            out[key] = go_pattern(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        # Structural schemas usually spell the two forms out in anyOf (with a pattern for strings);
        # then that is the check, else integer or string.
        out.pop("type", None)
        if "anyOf" not in out and "oneOf" not in out:
            out["type"] = ["integer", "string"]
    if schema.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props.setdefault("metadata", {"type": "object"})
        # The API server requires both in an embedded object (not metadata).
        out["required"] = sorted(set(out.get("required", [])) | {"apiVersion", "kind"})
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        out["uniqueItems"] = True
    if schema.get("nullable"):
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = types + ["null"]
        if "enum" in out and None not in out["enum"]:
            out["enum"] = list(out["enum"]) + [None]
    if root:
        # Root metadata is checked as ObjectMeta separately, except the constraints a CRD may put on
        # metadata.name/generateName (the only ones the API server honours); apiVersion/kind are
        # matched by lookup.
        props = dict(out.get("properties", {}))
        for key in ("apiVersion", "kind"):
            props.pop(key, None)
        meta = props.pop("metadata", None) or {}
        names = {k: v for k, v in (meta.get("properties") or {}).items() if k in ("name", "generateName")}
        if names:
            props["metadata"] = {"properties": names}
        out["properties"] = props
    return out


def _list_map_duplicates(value: Any, schema: Mapping[str, Any], path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    """Duplicate keys in `x-kubernetes-list-type: map` lists (the API server rejects them)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, additional if isinstance(additional, Mapping) else None)
            if sub is not None:
                yield from _list_map_duplicates(item, sub, path + (key,))
    elif isinstance(value, list):
        items = schema.get("items") if isinstance(schema.get("items"), Mapping) else {}
        if schema.get("x-kubernetes-list-type") == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            seen: dict = {}
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    defaults = items.get("properties") or {}
                    key = json.dumps([item.get(k, defaults.get(k, {}).get("default")) for k in keys])
                    if key in seen:
                        yield path + (index,), f"duplicate entry for key {key} (also at [{seen[key]}])"
                    seen.setdefault(key, index)
        for index, item in enumerate(value):
            yield from _list_map_duplicates(item, items, path + (index,))


# Draft 4 (for OpenAPI v3.0's boolean exclusiveMinimum/Maximum), with 2.0 an integer as Kubernetes'
# JSON decoding makes it.
_CrdValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    type_checker=jsonschema.Draft4Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: _type_of(value) == "integer"))

_CRD_VALIDATORS: dict[int, tuple[Mapping, jsonschema.Validator]] = {}


def _crd_validator(schema: Mapping[str, Any]) -> jsonschema.Validator:
    """One validator per schema object (CRD schemas are large; the cache keeps the schema alive)."""
    cached = _CRD_VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        validator = _CrdValidator(to_json_schema(schema, root=True), format_checker=_FORMATS)
        cached = _CRD_VALIDATORS[id(schema)] = (schema, validator)
    return cached[1]


def _validate_custom(obj: Mapping, crd: CrdVersion, version: str, source: str) -> list[Problem]:
    problems = []
    schema = crd.schema
    for path in pruned_fields(obj, schema, root=True):
        problems.append(_problem(source, obj, path, f"unknown field {path[-1]!r}: not in the schema of CRD "
                                                    f"{crd.crd} {crd.version}, the API server would prune it"))
    for path in pruned_nulls({k: v for k, v in obj.items() if k != "metadata"}, schema):
        problems.append(_problem(source, obj, path, "null for a field that is not nullable and has no default: "
                                                    "the API server would drop it"))
    body = apply_defaults(copy.deepcopy({k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}),
                          schema)
    if isinstance(obj.get("metadata"), Mapping):
        body["metadata"] = {k: v for k, v in obj["metadata"].items() if k in ("name", "generateName")}
    validator = _crd_validator(schema)
    for error in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        problems.append(_problem(source, obj, error.absolute_path, _message(error)))
    for path, message in _list_map_duplicates(body, schema):
        problems.append(_problem(source, obj, path, message))
    problems += _check_meta(obj, obj.get("metadata"), version, source)
    for path in _embedded_paths(body, schema):
        embedded = _get(body, path)
        if isinstance(embedded, Mapping):
            problems += _check_meta(obj, embedded.get("metadata"), version, source, prefix=path)
    return problems


def _embedded_paths(value: Any, schema: Mapping[str, Any], path: tuple = ()) -> Iterator[tuple]:
    if schema.get("x-kubernetes-embedded-resource") and path:
        yield path
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, additional if isinstance(additional, Mapping) else None)
            if sub is not None:
                yield from _embedded_paths(item, sub, path + (key,))
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from _embedded_paths(item, schema["items"], path + (index,))


def _get(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _check_meta(obj: Mapping, meta: Any, version: str, source: str, prefix: tuple = ()) -> list[Problem]:
    """`meta` (the object's, or an embedded resource's at `prefix`) strictly as ObjectMeta."""
    if meta is None:
        return []
    return _schema_problems(_object_meta_validator(version).iter_errors(meta), obj, source, prefix + ("metadata",))


# --------------------------------------------------------------------------------------- objects


Sources = str | Sequence[str]

_SNAPSHOTS = tuple(("snapshot.storage.k8s.io", "v1", kind)
                   for kind in ("VolumeSnapshot", "VolumeSnapshotClass", "VolumeSnapshotContent"))
CLUSTER_APIS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # GKE installs the CSI snapshot CRDs and controller itself (persistent disk CSI driver).
    "gke": _SNAPSHOTS,
    # EKS does not (the snapshot controller is an add-on the program does not install).
    "eks": (),
    # The config allows cacheAccessMode ReadOnlyMany (VolumeSnapshots) on an existing cluster only as
    # the user's statement that the cluster has a CSI snapshotter; its CRDs are assumed, not checked.
    "existing": _SNAPSHOTS,
}
"""(group, version, kind) served by CRDs the cluster's provider installs, not the platform."""
ADDON_APIS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # EKS user guide, "CSI snapshot controller": the add-on includes the snapshot CRDs (components/rag/backup.py
    # installs it with volume backups).
    "snapshot-controller": _SNAPSHOTS,
}
"""(group, version, kind) served by CRDs of an EKS managed add-on, by add-on name."""


def addon_apis(result: Any) -> tuple[tuple[str, str, str], ...]:
    """APIs served by the EKS add-ons a mock run creates (`ADDON_APIS`)."""
    return tuple(api for r in result.of_type("aws:eks/addon:Addon")
                 for api in ADDON_APIS.get(r.inputs.get("addonName"), ()))


def validate_objects(objects: Sequence[Mapping], kube_version: str, crds: Iterable[Mapping],
                     source: Sources = "program", provided: Iterable[tuple[str, str, str]] = ()) -> list[Problem]:
    """Every problem of every object (empty: all valid).

    `source` names where the objects come from: one string for all, or one per object (e.g. the
    program, or the Helm release whose render produced it). A CRD among `objects` does not count as
    installed unless it is also in `crds` (callers pass the CRDs they know the platform installs).
    `provided` lists (group, version, kind) the cluster itself serves through CRDs we hold no schema
    for (see `CLUSTER_APIS`): such objects are accepted unchecked unless `crds` has their schema.
    """
    version = schema_version(kube_version)
    sources = [source] * len(objects) if isinstance(source, str) else list(source)
    if len(sources) != len(objects):
        raise ValueError("one source per object")
    index = crd_index(crds)
    provided = set(provided)
    problems: list[Problem] = []
    for obj, src in zip(objects, sources, strict=True):
        problems += validate_object(obj, version, index, src, provided)
    return problems


def validate_object(obj: Mapping, version: str, index: Mapping[tuple[str, str, str], CrdVersion],
                    source: str = "program", provided: Iterable[tuple[str, str, str]] = ()) -> list[Problem]:
    """The problems of one object; `version` is a shipped schema version (`schema_version`)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return [_problem(source, obj, (), "apiVersion and kind are required")]
    group, ver = _split_api_version(api_version)
    crd = index.get((group, ver, kind))
    if crd is not None:
        return _validate_custom(obj, crd, version, source)
    validator = _builtin_validator(version, api_version, kind)
    if validator is None and (group, ver, kind) in provided:
        return []
    if validator is None:
        served = sorted(v for (g, v, k) in index if g == group and k == kind)
        hint = f" (installed CRDs serve {', '.join(served)})" if served else ""
        return [_problem(source, obj, (), f"no CRD installed for group {group or 'core'!r}, kind {kind!r}, "
                                          f"version {ver!r}, and Kubernetes {version.rsplit('.', 1)[0]} "
                                          f"does not build it in{hint}")]
    return _schema_problems(validator.iter_errors(obj), obj, source)


def _schema_problems(errors: Iterable[jsonschema.ValidationError], obj: Mapping, source: str,
                     prefix: tuple = ()) -> list[Problem]:
    """One problem per error; an unknown field (strict schemas) at its own path, as for custom resources."""
    out = []
    for e in sorted(errors, key=lambda e: list(map(str, e.absolute_path))):
        path = prefix + tuple(e.absolute_path)
        if e.validator == "additionalProperties" and e.validator_value is False and isinstance(e.instance, Mapping):
            for key in sorted(set(e.instance) - set(e.schema.get("properties", {}))):
                out.append(_problem(source, obj, path + (key,), f"unknown field {key!r}"))
        else:
            out.append(_problem(source, obj, path, _message(e)))
    return out


# ------------------------------------------------------------------------------------- a stack


@dataclass
class StackValidation:
    """What `validate_stack` checked and found."""

    stack: str
    kube_version: str
    objects: int
    custom: int
    crds: int
    problems: list[Problem]
    notes: list[str]
    """CRD sources that could not be read (e.g. a chart's CRDs that need real rendering), and APIs
    accepted unchecked because the cluster's provider serves them."""


def stack_kube_version(stack: str) -> str:
    """`cluster.kubernetesVersion` of a shipped stack, or the config model's default."""
    from config.models import ClusterConfig

    from . import mockrun

    values, _ = mockrun.stack_config(stack) if mockrun.stack_file(stack).exists() else ({}, [])
    return str((values.get("cluster") or {}).get("kubernetesVersion")
               or ClusterConfig.model_fields["kubernetes_version"].default)


def validate_stack(result: Any, charts_dir: Path | None = None, extra: Sequence[tuple[str, Mapping]] = (),
                   kube_version: str | None = None, read_archives: bool = True) -> StackValidation:
    """Validate the program's own objects of one mock run (`tools.mockrun.RunResult`).

    The CRDs counted as installed are the ones the run's Helm Releases install (read from their
    chart archives in `charts_dir`, see `tools.crds.platform_crds`), any CRD the program creates
    itself, and any CRD among `extra`. `extra` adds more objects as (source, object), e.g. each
    release's rendered objects with the release's name as source; once those include the rendered
    CRDs, pass `read_archives=False` so the rendered CRDs alone decide what is installed.
    `kube_version` defaults to the version the run's cluster is created at, else the stack's
    `cluster.kubernetesVersion` (an existing cluster), else the config default. CRD-backed APIs the
    cluster's provider installs (`CLUSTER_APIS`) are accepted without a schema, and named in the notes.
    """
    from . import cluster_crds
    from . import crds as crd_sources
    from .plan import k8s_object

    kube_version = kube_version or _run_kube_version(result) or stack_kube_version(result.stack)
    provider = cluster_provider(result)
    objects = [o for o in (k8s_object(r) for r in result.resources) if o is not None]
    installed = (crd_sources.platform_crds(crd_sources.releases_of(result), charts_dir) if read_archives
                 else crd_sources.Installed())
    all_objects = [("program", o) for o in objects] + list(extra)
    # CRDs the cloud installs with the cluster, with the project's own minimal schemas (tools/cluster_crds.py).
    cloud = list(cluster_crds.CLUSTER_CRDS[provider])
    crds = installed.crds + cloud + [o for _, o in all_objects if o.get("kind") == "CustomResourceDefinition"]
    problems = validate_objects([o for _, o in all_objects], kube_version, crds, [s for s, _ in all_objects],
                                CLUSTER_APIS[provider] + addon_apis(result))
    problems += ordering_problems(result, installed)
    index = crd_index(crds)
    gvk = [(*_split_api_version(o["apiVersion"]), o["kind"]) for _, o in all_objects]
    custom = sum(1 for key in gvk if key in index)
    unchecked = sorted({f"{g}/{v} {k}" for g, v, k in gvk
                        if key_unchecked((g, v, k), index, provider, kube_version, addon_apis(result))})
    notes = installed.notes + [f"{api}: served by CRDs the {provider} cluster installs; accepted without a schema"
                               for api in unchecked]
    cloud_index = crd_index(cloud)
    notes += sorted({f"{g}/{v} {k}: served by a CRD the {provider} cluster installs; checked against the project's "
                     "minimal schema written from the documented API (tools/cluster_crds.py), not the cloud's own CRD"
                     for g, v, k in gvk if (g, v, k) in cloud_index})
    return StackValidation(result.stack, kube_version, len(all_objects), custom, len(index), problems, notes)


def ordering_problems(result: Any, installed: Any) -> list[Problem]:
    """Custom resources of the program that do not wait for the Release (or the program's own resource) that
    installs their CRD.

    Pulumi creates a resource as soon as its dependencies are ready; a custom resource that does
    not depend (directly, or through other resources or a component's children) on the Release
    whose chart installs its CRD can be sent before the CRD exists and fail on a first `pulumi up`.
    """
    from .plan import k8s_object

    by_name = {r.name: r for r in result.of_type("kubernetes:helm.sh/v3:Release")}
    children: dict[str, list[str]] = {}
    for r in result.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)
    deps = {r.urn: list(r.dependencies) for r in result.resources}
    crd_owner: dict[tuple[str, str], str] = {}
    for source, names in installed.by_release.items():
        for crd in installed.crds:
            if crd["metadata"]["name"] in names:
                crd_owner[(crd["spec"]["group"], crd["spec"]["names"]["kind"])] = source

    def reaches(start: str, target: str) -> bool:
        seen, stack = set(), list(deps.get(start, []))
        while stack:
            urn = stack.pop()
            if urn == target:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            stack += deps.get(urn, []) + children.get(urn, [])
        return False

    # CRDs the program creates itself (components/inference/crds.py): their custom resources wait for them.
    program_crd: dict[tuple[str, str], tuple[str, str]] = {}
    for r in result.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"):
        spec = r.inputs.get("spec") or {}
        program_crd[(spec.get("group", ""), (spec.get("names") or {}).get("kind", ""))] = (r.urn, r.name)

    problems = []
    for r in result.resources:
        obj = k8s_object(r)
        if obj is None:
            continue
        group, _ = _split_api_version(obj["apiVersion"])
        owner = crd_owner.get((group, obj["kind"]))
        if owner and owner in by_name and not reaches(r.urn, by_name[owner].urn):
            problems.append(_problem("program", obj, (), f"does not depend on Release {owner}, which installs its "
                                                         f"CRD: it may be created before the CRD exists"))
        crd = program_crd.get((group, obj["kind"]))
        if crd is not None and not reaches(r.urn, crd[0]):
            problems.append(_problem("program", obj, (), f"does not depend on CustomResourceDefinition {crd[1]}, "
                                                         f"which the program creates: it may be created before the "
                                                         f"CRD exists (depend on PlatformContext.gateway_crds)"))
    return problems


def key_unchecked(key: tuple[str, str, str], index: Mapping, provider: str, kube_version: str,
                  addons: tuple[tuple[str, str, str], ...] = ()) -> bool:
    group, version, kind = key
    return (key not in index and (key in CLUSTER_APIS[provider] or key in addons)
            and not is_builtin(f"{group}/{version}" if group else version, kind, kube_version))


def cluster_provider(result: Any) -> str:
    """gke, eks or existing, from the cluster resources of a mock run."""
    types = {r.type for r in result.resources}
    if "gcp:container/cluster:Cluster" in types:
        return "gke"
    if "aws:eks/cluster:Cluster" in types:
        return "eks"
    return "existing"


def _run_kube_version(result: Any) -> str | None:
    """The Kubernetes version the run's GKE or EKS cluster is created at."""
    for r in result.resources:
        if r.type == "gcp:container/cluster:Cluster" and r.inputs.get("minMasterVersion"):
            return str(r.inputs["minMasterVersion"])
        if r.type == "aws:eks/cluster:Cluster" and r.inputs.get("version"):
            return str(r.inputs["version"])
    return None


def main(argv: list[str] | None = None) -> int:
    from . import crds as crd_sources
    from . import mockrun

    parser = argparse.ArgumentParser(prog="python -m tools.validate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", action="append", help="stack name (repeatable; default: every Pulumi.<stack>.yaml)")
    parser.add_argument("--charts", type=Path, default=None, help="chart archives (default: $AI_PLATFORM_CHARTS)")
    parser.add_argument("--json", action="store_true", help="print the problems as JSON")
    args = parser.parse_args(argv)
    charts_dir = args.charts or crd_sources.charts_dir()
    failed = False
    for stack in args.stack or mockrun.available_stacks():
        result = mockrun.run_program(stack)
        if result.error is not None:
            print(f"{stack}: the program failed: {result.error}")
            failed = True
            continue
        report = validate_stack(result, charts_dir)
        failed = failed or bool(report.problems)
        if args.json:
            print(json.dumps({"stack": stack, "kubernetesVersion": report.kube_version, "objects": report.objects,
                              "customResources": report.custom, "notes": report.notes,
                              "problems": [p.to_dict() for p in report.problems]}))
            continue
        print(f"{stack}: {report.objects} objects ({report.custom} custom resources) against Kubernetes "
              f"{report.kube_version} and {report.crds} installed CRD versions: {len(report.problems)} problem(s)")
        for note in report.notes:
            print(f"  note: {note}")
        for problem in report.problems:
            print(f"  {problem}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
