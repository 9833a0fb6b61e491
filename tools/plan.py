"""Offline plan: what `pulumi up` would build, with no Pulumi CLI, cloud or cluster.

    python -m tools.plan --stack <name> [--render DIR] [--json] [--policy-config FILE] [--diff REF] [--no-charts]
                         [--no-validate] [--require-charts]

Runs the real `__main__.py` under Pulumi's mock engine with Pulumi.<name>.yaml and prints the
verdict first (result line, policy failures and warnings, capacity and cost), then every policy
verdict, the stack outputs, counts per resource type and the resource tree by component. Every
Helm Release is rendered with Helm (tools.render) and its objects are shown under it; without
chart archives the plan says so in one line. `--render DIR` writes each Kubernetes object as YAML
(one file per object; chart objects in `DIR/helm/<release>/`). `--json` prints the plan (every
resource with its inputs, and `charts`) or, on any error, an error object. `--diff REF` prints,
instead of the report, the object-level difference between the stack at git REF and the working
tree (tools/diff.py). Once the charts are rendered, every object (the program's and every chart's
first-install objects) is validated strictly (tools.validate: the Kubernetes schemas of the stack's
version, the CRD schemas the rendered charts install); problems are listed in the report and under
`validation` in `--json` (`--no-validate` skips it; without rendered charts there is nothing to
validate custom resources against, so it is skipped and says so; `--require-charts`, the CI gate's
flag, makes that a failure). Exit codes: 0 ok, 1 the gate
failed (a mandatory policy failed, or an object fails strict validation), 2 invalid config or
arguments (or a REF that cannot be planned), 3 program error (a chart that fails to template with
the program's values included).
Secrets are never printed or rendered: they show as "[secret]".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import traceback
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import yaml

from config.errors import ConfigError
from config.throughput import PREFILL_MFU

from . import mockrun
from .policy_eval import PackConfigError, Verdict, evaluate, load_pack_config

EXIT_OK, EXIT_POLICY, EXIT_CONFIG, EXIT_ERROR = 0, 1, 2, 3
EXIT_VALIDATION = EXIT_POLICY
"""An object that would not be stored as written fails the gate like a mandatory policy."""
RENDER_MARKER = ".tools-plan-render"
"""Written into every --render directory: only a directory holding it is ever replaced."""


# ------------------------------------------------------------------------------- Kubernetes YAML


def k8s_object(r: mockrun.Recorded) -> dict | None:
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
    return mockrun.integers({"apiVersion": api_version, "kind": kind, "metadata": meta, **body})



def render_target_problem(directory: Path) -> str | None:
    """Why `--render DIR` cannot be used (None when it can): a file, or a directory with other content."""
    if not directory.exists():
        return None
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if any(directory.iterdir()) and not (directory / RENDER_MARKER).exists():
        return (f"{directory} is not a directory tools.plan rendered into (no {RENDER_MARKER}) and is not empty; "
                "name a new or empty directory")
    return None


def render(resources: list[mockrun.Recorded], directory: Path) -> list[Path]:
    """Write one YAML file per Kubernetes object; returns the paths written (replaces an earlier render)."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / RENDER_MARKER).write_text("written by python -m tools.plan --render; replaced by the next render\n")
    written = []
    for index, r in enumerate(x for x in resources if k8s_object(x) is not None):
        obj = k8s_object(r)
        ns = obj["metadata"].get("namespace", "_cluster")
        path = directory / f"{index:03d}-{obj['kind'].lower()}-{ns}-{obj['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(obj, sort_keys=False))
        written.append(path)
    return written


# ------------------------------------------------------------------------------ Helm charts


if TYPE_CHECKING:
    from . import render as chart_render


def render_charts(result: mockrun.RunResult, values: dict[str, Any]) -> chart_render.StackRender:
    """Every Release of the run rendered with Helm (objects or an error per Release; see tools.render).

    Imported here, not at the top: tools.diff plans older refs with these tools, whose program may
    predate the chart lock that tools.render reads."""
    from . import render as chart_render

    return chart_render.render_stack(result, chart_render.kube_version_of(values))


