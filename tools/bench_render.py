"""Benchmark of chart rendering in the offline plan (figures, not a timed test).

    python -m tools.bench_render [--stack prod] [--repeat N]

Each plan runs in a fresh interpreter (`python -m tools.plan --stack S`, report discarded):
- without rendering (`--no-charts`);
- rendering cold: an empty render cache (AI_PLATFORM_RENDER_CACHE pointing at a new directory);
- rendering warm: the same cache again.
For comparison, the sum of bare `helm template` runs of the same Releases with the same values and
flags, one after another (Helm alone: no parsing, no parallelism). Goals (issue 14): the cold render
adds no more than that sum; a warm plan is within 1.2x of the plan without rendering.
Also prints each Release's object count and cold render time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from policy.rules import helmbin

from . import mockrun, render


def timed_plan(stack: str, *flags: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "tools.plan", "--stack", stack, *flags], cwd=mockrun.ROOT,
                         capture_output=True, text=True, env=env, timeout=600)
    seconds = time.perf_counter() - start
    if out.returncode not in (0, 1):
        raise SystemExit(f"plan {stack} {' '.join(flags)} failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds


def bare_helm_sum(stack: str) -> tuple[float, render.StackRender]:
    """Seconds of plain `helm template` of every Release of the stack, run one after another."""
    values, _ = mockrun.stack_config(stack)
    result = mockrun.run_program(stack)
    with tempfile.TemporaryDirectory() as cache:
        charts = render.render_stack(result, render.kube_version_of(values), cache=Path(cache))
    if charts.unavailable:
        raise SystemExit(charts.unavailable)
    helm = helmbin.find()
    total = 0.0
    inputs = {r.urn: r.inputs for r in result.resources}
    for rel in charts.releases:
        if rel.archive is None:
            continue
        args = render.template_args(rel.release, rel.namespace, rel.kube_version, rel.api_versions, rel.include_crds)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
            json.dump(render.helm_values(inputs[rel.urn]), handle)
            handle.flush()
            start = time.perf_counter()
            helm.run("template", rel.release, rel.archive, "--values", handle.name, *args)
            total += time.perf_counter() - start
    return total, charts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (the median is reported)")
    args = parser.parse_args(argv)
    stack, n = args.stack, max(1, args.repeat)

    base_env = dict(os.environ)
    no_render = statistics.median(timed_plan(stack, "--no-charts", env=base_env) for _ in range(n))
    cold_runs, warm_runs = [], []
    for _ in range(n):
        with tempfile.TemporaryDirectory(prefix="render-cache-") as cache:
            env = {**base_env, render.ENV_CACHE: cache}
            cold_runs.append(timed_plan(stack, env=env))
            warm_runs.append(timed_plan(stack, env=env))
    cold, warm = statistics.median(cold_runs), statistics.median(warm_runs)
    bare, charts = bare_helm_sum(stack)

    print(f"stack {stack}: {len(charts.releases)} releases, {len(charts.objects)} chart objects, "
          f"Helm {charts.helm}, {os.cpu_count()} CPUs, median of {n}")
    print(f"  plan without rendering      {no_render:7.2f} s")
    print(f"  plan, rendering cold        {cold:7.2f} s   (+{cold - no_render:.2f} s)")
    print(f"  plan, rendering warm        {warm:7.2f} s   ({warm / no_render:.2f}x without rendering)")
    print(f"  bare helm template, summed  {bare:7.2f} s")
    print(f"  goal cold: added {cold - no_render:.2f} s <= {bare:.2f} s: "
          f"{'met' if cold - no_render <= bare else 'NOT met'}")
    print(f"  goal warm: {warm / no_render:.2f}x <= 1.2x: {'met' if warm <= 1.2 * no_render else 'NOT met'}")
    print("  per release (objects, cold render s incl. parsing):")
    for rel in charts.releases:
        print(f"    {rel.release:<26}{rel.chart:<36}{len(rel.objects):>5}{rel.seconds:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
