"""Containers and pods: what a pod may take from its node and how its containers run.

Object policies (policy/rules/objects.py): each judges every pod spec of every object a `pulumi up` would
create — the program's workloads, chart-rendered workloads, and pod templates in custom resources (ECK
node sets, KEDA ScaledJobs) via `pod_specs(obj)` — containers, init containers and ephemeral containers.

- **no-host-access**: no `hostNetwork`, `hostPID`, `hostIPC`, `hostPath` volume, container `hostPort`, or
  `securityContext.privileged: true`.
- **run-as-non-root**: every container's effective `runAsNonRoot` (container, else pod) is true and its
  effective `runAsUser` (container, else pod) is not 0; a pod-level `runAsUser: 0` is a violation too.
  Images matching a glob of the pack config `rootImages` are exempt (kept from the earlier rule).
- **no-privilege-escalation**: every container sets `allowPrivilegeEscalation: false` (absent lets a
  setuid binary gain privileges: the Kubernetes default is true), adds no capability outside the pack config
  `allowedCapabilities` (default `NET_BIND_SERVICE`, the one Pod Security "restricted" allows), and no pod or
  container uses `seccompProfile.type: Unconfined` (`RuntimeDefault` and `Localhost` are fine: both filter
  syscalls, which is what "restricted" asks for).
- **read-only-root-filesystem** (a stack policy): every container sets `readOnlyRootFilesystem: true` in the
  namespaces where Pod Security "restricted" applies. The pack cannot import config/, so it reads the level
  where the cluster does: the `pod-security.kubernetes.io/enforce` label of the stack's own Namespace objects
  (the program labels every namespace restricted except gpu-operator and observability-node, and a tenant
  namespace configured `baseline` says so). A namespace the stack does not create (`default`, one made
  elsewhere) is judged unless the pack config `podSecurityExemptNamespaces` (default: kube-system,
  kube-public, kube-node-lease) lists it: fail closed.

Exceptions: only `NODE_AGENTS` below, each one object (namespace + kind + name) and the controls it needs
(and the capabilities it may add), with the reason. There is no namespace-wide pass: a workload added to
`observability-node` must meet every control its own entry does not name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)

from .containers import parse_image
from .helpers import config_list, get, maps, number, strings
from .objects import KubeObject, StackResource, object_policy, objects, pod_specs

HOST_NAME = "no-host-access"
NON_ROOT_NAME = "run-as-non-root"
ESCALATION_NAME = "no-privilege-escalation"
READ_ONLY_NAME = "read-only-root-filesystem"

DEFAULT_ALLOWED_CAPABILITIES = ("NET_BIND_SERVICE",)
# Namespaces the stack does not create that are not under Pod Security "restricted": the cluster's own.
DEFAULT_EXEMPT_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")

# Control names used in NODE_AGENTS and in messages.
HOST_NETWORK, HOST_PID, HOST_IPC, HOST_PATH, HOST_PORT = "hostNetwork", "hostPID", "hostIPC", "hostPath", "hostPort"
PRIVILEGED, RUN_AS_ROOT, ESCALATION, WRITABLE_ROOT = "privileged", "runAsRoot", "allowPrivilegeEscalation", \
    "writableRoot"


@dataclass(frozen=True)
class Exception_:
    """One workload allowed some controls, and why."""

    namespace: str
    kind: str
    name: str
    controls: frozenset[str]
    reason: str
    capabilities: frozenset[str] = frozenset()
    """Capabilities it may add beyond the pack config `allowedCapabilities`."""

    def matches(self, obj: KubeObject) -> bool:
        return (obj.namespace, obj.kind, obj.name) == (self.namespace, self.kind, self.name)


NODE_AGENTS: tuple[Exception_, ...] = (
    Exception_("observability-node", "DaemonSet", "monitoring-prometheus-node-exporter",
               frozenset({HOST_NETWORK, HOST_PID, HOST_PATH, HOST_PORT}),
               "node-exporter (kube-prometheus-stack 88.5.3) reports the node's own metrics: it reads the host's "
               "/proc, /sys and / through read-only hostPath mounts, sees host processes (hostPID) and host "
               "interfaces (hostNetwork, so its port 9100 is a host port)"),
    Exception_("observability-node", "DaemonSet", "node-logs-agent",
               frozenset({HOST_PATH, RUN_AS_ROOT}),
               "the node log agent (opentelemetry-collector 0.170.0, filelog receiver) tails container logs under "
               "/var/log/pods and /var/lib/docker/containers (hostPath, read-only), which the kubelet writes "
               "root-owned 0640: reading them needs UID 0 (no capabilities, no privilege escalation)"),
    Exception_("gpu-operator", "DaemonSet", "gpu-operator-node-feature-discovery-worker",
               frozenset({HOST_PATH}),
               "node-feature-discovery (gpu-operator v26.7.0 subchart) labels GPU nodes from host files: /boot, "
               "/etc/os-release, /sys, /usr/lib, /lib, /proc/swaps (read-only hostPath) and its features.d dir"),
    Exception_("gpu-operator", "Deployment", "gpu-operator",
               frozenset({RUN_AS_ROOT, ESCALATION}),
               "the GPU Operator chart (v26.7.0 templates/operator.yaml) renders no securityContext for the operator "
               "and has no value to set one; it runs in the privileged gpu-operator namespace with its own image user"),
    *(Exception_("gpu-operator", "Job", name, frozenset({RUN_AS_ROOT, ESCALATION}),
                 f"GPU Operator v26.7.0 {hook} hook Job (templates/{template}) runs kubectl with no securityContext in "
                 f"the template and no value to set one; it runs once in the privileged gpu-operator namespace")
      for name, hook, template in (("gpu-operator-upgrade-crd", "pre-upgrade", "upgrade_crd.yaml"),
                                   ("gpu-operator-cleanup-gpucluster", "pre-delete", "cleanup_gpucluster.yaml"))),
    *(Exception_("ai-gateway", "Deployment", f"{gateway}-body-based-router", frozenset({RUN_AS_ROOT, ESCALATION}),
                 "body-based-routing v1.5.0 (templates/bbr.yaml) renders no securityContext and has no value to set "
                 "one; it runs in the baseline inference gateway namespace (config/namespaces.py)")
      for gateway in ("public", "internal")),
    # Istio ambient (istio 1.30.3 charts cni and ztunnel, in mesh.namespace): the node agents that move pod traffic
    # into ztunnel. Neither is privileged; both drop ALL and add back only what their templates list.
    Exception_("istio-system", "DaemonSet", "istio-cni-node",
               frozenset({HOST_PATH, RUN_AS_ROOT, ESCALATION}),
               "istio-cni (cni chart 1.30.3 templates/daemonset.yaml) installs its CNI plugin into the node's CNI "
               "bin/conf dirs and, for each ambient pod, enters the pod's network namespace through the host's "
               "/proc and /var/run/netns to set up redirection to ztunnel (hostPath); it runs as UID 0 with "
               "NET_ADMIN, NET_RAW, SYS_ADMIN, SYS_PTRACE and DAC_OVERRIDE (root-owned host dirs) and sets no "
               "allowPrivilegeEscalation",
               frozenset({"NET_ADMIN", "NET_RAW", "SYS_ADMIN", "SYS_PTRACE", "DAC_OVERRIDE"})),
    Exception_("istio-system", "DaemonSet", "ztunnel",
               frozenset({HOST_PATH, RUN_AS_ROOT, ESCALATION}),
               "ztunnel (ztunnel chart 1.30.3 templates/daemonset.yaml) opens its proxy sockets inside every ambient "
               "pod's network namespace (setns: SYS_ADMIN; TPROXY: NET_ADMIN, NET_RAW) as UID 0 with "
               "allowPrivilegeEscalation true (the chart's comment: implied by SYS_ADMIN), and receives the pods' "
               "netns handles from istio-cni over a socket in the hostPath /var/run/ztunnel",
               frozenset({"NET_ADMIN", "SYS_ADMIN", "NET_RAW"})),
    # Writable root filesystems in restricted namespaces: images that write under their own image paths,
    # with no chart value to mount those paths elsewhere.
    Exception_("ingress-nginx", "Deployment", "ingress-nginx-controller",
               frozenset({WRITABLE_ROOT}),
               "the controller regenerates /etc/nginx/nginx.conf and writes nginx temp/pid files at runtime; "
               "ingress-nginx 4.15.1 sets controller.image.readOnlyRootFilesystem: false for that reason"),
    Exception_("observability", "Deployment", "monitoring-grafana",
               frozenset({WRITABLE_ROOT}),
               "Grafana 13 and its k8s-sidecar containers write plugins, sessions and temp files outside the chart's "
               "mounted volumes (kube-prometheus-stack 88.5.3 sets no readOnlyRootFilesystem for them)"),
    Exception_("ai-rag", "Deployment", "milvus-standalone", frozenset({WRITABLE_ROOT}),
               "Milvus writes its merged config and local caches under /milvus in the image (milvus chart 5.0.19 "
               "mounts only the data volume)"),
    *(Exception_("ai-rag", "Deployment", f"milvus-{role}", frozenset({WRITABLE_ROOT}),
                 "Milvus writes its merged config and local caches under /milvus in the image (milvus chart 5.0.19 "
                 "mounts only the data volume)")
      for role in ("datanode", "mixcoord", "proxy", "querynode", "streamingnode")),
    Exception_("ai-rag", "StatefulSet", "milvus-etcd", frozenset({WRITABLE_ROOT}),
               "the etcd image (milvusdb/etcd, Bitnami layout) renders its config under /opt/bitnami/etcd at start"),
    Exception_("ai-rag", "StatefulSet", "redis-server", frozenset({WRITABLE_ROOT}),
               "redis-ha's config-init and sentinel write the generated redis.conf/sentinel.conf beside the image "
               "paths; the chart (redis-ha) has no readOnlyRootFilesystem value"),
    Exception_("ai-rag", "Deployment", "redis-haproxy", frozenset({WRITABLE_ROOT}),
               "HAProxy of redis-ha writes its runtime socket and generated config beside the image paths"),
    Exception_("ai-rag", "Elasticsearch", "search", frozenset({WRITABLE_ROOT}),
               "Elasticsearch writes its keystore, JVM temp and plugin files under /usr/share/elasticsearch; "
               "ECK mounts only data, logs and config"),
)
"""The only workloads allowed a control below, one object each, with the reason (see the module docstring)."""


def allowed(obj: KubeObject, control: str) -> bool:
    return any(e.matches(obj) and control in e.controls for e in NODE_AGENTS)


def all_containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """('container vllm', container) for containers, init containers and ephemeral containers."""
    for field, kind in (("initContainers", "initContainer"), ("containers", "container"),
                        ("ephemeralContainers", "ephemeralContainer")):
        for container in maps(get(spec, field)):
            yield f"{kind} {get(container, 'name', default='<unnamed>')!r}", container


def _pods(obj: KubeObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(prefix for messages, pod spec): the prefix names the pod template only for custom resources."""
    for where, spec in pod_specs(obj):
        yield ("" if where in ("pod template", "job template") else f"{where}: "), spec


