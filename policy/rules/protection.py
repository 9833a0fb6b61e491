"""cluster-deletion-protection: production clusters cannot be deleted by accident.

A cluster of a protected stack needs both guards:

- the cloud's own flag, `deletionProtection: true` on `gcp:container/cluster:Cluster` (the GKE API
  and provider refuse to delete it) and on `aws:eks/cluster:Cluster` (the EKS API refuses
  DeleteCluster while it is set);
- Pulumi's `protect` resource option, so `pulumi destroy` or a replace-on-change plan stops
  before it reaches the cloud.

Which stacks are protected: the stack segment of the resource's URN
(`urn:pulumi:<stack>::<project>::...`) matched against the glob patterns of the pack config
`stacks` (default: prod, prod-*, production, production-*). `policy/config/prod.json` sets
`["*"]`: every stack previewed with the production pack config must be protected. Absent
`deletionProtection` is a violation (the providers default it to false for EKS; for GKE it
defaults to true, but a platform should state it).
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from .helpers import get, strings

NAME = "cluster-deletion-protection"
GKE_CLUSTER = "gcp:container/cluster:Cluster"
EKS_CLUSTER = "aws:eks/cluster:Cluster"
DEFAULT_STACKS = ("prod", "prod-*", "production", "production-*")


def stack_of(urn: str) -> str:
    """The stack name in a resource URN ('' when the URN is not in the standard form)."""
    parts = urn.split(":", 2)
    return parts[2].split("::", 1)[0] if len(parts) == 3 and parts[0] == "urn" and parts[1] == "pulumi" else ""


def protected_stack(urn: str, patterns: list[str]) -> bool:
    stack = stack_of(urn)
    return bool(stack) and any(fnmatchcase(stack, p) for p in patterns)


def _validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type not in (GKE_CLUSTER, EKS_CLUSTER):
        return
    configured = get(args.get_config(), "stacks")
    patterns = strings(configured) if configured is not None else list(DEFAULT_STACKS)
    if not protected_stack(args.urn, patterns):
        return
    stack, missing = stack_of(args.urn), []
    if get(args.props, "deletionProtection") is not True:
        missing.append("deletionProtection: true (cluster.deletionProtection in the stack file)")
    if not args.opts.protect:
        missing.append("the Pulumi `protect` resource option")
    if missing:
        kind = "GKE" if args.resource_type == GKE_CLUSTER else "EKS"
        report_violation(f"{kind} cluster {get(args.props, 'name', default=args.name)} of protected stack "
                         f"'{stack}' lacks {' and '.join(missing)}.")


def stacks_schema(description: str) -> PolicyConfigSchema:
    """The `stacks` setting of every rule that applies to protected stacks: glob patterns of stack names,
    DEFAULT_STACKS unless configured."""
    return PolicyConfigSchema(properties={
        "stacks": {"type": "array", "items": {"type": "string"}, "default": list(DEFAULT_STACKS),
                   "description": description},
    })


cluster_deletion_protection = ResourceValidationPolicy(
    name=NAME,
    description="Clusters of production stacks have cloud deletion protection and Pulumi protect.",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
    config_schema=stacks_schema("Glob patterns of stack names whose clusters must be protected."),
)
