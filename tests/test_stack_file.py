"""Mistakes in a stack file that used to pass silently: foreign config namespaces and duplicate keys.

Both are refused by `config.loader.load()` itself, so `pulumi up` refuses them as the offline plan does.
"""

from __future__ import annotations

import textwrap

import pytest

from config import ConfigError, stackfile
from config.loader import namespace_issues
from tools import mockrun

from .conftest import run_config, stack_values

# ------------------------------------------------------------------------------ namespaces


def test_foreign_namespaces_are_named_with_the_intended_key():
    issues = {i.path: i.message for i in namespace_issues(
        ["ai-platfrom:budget", "gpc:project", "ai-platform:budget", "gcp:project", "aws:region",
         "kubernetes:context", "pulumi:tags", "random:x", "tls:proxy", "foo:serving"])}
    assert set(issues) == {"ai-platfrom:budget", "gpc:project", "foo:serving"}
    assert "did you mean ai-platform:budget" in issues["ai-platfrom:budget"]
    assert "did you mean gcp:project" in issues["gpc:project"]
    assert "did you mean ai-platform:serving" in issues["foo:serving"]


def test_misspelt_namespace_fails_the_program_before_any_resource():
    values = stack_values("dev")
    values["ai-platfrom:budget"] = {"maxGpus": 1}
    result = run_config(values, stack="dev")
    assert isinstance(result.error, ConfigError), result.error
    assert "ai-platfrom:budget: unknown config namespace 'ai-platfrom'" in str(result.error)
    assert "did you mean ai-platform:budget" in str(result.error)
    assert result.resources == []


def test_provider_namespaces_are_accepted():
    values = stack_values("dev")
    values["gcp:project"] = "acme-dev"
    values["kubernetes:enableServerSideApply"] = "true"
    result = run_config(values, stack="dev")
    assert result.error is None, result.error


def test_unknown_project_key_names_the_likely_one():
    values = stack_values("dev")
    values["budgte"] = {"maxGpus": 1}
    result = run_config(values, stack="dev")
    assert isinstance(result.error, ConfigError)
    assert "ai-platform:budgte: unknown key (did you mean budget?)" in str(result.error)


def test_bare_key_is_a_project_key_as_pulumi_reads_it(tmp_path):
    # Pulumi's LoadProjectStackBytes rewrites `budget:` in a stack file to `<project>:budget`.
    text = (mockrun.ROOT / "Pulumi.dev.yaml").read_text().replace("ai-platform:budget:", "budget:")
    assert "\n  budget:" in text
    path = tmp_path / "Pulumi.bare.yaml"
    path.write_text(text)
    values, _ = mockrun.stack_config("bare", tmp_path)
    assert values["budget"] == stack_values("dev")["budget"]


# ------------------------------------------------------------------------------ duplicates


def test_duplicate_keys_at_any_depth_name_the_key_and_both_lines():
    text = textwrap.dedent("""\
        config:
          ai-platform:budget:
            maxGpus: 8
            maxGpus: 16
          ai-platform:nodePools:
            system: {machineType: e2-standard-8, min: 1, max: 2, min: 3}
          ai-platform:budget: {maxGpus: 4}
        """)
    issues = [str(i) for i in stackfile.duplicate_keys(text)]
    assert "ai-platform:budget.maxGpus: duplicate key (lines 3 and 4); YAML would keep the last one" in issues
    assert "ai-platform:nodePools.system.min: duplicate key (lines 6 and 6); YAML would keep the last one" in issues
    assert "ai-platform:budget: duplicate key (lines 2 and 7); YAML would keep the last one" in issues
    assert len(issues) == 3


def test_bare_and_namespaced_forms_of_one_key_are_duplicates():
    text = "config:\n  budget: {maxGpus: 1}\n  ai-platform:budget: {maxGpus: 2}\n  ai-platform:config:budget: 3\n"
    issues = [str(i) for i in stackfile.duplicate_keys(text)]
    assert issues == ["ai-platform:budget: duplicate key (lines 2 and 3); YAML would keep the last one",
                      "ai-platform:budget: duplicate key (lines 2 and 4); YAML would keep the last one"]


def test_shipped_stack_files_have_no_duplicates():
    for stack in mockrun.available_stacks():
        assert stackfile.duplicate_keys(mockrun.stack_file(stack).read_text()) == []


@pytest.mark.parametrize("text,message", [
    ("- a\n- b\n", "the top level must be a mapping (with a `config:` key), not a list"),
    ("config: [a, b]\n", "`config:` must be a mapping of keys to values, not a list"),
    ("config: 3\n", "`config:` must be a mapping of keys to values, not an integer"),
])
def test_stack_file_shape_is_checked(text, message):
    with pytest.raises(ConfigError) as info:
        stackfile.parse(text, "Pulumi.x.yaml")
    assert message in str(info.value) and "Pulumi.x.yaml" in str(info.value)


def test_stack_config_refuses_duplicates(tmp_path):
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text((mockrun.ROOT / "Pulumi.dev.yaml").read_text() + "  ai-platform:budget: {maxGpus: 1}\n")
    with pytest.raises(ConfigError) as info:
        mockrun.stack_config("dup", tmp_path)
    assert "ai-platform:budget: duplicate key (lines" in str(info.value)


def test_program_refuses_duplicates_in_its_own_stack_file(tmp_path, monkeypatch):
    """Under `pulumi up` the engine hands over the merged config; the program reads its stack file itself."""
    text = (mockrun.ROOT / "Pulumi.dev.yaml").read_text() + "  ai-platform:budget: {maxGpus: 1}\n"
    (tmp_path / "Pulumi.dupe.yaml").write_text(text)
    values = stack_values("dev")
    monkeypatch.chdir(tmp_path)
    result = mockrun.run_program("dupe", values, [])
    assert isinstance(result.error, ConfigError), result.error
    assert "invalid stack configuration in Pulumi.dupe.yaml" in str(result.error)
    assert "ai-platform:budget: duplicate key (lines" in str(result.error)
    assert result.resources == []


def test_program_runs_without_a_stack_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = mockrun.run_program("nofile", stack_values("local"), [])
    assert result.error is None, result.error
