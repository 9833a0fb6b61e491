"""The pack over the real stacks: the shipped resources pass, and each dangerous edit of them is caught.

Each mutation edits a deep copy of a stack's recorded resources (inputs and outputs alike: resource
policies read inputs, stack policies read outputs) and evaluates the pack with the stack's own
policy/config/<stack>.json, as CI runs it. A mutation is caught when its policy reports a violation,
absent before the edit, that names the edited thing; the policy must block (mandatory) except the
rules still advisory in the stack files while Tenancy lands (tests/test_stacks.py).

Mutations apply to the stacks whose config can have their target (an Ingress needs a gateway host,
GPU edits need GPU pools and model servers on them, deletion protection a protected cluster, the
fallback edit a critical spot model). Every kind is built now: a mutation that finds no target on a
stack its `applies` selects fails instead of skipping.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import pytest

from policy.rules import POLICIES_BY_NAME
from policy.rules.helpers import (
    SYSTEM_NAMESPACES,
    containers,
    gpu_resources,
    maps,
    namespace_of,
    pod_spec,
    tolerates_gpu_taint,
)
from policy.rules.tenancy import denied_directions
from tests.conftest import run_stack as run_shipped
from tests.conftest import stack_values
from tools import mockrun
from tools.mockrun import Recorded
from tools.policy_eval import evaluate

STACKS = ("dev", "prod", "local")
RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
CLUSTERS = ("gcp:container/cluster:Cluster", "aws:eks/cluster:Cluster")
NODE_POOLS = ("gcp:container/nodePool:NodePool", "aws:eks/nodeGroup:NodeGroup")
# The system namespaces without `default` (tenant workloads are picked outside them).
HOST_ACCESS_NAMESPACES = tuple(ns for ns in SYSTEM_NAMESPACES if ns != "default")
HF_TOKEN = "hf_" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1HgFeDcBa"


def pack_config(stack: str) -> dict:
    return json.loads((mockrun.ROOT / "policy" / "config" / f"{stack}.json").read_text())


@cache
def baseline(stack: str) -> dict[str, set[str]]:
    """Violation messages per policy of the unmodified stack."""
    verdicts = evaluate(run_shipped(stack).resources, pack_config(stack))
    return {v.name: {x.message for x in v.violations} for v in verdicts}


# ------------------------------------------------------------------------------- editing helpers


def edit(r: Recorded, change: Callable[[dict], None]) -> None:
    """Apply the same change to what resource policies (inputs) and stack policies (outputs) see."""
    for props in (r.inputs, r.outputs):
        if props:
            change(props)


def namespace(r: Recorded) -> str:
    return namespace_of(r.outputs or r.inputs)


def workloads(resources: list[Recorded], where: Callable[[Recorded], bool] = lambda r: True) -> list[Recorded]:
    """Custom resources with a pod spec that has containers."""
    return [r for r in resources if r.custom and (spec := pod_spec(r.type, r.inputs)) is not None
            and any(True for _ in containers(spec)) and where(r)]


def pod_specs(r: Recorded) -> list[dict]:
    return [spec for props in (r.inputs, r.outputs) if props and (spec := pod_spec(r.type, props)) is not None]


def first_container(spec: dict) -> dict:
    return (spec.get("containers") or spec.get("initContainers"))[0]


# ------------------------------------------------------------------------------------- mutations


@dataclass(frozen=True)
class Mutation:
    """An edit of the recorded resources; `apply` returns {policy: text its new violation must contain}."""

    name: str
    applies: Callable[[dict], bool]
    """Whether a stack's config can have the target at all (stack values -> bool)."""
    apply: Callable[[str, list[Recorded]], dict[str, str]]


def delete_quota(stack: str, resources: list[Recorded]) -> dict[str, str]:
    quotas = [r for r in resources if r.type == RESOURCE_QUOTA and namespace(r) not in SYSTEM_NAMESPACES]
    if not quotas:
        pytest.fail(f"{stack} has no ResourceQuota in a workload namespace")
    ns = namespace(quotas[0])
    resources[:] = [r for r in resources if not (r.type == RESOURCE_QUOTA and namespace(r) == ns)]
    return {"namespace-resource-quota": f"Namespace {ns} has no ResourceQuota"}


