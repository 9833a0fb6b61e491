"""Evaluate the CrossGuard pack (policy/rules) over resources recorded by a mock run.

This is what `pulumi preview --policy-pack policy` does with the real engine, done in-process so
that pull requests from forks (no credentials) get the same verdicts. Resource policies see each
custom resource's inputs; stack policies see every resource with its (mock) outputs, parents and
dependencies. Secrets are unwrapped as the real analyzer hands them over.

Helm Releases: every object rule sees the objects a Release's chart renders to (policy/rules/objects.py).
The pack under `pulumi preview` renders them itself; here the plan's own render (tools.render, `charts`)
is handed over by URN instead, so nothing renders twice. A Release whose inputs differ from the render
handed over (a test that edits values) or, without `charts`, every Release is rendered with tools.render
(disk-cached, and memoised per set of Release inputs in this process).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from .mockrun import Recorded, RunResult, unwrap

if TYPE_CHECKING:
    from .render import StackRender

HELM_V4_CHART = "kubernetes:helm.sh/v4:Chart"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


@dataclass
class Violation:
    message: str
    urn: str | None = None


BLOCKING_LEVELS = ("mandatory", "remediate")
"""pulumi-policy reports a violation of a `remediate` policy without a remediation as mandatory."""


@dataclass
class Verdict:
    """One policy's result over the stack."""

    name: str
    description: str
    enforcement: str          # mandatory | advisory | remediate | disabled
    violations: list[Violation] = field(default_factory=list)
    not_applicable: bool = False

    @property
    def skipped(self) -> bool:
        """Disabled by the pack config: it did not run, so it neither passed nor failed."""
        return self.enforcement == "disabled"

    @property
    def passed(self) -> bool:
        return not self.violations and not self.skipped

    @property
    def blocking(self) -> bool:
        return bool(self.violations) and self.enforcement in BLOCKING_LEVELS


class PackConfigError(Exception):
    """A `--policy-config` file that cannot be read, is not JSON or does not fit the pack (one line)."""

    def __init__(self, path: Path, problems: list[tuple[str, str]]):
        self.path = path
        self.problems = problems
        """(key, message) pairs; the key is "" for the file as a whole."""
        super().__init__(f"{path}: " + "; ".join(f"{k}: {m}" if k else m for k, m in problems))


def load_pack_config(path: Path, policies: list | None = None) -> dict:
    """Read and check a pack config file as `pulumi preview --policy-pack-config` and the pack do.

    The pack's own check (policy names, levels, settings) plus each policy's config schema, which
    the CLI validates too. Raises PackConfigError.
    """
    import jsonschema

    from policy.rules.pack_config import check, duplicate_keys

    policies = load_policies() if policies is None else policies
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise PackConfigError(path, [("", f"cannot read: {getattr(exc, 'strerror', None) or exc}")]) from None
    if not text.strip():
        return {}  # as the CLI: an empty file is no config
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PackConfigError(path, [("", f"not JSON: {exc}")]) from None
    problems = [(p.key, p.message) for p in duplicate_keys(text) + check(config, policies)]
    if not problems:
        for policy in policies:
            own = config.get(policy.name)
            schema = getattr(policy, "config_schema", None)
            if not isinstance(own, Mapping) or schema is None:
                continue
            settings = {k: v for k, v in own.items() if k != "enforcementLevel"}
            full = {"type": "object", "properties": schema.properties or {}, "required": schema.required or []}
            for error in jsonschema.Draft7Validator(full).iter_errors(settings):
                where = ".".join(str(p) for p in error.absolute_path)
                problems.append((f"{policy.name}{'.' + where if where else ''}", error.message))
    if problems:
        raise PackConfigError(path, problems)
    return config


def load_policies() -> list:
    from policy.rules import ALL_POLICIES

    return list(ALL_POLICIES)


def _opts(r: Recorded) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=r.protect, ignore_changes=r.ignore_changes, delete_before_replace=None, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[], parent=r.parent)


def _finish(result: Any) -> None:
    if result is not None and inspect.isawaitable(result):
        asyncio.run(_await(result))


async def _await(result: Any) -> None:
    await result


def _level(policy, overrides: Mapping[str, Any]) -> str:
    # As the CLI does: a policy's own entry wins over "all", which wins over the pack default.
    override = overrides.get(policy.name, overrides.get("all", {}))
    if isinstance(override, str):
        return override
    if isinstance(override, Mapping) and "enforcementLevel" in override:
        return str(override["enforcementLevel"])
    level = policy.enforcement_level or EnforcementLevel.MANDATORY
    return level.value


def _policy_config(policy, pack_config: Mapping[str, Any]) -> dict:
    """Pack config for one policy with its schema defaults applied (what the engine passes)."""
    config: dict = {}
    schema = getattr(policy, "config_schema", None)
    for key, prop in ((schema.properties if schema else None) or {}).items():
        if isinstance(prop, Mapping) and "default" in prop:
            config[key] = prop["default"]
    own = pack_config.get(policy.name, {})
    if isinstance(own, Mapping):
        config.update({k: v for k, v in own.items() if k != "enforcementLevel"})
    return config


def kube_version(resources: Iterable[Recorded]) -> str:
    """`--kube-version` of a run: its GKE/EKS cluster's version, else the program's default (an existing cluster)."""
    from policy.rules.charts import cluster_kube_version

    from .render import kube_version_of

    for r in resources:
        found = cluster_kube_version(r.type, r.inputs)
        if found is not None:
            return found
    return kube_version_of({})


_renders: dict[str, StackRender] = {}


