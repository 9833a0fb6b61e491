"""Fingerprints of what each shipped stack records: the guard for behaviour-preserving refactors.

    python -m tools.fingerprint            # print each stack's fingerprint and whether it matches
    python -m tools.fingerprint --update   # record the current fingerprints (after an intended change)

A fingerprint is the sha256 of every recorded resource (URN, type, parent, custom, inputs with
secrets redacted, dependencies, provider, protect, ignoreChanges, deleteBeforeReplace) in a
canonical form: sorted by URN, keys sorted, numbers as the engine sends them. Registration order
varies from run to run (outputs resolve concurrently), so order is not part of it.
`tests/test_fingerprints.py` fails when a stack's resources change and the recorded fingerprint
was not updated: a refactor must leave every fingerprint as it was; a change of behaviour updates
them in the same commit, where the reviewer sees it (and `tools.plan --diff` shows what changed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from . import mockrun

RECORDED = mockrun.ROOT / "tests" / "fingerprints.json"


def canonical(resources: list[mockrun.Recorded]) -> list[dict[str, Any]]:
    """Every recorded resource as plain data, sorted by URN, secrets redacted."""
    return sorted(({
        "urn": r.urn, "type": r.type, "parent": r.parent, "custom": r.custom,
        "inputs": mockrun.redact(r.inputs), "dependencies": sorted(r.dependencies),
        "provider": r.provider, "protect": r.protect, "ignoreChanges": sorted(r.ignore_changes),
        "deleteBeforeReplace": r.delete_before_replace,
    } for r in resources), key=lambda x: x["urn"])


def of(result: mockrun.RunResult) -> dict[str, Any]:
    """`{"resources": count, "sha256": digest}` of a run's recorded resources."""
    blob = json.dumps(canonical(result.resources), sort_keys=True, separators=(",", ":"), default=str)
    return {"resources": len(result.resources), "sha256": hashlib.sha256(blob.encode()).hexdigest()}


def recorded(path: Path = RECORDED) -> dict[str, dict[str, Any]]:
    return json.loads(path.read_text()) if path.exists() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fingerprint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--update", action="store_true", help=f"write the current fingerprints to {RECORDED.name}")
    args = parser.parse_args(argv)
    current = {}
    for stack in mockrun.available_stacks():
        result = mockrun.run_program(stack)
        if result.error is not None:
            print(f"error: stack {stack} does not plan: {result.error}", file=sys.stderr)
            return 2
        current[stack] = of(result)
    known = recorded()
    for stack, fp in current.items():
        state = "same" if known.get(stack) == fp else "CHANGED" if stack in known else "new"
        print(f"{stack:<8} {fp['resources']:>4} resources  {fp['sha256'][:16]}  {state}")
    if args.update:
        RECORDED.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n")
        print(f"recorded in {RECORDED.relative_to(mockrun.ROOT)}")
        return 0
    return 0 if all(known.get(s) == fp for s, fp in current.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
