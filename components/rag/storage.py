"""DataStorage: the data layer's StorageClass and, when the config asks for it, the RAG bucket.

- StorageClass `ai-platform-rag` (gke: pd-balanced via the PD CSI driver; eks: encrypted gp3 via the EBS
  CSI driver) with `reclaimPolicy: Retain` when `cluster.deletionProtection` is on, so a deleted claim
  (helm uninstall, a scaled-down StatefulSet, an ECK cluster deletion) leaves its disk behind.
  Existing clusters use their default class (or `rag.storageClass`).
- The bucket (Milvus cluster segments/indexes/WAL under `milvus/`, Elasticsearch snapshots under
  `elasticsearch/`, milvus-backup's backups under `milvus-backup/`): S3 with versioning, SSE, a public
  access block, owner-enforced ACLs, a bucket policy refusing requests without TLS and server access
  logs into a log bucket of their own (hardened the same way, expiring after `bucket.accessLogDays`) on
  eks; GCS with uniform access, public access prevention and versioning on gke. Noncurrent versions
  expire after `bucket.noncurrentVersionDays`. Access is by workload identity only, per prefix: an IRSA
  role per Kubernetes service account whose policy names its prefixes on eks; a Google service account
  bound through Workload Identity on gke, with objectAdmin under an IAM condition on its prefixes. No
  access keys exist. With deletion protection the buckets are `protect`ed and never force-destroyed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from config.errors import Unvalidated, key_path, required
from config.models import StackConfig

from ..labels import cloud_labels, standard_labels

STORAGE_CLASS = "ai-platform-rag"
PROVISIONERS = {
    "gke": ("pd.csi.storage.gke.io", {"type": "pd-balanced"}),
    "eks": ("ebs.csi.aws.com", {"type": "gp3", "encrypted": "true", "fsType": "ext4"}),
}
ACCESS_LOG_PREFIX = "s3-access/"
# The S3 server access logging service principal (S3 user guide, "Permissions for log delivery").
LOGGING_SERVICE = "logging.s3.amazonaws.com"
OBJECT_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload",
                  "s3:ListMultipartUploadParts"]


def object_resources(arn: str, prefixes: tuple[str, ...]) -> str | list[str]:
    """The IAM `Resource` of the objects under each prefix (one string for one prefix)."""
    found = [f"{arn}/{p}/*" for p in prefixes]
    return found[0] if len(found) == 1 else found


def deny_insecure_transport(arn: str) -> dict[str, Any]:
    """The bucket-policy statement refusing every request not made over TLS (AWS' documented
    `aws:SecureTransport` pattern, S3 user guide "Security best practices")."""
    return {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def gcs_prefix_condition(bucket: str, prefixes: tuple[str, ...]) -> str:
    """CEL granting only objects under the prefixes (IAM Conditions: an object's resource.name is
    `projects/_/buckets/<bucket>/objects/<object name>`)."""
    return " || ".join(f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/{p}/")' for p in prefixes)


@dataclass(frozen=True)
class BucketUser:
    """A Kubernetes service account that reads and writes one prefix of the bucket."""

    key: str
    """Short role name (milvus, elasticsearch)."""
    namespace: str
    service_account: str
    prefix: str
    """The prefix (folder) it owns, without slashes."""
    also: tuple[str, ...] = ()
    """Further prefixes it reads and writes (the backup job: Milvus' own prefix besides its backups)."""
    reads: tuple[str, ...] = ()
    """Prefixes it may only read (Milvus: the backups, which a restore imports straight from the bucket)."""

    @property
    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix, *self.also)


@dataclass(frozen=True)
class DataStorageArgs:
    config: StackConfig
    """Typed stack configuration."""
    cluster: Any
    """The cluster component (EKS: oidc_provider_arn / oidc_issuer for IRSA)."""
    users: tuple[BucketUser, ...] = ()
    """Service accounts that get bucket access (empty: no bucket)."""


