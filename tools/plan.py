"""Offline plan: what `pulumi up` would build, with no Pulumi CLI, cloud or cluster.

    python -m tools.plan --stack <name> [--render DIR] [--json] [--policy-config FILE] [--diff REF]

Runs the real `__main__.py` under Pulumi's mock engine with Pulumi.<name>.yaml and prints the
resource tree by component, counts per resource type, the capacity/cost report and the verdict
of every policy in policy/. `--render DIR` writes each Kubernetes object as YAML (one file per
object). `--diff REF` prints, instead of the report, the object-level difference between the stack
at git REF and the working tree (tools/diff.py). Exit codes: 0 ok, 1 a mandatory policy failed,
2 invalid config (or a REF that cannot be planned), 3 program error.
Secrets are never printed or rendered: they show as "[secret]".
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import traceback
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Optional

import yaml

from config.errors import ConfigError

from . import mockrun
from .policy_eval import Verdict, evaluate

EXIT_OK, EXIT_POLICY, EXIT_CONFIG, EXIT_ERROR = 0, 1, 2, 3


# ------------------------------------------------------------------------------- Kubernetes YAML


def k8s_object(r: mockrun.Recorded) -> Optional[dict]:
    """The Kubernetes manifest of a recorded typed resource (None for non-Kubernetes resources)."""
    if not r.custom or not r.type.startswith("kubernetes:") or r.type.startswith("kubernetes:helm.sh"):
        return None
    group_version, kind = r.type.split(":")[1], r.type.split(":")[2]
    group, version = group_version.split("/")
    api_version = version if group == "core" else f"{group}/{version}"
    body = {k: v for k, v in mockrun.redact(r.inputs).items() if k not in ("apiVersion", "kind")}
    meta = dict(body.pop("metadata", None) or {})
    out_meta = (r.outputs.get("metadata") or {})
    meta.setdefault("name", out_meta.get("name", r.name))
    if "namespace" in out_meta:
        meta.setdefault("namespace", out_meta["namespace"])
    return _integers({"apiVersion": api_version, "kind": kind, "metadata": meta, **body})


def _integers(value: Any) -> Any:
    """The engine sends every number as a float; Kubernetes objects hold integers (ports, replicas)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integers(v) for v in value]
    return value


def render(resources: list[mockrun.Recorded], directory: Path) -> list[Path]:
    """Write one YAML file per Kubernetes object; returns the paths written."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    written = []
    for index, r in enumerate(x for x in resources if k8s_object(x) is not None):
        obj = k8s_object(r)
        ns = obj["metadata"].get("namespace", "_cluster")
        path = directory / f"{index:03d}-{obj['kind'].lower()}-{ns}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written


# ------------------------------------------------------------------------------------- report


def tree_lines(resources: list[mockrun.Recorded]) -> list[str]:
    children: dict[Optional[str], list[mockrun.Recorded]] = defaultdict(list)
    urns = {r.urn for r in resources}
    for r in resources:
        children[r.parent if r.parent in urns else None].append(r)
    lines: list[str] = []

    def walk(parent: Optional[str], depth: int) -> None:
        for r in children.get(parent, []):
            marker = "" if r.custom else "  [component]"
            lines.append(f"{'  ' * depth}{r.type}  {r.name}{marker}")
            walk(r.urn, depth + 1)

    walk(None, 0)
    return lines


def capacity_lines(capacity: dict, monthly: dict) -> list[str]:
    lines = ["models:"]
    header = f"  {'name':<14}{'engine':<8}{'pool':<12}{'unit':<20}{'need/unit':>10}{'usable':>9}{'repl':>8}{'$/mo min':>11}{'$/mo max':>11}"
    lines.append(header)
    for name, m in capacity.get("models", {}).items():
        lines.append(
            f"  {name:<14}{m['engine']:<8}{str(m['pool'] or 'cpu'):<12}{m['unit']:<20}"
            f"{m['needPerUnitGib']:>9.1f}G{m['usablePerUnitGib']:>8.1f}G{m['minReplicas']:>4}-{m['maxReplicas']:<3}"
            f"{m['monthlyUsdMin']:>11,.0f}{m['monthlyUsdMax']:>11,.0f}"
            + ("  (estimated shape)" if m.get("estimated") else "")
            + (f"  + fallback {m['minReplicas']} on {m['fallbackPool']} (on-demand) ${m['fallbackMonthlyUsd']:,.0f}/mo"
               if m.get("fallbackPool") else ""))
    lines.append("pools:")
    lines.append(f"  {'name':<12}{'gpu':<11}{'capacity':<10}{'machine':<18}{'nodes':>7}{'needed':>8}{'GPUs':>8}{'$/node-h':>10}{'$/mo max':>12}")
    for name, p in capacity.get("pools", {}).items():
        lines.append(
            f"  {name:<12}{p['gpu']:<11}{p['capacity']:<10}{str(p['machineType'] or '-'):<18}"
            f"{p['minNodes']:>3}-{p['maxNodes']:<3}{p['nodesNeededMin']:>3}-{p['nodesNeededMax']:<4}"
            f"{p['gpusMin']:>3}-{p['gpusMax']:<4}{p['usdPerNodeHour']:>10.2f}{p['monthlyUsdMax']:>12,.0f}")
    t = capacity.get("totals", {})
    lines.append(f"totals: GPUs {t.get('gpusMin', 0)}-{t.get('gpusMax', 0)}; monthly ${monthly.get('minUsd', 0):,.0f} at pool min, "
                 f"${monthly.get('maxUsd', 0):,.0f} at pool max (on-demand ${monthly.get('onDemandMaxUsd', 0):,.0f}, "
                 f"spot ${monthly.get('spotMaxUsd', 0):,.0f}); prices as of {capacity.get('pricesAsOf')}")
    return lines


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    lines = []
    for v in verdicts:
        state = "n/a " if v.not_applicable else "pass" if v.passed else "FAIL" if v.blocking else "warn"
        lines.append(f"  [{state}] {v.name} ({v.enforcement})")
        for violation in v.violations:
            where = f" [{violation.urn.split('::')[-1]}]" if violation.urn else ""
            lines.append(f"         - {violation.message}{where}")
    return lines


def report(result: mockrun.RunResult, verdicts: list[Verdict]) -> str:
    outputs = mockrun.redact(result.outputs)
    lines = [f"stack {result.stack}: {len(result.resources)} resources", "", "resource tree:"]
    lines += ["  " + line for line in tree_lines(result.resources)]
    lines += ["", "resources by type:"]
    for t, n in sorted(Counter(r.type for r in result.resources).items()):
        lines.append(f"  {n:>4}  {t}")
    lines += ["", "capacity and cost:"]
    lines += ["  " + line for line in capacity_lines(outputs.get("capacity", {}), outputs.get("monthlyCost", {}))]
    lines += ["", "stack outputs:"]
    for name in sorted(outputs):
        if name in ("capacity", "monthlyCost"):
            continue
        value = "[secret]" if name in result.secret_outputs else json.dumps(outputs[name])
        lines.append(f"  {name}: {value}")
    lines += ["", "policies:"] + verdict_lines(verdicts)
    blocking = [v.name for v in verdicts if v.blocking]
    lines += ["", f"result: {'FAILED (mandatory policy: ' + ', '.join(blocking) + ')' if blocking else 'ok'}"]
    return "\n".join(lines)


def as_json(result: mockrun.RunResult, verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent} for r in result.resources],
        "counts": dict(sorted(Counter(r.type for r in result.resources).items())),
        "outputs": {k: ("[secret]" if k in result.secret_outputs else v) for k, v in mockrun.redact(result.outputs).items()},
        "policies": [{"name": v.name, "enforcement": v.enforcement, "passed": v.passed, "notApplicable": v.not_applicable,
                      "violations": [{"message": x.message, "urn": x.urn} for x in v.violations]} for v in verdicts],
        "ok": not any(v.blocking for v in verdicts),
    }


# ------------------------------------------------------------------------------------ --diff


def _diff_base(ref: str, stack: str) -> Any:
    """Start planning the stack at REF in the background (a diff.Base); False after printing one error line."""
    from . import diff

    try:
        return diff.Base(ref, stack)
    except diff.DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return False


def _print_diff(base: Any, result: mockrun.RunResult, values: dict[str, Any], code: int, as_json_: bool) -> int:
    """Print the object diff instead of the report; returns the plan's exit `code` (2 if REF cannot be planned)."""
    from . import diff

    try:
        d = diff.compare(base, result, values)
    except diff.DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(json.dumps(d, indent=2) if as_json_ else diff.as_text(d))
    if code != EXIT_OK:
        print(f"the plan of the working tree fails (exit code {code}): "
              f"`python -m tools.plan --stack {base.stack}` shows why", file=sys.stderr)
    return code


