"""The admission backstop: ValidatingAdmissionPolicies that hold the platform's invariants inside the cluster.

The policy pack judges what Pulumi would create; a `kubectl apply` or a GitOps controller never meets it. These
policies (admissionregistration.k8s.io/v1, GA since Kubernetes 1.30) make the API server refuse the same critical
changes from anyone:

- `gpu-taint-requires-gpu-request`: a pod that tolerates the GPU taint, sets NVIDIA_VISIBLE_DEVICES, mounts an
  NVIDIA device list or carries CDI annotations requests `nvidia.com/gpu` or a MIG slice (mirrors the pack's
  gpu-access-requires-gpu-request, policy/rules/gpu_isolation.py);
- `no-privileged-pods`: no privileged container, hostPID/hostIPC/hostNetwork or hostPath volume outside the
  namespaces whose Pod Security level is privileged (the node agents', config/namespaces.py);
- `allowed-registries`: every container image comes from `tenancy.admission.allowedRegistries`;
- `no-load-balancers`: no Service of type LoadBalancer outside the ingress controller's namespace.

The pod policies judge Pods and every workload kind (ReplicationController, Deployment, ReplicaSet, StatefulSet,
DaemonSet, Job, CronJob) through one CEL variable for the pod template, so a violating Deployment is refused at
`kubectl apply`, not as pods its ReplicaSet cannot create. Namespaces are exempted with a namespaceSelector on
`kubernetes.io/metadata.name` (the API server sets it on every namespace). Updates that leave `spec` unchanged
(labels, annotations, finalizers, status) are not judged, so an object that predates a policy can still be
relabelled and deleted. The allow-lists are literals in the expressions (no paramKind): one object to review,
and loops over a list of known size (CEL's runtime cost budget; every field access is guarded with has()).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from config.admission import allowed_registries, exempt_namespaces, load_balancer_namespaces, privileged_namespaces
from config.models import StackConfig

from .labels import standard_labels

ACTIONS = {"deny": ["Deny", "Audit"], "warn": ["Warn", "Audit"], "audit": ["Audit"]}
"""`tenancy.admission.mode` -> the binding's validationActions. Deny and Warn may not be combined (API doc of
ValidatingAdmissionPolicyBindingSpec.validationActions, admissionregistration.k8s.io/v1); Audit with either records
the failure in the audit event (`validation.policy.admission.k8s.io/validation_failure`)."""

_OPERATIONS = ["CREATE", "UPDATE"]
WORKLOAD_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": _OPERATIONS,
     "resources": ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]},
    {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": _OPERATIONS,
     "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": _OPERATIONS, "resources": ["jobs", "cronjobs"]},
]
SERVICE_RULES: list[dict[str, list[str]]] = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": _OPERATIONS, "resources": ["services"]}]

# Expressions compile with `object`/`oldObject` as dyn (k8s.io/apiserver admission/plugin/cel compile.go), so one
# expression serves every matched kind; type checking against the kinds' schemas only writes status warnings.
SPEC_CHANGED = "request.operation != 'UPDATE' || oldObject == null || object.spec != oldObject.spec"
"""Match condition: judge creations and spec changes; metadata-only updates of an older object pass."""

# The pod template of any workload kind (a Pod is its own template).
POD_VARIABLES = [
    ("template", "object.kind == 'Pod' ? object : (object.kind == 'CronJob' ? object.spec.jobTemplate.spec.template "
                 ": object.spec.template)"),
    ("spec", "variables.template.spec"),
    ("containers", "variables.spec.containers"
                   " + (has(variables.spec.initContainers) ? variables.spec.initContainers : [])"
                   " + (has(variables.spec.ephemeralContainers) ? variables.spec.ephemeralContainers : [])"),
]

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TAINT_VALUE = "present"
# A quantity whose mantissa has no non-zero digit asks for nothing ("0", "0.0", "0m", "0Ki").
_ZERO = "^[+-]?[0.]*([a-zA-Z].*)?$"


def _gpu_in(section: str) -> str:
    return (f"(has(c.resources.{section}) && c.resources.{section}.exists(k, (k == '{GPU_TAINT_KEY}' || "
            f"k.startsWith('nvidia.com/mig-')) && !string(c.resources.{section}[k]).matches('{_ZERO}')))")


# Container `c` requests or limits a GPU or MIG slice (the device plugin only serves those).
_CONTAINER_GPU = f"(has(c.resources) && ({_gpu_in('limits')} || {_gpu_in('requests')}))"

GPU_VARIABLES = [
    ("gpuRequested", f"variables.containers.exists(c, {_CONTAINER_GPU})"),
    # Kubernetes toleration semantics against nvidia.com/gpu=present:NoSchedule (policy/rules/helpers.py).
    ("toleratesGpu", "has(variables.spec.tolerations) && variables.spec.tolerations.exists(t, "
                     "(!has(t.effect) || t.effect == '' || t.effect == 'NoSchedule') && "
                     "((has(t.operator) && t.operator == 'Exists' && "
                     f"(!has(t.key) || t.key == '' || t.key == '{GPU_TAINT_KEY}')) || "
                     "((!has(t.operator) || t.operator == '' || t.operator == 'Equal') && "
                     f"has(t.key) && t.key == '{GPU_TAINT_KEY}' && has(t.value) && t.value == '{GPU_TAINT_VALUE}')))"),
    ("annotations", "has(variables.template.metadata) && has(variables.template.metadata.annotations) ? "
                    "variables.template.metadata.annotations : {}"),
]

GPU_VALIDATIONS = [
    ("!variables.toleratesGpu || variables.gpuRequested",
     f"the pod tolerates the GPU taint {GPU_TAINT_KEY}:NoSchedule but no container requests nvidia.com/gpu or a MIG "
     f"resource (nvidia.com/mig-<profile>): on a GPU node an image's own NVIDIA_VISIBLE_DEVICES=all reaches every GPU"),
    (f"variables.containers.all(c, {_CONTAINER_GPU} || !has(c.env) || c.env.all(e, e.name != 'NVIDIA_VISIBLE_DEVICES' "
     "|| (!has(e.valueFrom) && (!has(e.value) || e.value.matches('^(?i)\\\\s*(void|none)?\\\\s*$')))))",
     "a container sets NVIDIA_VISIBLE_DEVICES (other than void/none) but requests no nvidia.com/gpu or MIG resource"),
    (f"variables.containers.all(c, {_CONTAINER_GPU} || !has(c.volumeMounts) || "
     "c.volumeMounts.all(m, !m.mountPath.matches('^/var/run/nvidia-container-devices(/.*)?$')))",
     "a container mounts /var/run/nvidia-container-devices (a device list for the NVIDIA runtime) but requests no GPU"),
    ("variables.gpuRequested || !variables.annotations.exists(k, k.startsWith('cdi.k8s.io/'))",
     "the pod carries cdi.k8s.io/ annotations (CDI device requests) but no container requests a GPU"),
]

PRIVILEGE_VALIDATIONS = [
    ("variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || "
     "!c.securityContext.privileged)",
     "privileged containers run only in the node-agent namespaces"),
    ("(!has(variables.spec.hostPID) || !variables.spec.hostPID) && (!has(variables.spec.hostIPC) || "
     "!variables.spec.hostIPC) && (!has(variables.spec.hostNetwork) || !variables.spec.hostNetwork)",
     "hostPID, hostIPC and hostNetwork are for the node-agent namespaces only"),
    ("!has(variables.spec.volumes) || variables.spec.volumes.all(v, !has(v.hostPath))",
     "hostPath volumes are for the node-agent namespaces only"),
]


def _cel_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


# `images`: each container's image with its registry spelled out (mirrors config.admission.normalized_image).
REGISTRY_VARIABLES = [("images", "variables.containers.map(c, !has(c.image) ? '' : "
                      "((c.image.matches('^[^/]*[.:][^/]*/') || c.image.startsWith('localhost/')) ? c.image : "
                      "(c.image.contains('/') ? 'docker.io/' + c.image : 'docker.io/library/' + c.image)))")]


def registry_validations(registries: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"variables.images.all(i, {_cel_list(registries)}.exists(r, i.startsWith(r + '/')))",
             f"every image comes from an allowed registry ({', '.join(registries)}; "
             f"tenancy.admission.allowedRegistries)")]


LOAD_BALANCER_VALIDATIONS = [
    ("!has(object.spec.type) || object.spec.type != 'LoadBalancer'",
     "Services of type LoadBalancer are only for the ingress controller's namespace; expose through the ingress"),
]


@dataclass(frozen=True)
class PolicyDef:
    """One ValidatingAdmissionPolicy (and its binding), as data: the component renders it, tests read it back."""

    name: str
    rules: list[dict[str, list[str]]]
    exempt: tuple[str, ...]
    variables: list[tuple[str, str]]
    validations: list[tuple[str, str]]


def policies(cfg: StackConfig) -> list[PolicyDef]:
    """The policies a stack ships, with the namespaces each one leaves alone."""
    base = exempt_namespaces(cfg)
    privileged = tuple(dict.fromkeys((*base, *privileged_namespaces(cfg))))
    registries = allowed_registries(cfg)
    return [
        PolicyDef("gpu-taint-requires-gpu-request", WORKLOAD_RULES, privileged, POD_VARIABLES + GPU_VARIABLES,
                  GPU_VALIDATIONS),
        PolicyDef("no-privileged-pods", WORKLOAD_RULES, privileged, POD_VARIABLES, PRIVILEGE_VALIDATIONS),
        PolicyDef("allowed-registries", WORKLOAD_RULES, base, POD_VARIABLES + REGISTRY_VARIABLES,
                  registry_validations(registries)),
        PolicyDef("no-load-balancers", SERVICE_RULES, tuple(dict.fromkeys((*base, *load_balancer_namespaces(cfg)))),
                  [], LOAD_BALANCER_VALIDATIONS),
    ]


@dataclass(frozen=True)
class AdmissionArgs:
    """What the backstop is built from."""

    config: StackConfig
    """Typed stack configuration (`tenancy.admission` and the namespaces)."""
    after: list[pulumi.Resource]
    """Resources to create the policies after (the cluster and its namespaces)."""


class Admission(pulumi.ComponentResource):
    """ValidatingAdmissionPolicies with their bindings (see the module docstring)."""

    def __init__(self, name: str, args: AdmissionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:admission:Admission", name, None, opts)
        cfg = args.config
        actions = ACTIONS[cfg.tenancy.admission.mode]
        self.policies: list[k8s.admissionregistration.v1.ValidatingAdmissionPolicy] = []
        self.bindings: list[k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding] = []
        for policy in policies(cfg):
            full = f"ai-platform-{policy.name}"
            labels = standard_labels(full, "admission-policy", cfg.labels)
            vap = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                f"{name}-{policy.name}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=full, labels=labels),
                spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicySpecArgs(
                    failure_policy="Fail",
                    match_constraints=k8s.admissionregistration.v1.MatchResourcesArgs(
                        resource_rules=[k8s.admissionregistration.v1.NamedRuleWithOperationsArgs(
                            api_groups=r["apiGroups"], api_versions=r["apiVersions"], operations=r["operations"],
                            resources=r["resources"]) for r in policy.rules],
                        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="kubernetes.io/metadata.name", operator="NotIn", values=list(policy.exempt))]),
                    ),
                    match_conditions=[k8s.admissionregistration.v1.MatchConditionArgs(
                        name="spec-changed", expression=SPEC_CHANGED)],
                    variables=[k8s.admissionregistration.v1.VariableArgs(name=n, expression=e)
                               for n, e in policy.variables] or None,
                    validations=[k8s.admissionregistration.v1.ValidationArgs(
                        expression=e, message=m, reason="Forbidden") for e, m in policy.validations],
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=args.after),
            )
            binding = k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                f"{name}-{policy.name}-binding",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=full, labels=labels),
                spec=k8s.admissionregistration.v1.ValidatingAdmissionPolicyBindingSpecArgs(
                    policy_name=full, validation_actions=actions),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[vap]),
            )
            self.policies.append(vap)
            self.bindings.append(binding)
        self.register_outputs({"policies": self.policies, "bindings": self.bindings})
