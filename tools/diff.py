"""Object-level diff of a stack between a git ref and the working tree (`tools.plan --diff REF`).

A stack's *object set* is everything `pulumi up` would create, one entry per object:

- Kubernetes objects, keyed `<apiVersion>/<kind> <namespace>/<name>` (cluster-scoped:
  `<apiVersion>/<kind> <name>`), body = the manifest;
- every other custom resource (cloud resources, Helm Releases, providers), keyed `<type> <name>`
  (the Pulumi resource name), body = its inputs.

Each object records its source: `program` (registered by the program) or `release:<name>`
(rendered from a Helm Release's chart; see `chart_objects`, the one extension point for them).

The working tree's set comes from the plan's own run. The ref's set comes from a temporary
`git worktree` at REF, planned in a subprocess (`python -m tools.diff snapshot --root DIR`, started
before the working tree's plan and running beside it) that runs *this* checkout's tools against the
ref's program: a fresh interpreter, because `config` and `components` are imported once per
process, and this checkout's tools, because the ref may predate them.

Secrets never leave either run in clear: each secret value (and every value of a Secret's
`data`/`stringData`) becomes an HMAC digest under a random key that lives for one diff only. A
change is detected by comparing digests and printed as "[secret] changed"; digests are never printed.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import hmac
import json
import os
import re
import secrets as _random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import notpresent

from . import mockrun

# `tools.plan` (and with it `config`) is imported inside functions only: `snapshot` must put the
# ref's checkout first on sys.path before the program's packages are imported.

PROGRAM = "program"
KEY_ENV = "AI_PLATFORM_DIFF_KEY"
"""Environment variable carrying the per-diff HMAC key to the ref's snapshot subprocess."""
_SECRET_MARK = re.compile(r"^\[secret:[0-9a-f]+\]$")
SHOWN_SECRET = mockrun.REDACTED
SNAPSHOT_TIMEOUT = 600


class DiffError(Exception):
    """The diff cannot be computed (unknown ref, git failure, the ref's plan failed): one line for the user."""


# ---------------------------------------------------------------------------------- object sets


def _digest(value: Any, key: bytes) -> str:
    plain = json.dumps(mockrun.unwrap(value), sort_keys=True, default=str)
    return f"[secret:{hmac.new(key, plain.encode(), hashlib.sha256).hexdigest()[:24]}]"


