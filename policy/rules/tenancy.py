"""namespace-resource-quota, namespace-default-deny and gpu-quota-for-gpu-namespaces (stack policies).

A **workload namespace** is a `kubernetes:core/v1:Namespace` resource of the stack whose
`metadata.name` is not in the pack config `systemNamespaces` (default: kube-system, kube-public,
kube-node-lease, default, gpu-operator, observability-node, keda, cert-manager, ingress-nginx,
elastic-system, kueue-system: the cluster's own and the platform operators' namespaces). A Namespace with
absent `metadata.name` is a violation on it (nothing can be matched to an unnamed namespace). A
namespaced object belongs to its `metadata.namespace`; absent means `default`.

**namespace-resource-quota**: every workload namespace contains a `kubernetes:core/v1:ResourceQuota`
with a non-empty `spec.hard`. A quota with absent or empty `spec.hard` limits nothing and does not
count (the message names it).

**namespace-default-deny**: every Namespace of the stack, operator namespaces included, contains
default-deny NetworkPolicies (`kubernetes:networking.k8s.io/v1:NetworkPolicy`) for both directions,
except those in the pack config `exemptNamespaces` (default: the cluster's own kube-system,
kube-public, kube-node-lease and default, which a stack does not create). A policy denies a direction
when its `podSelector` is empty (`{}`, or absent, which Kubernetes reads as empty: every pod), the
direction is in its effective `policyTypes` and it has no rules for that direction (`ingress` /
`egress` absent or empty; a rule `{}` allows everything). Effective `policyTypes` follow Kubernetes
defaulting: when absent, Ingress, plus Egress if the policy has egress rules. One policy with
`policyTypes: [Ingress, Egress]` and no rules, or two policies (one per direction), satisfy it.
The message names the missing direction(s) and why the namespace's other policies do not count.

**gpu-quota-for-gpu-namespaces**: a namespace in which any workload (Pod, ReplicationController,
Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob; containers and init containers)
requests or limits `nvidia.com/gpu` or `nvidia.com/mig-<profile>` (quantity > 0, as in
gpu-workloads-tolerate-gpu-taint) has a ResourceQuota with `spec.hard["requests.<resource>"]` for
every such resource. Kubernetes accepts extended resources in a quota only with the `requests.`
prefix: a `limits.nvidia.com/gpu` or bare `nvidia.com/gpu` key does not count (the message says
so and names such keys). Applies to every namespace, system ones included; absent pod spec,
containers or resources ask for no GPU. Reported on the Namespace resource when the stack has
it, else on the first GPU workload.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .helpers import (
    NAMESPACE_TYPE,
    NETWORK_POLICY_TYPE,
    RESOURCE_QUOTA_TYPE,
    SYSTEM_NAMESPACES,
    SYSTEM_NAMESPACES_SCHEMA,
    config_list,
    containers,
    get,
    gpu_resources,
    is_map,
    kind_of,
    maps,
    namespace_of,
    object_name,
    pod_spec,
    strings,
)

QUOTA_NAME = "namespace-resource-quota"
DENY_NAME = "namespace-default-deny"
GPU_QUOTA_NAME = "gpu-quota-for-gpu-namespaces"

INGRESS, EGRESS = "Ingress", "Egress"


def workload_namespaces(resources, config: Any, report_violation: ReportViolation) -> list[tuple[str, Any]]:
    """(name, Namespace resource) of every workload namespace; unnamed Namespaces are reported."""
    return named_namespaces(resources, set(config_list(config, "systemNamespaces", SYSTEM_NAMESPACES)),
                            report_violation)


CLUSTER_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease", "default")


def named_namespaces(resources, exempt: set[str], report_violation: ReportViolation) -> list[tuple[str, Any]]:
    """(name, Namespace resource) of every Namespace not in `exempt`; unnamed Namespaces are reported."""
    found = []
    for r in resources:
        if r.resource_type != NAMESPACE_TYPE:
            continue
        name = get(r.props, "metadata", "name")
        if not isinstance(name, str) or not name:
            report_violation(f"Namespace {r.name} has no metadata.name: set it so its quota and network policies "
                             f"can be matched to it.", r.urn)
            continue
        if name not in exempt:
            found.append((name, r))
    return found


def in_namespace(resources, resource_type: str, namespace: str) -> list:
    return [r for r in resources if r.resource_type == resource_type and namespace_of(r.props) == namespace]


# --------------------------------------------------------------------------------------- quota


def _validate_quota(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for namespace, ns in workload_namespaces(args.resources, args.get_config(), report_violation):
        quotas = in_namespace(args.resources, RESOURCE_QUOTA_TYPE, namespace)
        hard = [q for q in quotas if is_map(get(q.props, "spec", "hard")) and len(get(q.props, "spec", "hard"))]
        if hard:
            continue
        empty = "".join(f" (ResourceQuota {object_name(q.props, q.name)} has no spec.hard)" for q in quotas)
        report_violation(
            f"Namespace {namespace} has no ResourceQuota{empty}: add one in it with spec.hard (e.g. requests.cpu, "
            f"requests.memory, limits.memory, pods) so one tenant cannot take the whole cluster.", ns.urn)


namespace_resource_quota = StackValidationPolicy(
    name=QUOTA_NAME,
    description="Every workload namespace has a ResourceQuota with hard limits.",
    validate=_validate_quota,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={"systemNamespaces": SYSTEM_NAMESPACES_SCHEMA}),
)


# -------------------------------------------------------------------------------- default deny


def _selects_all_pods(props: Any) -> bool:
    selector = get(props, "spec", "podSelector")
    if selector is None:
        return True
    return is_map(selector) and not get(selector, "matchLabels") and not maps(get(selector, "matchExpressions"))


def policy_types(props: Any) -> list[str]:
    """Effective policyTypes with Kubernetes defaulting (absent: Ingress, plus Egress with egress rules)."""
    declared = strings(get(props, "spec", "policyTypes"))
    if declared:
        return declared
    return [INGRESS] + ([EGRESS] if maps(get(props, "spec", "egress")) else [])


def denied_directions(props: Any) -> tuple[set[str], list[str]]:
    """(directions this policy denies for every pod, why it does not deny the others)."""
    if not _selects_all_pods(props):
        return set(), ["podSelector is not empty"]
    types = policy_types(props)
    denied, reasons = set(), []
    for direction, field in ((INGRESS, "ingress"), (EGRESS, "egress")):
        if direction not in types:
            reasons.append(f"policyTypes lacks {direction}")
        elif maps(get(props, "spec", field)):
            reasons.append(f"has {field} rules")
        else:
            denied.add(direction)
    return denied, reasons


def _validate_deny(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    exempt = set(config_list(args.get_config(), "exemptNamespaces", CLUSTER_NAMESPACES))
    for namespace, ns in named_namespaces(args.resources, exempt, report_violation):
        denied: set[str] = set()
        notes = []
        for policy in in_namespace(args.resources, NETWORK_POLICY_TYPE, namespace):
            directions, reasons = denied_directions(policy.props)
            denied |= directions
            if reasons:
                notes.append(f"{object_name(policy.props, policy.name)}: {', '.join(reasons)}")
        missing = [d for d in (INGRESS, EGRESS) if d not in denied]
        if not missing:
            continue
        seen = f" (other NetworkPolicies there: {'; '.join(notes)})" if notes else ""
        report_violation(
            f"Namespace {namespace} has no default-deny NetworkPolicy for {' and '.join(missing)}{seen}: add a "
            f"NetworkPolicy in it with podSelector: {{}}, policyTypes: [Ingress, Egress] and no ingress/egress rules, "
            f"then allow the flows it needs explicitly.", ns.urn)


namespace_default_deny = StackValidationPolicy(
    name=DENY_NAME,
    description="Every namespace the stack creates (operators' too) has a default-deny NetworkPolicy for ingress "
                "and egress.",
    validate=_validate_deny,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={"exemptNamespaces": {
        "type": "array",
        "items": {"type": "string"},
        "default": list(CLUSTER_NAMESPACES),
        "description": "Namespaces that need no default-deny (the cluster's own; a stack does not create them).",
    }}),
)


# ------------------------------------------------------------------------------------ GPU quota


def gpu_asks_by_namespace(resources) -> dict[str, dict[str, list[str]]]:
    """namespace -> GPU/MIG resource -> workloads (and containers) asking for it."""
    found: dict[str, dict[str, list[str]]] = {}
    for r in resources:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None:
            continue
        for kind, name, container in containers(spec):
            for _, resource, _ in gpu_resources(container):
                who = f"{kind_of(r.resource_type)} {object_name(r.props, r.name)} {kind} {name!r}"
                asks = found.setdefault(namespace_of(r.props), {}).setdefault(resource, [])
                if who not in asks:
                    asks.append(who)
    return found


def _first_urn(resources, namespace: str) -> str | None:
    for r in resources:
        if r.resource_type == NAMESPACE_TYPE and get(r.props, "metadata", "name") == namespace:
            return r.urn
    for r in resources:
        if pod_spec(r.resource_type, r.props) is not None and namespace_of(r.props) == namespace:
            return r.urn
    return None


def _validate_gpu_quota(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    for namespace, asks in sorted(gpu_asks_by_namespace(args.resources).items()):
        quotas = in_namespace(args.resources, RESOURCE_QUOTA_TYPE, namespace)
        keys: dict[str, list[str]] = {}
        for q in quotas:
            hard = get(q.props, "spec", "hard")
            for key in (hard if is_map(hard) else {}):
                keys.setdefault(key, []).append(object_name(q.props, q.name))
        missing = sorted(r for r in asks if f"requests.{r}" not in keys)
        if not missing:
            continue
        wrong = [f"'{key}' in ResourceQuota {', '.join(keys[key])}" for r in missing for key in (f"limits.{r}", r)
                 if key in keys]
        found = f" (found {'; '.join(wrong)}, which does not count)" if wrong else ""
        who = "; ".join(f"{r}: {', '.join(asks[r])}" for r in missing)
        wanted = ", ".join(f"spec.hard['requests.{r}']" for r in missing)
        report_violation(
            f"Namespace {namespace} runs GPU workloads ({who}) but no ResourceQuota in it sets {wanted}{found}. "
            f"Kubernetes takes extended resources in a quota only with the requests. prefix (a limits.<resource> or "
            f"bare <resource> key is no GPU quota): add {wanted} with the namespace's GPU allowance.",
            _first_urn(args.resources, namespace))


gpu_quota_for_gpu_namespaces = StackValidationPolicy(
    name=GPU_QUOTA_NAME,
    description="Namespaces running GPU workloads have a ResourceQuota on requests.<GPU resource> for each one used.",
    validate=_validate_gpu_quota,
    enforcement_level=EnforcementLevel.MANDATORY,
)
