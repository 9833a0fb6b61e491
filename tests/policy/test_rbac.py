"""rbac-no-privileged-bindings and rbac-no-dangerous-rules on program and chart RBAC objects."""

from __future__ import annotations

import pytest

from policy.rules.objects import KubeObject
from policy.rules.rbac import EXCEPTIONS, _check_rules

from .harness import run_resource

BINDINGS = "rbac-no-privileged-bindings"
RULES = "rbac-no-dangerous-rules"
RBAC = "kubernetes:rbac.authorization.k8s.io/v1"
ROLE, CLUSTER_ROLE = f"{RBAC}:Role", f"{RBAC}:ClusterRole"
BINDING, CLUSTER_BINDING = f"{RBAC}:RoleBinding", f"{RBAC}:ClusterRoleBinding"
GROUP = "rbac.authorization.k8s.io"

# The deployer Role of components/tenancy.py (explicit resources and verbs).
DEPLOYER_RULES = [
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets"],
     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch", "create", "update", "patch",
                                                            "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get", "list", "watch"]},
]


def role(rules, namespace: str | None = "ai-app", name: str = "ai-platform-deployer") -> dict:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": metadata, "rules": rules}


def binding(role_name: str, role_kind: str = "Role", subjects=None, namespace: str | None = "ai-app") -> dict:
    metadata = {"name": "tenant", **({"namespace": namespace} if namespace else {})}
    return {"metadata": metadata, "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role_name},
            "subjects": subjects if subjects is not None else [{"kind": "Group", "name": "ai-app-deployers",
                                                                 "apiGroup": GROUP}]}


# ------------------------------------------------------------------------------------- bindings


def test_tenant_bindings_to_explicit_roles_are_compliant():
    assert run_resource(BINDINGS, BINDING, binding("ai-platform-deployer")) == []
    assert run_resource(BINDINGS, CLUSTER_BINDING, binding("ai-platform-viewer", "ClusterRole", namespace=None)) == []
    # admin/edit inside one namespace is the documented use of those roles.
    assert run_resource(BINDINGS, BINDING, binding("edit", "ClusterRole")) == []


@pytest.mark.parametrize("kind, expected", [(BINDING, "full control of the namespace"),
                                            (CLUSTER_BINDING, "full control of the cluster")])
def test_cluster_admin_bindings_are_a_violation(kind, expected):
    [message] = run_resource(BINDINGS, kind, binding("cluster-admin", "ClusterRole"))
    assert "binds the ClusterRole cluster-admin" in message and expected in message


@pytest.mark.parametrize("role_name", ["admin", "edit"])
def test_cluster_wide_admin_or_edit_is_a_violation(role_name):
    [message] = run_resource(BINDINGS, CLUSTER_BINDING, binding(role_name, "ClusterRole", namespace=None))
    assert f"binds the built-in ClusterRole {role_name} cluster-wide" in message


@pytest.mark.parametrize("kind, name, text", [
    ("Group", "system:authenticated", "every authenticated user"),
    ("Group", "system:unauthenticated", "every anonymous request"),
    ("Group", "system:serviceaccounts", "every service account of the cluster"),
    ("Group", "system:serviceaccounts:ai-app", "every service account of namespace ai-app"),
    ("Group", "system:masters", "bypasses authorization"),
    ("User", "system:anonymous", "every anonymous request"),
])
def test_broad_subjects_are_a_violation(kind, name, text):
    subjects = [{"kind": kind, "name": name, "apiGroup": GROUP}]
    [message] = run_resource(BINDINGS, BINDING, binding("ai-platform-deployer", subjects=subjects))
    assert f"subject {kind} {name} is" in message and text in message


def test_bindings_without_role_ref_or_subjects_are_compliant():
    assert run_resource(BINDINGS, BINDING, {"metadata": {"name": "x"}}) == []
    assert run_resource(BINDINGS, ROLE, binding("cluster-admin", "ClusterRole")) == []


