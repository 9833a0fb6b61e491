"""serving-pods-select-gpu-pool and model-servers-mount-model-cache: where model servers run and what they load.

Both are stack policies over the serving workloads: Pod, ReplicationController, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob whose pod template carries `app.kubernetes.io/component: model-server` or
`embedding` (the platform's model servers and embedding server) and whose containers or init containers request
or limit a GPU (`nvidia.com/gpu` or `nvidia.com/mig-<profile>`, quantity > 0). Absent pod spec, template labels,
containers or resources: not a GPU serving workload, compliant. The GPU toleration itself is
`gpu-workloads-tolerate-gpu-taint`'s job (every GPU workload); these rules add what it lacks.

**serving-pods-select-gpu-pool**: such a workload is pinned to one of the stack's GPU pools by its pod spec's
`nodeSelector` entry `ai-platform/pool: <p>` or by its required node affinity (every `nodeSelectorTerms` term has
an `In` expression on `ai-platform/pool` with non-empty values). Every pool named must be a node pool / node
group of the stack (GKE `nodeConfig.labels`, EKS `labels` with `ai-platform/pool`), unless the stack has no node
pool resource at all (an existing cluster, whose nodes are labelled by hand). Preferred affinity, `Exists` and
`NotIn` do not count: a model sized for one GPU model must never land on another.

**model-servers-mount-model-cache**: such a workload mounts (a `volumeMounts` entry of any container) a volume
whose `persistentVolumeClaim.claimName` names a `PersistentVolumeClaim` of the stack in the workload's namespace
(`metadata.namespace`, absent = `default`): weights come from the model cache the download Job filled, not from
the internet at every start (serving pods have no internet egress).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from .helpers import (
    POD_SPEC_PATHS,
    containers,
    get,
    gpu_resources,
    is_map,
    maps,
    namespace_of,
    node_labels,
    object_ref,
    pod_spec,
    strings,
)

SELECT_NAME = "serving-pods-select-gpu-pool"
CACHE_NAME = "model-servers-mount-model-cache"
POOL_LABEL = "ai-platform/pool"
COMPONENT_LABEL = "app.kubernetes.io/component"
SERVING_COMPONENTS = ("model-server", "embedding")
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"


def template_labels(resource_type: str, props: Any) -> Mapping:
    """Labels of a workload's pod template (a Pod's own labels)."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return {}
    labels = get(props, *path[:-1], "metadata", "labels")
    return labels if is_map(labels) else {}


def serving_gpu_workloads(resources) -> Iterator[tuple[Any, Mapping]]:
    """(resource, pod spec) of every model-server / embedding workload that asks for GPUs."""
    for r in resources:
        spec = pod_spec(r.resource_type, r.props)
        if spec is None or get(template_labels(r.resource_type, r.props), COMPONENT_LABEL) not in SERVING_COMPONENTS:
            continue
        if any(gpu_resources(c) for _, _, c in containers(spec)):
            yield r, spec


def stack_pools(resources) -> set[str]:
    """`ai-platform/pool` labels of the stack's node pools / node groups."""
    found = set()
    for r in resources:
        labels = node_labels(r.resource_type, r.props)
        if labels is None:
            continue
        label = get(labels, POOL_LABEL)
        if isinstance(label, str):
            found.add(label)
    return found


def selected_pools(spec: Mapping) -> list[str]:
    """Pools the pod spec is constrained to (empty: not constrained to a pool)."""
    selector = get(spec, "nodeSelector")
    if is_map(selector) and isinstance(selector.get(POOL_LABEL), str):
        return [selector[POOL_LABEL]]
    terms = maps(get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                     "nodeSelectorTerms"))
    pools: list[str] = []
    for term in terms:
        values = [strings(get(e, "values")) for e in maps(get(term, "matchExpressions"))
                  if get(e, "key") == POOL_LABEL and get(e, "operator") == "In"]
        values = [v for v in values if v]
        if not values:
            return []
        pools += [p for v in values for p in v if p not in pools]
    return pools


def _validate_select(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    known = stack_pools(args.resources)
    for r, spec in serving_gpu_workloads(args.resources):
        ref = object_ref(r.resource_type, r.props, r.name)
        pools = selected_pools(spec)
        if not pools:
            report_violation(
                f"{ref} serves a model on GPUs but is not pinned to a GPU pool: add nodeSelector "
                f"{{{POOL_LABEL}: <pool>}} (or a required node affinity {POOL_LABEL} In [<pool>])"
                + (f"; pools: {', '.join(sorted(known))}" if known else "") + ".", r.urn)
            continue
        unknown = [p for p in pools if known and p not in known]
        if unknown:
            report_violation(
                f"{ref} selects {POOL_LABEL} {', '.join(unknown)}, which no node pool of the stack carries; "
                f"pools: {', '.join(sorted(known))}.", r.urn)


def mounted_claims(spec: Mapping) -> list[str]:
    """claimName of every PVC volume some container or init container mounts."""
    mounted = {get(m, "name") for _, _, c in containers(spec) for m in maps(get(c, "volumeMounts"))}
    return [get(v, "persistentVolumeClaim", "claimName") for v in maps(get(spec, "volumes"))
            if get(v, "name") in mounted and isinstance(get(v, "persistentVolumeClaim", "claimName"), str)]


def _validate_cache(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    claims = {(namespace_of(r.props), get(r.props, "metadata", "name")) for r in args.resources
              if r.resource_type == PVC_TYPE}
    for r, spec in serving_gpu_workloads(args.resources):
        ns = namespace_of(r.props)
        mounted = mounted_claims(spec)
        if any((ns, claim) in claims for claim in mounted):
            continue
        ref = object_ref(r.resource_type, r.props, r.name)
        seen = (f"it mounts {', '.join(mounted)}, which is not a PersistentVolumeClaim of the stack in {ns}"
                if mounted else "it mounts no PersistentVolumeClaim")
        report_violation(
            f"{ref} serves a model on GPUs without a model cache: {seen}. Mount the model-cache PVC its download "
            f"Job fills, so replicas start without downloading the weights.", r.urn)


serving_pods_select_gpu_pool = StackValidationPolicy(
    name=SELECT_NAME,
    description="GPU model servers and embedding servers are pinned to one of the stack's GPU pools.",
    validate=_validate_select,
    enforcement_level=EnforcementLevel.MANDATORY,
)

model_servers_mount_model_cache = StackValidationPolicy(
    name=CACHE_NAME,
    description="GPU model servers mount a model-cache PersistentVolumeClaim that exists in the stack.",
    validate=_validate_cache,
    enforcement_level=EnforcementLevel.MANDATORY,
)
