"""Kueue (`ai-platform:queueing`): config rules and errors (pure), the recorded queue objects of a GKE and an EKS
variant (one mock run each), the chart's values and rendered controller, strict validation of the custom resources,
and the job-names-local-queue policy over the variants.

Variants (the shipped stacks keep queueing off):
- GKE: Pulumi.dev.yaml + queueing on, ai-inference cpuQuota 64 and gpuQuota 24, and a queued flex-start pool
  h100-flex (8 x H100 per node, max 2, 24 h runs).
- EKS: Pulumi.prod.yaml + queueing on with ai-inference {borrowingLimitGpus 2, lendingLimitGpus 4}, cpuQuota 400.
"""

from __future__ import annotations

from functools import cache

import pytest
import yaml

from components.labels import CAPACITY_LABEL, GPU_LABEL, GPU_TAINT_EFFECT, GPU_TAINT_KEY, POOL_LABEL
from components.queueing import chart_values
from config import queueing
from config.errors import ConfigError
from config.loader import validate
from config.namespaces import KUEUE, namespaces
from config.network import platform_flows
from policy.rules.queueing import problems
from tests.conftest import run_config, stack_values
from tools import charts
from tools import validate as strict

KUEUE_TYPE = "kubernetes:kueue.x-k8s.io/v1beta2:"


def gke_values() -> dict:
    v = stack_values("dev")
    v["queueing"] = {"enabled": True}
    v["tenancy"]["namespaces"]["ai-inference"].update(cpuQuota="64", gpuQuota=24)
    v["nodePools"]["gpu"].append({"name": "h100-flex", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "flex-start",
                                  "min": 0, "max": 2, "flexStart": {"queued": True, "maxRunDurationHours": 24}})
    return v


def eks_values() -> dict:
    v = stack_values("prod")
    v["queueing"] = {"enabled": True,
                     "namespaces": {"ai-inference": {"borrowingLimitGpus": 2, "lendingLimitGpus": 4}}}
    v["tenancy"]["namespaces"]["ai-inference"]["cpuQuota"] = "400"
    return v


@cache
def run(which: str):
    result = run_config(gke_values() if which == "gke" else eks_values(), "dev" if which == "gke" else "prod")
    assert result.error is None, result.error
    return result


def kueue_objects(which: str, kind: str) -> dict[str, dict]:
    return {r.inputs["metadata"]["name"]: r.inputs for r in run(which).resources if r.type == KUEUE_TYPE + kind}


def errors(values: dict) -> list[str]:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.test.yaml")
    return [str(i) for i in info.value.issues]


# ------------------------------------------------------------------------------------------- config rules


def test_queueing_is_off_by_default_and_in_every_shipped_stack():
    for stack in ("dev", "prod", "local"):
        cfg, _ = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
        assert queueing.queued_namespaces(cfg) == () and KUEUE not in {n.name for n in namespaces(cfg)}


def test_gke_cluster_queue_quota_rule():
    cfg, plan = validate(gke_values(), "Pulumi.dev.yaml")
    assert queueing.queued_namespaces(cfg) == ("ai-inference",)  # the only namespace with a gpuQuota
    spec = queueing.cluster_queue_spec(cfg, plan, "ai-inference")
    cpu, gpu = spec["resourceGroups"]
    # cpu: quota 64 - the servers' requests at max scale, Jobs excluded (Deployments qwen7b 4 x 4 = 16,
    # qwen7b-canary 1 x 4 = 4, embedding 1 x 2 ... as config.sizing sizes them) = 26 cores -> 38;
    # memory: 128Gi - 101Gi of server requests -> 27Gi.
    assert cpu == {"coveredResources": ["cpu", "memory"], "flavors": [{"name": "cpu", "resources": [
        {"name": "cpu", "nominalQuota": "38"}, {"name": "memory", "nominalQuota": "27Gi"}]}]}
    # GPUs: headroom 24 - 6 (the servers' need) = 18, dealt in pool order: a100-spot (GKE advertises its seven
    # 1g.10gb partitions as nvidia.com/gpu: 7 x max 2 = 14) takes 14, l4-spot (1 x 3) takes 3, h100-flex takes the
    # last 1. No borrowing configured: borrowingLimit 0 everywhere.
    assert gpu["coveredResources"] == ["nvidia.com/gpu"]
    assert [(f["name"], f["resources"]) for f in gpu["flavors"]] == [
        ("pool-a100-spot", [{"name": "nvidia.com/gpu", "nominalQuota": 14, "borrowingLimit": 0}]),
        ("pool-l4-spot", [{"name": "nvidia.com/gpu", "nominalQuota": 3, "borrowingLimit": 0}]),
        ("pool-h100-flex", [{"name": "nvidia.com/gpu", "nominalQuota": 1, "borrowingLimit": 0}])]
    assert spec["cohortName"] == "ai-platform"
    assert spec["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ai-inference"}}
    assert spec["preemption"] == {"reclaimWithinCohort": "Any", "withinClusterQueue": "LowerPriority"}
    assert spec["admissionChecksStrategy"] == {"admissionChecks": [
        {"name": "h100-flex-provisioning", "onFlavors": ["pool-h100-flex"]}]}


