"""How the platform runs each serving engine: one `EngineProfile` per key of `config.engines.ENGINES`.

`config/engines.py` records what each engine *is* at its pinned release (image, command line, ports, probes,
caches, whether it can run as non-root), read from upstream. A profile records what the platform *does* with
it, in the few places where engines differ: the model server container (its name, the model argument, the
environment on top of `engine_env`, how strictly it is locked down), the weights on the cache volume, the
download Job that fills them, an optional model repository (Triton) and the autoscaling signals.
`components/serving` reads only profiles, so it has no engine-name branches: adding an engine is adding its
facts to ENGINES and its profile here.

Standard library only, like engines.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from .engines import (
    AUTOSCALING_SIGNALS,
    ENGINES,
    TRITON_MODEL_REPOSITORY,
    AutoscalingSignals,
    EngineSpec,
    engine_env,
    image_for,
    ollama_pull_command,
    triton_model_files,
)

SERVER_UID = 1000
"""UID (and GID, fsGroup) of non-root model servers and download Jobs: numeric, so runAsNonRoot can be verified
without a passwd entry. The EKS shared file system's access points are owned by it too."""
HOME = "/tmp"
"""HOME of servers and Jobs: the writable scratch volume (the root file system is read-only)."""

# Download script for every Hugging Face engine: the whole repository into a plain directory, without the
# duplicate formats repositories often carry (original/ consolidated .pth, ONNX/OpenVINO exports, .bin next to
# .safetensors), so the volume sized by the capacity plan holds it. Values come from the environment (no quoting).
HF_DOWNLOAD_SCRIPT = """\
import json, os
from huggingface_hub import HfApi, snapshot_download
repo, target = os.environ["MODEL_ID"], os.environ["MODEL_DIR"]
files = HfApi().list_repo_files(repo)
ignore = ["original/*", "*.pth", "onnx/*", "*.onnx", "openvino/*", "*.gguf"]
if any(f.endswith(".safetensors") for f in files):
    ignore += ["*.bin", "*.pt"]
snapshot_download(repo_id=repo, local_dir=target, ignore_patterns=ignore)
print("downloaded", repo, "to", target)
for adapter, adapter_dir in json.loads(os.environ.get("ADAPTERS") or "{}").items():
    snapshot_download(repo_id=adapter, local_dir=adapter_dir)
    print("downloaded adapter", adapter, "to", adapter_dir)
"""
ADAPTERS_ENV = "ADAPTERS"
"""JSON {repo id: directory} of the LoRA adapters HF_DOWNLOAD_SCRIPT fetches after the weights (small repos,
downloaded whole into `<cache>/models/<repo id>`, where the server's `--lora-modules` point)."""

HUB_OFFLINE_ENV: Mapping[str, str] = MappingProxyType({
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_MODULES_CACHE": "/tmp/hf-modules",
})
"""Servers of Hugging Face engines never reach the Hub: the weights are on the volume already."""


@dataclass(frozen=True)
class DownloadStep:
    """What the download Job's container runs (besides the cache volume, scratch space and security)."""

    image: str
    command: list[str]
    env: dict[str, str]
    """Non-secret environment, after HOME and HF_HUB_DISABLE_TELEMETRY."""


class Download(Protocol):
    """How an engine's weights get onto the cache volume."""

    def step(self, *, model: str, served_name: str, model_dir: str, cache_mount: str) -> DownloadStep: ...


@dataclass(frozen=True)
class HubDownload:
    """`snapshot_download` of the Hugging Face repository into `<cache>/models/<repo id>` (HF_DOWNLOAD_SCRIPT)."""

    python: str
    """Python interpreter of `image_engine`'s image."""
    image_engine: str
    """ENGINES key whose image runs the Job (one with Python and huggingface_hub)."""

    def step(self, *, model: str, served_name: str, model_dir: str, cache_mount: str) -> DownloadStep:
        return DownloadStep(image_for(self.image_engine), [self.python, "-c", HF_DOWNLOAD_SCRIPT],
                            {"MODEL_ID": model, "MODEL_DIR": model_dir, "HF_HOME": f"{cache_mount}/huggingface"})


@dataclass(frozen=True)
class OllamaPull:
    """`ollama pull` into the engine's own store (a client of a running `ollama serve`, so the Job starts one),
    then `ollama cp` to the server name so clients ask for the model by its name."""

    def step(self, *, model: str, served_name: str, model_dir: str, cache_mount: str) -> DownloadStep:
        return DownloadStep(image_for("ollama"), ollama_pull_command(model, alias=served_name),
                            {**engine_env("ollama"), "OLLAMA_MODELS": model_dir})


