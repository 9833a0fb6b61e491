"""The pack's GPU-pool rules over Karpenter NodePools (EKS `nodePools.provisioner: karpenter`): the taint, the GPU
budget from the NodePool's GPU limit, the capacity type for critical models, and the pool labels serving pods select."""

from __future__ import annotations

from components.cluster.eks.karpenter import node_pool_spec
from components.labels import pool_labels
from config.models import GpuPool

from .harness import Res, run_resource, run_stack
from .test_budget import capacity_configmap
from .test_critical import model, plan_configmap

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"


def node_pool(name: str, capacity: str = "on-demand", max_nodes: int = 3, taint: bool = True) -> Res:
    """A NodePool as the program writes it (components/cluster/eks/karpenter.py) for an 8x H100 pool."""
    pool = GpuPool.model_validate({"name": name, "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": capacity,
                                   "max": max_nodes, **({"reservation": {"names": ["cr-0abc"]}}
                                                        if capacity == "reservation" else {})})
    spec = node_pool_spec(pool, pool_labels(pool))
    if not taint:
        del spec["template"]["spec"]["taints"]
    return Res(NODE_POOL, f"ai-cluster-nodepool-{name}",
               {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name}, "spec": spec})


def test_tainted_gpu_node_pool_passes_and_an_untainted_one_is_a_violation():
    ok = node_pool("h100-od")
    assert run_resource("gpu-node-pool-tainted", ok.type, ok.props, name=ok.name) == []
    bad = node_pool("h100-od", taint=False)
    [message] = run_resource("gpu-node-pool-tainted", bad.type, bad.props, name=bad.name)
    assert "GPU node pool h100-od" in message and "spec.template.spec.taints" in message


def test_budget_counts_the_node_pools_gpu_limit():
    # 3 nodes x 8 GPUs (limit 24) + 2 x 8 (limit 16) = 40 GPUs.
    pools = [node_pool("h100-od", max_nodes=3), node_pool("h100-spot", "spot", max_nodes=2)]
    assert run_stack("gpu-budget", [*pools, capacity_configmap({"maxGpus": 40})]) == []
    [violation] = run_stack("gpu-budget", [*pools, capacity_configmap({"maxGpus": 39})])
    assert "40 > budget 39" in violation.message and "h100-od (ai-cluster-nodepool-h100-od): 3 nodes x 8 GPUs = 24" \
        in violation.message


def test_budget_refuses_a_gpu_node_pool_without_a_gpu_limit():
    unbounded = node_pool("h100-od")
    del unbounded.props["spec"]["limits"]["nvidia.com/gpu"]
    unbounded.props["spec"]["limits"]["cpu"] = "576"
    violations = run_stack("gpu-budget", [unbounded, capacity_configmap({"maxGpus": 40})])
    assert any("grows without bound" in v.message for v in violations), [v.message for v in violations]


def test_critical_model_needs_an_on_demand_or_reserved_node_pool():
    cm = plan_configmap({"chat": model("h100-spot", "h100-res")})
    pools = [node_pool("h100-spot", "spot"), node_pool("h100-res", "reservation")]
    assert [v.message for v in run_stack("critical-models-on-demand", [*pools, cm])] == []
    spot_only = plan_configmap({"chat": model("h100-spot")})
    [violation] = run_stack("critical-models-on-demand", [node_pool("h100-spot", "spot"), spot_only])
    assert "critical model 'chat' has no on-demand capacity" in violation.message


def test_serving_and_mig_rules_read_the_node_pools_labels():
    from types import SimpleNamespace

    from policy.rules.mig import pool_labels as mig_pool_labels
    from policy.rules.serving import stack_pools

    r = node_pool("h100-od")
    resource = SimpleNamespace(resource_type=r.type, props=r.props, name=r.name, urn=r.urn)
    # serving-pods-select-gpu-pool: the pools model servers may select.
    assert stack_pools([resource]) == {"h100-od"}
    # mig-*: the node labels (nvidia.com/mig.config lives there on MIG pools).
    assert mig_pool_labels(resource)["ai-platform/gpus-per-node"] == "8"
