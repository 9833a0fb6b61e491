"""The Helm binary that renders charts: policy/rules/helmbin.py, under its historic name.

    python -m tools.helmbin            # prints the path of the binary (fetching it once if needed)

The module lives in the policy pack (which renders charts under `pulumi preview` without tools/); this
name is the same module object, so `tools.helmbin.X` and `policy.rules.helmbin.X` are one attribute.
"""

from __future__ import annotations

import sys

from policy.rules import helmbin as _helmbin

if __name__ == "__main__":
    sys.exit(_helmbin.main())
else:
    sys.modules[__name__] = _helmbin
