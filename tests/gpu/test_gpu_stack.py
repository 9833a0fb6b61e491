"""GpuStack under mocks: ConfigMaps in NVIDIA's formats, node labels, operator values, ordering."""

from __future__ import annotations

import pytest
import yaml

from components.gpu_stack import ACCEPT_ENVVAR_UNPRIVILEGED, CHART_REPO, CHART_VERSION, PRIORITY_CLASSES
from config import catalog
from tests.conftest import run_config, run_stack
from tools.mockrun import unwrap

from .conftest import pool, stack_with_pools
from .test_layouts import NVIDIA_ALL_PROFILE_COUNTS

CONFIGMAP = "kubernetes:core/v1:ConfigMap"
RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
GKE_POOL = "gcp:container/nodePool:NodePool"
EKS_GPUS = [k for k, g in catalog.GPUS.items() if g.eks_instance_types]

# Field names of NVIDIA's Go structs (k8s-device-plugin v0.20.0 api/config/v1, mig-parted v0.15.0 api/spec/v1).
DEVICE_PLUGIN_TOP = {"version", "flags", "resources", "sharing", "imex"}
DEVICE_PLUGIN_SHARING = {"timeSlicing", "mps"}
DEVICE_PLUGIN_REPLICATED = {"renameByDefault", "failRequestsGreaterThanOne", "resources"}
DEVICE_PLUGIN_RESOURCE = {"name", "rename", "devices", "replicas"}
MIG_PARTED_TOP = {"version", "mig-configs"}
MIG_PARTED_ENTRY = {"devices", "device-filter", "mig-enabled", "mig-devices"}


def operator_release(result):
    """The gpu-operator Release (the observability stack installs Releases of its own)."""
    [release] = [r for r in result.of_type(RELEASE) if r.inputs["chart"] == "gpu-operator"]
    return release


def every_sharing_pools() -> list[dict]:
    """On EKS: every GPU exclusive, time-sliced and MPS; every MIG profile; one mixed layout."""
    pools = []
    for gpu in EKS_GPUS:
        gpus = min(m.gpus for m in catalog.GPUS[gpu].eks_instance_types)
        short = gpu.replace("-", "")
        pools += [pool(f"{short}-x", gpu, {"strategy": "exclusive"}, gpus=gpus),
                  pool(f"{short}-ts", gpu, {"strategy": "time-slicing", "replicas": 4}, gpus=gpus),
                  pool(f"{short}-mps", gpu, {"strategy": "mps", "replicas": 2}, gpus=gpus)]
        for i, profile in enumerate(catalog.GPUS[gpu].mig_profiles):
            pools.append(pool(f"{short}-mig{i}", gpu, {"strategy": "mig", "profile": profile}, gpus=gpus))
    pools.append(pool("mixed", "a100-80gb", {"strategy": "mig", "layout": {"3g.40gb": 1, "2g.20gb": 2}}))
    return pools


@pytest.fixture(scope="module")
def eks_all():
    values = stack_with_pools("prod", every_sharing_pools(), mig_strategy="mixed")
    result = run_config(values, stack="test")
    assert result.error is None, result.error
    return values, result


def configmap(result, name: str) -> dict:
    [cm] = [r for r in result.of_type(CONFIGMAP) if r.inputs["metadata"]["name"] == name]
    assert cm.inputs["metadata"]["namespace"] == "gpu-operator"
    return cm.inputs["data"]


def node_labels(result) -> dict[str, dict]:
    return {r.inputs["labels"]["ai-platform/pool"]: r.inputs["labels"] for r in result.of_type(NODE_GROUP)}


