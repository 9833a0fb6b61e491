"""Small helpers shared by the rules: safe property access, pod templates, GPU pools, quantities.

Props arrive as the engine sends them: camelCase keys, every number a float, maps and lists as
read-only proxies (`Mapping` / `Sequence`, not `dict` / `list`). A value that is unknown during
preview raises `pulumi_policy`'s UnknownValueError when read; we let it propagate, and the
analyzer turns it into an advisory "can't run policy during preview" note. A value that is simply
absent reads as the default here; each rule documents what absent means for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"

GPU_RESOURCE = "nvidia.com/gpu"
MIG_RESOURCE_PREFIX = "nvidia.com/mig-"


def mig_resource(profile: str) -> str:
    """The resource the NVIDIA device plugin advertises for a MIG profile under the mixed strategy.

    `strings.ReplaceAll("mig-"+profile, "+", ".")` (NVIDIA/k8s-device-plugin v0.20.0,
    internal/rm/rm.go, AddDefaultResourcesToConfig): `1g.10gb+me` is `nvidia.com/mig-1g.10gb.me`.
    The pack runs without the program's code, so this mirrors `config.gpu_stack.mig_resource`;
    tests/gpu/test_mig_resource_names.py holds both to the same answer.
    """
    return MIG_RESOURCE_PREFIX + profile.replace("+", ".")

GKE_NODE_POOL = "gcp:container/nodePool:NodePool"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
KARPENTER_NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
"""A Karpenter NodePool (EKS `nodePools.provisioner: karpenter`): node labels in `spec.template.metadata.labels`, taints
in `spec.template.spec.taints`, its GPUs capped by `spec.limits["nvidia.com/gpu"]`."""
NODE_POOL_TYPES = (GKE_NODE_POOL, EKS_NODE_GROUP, KARPENTER_NODE_POOL)

# GCE machine families that always carry NVIDIA GPUs (the accelerator is implied by the type).
GKE_GPU_MACHINE_FAMILIES = ("a2", "a3", "a4", "g2", "g4")

# EC2 instance families with NVIDIA GPUs (the part of the instance type before the dot).
EKS_GPU_INSTANCE_FAMILIES = frozenset({
    "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200",
    "g4dn", "g5", "g5g", "g6", "g6e", "g7e", "gr6",
})


# ------------------------------------------------------------------------------- property access


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def get(obj: Any, *path: Any, default: Any = None) -> Any:
    """`obj[p0][p1]...`, or `default` when any step is absent, None or of the wrong shape."""
    for key in path:
        if isinstance(key, int):
            if not is_list(obj) or not -len(obj) <= key < len(obj):
                return default
            obj = obj[key]
        else:
            if not is_map(obj) or key not in obj:
                return default
            obj = obj[key]
        if obj is None:
            return default
    return obj


def maps(value: Any) -> list:
    """The mapping items of a list-valued property (anything else reads as an empty list)."""
    return [item for item in value if is_map(item)] if is_list(value) else []


def strings(value: Any) -> list[str]:
    """The string items of a list-valued property."""
    return [item for item in value if isinstance(item, str)] if is_list(value) else []


def number(value: Any) -> float | None:
    """A JSON number (the engine sends floats) or a numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def fmt(value: float) -> str:
    """A count for messages: 8.0 -> '8', 1.5 -> '1.5'."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ----------------------------------------------------------------------------------- quantities

_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)\s*$")


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity ("2", 1.0, "500m", "1Gi") as a Decimal; None if unparseable."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    match = _QUANTITY.match(value)
    if not match:
        return None
    try:
        return Decimal(match.group(1)) * _SUFFIXES[match.group(2)]
    except InvalidOperation:
        return None


# -------------------------------------------------------------------------------- pod templates

# Resource type -> path from the props to the pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def pod_spec(resource_type: str, props: Any) -> Mapping | None:
    """The pod spec of a workload resource; None for other types or when the spec is absent."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    spec = get(props, *path)
    return spec if is_map(spec) else None


def containers(spec: Mapping) -> Iterator[tuple[str, str, Mapping]]:
    """(kind, name, container) for every container and init container of a pod spec."""
    for field, kind in (("initContainers", "initContainer"), ("containers", "container")):
        for container in maps(get(spec, field)):
            yield kind, str(get(container, "name", default="<unnamed>")), container


