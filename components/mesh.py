"""Mesh: Istio 1.30.3 in ambient mode (charts base, istiod, cni, ztunnel) and its security objects.

Created right after Tenancy (its namespaces carry the `istio.io/dataplane-mode: ambient` label) and before
every other in-cluster component: istio-cni captures a pod when the pod starts, so a pod that started
before istio-cni runs outside the mesh until it restarts.

- Releases in `mesh.namespace`, in order: `base` (Istio's CRDs and the default-revision validation) ->
  `istiod` (profile ambient) -> `cni` (profile ambient) and `ztunnel`. Images are the charts' own
  (`registry.istio.io/release/*:1.30.3-distroless`, the charts' appVersion), every container has requests and
  limits. istiod runs `mesh.istiodReplicas` replicas with a PodDisruptionBudget from 2;
  it enables the Gateway API Inference Extension (InferencePool backends) and does not deploy gateways
  itself: the inference gateway's pods come from the `gateway` chart (components of the inference gateway).
- Per cloud: GKE needs `global.platform: gke` (ResourceQuotas that admit the system-node-critical node agents
  outside kube-system, which GKE otherwise refuses) and the CNI binaries in /home/kubernetes/bin; EKS and
  existing clusters use the chart defaults (/opt/cni/bin).
- PeerAuthentication and AuthorizationPolicies from `config.mesh` (derived from the flows table).

Every value set here is checked against the charts' values.yaml in tests/mesh/test_mesh_values.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.errors import key_path, required
from config.mesh import authorization_policies, peer_authentications
from config.models import StackConfig

from .helm import pin, release
from .labels import standard_labels

BASE, ISTIOD, CNI, ZTUNNEL = (pin(name) for name in ("base", "istiod", "cni", "ztunnel"))
PROFILE = "ambient"
SECURITY_API = "security.istio.io/v1"

# GKE keeps its CNI binaries under /home/kubernetes/bin; the cni chart (1.30.3 README "GKE notes") needs it set when
# rendered with `helm template` (Helm's install would detect it from the server version).
GKE_CNI_BIN_DIR = "/home/kubernetes/bin"

# istiod env (istio 1.30.3 pilot/pkg/features/experimental.go): InferencePool backends in HTTPRoutes (off by
# default), and no automatic Deployment/Service per Gateway (the gateway chart deploys them; Gateways bind to it).
ISTIOD_ENV = {
    "ENABLE_GATEWAY_API_INFERENCE_EXTENSION": "true",
    "PILOT_ENABLE_GATEWAY_API_DEPLOYMENT_CONTROLLER": "false",
}

# Requests are the charts' defaults (istiod 500m/2Gi, ztunnel 200m/512Mi, cni 100m/100Mi); limits leave room for
# bursts (istiod pushes on every config change; ztunnel carries every meshed byte of its node).
ISTIOD_RESOURCES = {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
ZTUNNEL_RESOURCES = {"requests": {"cpu": "200m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}
CNI_RESOURCES = {"requests": {"cpu": "100m", "memory": "100Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}


def _platform(cfg: StackConfig) -> dict[str, Any]:
    return {"platform": "gke"} if cfg.cluster.provider == "gke" else {}


def _node_agent(cfg: StackConfig, resources: dict[str, Any]) -> dict[str, Any]:
    """Values both node agents share: the ambient profile, the platform (GKE only), resources."""
    platform = _platform(cfg)
    return {"profile": PROFILE, **({"global": platform} if platform else {}), "resources": resources}


# Istio's reader ServiceAccount and ClusterRole (every Secret, cluster-wide) serve multicluster remote secrets only;
# one cluster does not need them (base values.yaml global.enableReaderRBAC; istiod reads the same key with `dig`).
READER_RBAC = {"enableReaderRBAC": False}


def base_values(cfg: StackConfig) -> dict[str, Any]:
    return {"global": {"istioNamespace": cfg.mesh.namespace, **READER_RBAC}}


def istiod_values(cfg: StackConfig) -> dict[str, Any]:
    """istiod: ambient profile, replicas and PDB, the Inference Extension, no automatic gateways."""
    replicas = cfg.mesh.istiod_replicas
    return {
        "profile": PROFILE,
        "global": {"istioNamespace": cfg.mesh.namespace, **READER_RBAC, **_platform(cfg)},
        # A fixed count, not the chart's HPA: the Deployment then states its replicas, which the PodDisruptionBudget
        # and the pack's eviction check are judged against (istiod's load follows the config, not traffic).
        "autoscaleEnabled": False,
        "replicaCount": replicas,
        # Rendered only from 2 replicas (templates/poddisruptionbudget.yaml): one istiod may always be drained.
        "pdb": {"minAvailable": max(1, replicas - 1)},
        "resources": ISTIOD_RESOURCES,
        "env": dict(ISTIOD_ENV),
    }


def cni_values(cfg: StackConfig) -> dict[str, Any]:
    """istio-cni node agent: ambient redirection; GKE's CNI directory and critical-pod quota."""
    values = _node_agent(cfg, CNI_RESOURCES)
    if cfg.cluster.provider == "gke":
        values["cni"] = {"cniBinDir": GKE_CNI_BIN_DIR}
    return values


