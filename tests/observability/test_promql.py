"""Every PromQL expression of the alerts, recording rules and dashboards parses and reads only recorded names.

Parser: promql-parser (PyPI, GreptimeTeam's Rust implementation of Prometheus' grammar, binary wheels, no
network). Names: each query declares its sources; every metric it selects must be in the allow-list of one of
them -- config.engines.series_names(source) for engines and exporters (recorded per pinned version), or the
kube-state-metrics / Prometheus / recording-rule lists of components.observability.metrics.
"""

from __future__ import annotations

import promql_parser
import pytest

from components.observability import metrics as m
from components.observability.dashboards import dashboards
from components.observability.rules import rule_groups
from config import engines

from .conftest import config, variants

# Grafana fills these in before a query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def selectors(expr: str) -> list[str]:
    """Metric names of every vector selector in a PromQL expression (raises if it does not parse)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    names: list[str] = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            name = node.name or next((x.value for x in node.matchers.matchers if x.name == "__name__"), None)
            names.append(name)

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def queries(cfg, plan) -> list[tuple[str, m.Query]]:
    found = [(f"rule {r.name}", r.query) for g in rule_groups(cfg, plan) for r in g.rules]
    found += [(f"dashboard {d.uid}", q) for d in dashboards(cfg) for q in d.queries]
    return found


CASES = list(variants())


@pytest.mark.parametrize("case", range(len(CASES)), ids=["-".join(map(str, c)) for c, _ in CASES])
def test_every_query_parses_and_uses_recorded_names(case):
    cfg, plan = CASES[case][1]
    for where, query in queries(cfg, plan):
        assert query.sources, f"{where}: no source declared"
        allowed = frozenset().union(*(m.allowed(s) for s in query.sources))
        names = selectors(query.expr)
        assert names, f"{where}: selects no metric: {query.expr}"
        for name in names:
            assert name is not None, f"{where}: selector without a metric name: {query.expr}"
            assert name in allowed, f"{where}: {name} is not exported by {', '.join(query.sources)}"


def test_the_allow_lists_are_real():
    """Each engine source is config.engines' list at its pinned version; recording rule names are ours."""
    assert m.allowed("vllm") == engines.series_names("vllm")
    assert m.source_version("dcgm") == engines.DCGM_EXPORTER_VERSION
    assert m.source_version("kube-state-metrics") == "2.20.0"
    records = {r.name for g in rule_groups(*config("prod")) for r in g.rules if r.record}
    assert records == m.PLATFORM_SERIES


def test_an_unknown_metric_is_caught():
    assert selectors('rate(vllm:gpu_cache_usage_perc{namespace="x"}[5m])') == ["vllm:gpu_cache_usage_perc"]
    assert "vllm:gpu_cache_usage_perc" not in m.allowed("vllm")  # removed before vLLM 0.33.0
    with pytest.raises(ValueError):
        selectors("sum by (model (rate(x[5m]))")


def test_dashboards_read_recorded_series_only_when_their_rules_exist():
    """A dashboard reading ai_platform:* series must come with the group that records it."""
    for stack in ("dev", "prod", "local"):
        cfg, plan = config(stack)
        recorded = {r.name for g in rule_groups(cfg, plan) for r in g.rules if r.record}
        for board in dashboards(cfg):
            for query in board.queries:
                for name in selectors(query.expr):
                    if name in m.PLATFORM_SERIES:
                        assert name in recorded, f"{stack} {board.uid}: {name} is never recorded"


def test_every_autoscaling_query_the_stacks_ship_parses_and_uses_engine_metrics():
    """KEDA triggers are PromQL too: they must parse and read only names the pinned engines export."""
    from components.serving.autoscaling import EPP_SERIES, KSM_FALLBACK_SERIES
    from tests.conftest import run_stack

    # Engines' own gauges, the endpoint picker's (pooled servers) and kube-state-metrics' (scaling fallbacks).
    engine_names = frozenset().union(*(engines.series_names(s) for s in ("vllm", "tgi", "triton", "tei")),
                                     EPP_SERIES, KSM_FALLBACK_SERIES)
    checked = 0
    for stack in ("dev", "prod"):
        for scaled in run_stack(stack).of_type("kubernetes:keda.sh/v1alpha1:ScaledObject"):
            for trigger in scaled.inputs["spec"]["triggers"]:
                if trigger["type"] != "prometheus":
                    continue
                names = selectors(trigger["metadata"]["query"])
                assert names and set(names) <= engine_names, (scaled.name, trigger["metadata"]["query"])
                checked += 1
    assert checked >= 4