def test_eks_cluster_queue_borrowing_and_lending():
    cfg, plan = validate(eks_values(), "Pulumi.prod.yaml")
    cpu, gpu = queueing.cluster_queue_spec(cfg, plan, "ai-inference")["resourceGroups"]
    # cpu 400 - 176 = 224; memory 1152Gi - 1113470271488 B (1037Gi) = 115Gi.
    assert [r["nominalQuota"] for r in cpu["flavors"][0]["resources"]] == ["224", "115Gi"]
    # a100-spot is MIG mixed on the GPU Operator: its resources are covered too, quota'd 0 (sized to the servers).
    assert gpu["coveredResources"] == ["nvidia.com/gpu", "nvidia.com/mig-2g.20gb", "nvidia.com/mig-3g.40gb"]
    h100, a100 = gpu["flavors"]
    # headroom 40 - 24 = 16, minus the 2 kept for borrowing = 14 nominal on h100-od (8 x max 3 = 24 available);
    # lending min(4, 14) = 4; MIG and absent resources lend min(4, 0) = 0 and borrow 0.
    assert h100 == {"name": "pool-h100-od", "resources": [
        {"name": "nvidia.com/gpu", "nominalQuota": 14, "borrowingLimit": 2, "lendingLimit": 4},
        {"name": "nvidia.com/mig-2g.20gb", "nominalQuota": 0, "borrowingLimit": 0, "lendingLimit": 0},
        {"name": "nvidia.com/mig-3g.40gb", "nominalQuota": 0, "borrowingLimit": 0, "lendingLimit": 0}]}
    assert all(r["nominalQuota"] == 0 and r["borrowingLimit"] == 0 for r in a100["resources"])
    assert "admissionChecksStrategy" not in queueing.cluster_queue_spec(cfg, plan, "ai-inference")


def test_flavors_use_the_pools_node_labels_and_the_gpu_taint():
    cfg, _ = validate(gke_values(), "Pulumi.dev.yaml")
    flavors = {f.name: f.spec for f in queueing.resource_flavors(cfg)}
    assert flavors["cpu"] == {}
    # config/queueing.py spells the labels and the taint itself (config/ cannot import components/): same names.
    assert flavors["pool-h100-flex"] == {
        "nodeLabels": {POOL_LABEL: "h100-flex", GPU_LABEL: "h100-80gb", CAPACITY_LABEL: "flex-start"},
        "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": GPU_TAINT_EFFECT}]}


def test_config_errors_name_the_key_and_what_is_allowed():
    v = gke_values()
    v["queueing"]["namespaces"] = {"team-x": {}}
    assert any("queueing.namespaces.team-x: 'team-x' is not a tenancy namespace; queue one of: ai-inference"
               in e for e in errors(v))
    v = gke_values()
    del v["tenancy"]["namespaces"]["ai-inference"]["cpuQuota"]
    assert any("tenancy.namespaces.ai-inference: queued namespace 'ai-inference' needs cpuQuota" in e
               for e in errors(v))
    v = gke_values()
    v["queueing"]["namespaces"] = {"ai-rag": {}}
    v["tenancy"]["namespaces"]["ai-rag"].update(cpuQuota="64", memoryQuota="64Gi")
    assert any("queueing.namespaces.ai-rag: 'ai-rag' holds the rag components" in e for e in errors(v))
    v = gke_values()
    v["queueing"] = {"enabled": False, "namespaces": {"ai-inference": {}}}
    found = errors(v)
    assert any("queueing.namespaces: set only with queueing.enabled: true" in e for e in found)
    # ... and the queued flex-start pool without Kueue (config.semantics' pool capacity checks report it, once).
    assert [e for e in found if "flexStart" in e] == [
        "ai-platform:nodePools.gpu[2].flexStart.queued: flex-start without a queue: a queued-provisioning pool gets "
        "nodes only through ProvisioningRequests, which Kueue creates for the workloads it admits; set "
        "ai-platform:queueing.enabled: true, or flexStart.queued: false (nodes come one by one as pods wait)"]


