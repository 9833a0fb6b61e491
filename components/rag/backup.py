"""Backups: scheduled, retained per `rag.backup`, restorable (docs/rag.md, "Backups and restore").

- Elasticsearch (`rag.backup.elasticsearch`, with `fullText.snapshots`): ECK does not manage snapshot lifecycle,
  so a Job registers the snapshot repository on the RAG bucket (`elasticsearch/` prefix, reached by the pods'
  workload identity) and the SLM policy (schedule, `expire_after`/`min_count`/`max_count`). Both calls are PUTs:
  the Job is idempotent, and its name carries a digest of what it sends, so a config change runs a new Job.
  It runs the Elasticsearch image ECK runs (bash and curl inside, the same version) as the `elastic` user from
  ECK's Secret, over TLS verified against the platform CA.
- Milvus (`rag.backup.milvus`, cluster mode on the bucket): a CronJob runs milvus-backup (metadata through the
  proxy, segment files copied bucket-side from `milvus/` to `milvus-backup/`), then deletes the oldest scheduled
  backups beyond `keep`. Its own service account has IRSA / Workload Identity on those two prefixes.
- Volumes (`rag.backup.volumes`, gke/eks): a VolumeSnapshotClass of the cloud's CSI driver and a CronJob that
  snapshots every bound claim of the data namespace and prunes beyond `keep` ready snapshots per claim
  (scripts/volume_snapshots.py), with a Role limited to that. On EKS the `snapshot-controller` add-on (CRDs and
  controller) is installed here; GKE runs its own.

Every pod is Pod Security restricted, runs non-root with a read-only root filesystem, and talks only along the
flows of config/network.py (backup flows).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.context import PlatformContext
from config.cron import to_elasticsearch
from config.errors import key_path, required
from config.network import BACKUP_ROLES, ROLE_LABEL

from ..labels import standard_labels
from . import charts
from .storage import DataStorage

# zilliztech/milvus-backup: the release workflow (.github/workflows/release.yaml at v0.5.16) pushes
# milvusdb/milvus-backup:<git describe --tags>; the image is alpine 3.17 with /app/milvus-backup (Dockerfile).
MILVUS_BACKUP_IMAGE = "milvusdb/milvus-backup:v0.5.16"
# Docker official image (python 3.13.7 on Alpine): only the standard library is used.
PYTHON_IMAGE = "python:3.13.7-alpine"
# The image ECK runs for fullText.version; it ships bash and curl (Elastic's docker-compose example runs its
# health check and setup with `curl --cacert` inside this image).
ELASTIC_IMAGE = "docker.elastic.co/elasticsearch/elasticsearch"

ES_REPOSITORY = "rag-bucket"
ES_POLICY = "rag-scheduled"
ES_ELASTIC_SECRET = f"{charts.ES_NAME}-es-elastic-user"  # ECK: <name>-es-elastic-user, key `elastic`
MILVUS_BACKUP_ACCOUNT = "milvus-backup"
MILVUS_BACKUP_PREFIX = "milvus-backup"
SNAPSHOT_ACCOUNT = "volume-snapshots"
SNAPSHOT_CLASS = "ai-platform-rag-backup"
SNAPSHOT_DRIVERS = {"gke": "pd.csi.storage.gke.io", "eks": "ebs.csi.aws.com"}
TIME_ZONE = "Etc/UTC"
RUN_AS = 65534  # nobody: the backup images need no identity of their own
RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
MILVUS_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}}

ES_SCRIPT = """set -euo pipefail
# The body is printed either way; the HTTP status decides (older curl lacks --fail-with-body).
es() { code=$(curl -sS -o /tmp/body -w '%{http_code}' --cacert /etc/search-ca/ca.crt \\
  -u "elastic:${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' "$@") || return 1
  cat /tmp/body; echo; [ "$code" -lt 300 ]; }
# Elasticsearch may still be starting: wait up to 20 minutes for a yellow cluster.
for attempt in $(seq 1 120); do
  if es "${ES_URL}/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null 2>&1; then break; fi
  sleep 10
done
es -X PUT "${ES_URL}/_snapshot/${REPOSITORY}" -d "${REPOSITORY_BODY}"
es -X PUT "${ES_URL}/_slm/policy/${POLICY}" -d "${POLICY_BODY}"
es "${ES_URL}/_slm/policy/${POLICY}"
"""

MILVUS_SCRIPT = """set -eu
backup() { /app/milvus-backup --config /etc/milvus-backup/backup.yaml "$@"; }
name="scheduled_$(date -u +%Y%m%d_%H%M%S)"
backup create -n "$name" --rbac
# Names sort by time: keep the newest KEEP scheduled backups, delete the rest (hand-made ones are never touched).
backup list | { grep '^scheduled_' || true; } | sort -r | tail -n +$((KEEP + 1)) | while read -r old; do
  backup delete -n "$old"
done
"""


def restricted(run_as: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pod and container security contexts that pass Pod Security restricted."""
    return ({"runAsNonRoot": True, "runAsUser": run_as, "runAsGroup": run_as, "fsGroup": run_as,
             "seccompProfile": {"type": "RuntimeDefault"}},
            {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}})


