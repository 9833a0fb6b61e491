"""Alerts of the inference gateway and the mesh: present exactly when they run, thresholds from
observability.alerts, each with severity, summary and what-to-do text, and recorded as PrometheusRules the
platform's Prometheus selects."""

from __future__ import annotations

import pytest

from components.labels import SCRAPE_LABELS
from components.observability import inference
from components.observability.rules import inference_gateway_alerts, rule_groups
from config import ConfigError, validate
from config.inference import pool_name
from tests.conftest import run_stack, stack_values

from .conftest import config
from .test_inference_queries import dev_without_gateway, variant

GATEWAY_ALERTS = {"InferencePickerUnavailable", "InferencePickerMetricsMissing", "InferencePoolNoReadyEndpoints",
                  "InferencePoolSaturated", "InferenceFlowControlQueueGrowing", "InferenceRequestsShed",
                  "InferenceGatewayDown", "InferenceGatewayErrorRateHigh"}
MESH_ALERTS = {"IstiodDown", "IstiodPushErrors", "ZtunnelDown"}


def groups(cfg, plan) -> dict[str, set[str]]:
    return {g.key: {r.name for r in g.rules} for g in rule_groups(cfg, plan)}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_gateway_stacks_get_both_groups(stack):
    found = groups(*config(stack))
    assert found["inference-gateway"] == GATEWAY_ALERTS
    assert found["mesh"] == MESH_ALERTS


def test_alerts_only_where_the_gateway_and_mesh_run():
    local = groups(*config("local"))
    assert "inference-gateway" not in local and "mesh" not in local
    off = groups(*dev_without_gateway())
    assert "inference-gateway" not in off and "mesh" not in off
    mesh_only = groups(*dev_without_gateway(mesh=True))
    assert "inference-gateway" not in mesh_only and mesh_only["mesh"] == MESH_ALERTS
    cfg, _ = config("dev")
    off = cfg.model_copy(update={"observability": cfg.observability.model_copy(update={"enabled": False})})
    assert not inference.enabled(off) and not inference.mesh_enabled(off) and not inference.monitors(off)


def test_every_alert_says_how_bad_what_and_what_to_do():
    for group in rule_groups(*config("prod")):
        if group.key not in ("inference-gateway", "mesh"):
            continue
        for rule in group.rules:
            spec = rule.spec()
            assert spec["labels"]["severity"] in ("critical", "warning", "info")
            assert spec["labels"]["platform"] == "ai-platform"
            assert spec["annotations"]["summary"] and len(spec["annotations"]["description"]) > 60, rule.name
            assert spec.get("for"), f"{rule.name} fires on one evaluation"
    critical = {r.name for g in rule_groups(*config("prod")) for r in g.rules if r.severity == "critical"}
    assert {"InferencePickerUnavailable", "InferencePoolNoReadyEndpoints", "InferenceGatewayErrorRateHigh",
            "IstiodDown"} <= critical


def test_alerts_cover_every_pool_and_picker_of_the_routing_table():
    cfg, _ = config("dev")
    rules = {r.name: r.query.expr for r in inference_gateway_alerts(cfg)}
    for pool in inference.pools(cfg):
        assert pool.epp in rules["InferencePickerUnavailable"]
        assert f'service="{pool.epp}"' in rules["InferencePickerMetricsMissing"]  # absent(): no target at all
        assert pool.name in rules["InferencePoolNoReadyEndpoints"]
        assert pool.name in rules["InferencePoolSaturated"]
    assert 'gateway="public"' in rules["InferenceGatewayDown"] and 'gateway="internal"' in rules["InferenceGatewayDown"]


def test_thresholds_come_from_observability_alerts():
    values = stack_values("dev")
    values["observability"]["alerts"] = {"poolSaturation": 1.5, "poolSaturationFor": "30m", "flowControlQueue": 200,
                                         "errorRate": 0.02}
    cfg, _ = validate(values, "Pulumi.dev.yaml")
    rules = {r.name: r for r in inference_gateway_alerts(cfg)}
    assert rules["InferencePoolSaturated"].query.expr.endswith("> 1.5")
    assert rules["InferencePoolSaturated"].for_ == "30m"
    assert "> 200 and" in rules["InferenceFlowControlQueueGrowing"].query.expr
    assert rules["InferenceGatewayErrorRateHigh"].query.expr.endswith("> 0.02")
    defaults = {r.name: r for r in inference_gateway_alerts(config("dev")[0])}
    assert defaults["InferencePoolSaturated"].query.expr.endswith("> 1")
    assert defaults["InferencePoolSaturated"].for_ == "10m"


@pytest.mark.parametrize("key, value", [("poolSaturation", 0), ("poolSaturationFor", "10s"),
                                        ("flowControlQueue", -1)])
def test_bad_thresholds_are_config_errors(key, value):
    values = stack_values("dev")
    values["observability"]["alerts"] = {key: value}
    with pytest.raises(ConfigError, match=f"observability.alerts.{key}"):
        validate(values, "Pulumi.dev.yaml")


def test_flow_control_alerts_follow_the_router_config():
    names = {r.name for r in inference_gateway_alerts(variant(router={"flowControl": False})[0])}
    assert not names & {"InferencePoolSaturated", "InferenceFlowControlQueueGrowing", "InferenceRequestsShed"}
    assert {"InferencePickerUnavailable", "InferencePoolNoReadyEndpoints"} <= names


def test_a_pool_scaled_to_zero_alerts_only_when_requests_wait():
    values = stack_values("dev")
    model = values["serving"]["models"][0]
    model["replicas"] = {"min": 0, "max": 4}
    wake = 'sum(llm_d_epp_flow_control_queue_size{inference_pool="qwen7b"})'
    model["autoscaling"].update(scaleToZero=True, wakeQuery=wake)
    cfg, _ = validate(values, "Pulumi.dev.yaml")
    idle = [p.name for p in inference.pools(cfg) if p.scale_to_zero]
    assert pool_name("qwen7b") in idle  # (its canary inherits the autoscaling settings)
    rules = {r.name: r.query.expr for r in inference_gateway_alerts(cfg)}
    steady = rules.get("InferencePoolNoReadyEndpoints", "")
    assert not any(f'"{name}"' in steady or f"{name}|" in steady for name in idle)
    assert f'name=~"{"|".join(idle)}"' in rules["InferencePoolNotScalingUp"]
    assert "llm_d_epp_flow_control_queue_size" in rules["InferencePoolNotScalingUp"]


def test_rules_are_recorded_where_prometheus_selects_them():
    result = run_stack("dev")
    rules = {r.inputs["metadata"]["name"]: r
             for r in result.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")}
    for key, names in (("inference-gateway", GATEWAY_ALERTS), ("mesh", MESH_ALERTS)):
        rule = rules[f"ai-platform-{key}"]
        assert SCRAPE_LABELS.items() <= rule.inputs["metadata"]["labels"].items()
        assert rule.inputs["metadata"]["namespace"] == "observability"
        [group] = rule.inputs["spec"]["groups"]
        assert {r["alert"] for r in group["rules"]} == names
