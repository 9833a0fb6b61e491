"""GKE custom compute classes: the recorded ComputeClass, the class label/taint on its node pools, the model pods'
class selection, strict validation of the object, and the config errors (config/compute_classes.py)."""

from __future__ import annotations

import copy
import json

import pytest

from components.gpu_stack import chart_values
from config import semantics
from config.compute_classes import check as class_issues
from config.compute_classes import class_pools
from config.models import StackConfig
from tests.conftest import run_config
from tools import crds
from tools.cluster_crds import CLUSTER_CRDS
from tools.mockrun import RunResult
from tools.policy_eval import evaluate
from tools.validate import validate_objects, validate_stack

CLASS = "l4-fallback"
LABEL = "cloud.google.com/compute-class"
# A small GKE stack: an on-demand L4 pool first, a spot L4 pool second, one model server on the class.
SMALL = {
    "cluster": {"provider": "gke", "name": "ai-cc", "region": "us-central1",
                "zones": ["us-central1-a", "us-central1-c"], "kubernetesVersion": "1.35",
                "deletionProtection": False, "gcp": {"project": "acme-ai-dev"}},
    "nodePools": {
        "system": {"machineType": "e2-standard-8", "min": 1, "max": 3},
        "gpu": [{"name": "l4-od", "gpu": "l4", "capacity": "on-demand", "min": 0, "max": 1},
                {"name": "l4-spot", "gpu": "l4", "capacity": "spot", "min": 0, "max": 2},
                {"name": "l4-other", "gpu": "l4", "capacity": "on-demand", "min": 0, "max": 1}],
        "computeClasses": [{"name": CLASS, "pools": ["l4-od", "l4-spot"]}],
    },
    "serving": {"models": [{"name": "qwen", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct-AWQ",
                            "quantization": "awq", "maxModelLen": 8192, "pool": "l4-od", "computeClass": CLASS,
                            "replicas": {"min": 1, "max": 1}}]},
    "observability": {"enabled": False},
    "tenancy": {"namespaces": {"ai-inference": {"gpuQuota": 2}}},
}


@pytest.fixture(scope="module")
def run() -> RunResult:
    result = run_config(copy.deepcopy(SMALL), "cc")
    assert result.error is None, result.error
    return result


def _one(run: RunResult, type_: str, name_part: str):
    [found] = [r for r in run.of_type(type_) if name_part in r.name]
    return found


# ------------------------------------------------------------------------------------------ recorded objects


def test_compute_class_lists_the_pools_one_rule_each_in_order(run):
    cc = _one(run, "kubernetes:cloud.google.com/v1:ComputeClass", CLASS)
    assert cc.inputs["metadata"]["name"] == CLASS
    # One nodepools rule per pool: GKE gives the pools of one rule no order.
    assert cc.inputs["spec"] == {
        "priorities": [{"nodepools": ["l4-od"]}, {"nodepools": ["l4-spot"]}],
        "nodePoolAutoCreation": {"enabled": False},
        "whenUnsatisfiable": "DoNotScaleUp",
        "activeMigration": {"optimizeRulePriority": True},
    }


def test_class_pools_carry_the_class_label_and_taint_other_pools_do_not(run):
    for pool, in_class in (("l4-od", True), ("l4-spot", True), ("l4-other", False)):
        node_config = _one(run, "gcp:container/nodePool:NodePool", f"-gpu-{pool}").inputs["nodeConfig"]
        taints = [(t["key"], t["value"], t["effect"]) for t in node_config["taints"]]
        if in_class:
            assert node_config["labels"][LABEL] == CLASS
            assert taints == [("nvidia.com/gpu", "present", "NO_SCHEDULE"), (LABEL, CLASS, "NO_SCHEDULE")]
        else:
            assert LABEL not in node_config["labels"]
            assert taints == [("nvidia.com/gpu", "present", "NO_SCHEDULE")]


def test_model_pods_select_the_class_and_may_run_on_every_step(run):
    spec = _one(run, "kubernetes:apps/v1:Deployment", "serving-qwen").inputs["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {LABEL: CLASS}
    assert {"key": LABEL, "operator": "Equal", "value": CLASS, "effect": "NoSchedule"} in spec["tolerations"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "ai-platform/pool", "operator": "In",
                                            "values": ["l4-od", "l4-spot"]}]}]


def test_the_pack_accepts_the_class_server(run):
    names = {"serving-pods-select-gpu-pool", "critical-models-on-demand"}
    verdicts = [v for v in evaluate(run.resources, render_charts=False) if v.name in names]
    assert len(verdicts) == 2 and all(not v.violations for v in verdicts), [
        m.message for v in verdicts for m in v.violations]


def test_gpu_operator_operands_tolerate_class_taints():
    cfg = StackConfig.model_validate(SMALL)
    values = chart_values(cfg)
    klass = {"key": LABEL, "operator": "Exists", "effect": "NoSchedule"}
    assert klass in values["daemonsets"]["tolerations"]
    assert klass in values["node-feature-discovery"]["worker"]["tolerations"]
    plain = copy.deepcopy(SMALL)
    del plain["nodePools"]["computeClasses"]
    plain["serving"]["models"][0].pop("computeClass")
    assert "daemonsets" not in chart_values(StackConfig.model_validate(plain))


