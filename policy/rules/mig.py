"""mig-requests-match-layouts and mig-workloads-select-mig-pool: MIG requests fit the MIG pools.

Both are stack policies over the workloads of the stack: Pod, ReplicationController, Deployment,
StatefulSet, DaemonSet, ReplicaSet, Job and CronJob (`spec.jobTemplate.spec.template`), containers
and init containers, wherever they come from: the program's own, the objects each Helm Release's
chart renders, and the pod templates of custom resources (policy/rules/objects.py `objects`,
`pod_specs`); a workload is named '<Kind> <namespace>/<name>[ (chart <release>)]'.

A workload asks for MIG when a container requests or limits
`nvidia.com/mig-<profile>` with a quantity that does not parse to 0 (whole GPUs, `nvidia.com/gpu`,
are not MIG and are ignored). Absent pod spec, containers or resources: no MIG asked for, compliant.

**mig-requests-match-layouts**: every `nvidia.com/mig-<profile>` a container asks for is a profile
some node pool of the stack has configured. Configured profiles are the union over all pools of:

- the MIG layout a pool selects with the node label `nvidia.com/mig.config` (EKS
  `aws:eks/nodeGroup:NodeGroup` `labels`, GKE `gcp:container/nodePool:NodePool`
  `nodeConfig.labels`), resolved through the MIG-parted config: every
  `kubernetes:core/v1:ConfigMap` whose `data["config.yaml"]` parses (YAML; JSON is YAML) to a
  mapping with a `mig-configs` mapping. Several such ConfigMaps are merged (a layout defined in
  more than one gets the union of its profiles); a `config.yaml` that does not parse, or has no
  `mig-configs`, is not a MIG-parted config and is ignored. The profiles of a layout are the keys
  of `mig-devices` (count > 0) of its entries with `mig-enabled: true`; `all-disabled` has none.
- GKE `nodeConfig.guestAccelerators[].gpuPartitionSize` (e.g. `1g.10gb`). GKE's device plugin
  advertises those partitions as `nvidia.com/gpu`, not `nvidia.com/mig-<profile>`, so a request
  for the MIG resource is only met where another pool provides it; the policy still counts GKE
  partition sizes as configured (it checks the profile, not the resource naming).

A pool whose `nvidia.com/mig.config` names a layout that no MIG-parted ConfigMap defines is a
violation on that pool. When the stack has no MIG-parted ConfigMap at all, the GPU Operator's
built-in default config applies instead: `all-disabled` and `all-enabled` (no profiles),
`all-balanced` (accepted, but its profiles depend on the GPU model, so it contributes none) and
`all-<profile>` with a profile of the form `<n>g.<m>gb` (a `.me` suffix means `+me`: `all-1g.10gb.me`
is `1g.10gb+me`); any other name is a violation. Profiles compare with `+me` and `.me` alike.

A request must name the resource the NVIDIA device plugin advertises for a configured profile
(`helpers.mig_resource`: `+` written `.`, so `1g.10gb+me` is `nvidia.com/mig-1g.10gb.me`). A
request for `nvidia.com/mig-1g.10gb+me` is never met (and is not a valid resource name): it is a
violation that names the advertised resource to request instead.

A workload violation names the workload, the container, the resource and the configured profiles
(sorted), or says that no GPU pool has a MIG layout; it is reported on the workload.

**mig-workloads-select-mig-pool**: a workload asking for MIG constrains scheduling to MIG nodes
through its pod spec's `nodeSelector` or its required node affinity
(`affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms`).
A selector qualifies when it is one of:

- `ai-platform/sharing: mig`;
- `ai-platform/pool: <p>` where every node pool / node group labelled `ai-platform/pool=<p>`
  (EKS `labels`, GKE `nodeConfig.labels`) also has the label `ai-platform/sharing: mig`;
- `nvidia.com/mig.config: <layout>` with a layout other than `all-disabled`.

A `nodeSelector` qualifies when one of its entries does (exact match). Node selector terms are
alternatives, so the required affinity qualifies only when every term has a `matchExpressions`
entry with operator `In` whose values are non-empty and all qualify for its key (`Exists`,
`NotIn`, `matchFields` and preferred affinity never qualify). Absent nodeSelector and affinity on
a MIG workload is a violation; the message says which selector to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import yaml
from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from .budget import CONFIGMAP_TYPE
from .helpers import (
    GKE_NODE_POOL,
    KARPENTER_NODE_POOL,
    MIG_RESOURCE_PREFIX,
    NODE_POOL_TYPES,
    containers,
    get,
    gke_accelerators,
    gpu_resources,
    is_map,
    maps,
    mig_resource,
    node_labels,
    number,
    pod_spec,
    pool_label,
    strings,
)
from .objects import objects, pod_specs

LAYOUTS_NAME = "mig-requests-match-layouts"
SELECT_NAME = "mig-workloads-select-mig-pool"

MIG_CONFIG_KEY = "config.yaml"
MIG_CONFIG_LABEL = "nvidia.com/mig.config"
MIG_DISABLED = "all-disabled"
POOL_LABEL = "ai-platform/pool"
SHARING_LABEL = "ai-platform/sharing"
SHARING_MIG = "mig"

# The GPU Operator's default MIG config: layouts without profiles, and all-<profile> names.
BUILTIN_WITHOUT_PROFILES = frozenset({MIG_DISABLED, "all-enabled", "all-balanced"})
_BUILTIN_PROFILE = re.compile(r"^all-(\d+g\.\d+gb)(\.me)?$")


def profile_key(profile: str) -> str:
    """Compare `1g.10gb+me` and `1g.10gb.me` (label-safe spelling) alike."""
    return profile.replace("+", ".")


# ------------------------------------------------------------------------------------ workloads


def mig_asks(resource_type: str, props: Any) -> list[tuple[str, str, str]]:
    """(container kind, container name, MIG resource) a workload asks for, once per container and resource."""
    spec = pod_spec(resource_type, props)
    return [] if spec is None else spec_mig_asks(spec)


def spec_mig_asks(spec: Mapping) -> list[tuple[str, str, str]]:
    """(container kind, container name, MIG resource) a pod spec asks for, once per container and resource."""
    asks: list[tuple[str, str, str]] = []
    for kind, name, container in containers(spec):
        for _, resource, _ in gpu_resources(container):
            ask = (kind, name, resource)
            if resource.startswith(MIG_RESOURCE_PREFIX) and ask not in asks:
                asks.append(ask)
    return asks


def mig_workloads(resources) -> Iterator[tuple[Any, str, Mapping, list[tuple[str, str, str]]]]:
    """(resource, label, pod spec, MIG asks) of every pod spec that asks for MIG: the program's workloads, the
    objects Helm Releases render to and custom resources' pod templates (objects.objects / pod_specs)."""
    for r in resources:
        for obj in objects(r):
            for where, spec in pod_specs(obj):
                asks = spec_mig_asks(spec)
                if asks:
                    yield r, obj.ref() + ("" if where == "pod template" else f" ({where})"), spec, asks