def test_queued_provisioning_is_gke_only():
    v = eks_values()
    v["nodePools"]["gpu"][0]["flexStart"] = {"queued": True}
    # An EKS pool cannot be flex-start (the capacity checks point at Capacity Blocks), so flexStart is refused there.
    assert ("ai-platform:nodePools.gpu[0].flexStart: flexStart is read only by capacity: flex-start pools (this pool "
            "is on-demand); remove it or set capacity: flex-start") in errors(v)
    v["nodePools"]["gpu"][0]["capacity"] = "flex-start"
    assert any(e.startswith("ai-platform:nodePools.gpu[0].capacity: ") and "Capacity Block" in e for e in errors(v))


def test_queued_provisioning_needs_the_provisioning_request_api():
    v = gke_values()
    v["cluster"]["kubernetesVersion"] = "1.31"
    assert any("cluster.kubernetesVersion: 1.31 does not serve the ProvisioningRequest API v1" in e
               and "use 1.32 or newer" in e for e in errors(v))


def test_limits_against_the_quota_headroom():
    v = eks_values()
    v["queueing"]["namespaces"]["ai-inference"]["borrowingLimitGpus"] = 17  # headroom 40 - 24 = 16
    assert any("queueing.namespaces.ai-inference.borrowingLimitGpus: 17 is above the 16 GPUs" in e
               for e in errors(v))
    v = eks_values()
    v["queueing"]["namespaces"]["ai-inference"]["lendingLimitGpus"] = 15  # nominal 16 - 2 = 14
    assert any("lendingLimitGpus: 15 is above the namespace's nominal GPU quota in Kueue (14 = gpuQuota 40 - "
               "model servers 24 - borrowingLimitGpus 2); at most 14" in e for e in errors(v))


# ----------------------------------------------------------------------------------- recorded resources


def test_gke_variant_records_kueue_and_its_queues():
    result = run("gke")
    release = next(r for r in result.resources if r.type == "kubernetes:helm.sh/v3:Release"
                   and r.inputs["name"] == "kueue")
    assert release.inputs["chart"] == "oci://registry.k8s.io/kueue/charts/kueue"
    assert release.inputs["version"] == "0.19.2" and release.inputs["namespace"] == "kueue-system"
    assert set(kueue_objects("gke", "ResourceFlavor")) == {"cpu", "pool-a100-spot", "pool-l4-spot", "pool-h100-flex"}
    assert set(kueue_objects("gke", "ClusterQueue")) == {"ai-inference"}
    local = kueue_objects("gke", "LocalQueue")["default"]
    assert local["metadata"]["namespace"] == "ai-inference" and local["spec"] == {"clusterQueue": "ai-inference"}
    prc = kueue_objects("gke", "ProvisioningRequestConfig")["h100-flex-provisioning"]["spec"]
    # 24 h x 3600 s.
    assert prc == {"provisioningClassName": "queued-provisioning.gke.io", "managedResources": ["nvidia.com/gpu"],
                   "parameters": {"maxRunDurationSeconds": "86400"}}
    check = kueue_objects("gke", "AdmissionCheck")["h100-flex-provisioning"]["spec"]
    assert check == {"controllerName": "kueue.x-k8s.io/provisioning-request", "parameters": {
        "apiGroup": "kueue.x-k8s.io", "kind": "ProvisioningRequestConfig", "name": "h100-flex-provisioning"}}
    priorities = {r.inputs["metadata"]["name"]: r.inputs["value"] for r in result.resources
                  if r.type == KUEUE_TYPE + "WorkloadPriorityClass"}
    assert priorities == {"batch-high": 1000, "batch-low": 100}


def test_eks_variant_has_no_admission_check_and_scrapes_kueue():
    assert kueue_objects("eks", "AdmissionCheck") == {} and kueue_objects("eks", "ProvisioningRequestConfig") == {}
    assert kueue_objects("eks", "ClusterQueue")["ai-inference"]["spec"]["cohortName"] == "ai-platform"
    monitor = next(r.inputs for r in run("eks").resources
                   if r.type == "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
                   and r.inputs["metadata"]["name"] == "kueue")
    assert monitor["metadata"]["namespace"] == "kueue-system"
    assert monitor["metadata"]["labels"]["ai-platform/scrape"] == "true"
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint["authorization"] == {"credentials": {"name": "kueue-metrics-scraper", "key": "token"}}
    binding = next(r.inputs for r in run("eks").resources if r.type == "kubernetes:rbac.authorization.k8s.io/v1:"
                   "ClusterRoleBinding" and r.inputs["metadata"]["name"] == "kueue-metrics-scraper")
    assert binding["roleRef"]["name"] == "kueue-metrics-reader"  # the chart's ClusterRole (release name kueue)


