"""Every shipped stack records exactly the resources fingerprinted in tests/fingerprints.json.

A refactor leaves the fingerprints as they are. A change of behaviour updates them in the same
commit (`python -m tools.fingerprint --update`), so the review sees that resources changed;
`python -m tools.plan --stack <s> --diff <ref>` shows which.
"""

from __future__ import annotations

import copy

import pytest

from tests.conftest import STACKS, run_stack
from tools import fingerprint


def test_every_shipped_stack_is_fingerprinted():
    assert sorted(fingerprint.recorded()) == STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_recorded_resources_match_the_fingerprint(stack):
    current = fingerprint.of(run_stack(stack))
    assert current == fingerprint.recorded().get(stack), (
        f"stack {stack}'s recorded resources changed ({current}); if intended, run "
        "`python -m tools.fingerprint --update` and commit tests/fingerprints.json with the change")


def test_fingerprint_sees_an_input_change_and_ignores_registration_order():
    result = run_stack("dev")
    before = fingerprint.of(result)
    shuffled = copy.copy(result)
    shuffled.resources = list(reversed(result.resources))
    assert fingerprint.of(shuffled) == before
    changed = copy.copy(result)
    changed.resources = [copy.deepcopy(r) for r in result.resources]
    deployment = next(r for r in changed.resources if r.type == "kubernetes:apps/v1:Deployment")
    deployment.inputs["spec"]["replicas"] = 99
    assert fingerprint.of(changed)["sha256"] != before["sha256"]
