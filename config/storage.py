"""Which StorageClass the model caches use, and whether the cluster must provide a shared file system.

A ReadWriteMany model cache needs a file system every node can mount. When the config asks for
one without naming a class, the cluster component provides it: on EKS an encrypted EFS file
system (elastic throughput) with a mount target per node subnet, the `aws-efs-csi-driver` add-on
and the StorageClass `ai-platform-rwx` (one EFS access point per claim, owned by the model
servers' UID); on GKE the Filestore CSI driver add-on, whose `standard-rwx` class GKE creates
itself. Existing clusters must name their class (`serving.storageClass`).
"""

from __future__ import annotations

from .models import StackConfig

EFS_STORAGE_CLASS = "ai-platform-rwx"
FILESTORE_STORAGE_CLASS = "standard-rwx"
RWX_CLASSES = {"eks": EFS_STORAGE_CLASS, "gke": FILESTORE_STORAGE_CLASS}


def needs_shared_file_system(cfg: StackConfig) -> bool:
    """The cluster component must provide the ReadWriteMany class of the model caches."""
    serving = cfg.serving
    return (serving.cache_access_mode == "ReadWriteMany" and serving.storage_class is None
            and cfg.cluster.provider in RWX_CLASSES)


def model_cache_storage_class(cfg: StackConfig) -> str | None:
    """StorageClass of the model-cache claims (None: the cluster's default class)."""
    serving = cfg.serving
    if serving.storage_class is not None:
        return serving.storage_class
    if serving.cache_access_mode == "ReadWriteMany":
        return RWX_CLASSES.get(cfg.cluster.provider)
    return None
