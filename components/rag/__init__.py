"""Rag: the RAG data layer (vector store, full-text search, semantic cache) and the AI gateway.

Created by `Platform` after serving. Children, each its own component:

- `DataStorage` (`ai-platform:rag:Storage`): the data layer's StorageClass and, when needed, the bucket
  with workload-identity access (see storage.py);
- `VectorStore` (`ai-platform:rag:VectorStore`): Milvus standalone/cluster, Weaviate or Qdrant;
- `Search` (`ai-platform:rag:Search`): ECK operator, Elasticsearch, exporter;
- `Cache` (`ai-platform:rag:Cache`): Redis;
- `Gateway` (`ai-platform:rag:Gateway`) and, only with `rag.gateway.expose: ingress` (deprecated),
  `GatewayIngress` (`ai-platform:rag:Ingress`); otherwise the inference gateway routes the host;
- `Backups` (`ai-platform:rag:Backups`): Elasticsearch SLM, milvus-backup and volume snapshots per `rag.backup`.

Data safety follows `cluster.deletionProtection`: stateful Releases, the Elasticsearch resource, the bucket and
the Milvus root-password generator are `protect`ed, volumes use a Retain StorageClass, and ECK keeps its PVCs
when the Elasticsearch resource goes. Model endpoints come only from config/endpoints.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from components.context import PlatformContext
from config.endpoints import endpoints
from config.inference import rag_exposure
from config.models import StackConfig

from . import charts
from .backup import MILVUS_BACKUP_ACCOUNT, MILVUS_BACKUP_PREFIX, Backups, BackupsArgs
from .cache import Cache, CacheArgs
from .gateway import Gateway, GatewayArgs
from .ingress import GatewayIngress, GatewayIngressArgs
from .search import SERVICE_ACCOUNT as SEARCH_SERVICE_ACCOUNT
from .search import Search, SearchArgs
from .storage import BucketUser, DataStorage, DataStorageArgs
from .vector_store import VectorStore, VectorStoreArgs

DATA_ENDPOINT_KEYS = ("vector-store", "full-text", "cache", "gateway")


@dataclass(frozen=True)
class RagArgs:
    context: PlatformContext
    """Shared platform inputs (config, namespaces, monitoring CRDs)."""
    cluster: Any
    """The cluster component (EKS: its IAM OIDC provider for IRSA)."""


def bucket_users(cfg: StackConfig) -> tuple[BucketUser, ...]:
    """Who needs the RAG bucket (empty: no bucket is created)."""
    rag = cfg.rag
    users = []
    if "milvus" in rag.bucket_users:
        # A milvus-backup restore has Milvus import the backed-up segments straight from their prefix.
        reads = (MILVUS_BACKUP_PREFIX,) if "milvus" in rag.backups else ()
        users.append(BucketUser("milvus", rag.namespace, charts.MILVUS_SERVICE_ACCOUNT, "milvus", reads=reads))
    if "elasticsearch" in rag.bucket_users:
        users.append(BucketUser("elasticsearch", rag.namespace, SEARCH_SERVICE_ACCOUNT, "elasticsearch"))
    if "milvus" in rag.backups:
        # Backups are written to their own prefix; restore writes back into Milvus' prefix.
        users.append(BucketUser(MILVUS_BACKUP_ACCOUNT, rag.namespace, MILVUS_BACKUP_ACCOUNT, MILVUS_BACKUP_PREFIX,
                                also=("milvus",)))
    return tuple(users)


class Rag(pulumi.ComponentResource):
    """Vector store, search, cache and gateway per `ai-platform:rag`."""

    gateway_url: str | None
    """https://<gateway host>, or None without a gateway."""
    data_endpoints: dict[str, str]
    """In-cluster URLs of the data services and the gateway (config/endpoints.py)."""
    bucket_name: pulumi.Output[str] | None
    """The RAG bucket (None when nothing needs one)."""

    def __init__(self, name: str, args: RagArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Rag", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        rag = cfg.rag
        child = pulumi.ResourceOptions(parent=self)
        self.storage = DataStorage(f"{name}-storage", DataStorageArgs(cfg, args.cluster, bucket_users(cfg)), child)
        credentials: dict[str, pulumi.Output[str]] = {}

        self.vector_store: VectorStore | None = None
        if rag.vector_store is not None:
            self.vector_store = VectorStore(
                f"{name}-vector-store", VectorStoreArgs(ctx, self.storage, rag.vector_store), child)
            vs_creds = self.vector_store.credentials
            if "password" in vs_creds:
                credentials["vector-store-password"] = vs_creds["password"]
            else:
                credentials["vector-store-api-key"] = vs_creds["apiKey"]
        self.search: Search | None = None
        if rag.full_text is not None:
            self.search = Search(f"{name}-search", SearchArgs(ctx, self.storage, rag.full_text), child)
            credentials["elasticsearch-password"] = self.search.credentials["password"]
        self.cache: Cache | None = None
        if rag.cache is not None:
            self.cache = Cache(f"{name}-cache", CacheArgs(ctx, self.storage, rag.cache), child)
            credentials["redis-password"] = self.cache.credentials["gatewayPassword"]

        self.gateway: Gateway | None = None
        self.ingress: GatewayIngress | None = None
        self.gateway_url = None
        if rag.gateway is not None:
            self.gateway = Gateway(f"{name}-gateway", GatewayArgs(
                ctx, credentials, rag.gateway, self.search.ca_pem if self.search is not None else None), child)
            if rag_exposure(cfg) == "ingress":
                self.ingress = GatewayIngress(f"{name}-ingress", GatewayIngressArgs(ctx, self.gateway.service,
                                                                                    rag.gateway), child)
                self.gateway_url = self.ingress.url
            else:  # the inference gateway's public Gateway routes the host here (components/inference/gateway.py)
                self.gateway_url = f"https://{rag.gateway.host}"

        self.backups: Backups | None = None
        if cfg.backups:
            data: list[pulumi.Resource] = []
            if self.search is not None:
                data.append(self.search.elasticsearch)
            if self.vector_store is not None:
                data.append(self.vector_store.release)
            self.backups = Backups(f"{name}-backups", BackupsArgs(ctx, self.storage, args.cluster, tuple(data)), child)

        found = endpoints(cfg)
        self.data_endpoints = {key: found[key].url for key in DATA_ENDPOINT_KEYS if key in found}
        self.bucket_name = self.storage.bucket_name
        self.register_outputs({"gateway_url": self.gateway_url, "data_endpoints": self.data_endpoints,
                               "bucket_name": self.bucket_name})
