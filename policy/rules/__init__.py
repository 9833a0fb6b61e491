"""The ai-platform CrossGuard rules, importable without starting the policy pack.

`policy/__main__.py` (run by `pulumi preview --policy-pack policy`) imports this package as
`rules`; tests and the offline plan tool import it as `policy.rules`. Imports inside the package
are relative so both work. New capabilities add a module here and append its policies below.
"""

from __future__ import annotations

from pulumi_policy import Policy

from .availability import pdb_allows_eviction, pdb_below_replicas, pdb_for_multi_replica, serving_replicas_ha
from .budget import gpu_budget
from .charts import helm_chart_renders, helm_chart_renders_advisory
from .cloud import (
    bucket_not_public,
    ebs_encrypted,
    eks_control_plane_logs,
    eks_network_policy_enforced,
    gke_cluster_hardened,
    iam_least_privilege,
    s3_bucket_guardrails,
    workload_identity_trust_scoped,
)
from .containers import container_resources
from .cost import cost_budget
from .crd_bundles import crd_bundle_locked
from .critical import critical_models_on_demand
from .endpoint import cluster_endpoint_not_public
from .exposure import ingress_no_management_routes, ingress_safe_annotations
from .flex_start import flex_start_not_sole_capacity
from .gpu_isolation import gpu_access_requires_gpu_request
from .gpu_pools import gpu_node_pool_tainted
from .helm import helm_chart_locked, helm_chart_pinned
from .images import image_pinned
from .inference import (
    gateway_class_allowed,
    inferencepool_has_epp,
    mesh_mtls_strict,
    public_listener_tls,
    route_parent_platform_gateway,
)
from .mig import mig_requests_match_layouts, mig_workloads_select_mig_pool
from .netpol_content import netpol_internet_egress, netpol_no_allow_all, privileged_flow_labels
from .network import ingress_tls, loadbalancer_services_allowed
from .pack_config import guard_configure
from .pods import no_host_access, no_privilege_escalation, read_only_root_filesystem, run_as_non_root
from .protection import cluster_deletion_protection
from .queueing import job_names_local_queue
from .rbac import rbac_no_dangerous_rules, rbac_no_privileged_bindings
from .secrets import no_plain_secret_env
from .serving import model_servers_mount_model_cache, serving_pods_select_gpu_pool
from .tenancy import gpu_quota_for_gpu_namespaces, namespace_default_deny, namespace_resource_quota
from .workloads import gpu_workloads_tolerate_gpu_taint

ALL_POLICIES: list[Policy] = [
    helm_chart_pinned,
    helm_chart_locked,
    crd_bundle_locked,
    gpu_node_pool_tainted,
    gpu_workloads_tolerate_gpu_taint,
    gpu_budget,
    cluster_deletion_protection,
    critical_models_on_demand,
    flex_start_not_sole_capacity,
    mig_requests_match_layouts,
    mig_workloads_select_mig_pool,
    namespace_resource_quota,
    namespace_default_deny,
    gpu_quota_for_gpu_namespaces,
    container_resources,
    image_pinned,
    no_host_access,
    run_as_non_root,
    no_plain_secret_env,
    ingress_tls,
    loadbalancer_services_allowed,
    cost_budget,
    serving_replicas_ha,
    pdb_for_multi_replica,
    serving_pods_select_gpu_pool,
    model_servers_mount_model_cache,
    cluster_endpoint_not_public,
    gpu_access_requires_gpu_request,
    rbac_no_privileged_bindings,
    rbac_no_dangerous_rules,
    ingress_safe_annotations,
    ingress_no_management_routes,
    netpol_no_allow_all,
    netpol_internet_egress,
    privileged_flow_labels,
    no_privilege_escalation,
    read_only_root_filesystem,
    bucket_not_public,
    s3_bucket_guardrails,
    ebs_encrypted,
    iam_least_privilege,
    workload_identity_trust_scoped,
    eks_control_plane_logs,
    eks_network_policy_enforced,
    gke_cluster_hardened,
    pdb_allows_eviction,
    pdb_below_replicas,
    helm_chart_renders,
    helm_chart_renders_advisory,
    gateway_class_allowed,
    inferencepool_has_epp,
    route_parent_platform_gateway,
    public_listener_tls,
    mesh_mtls_strict,
    job_names_local_queue,
]
"""Every policy of the pack, in report order (PolicyPack requires a list)."""

POLICIES_BY_NAME: dict[str, Policy] = {p.name: p for p in ALL_POLICIES}
"""The same policies by name (the keys of `--policy-pack-config`)."""

# `policy/__main__.py` may only build the PolicyPack and importing this package is all it does first:
# this is the one place where the pack can refuse a config naming a policy or setting it does not have
# before `pulumi preview` runs (see pack_config). It changes no behaviour of a sound config.
guard_configure(ALL_POLICIES)

__all__ = ["ALL_POLICIES", "POLICIES_BY_NAME"]
