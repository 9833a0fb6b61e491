"""Which namespaces the platform creates, who lives in each, and at which Pod Security level.

Pure functions of the typed config, shared by the Tenancy component (which creates every
namespace first, so every later component only references one), the other components (which
deploy into them) and the config checks.

Two kinds:

- **workload** namespaces are `tenancy.namespaces` (ai-inference, ai-rag, ai-app, observability by
  default): each gets a ResourceQuota, a LimitRange, default-deny NetworkPolicies with explicit
  allows, a deployer Role, and the Pod Security level of its config (restricted by default).
- **platform** namespaces hold third-party operators that the config switches on. They are
  default-deny too, with their operators' flows (`config/network.py`: API server both ways, DNS,
  scraping, and what each operator needs). Their Pod Security level is fixed here, with the reason
  for every exception to `restricted`:

  | namespace      | level      | why                                                                   |
  |----------------|------------|-----------------------------------------------------------------------|
  | gpu-operator   | privileged | driver/toolkit/device-plugin/MIG-manager daemonsets mount host paths  |
  |                |            | and run privileged (they install into and configure the node)         |
  | observability- | privileged | node agents: node-exporter reads the host's /proc and /sys with       |
  | node           |            | hostNetwork/hostPID; a log collector reads /var/log/pods (hostPath)   |
  | keda           | restricted | KEDA's operator and metrics server run non-root, read-only            |
  | cert-manager   | restricted | cert-manager's pods run non-root, no capabilities                     |
  | ingress-nginx  | restricted | the controller binds :80/:443 with only NET_BIND_SERVICE added (which |
  |                |            | restricted allows), non-root, no privilege escalation (chart 4.15.1)  |
  | elastic-system | restricted | the ECK operator runs non-root, read-only                             |
  | prometheus-    | restricted | prometheus-adapter runs non-root (UID 10001), read-only, no caps;     |
  | adapter        |            | only with a model on `autoscaling.engine: hpa`                        |
  | kueue-system   | restricted | Kueue's controller runs non-root, read-only, no capabilities (chart    |
  |                |            | 0.19.2 defaults); only with `queueing.enabled`                         |
  | istio-system   | privileged | `mesh.namespace`: the ambient node agents istio-cni (hostNetwork,     |
  | (mesh)         |            | hostPath CNI dirs, NET_ADMIN/SYS_ADMIN) and ztunnel (SYS_ADMIN to     |
  |                |            | enter pod network namespaces, hostPath socket) beside istiod          |

The inference gateway's namespace (`inferenceGateway.namespace`, default ai-gateway) is a platform namespace too,
named by config rather than fixed: it holds the Gateways' Envoy pods (istio `gateway` chart, injected by istiod) and
body-based routing. Its level is baseline: the body-based-routing chart v1.5.0 sets no securityContext and has no
value to set one (config/charts/body-based-routing/templates/bbr.yaml), so restricted would reject its pod. It is
enrolled in the mesh (`mesh_enrolled`); the gateway pods opt out of ztunnel capture themselves
(chart label `istio.io/dataplane-mode: none`) since they are Envoy proxies that speak HBONE to ambient workloads.

Every exception is needed: tests/render/test_rendered_objects.py checks each rendered pod against its
namespace's level, and that a namespace below restricted holds a pod restricted would reject.

Platform namespaces are in the policy pack's system-namespace allow-list; workload namespaces
never are.

With `mesh.enabled`, `mesh_enrolled` names the namespaces that join the ambient mesh (label
`istio.io/dataplane-mode: ambient`): every workload namespace and the inference gateway's. Platform
namespaces stay out: the API server calls their webhooks in plaintext, which a STRICT mesh would refuse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .inference import cert_manager_owner, rag_exposure
from .models import ServedModel, StackConfig
from .pool_scaling import embedding_scales, fallback_scales

PodSecurity = Literal["restricted", "baseline", "privileged"]

GPU_OPERATOR = "gpu-operator"
NODE_AGENTS = "observability-node"
KEDA = "keda"
CERT_MANAGER = "cert-manager"
INGRESS_NGINX = "ingress-nginx"
ELASTIC_SYSTEM = "elastic-system"
PROMETHEUS_ADAPTER = "prometheus-adapter"
KUEUE = "kueue-system"
MESH = "istio-system"
"""`mesh.namespace`'s default (istiod, istio-cni, ztunnel)."""
MESH_ROLE = "mesh"
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"
"""Namespace label istio-cni selects ambient pods by (cni chart 1.30.3 values.yaml ambient.enablementSelectors)."""
AMBIENT = "ambient"

