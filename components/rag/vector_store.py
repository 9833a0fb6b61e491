"""VectorStore: Milvus (standalone or cluster), Weaviate or Qdrant, per `rag.vectorStore.engine`.

Every engine runs with authentication on and its credential generated here (a Pulumi secret written
only into a Secret the chart reads by reference): Milvus' root password, Weaviate's API key,
Qdrant's API key. `credentials` hands the gateway's secret Outputs to the gateway, which keeps its own
copy in its namespace (a pod can only reference Secrets of its own namespace).

Milvus: the gateway never gets root. A Job (milvus_users.py) creates the user `ai_gateway`, limited to
the database `ai_gateway`, with its own generated password; root's password stays in the data namespace.
Cluster mode: Milvus' etcd runs with authentication (root user, generated password, JWT tokens signed by
a key the program generates), and every Milvus process is given the etcd credentials through env.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.context import PlatformContext
from config import sizing
from config.endpoints import endpoints
from config.models import VectorStore as VectorStoreConfig

from ..helm import release
from ..labels import SCRAPE_LABELS, standard_labels
from . import charts, milvus_users
from .secrets import checksum, password, secret
from .storage import DataStorage


@dataclass(frozen=True)
class VectorStoreArgs:
    context: PlatformContext
    """Shared platform inputs (config, namespaces, monitoring CRDs)."""
    storage: DataStorage
    """StorageClass, bucket and workload-identity annotations."""
    store: VectorStoreConfig
    """`rag.vectorStore` (the component exists only when it is set)."""


class VectorStore(pulumi.ComponentResource):
    """The configured vector database, authenticated, persistent, scraped when monitoring is on."""

    engine: str
    credentials: dict[str, pulumi.Output[str]]
    """Secret Outputs the gateway needs: username/password (milvus: the gateway's own user) or apiKey."""
    release: k8s.helm.v3.Release
    users_job: k8s.batch.v1.Job | None
    """Milvus: the Job that creates the gateway's user (None for other engines)."""

    def __init__(self, name: str, args: VectorStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:VectorStore", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        store = args.store
        ns_name = cfg.rag.namespace
        ns = ctx.namespace(ns_name)
        protect = cfg.cluster.deletion_protection
        monitoring = ctx.monitoring
        storage = args.storage
        self.engine = store.engine
        labels = standard_labels(store.engine, "vector-store", cfg.labels)
        def meta(n: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels=labels)

        after: list[pulumi.Resource] = list(ctx.monitoring_crds) if monitoring else []

        if store.engine == "milvus":
            root = password(f"{name}-root-password", self, protect=protect)
            data = {charts.MILVUS_ROOT_PASSWORD_KEY: root}
            root_secret = secret(f"{name}-credentials", self, meta(charts.MILVUS_SECRET), data)
            after.append(root_secret)
            # The gateway's own Milvus user (created by the users Job below); root stays in this namespace.
            gateway_password = password(f"{name}-gateway-password", self)
            gateway_secret = secret(
                f"{name}-gateway-user", self, meta(charts.MILVUS_GATEWAY_SECRET),
                {"username": milvus_users.USER, charts.MILVUS_GATEWAY_PASSWORD_KEY: gateway_password},
                type_="kubernetes.io/basic-auth")
            topo = store.cluster
            if store.milvus_mode == "cluster" and topo is not None and topo.object_storage == "minio":
                after.append(secret(f"{name}-minio", self, meta(charts.MINIO_SECRET), {
                    "accesskey": password(f"{name}-minio-access-key", self, length=20),
                    "secretkey": password(f"{name}-minio-secret-key", self, length=40),
                }))
            if charts.milvus_etcd_auth(store):
                # etcd sets its root password only when it bootstraps: losing the generator locks Milvus out.
                etcd_root = password(f"{name}-etcd-root-password", self, protect=protect)
                # RS256 key for etcd's JWT tokens (the chart would otherwise generate one at every render).
                jwt_key = tls.PrivateKey(f"{name}-etcd-jwt-key", algorithm="RSA", rsa_bits=2048,
                                         opts=pulumi.ResourceOptions(parent=self))
                after.append(secret(f"{name}-etcd-auth", self, meta(charts.MILVUS_ETCD_SECRET),
                                    {charts.MILVUS_ETCD_PASSWORD_KEY: etcd_root}))
                after.append(secret(f"{name}-etcd-jwt", self, meta(charts.MILVUS_ETCD_JWT_SECRET),
                                    {charts.MILVUS_ETCD_JWT_KEY: jwt_key.private_key_pem}))
            values = charts.milvus_values(cfg, store, monitoring, storage.storage_class, bucket=storage.bucket_name,
                                          region=storage.region, identity_annotations=storage.annotations.get("milvus"))
            self.credentials = {"username": pulumi.Output.from_input(milvus_users.USER), "password": gateway_password}
            pin, release_name = charts.MILVUS, "milvus"
        elif store.engine == "weaviate":
            key = password(f"{name}-api-key", self, length=40)
            after.append(secret(f"{name}-api-keys", self, meta(charts.WEAVIATE_SECRET),
                                {charts.WEAVIATE_KEYS_ENV: key}))
            values = charts.weaviate_values(store, monitoring, storage.storage_class)
            self.credentials = {"apiKey": key}
            pin, release_name = charts.WEAVIATE, "weaviate"
        else:
            key = password(f"{name}-api-key", self, length=40)
            after.append(secret(f"{name}-api-key", self, meta(charts.QDRANT_SECRET), {charts.QDRANT_KEY: key}))
            values = charts.qdrant_values(store, monitoring, storage.storage_class)
            self.credentials = {"apiKey": key}
            pin, release_name = charts.QDRANT, "qdrant"

        self.release = release(f"{name}-{release_name}", pin, release_name, ns, values,
                               pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[ns_name], *after],
                                                      protect=protect),
                               stateful=True, timeout=900)
        self.users_job = None
        if store.engine == "milvus":
            labels_job = standard_labels(milvus_users.JOB_ROLE, "vector-store", cfg.labels)
            spec = milvus_users.job_spec(
                milvus_users.rest_url(endpoints(cfg)["vector-store"]),
                (charts.MILVUS_SECRET, charts.MILVUS_ROOT_PASSWORD_KEY),
                (charts.MILVUS_GATEWAY_SECRET, charts.MILVUS_GATEWAY_PASSWORD_KEY), labels_job,
                checksum(root, gateway_password), charts.sized(sizing.MILVUS_USERS_JOB))
            # Hook-free: Pulumi creates it after Milvus is up and waits for it to complete.
            self.users_job = k8s.batch.v1.Job(
                f"{name}-users", metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=milvus_users.NAME, namespace=ns, labels=labels_job),
                spec=spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.release, root_secret, gateway_secret]))
        for component, replicas in charts.milvus_replicas(store).items():
            if replicas < 2:
                continue
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{component}-pdb",
                metadata=meta(f"{charts.MILVUS_FULLNAME}-{component}"),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    max_unavailable=1, unhealthy_pod_eviction_policy="AlwaysAllow",
                    selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels={**charts.MILVUS_POD_LABELS, "component": component})),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[ns_name]]),
            )
        if store.engine == "weaviate" and monitoring:
            # The chart's ServiceMonitor cannot carry the platform's scrape label; Weaviate serves metrics on :2112.
            k8s.apiextensions.CustomResource(
                f"{name}-pod-monitor",
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=k8s.meta.v1.ObjectMetaArgs(name="weaviate", namespace=ns, labels={**labels, **SCRAPE_LABELS}),
                spec={"selector": {"matchLabels": {"app": "weaviate"}},
                      "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}]},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[*ctx.monitoring_crds, self.release]),
            )
        self.register_outputs({"engine": self.engine, "credentials": self.credentials, "release": self.release,
                               "users_job": self.users_job})
