"""serving-replicas-ha (mandatory) and pdb-for-multi-replica (advisory) stack policies: survive a node going away.

Both look at Deployments and StatefulSets and at what scales them. A scaler targets a workload
when it is in the same namespace (`metadata.namespace`, absent: `default`) and its
`spec.scaleTargetRef` names the workload's `metadata.name` and kind: a KEDA
`kubernetes:keda.sh/v1alpha1:ScaledObject` (`scaleTargetRef.kind` defaults to Deployment) wins over
a `kubernetes:autoscaling/v2:HorizontalPodAutoscaler` (or v1). Replica bounds, with the
defaults of each API for absent fields (KEDA ScaledObject spec reference: minReplicaCount 0,
maxReplicaCount 100):

- ScaledObject: min `spec.minReplicaCount` (absent: 0), max `spec.maxReplicaCount` (absent: 100);
- HPA: min `spec.minReplicas` (absent: 1), max `spec.maxReplicas` (absent: the workload's replicas);
- no scaler: min = max = the workload's `spec.replicas` (absent: 1).

**serving-replicas-ha**: in a protected stack (the stack segment of the workload's URN matches a
glob of the pack config `stacks`; default prod, prod-*, production, production-*, the same
mechanism and default as cluster-deletion-protection), every model server (a Deployment or
StatefulSet whose pod template has the label `app.kubernetes.io/component: model-server`) runs at
least 2 replicas at its minimum, so a node loss, a spot reclaim or a rollout does not take the model
down. Absent template labels: not a model server.

**pdb-for-multi-replica**: every Deployment and StatefulSet that can run 2 or more replicas (its
max above) has a `kubernetes:policy/v1:PodDisruptionBudget` in its namespace whose `spec.selector`
matches its pod template labels (matchLabels and matchExpressions with In, NotIn, Exists,
DoesNotExist; an empty selector `{}` matches every pod, policy/v1 semantics; an absent selector
matches none). Without one, a node drain may evict every replica at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from .helpers import (
    DEPLOYMENT_TYPE,
    STATEFULSET_TYPE,
    config_list,
    fmt,
    get,
    is_map,
    kind_of,
    namespace_of,
    number,
    object_name,
    selector_matches,
)
from .objects import KubeObject, object_policy
from .protection import DEFAULT_STACKS, protected_stack, stack_of, stacks_schema

HA_NAME = "serving-replicas-ha"
PDB_NAME = "pdb-for-multi-replica"

SCALED_OBJECT_TYPE = "kubernetes:keda.sh/v1alpha1:ScaledObject"
HPA_TYPES = ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "kubernetes:autoscaling/v1:HorizontalPodAutoscaler")
PDB_TYPE = "kubernetes:policy/v1:PodDisruptionBudget"
COMPONENT_LABEL = "app.kubernetes.io/component"
MODEL_SERVER = "model-server"
MIN_SERVING_REPLICAS = 2

# KEDA ScaledObject defaults (keda.sh/docs/2.x/reference/scaledobject-spec).
KEDA_MIN_DEFAULT = 0.0
KEDA_MAX_DEFAULT = 100.0


def template_labels(props: Any) -> Any:
    labels = get(props, "spec", "template", "metadata", "labels")
    return labels if is_map(labels) else {}


def _targets(scaler, workload, default_kind: str | None) -> bool:
    ref = get(scaler.props, "spec", "scaleTargetRef")
    name = get(workload.props, "metadata", "name")
    return (isinstance(name, str) and get(ref, "name") == name
            and get(ref, "kind", default=default_kind) == kind_of(workload.resource_type)
            and namespace_of(scaler.props) == namespace_of(workload.props))


@dataclass(frozen=True)
class Bounds:
    """Replica bounds of a workload and where they come from."""

    low: float
    high: float
    source: str
    """'ScaledObject <name>', 'HorizontalPodAutoscaler <name>', 'spec.replicas' or 'spec.replicas absent'."""
    min_field: str
    """The field that sets the minimum (what to change)."""


def replica_bounds(workload, resources) -> Bounds:
    """Min and max replicas of a Deployment / StatefulSet."""
    replicas = number(get(workload.props, "spec", "replicas"))
    own = replicas if replicas is not None else 1.0
    for r in resources:
        if r.resource_type == SCALED_OBJECT_TYPE and _targets(r, workload, "Deployment"):
            low = number(get(r.props, "spec", "minReplicaCount"))
            high = number(get(r.props, "spec", "maxReplicaCount"))
            return Bounds(low if low is not None else KEDA_MIN_DEFAULT, high if high is not None else KEDA_MAX_DEFAULT,
                          f"ScaledObject {object_name(r.props, r.name)}", "the ScaledObject's minReplicaCount")
    for r in resources:
        if r.resource_type in HPA_TYPES and _targets(r, workload, None):
            low = number(get(r.props, "spec", "minReplicas"))
            high = number(get(r.props, "spec", "maxReplicas"))
            return Bounds(low if low is not None else 1.0, high if high is not None else own,
                          f"HorizontalPodAutoscaler {object_name(r.props, r.name)}", "the HPA's minReplicas")
    return Bounds(own, own, "spec.replicas" if replicas is not None else "spec.replicas absent", "spec.replicas")


def workloads(resources) -> list:
    return [r for r in resources if r.resource_type in (DEPLOYMENT_TYPE, STATEFULSET_TYPE)]


def label(r) -> str:
    return f"{kind_of(r.resource_type)} {namespace_of(r.props)}/{object_name(r.props, r.name)}"


# ------------------------------------------------------------------------------------- serving HA


def _validate_ha(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    patterns = config_list(args.get_config(), "stacks", DEFAULT_STACKS)
    for r in workloads(args.resources):
        if get(template_labels(r.props), COMPONENT_LABEL) != MODEL_SERVER or not protected_stack(r.urn, patterns):
            continue
        bounds = replica_bounds(r, args.resources)
        if bounds.low >= MIN_SERVING_REPLICAS:
            continue
        report_violation(
            f"model server {label(r)} runs {fmt(bounds.low)} replica(s) at its minimum ({bounds.source}) in protected "
            f"stack '{stack_of(r.urn)}': set {bounds.min_field} to at least {MIN_SERVING_REPLICAS} "
            f"(serving.models[].replicas.min) so a node loss, spot reclaim or rollout does not take the model down.",
            r.urn)


serving_replicas_ha = StackValidationPolicy(
    name=HA_NAME,
    description="Model servers of production stacks keep at least 2 replicas at their minimum scale.",
    validate=_validate_ha,
    # Mandatory since issue 17 (single-replica critical servers in protected stacks): the shipped prod stack
    # runs every model server at 2+ replicas, and `stacks` keeps dev/local (one GPU) out of it.
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=stacks_schema("Glob patterns of stack names whose model servers must be highly available."),
)


# ------------------------------------------------------------------------------------------ PDBs


def _validate_pdb(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    budgets = [r for r in args.resources if r.resource_type == PDB_TYPE]
    for r in workloads(args.resources):
        bounds = replica_bounds(r, args.resources)
        if bounds.high < 2:
            continue
        labels = template_labels(r.props)
        namespace = namespace_of(r.props)
        if any(namespace_of(b.props) == namespace and get(b.props, "spec", "selector") is not None
               and selector_matches(get(b.props, "spec", "selector"), labels) for b in budgets):
            continue
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "none"
        report_violation(
            f"{label(r)} can run {fmt(bounds.high)} replicas ({bounds.source}) but no PodDisruptionBudget in "
            f"{namespace} selects its pods (labels: {shown}): add one (e.g. maxUnavailable: 1) whose "
            f"selector.matchLabels are the pod template's, so a node drain cannot evict every replica at once.", r.urn)


pdb_for_multi_replica = StackValidationPolicy(
    name=PDB_NAME,
    description="Deployments and StatefulSets that can run 2+ replicas have a PodDisruptionBudget selecting them.",
    validate=_validate_pdb,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# ------------------------------------------------------------------------------ PDBs that block drains
#
# **pdb-allows-eviction** (object policy: the program's PDBs and every chart-rendered one): a
# PodDisruptionBudget with `maxUnavailable: 0` / "0%" or `minAvailable: "100%"` never allows a voluntary
# eviction, so a node drain (upgrade, scale-down, spot rebalancing) hangs on its pods for ever.
#
# **pdb-below-replicas** (stack policy: resolves the selector): a PodDisruptionBudget whose `minAvailable`
# (a count, or a percentage rounded up as the disruption controller does) is at least the number of pods it
# selects at their minimum scale (the Deployments/StatefulSets of its namespace its selector matches,
# summed, with replica_bounds) allows no eviction at that scale. Workloads at 0 replicas have no pods to
# protect and are not judged.

PDB_EVICTION_NAME = "pdb-allows-eviction"
PDB_REPLICAS_NAME = "pdb-below-replicas"


def _shown(value: Any) -> str:
    """A PDB count or percentage for messages, the same whether the engine sent 1 or 1.0."""
    return fmt(float(value)) if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)


def _percent(value: Any) -> float | None:
    if isinstance(value, str) and value.strip().endswith("%"):
        return number(value.strip()[:-1])
    return None


def check_pdb_allows_eviction(obj: KubeObject, config: Any) -> Iterator[str]:
    """Messages for a PodDisruptionBudget that allows no eviction at any scale."""
    if obj.kind != "PodDisruptionBudget":
        return
    spec = get(obj.body, "spec")
    max_unavailable = get(spec, "maxUnavailable")
    if max_unavailable is not None and (number(max_unavailable) == 0 or _percent(max_unavailable) == 0):
        yield (f"maxUnavailable {_shown(max_unavailable)} allows no voluntary eviction, so a node drain never "
               f"finishes; use maxUnavailable: 1")
    min_available = get(spec, "minAvailable")
    if min_available is not None and (_percent(min_available) or 0) >= 100:
        yield (f"minAvailable {_shown(min_available)} allows no voluntary eviction, so a node drain never finishes; "
               f"use maxUnavailable: 1")


pdb_allows_eviction = object_policy(
    PDB_EVICTION_NAME,
    "PodDisruptionBudgets allow an eviction: no maxUnavailable 0 or minAvailable 100%.",
    check_pdb_allows_eviction,
)


def _validate_pdb_replicas(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    all_workloads = workloads(args.resources)
    for pdb in (r for r in args.resources if r.resource_type == PDB_TYPE):
        min_available = get(pdb.props, "spec", "minAvailable")
        selector = get(pdb.props, "spec", "selector")
        if min_available is None or selector is None:
            continue
        namespace = namespace_of(pdb.props)
        targets = [w for w in all_workloads if namespace_of(w.props) == namespace
                   and selector_matches(selector, template_labels(w.props))]
        pods = sum(replica_bounds(w, args.resources).low for w in targets)
        if not targets or pods < 1:
            continue
        percent = _percent(min_available)
        required = math.ceil(pods * percent / 100) if percent is not None else number(min_available)
        if required is None or required < pods:
            continue
        shown = ", ".join(f"{label(w)} ({fmt(replica_bounds(w, args.resources).low)})" for w in targets)
        report_violation(
            f"PodDisruptionBudget {namespace}/{object_name(pdb.props, pdb.name)} keeps minAvailable "
            f"{_shown(min_available)} of the {fmt(pods)} pod(s) it selects at minimum scale ({shown}): no eviction is "
            f"allowed, so a node drain hangs; use maxUnavailable: 1 or keep minAvailable below the replicas.", pdb.urn)


pdb_below_replicas = StackValidationPolicy(
    name=PDB_REPLICAS_NAME,
    description="A PodDisruptionBudget's minAvailable stays below the replicas it selects, so drains can evict.",
    validate=_validate_pdb_replicas,
    enforcement_level=EnforcementLevel.MANDATORY,
)
