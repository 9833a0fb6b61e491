"""Generated docs stay in sync, and the stack files satisfy the generated JSON Schema."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from tools import configdoc, mockrun, schema


def test_json_schema_is_current():
    assert schema.PATH.read_text() == schema.render(), "run: python -m tools.schema"


def test_config_reference_is_current():
    text = configdoc.DOC.read_text()
    assert text.count(configdoc.START) == 1 and text.count(configdoc.END) == 1, "one generated block"
    block = text.split(configdoc.START)[1].split(configdoc.END)[0].strip()
    assert block == configdoc.render(), "run: python -m tools.configdoc"


@pytest.mark.parametrize("stack", mockrun.available_stacks())
def test_stack_files_validate_against_schema(stack):
    data = yaml.safe_load(mockrun.stack_file(stack).read_text())
    jsonschema.validate(data, json.loads(schema.PATH.read_text()))


def test_schema_rejects_unknown_keys():
    data = yaml.safe_load(mockrun.stack_file("dev").read_text())
    data["config"]["ai-platform:nodePools"]["gpu"][0]["gpuz"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(schema.PATH.read_text()))


def test_readme_commands_are_the_ones_ci_runs():
    readme = configdoc.README.read_text()
    ci = (mockrun.ROOT / ".ci" / "run").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    setup, tests = blocks[0].strip(), blocks[1].strip()
    assert "pip install -q -r requirements-dev.txt" in setup and "tools.plan --stack local" in setup
    assert tests == ".venv/bin/python -m pytest"
    assert "-r requirements-dev.txt" in ci and ci.strip().endswith(".venv/bin/python -m pytest")


def test_every_dependency_is_pinned():
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (mockrun.ROOT / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                # An exact version may carry a PEP 440 epoch (grafana-foundation-sdk==1769699379!11.6.0).
                assert re.match(r"^[A-Za-z0-9_.-]+==([0-9]+!)?[0-9][0-9a-z.]*$", line), f"{name}: unpinned {line!r}"

