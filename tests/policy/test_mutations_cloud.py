"""Cloud and availability mutations of the real recorded prod (EKS) and dev (GKE) resources, each caught by a
named mandatory rule (harness: tests/policy/test_mutations.py — the shipped stacks pass every mandatory rule
there, with the new rules registered).

Every edit is one a pull request could realistically make: open a bucket policy to `Principal: *`, switch a
public access block off, widen an IAM grant, attach AdministratorAccess, let any service account assume an
IRSA role, turn control-plane logs or CNI network policy enforcement off, drop GKE's Dataplane V2 or private
nodes, set a PDB's minAvailable to the replicas, run a prod model server at one replica.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from tests.conftest import run_stack as run_shipped
from tests.conftest import stack_values
from tests.policy.test_mutations import assert_caught, edit
from tools.mockrun import Recorded

STACKS = ("dev", "prod")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
ADDON = "aws:eks/addon:Addon"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"


def first(stack: str, resources: list[Recorded], resource_type: str,
          where: Callable[[Recorded], bool] = lambda r: True) -> Recorded:
    found = [r for r in resources if r.type == resource_type and where(r)]
    if not found:
        pytest.fail(f"{stack} has no {resource_type}")
    return found[0]


def edit_document(r: Recorded, key: str, change: Callable[[dict], None]) -> None:
    def apply(props: dict) -> None:
        document = json.loads(props[key])
        change(document)
        props[key] = json.dumps(document)

    edit(r, apply)


# ------------------------------------------------------------------------------------------ buckets


def bucket_policy_principal_star(stack: str, resources: list[Recorded]) -> dict[str, str]:
    policy = first(stack, resources, BUCKET_POLICY)
    arn = json.loads(policy.inputs["policy"])["Statement"][-1]["Resource"][-1]
    edit_document(policy, "policy", lambda d: d["Statement"].append(
        {"Sid": "PublicRead", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "s3:GetObject", "Resource": arn}))
    return {"bucket-not-public": "statement PublicRead allows Principal '*' (s3:GetObject)"}


def public_access_block_off(stack: str, resources: list[Recorded]) -> dict[str, str]:
    block = first(stack, resources, PAB)
    edit(block, lambda p: p.update(blockPublicPolicy=False, restrictPublicBuckets=False))
    return {"bucket-not-public": "leaves blockPublicPolicy, restrictPublicBuckets off"}


def bucket_public_read_acl(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, BUCKET), lambda p: p.update(acl="public-read"))
    return {"bucket-not-public": "canned ACL 'public-read'"}


def delete_public_access_block(stack: str, resources: list[Recorded]) -> dict[str, str]:
    block = first(stack, resources, PAB)
    resources.remove(block)
    bucket = first(stack, resources, BUCKET, lambda r: r.outputs.get("bucket") == block.inputs["bucket"])
    return {"s3-bucket-guardrails": f"S3 bucket {bucket.name} has no a BucketPublicAccessBlock"}


def delete_encryption(stack: str, resources: list[Recorded]) -> dict[str, str]:
    sse = first(stack, resources, SSE)
    resources.remove(sse)
    return {"s3-bucket-guardrails": "BucketServerSideEncryptionConfiguration with a default sseAlgorithm"}


def drop_tls_only(stack: str, resources: list[Recorded]) -> dict[str, str]:
    policy = first(stack, resources, BUCKET_POLICY)
    edit_document(policy, "policy", lambda d: d.update(
        Statement=[s for s in d["Statement"] if s.get("Sid") != "DenyInsecureTransport"] or [
            {"Sid": "Placeholder", "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteBucket",
             "Resource": "arn:aws:s3:::nothing"}]))
    return {"s3-bucket-guardrails": "a bucket policy denying requests without TLS"}


# ---------------------------------------------------------------------------------------------- IAM


def _workload_policy(stack: str, resources: list[Recorded]) -> Recorded:
    return first(stack, resources, ROLE_POLICY, lambda r: "s3:GetObject" in r.inputs["policy"])


def iam_action_star(stack: str, resources: list[Recorded]) -> dict[str, str]:
    policy = _workload_policy(stack, resources)
    edit_document(policy, "policy", lambda d: d["Statement"][1].update(Action="*"))
    return {"iam-least-privilege": f"RolePolicy {policy.name}: policy statement 1 allows Action '*'"}


def iam_resource_star(stack: str, resources: list[Recorded]) -> dict[str, str]:
    policy = _workload_policy(stack, resources)
    edit_document(policy, "policy", lambda d: d["Statement"][1].update(Resource="*"))
    return {"iam-least-privilege": "on Resource '*'"}


def attach_administrator(stack: str, resources: list[Recorded]) -> dict[str, str]:
    template = first(stack, resources, ATTACHMENT, lambda r: "AmazonEKSWorkerNodePolicy" in r.inputs["policyArn"])
    admin = replace(template, urn=template.urn.replace(template.name, "node-admin"), name="node-admin",
                    inputs={**template.inputs, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
                    outputs={**template.outputs, "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"})
    resources.append(admin)
    return {"iam-least-privilege": "attaches the AWS managed policy AdministratorAccess"}


def gcp_editor_role(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, PROJECT_MEMBER), lambda p: p.update(role="roles/editor"))
    return {"iam-least-privilege": "grants roles/editor"}


def _irsa_role(stack: str, resources: list[Recorded]) -> Recorded:
    return first(stack, resources, ROLE, lambda r: "AssumeRoleWithWebIdentity" in r.inputs["assumeRolePolicy"]
                 and "ai-rag:milvus\"" in r.inputs["assumeRolePolicy"])


def irsa_wildcard_subject(stack: str, resources: list[Recorded]) -> dict[str, str]:
    role = _irsa_role(stack, resources)

    def widen(document: dict) -> None:
        condition = document["Statement"][0]["Condition"]
        sub = next(k for k in condition["StringEquals"] if k.endswith(":sub"))
        condition["StringLike"] = {sub: condition["StringEquals"].pop(sub).rsplit(":", 1)[0] + ":*"}

    edit_document(role, "assumeRolePolicy", widen)
    return {"workload-identity-trust-scoped": "matches subjects system:serviceaccount:ai-rag:*"}


def irsa_without_subject(stack: str, resources: list[Recorded]) -> dict[str, str]:
    role = _irsa_role(stack, resources)

    def drop(document: dict) -> None:
        equals = document["Statement"][0]["Condition"]["StringEquals"]
        for key in [k for k in equals if k.endswith(":sub")]:
            del equals[key]

    edit_document(role, "assumeRolePolicy", drop)
    return {"workload-identity-trust-scoped": "no ':sub' condition"}


# ----------------------------------------------------------------------------------------- clusters


def eks_logs_off(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, EKS_CLUSTER), lambda p: p.update(enabledClusterLogTypes=["scheduler"]))
    return {"eks-control-plane-logs": "does not send control-plane logs api, audit, authenticator"}


def cni_network_policy_off(stack: str, resources: list[Recorded]) -> dict[str, str]:
    addon = first(stack, resources, ADDON, lambda r: r.inputs.get("addonName") == "vpc-cni")
    edit(addon, lambda p: p.update(configurationValues=json.dumps({"enableNetworkPolicy": "false"})))
    return {"eks-network-policy-enforced": "does not set configurationValues enableNetworkPolicy"}


def delete_vpc_cni(stack: str, resources: list[Recorded]) -> dict[str, str]:
    resources.remove(first(stack, resources, ADDON, lambda r: r.inputs.get("addonName") == "vpc-cni"))
    return {"eks-network-policy-enforced": "has no vpc-cni Addon"}


def unencrypted_launch_template(stack: str, resources: list[Recorded]) -> dict[str, str]:
    template = first(stack, resources, LAUNCH_TEMPLATE)
    edit(template, lambda p: p["blockDeviceMappings"][0]["ebs"].update(encrypted="false"))
    return {"ebs-encrypted": "EBS volume /dev/xvda is not encrypted"}


def gke_network_policy_off(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, GKE_CLUSTER), lambda p: p.update(datapathProvider="LEGACY_DATAPATH"))
    return {"gke-cluster-hardened": "NetworkPolicies are not enforced"}


def gke_public_nodes(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, GKE_CLUSTER), lambda p: p["privateClusterConfig"].update(enablePrivateNodes=False))
    return {"gke-cluster-hardened": "nodes have public IPs"}


def gke_no_authorized_networks(stack: str, resources: list[Recorded]) -> dict[str, str]:
    edit(first(stack, resources, GKE_CLUSTER), lambda p: p.pop("masterAuthorizedNetworksConfig", None))
    return {"gke-cluster-hardened": "no authorized networks"}


# ------------------------------------------------------------------------------------- availability


def _gateway_pdb(stack: str, resources: list[Recorded]) -> tuple[Recorded, float]:
    pdb = first(stack, resources, PDB, lambda r: r.inputs["metadata"]["name"] == "ai-gateway")
    gateway = first(stack, resources, DEPLOYMENT, lambda r: r.inputs["metadata"]["name"] == "ai-gateway")
    assert not any(r.type in (SCALED_OBJECT,) and r.inputs["spec"]["scaleTargetRef"]["name"] == "ai-gateway"
                   for r in resources)
    return pdb, gateway.inputs["spec"]["replicas"]


def pdb_min_available_replicas(stack: str, resources: list[Recorded]) -> dict[str, str]:
    pdb, replicas = _gateway_pdb(stack, resources)

    def at_replicas(props: dict) -> None:
        props["spec"].pop("maxUnavailable", None)
        props["spec"]["minAvailable"] = replicas

    edit(pdb, at_replicas)
    return {"pdb-below-replicas": f"PodDisruptionBudget ai-app/ai-gateway keeps minAvailable {int(replicas)} of the "
                                  f"{int(replicas)} pod(s)"}


def pdb_max_unavailable_zero(stack: str, resources: list[Recorded]) -> dict[str, str]:
    pdb, _ = _gateway_pdb(stack, resources)
    edit(pdb, lambda p: p["spec"].update(maxUnavailable=0))
    return {"pdb-allows-eviction": "PodDisruptionBudget ai-app/ai-gateway: maxUnavailable 0 allows no voluntary"}


def single_replica_model_server(stack: str, resources: list[Recorded]) -> dict[str, str]:
    # A model server's (the embedding server, which scales too, is no model server for the policy).
    scaler = first(stack, resources, SCALED_OBJECT,
                   lambda r: not r.inputs["metadata"]["name"].startswith("embedding"))
    edit(scaler, lambda p: p["spec"].update(minReplicaCount=1))
    return {"serving-replicas-ha": f"Deployment ai-inference/{scaler.inputs['metadata']['name']} runs 1 replica(s)"}


@dataclass(frozen=True)
class Mutation:
    name: str
    applies: Callable[[dict], bool]
    apply: Callable[[str, list[Recorded]], dict[str, str]]


def _eks(values: dict) -> bool:
    return values["cluster"]["provider"] == "eks"


def _gke(values: dict) -> bool:
    return values["cluster"]["provider"] == "gke"


def _s3(values: dict) -> bool:
    return _eks(values)  # the RAG data layer keeps its objects in S3 on EKS (components/rag/storage.py)


def _protected_with_autoscaled_servers(values: dict) -> bool:
    return values["cluster"].get("deletionProtection") is True and _eks(values)


MUTATIONS = [
    Mutation("bucket-policy-principal-star", _s3, bucket_policy_principal_star),
    Mutation("public-access-block-off", _s3, public_access_block_off),
    Mutation("bucket-public-read-acl", _s3, bucket_public_read_acl),
    Mutation("delete-public-access-block", _s3, delete_public_access_block),
    Mutation("delete-bucket-encryption", _s3, delete_encryption),
    Mutation("drop-tls-only-statement", _s3, drop_tls_only),
    Mutation("iam-action-star", _s3, iam_action_star),
    Mutation("iam-resource-star", _s3, iam_resource_star),
    Mutation("attach-administrator-access", _eks, attach_administrator),
    Mutation("gcp-editor-role", _gke, gcp_editor_role),
    Mutation("irsa-wildcard-subject", _s3, irsa_wildcard_subject),
    Mutation("irsa-without-subject", _s3, irsa_without_subject),
    Mutation("eks-logs-off", _eks, eks_logs_off),
    Mutation("cni-network-policy-off", _eks, cni_network_policy_off),
    Mutation("delete-vpc-cni-addon", _eks, delete_vpc_cni),
    Mutation("unencrypted-launch-template", _eks, unencrypted_launch_template),
    Mutation("gke-network-policy-off", _gke, gke_network_policy_off),
    Mutation("gke-public-nodes", _gke, gke_public_nodes),
    Mutation("gke-no-authorized-networks", _gke, gke_no_authorized_networks),
    Mutation("pdb-min-available-replicas", lambda v: bool(v.get("rag", {}).get("gateway")), pdb_min_available_replicas),
    Mutation("pdb-max-unavailable-zero", lambda v: bool(v.get("rag", {}).get("gateway")), pdb_max_unavailable_zero),
    Mutation("single-replica-model-server", _protected_with_autoscaled_servers, single_replica_model_server),
]

CASES = [pytest.param(stack, m, id=f"{stack}-{m.name}") for stack in STACKS for m in MUTATIONS
         if m.applies(stack_values(stack))]


def test_every_mutation_runs_somewhere():
    assert {m.name for _, m in (c.values for c in CASES)} == {m.name for m in MUTATIONS}
    assert len(MUTATIONS) >= 12


@pytest.mark.parametrize("stack, mutation", CASES)
def test_the_pack_catches_the_cloud_mutation(stack, mutation):
    resources = copy.deepcopy(run_shipped(stack).resources)
    expected = mutation.apply(stack, resources)
    assert_caught(stack, resources, expected, mutation.name)
