"""Read the stack config from `pulumi.Config`, validate it completely, derive the capacity plan.

`load()` is the only place the program reads config. It either returns a fully validated
`Loaded` (typed config + capacity plan + secret HF token) or raises one `ConfigError` listing
every problem with the stack file name and key path, before any resource exists.
`validate()` is the pure core (raw dict in, typed config + plan out) used by tests and tools.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from . import catalog, hub, model_files, queueing, quotas, semantics, stackfile
from .capacity import CapacityPlan, plan, served_models, shape_of
from .errors import PROJECT, ConfigError, Issue, key_path
from .models import CONFIG_KEYS, SECRET_KEYS, StackConfig

_STRATEGY_TAGS = {"exclusive", "mig", "time-slicing", "mps"}


@dataclass(frozen=True)
class Loaded:
    """Validated stack configuration and everything derived from it."""

    stack_file: str
    """`Pulumi.<stack>.yaml`, for messages."""
    config: StackConfig
    """The typed config."""
    plan: CapacityPlan
    """The capacity plan."""
    hf_token: pulumi.Output[str] | None
    """Hugging Face token as a secret Output (None when unset)."""
    alerting_secret: pulumi.Output[str] | None = None
    """Alertmanager receiver URL or key as a secret Output (None when no receiver is configured)."""


def stack_file_name(stack: str | None = None) -> str:
    return f"Pulumi.{stack or pulumi.get_stack()}.yaml"


PROVIDER_NAMESPACES = ("gcp", "aws", "kubernetes", "random", "tls", "pulumi")
"""Config namespaces besides the project's that a stack may set: the providers the program uses
(gcp and aws credentials/project/region, kubernetes, random and tls which read none today but own
their namespace) and Pulumi's own (`pulumi:tags`, `pulumi:disable-default-providers`)."""


def _did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def namespace_issues(keys: Iterable[str]) -> list[Issue]:
    """Config keys (`<namespace>:<name>`) in a namespace neither the project nor a provider reads.

    The engine hands every key of the stack to the program; one in a misspelt namespace
    (`ai-platfrom:budget`) would otherwise be ignored by everything.
    """
    issues = []
    namespaces = (PROJECT, *PROVIDER_NAMESPACES)
    for full in keys:
        namespace, sep, name = full.partition(":")
        if not sep or namespace in namespaces:
            continue
        top = name.split(".", 1)[0]
        guess = _did_you_mean(namespace, namespaces)
        if top in CONFIG_KEYS and guess in (PROJECT, None):
            intended = f"{PROJECT}:{name}"
        elif guess:
            intended = f"{guess}:{name}"
        else:
            intended = None
        hint = f"did you mean {intended}? " if intended else ""
        issues.append(Issue(full, f"unknown config namespace '{namespace}'; {hint}this program reads "
                                  f"{PROJECT}: keys, and providers read "
                                  f"{', '.join(n + ':' for n in PROVIDER_NAMESPACES)}"))
    return issues


def validate(raw: Mapping[str, Any], stack_file: str,
             hf_token: str | None = None) -> tuple[StackConfig, CapacityPlan]:
    """Validate raw config values (keys without the project prefix). Raises ConfigError.

    `hf_token` (the hfToken secret's value) is used only by `serving.shapes.fetch` for gated repos."""
    issues = [Issue(key_path(k), _unknown_key(k)) for k in raw if k not in CONFIG_KEYS]
    values = {k: v for k, v in raw.items() if k in CONFIG_KEYS and k not in SECRET_KEYS}
    try:
        cfg = StackConfig.model_validate(values)
    except ValidationError as exc:
        issues += [_pydantic_issue(err) for err in exc.errors(include_url=False)]
        raise ConfigError(stack_file, issues) from None
    cfg, shape_issues = shape_prepass(cfg, hf_token)
    issues += shape_issues
    issues += semantics.check(cfg)
    if issues:  # the plan assumes a structurally sound config
        raise ConfigError(stack_file, issues)
    capacity, fit_issues = plan(cfg)
    fit_issues += quotas.check(cfg, capacity)
    fit_issues += queueing.plan_check(cfg, capacity)
    fit_issues += semantics.serving_capacity(cfg, capacity)
    fit_issues += semantics.upgrade_drains(cfg, capacity)
    if fit_issues:
        raise ConfigError(stack_file, fit_issues)
    return cfg, capacity