def ztunnel_values(cfg: StackConfig) -> dict[str, Any]:
    """ztunnel node proxy: finds istiod in the mesh namespace."""
    return {**_node_agent(cfg, ZTUNNEL_RESOURCES), "istioNamespace": cfg.mesh.namespace}


@dataclass(frozen=True)
class MeshArgs:
    config: StackConfig
    """Typed stack configuration (`mesh`, and the flows its AuthorizationPolicies come from)."""
    namespaces: Mapping[str, k8s.core.v1.Namespace]
    """Tenancy's namespaces: the mesh namespace and every enrolled one."""
    after: Sequence[pulumi.Resource] = ()
    """What must exist first (the cluster, the namespaces with their enrolment labels)."""


class Mesh(pulumi.ComponentResource):
    """Istio ambient (base, istiod, istio-cni, ztunnel), mesh-wide mTLS and per-flow AuthorizationPolicies."""

    def __init__(self, name: str, args: MeshArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:mesh:Mesh", name, None, opts)
        cfg = args.config
        mesh = cfg.mesh
        user = cfg.labels
        namespace = required(args.namespaces.get(mesh.namespace), key_path("mesh", "namespace"),
                             f"the {mesh.namespace} namespace", "Tenancy (it creates it with mesh.enabled)")
        ns = namespace.metadata.name

        def after(*deps: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=[*args.after, namespace, *deps])

        self.base = release(f"{name}-base", BASE, "istio-base", ns, base_values(cfg), after())
        self.istiod = release(f"{name}-istiod", ISTIOD, "istiod", ns, istiod_values(cfg), after(self.base))
        self.cni = release(f"{name}-cni", CNI, "istio-cni", ns, cni_values(cfg), after(self.istiod))
        self.ztunnel = release(f"{name}-ztunnel", ZTUNNEL, "ztunnel", ns, ztunnel_values(cfg), after(self.istiod))
        self.releases = [self.base, self.istiod, self.cni, self.ztunnel]

        # Istio's objects need its CRDs (base) and istiod's validating webhook to answer.
        def custom(kind: str, resource: str, object_ns: str, object_name: str, spec: dict[str, Any],
                   why: str) -> k8s.apiextensions.CustomResource:
            return k8s.apiextensions.CustomResource(
                f"{name}-{resource}-{object_ns}-{object_name}",
                api_version=SECURITY_API, kind=kind,
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=object_name, namespace=args.namespaces[object_ns].metadata.name,
                    labels=standard_labels(object_name, "mesh-policy", user),
                    annotations={"ai-platform/why": why} if why else None),
                spec=spec, opts=pulumi.ResourceOptions(parent=self, depends_on=[self.base, self.istiod]))

        self.peer_authentications = [
            custom("PeerAuthentication", "peerauthn", p.namespace, p.name, p.spec(), p.why)
            for p in peer_authentications(cfg)]
        self.authorization_policies = [
            custom("AuthorizationPolicy", "authz", a.namespace, a.name, a.spec(), a.why)
            for a in authorization_policies(cfg)]

        # What later components wait for: Istio installed, and the node agents capturing new pods.
        self.ready: list[pulumi.Resource] = [*self.releases, *self.peer_authentications]
        self.register_outputs({
            "releases": [r.name for r in self.releases],
            "peer_authentications": [p.metadata["name"] for p in self.peer_authentications],
            "authorization_policies": [a.metadata["name"] for a in self.authorization_policies],
        })