_PLATFORM: dict[str, tuple[PodSecurity, str]] = {
    GPU_OPERATOR: ("privileged", "GPU Operator daemonsets install the driver/toolkit and run privileged with host "
                                 "paths"),
    NODE_AGENTS: ("privileged", "node agents: node-exporter (host /proc, /sys, hostNetwork, hostPID) and the node "
                               "log collector (hostPath /var/log/pods)"),
    KEDA: ("restricted", ""),
    CERT_MANAGER: ("restricted", ""),
    INGRESS_NGINX: ("restricted", ""),
    ELASTIC_SYSTEM: ("restricted", ""),
    PROMETHEUS_ADAPTER: ("restricted", ""),
    KUEUE: ("restricted", ""),
    MESH: ("privileged", "ambient node agents: istio-cni (hostNetwork, hostPath CNI bin/conf dirs, "
                         "NET_ADMIN/SYS_ADMIN) and ztunnel (SYS_ADMIN/NET_ADMIN to enter pod network namespaces, "
                         "hostPath socket dir)"),
}


INFERENCE_GATEWAY_ROLE = "inference-gateway"
# Platform namespaces whose name comes from config: their level by role.
_ROLE_LEVELS: dict[str, tuple[PodSecurity, str]] = {
    INFERENCE_GATEWAY_ROLE: ("baseline", "body-based-routing (chart v1.5.0) sets no securityContext and has no value "
                                         "for one"),
}


@dataclass(frozen=True)
class NamespaceSpec:
    """One namespace the platform creates."""

    name: str
    kind: Literal["workload", "platform"]
    pod_security: PodSecurity
    """Pod Security Admission level enforced (warn/audit are always restricted)."""
    reason: str
    """Why the level is not restricted (empty when it is)."""
    roles: tuple[str, ...]
    """What runs there: serving, rag, gateway, observability, gpu-operator, keda, ..."""


def component_namespaces(cfg: StackConfig) -> dict[str, str]:
    """role -> namespace for the platform's own workloads that the config deploys."""
    roles: dict[str, str] = {}
    if cfg.serving.models or cfg.rag.embedding is not None:
        roles["serving"] = cfg.serving.namespace
    rag = cfg.rag
    if rag.vector_store or rag.full_text or rag.cache:
        roles["rag"] = rag.namespace
    if rag.gateway is not None:
        roles["gateway"] = rag.gateway.namespace
    if cfg.observability.enabled:
        roles["observability"] = cfg.observability.namespace
    return roles


def credential_namespaces(cfg: StackConfig, hf_token: bool = True) -> dict[str, tuple[str, ...]]:
    """Workload namespaces that hold platform credentials -> what they hold (for messages and docs).

    Kubernetes RBAC cannot keep a Secret from a pod: whoever may create a pod (or a Deployment, Job, ...) in a
    namespace can mount or env-reference every Secret there and use every ServiceAccount's cloud identity. So
    these namespaces get no deployer group (a config error) and their deployer Role has no Secrets rule; only the
    platform (Pulumi) deploys there. `hf_token`: whether the Hugging Face token is (or may be) set: it is a
    separate secret config key, so the Role side assumes it may be set at any time.
    """
    found: dict[str, list[str]] = {}
    rag = cfg.rag
    roles = component_namespaces(cfg)
    if "rag" in roles:
        found.setdefault(roles["rag"], []).append(
            "the data services' passwords and keys (Milvus root, Elasticsearch users, Redis, Weaviate/Qdrant keys)")
        if rag.bucket_users:
            found[roles["rag"]].append("the bucket's workload identities")
    if "gateway" in roles:
        found.setdefault(roles["gateway"], []).append("the gateway's data-store passwords (ai-gateway-credentials)")
    if "observability" in roles:
        found.setdefault(roles["observability"], []).append("Grafana's admin password and the alert receiver's secret")
    if hf_token and "serving" in roles:
        found.setdefault(roles["serving"], []).append("the Hugging Face token (hf-token)")
    return {ns: tuple(what) for ns, what in found.items()}


