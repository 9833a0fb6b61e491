"""Cache: Redis (chart redis-ha 4.39.0, official Redis image) as the gateway's semantic cache.

Auth is always on (`requirepass` from the generated `redis-auth` Secret; the exporter sidecar reads
the same Secret). That `default` user serves the chart's machinery and operators; the gateway has its own
ACL user `ai-gateway` (generated password, given to the gateway only) without FLUSHALL/FLUSHDB/CONFIG or any
other @dangerous/@admin command. One server runs alone; several run master + replicas with Sentinel failover and
HAProxy in front (`redis-haproxy`), which always forwards to the current master. Persistence per
`cache.persistence` (RDB snapshots on a volume, or an emptyDir: the cache is rebuildable).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config.models import Cache as CacheConfig

from ..helm import release
from ..labels import standard_labels
from . import charts
from .secrets import password, secret
from .storage import DataStorage


@dataclass(frozen=True)
class CacheArgs:
    context: PlatformContext
    """Shared platform inputs."""
    storage: DataStorage
    """StorageClass of the Redis volumes."""
    cache: CacheConfig
    """`rag.cache` (the component exists only when it is set)."""


class Cache(pulumi.ComponentResource):
    """Redis with auth, optional persistence and HA, and its exporter."""

    credentials: dict[str, pulumi.Output[str]]
    """password (secret) of the Redis default user, gatewayPassword of the gateway's ACL user."""

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Cache", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        cache = args.cache
        ns_name = cfg.rag.namespace
        ns = ctx.namespace(ns_name)
        labels = standard_labels(charts.REDIS_FULLNAME, "cache", cfg.labels)
        pw = password(f"{name}-password", self)
        gateway_pw = password(f"{name}-gateway-password", self)
        # Redis stores ACL passwords as SHA-256 (`#<hex>` in redis.conf). The hash of a 32-character random password
        # (~190 bits) reveals nothing, and a secret anywhere in the values would hide the whole Release from review.
        gateway_sha256 = pulumi.Output.unsecret(gateway_pw.apply(lambda p: hashlib.sha256(p.encode()).hexdigest()))
        auth = secret(f"{name}-auth", self, k8s.meta.v1.ObjectMetaArgs(name=charts.REDIS_SECRET, namespace=ns,
                                                                        labels=labels), {charts.REDIS_KEY: pw})
        monitoring = ctx.monitoring
        self.release = release(
            f"{name}-redis", charts.REDIS, "redis", ns,
            charts.redis_values(cache, monitoring, args.storage.storage_class, gateway_sha256),
            pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[ns_name], auth,
                                                            *(ctx.monitoring_crds if monitoring else [])],
                                   # Only a persistent cache holds anything worth protecting.
                                   protect=cfg.cluster.deletion_protection and cache.persistence),
            stateful=True, timeout=900)
        self.credentials = {"password": pw, "gatewayPassword": gateway_pw}
        self.register_outputs({"credentials": self.credentials, "release": self.release})