# ---------------------------------------------------------------------------------- node pools


def pool_labels(r) -> Mapping | None:
    """Node labels of a node pool / node group; None for other resources."""
    if r.resource_type not in NODE_POOL_TYPES:
        return None
    labels = node_labels(r.resource_type, r.props)
    return labels if is_map(labels) else {}


def layout_profiles(entries: Any) -> set[str]:
    """Profiles of one mig-parted layout: `mig-devices` keys (count > 0) of its MIG-enabled entries."""
    profiles = set()
    for entry in maps(entries):
        devices = get(entry, "mig-devices")
        if get(entry, "mig-enabled") is not True or not is_map(devices):
            continue
        for profile, count in devices.items():
            amount = number(count)
            if isinstance(profile, str) and not (amount is not None and amount <= 0):
                profiles.add(profile)
    return profiles


def mig_parted_layouts(resources) -> dict[str, set[str]] | None:
    """Layout name -> profiles, merged over every MIG-parted ConfigMap; None when there is none."""
    layouts: dict[str, set[str]] | None = None
    for r in resources:
        if r.resource_type != CONFIGMAP_TYPE:
            continue
        raw = get(r.props, "data", MIG_CONFIG_KEY)
        if not isinstance(raw, str):
            continue
        try:
            parsed = yaml.safe_load(raw)
        except yaml.YAMLError:
            continue
        configs = get(parsed, "mig-configs")
        if not is_map(configs):
            continue
        layouts = layouts if layouts is not None else {}
        for name, entries in configs.items():
            if isinstance(name, str):
                layouts.setdefault(name, set()).update(layout_profiles(entries))
    return layouts


def builtin_profiles(layout: str) -> set[str] | None:
    """Profiles of a layout of the GPU Operator's default config; None when it has no such layout."""
    if layout in BUILTIN_WITHOUT_PROFILES:
        return set()
    match = _BUILTIN_PROFILE.match(layout)
    if not match:
        return None
    return {match.group(1) + ("+me" if match.group(2) else "")}


KIND_NAMES = {GKE_NODE_POOL: "GKE node pool", KARPENTER_NODE_POOL: "Karpenter NodePool"}


def configured_profiles(resources, report_violation: ReportViolation | None) -> set[str]:
    """MIG profiles the stack's pools configure; undefined layouts are reported when a callback is given."""
    layouts = mig_parted_layouts(resources)
    profiles: set[str] = set()
    for r in resources:
        labels = pool_labels(r)
        if labels is None:
            continue
        if r.resource_type == GKE_NODE_POOL:
            profiles.update(p for p in (get(a, "gpuPartitionSize") for a in gke_accelerators(r.props))
                            if isinstance(p, str) and p)
        layout = get(labels, MIG_CONFIG_LABEL)
        if not isinstance(layout, str):
            continue
        found = layouts.get(layout) if layouts is not None else builtin_profiles(layout)
        if found is not None:
            profiles.update(found)
            continue
        if report_violation is None:
            continue
        where = f"{KIND_NAMES.get(r.resource_type, 'EKS node group')} " \
                f"{pool_label(r.props, r.name)}"
        if layouts is not None:
            report_violation(
                f"{where}: MIG layout {layout!r} (label {MIG_CONFIG_LABEL}) is not defined in any MIG-parted "
                f"ConfigMap ({MIG_CONFIG_KEY}); defined: {', '.join(sorted(layouts)) or 'none'}.", r.urn)
        else:
            report_violation(
                f"{where}: MIG layout {layout!r} (label {MIG_CONFIG_LABEL}) is not a layout of the GPU Operator's "
                f"default MIG config (all-disabled, all-enabled, all-balanced, all-<profile>) and no MIG-parted "
                f"ConfigMap ({MIG_CONFIG_KEY}) defines it.", r.urn)
    return profiles


