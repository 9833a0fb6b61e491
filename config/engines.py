"""Serving and embedding engines, and the Prometheus metrics every scraped component really exports.

Pure data plus small helpers; standard library only (no Pulumi, no pydantic).

Everything here was read from the upstream source at the pinned release (the comment next to each fact names
the repository, the path and the tag or commit).  Where a fact could not be read at the exact pin, the comment
says so and names what was read instead.

Pins (read 2026-11-24)
  * vLLM          0.33.0   PyPI wheel vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl (vllm/_version.py:
                           commit g4ba787ec9, built 2026-11-01); the GitHub repository (>1 GB) could not be
                           fetched here, so the wheel's own sources are the reference.
  * TGI           3.3.7    huggingface/text-generation-inference tag v3.3.7 (dfb3fbe7, 2025-12-18; the project is
                           in maintenance mode since that release: commits 55f7f7cb/34988476 "Maintenance mode").
  * Triton        2.71.0   triton-inference-server/server tag v2.71.0 == NGC container 26.07 (build.py
                           DEFAULT_TRITON_VERSION_MAP); metrics from triton-inference-server/core branch r26.06
                           (no r26.07 branch in the snapshot; metric definitions unchanged on main 73aad7c3).
  * Ollama        0.32.15  ollama/ollama tag v0.32.15 (b7871fc0, 2026-08-19; newer tags are only v0.33.0-rc*).
  * TEI           1.9.3    huggingface/text-embeddings-inference tag v1.9.3 (06670157, 2026-03-23).
  * DCGM exporter 4.6.0-4.8.3-distroless, the image NVIDIA/gpu-operator v26.7.0 deploys
                           (deployments/gpu-operator/values.yaml dcgmExporter.version).  NVIDIA/dcgm-exporter's
                           snapshot ends at d5e5f51 (2026-05-12), after tag 4.5.3-4.8.2 and before 4.6.0-4.8.3, so
                           the counters file and labels were read at tag 4.5.3-4.8.2 and at d5e5f51 (identical
                           etc/dcp-metrics-included.csv) -- see DCGM_* below for the one known label change.
  * Milvus        2.6.15   zilliztech/milvus-helm tag milvus-5.0.19 (appVersion 2.6.15, image milvusdb/milvus:v2.6.15);
                           metric names from stored copies of milvus-io/milvus pkg/metrics/{metrics,proxy_metrics}.go
                           (commits 0067b030 / 01f8faac; the repository (>500 MB) could not be fetched to read
                           tag v2.6.15).
  * Qdrant        1.19.0   qdrant/qdrant tag v1.19.0 (src/common/metrics.rs).
  * Weaviate      1.39.0   weaviate/weaviate tag v1.39.0 (usecases/monitoring/prometheus.go).
  * elasticsearch_exporter 1.11.0  prometheus-community/elasticsearch_exporter tag v1.11.0 (collector/*.go).
  * redis_exporter 1.88.0  oliver006/redis_exporter tag v1.88.0 (exporter/exporter.go, main.go).

Prometheus naming rules applied below (they decide what a PromQL query must say):
  * Python prometheus_client (vLLM): a Counter declared as ``vllm:x`` is scraped as ``vllm:x_total``; a
    Histogram ``h`` as ``h_bucket``/``h_sum``/``h_count``.  ``_created`` samples are not listed.
  * Rust metrics-exporter-prometheus 0.15.3 (TGI and TEI Cargo.lock): counters keep their declared name (no
    ``_total``); a ``histogram!`` becomes a Prometheus histogram only when buckets were configured for it,
    otherwise a summary (``quantile`` label + ``_sum``/``_count``).
  * prometheus-cpp (Triton), Go client_golang (DCGM exporter, Milvus, Weaviate, exporters), Qdrant's protobuf
    families: names are emitted exactly as declared.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from . import catalog as _catalog

# ---------------------------------------------------------------------------------------------------------------
# Versions
# ---------------------------------------------------------------------------------------------------------------

VLLM_VERSION = "0.33.0"
TGI_VERSION = "3.3.7"
TRITON_VERSION = "2.71.0"
TRITON_CONTAINER = "26.07"
# server v2.71.0 docs/introduction/compatibility.md: 26.07-vllm-python-py3 ships vLLM 0.24.0.
TRITON_VLLM_VERSION = "0.24.0"
OLLAMA_VERSION = "0.32.15"
TEI_VERSION = "1.9.3"
GPU_OPERATOR_VERSION = "v26.7.0"
DCGM_EXPORTER_VERSION = "4.6.0-4.8.3-distroless"
MILVUS_VERSION = "2.6.15"
QDRANT_VERSION = "1.19.0"
WEAVIATE_VERSION = "1.39.0"
ELASTICSEARCH_EXPORTER_VERSION = "1.11.0"
REDIS_EXPORTER_VERSION = "1.88.0"

QUANTIZATIONS: tuple[str, ...] = ("none", "awq", "gptq", "fp8", "int8", "gguf", "mxfp4", "nvfp4")
"""Values of `serving.models[].quantization` (config/models.py `Quantization`)."""

SERVING_ENGINES: tuple[str, ...] = ("vllm", "tgi", "triton", "ollama")
EMBEDDING_ENGINES: tuple[str, ...] = ("tei", "vllm-embed")

# ---------------------------------------------------------------------------------------------------------------
# Types
# ---------------------------------------------------------------------------------------------------------------

MetricType = Literal["counter", "gauge", "histogram", "summary"]


@dataclass(frozen=True)
class EngineSpec:
    """How to run one engine at its pinned version: image, command line, ports, probes, caches, identity."""

    key: str
    """Our engine key (`vllm`, `tgi`, `triton`, `ollama`, `tei`, `vllm-embed`)."""
    version: str
    """Upstream release the facts below were read at."""
    image: str
    """Pinned container image.  For TEI the Ampere-80 image; use `tei_image(gpu)` for the per-GPU tag."""
    command: tuple[str, ...] | None
    """Container `command` to set (overrides the image ENTRYPOINT); None keeps the image's entrypoint."""
    port: int
    """Container port we serve on (HTTP)."""
    port_setting: str
    """How the port is set: a CLI flag (`--port`) or an environment variable (`OLLAMA_HOST=0.0.0.0:<port>`)."""
    openai_base_path: str | None
    """Base path of the OpenAI-compatible API (`/v1`), or None when the engine has none."""
    readiness_path: str
    """HTTP GET path for the readiness (and startup) probe."""
    liveness_path: str | None
    """HTTP GET path for the liveness probe; None means use a TCP probe on `port`."""
    metrics_path: str | None
    """Prometheus scrape path, or None when the engine exports no Prometheus metrics."""
    metrics_port: int | None
    """Port the scrape path is served on (may differ from `port`), or None."""
    extra_ports: Mapping[str, int]
    """Other ports the process opens inside the pod (name -> port), for NetworkPolicy and Service review."""
    cache_mount: str
    """Where we mount the model-cache volume."""
    cache_env: Mapping[str, str]
    """Environment that points the engine's weight/compile caches into `cache_mount`."""
    hf_token_env: str | None
    """Environment variable the engine reads the Hugging Face token from (None: no HF Hub access)."""
    image_user: str
    """User the image runs as by default."""
    non_root: bool
    """Whether the image can run with runAsNonRoot (given a writable cache dir and `cache_env`)."""
    non_root_note: str
    """What running as non-root needs, or why it does not work."""
    needs_shm: str
    """When the pod needs a memory-backed /dev/shm (`always`, `tensor-parallel`, `never`)."""
    sources: tuple[str, ...]
    """Upstream files the facts were read from (repo path@ref)."""
    notes: str = ""
    """Anything a component author must know."""


@dataclass(frozen=True)
class Metric:
    """One metric family as scraped: exact name, Prometheus type, label names, help text."""

    name: str
    """Name as it appears in the scrape (counters from prometheus_client include `_total`)."""
    type: MetricType
    labels: tuple[str, ...]
    """Label names the exporter attaches (Prometheus adds `job`/`instance`/`pod`... on top)."""
    help: str


@dataclass(frozen=True)
class MetricSet:
    """All metrics one source exports at one version."""

    source: str
    """Key of the source (`vllm`, `dcgm`, `qdrant`, ...)."""
    version: str
    """Version the names were read at."""
    metrics: Mapping[str, Metric]
    """Metric name -> Metric."""
    ref: str = ""
    """Where the names were read (repo path@ref)."""


@dataclass(frozen=True)
class AutoscalingSignals:
    """The metric names to autoscale an engine on."""

    queue: str
    """Gauge of requests waiting (not yet scheduled)."""
    kv_cache: str | None
    """Gauge of KV-cache use in [0, 1], or None when the engine does not export one."""
    running: str | None = None
    """Gauge of requests being processed, when exported."""


# ---------------------------------------------------------------------------------------------------------------
# Engines
# ---------------------------------------------------------------------------------------------------------------

_VLLM_SRC = f"vllm {VLLM_VERSION} wheel"
_TGI_SRC = f"huggingface/text-generation-inference@v{TGI_VERSION}"
_TEI_SRC = f"huggingface/text-embeddings-inference@v{TEI_VERSION}"
_TRITON_SRC = f"triton-inference-server/server@v{TRITON_VERSION}"
_OLLAMA_SRC = f"ollama/ollama@v{OLLAMA_VERSION}"

_VLLM_ENGINE = EngineSpec(
    key="vllm",
    version=VLLM_VERSION,
    # Image tags are `v<version>` (docs.vllm.ai deployment/docker; PyPI release 0.33.0 exists -- the Docker Hub
    # tag itself cannot be listed from here).
    image=f"vllm/vllm-openai:v{VLLM_VERSION}",
    # `vllm` console script -> vllm.entrypoints.cli.main:main (wheel entry_points.txt); `vllm serve [model_tag]`
    # takes the model positionally (vllm/entrypoints/cli/serve.py).  Setting the command explicitly keeps us
    # independent of the image ENTRYPOINT, which changed across releases (api_server module -> `vllm serve`).
    command=("vllm", "serve"),
    port=8000,  # vllm/entrypoints/common/cli_args.py: port: int = 8000
    port_setting="--port",
    openai_base_path="/v1",
    # vllm/entrypoints/serve/instrumentator/health.py: GET /health -> 200, or 503 on EngineDeadError.
    readiness_path="/health",
    liveness_path="/health",
    # vllm/entrypoints/serve/instrumentator/metrics.py mounts /metrics on the API server's port.
    metrics_path="/metrics",
    metrics_port=8000,
    extra_ports=MappingProxyType({}),
    cache_mount="/cache",
    # huggingface_hub (vLLM 0.33.0 requires >=1.31.0) constants.py: HF_HOME -> $HF_HOME/hub; vllm/envs.py:
    # VLLM_CACHE_ROOT defaults to $XDG_CACHE_HOME or ~/.cache + /vllm (torch.compile artifacts).
    cache_env=MappingProxyType({"HF_HOME": "/cache/huggingface", "VLLM_CACHE_ROOT": "/cache/vllm"}),
    # huggingface_hub 1.31.0 utils/_auth.py: HF_TOKEN, falling back to HUGGING_FACE_HUB_TOKEN.
    hf_token_env="HF_TOKEN",
    image_user="root",
    non_root=True,
    non_root_note=("The image runs as root by default (vLLM docs, deployment/docker).  It runs as any UID when "
                   "HOME, HF_HOME and VLLM_CACHE_ROOT point at writable paths (cache volume + emptyDir /tmp); "
                   "upstream main documents a built-in `vllm` user UID 2000 GID 0 -- not verified at v0.33.0."),
    needs_shm="always",
    sources=(f"{_VLLM_SRC}: vllm/engine/arg_utils.py, vllm/config/model.py, vllm/config/cache.py, "
             "vllm/model_executor/layers/quantization/__init__.py, vllm/entrypoints/serve/instrumentator/*",),
    notes=("PyTorch/NCCL use /dev/shm for worker IPC (tensor parallel in particular); mount an emptyDir "
           "{medium: Memory}.  Quantized checkpoints are auto-detected from config.json quantization_config; "
           "an explicit --quantization that disagrees with the checkpoint is a startup error "
           "(ModelConfig._verify_quantization)."),
)

# The embedding entry shares every fact of the generation entry but its key, sources and notes.
ENGINES: Mapping[str, EngineSpec] = MappingProxyType({
    "vllm": _VLLM_ENGINE,
    "vllm-embed": replace(
        _VLLM_ENGINE,
        key="vllm-embed",
        sources=(f"{_VLLM_SRC}: vllm/config/model.py (RunnerOption/ConvertOption, _get_default_convert_type), "
                 "vllm/entrypoints/pooling/embed/api_router.py",),
        notes=("vLLM 0.33.0 has no `--task`: pooling is `--runner pooling`; `--convert auto` (default) resolves to "
               "`none` for native embedding architectures and to `embed` for *ForCausalLM checkpoints.  Serves "
               "POST /v1/embeddings."),
    ),
    "tgi": EngineSpec(
        key="tgi",
        version=TGI_VERSION,
        # .github/workflows/build.yaml@v3.3.7: ghcr.io/huggingface/text-generation-inference, semver {{version}}.
        image=f"ghcr.io/huggingface/text-generation-inference:{TGI_VERSION}",
        command=None,  # Dockerfile@v3.3.7: ENTRYPOINT ["/tgi-entrypoint.sh"] -> exec text-generation-launcher $@
        port=8080,
        # launcher/src/main.rs@v3.3.7: --port (env PORT, default 3000; the image sets PORT=80, a privileged port).
        port_setting="--port",
        openai_base_path="/v1",  # router/src/server.rs@v3.3.7: /v1/chat/completions, /v1/completions, /v1/models
        readiness_path="/health",  # router/src/server.rs: GET /health (also /ping)
        liveness_path="/health",
        metrics_path="/metrics",  # router/src/server.rs: GET /metrics on the API port
        metrics_port=8080,
        # launcher --prometheus-port (default 9000): the router also opens a Prometheus listener there
        # (server.rs PrometheusBuilder::with_http_listener).
        extra_ports=MappingProxyType({"prometheus": 9000}),
        cache_mount="/data",
        # Dockerfile@v3.3.7 base stage: ENV HF_HOME=/data; launcher forwards HUGGINGFACE_HUB_CACHE when set.
        cache_env=MappingProxyType({"HF_HOME": "/data"}),
        hf_token_env="HF_TOKEN",  # launcher/src/main.rs@v3.3.7 reads HF_TOKEN (HF_API_TOKEN is mapped onto it)
        image_user="root",
        non_root=False,
        non_root_note=("Dockerfile@v3.3.7 installs Python with `uv python install` under /root/.local/share/uv and "
                       "sets LD_LIBRARY_PATH into /root: the interpreter is not reachable for a non-root UID."),
        needs_shm="tensor-parallel",
        sources=(f"{_TGI_SRC}: launcher/src/main.rs, router/src/server.rs, Dockerfile, tgi-entrypoint.sh, "
                 "server/text_generation_server/models/globals.py, README.md",),
        notes=("README@v3.3.7 'A note on Shared Memory': NCCL uses /dev/shm when sharded (--num-shard > 1); mount a "
               "memory emptyDir or set NCCL_SHM_DISABLE=1.  Prefix caching is not a flag: the launcher exports "
               "PREFIX_CACHING=0/1 (main.rs) -- see engine_env().  There is no served-model-name flag; /v1 "
               "requests accept any `model` value.  Project is in maintenance mode."),
    ),
    "triton": EngineSpec(
        key="triton",
        version=TRITON_VERSION,
        # docs/introduction/compatibility.md@v2.71.0: nvcr.io/nvidia/tritonserver:26.07-vllm-python-py3
        # (vLLM 0.24.0).  This variant is chosen because it carries the vLLM backend and the OpenAI frontend.
        image=f"nvcr.io/nvidia/tritonserver:{TRITON_CONTAINER}-vllm-python-py3",
        # python/openai/README.md@v2.71.0: the frontend ships at /opt/tritonserver/python/openai in the vLLM
        # image and embeds Triton in-process (tritonserver.Server); main.py --openai-port default 9000.
        command=("python3", "/opt/tritonserver/python/openai/openai_frontend/main.py"),
        port=9000,
        port_setting="--openai-port",
        openai_base_path="/v1",
        # python/openai/openai_frontend/frontend/fastapi/routers/observability.py@v2.71.0: /health/ready, /metrics
        readiness_path="/health/ready",
        liveness_path=None,  # the frontend has no liveness route; use a TCP probe
        metrics_path="/metrics",
        metrics_port=9000,
        # KServe v2 HTTP/GRPC frontends only with --enable-kserve-frontends (default ports 8000/8001, main.py).
        # The standalone `tritonserver` binary would serve metrics on 8002 (docs/user_guide/metrics.md); the
        # OpenAI frontend returns the same nv_* text on its own /metrics instead.
        extra_ports=MappingProxyType({}),
        cache_mount="/cache",
        cache_env=MappingProxyType({"HF_HOME": "/cache/huggingface"}),
        hf_token_env="HF_TOKEN",  # python/openai/README.md@v2.71.0
        image_user="root",
        non_root=True,
        non_root_note=("build.py@v2.71.0 creates user `triton-server` with UID/GID 1000 'to run triton as "
                       "non-root'; HF_HOME must point at a writable cache."),
        needs_shm="always",
        sources=(f"{_TRITON_SRC}: build.py, docs/introduction/compatibility.md, docs/user_guide/metrics.md, "
                 "python/openai/README.md, python/openai/openai_frontend/main.py",
                 "triton-inference-server/vllm_backend@8de0c148: README.md, samples/model_repository/vllm_model"),
        notes=("The model is a Triton model repository: /models/<served_name>/config.pbtxt (backend: \"vllm\", "
               "KIND_MODEL) and /models/<served_name>/1/model.json holding vLLM AsyncEngineArgs (see "
               "triton_model_files()).  The OpenAI model id is the repository directory name.  Python backend "
               "stubs use /dev/shm.  Without the OpenAI frontend, `tritonserver --model-repository=/models` serves "
               "KServe v2 POST /v2/models/<name>/generate on 8000 and metrics on 8002."),
    ),
    "ollama": EngineSpec(
        key="ollama",
        version=OLLAMA_VERSION,
        # .github/workflows/release.yaml@v0.32.15: docker/metadata-action type=semver,pattern={{version}} (no `v`).
        image=f"ollama/ollama:{OLLAMA_VERSION}",
        command=None,  # Dockerfile@v0.32.15: ENTRYPOINT ["/bin/ollama"], CMD ["serve"]
        port=11434,  # envconfig/config.go: defaultPort 11434; image ENV OLLAMA_HOST=0.0.0.0:11434
        port_setting="OLLAMA_HOST=0.0.0.0:<port>",
        # server/routes.go@v0.32.15: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models
        openai_base_path="/v1",
        readiness_path="/api/version",  # routes.go: GET / ("Ollama is running") and GET /api/version
        liveness_path="/",
        metrics_path=None,  # no Prometheus exporter: no prometheus import and no /metrics route in v0.32.15
        metrics_port=None,
        extra_ports=MappingProxyType({}),
        # Not the image default /root/.ollama (docs/docker.mdx mounts the volume there because the image runs as
        # root): the Dockerfile's runtime stage is ubuntu with no USER, and ubuntu's /root is 0700, so UID 1000
        # cannot reach anything under it.  We run as UID 1000 with the store on its own mount.
        cache_mount="/cache",
        # envconfig/config.go: OLLAMA_MODELS, default $HOME/.ollama/models.
        cache_env=MappingProxyType({"OLLAMA_MODELS": "/cache/models"}),
        hf_token_env=None,
        image_user="root",
        non_root=True,
        non_root_note=("No USER in the Dockerfile (root).  /usr/bin/ollama runs as any UID if HOME and "
                       "OLLAMA_MODELS point at writable paths (serve also writes its key pair under $HOME/.ollama)."),
        needs_shm="never",
        sources=(f"{_OLLAMA_SRC}: Dockerfile, envconfig/config.go, server/routes.go, cmd/cmd.go, "
                 ".github/workflows/release.yaml, docs/docker.mdx",),
        notes=("`ollama pull` is a client of a running server (cmd/cmd.go PullHandler -> api.ClientFromEnvironment), "
               "so an init container must start `ollama serve` before pulling: see ollama_pull_command().  "
               "Ollama exports NO Prometheus metrics: monitor it with probes and DCGM only."),
    ),
    "tei": EngineSpec(
        key="tei",
        version=TEI_VERSION,
        image=f"ghcr.io/huggingface/text-embeddings-inference:{TEI_VERSION}",
        command=None,  # Dockerfile-cuda@v1.9.3: ENTRYPOINT ["./entrypoint.sh"], CMD ["--json-output"]
        port=8080,
        port_setting="--port",  # router/src/main.rs@v1.9.3: --port (env PORT, default 3000; the image sets PORT=80)
        openai_base_path="/v1",  # router/src/http/server.rs@v1.9.3: POST /v1/embeddings (and /embeddings)
        readiness_path="/health",  # server.rs: GET /health (also / and /ping)
        liveness_path="/health",
        metrics_path="/metrics",  # server.rs: GET /metrics on the API port
        metrics_port=8080,
        extra_ports=MappingProxyType({"prometheus": 9000}),  # main.rs: --prometheus-port default 9000
        cache_mount="/data",
        cache_env=MappingProxyType({"HUGGINGFACE_HUB_CACHE": "/data"}),  # Dockerfile-cuda / Dockerfile ENV
        hf_token_env="HF_TOKEN",  # main.rs: --hf-token / HF_TOKEN (HF_API_TOKEN deprecated)
        image_user="root",
        non_root=True,
        non_root_note=("No USER in Dockerfile-cuda (root).  The router is a static binary in /usr/local/bin; a "
                       "non-root UID works with a writable HUGGINGFACE_HUB_CACHE.  Keep the image WORKDIR: the "
                       "entrypoint is the relative ./entrypoint.sh."),
        needs_shm="never",
        sources=(f"{_TEI_SRC}: README.md, .github/workflows/matrix.json, .github/workflows/build.yaml, "
                 "Dockerfile-cuda, Dockerfile, router/src/main.rs, router/src/http/server.rs, "
                 "router/src/prometheus.rs",),
        notes="Single-GPU: TEI has no tensor parallelism and no quantize flag.",
    ),
})
"""Engine key -> how to run it."""


