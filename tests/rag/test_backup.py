"""Data hardening and backups: S3 TLS-only policy and access logs, GCS prefix-scoped IAM, the Elasticsearch SLM Job,
the milvus-backup CronJob, volume snapshots, their flows, and the config errors of `rag.backup`."""

from __future__ import annotations

import datetime
import json

import pytest
import yaml

from components.rag.scripts import volume_snapshots as script
from config import validate
from config.cron import to_elasticsearch
from config.errors import ConfigError
from tests.conftest import run_config, run_stack
from tests.netpol import Ip, Network, Pod

from .conftest import k8s, with_rag

MILVUS_CLUSTER = {"engine": "milvus", "mode": "cluster", "replicas": 2}


def problems(values) -> str:
    with pytest.raises(ConfigError) as err:
        validate(values, "Pulumi.test.yaml")
    return str(err.value)


def env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def pod_spec(job) -> dict:
    spec = job.inputs["spec"]
    return (spec["jobTemplate"]["spec"] if "jobTemplate" in spec else spec)["template"]["spec"]


@pytest.fixture(scope="module")
def gke_cluster():
    """dev (GKE) with Milvus cluster on the bucket and Elasticsearch snapshots."""
    result = run_config(with_rag("dev", vectorStore=MILVUS_CLUSTER,
                                 fullText={"replicas": 1, "snapshots": True}))
    assert result.error is None, result.error
    return result


# ------------------------------------------------------------------------------------------- S3