def gpu_resources(container: Mapping) -> list[tuple[str, str, Any]]:
    """(section, resource, quantity) for every GPU / MIG resource a container requests or limits.

    A quantity that parses to zero asks for no GPU and is skipped; one that does not parse counts
    (the kubelet would reject it, and guessing "no GPU" could let a GPU pod through untolerated).
    """
    found = []
    for section in ("limits", "requests"):
        amounts = get(container, "resources", section)
        if not is_map(amounts):
            continue
        for resource in list(amounts):
            if not isinstance(resource, str):
                continue
            if resource != GPU_RESOURCE and not resource.startswith(MIG_RESOURCE_PREFIX):
                continue
            quantity = amounts[resource]
            parsed = parse_quantity(quantity)
            if parsed is not None and parsed <= 0:
                continue
            found.append((section, resource, quantity))
    return found


# ------------------------------------------------------------------------------ taints / effects


def effect_key(effect: Any) -> str:
    """Normalise a taint effect across spellings: NoSchedule, NO_SCHEDULE -> 'noschedule'."""
    return str(effect or "").replace("_", "").replace("-", "").lower()


def tolerates_gpu_taint(toleration: Mapping) -> bool:
    """Kubernetes toleration semantics against the taint nvidia.com/gpu=present:NoSchedule."""
    effect = get(toleration, "effect", default="")
    if effect and effect_key(effect) != effect_key(GPU_TAINT_EFFECT):
        return False
    operator = get(toleration, "operator", default="") or "Equal"
    key = get(toleration, "key", default="")
    if operator == "Exists":
        return key in ("", GPU_TAINT_KEY)
    if operator == "Equal":
        return key == GPU_TAINT_KEY and get(toleration, "value", default="") == GPU_TAINT_VALUE
    return False


def has_gpu_taint(taints: Any) -> bool:
    """Whether a node pool's taint list has key nvidia.com/gpu with effect NoSchedule (any spelling)."""
    return any(get(t, "key") == GPU_TAINT_KEY and effect_key(get(t, "effect")) == effect_key(GPU_TAINT_EFFECT)
               for t in maps(taints))


# ------------------------------------------------------------------------------------ GPU pools


def gke_machine_family(machine_type: Any) -> str:
    return machine_type.split("-", 1)[0].lower() if isinstance(machine_type, str) and "-" in machine_type else ""


def gke_accelerators(props: Any) -> list:
    """nodeConfig.guestAccelerators entries of a GKE node pool."""
    return maps(get(props, "nodeConfig", "guestAccelerators"))


def is_gke_gpu_pool(props: Any) -> bool:
    """GPU pool: guest accelerators declared, or a machine family that always has GPUs."""
    if gke_accelerators(props):
        return True
    return gke_machine_family(get(props, "nodeConfig", "machineType")) in GKE_GPU_MACHINE_FAMILIES


def eks_instance_family(instance_type: Any) -> str:
    return instance_type.split(".", 1)[0].lower() if isinstance(instance_type, str) else ""


def is_eks_gpu_pool(props: Any) -> bool:
    """GPU node group: an NVIDIA/GPU AMI type, or any instance type of a GPU family."""
    ami = get(props, "amiType", default="")
    if isinstance(ami, str) and ("NVIDIA" in ami.upper() or "GPU" in ami.upper()):
        return True
    return any(eks_instance_family(t) in EKS_GPU_INSTANCE_FAMILIES for t in strings(get(props, "instanceTypes")))


def is_karpenter_gpu_pool(props: Any) -> bool:
    """GPU NodePool: a GPU limit, or only instance types of GPU families."""
    if get(props, "spec", "limits", GPU_TAINT_KEY) is not None:
        return True
    types = [v for req in maps(get(props, "spec", "template", "spec", "requirements"))
             if get(req, "key") == "node.kubernetes.io/instance-type" and get(req, "operator") == "In"
             for v in strings(get(req, "values"))]
    return bool(types) and all(eks_instance_family(t) in EKS_GPU_INSTANCE_FAMILIES for t in types)


def is_gpu_pool(resource_type: str, props: Any) -> bool:
    if resource_type == GKE_NODE_POOL:
        return is_gke_gpu_pool(props)
    if resource_type == EKS_NODE_GROUP:
        return is_eks_gpu_pool(props)
    if resource_type == KARPENTER_NODE_POOL:
        return is_karpenter_gpu_pool(props)
    return False


