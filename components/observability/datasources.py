"""Grafana datasource provisioning files for Loki, Tempo and Jaeger (Prometheus and Alertmanager come from
kube-prometheus-stack). Pure functions; the component writes each into a ConfigMap the datasource sidecar loads.

Trace-to-logs: the Tempo/Jaeger datasource links a span to the Loki lines of the same trace (tracesToLogsV2,
filtered by trace id; service.name and k8s.namespace.name become Loki labels through Loki's OTLP ingestion);
logs-to-trace: Loki's derived field turns the `trace_id` structured-metadata label of OTLP log lines into a link
to the trace. In provisioning files Grafana expands `$VAR`, so the link's `${__value.raw}` is written `$${...}`.
"""

from __future__ import annotations

from typing import Any

from config.models import StackConfig

from .charts import JAEGER_FULLNAME, JAEGER_UID, LOKI_FULLNAME, LOKI_UID, TEMPO_FULLNAME, TEMPO_UID


def _host(service: str, cfg: StackConfig, port: int) -> str:
    return f"http://{service}.{cfg.observability.namespace}.svc.cluster.local:{port}"


def trace_uid(cfg: StackConfig) -> str | None:
    return {"tempo": TEMPO_UID, "jaeger": JAEGER_UID}.get(cfg.observability.tracing)


def loki(cfg: StackConfig) -> dict[str, Any]:
    json_data: dict[str, Any] = {"maxLines": 1000}
    uid = trace_uid(cfg)
    if uid is not None:
        json_data["derivedFields"] = [{"name": "trace_id", "matcherType": "label", "matcherRegex": "trace_id",
                                       "datasourceUid": uid, "url": "$${__value.raw}",
                                       "urlDisplayLabel": "View trace"}]
    return {"apiVersion": 1, "datasources": [{
        "name": "Loki", "uid": LOKI_UID, "type": "loki", "access": "proxy",
        "url": _host(LOKI_FULLNAME, cfg, 3100), "jsonData": json_data}]}


def _traces_to_logs(cfg: StackConfig) -> dict[str, Any]:
    if cfg.observability.logs != "loki":
        return {}
    return {"tracesToLogsV2": {
        "datasourceUid": LOKI_UID, "spanStartTimeShift": "-5m", "spanEndTimeShift": "5m",
        "filterByTraceID": True, "filterBySpanID": False,
        "tags": [{"key": "service.name", "value": "service_name"},
                 {"key": "k8s.namespace.name", "value": "k8s_namespace_name"}]}}


def traces(cfg: StackConfig) -> dict[str, Any] | None:
    tracing = cfg.observability.tracing
    if tracing == "tempo":
        source = {"name": "Tempo", "uid": TEMPO_UID, "type": "tempo", "url": _host(TEMPO_FULLNAME, cfg, 3200),
                  "jsonData": {**_traces_to_logs(cfg), "nodeGraph": {"enabled": True},
                               **({"lokiSearch": {"datasourceUid": LOKI_UID}} if cfg.observability.logs == "loki"
                                  else {})}}
    elif tracing == "jaeger":
        source = {"name": "Jaeger", "uid": JAEGER_UID, "type": "jaeger", "url": _host(JAEGER_FULLNAME, cfg, 16686),
                  "jsonData": {**_traces_to_logs(cfg), "nodeGraph": {"enabled": True}}}
    else:
        return None
    return {"apiVersion": 1, "datasources": [{**source, "access": "proxy"}]}