def release_lines(charts: chart_render.StackRender | None, urn: str) -> list[str]:
    """The objects a Release renders, as tree lines under it (or why there are none)."""
    rel = charts.by_urn().get(urn) if charts is not None else None
    if rel is None or charts.unavailable:
        return []
    if rel.error is not None:
        return [f"helm: NOT RENDERED: {rel.error.splitlines()[0]}"]
    return [f"helm: {o.label()}" for o in rel.objects]


def chart_count_lines(charts: chart_render.StackRender | None) -> list[str]:
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


def chart_failures(charts: chart_render.StackRender | None) -> list[str]:
    """Why the plan fails because of charts (a chart that fails to template is a bug in its values)."""
    if charts is None or not charts.errors:
        return []
    return [f"{len(charts.errors)} chart(s) fail to template"]


_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def write_chart_objects(charts: chart_render.StackRender | None, directory: Path) -> list[Path]:
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
            # libyaml's emitter: CRDs are megabytes, and the pure-Python one takes seconds per chart.
            text = yaml.dump(obj.manifest, Dumper=_Dumper, sort_keys=False)
            path.write_text(f"# Source: {obj.source}\n{text}")
            written.append(path)
    return written


# ---------------------------------------------------------------------------- strict validation


class Validation(NamedTuple):
    """What strict validation of the plan's objects found (tools.validate), or why it did not run."""

    report: Any  # tools.validate.StackValidation, None when skipped
    skipped: str | None = None
    required: bool = False
    """--require-charts: a validation that could not run (no charts rendered) fails the gate."""

    @property
    def problems(self) -> list:
        return list(self.report.problems) if self.report is not None else []

    def to_json(self) -> dict[str, Any]:
        if self.report is None:
            return {"skipped": self.skipped, "required": self.required, "problems": []}
        r = self.report
        return {"kubernetesVersion": r.kube_version, "objects": r.objects, "customResources": r.custom,
                "crdVersions": r.crds, "notes": list(r.notes), "problems": [p.to_dict() for p in r.problems]}


def validate_plan(result: mockrun.RunResult, charts: chart_render.StackRender | None,
                  required: bool = False) -> Validation:
    """Validate the program's objects and every chart object a first install creates, strictly, against the
    CRDs the rendered charts install (as tests/render/test_validate_rendered.py does)."""
    if charts is None or charts.unavailable:
        return Validation(None, "validation skipped: charts not rendered (the CRDs they install are the schemas "
                                "of custom resources)", required)
    from . import validate

    extra = [(rel.name, obj.manifest) for rel in charts.releases for obj in rel.objects if obj.on_install]
    return Validation(validate.validate_stack(result, None, extra=extra, read_archives=False))


def validation_lines(validation: Validation | None) -> list[str]:
    if validation is None:
        return []
    if validation.report is None:
        return [validation.skipped or "validation skipped"]
    r = validation.report
    lines = [f"validation: {r.objects} objects ({r.custom} custom resources) against Kubernetes {r.kube_version} "
             f"and {r.crds} installed CRD versions: {len(r.problems)} problem(s)"]
    return lines + [f"  - {p}" for p in r.problems]


def validation_failures(validation: Validation | None) -> list[str]:
    if validation is not None and validation.report is None and validation.required:
        return ["--require-charts: charts not rendered"]
    n = len(validation.problems) if validation is not None else 0
    return [f"{n} object(s) fail strict validation"] if n else []


# ------------------------------------------------------------------------------------- report


def tree_lines(resources: list[mockrun.Recorded], charts: chart_render.StackRender | None = None) -> list[str]:
    children: dict[str | None, list[mockrun.Recorded]] = defaultdict(list)
    urns = {r.urn for r in resources}
    for r in resources:
        children[r.parent if r.parent in urns else None].append(r)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in children.get(parent, []):
            marker = "" if r.custom else "  [component]"
            lines.append(f"{'  ' * depth}{r.type}  {r.name}{marker}")
            lines.extend(f"{'  ' * (depth + 1)}{line}" for line in release_lines(charts, r.urn))
            walk(r.urn, depth + 1)

    walk(None, 0)
    return lines


