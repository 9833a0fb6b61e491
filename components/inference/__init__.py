"""The inference gateway: Gateways, routes and the edge (gateway.py, edge.py)."""