def cron_job_spec(schedule: str, pod: dict[str, Any], deadline: int) -> dict[str, Any]:
    """A CronJob spec: UTC, never two runs at once, a few finished Jobs kept for `kubectl logs`."""
    return {"schedule": schedule, "timeZone": TIME_ZONE, "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 3,
            "jobTemplate": {"spec": {"backoffLimit": 2, "activeDeadlineSeconds": deadline, "template": pod}}}


def repository_body(provider: str, bucket: str) -> dict[str, Any]:
    """The snapshot repository on the RAG bucket (repository-s3 / repository-gcs are built into 8.x/9.x)."""
    return {"type": "s3" if provider == "eks" else "gcs", "settings": {"bucket": bucket, "base_path": "elasticsearch"}}


def slm_policy(schedule: str, expire_after_days: int, min_count: int, max_count: int) -> dict[str, Any]:
    """The SLM policy (PUT _slm/policy/<id>): every index and the cluster state, retention from config."""
    return {"schedule": to_elasticsearch(schedule), "name": "<rag-{now/d}>", "repository": ES_REPOSITORY,
            "config": {"indices": ["*"], "include_global_state": True},
            "retention": {"expire_after": f"{expire_after_days}d", "min_count": min_count, "max_count": max_count}}


def milvus_backup_config(provider: str, namespace: str, bucket: str, region: str | None) -> dict[str, Any]:
    """milvus-backup's backup.yaml (v0.5.16 keys, configs/backup.yaml): the Milvus proxy and its bucket prefix,
    backups into another prefix of the same bucket; IAM (IRSA / Workload Identity) instead of keys."""
    if provider == "gke":
        # Milvus' own GKE setup: GCS through its S3-compatible endpoint with the pod's token (storageType gcp).
        storage: dict[str, Any] = {"storageType": "gcp", "address": "storage.googleapis.com"}
    else:
        storage = {"storageType": "aws", "address": f"s3.{region}.amazonaws.com", "region": region or ""}
    backup = {f"backup{k[0].upper()}{k[1:]}": v for k, v in storage.items()}
    return {
        "log": {"level": "info", "console": True, "file": {"filename": "/tmp/milvus-backup.log"}},
        "milvus": {"address": f"{charts.MILVUS_FULLNAME}.{namespace}.svc", "port": 19530, "user": "root",
                   "tlsMode": 0},
        "minio": {**storage, "port": 443, "useSSL": True, "useIAM": True, "bucketName": bucket,
                  "rootPath": "milvus",
                  **backup, "backupPort": 443, "backupUseSSL": True, "backupUseIAM": True,
                  "backupBucketName": bucket, "backupRootPath": MILVUS_BACKUP_PREFIX},
        # GC paused during the copy, so segments being copied are not compacted away (proxy's management port).
        "backup": {"gcPause": {"enable": True, "address": f"http://{charts.MILVUS_FULLNAME}.{namespace}.svc:9091"}},
    }


def digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:8]


