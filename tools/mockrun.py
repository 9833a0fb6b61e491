"""Run the real program (`__main__.py`) in-process under Pulumi's mock engine.

Used by the offline plan (`tools.plan`), the test harness and the benchmark. Nothing here talks
to a cloud or a cluster: resources are recorded (type, name, parent, inputs, dependencies,
options) and answered with realistic outputs (endpoints, CA data, ARNs, names) so code that
consumes them (kubeconfig, IAM trust policies, providers) really runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc, settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from config import stackfile

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "ai-platform"
SECRET_SIG = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_VALUE = rpc._special_secret_sig
REDACTED = "[secret]"
UNKNOWN_OUTPUT = "[unknown]"
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC-mock-ca\n-----END CERTIFICATE-----\n").decode()


@dataclass
class Recorded:
    """One registered resource as the engine saw it."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict
    dependencies: list[str]
    provider: str | None
    protect: bool
    ignore_changes: list[str]
    delete_before_replace: bool = False
    custom_timeouts: dict = field(default_factory=dict)
    """customTimeouts the program set ({"update": "95m"}), empty when none."""
    outputs: dict = field(default_factory=dict)
    """What the mocks answered (ids, names, ARNs, endpoints)."""

    @property
    def parent_type(self) -> str | None:
        return self.parent.split("::")[2].split("$")[-1] if self.parent else None


@dataclass
class RunResult:
    """What one mock run produced."""

    stack: str
    resources: list[Recorded]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    error: Exception | None = None

    def of_type(self, type_: str) -> list[Recorded]:
        return [r for r in self.resources if r.type == type_]

    def by_urn(self) -> dict[str, Recorded]:
        return {r.urn: r for r in self.resources}

    def one(self, type_: str) -> Recorded:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def ancestors(self, res: Recorded) -> list[str]:
        """URNs of the parent chain of a resource (nearest first)."""
        urns, chain, parent = self.by_urn(), [], res.parent
        while parent:
            chain.append(parent)
            parent = urns[parent].parent if parent in urns else None
        return chain


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def redact(value: Any) -> Any:
    """Replace every secret-wrapped value with a marker (for printing and rendering).

    A secret map (a Secret's whole `stringData`) keeps its keys, so rendered objects stay valid and show
    which keys exist; every value is the marker.
    """
    if is_secret(value):
        inner = value.get("value")
        if isinstance(inner, dict):
            return dict.fromkeys(inner, REDACTED)
        return REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def integers(value: Any) -> Any:
    """`value` with every whole float as an int: the engine sends every number as a float, while
    Kubernetes objects and Helm values hold integers (ports, replicas), and 2 and 2.0 are one value."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integers(v) for v in value]
    return value


def unwrap(value: Any) -> Any:
    """Replace every secret wrapper with its plain value (for assertions in tests only)."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _suffix(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()[:7]


GKE_ENDPOINT_IP = "34.118.12.7"
GCP_PROJECT_NUMBER = "482915630174"
EKS_ENDPOINT = "https://0A1B2C3D4E5F67890.gr7.us-east-1.eks.amazonaws.com"
EKS_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F67890"
ACCOUNT = "123456789012"
_CLUSTER_SCOPED_KUBERNETES = (
    "kubernetes:core/v1:Namespace", "kubernetes:rbac.authorization.k8s.io/v1:Cluster",
    "kubernetes:storage.k8s.io", "kubernetes:scheduling.k8s.io", "kubernetes:apiextensions.k8s.io",
    "kubernetes:admissionregistration.k8s.io", "kubernetes:nfd.k8s-sigs.io/v1alpha1:NodeFeatureRule",
)


def mock_password(name: str, length: int) -> str:
    """What the mocks answer for a random.RandomPassword: letters and digits, unique per resource name."""
    seed = hashlib.sha256(name.encode()).hexdigest()
    return ("Pw" + seed * 4)[:length]


