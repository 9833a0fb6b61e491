"""no-host-access, run-as-non-root and no-plain-secret-env: pod security the platform enforces.

All three are resource policies over Pod, ReplicationController, Deployment, StatefulSet,
DaemonSet, ReplicaSet, Job and CronJob (`spec.jobTemplate.spec.template`), containers and init
containers; no-plain-secret-env also reads ConfigMaps. Absent pod spec or containers: compliant.

**no-host-access**: outside the pack config `systemNamespaces` (default: kube-system, kube-public,
kube-node-lease, gpu-operator, observability-node, keda, cert-manager, ingress-nginx,
elastic-system) no pod spec sets `hostNetwork`, `hostPID` or `hostIPC` to true, has a `hostPath`
volume, or has a container with `securityContext.privileged: true`. The namespace is the
workload's `metadata.namespace`; absent means `default`. `default` is deliberately not exempt,
unlike in namespace-resource-quota's list (there it means "needs no quota"; here a workload that
lands in `default` by omission must not get host access). Absent fields mean false / no volume.

**run-as-non-root**: every container runs as non-root: its effective `runAsNonRoot` (the
container's `securityContext.runAsNonRoot`, else the pod's `securityContext.runAsNonRoot`) is
true, and its effective `runAsUser` (container, else pod) is not 0. Absent securityContext or
runAsNonRoot at both levels is a violation (Kubernetes would then run the image's own user,
often root). `runAsUser: 0` in the pod securityContext is a violation even when every container
overrides it or sets runAsNonRoot (unless every container's image is allow-listed). Containers
whose image matches a glob of the pack config `rootImages` (default `[]`; fnmatch, compared with
the image as written and its normalized form such as `docker.io/library/busybox:1.36`) are
exempt: list there, with the reason beside it in the config, the images that must run as root.

**no-plain-secret-env**: no container env var whose name looks secret has a literal non-empty
`value` (use `valueFrom.secretKeyRef`). A name looks secret when a regular expression of the pack
config `secretNamePatterns` (default TOKEN, PASSWORD, PASSWD, SECRET, API_?KEY, ACCESS_KEY,
PRIVATE_KEY, CREDENTIALS?) matches a whole word of it, case-insensitively; words are separated by
anything but letters and digits (`HF_TOKEN`, `DB_PASSWORD`, `OPENAI_API_KEY` look secret;
`TOKENIZERS_PARALLELISM` and `MAX_TOTAL_TOKENS` do not; a pattern such as `.*TOKEN.*` matches
inside words). Independently of names, no env `value` and no ConfigMap `data` value may contain a
known credential shape: a Hugging Face token (`hf_` + 30 or more letters/digits), an AWS access
key id (`AKIA` + 16), a GitHub token (`ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36, `github_pat_`), a
PEM private key (`-----BEGIN ... PRIVATE KEY-----`). Messages name the variable or key and the
shape, never the value. Absent env, value or data: compliant; `valueFrom` is fine.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .containers import parse_image, workload_label
from .helpers import (
    SYSTEM_NAMESPACES,
    config_list,
    containers,
    get,
    is_map,
    maps,
    namespace_of,
    number,
    pod_spec,
)

HOST_NAME = "no-host-access"
NON_ROOT_NAME = "run-as-non-root"
SECRET_ENV_NAME = "no-plain-secret-env"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"

# The system namespaces without `default`: a workload lands there when it names no namespace.
HOST_ACCESS_NAMESPACES = tuple(ns for ns in SYSTEM_NAMESPACES if ns != "default")

DEFAULT_SECRET_NAME_PATTERNS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_?KEY", "ACCESS_KEY", "PRIVATE_KEY",
                                "CREDENTIALS?")

# Credential formats: Hugging Face user access tokens start with hf_ (huggingface.co docs, "User
# access tokens"); AWS long-term access key ids are AKIA + 16 upper-case letters/digits (AWS IAM
# docs, "Managing access keys"); GitHub tokens are ghp_/gho_/ghu_/ghs_/ghr_ + 36 characters and
# fine-grained ones github_pat_... (GitHub blog "Behind GitHub's new authentication token formats");
# PEM private keys (RSA, EC, OPENSSH, ENCRYPTED or plain PKCS#8) open with -----BEGIN ... PRIVATE KEY-----.
CREDENTIAL_SHAPES: tuple[tuple[str, re.Pattern], ...] = (
    ("a Hugging Face token", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
)


# ------------------------------------------------------------------------------------ host access


def host_access(spec: Any) -> list[str]:
    """What in a pod spec reaches into the node."""
    found = [f"{field}: true" for field in ("hostNetwork", "hostPID", "hostIPC") if get(spec, field) is True]
    for volume in maps(get(spec, "volumes")):
        host_path = get(volume, "hostPath")
        if host_path is not None:
            found.append(f"volume {get(volume, 'name', default='<unnamed>')!r} is a hostPath "
                         f"({get(host_path, 'path', default='?')})")
    found += [f"{kind} {name!r} is privileged" for kind, name, container in containers(spec)
              if get(container, "securityContext", "privileged") is True]
    return found


def _validate_host(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    system = config_list(args.get_config(), "systemNamespaces", HOST_ACCESS_NAMESPACES)
    namespace = namespace_of(args.props)
    if namespace in system:
        return
    found = host_access(spec)
    if found:
        report_violation(
            f"{workload_label(args)} in namespace {namespace}: {'; '.join(found)}. Host access is only allowed in the "
            f"system namespaces ({', '.join(system) or 'none'}): drop it (use a PVC or emptyDir instead of hostPath), "
            f"or run the workload in one of those namespaces.")


no_host_access = ResourceValidationPolicy(
    name=HOST_NAME,
    description="No privileged containers, hostPath volumes or hostNetwork/hostPID/hostIPC outside system namespaces.",
    validate=_validate_host,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "systemNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(HOST_ACCESS_NAMESPACES),
            "description": "Namespaces where host access (privileged, hostPath, host namespaces) is allowed.",
        },
    }),
)


# ---------------------------------------------------------------------------------------- non-root


def root_allowed(image: Any, patterns: list[str]) -> bool:
    if not isinstance(image, str) or not image.strip() or not patterns:
        return False
    candidates = (image.strip(), parse_image(image).normalized)
    return any(fnmatchcase(c, p) for c in candidates for p in patterns)


def _validate_non_root(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    patterns = config_list(args.get_config(), "rootImages", [])
    pod_context = get(spec, "securityContext")
    problems, checked = [], 0
    for kind, name, container in containers(spec):
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
            problems.append(f"{kind} {name!r} runs as runAsUser: 0")
        elif non_root is not True:
            state = "false" if non_root is False else "not set in the container or pod securityContext"
            problems.append(f"{kind} {name!r} may run as root (runAsNonRoot {state})")
    if checked and number(get(pod_context, "runAsUser")) == 0:
        problems.insert(0, "the pod securityContext sets runAsUser: 0")
    if problems:
        report_violation(
            f"{workload_label(args)}: {'; '.join(problems)}. Set securityContext.runAsNonRoot: true with a non-zero "
            f"runAsUser (pod or container), or, for an image that must run as root, add it to the pack config "
            f"rootImages with the reason.")


run_as_non_root = ResourceValidationPolicy(
    name=NON_ROOT_NAME,
    description="Every container runs with runAsNonRoot: true and never as user 0, unless its image is allow-listed.",
    validate=_validate_non_root,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "rootImages": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": [],
            "description": "fnmatch globs of images allowed to run as root (document why for each).",
        },
    }),
)


# ------------------------------------------------------------------------------------ secret env


def credential_shape(value: Any) -> str | None:
    """The kind of credential a value contains, if it looks like one."""
    if not isinstance(value, str):
        return None
    return next((kind for kind, shape in CREDENTIAL_SHAPES if shape.search(value)), None)


def name_matchers(config: Any) -> tuple[list[re.Pattern], list[str]]:
    """(compiled secretNamePatterns, invalid patterns)."""
    compiled, invalid = [], []
    for pattern in config_list(config, "secretNamePatterns", DEFAULT_SECRET_NAME_PATTERNS):
        try:
            compiled.append(re.compile(rf"(?<![A-Za-z0-9])(?:{pattern})(?![A-Za-z0-9])", re.IGNORECASE))
        except re.error:
            invalid.append(pattern)
    return compiled, invalid


def _env_problems(spec: Any, matchers: list[re.Pattern]) -> list[str]:
    problems = []
    for kind, name, container in containers(spec):
        for env in maps(get(container, "env")):
            var, value = get(env, "name", default=""), get(env, "value")
            if value is None or (isinstance(value, str) and not value):
                continue
            shape = credential_shape(value)
            secret_name = isinstance(var, str) and any(m.search(var) for m in matchers)
            if shape:
                problems.append(f"{kind} {name!r} env {var} holds {shape} as a plain value")
            elif secret_name:
                problems.append(f"{kind} {name!r} env {var} looks secret but has a plain value")
    return problems


def _validate_secret_env(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    matchers, invalid = name_matchers(args.get_config())
    if invalid:
        report_violation(f"pack config secretNamePatterns: {', '.join(repr(p) for p in invalid)} "
                         f"{'is' if len(invalid) == 1 else 'are'} not a valid regular expression.")
    if args.resource_type == CONFIGMAP_TYPE:
        data = get(args.props, "data")
        found = [f"data[{key!r}] holds {shape}" for key, value in (data.items() if is_map(data) else [])
                 if (shape := credential_shape(value))]
        if found:
            report_violation(f"ConfigMap {get(args.props, 'metadata', 'name', default=args.name)}: {'; '.join(found)}. "
                             f"Credentials belong in a Secret (a Pulumi secret into string_data), never a ConfigMap.")
        return
    spec = pod_spec(args.resource_type, args.props)
    if spec is None:
        return
    problems = _env_problems(spec, matchers)
    if problems:
        report_violation(f"{workload_label(args)}: {'; '.join(problems)}. Put the value in a Secret and use "
                         f"valueFrom.secretKeyRef instead of value.")


no_plain_secret_env = ResourceValidationPolicy(
    name=SECRET_ENV_NAME,
    description="No secret-looking env var with a plain value, and no credential in env values or ConfigMaps.",
    validate=_validate_secret_env,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=PolicyConfigSchema(properties={
        "secretNamePatterns": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_SECRET_NAME_PATTERNS),
            "description": "Regular expressions (case-insensitive, matched against whole words of the name) of env "
                           "var names that hold secrets.",
        },
    }),
)
