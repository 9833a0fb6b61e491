"""Properties of what `pulumi up` creates, proven on the objects: the program's own and what each chart
renders from the program's values (tests/render/conftest.py renders each shipped stack once per session).

A value the program hands a chart proves nothing until the chart turns it into the field that matters;
these tests read that field."""

from __future__ import annotations

import pytest
import yaml

from components.labels import GPU_TAINT_EFFECT
from components.observability import charts as obs_charts
from components.rag import charts as rag_charts
from config import validate
from tests.conftest import run_stack, stack_values

from .objects import Obj, all_objects, containers, of_kind, one, pod_labels, selects, tolerates, workloads

SHIPPED = ("dev", "prod", "local")
CLOUD = ("dev", "prod")


def config(stack: str):
    return validate(stack_values(stack), f"Pulumi.{stack}.yaml")[0]


# ----------------------------------------------------------------------------- GPU operator operands


def gpu_node_taints(stack: str) -> list[dict]:
    """Every taint the program puts on a GPU node (EKS node groups, GKE node pools), in pod-spec form."""
    effects = {"NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute"}
    result, taints = run_stack(stack), []
    for r in result.of_type("aws:eks/nodeGroup:NodeGroup"):
        taints += r.inputs.get("taints") or []
    for r in result.of_type("gcp:container/nodePool:NodePool"):
        taints += (r.inputs.get("nodeConfig") or {}).get("taints") or []
    unique = {(t["key"], t.get("value", ""), effects.get(t["effect"], t["effect"])) for t in taints}
    return [{"key": k, "value": v, "effect": e} for k, v, e in sorted(unique)]


@pytest.mark.parametrize("stack", CLOUD)
def test_gpu_operator_operands_tolerate_every_gpu_node_taint_at_node_critical_priority(stack):
    taints = gpu_node_taints(stack)
    assert {"key": "nvidia.com/gpu", "value": "present", "effect": GPU_TAINT_EFFECT} in taints
    # The ClusterPolicy's `daemonsets` block is what the operator puts on every operand it runs
    # (toolkit, device plugin, DCGM exporter, GFD, MIG manager, validator); no operand overrides it.
    [policy] = of_kind(stack, "ClusterPolicy")
    spec = policy["spec"]
    for taint in taints:
        assert tolerates(spec["daemonsets"]["tolerations"], taint), f"operands do not tolerate {taint}"
    assert spec["daemonsets"]["priorityClassName"] == "system-node-critical"
    for operand, block in spec.items():
        if operand != "daemonsets" and isinstance(block, dict) and block.get("enabled") is not False:
            assert "tolerations" not in block and "priorityClassName" not in block, operand
    # NFD's worker labels the GPU nodes (the operator schedules operands by those labels): it must run there too.
    worker = one(stack, "DaemonSet", "gpu-operator-node-feature-discovery-worker")["spec"]["template"]["spec"]
    for taint in taints:
        assert tolerates(worker.get("tolerations"), taint), f"NFD worker does not tolerate {taint}"


def test_gke_admits_every_critical_pod_outside_kube_system_through_a_priority_quota():
    """GKE's API server admits system-node-critical / system-cluster-critical pods outside kube-system only
    up to a ResourceQuota scoped to those PriorityClasses in their namespace (EKS and kind do not limit them)."""
    stack = "dev"
    assert run_stack(stack).of_type("gcp:container/cluster:Cluster")
    allowed: dict[str, set] = {}
    for q in of_kind(stack, "ResourceQuota"):
        for e in (q["spec"].get("scopeSelector") or {}).get("matchExpressions", []):
            if e["scopeName"] == "PriorityClass" and e["operator"] == "In":
                allowed.setdefault(q.namespace, set()).update(e["values"])
    critical = [(w, w["spec"]["template"]["spec"]["priorityClassName"]) for w in workloads(stack)
                if w.namespace != "kube-system"
                and str(w["spec"]["template"]["spec"].get("priorityClassName", "")).startswith("system-")]
    [policy] = of_kind(stack, "ClusterPolicy")
    assert any(w.namespace == "gpu-operator" for w, _ in critical)
    rejected = [w for w, pc in critical if pc not in allowed.get(w.namespace, set())]
    assert rejected == [], f"GKE would reject these pods (no PriorityClass quota in their namespace): {rejected}"
    assert policy["spec"]["daemonsets"]["priorityClassName"] in allowed["gpu-operator"]