def mock_pem(kind: str, name: str) -> str:
    digest = hashlib.sha256(name.encode()).hexdigest()
    return f"-----BEGIN {kind}-----\nmock-{_suffix(kind + name)}-{digest}\n-----END {kind}-----\n"


# Add-on builds of the shape `aws eks describe-addon-versions` lists (vX.Y.Z-eksbuild.N); kube-proxy follows the
# cluster's minor, the others are one build for every supported minor.
ADDON_VERSIONS = {"vpc-cni": "v1.20.4-eksbuild.2", "coredns": "v1.12.4-eksbuild.1",
                  "aws-ebs-csi-driver": "v1.51.1-eksbuild.1", "aws-efs-csi-driver": "v2.1.13-eksbuild.1"}


def mock_addon_version(args: Mapping[str, Any]) -> dict[str, Any]:
    """What aws.eks.get_addon_version answers: the add-on's most recent (or default) build for a Kubernetes minor."""
    name, minor = str(args.get("addonName")), str(args.get("kubernetesVersion"))
    version = f"v{minor}.3-eksbuild.2" if name == "kube-proxy" else ADDON_VERSIONS.get(name, "v1.0.0-eksbuild.1")
    return {"addonName": name, "kubernetesVersion": minor, "mostRecent": bool(args.get("mostRecent")),
            "version": version, "id": name, "region": "us-east-1"}


