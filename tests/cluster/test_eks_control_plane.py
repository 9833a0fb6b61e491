"""EKS control plane and IAM hardening under mocks: secrets encryption with KMS, the VPC CNI's own IRSA
role, SSM only on request, who reaches the endpoint, and the config checks that guard it."""

from __future__ import annotations

import copy
import json
import re

import pytest

from config import ConfigError, validate
from tools.mockrun import ComponentRun

from ..conftest import stack_values
from .conftest import EKS_ISSUER, run_cluster
from .test_eks import ADDON, CLUSTER, eks_values, policies_of, role_by_trust

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
MANAGED = "arn:aws:iam::aws:policy/"
NAMED_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture(scope="module")
def eks() -> ComponentRun:
    return run_cluster(eks_values())


def with_eks(**changes) -> dict:
    values = copy.deepcopy(eks_values())
    values["cluster"]["eks"].update(changes)
    return values


# ------------------------------------------------------------------------- secrets encryption


def test_secrets_are_encrypted_with_the_programs_key(eks):
    key = eks.one(KEY)
    assert key.inputs["enableKeyRotation"] is True
    assert key.inputs["deletionWindowInDays"] == 30
    assert key.protect, "a protected stack protects the key its secrets are encrypted with"
    [statement] = json.loads(key.inputs["policy"])["Statement"]
    assert re.fullmatch(r"arn:aws:iam::[0-9]{12}:root", statement["Principal"]["AWS"])
    assert statement["Effect"] == "Allow" and statement["Action"] == "kms:*"
    assert eks.one(ALIAS).inputs["name"] == "alias/ai-prod-eks-secrets"
    encryption = eks.one(CLUSTER).inputs["encryptionConfig"]
    assert encryption == {"provider": {"keyArn": key.outputs["arn"]}, "resources": ["secrets"]}