@pytest.mark.parametrize("which", ["gke", "eks"])
def test_every_job_in_a_queued_namespace_names_the_local_queue(which):
    jobs = [r.inputs for r in run(which).resources if r.type in ("kubernetes:batch/v1:Job",
                                                                  "kubernetes:batch/v1:CronJob")]
    queued = [j for j in jobs if j["metadata"]["namespace"] == "ai-inference"]
    assert len(queued) >= 2 and all(j["metadata"]["labels"][queueing.QUEUE_NAME_LABEL] == "default" for j in queued)
    # Jobs elsewhere (ai-rag: Milvus users, backups) are not queued.
    assert all(queueing.QUEUE_NAME_LABEL not in j["metadata"].get("labels", {}) for j in jobs if j not in queued)


@pytest.mark.parametrize("which", ["gke", "eks"])
def test_the_policy_passes_on_the_program_objects_and_catches_a_missing_label(which):
    from policy.rules.objects import program_object

    objs = [o for r in run(which).resources if (o := program_object(r.type, r.inputs, r.name)) is not None]
    assert list(problems(objs)) == []
    job = next(o for o in objs if o.kind == "Job" and o.namespace == "ai-inference")
    del job.body["metadata"]["labels"][queueing.QUEUE_NAME_LABEL]
    assert [obj.name for obj, _ in problems(objs)] == [job.name]


def test_kueue_namespace_and_the_api_server_flows():
    cfg, _ = validate(gke_values(), "Pulumi.dev.yaml")
    spec = next(n for n in namespaces(cfg) if n.name == KUEUE)
    assert spec.kind == "platform" and spec.pod_security == "restricted"
    flows = {(f.name, f.dest.namespace): f for f in platform_flows(cfg)}
    # The chart's webhook Service targets 9443, its visibility APIService's Service 8082 (kueue 0.19.2).
    assert [p.port for p in flows[("kueue-webhook", KUEUE)].ports] == [9443]
    assert [p.port for p in flows[("kueue-visibility-api", KUEUE)].ports] == [8082]


# -------------------------------------------------------------------------------------------- the chart


def _archive_values() -> dict:
    import tarfile

    from components.helm import pin

    found = charts.resolve(pin("kueue"))
    if found.path is None:
        pytest.skip(f"kueue archive unavailable: {found.problem}")
    with tarfile.open(found.path) as tar:
        member = tar.extractfile("kueue/values.yaml")
        assert member is not None
        return yaml.safe_load(member.read())