def autoscaled(model: ServedModel) -> bool:
    """Whether a model server's replica count moves (a range, or scale to zero). Ollama exports no metrics and
    scales on CPU with a plain HPA, never through KEDA or prometheus-adapter."""
    return model.replicas.max > model.replicas.min or model.autoscaling.scale_to_zero


def uses_keda(cfg: StackConfig) -> bool:
    """KEDA scales models (autoscaling.engine keda), the embedding server (maxReplicas, with observability; a CPU
    HPA without) and every fallback Deployment with room above its floor (config/pool_scaling.py)."""
    return (any(m.autoscaling.engine == "keda" and m.engine != "ollama" and autoscaled(m) for m in cfg.serving.models)
            or any(fallback_scales(m) for m in cfg.serving.models)
            or (embedding_scales(cfg) and cfg.observability.enabled))


def uses_prometheus_adapter(cfg: StackConfig) -> bool:
    return any(m.autoscaling.engine == "hpa" and m.engine != "ollama" and autoscaled(m) for m in cfg.serving.models)


def platform_roles(cfg: StackConfig) -> dict[str, str]:
    """platform namespace -> role, for the operators the config switches on."""
    found: dict[str, str] = {}
    if cfg.gpu_stack.operator:
        found[GPU_OPERATOR] = "gpu-operator"
    if cfg.observability.enabled:
        found[NODE_AGENTS] = "node-agents"
    if uses_keda(cfg):
        found[KEDA] = "keda"
    if uses_prometheus_adapter(cfg):
        found[PROMETHEUS_ADAPTER] = "prometheus-adapter"
    gateway = cfg.rag.gateway
    # ingress-nginx only where the AI gateway is still exposed through an Ingress (deprecated; config.inference).
    if gateway is not None and rag_exposure(cfg) == "ingress" and gateway.ingress.install_controller:
        found[INGRESS_NGINX] = "ingress-controller"
    if cert_manager_owner(cfg) is not None:
        found[CERT_MANAGER] = "cert-manager"
    if cfg.inference_gateway.enabled:
        found[cfg.inference_gateway.namespace] = INFERENCE_GATEWAY_ROLE
    if cfg.rag.full_text is not None:
        found[ELASTIC_SYSTEM] = "eck-operator"
    if cfg.mesh.enabled:
        found[cfg.mesh.namespace] = MESH_ROLE
    if cfg.queueing.enabled:
        found[KUEUE] = "kueue"
    return found


def namespaces(cfg: StackConfig) -> list[NamespaceSpec]:
    """Every namespace the platform creates: workload namespaces first, then platform ones."""
    roles_by_ns: dict[str, list[str]] = {}
    for role, ns in component_namespaces(cfg).items():
        roles_by_ns.setdefault(ns, []).append(role)
    specs = []
    for name, tenant in cfg.tenancy.namespaces.items():
        level = tenant.pod_security
        reason = "" if level == "restricted" else f"tenancy.namespaces.{name}.podSecurity is {level}"
        specs.append(NamespaceSpec(name, "workload", level, reason, tuple(roles_by_ns.get(name, ()))))
    for name, role in platform_roles(cfg).items():
        level, reason = _PLATFORM.get(MESH if role == MESH_ROLE else name) or _ROLE_LEVELS[role]
        specs.append(NamespaceSpec(name, "platform", level, reason, (role,)))
    return specs


def mesh_enrolled(cfg: StackConfig) -> tuple[str, ...]:
    """Namespaces in the ambient mesh (module docstring): the workload namespaces and the inference gateway's (when
    the program creates it); none without `mesh.enabled`."""
    if not cfg.mesh.enabled:
        return ()
    created = {spec.name for spec in namespaces(cfg)}
    found = list(cfg.tenancy.namespaces)
    gateway = cfg.inference_gateway.namespace
    if cfg.inference_gateway.enabled and gateway in created and gateway not in found:
        found.append(gateway)
    return tuple(found)


def platform_namespace_names() -> frozenset[str]:
    """Every namespace name the platform may reserve for operators (not usable as a tenant name)."""
    return frozenset(_PLATFORM)


def namespace_of(cfg: StackConfig, role: str) -> str | None:
    """The namespace of a role (serving, rag, gateway, observability, or a platform role)."""
    found = component_namespaces(cfg).get(role)
    if found is not None:
        return found
    return next((ns for ns, r in platform_roles(cfg).items() if r == role), None)