class DataStorage(pulumi.ComponentResource):
    """StorageClass and object-storage bucket of the RAG data layer."""

    storage_class: str | None
    """StorageClass name for every data-layer volume (None: the cluster default)."""
    bucket_name: pulumi.Output[str] | None
    """Bucket name (None: no bucket)."""
    annotations: dict[str, dict[str, Any]]
    """Service-account annotations (IRSA role ARN / GCP service account) per BucketUser.key."""

    def __init__(self, name: str, args: DataStorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Storage", name, None, opts)
        cfg = args.config
        provider = cfg.cluster.provider
        protect = cfg.cluster.deletion_protection
        self.storage_class = cfg.rag.storage_class
        self.bucket_name = None
        self.annotations = {}
        self.log_bucket_name: pulumi.Output[str] | None = None
        self.region = cfg.cluster.region
        if self.storage_class is None and provider in PROVISIONERS:
            provisioner, parameters = PROVISIONERS[provider]
            k8s.storage.v1.StorageClass(
                f"{name}-class",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=STORAGE_CLASS,
                                                    labels=standard_labels(STORAGE_CLASS, "storage", cfg.labels)),
                provisioner=provisioner,
                parameters=parameters,
                reclaim_policy="Retain" if protect else "Delete",
                volume_binding_mode="WaitForFirstConsumer",
                allow_volume_expansion=True,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.storage_class = STORAGE_CLASS
        if args.users:
            if provider == "eks":
                self._s3(name, cfg, args, protect)
            elif provider == "gke":
                self._gcs(name, cfg, args, protect)
            else:
                raise Unvalidated(key_path("cluster", "provider"), "provider gke or eks for the RAG bucket",
                                  "config.semantics")
        self.register_outputs({"storage_class": self.storage_class, "bucket_name": self.bucket_name,
                               "annotations": self.annotations})

    def _s3(self, name: str, cfg: StackConfig, args: DataStorageArgs, protect: bool) -> None:
        import pulumi_aws as aws

        from ..cluster.eks.iam import irsa_trust

        bucket_cfg = cfg.rag.bucket
        tags = cloud_labels("rag-data", cfg.labels)
        child = pulumi.ResourceOptions(parent=self)
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_cfg.name if bucket_cfg else None,
            force_destroy=False,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        public_access, versioning = self._s3_baseline(f"{name}-bucket", bucket, "aws:kms")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket-lifecycle", bucket=bucket.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-noncurrent-versions", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=bucket_cfg.noncurrent_version_days if bucket_cfg else 30),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7))],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))
        # Public access block first: S3 refuses a bucket policy while it still evaluates the policy's publicness.
        aws.s3.BucketPolicy(
            f"{name}-bucket-policy", bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps({"Version": "2012-10-17",
                                                             "Statement": [deny_insecure_transport(arn)]})),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]))
        self._access_logs(name, bucket, bucket_cfg.access_log_days if bucket_cfg else 365, tags, protect)
        oidc_arn, issuer = args.cluster.oidc_provider_arn, args.cluster.oidc_issuer
        for user in args.users:
            subject = f"system:serviceaccount:{user.namespace}:{user.service_account}"

            def trust(a: list[Any], s: str = subject) -> str:
                return irsa_trust(a[0], a[1], s)

            role = aws.iam.Role(
                f"{name}-{user.key}-role",
                assume_role_policy=pulumi.Output.all(oidc_arn, issuer).apply(trust),
                tags=tags,
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-{user.key}-policy",
                role=role.name,
                policy=bucket.arn.apply(lambda arn, u=user: json.dumps({
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": arn},
                        {"Effect": "Allow", "Action": OBJECT_ACTIONS,
                         "Resource": object_resources(arn, u.prefixes)},
                        *([{"Effect": "Allow", "Action": ["s3:GetObject"],
                            "Resource": object_resources(arn, u.reads)}] if u.reads else []),
                    ],
                })),
                opts=child,
            )
            self.annotations[user.key] = {"eks.amazonaws.com/role-arn": role.arn}
        self.bucket_name = bucket.bucket

    def _s3_baseline(self, prefix: str, bucket: Any, sse_algorithm: str) -> tuple[Any, Any]:
        """What every bucket of the stack gets: owner-enforced objects (no ACLs), every public-access block,
        versioning and default encryption (`aws:kms` with a bucket key, or `AES256` where the writer only
        supports SSE-S3). Returns the public-access block (a bucket policy must follow it) and the versioning
        (lifecycle rules on noncurrent versions must follow it)."""
        import pulumi_aws as aws

        child = pulumi.ResourceOptions(parent=self)
        aws.s3.BucketOwnershipControls(
            f"{prefix}-ownership", bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access", bucket=bucket.id, block_public_acls=True, block_public_policy=True,
            ignore_public_acls=True, restrict_public_buckets=True, opts=child)
        versioning = aws.s3.BucketVersioning(
            f"{prefix}-versioning", bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-sse", bucket=bucket.id,
            rules=[aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm=sse_algorithm),
                bucket_key_enabled=True if sse_algorithm == "aws:kms" else None)],
            opts=child)
        return public_access, versioning

    def _access_logs(self, name: str, bucket: Any, days: int, tags: dict[str, str], protect: bool) -> None:
        """S3 server access logs of the data bucket into a log bucket of their own (S3 user guide, "Enabling
        Amazon S3 server access logging"): the log bucket is owner-enforced, so the logging service principal is
        allowed by bucket policy (ACL grants do not work there), scoped to the source bucket; server access logs
        support only SSE-S3 on the target, hence AES256 rather than KMS."""
        import pulumi_aws as aws

        logs = aws.s3.Bucket(f"{name}-logs", force_destroy=False, tags=tags,
                             opts=pulumi.ResourceOptions(parent=self, protect=protect))
        public_access, versioning = self._s3_baseline(f"{name}-logs", logs, "AES256")
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-logs-lifecycle", bucket=logs.id,
            rules=[aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-access-logs", status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=days),
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                    noncurrent_days=1))],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]))

        def log_policy(arns: list[str]) -> str:
            logs_arn, source_arn = arns
            return json.dumps({"Version": "2012-10-17", "Statement": [
                {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": LOGGING_SERVICE},
                 "Action": "s3:PutObject", "Resource": f"{logs_arn}/{ACCESS_LOG_PREFIX}*",
                 "Condition": {"ArnLike": {"aws:SourceArn": source_arn}}},
                deny_insecure_transport(logs_arn)]})

        policy = aws.s3.BucketPolicy(f"{name}-logs-policy", bucket=logs.id,
                                     policy=pulumi.Output.all(logs.arn, bucket.arn).apply(log_policy),
                                     opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access]))
        aws.s3.BucketLogging(f"{name}-bucket-logging", bucket=bucket.id, target_bucket=logs.id,
                             target_prefix=ACCESS_LOG_PREFIX,
                             opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]))
        self.log_bucket_name = logs.bucket

    def _gcs(self, name: str, cfg: StackConfig, args: DataStorageArgs, protect: bool) -> None:
        import pulumi_gcp as gcp

        bucket_cfg = cfg.rag.bucket
        project = required(cfg.cluster.gcp, key_path("cluster", "gcp"), "the GCP settings").project
        child = pulumi.ResourceOptions(parent=self)
        bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            name=bucket_cfg.name if bucket_cfg else None,
            project=project,
            location=required(cfg.cluster.region, key_path("cluster", "region"), "the bucket's region").upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            lifecycle_rules=[gcp.storage.BucketLifecycleRuleArgs(
                action=gcp.storage.BucketLifecycleRuleActionArgs(type="Delete"),
                condition=gcp.storage.BucketLifecycleRuleConditionArgs(
                    days_since_noncurrent_time=bucket_cfg.noncurrent_version_days if bucket_cfg else 30,
                    with_state="ARCHIVED"))],
            force_destroy=False,
            labels=cloud_labels("rag-data", cfg.labels),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        for user in args.users:
            account = gcp.serviceaccount.Account(
                f"{name}-{user.key}-sa",
                project=project,
                account_id=f"{cfg.cluster.name[:20].rstrip('-')}-{user.key[:8].rstrip('-')}",
                display_name=f"{user.key} of {cfg.cluster.name} (RAG bucket)",
                opts=child,
            )
            member = pulumi.Output.concat("serviceAccount:", account.email)
            # objectAdmin only on the user's prefixes (an IAM condition on the object's resource.name). Listing is a
            # bucket-level permission (storage.objects.list is checked against projects/_/buckets/<bucket>, where an
            # object-name condition never matches), so it comes from legacyBucketReader without a condition: it
            # holds only storage.buckets.get (Milvus' bucket check) and storage.objects.list, no object data.
            gcp.storage.BucketIAMMember(
                f"{name}-{user.key}-objectadmin", bucket=bucket.name, role="roles/storage.objectAdmin", member=member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title=f"{user.key} prefixes",
                    description=f"objects under {', '.join(p + '/' for p in user.prefixes)} only",
                    expression=bucket.name.apply(lambda b, u=user: gcs_prefix_condition(b, u.prefixes))),
                opts=child)
            if user.reads:
                gcp.storage.BucketIAMMember(
                    f"{name}-{user.key}-objectviewer", bucket=bucket.name, role="roles/storage.objectViewer",
                    member=member,
                    condition=gcp.storage.BucketIAMMemberConditionArgs(
                        title=f"{user.key} read-only prefixes",
                        description=f"read objects under {', '.join(p + '/' for p in user.reads)} only",
                        expression=bucket.name.apply(lambda b, u=user: gcs_prefix_condition(b, u.reads))),
                    opts=child)
            gcp.storage.BucketIAMMember(
                f"{name}-{user.key}-legacybucketreader", bucket=bucket.name, role="roles/storage.legacyBucketReader",
                member=member, opts=child)
            gcp.serviceaccount.IAMMember(
                f"{name}-{user.key}-workload-identity",
                service_account_id=account.name,
                role="roles/iam.workloadIdentityUser",
                member=f"serviceAccount:{project}.svc.id.goog[{user.namespace}/{user.service_account}]",
                opts=child,
            )
            self.annotations[user.key] = {"iam.gke.io/gcp-service-account": account.email}
        self.bucket_name = bucket.name