def _render(resources: list[Recorded], kube: str) -> StackRender:
    """tools.render over `resources`, memoised by everything a render depends on (Release inputs, the graph, the
    program's CRDs): tests evaluate many edited copies of one stack, most of them with the same charts."""
    import hashlib

    from .render import dependency_closure, render_key, render_stack

    run = RunResult(resources[0].urn.split("::")[0].rsplit(":", 1)[-1] if resources else "", resources, {}, set())
    crds = {r.urn: json.dumps(r.inputs, sort_keys=True, default=str) for r in resources if r.type == CRD_TYPE}
    releases = {r.urn for r in resources if r.type == RELEASE_TYPE}
    # A Release renders from its inputs and from the Releases and CRDs installed before it.
    shape = [kube] + [(r.urn, render_key(r.inputs),
                       sorted(d if d in releases else crds[d] for d in dependency_closure(run, r.urn)
                              if d in releases or d in crds))
                      for r in resources if r.urn in releases]
    key = hashlib.sha256(json.dumps(shape, default=str).encode()).hexdigest()
    if key not in _renders:
        _renders[key] = render_stack(run, kube)
    return _renders[key]


def chart_results(resources: list[Recorded], charts: StackRender | None = None,
                  render: bool = True) -> dict[str, Any]:
    """What each Release renders to, by URN (objects or RenderFailed), for objects.RENDERERS.rendered.

    `charts` (the plan's render) is used where it is current; otherwise, when `render`, the Releases are
    rendered here. A Release with no result is left out (helm-chart-renders then says nothing rendered it)."""
    from policy.rules.objects import RenderFailed

    from .render import render_key

    releases = [r for r in resources if r.type == RELEASE_TYPE]
    if not releases:
        return {}
    done = charts.by_urn() if charts is not None else {}
    if render and any(done.get(r.urn) is None or done[r.urn].inputs_key != render_key(r.inputs) for r in releases):
        done = _render(resources, charts.kube_version if charts is not None else kube_version(resources)).by_urn()
    out: dict[str, Any] = {}
    for r in releases:
        rel = done.get(r.urn)
        if rel is None or rel.inputs_key != render_key(r.inputs):
            continue
        out[r.urn] = (RenderFailed(rel.error, unavailable=rel.unavailable) if rel.error is not None
                      else [o.judged for o in rel.objects])
    return out


def evaluate(resources: Iterable[Recorded], pack_config: Mapping[str, Any] | None = None,
             policies: list | None = None, charts: StackRender | None = None,
             render_charts: bool = True) -> list[Verdict]:
    """Run every policy; `pack_config` has the `--policy-pack-config` JSON shape.

    Object rules judge each Release's chart objects: those of `charts` (the plan's render) where current, else
    rendered here unless `render_charts` is False (then helm-chart-renders reports the Releases as unjudged)."""
    from policy.rules.objects import RENDERERS
    from policy.rules.pack_config import check, message

    pack_config = pack_config or {}
    # A policy name or level the pack does not have is an error here too, not a silently skipped entry
    # (judged against the whole pack, so a caller that evaluates a subset may still configure the rest).
    problems = check(pack_config, load_policies())
    if problems:
        raise ValueError(message(problems))
    resources = list(resources)
    policies = load_policies() if policies is None else policies
    handed_over = RENDERERS.rendered
    RENDERERS.rendered = chart_results(resources, charts, render_charts)
    try:
        return _evaluate(resources, pack_config, policies)
    finally:
        RENDERERS.rendered = handed_over


def _evaluate(resources: list[Recorded], pack_config: Mapping[str, Any], policies: list) -> list[Verdict]:
    verdicts = []
    policy_resources = _stack_resources(resources)
    # What resource policies judge, unwrapped once per evaluation rather than once per policy (unwrapping every
    # object's inputs for each of the pack's resource policies was most of an evaluation's time). One copy per
    # resource shared by the policies, as the analyzer hands one deserialized copy of a resource to every policy.
    judged = [(r, unwrap(r.inputs), _opts(r)) for r in resources
              # helm.sh/v4:Chart registers as a component but carries its chart inputs.
              if not r.type.startswith("pulumi:providers:") and (r.custom or r.type == HELM_V4_CHART)]
    for policy in policies:
        verdict = Verdict(policy.name, policy.description, _level(policy, pack_config))
        if verdict.enforcement == "disabled":
            verdicts.append(verdict)
            continue
        config = _policy_config(policy, pack_config)

        def report(message: str, urn: str | None = None, _v: Verdict = verdict, _default: str | None = None):
            _v.violations.append(Violation(message, urn or _default))

        try:
            if isinstance(policy, ResourceValidationPolicy):
                for r, props, opts in judged:
                    args = ResourceValidationArgs(r.type, props, r.urn, r.name, opts, None, config)
                    _finish(policy.validate(args, lambda m, urn=None, _u=r.urn: report(m, urn or _u)))
            elif isinstance(policy, StackValidationPolicy):
                _finish(policy.validate(StackValidationArgs(policy_resources, config), report))
        except Exception as exc:
            if type(exc).__name__ == "_NotApplicableError":
                verdict.not_applicable = True
            else:
                verdict.violations.append(Violation(f"policy raised {type(exc).__name__}: {exc}"))
        verdicts.append(verdict)
    return verdicts


def _stack_resources(resources: list[Recorded]) -> list[PolicyResource]:
    by_urn: dict[str, PolicyResource] = {}
    for r in resources:
        props = unwrap({**r.inputs, **r.outputs}) if r.custom else unwrap(r.inputs)
        by_urn[r.urn] = PolicyResource(r.type, props, r.urn, r.name, _opts(r), None, None, [], {})
    for r in resources:
        pr = by_urn[r.urn]
        pr.parent = by_urn.get(r.parent) if r.parent else None
        pr.dependencies = [by_urn[d] for d in r.dependencies if d in by_urn]
    return list(by_urn.values())