def _keys(values: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        out.add(path)
        if isinstance(value, dict) and value:
            out |= _keys(value, path + ".")
    return out


def test_every_chart_value_exists_in_the_pinned_values_yaml():
    upstream = _keys(_archive_values())
    ours = {k for k in _keys(chart_values())
            # free-form maps below these keys (resources, securityContexts, spread constraints) are the chart's
            # pass-through blocks
            if not any(k.startswith(p + ".") for p in (
                "controllerManager.manager.resources", "controllerManager.manager.podSecurityContext",
                "controllerManager.manager.containerSecurityContext"))}
    assert ours - upstream == set()


def test_manager_config_keeps_the_chart_defaults_but_only_batch_jobs():
    ours = yaml.safe_load(chart_values()["managerConfig"]["controllerManagerConfigYaml"])
    upstream = yaml.safe_load(_archive_values()["managerConfig"]["controllerManagerConfigYaml"])
    assert ours["integrations"] == {"frameworks": ["batch/job"]}
    assert {k: v for k, v in ours.items() if k != "integrations"} == \
        {k: v for k, v in upstream.items() if k != "integrations"}


@cache
def rendered() -> list[dict]:
    """The kueue Release as `helm template` renders it with our values (CRDs included), once."""
    from components.helm import pin
    from tests.render.conftest import require_charts
    from tools import helmbin, render

    require_charts()
    archive = charts.resolve(pin("kueue"))
    docs, _ = render.template(helmbin.find(), archive.path, archive.sha256, "kueue", KUEUE,
                              render.helm_values({"values": chart_values()}),
                              render.template_args("kueue", KUEUE, "v1.35.0", {"monitoring.coreos.com/v1"}, True),
                              render.cache_dir())
    return [yaml.safe_load(text) if text else head for _, head, text in docs]


def test_rendered_controller_is_highly_available_and_restricted():
    objs = rendered()
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "kueue-controller-manager" and deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["resources"]["limits"]["memory"] == container["resources"]["requests"]["memory"] == "512Mi"
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "kubernetes.io/hostname"
    pdb = next(o for o in objs if o["kind"] == "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert not any(o["kind"] == "ServiceMonitor" for o in objs)  # ours instead (no bearer token file)
    # The names components/queueing.py refers to exist in the render.
    names = {(o["kind"], o["metadata"]["name"]) for o in objs}
    assert {("ClusterRole", "kueue-metrics-reader"), ("Service", "kueue-controller-manager-metrics-service")} <= names
    metrics = next(o for o in objs if o["metadata"]["name"] == "kueue-controller-manager-metrics-service")
    assert {**metrics["metadata"]["labels"], **metrics["spec"]["selector"]}.items() >= \
        queue_component_selector().items()
    config = next(o for o in objs if o["kind"] == "ConfigMap")
    assert yaml.safe_load(config["data"]["controller_manager_config.yaml"])["integrations"] == \
        {"frameworks": ["batch/job"]}


def queue_component_selector() -> dict:
    from components.queueing import service_monitor_spec

    return service_monitor_spec()["selector"]["matchLabels"]


def test_every_kueue_crd_serves_v1beta2_as_its_storage_version():
    defined = [o for o in rendered() if o["kind"] == "CustomResourceDefinition"]
    assert len(defined) == 11
    for crd in defined:
        assert [v["name"] for v in crd["spec"]["versions"] if v["storage"]] == ["v1beta2"], crd["metadata"]["name"]


def queue_objects() -> list[dict]:
    """The GKE variant's Kueue objects as the API server receives them."""
    from policy.rules.objects import program_object

    return [dict(o.body) for r in run("gke").resources if r.type.startswith(KUEUE_TYPE)
            if (o := program_object(r.type, r.inputs, r.name)) is not None]


def test_queue_objects_validate_strictly_against_the_charts_crds():
    defined = [o for o in rendered() if o["kind"] == "CustomResourceDefinition"]
    objs = queue_objects()
    # 4 flavors, 2 priority classes, 1 ProvisioningRequestConfig, 1 AdmissionCheck, 1 ClusterQueue, 1 LocalQueue.
    assert len(objs) == 10
    problems_found = strict.validate_objects(objs, "1.35", defined)
    assert problems_found == [], "\n".join(map(str, problems_found))


def test_a_misspelt_queue_field_fails_strict_validation():
    defined = [o for o in rendered() if o["kind"] == "CustomResourceDefinition"]
    queue = next(o for o in queue_objects() if o["kind"] == "ClusterQueue")
    queue["spec"] = {**queue["spec"], "cohort": "ai-platform"}  # v1beta1's name; v1beta2 calls it cohortName
    found = strict.validate_objects([queue], "1.35", defined)
    assert len(found) == 1 and "cohort" in str(found[0])


def test_go_inline_flags_inside_a_crd_pattern_are_scoped_for_python():
    import re

    pattern = strict.go_pattern("^(?i)[a-z]([-a-z0-9]*[a-z0-9])?$")  # AdmissionCheck parameters.kind, Kueue 0.19.2
    assert pattern == "^(?i:[a-z]([-a-z0-9]*[a-z0-9])?$)"
    assert re.search(pattern, "ProvisioningRequestConfig") and not re.search(pattern, "9kind")
    assert strict.go_pattern("(?i)^abc$") == "(?i)^abc$"  # already at the start: Python takes it as it is


def test_a_compute_class_pools_flavor_tolerates_the_class_taint():
    # A GKE class over an on-demand and a flex-start H100 pool: both node pools carry the class's NoSchedule taint
    # (config/compute_classes.py), so a Job admitted on either flavor must tolerate it, or it would never schedule.
    v = gke_values()
    v["nodePools"]["gpu"].append({"name": "h100-od", "gpu": "h100-80gb", "gpusPerNode": 8, "min": 0, "max": 1})
    v["nodePools"]["gpu"][2]["flexStart"] = {"queued": False}
    v["nodePools"]["computeClasses"] = [{"name": "h100-first", "pools": ["h100-od", "h100-flex"]}]
    cfg, _ = validate(v, "Pulumi.test.yaml")
    flavors = {f.pool: f.spec["tolerations"] for f in queueing.resource_flavors(cfg) if f.pool}
    klass = {"key": "cloud.google.com/compute-class", "operator": "Equal", "value": "h100-first",
             "effect": "NoSchedule"}
    assert klass in flavors["h100-od"] and klass in flavors["h100-flex"]
    assert all(klass not in t for p, t in flavors.items() if p not in ("h100-od", "h100-flex"))
