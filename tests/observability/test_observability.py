"""Observability under mocks: CRD ordering, Prometheus selection, secrets, names the NetworkPolicies rely on,
Pod Security, storage and retention from config, and toggles that remove exactly their resources."""

from __future__ import annotations

import copy

import pytest
import yaml

from components.labels import SCRAPE_LABELS
from components.observability import charts
from config import endpoints, network
from config.namespaces import NODE_AGENTS, namespaces
from tests.conftest import run_config, run_stack, stack_values
from tests.netpol import Network, Pod
from tools.mockrun import is_secret, unwrap

from .conftest import config

RELEASE = "kubernetes:helm.sh/v3:Release"
MONITORING = "kubernetes:monitoring.coreos.com/"
OBSERVABILITY = "ai-platform:observability:Observability"
SCRAPE = {"matchLabels": SCRAPE_LABELS}


def crds_release(result):
    [crds] = [r for r in result.of_type(RELEASE) if r.inputs["chart"] == charts.CRDS.chart]
    return crds


def release(result, chart: str):
    [found] = [r for r in result.of_type(RELEASE) if r.inputs["chart"] == chart]
    return found


def renders_monitors(values) -> bool:
    """Whether chart values switch on a ServiceMonitor / PodMonitor / PrometheusRule (the charts' usual keys)."""
    if isinstance(values, dict):
        for key, value in values.items():
            if key in ("serviceMonitor", "podMonitor", "prometheusRule", "monitor", "servicemonitor") and \
                    isinstance(value, dict) and value.get("enabled") is True:
                return True
            if renders_monitors(value):
                return True
    elif isinstance(values, list):
        return any(renders_monitors(v) for v in values)
    return False


def descendants(result, urn: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for r in result.resources:
        children.setdefault(r.parent, []).append(r.urn)
    found, todo = {urn}, [urn]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


FLOW_KINDS = ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "kubernetes:security.istio.io/v1:AuthorizationPolicy",
              "kubernetes:security.istio.io/v1:PeerAuthentication")


def flow_objects(result, *prefixes: str) -> set[str]:
    """Both sides of the named flows (`allow-<flow>...`): NetworkPolicies and, with the mesh, the AuthorizationPolicies
    and plaintext PeerAuthentications derived from the same flows (`plaintext-<flow>...`)."""
    names = tuple(prefixes) + tuple("plaintext-" + p.removeprefix("allow-") for p in prefixes)
    return {r.urn for r in result.resources if r.type in FLOW_KINDS and r.inputs["metadata"]["name"].startswith(names)}


def component(result, type_: str):
    [found] = [r for r in result.resources if r.type == type_]
    return found


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_monitoring_crds_come_before_every_monitor_and_every_release_rendering_one(stack):
    result = run_stack(stack)
    crds = crds_release(result)
    monitors = [r for r in result.resources if r.type.startswith(MONITORING)]
    assert monitors
    for r in monitors:
        assert crds.urn in r.dependencies, f"{r.type} {r.name} does not depend on the monitoring CRDs"
    for r in result.of_type(RELEASE):
        if r is not crds and renders_monitors(r.inputs.get("values")):
            assert crds.urn in r.dependencies, f"Release {r.name} renders monitors before the CRDs exist"
    # The CRDs are installed before the GPU stack (its DCGM ServiceMonitor).
    if stack != "local":
        assert crds.urn in release(result, "gpu-operator").dependencies


def test_the_heuristic_sees_monitors():
    assert renders_monitors({"a": {"serviceMonitor": {"enabled": True}}})
    assert renders_monitors({"prometheus": {"monitor": {"enabled": True}}})
    assert not renders_monitors({"serviceMonitor": {"enabled": False}})


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_prometheus_selects_exactly_the_scrape_label_everywhere(stack):
    result = run_stack(stack)
    spec = release(result, charts.STACK.chart).inputs["values"]["prometheus"]["prometheusSpec"]
    for kind in ("serviceMonitor", "podMonitor", "rule", "probe", "scrapeConfig"):
        assert spec[f"{kind}Selector"] == SCRAPE
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False
        assert spec[f"{kind}NamespaceSelector"] == {}
    # That every monitor and rule, the program's and the charts', carries the label the rendered Prometheus
    # selects is proven on the objects: tests/render/test_rendered_objects.py.


