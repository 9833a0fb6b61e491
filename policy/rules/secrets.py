"""no-plain-secret-env: no credential in plain sight, in env, envFrom or ConfigMaps.

An object check (policy/rules/objects.py): the program's workloads and ConfigMaps and every one a chart renders
(pod specs of the workload kinds and of custom resources, containers and init containers).

A **secret-looking name** is one a regular expression of the pack config `secretNamePatterns` (default TOKEN,
PASSWORD, PASSWD, SECRET, API_?KEY, ACCESS_KEY, PRIVATE_KEY, CREDENTIALS?) matches as a whole word,
case-insensitively; words are separated by anything but letters and digits (`HF_TOKEN`, `DB_PASSWORD`,
`OPENAI_API_KEY` look secret; `TOKENIZERS_PARALLELISM`, `MAX_TOTAL_TOKENS` do not; a pattern such as `.*TOKEN.*`
matches inside words). Messages name the variable or key and what was found, never the value.

Env (`containers[].env[]`, init containers too):
- a secret-looking name with a literal non-empty `value` (use `valueFrom.secretKeyRef`);
- any `value` holding a credential, whatever the name (below).
envFrom: a `configMapRef` whose ConfigMap name looks secret (`db-credentials`): credentials kept in a ConfigMap.

ConfigMaps (`data` values): any credential (below), and inside a value, each `key: value`, `key = value` or
`"key": "value"` line (YAML, INI/properties, JSON, env files) — and the data key itself — whose key looks secret
and whose value is a secret: for password keys (PASSWORD, PASSWD, PWD) any literal, for the other names a
high-entropy literal (16+ characters without spaces, two or more character classes, Shannon entropy of at
least 3 bits per character: a generated token, not a setting like `token_file` or `false`). References are
never secrets: empty values, `${VAR}`/`$(VAR)`/`{{ ... }}` placeholders, file paths (`/...`), `true`/`false`/
`null`/numbers.

Chart containers whose secret-looking variables hold no secret (a Secret's name, a token *type*) are listed once
in `ENV_EXCEPTIONS` (release, kind, name, container, variable, why).

A **credential**, whatever the name: a known token shape — Hugging Face (`hf_` + 30 or more letters/digits),
AWS access key id (`AKIA` + 16), GitHub (`ghp_`/`gho_`/`ghu_`/`ghs_`/`ghr_` + 36, `github_pat_`), a PEM
private key; a URL with a password in its userinfo (`postgres://app:pw@db:5432/x`, `redis://:pw@cache`);
a connection string with `password=`/`pwd=` and a literal value (libpq `host=db password=pw`, JDBC/ODBC
`;Password=pw;`, a query `?password=pw`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .helpers import config_list, containers, get, is_map, maps
from .objects import KubeObject, object_policy, pod_specs

SECRET_ENV_NAME = "no-plain-secret-env"

DEFAULT_SECRET_NAME_PATTERNS = ("TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_?KEY", "ACCESS_KEY",
                                "PRIVATE_KEY", "CREDENTIALS?")
_PASSWORD_KEY = re.compile(r"(?<![A-Za-z0-9])(?:PASSWORD|PASSWD|PWD)(?![A-Za-z0-9])", re.IGNORECASE)

# Credential formats: Hugging Face user access tokens start with hf_ (huggingface.co docs, "User
# access tokens"); AWS long-term access key ids are AKIA + 16 upper-case letters/digits (AWS IAM
# docs, "Managing access keys"); GitHub tokens are ghp_/gho_/ghu_/ghs_/ghr_ + 36 characters and
# fine-grained ones github_pat_... (GitHub blog "Behind GitHub's new authentication token formats");
# PEM private keys (RSA, EC, OPENSSH, ENCRYPTED or plain PKCS#8) open with -----BEGIN ... PRIVATE KEY-----.
CREDENTIAL_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Hugging Face token", re.compile(r"(?<![A-Za-z0-9])hf_[A-Za-z0-9]{30,}")),
    ("an AWS access key id", re.compile(r"(?<![A-Z0-9])AKIA[0-9A-Z]{16}(?![A-Z0-9])")),
    ("a GitHub token", re.compile(r"(?<![A-Za-z0-9])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")),
)
# scheme://user:password@host (RFC 3986 userinfo); the password part is non-empty and not a placeholder.
_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*:(?P<pw>[^\s/@]+)@[^\s/@]")
# password=... / pwd=... in key-value connection strings (libpq, JDBC/ODBC, query strings).
_CONN_PASSWORD = re.compile(r"(?:^|[\s;?&,])(?:password|pwd)\s*=(?P<pw>[^\s;&,'\"]+)", re.IGNORECASE)
# key: value / key = value / "key": "value" lines of config files.
_ASSIGNMENT = re.compile(r"""(?:^|[\s{,;])["']?(?P<key>[A-Za-z0-9_.\-]+)["']?\s*[:=]\s*["']?(?P<value>[^"'\s#,;}]*)""",
                         re.MULTILINE)
_PLACEHOLDER = re.compile(r"^(?:\$\{.*\}|\$\(.*\)|\$[A-Za-z_][A-Za-z0-9_]*|\{\{.*\}\}|%\(.*\)s?|<[^>]*>)$")


# (chart release, kind, name, container, env var, why): literal values under secret-looking names that are not secrets.
ENV_EXCEPTIONS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("eck-operator", "StatefulSet", "elastic-operator", "manager", "WEBHOOK_SECRET",
     "the name of the Secret holding the webhook certificate (elastic/cloud-on-k8s deploy/eck-operator "
     "templates/statefulset.yaml), not its content"),
    ("milvus", "StatefulSet", "milvus-etcd", "etcd", "ETCD_AUTH_TOKEN",
     "etcd's --auth-token option: the token type and the path of its signing key (jwt,priv-key=/...), not a token"),
    ("weaviate", "StatefulSet", "weaviate", "weaviate", "AUTHENTICATION_APIKEY_ENABLED",
     "a switch (\"true\"): API-key authentication on; the keys come from a Secret (envSecrets)"),
    ("weaviate", "StatefulSet", "weaviate", "weaviate", "AUTHENTICATION_APIKEY_USERS",
     "the user names the keys map to (weaviate docs, API key authentication), not keys"),
    ("milvus", "StatefulSet", "milvus-etcd", "etcd", "ETCD_INITIAL_CLUSTER_TOKEN",
     "etcd's --initial-cluster-token: a cluster name that keeps bootstrapping clusters apart, not a credential"),
)


def credential_shape(value: Any) -> str | None:
    """What credential a value contains, if it holds one (module docstring), never the value."""
    if not isinstance(value, str):
        return None
    found = next((kind for kind, shape in CREDENTIAL_SHAPES if shape.search(value)), None)
    if found:
        return found
    if any(not is_reference(m.group("pw")) for m in _URL_USERINFO.finditer(value)):
        return "a URL with a password in its userinfo"
    if any(not is_reference(m.group("pw")) for m in _CONN_PASSWORD.finditer(value)):
        return "a connection string with password="
    return None


def is_reference(value: str) -> bool:
    """An empty value, a placeholder, a path or a scalar that is not a secret."""
    value = value.strip().strip("\"'")
    return (not value or bool(_PLACEHOLDER.match(value)) or value.startswith(("/", "$", "{{"))
            or value.lower() in ("true", "false", "null", "none", "~", "yes", "no")
            or bool(re.fullmatch(r"[0-9.]+[a-z]{0,2}", value, re.IGNORECASE)))


_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9+/=_.~:-]+")


