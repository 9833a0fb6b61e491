"""Tenancy: every namespace of the platform, with Pod Security labels.

Created right after the cluster, before anything deploys into a namespace. (Quotas,
LimitRanges, NetworkPolicies and RBAC per workload namespace: see issue 5.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from config.models import StackConfig
from config.namespaces import NamespaceSpec, namespaces

from .labels import standard_labels

NAMESPACE_KIND_LABEL = "ai-platform/namespace-kind"


def pod_security_labels(spec: NamespaceSpec) -> dict[str, str]:
    """Enforce the namespace's level; warn and audit at restricted so every gap shows up."""
    return {
        "pod-security.kubernetes.io/enforce": spec.pod_security,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/audit": "restricted",
    }


@dataclass(frozen=True)
class TenancyArgs:
    config: StackConfig
    """Typed stack configuration."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist first (the cluster component)."""


class Tenancy(pulumi.ComponentResource):
    """Namespaces (workload and platform) of the platform."""

    def __init__(self, name: str, args: TenancyArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("ai-platform:tenancy:Tenancy", name, None, opts)
        cfg = args.config
        after = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        self.specs = {s.name: s for s in namespaces(cfg)}
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for spec in self.specs.values():
            labels = {**standard_labels(spec.name, "namespace", cfg.labels), NAMESPACE_KIND_LABEL: spec.kind,
                      **pod_security_labels(spec)}
            annotations = {"ai-platform/pod-security-reason": spec.reason} if spec.reason else None
            self.namespaces[spec.name] = k8s.core.v1.Namespace(
                f"{name}-ns-{spec.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=spec.name, labels=labels, annotations=annotations),
                opts=after,
            )
        self.register_outputs({"namespaces": {n: ns.metadata.name for n, ns in self.namespaces.items()}})
