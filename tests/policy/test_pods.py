"""Containers and pods (policy/rules/pods.py): each control compliant and violating, the node-agent exceptions
matched precisely, custom-resource pod templates, and the shipped stacks (program and every chart) passing."""

from __future__ import annotations

import copy

import pytest

from policy.rules import pods
from policy.rules.objects import KubeObject, pod_specs

from .harness import Res, run_resource, run_stack
from .shipped_objects import policy_config, stack_objects
from .test_workloads import KINDS

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
NAMESPACE = "kubernetes:core/v1:Namespace"
ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
SCALED_JOB = "kubernetes:keda.sh/v1alpha1:ScaledJob"

HARDENED = {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}
POD_CONTEXT = {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}


def container(name="vllm", image="vllm/vllm-openai:v0.33.0", **context) -> dict:
    return {"name": name, "image": image, "securityContext": {**HARDENED, **context}}


def workload(namespace: str | None = "ai-inference", kind: str = DEPLOYMENT, containers=None, init=None,
             pod_context=POD_CONTEXT, name="qwen7b", **spec_extra) -> dict:
    spec = {"containers": containers if containers is not None else [container()], **spec_extra}
    if init is not None:
        spec["initContainers"] = init
    if pod_context is not None:
        spec["securityContext"] = pod_context
    props = KINDS[kind](spec)
    props.setdefault("metadata", {})["name"] = name
    props["metadata"].pop("namespace", None)
    if namespace is not None:
        props["metadata"]["namespace"] = namespace
    return props


def run(policy: str, props: dict, kind: str = DEPLOYMENT, config: dict | None = None,
        namespaces: dict[str, str] | None = None) -> list[str]:
    """Messages of one policy for one object; the stack policy read-only-root-filesystem also sees
    `namespaces` (name -> pod-security enforce level) as Namespace resources."""
    if policy != READ_ONLY:
        return run_resource(policy, kind, props, config, name="res")
    stack = [Res(NAMESPACE, f"ns-{name}", {"metadata": {"name": name, "labels": {pods.PSA_ENFORCE: level}}})
             for name, level in (namespaces or {}).items()]
    return [v.message for v in run_stack(READ_ONLY, [*stack, Res(kind, "res", props)], config)]


def obj(props: dict, kind: str = DEPLOYMENT) -> KubeObject:
    group_version, name = kind.split(":")[1], kind.rsplit(":", 1)[-1]
    group, version = group_version.rsplit("/", 1)
    return KubeObject({**props, "apiVersion": version if group == "core" else f"{group}/{version}", "kind": name})


HOST = "no-host-access"
NON_ROOT = "run-as-non-root"
ESCALATION = "no-privilege-escalation"
READ_ONLY = "read-only-root-filesystem"
ALL = (HOST, NON_ROOT, ESCALATION, READ_ONLY)


def test_each_policy_reports_one_violation_per_object():
    bad = workload(hostPID=True, pod_context={"runAsUser": 0},
                   containers=[container(allowPrivilegeEscalation=True, readOnlyRootFilesystem=False)])
    assert len(run_resource(HOST, DEPLOYMENT, bad, None)) == 1
    assert len(run_resource(NON_ROOT, DEPLOYMENT, bad, None)) == 1
    assert len(run_resource(ESCALATION, DEPLOYMENT, bad, None)) == 1
    assert len(run_stack(READ_ONLY, [Res(DEPLOYMENT, "res", bad)])) == 1
    assert [p.name for p in (pods.no_host_access, pods.run_as_non_root, pods.no_privilege_escalation,
                             pods.read_only_root_filesystem)] == list(ALL)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_hardened_workload_passes_every_control(kind):
    props = workload(kind=kind, init=[container("download")],
                     volumes=[{"name": "cache", "persistentVolumeClaim": {"claimName": "hf-cache"}}])
    for policy in ALL:
        assert run(policy, props, kind) == [], policy


# ------------------------------------------------------------------------------------ no-host-access