def delete_default_deny(stack: str, resources: list[Recorded]) -> dict[str, str]:
    denies = [r for r in resources if r.type == NETWORK_POLICY and namespace(r) not in SYSTEM_NAMESPACES
              and denied_directions(r.outputs or r.inputs)[0]]
    if not denies:
        pytest.fail(f"{stack} has no default-deny NetworkPolicy")
    resources.remove(denies[0])
    return {"namespace-default-deny": f"Namespace {namespace(denies[0])} has no default-deny NetworkPolicy"}


def latest_image(stack: str, resources: list[Recorded]) -> dict[str, str]:
    found = workloads(resources)
    if not found:
        pytest.fail(f"{stack} has no workload with containers")
    image = first_container(pod_specs(found[0])[0])["image"].split("@")[0]
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    for spec in pod_specs(found[0]):
        first_container(spec)["image"] = f"{repository}:latest"
    return {"image-pinned": f"image '{repository}:latest' uses the mutable tag 'latest'"}


def remove_gpu_toleration(stack: str, resources: list[Recorded]) -> dict[str, str]:
    found = workloads(resources, lambda r: any(gpu_resources(c) for _, _, c in containers(pod_spec(r.type, r.inputs))))
    if not found:
        pytest.fail(f"{stack} has no GPU workload")
    for spec in pod_specs(found[0]):
        spec["tolerations"] = [t for t in maps(spec.get("tolerations")) if not tolerates_gpu_taint(t)]
    name = (found[0].inputs.get("metadata") or {}).get("name") or found[0].name
    return {"gpu-workloads-tolerate-gpu-taint":
            f"{found[0].type.rsplit(':', 1)[-1]} {namespace(found[0])}/{name}: asks for GPUs"}


def remove_ingress_tls(stack: str, resources: list[Recorded]) -> dict[str, str]:
    ingresses = [r for r in resources if r.type == INGRESS]
    if not ingresses:
        pytest.fail(f"{stack} has no Ingress")
    edit(ingresses[0], lambda props: props.get("spec", {}).pop("tls", None))
    return {"ingress-tls": "no spec.tls entry covers"}


def _tenant_workloads(stack: str, resources: list[Recorded]) -> list[Recorded]:
    found = workloads(resources, lambda r: namespace(r) not in HOST_ACCESS_NAMESPACES)
    if not found:
        pytest.fail(f"{stack} has no workload in a workload namespace")
    return found