def test_the_stack_chart_installs_no_crds_of_its_own():
    result = run_stack("prod")
    stack = release(result, charts.STACK.chart)
    assert stack.inputs["values"]["crds"] == {"enabled": False}
    assert stack.inputs["skipCrds"] is True
    for r in result.of_type(RELEASE):
        assert r.inputs["version"] and (r.inputs["chart"].startswith("oci://")
                                        or r.inputs["repositoryOpts"]["repo"].startswith("https://"))


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_grafana_admin_password_is_a_secret_everywhere(stack):
    result = run_stack(stack)
    [password] = [r for r in result.of_type("random:index/randomPassword:RandomPassword") if "grafana" in r.name]
    [secret] = [r for r in result.of_type("kubernetes:core/v1:Secret")
                if r.inputs["metadata"]["name"] == charts.GRAFANA_ADMIN_SECRET]
    assert is_secret(secret.inputs["stringData"])
    data = unwrap(secret.inputs["stringData"])
    assert set(data) == {charts.GRAFANA_ADMIN_USER_KEY, charts.GRAFANA_ADMIN_PASSWORD_KEY}
    plain = data[charts.GRAFANA_ADMIN_PASSWORD_KEY]
    assert len(plain) >= 16
    for r in result.resources:
        if r is not secret and r is not password:
            assert plain not in repr(unwrap(r.inputs)), f"the Grafana password leaks into {r.name}"
    # Grafana reads it (and no chart-generated password): tests/render/test_rendered_objects.py.
    assert "grafanaAdminPassword" in result.secret_outputs
    assert result.outputs["grafanaUrl"] == endpoints.endpoint(config(stack)[0], "grafana").url
    assert stack_values(stack)  # the shipped file still loads


