"""Chart archives of the chart lock: where they are, pulling them, verifying them.

    python -m tools.charts pull [--dest DIR]    # helm pull every locked chart (and download every CRD bundle)
    python -m tools.charts verify [DIR]         # check a chart directory against the lock (bundles included)
    python -m tools.charts where                # which archive each locked chart (and file each bundle) is read from

Chart directories, in order (the first holding `<chart>-<version>.tgz` wins):
1. `AI_PLATFORM_CHARTS` when set (only that directory; CI sets it to the team's pinned archives,
   `../shared/charts`);
2. the local cache `.cache/charts/` of this checkout (git-ignored), filled by `pull`;
3. `../shared/charts/` beside the checkout, when present (the team's pinned archives).

An archive is used only when its Chart.yaml names the locked chart and version and its sha256 is
the lock's (the team's archive, rebuilt from the chart's source) or the digest `pull` recorded for
it in `<dir>/pulled.lock.yaml` (a repository's published archive differs in file times, hence in
digest). A later `pull` that gets different bytes for a recorded chart version fails.

CRD bundles (charts.lock.yaml `crdBundles:`, plain YAML release assets) live in the same directories under their
`file` name and are checked the same way (components/helm.py `resolve_bundle`): the lock's sha256, or the one `pull`
recorded when it downloaded the bundle's `url` (urllib; recorded under `crdBundles:` in the same record).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from components.helm import LOCK_FILE, ChartPin, CrdBundlePin, bundles, check_bundle, lock, read_bundle_record
from components.helm import resolve_bundle as resolve_bundle  # re-exported: the bundle lookup
from policy.rules import helmbin
from policy.rules.helmrender import (  # the archive lookup the policy pack shares (see that module)
    ENV,
    PULL_RECORD,
    ROOT,
    Resolved,
    chart_dirs,
    chart_metadata,
    check_archive,
    describe_dirs,
    local_cache,
    read_record,
    resolve,
    sha256,
    shared_dir,
)

__all__ = ["ENV", "PULL_RECORD", "ROOT", "Resolved", "chart_dirs", "chart_metadata", "check_archive",
           "describe_dirs", "local_cache", "pull", "pull_bundles", "read_record", "resolve", "resolve_bundle", "sha256",
           "shared_dir", "verify", "verify_bundles"]


def write_record(dest: Path, charts: dict[str, Any] | None = None, crd_bundles: dict[str, Any] | None = None) -> None:
    """Replace one section (or both) of `dest`'s pull record, keeping the other."""
    charts = read_record(dest) if charts is None else charts
    crd_bundles = read_bundle_record(dest) if crd_bundles is None else crd_bundles
    data: dict[str, Any] = {"charts": dict(sorted(charts.items()))}
    if crd_bundles:
        data["crdBundles"] = dict(sorted(crd_bundles.items()))
    path = dest / PULL_RECORD
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_text("# Written by `python -m tools.charts pull`: digests of the archives pulled here.\n"
                        + yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp_path, path)


def republished(known: dict, version: str, source_key: str, source: str, digest: str) -> bool:
    """Whether a pull of a version already recorded (same version, same source) got other bytes than recorded."""
    return known.get("version") == version and known.get(source_key) == source \
        and known.get("sha256") not in (None, digest)


def pull(pins: Iterable[ChartPin], dest: Path, helm: helmbin.Helm) -> list[str]:
    """`helm pull` each chart into `dest` and record its digest; returns problems (empty: all good)."""
    dest.mkdir(parents=True, exist_ok=True)
    record = read_record(dest)
    problems = []
    for pin in pins:
        known = record.get(pin.chart) or {}
        archive = dest / pin.archive
        if archive.exists() and known.get("version") == pin.version and known.get("sha256") == sha256(archive):
            print(f"  {pin.archive}: cached ({known['sha256'][:12]})")
            continue
        with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest) as tmp:
            where = [pin.reference] if pin.oci else [pin.chart, "--repo", pin.repo]
            out = helm.run("pull", *where, "--version", pin.version, "--destination", tmp, timeout=300)
            pulled = Path(tmp) / pin.archive
            if out.returncode != 0 or not pulled.exists():
                problems.append(f"{pin.chart} {pin.version} from {pin.repo}: {(out.stderr or out.stdout).strip()}")
                continue
            digest = sha256(pulled)
            if republished(known, pin.version, "repository", pin.repo, digest):
                problems.append(f"{pin.chart} {pin.version} from {pin.repo}: sha256 {digest} differs from the one "
                                f"recorded at the first pull ({known['sha256']}): the repository changed a released "
                                "chart; not used")
                continue
            os.replace(pulled, archive)
        note = "the team's archive" if digest == pin.sha256 else "published archive; differs from the team's rebuild"
        print(f"  {pin.archive}: pulled, sha256 {digest[:12]} ({note})")
        record[pin.chart] = {"version": pin.version, "repository": pin.repo, "sha256": digest}
    write_record(dest, charts=record)
    return problems