def capacity_lines(capacity: dict, monthly: dict) -> list[str]:
    lines = ["models:"]
    header = (f"  {'name':<14}{'engine':<8}{'pool':<12}{'unit':<20}"
              f"{'need/unit':>10}{'usable':>9}{'repl':>8}{'$/mo min':>11}{'$/mo max':>11}")
    lines.append(header)
    for name, m in capacity.get("models", {}).items():
        lines.append(
            f"  {name:<14}{m['engine']:<8}{m['pool'] or 'cpu'!s:<12}{m['unit']:<20}"
            f"{m['needPerUnitGib']:>9.1f}G{m['usablePerUnitGib']:>8.1f}G{m['minReplicas']:>4}-{m['maxReplicas']:<3}"
            f"{m['monthlyUsdMin']:>11,.0f}{m['monthlyUsdMax']:>11,.0f}"
            + ("  (estimated shape)" if m.get("estimated") else "")
            + (f"  + fallback {m['minReplicas']}-{m['fallbackMaxReplicas']} on {m['fallbackPool']} (on-demand) "
               f"${m['fallbackMonthlyUsd']:,.0f}-{m['fallbackMonthlyUsdMax']:,.0f}/mo"
               if m.get("fallbackPool") else ""))
        lines += [f"    note: {note}" for note in m.get("notes", [])]
    lines += throughput_lines(capacity)
    lines.append("pools:")
    lines.append(f"  {'name':<12}{'gpu':<11}{'capacity':<12}{'machine':<18}"
                 f"{'nodes':>7}{'needed':>8}{'GPUs':>8}{'$/node-h':>10}{'$/mo max':>12}")
    for name, p in capacity.get("pools", {}).items():
        lines.append(
            f"  {name:<12}{p['gpu']:<11}{p['capacity']:<12}{p['machineType'] or '-'!s:<18}"
            f"{p['minNodes']:>3}-{p['maxNodes']:<3}{p['nodesNeededMin']:>3}-{p['nodesNeededMax']:<4}"
            f"{p['gpusMin']:>3}-{p['gpusMax']:<4}{p['usdPerNodeHour']:>10.2f}{p['monthlyUsdMax']:>12,.0f}")
    lines += step_lines(capacity)
    lines += spot_gone_lines(capacity)
    t = capacity.get("totals", {})
    lines.append(f"totals: GPUs {t.get('gpusMin', 0)}-{t.get('gpusMax', 0)}; monthly ${monthly.get('minUsd', 0):,.0f} "
                 "at pool min, "
                 f"${monthly.get('maxUsd', 0):,.0f} at pool max (on-demand ${monthly.get('onDemandMaxUsd', 0):,.0f}, "
                 f"spot ${monthly.get('spotMaxUsd', 0):,.0f}); "
                 + (f"prices for {capacity['pricesRegion']} as of {capacity.get('pricesAsOf')}"
                    if capacity.get("pricesRegion") else "no cloud machines priced (existing cluster)"))
    return lines


def step_lines(capacity: dict) -> list[str]:
    """Each GPU model server's capacity steps in the order its replicas use them, priced for its min-max replicas on
    that step (docs/capacity.md#capacity-types-and-steps)."""
    rows = [(name, m.get("steps", [])) for name, m in capacity.get("models", {}).items()]
    rows = [(name, steps) for name, steps in rows if steps]
    if not rows:
        return []
    lines = ["capacity steps (the server's min-max replicas on each step, $/month):"]
    for name, steps in rows:
        shown = "; then ".join(
            f"{s['pool']} ({s['capacity']}, {s['via']}) ${s['monthlyUsdMin']:,.0f}-{s['monthlyUsdMax']:,.0f}"
            + ("" if s["priceBasis"] == s["capacity"] else f" [{s['priceBasis']}]") for s in steps)
        lines.append(f"  {name:<14}{shown}")
    return lines


def _replicas(n: int) -> str:
    return f"{n} replica" if n == 1 else f"{n} replicas"


def spot_gone_lines(capacity: dict) -> list[str]:
    """The spot-gone scenario: which servers move where, which lose replicas, and the GPUs and cost then, next to the
    expected (pool min) and max (pool max) months (docs/capacity.md#when-spot-is-gone)."""
    scenarios = capacity.get("scenarios")
    if not scenarios:
        return []
    gone = scenarios["spotGone"]
    lines = ["when spot is gone (every spot pool at 0 nodes, servers at max replicas):"]
    for move in gone["moves"]:
        where = (f"-> {move['toPool']} ({move['via']}): {_replicas(move['replicas'])}" if move["toPool"]
                 else "-> nowhere")
        lost = f", {_replicas(move['lostReplicas'])} lost" if move["lostReplicas"] else ""
        lines.append(f"  {move['model']:<14}{move['fromPool']} {where}{lost}"
                     + (" (critical)" if move["critical"] else ""))
    if not gone["moves"]:
        lines.append("  no server runs on spot: nothing moves")
    lines += [f"  note: {note}" for note in gone["notes"]]
    lines.append(f"  GPUs {gone['gpus']}, ${gone['monthlyUsd']:,.0f}/month; expected (pool min) "
                 f"${scenarios['expected']['monthlyUsd']:,.0f}, max (pool max) ${scenarios['max']['monthlyUsd']:,.0f}, "
                 f"worst case ${scenarios['worstMonthlyUsd']:,.0f}")
    return lines