def node_labels(resource_type: str, props: Any) -> Any:
    """The node labels a node pool / node group / Karpenter NodePool gives its nodes; None for other resources."""
    if resource_type == GKE_NODE_POOL:
        return get(props, "nodeConfig", "labels")
    if resource_type == EKS_NODE_GROUP:
        return get(props, "labels")
    if resource_type == KARPENTER_NODE_POOL:
        return get(props, "spec", "template", "metadata", "labels")
    return None


def karpenter_capacity_types(props: Any) -> list[str]:
    """Values of a NodePool's karpenter.sh/capacity-type requirement (In); empty when unconstrained."""
    return [v for req in maps(get(props, "spec", "template", "spec", "requirements"))
            if get(req, "key") == "karpenter.sh/capacity-type" and get(req, "operator") == "In"
            for v in strings(get(req, "values"))]


def pool_label(props: Any, name: str) -> str:
    """A readable name for a node pool in messages (cloud name if set, else the Pulumi name)."""
    cloud_name = get(props, "name") or get(props, "nodeGroupName") or get(props, "metadata", "name")
    return f"{cloud_name} ({name})" if isinstance(cloud_name, str) and cloud_name != name else name


# ------------------------------------------------------------------------------- kinds / names

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
RESOURCE_QUOTA_TYPE = "kubernetes:core/v1:ResourceQuota"
NETWORK_POLICY_TYPE = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"
STATEFULSET_TYPE = "kubernetes:apps/v1:StatefulSet"

# Namespaces of the cluster itself and of the third-party operators the platform installs
# (config/namespaces.py: the platform namespaces). Workload namespaces are every other one.
SYSTEM_NAMESPACES = (
    "kube-system", "kube-public", "kube-node-lease", "default", "gpu-operator", "observability-node", "keda",
    "cert-manager", "ingress-nginx", "elastic-system", "prometheus-adapter", "istio-system",
    "kueue-system",  # queueing.enabled: the Kueue controller
    "ai-gateway",  # inferenceGateway.namespace's default: the Gateways' Envoy pods and body-based routing
)

SYSTEM_NAMESPACES_SCHEMA = {
    "type": "array",
    "items": {"type": "string"},
    "default": list(SYSTEM_NAMESPACES),
    "description": "Namespaces of the cluster and of platform operators; every other namespace is a workload "
                   "namespace.",
}


def kind_of(resource_type: str) -> str:
    """'kubernetes:apps/v1:Deployment' -> 'Deployment'."""
    return resource_type.rsplit(":", 1)[-1]


def namespace_of(props: Any) -> str:
    """`metadata.namespace` of a namespaced object; absent means the namespace `default`."""
    namespace = get(props, "metadata", "namespace")
    return namespace if isinstance(namespace, str) and namespace else "default"


def object_name(props: Any, fallback: str) -> str:
    """`metadata.name`, else `fallback` (the Pulumi resource name) for messages."""
    name = get(props, "metadata", "name")
    return name if isinstance(name, str) and name else fallback


def config_list(config: Any, key: str, default: Sequence[str]) -> list[str]:
    """A list-of-strings pack config value; absent (not configured) means `default`."""
    configured = get(config, key)
    return strings(configured) if configured is not None else list(default)


def selector_matches(selector: Any, labels: Any) -> bool:
    """Kubernetes label selector semantics (matchLabels AND matchExpressions) against a label map.

    An empty selector ({}) matches every label set; the caller decides what an absent one means.
    Unknown operators match nothing, as the API server would reject them.
    """
    labels = labels if is_map(labels) else {}
    match_labels = get(selector, "matchLabels")
    if is_map(match_labels) and any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for expression in maps(get(selector, "matchExpressions")):
        key, operator, values = get(expression, "key"), get(expression, "operator"), strings(get(expression, "values"))
        present = key in labels
        if operator == "In":
            ok = present and labels[key] in values
        elif operator == "NotIn":
            ok = not present or labels[key] not in values
        elif operator == "Exists":
            ok = present
        elif operator == "DoesNotExist":
            ok = not present
        else:
            ok = False
        if not ok:
            return False
    return True


def object_ref(resource_type: str, props: Any, name: str) -> str:
    """'Deployment ai-inference/qwen7b' for messages (the Pulumi name when metadata.name is absent)."""
    return f"{kind_of(resource_type)} {namespace_of(props)}/{object_name(props, name)}"
