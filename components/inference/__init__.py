"""The inference gateway (issue 18): its CRDs, the mesh gateways, routes, InferencePools and endpoint pickers."""

from __future__ import annotations

from .crds import GATEWAY_BUNDLES, GatewayCrds, GatewayCrdsArgs, load_bundles

__all__ = ["GATEWAY_BUNDLES", "GatewayCrds", "GatewayCrdsArgs", "load_bundles"]
