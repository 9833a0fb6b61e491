"""The pack as a whole: files, entry point, policy metadata, config files, and a real gRPC boot."""

from __future__ import annotations

import ast
import json
import re
import select
import subprocess
import sys
from pathlib import Path

import grpc
import jsonschema
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policy.rules import ALL_POLICIES, POLICIES_BY_NAME

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "policy"
TESTS = Path(__file__).resolve().parent
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# ------------------------------------------------------------------------------------- files


def test_main_only_builds_the_policy_pack():
    tree = ast.parse((PACK / "__main__.py").read_text())
    body = list(tree.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # docstring
    imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in body if n not in imports]
    assert len(rest) == 1, f"__main__.py must only import and build the PolicyPack, found {ast.dump(rest[-1])}"
    call = rest[0].value if isinstance(rest[0], ast.Expr) else None
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "PolicyPack"
    assert not call.args
    kwargs = {k.arg: k.value for k in call.keywords}
    assert set(kwargs) == {"name", "enforcement_level", "policies"}
    assert isinstance(kwargs["name"], ast.Constant) and kwargs["name"].value == "ai-platform"
    assert ast.unparse(kwargs["enforcement_level"]) == "EnforcementLevel.MANDATORY"
    assert isinstance(kwargs["policies"], ast.Name) and kwargs["policies"].id == "ALL_POLICIES"
    # The pack runs with policy/ on sys.path, so the rules must be imported as the top-level package.
    sources = {n.module for n in imports if isinstance(n, ast.ImportFrom)}
    assert "rules" in sources and not any(m and m.startswith("policy") for m in sources)