def embedding_engine_key(engine: str) -> str:
    """Map `rag.embedding.engine` (`tei` | `vllm`) to the ENGINES key (`tei` | `vllm-embed`)."""
    keys = {"tei": "tei", "vllm": "vllm-embed"}
    if engine not in keys:
        raise ValueError(f"unknown embedding engine {engine!r}; allowed: {', '.join(keys)}")
    return keys[engine]


# --- TEI images per GPU -------------------------------------------------------------------------------------
# README.md@v1.9.3 "Docker Images" table + .github/workflows/matrix.json (imageNamePrefix per cudaComputeCap:
# turing- 75 (experimental, flash attention off), "" 80, 86- 86, 89- 89, hopper- 90, 100- 100 (Blackwell B200,
# experimental), 120- 120 (Blackwell RTX PRO 6000, experimental), cpu-) + build.yaml tags
# `type=semver,pattern=<prefix>{{version}}`.  Volta is not supported.
_TEI_REPO = "ghcr.io/huggingface/text-embeddings-inference"
TEI_IMAGE_PREFIX_BY_COMPUTE_CAPABILITY: Mapping[str, str] = MappingProxyType({
    "7.5": "turing-", "8.0": "", "8.6": "86-", "8.9": "89-", "9.0": "hopper-", "10.0": "100-", "12.0": "120-",
    "cpu": "cpu-",
})
# Compute capability of our catalog GPUs: the catalog's own figure (config/catalog.py GpuModel.compute_capability).
GPU_COMPUTE_CAPABILITY: Mapping[str, str] = MappingProxyType({
    **{key: gpu.compute_capability for key, gpu in _catalog.GPUS.items()}, "cpu": "cpu",
})
TEI_IMAGES: Mapping[str, str] = MappingProxyType({
    gpu: f"{_TEI_REPO}:{TEI_IMAGE_PREFIX_BY_COMPUTE_CAPABILITY[cc]}{TEI_VERSION}"
    for gpu, cc in GPU_COMPUTE_CAPABILITY.items()
})
"""Catalog GPU key (or `cpu`) -> TEI image built for that compute capability."""


def tei_image(gpu: str) -> str:
    """The TEI image for a catalog GPU key or `cpu`."""
    if gpu not in TEI_IMAGES:
        raise ValueError(f"no TEI image for {gpu!r}; known: {', '.join(TEI_IMAGES)}")
    return TEI_IMAGES[gpu]


def image_for(engine: str, gpu: str | None = None) -> str:
    """The pinned image for an engine; TEI needs the GPU key (or `cpu`)."""
    spec = _spec(engine)
    if engine == "tei":
        return tei_image(gpu or "cpu")
    return spec.image


# ---------------------------------------------------------------------------------------------------------------
# Quantization -> engine flags
# ---------------------------------------------------------------------------------------------------------------
# An entry maps our value to the exact extra CLI args; a missing entry means unsupported.  `()` means "no flag":
# the engine reads the method from the checkpoint's config.json quantization_config.

# vLLM 0.33.0 vllm/model_executor/layers/quantization/__init__.py QuantizationMethods: `awq`, `awq_marlin` and
# `auto_awq` are all AutoAWQConfig; AutoAWQConfig.override_quantization_method accepts user value awq/awq_marlin/
# auto_awq/marlin for an AWQ checkpoint and resolves it to `auto_awq` (Marlin kernels where supported) -- so
# `--quantization awq` is accepted and checked against the checkpoint.  Same for gptq (AutoGPTQConfig ->
# `auto_gptq`).  `fp8` (Fp8Config, min capability 7.5) serves fp8 checkpoints or quantizes 16-bit weights online;
# a compressed-tensors FP8 checkpoint must be served WITHOUT the flag (mismatch raises at startup).  There is no
# `int8` method: int8 checkpoints (compressed-tensors W8A8/W8A16) are auto-detected.  `gguf` is not a vLLM
# 0.33.0 quantization method.
_VLLM_QUANT: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "none": (),
    "awq": ("--quantization", "awq"),
    "gptq": ("--quantization", "gptq"),
    "fp8": ("--quantization", "fp8"),
    "int8": (),
    # No flag: both are read from the checkpoint, and a flag would break the other checkpoint layouts.
    # MXFP4: quantization/mxfp4.py GptOssMxfp4Config.override_quantization_method maps a gpt-oss config.json
    # `quant_method: mxfp4` to `gpt_oss_mxfp4` (an explicit `--quantization mxfp4` is accepted too).
    # NVFP4: quantization/modelopt.py ModelOptNvFp4Config.override_quantization_method detects a ModelOpt
    # checkpoint (`quant_algo` NVFP4) as `modelopt_fp4`; compressed-tensors NVFP4 checkpoints (llm-compressor) are
    # `compressed-tensors` instead, which `--quantization modelopt_fp4` would refuse as a mismatch.
    "mxfp4": (),
    "nvfp4": (),
})
# TGI launcher/src/main.rs@v3.3.7 enum Quantization (kebab-case): awq, compressed-tensors, eetq, exl2, gptq,
# marlin, bitsandbytes, bitsandbytes-nf4, bitsandbytes-fp4, fp8.  "It is not necessary to specify this option
# for pre-quantized models"; `eetq` is the 8-bit weight-only method that "doesn't require specific model".
_TGI_QUANT: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "none": (),
    "awq": ("--quantize", "awq"),
    "gptq": ("--quantize", "gptq"),
    "fp8": ("--quantize", "fp8"),
    "int8": ("--quantize", "eetq"),
})
QUANTIZATION_ARGS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "vllm": _VLLM_QUANT,
    "vllm-embed": _VLLM_QUANT,
    "tgi": _TGI_QUANT,
    # Triton carries vLLM 0.24.0; quantization goes into model.json (`quantization` key), not the command line,
    # and pre-quantized checkpoints are left to auto-detection.  See TRITON_MODEL_JSON_QUANTIZATION.
    "triton": MappingProxyType({"none": (), "awq": (), "gptq": (), "fp8": (), "int8": ()}),
    # Ollama serves GGUF only (the model tag carries its own quantization, e.g. `qwen2.5:7b-instruct-q4_K_M`).
    "ollama": MappingProxyType({"gguf": ()}),
    # TEI 1.9.3 router/src/main.rs has no quantize option.
    "tei": MappingProxyType({"none": ()}),
})
"""Engine -> our quantization value -> extra CLI args.  Missing = unsupported."""

TRITON_MODEL_JSON_QUANTIZATION: Mapping[str, str | None] = MappingProxyType({
    "none": None, "awq": None, "gptq": None, "fp8": "fp8", "int8": None,
})
"""Our quantization value -> `quantization` in Triton's model.json (None: key omitted, auto-detected)."""


# ---------------------------------------------------------------------------------------------------------------
# Which GPUs run which weight format and KV-cache dtype (vLLM 0.33.0, by CUDA compute capability)
# ---------------------------------------------------------------------------------------------------------------
# vLLM refuses a quantization method below its `get_min_capability()` (vllm/config/vllm.py: "The quantization
# method ... is not supported for the current GPU. Minimum capability: ..."). Below the "native" capability the
# format still runs, as weight-only Marlin kernels (weights dequantized to 16 bit in the GEMM): same memory, no
# FP8/FP4 tensor-core speed-up.  Sources, all vllm/model_executor/layers/quantization/ in the 0.33.0 wheel:
#  none   16 bit: BF16 needs 8.0 (vLLM casts to FP16 below, with a warning); the CUDA platform floor is 7.0.
#  awq    auto_awq.py AutoAWQConfig.get_min_capability 75 (Marlin from 8.0 where the shape allows).
#  gptq   auto_gptq.py AutoGPTQConfig.get_min_capability 60.
#  int8   compressed_tensors/schemes/compressed_tensors_w8a8_int8.py (W8A8) and _wNa16.py (W8A16): 75.
#  fp8    fp8.py Fp8Config.get_min_capability 75 (per-tensor and 128x128 block-scaled alike); below 8.9 the linear
#         kernel is MarlinFP8ScaledMMLinearKernel (utils/marlin_utils_fp8.py is_fp8_marlin_supported: >= 75).
#         compressed-tensors FP8 W8A8 needs 89 (compressed_tensors_w8a8_fp8.py) and W8A16 75.
#  mxfp4  mxfp4.py Mxfp4Config.get_min_capability 80, BF16 activations only (get_supported_act_dtypes); MoE backends
#         in fused_moe/oracle/mxfp4.py: Marlin / Triton on 8.x-9.0, FlashInfer / TRT-LLM FP4 on 10.x and 12.x.
#  nvfp4  modelopt.py ModelOptNvFp4Config.get_min_capability 75; below 10.0 FP4 Marlin (weight-only;
#         utils/marlin_utils_fp4.py is_fp4_marlin_supported: >= 75), native CUTLASS/FlashInfer FP4 on 10.x / 12.x.
#  gguf   not a vLLM format here (Ollama serves it, on CPU or GPU).
VLLM_FORMAT_MIN_CAPABILITY: Mapping[str, str] = MappingProxyType({
    "none": "7.0", "awq": "7.5", "gptq": "6.0", "int8": "7.5", "fp8": "7.5", "mxfp4": "8.0", "nvfp4": "7.5",
})
"""Our quantization value -> lowest compute capability vLLM 0.33.0 runs it on."""
VLLM_FORMAT_NATIVE_CAPABILITY: Mapping[str, str] = MappingProxyType({
    "fp8": "8.9", "mxfp4": "10.0", "nvfp4": "10.0",
})
"""Formats with a weight-only fallback -> compute capability from which they run on native tensor cores."""
FORMAT_CHECKED_ENGINES: frozenset[str] = frozenset({"vllm", "vllm-embed", "triton"})
"""Engines whose kernels the table above describes (Triton serves through its vLLM backend; unverified at the
image's vLLM 0.24.0, whose floors are assumed the same)."""

FP8_KV_MIN_CAPABILITY = "8.9"
"""Lowest compute capability an FP8 KV cache is accepted on.  vLLM 0.33.0: vllm/platforms/cuda.py supports_fp8()
is `has_device_capability(89)`; the Triton attention backend refuses an fp8 KV cache below SM89
(vllm/v1/attention/backends/triton_attn.py: "native FP8 (fp8e4nv) requires SM89+"); FlashAttention stores FP8 KV
only with FA3 (Hopper).  FlashInfer could dequantize FP8 KV on 8.0, but which backend vLLM picks is not pinned by
config, so 8.0-8.6 GPUs are refused (conservative)."""

