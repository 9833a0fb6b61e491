"""Imported by policy/__main__.py only: under `pulumi preview --policy-pack policy` the pack renders each Helm
Release itself (policy/rules/charts.py). Tests and the offline plan import `policy.rules` without this module:
there tools.policy_eval hands the plan's own render over instead, so nothing renders twice.
"""

from __future__ import annotations

from .charts import install

install()
