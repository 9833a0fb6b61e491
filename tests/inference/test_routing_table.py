"""The routing table (config/inference.py): for a config with several models, adapters and canaries, every model
name a client sends ends at the right pool with the right weight; and the config errors around it.

Expected tables are written out by hand from the config below, not computed from the code under test.
"""

from __future__ import annotations

import copy

import pytest

from config import ConfigError, inference, validate
from config.capacity import served_models
from tools import plan as plan_tool

from ..conftest import stack_values


def _config() -> dict:
    """prod's pools and gateway with three models: one with two adapters and a 25% canary of new weights, one with
    an adapter and a same-weights canary at 0%, one on TGI (no endpoint picker)."""
    values = copy.deepcopy(stack_values("prod"))
    serving = values["serving"]
    serving["models"] = [
        {"name": "chat", "engine": "vllm", "model": "Qwen/Qwen2.5-7B-Instruct", "maxModelLen": 8192,
         "pool": "h100-od", "replicas": {"min": 2, "max": 4},
         "adapters": [{"name": "chat-sql", "source": "acme-ai/chat-sql-lora"},
                      {"name": "chat-support", "source": "acme-ai/chat-support-lora"}],
         "canary": {"model": "meta-llama/Llama-3.1-8B-Instruct", "weight": 25}},
        {"name": "big", "engine": "vllm", "model": "Qwen/Qwen2.5-72B-Instruct-AWQ", "quantization": "awq",
         "maxModelLen": 16384, "pool": "h100-od", "tensorParallel": 2, "replicas": {"min": 1, "max": 2},
         "adapters": [{"name": "big-legal", "source": "acme-ai/big-legal-lora"}],
         "canary": {"weight": 0, "replicas": {"min": 1, "max": 1}}},
        {"name": "tgi-chat", "engine": "tgi", "model": "mistralai/Mistral-7B-Instruct-v0.3", "maxModelLen": 8192,
         "pool": "h100-od", "replicas": {"min": 1, "max": 2}},
    ]
    values["budget"] = {"maxGpus": 100, "maxMonthlyUsd": 1_000_000}
    values["tenancy"]["namespaces"]["ai-inference"]["podSecurity"] = "baseline"  # the TGI image runs as root
    return values


def _table(values: dict) -> dict[str, tuple[str | None, list[tuple[str, str, str, int]]]]:
    cfg, _ = validate(values, "Pulumi.test.yaml")
    return {r.model: (r.adapter, [(b.server, b.kind, b.name, b.weight) for b in r.backends])
            for r in inference.routing_table(cfg)}


def test_every_model_name_ends_at_the_right_pool_with_the_right_weight():
    assert _table(_config()) == {
        "chat": (None, [("chat", "InferencePool", "chat", 75), ("chat-canary", "InferencePool", "chat-canary", 25)]),
        # The canary serves other weights: the adapters are trained for the stable weights only.
        "chat-sql": ("chat-sql", [("chat", "InferencePool", "chat", 75)]),
        "chat-support": ("chat-support", [("chat", "InferencePool", "chat", 75)]),
        "big": (None, [("big", "InferencePool", "big", 100), ("big-canary", "InferencePool", "big-canary", 0)]),
        # Same weights in the canary (a new engine setting, not new weights): it loads the adapter too.
        "big-legal": ("big-legal", [("big", "InferencePool", "big", 100),
                                    ("big-canary", "InferencePool", "big-canary", 0)]),
        "tgi-chat": (None, [("tgi-chat", "Service", "tgi-chat", 100)]),
        "embedding": (None, [("embedding", "Service", "embedding", 100)]),
    }


def test_shares_are_fractions_of_the_route():
    cfg, _ = validate(_config(), "Pulumi.test.yaml")
    routes = {r.model: r for r in inference.routing_table(cfg)}
    assert routes["chat"].share("chat") == 0.75 and routes["chat"].share("chat-canary") == 0.25
    assert routes["chat-sql"].share("chat") == 1.0  # the only backend that loads the adapter
    assert routes["big"].share("big-canary") == 0.0


def test_a_canary_is_a_planned_and_priced_model_server_answering_to_the_stable_name():
    cfg, plan = validate(_config(), "Pulumi.test.yaml")
    canaries = {s.model.name: s for s in served_models(cfg) if s.canary_of}
    assert set(canaries) == {"chat-canary", "big-canary"}
    chat = canaries["chat-canary"].model
    assert (chat.model, chat.pool, chat.replicas.min, chat.replicas.max, chat.critical) == \
        ("meta-llama/Llama-3.1-8B-Instruct", "h100-od", 1, 4, False)
    assert canaries["big-canary"].model.quantization == "awq"  # same weights: the stable format
    assert plan.model("chat-canary").monthly_usd_max > 0


