"""What every in-cluster component receives from the ones created before it.

`Platform` builds one `PlatformContext` after the Tenancy component (namespaces) and the
monitoring CRDs exist, and passes it inside each component's args. Components never look up
namespaces or CRDs themselves: using `namespace(name)` (the Namespace's own output) makes every
object depend on its namespace, and `monitoring_crds` orders ServiceMonitors, PodMonitors and
PrometheusRules after the CRDs that define them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from config.capacity import CapacityPlan
from config.models import StackConfig


@dataclass(frozen=True)
class PlatformContext:
    """Shared, read-only inputs of the in-cluster components."""

    config: StackConfig
    """Typed stack configuration."""
    plan: CapacityPlan
    """Capacity plan (GPU resources per model, cache sizes, costs)."""
    namespaces: Mapping[str, k8s.core.v1.Namespace]
    """Every namespace the platform created, by name (workload and platform namespaces)."""
    monitoring_crds: Sequence[pulumi.Resource] = ()
    """Resources that make the monitoring.coreos.com CRDs exist; empty: create no ServiceMonitor, PodMonitor
    or PrometheusRule (observability is disabled)."""
    gpu_ready: Sequence[pulumi.Resource] = ()
    """The GPU stack (operator release, PriorityClasses): GPU workloads depend on it."""
    hf_token: pulumi.Output[str] | None = None
    """Hugging Face token (secret) for gated models."""
    gateway_crds: Sequence[pulumi.Resource] = ()
    """Resources that make the Gateway API, Inference Extension (InferencePool) and llm-d (InferenceObjective)
    CRDs exist (components/inference/crds.py); empty without `inferenceGateway.enabled`. Every Gateway,
    HTTPRoute, InferencePool and InferenceObjective (and every Release rendering one) depends on them."""
    mesh_ready: Sequence[pulumi.Resource] = ()
    """The mesh (Istio base with its CRDs, istiod, istio-cni, ztunnel; components/mesh.py); empty without
    `mesh.enabled`. Istio resources (AuthorizationPolicy, PeerAuthentication, ...) and the gateway Releases depend
    on it."""
    queue_ready: Sequence[pulumi.Resource] = ()
    """Kueue and its queues (components/queueing.py); empty without `queueing.enabled`. Jobs that name a LocalQueue
    depend on it."""
    extra: Mapping[str, object] = field(default_factory=dict)
    """Outputs of earlier components later ones need (e.g. the observability stack's ready resources)."""

    def namespace(self, name: str) -> pulumi.Output[str]:
        """A namespace's name as an Output of its Namespace resource (so users depend on it)."""
        namespace_name: pulumi.Output[str] = self.namespaces[name].metadata.name  # pulumi_kubernetes is Any to mypy
        return namespace_name

    @property
    def monitoring(self) -> bool:
        """Whether to create ServiceMonitors / PodMonitors / PrometheusRules."""
        return self.config.observability.enabled and bool(self.monitoring_crds)
