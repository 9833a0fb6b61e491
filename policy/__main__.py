"""Entry point of the CrossGuard pack: `pulumi preview --policy-pack policy` runs this file.

Pulumi starts `python -u -m pulumi.policy <engine> .` in this directory, which runs this file as
`__main__` with this directory on sys.path, so the rules import as the package `rules`.
PolicyPack() serves the analyzer over gRPC and never returns: nothing else belongs here. Importing
`rules.preview` installs the chart renderer, so every rule sees each Helm Release's rendered objects.
"""

import rules.preview  # noqa: F401  (installs the chart renderer: policy/rules/charts.py)
from pulumi_policy import EnforcementLevel, PolicyPack
from rules import ALL_POLICIES

PolicyPack(name="ai-platform", enforcement_level=EnforcementLevel.MANDATORY, policies=ALL_POLICIES)