def throughput_lines(capacity: dict) -> list[str]:
    """Estimated throughput and $ per million output tokens of one replica of each model server (config/throughput.py),
    with the one line that says what the figures are."""
    models = capacity.get("models", {})
    rows = [(name, m, m.get("throughput")) for name, m in models.items()]
    lines = ["throughput per replica (ESTIMATE: decode roofline from HBM bandwidth and bytes read per step, FLOPs "
             "for prefill; an upper bound, not a measurement):",
             f"  {'name':<14}{'unit':<20}{'batch':>6} {'from':<15}{'tok/s':>9}{'tok/s/seq':>10}{'bound':>8}"
             f"{'TTFT s':>8}{'$/M out':>9}"]
    for name, m, t in rows:
        if t is None:
            why = ("CPU server: not estimated" if m.get("capacity") == "cpu"
                   else "embedding server: not estimated (emits no tokens)")
            lines.append(f"  {name:<14}{m['unit']:<20}  {why}")
            continue
        ttft = f"{t['ttftSeconds']:.2f}" if t["ttftSeconds"] is not None else "-"
        usd = f"{t['usdPerMillionOutputTokens']:.3f}" if t["usdPerMillionOutputTokens"] is not None else "-"
        lines.append(f"  {name:<14}{m['unit']:<20}{t['batch']:>6} {t['batchFrom']:<15}"
                     f"{t['decodeTokensPerSecond']:>9,.0f}{t['perSequenceTokensPerSecond']:>10.1f}{t['bound']:>8}"
                     f"{ttft:>8}{usd:>9}")
    first = next((t for _, _, t in rows if t is not None), None)
    if first is not None:
        lines.append(f"  assumptions: {first['assumptions'][0]}; decode at 100% of the datasheet HBM bandwidth (real "
                     f"engines reach 60-80%: python -m tools.bench --throughput); TTFT of the prompt at "
                     f"{int(PREFILL_MFU * 100)}% of peak FLOPS; $/M output tokens at full utilisation of the replica's "
                     "share of node cost; see docs/capacity.md")
    return lines


def routing_lines(routing: list[dict[str, Any]]) -> list[str]:
    """The `routing` output as the plan prints it: each model name, the servers it reaches and their shares."""
    lines = []
    for route in routing:
        what = f" (adapter of {route['adapterOf']})" if route.get("adapterOf") else ""
        parts = ", ".join(f"{b['server']} {b['percent']:g}% ({b['kind']} {b['name']})" for b in route["backends"])
        lines.append(f"  {route['model']}{what} -> {parts}")
    return lines


def verdict_line(v: Verdict) -> str:
    state = ("skip" if v.skipped else "n/a " if v.not_applicable else "pass" if v.passed
             else "FAIL" if v.blocking else "warn")
    return f"  [{state}] {v.name} ({v.enforcement})"


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    """Every policy with its state: pass, FAIL (blocking), warn (advisory), skip (disabled), n/a."""
    lines = []
    for v in verdicts:
        lines.append(verdict_line(v))
        for violation in v.violations:
            where = f" [{violation.urn.split('::')[-1]}]" if violation.urn else ""
            lines.append(f"         - {violation.message}{where}")
    return lines


def result_line(verdicts: list[Verdict], charts: chart_render.StackRender | None = None,
                validation: Validation | None = None) -> str:
    blocking = [v.name for v in verdicts if v.blocking]
    failures = (([f"mandatory policy: {', '.join(blocking)}"] if blocking else []) + chart_failures(charts)
                + validation_failures(validation))
    return f"result: {'FAILED (' + '; '.join(failures) + ')' if failures else 'ok'}"


