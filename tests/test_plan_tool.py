"""`python -m tools.plan` as a user runs it: output, exit codes, rendering, no tracebacks."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import mockrun
from tools import plan as plan_tool

ROOT = mockrun.ROOT


def plan(*args: str | Path, validate: bool = False, as_user: bool = False) -> subprocess.CompletedProcess:
    """The plan's exit code, stdout and stderr; strict validation (seconds per run) only where a test is about the
    gate (tests/render/test_plan_charts.py tests validation itself).

    `tools.plan.main` runs in this process (the program, Pulumi and the cloud SDKs are imported once per worker,
    which is most of a plan's time); `as_user` runs `python -m tools.plan` in a subprocess instead, as a user
    does, where the interpreter's own behaviour (exit status, streams) is what is tested.
    """
    argv = [str(a) for a in args] + ([] if validate else ["--no-validate"])
    if as_user:
        return subprocess.run([sys.executable, "-m", "tools.plan", *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.chdir(ROOT), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = plan_tool.main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_plan_succeeds_for_shipped_stacks(stack, tmp_path):
    # Strict validation of dev and prod is tests/test_validate.py's (and the gate's exit code test_plan_charts.py's).
    out = plan("--stack", stack, validate=stack == "local", as_user=stack == "local")
    assert out.returncode == 0, out.stderr + out.stdout
    for section in ("resource tree:", "resources by type:", "capacity and cost:", "policies:", "result: ok"):
        assert section in out.stdout
    assert "[pass] gpu-budget" in out.stdout


def _index(lines: list[str], prefix: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(prefix))


def test_verdict_comes_first(tmp_path):
    """A failed mandatory policy exits 1. The first screen: the result, the policy failures and warnings, then
    the cost; the tree follows."""
    path = _broken(tmp_path, lambda c: c.update({"ai-platform:budget": {"maxGpus": 2}}))
    out = plan("--stack-file", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[1].startswith("result: FAILED (mandatory policy: gpu-budget)")
    first = "\n".join(lines[:_index(lines, "capacity and cost:")])
    assert "[FAIL] gpu-budget (mandatory)" in first and "[pass]" not in first
    assert _index(lines, "capacity and cost:") < _index(lines, "policies:") < _index(lines, "resource tree:")
    assert "totals: GPUs" in "\n".join(lines[:40])


def test_disabled_policy_shows_as_skip(tmp_path):
    conf = tmp_path / "off.json"
    conf.write_text(json.dumps({"gpu-budget": "disabled"}))
    out = plan("--stack", "local", "--policy-config", str(conf))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[skip] gpu-budget (disabled)" in out.stdout and "[pass] gpu-budget" not in out.stdout


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


BAD_ARGS = [
    ("policy config missing", lambda t: ["--stack", "local", "--policy-config", str(t / "nope.json")], "nope.json: "
                                                                                                       "cannot read"),
    ("policy config not JSON", lambda t: ["--stack", "local", "--policy-config", str(_write(t / "p.json", "{x"))],
     "p.json: not JSON"),
    ("policy config unknown policy", lambda t: ["--stack", "local", "--policy-config",
                                                str(_write(t / "p.json", '{"gpu-budgte": "disabled"}'))],
     "gpu-budgte: no policy of this name in the pack (did you mean gpu-budget?)"),
    ("policy config unknown level", lambda t: ["--stack", "local", "--policy-config",
                                               str(_write(t / "p.json", '{"gpu-budget": "off"}'))],
     "gpu-budget: enforcement level 'off' is not one of"),
    ("render is a file", lambda t: ["--stack", "local", "--render", str(_write(t / "f.txt", "keep"))],
     "--render: " ),
    ("stack file is a list", lambda t: ["--stack-file", str(_write(t / "Pulumi.l.yaml", "- a\n"))],
     "the top level must be a mapping"),
    ("config is a list", lambda t: ["--stack-file", str(_write(t / "Pulumi.l.yaml", "config: [a]\n"))],
     "`config:` must be a mapping"),
    ("stack file unreadable", lambda t: ["--stack-file", str((t / "Pulumi.d.yaml").mkdir() or t / "Pulumi.d.yaml")],
     "cannot read Pulumi.d.yaml"),
    ("stack file not UTF-8", lambda t: ["--stack-file", str(t / "Pulumi.b.yaml")
                                        if (t / "Pulumi.b.yaml").write_bytes(b"config:\n  a: \xff\xfe\n") else ""],
     "cannot read Pulumi.b.yaml"),
    ("unknown option", lambda t: ["--stack", "local", "--rendr", "x"], "unrecognized arguments: --rendr"),
    ("stack file badly named", lambda t: ["--stack-file", str(_write(t / "stack.yaml", "config: {}\n"))],
     "--stack-file must be named Pulumi.<stack>.yaml"),
]


@pytest.mark.parametrize("name,args,text", BAD_ARGS, ids=[b[0] for b in BAD_ARGS])
def test_bad_arguments_exit_2_with_one_line(tmp_path, name, args, text):
    argv = args(tmp_path)
    out = plan(*argv, as_user=name == "unknown option")
    assert out.returncode == 2, out.stdout + out.stderr
    assert text in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr + out.stdout and out.stdout == ""
    as_json = plan(*argv, "--json")
    assert as_json.returncode == 2, as_json.stderr
    error = json.loads(as_json.stdout)
    assert error["ok"] is False and error["error"]["kind"] in ("usage", "policy-config", "config")
    assert text in json.dumps(error["error"])


def test_render_refuses_a_directory_it_did_not_write(tmp_path):
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("keep me")
    out = plan("--stack", "local", "--render", str(keep))
    assert out.returncode == 2 and "not a directory tools.plan rendered" in out.stderr
    assert (keep / "notes.txt").read_text() == "keep me"
    fresh = tmp_path / "r"
    assert plan("--stack", "local", "--render", str(fresh)).returncode == 0
    assert plan("--stack", "local", "--render", str(fresh)).returncode == 0  # a render replaces its own


def test_json_error_object_for_invalid_config(tmp_path):
    path = _broken(tmp_path, lambda c: c.update({"ai-platfrom:budget": {"maxGpus": 1}, "ai-platform:gpuStak": {}}))
    out = plan("--stack-file", str(path), "--json")
    assert out.returncode == 2, out.stdout + out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is False
    error = data["error"]
    assert error["kind"] == "config" and error["stackFile"] == "Pulumi.broken.yaml"
    keys = {p["key"]: p["message"] for p in error["problems"]}
    assert "did you mean ai-platform:budget" in keys["ai-platfrom:budget"]
    assert keys["ai-platform:gpuStak"].startswith("unknown key (did you mean gpuStack?)")
    assert "invalid stack configuration in Pulumi.broken.yaml" in out.stderr


def test_json_error_object_for_yaml_and_duplicates(tmp_path):
    bad = _write(tmp_path / "Pulumi.bad.yaml", "config: [unclosed")
    data = json.loads(plan("--stack-file", str(bad), "--json").stdout)
    assert data["error"]["kind"] == "config" and "not valid YAML" in data["error"]["message"]
    dup = _write(tmp_path / "Pulumi.dup.yaml", (ROOT / "Pulumi.local.yaml").read_text() + "  ai-platform:budget: "
                                                                                          "{maxGpus: 1}\n")
    out = plan("--stack-file", str(dup), "--json")
    assert out.returncode == 2
    problems = json.loads(out.stdout)["error"]["problems"]
    assert problems[0]["key"] == "ai-platform:budget" and "duplicate key (lines 33 and" in problems[0]["message"]


def test_misspelt_namespace_exits_2(tmp_path):
    path = _broken(tmp_path, lambda c: c.update({"ai-platfrom:budget": {"maxGpus": 1}}))
    out = plan("--stack-file", str(path))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "ai-platfrom:budget: unknown config namespace 'ai-platfrom'; did you mean ai-platform:budget?" in out.stderr


def test_json_and_render(tmp_path):
    out = plan("--stack", "local", "--json", "--render", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["stack"] == "local"
    assert data["counts"]["ai-platform:platform:Platform"] == 1
    assert data["outputs"]["grafanaAdminPassword"] == "[secret]"
    # Every resource's inputs, so a reviewer can read e.g. the Helm values offline.
    releases = [r for r in data["resources"] if r["type"] == "kubernetes:helm.sh/v3:Release"]
    assert releases and all(r["inputs"]["chart"] and "values" in r["inputs"] for r in releases)
    assert all("inputs" in r for r in data["resources"])
    assert {p["name"]: p for p in data["policies"]}["gpu-budget"]["skipped"] is False
    files = sorted((tmp_path / "r").glob("*.yaml"))
    assert files and all(yaml.safe_load(f.read_text())["apiVersion"] for f in files)


def _broken(tmp_path: Path, mutate) -> Path:
    values = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    mutate(values["config"])
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


BROKEN = [
    ("unknown key", lambda c: c.update({"ai-platform:gpuStak": {}}), "ai-platform:gpuStak: unknown key"),
    ("wrong type", lambda c: c["ai-platform:nodePools"]["gpu"][0].update(max="two"),
     "ai-platform:nodePools.gpu[0].max"),
    ("out of range", lambda c: c["ai-platform:serving"]["models"][0].update(maxModelLen=10),
     "ai-platform:serving.models[0].maxModelLen"),
    ("missing pool", lambda c: c["ai-platform:serving"]["models"][0].update(pool="nope"), "no GPU pool named 'nope'"),
    ("bad MIG profile",
     lambda c: c["ai-platform:nodePools"]["gpu"][0].update(sharing={"strategy": "mig", "profile": "2g.10gb"}),
     "is not a MIG profile of a100-80gb"),
    ("critical on spot", lambda c: c["ai-platform:serving"]["models"][0].update(critical=True), "critical model on "
                                                                                                "spot-only pool"),
    ("max < min", lambda c: c["ai-platform:nodePools"]["gpu"][0].update(min=9), "max (2) must be >= min (9)"),
    ("does not fit",
     lambda c: c["ai-platform:serving"]["models"][0].update(model="Qwen/Qwen2.5-72B-Instruct", quantization="none"),
     "does not fit: needs"),
]


@pytest.mark.parametrize("name,mutate,text", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_stack_file_exits_2_with_clear_message(tmp_path, name, mutate, text):
    out = plan("--stack-file", str(_broken(tmp_path, mutate)))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "invalid stack configuration in Pulumi.broken.yaml" in out.stderr
    assert text in out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert out.stdout == ""  # no half-built plan


def test_missing_stack_and_bad_yaml(tmp_path):
    out = plan("--stack", "nope")
    assert out.returncode == 2 and "Pulumi.nope.yaml not found" in out.stderr
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text("config: [unclosed")
    out = plan("--stack-file", str(bad))
    assert out.returncode == 2 and "not valid YAML" in out.stderr and "Traceback" not in out.stderr


def test_policy_config_can_downgrade_to_advisory(tmp_path):
    path = _broken(tmp_path, lambda c: c.update({"ai-platform:budget": {"maxGpus": 2}}))
    conf = tmp_path / "advisory-budget.json"
    conf.write_text(json.dumps({"gpu-budget": {"enforcementLevel": "advisory"}}))
    out = plan("--stack-file", str(path), "--policy-config", conf)
    assert out.returncode == 0, out.stdout
    assert "[warn] gpu-budget (advisory)" in out.stdout


def test_secrets_never_printed(tmp_path):
    values = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    values["config"]["ai-platform:hfToken"] = {"secure": "v1:AAAAsupersecretciphertext"}
    path = tmp_path / "Pulumi.sec.yaml"
    path.write_text(yaml.safe_dump(values))
    out = plan("--stack-file", str(path), "--json", "--render", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr + "".join(f.read_text() for f in (tmp_path / "r").glob("*.yaml"))
    assert "supersecret" not in text
    assert "[secret]" in json.dumps([r["inputs"] for r in json.loads(out.stdout)["resources"]])


def test_reader_stopping_early_is_no_traceback():
    """`python -m tools.plan ... | head` closes the pipe: the plan ends quietly with its own exit code."""
    proc = subprocess.Popen([sys.executable, "-m", "tools.plan", "--stack", "local", "--json"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr
