"""A small mock runner for the cluster components (local to tests/cluster).

Builds a typed config with `StackConfig.model_validate` + `config.capacity.plan`, instantiates
GkeCluster / EksCluster directly under Pulumi's mock engine, and records every RegisterResource
request (type, name, parent, inputs, dependencies, options). The mocks answer with realistic
outputs (GKE endpoint IP and CA, EKS https endpoint, CA data and OIDC issuer, ARNs, names) so
the code that consumes them (kubeconfig, IRSA trust policy, provider) really runs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from config import semantics
from config.capacity import plan
from config.models import StackConfig
from components.cluster import Cluster, ClusterArgs

PROJECT = "ai-platform"
SECRET_SIG = rpc._special_sig_key
SECRET_VALUE = rpc._special_secret_sig
FAKE_CA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC-mock-ca\n-----END CERTIFICATE-----\n").decode()
GKE_ENDPOINT_IP = "34.118.12.7"
EKS_ENDPOINT = "https://0A1B2C3D4E5F67890.gr7.us-east-1.eks.amazonaws.com"
EKS_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/0A1B2C3D4E5F67890"
ACCOUNT = "123456789012"


@dataclass
class Registered:
    """One RegisterResource request as the engine would see it."""

    urn: str
    type: str
    name: str
    parent: Optional[str]
    inputs: dict
    dependencies: list[str]
    protect: bool
    delete_before_replace: bool
    ignore_changes: list[str]
    provider: Optional[str]
    outputs: dict = field(default_factory=dict)
    """What the mocks answered (ids, names, ARNs, endpoints)."""


@dataclass
class Run:
    """What one mock run of a cluster component produced."""

    component: Cluster
    resources: list[Registered]
    outputs: dict[str, Any] = field(default_factory=dict)
    secret: dict[str, bool] = field(default_factory=dict)
    output_keys: dict[str, list[str]] = field(default_factory=dict)

    def of_type(self, type_: str) -> list[Registered]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str) -> Registered:
        found = self.of_type(type_)
        assert len(found) == 1, f"expected one {type_}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registered:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def by_urn(self) -> dict[str, Registered]:
        return {r.urn: r for r in self.resources}

    def ancestors(self, res: Registered) -> list[str]:
        """URNs of the parent chain of a resource (nearest first)."""
        urns, chain, parent = self.by_urn(), [], res.parent
        while parent:
            chain.append(parent)
            parent = urns[parent].parent if parent in urns else None
        return chain


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def unwrap(value: Any) -> Any:
    """Plain value with every secret wrapper removed (assertions only)."""
    if is_secret(value):
        return unwrap(value.get("value"))
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def _suffix(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:8]


class ClusterMocks(pulumi.runtime.Mocks):
    """Provider answers for the GCP, AWS and Kubernetes types the cluster components use."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        state = dict(inputs)
        rid = f"{name}-{_suffix(t + name)}"
        if t == "gcp:container/cluster:Cluster":
            state.update(endpoint=GKE_ENDPOINT_IP, masterAuth={"clusterCaCertificate": FAKE_CA})
            state.setdefault("name", name)
            rid = f"projects/{inputs.get('project')}/locations/{inputs.get('location')}/clusters/{state['name']}"
        elif t == "gcp:container/nodePool:NodePool":
            state.setdefault("name", f"{name}-{_suffix(name)}")
        elif t == "gcp:serviceaccount/account:Account":
            state["email"] = f"{inputs['accountId']}@{inputs.get('project')}.iam.gserviceaccount.com"
            state["name"] = f"projects/{inputs.get('project')}/serviceAccounts/{state['email']}"
        elif t.startswith("gcp:compute/"):
            state.setdefault("name", name)
            kind = t.split(":")[-1].lower()
            rid = f"projects/{inputs.get('project')}/{kind}s/{state['name']}"
            state["selfLink"] = f"https://www.googleapis.com/compute/v1/{rid}"
        elif t == "aws:eks/cluster:Cluster":
            state.update(
                endpoint=EKS_ENDPOINT,
                certificateAuthority={"data": FAKE_CA},
                identities=[{"oidcs": [{"issuer": EKS_ISSUER}]}],
                arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/{inputs.get('name', name)}",
            )
            state.setdefault("name", name)
            rid = state["name"]
        elif t == "aws:eks/nodeGroup:NodeGroup":
            group = inputs.get("nodeGroupName") or f"{name}-{_suffix(name)}"
            state["nodeGroupName"] = group
            state["arn"] = f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/{inputs.get('clusterName')}/{group}/{_suffix(group)}"
            state["resources"] = [{"autoscalingGroups": [{"name": f"eks-{group}-{_suffix(group)}"}]}]
            rid = f"{inputs.get('clusterName')}:{group}"
        elif t == "aws:iam/role:Role":
            state.setdefault("name", f"{name}-{_suffix(name)}")
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{state['name']}"
            rid = state["name"]
        elif t == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(inputs.get("url", "")).removeprefix("https://")
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
            rid = state["arn"]
        elif t.startswith("aws:ec2/"):
            kind = t.split(":")[-1].lower()
            prefix = {"vpc": "vpc", "subnet": "subnet", "internetgateway": "igw", "natgateway": "nat",
                      "routetable": "rtb", "eip": "eipalloc"}.get(kind, kind)
            rid = f"{prefix}-0{_suffix(name)}{_suffix(name[::-1])}"
            state["arn"] = f"arn:aws:ec2:us-east-1:{ACCOUNT}:{kind}/{rid}"
        elif t.startswith("aws:"):
            state.setdefault("name", name)
            state["arn"] = f"arn:aws:{t.split(':')[1].split('/')[0]}:us-east-1:{ACCOUNT}:{name}"
        elif t.startswith("kubernetes:"):
            meta = dict(state.get("metadata") or {})
            meta.setdefault("name", f"{name}-{_suffix(name)}")
            state["metadata"] = meta
            rid = meta["name"]
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        # The components use no invokes today; answer the usual ones with plain dicts anyway.
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/ci", "userId": "AIDAMOCK"}
        if args.token == "gcp:organizations/getClientConfig:getClientConfig":
            return {"project": "mock-project", "region": "us-central1", "accessToken": "mock"}
        return {}


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """MockMonitor that keeps every registration request."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.recorded: list[Registered] = []
        self.output_keys: dict[str, list[str]] = {}

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        self.recorded.append(Registered(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            inputs=_plain(rpc.deserialize_properties(request.object, keep_unknowns=True)),
            dependencies=list(request.dependencies),
            protect=bool(request.protect),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=list(request.ignoreChanges),
            provider=request.provider or None,
            outputs=_plain(self.resources[response.urn].state) if response.urn in self.resources else {},
        ))
        return response


    def RegisterResourceOutputs(self, request):
        self.output_keys[request.urn] = sorted(request.outputs.fields.keys())
        return super().RegisterResourceOutputs(request)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return None if value == rpc.UNKNOWN else value
    return None  # resource references


def _reset() -> None:
    settings.set_root_resource(None)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()


def build_config(values: dict) -> tuple[StackConfig, Any]:
    """Validated config + capacity plan; a test config must itself be a valid stack config."""
    cfg = StackConfig.model_validate(values)
    issues = semantics.check(cfg)
    assert not issues, [str(i) for i in issues]
    capacity, fit = plan(cfg)
    assert not fit, [str(i) for i in fit]
    return cfg, capacity


def run_cluster(values: dict, name: str = "test") -> Run:
    """Instantiate the cluster component for `values['cluster']['provider']` under mocks."""
    cfg, capacity = build_config(values)
    if cfg.cluster.provider == "gke":
        from components.cluster.gke import GkeCluster as component_class
    else:
        from components.cluster.eks import EksCluster as component_class
    args = ClusterArgs(cluster=cfg.cluster, node_pools=cfg.node_pools, plan=capacity, labels=cfg.labels)

    _reset()
    mocks = ClusterMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack="test", preview=False, monitor=monitor)
    holder: dict[str, Cluster] = {}

    def program() -> None:
        holder["component"] = component_class(name, args)

    try:
        _sync_await(run_pulumi_func(program))
        component = holder["component"]
        run = Run(component, list(monitor.recorded), output_keys=dict(monitor.output_keys))
        for attr in ("name", "endpoint", "kubeconfig", "node_pool_names"):
            out = getattr(component, attr)
            run.outputs[attr] = _sync_await(out.future())
            run.secret[attr] = _sync_await(out.is_secret())
    finally:
        _reset()
    return run
