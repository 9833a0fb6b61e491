"""Mutation corpus for the RBAC, exposure, NetworkPolicy-content and secrets families (issue 17).

Program mutations edit the real recorded resources of a shipped stack (the harness of test_mutations.py: the
stack's own pack config, a violation absent before the edit, from a mandatory policy that blocks). Chart-content
mutations edit a Release's values, render that Release with the pinned chart and run the family's check on the
rendered objects (the pack judges Releases through the same renderer once it is installed behind
`objects(args)`); each also shows the unmodified Release passes.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from functools import cache

import pytest

from policy.rules import POLICIES_BY_NAME, network, secrets
from policy.rules.objects import KubeObject
from tests.conftest import run_config, stack_values
from tests.conftest import run_stack as run_shipped
from tests.policy.test_mutations import (
    Mutation,
    assert_caught,
    edit,
    namespace,
    pack_config,
    pod_specs,
    remove_ingress_tls,
    workloads,
)
from tests.render.conftest import require_charts
from tools import mockrun, render
from tools.mockrun import Recorded

STACKS = ("dev", "prod", "local")
RBAC = "kubernetes:rbac.authorization.k8s.io/v1"
ROLE, CLUSTER_ROLE = f"{RBAC}:Role", f"{RBAC}:ClusterRole"
ROLE_BINDING, CLUSTER_ROLE_BINDING = f"{RBAC}:RoleBinding", f"{RBAC}:ClusterRoleBinding"
SERVICE = "kubernetes:core/v1:Service"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
DEPLOYER, VIEWER = "ai-platform-deployer", "ai-platform-viewer"
WORLD = {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}


def find(resources: list[Recorded], type_: str, where: Callable[[Recorded], bool] = lambda r: True) -> Recorded:
    found = [r for r in resources if r.type == type_ and where(r)]
    if not found:
        pytest.fail(f"no {type_.rsplit(':', 1)[-1]} to mutate")
    return found[0]


def named(name: str) -> Callable[[Recorded], bool]:
    return lambda r: r.inputs.get("metadata", {}).get("name") == name


def component(value: str) -> Callable[[Recorded], bool]:
    return lambda r: (r.inputs.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component") == value


# ----------------------------------------------------------------------------------------- RBAC


def tenant_cluster_admin(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, ROLE_BINDING, named(DEPLOYER))
    edit(target, lambda p: p.update(roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                             "name": "cluster-admin"}))
    return {"rbac-no-privileged-bindings": "binds the ClusterRole cluster-admin (full control of the namespace)"}


def wildcard_role(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, ROLE, named(DEPLOYER))
    edit(target, lambda p: p["rules"].append({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}))
    return {"rbac-no-dangerous-rules": "wildcard apiGroups '*', resources '*', verbs '*'"}


def authenticated_viewers(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, CLUSTER_ROLE_BINDING, named(VIEWER))
    edit(target, lambda p: p["subjects"].append({"kind": "Group", "name": "system:authenticated",
                                                 "apiGroup": "rbac.authorization.k8s.io"}))
    return {"rbac-no-privileged-bindings": "subject Group system:authenticated is every authenticated user"}


def deployer_exec(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, ROLE, named(DEPLOYER))
    edit(target, lambda p: p["rules"].append({"apiGroups": [""], "resources": ["pods/exec", "pods/portforward"],
                                              "verbs": ["create", "get"]}))
    return {"rbac-no-dangerous-rules": "pods/exec, pods/portforward (a shell or tunnel into running pods)"}


def viewer_reads_secrets(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, CLUSTER_ROLE, named(VIEWER))
    edit(target, lambda p: p["rules"][0]["resources"].append("secrets"))
    return {"rbac-no-dangerous-rules": "get/list/watch on secrets in every namespace"}


def deployer_impersonates(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, ROLE, named(DEPLOYER))
    edit(target, lambda p: p["rules"].append({"apiGroups": [""], "resources": ["serviceaccounts"],
                                              "verbs": ["impersonate"]}))
    return {"rbac-no-dangerous-rules": "verb impersonate on serviceaccounts"}


# ------------------------------------------------------------------------------------- exposure


def node_port_gateway(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, SERVICE, component("gateway"))
    edit(target, lambda p: p["spec"].update(type="NodePort"))
    return {"loadbalancer-services-allowed": f"Service {namespace(target)}/ai-gateway: is of type NodePort"}


def external_ips_model_server(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, SERVICE, lambda r: component("model-server")(r) or component("embedding")(r))
    edit(target, lambda p: p["spec"].update(externalIPs=["203.0.113.10"]))
    return {"loadbalancer-services-allowed": "has externalIPs 203.0.113.10"}


def server_snippet(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, INGRESS)
    edit(target, lambda p: p["metadata"]["annotations"].update(
        {"nginx.ingress.kubernetes.io/server-snippet": "location /internal { proxy_pass http://10.0.0.1; }"}))
    return {"ingress-safe-annotations": "annotation nginx.ingress.kubernetes.io/server-snippet injects"}


def world_allowlist(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, INGRESS)
    edit(target, lambda p: p["metadata"]["annotations"].update(
        {"nginx.ingress.kubernetes.io/whitelist-source-range": "0.0.0.0/0"}))
    return {"ingress-safe-annotations": "allows 0.0.0.0/0 (the whole internet)"}


def route_management_port(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, INGRESS)
    edit(target, lambda p: p["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"].update(
        port={"name": "management"}))
    return {"ingress-no-management-routes": "routes to Service ai-gateway port 'management', a management port"}


# ------------------------------------------------------------------------------ NetworkPolicies


def allow_all_egress(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, NETWORK_POLICY, named("allow-model-download"))
    edit(target, lambda p: p["spec"].update(egress=[{}]))
    return {"netpol-no-allow-all": "egress[0] has no to peers: every destination on every port"}


def model_servers_to_internet(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, NETWORK_POLICY, lambda r: named("allow-serving-to-data-to-ai-rag")(r)
                  or "model-server" in str(r.inputs.get("spec", {}).get("podSelector")))
    edit(target, lambda p: p["spec"].setdefault("egress", []).append(
        {"to": [WORLD], "ports": [{"protocol": "TCP", "port": 443}]}))
    return {"netpol-internet-egress": "opens 0.0.0.0/0 on 443"}


def download_label_on_model_server(stack: str, resources: list[Recorded]) -> dict[str, str]:
    found = workloads(resources, lambda r: r.type == "kubernetes:apps/v1:Deployment" and component("model-server")(r))
    if not found:
        pytest.fail(f"{stack} has no model server Deployment")
    for props in (found[0].inputs, found[0].outputs):
        if props:
            props["spec"]["template"]["metadata"]["labels"]["ai-platform/role"] = "model-download"
    return {"privileged-flow-labels": "pod template carries ai-platform/role: model-download"}


# -------------------------------------------------------------------------------------- secrets


def password_in_configmap(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, CONFIGMAP, named("ai-gateway-config"))
    edit(target, lambda p: p["data"].update(SPRING_DATA_REDIS_PASSWORD="hunter2-redis"))
    return {"no-plain-secret-env": "data['SPRING_DATA_REDIS_PASSWORD'] looks secret"}


def dsn_in_env(stack: str, resources: list[Recorded]) -> dict[str, str]:
    found = workloads(resources, component("gateway"))
    if not found:
        pytest.fail(f"{stack} has no gateway")
    for spec in pod_specs(found[0]):
        spec["containers"][0].setdefault("env", []).append(
            {"name": "SPRING_DATASOURCE_URL", "value": "postgresql://gateway:Pr0d-pa55@pg.ai-rag:5432/rag"})
    return {"no-plain-secret-env": "env SPRING_DATASOURCE_URL holds a URL with a password in its userinfo"}


def credentials_config_file(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = find(resources, CONFIGMAP, named("ai-gateway-config"))
    edit(target, lambda p: p["data"].update({"application.properties": "spring.redis.password=hunter2\n"}))
    return {"no-plain-secret-env": "data['application.properties'] sets spring.redis.password to a literal secret"}


def _deployers(values: dict) -> bool:
    return any(ns.get("deployers") for ns in (values.get("tenancy", {}).get("namespaces") or {}).values())


def _viewers(values: dict) -> bool:
    return bool(values.get("tenancy", {}).get("viewers"))


def _gateway(values: dict) -> bool:
    return bool(values.get("rag", {}).get("gateway"))


def _everywhere(values: dict) -> bool:
    return True


MUTATIONS = [
    Mutation("tenant-cluster-admin-binding", _deployers, tenant_cluster_admin),
    Mutation("wildcard-deployer-role", _deployers, wildcard_role),
    Mutation("system-authenticated-viewers", _viewers, authenticated_viewers),
    Mutation("pods-exec-for-deployers", _deployers, deployer_exec),
    Mutation("viewer-reads-secrets", _viewers, viewer_reads_secrets),
    Mutation("deployer-impersonates", _deployers, deployer_impersonates),
    Mutation("node-port-gateway", _gateway, node_port_gateway),
    Mutation("external-ips-model-server", _everywhere, external_ips_model_server),
    Mutation("allow-all-egress", _everywhere, allow_all_egress),
    Mutation("model-servers-to-internet", _everywhere, model_servers_to_internet),
    Mutation("download-label-on-model-server", _everywhere, download_label_on_model_server),
    Mutation("password-in-configmap", _gateway, password_in_configmap),
    Mutation("dsn-with-password-in-env", _gateway, dsn_in_env),
    Mutation("password-in-config-file", _gateway, credentials_config_file),
]

CASES = [pytest.param(stack, m, id=f"{stack}-{m.name}") for stack in STACKS for m in MUTATIONS
         if m.applies(stack_values(stack))]


@cache
def ingress_variant() -> mockrun.RunResult:
    """dev with the AI gateway behind the deprecated Ingress (rag.gateway.expose: ingress): the only way a stack
    still runs ingress-nginx, so the Ingress mutations run here."""
    values = stack_values("dev")
    values["rag"]["gateway"]["expose"] = "ingress"
    result = run_config(values, "dev")
    assert result.error is None, result.error
    return result


INGRESS_MUTATIONS = [("remove-ingress-tls", remove_ingress_tls), ("server-snippet-annotation", server_snippet),
                     ("world-source-allowlist", world_allowlist), ("ingress-to-management-port", route_management_port)]


@pytest.mark.parametrize("name, apply", INGRESS_MUTATIONS, ids=[m[0] for m in INGRESS_MUTATIONS])
def test_the_pack_catches_the_ingress_mutation(name, apply):
    resources = copy.deepcopy(ingress_variant().resources)
    assert_caught("dev", resources, apply("dev", resources), name)


def test_every_mutation_runs_somewhere():
    assert {m.name for _, m in (c.values for c in CASES)} == {m.name for m in MUTATIONS}


@pytest.mark.parametrize("stack, mutation", CASES)
def test_the_pack_catches_the_mutation(stack, mutation):
    resources = copy.deepcopy(run_shipped(stack).resources)
    expected = mutation.apply(stack, resources)
    assert_caught(stack, resources, expected, mutation.name)


# ------------------------------------------------------------------------------- chart values


def _render_release(stack: str, release: str, change: Callable[[dict], None], tmp_path) -> list[KubeObject]:
    """The objects of one Release of a shipped stack, its values changed, rendered with the pinned chart."""
    require_charts()
    result = copy.deepcopy(run_shipped(stack))
    target = next(r for r in result.of_type(render.RELEASE_TYPE) if r.inputs.get("name") == release)
    change(target.inputs["values"])
    values, _ = mockrun.stack_config(stack)
    (rel,) = render.render_stack(dataclasses.replace(result, resources=[target]), render.kube_version_of(values),
                                 cache=tmp_path).releases
    assert rel.error is None, rel.error
    return [KubeObject(o.manifest, source=f"chart:{rel.release}", release_namespace=rel.namespace)
            for o in rel.objects if not o.in_crds_dir]


def _messages(objects: list[KubeObject], check, config: dict) -> list[str]:
    return [f"{o.ref()}: {m}" for o in objects for m in check(o, config)]


def _grafana_node_port(values: dict) -> None:
    values["grafana"].setdefault("service", {})["type"] = "NodePort"


def _grafana_admin_password(values: dict) -> None:
    # The grafana chart refuses this unless its guard is switched off, which is what someone in a hurry does
    # (grafana/helm-charts grafana templates/_helpers.tpl assertNoLeakedSecrets).
    values["grafana"]["assertNoLeakedSecrets"] = False
    values["grafana"]["grafana.ini"].setdefault("security", {})["admin_password"] = "hunter2-grafana"


def _milvus_load_balancer(values: dict) -> None:
    values["service"]["type"] = "LoadBalancer"


CHART_MUTATIONS = [
    ("grafana-node-port", "monitoring", _grafana_node_port, network._check_exposure, network.LB_NAME,
     "Service observability/monitoring-grafana (chart monitoring): is of type NodePort"),
    ("grafana-admin-password-in-values", "monitoring", _grafana_admin_password, secrets._check_secrets,
     secrets.SECRET_ENV_NAME, "sets admin_password to a literal secret"),
    ("milvus-load-balancer", "milvus", _milvus_load_balancer, network._check_exposure, network.LB_NAME,
     "(chart milvus): is of type LoadBalancer"),
]


@pytest.mark.parametrize("name, release, change, check, policy, text", CHART_MUTATIONS,
                         ids=[m[0] for m in CHART_MUTATIONS])
def test_chart_value_mutations_are_caught_on_the_rendered_objects(name, release, change, check, policy, text,
                                                                   tmp_path):
    config = pack_config("dev").get(policy, {})
    config = config if isinstance(config, dict) else {}
    assert _messages(_render_release("dev", release, lambda v: None, tmp_path / "before"), check, config) == []
    found = _messages(_render_release("dev", release, change, tmp_path / "after"), check, config)
    assert any(text in m for m in found), f"{name}: {found}"
    assert POLICIES_BY_NAME[policy].enforcement_level.value == "mandatory"