def test_pulumi_policy_yaml():
    project = yaml.safe_load((PACK / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == {"name": "python", "options": {"virtualenv": "venv"}}
    assert isinstance(project.get("description"), str) and project["description"].strip()


def test_requirements_are_pinned():
    lines = [ln.strip() for ln in (PACK / "requirements.txt").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert sorted(lines) == ["pulumi-policy==1.21.0", "pulumi==3.272.0"]


def test_rules_use_relative_imports_only():
    for module in (PACK / "rules").glob("*.py"):
        tree = ast.parse(module.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith(("policy", "rules")), f"{module.name}: {node.module}"


# ---------------------------------------------------------------------------------- policies


def test_policy_names_are_unique_kebab_case_and_indexed():
    names = [p.name for p in ALL_POLICIES]
    assert isinstance(ALL_POLICIES, list)
    assert len(names) == len(set(names))
    assert all(KEBAB.match(n) for n in names), names
    assert POLICIES_BY_NAME == {p.name: p for p in ALL_POLICIES}
    assert names == ["helm-chart-pinned", "helm-chart-locked", "crd-bundle-locked", "gpu-node-pool-tainted",
                     "gpu-workloads-tolerate-gpu-taint", "gpu-budget",
                     "cluster-deletion-protection", "critical-models-on-demand", "flex-start-not-sole-capacity",
                     "mig-requests-match-layouts",
                     "mig-workloads-select-mig-pool", "namespace-resource-quota", "namespace-default-deny",
                     "gpu-quota-for-gpu-namespaces", "container-resources", "image-pinned", "no-host-access",
                     "run-as-non-root", "no-plain-secret-env", "ingress-tls", "loadbalancer-services-allowed",
                     "cost-budget", "serving-replicas-ha", "pdb-for-multi-replica", "serving-pods-select-gpu-pool",
                     "model-servers-mount-model-cache", "cluster-endpoint-not-public",
                     "gpu-access-requires-gpu-request", "rbac-no-privileged-bindings", "rbac-no-dangerous-rules",
                     "ingress-safe-annotations", "ingress-no-management-routes", "netpol-no-allow-all",
                     "netpol-internet-egress", "privileged-flow-labels",
                     "no-privilege-escalation", "read-only-root-filesystem",
                     "bucket-not-public", "s3-bucket-guardrails", "ebs-encrypted", "iam-least-privilege",
                     "workload-identity-trust-scoped", "eks-control-plane-logs", "eks-network-policy-enforced",
                     "gke-cluster-hardened", "pdb-allows-eviction", "pdb-below-replicas",
                     "helm-chart-renders", "helm-chart-renders-advisory",
                     "gateway-class-allowed", "inferencepool-has-epp", "route-parent-platform-gateway",
                     "public-listener-tls", "mesh-mtls-strict", "job-names-local-queue"]


ADVISORY = {"pdb-for-multi-replica", "helm-chart-renders-advisory"}


def test_policies_are_mandatory_unless_advisory_and_described():
    for policy in ALL_POLICIES:
        expected = EnforcementLevel.ADVISORY if policy.name in ADVISORY else EnforcementLevel.MANDATORY
        assert policy.enforcement_level == expected, policy.name
        assert policy.description and len(policy.description) > 20, policy.name


def test_policy_kinds_and_config_schemas():
    kinds = {p.name: type(p) for p in ALL_POLICIES}
    stack_policies = {"gpu-budget", "critical-models-on-demand", "flex-start-not-sole-capacity",
                      "mig-requests-match-layouts",
                      "mig-workloads-select-mig-pool", "namespace-resource-quota", "namespace-default-deny",
                      "gpu-quota-for-gpu-namespaces", "cost-budget", "serving-replicas-ha", "pdb-for-multi-replica",
                      "serving-pods-select-gpu-pool", "model-servers-mount-model-cache", "read-only-root-filesystem",
                      "s3-bucket-guardrails", "eks-network-policy-enforced", "pdb-below-replicas",
                      "gateway-class-allowed", "inferencepool-has-epp", "route-parent-platform-gateway",
                      "public-listener-tls", "mesh-mtls-strict", "job-names-local-queue"}
    assert all(kinds[n] is StackValidationPolicy for n in stack_policies)
    assert all(kinds[n] is ResourceValidationPolicy for n in kinds if n not in stack_policies)
    schemas = {p.name: set(p.config_schema.properties) for p in ALL_POLICIES if p.config_schema is not None}
    assert schemas == {
        "helm-chart-pinned": {"allowedLocalCharts"}, "helm-chart-locked": {"chartLock"}, "gpu-budget": {"maxGpus"},
        "crd-bundle-locked": {"chartLock"},
        "cluster-deletion-protection": {"stacks"},
        "namespace-resource-quota": {"systemNamespaces"}, "namespace-default-deny": {"exemptNamespaces"},
        "container-resources": {"requireCpuLimit"},
        "image-pinned": {"allowedRegistries", "mutableTagPatterns", "digestStacks"}, "run-as-non-root": {"rootImages"},
        "no-plain-secret-env": {"secretNamePatterns"}, "loadbalancer-services-allowed": {"allowedNamespaces"},
        "cost-budget": {"maxMonthlyUsd", "expectedMonthlyUsd"}, "serving-replicas-ha": {"stacks"},
        "cluster-endpoint-not-public": {"stacks"},
        "gpu-access-requires-gpu-request": {"systemNamespaces"},
        "netpol-internet-egress": {"internetEgress", "internetEgressNamespaces"},
        "no-privilege-escalation": {"allowedCapabilities"},
        "read-only-root-filesystem": {"podSecurityExemptNamespaces"},
        "helm-chart-renders": {"stacks"}, "helm-chart-renders-advisory": {"stacks"},
        "gateway-class-allowed": {"allowedGatewayClasses"}, "public-listener-tls": {"publicGateways"},
        "mesh-mtls-strict": {"stacks"},
    }
    stacks = POLICIES_BY_NAME["cluster-deletion-protection"].config_schema.properties["stacks"]
    assert stacks["type"] == "array" and "prod" in stacks["default"]
    helm = POLICIES_BY_NAME["helm-chart-pinned"].config_schema.properties
    assert helm["allowedLocalCharts"]["type"] == "array" and helm["allowedLocalCharts"]["default"] == []
    budget = POLICIES_BY_NAME["gpu-budget"].config_schema.properties
    assert budget["maxGpus"]["type"] == "integer" and "default" not in budget["maxGpus"]
    system = ["kube-system", "kube-public", "kube-node-lease", "default", "gpu-operator", "observability-node", "keda",
              "cert-manager", "ingress-nginx", "elastic-system", "prometheus-adapter", "istio-system", "kueue-system",
              "ai-gateway"]
    quota = POLICIES_BY_NAME["namespace-resource-quota"].config_schema.properties
    assert quota["systemNamespaces"]["default"] == system
    # Operator namespaces are default-deny too: only the cluster's own are exempt.
    exempt = POLICIES_BY_NAME["namespace-default-deny"].config_schema.properties["exemptNamespaces"]["default"]
    assert exempt == ["kube-system", "kube-public", "kube-node-lease", "default"]
    # no-host-access has no namespace pass: only the node agents listed in policy/rules/pods.py (test_pods.py).
    assert POLICIES_BY_NAME["no-host-access"].config_schema is None
    gpu = POLICIES_BY_NAME["gpu-access-requires-gpu-request"].config_schema.properties["systemNamespaces"]["default"]
    assert gpu == [n for n in system if n != "default"]
    cpu = POLICIES_BY_NAME["container-resources"].config_schema.properties["requireCpuLimit"]
    assert cpu == {**cpu, "type": "boolean", "default": True}
    for name, key in (("image-pinned", "allowedRegistries"), ("run-as-non-root", "rootImages")):
        prop = POLICIES_BY_NAME[name].config_schema.properties[key]
        assert prop["type"] == "array" and prop["default"] == []
    patterns = POLICIES_BY_NAME["no-plain-secret-env"].config_schema.properties["secretNamePatterns"]["default"]
    assert patterns == ["TOKEN", "PASSWORD", "PASSWD", "SECRET", "API_?KEY", "ACCESS_KEY", "PRIVATE_KEY",
                        "CREDENTIALS?"]
    lb = POLICIES_BY_NAME["loadbalancer-services-allowed"].config_schema.properties["allowedNamespaces"]
    assert lb["default"] == ["ingress-nginx", "ai-gateway"]
    cost = POLICIES_BY_NAME["cost-budget"].config_schema.properties["maxMonthlyUsd"]
    assert cost["type"] == "number" and cost["minimum"] == 0 and "default" not in cost
    ha = POLICIES_BY_NAME["serving-replicas-ha"].config_schema.properties["stacks"]
    assert ha["default"] == stacks["default"]
    endpoint = POLICIES_BY_NAME["cluster-endpoint-not-public"].config_schema.properties["stacks"]
    assert endpoint["default"] == stacks["default"]


def _exercised_policy_names() -> set[str]:
    """Policy names passed as literals to run_resource / run_stack in the test modules."""
    names = set()
    for module in TESTS.glob("test_*.py"):
        tree = ast.parse(module.read_text())
        # Module-level string constants (NAME = "policy-name") resolve too.
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                     for t in n.targets if isinstance(t, ast.Name)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("run_resource", "run_stack", "run_policy") and node.args):
                first = node.args[0]
                if isinstance(first, ast.Constant):
                    names.add(first.value)
                elif isinstance(first, ast.Name) and first.id in constants:
                    names.add(constants[first.id])
    return names


def test_every_policy_is_exercised_by_a_test():
    assert _exercised_policy_names() == set(POLICIES_BY_NAME)


def _schema(policy) -> dict:
    schema = {"type": "object"}
    if policy.config_schema is not None:
        schema["properties"] = policy.config_schema.properties
        if policy.config_schema.required:
            schema["required"] = policy.config_schema.required
    return schema


@pytest.mark.parametrize("path", sorted((PACK / "config").glob("*.json")), ids=lambda p: p.name)
def test_config_files_match_the_pack(path):
    """Each per-stack config file parses the way `--policy-pack-config` does and fits the schemas."""
    config = json.loads(path.read_text())
    levels = {level.value for level in EnforcementLevel}
    for name, value in config.items():
        assert name == "all" or name in POLICIES_BY_NAME, f"{path.name}: unknown policy {name}"
        if isinstance(value, str):
            assert value in levels
            continue
        props = dict(value)
        assert props.pop("enforcementLevel", "mandatory") in levels
        if name != "all":
            jsonschema.validate(props, _schema(POLICIES_BY_NAME[name]))


def test_config_schema_rejects_bad_values():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"maxGpus": "48"}, _schema(POLICIES_BY_NAME["gpu-budget"]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"maxGpus": -1}, _schema(POLICIES_BY_NAME["gpu-budget"]))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"allowedLocalCharts": "charts/*"}, _schema(POLICIES_BY_NAME["helm-chart-pinned"]))
    bad = [("container-resources", {"requireCpuLimit": "no"}), ("image-pinned", {"allowedRegistries": "docker.io/"}),
           ("image-pinned", {"allowedRegistries": [""]}), ("run-as-non-root", {"rootImages": [1]}),
           ("no-plain-secret-env", {"secretNamePatterns": "TOKEN"}), ("cost-budget", {"maxMonthlyUsd": -1}),
           ("cost-budget", {"maxMonthlyUsd": "60000"}), ("loadbalancer-services-allowed", {"allowedNamespaces": "x"}),
           ("namespace-resource-quota", {"systemNamespaces": "kube-system"})]
    for name, config in bad:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(config, _schema(POLICIES_BY_NAME[name]))
    jsonschema.validate({"maxMonthlyUsd": 60000.5}, _schema(POLICIES_BY_NAME["cost-budget"]))