def test_cluster_role_may_use_the_key_before_the_cluster_exists(eks):
    key_arn = eks.one(KEY).outputs["arn"]
    cluster_role = role_by_trust(eks, "eks.amazonaws.com")
    [use] = [p for p in eks.of_type(ROLE_POLICY) if p.inputs["role"] == cluster_role.outputs["name"]]
    [statement] = json.loads(use.inputs["policy"])["Statement"]
    assert statement == {"Effect": "Allow", "Resource": key_arn,
                         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ListGrants", "kms:DescribeKey"]}
    assert use.urn in eks.one(CLUSTER).dependencies


def test_unprotected_stack_key_is_not_protected():
    values = eks_values()
    values["cluster"]["deletionProtection"] = False
    assert not run_cluster(values).one(KEY).protect


def test_a_named_key_is_used_and_none_created():
    run = run_cluster(with_eks(kmsKeyArn=NAMED_KEY))
    assert not run.of_type(KEY) and not run.of_type(ALIAS)
    assert run.one(CLUSTER).inputs["encryptionConfig"]["provider"]["keyArn"] == NAMED_KEY
    cluster_role = role_by_trust(run, "eks.amazonaws.com")
    [use] = [p for p in run.of_type(ROLE_POLICY) if p.inputs["role"] == cluster_role.outputs["name"]]
    assert json.loads(use.inputs["policy"])["Statement"][0]["Resource"] == NAMED_KEY


# ------------------------------------------------------------------------------ node role, CNI


def test_vpc_cni_has_its_own_irsa_role(eks):
    cni = next(a for a in eks.of_type(ADDON) if a.inputs["addonName"] == "vpc-cni")
    [role] = [r for r in eks.of_type(ROLE) if r.outputs["arn"] == cni.inputs["serviceAccountRoleArn"]]
    assert policies_of(eks, role) == {MANAGED + "AmazonEKS_CNI_Policy"}
    statement = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    host = EKS_ISSUER.removeprefix("https://")
    assert statement["Condition"]["StringEquals"] == {
        f"{host}:sub": "system:serviceaccount:kube-system:aws-node", f"{host}:aud": "sts.amazonaws.com"}
    attachment = next(a for a in eks.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
                      if a.inputs["role"] == role.outputs["name"])
    assert attachment.urn in cni.dependencies, "the CNI must hold its permissions before it replaces the node role's"
    node_role = role_by_trust(eks, "ec2.amazonaws.com")
    assert MANAGED + "AmazonEKS_CNI_Policy" not in policies_of(eks, node_role)


def test_ssm_only_when_asked(eks):
    ssm = MANAGED + "AmazonSSMManagedInstanceCore"
    assert ssm not in policies_of(eks, role_by_trust(eks, "ec2.amazonaws.com"))
    run = run_cluster(with_eks(ssm=True))
    assert policies_of(run, role_by_trust(run, "ec2.amazonaws.com")) == {MANAGED + p for p in (
        "AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly", "AmazonSSMManagedInstanceCore")}


# ---------------------------------------------------------------------------------- endpoint


def test_private_endpoint_admits_only_the_configured_cidrs(eks):
    assert not eks.of_type(INGRESS), "no one but the cluster security group by default"
    run = run_cluster(with_eks(privateAccessCidrs=["10.40.240.0/24", "192.168.0.0/16"]))
    rules = run.of_type(INGRESS)
    assert sorted(r.inputs["cidrIpv4"] for r in rules) == ["10.40.240.0/24", "192.168.0.0/16"]
    for r in rules:
        assert (r.inputs["ipProtocol"], r.inputs["fromPort"], r.inputs["toPort"]) == ("tcp", 443, 443)
        assert r.inputs["securityGroupId"] == "sg-0c1d2e3f4a5b67890"  # the cluster security group (mock)
    vpc = run.one(CLUSTER).inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and "publicAccessCidrs" not in vpc


def test_shipped_prod_stack_is_private_with_its_runner_admitted():
    eks_cfg = stack_values("prod")["cluster"]["eks"]
    assert not eks_cfg.get("publicEndpoint") and eks_cfg.get("privateAccessCidrs")


# ------------------------------------------------------------------------------ config checks


def errors_of(values: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.prod.yaml")
    return str(info.value)


@pytest.mark.parametrize("changes, path, text", [
    ({"publicEndpoint": True, "publicAccessCidrs": ["203.0.113.0/24", "0.0.0.0/0"]},
     "ai-platform:cluster.eks.publicAccessCidrs[1]", "protected stack"),
    ({"publicEndpoint": True}, "ai-platform:cluster.eks", "publicEndpoint needs publicAccessCidrs"),
    ({"publicEndpoint": True, "publicAccessCidrs": []}, "ai-platform:cluster.eks", "0.0.0.0/0"),
    ({"publicAccessCidrs": ["203.0.113.0/24"]}, "ai-platform:cluster.eks", "publicEndpoint is false"),
    ({"kmsKeyArn": "alias/mine"}, "ai-platform:cluster.eks.kmsKeyArn", "does not match ^arn:aws"),
    ({"privateAccessCidrs": ["10.40.0.1/24"]}, "ai-platform:cluster.eks.privateAccessCidrs[0]", "host bits zero"),
])
def test_endpoint_and_key_config_errors_name_file_and_key(changes, path, text):
    values = stack_values("prod")
    values["cluster"]["eks"].update(changes)
    message = errors_of(values)
    assert message.startswith("invalid stack configuration in Pulumi.prod.yaml")
    assert any(line.strip().startswith(f"- {path}:") for line in message.splitlines()), message
    assert text in message, message


def test_world_open_endpoint_is_only_for_unprotected_stacks():
    values = stack_values("prod")
    values["cluster"]["deletionProtection"] = False
    values["cluster"]["eks"].update(publicEndpoint=True, publicAccessCidrs=["0.0.0.0/0"])
    validate(values, "Pulumi.prod.yaml")  # explicit, and no protection: allowed
    values["cluster"]["deletionProtection"] = True
    assert "protected stack" in errors_of(values)