def shape_prepass(cfg: StackConfig, hf_token: str | None = None) -> tuple[StackConfig, list[Issue]]:
    """Point each serving.models[] entry outside the catalog at its cached Hub files, fetching them first when
    `serving.shapes.fetch` is on; the rest of the program then reads them like a `shapeFrom`.

    Only entries without `shapeFrom`, `paramsB` and a catalog entry are looked up, by repo id, in
    `<serving.shapes.cacheDir>/<repo>/config.json`.  With fetch off nothing leaves the machine: the cache is used if
    present, else the entry stays unknown and config.semantics names the ways to give its shape.
    """
    shapes = cfg.serving.shapes
    token = hf_token or os.environ.get("HF_TOKEN") or None
    issues: list[Issue] = []
    models = []
    for i, model in enumerate(cfg.serving.models):
        if (model.shape_from is not None or model.params_b is not None or catalog.find_model(model.model) is not None
                or not hub.is_repo_id(model.model)):
            models.append(model)
            continue
        if shapes.fetch:
            try:
                hub.fetch(model.model, shapes.revision, shapes.cache_dir, token)
            except hub.FetchError as exc:
                issues.append(Issue(key_path("serving", "models", i, "model"),
                                    f"serving.shapes.fetch could not fetch {model.model!r}'s shape: {exc}"))
        cached = hub.cache_folder(shapes.cache_dir, model.model) / model_files.CONFIG_FILE
        models.append(model.model_copy(update={"shape_from": str(cached)}) if cached.is_file() else model)
    if all(a is b for a, b in zip(models, cfg.serving.models, strict=True)):
        return cfg, issues
    serving = cfg.serving.model_copy(update={"models": tuple(models)})
    return cfg.model_copy(update={"serving": serving}), issues


def _unknown_key(key: str) -> str:
    guess = _did_you_mean(key, CONFIG_KEYS)
    return f"unknown key ({'did you mean ' + guess + '?' if guess else 'not a key of this program'}); " \
           f"allowed keys: {', '.join(CONFIG_KEYS)}"


def config_keys() -> list[str]:
    """Every config key of the running stack, as the engine passed them (`<namespace>:<name>`)."""
    from pulumi.runtime import config as runtime_config

    return sorted(set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env()))