# ------------------------------------------------------------------- the pack over real gRPC


@pytest.fixture(scope="module")
def analyzer():
    """Boot the pack exactly as Pulumi's policy shim does (`python -u -m pulumi.policy <engine> .` in
    policy/) and talk to it over gRPC."""
    proc = subprocess.Popen([sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:1", "."], cwd=PACK,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        line = proc.stdout.readline().decode().strip() if ready else ""
        if not line.isdigit():
            proc.kill()
            raise AssertionError(f"pack did not print its port: {line!r} {proc.stderr.read().decode()[-2000:]}")
        channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        grpc.channel_ready_future(channel).result(timeout=30)
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _struct(value: dict) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(value)
    return s


def test_pack_reports_its_policies_over_grpc(analyzer):
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "ai-platform"
    assert {p.name for p in info.policies} == set(POLICIES_BY_NAME)
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels == {name: analyzer_pb2.ADVISORY if name in ADVISORY else analyzer_pb2.MANDATORY
                      for name in POLICIES_BY_NAME}
    budget = next(p for p in info.policies if p.name == "gpu-budget")
    assert budget.policy_type == analyzer_pb2.POLICY_TYPE_STACK
    assert "maxGpus" in budget.configSchema.properties


def test_pack_analyzes_a_resource_over_grpc(analyzer):
    pool = {"name": "l4", "nodeConfig": {"machineType": "g2-standard-8",
                                         "guestAccelerators": [{"type": "nvidia-l4", "count": 1}]}}
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type="gcp:container/nodePool:NodePool", properties=_struct(pool), urn="urn:pulumi:s::p::t::l4", name="l4"))
    assert [d.policyName for d in response.diagnostics] == ["gpu-node-pool-tainted"]
    assert response.diagnostics[0].enforcementLevel == analyzer_pb2.MANDATORY


