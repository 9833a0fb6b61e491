"""InferencePools and endpoint pickers (components/inference/router.py, config/router.py) on the shipped stacks and
variants: one pool + EPP per routed server (canaries included), the pool's selector/ports/failureMode, the EPP's
image, replicas, PDB, hardening, plugins config, metrics, objectives, flows; CRs validated against the CRD files."""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from components.inference.router import CHART_SELECTOR, inference_pool_spec
from components.labels import SCRAPE_LABELS
from components.serving.server import servers
from config import router
from config.errors import ConfigError
from config.inference import PUBLIC_GATEWAY, epp_name, pool_name
from config.loader import validate
from config.network import api_server_cidrs, flows, inference_gateway_pods
from tests.conftest import run_config, run_stack, stack_values
from tests.netpol import Ip, Network, Pod
from tools import charts
from tools.plan import k8s_object
from tools.validate import validate_objects

NS = "ai-inference"
ENVOY = Pod("ai-gateway", inference_gateway_pods(PUBLIC_GATEWAY))  # the public Gateway's Envoy pods
CRD_FILES = ("gateway-api-inference-extension-crds-v1.6.0.yaml", "llm-d-router-crds-v0.10.0.yaml")


def objects(result, kind: str, namespace: str | None = NS) -> dict[str, dict]:
    """Recorded Kubernetes objects of one kind, by name."""
    found = {}
    for r in result.resources:
        if r.custom and r.type.startswith("kubernetes:") and r.type.endswith(f":{kind}"):
            obj = k8s_object(r)
            if obj is not None and (namespace is None or obj["metadata"].get("namespace") == namespace):
                found[obj["metadata"]["name"]] = obj
    return found


def pod_labels(result, deployment: str) -> dict[str, str]:
    return objects(result, "Deployment")[deployment]["spec"]["template"]["metadata"]["labels"]


def plugins(result, server: str) -> dict:
    return json.loads(objects(result, "ConfigMap")[epp_name(server)]["data"][router.CONFIG_FILE])


def weights(config: dict) -> dict[str, float]:
    return {p["pluginRef"]: p.get("weight") for p in config["schedulingProfiles"][0]["plugins"]}


@cache
def crds() -> tuple[dict, ...]:
    for directory in charts.chart_dirs():
        if all((Path(directory) / f).exists() for f in CRD_FILES):
            return tuple(d for f in CRD_FILES for d in yaml.safe_load_all((Path(directory) / f).read_text()) if d)
    return ()


def assert_valid(*objs: dict) -> None:
    """Strict validation against the bundled CRDs (the plan's validator, tools/validate.py)."""
    found = crds()
    if not found:
        pytest.skip(f"CRD bundles {CRD_FILES} not found in {charts.describe_dirs()}")
    assert validate_objects(list(objs), "v1.33.0", found) == []


def variant(**router_override) -> dict:
    """dev with qwen7b's per-model router override."""
    values = stack_values("dev")
    values["serving"]["models"][0]["router"] = router_override
    return values


# ------------------------------------------------------------------------------------------------ pools


@pytest.mark.parametrize("stack,servers", [("dev", {"qwen7b", "qwen7b-canary"}), ("prod", {"qwen72b", "qwen7b"})])
def test_one_pool_and_picker_per_routed_server_canaries_included(stack, servers):
    result = run_stack(stack)
    assert set(objects(result, "InferencePool")) == {pool_name(s) for s in servers}
    assert set(objects(result, "Deployment")) >= {epp_name(s) for s in servers}
    assert {epp_name(s) for s in servers} <= set(objects(result, "Service"))
    assert "embedding-epp" not in objects(result, "Deployment"), "TEI is routed to its Service"
    pickers = [r for r in result.resources if r.type == "ai-platform:inference:EndpointPicker"]
    assert len(pickers) == len(servers)
    assert all(r.parent_type == "ai-platform:inference:Routers" for r in pickers)