# `kvCacheDtype` -> engine flags.  vLLM 0.33.0 vllm/engine/arg_utils.py `--kv-cache-dtype` (vllm/config/cache.py
# CacheDType: auto, float16, bfloat16, fp8, fp8_e4m3, fp8_e5m2, ...; `fp8` means E4M3 on CUDA).  TGI 3.3.7
# launcher/src/main.rs `--kv-cache-dtype` enum KVCacheDtype: fp8_e4m3fn | fp8_e5m2 ("on CUDA"; the shards' KVCache
# accepts FP8 with the flashinfer or paged attention backend, server/.../layers/attention/kv_cache.py).  Triton: the
# vLLM backend's model.json key `kv_cache_dtype` (an EngineArgs field), no CLI flag.  Ollama and TEI: no FP8 KV.
KV_CACHE_DTYPE_ARGS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "vllm": MappingProxyType({"auto": (), "fp8": ("--kv-cache-dtype", "fp8")}),
    "vllm-embed": MappingProxyType({"auto": ()}),
    "tgi": MappingProxyType({"auto": (), "fp8": ("--kv-cache-dtype", "fp8_e4m3fn")}),
    "triton": MappingProxyType({"auto": (), "fp8": ()}),
    "ollama": MappingProxyType({"auto": ()}),
    "tei": MappingProxyType({"auto": ()}),
})
"""Engine -> `kvCacheDtype` value -> extra CLI args.  Missing = unsupported."""

# `expertParallel` -> engine flags.  vLLM 0.33.0 arg_utils.py `--enable-expert-parallel` (ParallelConfig.
# enable_expert_parallel: "Use expert parallelism instead of tensor parallelism for MoE layers").  Triton: model.json
# `enable_expert_parallel` (EngineArgs field; unverified at vLLM 0.24.0).  TGI 3.3.7 has no expert-parallel option
# (launcher/src/main.rs), Ollama/TEI neither.
EXPERT_PARALLEL_ARGS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "vllm": ("--enable-expert-parallel",),
    "triton": (),
})
"""Engines that support expert parallelism -> extra CLI args."""


def capability(cc: str) -> tuple[int, int]:
    """A compute capability string ("8.9", "10.0") as a comparable (major, minor)."""
    major, _, minor = cc.partition(".")
    return int(major), int(minor or 0)


def format_runs_on(quantization: str, compute_capability: str) -> bool:
    """Whether vLLM 0.33.0 runs weight format `quantization` on a GPU of `compute_capability` (unknown: True)."""
    floor = VLLM_FORMAT_MIN_CAPABILITY.get(quantization)
    if floor is None or not compute_capability:
        return True
    return capability(compute_capability) >= capability(floor)


def formats_on(compute_capability: str) -> tuple[str, ...]:
    """The vLLM weight formats a GPU of `compute_capability` runs (QUANTIZATIONS order)."""
    return tuple(q for q in QUANTIZATIONS if q in VLLM_FORMAT_MIN_CAPABILITY and format_runs_on(q, compute_capability))


def fp8_kv_runs_on(compute_capability: str) -> bool:
    """Whether an FP8 KV cache is accepted on a GPU of `compute_capability`."""
    return not compute_capability or capability(compute_capability) >= capability(FP8_KV_MIN_CAPABILITY)


def kv_cache_dtype_args(engine: str, kv_cache_dtype: str) -> tuple[str, ...]:
    """Extra CLI args for `kvCacheDtype`; ValueError naming the engines that support it."""
    table = KV_CACHE_DTYPE_ARGS.get(engine)
    if table is None:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if kv_cache_dtype not in table:
        able = [e for e, t in KV_CACHE_DTYPE_ARGS.items() if kv_cache_dtype in t and e in SERVING_ENGINES]
        raise ValueError(f"kvCacheDtype {kv_cache_dtype} is not supported by engine {engine} "
                         f"{ENGINES[engine].version}; engines that support it: {', '.join(able)}")
    return table[kv_cache_dtype]


def expert_parallel_args(engine: str, expert_parallel: bool) -> tuple[str, ...]:
    """Extra CLI args for `expertParallel`; ValueError naming the engines that support it."""
    if not expert_parallel:
        return ()
    if engine not in EXPERT_PARALLEL_ARGS:
        raise ValueError(f"expertParallel is not supported by engine {engine} {_spec(engine).version}; engines that "
                         f"support it: {', '.join(EXPERT_PARALLEL_ARGS)}")
    return EXPERT_PARALLEL_ARGS[engine]


def quantization_args(engine: str, quantization: str) -> tuple[str, ...]:
    """Extra CLI args for a quantization value; ValueError naming the engine and its allowed values."""
    table = QUANTIZATION_ARGS.get(engine)
    if table is None:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    if quantization not in table:
        raise ValueError(
            f"quantization {quantization!r} is not supported by engine {engine} {ENGINES[engine].version}; "
            f"allowed: {', '.join(table)}")
    return table[quantization]


# ---------------------------------------------------------------------------------------------------------------
# Command lines
# ---------------------------------------------------------------------------------------------------------------

_OLLAMA_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-/:]*$")


def _spec(engine: str) -> EngineSpec:
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}")
    return ENGINES[engine]


def _num(value: float) -> str:
    return f"{value:g}"


def _check(engine: str, tensor_parallel: int, gpu_memory_utilization: float, max_model_len: int, port: int) -> None:
    if tensor_parallel < 1:
        raise ValueError(f"{engine}: tensor_parallel must be >= 1, got {tensor_parallel}")
    if not 0 < gpu_memory_utilization <= 1:
        raise ValueError(f"{engine}: gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}")
    if max_model_len < 2:
        raise ValueError(f"{engine}: max_model_len must be >= 2, got {max_model_len}")
    if not 0 < port < 65536:
        raise ValueError(f"{engine}: port must be 1-65535, got {port}")


MAX_NUM_SEQS_UNSUPPORTED: Mapping[str, str] = MappingProxyType({
    # launcher/src/main.rs@v3.3.7: `--max-batch-size` "Specific flag for hardware targets that do not support unpadded
    # inference"; backends/v3/src/backend.rs@v3.3.7 batching_task ignores it ("We can ignore min_size and max_size")
    # once the model supports prefill chunking, which flash models do by default (PREFILL_CHUNKING=1,
    # server/text_generation_server/models/globals.py): it would cap only the first batch.  `--max-concurrent-requests`
    # (default 128) refuses requests beyond it instead of queueing them, which is not the same setting.
    "tgi": ("text-generation-inference 3.3.7 has no per-replica batch limit it enforces with prefill chunking (its "
            "--max-batch-size caps only the first batch; --max-concurrent-requests, default 128, refuses requests "
            "instead of queueing them)"),
    # envconfig/config.go@v0.32.15 OLLAMA_NUM_PARALLEL (default 1) multiplies the context memory the runner allocates
    # (server/sched.go effectiveLlamaServerContext), which the capacity plan does not size.
    "ollama": ("ollama 0.32.15 serves parallel requests with OLLAMA_NUM_PARALLEL, which multiplies the context memory "
               "the plan does not size; it serves one request at a time"),
    "tei": "text-embeddings-inference 1.9.3 batches by tokens (--max-batch-tokens), not sequences",
})
"""Engine -> why `serving.models[].maxNumSeqs` cannot be honoured (config.semantics refuses it there)."""


def engine_args(engine: str, *, model: str, served_name: str, tensor_parallel: int = 1,
                gpu_memory_utilization: float = 0.9, max_model_len: int = 4096, quantization: str = "none",
                prefix_caching: bool = True, port: int | None = None, kv_cache_dtype: str = "auto",
                expert_parallel: bool = False, max_num_seqs: int | None = None) -> list[str]:
    """The container `args` for an engine at its pinned version (to go with `ENGINES[engine].command`).

    vllm       `vllm serve <model>` flags (vllm/engine/arg_utils.py 0.33.0); prefix caching is a
               BooleanOptionalAction (`--enable-prefix-caching` / `--no-enable-prefix-caching`).
    vllm-embed the same plus `--runner pooling`; prefix caching is only ever switched off (forcing it on for a
               pooling model that does not support it "may cause the engine to crash", arg_utils.py).
    tgi        text-generation-launcher flags (launcher/src/main.rs v3.3.7): `--max-input-tokens` must be
               < `--max-total-tokens`, so it is max_model_len - 1; the memory fraction is `--cuda-memory-fraction`.
               served_name and prefix_caching do not map to flags (see engine_env for PREFIX_CACHING).
    triton     OpenAI frontend flags (python/openai/openai_frontend/main.py v2.71.0); engine settings live in
               model.json (triton_model_files); the OpenAI model id is served_name (the repository directory).
    ollama     `serve` (the image ENTRYPOINT is /bin/ollama); port and context length are environment (engine_env),
               the model is pulled by ollama_pull_command().
    tei        text-embeddings-router flags (router/src/main.rs v1.9.3); single GPU only.
    max_num_seqs (None: the engine's default) is vLLM `--max-num-seqs` (vllm/engine/arg_utils.py 0.33.0, scheduler
    group) and Triton's model.json `max_num_seqs` (triton_model_files); MAX_NUM_SEQS_UNSUPPORTED engines refuse it.
    """
    spec = _spec(engine)
    port = spec.port if port is None else port
    _check(engine, tensor_parallel, gpu_memory_utilization, max_model_len, port)
    quant = quantization_args(engine, quantization)
    # kvCacheDtype / expertParallel (issue 19): the flags after the quantization's; Triton's go into model.json.
    quant += kv_cache_dtype_args(engine, kv_cache_dtype) + expert_parallel_args(engine, expert_parallel)
    if max_num_seqs is not None:
        if engine in MAX_NUM_SEQS_UNSUPPORTED:
            raise ValueError(f"{engine}: max_num_seqs is not supported: {MAX_NUM_SEQS_UNSUPPORTED[engine]}")
        if max_num_seqs < 1:
            raise ValueError(f"{engine}: max_num_seqs must be >= 1, got {max_num_seqs}")

    if engine in ("vllm", "vllm-embed"):
        args = [model]
        if engine == "vllm-embed":
            args += ["--runner", "pooling"]
        args += [
            "--served-model-name", served_name,
            "--tensor-parallel-size", str(tensor_parallel),
            "--gpu-memory-utilization", _num(gpu_memory_utilization),
            "--max-model-len", str(max_model_len),
            *quant,
        ]
        if max_num_seqs is not None:
            args += ["--max-num-seqs", str(max_num_seqs)]
        if engine == "vllm":
            args.append("--enable-prefix-caching" if prefix_caching else "--no-enable-prefix-caching")
        elif not prefix_caching:
            args.append("--no-enable-prefix-caching")
        return args + ["--port", str(port)]

    if engine == "tgi":
        return [
            "--model-id", model,
            "--num-shard", str(tensor_parallel),
            "--max-input-tokens", str(max_model_len - 1),
            "--max-total-tokens", str(max_model_len),
            "--cuda-memory-fraction", _num(gpu_memory_utilization),
            *quant,
            "--port", str(port),
        ]

    if engine == "triton":
        return [
            "--model-repository", TRITON_MODEL_REPOSITORY,
            "--tokenizer", model,
            "--openai-port", str(port),
        ]

    if engine == "ollama":
        if not _OLLAMA_TAG.match(model):
            raise ValueError(f"ollama: {model!r} is not a valid model tag")
        return ["serve"]

    # tei
    if tensor_parallel != 1:
        raise ValueError(f"tei: text-embeddings-inference {TEI_VERSION} has no tensor parallelism; "
                         f"tensor_parallel must be 1, got {tensor_parallel}")
    # --max-batch-tokens default 16384 (main.rs); it must cover the longest input when truncation is off.
    return [
        "--model-id", model,
        "--served-model-name", served_name,
        "--max-batch-tokens", str(max(16384, max_model_len)),
        "--port", str(port),
    ]


