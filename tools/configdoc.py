"""Generate the config reference in docs/configuration.md from config.models (so it cannot drift).

    python -m tools.configdoc          # rewrite the block between the markers in docs/configuration.md
    python -m tools.configdoc --check  # exit 1 if docs/configuration.md is stale
"""

from __future__ import annotations

import sys
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from config.models import StackConfig

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC = ROOT / "docs" / "configuration.md"
"""The page that holds the generated reference between START and END."""
START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is Union or str(origin) == "typing.Union" or (origin is not None and origin.__name__ == "UnionType"):
        inner = [a for a in args if a is not type(None)]
        if len(inner) > 1 and all(isinstance(a, type) and issubclass(a, BaseModel) for a in inner):
            return "object (by `strategy`)"
        return " \\| ".join(_type(a) for a in inner)
    if origin is typing.Annotated or (args and hasattr(annotation, "__metadata__")):
        return _type(args[0])
    if origin in (tuple, list):
        return f"list of {_type(args[0])}"
    if origin is dict:
        return f"map of {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    return getattr(annotation, "__name__", str(annotation))


def _default(field) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "(defaults below)" if value.model_dump() else "–"
        return f"`{value!r}`" if value else "–"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "–"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for a in typing.get_args(annotation):
        out += _models_in(a)
    return out


def rows(model: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}" if prefix.endswith(":") else f"{prefix}.{key}"
        doc = (field.description or "").replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{path}` | {_type(field.annotation)} | {_default(field)} | {doc} |")
        nested = _models_in(field.annotation)
        origin = typing.get_origin(field.annotation)
        suffix = "[]" if origin is tuple else ".<name>" if origin is dict else ""
        for sub in nested:
            label = ""
            if len(nested) > 1 and "strategy" in sub.model_fields:
                label = f"({typing.get_args(sub.model_fields['strategy'].annotation)[0]})"
            sub_prefix = f"{path}{suffix}{label}"
            out += [r for r in rows(sub, sub_prefix) if not r.startswith(f"| `{sub_prefix}.strategy`") or not label]
    return out


def render() -> str:
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    lines += rows(StackConfig, "ai-platform:")
    lines.append("| `ai-platform:hfToken` | secret string | – | Hugging Face token for gated models; "
                 "`pulumi config set --secret ai-platform:hfToken <token>` (plain values are rejected). |")
    lines.append("| `ai-platform:alertingSecret` | secret string | – | Slack webhook URL, PagerDuty integration key or "
                 "webhook URL of `observability.alerting.receiver`; `pulumi config set --secret "
                 "ai-platform:alertingSecret <value>` (required with a receiver; plain values are rejected). |")
    return "\n".join(lines)


def main() -> int:
    text = DOC.read_text()
    if START not in text or END not in text:
        print(f"{DOC.relative_to(ROOT)} has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = f"{head}{START}\n{render()}\n{END}{tail}"
    if "--check" in sys.argv:
        if new != text:
            print(f"{DOC.relative_to(ROOT)} config reference is stale: run python -m tools.configdoc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    print(f"{DOC.relative_to(ROOT)} config reference updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
