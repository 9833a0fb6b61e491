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


# ------------------------------------------------------------------------- links in the docs

DOCS = [mockrun.ROOT / "README.md", *sorted((mockrun.ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _prose(text: str) -> str:
    """The Markdown outside fenced code blocks and inline code spans (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path) -> set[str]:
    """Every heading anchor of a Markdown file, numbered as GitHub numbers duplicates (-1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for line in re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M).splitlines():
        match = re.match(r"^#{1,6} (.+?)#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            out.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return out


def test_anchor_slugs_follow_github():
    assert _slug("The real path: `pulumi preview` and `pulumi up`") == "the-real-path-pulumi-preview-and-pulumi-up"
    assert _slug("Quick start (no cloud, no cluster, no Pulumi CLI needed)") == (
        "quick-start-no-cloud-no-cluster-no-pulumi-cli-needed")
    assert _slug("Strict validation: `tools.validate`") == "strict-validation-toolsvalidate"


def test_docs_folder_exists_and_is_linked_from_the_readme():
    readme = (mockrun.ROOT / "README.md").read_text()
    pages = DOCS[1:]
    assert pages, "docs/*.md"
    unlinked = [p.name for p in pages if f"](docs/{p.name}" not in readme]
    assert not unlinked, f"README's docs map does not link {unlinked}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(mockrun.ROOT)))
def test_every_relative_link_and_anchor_resolves(doc):
    problems = []
    for target in LINK.findall(_prose(doc.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...: not relative
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"{target}: no file {file}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{target}: no heading #{anchor} in {file.name}")
        elif anchor and file.suffix != ".md":
            problems.append(f"{target}: an anchor into a file that is not Markdown")
    assert not problems, f"{doc.name}: broken links:\n" + "\n".join(problems)
