"""GitHub workflows: zizmor passes, and the gating is structurally intact.

zizmor (pinned in requirements-dev.txt; its wheel ships the binary, so it runs offline) validates
each workflow and the composite action against GitHub's schema (`--strict-collection`) and audits
them. The structural checks below are plain functions returning problems, so the tests can also
show that they catch a broken gate (a workflow with the fork guard, the policy pack or the prod
approval removed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
ACTIONS = sorted((GITHUB / "actions").glob("*/action.yml"))
ZIZMOR_CONFIG = GITHUB / "zizmor.yml"
SHA = re.compile(r"^[0-9a-f]{40}$")
EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+$")

# Every third-party action the workflows use: the commit pinned, the tag it is, and the inputs we
# pass, each checked in that tag's action.yml (repository, action.yml, tag). Bumping a pin means
# re-reading that action.yml and updating this table.
PINNED_ACTIONS = {
    "actions/checkout": ("3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1", {"persist-credentials", "fetch-depth"}),
    "actions/setup-python": ("5fda3b95a4ea91299a34e894583c3862153e4b97", "v7.0.0",
                             {"python-version", "cache", "cache-dependency-path"}),
    "actions/cache": ("27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5", {"path", "key"}),
    "actions/upload-artifact": ("bbbca2ddaa5d8feaa63e36b76fdaad77386f024f", "v7.0.0",
                                {"name", "path", "if-no-files-found", "retention-days"}),
    "google-github-actions/auth": ("7c6bc770dae815cd3e89ee6cdf493a5fab2cc093", "v3.0.0",
                                   {"workload_identity_provider", "service_account"}),
    "google-github-actions/setup-gcloud": ("aa5489c8933f4cc7a4f7d45035b3b1440c9c10db", "v3.0.1",
                                           {"install_components"}),
    # aws-region is the one input action.yml marks required.
    "aws-actions/configure-aws-credentials": ("e6de054238d6b7531b4efff3b6587d9aade6a06c", "v6.2.3",
                                              {"role-to-assume", "aws-region"}),
    # command and stack-name are required by src/config.ts (makeConfig) at that tag.
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0",
                       {"command", "stack-name", "pulumi-version", "comment-on-pr", "policyPacks",
                        "policyPackConfigs"}),
}
REQUIRED_INPUTS = {
    "aws-actions/configure-aws-credentials": {"aws-region"},
    "pulumi/actions": {"command", "stack-name"},
}
CLOUD_STACKS = {"dev", "prod"}
FORK_GUARD = "github.event.pull_request.head.repo.full_name == github.repository"


# ---------------------------------------------------------------------------------- helpers


def load(path: Path) -> dict:
    doc = yaml.safe_load(path.read_text())
    if True in doc:  # YAML 1.1 reads the key `on` as the boolean True
        doc["on"] = doc.pop(True)
    return doc


def expr(value) -> str:
    """An `if:`/expression string without `${{ }}` and with single spaces."""
    text = str(value or "").strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return " ".join(text.split())


def steps_using(job: dict, action: str) -> list[dict]:
    return [s for s in job.get("steps", []) if str(s.get("uses", "")).split("@")[0] == action]


def truthy(value) -> bool:
    return value is True or str(value).lower() == "true"


def environment_name(job: dict):
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


def project_name() -> str:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]


def stacks() -> set[str]:
    return {p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml")}


def readme_test_command() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    return blocks[1].strip()


def pulumi_pin() -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.startswith("pulumi=="):
            return line.split("==")[1].strip()
    raise AssertionError("pulumi is not pinned in requirements.txt")


def pulumi_step_problems(job: dict, job_name: str, command: str, stack: str) -> list[str]:
    """The pulumi/actions step of a job runs `command` on `stack` with the policy pack."""
    steps = steps_using(job, "pulumi/actions")
    if len(steps) != 1:
        return [f"{job_name}: expected one pulumi/actions step, found {len(steps)}"]
    step, problems = steps[0], []
    with_ = step.get("with", {})
    if with_.get("command") != command:
        problems.append(f"{job_name}: pulumi/actions command is {with_.get('command')!r}, expected {command!r}")
    if with_.get("policyPacks") != "policy":
        problems.append(f"{job_name}: pulumi/actions must run the pack: policyPacks: policy")
    if with_.get("policyPackConfigs") != f"policy/config/{stack}.json":
        problems.append(f"{job_name}: policyPackConfigs must be policy/config/{stack}.json")
    if not str(with_.get("stack-name", "")).endswith(f"/{project_name()}/{stack}"):
        problems.append(f"{job_name}: stack-name must be <org>/{project_name()}/{stack}")
    if str(with_.get("pulumi-version")) != pulumi_pin():
        problems.append(f"{job_name}: pulumi-version must be {pulumi_pin()} (the SDK pinned in requirements.txt)")
    if step.get("env", {}).get("PULUMI_ACCESS_TOKEN") != "${{ secrets.PULUMI_ACCESS_TOKEN }}":
        problems.append(f"{job_name}: PULUMI_ACCESS_TOKEN must come from secrets.PULUMI_ACCESS_TOKEN")
    # The CLI does not build the venv of a local pack: the setup step must, before pulumi runs.
    index = job["steps"].index(step)
    if not any(str(s.get("uses", "")) == "./.github/actions/setup" and truthy(s.get("with", {}).get("policy-venv"))
               for s in job["steps"][:index]):
        problems.append(f"{job_name}: policy/venv is not created before pulumi runs (setup with policy-venv: 'true')")
    if job.get("permissions", {}).get("id-token") != "write":
        problems.append(f"{job_name}: needs permissions id-token: write for cloud OIDC")
    return problems


# ------------------------------------------------------------------------- structural checks


def preview_problems(doc: dict) -> list[str]:
    problems = []
    on = doc.get("on") or {}
    if "pull_request" not in on:
        return ["preview: does not run on pull_request"]
    branches = (on.get("pull_request") or {}).get("branches")
    if branches is not None and "main" not in branches:
        problems.append("preview: pull_request must cover PRs to main")
    if "pull_request_target" in on:
        problems.append("preview: pull_request_target would hand secrets to fork code")
    jobs = doc.get("jobs", {})

    tests = jobs.get("tests", {})
    if not any(s.get("run", "").strip() == readme_test_command() for s in tests.get("steps", [])):
        problems.append(f"tests: must run the README's test command {readme_test_command()!r}")

    gate = jobs.get("offline-gate")
    if gate is None:
        return problems + ["preview: no offline-gate job"]
    gate_stacks = set(gate.get("strategy", {}).get("matrix", {}).get("stack", []))
    if gate_stacks != stacks():
        problems.append(f"offline-gate: matrix stacks {sorted(gate_stacks)} != stack files {sorted(stacks())}")
    runs = " ".join(s.get("run", "") for s in gate.get("steps", []))
    if ("-m tools.plan --stack ${{ matrix.stack }} --policy-config policy/config/${{ matrix.stack }}.json"
            not in runs):
        problems.append("offline-gate: must run tools.plan for the matrix stack with its policy config")
    if "--require-charts" not in runs:
        problems.append("offline-gate: tools.plan must run with --require-charts (a chart that cannot render fails)")
    for name, job in doc["jobs"].items():
        problems += chart_pull_problems(job, name)
    problems += setup_pull_problems(load(SETUP_ACTION))
    if not steps_using(gate, "actions/upload-artifact"):
        problems.append("offline-gate: the rendered objects and JSON plan are not uploaded")
    if "secrets." in yaml.safe_dump(gate) or gate.get("permissions", {}).get("id-token"):
        problems.append("offline-gate: must use no secrets and no OIDC (it is the gate for forks)")

    preview = jobs.get("preview")
    if preview is None:
        return problems + ["preview: no preview job"]
    needs = preview.get("needs", [])
    needs = [needs] if isinstance(needs, str) else needs
    if not {"offline-gate", "tests"} <= set(needs):
        problems.append("preview: must need the offline-gate and tests jobs")
    if expr(preview.get("if")) != FORK_GUARD:
        problems.append(f"preview: must be skipped for forks: if: {FORK_GUARD}")
    matrix = preview.get("strategy", {}).get("matrix", {})
    preview_stacks = {entry["stack"] for entry in matrix.get("include", [])} | set(matrix.get("stack", []))
    if preview_stacks != CLOUD_STACKS:
        problems.append(f"preview: matrix stacks {sorted(preview_stacks)} != {sorted(CLOUD_STACKS)}")
    problems += pulumi_step_problems(preview, "preview", "preview", "${{ matrix.stack }}")
    step = (steps_using(preview, "pulumi/actions") or [{}])[0]
    if not truthy(step.get("with", {}).get("comment-on-pr")):
        problems.append("preview: pulumi/actions must post the preview: comment-on-pr: true")
    if preview.get("permissions", {}).get("pull-requests") != "write":
        problems.append("preview: needs permissions pull-requests: write to comment")
    group = str(preview.get("concurrency", {}).get("group", ""))
    if "github.event.pull_request.number" not in group or "matrix.stack" not in group:
        problems.append("preview: concurrency group must be per PR and stack")
    return problems


SETUP_ACTION = GITHUB / "actions" / "setup" / "action.yml"


def setup_pull_problems(action: dict) -> list[str]:
    """The shared setup action caches (keyed on the chart lock) and then pulls the locked charts into the
    checkout's default chart directory, which the plan, the tests and the pack read without AI_PLATFORM_CHARTS."""
    steps = action.get("runs", {}).get("steps", [])
    pull = next((i for i, s in enumerate(steps) if "-m tools.charts pull" in s.get("run", "")), None)
    if pull is None or "--dest" in steps[pull]["run"]:
        return ["setup: must run `python -m tools.charts pull` into the default .cache/charts (no ../shared/charts "
                "on GitHub)"]
    cache = steps_using({"steps": steps}, "actions/cache")
    if not cache or "charts.lock.yaml" not in str(cache[0].get("with", {}).get("key", "")) \
            or ".cache/charts" not in str(cache[0].get("with", {}).get("path", "")) or steps.index(cache[0]) > pull:
        return ["setup: the pulled charts must be cached (actions/cache keyed on charts.lock.yaml) before the pull"]
    return []


