"""`tools.plan --diff REF`: object-level differences between a git ref and the working tree.

The end-to-end tests plan a throwaway copy of this checkout (its own git repository in tmp_path)
with this history:

    broken   (branch) Pulumi.local.yaml fails validation
    A        main~1   the project as it is
    B        main     one program object changes: the ai-app ResourceQuota's memory (2Gi -> 3Gi)
    working tree      one chart values key changes: kube-prometheus-stack's retention (2d -> 1d)

They plan the local stack: the smallest one (a diff plans the stack twice), with a program object and a chart.

Three --diff runs in all (each plans the working tree in-process and the ref in a subprocess beside it);
the rest runs the object-set and diff functions directly on recorded resources.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import diff, mockrun

ROOT = mockrun.ROOT
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false",
       "-c", "core.hooksPath=/dev/null"]
QUOTA = ("ai-app: {memoryQuota: 2Gi}", "ai-app: {memoryQuota: 3Gi}")
RETENTION = ("metrics: {retention: 2d,", "metrics: {retention: 1d,")

RELEASE_CHANGE = {
    "key": "kubernetes:helm.sh/v3:Release ai-observability-metrics-stack",
    "source": "program",
    "id": {"type": "kubernetes:helm.sh/v3:Release", "name": "ai-observability-metrics-stack"},
    "changes": [{"path": "values.prometheus.prometheusSpec.retention", "change": "changed", "old": "2d", "new": "1d"}],
}
# The retention change as the chart renders it (only where the chart archives are available).
PROMETHEUS_CHANGE = {
    "key": "monitoring.coreos.com/v1/Prometheus observability/monitoring-prometheus",
    "source": "release:monitoring",
    "id": {"apiVersion": "monitoring.coreos.com/v1", "kind": "Prometheus", "namespace": "observability",
           "name": "monitoring-prometheus"},
    "changes": [{"path": "spec.retention", "change": "changed", "old": "2d", "new": "1d"}],
}
PROMETHEUS_LINES = ["~ monitoring.coreos.com/v1/Prometheus observability/monitoring-prometheus  (release:monitoring)",
                    '    spec.retention: "2d" -> "1d"']
QUOTA_CHANGE = {
    "key": "v1/ResourceQuota ai-app/ai-platform-quota",
    "source": "program",
    "id": {"apiVersion": "v1", "kind": "ResourceQuota", "namespace": "ai-app", "name": "ai-platform-quota"},
    "changes": [{"path": 'spec.hard["requests.memory"]', "change": "changed", "old": "2Gi", "new": "3Gi"}],
}


def charts_rendered() -> bool:
    """Whether chart objects take part in the diff here (Helm and the locked archives found; always in CI)."""
    from tests.render.conftest import IN_CI, unavailable_reason

    reason = unavailable_reason()
    if reason is not None and IN_CI:
        pytest.fail(f"CI must render every chart: {reason}")
    return reason is None


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}: update this test"
    path.write_text(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A copy of this checkout's files (committed or not, minus ignored ones) with the history above."""
    repo = tmp_path_factory.mktemp("diff") / "repo"
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    stack = repo / "Pulumi.local.yaml"
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "A")
    git(repo, "checkout", "-qb", "broken")
    edit(stack, "maxModelLen: 4096", "maxModelLen: 10")
    git(repo, "commit", "-qam", "broken stack")
    git(repo, "checkout", "-q", "main")
    edit(stack, *QUOTA)
    git(repo, "commit", "-qam", "B: ai-app memory quota")
    edit(stack, *RETENTION)
    return repo


def plan(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # The copy lives in a temporary directory: point it at the chart archives this checkout renders from.
    from tools import charts

    env = dict(os.environ)
    if charts.chart_dirs() and not env.get(charts.ENV):
        env[charts.ENV] = str(charts.chart_dirs()[-1])
    return subprocess.run([sys.executable, "-m", "tools.plan", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=env)


# ------------------------------------------------------------------------------- end to end


def test_diff_against_a_commit_reports_exactly_the_changed_objects_and_fields(repo):
    out = plan(repo, "--stack", "local", "--diff", "HEAD~1", "--json")
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert d["stack"] == "local"
    assert d["base"] == {"ref": "HEAD~1", "commit": git(repo, "rev-parse", "HEAD~1"), "missing": False}
    assert d["added"] == [] and d["removed"] == []
    if charts_rendered():
        assert d["notCompared"] == []
        assert d["changed"] == [RELEASE_CHANGE, PROMETHEUS_CHANGE, QUOTA_CHANGE]
    else:
        assert d["changed"] == [RELEASE_CHANGE, QUOTA_CHANGE]
    assert d["summary"]["changed"] == len(d["changed"]) and d["summary"]["unchanged"] > 100
    # The text form of the same document (releases not rendered on a side are noted after the changes).
    text = diff.as_text(d).splitlines()
    expected = [
        "~ kubernetes:helm.sh/v3:Release ai-observability-metrics-stack",
        '    values.prometheus.prometheusSpec.retention: "2d" -> "1d"',
        *(PROMETHEUS_LINES if charts_rendered() else []),
        "~ v1/ResourceQuota ai-app/ai-platform-quota",
        '    spec.hard["requests.memory"]: "2Gi" -> "3Gi"',
    ]
    assert text[3:3 + len(expected)] == expected and (len(text) == 3 + len(expected) or not charts_rendered())
    # The temporary worktree is gone, and the working tree is untouched.
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "status", "--porcelain") == "M Pulumi.local.yaml"


def test_diff_text_against_head_shows_uncommitted_changes_and_keeps_the_plan_exit_code(repo, tmp_path):
    strict = tmp_path / "policy.json"
    # local's one-replica model fails serving-replicas-ha once local counts as a protected stack.
    strict.write_text(json.dumps({"serving-replicas-ha": {"enforcementLevel": "mandatory", "stacks": ["*"]}}))
    out = plan(repo, "--stack", "local", "--diff", "HEAD", "--policy-config", str(strict))
    assert out.returncode == 1, out.stderr
    assert out.stderr.strip() == ("the plan of the working tree fails (exit code 1): "
                                  "`python -m tools.plan --stack local` shows why")
    head = git(repo, "rev-parse", "HEAD")
    lines = out.stdout.splitlines()
    assert lines[0] == f"object diff of stack local: HEAD ({head[:12]}) -> working tree"
    expected = ["~ kubernetes:helm.sh/v3:Release ai-observability-metrics-stack",
                '    values.prometheus.prometheusSpec.retention: "2d" -> "1d"',
                *(PROMETHEUS_LINES if charts_rendered() else [])]
    assert lines[1].startswith(f"0 added, 0 removed, {1 + charts_rendered()} changed, ")
    assert lines[3:3 + len(expected)] == expected and (len(lines) == 3 + len(expected) or not charts_rendered())


def test_a_ref_whose_plan_fails_exits_2_with_one_line(repo):
    out = plan(repo, "--stack", "local", "--diff", "broken")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("error: --diff broken: stack local at ")
    assert "ConfigError: invalid stack configuration in Pulumi.local.yaml" in line and "maxModelLen" in line
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


@pytest.mark.parametrize("ref", ["no-such-branch", "HEAD~999", "--output=x"])
def test_bad_ref_exits_2_with_one_line_before_planning(ref):
    out = plan(ROOT, "--stack", "dev", f"--diff={ref}")
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout == ""
    assert out.stderr.strip() == (f"error: --diff {ref}: not a commit in this repository (a branch, tag or commit; "
                                  "fetch it first if it is remote, e.g. `git fetch origin main`)")


def test_diff_needs_a_stack_name_not_a_stack_file(tmp_path):
    out = plan(ROOT, "--stack-file", str(tmp_path / "Pulumi.x.yaml"), "--diff", "HEAD")
    assert out.returncode == 2 and "--diff compares Pulumi.<stack>.yaml at REF" in out.stderr


# --------------------------------------------------------------- object sets, without a plan

KEY = b"k" * 32


def secret(value):
    return {mockrun.SECRET_SIG: mockrun.SECRET_VALUE, "value": value}


def recorded(type_: str, name: str, inputs: dict, namespace: str | None = "ai-rag") -> mockrun.Recorded:
    outputs = {"metadata": {"name": name, **({"namespace": namespace} if namespace else {})}}
    return mockrun.Recorded(urn=f"urn:pulumi:dev::ai-platform::{type_}::{name}", type=type_, name=name, parent=None,
                            custom=True, inputs=inputs, dependencies=[], provider=None, protect=False,
                            ignore_changes=[], outputs=outputs)


def run(*resources: mockrun.Recorded) -> mockrun.RunResult:
    return mockrun.RunResult("dev", list(resources), {}, set())


def credentials(password: str, user: str = "admin") -> mockrun.Recorded:
    return recorded("kubernetes:core/v1:Secret", "db-credentials",
                    {"metadata": {"name": "db-credentials", "namespace": "ai-rag"}, "type": "Opaque",
                     "stringData": secret({"password": password, "user": user})})


def test_a_changed_secret_shows_as_changed_without_values():
    old = diff.object_set(run(credentials("old-Pa55word")), KEY)
    new = diff.object_set(run(credentials("new-Pa55word")), KEY)
    d = diff.diff_sets(old, new)
    assert d["changed"] == [{
        "key": "v1/Secret ai-rag/db-credentials", "source": "program",
        "id": {"apiVersion": "v1", "kind": "Secret", "namespace": "ai-rag", "name": "db-credentials"},
        "changes": [{"path": "stringData.password", "change": "changed", "old": "[secret]", "new": "[secret]"}],
    }]
    d.update(stack="dev", base={"ref": "main", "commit": "0" * 40})
    text, document = diff.as_text(d), json.dumps(d)
    assert "~ v1/Secret ai-rag/db-credentials\n    stringData.password: [secret] changed" in text
    for shown in (text, document, json.dumps(old), json.dumps(new)):
        assert "Pa55word" not in shown and "admin" not in shown
    # Digests are not printed either (they are only compared).
    assert "[secret:" not in text + document
    # An unchanged secret is unchanged.
    assert diff.diff_sets(old, diff.object_set(run(credentials("old-Pa55word")), KEY))["changed"] == []


def test_secret_data_is_masked_even_when_not_wrapped_and_in_added_objects():
    """A chart renders Secrets with plain base64 `data`; a Secret's values never print, even when added."""
    plain = recorded("kubernetes:core/v1:Secret", "token", {"metadata": {"name": "token"}, "data": {"t": "c2VjcmV0"}})
    d = diff.diff_sets(diff.object_set(run(), KEY), diff.object_set(run(plain), KEY))
    assert [e["key"] for e in d["added"]] == ["v1/Secret ai-rag/token"]
    assert d["added"][0]["object"]["data"] == {"t": "[secret]"}
    assert "c2VjcmV0" not in json.dumps(d)


def test_cloud_resources_are_keyed_by_type_and_name_with_their_inputs():
    pool = lambda n: recorded("gcp:container/nodePool:NodePool", "a100-spot",  # noqa: E731
                              {"nodeCount": float(n), "nodeConfig": {"spot": True}}, namespace=None)
    d = diff.diff_sets(diff.object_set(run(pool(1)), KEY), diff.object_set(run(pool(2)), KEY))
    assert d["changed"] == [{"key": "gcp:container/nodePool:NodePool a100-spot", "source": "program",
                             "id": {"type": "gcp:container/nodePool:NodePool", "name": "a100-spot"},
                             "changes": [{"path": "nodeCount", "change": "changed", "old": 1, "new": 2}]}]


def test_chart_objects_take_part_with_their_release_as_source(monkeypatch):
    """The helm-render integration only has to fill `chart_objects`: its objects are diffed like the program's."""
    def configmap(name, value):
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "gpu-operator"},
                "data": {"k": value}}

    def chart_set(releases):
        monkeypatch.setattr(diff, "chart_objects", lambda result, values: releases)
        return diff.object_set(run(), KEY)

    def token(value):  # a chart renders a Secret's data plain (base64)
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "t", "namespace": "gpu-operator"},
                "data": {"token": value}}

    old = chart_set([("gpu-operator", [configmap("a", "1"), configmap("b", "1"), token("b2xk")]),
                     ("keda", [configmap("k", "1")])])
    new = chart_set([("gpu-operator", [configmap("a", "2"), configmap("c", "1"), token("bmV3")]), ("keda", None)])
    d = diff.diff_sets(old, new)
    assert [(e["key"], e["source"]) for e in d["added"]] == [("v1/ConfigMap gpu-operator/c", "release:gpu-operator")]
    assert [e["key"] for e in d["removed"]] == ["v1/ConfigMap gpu-operator/b"]
    assert [(e["key"], e["source"], e["changes"]) for e in d["changed"]] == [
        ("v1/ConfigMap gpu-operator/a", "release:gpu-operator",
         [{"path": "data.k", "change": "changed", "old": "1", "new": "2"}]),
        ("v1/Secret gpu-operator/t", "release:gpu-operator",
         [{"path": "data.token", "change": "changed", "old": "[secret]", "new": "[secret]"}])]
    assert "b2xk" not in json.dumps(d) + json.dumps(old) and "bmV3" not in json.dumps(d) + json.dumps(new)
    # keda could not be rendered on one side: its objects are not reported as removed.
    assert d["notCompared"] == ["keda"]


def test_a_stack_missing_at_the_ref_is_an_empty_set():
    assert diff.snapshot("no-such-stack", ROOT, KEY) == {"stack": "no-such-stack", "missing": True, "objects": [],
                                                         "unrendered": []}


def test_field_paths_are_readable_and_sorted():
    old = {"metadata": {"labels": {"app.kubernetes.io/name": "a"}}, "spec": {"containers": [{"args": ["x"]}] * 11}}
    new = {"metadata": {"labels": {"app.kubernetes.io/name": "b"}, "annotations": {"k": "v"}},
           "spec": {"containers": [{"args": ["x"]}] * 10 + [{"args": ["x", "y"]}]}}
    assert [(c["path"], c["change"]) for c in diff.field_changes(old, new)] == [
        ("metadata.annotations", "added"),
        ('metadata.labels["app.kubernetes.io/name"]', "changed"),
        ("spec.containers[10].args[1]", "added"),
    ]
