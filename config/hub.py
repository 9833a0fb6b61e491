"""Fetch a model's config.json and model.safetensors.index.json from the Hugging Face Hub into the shape cache.

Used only with `serving.shapes.fetch: true` (off by default), for models outside the catalog, by the loader's
pre-pass (config.loader.shape_prepass) before any check runs; the plan then reads the cache like a `shapeFrom`.

A small urllib client of the Hub's documented download URL `<endpoint>/<repo>/resolve/<revision>/<file>` rather
than `huggingface_hub.hf_hub_download`: two small JSON files do not justify a dependency that brings httpx, fsspec,
tqdm, filelock and the hf-xet binary into the Pulumi program, and hf_hub_download keeps its own blob/snapshot
symlink layout, where the plan wants a plain `<cacheDir>/<repo>/config.json` a team can also commit or edit.  Like
huggingface_hub, the endpoint is `HF_ENDPOINT` when set (a mirror, or a test server), else https://huggingface.co.
Standard library only.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .model_files import CONFIG_FILE, GATED_MARKER, INDEX_FILE

DEFAULT_ENDPOINT = "https://huggingface.co"
REVISION_MARKER = ".revision"
"""Written next to the fetched files: the revision they came from (a changed `revision` fetches again)."""
TIMEOUT_S = 20.0
MAX_BYTES = 8 * 2**20  # a config.json is a few KB; an index with its weight map at most a few MB
# A Hub repo id: `<owner>/<name>`, letters, digits, `-`, `_`, `.` (no `..`: the id becomes a cache path).
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$")


class FetchError(RuntimeError):
    """The Hub did not give the files; the message says why and what to do."""


class AuthError(FetchError):
    """HTTP 401/403: a gated or private repo (without a token, or with one the Hub refused)."""


def is_repo_id(name: str) -> bool:
    return bool(REPO_ID.match(name)) and ".." not in name


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def cache_folder(cache_dir: str | os.PathLike[str], repo: str) -> Path:
    """`<cacheDir>/<owner>/<name>` (the repo id is validated by the caller: is_repo_id)."""
    return Path(cache_dir) / repo


def _get(url: str, token: str | None) -> bytes | None:
    """The body, None for 404 (no such file: an unsharded model has no index); FetchError otherwise."""
    request = urllib.request.Request(url, headers={"User-Agent": "ai-platform-plan"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # https, or HF_ENDPOINT
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        if exc.code in (401, 403):
            raise AuthError(f"HTTP {exc.code} for {url}: the repo is gated or private; "
                             + ("the token was refused (accept the model's licence on the Hub with the token's "
                                "account)" if token else "set the hfToken secret (`pulumi config set --secret "
                                "ai-platform:hfToken <token>`) or HF_TOKEN")) from None
        raise FetchError(f"HTTP {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot reach {url}: {reason} (offline? turn serving.shapes.fetch off and use shapeFrom "
                         "or the cache)") from None
    if len(body) > MAX_BYTES:
        raise FetchError(f"{url} is larger than {MAX_BYTES // 2**20} MiB; not a model config")
    return body


def _download(repo: str, revision: str, token: str | None) -> tuple[bytes, bytes | None, bool]:
    """(config.json, the index or None, whether the token was needed).  Anonymous first, so that a public model
    never sees the token and a gated one is recorded as gated."""
    base = f"{endpoint()}/{repo}/resolve/{urllib.parse.quote(revision, safe='')}"
    gated = False
    try:
        config = _get(f"{base}/{CONFIG_FILE}", None)
    except AuthError:
        if not token:
            raise
        gated = True
        config = _get(f"{base}/{CONFIG_FILE}", token)
    if config is None:
        raise FetchError(f"{repo} has no {CONFIG_FILE} at revision {revision!r} ({base}/{CONFIG_FILE}: 404); check "
                         "the repo id and serving.shapes.revision")
    index = _get(f"{base}/{INDEX_FILE}", token if gated else None)
    return config, index, gated


def fetch(repo: str, revision: str, cache_dir: str | os.PathLike[str], token: str | None) -> Path:
    """Make `<cacheDir>/<repo>/config.json` (and the index, if the repo has one) hold `revision`'s files.

    Already cached at that revision: nothing is downloaded (delete the folder to refresh a moving branch).  Files are
    written to a temporary name and renamed, so an interrupted fetch never leaves half a file to be parsed.
    """
    if not is_repo_id(repo):
        raise FetchError(f"{repo!r} is not a Hugging Face repo id (<owner>/<name>)")
    folder = cache_folder(cache_dir, repo)
    marker = folder / REVISION_MARKER
    if (folder / CONFIG_FILE).is_file() and marker.is_file() and marker.read_text().strip() == revision:
        return folder
    config, index, gated = _download(repo, revision, token)
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in ((CONFIG_FILE, config), (INDEX_FILE, index)):
        target = folder / name
        if body is None:
            target.unlink(missing_ok=True)
            continue
        partial = target.with_suffix(".part")
        partial.write_bytes(body)
        partial.replace(target)
    gated_file = folder / GATED_MARKER
    if gated:
        gated_file.write_text("the Hub served this repo only with a token\n")
    else:
        gated_file.unlink(missing_ok=True)
    marker.write_text(revision + "\n")
    return folder


__all__ = ["DEFAULT_ENDPOINT", "AuthError", "FetchError", "cache_folder", "endpoint", "fetch", "is_repo_id"]