class TopLevelObject(pulumi.CustomResource):
    """A custom object whose fields sit beside `metadata` rather than under `spec` (VolumeSnapshotClass: driver,
    deletionPolicy). `k8s.apiextensions.CustomResource` in Python sends only `spec`; the provider takes any
    top-level field, so this registers the same resource type with the object's own fields."""

    def __init__(self, name: str, api_version: str, kind: str, metadata: dict[str, Any], fields: dict[str, Any],
                 opts: pulumi.ResourceOptions):
        from pulumi_kubernetes import _utilities

        # The provider plugin version pulumi-kubernetes' own resources pin (untyped helper of the SDK).
        version: str = _utilities.get_version()  # type: ignore[no-untyped-call]
        super().__init__(f"kubernetes:{api_version}:{kind}", name,
                         {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields},
                         pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(version=version)))


@dataclass(frozen=True)
class BackupsArgs:
    context: PlatformContext
    """Shared platform inputs (config, namespaces)."""
    storage: DataStorage
    """The bucket and the workload-identity annotations per bucket user."""
    cluster: Any
    """The cluster component (EKS: its name, for the snapshot-controller add-on)."""
    after: tuple[pulumi.Resource, ...] = ()
    """The data services (the Elasticsearch resource, the Milvus Release) the backups need first."""


