"""The one place labels, taints and node selectors are spelled.

Kubernetes labels follow app.kubernetes.io conventions; user labels from `ai-platform:labels`
win over ours. GPU pools carry `ai-platform/*` node labels that workloads select and that the
policy pack reads (gpus-per-node feeds the gpu-budget rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from config.models import GpuPool

PART_OF = "ai-platform"
MANAGED_BY = "pulumi"

POOL_LABEL = "ai-platform/pool"
GPU_LABEL = "ai-platform/gpu"
CAPACITY_LABEL = "ai-platform/capacity"
SHARING_LABEL = "ai-platform/sharing"
GPUS_PER_NODE_LABEL = "ai-platform/gpus-per-node"

# Model-server pods: which model they serve (PodMonitors turn it into the target label `model`), and
# whether they belong to the model's primary Deployment or its on-demand fallback.
MODEL_LABEL = "ai-platform/model"
PLACEMENT_LABEL = "ai-platform/placement"

# ServiceMonitors / PodMonitors carrying these labels are scraped by the platform's Prometheus.
SCRAPE_LABELS = {"ai-platform/scrape": "true"}

# GKE puts exactly this taint on GPU nodes itself; we declare the same one on every cloud so
# tolerations and the policy pack have one form to check.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
GPU_TAINT_EFFECT = "NoSchedule"
# The same effect as the GKE and EKS node pool APIs spell it (an enum); Kubernetes shows it as NoSchedule.
GPU_TAINT_EFFECT_API = "NO_SCHEDULE"


def standard_labels(name: str, component: str, user: Mapping[str, str] | None = None) -> dict[str, str]:
    """app.kubernetes.io labels for an object; `user` labels override ours."""
    labels = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }
    labels.update(user or {})
    return labels


def cloud_labels(component: str, user: Mapping[str, str] | None = None) -> dict[str, str]:
    """Labels/tags for cloud resources (GCP labels allow only [a-z0-9_-], so no slashes)."""
    labels = {"part-of": PART_OF, "managed-by": MANAGED_BY, "component": component}
    labels.update({k.replace("/", "_").replace(".", "_").lower(): v.lower() for k, v in (user or {}).items()})
    return labels


def pool_labels(pool: GpuPool) -> dict[str, str]:
    """Node labels of a GPU pool (a `config.models.GpuPool`)."""
    return {
        POOL_LABEL: pool.name,
        GPU_LABEL: pool.gpu,
        CAPACITY_LABEL: pool.capacity,
        SHARING_LABEL: pool.sharing.strategy,
        GPUS_PER_NODE_LABEL: str(pool.gpus_per_node),
    }


def gpu_toleration() -> dict[str, str]:
    """Toleration for the GPU taint (pod spec form)."""
    return {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}
