"""no-plain-secret-env: credentials stay out of env values and ConfigMaps.

no-host-access and run-as-non-root moved to policy/rules/pods.py (object policies over every pod spec the
stack would create, charts included).

A resource policy over Pod, ReplicationController, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
and CronJob (`spec.jobTemplate.spec.template`), containers and init containers, and ConfigMaps.

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
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .containers import workload_label
from .helpers import SYSTEM_NAMESPACES, config_list, containers, get, is_map, maps, pod_spec

SECRET_ENV_NAME = "no-plain-secret-env"
CONFIGMAP_TYPE = "kubernetes:core/v1:ConfigMap"

# The system namespaces without `default` (tests pick tenant workloads outside them).
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