KV_EVENTS_PORT = 5557
"""Port vLLM's KV-events ZMQ publisher binds in the pod (vllm/config/kv_events.py 0.33.0 KVEventsConfig.endpoint
default `tcp://*:5557`), the one the llm-d router's precise-prefix-cache producer dials on every pool pod
(llm-d/llm-d-router pkg/kvevents/pool.go @ v0.10.0: PodDiscoveryConfig.SocketPort default 5557)."""
KV_EVENTS_TOPIC_PREFIX = "kv@"
"""The router subscribes to topics starting with `kv@` and reads `kv@<pod>@<model>` (pkg/kvevents/pool.go
DefaultConfig TopicFilter, pkg/kvevents/engineadapter/common.go parseTopic @ v0.10.0)."""


def lora_args(adapters: Sequence[tuple[str, str]], *, max_loras: int, max_rank: int,
              max_cpu_loras: int | None = None) -> list[str]:
    """vLLM 0.33.0 flags that serve LoRA adapters (`(name, path)` pairs; empty: no flags).

    vllm/engine/arg_utils.py: `--enable-lora`, `--max-loras`, `--max-lora-rank` (vllm/config/lora.py MaxLoRARanks
    1, 8, 16, 32, 64, 128, 256, 320, 512), `--max-cpu-loras` (default: max_loras); vllm/entrypoints/common/cli_args.py:
    `--lora-modules` takes `name=path` items (nargs "+", one flag: a second one would replace the first list).
    """
    if not adapters:
        return []
    args = ["--enable-lora", "--max-loras", str(max_loras), "--max-lora-rank", str(max_rank)]
    if max_cpu_loras is not None:
        args += ["--max-cpu-loras", str(max_cpu_loras)]
    return args + ["--lora-modules", *(f"{name}={path}" for name, path in adapters)]


def kv_events_args(topic: str) -> list[str]:
    """vLLM 0.33.0 flags that publish KV-cache events for the router's precise prefix-cache scoring, and serve the
    render endpoints its token producer calls.

    `--kv-events-config` is JSON of vllm/config/kv_events.py KVEventsConfig (enable_kv_cache_events, publisher
    `zmq`, endpoint: bound in the pod, the router connects to it; topic `kv@<server>@<served name>`).
    `--enable-scale-out` (vllm/entrypoints/common/cli_args.py) registers /v1/completions/render and
    /v1/chat/completions/render on `vllm serve` (vllm/entrypoints/scale_out/factories.py).
    """
    if not re.fullmatch(r"[A-Za-z0-9@._/-]+", topic):  # written into JSON below without escaping
        raise ValueError(f"kv events topic {topic!r}: letters, digits and @._/- only")
    config = (f'{{"enable_kv_cache_events":true,"publisher":"zmq","endpoint":"tcp://*:{KV_EVENTS_PORT}",'
              f'"topic":"{topic}"}}')
    return ["--kv-events-config", config, "--enable-scale-out"]


def engine_env(engine: str, *, port: int | None = None, max_model_len: int | None = None,
               prefix_caching: bool = True) -> dict[str, str]:
    """Non-secret environment for an engine: cache locations plus settings that are env-only at the pin.

    The HF token is NOT included: mount it from a Secret under `ENGINES[engine].hf_token_env`.
    """
    spec = _spec(engine)
    env = dict(spec.cache_env)
    if engine == "tgi":
        # launcher/src/main.rs@v3.3.7 reads PREFIX_CACHING and exports it to the shards (models/globals.py).
        env["PREFIX_CACHING"] = "1" if prefix_caching else "0"
    if engine == "ollama":
        env["OLLAMA_HOST"] = f"0.0.0.0:{spec.port if port is None else port}"
        env["OLLAMA_KEEP_ALIVE"] = "-1"  # envconfig KeepAlive(): negative = keep the model loaded forever
        env["OLLAMA_NO_CLOUD"] = "1"  # envconfig: disable Ollama cloud (remote inference, web search)
        if max_model_len is not None:
            env["OLLAMA_CONTEXT_LENGTH"] = str(max_model_len)
    return env


def ollama_pull_command(model: str, *, port: int = 11434, alias: str | None = None) -> list[str]:
    """Command that pulls an Ollama model tag into OLLAMA_MODELS (same image, same volume); with `alias`, the
    tag is then copied to that name (`ollama cp`) so clients can ask for the model by it."""
    if not _OLLAMA_TAG.match(model):
        raise ValueError(f"ollama: {model!r} is not a valid model tag")
    if alias is not None and not _OLLAMA_TAG.match(alias):
        raise ValueError(f"ollama: {alias!r} is not a valid model name")
    pull = f"ollama pull {model}" + (f" && ollama cp {model} {alias}" if alias is not None else "")
    script = (f"ollama serve & pid=$!; "
              f"until ollama list >/dev/null 2>&1; do sleep 1; done; "
              f"{pull}; rc=$?; kill $pid; exit $rc")
    return ["/bin/sh", "-c", script]


TRITON_MODEL_REPOSITORY = "/models"
"""Where the Triton model repository (ConfigMap or volume) is mounted."""

# vllm_backend samples/model_repository/vllm_model/config.pbtxt @8de0c148.
TRITON_VLLM_CONFIG_PBTXT = 'backend: "vllm"\n\ninstance_group [\n  {\n    count: 1\n    kind: KIND_MODEL\n  }\n]\n'


def triton_model_files(*, model: str, served_name: str, tensor_parallel: int = 1,
                       gpu_memory_utilization: float = 0.9, max_model_len: int = 4096,
                       quantization: str = "none", prefix_caching: bool = True, kv_cache_dtype: str = "auto",
                       expert_parallel: bool = False, max_num_seqs: int | None = None) -> dict[str, object]:
    """Files of the Triton model repository: relative path -> content (str for config.pbtxt, dict for model.json).

    model.json is "a key-value dictionary that is fed to vLLM's AsyncLLMEngine" (vllm_backend README); the keys
    are vLLM EngineArgs field names (vLLM 0.24.0 in the 26.07 image).  vllm_backend@8de0c148 src/model.py builds
    `AsyncEngineArgs(**model.json)`, so `max_num_seqs` (an EngineArgs field) caps the batch; omitted: vLLM's default.
    """
    _check("triton", tensor_parallel, gpu_memory_utilization, max_model_len, 1)
    quantization_args("triton", quantization)
    engine_json: dict[str, object] = {
        "model": model,
        "tensor_parallel_size": tensor_parallel,
        "gpu_memory_utilization": gpu_memory_utilization,
        "max_model_len": max_model_len,
        "enable_prefix_caching": prefix_caching,
    }
    q = TRITON_MODEL_JSON_QUANTIZATION[quantization]
    if q is not None:
        engine_json["quantization"] = q
    kv_cache_dtype_args("triton", kv_cache_dtype)
    if kv_cache_dtype != "auto":
        engine_json["kv_cache_dtype"] = kv_cache_dtype  # EngineArgs.kv_cache_dtype (`fp8`: E4M3 on CUDA)
    expert_parallel_args("triton", expert_parallel)
    if expert_parallel:
        engine_json["enable_expert_parallel"] = True  # EngineArgs.enable_expert_parallel
    if max_num_seqs is not None:
        if max_num_seqs < 1:
            raise ValueError(f"triton: max_num_seqs must be >= 1, got {max_num_seqs}")
        engine_json["max_num_seqs"] = max_num_seqs
    return {
        f"{served_name}/config.pbtxt": TRITON_VLLM_CONFIG_PBTXT,
        f"{served_name}/1/model.json": engine_json,
    }


# ---------------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------------

# Help strings quote the upstream HELP text where the source declares one; otherwise (TGI/TEI counters without a
# describe_*!, exporter families abbreviated here) they are a short description of ours.

def _set(source: str, version: str, ref: str, *metrics: Metric) -> MetricSet:
    return MetricSet(source=source, version=version, ref=ref,
                     metrics=MappingProxyType({m.name: m for m in metrics}))


def _m(name: str, type_: MetricType, labels: tuple[str, ...], help_: str) -> Metric:
    return Metric(name=name, type=type_, labels=labels, help=help_)


# --- vLLM 0.33.0: vllm/v1/metrics/loggers.py PrometheusStatLogger (prometheus_client Counter/Gauge/Histogram) ----
# labelnames = ["model_name", "engine"]; model_name is --served-model-name, engine the engine-core index ("0").
# Registered only under options (not listed): vllm:corrupted_requests (VLLM_COMPUTE_NANS_IN_LOGITS),
# vllm:watermark_requests, vllm:num_requests_kv_fetch_by_stage (KV consumer), vllm:kv_block_* (--kv-cache-metrics),
# vllm:lora_requests_info (LoRA), speculative-decoding and KV-connector families.  There is no
# vllm:gpu_cache_usage_perc in 0.33.0 (no occurrence in the wheel).
_V = ("model_name", "engine")
_VLLM = _set(
    "vllm", VLLM_VERSION, "vllm 0.33.0 wheel: vllm/v1/metrics/loggers.py",
    _m("vllm:num_requests_running", "gauge", _V, "Number of requests in model execution batches."),
    _m("vllm:num_requests_waiting", "gauge", _V, "Number of requests waiting to be processed."),
    _m("vllm:num_requests_waiting_by_reason", "gauge", _V + ("reason",),
       "Waiting requests by reason (capacity | deferred)."),
    _m("vllm:engine_sleep_state", "gauge", _V + ("sleep_state",),
       "Engine sleep state (awake | weights_offloaded | discard_all)."),
    _m("vllm:kv_cache_usage_perc", "gauge", _V, "KV-cache usage. 1 means 100 percent usage."),
    _m("vllm:cache_config_info", "gauge", ("engine",),
       "Information of the LLMEngine CacheConfig (value 1; plus one label per CacheConfig field)."),
    _m("vllm:prefix_cache_queries_total", "counter", _V, "Prefix cache queries, in number of queried tokens."),
    _m("vllm:prefix_cache_hits_total", "counter", _V, "Prefix cache hits, in number of cached tokens."),
    _m("vllm:external_prefix_cache_queries_total", "counter", _V, "External (KV connector) prefix cache queries."),
    _m("vllm:external_prefix_cache_hits_total", "counter", _V, "External (KV connector) prefix cache hits."),
    _m("vllm:mm_cache_queries_total", "counter", _V, "Multi-modal cache queries, in number of queried items."),
    _m("vllm:mm_cache_hits_total", "counter", _V, "Multi-modal cache hits, in number of cached items."),
    _m("vllm:num_preemptions_total", "counter", _V, "Cumulative number of preemption from the engine."),
    _m("vllm:prompt_tokens_total", "counter", _V, "Number of prefill tokens processed."),
    _m("vllm:prompt_tokens_by_source_total", "counter", _V + ("source",), "Number of prompt tokens by source."),
    _m("vllm:prompt_tokens_cached_total", "counter", _V, "Number of cached prompt tokens (local + external)."),
    _m("vllm:prompt_tokens_cached_by_source_total", "counter", _V + ("source",),
       "Prefix-cache hit tokens by cache tier (device, host, disk, p2p, external_unspecified)."),
    _m("vllm:generation_tokens_total", "counter", _V, "Number of generation tokens processed."),
    _m("vllm:request_success_total", "counter", _V + ("finished_reason",),
       "Count of successfully processed requests (finished_reason: stop|length|abort|error|repetition)."),
    _m("vllm:admission_rejections_total", "counter", ("model_name", "reason"),
       "Admission attempts rejected by a queue limit, by reason (no `engine` label)."),
    _m("vllm:request_prompt_tokens", "histogram", _V, "Number of prefill tokens processed (per request)."),
    _m("vllm:request_generation_tokens", "histogram", _V, "Number of generation tokens processed (per request)."),
    _m("vllm:iteration_tokens_total", "histogram", _V,
       "Histogram of number of tokens per engine_step (a histogram despite the _total suffix)."),
    _m("vllm:request_max_num_generation_tokens", "histogram", _V,
       "Histogram of maximum number of requested generation tokens."),
    _m("vllm:request_params_n", "histogram", _V, "Histogram of the n request parameter."),
    _m("vllm:request_params_max_tokens", "histogram", _V, "Histogram of the max_tokens request parameter."),
    _m("vllm:time_to_first_token_seconds", "histogram", _V, "Histogram of time to first token in seconds."),
    _m("vllm:inter_token_latency_seconds", "histogram", _V, "Histogram of inter-token latency in seconds."),
    _m("vllm:request_time_per_output_token_seconds", "histogram", _V,
       "Histogram of time_per_output_token_seconds per request."),
    _m("vllm:e2e_request_latency_seconds", "histogram", _V, "Histogram of e2e request latency in seconds."),
    _m("vllm:request_queue_time_seconds", "histogram", _V, "Time spent in WAITING phase for request."),
    _m("vllm:request_inference_time_seconds", "histogram", _V, "Time spent in RUNNING phase for request."),
    _m("vllm:request_prefill_time_seconds", "histogram", _V, "Time spent in PREFILL phase for request."),
    _m("vllm:request_decode_time_seconds", "histogram", _V, "Time spent in DECODE phase for request."),
    _m("vllm:request_num_preemptions", "histogram", _V, "Number of times a request was preempted."),
    _m("vllm:request_prefill_kv_computed_tokens", "histogram", _V,
       "New KV tokens computed during prefill (excluding cached tokens)."),
)