# ---------------------------------------------------------------------------------------- rules


def test_the_deployer_and_viewer_roles_are_compliant():
    assert run_resource(RULES, ROLE, role(DEPLOYER_RULES)) == []
    viewer = [{"apiGroups": [""], "resources": ["pods", "pods/log", "services"], "verbs": ["get", "list", "watch"]}]
    assert run_resource(RULES, CLUSTER_ROLE, role(viewer, None, "ai-platform-viewer")) == []


@pytest.mark.parametrize("rule, text", [
    ({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, "wildcard apiGroups '*', resources '*', verbs '*'"),
    ({"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["*"]}, "wildcard verbs '*'"),
    ({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["update"]}, "wildcard resources '*/scale'"),
])
def test_wildcard_roles_are_a_violation(rule, text):
    [message] = run_resource(RULES, ROLE, role([*DEPLOYER_RULES, rule]))
    assert f"rules[{len(DEPLOYER_RULES)}]: {text}" in message


@pytest.mark.parametrize("verb", ["escalate", "bind", "impersonate"])
def test_escalation_verbs_are_a_violation(verb):
    rule = {"apiGroups": [GROUP], "resources": ["roles", "users"], "verbs": [verb]}
    [message] = run_resource(RULES, CLUSTER_ROLE, role([rule], None, "escalator"))
    assert f"verb {verb} on roles, users" in message


@pytest.mark.parametrize("resource", ["pods/exec", "pods/attach", "pods/portforward", "nodes/proxy"])
def test_exec_attach_portforward_in_a_deployer_role_are_a_violation(resource):
    rule = {"apiGroups": [""], "resources": [resource], "verbs": ["create", "get"]}
    [message] = run_resource(RULES, ROLE, role([*DEPLOYER_RULES, rule]))
    assert f"{resource} (a shell or tunnel into running pods)" in message


@pytest.mark.parametrize("verbs", [["get"], ["list"], ["watch"], ["*"]])
def test_cluster_wide_secret_reads_are_a_violation(verbs):
    rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": verbs}
    [message] = run_resource(RULES, CLUSTER_ROLE, role([rule], None, "reader"))
    assert "on secrets in every namespace" in message
    # The same rule in a namespaced Role reads one namespace's Secrets (the deployers' own): compliant.
    if verbs != ["*"]:
        assert run_resource(RULES, ROLE, role([rule])) == []


def test_secret_writes_without_reads_are_not_a_read():
    rule = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]}
    assert run_resource(RULES, CLUSTER_ROLE, role([rule], None, "writer")) == []


def _chart_role(release: str, kind: str, name: str, rules) -> KubeObject:
    return KubeObject({"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name}, "rules": rules},
                      source=f"chart:{release}", release_namespace=release)


def test_operator_exceptions_are_precise():
    wildcard = [{"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["get", "update"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["list", "watch"]}]
    assert list(_check_rules(_chart_role("keda", "ClusterRole", "keda-operator", wildcard), {})) == []
    # Another release, kind or name with the same rules is not excused; neither is the program's own.
    for obj in (_chart_role("other", "ClusterRole", "keda-operator", wildcard),
                _chart_role("keda", "ClusterRole", "keda-operator-2", wildcard),
                KubeObject({"apiVersion": f"{GROUP}/v1", "kind": "ClusterRole", "metadata": {"name": "keda-operator"},
                            "rules": wildcard})):
        assert len(list(_check_rules(obj, {}))) == 1, obj.ref()
    # An excused role is excused only for its listed findings: cert-manager's controller may read Secrets, not exec.
    exec_rule = [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}]
    [message] = _check_rules(_chart_role("cert-manager", "ClusterRole", "cert-manager-controller-issuers",
                                         exec_rule), {})
    assert "pods/exec" in message
    assert all(e.reason and e.findings for e in EXCEPTIONS)