def add_host_path(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = _tenant_workloads(stack, resources)[0]
    for spec in pod_specs(target):
        spec.setdefault("volumes", []).append({"name": "host-docker", "hostPath": {"path": "/var/run/docker.sock"}})
    return {"no-host-access": "volume 'host-docker' is a hostPath (/var/run/docker.sock)"}


def set_privileged(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = _tenant_workloads(stack, resources)[0]
    for spec in pod_specs(target):
        container = first_container(spec)
        container.setdefault("securityContext", {})["privileged"] = True
    return {"no-host-access": f"'{container['name']}' is privileged"}


def plain_token(stack: str, resources: list[Recorded]) -> dict[str, str]:
    found = workloads(resources)
    if not found:
        pytest.fail(f"{stack} has no workload with containers")
    for spec in pod_specs(found[0]):
        first_container(spec).setdefault("env", []).append({"name": "HF_TOKEN", "value": HF_TOKEN})
    return {"no-plain-secret-env": "env HF_TOKEN holds a Hugging Face token as a plain value"}


def flip_deletion_protection(stack: str, resources: list[Recorded]) -> dict[str, str]:
    clusters = [r for r in resources if r.type in CLUSTERS]
    if not clusters:
        pytest.fail(f"{stack} has no cloud cluster")
    edit(clusters[0], lambda props: props.update(deletionProtection=False))
    return {"cluster-deletion-protection": "lacks deletionProtection: true"}


def open_endpoint(stack: str, resources: list[Recorded]) -> dict[str, str]:
    """Open the protected cluster's API endpoint to the internet (EKS: 0.0.0.0/0; GKE: no authorized networks)."""
    clusters = [r for r in resources if r.type in CLUSTERS]
    if not clusters:
        pytest.fail(f"{stack} has no cloud cluster")

    def open_to_world(props: dict) -> None:
        if "vpcConfig" in props:
            props["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"])
        else:
            props.pop("masterAuthorizedNetworksConfig", None)
            props.setdefault("privateClusterConfig", {})["enablePrivateEndpoint"] = False

    edit(clusters[0], open_to_world)
    return {"cluster-endpoint-not-public": "0.0.0.0/0"}


def raise_gpu_pool_max(stack: str, resources: list[Recorded]) -> dict[str, str]:
    """Raise one GPU pool's max nodes past both budgets, in the node pool and in the published plan."""
    capacity = next(r for r in resources if r.type == CONFIGMAP
                    and r.inputs["metadata"]["name"] == "ai-platform-capacity")
    plan = json.loads(capacity.inputs["data"]["plan.json"])
    budget = json.loads(capacity.inputs["data"]["budget.json"])
    pools = {}
    for r in resources:
        if r.type in NODE_POOLS:
            labels = r.inputs.get("labels") or r.inputs.get("nodeConfig", {}).get("labels") or {}
            if labels.get("ai-platform/pool") in plan["pools"]:
                pools[labels["ai-platform/pool"]] = r
    if not pools:
        pytest.fail(f"{stack} has no GPU node pool")
    name, node_pool = sorted(pools.items())[0]
    pool, totals = plan["pools"][name], plan["totals"]
    per_node_usd = pool["monthlyUsdMax"] / pool["maxNodes"] if pool["maxNodes"] else pool["usdPerNodeHour"] * 730
    extra = 1 + max(int((budget["maxGpus"] - totals["gpusMax"]) // pool["gpusPerNode"]),
                    int((budget["maxMonthlyUsd"] - totals["monthlyUsdMax"]) // per_node_usd), 0)

    def grow(props: dict) -> None:
        if "scalingConfig" in props:
            props["scalingConfig"]["maxSize"] += extra
        else:
            props["autoscaling"]["totalMaxNodeCount"] += extra

    edit(node_pool, grow)
    for key, step in (("maxNodes", 1), ("gpusMax", pool["gpusPerNode"]), ("monthlyUsdMax", per_node_usd)):
        pool[key] += extra * step
    totals["gpusMax"] += extra * pool["gpusPerNode"]
    totals["monthlyUsdMax"] += extra * per_node_usd
    edit(capacity, lambda props: props["data"].update({"plan.json": json.dumps(plan)}))
    return {"gpu-budget": f"GPUs at max scale: {totals['gpusMax']} > budget {budget['maxGpus']}",
            "cost-budget": "Monthly cost at max scale:"}


def _serving_gpu_workload(stack: str, resources: list[Recorded]) -> Recorded:
    found = workloads(resources, lambda r: pod_spec(r.type, r.inputs) is not None
                      and (r.inputs["spec"].get("template", {}).get("metadata") or {}).get("labels", {}).get(
                          "app.kubernetes.io/component") in ("model-server", "embedding")
                      and any(gpu_resources(c) for _, _, c in containers(pod_spec(r.type, r.inputs))))
    if not found:
        pytest.fail(f"{stack} has no GPU model server")
    return found[0]


def remove_pool_selector(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = _serving_gpu_workload(stack, resources)
    for spec in pod_specs(target):
        spec.pop("nodeSelector", None)
        spec.pop("affinity", None)
    return {"serving-pods-select-gpu-pool": "is not pinned to a GPU pool"}


def drop_model_cache(stack: str, resources: list[Recorded]) -> dict[str, str]:
    target = _serving_gpu_workload(stack, resources)
    for spec in pod_specs(target):
        claims = {v["name"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
        spec["volumes"] = [v for v in spec["volumes"] if v["name"] not in claims]
        for container in spec["containers"]:
            container["volumeMounts"] = [m for m in container["volumeMounts"] if m["name"] not in claims]
    return {"model-servers-mount-model-cache": "without a model cache: it mounts no PersistentVolumeClaim"}


def delete_fallback(stack: str, resources: list[Recorded]) -> dict[str, str]:
    fallbacks = [r for r in resources if r.type == "kubernetes:apps/v1:Deployment"
                 and r.inputs["metadata"]["name"].endswith("-fallback")]
    if not fallbacks:
        pytest.fail(f"{stack} has no fallback Deployment")
    resources.remove(fallbacks[0])
    model = fallbacks[0].inputs["metadata"]["name"].removesuffix("-fallback")
    return {"critical-models-on-demand": f"critical model '{model}' runs on spot capacity"}


def _gpu_pools(values: dict) -> bool:
    return bool(values.get("nodePools", {}).get("gpu"))


def _everywhere(values: dict) -> bool:
    return True


def _gpu_model_servers(values: dict) -> bool:
    serving = values.get("serving", {})
    return any(m.get("pool") for m in serving.get("models", [])) or bool(values.get("rag", {}).get("embedding", {})
                                                                          .get("pool"))


def _critical_spot_fallback(values: dict) -> bool:
    return any(m.get("critical") and m.get("fallbackPool") for m in values.get("serving", {}).get("models", []))


MUTATIONS = [
    Mutation("delete-resource-quota", _everywhere, delete_quota),
    Mutation("delete-default-deny", _everywhere, delete_default_deny),
    Mutation("latest-image", _everywhere, latest_image),
    Mutation("remove-gpu-toleration", _gpu_pools, remove_gpu_toleration),
    Mutation("add-host-path", _everywhere, add_host_path),
    Mutation("set-privileged", _everywhere, set_privileged),
    Mutation("plain-token-env", _everywhere, plain_token),
    Mutation("flip-deletion-protection", lambda v: v["cluster"].get("deletionProtection") is True,
             flip_deletion_protection),
    Mutation("open-endpoint", lambda v: v["cluster"].get("deletionProtection") is True, open_endpoint),
    Mutation("raise-gpu-pool-max", lambda v: _gpu_pools(v) and v["cluster"]["provider"] != "existing"
             and v.get("budget", {}).get("maxGpus") is not None
             and v.get("budget", {}).get("maxMonthlyUsd") is not None, raise_gpu_pool_max),
    Mutation("remove-pool-selector", _gpu_model_servers, remove_pool_selector),
    Mutation("drop-model-cache", _gpu_model_servers, drop_model_cache),
    Mutation("delete-fallback-deployment", _critical_spot_fallback, delete_fallback),
]

CASES = [pytest.param(stack, m, id=f"{stack}-{m.name}") for stack in STACKS for m in MUTATIONS
         if m.applies(stack_values(stack))]


def assert_caught(stack: str, resources: list[Recorded], expected: dict[str, str], name: str, **evaluate_args) -> None:
    """The pack, with the stack's own config, reports each `policy: text` of `expected` as a new violation of
    the edited `resources` (absent from the unmodified stack) and blocks: the policy is mandatory. Every
    corpus (tests/policy/test_mutations_*.py) judges its edits through this one check."""
    verdicts = {v.name: v for v in evaluate(resources, pack_config(stack), **evaluate_args)}
    before = baseline(stack)
    for policy, text in expected.items():
        verdict = verdicts[policy]
        new = [x.message for x in verdict.violations if x.message not in before[policy]]
        assert any(text in message for message in new), f"{policy} did not catch {name}: {new}"
        assert POLICIES_BY_NAME[policy].enforcement_level.value == "mandatory"
        assert verdict.blocking, f"{policy} reported but does not block"


# ------------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("stack", STACKS)
def test_unmodified_stack_passes_every_mandatory_policy(stack):
    for config in (pack_config(stack), {}):
        verdicts = evaluate(copy.deepcopy(run_shipped(stack).resources), config)
        blocking = {v.name: [x.message for x in v.violations] for v in verdicts if v.blocking}
        assert not blocking, blocking


def test_every_mutation_runs_somewhere():
    assert {m.name for _, m in (c.values for c in CASES)} == {m.name for m in MUTATIONS}


@pytest.mark.parametrize("stack, mutation", CASES)
def test_the_pack_catches_the_mutation(stack, mutation):
    resources = copy.deepcopy(run_shipped(stack).resources)
    expected = mutation.apply(stack, resources)
    assert_caught(stack, resources, expected, mutation.name)
