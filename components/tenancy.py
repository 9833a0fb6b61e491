"""Tenancy: every namespace of the platform, and the fences around the workload namespaces.

Created right after the cluster, before anything deploys into a namespace. Per workload
namespace (`tenancy.namespaces`):

- Pod Security Admission labels: the namespace's level enforced (restricted by default), warn and
  audit always at restricted, so a relaxed namespace still reports every gap;
- a ResourceQuota (CPU/memory requests and limits, storage, PVCs, pods, and GPUs as
  `requests.<extended resource>` sized from the capacity plan: see `config.quotas`), and a
  LimitRange giving containers without requests/limits the configured defaults;
- NetworkPolicies: deny all ingress and egress, then one policy per allowed flow of
  `config.network` (egress side in the source namespace, ingress side in the destination), so
  `kubectl get networkpolicy` reads as the list of what may talk to what (platform namespaces too);
- a deployer Role (workloads, services, config, jobs, autoscalers, monitors; Secrets with explicit
  verbs, never a wildcard; not NetworkPolicies, ResourceQuotas or RBAC, which the platform owns)
  bound to the namespace's `deployers` groups. In a namespace that holds (or may hold) platform
  credentials (`config.namespaces.credential_namespaces`) the Role has no Secrets rule, and a deployer
  group there is a config error: creating a pod is enough to read every Secret of its namespace.

Platform namespaces (operators) get their Pod Security level from `config.namespaces` and the same
default-deny NetworkPolicies with their operators' flows (API server both ways, DNS, scraping). A
read-only `ai-platform-viewer` ClusterRole (no Secrets) is bound to `tenancy.viewers`.

With deletion protection, the data namespace (`rag.namespace`) and its baseline NetworkPolicies
(default-deny, DNS, the data layer's internal traffic) are `protect`ed: `pulumi destroy
--exclude-protected` keeps the protected data services (stateful Releases, Elasticsearch) and, with them,
the fence around them (docs/tenancy.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.capacity import CapacityPlan
from config.errors import required
from config.models import StackConfig
from config.namespaces import (
    AMBIENT,
    DATAPLANE_MODE_LABEL,
    NamespaceSpec,
    credential_namespaces,
    mesh_enrolled,
    namespaces,
)
from config.network import (
    ANY_NAMESPACE,
    Flow,
    Peer,
    created_namespaces,
    egress_restricted_namespaces,
    flows,
    with_hbone,
)
from config.quotas import quota_hard

from .labels import standard_labels

NAMESPACE_KIND_LABEL = "ai-platform/namespace-kind"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
RBAC_GROUP = "rbac.authorization.k8s.io"
VIEWER_ROLE = "ai-platform-viewer"
DEPLOYER_ROLE = "ai-platform-deployer"

_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
_READ = ["get", "list", "watch"]

# What a namespace's deployers may manage. Explicit resources and verbs only (no "*"):
# NetworkPolicies, quotas, LimitRanges and RBAC stay with the platform.
DEPLOYER_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], list[str]], ...] = (
    (("apps",), ("deployments", "statefulsets"), _WRITE),
    (("apps",), ("replicasets",), _READ),
    (("",), ("services", "configmaps", "persistentvolumeclaims", "serviceaccounts"), _WRITE),
    (("",), ("secrets",), _WRITE),
    (("",), ("pods",), ["get", "list", "watch", "delete"]),
    (("",), ("pods/log", "events", "endpoints", "resourcequotas", "limitranges"), _READ),
    (("batch",), ("jobs", "cronjobs"), _WRITE),
    (("autoscaling",), ("horizontalpodautoscalers",), _WRITE),
    (("policy",), ("poddisruptionbudgets",), _WRITE),
    (("networking.k8s.io",), ("ingresses",), _WRITE),
    (("networking.k8s.io",), ("networkpolicies",), _READ),
    (("keda.sh",), ("scaledobjects", "triggerauthentications"), _WRITE),
    (("monitoring.coreos.com",), ("servicemonitors", "podmonitors", "prometheusrules"), _WRITE),
)

# The deployer Role of a namespace holding platform credentials: the same, without Secrets.
CREDENTIAL_NAMESPACE_DEPLOYER_RULES = tuple(rule for rule in DEPLOYER_RULES if "secrets" not in rule[1])

# Read-only across the cluster; Secrets deliberately absent.
VIEWER_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], list[str]], ...] = (
    (("",), ("pods", "pods/log", "services", "endpoints", "configmaps", "persistentvolumeclaims", "events",
             "namespaces", "nodes", "resourcequotas", "limitranges", "serviceaccounts"), _READ),
    (("apps",), ("deployments", "statefulsets", "daemonsets", "replicasets"), _READ),
    (("batch",), ("jobs", "cronjobs"), _READ),
    (("autoscaling",), ("horizontalpodautoscalers",), _READ),
    (("policy",), ("poddisruptionbudgets",), _READ),
    (("networking.k8s.io",), ("ingresses", "networkpolicies"), _READ),
    (("scheduling.k8s.io",), ("priorityclasses",), _READ),
    (("keda.sh",), ("scaledobjects", "triggerauthentications"), _READ),
    (("monitoring.coreos.com",), ("servicemonitors", "podmonitors", "prometheusrules"), _READ),
)


def pod_security_labels(spec: NamespaceSpec) -> dict[str, str]:
    """Enforce the namespace's level; warn and audit at restricted so every gap shows up."""
    return {
        "pod-security.kubernetes.io/enforce": spec.pod_security,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


# ------------------------------------------------------------------------ NetworkPolicy rendering


def _selector(labels: dict[str, str], labels_in: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if labels:
        out["matchLabels"] = dict(labels)
    if labels_in:
        out["matchExpressions"] = [{"key": k, "operator": "In", "values": list(v)} for k, v in labels_in.items()]
    return out


def _peer(peer: Peer) -> dict[str, Any]:
    """A NetworkPolicyPeer (from / to entry)."""
    if peer.is_ip:
        raise ValueError("IP peers render through _ip_peers")
    entry: dict[str, Any] = {}
    if peer.namespace == ANY_NAMESPACE:
        entry["namespaceSelector"] = {}
    else:
        entry["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: peer.namespace}}
    if peer.pods or peer.pods_in:
        entry["podSelector"] = _selector(dict(peer.pods), dict(peer.pods_in))
    return entry


def _ip_peers(peer: Peer) -> list[dict[str, Any]]:
    return [{"ipBlock": {"cidr": cidr, **({"except": list(peer.except_cidrs)} if peer.except_cidrs else {})}}
            for cidr in peer.cidrs]


def _ports(flow: Flow) -> list[dict[str, Any]] | None:
    return [{"port": p.port, "protocol": p.protocol} for p in flow.ports] or None


def egress_rule(flow: Flow) -> dict[str, Any]:
    peers = _ip_peers(flow.dest) if flow.dest.is_ip else [_peer(flow.dest)]
    rule: dict[str, Any] = {"to": peers}
    if (ports := _ports(flow)) is not None:
        rule["ports"] = ports
    return rule


def ingress_rule(flow: Flow) -> dict[str, Any]:
    peers = _ip_peers(flow.source) if flow.source.is_ip else [_peer(flow.source)]
    rule: dict[str, Any] = {"from": peers}
    if (ports := _ports(flow)) is not None:
        rule["ports"] = ports
    return rule


@dataclass(frozen=True)
class PolicySpec:
    """One NetworkPolicy to create (plain dicts: the same data the tests evaluate)."""

    namespace: str
    name: str
    pod_selector: dict[str, Any]
    policy_types: tuple[str, ...]
    ingress: tuple[dict[str, Any], ...] = ()
    egress: tuple[dict[str, Any], ...] = ()
    why: str = ""
    protect: bool = False
    """Kept by `pulumi destroy --exclude-protected` (the fence of the protected data namespace)."""


DATA_BASELINE_FLOWS = ("dns", "data-internal")
"""Flows of the data namespace whose policies stay as long as the namespace does (protected with it)."""


def protected_namespace(cfg: StackConfig) -> str | None:
    """The namespace holding protected data (the RAG data layer) when deletion protection is on."""
    if not cfg.cluster.deletion_protection:
        return None
    rag = cfg.rag
    return rag.namespace if (rag.vector_store or rag.full_text or rag.cache) else None


def network_policies(cfg: StackConfig) -> list[PolicySpec]:
    """Every NetworkPolicy of the stack: default deny in every namespace it creates, then one per flow side."""
    created = created_namespaces(cfg)
    egress_fenced = set(egress_restricted_namespaces(cfg))
    guarded = protected_namespace(cfg)
    specs = [PolicySpec(ns, "default-deny", {}, ("Ingress", "Egress"), why="deny everything not allowed below",
                        protect=ns == guarded)
             for ns in created]
    for flow in flows(cfg):
        flow = with_hbone(cfg, flow)  # ztunnel's HBONE port between namespaces of the ambient mesh
        source, dest = flow.source, flow.dest
        baseline = flow.name in DATA_BASELINE_FLOWS
        if not source.is_ip and source.namespace in egress_fenced:
            target = "" if dest.is_ip else "-to-" + (
                "all" if dest.namespace == ANY_NAMESPACE
                else required(dest.namespace, f"flow {flow.name}", "the destination namespace",
                              "config.network (a pod peer names its namespace)"))
            specs.append(PolicySpec(source.namespace, f"allow-{flow.name}{target}",
                                    _selector(dict(source.pods), dict(source.pods_in)), ("Egress",),
                                    egress=(egress_rule(flow),), why=flow.why,
                                    protect=baseline and source.namespace == guarded))
        if dest.is_ip:
            continue
        dest_namespaces = created if dest.namespace == ANY_NAMESPACE else [dest.namespace]
        for ns in dest_namespaces:
            if ns not in created or (dest.namespace == ANY_NAMESPACE and ns == source.namespace):
                continue  # namespaces the program does not create (kube-system) keep their own policies
            suffix = "" if source.is_ip else f"-from-{source.namespace}"
            specs.append(PolicySpec(ns, f"allow-{flow.name}{suffix}",
                                    _selector(dict(dest.pods), dict(dest.pods_in)), ("Ingress",),
                                    ingress=(ingress_rule(flow),), why=flow.why,
                                    protect=baseline and ns == guarded))
    return specs


# ------------------------------------------------------------------------------------- component


def _rules(rules: Sequence[tuple[Sequence[str], Sequence[str], Sequence[str]]]) -> list[k8s.rbac.v1.PolicyRuleArgs]:
    return [k8s.rbac.v1.PolicyRuleArgs(api_groups=list(groups), resources=list(resources), verbs=list(verbs))
            for groups, resources, verbs in rules]


def _groups(names: Sequence[str]) -> list[k8s.rbac.v1.SubjectArgs]:
    return [k8s.rbac.v1.SubjectArgs(kind="Group", name=g, api_group=RBAC_GROUP) for g in names]


@dataclass(frozen=True)
class TenancyArgs:
    config: StackConfig
    """Typed stack configuration."""
    plan: CapacityPlan
    """Capacity plan: sizes the GPU quotas of the namespaces that run model servers."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist first (the cluster component)."""


class Tenancy(pulumi.ComponentResource):
    """Namespaces with Pod Security levels, quotas, LimitRanges, NetworkPolicies and RBAC."""

    def __init__(self, name: str, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:tenancy:Tenancy", name, None, opts)
        cfg = args.config
        user = cfg.labels
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        child = pulumi.ResourceOptions(parent=self)
        self.specs = {s.name: s for s in namespaces(cfg)}

        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        guarded = protected_namespace(cfg)
        # Ambient enrolment is a namespace label: istio-cni captures the pods of labelled namespaces.
        enrolled = set(mesh_enrolled(cfg))
        for spec in self.specs.values():
            labels = {**standard_labels(spec.name, "namespace", user), NAMESPACE_KIND_LABEL: spec.kind,
                      **pod_security_labels(spec), **({DATAPLANE_MODE_LABEL: AMBIENT} if spec.name in enrolled else {})}
            annotations = {"ai-platform/pod-security-reason": spec.reason} if spec.reason else None
            self.namespaces[spec.name] = k8s.core.v1.Namespace(
                f"{name}-ns-{spec.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.name, labels=labels, annotations=annotations),
                # Deleting the data namespace would delete the data services and their volumes' claims with it.
                opts=pulumi.ResourceOptions.merge(after, pulumi.ResourceOptions(protect=spec.name == guarded)),
            )

        def meta(object_name: str, ns: str, component: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=self.namespaces[ns].metadata.name,
                                              labels=standard_labels(object_name, component, user))

        self.quotas: dict[str, k8s.core.v1.ResourceQuota] = {}
        self.limit_ranges: dict[str, k8s.core.v1.LimitRange] = {}
        self.deployer_roles: dict[str, k8s.rbac.v1.Role] = {}
        # hf_token=True: the token is a separate secret key that may be set at any time.
        holders = credential_namespaces(cfg, hf_token=True)
        for ns, tenant in cfg.tenancy.namespaces.items():
            self.quotas[ns] = k8s.core.v1.ResourceQuota(
                f"{name}-quota-{ns}", metadata=meta("ai-platform-quota", ns, "quota"),
                spec=k8s.core.v1.ResourceQuotaSpecArgs(hard=quota_hard(cfg, args.plan, ns)), opts=child)
            defaults = tenant.container_defaults
            self.limit_ranges[ns] = k8s.core.v1.LimitRange(
                f"{name}-limits-{ns}", metadata=meta("ai-platform-defaults", ns, "quota"),
                spec=k8s.core.v1.LimitRangeSpecArgs(limits=[k8s.core.v1.LimitRangeItemArgs(
                    type="Container",
                    default_request={"cpu": defaults.cpu_request, "memory": defaults.memory_request},
                    default={"cpu": defaults.cpu_limit, "memory": defaults.memory_limit},
                )]), opts=child)
            self.deployer_roles[ns] = k8s.rbac.v1.Role(
                f"{name}-deployer-{ns}", metadata=meta(DEPLOYER_ROLE, ns, "rbac"),
                rules=_rules(CREDENTIAL_NAMESPACE_DEPLOYER_RULES if ns in holders else DEPLOYER_RULES), opts=child)
            if tenant.deployers:
                k8s.rbac.v1.RoleBinding(
                    f"{name}-deployer-binding-{ns}", metadata=meta(DEPLOYER_ROLE, ns, "rbac"),
                    role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="Role", name=DEPLOYER_ROLE),
                    subjects=_groups(tenant.deployers), opts=pulumi.ResourceOptions(
                        parent=self, depends_on=[self.deployer_roles[ns]]))

        self.network_policies: list[k8s.networking.v1.NetworkPolicy] = []
        for policy in network_policies(cfg):
            self.network_policies.append(k8s.networking.v1.NetworkPolicy(
                f"{name}-netpol-{policy.namespace}-{policy.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=policy.name, namespace=self.namespaces[policy.namespace].metadata.name,
                    labels=standard_labels(policy.name, "network-policy", user),
                    annotations={"ai-platform/why": policy.why} if policy.why else None),
                spec={"podSelector": policy.pod_selector, "policyTypes": list(policy.policy_types),
                      **({"ingress": list(policy.ingress)} if policy.ingress else {}),
                      **({"egress": list(policy.egress)} if policy.egress else {})},
                opts=pulumi.ResourceOptions(parent=self, protect=policy.protect)))

        self.viewer_role = k8s.rbac.v1.ClusterRole(
            f"{name}-viewer", metadata=k8s.meta.v1.ObjectMetaArgs(
                name=VIEWER_ROLE, labels=standard_labels(VIEWER_ROLE, "rbac", user)),
            rules=_rules(VIEWER_RULES), opts=after)
        if cfg.tenancy.viewers:
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-viewer-binding", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=VIEWER_ROLE, labels=standard_labels(VIEWER_ROLE, "rbac", user)),
                role_ref=k8s.rbac.v1.RoleRefArgs(api_group=RBAC_GROUP, kind="ClusterRole", name=VIEWER_ROLE),
                subjects=_groups(cfg.tenancy.viewers), opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.viewer_role]))

        # Everything a workload needs before it starts: its namespace, quota (pods are admitted
        # against it) and LimitRange (defaults are applied at admission).
        self.ready: list[pulumi.Resource] = [*self.namespaces.values(), *self.quotas.values(),
                                             *self.limit_ranges.values()]
        self.register_outputs({
            "namespaces": {n: ns.metadata.name for n, ns in self.namespaces.items()},
            "quotas": {n: q.metadata.name for n, q in self.quotas.items()},
            "limit_ranges": {n: r.metadata.name for n, r in self.limit_ranges.items()},
            "deployer_roles": {n: r.metadata.name for n, r in self.deployer_roles.items()},
            "network_policies": [p.metadata.name for p in self.network_policies],
            "viewer_role": self.viewer_role.metadata.name,
        })
