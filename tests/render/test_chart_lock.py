"""The chart lock is the one source of every pin: program, renderer, pack and archives agree with it."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from components import gpu_stack
from components.cluster import eks
from components.helm import LOCK_FILE, ChartLockError, ChartPin, lock, pin, read_lock
from components.observability import charts as obs_charts
from components.rag import charts as rag_charts
from components.serving import charts as serving_charts
from tests.conftest import STACKS, run_stack
from tools import charts, helmbin, render

from .conftest import IN_CI, require_charts


def test_every_release_of_every_stack_uses_a_locked_chart():
    used = set()
    for stack in STACKS:
        for r in run_stack(stack).of_type(render.RELEASE_TYPE):
            name = r.inputs["chart"]
            if name.startswith("oci://"):  # an OCI chart is installed by reference, without repositoryOpts
                name = name.rsplit("/", 1)[-1]
                assert r.inputs["chart"] == lock()[name].reference and not r.inputs.get("repositoryOpts"), name
            assert name in lock(), f"stack {stack}: chart {name} is not in {LOCK_FILE.name}"
            locked = lock()[name]
            repo = locked.repo if locked.oci else r.inputs["repositoryOpts"]["repo"]
            assert (r.inputs["version"], repo) == (locked.version, locked.repo), \
                f"stack {stack}: {name} differs from the lock"
            used.add(name)
    assert used


def test_components_read_their_pins_from_the_lock():
    assert gpu_stack.PIN is pin("gpu-operator") and gpu_stack.CHART_VERSION == pin("gpu-operator").version
    assert eks.CLUSTER_AUTOSCALER is pin("cluster-autoscaler")
    assert serving_charts.KEDA is pin("keda") and rag_charts.MILVUS is pin("milvus")
    assert obs_charts.STACK is pin("kube-prometheus-stack")
    assert obs_charts.GRAFANA_SUBCHART == pin("kube-prometheus-stack").subchart("grafana")
    with pytest.raises(ChartLockError, match=r"not in charts.lock.yaml"):
        pin("no-such-chart")


def test_lock_entries_are_complete_and_exact():
    for name, p in lock().items():
        assert p.repo.startswith(("https://", "oci://")), name
        assert p.version in p.source and p.app_version, name
        assert len(p.sha256) == 64, name
        assert p.archive == f"{name}-{p.version}.tgz"
        for sub in p.subcharts:
            assert sub.repo.startswith("https://") and sub.version and not sub.sha256


def test_lock_digests_are_the_teams_archives():
    sums_file = charts.shared_dir() / "SHA256SUMS"
    if not sums_file.exists():
        if IN_CI:
            pytest.fail(f"CI needs the team's archives: {sums_file} is missing")
        pytest.skip(f"{sums_file} not here")
    sums = dict(reversed(line.split()) for line in sums_file.read_text().splitlines() if line.strip())
    for p in lock().values():
        assert sums.get(p.archive) == p.sha256, f"{p.archive}: lock {p.sha256}, SHA256SUMS {sums.get(p.archive)}"


def test_verify_accepts_the_archives_and_rejects_a_changed_one(tmp_path):
    require_charts()
    keda = pin("keda")
    source = charts.resolve(keda).path
    assert charts.verify(source.parent, [keda]) == []
    shutil.copy(source, tmp_path / keda.archive)
    with (tmp_path / keda.archive).open("ab") as handle:
        handle.write(b"\0")
    problems = charts.verify(tmp_path, [keda, pin("tempo")])
    assert any("keda-2.20.2.tgz: sha256" in p and "neither the lock's" in p for p in problems)
    assert f"{pin('tempo').archive}: missing" in problems
    assert charts.resolve(keda, [tmp_path]).path is None


def test_a_lock_missing_a_field_is_refused(tmp_path):
    path = tmp_path / "charts.lock.yaml"
    path.write_text("charts:\n  keda: {version: 2.20.2}\n")
    with pytest.raises(ChartLockError, match=r"keda.*lacks repository, source"):
        read_lock(path)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def chart_repo(tmp_path):
    """A Helm repository on localhost serving a copy of the tempo archive (helm repo index)."""
    require_charts()
    helm = helmbin.find()
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(charts.resolve(pin("tempo")).path, repo)
    assert helm.run("repo", "index", str(repo)).returncode == 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(repo)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repo, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_pull_records_digests_and_refuses_changed_bytes_later(chart_repo, tmp_path, capsys):
    repo, url = chart_repo
    tempo = pin("tempo")
    local = ChartPin(tempo.chart, tempo.version, url, tempo.source, tempo.app_version, tempo.sha256)
    dest = tmp_path / "cache"
    helm = helmbin.find()
    assert charts.pull([local], dest, helm) == []
    record = charts.read_record(dest)["tempo"]
    assert record == {"version": "2.2.4", "repository": url, "sha256": tempo.sha256}
    assert charts.resolve(local, [dest]).path == dest / tempo.archive
    assert charts.pull([local], dest, helm) == [] and "cached" in capsys.readouterr().out
    # The repository now serves other bytes for the same version: the next pull refuses them.
    (dest / tempo.archive).unlink()
    with (repo / tempo.archive).open("ab") as handle:
        handle.write(b"\0")
    assert helm.run("repo", "index", str(repo)).returncode == 0
    problems = charts.pull([local], dest, helm)
    assert len(problems) == 1 and "differs from the one recorded at the first pull" in problems[0]
    assert not (dest / tempo.archive).exists()


def test_a_pulled_archive_with_another_digest_is_accepted_by_its_record(tmp_path):
    require_charts()
    tempo = pin("tempo")
    source = charts.resolve(tempo).path
    other = ChartPin(tempo.chart, tempo.version, tempo.repo, tempo.source, tempo.app_version, "0" * 64)
    shutil.copy(source, tmp_path / tempo.archive)
    assert charts.resolve(other, [tmp_path]).path is None  # neither the lock's digest nor recorded
    (tmp_path / charts.PULL_RECORD).write_text(
        f"charts:\n  tempo: {{version: 2.2.4, repository: {tempo.repo}, sha256: {tempo.sha256}}}\n")
    assert charts.resolve(other, [tmp_path]).path == tmp_path / tempo.archive


def test_chart_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(charts.ENV, str(tmp_path))
    assert charts.chart_dirs() == [tmp_path.resolve()]
    monkeypatch.delenv(charts.ENV)
    assert all(d in (charts.local_cache(), charts.shared_dir()) for d in charts.chart_dirs())


def test_cache_dirs_are_ignored_by_git():
    assert "/.cache/" in (Path(LOCK_FILE).parent / ".gitignore").read_text().splitlines()