# --------------------------------------------------------------------------------------- layouts


def _validate_layouts(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    profiles = configured_profiles(args.resources, report_violation)
    keys = {profile_key(p) for p in profiles}
    configured = (f"configured MIG profiles: {', '.join(sorted(profiles))}" if profiles
                  else "no GPU pool has a MIG layout")
    advertised = {mig_resource(p) for p in profiles}
    for r, label, _, asks in mig_workloads(args.resources):
        for kind, name, resource in asks:
            if resource in advertised:
                continue
            spelled = mig_resource(resource[len(MIG_RESOURCE_PREFIX):])
            if spelled != resource and profile_key(resource[len(MIG_RESOURCE_PREFIX):]) in keys:
                report_violation(
                    f"{label}: {kind} {name!r} asks for {resource}, which no device plugin advertises "
                    f"('+' is not valid in a resource name); request {spelled} (the NVIDIA device plugin writes "
                    f"'+' as '.').", r.urn)
                continue
            report_violation(
                f"{label}: {kind} {name!r} asks for {resource}, a MIG profile no GPU pool of the stack "
                f"configures ({configured}). Request a configured profile or add a pool whose MIG layout "
                f"({MIG_CONFIG_LABEL} / gpuPartitionSize) provides it.", r.urn)


mig_requests_match_layouts = StackValidationPolicy(
    name=LAYOUTS_NAME,
    description="Workloads request only MIG profiles (nvidia.com/mig-<profile>) that a GPU pool's MIG layout provides.",
    validate=_validate_layouts,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ------------------------------------------------------------------------------------ selection


def mig_pools(resources) -> list[str]:
    """`ai-platform/pool` values whose every node pool / node group has `ai-platform/sharing: mig`."""
    sharing: dict[str, bool] = {}
    for r in resources:
        labels = pool_labels(r)
        pool = get(labels, POOL_LABEL) if labels is not None else None
        if isinstance(pool, str):
            sharing[pool] = sharing.get(pool, True) and get(labels, SHARING_LABEL) == SHARING_MIG
    return sorted(p for p, mig in sharing.items() if mig)


def qualifies(key: Any, value: Any, pools: list[str]) -> bool:
    """Whether node label `key=value` only matches MIG nodes."""
    if not isinstance(value, str):
        return False
    if key == SHARING_LABEL:
        return value == SHARING_MIG
    if key == POOL_LABEL:
        return value in pools
    if key == MIG_CONFIG_LABEL:
        return value != MIG_DISABLED
    return False


def term_qualifies(term: Any, pools: list[str]) -> bool:
    """A node selector term with a matchExpressions entry `In` whose values all qualify."""
    for expression in maps(get(term, "matchExpressions")):
        values = strings(get(expression, "values"))
        if get(expression, "operator") == "In" and values \
                and all(qualifies(get(expression, "key"), v, pools) for v in values):
            return True
    return False


def selects_mig(spec: Mapping, pools: list[str]) -> bool:
    selector = get(spec, "nodeSelector")
    if is_map(selector) and any(qualifies(k, v, pools) for k, v in selector.items()):
        return True
    terms = maps(get(spec, "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution",
                     "nodeSelectorTerms"))
    return bool(terms) and all(term_qualifies(t, pools) for t in terms)


def _validate_select(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    pools = mig_pools(args.resources)
    if pools:
        fix = (f"add nodeSelector {{{POOL_LABEL}: <a MIG pool: {', '.join(pools)}>}} or "
               f"{{{SHARING_LABEL}: {SHARING_MIG}}}")
    else:
        fix = (f"add nodeSelector {{{SHARING_LABEL}: {SHARING_MIG}}} (no node pool of the stack is labelled "
               f"{SHARING_LABEL}={SHARING_MIG})")
    for r, label, spec, asks in mig_workloads(args.resources):
        if selects_mig(spec, pools):
            continue
        shown = "; ".join(f"{kind} {name!r} {resource}" for kind, name, resource in asks)
        report_violation(
            f"{label} asks for MIG devices ({shown}) but does not constrain scheduling to MIG nodes: "
            f"{fix}, or an equivalent required node affinity.", r.urn)


mig_workloads_select_mig_pool = StackValidationPolicy(
    name=SELECT_NAME,
    description="Workloads requesting MIG devices select MIG nodes (nodeSelector or required node affinity).",
    validate=_validate_select,
    enforcement_level=EnforcementLevel.MANDATORY,
)
