"""Pod Security Standards (baseline, restricted) checked on pod templates, offline.

    from tools import podsecurity
    podsecurity.violations(pod_spec, "restricted", annotations)  # -> ["hostPath volume 'x'", ...]
    for where, spec, annotations in podsecurity.pod_templates(obj): ...

The checks are those of Pod Security Admission at `enforce-version: latest` (Kubernetes 1.33+,
https://kubernetes.io/docs/concepts/security/pod-security-standards/ and
k8s.io/pod-security-admission/policy). No maintained Python implementation exists on PyPI, so the
controls are written out here, one function per control, with the allowed values of the standard.
Windows pods (`spec.os.name: windows`) are not exempted: the platform runs none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes"})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
RESTRICTED_VOLUMES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image", "persistentVolumeClaim", "projected",
    "secret"})

WORKLOAD_TEMPLATE = {"Deployment": ("spec", "template"), "StatefulSet": ("spec", "template"),
                     "DaemonSet": ("spec", "template"), "ReplicaSet": ("spec", "template"),
                     "Job": ("spec", "template"), "CronJob": ("spec", "jobTemplate", "spec", "template")}


def _get(value: Any, *path: str) -> Any:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def pod_templates(obj: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(where, pod spec, pod annotations) of every pod an object creates: workloads' templates, a Pod,
    and the pod templates of the custom resources the platform uses (ECK Elasticsearch nodeSets)."""
    kind = obj.get("kind")
    name = f"{kind} {_get(obj, 'metadata', 'namespace') or ''}/{_get(obj, 'metadata', 'name')}"
    if kind == "Pod":
        yield name, obj.get("spec") or {}, _get(obj, "metadata", "annotations") or {}
    elif kind in WORKLOAD_TEMPLATE:
        template = _get(obj, *WORKLOAD_TEMPLATE[kind]) or {}
        yield name, template.get("spec") or {}, _get(template, "metadata", "annotations") or {}
    elif kind == "Elasticsearch" and str(obj.get("apiVersion", "")).startswith("elasticsearch.k8s.elastic.co/"):
        for node_set in _get(obj, "spec", "nodeSets") or []:
            template = node_set.get("podTemplate") or {}
            yield (f"{name} nodeSet {node_set.get('name')}", template.get("spec") or {},
                   _get(template, "metadata", "annotations") or {})


def _containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field[:-1]} {c.get('name')!r}", c


def violations(spec: Mapping[str, Any], level: str, annotations: Mapping[str, Any] | None = None) -> list[str]:
    """What in a pod spec the given Pod Security level forbids (empty: admitted)."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r} (one of {', '.join(LEVELS)})")
    if level == "privileged":
        return []
    found = _baseline(spec, annotations or {})
    if level == "restricted":
        found += _restricted(spec)
    return found


def _baseline(spec: Mapping[str, Any], annotations: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"{field}: true")
    if _get(pod_sc, "windowsOptions", "hostProcess"):
        out.append("pod securityContext.windowsOptions.hostProcess: true")
    for v in spec.get("volumes") or []:
        if "hostPath" in v:
            out.append(f"hostPath volume {v.get('name')!r}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"unsafe sysctl {sysctl.get('name')}")
    out += _seccomp_apparmor_selinux("pod", pod_sc)
    for key, value in annotations.items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
                value == "runtime/default" or str(value).startswith("localhost/")):
            out.append(f"AppArmor annotation {key}: {value}")
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        if _get(sc, "windowsOptions", "hostProcess"):
            out.append(f"{where}: windowsOptions.hostProcess")
        added = set(_get(sc, "capabilities", "add") or []) - BASELINE_CAPABILITIES
        if added:
            out.append(f"{where}: adds capabilities {sorted(added)}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{where}: hostPort {port['hostPort']}")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{where}: procMount {sc['procMount']}")
        out += _seccomp_apparmor_selinux(where, sc)
    return out


def _seccomp_apparmor_selinux(where: str, sc: Mapping[str, Any]) -> list[str]:
    out = []
    if _get(sc, "seccompProfile", "type") == "Unconfined":
        out.append(f"{where}: seccompProfile Unconfined")
    if _get(sc, "appArmorProfile", "type") not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"{where}: appArmorProfile {_get(sc, 'appArmorProfile', 'type')}")
    se = sc.get("seLinuxOptions") or {}
    if se.get("type", "") not in SELINUX_TYPES or se.get("user") or se.get("role"):
        out.append(f"{where}: seLinuxOptions {dict(se)}")
    return out


def _restricted(spec: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    pod_sc = spec.get("securityContext") or {}
    for v in spec.get("volumes") or []:
        kinds = set(v) - {"name"}
        if kinds - RESTRICTED_VOLUMES:
            out.append(f"volume {v.get('name')!r} of type {sorted(kinds - RESTRICTED_VOLUMES)[0]}")
    if pod_sc.get("runAsUser") == 0:
        out.append("pod runAsUser: 0")
    pod_seccomp = _get(pod_sc, "seccompProfile", "type")
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation is not false")
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        if non_root is not True:
            out.append(f"{where}: runAsNonRoot is not true (container or pod)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser: 0")
        seccomp = _get(sc, "seccompProfile", "type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile is not RuntimeDefault/Localhost (container or pod)")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: adds capabilities other than NET_BIND_SERVICE")
    return out
