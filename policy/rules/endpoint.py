"""cluster-endpoint-not-public: a protected cluster's API server is not open to the whole internet.

A cluster is protected when it carries `deletionProtection: true` or the Pulumi `protect` option, or
when its stack matches the `stacks` globs (same mechanism and default as cluster-deletion-protection,
so switching protection off in prod does not switch this check off). For such a cluster:

- `aws:eks/cluster:Cluster`: a public endpoint (`vpcConfig.endpointPublicAccess`, which EKS turns on
  when absent) must name `vpcConfig.publicAccessCidrs`, none of them a /0: EKS opens a public
  endpoint without CIDRs to 0.0.0.0/0.
- `gcp:container/cluster:Cluster`: an IP endpoint that is public (no
  `privateClusterConfig.enablePrivateEndpoint: true`, and no
  `controlPlaneEndpointsConfig.ipEndpointsConfig.enabled: false`) must have
  `masterAuthorizedNetworksConfig` (GKE has no authorized networks without the block) with no /0 in
  `cidrBlocks[].cidrBlock`. The DNS-based endpoint is not judged: IAM, not the source address, guards it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import get, maps, strings
from .protection import DEFAULT_STACKS, EKS_CLUSTER, GKE_CLUSTER, protected_stack, stack_of, stacks_schema

NAME = "cluster-endpoint-not-public"


def world(cidr: Any) -> bool:
    """A CIDR that covers every address (0.0.0.0/0, ::/0, or written with host bits)."""
    try:
        return ipaddress.ip_network(str(cidr), strict=False).prefixlen == 0
    except ValueError:
        return False


def _eks_problem(props: Any) -> str | None:
    if get(props, "vpcConfig", "endpointPublicAccess", default=True) is False:
        return None
    cidrs = strings(get(props, "vpcConfig", "publicAccessCidrs"))
    if not cidrs:
        return ("has a public endpoint (vpcConfig.endpointPublicAccess) without publicAccessCidrs, which EKS opens to "
                "0.0.0.0/0")
    open_to = [c for c in cidrs if world(c)]
    if open_to:
        return f"has a public endpoint open to {', '.join(open_to)} (vpcConfig.publicAccessCidrs)"
    return None


def _gke_problem(props: Any) -> str | None:
    if get(props, "privateClusterConfig", "enablePrivateEndpoint") is True:
        return None
    if get(props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is False:
        return None
    networks = get(props, "masterAuthorizedNetworksConfig")
    if networks is None:
        return ("has a public IP endpoint (privateClusterConfig.enablePrivateEndpoint is not true) without "
                "masterAuthorizedNetworksConfig, so 0.0.0.0/0 reaches it")
    open_to = [str(b.get("cidrBlock")) for b in maps(get(networks, "cidrBlocks")) if world(b.get("cidrBlock"))]
    if open_to:
        return f"has a public IP endpoint whose authorized networks include {', '.join(open_to)}"
    return None


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (GKE_CLUSTER, EKS_CLUSTER):
        return
    configured = get(args.get_config(), "stacks")
    patterns = strings(configured) if configured is not None else list(DEFAULT_STACKS)
    props = args.props
    if not (get(props, "deletionProtection") is True or args.opts.protect or protected_stack(args.urn, patterns)):
        return
    eks = args.resource_type == EKS_CLUSTER
    problem = _eks_problem(props) if eks else _gke_problem(props)
    if problem:
        fix = ("set cluster.eks.publicAccessCidrs to the networks that deploy and administer the cluster, or keep "
               "the endpoint private and deploy from a runner inside the VPC" if eks else
               "name authorized networks, or make the endpoint private")
        report_violation(f"{'EKS' if eks else 'GKE'} cluster {get(props, 'name', default=args.name)} of protected "
                         f"stack '{stack_of(args.urn)}' {problem}; {fix}.", None)


cluster_endpoint_not_public = ResourceValidationPolicy(
    name=NAME,
    description="A protected cluster's API server endpoint is private or limited to named networks, never 0.0.0.0/0.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=stacks_schema("Glob patterns of stack names whose clusters are protected even without their flags."),
)
