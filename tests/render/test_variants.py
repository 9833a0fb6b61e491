"""Every values variant the chart-values tests build (engines, modes, monitoring on/off, node images)
templates with its pinned chart: a stack not shipped here must not find a chart bug at deploy time."""

from __future__ import annotations

import itertools
import json

from components.gpu_stack import chart_values as gpu_values
from components.helm import pin
from config.loader import validate
from tests.conftest import stack_values
from tools import charts, helmbin, render

from .conftest import require_charts

MONITORING = {"monitoring.coreos.com/v1", "monitoring.coreos.com/v1/ServiceMonitor",
              "monitoring.coreos.com/v1/PodMonitor", "monitoring.coreos.com/v1/PrometheusRule"}
RAG = {"MILVUS": "milvus", "WEAVIATE": "weaviate", "QDRANT": "qdrant", "ECK_OPERATOR": "eck-operator",
       "ES_EXPORTER": "prometheus-elasticsearch-exporter", "REDIS": "redis-ha", "INGRESS_NGINX": "ingress-nginx",
       "CERT_MANAGER": "cert-manager"}


def variants() -> list[tuple[str, str, dict]]:
    """(chart, namespace, values) for every distinct variant."""
    from tests.gpu import test_chart_values as gpu
    from tests.observability import test_chart_values as obs
    from tests.rag import test_chart_values as rag
    from tests.serving import test_chart_values as serving

    out = [(chart, "ai-rag", v) for key, chart in RAG.items() for v in rag.variants(key)]
    out += [(chart, "keda", v) for key, chart in (("KEDA", "keda"), ("PROMETHEUS_ADAPTER", "prometheus-adapter"))
            for v in serving.variants(key)]
    out += [(chart, "observability", build(cfg)) for _, (cfg, _) in obs.CASES for chart, build in obs.VALUES]
    for stack, owner in itertools.product(["dev", "prod"], gpu.OWNERS):
        cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
        out.append(("gpu-operator", "gpu-operator", gpu_values(cfg, owner)))
    unique = {(c, ns, json.dumps(render.helm_values({"values": v}), sort_keys=True)): (c, ns, v) for c, ns, v in out}
    return list(unique.values())


def test_every_values_variant_templates():
    require_charts()
    helm = helmbin.find()
    failures, charts_seen = [], set()
    for chart, namespace, values in variants():
        archive = charts.resolve(pin(chart))
        args = render.template_args("variant", namespace, "v1.33.0", MONITORING, True)
        try:
            render.template(helm, archive.path, archive.sha256, "variant", namespace,
                            render.helm_values({"values": values}), args, render.cache_dir())
        except render.RenderError as exc:
            failures.append(f"{chart} {pin(chart).version} with values {json.dumps(values)[:300]}...: {exc}")
        charts_seen.add(chart)
    assert not failures, "\n\n".join(failures)
    assert len(charts_seen) >= 14