def high_entropy(value: str) -> bool:
    """A generated-looking token: 16+ characters of a token alphabet (base64/hex/URL-safe; code such as
    `f.read()` is not), 2+ character classes, >= 3 bits/char."""
    if len(value) < 16 or not _TOKEN_ALPHABET.fullmatch(value):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return classes >= 2 and entropy >= 3.0


def name_matchers(config: Any) -> tuple[list[re.Pattern[str]], list[str]]:
    """(compiled secretNamePatterns, invalid patterns)."""
    compiled, invalid = [], []
    for pattern in config_list(config, "secretNamePatterns", DEFAULT_SECRET_NAME_PATTERNS):
        try:
            compiled.append(re.compile(rf"(?<![A-Za-z0-9])(?:{pattern})(?![A-Za-z0-9])", re.IGNORECASE))
        except re.error:
            invalid.append(pattern)
    return compiled, invalid


def _secret_name(name: Any, matchers: list[re.Pattern[str]]) -> bool:
    return isinstance(name, str) and any(m.search(name) for m in matchers)


def secret_value_under(key: str, value: str, matchers: list[re.Pattern[str]]) -> bool:
    """Whether a literal under a secret-looking key is a secret (password keys: any literal; others: high entropy)."""
    if not _secret_name(key, matchers) or is_reference(value):
        return False
    return bool(_PASSWORD_KEY.search(key)) or high_entropy(value.strip())


