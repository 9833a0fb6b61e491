"""GKE custom compute classes: one `cloud.google.com/v1` ComputeClass per `nodePools.computeClasses[]` entry.

Each class lists its pools as separate `nodepools` rules, in the configured order: GKE gives the pools of one rule no
order, so one rule per pool is what makes a fallback order (config/compute_classes.py has the sources). Field notes
from GKE's ComputeClass CRD (reference: https://cloud.google.com/kubernetes-engine/docs/reference/crds/computeclass;
the served CRD as dumped from a GKE cluster in tommy351/kubernetes-models-ts third-party/gke/crd/computeclasses.yaml):

- `priorities[].nodepools`: names of existing node pools; a rule with `nodepools` takes no other field (the CRD's
  CEL rule "Nodepool field cannot be set along with other fields").
- `nodePoolAutoCreation.enabled: false`: GKE scales only the platform's pools, which the capacity plan sizes and
  prices; it never creates pools of its own for the class.
- `whenUnsatisfiable: DoNotScaleUp`: when no step can get a node, pods stay Pending (rather than GKE scaling
  "anyway" outside the listed steps). Set explicitly: the default changed from ScaleUpAnyway to DoNotScaleUp in GKE
  1.33 (about-custom-compute-classes, stored copy of 2026-04-13).
- `activeMigration.optimizeRulePriority: true`: once an earlier step has capacity again, GKE replaces nodes of later
  steps with nodes of the earlier one, evicting through the servers' PodDisruptionBudgets (one replica at a time),
  so a model that fell back to spot or flex-start returns to reserved / on-demand capacity.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.labels import standard_labels
from config.models import ComputeClassSpec

from ..common import Scope

API_VERSION = "cloud.google.com/v1"
KIND = "ComputeClass"


def compute_class_spec(cc: ComputeClassSpec) -> dict[str, Any]:
    """The ComputeClass spec of one class: one `nodepools` rule per pool, in priority order."""
    return {
        "priorities": [{"nodepools": [pool]} for pool in cc.pools],
        "nodePoolAutoCreation": {"enabled": False},
        "whenUnsatisfiable": "DoNotScaleUp",
        "activeMigration": {"optimizeRulePriority": True},
    }


def compute_classes(scope: Scope, classes: tuple[ComputeClassSpec, ...], provider: k8s.Provider,
                    labels: dict[str, str]) -> list[k8s.apiextensions.CustomResource]:
    """The ComputeClass objects. GKE installs the CRD with the cluster; `provider` waits for every node pool, so a
    class is created after the pools that carry its label and taint."""
    return [
        k8s.apiextensions.CustomResource(
            f"{scope.name}-compute-class-{cc.name}",
            api_version=API_VERSION,
            kind=KIND,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=cc.name, labels=standard_labels(cc.name, "compute-class",
                                                                                      labels)),
            spec=compute_class_spec(cc),
            opts=pulumi.ResourceOptions(parent=scope.parent, provider=provider),
        )
        for cc in classes
    ]