def chart_pull_problems(job: dict, name: str) -> list[str]:
    """A job that renders charts (the plan, the tests, the pack under the Pulumi CLI) runs the setup action, which
    pulls them, before its first such step."""
    steps = job.get("steps", [])
    setup = next((i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/setup"), None)
    render = next((i for i, s in enumerate(steps)
                   if "-m tools.plan" in s.get("run", "") or "-m pytest" in s.get("run", "")
                   or str(s.get("uses", "")).startswith("pulumi/actions")), None)
    if render is not None and (setup is None or setup > render):
        return [f"{name}: must use ./.github/actions/setup (it runs `python -m tools.charts pull`) before rendering "
                "charts"]
    return []


def object_diff_problems(doc: dict) -> list[str]:
    """`tools.plan --diff` against the PR's base: in the offline gate's summary for every PR (forks
    included, no write token), posted as a comment only from the fork-guarded preview job."""
    problems, jobs = [], doc.get("jobs", {})

    def diff_steps(job: dict) -> list[dict]:
        return [s for s in job.get("steps", []) if re.search(r"tools\.plan .*--diff HEAD\^1", s.get("run", ""))]

    for name in ("offline-gate", "preview"):
        job = jobs.get(name, {})
        if not diff_steps(job):
            problems.append(f"{name}: no step runs tools.plan --diff HEAD^1 (the merge commit's base)")
        depth = [str(s.get("with", {}).get("fetch-depth", 1)) for s in steps_using(job, "actions/checkout")]
        if not depth or depth[0] not in ("0", "2"):
            problems.append(f"{name}: checkout needs fetch-depth: 2 for HEAD^1 to exist")
    if not any("GITHUB_STEP_SUMMARY" in s.get("run", "") for s in diff_steps(jobs.get("offline-gate", {}))):
        problems.append("offline-gate: the object diff must go to the job summary (forks get no comment)")
    for name, job in jobs.items():
        commenting = any("gh api" in s.get("run", "") and "comments" in s.get("run", "") for s in job.get("steps", []))
        if commenting and expr(job.get("if")) != FORK_GUARD:
            problems.append(f"{name}: posts a PR comment but is not guarded against forks")
    return problems


def deploy_problems(doc: dict) -> list[str]:
    problems = []
    on = doc.get("on") or {}
    if "main" not in ((on.get("push") or {}).get("branches") or []):
        problems.append("deploy: must run on push to main")
    if "workflow_dispatch" not in on:
        problems.append("deploy: must allow workflow_dispatch")
    jobs = doc.get("jobs", {})
    dev, prod = jobs.get("dev"), jobs.get("prod")
    if dev is None or prod is None:
        return problems + ["deploy: needs jobs dev and prod"]
    if "refs/heads/main" not in expr(dev.get("if")):
        problems.append("deploy: dev must only deploy main (workflow_dispatch can name any branch)")
    needs = prod.get("needs", [])
    if "dev" not in ([needs] if isinstance(needs, str) else needs):
        problems.append("deploy: prod must need dev")
    if environment_name(prod) != "production":
        problems.append("deploy: prod must run in environment production (required reviewers)")
    if environment_name(dev) != "dev":
        problems.append("deploy: dev must run in environment dev")
    groups = []
    for name, stack in (("dev", "dev"), ("prod", "prod")):
        job = jobs[name]
        problems += pulumi_step_problems(job, name, "up", stack)
        concurrency = job.get("concurrency") or {}
        groups.append(concurrency.get("group"))
        if concurrency.get("cancel-in-progress") is not False:
            problems.append(f"deploy: {name} must never cancel a running update (cancel-in-progress: false)")
    if None in groups or len(set(groups)) != 2:
        problems.append("deploy: each stack needs its own concurrency group")
    return problems


def pin_problems(text: str, label: str) -> list[str]:
    """Every remote `uses:` is pinned to the recorded commit SHA (with its tag as a comment)."""
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(?:#\s*(\S+))?", line)
        if not match:
            continue
        ref, comment = match.groups()
        where = f"{label}:{number}"
        if ref.startswith("./"):
            continue
        action, _, version = ref.partition("@")
        if not (SHA.match(version) or EXACT_VERSION.match(version)):
            problems.append(f"{where}: {ref} is not pinned to a commit SHA or an exact version")
            continue
        if action not in PINNED_ACTIONS:
            problems.append(f"{where}: {action} is not in PINNED_ACTIONS (record its SHA, tag and inputs)")
            continue
        sha, tag, _ = PINNED_ACTIONS[action]
        if version != sha or comment != tag:
            problems.append(f"{where}: {ref} # {comment} != recorded {action}@{sha} # {tag}")
    return problems


def all_steps(doc: dict) -> list[dict]:
    if "runs" in doc:
        return doc["runs"].get("steps", [])
    return [s for job in doc.get("jobs", {}).values() for s in job.get("steps", [])]


def secret_problems(doc: dict, name: str) -> list[str]:
    """Secrets reach only the env of an action step, never a shell script or a job/workflow env."""
    problems = []
    for scope_name, env in [("workflow", doc.get("env"))] + [
            (f"job {j}", job.get("env")) for j, job in doc.get("jobs", {}).items()]:
        if "secrets." in yaml.safe_dump(env or {}):
            problems.append(f"{name}: {scope_name} env exposes a secret to every step")
    secret_env = set()
    for step in all_steps(doc):
        for key, value in (step.get("env") or {}).items():
            if "secrets." in str(value):
                secret_env.add(key)
                if "run" in step:
                    problems.append(f"{name}: step {step.get('name')!r} passes {key} to a shell script")
    for step in all_steps(doc):
        script = step.get("run", "")
        if "secrets." in script:
            problems.append(f"{name}: step {step.get('name')!r} expands a secret into a shell script")
        for key in secret_env:
            if re.search(rf"\${{?{key}\b", script):
                problems.append(f"{name}: step {step.get('name')!r} reads ${key}")
    return problems


# ------------------------------------------------------------- prod runner vs. the EKS endpoint

# `fromJSON(vars.NAME || '<default JSON list>')`: the labels come from a repository variable, with a default.
RUNS_ON_VARIABLE = re.compile(r"^fromJSON\(vars\.([A-Za-z0-9_]+) \|\| '(\[.*\])'\)$")


def runner_labels(runs_on) -> tuple[str | None, list[str]]:
    """(the variable that overrides the labels or None, the labels without it); labels [] when unknown."""
    if isinstance(runs_on, list):
        return None, [str(label) for label in runs_on]
    text = expr(runs_on)
    match = RUNS_ON_VARIABLE.match(text)
    if match:
        return match.group(1), json.loads(match.group(2))
    return None, [] if "${{" in str(runs_on) else [text]


def prod_eks(doc: dict | None = None) -> dict:
    """`cluster.eks` of Pulumi.prod.yaml (the stack the prod job deploys)."""
    config = doc if doc is not None else yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())
    return config["config"]["ai-platform:cluster"].get("eks") or {}


def prod_runner_problems(doc: dict, eks: dict) -> list[str]:
    """The prod job runs where it can reach the prod stack's EKS endpoint (docs/clusters.md, "Deploying prod")."""
    prod = doc.get("jobs", {}).get("prod") or {}
    problems = []
    raw = str(prod.get("runs-on", ""))
    if "inputs." in raw or "github.event" in raw:
        problems.append("deploy: prod runs-on must not come from workflow inputs or the event (a dispatcher could "
                        "send prod credentials to any runner); use a repository variable")
    _, labels = runner_labels(prod.get("runs-on"))
    if eks.get("publicEndpoint"):
        if not eks.get("publicAccessCidrs"):
            problems.append("Pulumi.prod.yaml: a public endpoint needs cluster.eks.publicAccessCidrs (the runner's "
                            "egress addresses)")
    else:
        if "self-hosted" not in labels:
            problems.append(f"deploy: prod runs on {labels or prod.get('runs-on')}, a GitHub-hosted runner that cannot "
                            "reach the private EKS endpoint of Pulumi.prod.yaml; run it on a self-hosted runner in "
                            "the VPC")
        if not eks.get("privateAccessCidrs"):
            problems.append("Pulumi.prod.yaml: cluster.eks.privateAccessCidrs is empty, so the cluster security group "
                            "admits no runner to the private endpoint")
    steps = prod.get("steps", [])
    pulumi_at = next((i for i, st in enumerate(steps) if str(st.get("uses", "")).startswith("pulumi/actions")), None)
    probe_at = next((i for i, st in enumerate(steps) if "aws eks describe-cluster" in st.get("run", "")), None)
    if probe_at is None or pulumi_at is None or probe_at > pulumi_at:
        problems.append("deploy: prod must check that the runner reaches the cluster endpoint before pulumi up")
    return problems


# ------------------------------------------------------------------------------------ zizmor


def zizmor() -> str:
    candidate = Path(sys.executable).parent / "zizmor"
    found = str(candidate) if candidate.exists() else shutil.which("zizmor")
    assert found, "zizmor is not installed: pip install -r requirements-dev.txt"
    return found


def run_zizmor(*paths: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    return subprocess.run(
        [zizmor(), "--offline", "--strict-collection", "--no-progress", "--color", "never",
         "--config", str(ZIZMOR_CONFIG), *map(str, paths)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_workflow_files_exist():
    assert {p.name for p in WORKFLOWS} >= {"preview.yml", "deploy.yml"}
    assert ACTIONS, "the shared composite action .github/actions/setup/action.yml is missing"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_zizmor_passes(path):
    result = run_zizmor(path)
    assert result.returncode == 0, f"zizmor {path.relative_to(ROOT)}:\n{result.stdout}\n{result.stderr}"


def test_zizmor_rejects_a_broken_workflow(tmp_path):
    """The linter is not a no-op: a schema error and an unpinned third-party action both fail."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    typo = workflows / "typo.yml"
    typo.write_text("on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-onn: ubuntu-24.04\n"
                    "    steps:\n      - run: echo hi\n")
    assert run_zizmor(typo).returncode != 0
    unpinned = workflows / "unpinned.yml"
    unpinned.write_text("on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n"
                        "    steps:\n      - uses: pulumi/actions@main\n        with: {command: preview}\n")
    result = run_zizmor(unpinned)
    assert result.returncode != 0 and "unpinned-uses" in result.stdout


def test_zizmor_is_pinned():
    assert re.search(r"^zizmor==\d+\.\d+\.\d+$", (ROOT / "requirements-dev.txt").read_text(), re.M)


# ------------------------------------------------------------------------- structure: gating


def test_preview_gates_every_pull_request():
    assert preview_problems(load(GITHUB / "workflows" / "preview.yml")) == []


def test_pull_requests_get_the_object_diff():
    assert object_diff_problems(load(GITHUB / "workflows" / "preview.yml")) == []


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["jobs"]["offline-gate"]["steps"][0]["with"].pop("fetch-depth"), "offline-gate: checkout needs "
                                                                                 "fetch-depth"),
    (lambda d: d["jobs"]["preview"].pop("if"), "preview: posts a PR comment but is not guarded"),
    (lambda d: d["jobs"]["offline-gate"].update(steps=[s for s in d["jobs"]["offline-gate"]["steps"]
                                                       if "--diff" not in s.get("run", "")]), "offline-gate: no step"),
])
def test_object_diff_checks_catch_a_broken_workflow(change, expected):
    assert any(expected in p for p in object_diff_problems(mutated("preview.yml", change)))


def test_deploy_gates_prod_behind_dev_and_approval():
    assert deploy_problems(load(GITHUB / "workflows" / "deploy.yml")) == []


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_is_pinned_to_a_recorded_commit(path):
    assert pin_problems(path.read_text(), str(path.relative_to(ROOT))) == []


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_action_inputs_are_ones_the_action_declares(path):
    for step in all_steps(load(path)):
        action = str(step.get("uses", "")).split("@")[0]
        if action not in PINNED_ACTIONS:
            continue
        given = set(step.get("with") or {})
        unknown = given - PINNED_ACTIONS[action][2]
        assert not unknown, f"{path.name}: {action} inputs {sorted(unknown)} not checked against its action.yml"
        missing = REQUIRED_INPUTS.get(action, set()) - given
        assert not missing, f"{path.name}: {action} needs {sorted(missing)}"


def test_local_action_inputs_are_declared():
    declared = {p.parent.name: set(load(p).get("inputs") or {}) for p in ACTIONS}
    for path in WORKFLOWS:
        for step in all_steps(load(path)):
            uses = str(step.get("uses", ""))
            if uses.startswith("./.github/actions/"):
                name = uses.rstrip("/").split("/")[-1]
                assert name in declared, f"{path.name}: {uses} does not exist"
                assert set(step.get("with") or {}) <= declared[name], f"{path.name}: {uses} {step.get('with')}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_secret_is_echoed(path):
    assert secret_problems(load(path), path.name) == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_jobs_have_timeouts_and_least_privilege(path):
    doc = load(path)
    assert doc.get("permissions") == {}, f"{path.name}: default the token to no permissions; grant per job"
    for name, job in doc["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: job {name} has no timeout-minutes"
        assert "permissions" in job, f"{path.name}: job {name} must declare its permissions"
        for step in steps_using(job, "actions/checkout"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}: {name} checkout"


def test_setup_action_matches_the_readme_and_the_pack():
    """The composite action installs .venv as the README does and builds policy/venv from the pack."""
    steps = load(GITHUB / "actions" / "setup" / "action.yml")["runs"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert any("python3 -m venv .venv && .venv/bin/pip install -q -r requirements-dev.txt" in r for r in runs)
    venv = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    assert any(f"cd policy && python3 -m venv {venv} && {venv}/bin/pip install" in r and "requirements.txt" in r
               for r in runs)
    python = steps_using({"steps": steps}, "actions/setup-python")[0]["with"]
    assert str(python["python-version"]) == "3.11" and python["cache"] == "pip"


def test_every_stack_has_a_policy_config():
    for stack in stacks():
        assert (ROOT / "policy" / "config" / f"{stack}.json").exists(), stack


# ------------------------------------------------------- the checks catch a broken gate


def drop_setup(doc: dict, job: str) -> None:
    steps = doc["jobs"][job]["steps"]
    steps.pop(next(i for i, s in enumerate(steps) if s.get("uses") == "./.github/actions/setup"))


def mutated(path: str, change) -> dict:
    doc = load(GITHUB / "workflows" / path)
    change(doc)
    return doc


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["jobs"]["preview"].pop("if"), "skipped for forks"),
    (lambda d: d["jobs"]["preview"]["steps"][-1]["with"].pop("policyPacks"), "policyPacks: policy"),
    (lambda d: d["jobs"]["preview"]["steps"][-1]["with"].update({"comment-on-pr": False}), "comment-on-pr"),
    (lambda d: d["jobs"]["preview"]["steps"][-1]["with"].pop("policyPackConfigs"), "policyPackConfigs"),
    (lambda d: d["jobs"]["offline-gate"]["strategy"]["matrix"]["stack"].remove("local"), "matrix stacks"),
    (lambda d: d["jobs"]["preview"].update({"needs": ["tests"]}), "need the offline-gate"),
    (lambda d: d.update({"on": {"pull_request_target": {}}}), "does not run on pull_request"),
    (lambda d: drop_setup(d, "offline-gate"), "offline-gate: must use ./.github/actions/setup"),
    (lambda d: drop_setup(d, "tests"), "tests: must use ./.github/actions/setup"),
    (lambda d: drop_setup(d, "preview"), "preview: must use ./.github/actions/setup"),
    (lambda d: [s.update({"run": s["run"].replace(" --require-charts", "")}) for s in d["jobs"]["offline-gate"]["steps"]
                if "run" in s], "--require-charts"),
])
def test_preview_checks_catch_a_broken_gate(change, expected):
    problems = preview_problems(mutated("preview.yml", change))
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("change, expected", [
    (lambda d: d["jobs"]["prod"].pop("environment"), "environment production"),
    (lambda d: d["jobs"]["prod"].pop("needs"), "prod must need dev"),
    (lambda d: d["jobs"]["prod"]["concurrency"].update({"cancel-in-progress": True}), "never cancel"),
    (lambda d: d["jobs"]["dev"]["steps"][-1]["with"].pop("policyPacks"), "policyPacks: policy"),
])
def test_deploy_checks_catch_a_broken_gate(change, expected):
    problems = deploy_problems(mutated("deploy.yml", change))
    assert any(expected in p for p in problems), problems


def test_pin_and_secret_checks_catch_violations():
    text = ("jobs:\n  a:\n    env:\n      T: ${{ secrets.T }}\n    steps:\n"
            "      - uses: pulumi/actions@main\n"
            "      - uses: pulumi/actions@v7 # v7\n"
            "      - uses: pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d # v6.6.1\n"
            "      - run: echo ${{ secrets.PULUMI_ACCESS_TOKEN }}\n"
            "      - run: echo $TOKEN\n        env:\n          TOKEN: ${{ secrets.X }}\n")
    pins = pin_problems(text, "bad.yml")
    assert [p.split(":")[1] for p in pins] == ["6", "7", "8"], pins
    secrets = secret_problems(yaml.safe_load(text), "bad.yml")
    assert any("job a env" in p for p in secrets)
    assert any("expands a secret" in p for p in secrets)
    assert any("passes TOKEN" in p for p in secrets)


# ------------------------------------------------------------- prod runner vs. the EKS endpoint


def test_prod_deploys_from_where_the_endpoint_is_reachable():
    doc = load(GITHUB / "workflows" / "deploy.yml")
    assert prod_runner_problems(doc, prod_eks()) == []
    variable, labels = runner_labels(doc["jobs"]["prod"]["runs-on"])
    assert variable == "PROD_RUNNER_LABELS" and labels[0] == "self-hosted"
    # docs/clusters.md documents the variable and the default labels the workflow uses.
    clusters_doc = (ROOT / "docs" / "clusters.md").read_text()
    assert variable in clusters_doc and json.dumps(labels) in clusters_doc


def test_runner_labels_are_read_from_the_expression():
    assert runner_labels("${{ fromJSON(vars.X || '[\"self-hosted\", \"gpu\"]') }}") == ("X", ["self-hosted", "gpu"])
    assert runner_labels("ubuntu-24.04") == (None, ["ubuntu-24.04"])
    assert runner_labels(["self-hosted", "linux"]) == (None, ["self-hosted", "linux"])
    assert runner_labels("${{ matrix.os }}") == (None, [])


@pytest.mark.parametrize("change, eks_change, expected", [
    (lambda d: d["jobs"]["prod"].update({"runs-on": "ubuntu-24.04"}), {}, "GitHub-hosted runner that cannot reach"),
    (lambda d: d["jobs"]["prod"].update({"runs-on": "${{ fromJSON(inputs.labels) }}"}), {}, "must not come from"),
    (lambda d: None, {"privateAccessCidrs": []}, "privateAccessCidrs is empty"),
    (lambda d: None, {"publicEndpoint": True, "publicAccessCidrs": []}, "needs cluster.eks.publicAccessCidrs"),
    (lambda d: d["jobs"]["prod"].update(steps=[s for s in d["jobs"]["prod"]["steps"]
                                               if "aws eks describe-cluster" not in s.get("run", "")]), {},
     "reaches the cluster endpoint"),
])
def test_prod_runner_checks_catch_a_mismatch(change, eks_change, expected):
    eks = dict(prod_eks(), **eks_change)
    problems = prod_runner_problems(mutated("deploy.yml", change), eks)
    assert any(expected in p for p in problems), problems


def test_a_public_endpoint_limited_to_cidrs_may_use_any_runner():
    doc = mutated("deploy.yml", lambda d: d["jobs"]["prod"].update({"runs-on": "ubuntu-24.04"}))
    assert prod_runner_problems(doc, {"publicEndpoint": True, "publicAccessCidrs": ["203.0.113.0/24"]}) == []


@pytest.mark.parametrize("change, expected", [
    (lambda a: a["runs"]["steps"].pop(next(i for i, s in enumerate(a["runs"]["steps"])
                                           if "tools.charts pull" in s.get("run", ""))), "must run"),
    (lambda a: a["runs"]["steps"].pop(next(i for i, s in enumerate(a["runs"]["steps"])
                                           if str(s.get("uses", "")).startswith("actions/cache"))), "cached"),
    (lambda a: [s.update({"run": s["run"] + " --dest /tmp/x"}) for s in a["runs"]["steps"]
                if "tools.charts pull" in s.get("run", "")], "default .cache/charts"),
])
def test_the_setup_action_check_catches_a_broken_chart_pull(change, expected):
    action = load(SETUP_ACTION)
    assert setup_pull_problems(action) == []
    change(action)
    assert any(expected in p for p in setup_pull_problems(action))


def test_every_job_that_renders_charts_uses_the_setup_action():
    for path in WORKFLOWS:
        for name, job in load(path)["jobs"].items():
            assert chart_pull_problems(job, name) == [], (path.name, name)