def test_s3_bucket_policy_denies_every_request_without_tls():
    result = run_stack("prod")
    bucket = result.named("ai-rag-storage-bucket")
    policy = result.named("ai-rag-storage-bucket-policy")
    assert policy.inputs["bucket"] == bucket.outputs["bucket"]
    [statement] = json.loads(policy.inputs["policy"])["Statement"]
    arn = bucket.outputs["arn"]
    assert statement == {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                         "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    pab = result.named("ai-rag-storage-bucket-public-access")
    assert pab.urn in policy.dependencies


def test_s3_access_logs_go_to_a_hardened_log_bucket_that_only_the_logging_service_writes():
    result = run_stack("prod")
    bucket, logs = result.named("ai-rag-storage-bucket"), result.named("ai-rag-storage-logs")
    assert logs.protect and logs.inputs["forceDestroy"] is False
    logging = result.named("ai-rag-storage-bucket-logging")
    assert logging.inputs["bucket"] == bucket.outputs["bucket"]
    assert logging.inputs["targetBucket"] == logs.outputs["bucket"]
    assert logging.inputs["targetPrefix"] == "s3-access/"
    doc = json.loads(result.named("ai-rag-storage-logs-policy").inputs["policy"])
    allow, deny = doc["Statement"]
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"} and allow["Action"] == "s3:PutObject"
    assert allow["Resource"] == f"{logs.outputs['arn']}/s3-access/*"
    assert allow["Condition"] == {"ArnLike": {"aws:SourceArn": bucket.outputs["arn"]}}
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert result.named("ai-rag-storage-logs-policy").urn in logging.dependencies
    assert result.named("ai-rag-storage-logs-ownership").inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    pab = result.named("ai-rag-storage-logs-public-access").inputs
    assert all(pab[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert result.named("ai-rag-storage-logs-versioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    sse = result.named("ai-rag-storage-logs-sse").inputs["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"  # the only one log delivery takes
    [rule] = result.named("ai-rag-storage-logs-lifecycle").inputs["rules"]
    assert rule["expiration"]["days"] == 365


def test_access_log_expiry_comes_from_config():
    values = with_rag("prod")
    values["rag"]["bucket"]["accessLogDays"] = 45
    result = run_config(values)
    assert result.error is None, result.error
    [rule] = result.named("ai-rag-storage-logs-lifecycle").inputs["rules"]
    assert rule["expiration"]["days"] == 45


def test_s3_backup_role_owns_its_prefix_and_milvus_prefix_only():
    result = run_stack("prod")
    arn = result.named("ai-rag-storage-bucket").outputs["arn"]
    policies = {p.name: json.loads(p.inputs["policy"]) for p in result.of_type("aws:iam/rolePolicy:RolePolicy")}
    backup = policies["ai-rag-storage-milvus-backup-policy"]["Statement"][1]
    assert backup["Resource"] == [f"{arn}/milvus-backup/*", f"{arn}/milvus/*"]
    assert policies["ai-rag-storage-elasticsearch-policy"]["Statement"][1]["Resource"] == f"{arn}/elasticsearch/*"
    # Milvus writes only its own prefix and reads the backups (a restore imports them from the bucket).
    milvus = policies["ai-rag-storage-milvus-policy"]["Statement"]
    assert milvus[1]["Resource"] == f"{arn}/milvus/*"
    assert milvus[2] == {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"{arn}/milvus-backup/*"}
    assert len(policies["ai-rag-storage-elasticsearch-policy"]["Statement"]) == 2
    trust = json.loads(result.named("ai-rag-storage-milvus-backup-role").inputs["assumeRolePolicy"])
    assert "system:serviceaccount:ai-rag:milvus-backup" in json.dumps(trust)


# ------------------------------------------------------------------------------------------ GCS


def test_gcs_object_access_is_scoped_to_each_prefix_by_an_iam_condition(gke_cluster):
    result = gke_cluster
    bucket = result.named("ai-rag-storage-bucket").outputs["name"]
    members = result.of_type("gcp:storage/bucketIAMMember:BucketIAMMember")
    object_admin = {m.name: m for m in members if m.inputs["role"] == "roles/storage.objectAdmin"}
    users = ("milvus", "elasticsearch", "milvus-backup")
    assert set(object_admin) == {f"ai-rag-storage-{k}-objectadmin" for k in users}
    expected = {
        "milvus": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/milvus/")',
        "elasticsearch": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/elasticsearch/")',
        "milvus-backup": f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/milvus-backup/") || '
                         f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/milvus/")',
    }
    for key, expression in expected.items():
        assert object_admin[f"ai-rag-storage-{key}-objectadmin"].inputs["condition"]["expression"] == expression
    # Listing is checked on the bucket, where an object condition never matches: legacyBucketReader, unconditioned.
    readers = [m for m in members if m.inputs["role"] == "roles/storage.legacyBucketReader"]
    assert len(readers) == 3 and all("condition" not in m.inputs for m in readers)
    [viewer] = [m for m in members if m.inputs["role"] == "roles/storage.objectViewer"]
    assert viewer.name == "ai-rag-storage-milvus-objectviewer"
    assert viewer.inputs["condition"]["expression"] == (
        f'resource.name.startsWith("projects/_/buckets/{bucket}/objects/milvus-backup/")')
    assert {m.inputs["role"] for m in members} == {"roles/storage.objectAdmin", "roles/storage.legacyBucketReader",
                                                   "roles/storage.objectViewer"}
    gcs = result.named("ai-rag-storage-bucket").inputs
    assert gcs["uniformBucketLevelAccess"] is True and gcs["publicAccessPrevention"] == "enforced"


# ------------------------------------------------------------------------------ Elasticsearch SLM


def test_prod_registers_the_snapshot_repository_and_slm_policy_with_the_elastic_user_over_tls():
    result = run_stack("prod")
    job = next(j for j in result.of_type("kubernetes:batch/v1:Job")
               if j.inputs["metadata"]["name"].startswith("search-snapshot-policy-"))
    spec = pod_spec(job)
    [container] = spec["containers"]
    values = env(container)
    assert container["image"] == "docker.elastic.co/elasticsearch/elasticsearch:9.4.3"
    assert values["ES_URL"] == "https://search-es-http.ai-rag.svc:9200"
    assert values["ELASTIC_PASSWORD"] == {"secretKeyRef": {"name": "search-es-elastic-user", "key": "elastic"}}
    bucket = result.named("ai-rag-storage-bucket").outputs["bucket"]
    assert json.loads(values["REPOSITORY_BODY"]) == {
        "type": "s3", "settings": {"bucket": bucket, "base_path": "elasticsearch"}}
    policy = json.loads(values["POLICY_BODY"])
    assert policy["schedule"] == "0 30 1 * * ?" and policy["repository"] == "rag-bucket"
    assert policy["retention"] == {"expire_after": "30d", "min_count": 5, "max_count": 50}
    assert {"name": "search-ca", "secret": {"secretName": "search-es-http-tls",
                                            "items": [{"key": "ca.crt", "path": "ca.crt"}]}} in spec["volumes"]
    assert "--cacert /etc/search-ca/ca.crt" in container["command"][2]
    assert "_slm/policy/${POLICY}" in container["command"][2] and "_snapshot/${REPOSITORY}" in container["command"][2]
    assert result.named("ai-rag-search-elasticsearch").urn in job.dependencies
    assert spec["automountServiceAccountToken"] is False


def test_slm_schedule_and_retention_come_from_config_and_rename_the_job(gke_cluster):
    values = with_rag("prod")
    values["rag"]["backup"] = {"elasticsearch": {"schedule": "15 4 * * 0", "expireAfterDays": 14, "minCount": 3,
                                                 "maxCount": 20}}
    result = run_config(values)
    assert result.error is None, result.error
    job = next(j for j in result.of_type("kubernetes:batch/v1:Job")
               if j.inputs["metadata"]["name"].startswith("search-snapshot-policy-"))
    policy = json.loads(env(pod_spec(job)["containers"][0])["POLICY_BODY"])
    assert policy["schedule"] == "0 15 4 ? * SUN"
    assert policy["retention"] == {"expire_after": "14d", "min_count": 3, "max_count": 20}
    default = next(j for j in run_stack("prod").of_type("kubernetes:batch/v1:Job")
                   if j.inputs["metadata"]["name"].startswith("search-snapshot-policy-"))
    assert job.inputs["metadata"]["name"] != default.inputs["metadata"]["name"]  # a config change runs a new Job
    gcs_job = next(j for j in gke_cluster.of_type("kubernetes:batch/v1:Job")
                   if j.inputs["metadata"]["name"].startswith("search-snapshot-policy-"))
    assert json.loads(env(pod_spec(gcs_job)["containers"][0])["REPOSITORY_BODY"])["type"] == "gcs"


# ----------------------------------------------------------------------------------- milvus-backup


def test_milvus_backup_cron_job_backs_up_to_its_prefix_with_irsa():
    result = run_stack("prod")
    cron = k8s(result, "CronJob", "milvus-backup", "ai-rag")
    spec = cron.inputs["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == ("0 2 * * *", "Etc/UTC", "Forbid")
    pod = pod_spec(cron)
    [container] = pod["containers"]
    assert container["image"] == "milvusdb/milvus-backup:v0.5.16"
    assert env(container)["KEEP"] == "7"
    assert env(container)["MILVUS_PASSWORD"] == {"secretKeyRef": {"name": "milvus-credentials",
                                                                  "key": "root-password"}}
    script_text = container["command"][2]
    assert 'create -n "$name"' in script_text and "tail -n +$((KEEP + 1))" in script_text
    assert 'delete -n "$old"' in script_text
    assert pod["serviceAccountName"] == "milvus-backup"
    account = k8s(result, "ServiceAccount", "milvus-backup", "ai-rag")
    role = result.named("ai-rag-storage-milvus-backup-role")
    assert account.inputs["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role.outputs["arn"]}
    config = yaml.safe_load(k8s(result, "ConfigMap", "milvus-backup", "ai-rag").inputs["data"]["backup.yaml"])
    bucket = result.named("ai-rag-storage-bucket").outputs["bucket"]
    minio = config["minio"]
    assert (minio["storageType"], minio["bucketName"], minio["rootPath"], minio["useIAM"]) == (
        "aws", bucket, "milvus", True)
    assert (minio["backupBucketName"], minio["backupRootPath"], minio["backupUseIAM"]) == (bucket, "milvus-backup",
                                                                                          True)
    assert config["milvus"]["address"] == "milvus.ai-rag.svc" and config["milvus"]["port"] == 19530
    assert "password" not in config["milvus"]


def test_milvus_backup_schedule_and_keep_from_config_and_gke_uses_workload_identity(gke_cluster):
    values = with_rag("prod")
    values["rag"]["backup"] = {"milvus": {"schedule": "0 */6 * * *", "keep": 28}}
    cron = k8s(run_config(values), "CronJob", "milvus-backup", "ai-rag")
    assert cron.inputs["spec"]["schedule"] == "0 */6 * * *"
    assert env(pod_spec(cron)["containers"][0])["KEEP"] == "28"
    account = k8s(gke_cluster, "ServiceAccount", "milvus-backup", "ai-rag")
    gsa = gke_cluster.named("ai-rag-storage-milvus-backup-sa")
    assert account.inputs["metadata"]["annotations"] == {"iam.gke.io/gcp-service-account": gsa.outputs["email"]}
    wi = gke_cluster.named("ai-rag-storage-milvus-backup-workload-identity")
    assert wi.inputs["member"] == "serviceAccount:acme-ai-dev.svc.id.goog[ai-rag/milvus-backup]"
    config = yaml.safe_load(k8s(gke_cluster, "ConfigMap", "milvus-backup", "ai-rag").inputs["data"]["backup.yaml"])
    assert config["minio"]["storageType"] == "gcp" and config["minio"]["address"] == "storage.googleapis.com"


def test_milvus_backup_can_be_switched_off():
    values = with_rag("prod")
    values["rag"]["backup"] = {"milvus": {"enabled": False}}
    result = run_config(values)
    assert not [r for r in result.resources if r.name.startswith("ai-rag-backups-milvus")]
    assert "ai-rag-storage-milvus-backup-role" not in {r.name for r in result.resources}
    milvus = json.loads(result.named("ai-rag-storage-milvus-policy").inputs["policy"])["Statement"]
    assert len(milvus) == 2  # no backups to read


# -------------------------------------------------------------------------------------- volumes


@pytest.mark.parametrize("stack, driver, policy", [("prod", "ebs.csi.aws.com", "Retain"),
                                                   ("dev", "pd.csi.storage.gke.io", "Delete")])
def test_volume_snapshot_class_follows_the_cloud_and_deletion_protection(stack, driver, policy):
    result = run_stack(stack)
    [cls] = result.of_type("kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass")
    assert (cls.inputs["metadata"]["name"], cls.inputs["driver"], cls.inputs["deletionPolicy"]) == (
        "ai-platform-rag-backup", driver, policy)
    assert set(cls.inputs) == {"apiVersion", "kind", "metadata", "driver", "deletionPolicy"}
    addons = [a for a in result.of_type("aws:eks/addon:Addon") if a.inputs["addonName"] == "snapshot-controller"]
    if stack == "prod":
        # EKS ships no snapshot CRDs/controller: the add-on comes first.
        [addon] = addons
        assert addon.urn in cls.dependencies
    else:
        assert not addons  # GKE's PD CSI driver brings its own


def test_volume_snapshot_cron_job_rbac_and_retention():
    result = run_stack("prod")
    cron = k8s(result, "CronJob", "volume-snapshots", "ai-rag")
    assert cron.inputs["spec"]["schedule"] == "0 3 * * *" and cron.inputs["spec"]["timeZone"] == "Etc/UTC"
    pod = pod_spec(cron)
    [container] = pod["containers"]
    assert container["image"] == "python:3.13.7-alpine"
    assert env(container)["KEEP"] == "7" and env(container)["SNAPSHOT_CLASS"] == "ai-platform-rag-backup"
    assert pod["serviceAccountName"] == "volume-snapshots"
    role = k8s(result, "Role", "volume-snapshots", "ai-rag")
    rules = {tuple(r["resources"]): sorted(r["verbs"]) for r in role.inputs["rules"]}
    assert rules == {("persistentvolumeclaims",): ["get", "list"],
                     ("volumesnapshots",): ["create", "delete", "get", "list"]}
    binding = k8s(result, "RoleBinding", "volume-snapshots", "ai-rag")
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "volume-snapshots",
                                           "namespace": "ai-rag"}]
    shipped = k8s(result, "ConfigMap", "volume-snapshots", "ai-rag").inputs["data"]["volume_snapshots.py"]
    assert shipped == open(script.__file__).read()


def test_volume_settings_from_config():
    values = with_rag("prod")
    values["rag"]["backup"] = {"volumes": {"schedule": "30 23 * * 6", "keep": 14, "deletionPolicy": "Delete"}}
    result = run_config(values)
    cron = k8s(result, "CronJob", "volume-snapshots", "ai-rag")
    assert cron.inputs["spec"]["schedule"] == "30 23 * * 6"
    assert env(pod_spec(cron)["containers"][0])["KEEP"] == "14"
    [cls] = result.of_type("kubernetes:snapshot.storage.k8s.io/v1:VolumeSnapshotClass")
    assert cls.inputs["deletionPolicy"] == "Delete"


def test_existing_clusters_run_no_backups():
    result = run_stack("local")
    assert not [r for r in result.resources if r.type == "ai-platform:rag:Backups"]


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_every_backup_pod_is_restricted(stack):
    result = run_stack(stack)
    jobs = [*result.of_type("kubernetes:batch/v1:CronJob"), *result.of_type("kubernetes:batch/v1:Job")]
    backups = [j for j in jobs if j.parent and "backups" in j.parent]
    assert backups
    for job in backups:
        pod = pod_spec(job)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                          "capabilities": {"drop": ["ALL"]}}
            assert container["resources"]["limits"]["memory"]


# --------------------------------------------------------------------------------- the prune logic


def snap(name, claim, minute, ready):
    return {"metadata": {"name": name, "creationTimestamp": f"2026-12-07T03:{minute:02d}:00Z"},
            "spec": {"source": {"persistentVolumeClaimName": claim}}, "status": {"readyToUse": ready}}


def test_pruning_keeps_the_newest_ready_snapshots_per_claim():
    snaps = [snap(f"a{i}", "data-a", i, True) for i in range(5)] + [snap("b0", "data-b", 0, True)]
    assert script.to_prune(snaps, keep=3) == ["a0", "a1"]


def test_failed_runs_never_erode_good_snapshots():
    snaps = [snap("good0", "c", 0, True), snap("good1", "c", 1, True), snap("bad2", "c", 2, False),
             snap("bad3", "c", 3, False)]
    assert script.to_prune(snaps, keep=2) == []  # the failures are newer than the kept ones: kept
    snaps.append(snap("old-bad", "c", 0, False))
    snaps[-1]["metadata"]["creationTimestamp"] = "2026-12-06T00:00:00Z"
    assert script.to_prune(snaps, keep=2) == ["old-bad"]


def test_snapshot_names_are_valid_and_timestamped():
    now = datetime.datetime(2026, 12, 7, 3, 0, 5, tzinfo=datetime.timezone.utc)
    body = script.snapshot_object("elasticsearch-data-search-es-default-0", "ai-rag", "cls", now)
    assert body["metadata"]["name"] == "elasticsearch-data-search-es-default-0-20261207-030005"
    assert body["metadata"]["labels"]["ai-platform/backup"] == "scheduled"
    assert body["spec"] == {"volumeSnapshotClassName": "cls",
                            "source": {"persistentVolumeClaimName": "elasticsearch-data-search-es-default-0"}}
    assert len(script.snapshot_name("x" * 300, now)) <= 253


# ------------------------------------------------------------------------------------- flows


def test_backup_pods_reach_only_what_they_need():
    result = run_stack("prod")
    net = Network(result.resources)
    milvus_backup, snapshots = (
        Pod("ai-rag", k8s(result, "CronJob", name, "ai-rag").inputs["spec"]["jobTemplate"]["spec"]["template"][
            "metadata"]["labels"]) for name in ("milvus-backup", "volume-snapshots"))
    s3 = Ip("52.216.0.10")
    assert net.can_reach(milvus_backup, s3, 443)
    assert not net.can_reach(snapshots, s3, 443)
    api_server = Ip("10.40.255.210")  # in a control-plane /28 of the prod VPC: the EKS control plane's ENIs
    assert net.can_reach(snapshots, api_server, 443)
    assert not net.can_reach(snapshots, Ip("10.40.0.1"), 443)  # the rest of the VPC is not the API server
    assert not net.can_reach(milvus_backup, api_server, 443)
    assert net.can_reach(milvus_backup, Pod("ai-rag", {"app.kubernetes.io/name": "milvus", "component": "proxy"}),
                         19530)


# ------------------------------------------------------------------------------------- config


@pytest.mark.parametrize("backup, path, words", [
    ({"volumes": {"schedule": "0 3 * *"}}, "rag.backup.volumes.schedule", "not a 5-field cron"),
    ({"milvus": {"schedule": "0 25 * * *"}}, "rag.backup.milvus.schedule", "hour '25' is outside 0-23"),
    ({"elasticsearch": {"schedule": "@daily"}}, "rag.backup.elasticsearch.schedule", "not a 5-field cron"),
    ({"elasticsearch": {"minCount": 10, "maxCount": 5}}, "rag.backup.elasticsearch", "minCount 10 is above maxCount"),
    ({"elasticsearch": {"expireAfterDays": 0}}, "rag.backup.elasticsearch.expireAfterDays", "greater than or equal"),
    ({"milvus": {"keep": 0}}, "rag.backup.milvus.keep", "greater than or equal"),
    ({"volumes": {"deletionPolicy": "Keep"}}, "rag.backup.volumes.deletionPolicy", "Retain"),
    ({"elasticsearch": {"schedule": "0 1 1 * 1"}}, "rag.backup.elasticsearch.schedule",
     "day-of-month or day-of-week, not both"),
])
def test_bad_schedules_and_retention_are_config_errors(backup, path, words):
    message = problems(with_rag("prod", backup=backup))
    assert f"ai-platform:{path}" in message and words in message, message


def test_backups_asked_for_where_they_cannot_run_are_config_errors():
    dev = problems(with_rag("dev", backup={"milvus": {"enabled": True}, "elasticsearch": {"enabled": True}}))
    assert "ai-platform:rag.backup.milvus.enabled: milvus-backup copies segments" in dev
    assert "ai-platform:rag.backup.elasticsearch.enabled: snapshots go to the RAG bucket" in dev
    local = problems(with_rag("local", backup={"volumes": {"enabled": True}}))
    assert "ai-platform:rag.backup.volumes.enabled: volume snapshots need provider gke or eks" in local


def test_cron_translation_for_elasticsearch():
    assert to_elasticsearch("30 1 * * *") == "0 30 1 * * ?"
    assert to_elasticsearch("0 2 * * 1-5") == "0 0 2 ? * MON-FRI"
    assert to_elasticsearch("0 2 * * 0,7") == "0 0 2 ? * SUN,SUN"
    assert to_elasticsearch("0 */6 1 * *") == "0 0 */6 1 * ?"