def configmap_problems(data: Any, matchers: list[re.Pattern[str]]) -> list[str]:
    found = []
    for key, value in sorted(data.items() if is_map(data) else []):
        if not isinstance(value, str):
            continue
        shape = credential_shape(value)
        if shape:
            found.append(f"data[{key!r}] holds {shape}")
        elif "\n" not in value.strip() and secret_value_under(str(key), value, matchers):
            found.append(f"data[{key!r}] looks secret and holds a secret-looking value")
        else:
            keys = sorted({m.group("key") for m in _ASSIGNMENT.finditer(value)
                           if secret_value_under(m.group("key"), m.group("value"), matchers)})
            if keys:
                found.append(f"data[{key!r}] sets {', '.join(keys)} to a literal secret")
    return found


def env_problems(spec: Any, matchers: list[re.Pattern[str]],
                 excused: frozenset[tuple[str, str]] = frozenset()) -> list[str]:
    """What a pod spec's env/envFrom exposes; `excused`: (container, variable) pairs of ENV_EXCEPTIONS."""
    problems = []
    for kind, name, container in containers(spec):
        for env in maps(get(container, "env")):
            var, value = get(env, "name", default=""), get(env, "value")
            if value is None or (isinstance(value, str) and not value):
                continue
            shape = credential_shape(value)
            if shape:
                problems.append(f"{kind} {name!r} env {var} holds {shape} as a plain value")
            elif _secret_name(var, matchers) and (name, var) not in excused:
                problems.append(f"{kind} {name!r} env {var} looks secret but has a plain value")
        for source in maps(get(container, "envFrom")):
            ref = get(source, "configMapRef", "name")
            if _secret_name(ref, matchers):
                problems.append(f"{kind} {name!r} envFrom reads ConfigMap {ref}, whose name says it holds credentials")
    return problems


def _check_secrets(obj: KubeObject, config: Any) -> Iterator[str]:
    is_configmap = obj.kind == "ConfigMap" and obj.api_version == "v1"
    specs = list(pod_specs(obj))
    if not is_configmap and not specs:
        return
    matchers, invalid = name_matchers(config)
    if invalid:
        yield (f"pack config secretNamePatterns: {', '.join(repr(p) for p in invalid)} "
               f"{'is' if len(invalid) == 1 else 'are'} not a valid regular expression.")
    if is_configmap:
        found = configmap_problems(get(obj.body, "data"), matchers)
        if found:
            yield (f"{'; '.join(found)}. Credentials belong in a Secret (a Pulumi secret into string_data), never a "
                   f"ConfigMap.")
        return
    release = obj.source.split(":", 1)[1] if obj.source.startswith("chart:") else None
    excused = frozenset((container, var) for rel, kind, name, container, var, _ in ENV_EXCEPTIONS
                        if (rel, kind, name) == (release, obj.kind, obj.name))
    problems = [p for _, spec in specs for p in env_problems(spec, matchers, excused)]
    if problems:
        yield (f"{'; '.join(problems)}. Put the value in a Secret and use valueFrom.secretKeyRef (or envFrom."
               f"secretRef) instead of value.")


no_plain_secret_env = object_policy(
    SECRET_ENV_NAME,
    "No credential in plain sight: secret-looking env vars with plain values, credentials (token shapes, URL "
    "passwords, password= connection strings) in env values or ConfigMaps, secret-looking ConfigMap entries.",
    _check_secrets,
    config_schema=PolicyConfigSchema(properties={
        "secretNamePatterns": {
            "type": "array",
            "items": {"type": "string", "minLength": 1},
            "default": list(DEFAULT_SECRET_NAME_PATTERNS),
            "description": "Regular expressions (case-insensitive, matched against whole words of the name) of env "
                           "var names and config keys that hold secrets.",
        },
    }),
)
