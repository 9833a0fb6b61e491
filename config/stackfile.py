"""Reading `Pulumi.<stack>.yaml` the way Pulumi does, minus what Pulumi lets pass silently.

Pulumi reads stack files with a YAML decoder that keeps the last of two equal keys, at any depth,
without a word; `parse()` refuses them, naming the key path and both line numbers. A key without a
namespace (`budget:`) is what Pulumi rewrites to `<project>:budget` (LoadProjectStackBytes), and
`<ns>:config:<name>` is its legacy spelling of `<ns>:<name>` (config.ParseKey), so those forms
count as the same key. Used by the offline plan (tools/mockrun) on the file it reads, and by
`loader.load()` on the file next to the program under `pulumi up`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import PROJECT, ConfigError, Issue


def config_key(key: str, project: str = PROJECT) -> str:
    """A stack file's config key in the form the engine hands the program (`<namespace>:<name>`)."""
    parts = key.split(":")
    if len(parts) == 1:
        return f"{project}:{key}"
    if len(parts) == 3 and parts[1] == "config":
        return f"{parts[0]}:{parts[2]}"
    return key


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    return {list: "a list", str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def duplicate_keys(text: str) -> list[Issue]:
    """Every key that appears twice in one mapping, at any depth (config keys compared as Pulumi reads them)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    issues: list[Issue] = []

    def walk(node: yaml.Node, path: str, top_config: bool) -> None:
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, f"{path}[{index}]", False)
        if not isinstance(node, yaml.MappingNode):
            return
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = config_key(key_node.value) if top_config else key_node.value
            where = key if top_config or not path else f"{path}.{key}"
            line = key_node.start_mark.line + 1
            if key in seen:
                issues.append(Issue(where, f"duplicate key (lines {seen[key]} and {line}); YAML would keep the last "
                                           "one"))
            else:
                seen[key] = line
            walk(value_node, where, path == "" and key == "config" and not top_config)

    if root is not None:
        walk(root, "", False)
    return issues


def parse(text: str, file_name: str) -> dict[str, Any]:
    """The stack file's `config:` mapping. Raises ConfigError (duplicates, wrong shape) or yaml.YAMLError."""
    issues = duplicate_keys(text)
    if issues:
        raise ConfigError(file_name, issues)
    data = yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(file_name, [Issue("(top level)", "the top level must be a mapping (with a `config:` key), "
                                                           f"not {_kind(data)}")])
    config = data.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(file_name, [Issue("config", "`config:` must be a mapping of keys to values, not "
                                                      f"{_kind(config)}")])
    return config


@lru_cache(maxsize=16)
def _issues_of(path: str, _mtime_ns: int, _size: int) -> tuple[Issue, ...]:
    try:
        parse(Path(path).read_text(), Path(path).name)
    except ConfigError as exc:
        return exc.issues
    except yaml.YAMLError:
        return ()  # the CLI itself refuses a file it cannot parse, with the position
    return ()


def file_issues(path: Path) -> list[Issue]:
    """Problems of the stack file at `path` (none when it does not exist or cannot be read)."""
    try:
        stat = os.stat(path)
    except OSError:
        return []
    try:
        return list(_issues_of(str(path), stat.st_mtime_ns, stat.st_size))
    except (OSError, UnicodeDecodeError):
        return []


def read(path: Path) -> dict[str, Any]:
    """`parse()` of a file (OSError and UnicodeDecodeError propagate to the caller)."""
    return parse(path.read_text(), path.name)


__all__ = ["config_key", "duplicate_keys", "file_issues", "parse", "read"]