def summary_lines(verdicts: list[Verdict], charts: chart_render.StackRender | None = None,
                  validation: Validation | None = None) -> list[str]:
    """The verdict: result line, tally, and only the policies that failed or warned, with their violations."""
    tally = Counter("skip" if v.skipped else "n/a" if v.not_applicable else "pass" if v.passed
                    else "fail" if v.blocking else "warn" for v in verdicts)
    lines = [result_line(verdicts, charts, validation),
             "policy verdicts: "
             + ", ".join(f"{tally[k]} {k}" for k in ("pass", "fail", "warn", "skip", "n/a") if tally[k])]
    lines += verdict_lines([v for v in verdicts if v.violations])
    return lines + validation_lines(validation)


def count_lines(resources: list[mockrun.Recorded]) -> list[str]:
    return [f"  {n:>4}  {t}" for t, n in sorted(Counter(r.type for r in resources).items())]


def output_lines(result: mockrun.RunResult) -> list[str]:
    outputs = mockrun.redact(result.outputs)
    lines = []
    for name in sorted(outputs):
        if name in ("capacity", "monthlyCost", "routing"):
            continue
        value = "[secret]" if name in result.secret_outputs else json.dumps(outputs[name])
        lines.append(f"  {name}: {value}")
    return lines


def deprecation_notes(cfg: Any) -> list[str]:
    """What the stack uses that is deprecated (the program also logs each as a warning on every run)."""
    from config.inference import INGRESS_DEPRECATION, rag_exposure

    return [INGRESS_DEPRECATION] if rag_exposure(cfg) == "ingress" else []


def config_notes(values: dict[str, Any]) -> list[str]:
    """deprecation_notes of a stack's config values (already validated by the program's run)."""
    from config.loader import validate as validate_config

    try:
        cfg, _ = validate_config(values, "plan")
    except ConfigError:
        return []
    return deprecation_notes(cfg)


def report(result: mockrun.RunResult, verdicts: list[Verdict], charts: chart_render.StackRender | None = None,
           validation: Validation | None = None, notes: Sequence[str] = ()) -> str:
    """The plan as text: the verdict and the cost first (the first screen), the details after."""
    outputs = mockrun.redact(result.outputs)
    lines = [f"stack {result.stack}: {len(result.resources)} resources"] + summary_lines(verdicts, charts, validation)
    lines += [f"note: {note}" for note in notes]
    lines += ["", "capacity and cost:"]
    lines += ["  " + line for line in capacity_lines(outputs.get("capacity", {}), outputs.get("monthlyCost", {}))]
    if outputs.get("routing"):
        lines += ["", "traffic split (inference gateway):"] + routing_lines(outputs["routing"])
    lines += ["", "policies:"] + verdict_lines(verdicts)
    lines += ["", "stack outputs:"] + output_lines(result)
    lines += ["", "resources by type:"] + count_lines(result.resources) + chart_count_lines(charts)
    lines += ["", "resource tree:"] + ["  " + line for line in tree_lines(result.resources, charts)]
    lines += ["", result_line(verdicts, charts, validation)]
    return "\n".join(lines)


def resource_json(r: mockrun.Recorded) -> dict[str, Any]:
    """One resource for --json: identity, place in the tree and its inputs (secrets redacted)."""
    return {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "custom": r.custom,
            "inputs": mockrun.integers(mockrun.redact(r.inputs))}


def verdict_json(v: Verdict) -> dict[str, Any]:
    return {"name": v.name, "enforcement": v.enforcement, "passed": v.passed, "skipped": v.skipped,
            "blocking": v.blocking, "notApplicable": v.not_applicable,
            "violations": [{"message": x.message, "urn": x.urn} for x in v.violations]}


def as_json(result: mockrun.RunResult, verdicts: list[Verdict],
            charts: chart_render.StackRender | None = None, validation: Validation | None = None) -> dict[str, Any]:
    return {
        "ok": (not any(v.blocking for v in verdicts) and not chart_failures(charts)
               and not validation_failures(validation)),
        "stack": result.stack,
        "policies": [verdict_json(v) for v in verdicts],
        "outputs": {k: ("[secret]" if k in result.secret_outputs else v)
                    for k, v in mockrun.redact(result.outputs).items()},
        "counts": dict(sorted(Counter(r.type for r in result.resources).items())),
        "resources": [resource_json(r) for r in result.resources],
        "charts": charts.to_json() if charts is not None else None,
        "validation": validation.to_json() if validation is not None else None,
    }


