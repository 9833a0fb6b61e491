"""Model shapes from config.json: the parser (hand-computed tiny configs), `shapeFrom`, and the Hub fetch option.

The Hub is a local HTTP server on 127.0.0.1 (HF_ENDPOINT); nothing here touches the internet.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from config import ConfigError, model_files, validate
from config.capacity import shape_of
from config.hub import FetchError, fetch
from config.loader import shape_prepass
from config.model_files import ShapeFileError, read_files, read_shape, shape_from_config
from config.models import ServedModel, StackConfig
from config.shape import kv_bytes

# --------------------------------------------------------------------------------------------- the parser

TINY = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100, "max_position_embeddings": 512}


@pytest.fixture
def exact(monkeypatch):
    """Parameter counts in units, not rounded billions: the tiny configs below have < 500,000 parameters, which
    round to 0.0B and would make every count assertion pass whatever the formula."""
    monkeypatch.setattr(model_files, "_billions", lambda n: n)


def test_dense_llama_parameters_by_hand(exact):
    shape = shape_from_config(TINY, file="tiny/config.json")
    # head_dim = 64 / 4 = 16; attention q 64x64 + k,v 2x(64x32) + o 64x64 = 4096 + 4096 + 4096 = 12288
    # MLP 3 x 64 x 128 = 24576; norms 2 x 64 = 128 -> 36992 per layer, x 2 = 73984; final norm 64
    # embeddings 100 x 64 = 6400, untied LM head another 6400 -> 73984 + 64 + 12800 = 86848
    assert shape.params_b == 86848
    big = shape_from_config({**TINY, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
                             "intermediate_size": 14336, "vocab_size": 128256, "num_hidden_layers": 32})
    # Llama 3.1 8B: attention 2x4096x4096 + 2x4096x1024 = 41943040; MLP 3x4096x14336 = 176160768; norms 8192
    # -> 218112000 x 32 = 6979584000; + final norm 4096 + embeddings 2 x 128256 x 4096 = 1050673152
    # = 8030261248 -> 8.03B (the model card's 8.03B)
    assert big.params_b == 8030261248 and big.head_dim == 128 and big.kv_heads == 8
    assert (big.active_params_b, big.experts, big.sliding_layers, big.native_format) == (None, 0, 0, "none")
    assert big.source == "config.json" and not big.estimated and big.task == "generate"


def test_qwen3_moe_expert_count_follows_sparse_step_and_mlp_only_layers(exact):
    cfg = {**TINY, "model_type": "qwen3_moe", "num_hidden_layers": 4, "head_dim": 16, "num_experts": 8,
           "num_experts_per_tok": 2, "moe_intermediate_size": 32, "decoder_sparse_step": 2, "mlp_only_layers": [3]}
    shape = shape_from_config(cfg)
    # MoE layers: (i+1) % 2 == 0 -> 1, 3; minus mlp_only 3 -> only layer 1.  One expert: 3 x 64 x 32 = 6144;
    # 8 experts = 49152 routed parameters in the one MoE layer.
    assert shape.expert_params_b == 49152
    assert (shape.experts, shape.experts_per_token) == (8, 2)
    # total: attention 12288 + q/k norms 2x16 = 12320, norms 128 per layer; 3 dense MLPs of 24576; the MoE layer
    # 49152 + router 64x8 = 512; final norm 64; embeddings 12800
    total = 4 * (12320 + 128) + 3 * 24576 + 49152 + 512 + 64 + 12800
    active = total - 6400 - (8 - 2) * 6144  # minus the input embedding and the 6 idle experts
    assert total == 186048 and active == 142784
    assert shape.params_b == total and shape.active_params_b == active


def test_deepseek_mla_shape_and_first_dense_layers(exact):
    cfg = {"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 2,
           "q_lora_rank": 8, "kv_lora_rank": 16, "qk_nope_head_dim": 4, "qk_rope_head_dim": 2, "v_head_dim": 4,
           "intermediate_size": 96, "moe_intermediate_size": 8, "n_routed_experts": 4, "n_shared_experts": 1,
           "num_experts_per_tok": 2, "first_k_dense_replace": 1, "vocab_size": 50, "max_position_embeddings": 256,
           "quantization_config": {"quant_method": "fp8", "weight_block_size": [128, 128]}}
    shape = shape_from_config(cfg)
    assert (shape.attention, shape.kv_lora_rank, shape.qk_rope_head_dim) == ("mla", 16, 2)
    assert shape.kv_heads == 2 and shape.head_dim == 6 and shape.native_format == "fp8"
    # MoE layers 1 and 2 (first_k_dense_replace 1); one expert 3 x 64 x 8 = 1536; 4 experts x 2 layers = 12288
    assert shape.expert_params_b == 12288 and shape.experts == 4
    # MLA caches kv_lora_rank + qk_rope_head_dim = 18 elements per token and layer: 18 x 3 layers x 2 bytes x 10
    assert kv_bytes(shape, 10) == 18 * 3 * 2 * 10


def test_gpt_oss_layer_types_and_mxfp4(exact):
    cfg = {"model_type": "gpt_oss", "hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
           "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 64, "num_local_experts": 4,
           "experts_per_token": 2, "sliding_window": 128, "vocab_size": 100, "max_position_embeddings": 4096,
           "attention_bias": True, "layer_types": ["sliding_attention", "full_attention"] * 2,
           "quantization_config": {"quant_method": "mxfp4"}}
    shape = shape_from_config(cfg)
    assert (shape.sliding_window, shape.sliding_layers, shape.native_format) == (128, 2, "mxfp4")
    # one expert with biases: 3 x 64 x 64 + 2 x 64 + 64 = 12480; 4 experts x 4 layers = 199680
    assert shape.expert_params_b == 199680 and shape.experts_per_token == 2
    # 2 sliding layers hold at most 128 tokens: KV of 1000 tokens = 2x2x16 elements x 2 bytes x (2x1000 + 2x128)
    assert kv_bytes(shape, 1000) == 2 * 2 * 16 * 2 * (2 * 1000 + 2 * 128)


def test_gemma3_wrapper_defaults_and_sliding_pattern():
    cfg = {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"],
           "text_config": {"model_type": "gemma3_text", "hidden_size": 64, "num_hidden_layers": 12,
                           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
                           "intermediate_size": 128, "sliding_window": 1024}}
    shape = shape_from_config(cfg)
    # transformers' Gemma3TextConfig defaults fill what the Hub file omits
    assert (shape.vocab, shape.max_context, shape.tied_embeddings) == (262208, 131072, True)
    # pattern 6: layers 5 and 11 are global, the other 10 slide
    assert (shape.sliding_window, shape.sliding_layers) == (1024, 10)


def test_llama4_chunked_layers_count_as_sliding(exact):
    cfg = {"model_type": "llama4", "text_config": {
        "model_type": "llama4_text", "hidden_size": 64, "num_hidden_layers": 8, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 32, "intermediate_size_mlp": 128,
        "num_local_experts": 4, "num_experts_per_tok": 1, "interleave_moe_layer_step": 2, "no_rope_layers": [],
        "attention_chunk_size": 8192, "vocab_size": 100, "max_position_embeddings": 65536}}
    shape = shape_from_config(cfg)
    # interval 4: layers 3 and 7 are NoPE (global), 6 of 8 chunked; MoE every 2nd layer: 1, 3, 5, 7
    assert (shape.sliding_window, shape.sliding_layers) == (8192, 6)
    # routed experts 4 x 3 x 64 x 32 = 24576 per MoE layer x 4 layers = 98304
    assert shape.expert_params_b == 98304


def test_encoder_is_an_embedding_model(exact):
    cfg = {"model_type": "xlm-roberta", "architectures": ["XLMRobertaModel"], "hidden_size": 64,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
           "max_position_embeddings": 66, "type_vocab_size": 1}
    shape = shape_from_config(cfg)
    assert shape.task == "embed" and kv_bytes(shape, 100) == 0
    # embeddings (100 + 66 + 1) x 64 + 2 x 64 = 10816; layer: 4x64x64 + 4x64 + 2x64 = 16768 attention and
    # 2x64x128 + 128 + 64 + 2x64 = 16704 MLP = 33472, x 2 = 66944; pooler 64x64 + 64 = 4160 -> 81920
    assert shape.params_b == 81920


@pytest.mark.parametrize(("cfg", "text"), [
    ({**TINY, "num_hidden_layers": None}, "missing key num_hidden_layers"),
    ({k: v for k, v in TINY.items() if k != "vocab_size"}, "missing key vocab_size"),
    ({**TINY, "model_type": "mamba"}, "unsupported model_type 'mamba'; supported: bert, deepseek_v2"),
    ({**TINY, "quantization_config": {"quant_method": "bitsandbytes"}},
     "unsupported quantization_config.quant_method 'bitsandbytes'"),
    ({"model_type": "gemma3"}, "missing key text_config"),
    ({"model_type": "llama4", "text_config": {"model_type": "llama4_text", "hidden_size": 64}},
     "missing key text_config.num_hidden_layers"),
    ({"hidden_size": 64}, "missing key model_type"),
])
def test_unsupported_or_incomplete_config_names_file_and_key(cfg, text):
    with pytest.raises(ShapeFileError) as info:
        shape_from_config(cfg, file="models/x/config.json")
    assert str(info.value).startswith("models/x/config.json: ") and text in str(info.value)


@pytest.mark.parametrize(("weights", "fmt"), [({"num_bits": 8, "type": "float"}, "fp8"),
                                              ({"num_bits": 8, "type": "int"}, "int8"),
                                              ({"num_bits": 4, "type": "float"}, "nvfp4"),
                                              ({"num_bits": 4, "type": "int"}, "gptq")])
def test_compressed_tensors_format_from_the_weights_scheme(weights, fmt):
    quant = {"quant_method": "compressed-tensors", "config_groups": {"group_0": {"weights": weights}}}
    assert shape_from_config({**TINY, "quantization_config": quant}).native_format == fmt


def test_malformed_value_is_a_shape_error_not_a_crash():
    cfg = {**TINY, "model_type": "qwen3_moe", "num_experts": 2, "num_experts_per_tok": 1,
           "moe_intermediate_size": 8, "mlp_only_layers": 5}
    with pytest.raises(ShapeFileError, match=r"x\.json: malformed value"):
        shape_from_config(cfg, file="x.json")


def _write(folder: Path, config: dict, total_size: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    if total_size is not None:
        (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total_size}}))
    return folder / "config.json"


def test_index_next_to_config_gives_exact_bytes(tmp_path):
    path = _write(tmp_path / "m", TINY, total_size=123456)
    assert read_files(path).weights_bytes == 123456
    (tmp_path / "m" / "model.safetensors.index.json").write_text('{"metadata": {}}')
    with pytest.raises(ShapeFileError, match=r"model.safetensors.index.json: missing key metadata.total_size"):
        read_files(path)


def test_read_shape_parses_each_file_version_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "m", TINY)
    first = read_shape("m/config.json")
    assert read_shape("m/config.json") is first  # cached
    _write(tmp_path / "m", {**TINY, "num_hidden_layers": 3})
    os.utime(tmp_path / "m" / "config.json", ns=(1, 1))  # a new file version (mtime) is read again
    again = read_shape("m/config.json")
    assert not isinstance(again, ShapeFileError) and again.layers == 3
    # the same relative path in another project directory, same mtime and size: not the cached shape
    _write(tmp_path / "other" / "m", {**TINY, "num_hidden_layers": 4})
    os.utime(tmp_path / "other" / "m" / "config.json", ns=(1, 1))
    monkeypatch.chdir(tmp_path / "other")
    other = read_shape("m/config.json")
    assert not isinstance(other, ShapeFileError) and other.layers == 4
    missing = read_shape("nope/config.json")
    assert isinstance(missing, ShapeFileError) and "no such file" in str(missing)


# --------------------------------------------------------------------------------------------- shapeFrom


def _stack(models: list[dict], **serving) -> dict:
    pools = [{"name": "p", "gpu": "h100-80gb", "gpusPerNode": 8, "capacity": "on-demand", "min": 0, "max": 1,
              "forceUpgrade": True}]
    return {"cluster": {"provider": "gke", "name": "ai-t", "region": "us-central1", "zones": ["us-central1-a"],
                        "gcp": {"project": "acme-ai-test"}},
            "nodePools": {"system": {"machineType": "e2-standard-4"}, "gpu": pools},
            "serving": {"models": models, **serving}}


def _served(**kw) -> dict:
    return {"name": "m", "engine": "vllm", "model": "acme/tiny", "maxModelLen": 512, "pool": "p",
            "replicas": {"min": 1, "max": 1}, **kw}


def test_shape_from_is_read_relative_to_the_project_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "shapes" / "tiny", {**TINY, "hidden_size": 4096, "num_attention_heads": 32,
                                          "num_key_value_heads": 8, "intermediate_size": 14336,
                                          "vocab_size": 128256, "num_hidden_layers": 32}, total_size=16060522496)
    cfg, plan = validate(_stack([_served(shapeFrom="shapes/tiny/config.json")]), "Pulumi.t.yaml")
    shape = shape_of(cfg.serving.models[0])
    assert shape is not None and shape.source == "config.json" and shape.origin == "shapes/tiny/config.json"
    # exact bytes from the index: 16060522496 / 2^30 = 14.96 GiB of weights
    assert plan.model("m").weights_gib == pytest.approx(16060522496 / 2**30, abs=0.01)


@pytest.mark.parametrize(("files", "extra", "text"), [
    ({}, {}, "missing.json: no such file"),
    ({"missing.json": "{not json"}, {}, "missing.json: is not valid JSON"),
    ({"missing.json": json.dumps({**TINY, "model_type": "rwkv"})}, {}, "unsupported model_type 'rwkv'"),
    ({"missing.json": json.dumps(TINY)}, {"paramsB": 7}, "remove paramsB and architecture"),
])
def test_bad_shape_from_is_a_config_error_at_its_key(tmp_path, monkeypatch, files, extra, text):
    monkeypatch.chdir(tmp_path)
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    with pytest.raises(ConfigError) as info:
        validate(_stack([_served(shapeFrom="missing.json", **extra)]), "Pulumi.t.yaml")
    lines = [ln for ln in str(info.value).splitlines() if "serving.models[0].shapeFrom:" in ln]
    assert lines and text in lines[0], str(info.value)


# --------------------------------------------------------------------------------------------- the Hub


class _Hub(http.server.BaseHTTPRequestHandler):
    """Stands in for huggingface.co: /<repo>/resolve/<revision>/<file>; `acme/gated` needs `Bearer good`."""

    files: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Authorization")))
        if self.path.startswith("/acme/gated/") and self.headers.get("Authorization") != "Bearer good":
            self.send_response(401)
            self.end_headers()
            return
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(monkeypatch) -> Iterator[type[_Hub]]:
    _Hub.files = {"/acme/tiny/resolve/main/config.json": json.dumps(TINY).encode(),
                  "/acme/tiny/resolve/main/model.safetensors.index.json": b'{"metadata": {"total_size": 4242}}',
                  "/acme/gated/resolve/v1.0/config.json": json.dumps(TINY).encode()}
    _Hub.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hub)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    yield _Hub
    server.shutdown()
    server.server_close()


def test_fetch_caches_config_and_index_once(hub, tmp_path):
    folder = fetch("acme/tiny", "main", tmp_path / "cache", token="good")
    assert folder == tmp_path / "cache" / "acme" / "tiny"
    shape = read_files(folder / "config.json")
    assert shape.weights_bytes == 4242 and not shape.gated
    # a public repo never sees the token
    assert all(auth is None for _, auth in hub.seen) and len(hub.seen) == 2
    fetch("acme/tiny", "main", tmp_path / "cache", token=None)
    assert len(hub.seen) == 2  # cached at that revision: nothing downloaded again


def test_gated_repo_401_without_token_and_success_with_one(hub, tmp_path):
    with pytest.raises(FetchError, match=r"HTTP 401 .* gated or private; set the hfToken secret"):
        fetch("acme/gated", "v1.0", tmp_path / "cache", token=None)
    with pytest.raises(FetchError, match=r"HTTP 401 .* the token was refused"):
        fetch("acme/gated", "v1.0", tmp_path / "cache", token="bad")
    folder = fetch("acme/gated", "v1.0", tmp_path / "cache", token="good")
    shape = read_files(folder / "config.json")
    assert shape.gated and shape.weights_bytes is None  # no index: 404 is fine (an unsharded model)


def test_fetch_refuses_a_name_that_is_not_a_repo_id(tmp_path):
    with pytest.raises(FetchError, match="not a Hugging Face repo id"):
        fetch("../../etc/passwd", "main", tmp_path, token=None)


def test_plan_fetches_outside_the_catalog_when_fetch_is_on(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, plan = validate(_stack([_served()], shapes={"fetch": True}), "Pulumi.t.yaml")
    assert cfg.serving.models[0].shape_from == os.path.join(".cache", "model-shapes", "acme", "tiny", "config.json")
    assert plan.model("m").weights_gib == pytest.approx(4242 / 2**30)


def test_gated_fetch_error_names_the_model_key(hub, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = _stack([_served(model="acme/gated")], shapes={"fetch": True, "revision": "v1.0"})
    with pytest.raises(ConfigError) as info:
        validate(values, "Pulumi.t.yaml")
    assert "serving.models[0].model: serving.shapes.fetch could not fetch 'acme/gated'" in str(info.value)
    cfg, _ = validate(values, "Pulumi.t.yaml", hf_token="good")  # the hfToken secret's value
    assert shape_of(cfg.serving.models[0]).gated  # type: ignore[union-attr]


def test_offline_uses_the_cache_else_reports_the_ways(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # would fail if anything were fetched
    with pytest.raises(ConfigError, match=r"serving.models\[0\].model: 'acme/tiny' is not in the model catalog; "
                                          "give its shape one of three ways: shapeFrom"):
        validate(_stack([_served()]), "Pulumi.t.yaml")
    _write(tmp_path / ".cache" / "model-shapes" / "acme" / "tiny", TINY)
    cfg, _ = validate(_stack([_served()]), "Pulumi.t.yaml")  # fetch off: the cache is read
    assert shape_of(cfg.serving.models[0]) is not None


def test_prepass_leaves_catalog_and_explicit_models_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / ".cache" / "model-shapes" / "Qwen" / "Qwen3-8B", TINY)
    cfg = StackConfig.model_validate(_stack([_served(model="Qwen/Qwen3-8B"),
                                             _served(name="n", paramsB=7)], shapes={"fetch": True}))
    out, issues = shape_prepass(cfg)
    assert out is cfg and issues == []  # nothing fetched, nothing rewritten


def test_canary_of_another_model_does_not_inherit_shape_from(tmp_path, monkeypatch):
    from config.capacity import canary_model

    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "s", TINY)
    stable = ServedModel.model_validate(_served(shapeFrom="s/config.json",
                                                canary={"model": "Qwen/Qwen3-8B", "weight": 10}))
    assert canary_model(stable).shape_from is None
