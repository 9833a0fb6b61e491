"""Chart archives of the chart lock: where they are, pulling them, verifying them.

    python -m tools.charts pull [--dest DIR]    # helm pull every locked chart into the local cache
    python -m tools.charts verify [DIR]         # check a chart directory against the lock
    python -m tools.charts where                # which archive each locked chart renders from

Chart directories, in order (the first holding `<chart>-<version>.tgz` wins):
1. `AI_PLATFORM_CHARTS` when set (only that directory; CI sets it to the team's pinned archives,
   `../shared/charts`);
2. the local cache `.cache/charts/` of this checkout (git-ignored), filled by `pull`;
3. `../shared/charts/` beside the checkout, when present (the team's pinned archives).

An archive is used only when its Chart.yaml names the locked chart and version and its sha256 is
the lock's (the team's archive, rebuilt from the chart's source) or the digest `pull` recorded for
it in `<dir>/pulled.lock.yaml` (a repository's published archive differs in file times, hence in
digest). A later `pull` that gets different bytes for a recorded chart version fails.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from components.helm import LOCK_FILE, ChartPin, lock

from . import helmbin

ROOT = Path(__file__).resolve().parent.parent
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


def read_record(directory: Path) -> dict[str, dict]:
    """What `pull` recorded in a directory: {chart: {version, repository, sha256}}."""
    path = directory / PULL_RECORD
    if not path.exists():
        return {}
    return (yaml.safe_load(path.read_text()) or {}).get("charts") or {}


def chart_metadata(archive: Path) -> dict:
    """The top-level Chart.yaml of a chart archive."""
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:  # helm package writes Chart.yaml first: stop there, do not read the whole archive
            parts = member.name.split("/")
            if len(parts) == 2 and parts[1] == "Chart.yaml":
                handle = tar.extractfile(member)
                return yaml.safe_load(handle.read()) if handle else {}
    return {}


def check_archive(pin: ChartPin, archive: Path) -> list[str]:
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

    pin: ChartPin
    path: Path | None
    """The archive (None when none was found or it failed its checks)."""
    sha256: str = ""
    problem: str = ""
    """Why there is no usable archive."""


def resolve(pin: ChartPin, dirs: Iterable[Path] | None = None) -> Resolved:
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
            out = helm.run("pull", pin.chart, "--repo", pin.repo, "--version", pin.version, "--destination", tmp,
                           timeout=300)
            pulled = Path(tmp) / pin.archive
            if out.returncode != 0 or not pulled.exists():
                problems.append(f"{pin.chart} {pin.version} from {pin.repo}: {(out.stderr or out.stdout).strip()}")
                continue
            digest = sha256(pulled)
            if known.get("version") == pin.version and known.get("repository") == pin.repo \
                    and known.get("sha256") not in (None, digest):
                problems.append(f"{pin.chart} {pin.version} from {pin.repo}: sha256 {digest} differs from the one "
                                f"recorded at the first pull ({known['sha256']}): the repository changed a released "
                                "chart; not used")
                continue
            os.replace(pulled, archive)
        note = "the team's archive" if digest == pin.sha256 else "published archive; differs from the team's rebuild"
        print(f"  {pin.archive}: pulled, sha256 {digest[:12]} ({note})")
        record[pin.chart] = {"version": pin.version, "repository": pin.repo, "sha256": digest}
    path = dest / PULL_RECORD
    tmp_path = path.with_suffix(".tmp")
    tmp_path.write_text("# Written by `python -m tools.charts pull`: digests of the archives pulled here.\n"
                        + yaml.safe_dump({"charts": dict(sorted(record.items()))}, sort_keys=False))
    os.replace(tmp_path, path)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.charts", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_pull = sub.add_parser("pull", help="helm pull every locked chart into the local cache")
    p_pull.add_argument("--dest", type=Path, default=None, help=f"directory (default {local_cache()})")
    p_verify = sub.add_parser("verify", help="check a chart directory against the lock")
    p_verify.add_argument("directory", type=Path, nargs="?", help="default: the first chart directory")
    sub.add_parser("where", help="which archive each locked chart renders from")
    args = parser.parse_args(argv)
    pins = list(lock().values())

    if args.command == "pull":
        dest = args.dest or local_cache()
        try:
            helm = helmbin.find()
        except helmbin.HelmNotAvailable as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(f"pulling {len(pins)} charts of {LOCK_FILE.name} into {dest} with helm {helm.version}")
        problems = pull(pins, dest, helm)
    elif args.command == "verify":
        dirs = chart_dirs()
        directory = args.directory or (dirs[0] if dirs else None)
        if directory is None:
            print(f"error: no chart directory ({describe_dirs()})", file=sys.stderr)
            return 1
        problems = verify(directory, pins)
        if not problems:
            print(f"{directory}: all {len(pins)} locked charts present and matching {LOCK_FILE.name}")
    else:
        problems = []
        for pin in pins:
            found = resolve(pin)
            print(f"  {pin.chart:<36}{pin.version:<10}{found.path or 'NONE: ' + found.problem}")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

