"""A pack config naming a policy, level or setting the pack does not have is refused, not ignored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from policy.rules import ALL_POLICIES
from policy.rules.pack_config import LEVELS, check
from tools.policy_eval import PackConfigError, evaluate, load_pack_config

PACK = Path(__file__).resolve().parents[2] / "policy"


def problems(config) -> dict[str, str]:
    return {p.key: p.message for p in check(config, ALL_POLICIES)}


def test_levels_are_pulumi_policys():
    assert LEVELS == ("advisory", "mandatory", "remediate", "disabled")


@pytest.mark.parametrize("path", sorted((PACK / "config").glob("*.json")), ids=lambda p: p.name)
def test_shipped_configs_are_sound(path):
    assert problems(json.loads(path.read_text())) == {}


def test_unknown_policy_names_the_likely_one():
    found = problems({"gpu-budgte": "advisory", "all": "mandatory"})
    assert list(found) == ["gpu-budgte"]
    assert "no policy of this name in the pack (did you mean gpu-budget?)" in found["gpu-budgte"]


def test_unknown_levels_and_settings():
    found = problems({
        "gpu-budget": "advsory",
        "cost-budget": {"enforcementLevel": "strict", "maxMonthlyUsd": 10},
        "image-pinned": {"enforcementLevel": 1},
        "helm-chart-pinned": {"allowedLocalChart": []},
        "no-host-access": 3,
        "ingress-tls": {"foo": 1},
        "all": {"enforcementLevel": "mandatory", "maxGpus": 3},
    })
    assert found["gpu-budget"].startswith("enforcement level 'advsory' is not one of advisory, mandatory, remediate, "
                                          "disabled")
    assert "did you mean advisory?" in found["gpu-budget"]
    assert "'strict' is not one of" in found["cost-budget.enforcementLevel"]
    assert "1 is not one of" in found["image-pinned.enforcementLevel"]
    assert "not a setting of helm-chart-pinned; its settings: allowedLocalCharts (did you mean allowedLocalCharts?)" \
        == found["helm-chart-pinned.allowedLocalChart"]
    assert found["no-host-access"].startswith("must be a level")
    assert found["ingress-tls.foo"] == "not a setting of ingress-tls; it has no settings"
    assert found["all.maxGpus"] == "`all` takes only enforcementLevel"
    assert len(found) == 7


def test_top_level_must_be_an_object():
    assert problems(["gpu-budget"]) == {"(top level)": "must be a JSON object mapping policy names to a level or an "
                                                       "object"}


def test_load_pack_config_refuses_bad_files(tmp_path):
    cases = {"missing.json": None, "bad.json": "{not json", "unknown.json": '{"gpu-budgte": "disabled"}',
             "schema.json": '{"gpu-budget": {"maxGpus": "8"}}'}
    messages = {}
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
        with pytest.raises(PackConfigError) as info:
            load_pack_config(tmp_path / name)
        messages[name] = str(info.value)
    assert "missing.json: cannot read" in messages["missing.json"]
    assert "bad.json: not JSON" in messages["bad.json"]
    assert "gpu-budgte: no policy of this name" in messages["unknown.json"]
    assert "gpu-budget.maxGpus: '8' is not of type 'integer'" in messages["schema.json"]
    assert all("\n" not in m for m in messages.values())


def test_disabled_policies_are_skipped_and_remediate_blocks():
    from policy.rules import POLICIES_BY_NAME
    from tools.mockrun import Recorded

    pool = Recorded("urn:pulumi:s::p::gcp:container/nodePool:NodePool::l4", "gcp:container/nodePool:NodePool", "l4",
                    None, True, {"name": "l4",
                                 "nodeConfig": {"machineType": "g2-standard-8",
                                                "guestAccelerators": [{"type": "nvidia-l4", "count": 1}]}},
                    [], None, False, [])
    policies = [POLICIES_BY_NAME["gpu-node-pool-tainted"]]
    disabled, = evaluate([pool], {"gpu-node-pool-tainted": "disabled"}, policies)
    assert disabled.skipped and not disabled.passed and not disabled.blocking
    remediate, = evaluate([pool], {"gpu-node-pool-tainted": "remediate"}, policies)
    assert remediate.violations and remediate.blocking  # pulumi-policy reports remediate as mandatory


def test_a_policy_named_twice_is_refused(tmp_path):
    """The second entry silently wins in every JSON parser (the CLI's too): the file is refused instead."""
    from policy.rules.pack_config import duplicate_keys

    text = ('{"gpu-budget": "mandatory", "ingress-tls": "mandatory",\n'
            ' "image-pinned": {"enforcementLevel": "mandatory", "enforcementLevel": "disabled"},\n'
            ' "gpu-budget": "disabled"}')
    assert {p.key: p.message for p in duplicate_keys(text)} == {
        "gpu-budget": "named 2 times; only the last one counts (remove the others)",
        "enforcementLevel": "named 2 times; only the last one counts (remove the others)"}
    assert duplicate_keys("{not json") == [] and duplicate_keys('{"gpu-budget": "mandatory"}') == []
    (tmp_path / "twice.json").write_text(text)
    with pytest.raises(PackConfigError) as info:
        load_pack_config(tmp_path / "twice.json")
    assert "gpu-budget: named 2 times" in str(info.value)


@pytest.mark.parametrize("path", sorted((PACK / "config").glob("*.json")), ids=lambda p: p.name)
def test_shipped_configs_load_as_the_plan_reads_them(path):
    assert load_pack_config(path) == json.loads(path.read_text())


def test_evaluate_refuses_unknown_names_and_levels():
    with pytest.raises(ValueError, match="gpu-budgte: no policy of this name"):
        evaluate([], {"gpu-budgte": "disabled"})
    with pytest.raises(ValueError, match="enforcement level 'blocking'"):
        evaluate([], {"iam-least-privilege": "blocking"})
    assert evaluate([], {"iam-least-privilege": "mandatory"})
