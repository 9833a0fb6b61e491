"""Schemas of CRDs a cloud installs with the cluster, which no chart of the platform ships.

GKE serves `cloud.google.com/v1` ComputeClass itself (the CRD `computeclasses.cloud.google.com` comes with every
GKE Standard cluster from 1.30.3-gke.1451000). Its full schema is Google's and not in any archive here, so strict
validation (tools/validate.py) checks the program's ComputeClass objects against the **minimal structural schema
below, written by this project from the documented API** -- not GKE's own CRD. It holds only the fields the program
sets, with the types, enums and defaults the documentation gives:

- reference: https://cloud.google.com/kubernetes-engine/docs/reference/crds/computeclass ("ComputeClass");
- concepts: https://cloud.google.com/kubernetes-engine/docs/concepts/about-custom-compute-classes (stored copy last
  updated 2026-04-13): `nodepools` rules, `whenUnsatisfiable` ScaleUpAnyway | DoNotScaleUp, active migration;
- cross-checked against the CRD as served by a GKE cluster (tommy351/kubernetes-models-ts,
  third-party/gke/crd/computeclasses.yaml): `spec.whenUnsatisfiable` required with enum ScaleUpAnyway |
  DoNotScaleUp, `activeMigration.optimizeRulePriority` and `nodePoolAutoCreation.enabled` required booleans
  (default false), `priorities[].nodepools` an array of strings, cluster scoped.

A field the program starts to set that is not here is reported as "would be pruned": extend this schema from the
documentation when that happens, never by loosening it.
"""

from __future__ import annotations

from typing import Any

COMPUTE_CLASS_GVK = ("cloud.google.com", "v1", "ComputeClass")


def compute_class_crd() -> dict[str, Any]:
    """The minimal ComputeClass CRD (see the module docstring for what it is and is not)."""
    boolean = {"type": "boolean", "default": False}
    spec = {
        "type": "object",
        "required": ["whenUnsatisfiable"],
        "properties": {
            "priorities": {"type": "array", "items": {
                "type": "object", "minProperties": 1,
                # Only the rule kind the platform writes: a `nodepools` rule takes no other field.
                "properties": {"nodepools": {"type": "array", "items": {"type": "string"}}}}},
            "nodePoolAutoCreation": {"type": "object", "required": ["enabled"], "properties": {"enabled": boolean}},
            "activeMigration": {"type": "object", "required": ["optimizeRulePriority"],
                                "properties": {"optimizeRulePriority": boolean}},
            "whenUnsatisfiable": {"type": "string", "enum": ["ScaleUpAnyway", "DoNotScaleUp"]},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "computeclasses.cloud.google.com",
                     "annotations": {"ai-platform/schema": "minimal, written from the GKE documentation"}},
        "spec": {
            "group": "cloud.google.com",
            "names": {"kind": "ComputeClass", "listKind": "ComputeClassList", "plural": "computeclasses",
                      "singular": "computeclass"},
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {
                "type": "object", "required": ["spec"],
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                               "metadata": {"type": "object"}, "spec": spec}}}}],
        },
    }


CLUSTER_CRDS: dict[str, tuple[dict[str, Any], ...]] = {
    "gke": (compute_class_crd(),),
    "eks": (),
    "existing": (),
}
"""CRDs (with the schema strict validation uses) the cluster's provider installs, by provider."""
