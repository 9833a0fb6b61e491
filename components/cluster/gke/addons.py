"""GKE add-ons: set on the cluster (`addons_config`), not separate resources."""

from __future__ import annotations

import pulumi_gcp as gcp


def addons_config(shared_file_system: bool) -> gcp.container.ClusterAddonsConfigArgs | None:
    """The Filestore CSI driver (GKE then provides the standard-rwx class), only for ReadWriteMany model caches;
    None leaves GKE's defaults."""
    if not shared_file_system:
        return None
    return gcp.container.ClusterAddonsConfigArgs(
        gcp_filestore_csi_driver_config=gcp.container.ClusterAddonsConfigGcpFilestoreCsiDriverConfigArgs(enabled=True),
    )
