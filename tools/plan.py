"""Offline plan: what `pulumi up` would build, with no Pulumi CLI, cloud or cluster.

    python -m tools.plan --stack <name> [--render DIR] [--json] [--policy-config FILE] [--no-charts]

Runs the real `__main__.py` under Pulumi's mock engine with Pulumi.<name>.yaml and prints the
resource tree by component, counts per resource type, the capacity/cost report and the verdict
of every policy in policy/. Every Helm Release is rendered with Helm (tools.render) and its objects
are shown under it; without chart archives the plan says so in one line. `--render DIR` writes
each Kubernetes object as YAML (one file per object; chart objects in `DIR/helm/<release>/`).
Exit codes: 0 ok, 1 a mandatory policy failed, 2 invalid config, 3 program error (a chart that
fails to template with the program's values included).
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
from . import render as chart_render
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


# ------------------------------------------------------------------------------ Helm charts


def render_charts(result: mockrun.RunResult, values: dict[str, Any]) -> chart_render.StackRender:
    """Every Release of the run rendered with Helm (objects or an error per Release; see tools.render)."""
    return chart_render.render_stack(result, chart_render.kube_version_of(values))


def release_lines(charts: Optional[chart_render.StackRender], urn: str) -> list[str]:
    """The objects a Release renders, as tree lines under it (or why there are none)."""
    rel = charts.by_urn().get(urn) if charts is not None else None
    if rel is None or charts.unavailable:
        return []
    if rel.error is not None:
        return [f"helm: NOT RENDERED: {rel.error.splitlines()[0]}"]
    return [f"helm: {o.label()}" for o in rel.objects]


def chart_count_lines(charts: Optional[chart_render.StackRender]) -> list[str]:
    """Chart objects by kind, or the one line saying why charts were not rendered."""
    if charts is None or not charts.releases:
        return []
    if charts.unavailable:
        return ["", charts.unavailable]
    rendered = [r for r in charts.releases if r.error is None]
    lines = ["", f"chart objects by kind ({len(charts.objects)} objects from {len(rendered)} of {len(charts.releases)} "
                 f"releases, Helm {charts.helm}, Kubernetes {charts.kube_version}):"]
    for kind, n in sorted(Counter(f"{o.api_version}/{o.kind}" for o in charts.objects).items()):
        lines.append(f"  {n:>4}  {kind}")
    for rel in charts.releases:
        if rel.error is not None:
            lines.append(f"  not rendered: {rel.error}")
        lines += [f"  helm warning ({rel.release}): {w}" for w in rel.warnings]
    return lines


def chart_failures(charts: Optional[chart_render.StackRender]) -> list[str]:
    """Why the plan fails because of charts (a chart that fails to template is a bug in its values)."""
    if charts is None or not charts.errors:
        return []
    return [f"{len(charts.errors)} chart(s) fail to template"]


def write_chart_objects(charts: Optional[chart_render.StackRender], directory: Path) -> list[Path]:
    """Write each chart object as YAML into DIR/helm/<release>/ (namespace-release when names repeat)."""
    if charts is None:
        return []
    names = Counter(r.release for r in charts.releases)
    written = []
    for rel in charts.releases:
        folder = directory / "helm" / (rel.release if names[rel.release] == 1 else f"{rel.namespace}-{rel.release}")
        for index, obj in enumerate(rel.objects):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{index:03d}-{obj.kind.lower()}-{obj.namespace or '_cluster'}-{obj.name}.yaml"
            path.write_text(f"# Source: {obj.source}\n" + yaml.safe_dump(obj.manifest, sort_keys=False))
            written.append(path)
    return written


# ------------------------------------------------------------------------------------- report


def tree_lines(resources: list[mockrun.Recorded], charts: Optional[chart_render.StackRender] = None) -> list[str]:
    children: dict[Optional[str], list[mockrun.Recorded]] = defaultdict(list)
    urns = {r.urn for r in resources}
    for r in resources:
        children[r.parent if r.parent in urns else None].append(r)
    lines: list[str] = []

    def walk(parent: Optional[str], depth: int) -> None:
        for r in children.get(parent, []):
            marker = "" if r.custom else "  [component]"
            lines.append(f"{'  ' * depth}{r.type}  {r.name}{marker}")
            lines.extend(f"{'  ' * (depth + 1)}{line}" for line in release_lines(charts, r.urn))
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


def report(result: mockrun.RunResult, verdicts: list[Verdict], charts: Optional[chart_render.StackRender] = None) -> str:
    outputs = mockrun.redact(result.outputs)
    lines = [f"stack {result.stack}: {len(result.resources)} resources", "", "resource tree:"]
    lines += ["  " + line for line in tree_lines(result.resources, charts)]
    lines += ["", "resources by type:"]
    for t, n in sorted(Counter(r.type for r in result.resources).items()):
        lines.append(f"  {n:>4}  {t}")
    lines += chart_count_lines(charts)
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
    failures = ([f"mandatory policy: {', '.join(blocking)}"] if blocking else []) + chart_failures(charts)
    lines += ["", f"result: {'FAILED (' + '; '.join(failures) + ')' if failures else 'ok'}"]
    return "\n".join(lines)


def as_json(result: mockrun.RunResult, verdicts: list[Verdict],
            charts: Optional[chart_render.StackRender] = None) -> dict[str, Any]:
    return {
        "stack": result.stack,
        "resources": [{"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent} for r in result.resources],
        "counts": dict(sorted(Counter(r.type for r in result.resources).items())),
        "outputs": {k: ("[secret]" if k in result.secret_outputs else v) for k, v in mockrun.redact(result.outputs).items()},
        "policies": [{"name": v.name, "enforcement": v.enforcement, "passed": v.passed, "notApplicable": v.not_applicable,
                      "violations": [{"message": x.message, "urn": x.urn} for x in v.violations]} for v in verdicts],
        "charts": charts.to_json() if charts is not None else None,
        "ok": not any(v.blocking for v in verdicts) and not (charts is not None and charts.errors),
    }


# --------------------------------------------------------------------------------------- main


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="local", help="stack name: reads Pulumi.<stack>.yaml (default: local)")
    parser.add_argument("--stack-file", type=Path, help="plan this stack file instead (its name gives the stack)")
    parser.add_argument("--render", type=Path, metavar="DIR", help="write every Kubernetes object as YAML into DIR")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy pack config JSON (same file as `pulumi preview --policy-pack-config`)")
    parser.add_argument("--no-charts", action="store_true", help="do not render the Helm releases")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of program errors")
    args = parser.parse_args(argv)

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
    charts = None if args.no_charts else render_charts(result, values)
    if args.render:
        written = render(result.resources, args.render)
        chart_files = write_chart_objects(charts, args.render)
        print(f"rendered {len(written)} Kubernetes objects and {len(chart_files)} chart objects into {args.render}",
              file=sys.stderr)
    print(json.dumps(as_json(result, verdicts, charts), indent=2) if args.json else report(result, verdicts, charts))
    if chart_failures(charts):
        return EXIT_ERROR
    return EXIT_POLICY if any(v.blocking for v in verdicts) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