# --------------------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="local", help="stack name: reads Pulumi.<stack>.yaml (default: local)")
    parser.add_argument("--stack-file", type=Path, help="plan this stack file instead (its name gives the stack)")
    parser.add_argument("--render", type=Path, metavar="DIR", help="write every Kubernetes object as YAML into DIR")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy pack config JSON (same file as `pulumi preview --policy-pack-config`)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of program errors")
    parser.add_argument("--diff", metavar="REF",
                        help="print the object-level difference between the stack at git REF and the working tree")
    args = parser.parse_args(argv)
    if args.diff and args.stack_file:
        parser.error("--diff compares Pulumi.<stack>.yaml at REF with the working tree: use --stack")
    diff_base = _diff_base(args.diff, args.stack) if args.diff else None
    if diff_base is False:
        return EXIT_CONFIG

    stack, root = args.stack, mockrun.ROOT
    if args.stack_file:
        name = args.stack_file.name
        if not (name.startswith("Pulumi.") and name.endswith(".yaml")):
            parser.error("--stack-file must be named Pulumi.<stack>.yaml")
        stack, root = name[len("Pulumi."):-len(".yaml")], args.stack_file.resolve().parent
    path = mockrun.stack_file(stack, root)
    if not path.exists():
        print(f"error: {path.name} not found; stacks here: {', '.join(mockrun.available_stacks()) or 'none'}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        values, secrets = mockrun.stack_config(stack, root)
    except yaml.YAMLError as exc:
        print(f"error: {path.name} is not valid YAML: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    result = mockrun.run_program(stack, values, secrets)
    if isinstance(result.error, ConfigError):
        print(str(result.error), file=sys.stderr)
        return EXIT_CONFIG
    if result.error is not None:
        print(f"error: the program failed: {type(result.error).__name__}: {result.error}", file=sys.stderr)
        if args.debug:
            traceback.print_exception(result.error)
        return EXIT_ERROR

    pack_config = json.loads(args.policy_config.read_text()) if args.policy_config else {}
    verdicts = evaluate(result.resources, pack_config)
    if args.render:
        written = render(result.resources, args.render)
        print(f"rendered {len(written)} Kubernetes objects into {args.render}", file=sys.stderr)
    code = EXIT_POLICY if any(v.blocking for v in verdicts) else EXIT_OK
    if args.diff:
        return _print_diff(diff_base, result, values, code, args.json)
    print(json.dumps(as_json(result, verdicts), indent=2) if args.json else report(result, verdicts))
    return code


if __name__ == "__main__":
    sys.exit(main())
