"""Cloud resources: public buckets, bucket guardrails, EBS encryption, IAM, workload identity, EKS and GKE.

Each control has a compliant and a violating case on props shaped like the program's recorded pulumi-aws /
pulumi-gcp inputs (camelCase, policy documents as JSON strings); the shipped stacks passing every one of
them is tests/policy/test_mutations_cloud.py's.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.rules.cloud import RESOURCE_STAR_ACTIONS, companions, network_policy_enabled

from .harness import Res, run_resource, run_stack

PUBLIC = "bucket-not-public"
GUARDRAILS = "s3-bucket-guardrails"
EBS = "ebs-encrypted"
IAM = "iam-least-privilege"
WI = "workload-identity-trust-scoped"
EKS_LOGS = "eks-control-plane-logs"
EKS_NETPOL = "eks-network-policy-enforced"
GKE = "gke-cluster-hardened"

BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
NAME = "ai-rag-storage-bucket-07ed405"
ARN = f"arn:aws:s3:::{NAME}"
OIDC = "oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F67890"

TLS_ONLY = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [ARN, f"{ARN}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
LOG_DELIVERY = {"Sid": "S3ServerAccessLogs", "Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject", "Resource": f"{ARN}/s3-access/*",
                "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::other"}}}


def doc(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


# ------------------------------------------------------------------------------------ bucket-not-public


def test_private_bucket_resources_pass():
    assert run_resource(PUBLIC, BUCKET, {"forceDestroy": False}) == []
    assert run_resource(PUBLIC, BUCKET_POLICY, {"bucket": NAME, "policy": doc(LOG_DELIVERY, TLS_ONLY)}) == []
    assert run_resource(PUBLIC, PAB, {"bucket": NAME, "blockPublicAcls": True, "blockPublicPolicy": True,
                                      "ignorePublicAcls": True, "restrictPublicBuckets": True}) == []
    assert run_resource(PUBLIC, "gcp:storage/bucket:Bucket", {"name": "b", "publicAccessPrevention": "enforced"}) == []
    assert run_resource(PUBLIC, "gcp:storage/bucketIAMMember:BucketIAMMember",
                        {"bucket": "b", "role": "roles/storage.objectViewer",
                         "member": "serviceAccount:milvus@p.iam.gserviceaccount.com"}) == []


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::1:root", "*"]}])
def test_policy_allowing_everyone_is_public(principal):
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": f"{ARN}/*"}
    found = run_resource(PUBLIC, BUCKET_POLICY, {"bucket": NAME, "policy": doc(statement, TLS_ONLY)})
    assert len(found) == 1 and "allows Principal '*' (s3:GetObject) without a condition" in found[0]


def test_conditions_that_pin_the_caller_and_those_that_do_not():
    def verdict(condition):
        statement = {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"{ARN}/*",
                     "Condition": condition}
        return run_resource(PUBLIC, BUCKET_POLICY, {"bucket": NAME, "policy": doc(statement)})

    assert verdict({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}) == []
    assert verdict({"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}) == []
    assert verdict({"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}})
    assert verdict({"StringLike": {"aws:PrincipalOrgID": "*"}})
    assert verdict({"StringEqualsIfExists": {"aws:SourceAccount": "123456789012"}})
    assert verdict({"StringEquals": {"s3:prefix": "public/"}})


def test_public_acls_blocks_and_gcs_grants():
    assert "canned ACL 'public-read'" in run_resource(PUBLIC, BUCKET, {"acl": "public-read"})[0]
    assert run_resource(PUBLIC, "aws:s3/bucketAcl:BucketAcl", {"bucket": NAME, "acl": "private"}) == []
    grant = {"grantee": {"type": "Group", "uri": "http://acs.amazonaws.com/groups/global/AllUsers"},
             "permission": "READ"}
    assert "ACL grants READ to AllUsers" in run_resource(
        PUBLIC, "aws:s3/bucketAcl:BucketAcl", {"bucket": NAME, "accessControlPolicy": {"grants": [grant]}})[0]
    weak = run_resource(PUBLIC, PAB, {"bucket": NAME, "blockPublicAcls": True, "blockPublicPolicy": False,
                                      "ignorePublicAcls": True})
    assert "leaves blockPublicPolicy, restrictPublicBuckets off" in weak[0]
    assert run_resource(PUBLIC, "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", {})
    assert "'inherited'" in run_resource(PUBLIC, "gcp:storage/bucket:Bucket",
                                         {"name": "b", "publicAccessPrevention": "inherited"})[0]
    assert "grants allUsers access" in run_resource(
        PUBLIC, "gcp:storage/bucketIAMBinding:BucketIAMBinding",
        {"bucket": "b", "role": "roles/storage.objectViewer", "members": ["allUsers"]})[0]
    assert "grants allAuthenticatedUsers access" in run_resource(
        PUBLIC, "gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["READER:allAuthenticatedUsers"]})[0]
    assert "not a JSON policy document" in run_resource(PUBLIC, BUCKET_POLICY, {"bucket": NAME, "policy": "{oops"})[0]


# --------------------------------------------------------------------------------- s3-bucket-guardrails


def guarded(*, block=True, sse=True, policy=True, name=NAME) -> list[Res]:
    resources = [Res(BUCKET, "bucket", {"bucket": name, "forceDestroy": False})]
    if block:
        resources.append(Res(PAB, "bucket-public-access", {"bucket": name, "blockPublicAcls": True,
                                                           "blockPublicPolicy": True, "ignorePublicAcls": True,
                                                           "restrictPublicBuckets": True}))
    if sse:
        resources.append(Res(SSE, "bucket-sse", {"bucket": name, "rules": [
            {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}, "bucketKeyEnabled": True}]}))
    if policy:
        resources.append(Res(BUCKET_POLICY, "bucket-policy", {"bucket": name, "policy": doc(TLS_ONLY)}))
    return resources


def test_guarded_bucket_passes():
    assert run_stack(GUARDRAILS, guarded()) == []


@pytest.mark.parametrize("missing, text", [
    ("block", "no a BucketPublicAccessBlock"),
    ("sse", "BucketServerSideEncryptionConfiguration"),
    ("policy", "a bucket policy denying requests without TLS"),
])
def test_each_missing_guardrail_is_named(missing, text):
    found = run_stack(GUARDRAILS, guarded(**{missing: False}))
    assert len(found) == 1 and text in found[0].message and found[0].urn.endswith("::bucket")


def test_guardrails_of_another_bucket_do_not_count():
    other = [r for r in guarded(name="other-bucket") if r.type != BUCKET]
    found = run_stack(GUARDRAILS, [Res(BUCKET, "bucket", {"bucket": NAME})] + other)
    assert len(found) == 1 and "no a BucketPublicAccessBlock" in found[0].message


def test_tls_policy_must_deny_insecure_transport():
    allow = {**TLS_ONLY, "Effect": "Allow"}
    resources = [r if r.type != BUCKET_POLICY else Res(BUCKET_POLICY, r.name, {"bucket": NAME, "policy": doc(allow)})
                 for r in guarded()]
    assert "denying requests without TLS" in run_stack(GUARDRAILS, resources)[0].message


def test_account_public_access_block_covers_every_bucket():
    account = Res("aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock", "account", {
        "blockPublicAcls": True, "blockPublicPolicy": True, "ignorePublicAcls": True, "restrictPublicBuckets": True})
    assert run_stack(GUARDRAILS, guarded(block=False) + [account]) == []


def test_companion_with_an_unknown_bucket_name_follows_its_dependency():
    """In a first preview the companion's `bucket` (the bucket's id) is unknown: its dependency decides."""
    bucket = SimpleNamespace(resource_type=BUCKET, urn="urn:b", props={"bucket": NAME}, dependencies=[])
    other = SimpleNamespace(resource_type=BUCKET, urn="urn:o", props={"bucket": "other"}, dependencies=[])
    props = unknown_checking_proxy({"bucket": UNKNOWN_STRING_VALUE, "rules": []})
    sse = SimpleNamespace(resource_type=SSE, urn="urn:s", props=props, dependencies=[bucket])
    both = SimpleNamespace(resource_type=SSE, urn="urn:t", props=props, dependencies=[bucket, other])
    assert companions(SSE, bucket, [bucket, other, sse, both]) == [sse]
    assert companions(SSE, other, [bucket, other, sse, both]) == []


# ---------------------------------------------------------------------------------------- ebs-encrypted


def template(encrypted) -> dict:
    ebs = {"volumeType": "gp3", "volumeSize": 300, "deleteOnTermination": "true"}
    if encrypted is not None:
        ebs["encrypted"] = encrypted
    return {"name": "gpu-lt", "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": ebs}]}


def test_encrypted_launch_template_passes():
    assert run_resource(EBS, "aws:ec2/launchTemplate:LaunchTemplate", template("true")) == []


@pytest.mark.parametrize("encrypted", ["false", None, False])
def test_unencrypted_launch_template_is_refused(encrypted):
    found = run_resource(EBS, "aws:ec2/launchTemplate:LaunchTemplate", template(encrypted))
    assert found == ['launch template gpu-lt: EBS volume /dev/xvda is not encrypted (ebs.encrypted: "true").']


# ---------------------------------------------------------------------------------- iam-least-privilege

AUTOSCALER = {"Effect": "Allow", "Resource": "*", "Action": [
    "autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstanceTypes", "eks:DescribeNodegroup",
    "ec2:GetInstanceTypesFromInstanceRequirements"]}
TAGGED_WRITE = {"Effect": "Allow", "Resource": "*", "Action": ["autoscaling:SetDesiredCapacity"],
                "Condition": {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/ai-prod": "owned"}}}
SCOPED = {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"{ARN}/milvus/*"}


def test_scoped_and_documented_grants_pass():
    assert run_resource(IAM, ROLE_POLICY, {"role": "r", "policy": doc(SCOPED, AUTOSCALER, TAGGED_WRITE)}) == []
    cni = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    assert run_resource(IAM, ATTACHMENT, {"role": "r", "policyArn": cni}) == []
    writer = {"project": "p", "role": "roles/logging.logWriter", "member": "serviceAccount:n@p.iam.gserviceaccount.com"}
    assert run_resource(IAM, "gcp:projects/iAMMember:IAMMember", writer) == []
    assert all(reason for reason in RESOURCE_STAR_ACTIONS.values())


@pytest.mark.parametrize("statement, text", [
    ({"Effect": "Allow", "Action": "*", "Resource": ARN}, "allows Action '*'"),
    ({"Effect": "Allow", "Action": ["iam:*"], "Resource": "*"}, "allows Action 'iam:*'"),
    ({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}, "allows NotAction"),
    ({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": ARN}, "allows NotResource"),
    ({"Effect": "Allow", "Action": ["s3:GetObject", "ec2:DescribeImages"], "Resource": "*"},
     "allows s3:GetObject on Resource '*'"),
    ({"Effect": "Allow", "Action": "ec2:TerminateInstances", "Resource": "*",
      "Condition": {"StringLike": {"aws:ResourceTag/owner": "*"}}}, "allows ec2:TerminateInstances on Resource '*'"),
])
def test_broad_statements_are_refused(statement, text):
    for resource_type, props in ((ROLE_POLICY, {"role": "r", "policy": doc(SCOPED, statement)}),
                                 ("aws:iam/policy:Policy", {"policy": doc(statement)}),
                                 (ROLE, {"assumeRolePolicy": doc(), "inlinePolicies": [
                                     {"name": "inline", "policy": doc(statement)}]})):
        found = run_resource(IAM, resource_type, props)
        assert len(found) == 1 and text in found[0], (resource_type, found)


def test_deny_statements_may_be_broad():
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert run_resource(IAM, ROLE_POLICY, {"role": "r", "policy": doc(deny, SCOPED)}) == []


@pytest.mark.parametrize("arn", ["arn:aws:iam::aws:policy/AdministratorAccess",
                                 "arn:aws:iam::aws:policy/PowerUserAccess", "arn:aws:iam::aws:policy/IAMFullAccess"])
def test_admin_managed_policies_are_refused(arn):
    name = arn.rsplit("/", 1)[-1]
    found = run_resource(IAM, ATTACHMENT, {"role": "r", "policyArn": arn})
    assert f"attaches the AWS managed policy {name}" in found[0]
    assert run_resource(IAM, ROLE, {"assumeRolePolicy": doc(), "managedPolicyArns": [arn]})
    assert run_resource(IAM, "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
                        {"roleName": "r", "policyArns": [arn]})


def test_gcp_admin_roles_are_refused():
    found = run_resource(IAM, "gcp:projects/iAMMember:IAMMember",
                         {"project": "p", "role": "roles/editor",
                          "member": "serviceAccount:n@p.iam.gserviceaccount.com"})
    assert "grants roles/editor" in found[0]


# ------------------------------------------------------------------------ workload-identity-trust-scoped


def trust(operator="StringEquals", sub="system:serviceaccount:ai-rag:milvus") -> str:
    condition = {f"{OIDC}:aud": "sts.amazonaws.com"}
    conditions = {"StringEquals": condition}
    if sub is not None:
        conditions.setdefault(operator, {})[f"{OIDC}:sub"] = sub
    return doc({"Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{OIDC}"},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": conditions})


def test_named_service_account_trusts_pass():
    assert run_resource(WI, ROLE, {"assumeRolePolicy": trust()}) == []
    exact_like = trust("StringLike", "system:serviceaccount:ai-rag:milvus")
    assert run_resource(WI, ROLE, {"assumeRolePolicy": exact_like}) == []
    service = doc({"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"}, "Action": "sts:AssumeRole"})
    assert run_resource(WI, ROLE, {"assumeRolePolicy": service}) == []
    assert run_resource(WI, "gcp:serviceaccount/iAMMember:IAMMember", {
        "serviceAccountId": "projects/p/serviceAccounts/milvus@p.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser", "member": "serviceAccount:p.svc.id.goog[ai-rag/milvus]"}) == []


@pytest.mark.parametrize("operator, sub, text", [
    ("StringLike", "system:serviceaccount:*", "matches subjects system:serviceaccount:*"),
    ("StringLike", "*", "matches subjects *"),
    ("StringLike", ["system:serviceaccount:ai-rag:milvus", "system:serviceaccount:ai-rag:*"], "ai-rag:*"),
    ("StringEquals", None, "no ':sub' condition"),
    ("StringNotEquals", "system:serviceaccount:kube-system:x", "tests ':sub' with StringNotEquals"),
])
def test_wildcard_trusts_are_refused(operator, sub, text):
    found = run_resource(WI, ROLE, {"assumeRolePolicy": trust(operator, sub)})
    assert len(found) == 1 and text in found[0]


@pytest.mark.parametrize("member", ["serviceAccount:p.svc.id.goog[ai-rag/*]",
                                    "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/"
                                    "p.svc.id.goog/namespace/ai-rag"])
def test_gcp_workload_identity_wildcards_are_refused(member):
    found = run_resource(WI, "gcp:serviceaccount/iAMBinding:IAMBinding", {
        "serviceAccountId": "projects/p/serviceAccounts/x@p.iam.gserviceaccount.com",
        "role": "roles/iam.workloadIdentityUser", "members": [member]})
    assert len(found) == 1 and "not one Kubernetes service account" in found[0]


# -------------------------------------------------------------------------------------------------- EKS


def test_eks_control_plane_logs():
    full = {"name": "ai-prod", "enabledClusterLogTypes": ["api", "audit", "authenticator", "scheduler"]}
    assert run_resource(EKS_LOGS, EKS_CLUSTER, full) == []
    found = run_resource(EKS_LOGS, EKS_CLUSTER, {"name": "ai-prod", "enabledClusterLogTypes": ["api"]})
    assert "does not send control-plane logs audit, authenticator" in found[0]
    assert "api, audit, authenticator" in run_resource(EKS_LOGS, EKS_CLUSTER, {"name": "ai-prod"})[0]


def cni(config: str | None, cluster="ai-prod") -> Res:
    props = {"addonName": "vpc-cni", "clusterName": cluster, "addonVersion": "v1.20.4-eksbuild.2"}
    if config is not None:
        props["configurationValues"] = config
    return Res(ADDON, "addon-vpc-cni", props)


def test_eks_network_policy_enforced():
    cluster = Res(EKS_CLUSTER, "eks", {"name": "ai-prod"})
    assert run_stack(EKS_NETPOL, [cluster, cni('{"enableNetworkPolicy": "true"}')]) == []
    off = run_stack(EKS_NETPOL, [cluster, cni('{"enableNetworkPolicy": "false"}')])
    assert len(off) == 1 and "does not set configurationValues enableNetworkPolicy" in off[0].message
    assert off[0].urn.endswith("::addon-vpc-cni")
    assert run_stack(EKS_NETPOL, [cluster, cni(None)])
    missing = run_stack(EKS_NETPOL, [cluster, cni('{"enableNetworkPolicy": "true"}', cluster="other")])
    assert "has no vpc-cni Addon" in missing[0].message
    assert network_policy_enabled({"configurationValues": '{"enableNetworkPolicy": true}'})
    assert not network_policy_enabled({"configurationValues": "not json"})


# -------------------------------------------------------------------------------------------------- GKE

HARDENED_GKE = {"name": "ai-dev", "privateClusterConfig": {"enablePrivateNodes": True, "enablePrivateEndpoint": False},
                "masterAuthorizedNetworksConfig": {"cidrBlocks": []}, "datapathProvider": "ADVANCED_DATAPATH"}


def test_hardened_gke_passes():
    assert run_resource(GKE, GKE_CLUSTER, HARDENED_GKE) == []
    calico = {**HARDENED_GKE, "datapathProvider": "LEGACY_DATAPATH", "networkPolicy": {"enabled": True}}
    assert run_resource(GKE, GKE_CLUSTER, calico) == []
    no_ip = {**HARDENED_GKE, "masterAuthorizedNetworksConfig": None,
             "controlPlaneEndpointsConfig": {"ipEndpointsConfig": {"enabled": False}}}
    assert run_resource(GKE, GKE_CLUSTER, {k: v for k, v in no_ip.items() if v is not None}) == []
    assert run_resource(GKE, "gcp:container/nodePool:NodePool", {"name": "l4", "cluster": "ai-dev"}) == []


@pytest.mark.parametrize("change, text", [
    ({"privateClusterConfig": {"enablePrivateNodes": False}}, "nodes have public IPs"),
    ({"masterAuthorizedNetworksConfig": None}, "no authorized networks"),
    ({"datapathProvider": None}, "NetworkPolicies are not enforced"),
    ({"datapathProvider": "LEGACY_DATAPATH", "networkPolicy": {"enabled": False}}, "NetworkPolicies are not enforced"),
])
def test_gke_gaps_are_refused(change, text):
    props = {k: v for k, v in {**HARDENED_GKE, **change}.items() if v is not None}
    found = run_resource(GKE, GKE_CLUSTER, props)
    assert len(found) == 1 and text in found[0]


def test_gke_node_pool_opting_out_of_private_nodes():
    found = run_resource(GKE, "gcp:container/nodePool:NodePool",
                         {"name": "l4", "networkConfig": {"enablePrivateNodes": False}})
    assert found == ["GKE node pool l4: nodes have public IPs (networkConfig.enablePrivateNodes: false)."]


def test_gcp_workload_identity_user_on_a_project_is_refused():
    found = run_resource(WI, "gcp:projects/iAMMember:IAMMember", {
        "project": "p", "role": "roles/iam.workloadIdentityUser",
        "member": "serviceAccount:p.svc.id.goog[ai-rag/milvus]"})
    assert len(found) == 1 and "above one service account (on the whole projects)" in found[0]
