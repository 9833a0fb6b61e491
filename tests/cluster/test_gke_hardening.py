"""GKE control plane hardening under mocks: endpoint access, Binary Authorization, secrets encryption with Cloud KMS,
security posture and the cheap CIS GKE items, plus the config errors that guard them."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from config import ConfigError, validate
from tools.mockrun import GCP_PROJECT_NUMBER, ROOT, ComponentRun

from ..conftest import run_stack, stack_values
from .conftest import run_cluster, unwrap
from .test_gke import CLUSTER, GKE, NODE_POOL, variant

POLICY = "gcp:binaryauthorization/policy:Policy"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_GRANT = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
GKE_AGENT = f"service-{GCP_PROJECT_NUMBER}@container-engine-robot.iam.gserviceaccount.com"
NAMED_KEY = "projects/acme-security/locations/us-central1/keyRings/gke/cryptoKeys/ai-prod-secrets"


@pytest.fixture(scope="module")
def gke() -> ComponentRun:
    return run_cluster(GKE)


def cluster(run: ComponentRun) -> dict:
    inputs: dict = run.one(CLUSTER).inputs
    return inputs


def errors_of(values: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.test.yaml")
    return str(info.value)


def with_gcp(**gcp) -> dict:
    values = copy.deepcopy(GKE)
    values["cluster"]["gcp"].update(gcp)
    return values


# ---------------------------------------------------------------------------- control plane access


def test_authorized_networks_are_on_and_empty_by_default(gke):
    man = cluster(gke)["masterAuthorizedNetworksConfig"]
    assert man.get("cidrBlocks", []) == []
    assert man["gcpPublicCidrsAccessEnabled"] is False


def test_authorized_networks_from_config():
    nets = [{"cidr": "203.0.113.0/24", "displayName": "office"}, {"cidr": "198.51.100.16/28", "displayName": "vpn"}]
    man = cluster(run_cluster(with_gcp(authorizedNetworks=nets)))["masterAuthorizedNetworksConfig"]
    assert man["cidrBlocks"] == [{"cidrBlock": "203.0.113.0/24", "displayName": "office"},
                                 {"cidrBlock": "198.51.100.16/28", "displayName": "vpn"}]
    assert man["gcpPublicCidrsAccessEnabled"] is False


def test_dns_endpoint_open_to_iam_callers_by_default(gke):
    endpoints = cluster(gke)["controlPlaneEndpointsConfig"]
    assert endpoints["dnsEndpointConfig"]["allowExternalTraffic"] is True


def test_dns_endpoint_can_be_closed():
    run = run_cluster(with_gcp(dnsEndpoint=False))
    assert cluster(run)["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is False


def test_public_ip_endpoint_stays_unless_private_endpoint(gke):
    assert cluster(gke)["privateClusterConfig"]["enablePrivateEndpoint"] is False
    private = cluster(run_cluster(with_gcp(privateEndpoint=True)))["privateClusterConfig"]
    assert private["enablePrivateEndpoint"] is True and private["enablePrivateNodes"] is True


def test_private_endpoint_needs_private_nodes():
    message = errors_of(with_gcp(privateEndpoint=True, privateNodes=False))
    assert "ai-platform:cluster.gcp" in message and "'privateEndpoint' needs 'privateNodes: true'" in message


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "0.0.0.0/1", "64.0.0.0/4"])
def test_internet_wide_authorized_network_refused_on_protected_stack(cidr):
    values = with_gcp(authorizedNetworks=[{"cidr": "203.0.113.0/24", "displayName": "office"},
                                          {"cidr": cidr, "displayName": "anyone"}])
    message = errors_of(values)
    assert "ai-platform:cluster.gcp.authorizedNetworks[1].cidr" in message
    assert f"{cidr} opens the control plane to the internet on a deletion-protected stack" in message
    assert "/8 or narrower" in message


def test_internet_wide_authorized_network_allowed_without_deletion_protection():
    values = with_gcp(authorizedNetworks=[{"cidr": "0.0.0.0/0", "displayName": "anyone"}])
    values["cluster"]["deletionProtection"] = False
    cfg, _ = validate(values, "Pulumi.test.yaml")  # raises ConfigError if refused
    assert [n.cidr for n in cfg.cluster.gcp.authorized_networks] == ["0.0.0.0/0"]


def test_authorized_network_needs_a_valid_cidr_and_name():
    message = errors_of(with_gcp(authorizedNetworks=[{"cidr": "203.0.113.7/24", "displayName": "office"}]))
    assert "ai-platform:cluster.gcp.authorizedNetworks[0].cidr" in message and "host bits zero" in message
    assert "displayName" in errors_of(with_gcp(authorizedNetworks=[{"cidr": "203.0.113.0/24"}]))


# --------------------------------------------------------------------------------- Binary Authorization


def test_binary_authorization_audit_by_default(gke):
    assert cluster(gke)["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}
    policy = gke.one(POLICY).inputs
    assert policy["project"] == "acme-ai-prod"
    # Google's system policy admits GKE's own images whatever the rules below say.
    assert policy["globalPolicyEvaluationMode"] == "ENABLE"
    # Other clusters of the project keep the default (allow); this cluster's rule denies as a dry run.
    assert policy["defaultAdmissionRule"] == {"evaluationMode": "ALWAYS_ALLOW",
                                              "enforcementMode": "ENFORCED_BLOCK_AND_AUDIT_LOG"}
    assert policy["clusterAdmissionRules"] == [{"cluster": "us-central1.ai-prod", "evaluationMode": "ALWAYS_DENY",
                                                "enforcementMode": "DRYRUN_AUDIT_LOG_ONLY"}]
    assert policy.get("admissionWhitelistPatterns", []) == []


def test_binary_authorization_enforce_with_allowlist():
    images = ["us-docker.pkg.dev/acme-ai/serving/*", "docker.io/vllm/vllm-openai"]
    run = run_cluster(with_gcp(binaryAuthorization={"mode": "enforce", "allowedImages": images}))
    policy = run.one(POLICY).inputs
    assert policy["clusterAdmissionRules"][0]["enforcementMode"] == "ENFORCED_BLOCK_AND_AUDIT_LOG"
    assert policy["admissionWhitelistPatterns"] == [{"namePattern": p} for p in images]
    assert cluster(run)["binaryAuthorization"] == {"evaluationMode": "PROJECT_SINGLETON_POLICY_ENFORCE"}


def test_binary_authorization_disabled():
    run = run_cluster(with_gcp(binaryAuthorization={"mode": "disabled"}))
    assert cluster(run)["binaryAuthorization"] == {"evaluationMode": "DISABLED"}
    assert not run.of_type(POLICY)


def test_workloads_wait_for_the_policy(gke):
    assert gke.one(POLICY).urn in gke.one("pulumi:providers:kubernetes").dependencies


def test_enforce_needs_an_allowlist():
    message = errors_of(with_gcp(binaryAuthorization={"mode": "enforce"}))
    assert "ai-platform:cluster.gcp" in message and "binaryAuthorization.allowedImages" in message


@pytest.mark.parametrize("pattern", ["nginx", "*.pkg.dev/acme/*", "gcr.io/acme/*/app"])
def test_allowlist_patterns_are_checked(pattern):
    message = errors_of(with_gcp(binaryAuthorization={"mode": "audit", "allowedImages": [pattern]}))
    assert "ai-platform:cluster.gcp.binaryAuthorization.allowedImages" in message and pattern in message


# --------------------------------------------------------------------------------- secrets encryption


def test_created_kms_key_encrypts_secrets(gke):
    ring = gke.one(KEY_RING)
    key = gke.one(CRYPTO_KEY)
    ring_id = f"projects/acme-ai-prod/locations/us-central1/keyRings/{ring.inputs['name']}"
    assert ring.inputs["location"] == "us-central1" and ring.inputs["project"] == "acme-ai-prod"
    assert key.inputs["keyRing"] == ring_id
    assert key.inputs["purpose"] == "ENCRYPT_DECRYPT"
    assert key.inputs["rotationPeriod"] == f"{90 * 86400}s"
    assert cluster(gke)["databaseEncryption"] == {"state": "ENCRYPTED",
                                                  "keyName": f"{ring_id}/cryptoKeys/{key.inputs['name']}"}


def test_gke_service_agent_granted_before_the_cluster(gke):
    grant = gke.one(KEY_GRANT)
    assert grant.inputs["cryptoKeyId"] == cluster(gke)["databaseEncryption"]["keyName"]
    assert grant.inputs["cryptoKeyId"].endswith(f"/cryptoKeys/{gke.one(CRYPTO_KEY).inputs['name']}")
    assert grant.inputs["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert grant.inputs["member"] == f"serviceAccount:{GKE_AGENT}"
    assert grant.urn in gke.one(CLUSTER).dependencies


def test_created_key_is_protected_with_the_cluster(gke):
    assert gke.one(CRYPTO_KEY).protect and gke.one(KEY_RING).protect
    off = run_cluster(variant(deletionProtection=False))
    assert not off.one(CRYPTO_KEY).protect and not off.one(KEY_RING).protect


def test_rotation_period_from_config():
    run = run_cluster(with_gcp(secretsEncryption={"rotationDays": 30}))
    assert run.one(CRYPTO_KEY).inputs["rotationPeriod"] == "2592000s"


def test_named_key_creates_no_kms_resources():
    run = run_cluster(with_gcp(secretsEncryption={"keyName": NAMED_KEY}))
    for t in (KEY_RING, CRYPTO_KEY, KEY_GRANT):
        assert not run.of_type(t), t
    assert cluster(run)["databaseEncryption"] == {"state": "ENCRYPTED", "keyName": NAMED_KEY}


def test_named_key_must_be_a_crypto_key_name():
    message = errors_of(with_gcp(secretsEncryption={"keyName": "ai-prod-secrets"}))
    assert "ai-platform:cluster.gcp.secretsEncryption.keyName" in message


# ------------------------------------------------------------------------------------ security posture


def test_security_posture_default(gke):
    assert cluster(gke)["securityPostureConfig"] == {"mode": "BASIC", "vulnerabilityMode": "VULNERABILITY_DISABLED"}


def test_security_posture_from_config():
    run = run_cluster(with_gcp(securityPosture={"mode": "ENTERPRISE", "vulnerabilityMode": "VULNERABILITY_ENTERPRISE"}))
    assert cluster(run)["securityPostureConfig"] == {"mode": "ENTERPRISE",
                                                     "vulnerabilityMode": "VULNERABILITY_ENTERPRISE"}


def test_shut_down_vulnerability_basic_is_refused():
    message = errors_of(with_gcp(securityPosture={"vulnerabilityMode": "VULNERABILITY_BASIC"}))
    assert "ai-platform:cluster.gcp.securityPosture.vulnerabilityMode" in message


# ---------------------------------------------------------------------------------------- CIS items


def test_no_legacy_abac_no_client_certificates_shielded_nodes(gke):
    c = cluster(gke)
    assert c["enableLegacyAbac"] is False
    assert c["masterAuth"]["clientCertificateConfig"] == {"issueClientCertificate": False}
    assert c["enableShieldedNodes"] is True


def test_every_node_pool_is_hardened(gke):
    pools = gke.of_type(NODE_POOL)
    assert len(pools) == 5  # system + four GPU pools
    for pool in pools:
        node_config = pool.inputs["nodeConfig"]
        assert node_config["metadata"] == {"disable-legacy-endpoints": "true"}, pool.name
        assert node_config["workloadMetadataConfig"] == {"mode": "GKE_METADATA"}, pool.name
        assert node_config["shieldedInstanceConfig"] == {"enableSecureBoot": True,
                                                         "enableIntegrityMonitoring": True}, pool.name
        assert node_config["imageType"] == "COS_CONTAINERD", pool.name


# ------------------------------------------------------------------- dev stack and its deploy job agree


def test_dev_stack_reaches_the_api_server_through_the_dns_endpoint():
    result = run_stack("dev")
    [gke_cluster] = [r for r in result.resources if r.type == CLUSTER]
    assert gke_cluster.inputs["controlPlaneEndpointsConfig"]["dnsEndpointConfig"]["allowExternalTraffic"] is True
    assert gke_cluster.inputs["masterAuthorizedNetworksConfig"].get("cidrBlocks", []) == []
    [provider] = [r for r in result.resources if r.type == "pulumi:providers:kubernetes"]
    server = json.loads(unwrap(provider.inputs["kubeconfig"]))["clusters"][0]["cluster"]["server"]
    assert server.endswith(".gke.goog")


def test_deploy_dev_job_matches_the_dev_endpoint():
    """The dev job runs on a GitHub-hosted runner (no fixed IP, outside the VPC): only the IAM-authorized DNS
    endpoint reaches the cluster, through gcloud's OIDC identity and gke-gcloud-auth-plugin."""
    gcp = stack_values("dev")["cluster"]["gcp"]
    assert gcp.get("dnsEndpoint", True) is True
    assert not gcp.get("authorizedNetworks")
    job = yaml.safe_load((ROOT / ".github/workflows/deploy.yml").read_text())["jobs"]["dev"]
    assert str(job["runs-on"]).startswith("ubuntu-")  # GitHub-hosted
    uses = {step.get("uses", "").split("@")[0]: step for step in job["steps"]}
    assert "google-github-actions/auth" in uses
    assert uses["google-github-actions/setup-gcloud"]["with"]["install_components"] == "gke-gcloud-auth-plugin"
    assert job["permissions"]["id-token"] == "write"


