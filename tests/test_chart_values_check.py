"""The shared chart-values check rejects unknown keys, wrong types and undeclared keys."""

from __future__ import annotations

import pytest

from tests.chart_values import FREE, check_values, leaf_paths

ALLOWED = {"replicas": 1, "image.tag": "", "resources": FREE, "labels": {}}


def test_known_keys_of_the_upstream_type_pass_and_are_reported_as_seen():
    values = {"replicas": 3, "image": {"tag": "v1"}, "resources": {"limits": {"cpu": "1"}}, "labels": {"a": "b"}}
    assert check_values("c", "1.0", values, ALLOWED, free_keys=("resources", "labels")) == set(ALLOWED)


@pytest.mark.parametrize("values, message", [
    ({"replica": 3}, "replica is not a key of c 1.0 values.yaml"),
    ({"replicas": "3"}, "c replicas: str vs upstream 1"),
    ({"image": {"tag": 1}}, "c image.tag: int vs upstream ''"),
    ({"resources": {"limits": {}}}, "resources.limits is not a key"),  # not declared free here
])
def test_misspelt_or_mistyped_values_fail(values, message):
    with pytest.raises(AssertionError, match=message.replace(".", r"\.")):
        check_values("c", "1.0", values, ALLOWED)


def test_undeclared_keys_fail_even_when_allowed():
    with pytest.raises(AssertionError, match="not declared"):
        check_values("c", "1.0", {"replicas": 2}, ALLOWED, undeclared={"replicas"})


def test_free_paths_and_empty_maps_are_leaves():
    assert list(leaf_paths({"a": {"b": {}}, "c": {"d": 1}}, free_paths={"c"})) == [("a.b", {}), ("c", {"d": 1})]
