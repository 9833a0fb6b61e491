"""Search: Elasticsearch through the ECK operator, TLS from a platform CA, least-privilege users, exporter.

- The ECK operator (chart eck-operator 3.5.0) runs in `elastic-system`, installs its CRDs and manages only
  the RAG namespace. The `Elasticsearch` resource depends on that Release, so the CRD exists first.
- HTTP TLS: a CA and a server certificate made by Pulumi (pulumi-tls; private keys are Pulumi secrets)
  for `search-es-http.<ns>.svc`, handed to ECK as `spec.http.tls.certificate`. Clients verify against
  that CA (the gateway gets it in a ConfigMap of its own namespace; the exporter mounts the Secret).
  The server certificate is renewed by `pulumi up` in its last 30 days.
- Security stays on (ECK's default): the gateway and the exporter each get a file-realm user with a
  generated password: `ai-gateway` (role `ai_gateway`: all privileges on `rag-*` indices, cluster
  monitor) and `metrics-exporter` (built-in `remote_monitoring_collector`). The `elastic` superuser
  stays inside the cluster (ECK's Secret) for operators.
- Heap from config (`-Xms/-Xmx`), memory request = limit = twice the heap, `node.store.allow_mmap: false`
  (no privileged sysctl init container; Pod Security restricted holds, at some cost to search speed).
- Data safety: `volumeClaimDeletePolicy: DeleteOnScaledownOnly` when deletion protection is on (deleting
  the Elasticsearch resource keeps its PVCs) and the resource is `protect`ed.
- Snapshots (`fullText.snapshots`): the pods run as service account `search-es` with workload identity on
  the RAG bucket (prefix `elasticsearch/`); the repository and the SLM policy are registered by the Job of
  backup.py (`rag.backup.elasticsearch`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_tls as tls

from components.context import PlatformContext
from config import sizing
from config.models import FullText
from config.namespaces import ELASTIC_SYSTEM

from ..helm import release
from ..labels import standard_labels
from . import charts
from .secrets import password, secret
from .storage import DataStorage

GATEWAY_USER = "ai-gateway"
GATEWAY_ROLE = "ai_gateway"
GATEWAY_INDICES = "rag-*"
EXPORTER_USER = "metrics-exporter"
SERVICE_ACCOUNT = "search-es"
CA_VALIDITY_HOURS = 10 * 8760
CERT_VALIDITY_HOURS = 2 * 8760
RENEW_HOURS = 30 * 24
S3_TOKEN_DIR = "/usr/share/elasticsearch/config/repository-s3"


@dataclass(frozen=True)
class SearchArgs:
    context: PlatformContext
    """Shared platform inputs."""
    storage: DataStorage
    """StorageClass and bucket identity annotations."""
    full_text: FullText
    """`rag.fullText` (the component exists only when it is set)."""


class Search(pulumi.ComponentResource):
    """ECK operator + an Elasticsearch cluster + its Prometheus exporter."""

    credentials: dict[str, pulumi.Output[str]]
    """username/password of the gateway's Elasticsearch user (password secret)."""
    ca_pem: pulumi.Output[str]
    """PEM of the CA that signed the HTTP certificate (public)."""
    elasticsearch: k8s.apiextensions.CustomResource

    def __init__(self, name: str, args: SearchArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:rag:Search", name, None, opts)
        ctx = args.context
        cfg = ctx.config
        ft = args.full_text
        ns_name = cfg.rag.namespace
        ns = ctx.namespace(ns_name)
        protect = cfg.cluster.deletion_protection
        monitoring = ctx.monitoring
        labels = standard_labels(charts.ES_NAME, "full-text", cfg.labels)
        def meta(n: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=n, namespace=ns, labels=labels)

        child = pulumi.ResourceOptions(parent=self)

        self.operator = release(f"{name}-eck-operator", charts.ECK_OPERATOR, "eck-operator",
                                ctx.namespace(ELASTIC_SYSTEM), charts.eck_operator_values(ns_name),
                                pulumi.ResourceOptions(parent=self, depends_on=[ctx.namespaces[ELASTIC_SYSTEM]]),
                                timeout=900)

        # HTTP TLS from a platform CA, so clients in other namespaces can verify without reading ECK's Secrets.
        ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        ca = tls.SelfSignedCert(
            f"{name}-ca", private_key_pem=ca_key.private_key_pem, is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name="ai-platform search CA", organization="ai-platform"),
            validity_period_hours=CA_VALIDITY_HOURS, early_renewal_hours=RENEW_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"], opts=child)
        server_key = tls.PrivateKey(f"{name}-http-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        service = f"{charts.ES_NAME}-es-http"
        hosts = [service, f"{service}.{ns_name}", f"{service}.{ns_name}.svc", f"{service}.{ns_name}.svc.cluster.local"]
        csr = tls.CertRequest(f"{name}-http-csr", private_key_pem=server_key.private_key_pem, dns_names=hosts,
                              subject=tls.CertRequestSubjectArgs(common_name=hosts[2]), opts=child)
        cert = tls.LocallySignedCert(
            f"{name}-http-cert", cert_request_pem=csr.cert_request_pem, ca_private_key_pem=ca_key.private_key_pem,
            ca_cert_pem=ca.cert_pem, validity_period_hours=CERT_VALIDITY_HOURS, early_renewal_hours=RENEW_HOURS,
            allowed_uses=["digital_signature", "key_encipherment", "server_auth"], opts=child)
        self.ca_pem = ca.cert_pem
        tls_secret = secret(f"{name}-http-tls", self, meta(charts.ES_HTTP_TLS_SECRET),
                            {"tls.crt": cert.cert_pem, "tls.key": server_key.private_key_pem, "ca.crt": ca.cert_pem})

        gateway_password = password(f"{name}-gateway-password", self)
        exporter_password = password(f"{name}-exporter-password", self)
        roles = secret(f"{name}-roles", self, meta(f"{charts.ES_NAME}-roles"), {"roles.yml": (
            f"{GATEWAY_ROLE}:\n"
            "  cluster: [\"monitor\"]\n"
            "  indices:\n"
            f"    - names: [\"{GATEWAY_INDICES}\"]\n"
            "      privileges: [\"all\"]\n")})
        gateway_user = secret(f"{name}-gateway-user", self, meta(f"{charts.ES_NAME}-gateway-user"),
                              {"username": GATEWAY_USER, "password": gateway_password, "roles": GATEWAY_ROLE},
                              type_="kubernetes.io/basic-auth")
        exporter_user = secret(f"{name}-exporter-user", self, meta(charts.ES_EXPORTER_SECRET),
                               {"username": EXPORTER_USER, "password": exporter_password,
                                "roles": "remote_monitoring_collector"}, type_="kubernetes.io/basic-auth")
        before: list[pulumi.Resource] = [ctx.namespaces[ns_name], self.operator, tls_secret, roles, gateway_user,
                                         exporter_user]

        pod_spec: dict[str, Any] = {
            "priorityClassName": charts.DATA_PRIORITY_CLASS,
            "securityContext": {**charts.RESTRICTED_POD, "fsGroup": 1000},
            "topologySpreadConstraints": [{
                "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {"elasticsearch.k8s.elastic.co/cluster-name": charts.ES_NAME}}}],
            "containers": [{
                "name": "elasticsearch",
                "env": [{"name": "ES_JAVA_OPTS", "value": f"-Xms{ft.heap_gi}g -Xmx{ft.heap_gi}g"}],
                "resources": sizing.elasticsearch(ft.cpu, ft.heap_gi),
                "securityContext": {**charts.RESTRICTED_CONTAINER, "runAsNonRoot": True},
            }],
        }
        if ft.snapshots:
            annotations = args.storage.annotations.get("elasticsearch", {})
            sa = k8s.core.v1.ServiceAccount(
                f"{name}-service-account",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=SERVICE_ACCOUNT, namespace=ns, labels=labels,
                                                    annotations=annotations),
                automount_service_account_token=False, opts=child)
            before.append(sa)
            pod_spec["serviceAccountName"] = SERVICE_ACCOUNT
            if cfg.cluster.provider == "eks":
                # Elasticsearch's S3 repository reads the IRSA web identity token only from this path.
                pod_spec["volumes"] = [{"name": "aws-iam-token", "projected": {"sources": [{"serviceAccountToken": {
                    "audience": "sts.amazonaws.com", "expirationSeconds": 86400,
                    "path": "aws-web-identity-token-file"}}]}}]
                pod_spec["containers"][0]["volumeMounts"] = [
                    {"name": "aws-iam-token", "mountPath": S3_TOKEN_DIR, "readOnly": True}]
        claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"],
                                 "resources": {"requests": {"storage": f"{ft.storage_gi}Gi"}}}
        if args.storage.storage_class:
            claim["storageClassName"] = args.storage.storage_class
        self.elasticsearch = k8s.apiextensions.CustomResource(
            f"{name}-elasticsearch",
            api_version="elasticsearch.k8s.elastic.co/v1",
            kind="Elasticsearch",
            metadata=meta(charts.ES_NAME),
            spec={
                "version": ft.version,
                "http": {"tls": {"certificate": {"secretName": charts.ES_HTTP_TLS_SECRET}}},
                "auth": {"roles": [{"secretName": f"{charts.ES_NAME}-roles"}],
                         "fileRealm": [{"secretName": f"{charts.ES_NAME}-gateway-user"},
                                       {"secretName": charts.ES_EXPORTER_SECRET}]},
                "volumeClaimDeletePolicy": ("DeleteOnScaledownOnly" if protect
                                            else "DeleteOnScaledownAndClusterDeletion"),
                "nodeSets": [{
                    "name": "default",
                    "count": ft.replicas,
                    "config": {"node.store.allow_mmap": False},
                    "podTemplate": {"metadata": {"labels": labels}, "spec": pod_spec},
                    "volumeClaimTemplates": [{"metadata": {"name": "elasticsearch-data"}, "spec": claim}],
                }],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=before, protect=protect),
        )
        self.exporter = release(f"{name}-exporter", charts.ES_EXPORTER, "search-exporter", ns,
                                charts.es_exporter_values(ns_name, monitoring),
                                pulumi.ResourceOptions(parent=self, depends_on=[
                                    self.elasticsearch, exporter_user, *(ctx.monitoring_crds if monitoring else [])]),
                                timeout=900)
        self.credentials = {"username": pulumi.Output.from_input(GATEWAY_USER), "password": gateway_password}
        self.register_outputs({"credentials": self.credentials, "ca_pem": self.ca_pem,
                               "elasticsearch": self.elasticsearch})