def error_json(kind: str, message: str, stack: str | None = None, stack_file: str | None = None,
               problems: list[tuple[str, str]] = ()) -> dict[str, Any]:
    """The --json answer when there is no plan: `kind` is usage, policy-config, config or program."""
    error: dict[str, Any] = {"kind": kind, "message": message}
    if stack_file:
        error["stackFile"] = stack_file
    error["problems"] = [{"key": k, "message": m} for k, m in problems]
    return {"ok": False, "stack": stack, "error": error}


# ------------------------------------------------------------------------------------ --diff


def _print_diff(base: Any, result: mockrun.RunResult, values: dict[str, Any], code: int, as_json_: bool) -> int:
    """Print the object diff instead of the report; returns the plan's exit `code` (2 if REF cannot be planned)."""
    from . import diff

    try:
        d = diff.compare(base, result, values)
    except diff.DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if as_json_:
            _print(json.dumps(error_json("diff", str(exc), base.stack), indent=2))
        return EXIT_CONFIG
    _print(json.dumps(d, indent=2) if as_json_ else diff.as_text(d))
    if code != EXIT_OK:
        print(f"the plan of the working tree fails (exit code {code}): "
              f"`python -m tools.plan --stack {base.stack}` shows why", file=sys.stderr)
    return code


# --------------------------------------------------------------------------------------- main