def test_mig_parted_config_is_nvidias_format(eks_all):
    values, result = eks_all
    data = configmap(result, "ai-platform-mig-parted-config")
    assert set(data) == {"config.yaml"}
    parsed = yaml.safe_load(data["config.yaml"])
    assert set(parsed) <= MIG_PARTED_TOP and parsed["version"] == "v1"
    configs = parsed["mig-configs"]
    for name, entries in configs.items():
        for entry in entries:
            assert set(entry) <= MIG_PARTED_ENTRY, (name, entry)
    assert configs["all-disabled"] == [{"devices": "all", "mig-enabled": False}]
    assert configs["all-3g.40gb"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 2}}]
    assert configs["all-1g.10gb-a100-40gb"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 4}}]
    assert configs["all-1g.10gb-h100-80gb"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb": 7}}]
    assert configs["all-1g.10gb.me"] == [{"devices": "all", "mig-enabled": True, "mig-devices": {"1g.10gb+me": 1}}]
    assert configs["mixed-1x3g.40gb-2x2g.20gb"] == [
        {"devices": "all", "mig-enabled": True, "mig-devices": {"3g.40gb": 1, "2g.20gb": 2}}]


def test_every_mig_pool_selects_a_layout_with_nvidias_counts(eks_all):
    values, result = eks_all
    configs = yaml.safe_load(configmap(result, "ai-platform-mig-parted-config")["config.yaml"])["mig-configs"]
    labels = node_labels(result)
    checked = 0
    for p in values["nodePools"]["gpu"]:
        sharing, mine = p["sharing"], labels[p["name"]]
        if sharing["strategy"] == "mig" and "profile" in sharing:
            [entry] = configs[mine["nvidia.com/mig.config"]]
            assert entry["mig-devices"] == {sharing["profile"]: NVIDIA_ALL_PROFILE_COUNTS[p["gpu"]][sharing["profile"]]}
            checked += 1
        elif sharing["strategy"] == "mig":
            assert configs[mine["nvidia.com/mig.config"]][0]["mig-devices"] == sharing["layout"]
        elif catalog.GPUS[p["gpu"]].mig_profiles:
            assert mine["nvidia.com/mig.config"] == "all-disabled", p["name"]
        else:
            assert "nvidia.com/mig.config" not in mine, p["name"]
    assert checked == sum(len(v) for v in NVIDIA_ALL_PROFILE_COUNTS.values())


def test_device_plugin_configs_are_nvidias_format(eks_all):
    _, result = eks_all
    data = configmap(result, "ai-platform-device-plugin-config")
    parsed = {k: yaml.safe_load(v) for k, v in data.items()}
    assert set(parsed) == {"exclusive", "time-slicing-4", "mps-2"}
    assert parsed["exclusive"] == {"version": "v1", "flags": {"migStrategy": "mixed"}}
    assert parsed["time-slicing-4"] == {
        "version": "v1", "flags": {"migStrategy": "mixed"},
        "sharing": {"timeSlicing": {"renameByDefault": False, "failRequestsGreaterThanOne": True,
                                    "resources": [{"name": "nvidia.com/gpu", "replicas": 4}]}}}
    assert parsed["mps-2"] == {
        "version": "v1", "flags": {"migStrategy": "mixed"},
        "sharing": {"mps": {"renameByDefault": False, "failRequestsGreaterThanOne": True,
                            "resources": [{"name": "nvidia.com/gpu", "replicas": 2}]}}}
    for config in parsed.values():
        assert set(config) <= DEVICE_PLUGIN_TOP
        for replicated in config.get("sharing", {}).values():
            assert set(config["sharing"]) <= DEVICE_PLUGIN_SHARING and set(replicated) <= DEVICE_PLUGIN_REPLICATED
            assert all(set(r) <= DEVICE_PLUGIN_RESOURCE for r in replicated["resources"])


def test_every_pool_selects_an_existing_device_plugin_config(eks_all):
    values, result = eks_all
    keys = set(configmap(result, "ai-platform-device-plugin-config"))
    labels = node_labels(result)
    expected = {"exclusive": "exclusive", "mig": "exclusive", "time-slicing": "time-slicing-4", "mps": "mps-2"}
    for p in values["nodePools"]["gpu"]:
        selected = labels[p["name"]]["nvidia.com/device-plugin.config"]
        assert selected in keys and selected == expected[p["sharing"]["strategy"]], p["name"]


def test_autoscaler_knows_the_labels_of_nodes_it_scales_from_zero(eks_all):
    _, result = eks_all
    tags = {(r.inputs["tag"]["key"], r.inputs["tag"]["value"]) for r in result.of_type("aws:autoscaling/tag:Tag")}
    assert ("k8s.io/cluster-autoscaler/node-template/label/nvidia.com/mig.config", "mixed-1x3g.40gb-2x2g.20gb") in tags
    assert ("k8s.io/cluster-autoscaler/node-template/label/nvidia.com/device-plugin.config", "time-slicing-4") in tags


def test_operator_values_on_eks_al2023(eks_all):
    _, result = eks_all
    release = operator_release(result)
    v = release.inputs["values"]
    assert release.inputs["chart"] == "gpu-operator" and release.inputs["version"] == CHART_VERSION == "v26.7.0"
    assert release.inputs["repositoryOpts"] == {"repo": CHART_REPO}
    assert release.inputs["namespace"] == "gpu-operator" and release.inputs["atomic"] is True
    # The AL2023 NVIDIA AMI has driver + toolkit but no device plugin: the operator runs the plugin.
    assert v["driver"] == {"enabled": False} and v["toolkit"] == {"enabled": False}
    assert v["devicePlugin"] == {"enabled": True, "config": {"name": "ai-platform-device-plugin-config",
                                                             "default": "exclusive"}}
    assert v["migManager"] == {"enabled": True, "config": {"name": "ai-platform-mig-parted-config",
                                                           "default": "all-disabled"}}
    assert v["mig"] == {"strategy": "mixed"}
    assert v["dcgmExporter"]["serviceMonitor"] == {"enabled": True, "interval": "15s",
                                                   "additionalLabels": {"ai-platform/scrape": "true"}}


def test_operator_comes_after_the_cluster_and_its_configs(eks_all):
    _, result = eks_all
    release = operator_release(result)
    deps = set(release.dependencies)
    for r in result.of_type(NODE_GROUP) + result.of_type("aws:eks/cluster:Cluster"):
        assert r.urn in deps, r.name
    for r in result.of_type(CONFIGMAP):
        if r.inputs["metadata"].get("namespace") == "gpu-operator":
            assert r.urn in deps, r.name
    [namespace] = [r for r in result.of_type("kubernetes:core/v1:Namespace")
                   if r.inputs["metadata"]["name"] == "gpu-operator"]
    assert namespace.urn in deps
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert release.provider.split("::")[-1].startswith("ai-cluster-k8s")
    assert "ai-platform:gpu:GpuStack" in release.parent


def test_priority_classes_are_ordered_data_serving_rag_batch():
    result = run_stack("prod")
    classes = {r.inputs["metadata"]["name"]: r.inputs
               for r in result.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")}
    assert set(classes) == {t.name for t in PRIORITY_CLASSES}
    data, serving, rag, batch = (classes[n] for n in ("ai-platform-data", "ai-platform-serving", "ai-platform-rag",
                                                      "ai-platform-batch"))
    # Nothing the platform runs can preempt the data layer: every class that preempts is below it.
    assert data["value"] > serving["value"] > rag["value"] > batch["value"] > 0
    assert data["value"] < 1_000_000_000  # user classes stay below system-* classes
    assert serving["preemptionPolicy"] == rag["preemptionPolicy"] == "PreemptLowerPriority"
    assert data["preemptionPolicy"] == batch["preemptionPolicy"] == "Never"
    assert not any(c["globalDefault"] for c in classes.values())


def test_gke_keeps_its_own_device_plugin_and_mig():
    result = run_stack("dev")
    v = operator_release(result).inputs["values"]
    assert v["driver"] == {"enabled": False} and v["devicePlugin"] == {"enabled": False}
    assert v["migManager"] == {"enabled": False}
    assert v["toolkit"] == {"enabled": True, "installDir": "/home/kubernetes/bin/nvidia",
                            "env": [{"name": ACCEPT_ENVVAR_UNPRIVILEGED, "value": "false"},
                                    {"name": "RUNTIME_CONFIG_SOURCE", "value": "file"}]}
    assert v["hostPaths"] == {"driverInstallDir": "/home/kubernetes/bin/nvidia"}
    assert not [r for r in result.of_type(CONFIGMAP) if r.inputs["metadata"].get("namespace") == "gpu-operator"]
    for p in result.of_type(GKE_POOL):
        assert not [k for k in p.inputs["nodeConfig"].get("labels", {}) if k.startswith("nvidia.com/")]
    [quota] = [q for q in result.of_type("kubernetes:core/v1:ResourceQuota")
               if q.inputs["metadata"]["namespace"] == "gpu-operator"]
    scope = quota.inputs["spec"]["scopeSelector"]["matchExpressions"][0]
    assert quota.inputs["metadata"]["namespace"] == "gpu-operator"
    assert scope == {"scopeName": "PriorityClass", "operator": "In",
                     "values": ["system-node-critical", "system-cluster-critical"]}
    # GKE does the partitioning the MIG manager would otherwise fight.
    [mig_pool] = [p for p in result.of_type(GKE_POOL)
                  if p.inputs["nodeConfig"]["labels"].get("ai-platform/sharing") == "mig"]
    assert mig_pool.inputs["nodeConfig"]["guestAccelerators"][0]["gpuPartitionSize"] == "1g.10gb"


def test_bottlerocket_brings_its_own_plugin():
    values = stack_with_pools("prod", [pool("h", "h100-80gb", {"strategy": "exclusive"})])
    values["cluster"]["eks"]["amiType"] = "BOTTLEROCKET_x86_64_NVIDIA"
    result = run_config(values)
    v = operator_release(result).inputs["values"]
    assert (v["driver"], v["toolkit"], v["devicePlugin"], v["migManager"]) == ({"enabled": False},) * 4
    assert "nvidia.com/device-plugin.config" not in node_labels(result)["h"]


def test_existing_cluster_operator_owns_everything_unless_the_host_has_the_driver():
    values = stack_with_pools("local", [pool("gpu", "l4", {"strategy": "time-slicing", "replicas": 3}, gpus=1)])
    v = operator_release(run_config(values)).inputs["values"]
    assert v["driver"] == {"enabled": True}
    assert v["toolkit"] == {"enabled": True, "env": [{"name": ACCEPT_ENVVAR_UNPRIVILEGED, "value": "false"}]}
    assert v["devicePlugin"] == {"enabled": True, "config": {"name": "ai-platform-device-plugin-config",
                                                             "default": "exclusive"}}
    assert v["migManager"]["enabled"] is True
    values["gpuStack"]["hostDriver"] = True
    v = operator_release(run_config(values)).inputs["values"]
    assert v["driver"] == {"enabled": False} and v["toolkit"] == {"enabled": False}


def test_operator_off_keeps_priority_classes_only():
    result = run_stack("local")
    assert not [r for r in result.of_type(RELEASE) if r.inputs["chart"] == "gpu-operator"]
    assert "gpu-operator" not in {r.inputs["metadata"]["name"] for r in result.of_type("kubernetes:core/v1:Namespace")}
    assert len(result.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")) == len(PRIORITY_CLASSES) == 4


def test_shipped_prod_uses_mixed_mig_resources():
    result = run_stack("prod")
    labels = node_labels(result)
    assert labels["a100-spot"]["nvidia.com/mig.config"] == "mixed-1x3g.40gb-2x2g.20gb"
    assert labels["h100-od"]["nvidia.com/mig.config"] == "all-disabled"
    plan = unwrap(result.outputs["capacity"])
    assert plan["models"]["qwen7b"]["resource"] == "nvidia.com/mig-3g.40gb"
    assert plan["models"]["embedding"]["resource"] == "nvidia.com/mig-2g.20gb"
    assert plan["models"]["qwen72b"]["resource"] == "nvidia.com/gpu"


def test_gke_cluster_docs_say_what_the_operator_values_do():
    """components/cluster/gke.py documents the operator's GKE settings; they must be the chart values.

    The toolkit is ON on GKE COS: GPU Operator v26.7.0 runs its operands (GFD, DCGM exporter, validator)
    with runtimeClassName `nvidia` (controllers/object_controls.go setRuntimeClassName), a containerd
    handler only the operator's container toolkit configures there.
    """
    import re

    from components.cluster import gke
    from components.gpu_stack import chart_values
    from config.models import StackConfig
    from tests.conftest import stack_values

    v = chart_values(StackConfig.model_validate(stack_values("dev")))
    documented = dict(re.findall(r"`(\w+)\.enabled=(true|false)`", gke.__doc__))
    assert {"driver", "toolkit", "devicePlugin", "migManager"} <= set(documented)
    assert documented == {key: str(v[key]["enabled"]).lower() for key in documented}