def test_names_and_labels_the_network_policies_and_endpoints_rely_on():
    cfg, _ = config("prod")
    eps = endpoints.endpoints(cfg)
    assert eps["prometheus"].service == f"{charts.STACK_FULLNAME}-prometheus"
    assert eps["alertmanager"].service == f"{charts.STACK_FULLNAME}-alertmanager"
    assert eps["grafana"].service == charts.GRAFANA_FULLNAME
    assert eps["loki"].service == charts.LOKI_FULLNAME and eps["tempo"].service == charts.TEMPO_FULLNAME
    assert eps["otel-collector"].service == charts.COLLECTOR_FULLNAME
    values = charts.stack_values(cfg)
    assert values["fullnameOverride"] == charts.STACK_FULLNAME
    assert network.PROMETHEUS_PODS.items() <= \
        values["prometheus"]["prometheusSpec"]["podMetadata"]["labels"].items()
    assert network.ALERTMANAGER_PODS.items() <= \
        values["alertmanager"]["alertmanagerSpec"]["podMetadata"]["labels"].items()
    # The collector chart labels its pods app.kubernetes.io/name=<chart name> (no nameOverride set): the otlp flow.
    assert "nameOverride" not in charts.collector_values(cfg)
    otlp = [f for f in network.flows(cfg) if f.name == "otlp"]
    assert otlp and all(f.dest.pods == {network.NAME_LABEL: charts.COLLECTOR.chart} for f in otlp)
    assert {p.port for p in eps["otel-collector"].ports} == {4317, 4318}
    jaeger, _ = config("prod", tracing="jaeger")
    assert endpoints.endpoint(jaeger, "jaeger").service == charts.JAEGER_FULLNAME
    assert endpoints.endpoint(jaeger, "tempo") is None


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_pod_security(stack):
    cfg, _ = config(stack, tracing="tempo", logs="loki")
    specs = {s.name: s for s in namespaces(cfg)}
    assert specs[cfg.observability.namespace].pod_security == "restricted"
    assert specs[NODE_AGENTS].pod_security == "privileged"
    stack_values_ = charts.stack_values(cfg)
    assert stack_values_["prometheus-node-exporter"]["namespaceOverride"] == NODE_AGENTS
    assert stack_values_["prometheusOperator"]["admissionWebhooks"]["enabled"] is False
    # Jaeger is no shipped stack's choice, so its values are checked here; every rendered pod of the shipped
    # stacks meets its namespace's level in tests/render/test_rendered_objects.py.
    jaeger = charts.jaeger_values(cfg)["jaeger"]
    assert jaeger["podSecurityContext"]["runAsNonRoot"] is True
    assert jaeger["podSecurityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert jaeger["securityContext"]["allowPrivilegeEscalation"] is False
    assert jaeger["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    loki = charts.loki_values(cfg)
    assert loki["singleBinary"]["sidecar"] is False and loki["gateway"]["enabled"] is False


def test_storage_and_retention_come_from_config():
    # Retention and volumes of Prometheus, Loki and Tempo as rendered, for every shipped stack:
    # tests/render/test_rendered_objects.py. Here: what no shipped stack sets.
    cfg, _ = config("prod")
    obs = cfg.observability
    spec = charts.stack_values(cfg)["prometheus"]["prometheusSpec"]
    assert spec["resources"]["limits"]["memory"] == obs.metrics.memory
    local, _ = config("local")
    assert charts.stack_values(local)["prometheus"]["prometheusSpec"]["retention"] == "2d"
    with_class, _ = config("prod", storageClass="fast-ssd")
    assert charts.stack_values(with_class)["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"][
        "spec"]["storageClassName"] == "fast-ssd"


def test_collector_pipelines_follow_the_backends():
    cfg, _ = config("prod")
    pipelines = charts.collector_config(cfg)["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp_grpc/tempo"]
    assert pipelines["logs"]["exporters"] == ["otlp_http/loki"]
    assert charts.collector_config(cfg)["exporters"]["otlp_http/loki"]["endpoint"].endswith(":3100/otlp")
    jaeger, _ = config("prod", tracing="jaeger", logs="none")
    assert set(charts.collector_config(jaeger)["service"]["pipelines"]) == {"traces"}
    assert "jaeger.observability.svc.cluster.local:4317" in str(charts.collector_config(jaeger)["exporters"])


def test_datasources_link_traces_and_logs():
    result = run_stack("prod")
    maps = {r.inputs["metadata"]["name"]: r for r in result.of_type("kubernetes:core/v1:ConfigMap")
            if r.inputs["metadata"]["labels"].get(charts.DATASOURCE_LABEL[0]) == charts.DATASOURCE_LABEL[1]}
    assert set(maps) == {"datasource-loki", "datasource-tempo"}
    tempo = yaml.safe_load(maps["datasource-tempo"].inputs["data"]["datasource-tempo.yaml"])["datasources"][0]
    assert tempo["uid"] == charts.TEMPO_UID and tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] == charts.LOKI_UID
    loki = yaml.safe_load(maps["datasource-loki"].inputs["data"]["datasource-loki.yaml"])["datasources"][0]
    assert loki["jsonData"]["derivedFields"][0]["datasourceUid"] == charts.TEMPO_UID
    assert loki["url"] == endpoints.endpoint(config("prod")[0], "loki").url


def test_dashboards_are_config_maps_for_the_sidecar():
    result = run_stack("prod")
    boards = [r for r in result.of_type("kubernetes:core/v1:ConfigMap")
              if r.inputs["metadata"]["labels"].get(charts.DASHBOARD_LABEL[0]) == charts.DASHBOARD_LABEL[1]]
    assert len(boards) == 5  # inference, GPU fleet, RAG, cost, inference gateway
    sidecar = release(result, charts.STACK.chart).inputs["values"]["grafana"]["sidecar"]["dashboards"]
    assert (sidecar["label"], sidecar["labelValue"]) == charts.DASHBOARD_LABEL
    for board in boards:
        assert board.inputs["metadata"]["namespace"] == sidecar["searchNamespace"] == "observability"


def test_alert_groups_follow_the_engines_in_use():
    values = stack_values("prod")
    values["serving"]["models"][1].update(engine="tgi")
    values["tenancy"]["namespaces"]["ai-inference"]["podSecurity"] = "baseline"  # TGI runs as root only
    result = run_config(values, stack="prod-tgi")
    assert result.error is None, result.error
    rules = {r.inputs["metadata"]["name"] for r in result.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")}
    assert {"ai-platform-serving-vllm", "ai-platform-serving-tgi", "ai-platform-serving-tei"} <= rules
    local = {r.inputs["metadata"]["name"]
             for r in run_stack("local").of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")}
    assert local == {"ai-platform-workloads", "ai-platform-rag"}  # Ollama exports nothing, no GPU pools


def test_alert_thresholds_come_from_config():
    values = stack_values("prod")
    values["observability"]["alerts"] = {"queueDepth": 7, "ttftP99Seconds": 1.5, "kvCacheUsage": 0.9}
    result = run_config(values, stack="prod-alerts")
    [vllm] = [r for r in result.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
              if r.inputs["metadata"]["name"] == "ai-platform-serving-vllm"]
    exprs = {rule["alert"]: rule["expr"] for rule in vllm.inputs["spec"]["groups"][0]["rules"]}
    assert exprs["VllmQueueDepthHigh"].endswith("> 7")
    assert exprs["VllmTimeToFirstTokenHigh"].endswith("> 1.5")
    assert exprs["VllmKvCacheNearlyFull"].endswith("> 0.9")


# ------------------------------------------------------------------------------------------- toggles


def urns(values: dict, name: str) -> tuple[set[str], object]:
    # The shipped config itself: the session's run of the stack (each run of dev or prod costs seconds).
    result = run_stack(name) if values == stack_values(name) else run_config(values, stack=name)
    assert result.error is None, result.error
    return {r.urn for r in result.resources}, result


def toggled(base: dict, **observability) -> dict:
    values = copy.deepcopy(base)
    values["observability"].update(observability)
    return values


def part(result, type_: str) -> set[str]:
    return descendants(result, component(result, type_).urn)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_disabling_dashboards_removes_exactly_the_dashboards(stack):
    base = toggled(stack_values(stack), dashboards=True)
    on, result = urns(base, stack)
    off, _ = urns(toggled(base, dashboards=False), stack)
    assert off <= on
    assert on - off == part(result, "ai-platform:observability:Dashboards")


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_disabling_logs_removes_exactly_loki(stack):
    base = toggled(stack_values(stack), tracing="tempo", logs="loki")
    on, result = urns(base, stack)
    off, _ = urns(toggled(base, logs="none"), stack)
    assert off <= on
    node_logs_flow = flow_objects(result, "allow-node-logs")
    assert node_logs_flow
    assert on - off == part(result, "ai-platform:observability:Logs") | node_logs_flow


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_disabling_tracing_removes_exactly_the_trace_backend(stack):
    base = toggled(stack_values(stack), tracing="tempo", logs="loki")
    on, result = urns(base, stack)
    off, _ = urns(toggled(base, tracing="none"), stack)
    assert off <= on
    assert on - off == part(result, "ai-platform:observability:Tracing")


def test_disabling_tracing_and_logs_also_removes_the_collector_and_its_flows():
    base = toggled(stack_values("prod"), tracing="tempo", logs="loki")
    on, result = urns(base, "prod")
    off, _ = urns(toggled(base, tracing="none", logs="none"), "prod")
    otlp = flow_objects(result, "allow-otlp")
    assert otlp
    otlp |= flow_objects(result, "allow-node-logs")
    expected = (part(result, "ai-platform:observability:Logs") | part(result, "ai-platform:observability:Tracing")
                | part(result, "ai-platform:observability:Collector") | otlp)
    assert off <= on and on - off == expected


def test_switching_tempo_to_jaeger_swaps_only_the_backend():
    base = toggled(stack_values("prod"), tracing="tempo", logs="loki")
    tempo, result = urns(base, "prod")
    jaeger, jresult = urns(toggled(base, tracing="jaeger"), "prod")
    assert tempo - jaeger == {r.urn for r in result.resources if r.name == "ai-observability-tracing-tempo"}
    assert jaeger - tempo == {r.urn for r in jresult.resources if r.name == "ai-observability-tracing-jaeger"}


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_disabling_observability_removes_exactly_its_resources(stack):
    base = toggled(stack_values(stack), enabled=True)
    # Autoscaling reads Prometheus, so without observability the models must run fixed replicas
    # (a config error otherwise): compare stacks whose models already do.
    for model in base["serving"]["models"]:
        model["replicas"] = {"min": model["replicas"]["min"], "max": model["replicas"]["min"]}
    if base["rag"].get("embedding"):  # a scaling embedding server turns from KEDA to a CPU HPA
        base["rag"]["embedding"].pop("maxReplicas", None)
    on, result = urns(base, stack)
    off, _ = urns(toggled(base, enabled=False), stack)
    assert off <= on
    obs_flows = ("allow-prometheus", "allow-observability", "allow-alertmanager", "allow-otlp", "allow-node-logs")
    expected = part(result, OBSERVABILITY)
    # Everything that exists only for it: every monitor and rule of the program, the node-agent namespace
    # and the NetworkPolicies of its flows.
    expected |= {r.urn for r in result.resources if r.type.startswith(MONITORING)}
    expected |= {r.urn for r in result.of_type("kubernetes:core/v1:Namespace")
                 if r.inputs["metadata"]["name"] == NODE_AGENTS}
    expected |= flow_objects(result, *obs_flows)
    expected |= {r.urn for r in result.of_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")
                 if r.inputs["metadata"]["namespace"] == NODE_AGENTS}  # the node-agent namespace's own fence
    # The endpoint pickers' metrics readers (components/inference/router.py): the account, its token and the RBAC
    # that let Prometheus read an authenticated /metrics exist only to be scraped.
    expected |= {r.urn for r in result.resources
                 if r.parent_type == "ai-platform:inference:EndpointPicker" and "-metrics-" in r.name}
    assert on - off == expected


def _mi(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[:-len(suffix)]) * factor
    return float(quantity) / 2**20


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_the_stack_fits_the_observability_memory_quota(stack):
    """Memory requests of every pod the charts run in the observability namespace stay within its quota."""
    cfg, _ = config(stack)
    quota = cfg.tenancy.namespaces[cfg.observability.namespace].memory_quota
    values = charts.stack_values(cfg)
    reloader = values["prometheusOperator"]["prometheusConfigReloader"]["resources"]
    replicas = cfg.observability.metrics.replicas
    requests = [values["prometheus"]["prometheusSpec"]["resources"], reloader,
                values["alertmanager"]["alertmanagerSpec"]["resources"], reloader] * replicas + [
                values["prometheusOperator"]["resources"], values["kube-state-metrics"]["resources"],
                values["grafana"]["resources"], values["grafana"]["sidecar"]["resources"],
                values["grafana"]["sidecar"]["resources"]]
    obs = cfg.observability
    if obs.logs == "loki":
        requests.append(charts.loki_values(cfg)["singleBinary"]["resources"])
    if obs.tracing == "tempo":
        requests.append(charts.tempo_values(cfg)["tempo"]["resources"])
    elif obs.tracing == "jaeger":  # the chart declares no resources: the namespace's LimitRange default applies
        defaults = cfg.tenancy.namespaces[obs.namespace].container_defaults
        requests.append({"requests": {"memory": defaults.memory_request}})
    if obs.tracing != "none" or obs.logs != "none":
        requests.append(charts.collector_values(cfg)["resources"])
    total = sum(_mi(r["requests"]["memory"]) for r in requests)
    assert quota is not None and total <= _mi(quota), f"{stack}: {total:.0f}Mi requested, quota {quota}"


# ---------------------------------------------------------------------------------------- node logs


def test_node_log_agent_ships_every_pods_logs_to_loki():
    result = run_stack("prod")
    [agent] = [r for r in result.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "node-logs"]
    values = agent.inputs["values"]
    assert agent.inputs["chart"] == "opentelemetry-collector" and agent.inputs["namespace"] == "observability-node"
    assert values["mode"] == "daemonset"
    assert values["presets"] == {"logsCollection": {"enabled": True}, "kubernetesAttributes": {"enabled": True}}
    assert {"operator": "Exists"} in values["tolerations"], "GPU nodes are tainted; their pods log too"
    loki = endpoints.endpoint(config("prod")[0], "loki")
    exporter = values["alternateConfig"]["exporters"]["otlp_http/loki"]["endpoint"]
    assert exporter == f"http://{loki.host}:{loki.port}/otlp"
    pipeline = values["alternateConfig"]["service"]["pipelines"]["logs"]
    assert pipeline["exporters"] == ["otlp_http/loki"]
    assert values["podMonitor"] == {"enabled": True, "extraLabels": {"ai-platform/scrape": "true"}}
    assert not any(p.get("enabled") for name, p in values["ports"].items() if name != "metrics"), "nothing listens"
    net = Network(result.resources)
    agent_pod = Pod("observability-node", {"app.kubernetes.io/name": "opentelemetry-collector",
                                           "app.kubernetes.io/instance": "node-logs"})
    assert net.can_reach(agent_pod, Pod("observability", {"app.kubernetes.io/name": "loki"}), 3100)
    assert not net.can_reach(agent_pod, Pod("observability", {"app.kubernetes.io/name": "grafana"}), 3000)
    assert not net.can_reach(Pod("observability-node", {"app.kubernetes.io/name": "node-exporter"}),
                             Pod("observability", {"app.kubernetes.io/name": "loki"}), 3100)


def test_node_logs_off_removes_exactly_the_agent_and_its_flow():
    base = toggled(stack_values("dev"), logs="loki")
    on, result = urns(base, "dev")
    values = copy.deepcopy(base)
    values["observability"].setdefault("logStore", {})["nodeLogs"] = False
    off, _ = urns(values, "dev")
    agent = {r.urn for r in result.of_type(RELEASE) if r.name.endswith("-node-logs")}
    flow = flow_objects(result, "allow-node-logs")
    netpols = {r.urn for r in result.resources
               if r.name.endswith("allow-node-logs-from-observability-node")
               or r.name.endswith("observability-node-allow-node-logs-to-observability")}  # both sides of the flow
    assert len(agent) == 1 and len(netpols) == 2 and netpols <= flow
    assert off <= on and on - off == agent | flow


# ----------------------------------------------------------------------------------------- alerting

SLACK_URL = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/cccccccccccccccccccccccc"


def alerting_run(receiver: str, secret: str = SLACK_URL, **alerting):
    values = stack_values("prod")
    values["observability"]["alerting"] = {"receiver": receiver, **alerting}
    values["alertingSecret"] = secret
    result = run_config(values, stack="prod-alerting", secrets=["alertingSecret"])
    assert result.error is None, result.error
    return result


def test_slack_receiver_routes_every_alert_but_watchdog_from_a_secret():
    result = alerting_run("slack", slackChannel="#ai-oncall")
    [config] = result.of_type("kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig")
    spec = config.inputs["spec"]
    assert spec["route"]["receiver"] == "slack"
    assert spec["route"]["groupBy"] == ["alertname", "namespace", "model"]
    assert spec["route"]["routes"] == [{"receiver": "null", "matchers": [
        {"name": "alertname", "value": "Watchdog", "matchType": "="}]}]
    [slack] = next(r for r in spec["receivers"] if r["name"] == "slack")["slackConfigs"]
    assert slack["apiURL"] == {"name": "alertmanager-receiver", "key": "secret"} and slack["channel"] == "#ai-oncall"
    [secret] = [r for r in result.of_type("kubernetes:core/v1:Secret")
                if r.inputs["metadata"]["name"] == "alertmanager-receiver"]
    assert is_secret(secret.inputs["stringData"]) and unwrap(secret.inputs["stringData"]) == {"secret": SLACK_URL}
    stack = next(r for r in result.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")
    assert stack.inputs["values"]["alertmanager"]["alertmanagerSpec"]["alertmanagerConfiguration"] == {
        "name": "ai-platform"}
    assert config.urn in stack.dependencies and secret.urn in config.dependencies
    crds = next(r for r in result.of_type(RELEASE) if r.inputs["chart"] == "prometheus-operator-crds")
    assert crds.urn in config.dependencies
    # The URL never appears outside the secret-wrapped value.
    for r in result.resources:
        assert SLACK_URL not in str(_plain_parts(r.inputs)), r.name


def _plain_parts(value):
    if is_secret(value):
        return None
    if isinstance(value, dict):
        return {k: _plain_parts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_parts(v) for v in value]
    return value


@pytest.mark.parametrize("receiver, field, key", [("pagerduty", "pagerdutyConfigs", "routingKey"),
                                                  ("webhook", "webhookConfigs", "urlSecret")])
def test_pagerduty_and_webhook_receivers_read_the_secret(receiver, field, key):
    result = alerting_run(receiver, secret="0123456789abcdef0123456789abcdef")
    [config] = result.of_type("kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig")
    [target] = [r for r in config.inputs["spec"]["receivers"] if r["name"] == receiver]
    assert target[field] == [{key: {"name": "alertmanager-receiver", "key": "secret"}, "sendResolved": True}]


def test_no_receiver_keeps_the_charts_default_routing():
    result = run_stack("prod")
    assert not result.of_type("kubernetes:monitoring.coreos.com/v1alpha1:AlertmanagerConfig")
    stack = next(r for r in result.of_type(RELEASE) if r.inputs["chart"] == "kube-prometheus-stack")
    assert "alertmanagerConfiguration" not in stack.inputs["values"]["alertmanager"]["alertmanagerSpec"]


@pytest.mark.parametrize("alerting, secret, secret_keys, text", [
    ({"receiver": "slack"}, None, [], "required by observability.alerting.receiver slack: the Slack incoming-webhook "
                                      "URL"),
    ({"receiver": "slack"}, SLACK_URL, [], "must be a secret"),
    ({"receiver": "none"}, SLACK_URL, ["alertingSecret"], "set, but observability.alerting.receiver is none"),
])
def test_alerting_secret_errors_name_the_key(alerting, secret, secret_keys, text):
    values = stack_values("prod")
    values["observability"]["alerting"] = alerting
    if secret is not None:
        values["alertingSecret"] = secret
    result = run_config(values, stack="prod-alerting", secrets=secret_keys)
    assert result.error is not None and not result.resources
    assert "ai-platform:alertingSecret" in str(result.error) and text in str(result.error)
    assert SLACK_URL not in str(result.error)


def test_slack_channel_is_a_slack_setting():
    values = stack_values("prod")
    values["observability"]["alerting"] = {"receiver": "webhook", "slackChannel": "#x"}
    result = run_config(values, stack="prod-alerting")
    assert "ai-platform:observability.alerting" in str(result.error) and "slackChannel is a slack setting" in str(
        result.error)


def test_metrics_replicas_spread_across_nodes_with_a_disruption_budget():
    cfg, _ = config("prod")
    values = charts.stack_values(cfg)
    assert cfg.observability.metrics.replicas == 2
    for part, spec in (("prometheus", "prometheusSpec"), ("alertmanager", "alertmanagerSpec")):
        assert values[part][spec]["replicas"] == 2 and values[part][spec]["podAntiAffinity"] == "hard"
        assert values[part]["podDisruptionBudget"] == {"enabled": True, "minAvailable": 1}
    single = charts.stack_values(config("dev")[0])
    assert single["prometheus"]["prometheusSpec"]["replicas"] == 1
    assert "podDisruptionBudget" not in single["prometheus"] and "podAntiAffinity" not in single["prometheus"][
        "prometheusSpec"]
