"""The model catalog equals the config.json copies it ships: parse each with config.model_files and compare.

Also checks the parameter formula against the figures the model cards publish, so a wrong formula (not only a
drifted file) fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from config import catalog
from config.model_catalog import SHAPES_DIR
from config.model_files import model_arch, read_files

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.relative_to(ROOT / SHAPES_DIR).as_posix()
                 for p in (ROOT / SHAPES_DIR).glob("*/*/config.json"))

# Entries older than issue 19 whose config.json is not shipped (their numbers are noted in config/model_catalog.py).
NOT_SHIPPED = {
    "Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-3B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.2-1B-Instruct",
    "mistralai/Mistral-7B-Instruct-v0.3",
}

# (total, active) parameters in billions as the model cards / READMEs state them, and how far the config formula
# may be from them: the formula leaves out vision towers (Llama 4, Gemma 3) and, for "active", the input embedding
# that Qwen and Meta count (config/model_files.py).
CARDS = {
    "Qwen/Qwen3-8B": (8.2, None, 0.02),
    "Qwen/Qwen3-32B": (32.8, None, 0.01),
    "Qwen/Qwen3-30B-A3B": (30.5, 3.3, 0.10),
    "Qwen/Qwen3-235B-A22B": (235, 22, 0.03),
    "meta-llama/Llama-3.3-70B-Instruct": (70.6, None, 0.01),
    "meta-llama/Llama-4-Scout-17B-16E-Instruct": (109, 17, 0.06),
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct": (400, 17, 0.06),
    "openai/gpt-oss-20b": (20.91, 3.61, 0.01),
    "openai/gpt-oss-120b": (116.83, 5.13, 0.01),
    "deepseek-ai/DeepSeek-V3": (671, 36.6, 0.01),
    "google/gemma-3-27b-it": (27.4, None, 0.02),
    "mistralai/Mistral-Small-3.2-24B-Instruct-2506": (24, None, 0.02),
    "Qwen/Qwen3-Embedding-0.6B": (0.6, None, 0.01),
    "BAAI/bge-m3": (0.568, None, 0.01),
}


def test_every_catalog_entry_ships_its_config_or_is_listed():
    assert set(SHIPPED) == set(catalog.MODELS) - NOT_SHIPPED
    assert NOT_SHIPPED <= set(catalog.MODELS)


@pytest.mark.parametrize("repo", SHIPPED)
def test_catalog_entry_equals_its_config_json(repo):
    entry = catalog.MODELS[repo]
    shape = read_files(ROOT / SHAPES_DIR / repo / "config.json", task=entry.task, gated=entry.gated)
    parsed = model_arch(repo, shape, gated=entry.gated, task=entry.task, source=entry.source, aliases=entry.aliases)
    assert parsed == entry
    assert entry.source == f"{SHAPES_DIR}/{repo}/config.json"


@pytest.mark.parametrize("repo", sorted(CARDS))
def test_parameter_formula_matches_the_model_card(repo):
    total, active, tolerance = CARDS[repo]
    entry = catalog.MODELS[repo]
    assert entry.params_b == pytest.approx(total, rel=tolerance)
    if active is not None:
        assert entry.active_params_b == pytest.approx(active, rel=tolerance)


def test_catalog_covers_the_models_of_issue_19():
    wanted = ["Qwen/Qwen3-8B", "Qwen/Qwen3-32B", "Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-235B-A22B",
              "meta-llama/Llama-3.3-70B-Instruct", "meta-llama/Llama-4-Scout-17B-16E-Instruct",
              "meta-llama/Llama-4-Maverick-17B-128E-Instruct", "openai/gpt-oss-20b", "openai/gpt-oss-120b",
              "deepseek-ai/DeepSeek-V3", "deepseek-ai/DeepSeek-R1", "google/gemma-3-27b-it",
              "mistralai/Mistral-Small-3.1-24B-Instruct-2503", "Qwen/Qwen3-Embedding-0.6B", "Qwen/Qwen3-Embedding-4B",
              "Qwen/Qwen3-Embedding-8B", "BAAI/bge-m3"]
    assert [name for name in wanted if catalog.find_model(name) is None] == []
    # the shapes the memory model needs, by hand from the configs: DeepSeek MLA caches 512 + 64 elements;
    # gpt-oss-120b slides 18 of 36 layers over 128 tokens; Gemma 3 27B slides 52 of 62 (every 6th global)
    ds, oss, gemma = (catalog.MODELS[r] for r in ("deepseek-ai/DeepSeek-V3", "openai/gpt-oss-120b",
                                                  "google/gemma-3-27b-it"))
    assert (ds.attention, ds.kv_lora_rank + ds.qk_rope_head_dim, ds.native_format) == ("mla", 576, "fp8")
    assert (oss.sliding_window, oss.sliding_layers, oss.native_format) == (128, 18, "mxfp4")
    assert (gemma.sliding_window, gemma.sliding_layers) == (1024, 62 - 62 // 6)