def test_pool_selects_every_pod_of_the_server_on_the_engine_port_with_an_explicit_failure_mode():
    result = run_stack("prod")
    pool = objects(result, "InferencePool")["qwen7b"]
    spec = pool["spec"]
    for deployment in ("qwen7b", "qwen7b-fallback"):  # spot primary and on-demand fallback
        labels = pod_labels(result, deployment)
        assert all(labels.get(k) == v for k, v in spec["selector"]["matchLabels"].items()), deployment
    assert not all(pod_labels(result, "qwen72b").get(k) == v for k, v in spec["selector"]["matchLabels"].items())
    assert spec["targetPorts"] == [{"number": 8000}]
    assert spec["endpointPickerRef"] == {"group": "", "kind": "Service", "name": "qwen7b-epp",
                                         "port": {"number": router.EXT_PROC_PORT}, "failureMode": "FailOpen"}
    service = objects(result, "Service")["qwen7b-epp"]
    assert {"name": "grpc-ext-proc", "protocol": "TCP", "port": 9002, "targetPort": "grpc",
            "appProtocol": "kubernetes.io/h2c"} in service["spec"]["ports"]
    assert service["spec"]["selector"] == {CHART_SELECTOR: "qwen7b-epp"}
    assert_valid(pool, *objects(result, "InferencePool", NS).values())


def test_per_model_override_wins_over_the_gateway_default():
    values = variant(failureMode="FailClose", scorers={"queue": 5, "kvCache": 0, "prefixCache": 1, "loraAffinity": 4})
    values["inferenceGateway"]["router"] = {"failureMode": "FailOpen", "prefixCache": "approximate"}
    cfg, plan = validate(values, "Pulumi.dev.yaml")
    by_name = {s.name: s for s in servers(cfg, plan)}
    pools = []
    for served in router.pools(cfg):  # the canary inherits the stable model's override (config.capacity.canary_model)
        settings = router.settings(cfg, served)
        assert settings.failure_mode == "FailClose"
        spec = inference_pool_spec(by_name[served.model.name], epp_name(served.model.name), settings)
        pools.append({"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool",
                      "metadata": {"name": served.model.name, "namespace": NS}, "spec": spec})
    assert {p["spec"]["endpointPickerRef"]["failureMode"] for p in pools} == {"FailClose"}
    assert weights(router.plugins_config(cfg, router.pools(cfg)[0])) == {
        "queue-scorer": 5.0, "prefix-cache-scorer": 1.0, "lora-affinity-scorer": 4.0, "max-score-picker": None}
    assert_valid(*pools)


# ---------------------------------------------------------------------------------------------- pickers


def test_picker_image_is_pinned_and_the_pod_is_hardened():
    result = run_stack("dev")
    deployment = objects(result, "Deployment")["qwen7b-epp"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/llm-d/llm-d-router-endpoint-picker:v0.10.0"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "readOnlyRootFilesystem": True, "runAsNonRoot": True,
                                            "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["args"][:6] == ["--pool-name", "qwen7b", "--pool-namespace", NS, "--pool-group",
                                     "inference.networking.k8s.io"]
    assert "--ha-enable-leader-election" not in container["args"]
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"},
                                      "limits": {"cpu": "2", "memory": "4Gi"}}
    assert deployment["spec"]["replicas"] == 1
    assert "qwen7b-epp" not in objects(result, "PodDisruptionBudget"), "one replica: nothing to keep"


def test_protected_stack_runs_two_pickers_per_pool_with_leader_election_and_a_pdb():
    result = run_stack("prod")
    deployment = objects(result, "Deployment")["qwen72b-epp"]
    assert deployment["spec"]["replicas"] == 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "--ha-enable-leader-election" in container["args"]
    assert container["readinessProbe"]["grpc"] == {"port": 9003, "service": "readiness"}
    pdb = objects(result, "PodDisruptionBudget")["qwen72b-epp"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in pdb["spec"]["selector"]["matchLabels"].items())
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "qwen72b-epp-leader-election" in objects(result, "Role")


def test_plugins_config_carries_the_weights_lora_affinity_only_with_adapters_and_flow_control():
    result = run_stack("dev")
    stable, canary = plugins(result, "qwen7b"), plugins(result, "qwen7b-canary")
    assert weights(stable) == {"queue-scorer": 2.0, "kv-cache-utilization-scorer": 2.0, "prefix-cache-scorer": 3.0,
                               "lora-affinity-scorer": 1.0, "max-score-picker": None}
    # The canary serves other weights (Qwen2.5-7B-Instruct, not the AWQ base of qwen7b-sql): no adapter routed there.
    assert "lora-affinity-scorer" not in weights(canary)
    assert stable["featureGates"] == ["flowControl"]
    assert stable["apiVersion"] == "llm-d.ai/v1alpha1" and stable["kind"] == "EndpointPickerConfig"
    types = [p["type"] for p in stable["plugins"]]
    assert {"metrics-data-source", "core-metrics-extractor"} <= set(types)
    assert not {"token-producer", router.PRECISE_PRODUCER} & set(types), "approximate mode"
    assert stable["dataLayer"]["sources"][0]["pluginRef"] == "metrics-data-source"