# --- TGI 3.3.7: router/src/server.rs (describe_*, bucket matchers) + metrics::*! call sites in router/ and
# backends/v3 (scanned at v3.3.7).  metrics-exporter-prometheus 0.15.3: counters without `_total`; histograms for
# names matching Suffix("duration") and Full(tgi_request_input_length | tgi_request_generated_tokens |
# tgi_request_max_new_tokens | tgi_batch_next_size); tgi_request_skipped_tokens has no buckets -> summary.
_TGI = _set(
    "tgi", TGI_VERSION, f"{_TGI_SRC}: router/src/server.rs, router/src/infer/*, backends/v3/src/*",
    _m("tgi_request_count", "counter", (), "Total number of requests"),
    _m("tgi_request_success", "counter", (), "Number of successful requests"),
    _m("tgi_request_failure", "counter", ("err",), "Failed requests by error kind"),
    _m("tgi_queue_size", "gauge", (), "Current queue size"),
    _m("tgi_batch_current_size", "gauge", (), "Current batch size"),
    _m("tgi_batch_current_max_tokens", "gauge", (), "Maximum tokens for the current batch"),
    _m("tgi_batch_max_total_tokens", "gauge", (), "Maximum amount of tokens in total (KV budget)"),
    _m("tgi_batch_concat", "counter", ("reason",), "Batch concatenations by reason"),
    _m("tgi_batch_inference_count", "counter", ("method",), "Inference calls per method (prefill or decode)"),
    _m("tgi_batch_inference_success", "counter", ("method",), "Successful inference calls per method"),
    _m("tgi_batch_inference_failure", "counter", ("method",), "Failed inference calls per method"),
    _m("tgi_request_duration", "histogram", (), "Total time spent processing the request (seconds)"),
    _m("tgi_request_validation_duration", "histogram", (), "Time spent validating the request (seconds)"),
    _m("tgi_request_queue_duration", "histogram", (), "Time spent in the queue per request (seconds)"),
    _m("tgi_request_inference_duration", "histogram", (), "Request inference duration (seconds)"),
    _m("tgi_request_mean_time_per_token_duration", "histogram", (), "Mean time per token per request (seconds)"),
    _m("tgi_request_input_length", "histogram", (), "Input token length per request"),
    _m("tgi_request_generated_tokens", "histogram", (), "Generated tokens per request"),
    _m("tgi_request_max_new_tokens", "histogram", (), "Maximum new tokens per request"),
    _m("tgi_request_skipped_tokens", "summary", ("quantile",), "Speculated tokens per request (no buckets -> summary)"),
    _m("tgi_batch_next_size", "histogram", (), "Batch size"),
    _m("tgi_batch_inference_duration", "histogram", ("method",), "Batch inference duration (seconds)"),
    _m("tgi_batch_forward_duration", "histogram", ("method",), "Batch forward duration per method (seconds)"),
    _m("tgi_batch_decode_duration", "histogram", ("method",), "Time spent decoding a batch per method (seconds)"),
    _m("tgi_batch_filter_duration", "histogram", ("method",), "Time spent filtering batches per method (seconds)"),
    _m("tgi_batch_concat_duration", "histogram", ("method",), "Batch concatenation duration (seconds)"),
)

# --- Triton (core r26.06 src/metrics.cc, src/metric_model_reporter.cc, src/constants.h; server v2.71.0
# docs/user_guide/metrics.md).  Model labels: model, version (+ `namespace` with model namespacing, `gpu_uuid` for
# GPU instances -- the vLLM backend's KIND_MODEL instance has none).  Histograms and summaries are off unless
# `--metrics-config histogram_latencies=true` / `summary_latencies=true`.
_TM = ("model", "version")
_TRITON = _set(
    "triton", TRITON_VERSION,
    "triton-inference-server/core@r26.06 src/metrics.cc; server@v2.71.0 docs/user_guide/metrics.md",
    _m("nv_inference_request_success", "counter", _TM, "Number of successful inference requests, all batch sizes"),
    _m("nv_inference_request_failure", "counter", _TM + ("reason",),
       "Number of failed inference requests (reason: REJECTED|CANCELED|BACKEND|OTHER)"),
    _m("nv_inference_count", "counter", _TM, "Number of inferences performed"),
    _m("nv_inference_exec_count", "counter", _TM, "Number of model executions performed"),
    _m("nv_inference_request_duration_us", "counter", _TM, "Cumulative inference request duration in microseconds"),
    _m("nv_inference_queue_duration_us", "counter", _TM, "Cumulative inference queuing duration in microseconds"),
    _m("nv_inference_compute_input_duration_us", "counter", _TM, "Cumulative compute input duration (us)"),
    _m("nv_inference_compute_infer_duration_us", "counter", _TM, "Cumulative compute inference duration (us)"),
    _m("nv_inference_compute_output_duration_us", "counter", _TM, "Cumulative compute output duration (us)"),
    _m("nv_inference_pending_request_count", "gauge", _TM, "Instantaneous number of pending requests (queue size)"),
    _m("nv_model_load_duration_secs", "gauge", _TM, "Model load time in seconds"),
    _m("nv_inference_first_response_histogram_ms", "histogram", _TM,
       "Duration from request to first response in milliseconds (histogram_latencies=true)"),
    _m("nv_inference_request_summary_us", "summary", _TM + ("quantile",), "Request duration summary (us)"),
    _m("nv_inference_queue_summary_us", "summary", _TM + ("quantile",), "Queue duration summary (us)"),
    _m("nv_inference_compute_input_summary_us", "summary", _TM + ("quantile",), "Compute input summary (us)"),
    _m("nv_inference_compute_infer_summary_us", "summary", _TM + ("quantile",), "Compute infer summary (us)"),
    _m("nv_inference_compute_output_summary_us", "summary", _TM + ("quantile",), "Compute output summary (us)"),
    _m("nv_cache_num_hits_per_model", "counter", _TM, "Number of response cache hits per model"),
    _m("nv_cache_num_misses_per_model", "counter", _TM, "Number of response cache misses per model"),
    _m("nv_cache_hit_duration_per_model", "counter", _TM, "Total cache hit duration per model (us)"),
    _m("nv_cache_miss_duration_per_model", "counter", _TM, "Total cache miss duration per model (us)"),
    _m("nv_gpu_utilization", "gauge", ("gpu_uuid",), "GPU utilization rate [0.0 - 1.0)"),
    _m("nv_gpu_memory_total_bytes", "gauge", ("gpu_uuid",), "GPU total memory, in bytes"),
    _m("nv_gpu_memory_used_bytes", "gauge", ("gpu_uuid",), "GPU used memory, in bytes"),
    _m("nv_gpu_power_usage", "gauge", ("gpu_uuid",), "GPU power usage in watts"),
    _m("nv_gpu_power_limit", "gauge", ("gpu_uuid",), "GPU power management limit in watts"),
    _m("nv_energy_consumption", "counter", ("gpu_uuid",), "GPU energy consumption in joules since start"),
    _m("nv_cpu_utilization", "gauge", (), "CPU utilization rate [0.0 - 1.0]"),
    _m("nv_cpu_memory_total_bytes", "gauge", (), "CPU total memory (RAM), in bytes"),
    _m("nv_cpu_memory_used_bytes", "gauge", (), "CPU used memory (RAM), in bytes"),
    _m("nv_pinned_memory_pool_total_bytes", "gauge", (), "Pinned memory pool total memory size, in bytes"),
    _m("nv_pinned_memory_pool_used_bytes", "gauge", (), "Pinned memory pool used memory size, in bytes"),
)

# --- TEI 1.9.3: metrics::*! call sites in router/, core/, backends/ (scanned at v1.9.3) + router/src/prometheus.rs
# bucket matchers (Suffix("duration"), te_request_input_length, te_batch_next_size, te_batch_next_tokens: every
# histogram has buckets).  metrics-exporter-prometheus 0.15.3: counters without `_total`.
_TEI = _set(
    "tei", TEI_VERSION, f"{_TEI_SRC}: router/src/prometheus.rs, router/src/http/server.rs, core/src/*",
    _m("te_request_count", "counter", ("method",), "Requests by method (embed, predict, rerank, ...)"),
    _m("te_request_success", "counter", ("method",), "Successful requests by method"),
    _m("te_request_failure", "counter", ("err",), "Failed requests by error kind"),
    _m("te_embed_count", "counter", (), "Embedding inputs received"),
    _m("te_embed_success", "counter", (), "Successful embedding inputs"),
    _m("te_predict_count", "counter", (), "Prediction inputs received"),
    _m("te_predict_success", "counter", (), "Successful prediction inputs"),
    _m("te_queue_size", "gauge", (), "Current queue size"),
    _m("te_request_duration", "histogram", (), "Request duration (seconds)"),
    _m("te_request_tokenization_duration", "histogram", (), "Request tokenization duration (seconds)"),
    _m("te_request_queue_duration", "histogram", (), "Request queue duration (seconds)"),
    _m("te_request_inference_duration", "histogram", (), "Request inference duration (seconds)"),
    _m("te_request_input_length", "histogram", (), "Input token length per request"),
    _m("te_embed_duration", "histogram", (), "Embedding duration (seconds)"),
    _m("te_embed_tokenization_duration", "histogram", (), "Embedding tokenization duration (seconds)"),
    _m("te_embed_queue_duration", "histogram", (), "Embedding queue duration (seconds)"),
    _m("te_embed_inference_duration", "histogram", (), "Embedding inference duration (seconds)"),
    _m("te_predict_duration", "histogram", (), "Prediction duration (seconds)"),
    _m("te_predict_tokenization_duration", "histogram", (), "Prediction tokenization duration (seconds)"),
    _m("te_predict_queue_duration", "histogram", (), "Prediction queue duration (seconds)"),
    _m("te_predict_inference_duration", "histogram", (), "Prediction inference duration (seconds)"),
    _m("te_batch_next_size", "histogram", (), "Batch size"),
    _m("te_batch_next_tokens", "histogram", (), "Batch tokens"),
)