def test_raising_and_removing_a_canary_is_one_change():
    values = _config()
    values["serving"]["models"][0]["canary"]["weight"] = 60
    assert _table(values)["chat"][1] == [("chat", "InferencePool", "chat", 40),
                                         ("chat-canary", "InferencePool", "chat-canary", 60)]
    del values["serving"]["models"][0]["canary"]
    assert _table(values)["chat"][1] == [("chat", "InferencePool", "chat", 100)]
    cfg, _ = validate(values, "Pulumi.test.yaml")
    assert "chat-canary" not in {s.model.name for s in served_models(cfg)}


def test_the_plan_prints_the_split():
    routing = [{"model": "chat", "adapterOf": None,
                "backends": [{"server": "chat", "kind": "InferencePool", "name": "chat", "percent": 75.0},
                             {"server": "chat-canary", "kind": "InferencePool", "name": "chat-canary",
                              "percent": 25.0}]},
               {"model": "chat-sql", "adapterOf": "chat",
                "backends": [{"server": "chat", "kind": "InferencePool", "name": "chat", "percent": 100.0}]}]
    assert plan_tool.routing_lines(routing) == [
        "  chat -> chat 75% (InferencePool chat), chat-canary 25% (InferencePool chat-canary)",
        "  chat-sql (adapter of chat) -> chat 100% (InferencePool chat)"]


def _errors(values: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.test.yaml")
    return str(info.value)


def _with(mutate) -> dict:
    values = _config()
    mutate(values)
    return values


BAD = [
    ("adapter name taken by a model",
     lambda v: v["serving"]["models"][0]["adapters"].append({"name": "big", "source": "acme-ai/x"}),
     "ai-platform:serving.models[0].adapters[2].name", "'big' is already a model or adapter name"),
    ("adapters on TGI",
     lambda v: v["serving"]["models"][2].update(adapters=[{"name": "t-sql", "source": "acme-ai/t"}]),
     "ai-platform:serving.models[2].adapters", "LoRA adapters are served by vllm only"),
    ("canary on a missing pool", lambda v: v["serving"]["models"][0]["canary"].update(pool="nope"),
     "ai-platform:serving.models[0].canary.pool", "no GPU pool named 'nope'"),
    ("canary weight over 100", lambda v: v["serving"]["models"][0]["canary"].update(weight=120),
     "ai-platform:serving.models[0].canary.weight", "less than or equal to 100"),
    ("canary without the gateway", lambda v: v["inferenceGateway"].update(enabled=False),
     "ai-platform:serving.models[0].canary", "set inferenceGateway.enabled: true"),
    ("gateway without the mesh", lambda v: v["mesh"].update(enabled=False),
     "ai-platform:inferenceGateway.enabled", "set mesh.enabled: true"),
    ("a model named like a canary",
     lambda v: v["serving"]["models"].append({**v["serving"]["models"][2], "name": "chat-canary"}),
     "ai-platform:serving.models[3].name", "is the name of the canary of 'chat'"),
    ("one endpoint picker on a protected stack", lambda v: v["inferenceGateway"]["router"].update(replicas=1),
     "ai-platform:inferenceGateway.router.replicas", "use 2 or more"),
    ("anonymous public clients on a protected stack",
     lambda v: v["inferenceGateway"]["edge"].update(auth={"mode": "none"}),
     "ai-platform:inferenceGateway.edge.auth.mode", "use jwt"),
    ("jwt without issuer settings", lambda v: v["inferenceGateway"]["edge"].update(auth={"mode": "jwt"}),
     "ai-platform:inferenceGateway.edge.auth.jwt", "needs jwt: {issuer"),
    ("objective for an unknown namespace",
     lambda v: v["inferenceGateway"]["objectives"][0].update(namespaces=["nobody"]),
     "ai-platform:inferenceGateway.objectives[0].namespaces", "'nobody' is not one of tenancy.namespaces"),
    ("objective claim values without the claim",
     lambda v: v["inferenceGateway"]["edge"]["auth"]["jwt"].pop("objectiveClaim"),
     "ai-platform:inferenceGateway.objectives[0].claimValues", "need inferenceGateway.edge.auth.jwt.objectiveClaim"),
    ("the gateway exposed through an absent edge", lambda v: v["inferenceGateway"].pop("edge"),
     "ai-platform:inferenceGateway.edge", "there is no public Gateway"),
    ("Ingress settings that would be ignored",
     lambda v: v["rag"]["gateway"].update(ingress={"className": "nginx"}),
     "ai-platform:rag.gateway.ingress", "the Ingress settings would be ignored"),
    ("router settings on a TGI model", lambda v: v["serving"]["models"][2].update(router={"failureMode": "FailClose"}),
     "ai-platform:serving.models[2].router", "the endpoint picker scores vllm servers"),
]


@pytest.mark.parametrize("name,mutate,path,text", BAD, ids=[b[0] for b in BAD])
def test_bad_gateway_config_names_the_key_and_what_is_allowed(name, mutate, path, text):
    message = _errors(_with(mutate))
    assert path in message and text in message, message
    assert "Pulumi.test.yaml" in message
