"""`python -m tools.plan` as a user runs it: output, exit codes, rendering, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import mockrun


ROOT = mockrun.ROOT


def plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.plan", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("stack", ["local", "dev", "prod"])
def test_plan_succeeds_for_shipped_stacks(stack, tmp_path):
    out = plan("--stack", stack)
    assert out.returncode == 0, out.stderr + out.stdout
    for section in ("resource tree:", "resources by type:", "capacity and cost:", "policies:", "result: ok"):
        assert section in out.stdout
    assert "[pass] gpu-budget" in out.stdout


def test_json_and_render(tmp_path):
    out = plan("--stack", "dev", "--json", "--render", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["stack"] == "dev"
    assert data["counts"]["ai-platform:platform:Platform"] == 1
    assert data["outputs"]["kubeconfig"] == "[secret]"
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
    ("wrong type", lambda c: c["ai-platform:nodePools"]["gpu"][0].update(max="two"), "ai-platform:nodePools.gpu[0].max"),
    ("out of range", lambda c: c["ai-platform:serving"]["models"][0].update(maxModelLen=10), "ai-platform:serving.models[0].maxModelLen"),
    ("missing pool", lambda c: c["ai-platform:serving"]["models"][0].update(pool="nope"), "no GPU pool named 'nope'"),
    ("bad MIG profile", lambda c: c["ai-platform:nodePools"]["gpu"][0].update(sharing={"strategy": "mig", "profile": "2g.10gb"}),
     "is not a MIG profile of a100-80gb"),
    ("critical on spot", lambda c: c["ai-platform:serving"]["models"][0].update(critical=True), "critical model on spot-only pool"),
    ("max < min", lambda c: c["ai-platform:nodePools"]["gpu"][0].update(min=9), "max (2) must be >= min (9)"),
    ("does not fit", lambda c: c["ai-platform:serving"]["models"][0].update(model="Qwen/Qwen2.5-72B-Instruct", quantization="none"),
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


def test_mandatory_policy_failure_exits_1(tmp_path):
    path = _broken(tmp_path, lambda c: c.update({"ai-platform:budget": {"maxGpus": 2}}))
    out = plan("--stack-file", str(path))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "[FAIL] gpu-budget" in out.stdout


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
