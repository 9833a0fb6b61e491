"""The offline plan shows chart objects: under each Release in the tree, counted, in --json and --render."""

from __future__ import annotations

import json

import yaml

from tools import plan

from .conftest import rendered, require_charts


def run_plan(capsys, *args: str) -> tuple[int, str, str]:
    code = plan.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_plan_shows_render_and_json_carry_chart_objects(tmp_path, capsys):
    require_charts()
    rendered("local")  # warm the session's render cache: the plan reuses it
    code, out, err = run_plan(capsys, "--stack", "local", "--json", "--render", str(tmp_path / "r"))
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] is True and data["charts"]["unavailable"] is None
    releases = {r["release"]: r for r in data["charts"]["releases"]}
    assert set(releases) == {"prometheus-operator-crds", "monitoring", "redis", "qdrant"}
    qdrant = releases["qdrant"]
    assert qdrant["chart"] == "qdrant" and qdrant["version"] == "1.19.0" and "error" not in qdrant
    kinds = {o["manifest"]["kind"] for o in qdrant["objects"]}
    assert {"StatefulSet", "Service"} <= kinds
    assert all(o["source"].startswith("qdrant/templates/") for o in qdrant["objects"])
    assert "monitoring.coreos.com/v1" in qdrant["apiVersions"]
    # one folder per release beside the program's own objects
    folder = tmp_path / "r" / "helm" / "qdrant"
    files = sorted(folder.glob("*.yaml"))
    assert len(files) == len(qdrant["objects"])
    assert any(yaml.safe_load(f.read_text())["kind"] == "StatefulSet" for f in files)
    assert files[0].read_text().startswith("# Source: qdrant/templates/")
    assert sorted((tmp_path / "r").glob("*.yaml"))  # the program's objects are still there
    assert f"and {sum(len(r['objects']) for r in releases.values())} chart objects" in err


def test_plan_tree_lists_each_release_objects_under_it(capsys):
    require_charts()
    rendered("local")
    code, out, err = run_plan(capsys, "--stack", "local")
    assert code == 0, err
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "kubernetes:helm.sh/v3:Release  ai-rag-vector-store-qdrant" in line)
    indent = len(lines[at]) - len(lines[at].lstrip())
    under = lines[at + 1]
    assert under.lstrip().startswith("helm: ") and len(under) - len(under.lstrip()) == indent + 2
    assert "helm: StatefulSet ai-rag/qdrant" in out
    assert "chart objects by kind (" in out and "v4.1.4" in out
    assert out.rstrip().endswith("result: ok")


def test_plan_without_archives_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_PLATFORM_CHARTS", str(tmp_path))
    code, out, err = run_plan(capsys, "--stack", "local")
    assert code == 0, err
    notes = [line for line in out.splitlines() if line.startswith("charts not rendered:")]
    assert len(notes) == 1 and "helm: " not in out
    assert out.rstrip().endswith("result: ok")
    code, out, _ = run_plan(capsys, "--stack", "local", "--json")
    assert code == 0 and json.loads(out)["charts"]["unavailable"].startswith("charts not rendered:")


def test_no_charts_flag_skips_rendering(capsys):
    code, out, _ = run_plan(capsys, "--stack", "local", "--no-charts", "--json")
    assert code == 0 and json.loads(out)["charts"] is None


def test_plan_validates_program_and_chart_objects_strictly(capsys):
    require_charts()
    rendered("local")
    code, out, err = run_plan(capsys, "--stack", "local", "--json", "--require-charts")
    assert code == 0, err
    validation = json.loads(out)["validation"]
    assert validation["problems"] == [] and validation["objects"] > 100 and validation["customResources"] > 0
    code, out, _ = run_plan(capsys, "--stack", "local")
    assert "validation: " in out and " 0 problem(s)" in out and out.rstrip().endswith("result: ok")
    code, out, _ = run_plan(capsys, "--stack", "local", "--json", "--no-validate")
    assert code == 0 and json.loads(out)["validation"] is None


def test_a_chart_object_that_fails_validation_fails_the_plan_with_exit_1(monkeypatch, capsys):
    require_charts()
    rendered("local")
    real = plan.render_charts

    def misspelt(result, values):
        charts = real(result, values)  # a fresh render: the session's cached objects stay untouched
        monitor = next(o for o in charts.release("redis").objects if o.kind == "ServiceMonitor")
        monitor.manifest["spec"]["endpointz"] = []
        return charts

    monkeypatch.setattr(plan, "render_charts", misspelt)
    code, out, _ = run_plan(capsys, "--stack", "local")
    assert code == plan.EXIT_VALIDATION == 1
    assert "result: FAILED (1 object(s) fail strict validation)" in out
    [line] = [x for x in out.splitlines() if "endpointz" in x]
    assert line.lstrip().startswith("- [ai-rag-cache-redis] monitoring.coreos.com/v1 ServiceMonitor ai-rag/")
    code, out, _ = run_plan(capsys, "--stack", "local", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False
    problems = data["validation"]["problems"]
    assert [(p["source"], p["kind"]) for p in problems] == [("ai-rag-cache-redis", "ServiceMonitor")]


def test_require_charts_fails_the_gate_when_charts_cannot_render(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AI_PLATFORM_CHARTS", str(tmp_path))
    code, out, _ = run_plan(capsys, "--stack", "local", "--require-charts", "--json")
    data = json.loads(out)
    assert code == 1 and data["ok"] is False and data["validation"]["required"] is True
    code, _, err = run_plan(capsys, "--stack", "local", "--require-charts", "--no-charts")
    assert code == 2 and "contradict" in err