def mask(value: Any, key: bytes) -> Any:
    """Replace each secret-wrapped value with its digest (a secret map keeps its keys, like `mockrun.redact`)."""
    if mockrun.is_secret(value):
        inner = value.get("value")
        if isinstance(inner, dict):
            return {k: _digest(v, key) for k, v in inner.items()}
        return _digest(inner, key)
    if isinstance(value, dict):
        return {k: mask(v, key) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    return value



def _mask_secret_data(manifest: dict, key: bytes) -> dict:
    """A Secret's `data`/`stringData` values are secret whether or not they arrived wrapped.

    Charts render them plain.
    """
    if manifest.get("kind") != "Secret" or manifest.get("apiVersion") != "v1":
        return manifest
    out = dict(manifest)
    for field in ("data", "stringData"):
        value = out.get(field)
        if isinstance(value, dict):
            out[field] = {k: v if _is_digest(v) else _digest(v, key) for k, v in value.items()}
        elif value is not None and not _is_digest(value):
            out[field] = _digest(value, key)
    return out


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and bool(_SECRET_MARK.match(value))


def kubernetes_entry(manifest: dict, source: str) -> dict:
    meta = manifest.get("metadata") or {}
    api_version, kind, namespace = manifest["apiVersion"], manifest["kind"], meta.get("namespace")
    name = meta.get("name") or f"{meta.get('generateName', '')}*"  # a hook may only have generateName
    where = f"{namespace}/{name}" if namespace else name
    return {"key": f"{api_version}/{kind} {where}", "source": source,
            "id": {"apiVersion": api_version, "kind": kind, "namespace": namespace, "name": name}, "body": manifest}


def resource_entry(type_: str, name: str, inputs: dict, source: str = PROGRAM) -> dict:
    return {"key": f"{type_} {name}", "source": source, "id": {"type": type_, "name": name}, "body": inputs}


def program_objects(result: mockrun.RunResult, key: bytes) -> list[dict]:
    """The program's own objects.

    Kubernetes manifests (as `tools.plan --render` writes them) and other resources' inputs.
    """
    from .plan import k8s_object

    entries = []
    for r in result.resources:
        if not r.custom:
            continue  # components: their children are the objects
        masked = replace(r, inputs=mask(r.inputs, key))
        manifest = k8s_object(masked)
        if manifest is not None:
            entries.append(kubernetes_entry(_mask_secret_data(manifest, key), PROGRAM))
        else:
            entries.append(resource_entry(r.type, r.name, mockrun.integers(masked.inputs)))
    return entries


def chart_objects(result: mockrun.RunResult, values: Mapping[str, Any]) -> list[tuple[str, list[dict] | None]]:
    """The objects each Helm Release's chart renders: `[(release name, [manifest, ...]), ...]`.

    THE extension point for chart contents; empty until the helm-render integration fills it from
    `result` and the stack's config `values` (the Kubernetes version), one entry per
    `kubernetes:helm.sh/v3:Release` with its name as Helm installs it. Each manifest must carry
    `metadata.namespace` as the provider would install it (the release namespace for namespaced
    objects that set none). `None` instead of a list means "could not render" (no archive for the
    ref's chart version, or a ref older than the chart lock): that release's objects are then left
    out of the comparison on both sides, with a note, instead of showing as all added or removed.
    Pass Secrets unredacted: the caller masks every v1 Secret's `data`/`stringData` as digests, so a
    changed chart Secret shows as "[secret] changed" (already redacted values would hide the change).

    Filled by tools.render (Helm 4.1.4, the chart lock's archives, the render cache of this checkout).
    A ref whose program predates the chart lock cannot be rendered: every release is then `None`.
    """
    releases = [str(r.inputs.get("name") or r.name) for r in result.of_type("kubernetes:helm.sh/v3:Release")]
    try:
        from . import render
    except ImportError:  # the ref's components.helm has no chart lock
        return [(name, None) for name in releases]
    charts = render.render_stack(result, render.kube_version_of(values))
    return [(rel.release, None if rel.error is not None else [o.unredacted() for o in rel.objects])
            for rel in charts.releases]


def object_set(result: mockrun.RunResult, key: bytes, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON-ready object set of a run: `{"objects": [entry, ...] sorted by key, "unrendered": [release, ...]}`.

    entry: `{"key", "source", "id", "body"}`; `id` is `{apiVersion, kind, namespace, name}` for a
    Kubernetes object, `{type, name}` for any other resource. Secret values are digests.
    """
    entries = program_objects(result, key)
    unrendered = []
    for release, manifests in chart_objects(result, values or {}):
        if manifests is None:
            unrendered.append(release)
            continue
        entries += [kubernetes_entry(_mask_secret_data(mockrun.integers(mask(m, key)), key), f"release:{release}")
                    for m in manifests if m]
    seen: dict[str, int] = {}
    for entry in entries:  # the engine rejects duplicate URNs, not duplicate Kubernetes names: keep both
        seen[entry["key"]] = seen.get(entry["key"], 0) + 1
        if seen[entry["key"]] > 1:
            entry["key"] = f"{entry['key']} [{seen[entry['key']]}]"
    return {"objects": sorted(entries, key=lambda e: e["key"]), "unrendered": sorted(unrendered)}


# ------------------------------------------------------------------------------------ snapshot


def snapshot(stack: str, root: Path, key: bytes) -> dict[str, Any]:
    """Plan `stack` with the program at `root` in this process and return its object set.

    Only correct in a fresh interpreter (or for the checkout already imported): the program's
    packages are imported from `root`, which is put first on sys.path. A missing stack file gives an
    empty set with `"missing": true`. Raises DiffError when the config is invalid or the program fails.
    """
    root = root.resolve()
    sys.path.insert(0, str(root))
    if not mockrun.stack_file(stack, root).exists():
        return {"stack": stack, "missing": True, "objects": [], "unrendered": []}
    try:
        values, secret_keys = mockrun.stack_config(stack, root)
    except Exception as exc:
        raise DiffError(f"Pulumi.{stack}.yaml cannot be read: {exc}".splitlines()[0]) from exc
    result = mockrun.run_program(stack, values, secret_keys, program=root / "__main__.py")
    if result.error is not None:
        lines = [line.strip() for line in str(result.error).strip().splitlines() if line.strip()]
        # One line: the error's headline and, for a ConfigError, its first problem.
        raise DiffError(f"the plan failed: {type(result.error).__name__}: {' '.join(lines[:2])}")
    return {"stack": stack, "missing": False, **object_set(result, key, values)}


# ----------------------------------------------------------------------------- the ref's side


def _git(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    try:  # no hooks: a worktree checkout would run the repository's post-checkout hook
        return subprocess.run(["git", "-c", "core.hooksPath=/dev/null", *args], cwd=cwd,
                              capture_output=True, text=True, timeout=300)
    except FileNotFoundError as exc:
        raise DiffError("git is not installed") from exc


def resolve_ref(ref: str, root: Path = mockrun.ROOT) -> str:
    """The commit `ref` names in the repository holding `root`; DiffError (one line) otherwise."""
    if _git("rev-parse", "--show-toplevel", cwd=root).returncode != 0:
        raise DiffError(f"--diff {ref}: {root} is not inside a git repository")
    proc = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", cwd=root)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise DiffError(f"--diff {ref}: not a commit in this repository (a branch, tag or commit; "
                        f"fetch it first if it is remote, e.g. `git fetch origin main`)")
    return proc.stdout.strip()


class Base:
    """The object set of `stack` at git `ref`, computed in the background while the working tree is planned.

    `Base(ref, stack)` resolves the ref, adds a temporary detached `git worktree` at it and starts
    `python -m tools.diff snapshot` there (this checkout's tools, a fresh interpreter, the same HMAC
    key as `object_set` of the working tree must use: `self.key`). `objects()` waits for it; the
    worktree is removed by `objects()`, `close()` or at interpreter exit, whichever comes first.
    Every failure is a DiffError whose message is one line starting with `--diff REF:`.
    """

    def __init__(self, ref: str, stack: str, root: Path = mockrun.ROOT):
        self.ref, self.stack, self.root = ref, stack, root
        self.commit = resolve_ref(ref, root)
        self.key = _random.token_bytes(32)
        self._proc: subprocess.Popen | None = None
        self._parent = Path(tempfile.mkdtemp(prefix="ai-platform-diff-"))
        atexit.register(self.close)
        try:
            tree = self._parent / "tree"
            proc = _git("worktree", "add", "--detach", "--quiet", str(tree), self.commit, cwd=root)
            if proc.returncode != 0:
                raise DiffError(f"--diff {ref}: git worktree add failed: "
                                f"{(proc.stderr.strip().splitlines() or ['?'])[-1]}")
            # The program may live below the repository's top level: the same place in the worktree.
            program_root = tree / _git("rev-parse", "--show-prefix", cwd=root).stdout.strip()
            # The ref's program reads the gateway's CRD bundles from this checkout's chart directories, not the
            # temporary worktree's (components/helm.py bundle_dirs).
            env = {**os.environ, KEY_ENV: self.key.hex(), "PYTHONDONTWRITEBYTECODE": "1",
                   "AI_PLATFORM_CHECKOUT": str(mockrun.ROOT)}
            env.pop("PYTHONPATH", None)
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "tools.diff", "snapshot", "--stack", stack, "--root", str(program_root)],
                cwd=mockrun.ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        except BaseException:
            self.close()
            raise

    def objects(self) -> dict[str, Any]:
        """The ref's object set (as `snapshot` returns it); DiffError when its plan failed."""
        try:
            assert self._proc is not None
            out, err = self._proc.communicate(timeout=SNAPSHOT_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise DiffError(f"--diff {self.ref}: the plan at {self.commit[:12]} took over {SNAPSHOT_TIMEOUT}s") from exc
        finally:
            self.close()
        if self._proc.returncode != 0:
            lines = [line for line in err.strip().splitlines() if line.strip()]
            why = lines[-1].removeprefix("error: ") if lines else f"exit code {self._proc.returncode}"
            raise DiffError(f"--diff {self.ref}: stack {self.stack} at {self.commit[:12]}: {why}")
        return json.loads(out)

    def close(self) -> None:
        """Stop the snapshot if it still runs and remove the worktree (idempotent)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()
        if self._parent.exists():
            tree = self._parent / "tree"
            if tree.exists():
                _git("worktree", "remove", "--force", str(tree), cwd=self.root)
            shutil.rmtree(self._parent, ignore_errors=True)
            _git("worktree", "prune", cwd=self.root)
        atexit.unregister(self.close)


# ---------------------------------------------------------------------------------------- diff


def _path_text(parts: list) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part))}]"
    return out


def _shown(value: Any) -> Any:
    """Digests as `[secret]`: what may be printed."""
    if _is_digest(value):
        return SHOWN_SECRET
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v) for v in value]
    return value


def _sort_key(parts: list) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in parts)


def field_changes(old: Any, new: Any) -> list[dict]:
    """Changed field paths between two bodies: `[{"path", "change": added|removed|changed, "old"?, "new"?}]`.

    Leaf-level (deepdiff), list items by index, sorted by path; secret values shown as `[secret]`.
    """
    found = []
    for items in DeepDiff(old, new, view="tree").values():
        for item in items:
            parts = item.path(output_format="list")
            change = {"path": _path_text(parts)}
            if item.t1 is notpresent:
                change.update(change="added", new=_shown(item.t2))
            elif item.t2 is notpresent:
                change.update(change="removed", old=_shown(item.t1))
            else:
                change.update(change="changed", old=_shown(item.t1), new=_shown(item.t2))
            found.append((_sort_key(parts), change))
    return [change for _, change in sorted(found, key=lambda x: x[0])]


def _public(entry: dict, with_body: bool) -> dict:
    out = {"key": entry["key"], "source": entry["source"], "id": entry["id"]}
    if with_body:
        out["object"] = _shown(entry["body"])
    return out


def _release_of(source: str) -> str | None:
    return source.split(":", 1)[1] if source.startswith("release:") else None


def diff_sets(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Object-level difference of two object sets (as `object_set`/`snapshot` return them).

    `{"summary": {added, removed, changed, unchanged}, "added": [...], "removed": [...],
    "changed": [{"key", "source", "id", ["previousSource"], "changes": [...]}], "notCompared": [release...]}`;
    added/removed entries carry the whole `object` (secrets as `[secret]`); every list is sorted by key.
    Objects of a release that one side could not render are not compared (listed in `notCompared`).
    """
    skip = set(old.get("unrendered", [])) | set(new.get("unrendered", []))
    before = {e["key"]: e for e in old["objects"] if _release_of(e["source"]) not in skip}
    after = {e["key"]: e for e in new["objects"] if _release_of(e["source"]) not in skip}
    added = [_public(after[k], True) for k in sorted(after.keys() - before.keys())]
    removed = [_public(before[k], True) for k in sorted(before.keys() - after.keys())]
    changed, unchanged = [], 0
    for k in sorted(before.keys() & after.keys()):
        a, b = before[k], after[k]
        if a["body"] == b["body"] and a["source"] == b["source"]:
            unchanged += 1
            continue
        entry = _public(b, False)
        if a["source"] != b["source"]:
            entry["previousSource"] = a["source"]
        entry["changes"] = field_changes(a["body"], b["body"])
        changed.append(entry)
    return {"summary": {"added": len(added), "removed": len(removed), "changed": len(changed), "unchanged": unchanged},
            "added": added, "removed": removed, "changed": changed, "notCompared": sorted(skip)}


# -------------------------------------------------------------------------------------- output


def _value_text(value: Any, limit: int = 120) -> str:
    text = SHOWN_SECRET if value == SHOWN_SECRET else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _change_text(c: dict) -> str:
    if SHOWN_SECRET in (c.get("old"), c.get("new")):  # never a value next to a secret, even a now-plain one
        return f"{c['path']}: {SHOWN_SECRET} {c['change']}"
    if c["change"] == "added":
        return f"{c['path']}: added {_value_text(c['new'])}"
    if c["change"] == "removed":
        return f"{c['path']}: removed (was {_value_text(c['old'])})"
    return f"{c['path']}: {_value_text(c['old'])} -> {_value_text(c['new'])}"


def as_text(d: dict[str, Any]) -> str:
    """The diff for people (and a PR comment in a ```diff block): `+` added, `-` removed, `~` changed."""
    base = d["base"]
    s = d["summary"]
    lines = [f"object diff of stack {d['stack']}: {base['ref']} ({base['commit'][:12]}) -> working tree",
             f"{s['added']} added, {s['removed']} removed, {s['changed']} changed, {s['unchanged']} unchanged"]
    if base.get("missing"):
        lines.append(f"(Pulumi.{d['stack']}.yaml does not exist at {base['ref']}: every object is new)")
    for release in d["notCompared"]:
        lines.append(f"(release {release}: chart objects not compared, not rendered on one side)")

    def tag(e: dict) -> str:
        if "previousSource" in e:
            return f"  ({e['previousSource']} -> {e['source']})"
        return "" if e["source"] == PROGRAM else f"  ({e['source']})"

    lines += [""] if (d["added"] or d["removed"] or d["changed"]) else ["", "no object changes"]
    lines += [f"+ {e['key']}{tag(e)}" for e in d["added"]]
    lines += [f"- {e['key']}{tag(e)}" for e in d["removed"]]
    for e in d["changed"]:
        lines.append(f"~ {e['key']}{tag(e)}")
        lines += [f"    {_change_text(c)}" for c in e["changes"]]
    return "\n".join(lines)


def compare(base: Base, result: mockrun.RunResult, values: Mapping[str, Any]) -> dict[str, Any]:
    """The difference between the stack at `base` and the working tree's plan `result` of config `values`.

    Raises DiffError if the ref could not be planned.

    `{"stack", "base": {"ref", "commit", "missing"}, **diff_sets(...)}`.
    """
    old = base.objects()
    new = object_set(result, base.key, values)
    return {"stack": base.stack, "base": {"ref": base.ref, "commit": base.commit, "missing": bool(old.get("missing"))},
            **diff_sets(old, new)}


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.diff", description="Object sets for `tools.plan --diff`.")
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="print the object set of a stack as JSON (secret values as digests)")
    snap.add_argument("--stack", required=True)
    snap.add_argument("--root", type=Path, default=mockrun.ROOT, help="the checkout holding the program and "
                                                                      "Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    # Without the caller's key the digests are unlinkable to anything (a fresh random key).
    key = bytes.fromhex(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else _random.token_bytes(32)
    root = args.root.resolve()
    try:
        if not (root / "__main__.py").is_file():
            raise DiffError(f"{root} holds no Pulumi program (__main__.py)")
        os.chdir(root)
        data = snapshot(args.stack, root, key)
    except DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    json.dump(data, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
