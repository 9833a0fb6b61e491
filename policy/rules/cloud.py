"""Cloud resources: storage that is not public, encrypted and TLS-only; least-privilege IAM; hardened clusters.

Every rule reads the pulumi-aws / pulumi-gcp inputs as the engine sends them (camelCase). Policy documents
arrive as JSON strings (or, when a program passes a dict, as maps); a document that does not parse is
reported, since a gate that cannot read a grant must not pass it.

- **bucket-not-public** (resource): S3 canned ACLs `public-read`, `public-read-write`, `authenticated-read`
  (`aws:s3/bucket:Bucket.acl`, `aws:s3/bucketAcl:BucketAcl.acl`) and ACL grants to the AllUsers /
  AuthenticatedUsers groups; bucket policies (`aws:s3/bucketPolicy:BucketPolicy.policy`, `Bucket.policy`)
  with an Allow to `Principal: "*"` / `{"AWS": "*"}` (or NotPrincipal) without a condition that pins the
  caller (`PUBLIC_SAFE_CONDITION_KEYS`: S3 Block Public Access's non-public keys and the principal keys); a
  public access block (bucket or account) with any of its four switches off (absent is off); GCS buckets whose
  `publicAccessPrevention` is not `enforced`, and GCS IAM members / ACL entities `allUsers` /
  `allAuthenticatedUsers`.
- **s3-bucket-guardrails** (stack): every `aws:s3/bucket:Bucket` has a public access block (its own, or an
  account-wide one), a server-side encryption configuration, and a bucket policy that denies requests
  without TLS (`Deny`, all principals, `s3:*`, `Bool aws:SecureTransport false`). A companion belongs to the
  bucket its `bucket` input names (the bucket's `bucket` or `id`), else, while that is unknown in a preview,
  to the one bucket it depends on.
- **ebs-encrypted** (resource): every EBS mapping of a launch template sets `encrypted: true`.
- **iam-least-privilege** (resource): identity policies (role/user/group inline policies, managed policies,
  a role's `inlinePolicies`) with an Allow of `Action: "*"` (or `iam:*`, or NotAction), or of
  `Resource: "*"` (or NotResource) unless every action is one AWS only authorizes on `*` (RESOURCE_STAR_ACTIONS,
  each with its reason) or a resource-tag condition limits the resources; attachments of the admin managed
  policies (ADMIN_POLICIES) and GCP basic/admin roles (ADMIN_ROLES) granted at project/folder/org level.
- **workload-identity-trust-scoped** (resource): an IAM role trust that lets a web identity (IRSA)
  assume it pins the `:sub` claim with StringEquals to exact service accounts (no StringLike wildcard, no
  missing `sub`); a GCP `roles/iam.workloadIdentityUser` grant names exact Kubernetes service accounts
  (no `*`, no `principalSet://` that admits a whole pool or namespace), on one service account (not on a
  project, folder or organization).
- **eks-control-plane-logs** (resource): `enabledClusterLogTypes` includes api, audit and authenticator.
- **eks-network-policy-enforced** (stack): every EKS cluster has the `vpc-cni` Addon with
  `configurationValues.enableNetworkPolicy: "true"`; without it NetworkPolicies (default-deny included)
  are accepted by the API server and enforced by nothing.
- **gke-cluster-hardened** (resource): private nodes (`privateClusterConfig.enablePrivateNodes`), authorized
  networks (`masterAuthorizedNetworksConfig` present, unless IP endpoints are off) and network policy
  enforcement (`datapathProvider: ADVANCED_DATAPATH`, Dataplane V2, or `networkPolicy.enabled`); no node pool
  opts out of private nodes (`networkConfig.enablePrivateNodes: false`). Whether
  the public endpoint is open to 0.0.0.0/0 is cluster-endpoint-not-public's (policy/rules/endpoint.py).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from .endpoint import world
from .helpers import GKE_NODE_POOL, get, is_list, is_map, maps, strings
from .protection import EKS_CLUSTER, GKE_CLUSTER

BUCKET_PUBLIC = "bucket-not-public"
BUCKET_GUARDRAILS = "s3-bucket-guardrails"
EBS_ENCRYPTED = "ebs-encrypted"
IAM_LEAST_PRIVILEGE = "iam-least-privilege"
WORKLOAD_IDENTITY = "workload-identity-trust-scoped"
EKS_LOGS = "eks-control-plane-logs"
EKS_NETWORK_POLICY = "eks-network-policy-enforced"
GKE_HARDENED = "gke-cluster-hardened"

S3_BUCKET = "aws:s3/bucket:Bucket"
S3_BUCKET_ACL = "aws:s3/bucketAcl:BucketAcl"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_ACCOUNT_PUBLIC_ACCESS_BLOCK = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
S3_SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
GCS_BUCKET = "gcp:storage/bucket:Bucket"
GCS_IAM_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
GCS_IAM_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
GCS_IAM_POLICY = "gcp:storage/bucketIAMPolicy:BucketIAMPolicy"
GCS_ACL = "gcp:storage/bucketACL:BucketACL"
GCS_ACCESS_CONTROL = "gcp:storage/bucketAccessControl:BucketAccessControl"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
EKS_ADDON = "aws:eks/addon:Addon"
IAM_ROLE = "aws:iam/role:Role"

# pulumi-aws canned ACLs (s3 BucketAcl `acl` docs) that open a bucket beyond its account.
PUBLIC_CANNED_ACLS = ("public-read", "public-read-write", "authenticated-read")
# ACL grantee group URIs of "everyone" and "any AWS account" (S3 ACL overview, "Amazon S3 predefined groups").
PUBLIC_GROUP_URIS = ("http://acs.amazonaws.com/groups/global/AllUsers",
                     "http://acs.amazonaws.com/groups/global/AuthenticatedUsers")
PUBLIC_ACCESS_BLOCK_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
# Condition keys that pin who may call with a fixed value. The S3 list (S3 PublicAccessBlockConfiguration
# reference: a bucket policy is not public when it limits aws:SourceIp to CIDRs or grants to a fixed
# aws:SourceArn, aws:SourceVpc, aws:SourceVpce, aws:SourceOwner, aws:SourceAccount,
# s3:x-amz-server-side-encryption-aws-kms-key-id or aws:userid), plus the keys that pin the calling principal's
# own ARN, account or organization. Lower case; a wildcard value or an ...IfExists operator pins nothing.
PUBLIC_SAFE_CONDITION_KEYS = frozenset({
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner", "aws:sourceaccount",
    "s3:x-amz-server-side-encryption-aws-kms-key-id", "aws:userid",
    "aws:principalarn", "aws:principalaccount", "aws:principalorgid",
})
GCP_PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")

IAM_DOCUMENTS: dict[str, str] = {
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:iam/userPolicy:UserPolicy": "policy",
    "aws:iam/groupPolicy:GroupPolicy": "policy",
}
"""Identity-policy resources -> the input holding the document."""
IAM_ATTACHMENTS: dict[str, str] = {
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "policyArn",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "policyArn",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "policyArn",
    "aws:iam/policyAttachment:PolicyAttachment": "policyArn",
    "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": "policyArns",
    "aws:iam/userPolicyAttachmentsExclusive:UserPolicyAttachmentsExclusive": "policyArns",
    "aws:iam/groupPolicyAttachmentsExclusive:GroupPolicyAttachmentsExclusive": "policyArns",
}
"""Managed-policy attachments -> the input holding the ARN (or list of ARNs)."""

ADMIN_POLICIES: dict[str, str] = {
    "AdministratorAccess": "every action on every resource",
    "PowerUserAccess": "every action outside IAM and Organizations",
    "IAMFullAccess": "creating and attaching any policy, i.e. administrator by one step",
}
"""AWS managed policies (by name, any path: arn:aws:iam::aws:policy/...) no workload or node role needs."""

ADMIN_ROLES: dict[str, str] = {
    "roles/owner": "full control of the project including IAM",
    "roles/editor": "write access to almost every service of the project",
    "roles/iam.securityAdmin": "setting any IAM policy",
    "roles/resourcemanager.projectIamAdmin": "granting any role on the project",
    "roles/iam.serviceAccountTokenCreator": "impersonating every service account of the project",
}
"""GCP roles that are administrator by themselves when granted on a project, folder or organization."""
GCP_PROJECT_IAM = ("gcp:projects/iAMMember:IAMMember", "gcp:projects/iAMBinding:IAMBinding",
                   "gcp:folder/iAMMember:IAMMember", "gcp:folder/iAMBinding:IAMBinding",
                   "gcp:organizations/iAMMember:IAMMember", "gcp:organizations/iAMBinding:IAMBinding")
GCP_SA_IAM = ("gcp:serviceaccount/iAMMember:IAMMember", "gcp:serviceaccount/iAMBinding:IAMBinding")
WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser"

RESOURCE_STAR_ACTIONS: dict[str, str] = {
    "autoscaling:Describe*": "EC2 Auto Scaling Describe actions support no resource-level permissions "
                             "(Service Authorization Reference, Amazon EC2 Auto Scaling: no resource types)",
    "ec2:Describe*": "EC2 Describe actions only support '*' (Service Authorization Reference, Amazon EC2)",
    "ec2:GetInstanceTypesFromInstanceRequirements": "no resource types (Service Authorization Reference, EC2)",
    "eks:DescribeNodegroup": "read-only; cluster-autoscaler's documented policy grants it on '*' "
                             "(kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md)",
    "sts:GetCallerIdentity": "no resource types; it returns the caller's own identity",
    "kms:ListAliases": "no resource types (Service Authorization Reference, AWS KMS)",
    "pricing:GetProducts": "public price list, no resource types (Service Authorization Reference, AWS Price List); "
                           "Karpenter's reference controller policy grants it on '*'",
}
"""Actions an identity policy may grant on `Resource: "*"`, each with the reason (fnmatch patterns)."""

REQUIRED_EKS_LOGS = ("api", "audit", "authenticator")


# ------------------------------------------------------------------------------------- documents


def document(value: Any) -> Mapping[str, Any] | None:
    """A policy document from a JSON string or a map; None when it does not parse to an object."""
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def statements(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    found = doc.get("Statement")
    return [found] if isinstance(found, Mapping) else maps(found)


def values(value: Any) -> list[str]:
    """A string-or-list IAM field as a list of strings (numbers and booleans as their JSON text)."""
    items = value if is_list(value) else [value] if value is not None else []
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, (int, float)):
            out.append(str(item))
        elif isinstance(item, str):
            out.append(item)
    return out


def allows(statement: Mapping[str, Any]) -> bool:
    return statement.get("Effect") == "Allow"


def everyone(principal: Any) -> bool:
    """`"*"`, `{"AWS": "*"}` (or a list holding "*")."""
    if principal == "*":
        return True
    return is_map(principal) and "*" in values(principal.get("AWS"))


def condition_keys(statement: Mapping[str, Any]) -> Iterator[tuple[str, str, list[str]]]:
    """(operator, key, values) of every condition of a statement."""
    condition = statement.get("Condition")
    if not isinstance(condition, Mapping):
        return
    for operator, entries in condition.items():
        if is_map(entries):
            for key, value in entries.items():
                yield str(operator), str(key), values(value)


def pins_caller(statement: Mapping[str, Any]) -> bool:
    """A condition with a fixed value on a key that pins the caller (S3's non-public conditions)."""
    for operator, key, vals in condition_keys(statement):
        if operator.endswith("IfExists") or key.lower() not in PUBLIC_SAFE_CONDITION_KEYS or not vals:
            continue
        if key.lower() == "aws:sourceip":
            if any(world(v) for v in vals):
                continue
        elif any("*" in v or "?" in v for v in vals):
            continue
        return True
    return False


def public_statements(doc: Mapping[str, Any]) -> list[str]:
    """Why each Allow statement of a resource policy admits anyone."""
    found = []
    for i, statement in enumerate(statements(doc)):
        if not allows(statement):
            continue
        sid = f"statement {statement.get('Sid') or i}"
        if "NotPrincipal" in statement:
            found.append(f"{sid} allows NotPrincipal (everyone but the named)")
        elif everyone(statement.get("Principal")) and not pins_caller(statement):
            found.append(f"{sid} allows Principal '*' ({', '.join(values(statement.get('Action')))}) without a "
                         f"condition that pins the caller (aws:SourceArn, aws:SourceAccount, aws:PrincipalOrgID, ...)")
    return found


def denies_insecure_transport(doc: Mapping[str, Any]) -> bool:
    """A statement Deny, all principals, s3:* (or *), Bool aws:SecureTransport false."""
    for statement in statements(doc):
        if statement.get("Effect") != "Deny" or not everyone(statement.get("Principal")):
            continue
        if not any(a in ("*", "s3:*") for a in values(statement.get("Action"))):
            continue
        for operator, key, vals in condition_keys(statement):
            if operator == "Bool" and key.lower() == "aws:securetransport" and "false" in [v.lower() for v in vals]:
                return True
    return False


# ------------------------------------------------------------------------------------ bucket-not-public


def _public_access_block_problem(props: Any) -> str | None:
    off = [flag for flag in PUBLIC_ACCESS_BLOCK_FLAGS if get(props, flag) is not True]
    return f"public access block leaves {', '.join(off)} off (absent is off)" if off else None


def _bucket_public_problems(resource_type: str, props: Any) -> list[str]:
    problems: list[str] = []
    if resource_type in (S3_BUCKET, S3_BUCKET_ACL):
        acl = get(props, "acl")
        if acl in PUBLIC_CANNED_ACLS:
            problems.append(f"canned ACL '{acl}' opens the bucket beyond the account")
        for grant in maps(get(props, "accessControlPolicy", "grants")):
            uri = get(grant, "grantee", "uri")
            if uri in PUBLIC_GROUP_URIS:
                problems.append(f"ACL grants {get(grant, 'permission', default='?')} to {uri.rsplit('/', 1)[-1]}")
    if resource_type in (S3_BUCKET, S3_BUCKET_POLICY) and get(props, "policy") is not None:
        doc = document(get(props, "policy"))
        if doc is None:
            problems.append("bucket policy is not a JSON policy document")
        else:
            problems += [f"bucket policy {p}" for p in public_statements(doc)]
    if resource_type in (S3_PUBLIC_ACCESS_BLOCK, S3_ACCOUNT_PUBLIC_ACCESS_BLOCK):
        problem = _public_access_block_problem(props)
        problems += [problem] if problem else []
    if resource_type == GCS_BUCKET and get(props, "publicAccessPrevention") != "enforced":
        problems.append(f"publicAccessPrevention is {get(props, 'publicAccessPrevention', default='absent')!r} "
                        f"(GCS: 'inherited'), not 'enforced', so an IAM grant or ACL can make it public")
    members: list[str] = []
    if resource_type == GCS_IAM_MEMBER:
        members = values(get(props, "member"))
    elif resource_type == GCS_IAM_BINDING:
        members = values(get(props, "members"))
    elif resource_type == GCS_IAM_POLICY:
        doc = document(get(props, "policyData"))
        members = [m for b in maps(get(doc, "bindings")) for m in values(get(b, "members"))] if doc else []
    elif resource_type == GCS_ACL:
        members = [entity.split(":", 1)[-1] for entity in strings(get(props, "roleEntities"))]
    elif resource_type == GCS_ACCESS_CONTROL:
        members = values(get(props, "entity"))
    problems += [f"grants {m} access" for m in members if m in GCP_PUBLIC_MEMBERS]
    return problems


def _validate_bucket_public(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for problem in _bucket_public_problems(args.resource_type, args.props):
        report_violation(f"{args.resource_type.rsplit(':', 1)[-1]} {args.name}: {problem}; buckets of the platform "
                         f"hold tenants' documents and backups and are never public.", None)


bucket_not_public = ResourceValidationPolicy(
    name=BUCKET_PUBLIC,
    description="No public S3/GCS bucket: no public ACLs or Principal-* grants, public access blocks and GCS "
                "public access prevention on.",
    validate=_validate_bucket_public,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# --------------------------------------------------------------------------------- s3-bucket-guardrails


def _known(read: Any) -> Any:
    """`read()`, or None when the value is unknown during a preview."""
    try:
        return read()
    except UnknownValueError:
        return None


def _bucket_ids(bucket: Any) -> set[str]:
    return {v for v in (_known(lambda: get(bucket.props, "bucket")), _known(lambda: get(bucket.props, "id")))
            if isinstance(v, str) and v}


def companions(resource_type: str, bucket: Any, resources: Any) -> list[Any]:
    """The resources of a type that configure `bucket` (see the module docstring)."""
    buckets = [r for r in resources if r.resource_type == S3_BUCKET]
    ids = _bucket_ids(bucket)
    found = []
    for r in resources:
        if r.resource_type != resource_type:
            continue
        named = _known(lambda r=r: get(r.props, "bucket"))
        if isinstance(named, str):
            if named in ids:
                found.append(r)
            continue
        depends_on = [b for b in buckets if any(d is b or getattr(d, "urn", None) == b.urn
                                                for d in (r.dependencies or []))]
        if len(depends_on) == 1 and depends_on[0].urn == bucket.urn:
            found.append(r)
    return found


def _validate_bucket_guardrails(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    resources = args.resources
    account_block = any(r.resource_type == S3_ACCOUNT_PUBLIC_ACCESS_BLOCK for r in resources)
    for bucket in (r for r in resources if r.resource_type == S3_BUCKET):
        missing = []
        if not account_block and not companions(S3_PUBLIC_ACCESS_BLOCK, bucket, resources):
            missing.append("a BucketPublicAccessBlock (nothing stops a later ACL or policy from making it public)")
        inline_sse = get(bucket.props, "serverSideEncryptionConfiguration")
        sse = [r for r in companions(S3_SSE, bucket, resources)
               if any(get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm")
                      for rule in maps(get(r.props, "rules")))]
        if not sse and not inline_sse:
            missing.append("a BucketServerSideEncryptionConfiguration with a default sseAlgorithm")
        documents = [document(get(p.props, "policy")) for p in companions(S3_BUCKET_POLICY, bucket, resources)]
        documents.append(document(get(bucket.props, "policy")))
        if not any(doc is not None and denies_insecure_transport(doc) for doc in documents):
            missing.append("a bucket policy denying requests without TLS (Deny s3:* to '*' when "
                           "aws:SecureTransport is false)")
        if missing:
            report_violation(f"S3 bucket {bucket.name} has no {'; no '.join(missing)}.", bucket.urn)


s3_bucket_guardrails = StackValidationPolicy(
    name=BUCKET_GUARDRAILS,
    description="Every S3 bucket has a public access block, default encryption and a TLS-only bucket policy.",
    validate=_validate_bucket_guardrails,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ----------------------------------------------------------------------------------------- ebs-encrypted


def _validate_ebs(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != LAUNCH_TEMPLATE:
        return
    for mapping in maps(get(args.props, "blockDeviceMappings")):
        ebs = get(mapping, "ebs")
        if ebs is None or get(mapping, "noDevice") or get(mapping, "virtualName"):
            continue
        # pulumi-aws types LaunchTemplate's ebs.encrypted as a string ("true"); accept the boolean too.
        if get(ebs, "encrypted") not in (True, "true"):
            report_violation(f"launch template {get(args.props, 'name', default=args.name)}: EBS volume "
                             f"{get(mapping, 'deviceName', default='?')} is not encrypted (ebs.encrypted: \"true\").",
                             None)


ebs_encrypted = ResourceValidationPolicy(
    name=EBS_ENCRYPTED,
    description="Launch templates encrypt every EBS volume of the nodes.",
    validate=_validate_ebs,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ---------------------------------------------------------------------------------- iam-least-privilege


def _resource_star_allowed(actions: list[str], statement: Mapping[str, Any]) -> bool:
    if any("resourcetag/" in key.lower() and vals and not any("*" in v for v in vals)
           and not operator.endswith("IfExists") for operator, key, vals in condition_keys(statement)):
        return True
    return bool(actions) and all(any(fnmatch.fnmatchcase(a.lower(), p.lower()) for p in RESOURCE_STAR_ACTIONS)
                                 for a in actions)


def identity_statement_problems(doc: Mapping[str, Any]) -> list[str]:
    """Why each Allow statement of an identity policy is broader than least privilege."""
    problems = []
    for i, statement in enumerate(statements(doc)):
        if not allows(statement):
            continue
        sid = f"statement {statement.get('Sid') or i}"
        actions = values(statement.get("Action"))
        if "NotAction" in statement:
            problems.append(f"{sid} allows NotAction (every action but the named)")
        broad = [a for a in actions if a in ("*", "*:*") or a.lower() == "iam:*"]
        if broad:
            problems.append(f"{sid} allows Action {', '.join(repr(a) for a in broad)}")
        if "NotResource" in statement:
            problems.append(f"{sid} allows NotResource (every resource but the named)")
        elif ("*" in values(statement.get("Resource")) and not broad and "NotAction" not in statement
              and not _resource_star_allowed(actions, statement)):
            outside = [a for a in actions
                       if not any(fnmatch.fnmatchcase(a.lower(), p.lower()) for p in RESOURCE_STAR_ACTIONS)]
            problems.append(f"{sid} allows {', '.join(outside)} on Resource '*' (name the resources, or limit them "
                            f"by an aws:ResourceTag condition)")
    return problems


def admin_policy(arn: Any) -> str | None:
    """The admin managed policy an ARN names (arn:aws:iam::aws:policy/[path/]Name), or None."""
    if not isinstance(arn, str) or ":iam::aws:policy/" not in arn:
        return None
    name = arn.rsplit("/", 1)[-1]
    return name if name in ADMIN_POLICIES else None


def _iam_problems(resource_type: str, props: Any) -> list[str]:
    problems = []
    docs: list[tuple[str, Any]] = []
    if resource_type in IAM_DOCUMENTS:
        docs.append(("policy", get(props, IAM_DOCUMENTS[resource_type])))
    if resource_type == IAM_ROLE:
        docs += [(f"inline policy {get(p, 'name', default='?')}", get(p, "policy"))
                 for p in maps(get(props, "inlinePolicies")) if get(p, "policy") is not None]
    for where, raw in docs:
        doc = document(raw)
        if doc is None:
            problems.append(f"{where} is not a JSON policy document")
            continue
        problems += [f"{where} {p}" for p in identity_statement_problems(doc)]
    arns: list[str] = []
    if resource_type in IAM_ATTACHMENTS:
        arns = values(get(props, IAM_ATTACHMENTS[resource_type]))
    elif resource_type == IAM_ROLE:
        arns = values(get(props, "managedPolicyArns"))
    for arn in arns:
        name = admin_policy(arn)
        if name:
            problems.append(f"attaches the AWS managed policy {name} ({ADMIN_POLICIES[name]})")
    if resource_type in GCP_PROJECT_IAM:
        role = get(props, "role")
        if role in ADMIN_ROLES:
            problems.append(f"grants {role} ({ADMIN_ROLES[role]})")
    return problems


def _validate_iam(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    for problem in _iam_problems(args.resource_type, args.props):
        report_violation(f"{args.resource_type.rsplit(':', 1)[-1]} {args.name}: {problem}; grant the actions the "
                         f"workload calls on the resources it owns.", None)


iam_least_privilege = ResourceValidationPolicy(
    name=IAM_LEAST_PRIVILEGE,
    description="IAM grants name their actions and resources: no Action '*', no Resource '*' beyond documented "
                "cases, no admin managed policies or roles.",
    validate=_validate_iam,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ------------------------------------------------------------------------ workload-identity-trust-scoped


def _web_identity(statement: Mapping[str, Any]) -> bool:
    """AssumeRoleWithWebIdentity, spelt out or through a wildcard action granted to a federated principal."""
    actions = values(statement.get("Action"))
    federated = is_map(statement.get("Principal")) and bool(values(statement["Principal"].get("Federated")))
    return "sts:AssumeRoleWithWebIdentity" in actions or (federated and any("*" in a for a in actions))


def trust_problems(doc: Mapping[str, Any]) -> list[str]:
    """Why each web-identity Allow statement of a role trust admits more than named service accounts."""
    problems = []
    for i, statement in enumerate(statements(doc)):
        if not allows(statement) or not _web_identity(statement):
            continue
        sid = f"statement {statement.get('Sid') or i}"
        subjects = [(operator, vals) for operator, key, vals in condition_keys(statement) if key.endswith(":sub")]
        if not subjects:
            problems.append(f"{sid} lets any identity of the provider assume the role: no ':sub' condition")
            continue
        for operator, vals in subjects:
            wild = [v for v in vals if "*" in v or "?" in v]
            if operator.startswith("StringLike") and wild:
                problems.append(f"{sid} matches subjects {', '.join(wild)} ({operator}); name the service accounts "
                                f"with StringEquals")
            elif not operator.startswith(("StringEquals", "StringLike")) or operator.endswith("IfExists"):
                problems.append(f"{sid} tests ':sub' with {operator}; use StringEquals on the service accounts")
    return problems


def _validate_workload_identity(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    problems: list[str] = []
    if args.resource_type == IAM_ROLE and get(args.props, "assumeRolePolicy") is not None:
        doc = document(get(args.props, "assumeRolePolicy"))
        problems = ["trust policy is not a JSON policy document"] if doc is None else trust_problems(doc)
    elif args.resource_type in GCP_SA_IAM and get(args.props, "role") == WORKLOAD_IDENTITY_USER:
        members = values(get(args.props, "member")) + values(get(args.props, "members"))
        problems = [f"grants {WORKLOAD_IDENTITY_USER} to {m}, which is not one Kubernetes service account"
                    for m in members if "*" in m or m.startswith("principalSet:")]
    elif args.resource_type in GCP_PROJECT_IAM and get(args.props, "role") == WORKLOAD_IDENTITY_USER:
        # Granted on a project, folder or organization it lets the member impersonate every service account there.
        problems = [f"grants {WORKLOAD_IDENTITY_USER} above one service account (on the whole "
                    f"{args.resource_type.split('/', 1)[0].split(':', 1)[1]}); grant it on the service account"]
    for problem in problems:
        report_violation(f"{args.resource_type.rsplit(':', 1)[-1]} {args.name}: {problem}; a wildcard lets any pod "
                         f"of the cluster take the cloud identity.", None)


workload_identity_trust_scoped = ResourceValidationPolicy(
    name=WORKLOAD_IDENTITY,
    description="IRSA role trusts and GKE Workload Identity grants name exact Kubernetes service accounts.",
    validate=_validate_workload_identity,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ------------------------------------------------------------------------------------------------ EKS


def _validate_eks_logs(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != EKS_CLUSTER:
        return
    enabled = strings(get(args.props, "enabledClusterLogTypes"))
    missing = [t for t in REQUIRED_EKS_LOGS if t not in enabled]
    if missing:
        report_violation(f"EKS cluster {get(args.props, 'name', default=args.name)} does not send control-plane logs "
                         f"{', '.join(missing)} (enabledClusterLogTypes): without them who did what to the cluster "
                         f"is not recorded.", None)


eks_control_plane_logs = ResourceValidationPolicy(
    name=EKS_LOGS,
    description="EKS clusters send the api, audit and authenticator control-plane logs.",
    validate=_validate_eks_logs,
    enforcement_level=EnforcementLevel.MANDATORY,
)


def network_policy_enabled(addon_props: Any) -> bool:
    """The vpc-cni add-on's configurationValues (JSON) set enableNetworkPolicy "true" (the add-on schema's
    type is a string; a JSON true is taken too)."""
    raw = get(addon_props, "configurationValues")
    config = document(raw) if raw is not None else None
    return config is not None and config.get("enableNetworkPolicy") in ("true", True)


def _validate_eks_network_policy(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    addons = [r for r in args.resources if r.resource_type == EKS_ADDON and get(r.props, "addonName") == "vpc-cni"]
    for cluster in (r for r in args.resources if r.resource_type == EKS_CLUSTER):
        name = _known(lambda c=cluster: get(c.props, "name"))

        def belongs(addon: Any, cluster: Any = cluster, name: Any = name) -> bool:
            target = _known(lambda: get(addon.props, "clusterName"))
            if isinstance(target, str):
                return bool(target == name)
            return any(d is cluster or getattr(d, "urn", None) == cluster.urn for d in (addon.dependencies or []))

        own = [a for a in addons if belongs(a)]
        if not own:
            report_violation(f"EKS cluster {name or cluster.name} has no vpc-cni Addon: the CNI EKS installs by "
                             f"itself does not enforce NetworkPolicies.", cluster.urn)
        elif not any(network_policy_enabled(a.props) for a in own):
            report_violation(f"EKS cluster {name or cluster.name}: the vpc-cni Addon does not set "
                             f"configurationValues enableNetworkPolicy \"true\", so every NetworkPolicy (default-deny "
                             f"included) is accepted and enforced by nothing.", own[0].urn)


eks_network_policy_enforced = StackValidationPolicy(
    name=EKS_NETWORK_POLICY,
    description="EKS clusters run the vpc-cni add-on with network policy enforcement on.",
    validate=_validate_eks_network_policy,
    enforcement_level=EnforcementLevel.MANDATORY,
)


# ------------------------------------------------------------------------------------------------ GKE


def gke_problems(props: Any) -> list[str]:
    problems = []
    if get(props, "privateClusterConfig", "enablePrivateNodes") is not True:
        problems.append("nodes have public IPs (privateClusterConfig.enablePrivateNodes is not true)")
    if (get(props, "controlPlaneEndpointsConfig", "ipEndpointsConfig", "enabled") is not False
            and get(props, "masterAuthorizedNetworksConfig") is None):
        problems.append("the IP endpoint has no authorized networks (masterAuthorizedNetworksConfig absent)")
    if get(props, "datapathProvider") != "ADVANCED_DATAPATH" and get(props, "networkPolicy", "enabled") is not True:
        problems.append("NetworkPolicies are not enforced (datapathProvider is not ADVANCED_DATAPATH and "
                        "networkPolicy.enabled is not true)")
    return problems


def _validate_gke(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == GKE_NODE_POOL:
        # A pool can opt out of the cluster's private nodes (networkConfig.enablePrivateNodes: false).
        if get(args.props, "networkConfig", "enablePrivateNodes") is False:
            report_violation(f"GKE node pool {get(args.props, 'name', default=args.name)}: nodes have public IPs "
                             f"(networkConfig.enablePrivateNodes: false).", None)
        return
    if args.resource_type != GKE_CLUSTER:
        return
    for problem in gke_problems(args.props):
        report_violation(f"GKE cluster {get(args.props, 'name', default=args.name)}: {problem}.", None)


gke_cluster_hardened = ResourceValidationPolicy(
    name=GKE_HARDENED,
    description="GKE clusters have private nodes, authorized networks and NetworkPolicy enforcement (Dataplane V2).",
    validate=_validate_gke,
    enforcement_level=EnforcementLevel.MANDATORY,
)


CLOUD_POLICIES = [bucket_not_public, s3_bucket_guardrails, ebs_encrypted, iam_least_privilege,
                  workload_identity_trust_scoped, eks_control_plane_logs, eks_network_policy_enforced,
                  gke_cluster_hardened]