# --- DCGM exporter ------------------------------------------------------------------------------------------
# gpu-operator v26.7.0 assets/state-dcgm-exporter/0800_daemonset.yaml and internal/state/dcgm_exporter.go: the
# operator sets DCGM_EXPORTER_COLLECTORS=/etc/dcgm-exporter/dcp-metrics-included.csv (not default-counters.csv)
# unless dcgmExporter.config names a custom ConfigMap, DCGM_EXPORTER_LISTEN=:9400, DCGM_EXPORTER_KUBERNETES=true;
# probes GET /health on 9400; scrape GET /metrics on 9400.
DCGM_EXPORTER_PORT = 9400
DCGM_EXPORTER_COLLECTORS_FILE = "/etc/dcgm-exporter/dcp-metrics-included.csv"

# Labels, NVIDIA/dcgm-exporter internal/pkg/rendermetrics/render_metrics.go @4.5.3-4.8.2:
#   gpu, UUID, pci_bus_id, device, modelName, GPU_I_PROFILE + GPU_I_ID (MIG instances only), Hostname (unless
#   --no-hostname), one label per `label`-typed CSV row (DCGM_FI_DRIVER_VERSION), then the transformation labels
#   pod, namespace, container (Kubernetes pod-resources mapping, internal/pkg/transformation/const.go), pod_uid
#   (operator dcgmExporter.enablePodUID) and pod labels (enablePodLabels).
# d5e5f51 "Rename Hostname label to hostname (#655)" (2026-05-12) landed on main after 4.5.3-4.8.2; the
# operator's 4.6.0-4.8.3 was released after it but its tag is not in the snapshot -- both spellings are listed,
# and dashboards should not join on it (use `instance`/`node`).
DCGM_LABELS: tuple[str, ...] = (
    "gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "hostname", "DCGM_FI_DRIVER_VERSION",
    "GPU_I_PROFILE", "GPU_I_ID", "pod", "namespace", "container", "pod_uid",
)
DCGM_MIG_LABELS: tuple[str, ...] = ("GPU_I_PROFILE", "GPU_I_ID")
DCGM_KUBERNETES_LABELS: tuple[str, ...] = ("pod", "namespace", "container")

# Not reported for MIG instances: DCGM_FI_DEV_GPU_UTIL, _MEM_COPY_UTIL, _ENC_UTIL, _DEC_UTIL ("supported by all GPU
# models but are not supported for MIG configurations. ... Use DCGM_FI_PROF_GR_ENGINE_ACTIVE and
# DCGM_FI_PROF_DRAM_ACTIVE, which is reported for MIG devices" -- NVIDIA/dcgm-exporter#430, maintainer; also #216,
# NVIDIA/DCGM#80).
DCGM_MIG_UNSUPPORTED: frozenset[str] = frozenset({
    "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_ENC_UTIL", "DCGM_FI_DEV_DEC_UTIL",
})
DCGM_MIG_REPLACEMENT: Mapping[str, str] = MappingProxyType({
    "DCGM_FI_DEV_GPU_UTIL": "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "DCGM_FI_PROF_DRAM_ACTIVE",
})
"""Utilisation metric to use instead on MIG slices (ratio 0-1, not percent)."""

_DL = DCGM_LABELS
_DCGM = _set(
    "dcgm", DCGM_EXPORTER_VERSION,
    "NVIDIA/dcgm-exporter@4.5.3-4.8.2 (= d5e5f51) etc/dcp-metrics-included.csv; gpu-operator@v26.7.0 values.yaml",
    _m("DCGM_FI_DEV_SM_CLOCK", "gauge", _DL, "SM clock frequency (in MHz)."),
    _m("DCGM_FI_DEV_MEM_CLOCK", "gauge", _DL, "Memory clock frequency (in MHz)."),
    _m("DCGM_FI_DEV_MEMORY_TEMP", "gauge", _DL, "Memory temperature (in C)."),
    _m("DCGM_FI_DEV_GPU_TEMP", "gauge", _DL, "GPU temperature (in C)."),
    _m("DCGM_FI_DEV_POWER_USAGE", "gauge", _DL, "Power draw (in W)."),
    _m("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", _DL, "Total energy consumption since boot (in mJ)."),
    _m("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", _DL, "Total number of PCIe retries."),
    _m("DCGM_FI_DEV_GPU_UTIL", "gauge", _DL, "GPU utilization (in %). Not reported for MIG instances."),
    _m("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", _DL, "Memory utilization (in %). Not reported for MIG instances."),
    _m("DCGM_FI_DEV_ENC_UTIL", "gauge", _DL, "Encoder utilization (in %). Not reported for MIG instances."),
    _m("DCGM_FI_DEV_DEC_UTIL", "gauge", _DL, "Decoder utilization (in %). Not reported for MIG instances."),
    # gpu_collector.go@4.5.3-4.8.2: the XID gauge also carries err_code and err_msg (text of the XID).  It holds the
    # LAST XID seen, so alert on changes (changes()/value > 0), not on a rate.
    _m("DCGM_FI_DEV_XID_ERRORS", "gauge", _DL + ("err_code", "err_msg"),
       "Value of the last XID error encountered."),
    _m("DCGM_FI_DEV_FB_FREE", "gauge", _DL, "Framebuffer memory free (in MiB)."),
    _m("DCGM_FI_DEV_FB_USED", "gauge", _DL, "Framebuffer memory used (in MiB)."),
    _m("DCGM_FI_DEV_FB_RESERVED", "gauge", _DL, "Framebuffer memory reserved (in MiB)."),
    _m("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", _DL,
       "Total number of NVLink bandwidth counters for all lanes."),
    _m("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", _DL, "vGPU License status"),
    _m("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", _DL, "Number of remapped rows for uncorrectable errors"),
    _m("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", _DL, "Number of remapped rows for correctable errors"),
    _m("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", _DL, "Whether remapping of rows has failed"),
    _m("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", _DL,
       "Ratio of time the graphics engine is active. Reported for MIG instances (use instead of GPU_UTIL)."),
    _m("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", _DL, "Ratio of cycles the tensor (HMMA) pipe is active."),
    _m("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", _DL,
       "Ratio of cycles the device memory interface is active sending or receiving data."),
    _m("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", _DL, "Rate of data transmitted over the PCIe bus, bytes per second."),
    _m("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", _DL, "Rate of data received over the PCIe bus, bytes per second."),
)
# DCGM_FI_DRIVER_VERSION is a `label` row in the CSV: it is not a series but a label on every series above.

# --- Milvus (Go client_golang; names as declared; latency buckets in milliseconds) ------------------------------
_MILVUS = _set(
    "milvus", MILVUS_VERSION,
    "milvus-io/milvus pkg/metrics/proxy_metrics.go@01f8faac, pkg/metrics/metrics.go@0067b030 (stored copies, "
    "not tag v2.6.15); zilliztech/milvus-helm@milvus-5.0.19 (appVersion 2.6.15)",
    _m("milvus_proxy_sq_latency", "histogram", ("node_id", "query_type", "db_name", "collection_name"),
       "latency of search or query successfully (ms)"),
    _m("milvus_proxy_collection_sq_latency", "histogram", ("node_id", "query_type", "collection_name"),
       "latency of search or query successfully, per collection (ms; deprecated)"),
    _m("milvus_proxy_mutation_latency", "histogram", ("node_id", "msg_type", "db_name", "collection_name"),
       "latency of insert or delete successfully (ms)"),
    _m("milvus_proxy_sq_wait_result_latency", "histogram", ("node_id", "query_type"),
       "latency that proxy waits for the result (ms)"),
    _m("milvus_proxy_req_count", "counter", ("node_id", "function_name", "status", "db_name", "collection_name"),
       "count of operation executed"),
    _m("milvus_proxy_req_latency", "histogram", ("node_id", "function_name"), "latency of each request (ms)"),
    _m("milvus_proxy_req_in_queue_latency", "histogram", ("node_id", "function_name"),
       "latency which request waits in the queue (ms)"),
    _m("milvus_proxy_search_vectors_count", "counter", ("node_id", "db_name", "collection_name"),
       "counter of vectors successfully searched"),
    _m("milvus_proxy_insert_vectors_count", "counter", ("node_id", "db_name", "collection_name"),
       "counter of vectors successfully inserted"),
    _m("milvus_proxy_received_nq", "counter", ("node_id", "query_type", "collection_name"),
       "counter of nq of received search and query requests"),
    _m("milvus_proxy_executing_total_nq", "gauge", ("node_id",), "total nq of executing search/query"),
    _m("milvus_proxy_slow_query_count", "counter", ("node_id", "msg_type"), "count of slow query executed"),
    _m("milvus_num_node", "gauge", ("node_id", "role_name"), "number of nodes and coordinates"),
)

# --- Qdrant 1.19.0 src/common/metrics.rs (names as declared; optional global prefix service.metrics_prefix,
# unset by default -- config/config.yaml).  REST: labels method, endpoint, status; gRPC: endpoint, status; with
# ?per_collection a `collection` label is added.  Served at GET /metrics on the REST port 6333.
_QR = ("method", "endpoint", "status")
_QG = ("endpoint", "status")
_QDRANT = _set(
    "qdrant", QDRANT_VERSION, "qdrant/qdrant@v1.19.0 src/common/metrics.rs",
    _m("app_info", "gauge", ("name", "version"), "information about qdrant server"),
    _m("collections_total", "gauge", (), "number of collections"),
    _m("collections_vector_total", "gauge", (), "total number of vectors in all collections"),
    _m("collection_points", "gauge", ("id",), "approximate amount of points per collection"),
    _m("collection_vectors", "gauge", ("collection", "vector"), "amount of vectors grouped by vector name"),
    _m("collection_running_optimizations", "gauge", ("id",), "number of currently running optimization tasks"),
    _m("collection_dead_replicas", "gauge", (), "total amount of shard replicas in non-active state"),
    _m("rest_responses_total", "counter", _QR, "total number of responses"),
    _m("rest_responses_avg_duration_seconds", "gauge", _QR, "average response duration"),
    _m("rest_responses_min_duration_seconds", "gauge", _QR, "minimum response duration"),
    _m("rest_responses_max_duration_seconds", "gauge", _QR, "maximum response duration"),
    _m("rest_responses_duration_seconds", "histogram", _QR, "response duration histogram"),
    _m("grpc_responses_total", "counter", _QG, "total number of responses"),
    _m("grpc_responses_avg_duration_seconds", "gauge", _QG, "average response duration"),
    _m("grpc_responses_min_duration_seconds", "gauge", _QG, "minimum response duration"),
    _m("grpc_responses_max_duration_seconds", "gauge", _QG, "maximum response duration"),
    _m("grpc_responses_duration_seconds", "histogram", _QG, "response duration histogram"),
    _m("memory_allocated_bytes", "gauge", (), "Total number of bytes allocated by the application"),
    _m("memory_resident_bytes", "gauge", (), "Maximum number of bytes in physically resident data pages mapped"),
)