def pull_bundles(pins: Iterable[CrdBundlePin], dest: Path, timeout: float = 120) -> list[str]:
    """Download each CRD bundle's release asset into `dest` and record its digest; returns problems.

    As for charts: the first download's digest is recorded, a later download of the same version that gets other
    bytes is refused (a re-published release asset)."""
    dest.mkdir(parents=True, exist_ok=True)
    record = read_bundle_record(dest)
    problems = []
    for pin in pins:
        known = record.get(pin.name) or {}
        path = dest / pin.file
        if path.exists() and known.get("version") == pin.version and known.get("sha256") == sha256(path):
            print(f"  {pin.file}: cached ({known['sha256'][:12]})")
            continue
        with tempfile.TemporaryDirectory(prefix=".pull-", dir=dest) as tmp:
            fetched = Path(tmp) / pin.file
            try:
                with urllib.request.urlopen(pin.url, timeout=timeout) as response, fetched.open("wb") as out:
                    shutil.copyfileobj(response, out)
            except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
                problems.append(f"CRD bundle {pin.name} {pin.version} from {pin.url}: {exc}")
                continue
            digest = sha256(fetched)
            if republished(known, pin.version, "url", pin.url, digest):
                problems.append(f"CRD bundle {pin.name} {pin.version} from {pin.url}: sha256 {digest} differs from "
                                f"the one recorded at the first pull ({known['sha256']}): the release asset changed; "
                                "not used")
                continue
            os.replace(fetched, path)
        note = "the team's file" if digest == pin.sha256 else "release asset; differs from the team's file"
        print(f"  {pin.file}: downloaded, sha256 {digest[:12]} ({note})")
        record[pin.name] = {"version": pin.version, "url": pin.url, "sha256": digest}
    write_record(dest, crd_bundles=record)
    return problems


def verify(directory: Path, pins: Iterable[ChartPin]) -> list[str]:
    """Problems of a chart directory against the lock (a missing archive is one)."""
    problems = []
    for pin in pins:
        archive = directory / pin.archive
        if not archive.is_file():
            problems.append(f"{pin.archive}: missing")
        else:
            problems += check_archive(pin, archive)
    return problems


def verify_bundles(directory: Path, pins: Iterable[CrdBundlePin]) -> list[str]:
    """Problems of a chart directory's CRD bundles against the lock (a missing file is one)."""
    problems = []
    for pin in pins:
        path = directory / pin.file
        problems += check_bundle(pin, path) if path.is_file() else [f"{pin.file}: missing"]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.charts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_pull = sub.add_parser("pull", help="helm pull every locked chart into the local cache")
    p_pull.add_argument("--dest", type=Path, default=None, help=f"directory (default {local_cache()})")
    p_verify = sub.add_parser("verify", help="check a chart directory against the lock")
    p_verify.add_argument("directory", type=Path, nargs="?", help="default: the first chart directory")
    sub.add_parser("where", help="which archive each locked chart renders from (and file each CRD bundle)")
    args = parser.parse_args(argv)
    pins = list(lock().values())
    crd_bundles = list(bundles().values())

    if args.command == "pull":
        dest = args.dest or local_cache()
        try:
            helm = helmbin.find()
        except helmbin.HelmNotAvailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"pulling {len(pins)} charts of {LOCK_FILE.name} into {dest} with helm {helm.version}")
        problems = pull(pins, dest, helm)
        print(f"downloading {len(crd_bundles)} CRD bundles of {LOCK_FILE.name} into {dest}")
        problems += pull_bundles(crd_bundles, dest)
    elif args.command == "verify":
        dirs = chart_dirs()
        directory = args.directory or (dirs[0] if dirs else None)
        if directory is None:
            print(f"error: no chart directory ({describe_dirs()})", file=sys.stderr)
            return 1
        problems = verify(directory, pins) + verify_bundles(directory, crd_bundles)
        if not problems:
            print(f"{directory}: all {len(pins)} locked charts and {len(crd_bundles)} CRD bundles present and matching "
                  f"{LOCK_FILE.name}")
    else:
        problems = []
        for pin in pins:
            found = resolve(pin)
            print(f"  {pin.chart:<36}{pin.version:<10}{found.path or 'NONE: ' + found.problem}")
        for crd_pin in crd_bundles:
            located = resolve_bundle(crd_pin)
            where = located.path or "NONE: " + located.problem
            print(f"  {crd_pin.name:<36}{crd_pin.version:<10}{where}  (CRD bundle)")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