def read_raw() -> dict[str, Any]:
    """Every `ai-platform:*` config value of the running stack, objects decoded from JSON."""
    from pulumi.runtime import config as runtime_config

    keys = config_keys()
    raw: dict[str, Any] = {}
    for full in sorted(keys):
        project, _, key = full.partition(":")
        if project != PROJECT:
            continue
        value = runtime_config.get_config(full)
        if key in SECRET_KEYS:
            raw[key] = "<secret>"  # never decoded here; read with get_secret below
            continue
        try:
            raw[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            raw[key] = value  # a plain string; the model reports the type error with its path
    return raw


def load(stack: str | None = None) -> Loaded:
    """Load, validate and plan the running stack's config (raises ConfigError)."""
    stack_file = stack_file_name(stack)
    # The engine merges the stack file into one map, so what it hides (a duplicate key) can only be seen in
    # the file; `pulumi up` runs the program in the project directory, where the file is (tests may have none).
    early = stackfile.file_issues(Path.cwd() / stack_file) + namespace_issues(config_keys())
    raw = read_raw()
    try:
        cfg, capacity = validate(raw, stack_file, hf_token=_hf_token_value())
    except ConfigError as exc:
        raise ConfigError(stack_file, [*early, *exc.issues]) from None
    if early:
        raise ConfigError(stack_file, early)
    token, issues = _hf_token(cfg)
    if token is not None:  # the token's Secret lives in the serving namespace
        issues += semantics.deployer_issues(cfg, hf_token=True)
    alerting, alerting_issues = _alerting_secret(cfg)
    issues += alerting_issues
    if issues:
        raise ConfigError(stack_file, issues)
    return Loaded(stack_file, cfg, capacity, token, alerting)


def _alerting_secret(cfg: StackConfig) -> tuple[pulumi.Output[str] | None, list[Issue]]:
    """The receiver's URL or key: required (and secret) exactly when a receiver is configured."""
    from pulumi.runtime import config as runtime_config

    conf = pulumi.Config(PROJECT)
    full = f"{PROJECT}:alertingSecret"
    receiver = cfg.observability.alerting.receiver
    what = {"slack": "the Slack incoming-webhook URL", "pagerduty": "the PagerDuty Events API v2 integration key",
            "webhook": "the webhook URL"}.get(receiver, "")
    if conf.get("alertingSecret") is not None and not runtime_config.is_config_secret(full):
        return None, [Issue(full, "must be a secret: `pulumi config set --secret ai-platform:alertingSecret <value>`")]
    if receiver == "none" or not cfg.observability.enabled:
        if conf.get("alertingSecret") is not None:
            return None, [Issue(full, "set, but observability.alerting.receiver is none (or observability is off)")]
        return None, []
    if conf.get("alertingSecret") is None:
        return None, [Issue(full, f"required by observability.alerting.receiver {receiver}: {what}; run "
                                  "`pulumi config set --secret ai-platform:alertingSecret <value>`")]
    return conf.require_secret("alertingSecret"), []


def _hf_token_value() -> str | None:
    """The hfToken secret's plain value, for fetching gated shapes at plan time (never exported or logged)."""
    from pulumi.runtime import config as runtime_config

    value = runtime_config.get_config(f"{PROJECT}:hfToken")
    return value if isinstance(value, str) and value else None


def _hf_token(cfg: StackConfig) -> tuple[pulumi.Output[str] | None, list[Issue]]:
    from pulumi.runtime import config as runtime_config

    conf = pulumi.Config(PROJECT)
    full = f"{PROJECT}:hfToken"
    if conf.get("hfToken") is not None and not runtime_config.is_config_secret(full):
        return None, [Issue(full, "must be a secret: `pulumi config set --secret ai-platform:hfToken <token>`")]
    gated = [x.model.model for x in served_models(cfg) if (s := shape_of(x.model)) is not None and s.gated]
    if gated:
        if conf.get("hfToken") is None:
            return None, [Issue(full, (f"required: {', '.join(gated)} is gated on Hugging Face; run "
                                       "`pulumi config set --secret ai-platform:hfToken <token>`"))]
        return conf.require_secret("hfToken"), []
    return conf.get_secret("hfToken"), []


def _pydantic_issue(err: ErrorDetails) -> Issue:
    loc = [p for p in err["loc"] if p not in _STRATEGY_TAGS]
    if loc and isinstance(loc[-1], str) and loc[-1].startswith(("function-after", "function-before")):
        loc = loc[:-1]
    top, rest = (loc[0], loc[1:]) if loc else ("", [])
    path = key_path(str(top), *rest)
    kind = err["type"]
    msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        msg = "unknown key" + (f"; allowed keys here: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        msg = "required key is missing"
    elif kind in ("string_pattern_mismatch",):
        msg = f"{err['input']!r} does not match {err['ctx']['pattern']}"
    elif kind not in ("union_tag_invalid", "union_tag_not_found") and "input" in err and _short(err["input"]):
        msg = f"{msg} (got {err['input']!r})"
    return Issue(path, msg)


def _short(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 60


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """camelCase keys the model at `loc` accepts (walks StackConfig by alias)."""
    import typing

    model: Any = StackConfig
    skip = False
    for part in loc:
        if isinstance(part, int) or skip:
            skip = False
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        skip = typing.get_origin(field.annotation) is dict  # next part is a user key (a namespace name)
        model = _model_in(field.annotation)
    if model == "sharing":
        return ["strategy", "profile (mig)", "replicas (time-slicing, mps)"]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside Optional[...]/tuple[...]/dict[str, ...]/discriminated unions."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin is dict and len(args) == 2:
        return _model_in(args[1])
    models = [m for m in (_model_in(a) for a in args) if m is not None]
    if len(models) > 1 and all(issubclass(m, BaseModel) for m in models):
        return "sharing"
    return models[0] if models else None


__all__ = [
    "PROVIDER_NAMESPACES", "ConfigError", "Loaded", "catalog", "load", "namespace_issues", "read_raw",
    "shape_prepass", "stack_file_name", "validate",
]
