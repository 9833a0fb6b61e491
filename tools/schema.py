"""Write config/stack.schema.json: the JSON Schema of Pulumi.<stack>.yaml, generated from config.models.

    python -m tools.schema          # regenerate
    python -m tools.schema --check  # exit 1 if the committed file is stale

Editors with the YAML language server validate stack files with it (see the first line of each
Pulumi.<stack>.yaml); tests keep it in sync with the pydantic models.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from config.models import StackConfig

PATH = Path(__file__).resolve().parent.parent / "config" / "stack.schema.json"


def build() -> dict:
    inner = StackConfig.model_json_schema(by_alias=True, mode="validation")
    defs = inner.pop("$defs", {})
    props = {f"ai-platform:{k}": v for k, v in inner["properties"].items()}
    props["ai-platform:hfToken"] = {
        "type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
        "additionalProperties": False,
        "description": "Hugging Face token; set with `pulumi config set --secret ai-platform:hfToken <token>`.",
    }
    props["ai-platform:alertingSecret"] = {
        "type": "object", "properties": {"secure": {"type": "string"}}, "required": ["secure"],
        "additionalProperties": False,
        "description": "Alert receiver URL or key; set with `pulumi config set --secret ai-platform:alertingSecret "
                       "<value>`.",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ai-platform stack file (Pulumi.<stack>.yaml)",
        "type": "object",
        "properties": {
            "config": {
                "type": "object",
                "properties": props,
                "required": [f"ai-platform:{k}" for k in inner.get("required", [])],
                "patternProperties": {"^(?!ai-platform:)[^:]+:.+$": {}},
                "additionalProperties": False,
            },
            "encryptionsalt": {"type": "string"},
            "secretsprovider": {"type": "string"},
            "encryptedkey": {"type": "string"},
            "environment": {},
        },
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not PATH.exists() or PATH.read_text() != text:
            print(f"{PATH} is stale: run python -m tools.schema", file=sys.stderr)
            return 1
        return 0
    PATH.write_text(text)
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
