"""rbac-no-privileged-bindings and rbac-no-dangerous-rules: what RBAC the stack may grant.

Object checks (policy/rules/objects.py): they judge the program's Roles/ClusterRoles/bindings and every one a chart
renders.

How a binding is connected to what it grants (decided here): the pack judges one object at a time, so a role's
rules are judged **at the role** (every Role and ClusterRole the stack creates, program or chart, passes through
rbac-no-dangerous-rules), and a binding is judged for what its `roleRef` names outside the stack (the built-in
super-user roles) and for its subjects. A binding can only grant what its role holds, so every grant of the
stack is covered without a stack-wide pass; a wildcard role is a violation even before something binds it (a
later binding would not show it again).

**rbac-no-privileged-bindings** (RoleBinding, ClusterRoleBinding):
- `roleRef` ClusterRole `cluster-admin` (any binding: in a RoleBinding it is full control of the namespace,
  Secrets and RBAC included); a ClusterRoleBinding to the built-in `admin` or `edit` (write access, Secrets
  included, in every namespace);
- a subject that is everyone or every workload: Group `system:authenticated`, `system:unauthenticated`,
  `system:serviceaccounts` (every service account of the cluster) or `system:serviceaccounts:<ns>`, Group
  `system:masters` (bypasses authorization altogether), User `system:anonymous`.

**rbac-no-dangerous-rules** (Role, ClusterRole; each rule of `rules[]`):
- wildcards: `*` in `apiGroups`, `resources` (also `*/<subresource>`) or `verbs`;
- the privilege-escalation verbs `escalate`, `bind`, `impersonate`;
- interactive access to pods: `pods/exec`, `pods/attach`, `pods/portforward` (any verb) and `nodes/proxy`
  (the kubelet API, exec included) — tenants' deployer Roles manage workloads, they never get a shell in them;
- cluster-wide Secret reads: a ClusterRole with `get`, `list` or `watch` on `secrets` in the core group (a
  ClusterRole exists to be bound cluster-wide; a namespaced grant is a Role).
Chart roles that an operator needs (cert-manager issues certificates into Secrets everywhere, KEDA reads
scale subresources of any kind, ...) are listed once in `EXCEPTIONS` below, matched by chart release, kind and
name, with the findings each may have and why. Nothing else is exempt: the program's roles never are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .helpers import get, maps, strings
from .objects import KubeObject, object_policy

BINDINGS_NAME = "rbac-no-privileged-bindings"
RULES_NAME = "rbac-no-dangerous-rules"

RBAC_GROUP = "rbac.authorization.k8s.io"
SUPER_USER_ROLE = "cluster-admin"
# Built-in user-facing ClusterRoles with write access to Secrets (Kubernetes docs, "Using RBAC Authorization",
# user-facing roles): bound cluster-wide they give write access to every namespace.
CLUSTER_WIDE_WRITE_ROLES = ("admin", "edit")
BROAD_GROUPS = {
    "system:authenticated": "every authenticated user",
    "system:unauthenticated": "every anonymous request",
    "system:serviceaccounts": "every service account of the cluster",
    "system:masters": "a group that bypasses authorization",
}
BROAD_USERS = {"system:anonymous": "every anonymous request"}
ESCALATION_VERBS = ("escalate", "bind", "impersonate")
INTERACTIVE_RESOURCES = ("pods/exec", "pods/attach", "pods/portforward", "nodes/proxy")
READ_VERBS = ("get", "list", "watch")

# Finding codes (what EXCEPTIONS may excuse).
WILDCARD, ESCALATION, INTERACTIVE, SECRET_READ = "wildcard", "escalation", "interactive", "secret-read"


@dataclass(frozen=True)
class RoleException:
    """A chart role the pack accepts, for the findings listed, with the reason."""

    release: str
    kind: str
    name: str
    findings: tuple[str, ...]
    reason: str


# The operators' chart roles with findings they need. Matched by Helm release (the program's release names,
# components/*/charts.py), kind and name; only the findings listed are excused.
EXCEPTIONS: tuple[RoleException, ...] = (
    RoleException("cert-manager", "ClusterRole", "cert-manager-cainjector", (SECRET_READ,),
               "injects CA bundles read from Certificate Secrets in any namespace into webhooks and CRDs"),
    *(RoleException("cert-manager", "ClusterRole", f"cert-manager-controller-{part}", (SECRET_READ,),
                 "the controller issues certificates into Secrets and reads issuer credentials in any namespace")
      for part in ("issuers", "clusterissuers", "certificates", "orders", "challenges")),
    RoleException("keda", "ClusterRole", "keda-operator", (WILDCARD, SECRET_READ),
               "scales any kind through its /scale subresource (`*/scale`), reads any scale target (`*` get) and "
               "the Secrets TriggerAuthentications name, in any namespace"),
    RoleException("ingress-nginx", "ClusterRole", "ingress-nginx", (SECRET_READ,),
               "serves the TLS Secrets named by Ingresses in any namespace"),
    RoleException("istiod", "ClusterRole", "istiod-clusterrole-istio-system", (WILDCARD, SECRET_READ),
               "istiod (istiod chart 1.30.3 templates/clusterrole.yaml) reads every Istio config kind and every "
               "kind a Gateway/HTTPRoute may reference (`*` get/list/watch in its API groups), writes the status of "
               "Ingresses and Gateway API objects, and reads the TLS Secrets gateways name in any namespace"),
    RoleException("eck-operator", "ClusterRole", "elastic-operator", (SECRET_READ,),
               "manages the Elasticsearch clusters' certificate and user Secrets in the namespaces it manages"),
    RoleException("loki", "ClusterRole", "loki-clusterrole", (SECRET_READ,),
               "the rules/config sidecar watches labelled ConfigMaps and Secrets in every namespace"),
    RoleException("monitoring", "ClusterRole", "monitoring-grafana-clusterrole", (SECRET_READ,),
               "Grafana's sidecar loads dashboards and datasources from labelled ConfigMaps/Secrets in every "
               "namespace"),
    RoleException("monitoring", "ClusterRole", "monitoring-kube-state-metrics", (SECRET_READ,),
               "kube-state-metrics exports Secret metadata metrics (list/watch; it never exports values)"),
    RoleException("monitoring", "ClusterRole", "monitoring-operator", (WILDCARD, SECRET_READ),
               "the Prometheus operator owns its CRDs and the StatefulSets, ConfigMaps and Secrets it generates for "
               "Prometheus and Alertmanager (all verbs)"),
)


def _excused(obj: KubeObject) -> tuple[str, ...]:
    if not obj.source.startswith("chart:"):
        return ()
    release = obj.source.split(":", 1)[1]
    return tuple(f for e in EXCEPTIONS if (e.release, e.kind, e.name) == (release, obj.kind, obj.name)
                 for f in e.findings)


# ------------------------------------------------------------------------------------- bindings


def binding_problems(obj: KubeObject) -> list[str]:
    """What a RoleBinding/ClusterRoleBinding grants too widely."""
    problems = []
    role_kind, role = get(obj.body, "roleRef", "kind"), get(obj.body, "roleRef", "name")
    if role_kind == "ClusterRole" and role == SUPER_USER_ROLE:
        problems.append(f"binds the ClusterRole {SUPER_USER_ROLE} (full control"
                        f"{' of the cluster' if obj.kind == 'ClusterRoleBinding' else ' of the namespace'})")
    elif obj.kind == "ClusterRoleBinding" and role_kind == "ClusterRole" and role in CLUSTER_WIDE_WRITE_ROLES:
        problems.append(f"binds the built-in ClusterRole {role} cluster-wide (write access to every namespace, "
                        f"Secrets included)")
    for subject in maps(get(obj.body, "subjects")):
        kind, name = get(subject, "kind"), str(get(subject, "name", default=""))
        if kind == "Group" and name in BROAD_GROUPS:
            problems.append(f"subject Group {name} is {BROAD_GROUPS[name]}")
        elif kind == "Group" and name.startswith("system:serviceaccounts:"):
            problems.append(f"subject Group {name} is every service account of namespace "
                            f"{name.split(':', 2)[2]}")
        elif kind == "User" and name in BROAD_USERS:
            problems.append(f"subject User {name} is {BROAD_USERS[name]}")
    return problems


def _check_binding(obj: KubeObject, config: Any) -> Iterator[str]:
    if obj.kind not in ("RoleBinding", "ClusterRoleBinding") or not obj.api_version.startswith(RBAC_GROUP):
        return
    problems = binding_problems(obj)
    if problems:
        yield (f"{'; '.join(problems)}. Bind a role with the explicit resources and verbs the subjects need, to "
               f"named users, groups or service accounts.")


rbac_no_privileged_bindings = object_policy(
    BINDINGS_NAME,
    "No binding to cluster-admin (or admin/edit cluster-wide), and no binding to everyone (system:authenticated, "
    "system:unauthenticated, system:serviceaccounts, system:masters, system:anonymous).",
    _check_binding,
)


# ---------------------------------------------------------------------------------------- rules


def rule_findings(kind: str, rule: Any) -> list[tuple[str, str]]:
    """(finding code, description) of one PolicyRule."""
    groups, resources, verbs = (strings(get(rule, key)) for key in ("apiGroups", "resources", "verbs"))
    found = []
    wild = [f"{key} {value!r}" for key, values in (("apiGroups", groups), ("resources", resources), ("verbs", verbs))
            for value in values if value == "*" or (key == "resources" and value.startswith("*/"))]
    if wild:
        found.append((WILDCARD, f"wildcard {', '.join(wild)} (on {', '.join(resources) or 'no resources'})"))
    escalation = [v for v in verbs if v in ESCALATION_VERBS]
    if escalation:
        found.append((ESCALATION, f"verb {', '.join(escalation)} on {', '.join(resources) or 'no resources'}"))
    interactive = [r for r in resources if r in INTERACTIVE_RESOURCES]
    if interactive and verbs:
        found.append((INTERACTIVE, f"{', '.join(interactive)} (a shell or tunnel into running pods)"))
    core = not groups or any(g in ("", "*") for g in groups)
    if (kind == "ClusterRole" and core and any(r in ("secrets", "*") for r in resources)
            and any(v in (*READ_VERBS, "*") for v in verbs)):
        found.append((SECRET_READ, f"{'/'.join(v for v in verbs if v in (*READ_VERBS, '*'))} on secrets "
                                   f"in every namespace it is bound to cluster-wide"))
    return found


def _check_rules(obj: KubeObject, config: Any) -> Iterator[str]:
    if obj.kind not in ("Role", "ClusterRole") or not obj.api_version.startswith(RBAC_GROUP):
        return
    excused = _excused(obj)
    problems = [f"rules[{index}]: {text}" for index, rule in enumerate(maps(get(obj.body, "rules")))
                for code, text in rule_findings(obj.kind, rule) if code not in excused]
    if problems:
        yield (f"{'; '.join(problems)}. Grant explicit apiGroups, resources and verbs; keep exec/attach/port-forward, "
               f"escalate/bind/impersonate and cluster-wide Secret reads out of roles (an operator that needs one: "
               f"add it to EXCEPTIONS in policy/rules/rbac.py with the reason).")


rbac_no_dangerous_rules = object_policy(
    RULES_NAME,
    "Roles grant no wildcards, no escalate/bind/impersonate, no pods/exec|attach|portforward or nodes/proxy, and "
    "ClusterRoles no Secret reads (operator exceptions listed with reasons).",
    _check_rules,
)
