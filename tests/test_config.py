"""Config validation: every kind of bad input fails with one clear message, before any resource."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config import ConfigError, validate
from config.models import CONFIG_KEYS, StackConfig

from .conftest import STACKS, run_config, stack_values


def errors_of(values: dict, stack_file: str = "Pulumi.test.yaml") -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, stack_file)
    return str(info.value)


@pytest.mark.parametrize("stack", STACKS)
def test_shipped_stacks_validate(stack):
    cfg, plan = validate(stack_values(stack), f"Pulumi.{stack}.yaml")
    assert isinstance(cfg, StackConfig)
    assert {m.name for m in plan.models} >= {m.name for m in cfg.serving.models}


def _dev():
    return stack_values("dev")


def _prod():
    return stack_values("prod")


def _set(values, path, value):
    node = values
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return values


BAD = [
    # (name, config mutation, expected key path, expected text)
    ("unknown top-level key", lambda v: v.update(clusterr={}), "ai-platform:clusterr", "allowed keys: cluster, "
                                                                                       "nodePools"),
    ("unknown nested key", lambda v: _set(v, ["nodePools", "gpu", 0, "gpuz"], 1),
     "ai-platform:nodePools.gpu[0].gpuz", "allowed keys here: name, gpu, gpusPerNode"),
    ("wrong type", lambda v: _set(v, ["nodePools", "gpu", 0, "gpusPerNode"], "eight"),
     "ai-platform:nodePools.gpu[0].gpusPerNode", "valid integer"),
    ("out of range", lambda v: _set(v, ["serving", "models", 0, "replicas"], {"min": 1, "max": 0}),
     "ai-platform:serving.models[0].replicas.max", "greater than or equal to 1"),
    ("bad enum", lambda v: _set(v, ["cluster", "provider"], "aks"), "ai-platform:cluster.provider", "'gke', 'eks' or "
                                                                                                    "'existing'"),
    ("model on missing pool", lambda v: _set(v, ["serving", "models", 0, "pool"], "h100-nope"),
     "ai-platform:serving.models[0].pool", "no GPU pool named 'h100-nope'; pools: a100-spot, l4-spot"),
    ("pool max < min", lambda v: _set(v, ["nodePools", "gpu", 0, "min"], 5),
     "ai-platform:nodePools.gpu[0]", "max (2) must be >= min (5)"),
    ("MIG profile of another GPU",
     lambda v: _set(v, ["nodePools", "gpu", 0, "sharing"], {"strategy": "mig", "profile": "1g.5gb"}),
     "ai-platform:nodePools.gpu[0].sharing.profile", "'1g.5gb' is not a MIG profile of a100-80gb; allowed: "),
    ("MIG on a GPU without MIG",
     lambda v: _set(v, ["nodePools", "gpu", 1, "sharing"], {"strategy": "mig", "profile": "1g.10gb"}),
     "ai-platform:nodePools.gpu[1].sharing.strategy", "l4 has no MIG"),
    ("unknown sharing strategy", lambda v: _set(v, ["nodePools", "gpu", 1, "sharing"], {"strategy": "vgpu"}),
     "ai-platform:nodePools.gpu[1].sharing", "'exclusive', 'mig', 'time-slicing', 'mps'"),
    ("critical model on spot only", lambda v: _set(v, ["serving", "models", 0, "critical"], True),
     "ai-platform:serving.models[0].critical", "critical model on spot-only pool 'a100-spot'"),
    ("zone outside region", lambda v: _set(v, ["cluster", "zones"], ["us-central1-a", "europe-west4-a"]),
     "ai-platform:cluster.zones[1]", "not in region us-central1"),
    ("GPU not on the cloud", lambda v: _set(v, ["nodePools", "gpu", 1, "gpu"], "a10g"),
     "ai-platform:nodePools.gpu[1].gpu", "a10g is not offered on GKE"),
    ("gpusPerNode not offered", lambda v: _set(v, ["nodePools", "gpu", 0, "gpusPerNode"], 3),
     "ai-platform:nodePools.gpu[0].gpusPerNode", "a100-80gb on GKE comes with"),
    ("provider block missing", lambda v: v["cluster"].pop("gcp"), "ai-platform:cluster", "provider gke needs a 'gcp' "
                                                                                         "block"),
    ("provider block of another cloud", lambda v: _set(v, ["cluster", "eks"], {}), "ai-platform:cluster",
     "block 'eks' belongs to provider eks"),
    ("unknown model without paramsB", lambda v: _set(v, ["serving", "models", 0, "model"], "acme/secret-13b"),
     "ai-platform:serving.models[0].model", "give its shape one of three ways: shapeFrom"),
    ("gateway image :latest", lambda v: _set(v, ["rag", "gateway", "image"], "registry.example.com/gw:latest"),
     "ai-platform:rag.gateway.image", "must be pinned"),
    ("object key given as a string", lambda v: v.update(budget="lots"), "ai-platform:budget", "valid dictionary"),
    ("duplicate pool names", lambda v: _set(v, ["nodePools", "gpu", 1, "name"], "a100-spot"),
     "ai-platform:nodePools.gpu", "pool name 'a100-spot' is used 2 times"),
    ("tensorParallel on a MIG pool", lambda v: _set(v, ["serving", "models", 0, "tensorParallel"], 2),
     "ai-platform:serving.models[0].tensorParallel", "exceeds the 1 GPUs per node"),
    ("namespace not a DNS label", lambda v: _set(v, ["tenancy", "namespaces"], {"AI_Inference": {}}),
     "ai-platform:tenancy.namespaces", "'AI_Inference' is not a DNS label"),
    ("bad CIDR", lambda v: _set(v, ["cluster", "gcp", "podsCidr"], "10.16.0.1/14"),
     "ai-platform:cluster.gcp.podsCidr", "host bits zero"),
    ("mixed MIG strategy on GKE", lambda v: _set(v, ["gpuStack", "migStrategy"], "mixed"),
     "ai-platform:gpuStack.migStrategy", "use single on gke"),
    ("pool too small for max replicas", lambda v: _set(v, ["serving", "models", 0, "replicas"], {"min": 1, "max": 40}),
     "ai-platform:nodePools.gpu[0].max", "needs 6 nodes for its models at max replicas"),
]


@pytest.mark.parametrize("name,mutate,path,text", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_path_and_allowed(name, mutate, path, text):
    values = _dev()
    mutate(values)
    message = errors_of(values, "Pulumi.dev.yaml")
    assert message.startswith("invalid stack configuration in Pulumi.dev.yaml")
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(f"- {path}:")), None)
    assert line is not None, f"no problem reported at {path}:\n{message}"
    assert text in message, message


def test_tensor_parallel_larger_than_gpus_per_node():
    values = _prod()
    _set(values, ["serving", "models", 0, "tensorParallel"], 16)
    message = errors_of(values)
    assert "ai-platform:serving.models[0].tensorParallel: 16 exceeds the 8 GPUs per node of pool 'h100-od'" in message


def test_fallback_pool_must_be_on_demand():
    values = _prod()
    _set(values, ["serving", "models", 1, "fallbackPool"], "a100-spot")
    message = errors_of(values)
    assert "ai-platform:serving.models[1].fallbackPool" in message


def test_all_problems_reported_together():
    values = _dev()
    _set(values, ["cluster", "provider"], "aks")
    _set(values, ["nodePools", "gpu", 0, "max"], "many")
    message = errors_of(values)
    assert "ai-platform:cluster.provider" in message and "ai-platform:nodePools.gpu[0].max" in message
    assert "(2 problem(s))" in message


def test_70b_fp16_on_one_a100_80gb_is_rejected_with_the_numbers():
    values = _dev()  # GKE sells A100-80GB one per node (a2-ultragpu-1g)
    values["serving"]["models"] = [{
        "name": "llama70", "engine": "vllm", "model": "meta-llama/Llama-3.1-70B-Instruct", "maxModelLen": 8192,
        "pool": "a100-od", "tensorParallel": 1, "replicas": {"min": 1, "max": 1}}]
    values["nodePools"]["gpu"].append({"name": "a100-od", "gpu": "a100-80gb", "gpusPerNode": 1, "capacity": "on-demand",
                                       "min": 0, "max": 2})
    message = errors_of(values)
    assert "ai-platform:serving.models[0]: model 'llama70': does not fit: needs 1" in message
    assert "GiB per 1x a100-80gb" in message and "gpuMemoryUtilization 0.9" in message
    assert "raise tensorParallel" not in message  # a 1-GPU pool cannot offer more
    assert "use a quantized checkpoint" in message


def test_awq_7b_on_a_1g10gb_slice_is_accepted():
    values = _dev()  # dev serves Qwen2.5-7B-Instruct-AWQ on a100-80gb 1g.10gb slices
    cfg, plan = validate(values, "Pulumi.dev.yaml")
    qwen = plan.model("qwen7b")
    assert qwen.unit == "1g.10gb slice" and qwen.fits
    assert qwen.need_per_unit_gib < qwen.usable_per_unit_gib


def test_hf_token_must_be_a_secret_and_gated_models_need_it():
    values = _prod()
    values["serving"]["models"][1]["model"] = "meta-llama/Llama-3.1-8B-Instruct"
    result = run_config(values)
    assert isinstance(result.error, ConfigError) and "ai-platform:hfToken: required" in str(result.error)
    assert result.resources == []
    plain = dict(values, hfToken="hf_plaintext")
    result = run_config(plain)
    assert isinstance(result.error, ConfigError) and "ai-platform:hfToken: must be a secret" in str(result.error)
    assert "hf_plaintext" not in str(result.error)
    ok = run_config(dict(values, hfToken="hf_secret"), secrets=["hfToken"])
    assert ok.error is None


def test_bad_config_registers_no_resource():
    values = _dev()
    _set(values, ["nodePools", "gpu", 0, "sharing"], {"strategy": "mig", "profile": "9g.99gb"})
    result = run_config(values, stack="dev")
    assert isinstance(result.error, ConfigError)
    assert "Pulumi.dev.yaml" in str(result.error)
    assert result.resources == []


# --------------------------------------------------------------------------- property-based


def _json_values():
    return st.recursive(
        st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats(allow_nan=False, width=32)
        | st.text(max_size=12),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
        max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(CONFIG_KEYS[:-1] + ("bogus",)), junk=_json_values())
def test_any_junk_value_raises_only_config_error(key, junk):
    values = _dev()
    values[key] = junk
    try:
        validate(values, "Pulumi.dev.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("invalid stack configuration in Pulumi.dev.yaml")
        assert "ai-platform:" in str(exc)


GPU_CHOICES = [("a100-80gb", 1, "mig", "1g.10gb"), ("a100-80gb", 8, "exclusive", None), ("l4", 1, "exclusive", None),
               ("h100-80gb", 8, "exclusive", None), ("a100-40gb", 1, "mig", "1g.5gb"), ("l4", 1, "time-slicing", None)]


@st.composite
def valid_gke_stacks(draw):
    pools = []
    choices = draw(st.lists(st.sampled_from(GPU_CHOICES), min_size=1, max_size=4))
    for i, (gpu, n, strategy, profile) in enumerate(choices):
        lo = draw(st.integers(0, 3))
        sharing = {"strategy": strategy}
        if profile:
            sharing["profile"] = profile
        if strategy == "time-slicing":
            sharing["replicas"] = draw(st.integers(2, 4))
        capacity = draw(st.sampled_from(["spot", "on-demand"]))
        pools.append({"name": f"p{i}", "gpu": gpu, "gpusPerNode": n, "capacity": capacity,
                      "min": lo, "max": lo + draw(st.integers(6, 20)), "sharing": sharing})
    models = []
    for j in range(draw(st.integers(0, 3))):
        pool = draw(st.sampled_from(pools))
        small = pool["sharing"]["strategy"] != "exclusive"
        model = "Qwen/Qwen2.5-0.5B-Instruct" if small else "Qwen/Qwen2.5-7B-Instruct"
        models.append({"name": f"m{j}", "engine": "vllm", "model": model,
                       "maxModelLen": draw(st.sampled_from([1024, 2048, 4096])), "pool": pool["name"],
                       "replicas": {"min": 1, "max": draw(st.integers(1, 2))}})
    return {"cluster": {"provider": "gke", "name": "ai-x", "region": "us-central1", "zones": ["us-central1-a"],
                        "gcp": {"project": "acme-ai-test"}},
            "nodePools": {"system": {"machineType": "e2-standard-4"}, "gpu": pools},
            # replicas may span nodes: a shared model cache (ReadWriteOnce keeps a model on one node)
            "serving": {"models": models, "cacheAccessMode": "ReadWriteMany", "storageClass": "standard-rwx"}}


@settings(max_examples=100, deadline=None)
@given(values=valid_gke_stacks())
def test_valid_generated_configs_never_raise(values):
    cfg, plan = validate(values, "Pulumi.gen.yaml")
    assert len(plan.pools) == len(cfg.node_pools.gpu)
    assert plan.gpus_max == sum(p["max"] * p["gpusPerNode"] for p in values["nodePools"]["gpu"])