def test_flow_control_off_drops_the_feature_gate():
    values = stack_values("dev")
    values["inferenceGateway"]["router"] = {"flowControl": False}
    cfg, _ = validate(values, "Pulumi.dev.yaml")
    served = router.pools(cfg)[0]
    assert "featureGates" not in router.plugins_config(cfg, served)


def test_precise_prefix_cache_wires_kv_events_from_vllm_to_the_picker():
    result = run_config(variant(prefixCache="precise"))
    assert result.error is None, result.error
    config = plugins(result, "qwen7b")
    by_type = {p["type"]: p for p in config["plugins"]}
    assert by_type["token-producer"]["parameters"] == {
        "modelName": "qwen7b", "vllm": {"url": "http://qwen7b.ai-inference.svc.cluster.local:80"}}
    assert by_type[router.PRECISE_PRODUCER]["parameters"]["kvEventsConfig"] == {
        "topicFilter": "kv@", "discoverPods": True, "podDiscoveryConfig": {"socketPort": 5557}}
    assert by_type["prefix-cache-scorer"]["parameters"] == {"prefixMatchInfoProducerName": router.PRECISE_PRODUCER}
    assert {"pluginRef": "endpoint-notification-source", "extractors": [{"pluginRef": router.PRECISE_PRODUCER}]} \
        in config["dataLayer"]["sources"]
    server = objects(result, "Deployment")["qwen7b"]["spec"]["template"]["spec"]["containers"][0]
    args = server["args"]
    events = json.loads(args[args.index("--kv-events-config") + 1])
    assert events == {"enable_kv_cache_events": True, "publisher": "zmq", "endpoint": "tcp://*:5557",
                      "topic": "kv@qwen7b@qwen7b"}
    assert "--enable-scale-out" in args
    assert {"name": "kv-events", "containerPort": 5557, "protocol": "TCP"} in server["ports"]
    net = Network(result.resources)
    picker, model = Pod(NS, pod_labels(result, "qwen7b-epp")), Pod(NS, pod_labels(result, "qwen7b"))
    assert net.can_reach(picker, model, 5557) and net.can_reach(picker, model, 8000)
    assert not net.can_reach(ENVOY, model, 5557)


def test_precise_mode_needs_prefix_caching():
    values = variant(prefixCache="precise")
    values["serving"]["models"][0]["prefixCaching"] = False
    with pytest.raises(ConfigError, match=r"serving\.models\[0\]\.prefixCaching.*precise prefix-cache"):
        validate(values, "Pulumi.dev.yaml")


def test_admission_allow_list_must_cover_the_picker_image():
    values = stack_values("prod")
    registries = values["tenancy"]["admission"]["allowedRegistries"]
    values["tenancy"]["admission"]["allowedRegistries"] = [r for r in registries if r != "ghcr.io/llm-d"]
    with pytest.raises(ConfigError, match=r"allowedRegistries.*llm-d-router-endpoint-picker:v0\.10\.0"):
        validate(values, "Pulumi.prod.yaml")


