"""The inference gateway's components (issue 18): Gateway API CRDs, the mesh, the Gateways and routes, and the
InferencePools with their endpoint pickers (router.py)."""