# --- Weaviate 1.39.0 usecases/monitoring/prometheus.go (client_golang; only with PROMETHEUS_MONITORING_ENABLED=
# true, port 2112 by default -- usecases/config/environment.go).
_WEAVIATE = _set(
    "weaviate", WEAVIATE_VERSION, "weaviate/weaviate@v1.39.0 usecases/monitoring/prometheus.go",
    _m("queries_durations_ms", "histogram", ("class_name", "query_type"), "Duration of queries in milliseconds"),
    _m("concurrent_queries_count", "gauge", ("class_name", "query_type"),
       "Number of concurrently running query operations"),
    _m("requests_total", "gauge", ("status", "class_name", "api", "query_type"),
       "Number of all requests made (a GAUGE despite the _total suffix)"),
    _m("batch_durations_ms", "histogram", ("operation", "class_name", "shard_name"),
       "Duration in ms of a single batch"),
    _m("objects_durations_ms", "summary", ("operation", "step", "class_name", "shard_name", "quantile"),
       "Duration of an individual object operation. Also as part of batches."),
    _m("object_count", "gauge", ("class_name", "shard_name"), "Number of currently ongoing async operations"),
    _m("vector_index_size", "gauge", ("class_name", "shard_name"), "The size of the vector index"),
    _m("query_dimensions_total", "counter", ("query_type", "operation", "class_name"),
       "The vector dimensions used by any read-query that involves vectors"),
)

# --- elasticsearch_exporter 1.11.0 collector/cluster_health.go, collector/nodes.go (namespace "elasticsearch").
_ESN = ("cluster", "host", "name", "es_master_node", "es_data_node", "es_ingest_node", "es_client_node")
_ES = _set(
    "elasticsearch-exporter", ELASTICSEARCH_EXPORTER_VERSION,
    "prometheus-community/elasticsearch_exporter@v1.11.0 collector/cluster_health.go, collector/nodes.go",
    _m("elasticsearch_cluster_health_status", "gauge", ("cluster", "color"),
       "Whether all primary and replica shards are allocated (1 for the current color: green|yellow|red)."),
    _m("elasticsearch_cluster_health_number_of_nodes", "gauge", ("cluster",), "Number of nodes in the cluster."),
    _m("elasticsearch_cluster_health_number_of_data_nodes", "gauge", ("cluster",), "Number of data nodes."),
    _m("elasticsearch_cluster_health_active_shards", "gauge", ("cluster",), "Active shards."),
    _m("elasticsearch_cluster_health_active_primary_shards", "gauge", ("cluster",), "Active primary shards."),
    _m("elasticsearch_cluster_health_unassigned_shards", "gauge", ("cluster",), "Unassigned shards."),
    _m("elasticsearch_cluster_health_relocating_shards", "gauge", ("cluster",), "Relocating shards."),
    _m("elasticsearch_cluster_health_initializing_shards", "gauge", ("cluster",), "Initializing shards."),
    _m("elasticsearch_cluster_health_delayed_unassigned_shards", "gauge", ("cluster",), "Delayed unassigned shards."),
    _m("elasticsearch_cluster_health_number_of_pending_tasks", "gauge", ("cluster",), "Pending cluster tasks."),
    _m("elasticsearch_jvm_memory_used_bytes", "gauge", _ESN + ("area",), "JVM memory currently used by area"),
    _m("elasticsearch_jvm_memory_max_bytes", "gauge", _ESN + ("area",), "JVM memory max"),
    _m("elasticsearch_filesystem_data_available_bytes", "gauge", _ESN + ("mount", "path"),
       "Available space on block device in bytes"),
    _m("elasticsearch_filesystem_data_size_bytes", "gauge", _ESN + ("mount", "path"), "Size of block device in bytes"),
    _m("elasticsearch_indices_docs", "gauge", _ESN, "Count of documents on this node"),
    _m("elasticsearch_indices_search_query_total", "counter", _ESN, "Total number of queries"),
    _m("elasticsearch_indices_search_query_time_seconds", "counter", _ESN, "Total search query time in seconds"),
    _m("elasticsearch_indices_indexing_index_total", "counter", _ESN, "Total index calls"),
    _m("elasticsearch_thread_pool_rejected_count", "counter", _ESN + ("type",), "Thread pool operations rejected"),
    _m("elasticsearch_breakers_tripped", "counter", _ESN + ("breaker",), "Tripped circuit breakers"),
)

# --- redis_exporter 1.88.0 exporter/exporter.go metricMapGauges / metricMapCounters / metricDescriptions;
# namespace "redis" (main.go --namespace default).
_REDIS = _set(
    "redis-exporter", REDIS_EXPORTER_VERSION, "oliver006/redis_exporter@v1.88.0 exporter/exporter.go, main.go",
    _m("redis_up", "gauge", (), "Information about the Redis instance (1 = scrape of Redis succeeded)"),
    _m("redis_uptime_in_seconds", "gauge", (), "uptime_in_seconds"),
    _m("redis_connected_clients", "gauge", (), "connected_clients"),
    _m("redis_blocked_clients", "gauge", (), "blocked_clients"),
    _m("redis_memory_used_bytes", "gauge", (), "used_memory"),
    _m("redis_memory_max_bytes", "gauge", (), "maxmemory"),
    _m("redis_mem_fragmentation_ratio", "gauge", (), "mem_fragmentation_ratio"),
    _m("redis_connected_slaves", "gauge", (), "connected_slaves"),
    _m("redis_commands_processed_total", "counter", (), "total_commands_processed"),
    _m("redis_rejected_connections_total", "counter", (), "rejected_connections"),
    _m("redis_expired_keys_total", "counter", (), "expired_keys"),
    _m("redis_evicted_keys_total", "counter", (), "evicted_keys"),
    _m("redis_keyspace_hits_total", "counter", (), "keyspace_hits"),
    _m("redis_keyspace_misses_total", "counter", (), "keyspace_misses"),
    _m("redis_db_keys", "gauge", ("db",), "Total number of keys by DB"),
    _m("redis_db_keys_expiring", "gauge", ("db",), "Total number of expiring keys by DB"),
)

METRICS: Mapping[str, MetricSet] = MappingProxyType({
    s.source: s for s in (_VLLM, _TGI, _TRITON, _TEI, _DCGM, _MILVUS, _QDRANT, _WEAVIATE, _ES, _REDIS)
})
"""Source -> metrics it exports at the pinned version.  Ollama has no entry: it exports none."""

ENGINE_METRICS_SOURCE: Mapping[str, str | None] = MappingProxyType({
    "vllm": "vllm", "vllm-embed": "vllm", "tgi": "tgi", "triton": "triton", "tei": "tei", "ollama": None,
})
"""Engine key -> METRICS key of what its pod exports (None: nothing to scrape)."""

AUTOSCALING_SIGNALS: Mapping[str, AutoscalingSignals] = MappingProxyType({
    "vllm": AutoscalingSignals(queue="vllm:num_requests_waiting", kv_cache="vllm:kv_cache_usage_perc",
                               running="vllm:num_requests_running"),
    "vllm-embed": AutoscalingSignals(queue="vllm:num_requests_waiting", kv_cache=None,
                                     running="vllm:num_requests_running"),
    "tgi": AutoscalingSignals(queue="tgi_queue_size", kv_cache=None, running="tgi_batch_current_size"),
    "triton": AutoscalingSignals(queue="nv_inference_pending_request_count", kv_cache=None),
    "tei": AutoscalingSignals(queue="te_queue_size", kv_cache=None),
})
"""Engine -> metric names for queue-depth / KV-cache autoscaling (Ollama: none -- scale on CPU or not at all)."""

_PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_SUFFIXES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "counter": ("",), "gauge": ("",), "histogram": ("", "_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count"),
})


def series_names(source: str) -> frozenset[str]:
    """Every series name a scrape of `source` can contain: base names, plus `_bucket/_sum/_count` for histograms
    and `_sum/_count` for summaries.  This is the allow-list PromQL in dashboards/alerts is checked against."""
    if source not in METRICS:
        raise ValueError(f"unknown metrics source {source!r}; known: {', '.join(METRICS)}")
    return frozenset(m.name + suffix for m in METRICS[source].metrics.values() for suffix in _SUFFIXES[m.type])


def all_series_names() -> frozenset[str]:
    """Union of series_names() over every source."""
    return frozenset().union(*(series_names(s) for s in METRICS))


def is_prometheus_name(name: str) -> bool:
    """Whether `name` is a valid Prometheus metric name."""
    return bool(_PROM_NAME.match(name))


__all__ = [
    "AUTOSCALING_SIGNALS",
    "DCGM_EXPORTER_COLLECTORS_FILE",
    "DCGM_EXPORTER_PORT",
    "DCGM_EXPORTER_VERSION",
    "DCGM_KUBERNETES_LABELS",
    "DCGM_LABELS",
    "DCGM_MIG_LABELS",
    "DCGM_MIG_REPLACEMENT",
    "DCGM_MIG_UNSUPPORTED",
    "EMBEDDING_ENGINES",
    "ENGINES",
    "ENGINE_METRICS_SOURCE",
    "EXPERT_PARALLEL_ARGS",
    "FORMAT_CHECKED_ENGINES",
    "FP8_KV_MIN_CAPABILITY",
    "GPU_COMPUTE_CAPABILITY",
    "KV_CACHE_DTYPE_ARGS",
    "MAX_NUM_SEQS_UNSUPPORTED",
    "METRICS",
    "QUANTIZATIONS",
    "QUANTIZATION_ARGS",
    "SERVING_ENGINES",
    "TEI_IMAGES",
    "TRITON_MODEL_JSON_QUANTIZATION",
    "TRITON_MODEL_REPOSITORY",
    "TRITON_VLLM_CONFIG_PBTXT",
    "VLLM_FORMAT_MIN_CAPABILITY",
    "VLLM_FORMAT_NATIVE_CAPABILITY",
    "AutoscalingSignals",
    "EngineSpec",
    "Metric",
    "MetricSet",
    "all_series_names",
    "capability",
    "embedding_engine_key",
    "engine_args",
    "engine_env",
    "expert_parallel_args",
    "format_runs_on",
    "formats_on",
    "fp8_kv_runs_on",
    "image_for",
    "is_prometheus_name",
    "kv_cache_dtype_args",
    "ollama_pull_command",
    "quantization_args",
    "series_names",
    "tei_image",
    "triton_model_files",
]