def test_metrics_are_scraped_with_a_read_only_token_the_picker_verifies():
    result = run_stack("prod")
    monitor = objects(result, "ServiceMonitor")["qwen7b-epp"]
    assert all(monitor["metadata"]["labels"][k] == v for k, v in SCRAPE_LABELS.items())
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http-metrics"
    secret_name = endpoint["authorization"]["credentials"]["name"]
    secret = objects(result, "Secret")[secret_name]
    assert secret["type"] == "kubernetes.io/service-account-token"
    reader = secret["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert reader in objects(result, "ServiceAccount") and reader != "qwen7b-epp"
    service = objects(result, "Service")["qwen7b-epp"]
    assert all(service["metadata"]["labels"][k] == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    bindings = {b["subjects"][0]["name"]: b["roleRef"]["name"] for b in objects(result, "ClusterRoleBinding", None)
                .values() if b["subjects"][0].get("namespace") == NS and "qwen7b-epp" in b["metadata"]["name"]}
    roles = objects(result, "ClusterRole", None)
    assert roles[bindings[reader]]["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]
    assert {r["resources"][0] for r in roles[bindings["qwen7b-epp"]]["rules"]} == {"tokenreviews",
                                                                                  "subjectaccessreviews"}


# ------------------------------------------------------------------------------------------- objectives


def test_one_objective_per_pool_named_for_the_header_the_picker_matches():
    result = run_stack("prod")
    found = objects(result, "InferenceObjective")
    assert set(found) == {router.objective_key(p, o) for p in ("qwen72b", "qwen7b") for o in ("interactive", "batch")}
    batch = found["qwen7b-batch"]
    assert batch["apiVersion"] == "llm-d.ai/v1alpha2"
    assert batch["spec"] == {"priority": -10, "poolRef": {"group": "inference.networking.k8s.io",
                                                          "kind": "InferencePool", "name": "qwen7b"}}
    assert found["qwen72b-interactive"]["spec"]["priority"] == 10
    assert_valid(*found.values())


# -------------------------------------------------------------------------------------------- disabled


def test_nothing_is_created_without_the_inference_gateway():
    assert not [r for r in run_stack("local").resources if r.type.startswith("ai-platform:inference:")
                or r.type.endswith((":InferencePool", ":InferenceObjective", ":DestinationRule"))]
    assert not [n for n in objects(run_stack("local"), "Deployment", None) if n.endswith("-epp")]
    values = stack_values("dev")
    values["inferenceGateway"] = {"enabled": False}
    values["mesh"] = {"enabled": False}
    values["serving"]["models"][0].pop("canary")
    values["rag"]["gateway"]["expose"] = "ingress"
    cfg, _ = validate(values, "Pulumi.dev.yaml")
    assert router.pools(cfg) == [] and router.objectives(cfg) == []
    assert not [f for f in flows(cfg) if "epp" in f.name or f.name == "gateway-to-pools"]
    assert router.adapters(cfg, "qwen7b"), "adapters are served without the gateway too (by name, on the Service)"


# ---------------------------------------------------------------------------------------------- flows


def test_gateway_reaches_pickers_and_pool_pods_and_pickers_reach_the_api_server():
    result = run_stack("prod")
    net = Network(result.resources)
    picker, model = Pod(NS, pod_labels(result, "qwen7b-epp")), Pod(NS, pod_labels(result, "qwen7b"))
    fallback = Pod(NS, pod_labels(result, "qwen7b-fallback"))
    assert net.can_reach(ENVOY, picker, 9002)
    assert net.can_reach(ENVOY, model, 8000) and net.can_reach(ENVOY, fallback, 8000)
    assert net.can_reach(picker, model, 8000), "the picker scrapes the engine's metrics"
    assert not net.can_reach(picker, model, 5557), "approximate mode: no KV events"
    cfg, _ = validate(stack_values("prod"), "Pulumi.prod.yaml")
    api_server = Ip(str(next(ipaddress.ip_network(api_server_cidrs(cfg)[0]).hosts())))
    assert net.can_reach(picker, api_server, 443)
    assert not net.can_reach(model, api_server, 443)
    assert not net.can_reach(Pod("ai-gateway", {"app": "other"}), picker, 9002), "only the gateway's Envoy pods"
    assert net.can_reach(Pod("observability", {"app.kubernetes.io/name": "prometheus"}), picker, 9090)


def test_a_pool_that_scales_from_zero_holds_queued_requests_for_the_servers_startup_budget():
    """Flow control keeps the first requests while a replica loads; the picker's 60 s default would answer 503 to
    them first (apix/config/v1alpha1 FlowControlConfig.DefaultRequestTTL @ v0.10.0)."""
    values = stack_values("dev")
    model = values["serving"]["models"][0]
    model["replicas"]["min"] = 0
    model["autoscaling"]["scaleToZero"] = True
    model["startupSeconds"] = 900
    values["nodePools"]["gpu"][0]["forceUpgrade"] = True  # the longer load would not fit GKE's drain window
    result = run_config(values, "dev")
    assert result.error is None, result.error

    def epp_config(run, server: str) -> dict:
        [cm] = [r for r in run.of_type("kubernetes:core/v1:ConfigMap")
                if r.inputs["metadata"]["name"] == epp_name(server)]
        return json.loads(cm.inputs["data"][router.CONFIG_FILE])

    assert epp_config(result, "qwen7b")["flowControl"] == {"defaultRequestTTL": "900s"}  # its startupSeconds
    # The canary inherits the stable server's autoscaling (config.capacity.canary_model): it scales from zero too.
    assert epp_config(result, "qwen7b-canary")["flowControl"] == {"defaultRequestTTL": "900s"}
    assert "flowControl" not in epp_config(run_stack("dev"), "qwen7b")  # keeps a replica: the picker's default