class PlatformMocks(pulumi.runtime.Mocks):
    """Realistic provider answers for the resource types the program uses.

    GKE: cluster endpoint IP + CA, DNS endpoint, project number (getProject), KMS key ids, node pool names,
    service account emails, compute selfLinks.
    EKS: https endpoint, CA data, OIDC issuer, node group ASGs, role names/ARNs, EC2 ids.
    Buckets: S3 bucket name/ARN, GCS bucket name/url. random/tls: generated passwords, PEMs.
    Kubernetes: metadata.name/namespace defaulted the way the API server would.
    """

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        inputs = dict(args.inputs)
        t, name = args.typ, args.name
        state = dict(inputs)
        rid = f"{name}-{_suffix(t + name)}"
        if t.startswith("kubernetes:") and not t.startswith("kubernetes:helm.sh"):
            meta = dict(state.get("metadata") or {})
            meta.setdefault("name", f"{name}-{_suffix(name)}")
            if not t.startswith(_CLUSTER_SCOPED_KUBERNETES):
                meta.setdefault("namespace", "default")
            state["metadata"] = meta
            rid = f"{meta.get('namespace', '')}/{meta['name']}".lstrip("/")
        elif t == "gcp:container/cluster:Cluster":
            state.setdefault("name", name)
            endpoints = dict(state.get("controlPlaneEndpointsConfig") or {})
            # GKE's DNS-based endpoint: gke-<cluster uid><project number>.<location>.gke.goog
            endpoints["dnsEndpointConfig"] = {
                **(endpoints.get("dnsEndpointConfig") or {}),
                "endpoint": f"gke-{_suffix(name)}{_suffix(t)}-{GCP_PROJECT_NUMBER}.{inputs.get('location')}.gke.goog"}
            state.update(controlPlaneEndpointsConfig=endpoints)
            state.update(endpoint=GKE_ENDPOINT_IP,
                         masterAuth={**(state.get("masterAuth") or {}), "clusterCaCertificate": FAKE_CA},
                         selfLink=f"https://container.googleapis.com/v1/projects/{inputs.get('project')}"
                                  f"/locations/{inputs.get('location')}/clusters/{state['name']}")
            rid = f"projects/{inputs.get('project')}/locations/{inputs.get('location')}/clusters/{state['name']}"
        elif t == "gcp:container/nodePool:NodePool":
            state.setdefault("name", f"{name}-{_suffix(name)}")
        elif t == "gcp:serviceaccount/account:Account":
            state["email"] = (f"{inputs.get('accountId', name)}@{inputs.get('project', 'project')}"
                              ".iam.gserviceaccount.com")
            state["name"] = f"projects/{inputs.get('project', '-')}/serviceAccounts/{state['email']}"
        elif t == "gcp:kms/keyRing:KeyRing":
            rid = f"projects/{inputs.get('project')}/locations/{inputs.get('location')}/keyRings/{inputs.get('name')}"
        elif t == "gcp:kms/cryptoKey:CryptoKey":
            rid = f"{inputs.get('keyRing')}/cryptoKeys/{inputs.get('name')}"
        elif t.startswith("gcp:compute/"):
            state.setdefault("name", name)
            kind = t.split(":")[-1].lower()
            rid = f"projects/{inputs.get('project')}/{kind}s/{state['name']}"
            state["selfLink"] = f"https://www.googleapis.com/compute/v1/{rid}"
        elif t == "aws:eks/cluster:Cluster":
            state.setdefault("name", name)
            vpc = dict(state.get("vpcConfig") or {})
            vpc.update(vpcId="vpc-0a1b2c3d4e5f67890", clusterSecurityGroupId="sg-0c1d2e3f4a5b67890")
            state.update(vpcConfig=vpc)
            state.update(endpoint=EKS_ENDPOINT, certificateAuthority={"data": FAKE_CA},
                         identities=[{"oidcs": [{"issuer": EKS_ISSUER}]}],
                         arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{state['name']}")
            rid = state["name"]
        elif t == "aws:eks/nodeGroup:NodeGroup":
            # nodeGroupNamePrefix: the provider appends a unique suffix (26 characters in the real provider).
            group = inputs.get("nodeGroupName") or f"{inputs.get('nodeGroupNamePrefix') or name + '-'}{_suffix(name)}"
            state["nodeGroupName"] = group
            state["arn"] = (f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/{inputs.get('clusterName')}/{group}/"
                            f"{_suffix(group)}")
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{group}-{_suffix(group)}"}]}]
            rid = f"{inputs.get('clusterName')}:{group}"
        elif t == "aws:iam/role:Role":
            state.setdefault("name", f"{name}-{_suffix(name)}")
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{state['name']}"
            rid = state["name"]
        elif t == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{str(inputs.get('url', '')).removeprefix('https://')}"
            rid = state["arn"]
        elif t == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-{_suffix(name)}"
            state.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}",
                         bucketRegionalDomainName=f"{bucket}.s3.us-east-1.amazonaws.com")
            rid = bucket
        elif t == "gcp:storage/bucket:Bucket":
            bucket = inputs.get("name") or f"{name}-{_suffix(name)}"
            state.update(name=bucket, url=f"gs://{bucket}", selfLink=f"https://www.googleapis.com/storage/v1/b/{bucket}")
            rid = bucket
        elif t == "random:index/randomPassword:RandomPassword":
            # Deterministic per resource name, so tests can look for the value everywhere.
            state["result"] = mock_password(name, int(inputs.get("length", 16)))
            rid = "none"
        elif t == "tls:index/privateKey:PrivateKey":
            state.update(privateKeyPem=mock_pem("PRIVATE KEY", name), privateKeyPemPkcs8=mock_pem("PRIVATE KEY", name),
                         publicKeyPem=mock_pem("PUBLIC KEY", name), privateKeyOpenssh=f"mock-openssh-{_suffix(name)}")
        elif t in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
            state["certPem"] = mock_pem("CERTIFICATE", name)
        elif t == "tls:index/certRequest:CertRequest":
            state["certRequestPem"] = mock_pem("CERTIFICATE REQUEST", name)
        elif t == "aws:efs/fileSystem:FileSystem":
            rid = f"fs-0{hashlib.sha1(name.encode()).hexdigest()[:16]}"
            state["arn"] = f"arn:aws:elasticfilesystem:us-east-1:{ACCOUNT}:file-system/{rid}"
            state["dnsName"] = f"{rid}.efs.us-east-1.amazonaws.com"
        elif t == "aws:ec2/launchTemplate:LaunchTemplate":
            rid = f"lt-0{hashlib.sha1(name.encode()).hexdigest()[:16]}"
            state.update(arn=f"arn:aws:ec2:us-east-1:{ACCOUNT}:launch-template/{rid}", latestVersion=1,
                         defaultVersion=1, name=inputs.get("name") or f"{name}-{_suffix(name)}")
        elif t.startswith("aws:ec2/"):
            kind = t.split(":")[-1].lower()
            prefix = {"vpc": "vpc", "subnet": "subnet", "internetgateway": "igw", "natgateway": "nat",
                      "routetable": "rtb", "eip": "eipalloc", "securitygroup": "sg"}.get(kind, kind)
            rid = f"{prefix}-0{hashlib.sha1(name.encode()).hexdigest()[:16]}"
            state["arn"] = f"arn:aws:ec2:us-east-1:{ACCOUNT}:{kind}/{rid}"
        elif t.startswith("aws:"):
            service, kind = t.split(":")[1].split("/")[0], t.split(":")[-1].lower()
            state.setdefault("name", name)
            state["arn"] = f"arn:aws:{service}:us-east-1:{ACCOUNT}:{kind}/{state['name']}"
        else:
            state.setdefault("name", name)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        token = args.token
        if token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDAMOCK"}
        if token == "aws:index/getRegion:getRegion":
            return {"name": "us-east-1", "region": "us-east-1", "id": "us-east-1"}
        if token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if token == "aws:iam/getPolicyDocument:getPolicyDocument":
            return {"json": json.dumps({"Version": "2012-10-17", "Statement": args.args.get("statements", [])})}
        if token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId") or "mock-project"
            return {"projectId": project, "number": GCP_PROJECT_NUMBER, "name": project,
                    "id": f"projects/{project}", "orgId": "123456789012"}
        if token == "aws:eks/getAddonVersion:getAddonVersion":
            return mock_addon_version(args.args)
        if token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"project": "mock-project", "region": "us-central1", "accessToken": "mock"}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration request (mocks do not catch duplicate URNs)."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.recorded: list[Recorded] = []
        self.output_keys: dict[str, list[str]] = {}
        """Keys each component registered with register_outputs, by URN."""

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        self.recorded.append(Recorded(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=_plain(inputs),
            dependencies=list(request.dependencies),
            provider=request.provider or None,
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace),
            custom_timeouts={k: v for k in ("create", "update", "delete")
                             if (v := getattr(request.customTimeouts, k, ""))},
            outputs=_plain(self.resources[response.urn].state) if response.urn in self.resources else {},
        ))
        return response

    def RegisterResourceOutputs(self, request):
        self.output_keys[request.urn] = sorted(request.outputs.fields.keys())
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    """Deserialized properties as plain JSON-like data (unknowns as None, secrets kept wrapped)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str) and value == rpc.UNKNOWN:
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return None  # unknowns and resource references


def _known(value: Any) -> Any:
    """Stack outputs with values unknown at preview shown as Pulumi shows them."""
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_OUTPUT
    if isinstance(value, dict):
        return {k: _known(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_known(v) for v in value]
    return value


def stack_file(stack: str, root: Path = ROOT) -> Path:
    return root / f"Pulumi.{stack}.yaml"


def stack_config(stack: str, root: Path = ROOT) -> tuple[dict[str, Any], list[str]]:
    """The `config:` of Pulumi.<stack>.yaml as {key without project prefix: value}, and secret keys.

    `secure:` values cannot be decrypted without the CLI; they become a redacted placeholder that
    the program still sees as a secret.
    Raises ConfigError for duplicate keys or a file that is not a mapping with a `config:` mapping,
    yaml.YAMLError for a file that is not YAML, OSError/UnicodeDecodeError for one that cannot be read.
    Keys are read as Pulumi reads them: `budget:` is `ai-platform:budget`.
    """
    raw = stackfile.read(stack_file(stack, root))
    values: dict[str, Any] = {}
    secrets: list[str] = []
    for written, value in raw.items():
        full = stackfile.config_key(str(written))
        key = full.split(":", 1)[1] if full.startswith(f"{PROJECT}:") else full
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = REDACTED
            secrets.append(key)
        else:
            values[key] = value
    return values, secrets


def _pulumi_config(values: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in values.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        out[full] = value if isinstance(value, str) else json.dumps(value)
    return out


def _no_stack_trace() -> source_pb2.StackTrace:
    return source_pb2.StackTrace()


def _reset() -> None:
    # Every registration walks the Python stack for the engine's source positions (pulumi/runtime/resource.py
    # `_get_stack_trace`, a sixth of a mock run's time); the mock engine never reads them.
    pulumi_resource._get_stack_trace = _no_stack_trace
    settings.set_root_resource(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()


def run_program(
    stack: str = "dev",
    values: Mapping[str, Any] | None = None,
    secrets: list[str] | None = None,
    preview: bool = True,
    program: Path = ROOT / "__main__.py",
) -> RunResult:
    """Run `__main__.py` for a stack: config from Pulumi.<stack>.yaml unless `values` is given.

    A ConfigError (or any other exception) is returned in `RunResult.error`, not raised.
    """
    if values is None:
        values, secrets = stack_config(stack)
    secrets = list(secrets or [])
    _reset()
    set_all_config(_pulumi_config(values), [k if ":" in k else f"{PROJECT}:{k}" for k in secrets])
    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(PlatformMocks(), project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    monitor.mocks = PlatformMocks()
    error: Exception | None = None
    try:
        _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
    except Exception as exc:
        error = exc
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    root = settings.get_root_resource()
    if error is None and root is not None:
        for name, value in getattr(root, "outputs", {}).items():
            out = pulumi.Output.from_input(value)
            outputs[name] = _known(_sync_await(out.future(with_unknowns=True)))
            if _sync_await(out.is_secret()):
                secret_outputs.add(name)
    result = RunResult(stack, list(monitor.recorded), outputs, secret_outputs, error)
    _reset()
    return result


@dataclass
class ComponentRun(RunResult):
    """A `run_component` result: the component object, its attribute values and registered outputs."""

    component: Any = None
    values: dict[str, Any] = field(default_factory=dict)
    secret: dict[str, bool] = field(default_factory=dict)
    output_keys: dict[str, list[str]] = field(default_factory=dict)


def run_component(factory: Callable[[], Any], attributes: tuple[str, ...] = (), stack: str = "test") -> ComponentRun:
    """Build one component (`factory()` inside a mock program) and resolve the named Output attributes.

    For unit tests of a single component without the whole program; errors propagate.
    """
    _reset()
    monitor = RecordingMonitor(PlatformMocks())
    pulumi.runtime.set_mocks(PlatformMocks(), project=PROJECT, stack=stack, preview=False, monitor=monitor)
    holder: dict[str, Any] = {}
    try:
        _sync_await(run_pulumi_func(lambda: holder.setdefault("component", factory())))
        run = ComponentRun(stack, list(monitor.recorded), {}, set(), component=holder["component"],
                           output_keys=dict(monitor.output_keys))
        for attr in attributes:
            out = pulumi.Output.from_input(getattr(run.component, attr))
            run.values[attr] = _sync_await(out.future())
            run.secret[attr] = _sync_await(out.is_secret())
    finally:
        _reset()
    return run


def available_stacks(root: Path = ROOT) -> list[str]:
    return sorted(p.name[len("Pulumi."):-len(".yaml")] for p in root.glob("Pulumi.*.yaml"))