HOST_ACCESS = {
    "hostNetwork": ({"hostNetwork": True}, {}, "hostNetwork: true"),
    "hostPID": ({"hostPID": True}, {}, "hostPID: true"),
    "hostIPC": ({"hostIPC": True}, {}, "hostIPC: true"),
    "hostPath": ({"volumes": [{"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}]}, {},
                 "volume 'sock' is a hostPath (/var/run/docker.sock)"),
    "hostPort": ({}, {"ports": [{"containerPort": 8080, "hostPort": 8080}]}, "container 'vllm' binds hostPort 8080"),
    "privileged": ({}, {"securityContext": {**HARDENED, "privileged": True}}, "container 'vllm' is privileged"),
}


@pytest.mark.parametrize("spec_extra, container_extra, text", HOST_ACCESS.values(), ids=HOST_ACCESS.keys())
def test_host_access_is_a_violation(spec_extra, container_extra, text):
    props = workload(containers=[{**container(), **container_extra}], **spec_extra)
    [message] = run(pods.HOST_NAME, props)
    assert message.startswith("Deployment ai-inference/qwen7b: ") and text in message
    assert "NODE_AGENTS" in message


def test_host_access_has_no_namespace_pass():
    # The old rule let anything in gpu-operator / observability-node reach the host: only listed agents may now.
    for namespace in ("gpu-operator", "observability-node", "kube-system", "ingress-nginx", None):
        props = workload(namespace, kind=DAEMONSET, hostNetwork=True)
        assert len(run(pods.HOST_NAME, props, DAEMONSET)) == 1, namespace


def test_privileged_and_false_fields_and_init_containers():
    props = workload(hostNetwork=False, containers=[container(privileged=False)],
                     init=[container("setup", privileged=True)])
    [message] = run(pods.HOST_NAME, props)
    assert "initContainer 'setup' is privileged" in message and "'vllm'" not in message
    ephemeral = workload(ephemeralContainers=[container("debug", privileged=True)])
    assert "ephemeralContainer 'debug' is privileged" in pods.check_host(obj(ephemeral), {}).__next__()


def node_exporter(**spec_extra) -> dict:
    return workload("observability-node", DAEMONSET, name="monitoring-prometheus-node-exporter",
                    hostNetwork=True, hostPID=True, containers=[container("node-exporter", ports=[{
                        "containerPort": 9100, "hostPort": 9100}])],
                    volumes=[{"name": "proc", "hostPath": {"path": "/proc"}}], **spec_extra)


def test_a_node_agent_gets_exactly_the_controls_its_entry_names():
    assert run(pods.HOST_NAME, node_exporter(), DAEMONSET) == []
    # hostIPC and privileged are not in node-exporter's entry.
    [message] = run(pods.HOST_NAME, node_exporter(hostIPC=True), DAEMONSET)
    assert "hostIPC: true" in message and "hostNetwork" not in message
    privileged = node_exporter()
    privileged["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    assert "is privileged" in run(pods.HOST_NAME, privileged, DAEMONSET)[0]


@pytest.mark.parametrize("change", ["name", "namespace", "kind"])
def test_exceptions_match_namespace_kind_and_name(change):
    props, kind = node_exporter(), DAEMONSET
    if change == "name":
        props["metadata"]["name"] = "node-exporter-2"
    elif change == "namespace":
        props["metadata"]["namespace"] = "ai-inference"
    else:
        kind = DEPLOYMENT
        props = workload("observability-node", name="monitoring-prometheus-node-exporter", hostNetwork=True)
    assert len(run(pods.HOST_NAME, props, kind)) == 1


def test_every_exception_has_a_reason_and_known_controls():
    known = {pods.HOST_NETWORK, pods.HOST_PID, pods.HOST_IPC, pods.HOST_PATH, pods.HOST_PORT, pods.PRIVILEGED,
             pods.RUN_AS_ROOT, pods.ESCALATION, pods.WRITABLE_ROOT}
    keys = [(e.namespace, e.kind, e.name) for e in pods.NODE_AGENTS]
    assert len(keys) == len(set(keys)), "one entry per object"
    for entry in pods.NODE_AGENTS:
        assert entry.controls and entry.controls <= known and len(entry.reason) > 40, entry
        assert pods.PRIVILEGED not in entry.controls, "no shipped workload needs privileged"


# ----------------------------------------------------------------------------------- run-as-non-root


def test_pod_or_container_run_as_non_root_is_compliant():
    assert run(pods.NON_ROOT_NAME, workload(pod_context=None, containers=[container(runAsUser=1000)])) == []
    assert run(pods.NON_ROOT_NAME, workload(pod_context={"runAsNonRoot": True},
                                            containers=[{"name": "c", "image": "x:1"}])) == []


def test_absent_run_as_non_root_is_a_violation():
    props = workload(pod_context=None, containers=[{"name": "vllm", "image": "vllm/vllm-openai:v0.33.0"}])
    [message] = run(pods.NON_ROOT_NAME, props)
    assert "container 'vllm' may run as root (runAsNonRoot not set in the container or pod securityContext)" \
        in message and "rootImages" in message


@pytest.mark.parametrize("user", [0, 0.0, "0"])
def test_run_as_user_zero_is_a_violation_even_with_run_as_non_root(user):
    [message] = run(pods.NON_ROOT_NAME, workload(containers=[container(runAsUser=user)]))
    assert "container 'vllm' runs as runAsUser: 0" in message
    [message] = run(pods.NON_ROOT_NAME, workload(pod_context={"runAsNonRoot": True, "runAsUser": user},
                                                 containers=[container(runAsUser=1000)]))
    assert message.startswith("Deployment ai-inference/qwen7b: the pod securityContext sets runAsUser: 0")


def test_root_images_allow_list_still_works():
    props = workload(pod_context={"runAsUser": 0}, containers=[container("driver", "nvcr.io/nvidia/driver:550")])
    assert len(run(pods.NON_ROOT_NAME, props)) == 1
    assert run(pods.NON_ROOT_NAME, props, config={"rootImages": ["nvcr.io/nvidia/*"]}) == []


def test_the_log_agent_may_run_as_root_but_a_model_server_may_not():
    agent = workload("observability-node", DAEMONSET, name="node-logs-agent", pod_context={"runAsUser": 0})
    assert run(pods.NON_ROOT_NAME, agent, DAEMONSET) == []
    agent["metadata"]["name"] = "node-logs-agent-copy"
    assert len(run(pods.NON_ROOT_NAME, agent, DAEMONSET)) == 1


# --------------------------------------------------------------------------- no-privilege-escalation


def test_allow_privilege_escalation_must_be_false():
    for value in (True, None):
        context = {k: v for k, v in HARDENED.items() if k != "allowPrivilegeEscalation"}
        if value is not None:
            context["allowPrivilegeEscalation"] = value
        props = workload(containers=[{"name": "vllm", "image": "v:1", "securityContext": context}])
        [message] = run(pods.ESCALATION_NAME, props)
        assert "container 'vllm' does not set allowPrivilegeEscalation: false" in message


def test_capabilities_beyond_the_allow_list_are_a_violation():
    ok = workload(containers=[container(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})])
    assert run(pods.ESCALATION_NAME, ok) == []
    bad = workload(containers=[container(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_ADMIN"]})])
    [message] = run(pods.ESCALATION_NAME, bad)
    assert "container 'vllm' adds capabilities SYS_ADMIN" in message and "NET_BIND_SERVICE" not in message.split(".")[0]
    cap_prefix = workload(containers=[container(capabilities={"add": ["CAP_NET_ADMIN"]})])
    assert "adds capabilities CAP_NET_ADMIN" in run(pods.ESCALATION_NAME, cap_prefix)[0]
    assert run(pods.ESCALATION_NAME, cap_prefix, config={"allowedCapabilities": ["NET_ADMIN"]}) == []
    assert len(run(pods.ESCALATION_NAME, ok, config={"allowedCapabilities": []})) == 1


@pytest.mark.parametrize("level", ["pod", "container"])
def test_seccomp_unconfined_is_a_violation_at_either_level(level):
    if level == "pod":
        props = workload(pod_context={**POD_CONTEXT, "seccompProfile": {"type": "Unconfined"}})
        text = "the pod seccompProfile is Unconfined"
    else:
        props = workload(containers=[container(seccompProfile={"type": "Unconfined"})])
        text = "container 'vllm' seccompProfile is Unconfined"
    [message] = run(pods.ESCALATION_NAME, props)
    assert text in message


def test_seccomp_localhost_and_runtime_default_are_fine():
    props = workload(containers=[container(seccompProfile={"type": "Localhost",
                                                           "localhostProfile": "profiles/vllm.json"})])
    assert run(pods.ESCALATION_NAME, props) == []


# ------------------------------------------------------------------------- read-only-root-filesystem


def test_writable_root_in_a_restricted_namespace_is_a_violation():
    props = workload("ai-app", containers=[container(readOnlyRootFilesystem=False), container("side", "x:1")])
    props["spec"]["template"]["spec"]["containers"][1]["securityContext"].pop("readOnlyRootFilesystem")
    [message] = run(READ_ONLY, props, namespaces={"ai-app": "restricted"})
    assert message.startswith("Deployment ai-app/qwen7b: container 'vllm', container 'side' have a writable root "
                              "filesystem in namespace ai-app, where Pod Security restricted applies")


def test_the_namespace_level_comes_from_the_stacks_namespace_label():
    props = workload("ai-inference", containers=[container(readOnlyRootFilesystem=False)])
    for level in ("baseline", "privileged"):
        assert run(READ_ONLY, props, namespaces={"ai-inference": level}) == [], level
    assert len(run(READ_ONLY, props, namespaces={"ai-inference": "restricted"})) == 1
    # The label wins over the pack config's list of namespaces the stack does not create.
    assert len(run(READ_ONLY, props, config={"podSecurityExemptNamespaces": ["ai-inference"]},
                   namespaces={"ai-inference": "restricted"})) == 1


def test_namespaces_the_stack_does_not_create_fail_closed():
    writable = [container(readOnlyRootFilesystem=False)]
    assert len(run(READ_ONLY, workload("team-x", containers=writable))) == 1
    # A workload that names no namespace lands in `default`: judged.
    assert len(run(READ_ONLY, workload(None, containers=writable))) == 1
    assert run(READ_ONLY, workload("kube-system", containers=writable)) == []
    exempt = {"podSecurityExemptNamespaces": ["team-x"]}
    assert run(READ_ONLY, workload("team-x", containers=writable), config=exempt) == []


def test_writable_root_exception_is_per_object():
    grafana = workload("observability", name="monitoring-grafana", containers=[container(readOnlyRootFilesystem=False)])
    assert run(READ_ONLY, grafana, namespaces={"observability": "restricted"}) == []
    grafana["metadata"]["name"] = "grafana-2"
    assert len(run(READ_ONLY, grafana, namespaces={"observability": "restricted"})) == 1


# ------------------------------------------------------------------------------- custom resources


def elasticsearch(**context) -> dict:
    return {"metadata": {"name": "search", "namespace": "ai-rag"},
            "spec": {"version": "9.4.3", "nodeSets": [{"name": "default", "count": 3, "podTemplate": {"spec": {
                "securityContext": POD_CONTEXT,
                "containers": [{"name": "elasticsearch", "securityContext": {**HARDENED, **context}}]}}}]}}


def test_custom_resource_pod_templates_are_judged():
    assert all(run(p, elasticsearch(), ELASTICSEARCH) == [] for p in ALL)
    [message] = run(pods.HOST_NAME, elasticsearch(privileged=True), ELASTICSEARCH)
    assert message.startswith("Elasticsearch ai-rag/search: node set default: container 'elasticsearch' is privileged")
    job = {"metadata": {"name": "batch", "namespace": "ai-app"}, "spec": {"jobTargetRef": {"template": {"spec": {
        "containers": [container(capabilities={"add": ["SYS_ADMIN"]})]}}}}}
    assert "adds capabilities SYS_ADMIN" in run(pods.ESCALATION_NAME, job, SCALED_JOB)[0]


@pytest.mark.parametrize("props", [{}, {"metadata": {"namespace": "ai-app"}}, {"spec": {"template": {"spec": {}}}}],
                         ids=["empty", "no-spec", "empty-pod-spec"])
def test_missing_pod_spec_or_containers_is_compliant(props):
    for policy in ALL:
        assert run(policy, copy.deepcopy(props)) == [], policy


def test_non_workload_objects_are_ignored():
    assert all(run(p, {"metadata": {"name": "x"}, "data": {"a": "b"}}, "kubernetes:core/v1:ConfigMap") == []
               for p in ALL)


# ------------------------------------------------------------------------------- the shipped stacks

STACKS = ("dev", "prod", "local")
CHECKS = {pods.HOST_NAME: pods.check_host, pods.NON_ROOT_NAME: pods.check_non_root,
          pods.ESCALATION_NAME: pods.check_escalation, pods.READ_ONLY_NAME: pods.check_read_only}


@pytest.mark.parametrize("stack", STACKS)
def test_every_object_of_the_shipped_stacks_passes(stack):
    """The program's workloads and every chart-rendered pod (and CR pod template) meet every control, with the
    stack's own pack config and with none."""
    objects = stack_objects(stack)
    assert sum(1 for o in objects if o.source.startswith("chart:") and any(pod_specs(o))) >= 5, "charts rendered"
    levels = pods.namespace_levels(objects)
    for name, check in CHECKS.items():
        for config in (policy_config(stack, name), {}):
            found = [f"{o.ref()}: {m}" for o in objects
                     for m in (check(o, config, levels) if check is pods.check_read_only else check(o, config))]
            assert found == [], (name, found)


def test_every_exception_matches_a_shipped_object_that_needs_it():
    """No stale entry: each NODE_AGENTS entry names an object of dev, prod or local, and each control it lists
    would be a violation of that object without the entry."""
    saved = pods.NODE_AGENTS
    for entry in saved:
        matches = [o for stack in STACKS for o in stack_objects(stack) if entry.matches(o)]
        if entry.namespace == "ingress-nginx" and not matches:
            continue  # the deprecated Ingress path (rag.gateway.expose: ingress): no shipped stack renders it now
        assert matches, f"{entry.namespace}/{entry.kind}/{entry.name} matches nothing"
        try:
            pods.NODE_AGENTS = tuple(e for e in saved if e is not entry)
            for control in entry.controls:
                policy = {pods.RUN_AS_ROOT: pods.check_non_root, pods.ESCALATION: pods.check_escalation,
                          pods.WRITABLE_ROOT: pods.check_read_only}.get(control, pods.check_host)
                assert any(list(policy(o, {})) for o in matches), f"{entry.name} does not need {control}"
        finally:
            pods.NODE_AGENTS = saved


def test_the_shipped_namespaces_say_their_pod_security_level():
    """read-only-root-filesystem reads each namespace's level from its label: every Namespace the stacks create
    carries one, and only the node-agent namespaces are below restricted."""
    for stack in STACKS:
        levels = pods.namespace_levels(stack_objects(stack))
        assert levels and all(level in ("restricted", "baseline", "privileged") for level in levels.values()), levels
        # ai-gateway: baseline for body-based routing's chart (config/namespaces.py)
        assert {n for n, level in levels.items() if level != "restricted"} <= {"gpu-operator", "observability-node",
                                                                               "ai-gateway", "istio-system"}