@dataclass(frozen=True)
class ModelRepository:
    """Per-model configuration the engine reads from a directory: a ConfigMap mounted read-only."""

    name: str
    """Volume name, and suffix of the ConfigMap name (`<server>-<name>`)."""
    mount: str
    """Where the repository is mounted."""
    files: Callable[..., dict[str, object]]
    """Keyword arguments of engine_args (model, served_name, tensor_parallel, ...) -> relative path -> content
    (str as is, anything else as JSON)."""


@dataclass(frozen=True)
class EngineProfile:
    """Everything a model server or download Job does differently for one engine."""

    key: str
    """Key of config.engines.ENGINES (the facts this profile runs)."""
    container: str
    """Name of the server container."""
    read_only_root: bool
    """readOnlyRootFilesystem for the server (writable paths are the tmp and cache volumes)."""
    hub: bool
    """Loads Hugging Face repositories: servers run with the Hub offline (HUB_OFFLINE_ENV) and the download Job
    gets the HF token when the stack has one."""
    download: Download
    own_store: bool = False
    """The engine keeps its own model store (Ollama): weights at `<cache>/models` keyed by tag, the tag is its
    model argument and servers mount the volume read-write. Otherwise the weights of repository <id> are at
    `<cache>/models/<id>`, that directory is the model argument and servers mount the volume read-only."""
    store_env: str | None = None
    """Environment variable that points the engine at its weights' directory (set for servers and the Job)."""
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """Server environment on top of engine_env, HOME and the Hub settings (later keys win)."""
    repository: ModelRepository | None = None
    """A model repository to mount (Triton), or None."""

    @property
    def spec(self) -> EngineSpec:
        return ENGINES[self.key]

    @property
    def run_as_user(self) -> int | None:
        """SERVER_UID, or None to keep the image's root user (only in a namespace with podSecurity baseline)."""
        return SERVER_UID if self.spec.non_root else None

    @property
    def cache_mount(self) -> str:
        return self.spec.cache_mount

    @property
    def signals(self) -> AutoscalingSignals | None:
        """Queue / KV-cache metrics to scale on; None: the engine exports none (scale on CPU)."""
        return AUTOSCALING_SIGNALS.get(self.key)

    def model_dir(self, model: str) -> str:
        """Where the weights of `model` (repository id or tag) are on the cache volume."""
        return f"{self.cache_mount}/models" if self.own_store else f"{self.cache_mount}/models/{model}"

    def model_arg(self, model: str) -> str:
        """What the engine is told to load: its tag (own store) or the weights' directory."""
        return model if self.own_store else self.model_dir(model)


_VLLM_ENV = MappingProxyType({
    # The cache volume is read-only for servers: torch.compile artifacts go to the pod's scratch space.
    "VLLM_CACHE_ROOT": "/tmp/vllm", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
})

PROFILES: Mapping[str, EngineProfile] = MappingProxyType({
    # engines.py: vLLM runs as any UID once HOME and its caches are writable; compile caches go to /tmp.
    "vllm": EngineProfile("vllm", "vllm", read_only_root=True, hub=True, env=_VLLM_ENV,
                          download=HubDownload("python3", "vllm")),
    "vllm-embed": EngineProfile("vllm-embed", "vllm", read_only_root=True, hub=True, env=_VLLM_ENV,
                                download=HubDownload("python3", "vllm-embed")),
    # engines.py: TGI's Python lives under /root (uv), unreachable for another UID: root, no capabilities, and a
    # writable root file system.
    "tgi": EngineProfile("tgi", "tgi", read_only_root=False, hub=True, download=HubDownload("python", "tgi")),
    # engines.py: build.py creates triton-server UID 1000 to run Triton as non-root. The model is a Triton model
    # repository (vLLM backend) next to the weights.
    "triton": EngineProfile("triton", "triton", read_only_root=True, hub=True,
                            download=HubDownload("python3", "triton"),
                            repository=ModelRepository("triton-repository", TRITON_MODEL_REPOSITORY,
                                                       triton_model_files)),
    # engines.py: the TEI router is a static binary (any UID) and the image has no Python: the vLLM image (same
    # huggingface_hub) downloads for it.
    "tei": EngineProfile("tei", "tei", read_only_root=True, hub=True, download=HubDownload("python3", "vllm")),
    # engines.py: Ollama runs as any UID with HOME and OLLAMA_MODELS writable; it owns its model store.
    "ollama": EngineProfile("ollama", "ollama", read_only_root=True, hub=False, own_store=True,
                            store_env="OLLAMA_MODELS", download=OllamaPull()),
})
"""ENGINES key -> how the platform runs it."""


def profile(engine: str) -> EngineProfile:
    """The profile of an ENGINES key; ValueError naming the known keys."""
    if engine not in PROFILES:
        raise ValueError(f"no serving profile for engine {engine!r}; known: {', '.join(PROFILES)}")
    return PROFILES[engine]