def test_strict_validation_checks_compute_classes_against_the_documented_schema(run):
    report = validate_stack(run, crds.charts_dir())
    assert [str(p) for p in report.problems] == []
    assert any("ComputeClass" in n and "minimal schema" in n for n in report.notes)
    cc = _one(run, "kubernetes:cloud.google.com/v1:ComputeClass", CLASS)
    obj = {"apiVersion": "cloud.google.com/v1", "kind": "ComputeClass", "metadata": {"name": CLASS},
           "spec": json.loads(json.dumps(cc.inputs["spec"]))}
    assert validate_objects([obj], "1.35", CLUSTER_CRDS["gke"]) == []
    obj["spec"]["whenUnsatisfiable"] = "ScaleUp"
    obj["spec"]["priorities"][0]["nodePools"] = ["l4-od"]  # misspelt: the API server would prune it
    found = [str(p) for p in validate_objects([obj], "1.35", CLUSTER_CRDS["gke"])]
    assert len(found) == 2 and any("nodePools" in p and "would prune" in p for p in found), found


def test_class_pools_helper_returns_the_steps_in_order():
    cfg = StackConfig.model_validate(SMALL)
    assert [p.name for p in class_pools(cfg, CLASS)] == ["l4-od", "l4-spot"]
    assert class_pools(cfg, "nope") == ()


# ------------------------------------------------------------------------------------------ config errors


def _issues(mutate) -> list[str]:
    values = copy.deepcopy(SMALL)
    mutate(values)
    return [str(i) for i in class_issues(StackConfig.model_validate(values))]


def _model(values: dict) -> dict:
    return values["serving"]["models"][0]


def test_the_small_stack_is_valid():
    assert [str(i) for i in semantics.check(StackConfig.model_validate(SMALL))] == []


def test_classes_are_refused_off_gke_naming_the_key():
    def eks(v):
        v["cluster"] = {"provider": "eks", "name": "ai-cc", "region": "us-east-1",
                        "zones": ["us-east-1a", "us-east-1b"], "kubernetesVersion": "1.35"}
    found = _issues(eks)
    assert any("nodePools.computeClasses:" in i and "GKE feature" in i and "provider is eks" in i for i in found)
    assert any("serving.models[0].computeClass:" in i and "remove computeClass" in i for i in found)


@pytest.mark.parametrize(("mutate", "key", "text"), [
    (lambda v: v["nodePools"]["computeClasses"].append({"name": CLASS, "pools": ["l4-other"]}),
     "nodePools.computeClasses:", "used 2 times"),
    (lambda v: v["nodePools"]["computeClasses"][0].update(name="gke-l4"),
     "computeClasses[0].name:", "begin with gke or autopilot"),
    (lambda v: v["nodePools"]["computeClasses"][0].update(pools=["l4-od", "l4-nope"]),
     "computeClasses[0].pools[1]:", "no GPU pool named 'l4-nope'"),
    (lambda v: v["nodePools"]["computeClasses"][0].update(pools=["l4-od", "l4-spot", "l4-od"]),
     "computeClasses[0].pools:", "listed 2 times"),
    (lambda v: v["nodePools"]["computeClasses"].append({"name": "second", "pools": ["l4-spot"]}),
     "computeClasses[1].pools[0]:", "already a step of class 'l4-fallback'"),
    (lambda v: v["nodePools"]["gpu"][1].update(sharing={"strategy": "time-slicing", "replicas": 2}),
     "computeClasses[0].pools[1]:", "must fit every step"),
    (lambda v: _model(v).update(computeClass="nope"), "models[0].computeClass:", "no compute class named 'nope'"),
    (lambda v: _model(v).update(pool="l4-spot"), "models[0].pool:", "must be 'l4-od', the first step"),
    (lambda v: _model(v).update(fallbackPool="l4-other"), "models[0].fallbackPool:", "already the fallback"),
    (lambda v: _model(v).update(canary={"pool": "l4-other", "weight": 10}), "models[0].canary.pool:",
     "remove canary.pool"),
    (lambda v: (v["nodePools"]["computeClasses"][0].update(pools=["l4-spot", "l4-od"]),
                _model(v).update(pool="l4-spot", critical=True)), "models[0].critical:", "starts on spot"),
    (lambda v: _model(v).pop("computeClass"), "models[0].pool:", "set computeClass: l4-fallback"),
    (lambda v: v["rag"].update(embedding={"model": "BAAI/bge-m3", "engine": "tei", "pool": "l4-spot"}),
     "rag.embedding.pool:", "outside every class"),
])
def test_config_errors_name_the_key_and_what_is_allowed(mutate, key, text):
    def full(v):
        v.setdefault("rag", {})
        mutate(v)
    found = _issues(full)
    assert any(key in i and text in i for i in found), found


def test_semantics_reports_class_errors_and_skips_the_fallback_advice_for_class_servers():
    values = copy.deepcopy(SMALL)
    values["nodePools"]["computeClasses"][0]["pools"] = ["l4-spot", "l4-od"]
    _model(values).update(pool="l4-spot", critical=True)
    found = [str(i) for i in semantics.check(StackConfig.model_validate(values))]
    # The class check says why; the pool+fallbackPool advice (set fallbackPool) would contradict it.
    assert any("models[0].critical:" in i and "compute class" in i for i in found)
    assert not any("set fallbackPool" in i for i in found), found
