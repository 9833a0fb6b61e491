"""GKE control plane security: the Cloud KMS key of application-layer secrets encryption, Binary Authorization
(the project's policy with a rule for this cluster) and security posture.

Sources (checked against pulumi_gcp 10.2.0, the pinned provider): `ClusterDatabaseEncryptionArgs(state, key_name)`,
`ClusterBinaryAuthorizationArgs(evaluation_mode)` (DISABLED | PROJECT_SINGLETON_POLICY_ENFORCE),
`ClusterSecurityPostureConfigArgs(mode, vulnerability_mode)` and `binaryauthorization.Policy` with
`global_policy_evaluation_mode`, `cluster_admission_rules` (key `location.clusterId`) and
`admission_whitelist_patterns`; the Binary Authorization policy reference (cloud.google.com/binary-authorization
/docs/reference/rest/v1/projects.policy) and GKE's "Encrypt secrets at the application layer" guide.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from config.models import ClusterConfig, GcpConfig

from ..common import Scope

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
SECONDS_PER_DAY = 86400
# What a Binary Authorization rule does with an image outside the allowlist, per config mode. Audit is a dry run:
# the pod is admitted and the would-be denial is written to Cloud Audit Logs.
ENFORCEMENT = {"audit": "DRYRUN_AUDIT_LOG_ONLY", "enforce": "ENFORCED_BLOCK_AND_AUDIT_LOG"}


def gke_service_agent(project_number: str) -> str:
    """The GKE service agent: the identity GKE's control plane calls Cloud KMS with."""
    return f"service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


@dataclass(frozen=True)
class SecretsKey:
    """The Cloud KMS key the cluster encrypts Secrets with."""

    key_name: pulumi.Input[str]
    """Full resource name of the crypto key (`database_encryption.key_name`)."""
    grants: list[pulumi.Resource]
    """The GKE service agent's role on a created key: the cluster is created after it (GKE checks the key at
    creation). Empty for a named key, whose owner grants the agent."""


def secrets_key(scope: Scope, cfg: ClusterConfig, gcp_cfg: GcpConfig, region: str) -> SecretsKey:
    """The configured key, or a key ring + key in the cluster's region that only the GKE service agent uses.

    Created keys are protected with the cluster (`deletionProtection`): destroying the key destroys every Secret
    the cluster stored with it. Key rings cannot be deleted in Cloud KMS at all.
    """
    enc = gcp_cfg.secrets_encryption
    if enc.key_name:
        return SecretsKey(enc.key_name, [])
    project = gcp_cfg.project
    ring = gcp.kms.KeyRing(
        f"{scope.name}-kms-ring",
        name=f"{cfg.name}-gke",
        project=project,
        # GKE: keep the key in the cluster's location (latency, one failure domain).
        location=region,
        opts=scope.opts(protect=cfg.deletion_protection),
    )
    key = gcp.kms.CryptoKey(
        f"{scope.name}-kms-secrets",
        name=f"{cfg.name}-secrets",
        key_ring=ring.id,
        purpose="ENCRYPT_DECRYPT",
        rotation_period=f"{enc.rotation_days * SECONDS_PER_DAY}s",
        opts=scope.opts(protect=cfg.deletion_protection),
    )
    number = gcp.organizations.get_project_output(project_id=project,
                                                  opts=pulumi.InvokeOptions(parent=scope.parent)).number
    grant = gcp.kms.CryptoKeyIAMMember(
        f"{scope.name}-kms-gke-agent",
        crypto_key_id=key.id,
        role=ENCRYPTER_DECRYPTER,
        member=number.apply(lambda n: f"serviceAccount:{gke_service_agent(n)}"),
        opts=scope.opts(),
    )
    return SecretsKey(key.id, [grant])


def database_encryption(key: SecretsKey) -> gcp.container.ClusterDatabaseEncryptionArgs:
    """Application-layer secrets encryption with `key`."""
    return gcp.container.ClusterDatabaseEncryptionArgs(state="ENCRYPTED", key_name=key.key_name)


def binary_authorization(gcp_cfg: GcpConfig) -> gcp.container.ClusterBinaryAuthorizationArgs:
    """The cluster evaluates the project's singleton policy unless Binary Authorization is disabled."""
    mode = "DISABLED" if gcp_cfg.binary_authorization.mode == "disabled" else "PROJECT_SINGLETON_POLICY_ENFORCE"
    return gcp.container.ClusterBinaryAuthorizationArgs(evaluation_mode=mode)


def binary_authorization_policy(scope: Scope, cfg: ClusterConfig, gcp_cfg: GcpConfig,
                                region: str) -> gcp.binaryauthorization.Policy | None:
    """The project's Binary Authorization policy: images outside the allowlist are denied in this cluster,
    as a dry run (audit) or for real (enforce).

    The policy is a per-project singleton. Other clusters of the project keep Google's default behaviour
    (the default rule allows every image); this cluster gets its own rule. Google's global policy is on so
    GKE's system images (kube-system add-ons) are always admitted.
    """
    ba = gcp_cfg.binary_authorization
    if ba.mode == "disabled":
        return None
    return gcp.binaryauthorization.Policy(
        f"{scope.name}-binauthz",
        project=gcp_cfg.project,
        description=f"ai-platform: images of cluster {cfg.name} ({ba.mode})",
        # Google-maintained system policy: exempts GKE's own images from the rules below.
        global_policy_evaluation_mode="ENABLE",
        admission_whitelist_patterns=[
            gcp.binaryauthorization.PolicyAdmissionWhitelistPatternArgs(name_pattern=p) for p in ba.allowed_images
        ],
        default_admission_rule=gcp.binaryauthorization.PolicyDefaultAdmissionRuleArgs(
            evaluation_mode="ALWAYS_ALLOW",
            enforcement_mode="ENFORCED_BLOCK_AND_AUDIT_LOG",
        ),
        cluster_admission_rules=[gcp.binaryauthorization.PolicyClusterAdmissionRuleArgs(
            cluster=f"{region}.{cfg.name}",
            evaluation_mode="ALWAYS_DENY",
            enforcement_mode=ENFORCEMENT[ba.mode],
        )],
        opts=scope.opts(),
    )


def security_posture(gcp_cfg: GcpConfig) -> gcp.container.ClusterSecurityPostureConfigArgs:
    """Security posture dashboard modes from config."""
    posture = gcp_cfg.security_posture
    return gcp.container.ClusterSecurityPostureConfigArgs(mode=posture.mode,
                                                          vulnerability_mode=posture.vulnerability_mode)
