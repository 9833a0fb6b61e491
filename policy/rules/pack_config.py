"""The pack config (`--policy-pack-config FILE`, `policy/config/<stack>.json`) checked against this pack.

A policy name the pack does not have (`gpu-budgte`) or a setting a policy does not read is taken
by the Pulumi CLI without a word (it only checks the enforcement levels and each known policy's
schema), so the gate a reviewer thinks is configured silently is not. `check()` names every such
entry with the likely intended one; the offline plan calls it on the file and the pack calls it on
what the engine sends to `Configure` (see `guard_configure`), so `pulumi preview` refuses it too.

Shape, as the CLI reads it: a JSON object mapping a policy name (or `all`, the level of every
policy) to a level string or to an object with an optional `enforcementLevel` and the policy's own
settings (`all` takes only the level). Levels are pulumi-policy's: advisory, mandatory, remediate
(reported as mandatory by a pack without remediations, such as this one) and disabled.

A policy named twice in the file (`duplicate_keys`) is an error of the offline plan too: every parser keeps
the last entry, so the engine never sees the first and only the text can show it.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import EnforcementLevel, Policy

LEVELS: tuple[str, ...] = tuple(level.value for level in EnforcementLevel)
"""advisory, mandatory, remediate, disabled."""

ALL = "all"


@dataclass(frozen=True)
class Problem:
    """One bad entry: the config key (policy name, or `policy.setting`) and what is wrong."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def _guess(word: str, choices: Iterable[str]) -> str:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {found[0]}?)" if found else ""


def _level_problem(key: str, level: Any) -> Problem | None:
    if isinstance(level, str) and level in LEVELS:
        return None
    return Problem(key, f"enforcement level {level!r} is not one of {', '.join(LEVELS)}"
                        + (_guess(level, LEVELS) if isinstance(level, str) else ""))


def check(config: Any, policies: Iterable[Policy]) -> list[Problem]:
    """Every problem of a pack config (parsed JSON) for these policies; [] when it is sound."""
    if not isinstance(config, Mapping):
        return [Problem("(top level)", "must be a JSON object mapping policy names to a level or an object")]
    by_name = {p.name: p for p in policies}
    problems: list[Problem] = []
    for name, value in config.items():
        policy = by_name.get(name)
        if name != ALL and policy is None:
            guess = _guess(name, by_name)
            problems.append(Problem(name, "no policy of this name in the pack"
                                    + (guess or f"; policies: {', '.join(by_name)} (or {ALL})")))
            continue
        if isinstance(value, str):
            problem = _level_problem(name, value)
            problems += [problem] if problem else []
            continue
        if not isinstance(value, Mapping):
            problems.append(Problem(name, f"must be a level ({', '.join(LEVELS)}) or an object, not {value!r}"))
            continue
        if "enforcementLevel" in value:
            problem = _level_problem(f"{name}.enforcementLevel", value["enforcementLevel"])
            problems += [problem] if problem else []
        settings = [k for k in value if k != "enforcementLevel"]
        schema = (policy.config_schema.properties or {}) if policy is not None and policy.config_schema else {}
        for setting in settings:
            if setting in schema:
                continue
            allowed = f"; its settings: {', '.join(schema)}" if schema else "; it has no settings"
            what = "`all` takes only enforcementLevel" if name == ALL else f"not a setting of {name}{allowed}"
            problems.append(Problem(f"{name}.{setting}", what + _guess(setting, schema)))
    return problems


def duplicate_keys(text: str) -> list[Problem]:
    """Keys a pack config file names twice (at the top level or inside one policy's object).

    JSON parsers keep the last value (Python's json, and Go's encoding/json in the Pulumi CLI), so
    `"gpu-budget": "mandatory"` followed further down by `"gpu-budget": "disabled"` turns the gate off while
    a reviewer reads the first line. The parsed config no longer shows it: this reads the text (JSON that
    does not parse has no duplicates to report; the caller reports the parse error).
    """
    problems: list[Problem] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, int] = {}
        for key, _ in items:
            seen[key] = seen.get(key, 0) + 1
        for key, count in seen.items():
            if count > 1:
                problems.append(Problem(key, f"named {count} times; only the last one counts (remove the others)"))
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return []
    return problems


def message(problems: Iterable[Problem]) -> str:
    problems = list(problems)
    return (f"invalid policy pack config ({len(problems)} problem(s)): "
            + "; ".join(str(p) for p in problems))


def guard_configure(policies: list[Policy]) -> None:
    """Make the pack's `Configure` refuse a config `check()` finds problems in (INVALID_ARGUMENT).

    `PolicyPack` keeps the config the engine sends to itself and hands each policy only its own
    entry, so no policy can see a misspelt name; the check has to sit where the whole config arrives.
    pulumi-policy is pinned (policy/requirements.txt) and tests/policy/test_pack.py drives this over
    real gRPC, so a change of that private class fails a test rather than the gate.
    """
    import grpc
    import pulumi_policy.policy as pulumi_policy_module
    from google.protobuf import json_format
    from pulumi.runtime.proto import analyzer_pb2

    servicer = pulumi_policy_module._PolicyAnalyzerServicer
    if getattr(servicer.Configure, "_ai_platform_checked", False):
        return
    original = servicer.Configure
    names = {analyzer_pb2.ADVISORY: "advisory", analyzer_pb2.MANDATORY: "mandatory",
             analyzer_pb2.REMEDIATE: "remediate", analyzer_pb2.DISABLED: "disabled"}

    def configure(self, request, context):
        config = {}
        for name, entry in request.policyConfig.items():
            config[name] = {"enforcementLevel": names.get(entry.enforcementLevel, str(entry.enforcementLevel)),
                            **json_format.MessageToDict(entry.properties)}
        problems = check(config, policies)
        if problems:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, message(problems))
        return original(self, request, context)

    configure._ai_platform_checked = True  # type: ignore[attr-defined]
    servicer.Configure = configure


__all__ = ["ALL", "LEVELS", "Problem", "check", "duplicate_keys", "guard_configure", "message"]
