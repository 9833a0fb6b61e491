"""Every Kubernetes object a shipped stack would create, as the pack's object policies see them: the program's
own (from the mock run) and every object each Release's chart renders (all hooks included: an upgrade or
delete hook's pod runs too). Chart rendering skips locally (fails in CI) without Helm and the locked charts."""

from __future__ import annotations

import json
from functools import cache

from policy.rules.objects import KubeObject
from tests.render.conftest import rendered
from tests.render.objects import program_objects
from tools import mockrun


@cache
def _objects(stack: str) -> tuple[KubeObject, ...]:
    found = [KubeObject(o, "program") for o in program_objects(stack)]
    for release in rendered(stack).releases:
        assert release.error is None, release.error
        found += [KubeObject(o.manifest, f"chart:{release.release}", release.namespace) for o in release.objects]
    return tuple(found)


def stack_objects(stack: str) -> tuple[KubeObject, ...]:
    rendered(stack)  # skips (or fails in CI) without charts
    return _objects(stack)


def policy_config(stack: str, policy: str) -> dict:
    """The policy's settings in policy/config/<stack>.json ({} when it only sets a level)."""
    config = json.loads((mockrun.ROOT / "policy" / "config" / f"{stack}.json").read_text()).get(policy)
    return config if isinstance(config, dict) else {}