# ------------------------------------------------------------------------------------ host access


def host_access(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(control, what) for everything in a pod spec that reaches into the node."""
    found = [(field, f"{field}: true") for field in (HOST_NETWORK, HOST_PID, HOST_IPC) if get(spec, field) is True]
    for volume in maps(get(spec, "volumes")):
        if get(volume, "hostPath") is not None:
            found.append((HOST_PATH, f"volume {get(volume, 'name', default='<unnamed>')!r} is a hostPath "
                                     f"({get(volume, 'hostPath', 'path', default='?')})"))
    for label, container in all_containers(spec):
        for port in maps(get(container, "ports")):
            host_port = number(get(port, "hostPort"))
            if host_port:
                found.append((HOST_PORT, f"{label} binds hostPort {int(host_port)}"))
        if get(container, "securityContext", "privileged") is True:
            found.append((PRIVILEGED, f"{label} is privileged"))
    return found


def check_host(obj: KubeObject, config: Any) -> Iterable[str]:
    for prefix, spec in _pods(obj):
        found = [what for control, what in host_access(spec) if not allowed(obj, control)]
        if found:
            yield (f"{prefix}{'; '.join(found)}. Host access is only for the node agents listed in "
                   f"policy/rules/pods.py NODE_AGENTS: drop it (a PVC or emptyDir instead of hostPath, a Service "
                   f"instead of hostPort).")


no_host_access = object_policy(
    HOST_NAME,
    "No privileged containers, hostPath volumes, host ports or hostNetwork/hostPID/hostIPC, except the listed node "
    "agents.",
    check_host,
)


# ---------------------------------------------------------------------------------------- non-root


def root_allowed(image: Any, patterns: list[str]) -> bool:
    if not isinstance(image, str) or not image.strip() or not patterns:
        return False
    candidates = (image.strip(), parse_image(image).normalized)
    return any(fnmatchcase(c, p) for c in candidates for p in patterns)


def root_problems(spec: Mapping[str, Any], patterns: list[str]) -> list[str]:
    pod_context = get(spec, "securityContext")
    problems, checked = [], 0
    for label, container in all_containers(spec):
        if root_allowed(get(container, "image"), patterns):
            continue
        checked += 1
        own = get(container, "securityContext")
        non_root = get(own, "runAsNonRoot")
        if non_root is None:
            non_root = get(pod_context, "runAsNonRoot")
        user = number(get(own, "runAsUser"))
        if user is None:
            user = number(get(pod_context, "runAsUser"))
        if user == 0:
            problems.append(f"{label} runs as runAsUser: 0")
        elif non_root is not True:
            state = "false" if non_root is False else "not set in the container or pod securityContext"
            problems.append(f"{label} may run as root (runAsNonRoot {state})")
    if checked and number(get(pod_context, "runAsUser")) == 0:
        problems.insert(0, "the pod securityContext sets runAsUser: 0")
    return problems


def check_non_root(obj: KubeObject, config: Any) -> Iterable[str]:
    if allowed(obj, RUN_AS_ROOT):
        return
    patterns = config_list(config, "rootImages", [])
    for prefix, spec in _pods(obj):
        problems = root_problems(spec, patterns)
        if problems:
            yield (f"{prefix}{'; '.join(problems)}. Set securityContext.runAsNonRoot: true with a non-zero "
                   f"runAsUser (pod or container), or, for an image that must run as root, add it to the pack "
                   f"config rootImages with the reason.")


run_as_non_root = object_policy(
    NON_ROOT_NAME,
    "Every container runs with runAsNonRoot: true and never as user 0, unless its image is allow-listed.",
    check_non_root,
    config_schema=PolicyConfigSchema(properties={
        "rootImages": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "fnmatch globs of images allowed to run as root (document why for each).",
        },
    }),
)


# ---------------------------------------------------------------------------- privilege escalation


def escalation_problems(spec: Mapping[str, Any], capabilities: set[str], check_escalation: bool) -> list[str]:
    problems = []
    if get(spec, "securityContext", "seccompProfile", "type") == "Unconfined":
        problems.append("the pod seccompProfile is Unconfined")
    for label, container in all_containers(spec):
        context = get(container, "securityContext")
        if check_escalation and get(context, "allowPrivilegeEscalation") is not False:
            problems.append(f"{label} does not set allowPrivilegeEscalation: false")
        added = [c for c in strings(get(context, "capabilities", "add"))
                 if c.upper().removeprefix("CAP_") not in capabilities]
        if added:
            problems.append(f"{label} adds capabilities {', '.join(added)}")
        if get(context, "seccompProfile", "type") == "Unconfined":
            problems.append(f"{label} seccompProfile is Unconfined")
    return problems


def check_escalation(obj: KubeObject, config: Any) -> Iterable[str]:
    capabilities = {c.upper().removeprefix("CAP_")
                    for c in config_list(config, "allowedCapabilities", DEFAULT_ALLOWED_CAPABILITIES)}
    agent = {c for e in NODE_AGENTS if e.matches(obj) for c in e.capabilities}  # a node agent's own entry
    for prefix, spec in _pods(obj):
        problems = escalation_problems(spec, capabilities | agent, not allowed(obj, ESCALATION))
        if problems:
            yield (f"{prefix}{'; '.join(problems)}. Set allowPrivilegeEscalation: false, drop ALL capabilities and "
                   f"add only {', '.join(sorted(capabilities)) or 'none'} (pack config allowedCapabilities), and use "
                   f"seccompProfile RuntimeDefault or Localhost.")


no_privilege_escalation = object_policy(
    ESCALATION_NAME,
    "Containers set allowPrivilegeEscalation: false, add no capability beyond the allow-list, and no seccomp "
    "profile is Unconfined.",
    check_escalation,
    config_schema=PolicyConfigSchema(properties={
        "allowedCapabilities": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_ALLOWED_CAPABILITIES),
            "description": "Capabilities a container may add (Pod Security restricted allows only NET_BIND_SERVICE).",
        },
    }),
)


# ------------------------------------------------------------------------------- read-only rootfs

PSA_ENFORCE = "pod-security.kubernetes.io/enforce"


def namespace_levels(objs: Iterable[KubeObject]) -> dict[str, str]:
    """Namespace name -> its `pod-security.kubernetes.io/enforce` label ("" when unlabelled)."""
    return {o.name: str(get(o.body, "metadata", "labels", PSA_ENFORCE, default="") or "")
            for o in objs if o.kind == "Namespace" and o.api_version == "v1"}


def restricted(namespace: str, levels: Mapping[str, str], config: Any) -> bool:
    """Whether Pod Security restricted applies: the stack's Namespace says so; a namespace the stack does not
    create (`default`, one made elsewhere) is judged unless the pack config exempts it (fail closed)."""
    if namespace in levels:
        return levels[namespace] == "restricted"
    return namespace not in config_list(config, "podSecurityExemptNamespaces", DEFAULT_EXEMPT_NAMESPACES)


def check_read_only(obj: KubeObject, config: Any, levels: Mapping[str, str] | None = None) -> Iterable[str]:
    """`levels`: the stack's namespace levels (namespace_levels); None judges by the pack config alone."""
    if not restricted(obj.namespace, levels or {}, config) or allowed(obj, WRITABLE_ROOT):
        return
    for prefix, spec in _pods(obj):
        writable = [label for label, container in all_containers(spec)
                    if get(container, "securityContext", "readOnlyRootFilesystem") is not True]
        if writable:
            yield (f"{prefix}{', '.join(writable)} {'has' if len(writable) == 1 else 'have'} a writable root "
                   f"filesystem in namespace {obj.namespace}, where Pod Security restricted applies. Set "
                   f"securityContext.readOnlyRootFilesystem: true and mount an emptyDir where the process writes.")


def _validate_read_only(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    config = args.get_config()
    found = [(r.urn, list(objects(cast(ResourceValidationArgs, StackResource(r.resource_type, r.props, r.name,
                                                                                config, r.urn)))))
             for r in args.resources]
    levels = namespace_levels(o for _, objs in found for o in objs)
    for urn, objs in found:
        for obj in objs:
            for message in check_read_only(obj, config, levels):
                report_violation(f"{obj.ref()}: {message}", urn)


read_only_root_filesystem = StackValidationPolicy(
    name=READ_ONLY_NAME,
    description="Containers in namespaces under Pod Security restricted set readOnlyRootFilesystem: true.",
    validate=_validate_read_only,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "podSecurityExemptNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_EXEMPT_NAMESPACES),
            "description": "Namespaces the stack does not create that are not under Pod Security restricted (the "
                           "stack's own Namespaces say their level in the pod-security.kubernetes.io/enforce label).",
        },
    }),
)