# ------------------------------------------------------------------------------------- Pod Security


def enforced_levels(stack: str) -> dict[str, str]:
    return {o.name: o.labels["pod-security.kubernetes.io/enforce"] for o in of_kind(stack, "Namespace", "program")}


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_pod_meets_the_pod_security_level_its_namespace_enforces(stack):
    from tools import podsecurity

    levels, checked, problems = enforced_levels(stack), 0, []
    assert set(levels.values()) <= set(podsecurity.LEVELS) and "restricted" in levels.values()
    for obj in all_objects(stack):
        for where, spec, pod_annotations in podsecurity.pod_templates(obj):
            if obj.namespace == "kube-system":  # the cluster's own namespace (the EKS autoscaler), privileged there
                continue
            assert obj.namespace in levels, f"{where} ({obj.source}) runs in a namespace the program does not create"
            checked += 1
            problems += [f"{where} ({obj.source}) in {levels[obj.namespace]} {obj.namespace}: {v}"
                         for v in podsecurity.violations(spec, levels[obj.namespace], pod_annotations)]
    assert problems == [], "\n".join(problems)
    assert checked >= 5


@pytest.mark.parametrize("stack", SHIPPED)
def test_every_namespace_below_restricted_needs_it(stack):
    """An exception in config/namespaces.py is justified by a rendered pod that restricted would reject."""
    from tools import podsecurity

    needs = {}
    for obj in all_objects(stack):
        for _, spec, pod_annotations in podsecurity.pod_templates(obj):
            if podsecurity.violations(spec, "restricted", pod_annotations):
                needs.setdefault(obj.namespace, []).append(obj)
    lower = {ns: level for ns, level in enforced_levels(stack).items() if level != "restricted"}
    unneeded = sorted(ns for ns in lower if ns not in needs)
    assert unneeded == [], f"every pod of {unneeded} meets restricted: enforce restricted there"


