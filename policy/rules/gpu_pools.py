"""gpu-node-pool-tainted: every GPU node pool carries the taint nvidia.com/gpu (NoSchedule).

Without the taint, ordinary pods land on (and hold) expensive GPU nodes. The program declares
nvidia.com/gpu=present:NoSchedule on every GPU pool; only the key and the effect are required
here (GKE and EKS spell the effect NO_SCHEDULE; NoSchedule is accepted too).

- GKE `gcp:container/nodePool:NodePool`: a GPU pool has `nodeConfig.guestAccelerators` or a machine
  type of family a2-/a3-/a4-/g2-; its taints are `nodeConfig.taints`.
- EKS `aws:eks/nodeGroup:NodeGroup`: a GPU node group has an `amiType` containing NVIDIA or GPU, or
  an instance type of a GPU family (p3, p4d, p5, g4dn, g5, g6, g6e, ...); its taints are `taints`.
- Karpenter `karpenter.sh/v1 NodePool`: a GPU NodePool has an nvidia.com/gpu limit or only GPU instance types;
  its taints are `spec.template.spec.taints`.

Absent properties: a pool whose machine type / accelerators / AMI / instance types are absent is
not recognised as a GPU pool (the cloud defaults are CPU machines) and is compliant. A GPU pool
whose taints are absent is a violation.
"""

from __future__ import annotations

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

from .helpers import (
    GKE_NODE_POOL,
    GPU_TAINT_EFFECT,
    GPU_TAINT_KEY,
    GPU_TAINT_VALUE,
    KARPENTER_NODE_POOL,
    get,
    has_gpu_taint,
    is_gpu_pool,
    pool_label,
)

NAME = "gpu-node-pool-tainted"


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if not is_gpu_pool(args.resource_type, args.props):
        return
    path = {GKE_NODE_POOL: ("nodeConfig", "taints"), KARPENTER_NODE_POOL: ("spec", "template", "spec", "taints")}.get(
        args.resource_type, ("taints",))
    if has_gpu_taint(get(args.props, *path)):
        return
    form = ".".join(path)
    report_violation(
        f"GPU node pool {pool_label(args.props, args.name)} has no {GPU_TAINT_KEY}:{GPU_TAINT_EFFECT} taint; add "
        f"{{key: {GPU_TAINT_KEY}, value: {GPU_TAINT_VALUE}, effect: NO_SCHEDULE}} to {form}.")


gpu_node_pool_tainted = ResourceValidationPolicy(
    name=NAME,
    description=f"GPU node pools (GKE, EKS) carry the {GPU_TAINT_KEY} NoSchedule taint.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
)