class UsageError(Exception):
    """A bad command line: exit 2 with one line (argparse would print the usage and a second line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(message)


class _Failure(Exception):
    """Ends main() with an exit code, a message for stderr and the same error for --json."""

    def __init__(self, code: int, text: str, payload: dict[str, Any]):
        super().__init__(text)
        self.code, self.text, self.payload = code, text, payload


def _config_failure(error: ConfigError, stack: str) -> _Failure:
    issues = list(error.issues)
    text = (f"invalid stack configuration in {error.stack_file}: {issues[0]}" if len(issues) == 1 else str(error))
    return _Failure(EXIT_CONFIG, text, error_json("config", text.splitlines()[0], stack, error.stack_file,
                                                  [(i.path, i.message) for i in issues]))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m tools.plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="local", help="stack name: reads Pulumi.<stack>.yaml (default: local)")
    parser.add_argument("--stack-file", type=Path, help="plan this stack file instead (its name gives the stack)")
    parser.add_argument("--render", type=Path, metavar="DIR",
                        help="write every Kubernetes object as YAML into DIR (new, empty, or an earlier render)")
    parser.add_argument("--json", action="store_true", help="print the plan, or the error, as JSON")
    parser.add_argument("--policy-config", type=Path, metavar="FILE",
                        help="policy pack config JSON (same file as `pulumi preview --policy-pack-config`)")
    parser.add_argument("--no-charts", action="store_true", help="do not render the Helm releases (nor validate)")
    parser.add_argument("--require-charts", action="store_true",
                        help="fail (exit 1) when the charts cannot be rendered (no Helm or no archives): the CI gate")
    parser.add_argument("--no-validate", action="store_true",
                        help="do not validate the objects strictly (Kubernetes and CRD schemas)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of program errors")
    parser.add_argument("--diff", metavar="REF",
                        help="print the object-level difference between the stack at git REF and the working tree")
    return parser


class _Planned(NamedTuple):
    result: mockrun.RunResult
    verdicts: list[Verdict]
    values: dict[str, Any]
    diff_base: Any  # a tools.diff.Base planning the stack at --diff REF, or None
    charts: Any = None  # chart_render.StackRender, None with --no-charts / --diff


def _plan(args: argparse.Namespace) -> _Planned:
    """Everything but printing; raises _Failure."""
    stack, root = args.stack, mockrun.ROOT
    if args.stack_file:
        name = args.stack_file.name
        if not (name.startswith("Pulumi.") and name.endswith(".yaml")):
            raise UsageError("--stack-file must be named Pulumi.<stack>.yaml")
        stack, root = name[len("Pulumi."):-len(".yaml")], args.stack_file.resolve().parent
    path = mockrun.stack_file(stack, root)

    def config_error(text: str) -> _Failure:
        return _Failure(EXIT_CONFIG, f"error: {text}", error_json("config", text, stack, path.name))

    # Arguments are checked before the (slow) run, so a typo costs no time.
    pack_config: dict = {}
    if args.policy_config:
        try:
            pack_config = load_pack_config(args.policy_config)
        except PackConfigError as exc:
            raise _Failure(EXIT_CONFIG, f"error: --policy-config {exc}",
                           error_json("policy-config", f"--policy-config {exc}", stack,
                                      problems=exc.problems)) from None
    if args.render and (problem := render_target_problem(args.render)):
        raise UsageError(f"--render: {problem}")
    if args.require_charts and args.no_charts:
        raise UsageError("--require-charts and --no-charts contradict each other")
    if args.diff and args.stack_file:
        raise UsageError("--diff compares Pulumi.<stack>.yaml at REF with the working tree: use --stack")
    if not path.exists():
        raise config_error(f"{path.name} not found; stacks here: {', '.join(mockrun.available_stacks(root)) or 'none'}")
    try:
        values, secrets = mockrun.stack_config(stack, root)
    except yaml.YAMLError as exc:
        raise config_error(f"{path.name} is not valid YAML: {' '.join(str(exc).split())}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise config_error(f"cannot read {path.name}: {getattr(exc, 'strerror', None) or exc}") from None
    except ConfigError as exc:
        raise _config_failure(exc, stack) from None

    diff_base = None
    if args.diff:  # plans the stack at REF in a subprocess while the working tree is planned here
        from . import diff

        try:
            diff_base = diff.Base(args.diff, stack)
        except diff.DiffError as exc:
            raise _Failure(EXIT_CONFIG, f"error: {exc}", error_json("diff", str(exc), stack, path.name)) from None
    result = mockrun.run_program(stack, values, secrets)
    if isinstance(result.error, ConfigError):
        raise _config_failure(result.error, stack)
    if result.error is not None:
        text = f"error: the program failed: {type(result.error).__name__}: {result.error}"
        if args.debug:
            traceback.print_exception(result.error)
        raise _Failure(EXIT_ERROR, text, error_json("program", text.removeprefix("error: "), stack, path.name))
    # --diff renders the charts itself (tools.diff.chart_objects), on both sides. The pack judges each Release's
    # chart objects from this render (tools.policy_eval hands it over): nothing renders twice.
    charts = None if args.no_charts or diff_base is not None else render_charts(result, values)
    verdicts = evaluate(result.resources, pack_config, charts=charts, render_charts=not args.no_charts)
    return _Planned(result, verdicts, values, diff_base, charts)


def _print(text: str) -> None:
    """Print to stdout; a reader that stopped early (`| head`) is not an error of the plan."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    want_json = "--json" in argv
    try:
        args = _parser().parse_args(argv)
        planned = _plan(args)
    except UsageError as exc:
        text = f"error: {exc} (see python -m tools.plan --help)"
        failure = _Failure(EXIT_CONFIG, text, error_json("usage", str(exc)))
    except _Failure as exc:
        failure = exc
    else:
        result, verdicts, charts = planned.result, planned.verdicts, planned.charts
        if args.render:
            written = render(result.resources, args.render)
            chart_files = write_chart_objects(charts, args.render)
            print(f"rendered {len(written)} Kubernetes objects and {len(chart_files)} chart objects into {args.render}",
                  file=sys.stderr)
        validation = None if charts is None or args.no_validate else validate_plan(result, charts, args.require_charts)
        if validation is None and args.require_charts and charts is not None and charts.unavailable:
            validation = Validation(None, charts.unavailable, required=True)
        code = EXIT_POLICY if any(v.blocking for v in verdicts) else EXIT_OK
        if validation_failures(validation):
            code = EXIT_VALIDATION
        if chart_failures(charts):
            code = EXIT_ERROR
        if planned.diff_base is not None:
            return _print_diff(planned.diff_base, result, planned.values, code, args.json)
        _print(json.dumps(as_json(result, verdicts, charts, validation), indent=2) if args.json
               else report(result, verdicts, charts, validation, config_notes(planned.values)))
        return code
    print(failure.text, file=sys.stderr)
    if want_json:
        _print(json.dumps(failure.payload, indent=2))
    return failure.code


if __name__ == "__main__":
    sys.exit(main())