@pytest.mark.parametrize("level,spec,expected", [
    ("baseline", {"hostNetwork": True, "containers": [{"name": "a"}]}, ["hostNetwork: true"]),
    ("baseline", {"volumes": [{"name": "h", "hostPath": {"path": "/"}}], "containers": []}, ["hostPath volume 'h'"]),
    ("baseline", {"containers": [{"name": "a", "securityContext": {"privileged": True}}]},
     ["container 'a': privileged"]),
    ("baseline", {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["NET_BIND_SERVICE"]}}}]},
     []),
    ("baseline", {"containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}}]},
     ["container 'a': adds capabilities ['SYS_ADMIN']"]),
    ("baseline", {"containers": [{"name": "a", "ports": [{"containerPort": 80, "hostPort": 80}]}]},
     ["container 'a': hostPort 80"]),
    ("restricted", {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "a", "securityContext": {
                        "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}]}, []),
    ("restricted", {"containers": [{"name": "a"}]},
     ["container 'a': allowPrivilegeEscalation is not false",
      "container 'a': runAsNonRoot is not true (container or pod)",
      "container 'a': seccompProfile is not RuntimeDefault/Localhost (container or pod)",
      "container 'a': capabilities do not drop ALL"]),
    ("restricted", {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "volumes": [{"name": "n", "nfs": {"server": "x", "path": "/"}}],
                    "initContainers": [{"name": "i", "securityContext": {
                        "runAsNonRoot": False, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}],
                    "containers": []},
     ["volume 'n' of type nfs", "initContainer 'i': runAsNonRoot is not true (container or pod)"]),
    ("privileged", {"hostPID": True, "containers": [{"name": "a", "securityContext": {"privileged": True}}]}, []),
])
def test_pod_security_checks_follow_the_standard(level, spec, expected):
    from tools import podsecurity

    assert podsecurity.violations(spec, level) == expected


# -------------------------------------------------------------------------- Prometheus selects monitors


def prometheus(stack: str) -> Obj:
    [prom] = of_kind(stack, "Prometheus")
    return prom


@pytest.mark.parametrize("stack", SHIPPED)
def test_prometheus_selects_every_monitor_and_rule_of_the_program_and_the_charts(stack):
    prom = prometheus(stack)
    spec = prom["spec"]
    namespaces = {o.name: o for o in of_kind(stack, "Namespace", "program")}
    seen = {}
    for kind, field in (("ServiceMonitor", "serviceMonitor"), ("PodMonitor", "podMonitor"), ("PrometheusRule", "rule")):
        ns_selector = spec.get(f"{field}NamespaceSelector")
        for obj in of_kind(stack, kind):
            assert selects(spec.get(f"{field}Selector"), obj.labels), f"Prometheus does not select {obj!r}"
            # nil: only Prometheus' own namespace; a selector: namespaces by their labels.
            if ns_selector is None:
                assert obj.namespace == prom.namespace, f"{obj!r} is outside the namespaces Prometheus watches"
            else:
                assert selects(ns_selector, namespaces[obj.namespace].labels), f"namespace of {obj!r} not selected"
            seen.setdefault(kind, set()).add(obj.source)
    assert {"ServiceMonitor", "PrometheusRule"} <= set(seen)
    assert len(seen["ServiceMonitor"]) >= 3 and "program" in seen["PrometheusRule"]


# --------------------------------------------------------------------------------------------- Grafana


@pytest.mark.parametrize("stack", SHIPPED)
def test_grafana_admin_credentials_come_from_the_programs_secret(stack):
    grafana = one(stack, "Deployment", obs_charts.GRAFANA_FULLNAME, "monitoring")
    [container] = [c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana"]
    env = {e["name"]: e for e in container.get("env") or []}
    for var, key in (("GF_SECURITY_ADMIN_USER", obs_charts.GRAFANA_ADMIN_USER_KEY),
                     ("GF_SECURITY_ADMIN_PASSWORD", obs_charts.GRAFANA_ADMIN_PASSWORD_KEY)):
        assert env[var] == {"name": var, "valueFrom": {"secretKeyRef": {"name": obs_charts.GRAFANA_ADMIN_SECRET,
                                                                          "key": key}}}
    assert not any("ADMIN" in (f.get("secretRef") or {}).get("name", "") for f in container.get("envFrom") or [])
    [secret] = [s for s in of_kind(stack, "Secret", "program") if s.name == obs_charts.GRAFANA_ADMIN_SECRET]
    assert secret.namespace == grafana.namespace
    # The chart generates no password of its own (it would be a random value in a Secret of the release).
    assert not [s for s in of_kind(stack, "Secret", "monitoring") if "grafana" in s.name]


# ---------------------------------------------------------------------- retention and storage vs config


def claim(template: dict) -> tuple[str, object]:
    spec = template["spec"]
    return spec["resources"]["requests"]["storage"], spec.get("storageClassName")


@pytest.mark.parametrize("stack", SHIPPED)
def test_prometheus_loki_and_tempo_keep_what_the_config_says_where_it_says(stack):
    cfg = config(stack)
    obs = cfg.observability
    spec = prometheus(stack)["spec"]
    assert spec["retention"] == obs.metrics.retention
    assert claim(spec["storage"]["volumeClaimTemplate"]) == (f"{obs.metrics.storage_gi}Gi", obs.storage_class)
    if obs.logs == "loki":
        [loki] = [w for w in of_kind(stack, "StatefulSet", "loki") if w.name == obs_charts.LOKI_FULLNAME]
        [volume] = loki["spec"]["volumeClaimTemplates"]
        assert claim(volume) == (f"{obs.log_store.storage_gi}Gi", obs.storage_class)
        config_map = one(stack, "ConfigMap", obs_charts.LOKI_FULLNAME, "loki")
        loki_config = yaml.safe_load(config_map["data"]["config.yaml"])
        assert loki_config["limits_config"]["retention_period"] == f"{obs_charts.hours(obs.log_store.retention)}h"
        assert loki_config["compactor"]["retention_enabled"] is True
    if obs.tracing == "tempo":
        tempo = one(stack, "StatefulSet", obs_charts.TEMPO_FULLNAME, "tempo")
        [volume] = tempo["spec"]["volumeClaimTemplates"]
        assert claim(volume) == (f"{obs.trace_store.storage_gi}Gi", obs.storage_class)
        tempo_config = yaml.safe_load(one(stack, "ConfigMap", obs_charts.TEMPO_FULLNAME, "tempo")["data"]["tempo.yaml"])
        assert tempo_config["compactor"]["compaction"]["block_retention"] == \
            f"{obs_charts.hours(obs.trace_store.retention)}h"


# ------------------------------------------------------------------------------- HA: replicas and PDBs


def pods_of(obj: Obj) -> tuple[int, dict]:
    """(replicas, pod labels) of a workload or of a Prometheus/Alertmanager (labels its operator adds)."""
    if obj.kind == "Prometheus":
        return obj["spec"].get("replicas", 1), {**(obj["spec"].get("podMetadata") or {}).get("labels", {}),
                                                "app.kubernetes.io/name": "prometheus",
                                                "operator.prometheus.io/name": obj.name}
    if obj.kind == "Alertmanager":
        return obj["spec"].get("replicas", 1), {**(obj["spec"].get("podMetadata") or {}).get("labels", {}),
                                                "app.kubernetes.io/name": "alertmanager", "alertmanager": obj.name}
    return obj["spec"].get("replicas", 1), pod_labels(obj)


def test_every_replicated_workload_in_prod_has_a_disruption_budget():
    stack = "prod"
    pdbs = of_kind(stack, "PodDisruptionBudget")
    replicated = [o for o in all_objects(stack)
                  if o.kind in ("Deployment", "StatefulSet", "Prometheus", "Alertmanager") and pods_of(o)[0] >= 2]
    missing = [o for o in replicated
               if not any(p.namespace == o.namespace and selects(p["spec"]["selector"], pods_of(o)[1]) for p in pdbs)]
    assert missing == [], f"replicated without a PodDisruptionBudget: {missing}"
    names = {o.name for o in replicated}
    # What prod's config asks to be HA renders as two or more pods.
    cfg = config(stack)
    assert {"monitoring-prometheus", "monitoring-alertmanager", "redis-server", "redis-haproxy", "ai-gateway",
            "public-body-based-router", "internal-body-based-router", "milvus-etcd", "milvus-proxy",
            "milvus-querynode", "milvus-datanode",
            "milvus-mixcoord", "milvus-streamingnode"} <= names
    assert pods_of(one(stack, "Prometheus", "monitoring-prometheus"))[0] == cfg.observability.metrics.replicas
    assert pods_of(one(stack, "StatefulSet", "redis-server"))[0] == cfg.rag.cache.replicas
    # Elasticsearch: ECK creates the PDB (maxUnavailable 1) unless spec.podDisruptionBudget disables it.
    [es] = of_kind(stack, "Elasticsearch")
    assert sum(n["count"] for n in es["spec"]["nodeSets"]) == cfg.rag.full_text.replicas >= 2
    assert es["spec"].get("podDisruptionBudget", {"spec": {"maxUnavailable": 1}}) != {}


# ----------------------------------------------------------------------- data services: storage and auth


def secret_env(workload: Obj) -> set[tuple[str, str, str]]:
    """(env name, Secret name, key) of every secretKeyRef in the workload's containers."""
    return {(e["name"], e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for c in containers(workload["spec"]["template"]["spec"]) for e in c.get("env") or []
            if "secretKeyRef" in (e.get("valueFrom") or {})}


def program_secret(stack: str, name: str, namespace: str) -> Obj:
    [secret] = [s for s in of_kind(stack, "Secret", "program") if s.name == name and s.namespace == namespace]
    return secret


@pytest.mark.parametrize("stack", SHIPPED)
def test_data_services_persist_where_the_config_says_and_authenticate_with_the_programs_secrets(stack):
    cfg = config(stack)
    rag = cfg.rag
    ns = rag.namespace
    # The data layer's StorageClass where the program creates one (cloud stacks), else the cluster default.
    program_classes = {o.name for o in of_kind(stack, "StorageClass", "program")}
    rag_class = "ai-platform-rag" if "ai-platform-rag" in program_classes else None
    # Redis: every container authenticates with the program's Secret; a volume per replica when persistent.
    redis = one(stack, "StatefulSet", "redis-server", "redis")
    assert redis["spec"]["replicas"] == rag.cache.replicas
    assert {(s, k) for _, s, k in secret_env(redis)} == {(rag_charts.REDIS_SECRET, rag_charts.REDIS_KEY)}
    assert {c["name"] for c in containers(redis["spec"]["template"]["spec"])} >= {"redis", "sentinel"}
    program_secret(stack, rag_charts.REDIS_SECRET, ns)
    if rag.cache.persistence:
        [volume] = redis["spec"]["volumeClaimTemplates"]
        assert claim(volume) == (f"{rag.cache.storage_gi}Gi", rag_class)
    else:
        assert not redis["spec"].get("volumeClaimTemplates")
    store = rag.vector_store
    if store.engine == "milvus":
        milvus = [w for w in workloads(stack) if w.source == "milvus" and w.kind == "Deployment"]
        assert milvus
        for w in milvus:
            assert ("COMMON_SECURITY_DEFAULTROOTPASSWORD", rag_charts.MILVUS_SECRET,
                    rag_charts.MILVUS_ROOT_PASSWORD_KEY) in secret_env(w), w
            env = {e["name"]: e.get("value") for c in containers(w["spec"]["template"]["spec"])
                   for e in c.get("env") or []}
            assert env.get("COMMON_SECURITY_AUTHORIZATIONENABLED") == "true", w
        by_component = {pod_labels(w).get("component"): w["spec"]["replicas"] for w in milvus}
        assert {c: n for c, n in by_component.items() if c in rag_charts.milvus_replicas(store)} == \
            rag_charts.milvus_replicas(store)
        program_secret(stack, rag_charts.MILVUS_SECRET, ns)
        if store.milvus_mode == "standalone":
            pvc = one(stack, "PersistentVolumeClaim", "milvus", "milvus")
            assert claim(pvc) == (f"{store.storage_gi}Gi", rag_class)
        else:
            [volume] = one(stack, "StatefulSet", "milvus-etcd", "milvus")["spec"]["volumeClaimTemplates"]
            assert claim(volume)[1] == rag_class
    elif store.engine == "qdrant":
        qdrant = one(stack, "StatefulSet", "qdrant", "qdrant")
        assert ("QDRANT__SERVICE__API_KEY", rag_charts.QDRANT_SECRET, rag_charts.QDRANT_KEY) in secret_env(qdrant)
        program_secret(stack, rag_charts.QDRANT_SECRET, ns)
        [volume] = [v for v in qdrant["spec"]["volumeClaimTemplates"] if v["metadata"]["name"] == "qdrant-storage"]
        assert claim(volume) == (f"{store.storage_gi}Gi", rag_class)
    if rag.full_text is not None:
        [es] = of_kind(stack, "Elasticsearch")
        for node_set in es["spec"]["nodeSets"]:
            [volume] = node_set["volumeClaimTemplates"]
            assert claim(volume) == (f"{rag.full_text.storage_gi}Gi", rag_class)