def test_pack_turns_unknown_preview_values_into_an_advisory(analyzer):
    unknown_string = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type="kubernetes:helm.sh/v3:Release", urn="urn:pulumi:s::p::t::r", name="r",
        properties=_struct({"chart": "keda", "version": unknown_string,
                            "repositoryOpts": {"repo": "https://kedacore.github.io/charts"}})))
    # helm-chart-renders-advisory: the chart cannot be rendered without its version (stack "s" is not protected).
    assert sorted(d.policyName for d in response.diagnostics) == ["helm-chart-locked", "helm-chart-pinned",
                                                                   "helm-chart-renders-advisory"]
    for diagnostic in response.diagnostics:
        assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
        assert "during preview" in diagnostic.message


def test_pack_applies_pack_config_over_grpc(analyzer):
    pool = {"nodeGroupName": "h100", "amiType": "AL2023_x86_64_NVIDIA", "instanceTypes": ["p5.48xlarge"],
            "scalingConfig": {"maxSize": 2}}
    request = analyzer_pb2.AnalyzeStackRequest(resources=[analyzer_pb2.AnalyzerResource(
        type="aws:eks/nodeGroup:NodeGroup", urn="urn:pulumi:s::p::aws:eks/nodeGroup:NodeGroup::h100", name="h100",
        properties=_struct(pool))])
    assert list(analyzer.AnalyzeStack(request).diagnostics) == []  # no budget anywhere
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "gpu-budget": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                                properties=_struct({"maxGpus": 15}))}))
    try:
        diagnostics = list(analyzer.AnalyzeStack(request).diagnostics)
        assert [d.policyName for d in diagnostics] == ["gpu-budget"]
        assert "16 > budget 15" in diagnostics[0].message
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={}))
    assert list(analyzer.AnalyzeStack(request).diagnostics) == []


def test_pack_refuses_a_config_naming_what_it_does_not_have(analyzer):
    """The CLI passes unknown policy names and settings through to Configure; the pack refuses them there."""
    bad = {"gpu-budgte": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.DISABLED),
           "image-pinned": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.MANDATORY,
                                                     properties=_struct({"allowedRegistry": ["x/"]}))}
    with pytest.raises(grpc.RpcError) as info:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=bad))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "gpu-budgte: no policy of this name in the pack (did you mean gpu-budget?)" in info.value.details()
    assert "image-pinned.allowedRegistry: not a setting of image-pinned" in info.value.details()
    # A sound config, "all" included, is still taken.
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={
        "all": analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.ADVISORY)}))
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={}))


def test_pack_renders_a_release_under_preview_and_judges_its_objects(analyzer):
    """The booted pack (policy/__main__.py) renders a Release itself and reports a chart object's violation."""
    from tests.render.conftest import require_charts

    require_charts()
    keda = {"name": "keda", "chart": "keda", "version": "2.20.2", "namespace": "keda",
            "repositoryOpts": {"repo": "https://kedacore.github.io/charts"},
            "values": {"resources": {"operator": {"limits": None}}}}  # null drops the chart's operator limits
    response = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(
        type="kubernetes:helm.sh/v3:Release", urn="urn:pulumi:prod::p::kubernetes:helm.sh/v3:Release::keda",
        name="keda", properties=_struct(keda)))
    found = [(d.policyName, d.message) for d in response.diagnostics]  # the analyzer prefixes the description
    assert any(name == "container-resources" and "\nDeployment keda/keda-operator (chart keda): container "
               "'keda-operator' lacks limits.cpu, limits.memory" in message for name, message in found), found
    assert not any(d.policyName.startswith("helm-chart-renders") for d in response.diagnostics)
