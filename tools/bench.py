"""Benchmark of the offline plan: wall time, peak memory, resources per second, time per model.

    python -m tools.bench [--repeat N] [--rounds N] [--sizes 1,10,20,30,40]

Cases: the shipped prod stack, and synthetic stacks (prod's cluster) with 1, 10 and 100 models.
Each synthetic model is a real model server (vLLM, Qwen2.5-7B-AWQ on one H100, 1-2 replicas through
KEDA: cache PVC, download Job, Deployment, Service, PDB, ScaledObject). Each case runs in a fresh
interpreter (so peak RSS is that case's alone) and includes what `python -m tools.plan` does:
config validation, capacity plan, the mock run of the real program and every policy.

Time per model is the slope of a least-squares line through plan times over several stack sizes,
measured in one warm interpreter in rounds that visit the sizes in a shuffled order (so drift and
other load on the machine spread over all sizes instead of biasing one); the spread is the range of
the per-round slopes. It is reported, never judged: a benchmark prints figures, and the exit code
is non-zero only when a case cannot be planned at all. Target for reading the figures: prod under
5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from . import mockrun

PROD_TARGET_SECONDS = 5.0


def synthetic(models: int) -> dict:
    values, _ = mockrun.stack_config("prod")
    values = copy.deepcopy(values)
    per_node = 8
    values["nodePools"]["gpu"] = [{"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": per_node,
                                   "capacity": "on-demand", "min": 1, "max": math.ceil(2 * models / per_node) + 1,
                                   # Dense like prod's pools: upgrades drain it with force (docs/clusters.md).
                                   "forceUpgrade": True}]
    values["serving"]["models"] = [{
        "name": f"m{i:03d}", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ", "quantization": "awq",
        "maxModelLen": 8192, "pool": "h100-od", "replicas": {"min": 1, "max": 2}} for i in range(models)]
    values["rag"].pop("embedding", None)
    values["tenancy"]["namespaces"]["ai-inference"].pop("gpuQuota", None)  # sized from the plan
    values["tenancy"]["namespaces"]["ai-inference"].pop("memoryQuota", None)  # prod's holds prod's models only
    values["budget"] = {"maxGpus": None, "maxMonthlyUsd": None}
    return values


def _plan_once(case: str) -> tuple[float, mockrun.RunResult, int]:
    from .policy_eval import evaluate

    if case == "prod":
        values, secrets = mockrun.stack_config("prod")
    else:
        values, secrets = synthetic(int(case)), []
    start = time.perf_counter()
    result = mockrun.run_program("bench", values, secrets)
    if result.error is not None:
        raise SystemExit(f"case {case} failed: {result.error}")
    verdicts = evaluate(result.resources)
    return time.perf_counter() - start, result, len(verdicts)


def one(case: str) -> dict:
    """Run one case in this process and return its figures."""
    seconds, result, policies = _plan_once(case)
    models = result.outputs.get("models", {})
    servers = sum(1 for r in result.resources if r.type == "ai-platform:serving:ModelServer")
    return {"case": case, "seconds": seconds, "resources": len(result.resources), "policies": policies,
            "servers": servers,
            "usd_per_model": sum(m["monthlyUsdMax"] for m in models.values()) / max(1, len(models)),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def series(sizes: Sequence[int], rounds: int, seed: int = 0) -> list[dict]:
    """Plan times for every size in every round, in one warm interpreter, sizes shuffled per round."""
    _plan_once(str(min(sizes)))  # warm-up: imports and first-use caches are not per-model cost
    order = random.Random(seed)
    points = []
    for round_ in range(rounds):
        shuffled = list(sizes)
        order.shuffle(shuffled)
        for size in shuffled:
            seconds, _, _ = _plan_once(str(size))
            points.append({"round": round_, "models": size, "seconds": seconds})
    return points


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float, float]:
    """Least-squares line through (x, y): slope, intercept and r² (1.0 for a perfect line)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise ValueError("need at least two different sizes")
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    intercept = my - slope * mx
    ss_tot = sum((y - my) ** 2 for y in ys)
    ss_res = sum((y - (intercept + slope * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    return slope, intercept, 1.0 - ss_res / ss_tot if ss_tot else 1.0


def slope_figures(points: list[dict]) -> dict:
    """Per-model cost: the slope over every point, and the median and range of the per-round slopes."""
    slope, intercept, r2 = fit([(p["models"], p["seconds"]) for p in points])
    per_round = []
    for round_ in sorted({p["round"] for p in points}):
        mine = [(p["models"], p["seconds"]) for p in points if p["round"] == round_]
        if len({x for x, _ in mine}) > 1:
            per_round.append(fit(mine)[0])
    sizes = sorted({p["models"] for p in points})
    half = len(sizes) // 2 + 1  # the two halves share the middle size
    low = [(p["models"], p["seconds"]) for p in points if p["models"] in sizes[:half]]
    high = [(p["models"], p["seconds"]) for p in points if p["models"] in sizes[-half:]]
    return {"slope": slope, "intercept": intercept, "r2": r2, "per_round": per_round, "sizes": sizes,
            "slope_low": fit(low)[0] if len(sizes) > 2 else slope,
            "slope_high": fit(high)[0] if len(sizes) > 2 else slope}


Runner = Callable[[list[str]], str]


def _subprocess(args: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "tools.bench", *args], cwd=mockrun.ROOT, capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise SystemExit(f"benchmark case {' '.join(args)} failed: {out.stderr.strip().splitlines()[-1:]}")
    return out.stdout


def main(argv: list[str] | None = None, run: Runner = _subprocess) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench")
    parser.add_argument("--repeat", type=int, default=1, help="fresh-process runs per table case; the best is shown")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the sizes for the time per model")
    parser.add_argument("--sizes", default="1,10,20,30,40", help="synthetic stack sizes (models) for the slope")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--series", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one)))
        return 0
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    if args.series:
        print(json.dumps(series(sizes, args.rounds)))
        return 0

    rows = []
    for case in ["prod", "1", "10", "100"]:
        runs = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            figures = json.loads(run(["--one", case]))
            figures["process_seconds"] = time.perf_counter() - start
            runs.append(figures)
        best = min(runs, key=lambda r: r["seconds"])
        best["process_seconds"] = min(r["process_seconds"] for r in runs)
        rows.append(best)
    print(f"{'case':<8}{'plan s':>9}{'process s':>11}{'resources':>11}{'servers':>9}{'res/s':>9}"
          f"{'$/model/mo':>12}{'peak RSS MiB':>14}")
    for r in rows:
        print(f"{r['case']:<8}{r['seconds']:>9.3f}{r['process_seconds']:>11.2f}{r['resources']:>11}{r['servers']:>9}"
              f"{r['resources'] / r['seconds']:>9.0f}{r['usd_per_model']:>12,.0f}{r['peak_rss_mib']:>14.1f}")
    by_case = {r["case"]: r for r in rows}
    res_per_model = (by_case["100"]["resources"] - by_case["1"]["resources"]) / 99

    points = json.loads(run(["--series", "--sizes", ",".join(map(str, sizes)), "--rounds", str(args.rounds)]))
    f = slope_figures(points)
    spread = (f"per-round {min(f['per_round']) * 1000:.1f}-{max(f['per_round']) * 1000:.1f} ms, "
              f"median {statistics.median(f['per_round']) * 1000:.1f} ms" if f["per_round"] else "one round")
    print(f"time per model: {f['slope'] * 1000:.1f} ms (least squares over {len(points)} runs of "
          f"{', '.join(map(str, f['sizes']))} models in {args.rounds} shuffled rounds, warm process; {spread}; "
          f"r² {f['r2']:.3f}); fixed {f['intercept']:.2f} s; {res_per_model:.1f} resources per model")
    print(f"growth: {f['slope_low'] * 1000:.1f} ms per model over the smaller sizes, "
          f"{f['slope_high'] * 1000:.1f} ms over the larger (equal for linear time)")
    prod = by_case["prod"]["process_seconds"]
    print(f"prod plan, whole process: {prod:.2f} s (target < {PROD_TARGET_SECONDS:.0f} s on 2 cores: "
          f"{'met' if prod < PROD_TARGET_SECONDS else 'not met on this run'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
