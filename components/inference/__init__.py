"""The inference gateway: its CRDs (crds.py), the Gateways, routes and the edge (gateway.py, edge.py), the
InferencePools and endpoint pickers (router.py)."""

from __future__ import annotations

from .crds import GATEWAY_BUNDLES, GatewayCrds, GatewayCrdsArgs, load_bundles

__all__ = ["GATEWAY_BUNDLES", "GatewayCrds", "GatewayCrdsArgs", "load_bundles"]