class Backups(pulumi.ComponentResource):
    """Scheduled backups of the data layer per `rag.backup` (see the module docstring)."""

    kinds: tuple[str, ...]
    """Which backups run: elasticsearch, milvus, volumes."""

    def __init__(self, name: str, args: BackupsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Backups", name, None, opts)
        cfg = args.context.config
        rag = cfg.rag
        kinds = cfg.backups
        self.kinds = kinds
        ns_name = rag.namespace
        self._ns = args.context.namespace(ns_name)
        self._before: list[pulumi.Resource] = [args.context.namespaces[ns_name]]
        self._labels = cfg.labels
        if "elasticsearch" in kinds:
            self._elasticsearch(name, args)
        if "milvus" in kinds:
            self._milvus(name, args)
        if "volumes" in kinds:
            self._volumes(name, args)
        self.register_outputs({"kinds": self.kinds})

    def _meta(self, name: str, annotations: dict[str, Any] | None = None) -> k8s.meta.v1.ObjectMetaArgs:
        return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=self._ns, annotations=annotations,
                                          labels=standard_labels(name, "backup", self._labels))

    def _pod_labels(self, name: str, role: str) -> dict[str, str]:
        return {**standard_labels(name, "backup", self._labels), ROLE_LABEL: BACKUP_ROLES[role]}

    def _elasticsearch(self, name: str, args: BackupsArgs) -> None:
        cfg = args.context.config
        ft = required(cfg.rag.full_text, key_path("rag", "fullText"), "the Elasticsearch settings")
        es = cfg.rag.backup.elasticsearch
        bucket = required(args.storage.bucket_name, key_path("rag", "bucket"), "the RAG bucket")
        policy = slm_policy(es.schedule, es.expire_after_days, es.min_count, es.max_count)
        job_name = f"search-snapshot-policy-{digest(policy, ft.version)}"
        pod_sc, container_sc = restricted(1000)  # the Elasticsearch image's own user
        url = f"https://{charts.ES_NAME}-es-http.{cfg.rag.namespace}.svc:9200"
        env = [
            {"name": "ES_URL", "value": url},
            {"name": "REPOSITORY", "value": ES_REPOSITORY},
            {"name": "POLICY", "value": ES_POLICY},
            {"name": "REPOSITORY_BODY",
             "value": bucket.apply(lambda b: json.dumps(repository_body(cfg.cluster.provider, b)))},
            {"name": "POLICY_BODY", "value": json.dumps(policy)},
            {"name": "ELASTIC_PASSWORD", "valueFrom": {"secretKeyRef": {"name": ES_ELASTIC_SECRET, "key": "elastic"}}},
        ]
        pod = {
            "metadata": {"labels": self._pod_labels(job_name, "elasticsearch")},
            "spec": {
                "restartPolicy": "OnFailure", "automountServiceAccountToken": False, "enableServiceLinks": False,
                "securityContext": pod_sc,
                "containers": [{
                    "name": "snapshot-policy", "image": f"{ELASTIC_IMAGE}:{ft.version}",
                    "command": ["/bin/bash", "-c", ES_SCRIPT], "env": env, "resources": RESOURCES,
                    "securityContext": container_sc,
                    "volumeMounts": [{"name": "search-ca", "mountPath": "/etc/search-ca", "readOnly": True},
                                     {"name": "tmp", "mountPath": "/tmp"}],
                }],
                "volumes": [{"name": "search-ca", "secret": {"secretName": charts.ES_HTTP_TLS_SECRET,
                                                             "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
            },
        }
        self.es_job = k8s.batch.v1.Job(
            f"{name}-search-snapshot-policy",
            metadata=self._meta(job_name),
            spec={"backoffLimit": 6, "activeDeadlineSeconds": 3600, "template": pod},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._before, *args.after],
                                        custom_timeouts=pulumi.CustomTimeouts(create="60m", update="60m")),
        )

    def _milvus(self, name: str, args: BackupsArgs) -> None:
        cfg = args.context.config
        ns_name = cfg.rag.namespace
        mb = cfg.rag.backup.milvus
        bucket = required(args.storage.bucket_name, key_path("rag", "bucket"), "the RAG bucket")
        child = pulumi.ResourceOptions(parent=self)
        account = k8s.core.v1.ServiceAccount(
            f"{name}-milvus-backup-account",
            metadata=self._meta(MILVUS_BACKUP_ACCOUNT, args.storage.annotations.get(MILVUS_BACKUP_ACCOUNT)),
            automount_service_account_token=False, opts=child)
        config = k8s.core.v1.ConfigMap(
            f"{name}-milvus-backup-config",
            metadata=self._meta(MILVUS_BACKUP_ACCOUNT),
            data={"backup.yaml": bucket.apply(lambda b: json.dumps(
                milvus_backup_config(cfg.cluster.provider, ns_name, b, args.storage.region), indent=2))},
            opts=child)
        pod_sc, container_sc = restricted(RUN_AS)
        volumes: list[dict[str, Any]] = [{"name": "config", "configMap": {"name": MILVUS_BACKUP_ACCOUNT}},
                                         {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]
        mounts: list[dict[str, Any]] = [{"name": "config", "mountPath": "/etc/milvus-backup", "readOnly": True},
                                        {"name": "tmp", "mountPath": "/tmp"}]
        # No API token: on eks the pod identity webhook projects the IRSA token (its own volume, whatever
        # automountServiceAccountToken says) and sets AWS_ROLE_ARN, which milvus-backup's IAM credentials read;
        # on gke Workload Identity answers from the metadata server by the pod's service account.
        pod = {
            "metadata": {"labels": self._pod_labels(MILVUS_BACKUP_ACCOUNT, "milvus")},
            "spec": {
                "restartPolicy": "Never", "serviceAccountName": MILVUS_BACKUP_ACCOUNT,
                "automountServiceAccountToken": False, "enableServiceLinks": False, "securityContext": pod_sc,
                "containers": [{
                    "name": "milvus-backup", "image": MILVUS_BACKUP_IMAGE, "workingDir": "/tmp",
                    "command": ["/bin/sh", "-c", MILVUS_SCRIPT],
                    "env": [{"name": "KEEP", "value": str(mb.keep)},
                            {"name": "MILVUS_PASSWORD", "valueFrom": {"secretKeyRef": {
                                "name": charts.MILVUS_SECRET, "key": charts.MILVUS_ROOT_PASSWORD_KEY}}}],
                    "resources": MILVUS_RESOURCES, "securityContext": container_sc, "volumeMounts": mounts,
                }],
                "volumes": volumes,
            },
        }
        self.milvus_cron_job = k8s.batch.v1.CronJob(
            f"{name}-milvus-backup",
            metadata=self._meta(MILVUS_BACKUP_ACCOUNT),
            spec=cron_job_spec(mb.schedule, pod, 6 * 3600),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._before, account, config, *args.after]))

    def _volumes(self, name: str, args: BackupsArgs) -> None:
        cfg = args.context.config
        vb = cfg.rag.backup.volumes
        provider = cfg.cluster.provider
        protect = cfg.cluster.deletion_protection
        child = pulumi.ResourceOptions(parent=self)
        crds: list[pulumi.Resource] = []
        if provider == "eks":
            import pulumi_aws as aws

            # EKS add-on `snapshot-controller` (EKS user guide, "CSI snapshot controller"): the snapshot CRDs and
            # their controller; the EBS CSI driver carries the csi-snapshotter sidecar itself.
            crds.append(aws.eks.Addon(f"{name}-snapshot-controller", cluster_name=args.cluster.name,
                                      addon_name="snapshot-controller", resolve_conflicts_on_create="OVERWRITE",
                                      resolve_conflicts_on_update="OVERWRITE", opts=child))
        deletion = vb.deletion_policy or ("Retain" if protect else "Delete")
        snapshot_class = TopLevelObject(
            f"{name}-snapshot-class", "snapshot.storage.k8s.io/v1", "VolumeSnapshotClass",
            {"name": SNAPSHOT_CLASS, "labels": standard_labels(SNAPSHOT_CLASS, "backup", cfg.labels)},
            {"driver": SNAPSHOT_DRIVERS[provider], "deletionPolicy": deletion},
            pulumi.ResourceOptions(parent=self, depends_on=crds))
        account = k8s.core.v1.ServiceAccount(f"{name}-snapshot-account", metadata=self._meta(SNAPSHOT_ACCOUNT),
                                             opts=child)
        role = k8s.rbac.v1.Role(
            f"{name}-snapshot-role", metadata=self._meta(SNAPSHOT_ACCOUNT),
            rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["persistentvolumeclaims"],
                                              verbs=["get", "list"]),
                   k8s.rbac.v1.PolicyRuleArgs(api_groups=["snapshot.storage.k8s.io"], resources=["volumesnapshots"],
                                              verbs=["get", "list", "create", "delete"])],
            opts=child)
        binding = k8s.rbac.v1.RoleBinding(
            f"{name}-snapshot-binding", metadata=self._meta(SNAPSHOT_ACCOUNT),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="Role",
                                             name=SNAPSHOT_ACCOUNT),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=SNAPSHOT_ACCOUNT,
                                              namespace=cfg.rag.namespace)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, account]))
        script = k8s.core.v1.ConfigMap(
            f"{name}-snapshot-script", metadata=self._meta(SNAPSHOT_ACCOUNT),
            data={"volume_snapshots.py": resources.files(__package__).joinpath(
                "scripts/volume_snapshots.py").read_text()},
            opts=child)
        pod_sc, container_sc = restricted(RUN_AS)
        pod = {
            "metadata": {"labels": self._pod_labels(SNAPSHOT_ACCOUNT, "volumes")},
            "spec": {
                "restartPolicy": "Never", "serviceAccountName": SNAPSHOT_ACCOUNT, "enableServiceLinks": False,
                "securityContext": pod_sc,
                "containers": [{
                    "name": "volume-snapshots", "image": PYTHON_IMAGE,
                    "command": ["python3", "/scripts/volume_snapshots.py"],
                    "env": [{"name": "NAMESPACE", "value": cfg.rag.namespace},
                            {"name": "SNAPSHOT_CLASS", "value": SNAPSHOT_CLASS},
                            {"name": "KEEP", "value": str(vb.keep)},
                            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                    "resources": RESOURCES, "securityContext": container_sc,
                    "volumeMounts": [{"name": "scripts", "mountPath": "/scripts", "readOnly": True}],
                }],
                "volumes": [{"name": "scripts", "configMap": {"name": SNAPSHOT_ACCOUNT}}],
            },
        }
        self.snapshot_cron_job = k8s.batch.v1.CronJob(
            f"{name}-volume-snapshots", metadata=self._meta(SNAPSHOT_ACCOUNT),
            spec=cron_job_spec(vb.schedule, pod, 3600),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*self._before, snapshot_class, binding, script]))