# ------------------------------------------------------------------------------------- webhooks through the VPC


def test_private_control_plane_reaches_every_webhook_port_through_the_vpc_firewall():
    """GKE opens only 443/10250 from a private control plane to its nodes; every other port a NetworkPolicy lets
    the API server call (webhooks, aggregated APIs of the dev stack) must be in the program's firewall rule, whose
    only source is the control plane's range and only targets the nodes' service account."""
    from config.network import api_server_cidrs, flows

    result = run_stack("dev")
    [rule] = result.of_type("gcp:compute/firewall:Firewall")
    inputs = rule.inputs
    cfg, _ = validate(stack_values("dev"), "Pulumi.dev.yaml")
    assert inputs["direction"] == "INGRESS" and inputs["sourceRanges"] == [cfg.cluster.gcp.master_ipv4_cidr]
    assert len(inputs["targetServiceAccounts"]) == 1 and "nodes" in inputs["targetServiceAccounts"][0]
    opened = {int(p) for allow in inputs["allows"] if allow["protocol"] == "tcp" for p in allow["ports"]}
    called = {port.port for flow in flows(cfg) if flow.source.cidrs == api_server_cidrs(cfg) and flow.source.namespace
              is None for port in flow.ports}
    # (dev exposes its APIs through the inference gateway: no ingress-nginx admission webhook on 8443)
    assert {9443, 6443} <= called, "the dev stack's webhooks are not the ones this test expects"
    assert called - {443, 10250} <= opened
    assert opened.isdisjoint({22, 80, 443, 10250}), "nothing GKE already opens, no SSH or HTTP"
    # The Kubernetes provider (and so every webhook-using object) waits for the rule.
    provider = next(r for r in result.resources if r.type == "pulumi:providers:kubernetes")
    assert rule.urn in provider.dependencies


def test_public_nodes_need_no_control_plane_firewall_rule():
    run = run_cluster(variant(gcp={"privateNodes": False, "privateEndpoint": False}))
    assert run.of_type("gcp:compute/firewall:Firewall") == []
