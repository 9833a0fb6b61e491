"""What one model server runs, as plain Kubernetes data: pure functions of the config and the capacity plan.

The `ModelServer` component turns these dicts into typed resources; tests call them directly. Every engine
shares one skeleton and differs only in the facts recorded in `config/engines.py` (image, command, args,
ports, probes, caches, identity) and in `RUNTIME` below (how strictly its container can be locked down).

Model weights never come from the internet at serving time. A download Job (pod label
`ai-platform/role: model-download`, the only pods the NetworkPolicies let out to :443) fills the model's
cache volume once: `snapshot_download` of the Hugging Face repository into `<cache>/models/<repo id>`
(vLLM, TGI, Triton, TEI), or `ollama pull` into `<cache>/models` (Ollama). Servers mount the volume
read-only (Ollama read-write: it owns its model store) and load that directory with the Hub offline.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass
from typing import Any, Optional

from config import sizing
from config.capacity import ModelPlan, served_models
from config.engines import (
    AUTOSCALING_SIGNALS,
    ENGINES,
    EngineSpec,
    embedding_engine_key,
    engine_args,
    engine_env,
    image_for,
    ollama_pull_command,
    triton_model_files,
    TRITON_MODEL_REPOSITORY,
)
from config.models import GpuPool, ServedModel, StackConfig
from config.network import MODEL_DOWNLOAD, ROLE_LABEL

from ..labels import MODEL_LABEL, PLACEMENT_LABEL, POOL_LABEL, gpu_toleration, standard_labels

MODEL_SERVER = "model-server"
EMBEDDING = "embedding"
PRIMARY = "primary"
FALLBACK = "fallback"
PRIORITY_CLASS = "ai-platform-serving"
DOWNLOAD_PRIORITY_CLASS = "ai-platform-batch"
SERVER_ACCOUNT = "model-server"
DOWNLOAD_ACCOUNT = "model-download"
HF_SECRET = "hf-token"
HF_SECRET_KEY = "token"
UID = 1000  # numeric, so runAsNonRoot can be verified without a passwd entry
PRESTOP_SECONDS = 15  # endpoints controllers and kube-proxy drop the pod from the Service meanwhile
PORT_NAME = "http"
CACHE_VOLUME = "model-cache"
TMP_VOLUME = "tmp"
SHM_VOLUME = "dshm"
TRITON_VOLUME = "triton-repository"
HOME = "/tmp"
PROBE_PERIOD = 10
DOWNLOAD_DEADLINE_SECONDS = 6 * 3600

# Download script for every Hugging Face engine: the whole repository into a plain directory, without the
# duplicate formats repositories often carry (original/ consolidated .pth, ONNX/OpenVINO exports, .bin next to
# .safetensors), so the volume sized by the capacity plan holds it. Values come from the environment (no quoting).
HF_DOWNLOAD_SCRIPT = """\
import os
from huggingface_hub import HfApi, snapshot_download
repo, target = os.environ["MODEL_ID"], os.environ["MODEL_DIR"]
files = HfApi().list_repo_files(repo)
ignore = ["original/*", "*.pth", "onnx/*", "*.onnx", "openvino/*", "*.gguf"]
if any(f.endswith(".safetensors") for f in files):
    ignore += ["*.bin", "*.pt"]
snapshot_download(repo_id=repo, local_dir=target, ignore_patterns=ignore)
print("downloaded", repo, "to", target)
"""


@dataclass(frozen=True)
class Runtime:
    """How one engine's container runs under Pod Security (decided here, from config/engines.py facts)."""

    run_as_user: Optional[int]
    """Numeric UID; None keeps the image's root user (only with namespace podSecurity baseline)."""
    read_only_root: bool
    """readOnlyRootFilesystem (writable paths are the tmp and cache volumes)."""
    cache_mount: str
    """Where the model-cache volume is mounted."""
    python: Optional[str]
    """Python interpreter of the image, used by the download Job (None: the Job uses another image)."""
    why: str


RUNTIME: dict[str, Runtime] = {
    # engines.py: vLLM runs as any UID once HOME and its caches are writable; compile caches go to /tmp.
    "vllm": Runtime(UID, True, "/cache", "python3", "any UID with HOME, HF_HOME, VLLM_CACHE_ROOT writable"),
    "vllm-embed": Runtime(UID, True, "/cache", "python3", "as vllm"),
    # engines.py: build.py creates triton-server UID 1000 to run Triton as non-root.
    "triton": Runtime(UID, True, "/cache", "python3", "the image's triton-server user (UID 1000)"),
    # engines.py: TGI's Python lives under /root (uv), unreachable for another UID; root, no capabilities.
    "tgi": Runtime(None, False, "/data", "python", "root only: the interpreter is under /root"),
    # engines.py: the TEI router is a static binary; the Job downloads with the vLLM image (TEI has no Python).
    "tei": Runtime(UID, True, "/data", None, "a static binary, any UID"),
    # engines.py: Ollama runs as any UID with HOME and OLLAMA_MODELS writable; /root/.ollama is not
    # reachable for UID 1000 (/root is 0700), so the store is mounted at /cache.
    "ollama": Runtime(UID, True, "/cache", None, "any UID with HOME and OLLAMA_MODELS writable"),
}


@dataclass(frozen=True)
class Server:
    """One model server, resolved: its config entry, engine, plan and pools."""

    name: str
    component: str
    engine: str
    """Key of config.engines.ENGINES (tei and vllm-embed for the embedding server)."""
    model: ServedModel
    plan: ModelPlan
    pool: Optional[GpuPool]
    fallback: Optional[GpuPool]
    namespace: str

    @property
    def spec(self) -> EngineSpec:
        return ENGINES[self.engine]

    @property
    def runtime(self) -> Runtime:
        return RUNTIME[self.engine]

    @property
    def gpu(self) -> bool:
        return self.plan.resource is not None

    @property
    def model_dir(self) -> str:
        """Where the weights are inside the cache volume (what the engine loads)."""
        if self.engine == "ollama":
            return f"{self.runtime.cache_mount}/models"
        return f"{self.runtime.cache_mount}/models/{self.model.model}"

    @property
    def metrics(self) -> bool:
        return self.spec.metrics_path is not None


def servers(cfg: StackConfig, plan) -> list[Server]:
    """Every model server of the stack: `serving.models[]` in order, then the embedding server."""
    found = []
    for index, (_, model) in enumerate(served_models(cfg)):
        embedding = index >= len(cfg.serving.models)  # served_models lists rag.embedding last
        engine = embedding_engine_key(model.engine) if embedding else model.engine
        found.append(Server(model.name, EMBEDDING if embedding else MODEL_SERVER, engine, model,
                            plan.model(model.name), cfg.pool(model.pool or ""), cfg.pool(model.fallback_pool or ""),
                            cfg.serving.namespace))
    return found


# ------------------------------------------------------------------------------------------- labels


def selector(server: Server, placement: Optional[str] = None) -> dict[str, str]:
    """Labels that pick the server's pods (every pod of the model, or one Deployment's with `placement`)."""
    found = {MODEL_LABEL: server.name, "app.kubernetes.io/component": server.component}
    if placement is not None:
        found[PLACEMENT_LABEL] = placement
    return found


def pod_labels(server: Server, cfg: StackConfig, placement: str) -> dict[str, str]:
    return {**standard_labels(server.name, server.component, cfg.labels), **selector(server, placement)}


def object_labels(server: Server, cfg: StackConfig) -> dict[str, str]:
    return {**standard_labels(server.name, server.component, cfg.labels), MODEL_LABEL: server.name}


def download_labels(server: Server, cfg: StackConfig) -> dict[str, str]:
    return {**standard_labels(f"{server.name}-download", MODEL_DOWNLOAD, cfg.labels), ROLE_LABEL: MODEL_DOWNLOAD,
            MODEL_LABEL: server.name}


# ------------------------------------------------------------------------------------------ sizing


def shm_gi(server: Server) -> int:
    """Memory-backed /dev/shm: PyTorch/NCCL worker IPC (engines.py needs_shm); bigger with tensor parallelism."""
    return sizing.shm_gi(server.engine, server.model.tensor_parallel)


def startup_seconds(server: Server) -> int:
    """Model load budget: 300 s (CUDA init, graph capture, compile) + 20 s per GiB read from the volume."""
    if server.model.startup_seconds is not None:
        return server.model.startup_seconds
    return min(7200, int(300 + 20 * server.plan.weights_gib))


def resources(server: Server, placement: str = PRIMARY) -> dict[str, dict[str, str]]:
    """Requests and limits: CPU/memory from config or sized from the plan (config/sizing.py, which the quota check
    counts too); the GPU/MIG resource of the Deployment's pool from the plan."""
    resource = server.plan.fallback_resource if placement == FALLBACK else server.plan.resource
    return sizing.server_resources(server.model, server.plan, server.engine, resource)


# ----------------------------------------------------------------------------------------- container


def container_args(server: Server) -> list[str]:
    model = server.model
    return engine_args(server.engine, model=server.model_dir if server.engine != "ollama" else model.model,
                       served_name=server.name, tensor_parallel=model.tensor_parallel,
                       gpu_memory_utilization=model.gpu_memory_utilization, max_model_len=model.max_model_len,
                       quantization=model.quantization, prefix_caching=model.prefix_caching)


def server_env(server: Server) -> dict[str, str]:
    """Non-secret environment: the engine's own settings, caches redirected to writable paths, the Hub offline."""
    env = engine_env(server.engine, max_model_len=server.model.max_model_len,
                     prefix_caching=server.model.prefix_caching)
    env.update(HOME=HOME, XDG_CACHE_HOME="/tmp/.cache", USER=server.engine)  # getpass.getuser() needs no passwd entry
    if server.engine == "ollama":
        env["OLLAMA_MODELS"] = server.model_dir
        return env
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
               HF_MODULES_CACHE="/tmp/hf-modules")
    if server.engine in ("vllm", "vllm-embed"):
        # The cache volume is read-only for servers: torch.compile artifacts go to the pod's scratch space.
        env.update(VLLM_CACHE_ROOT="/tmp/vllm", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
    return env


def _env_list(env: dict[str, str]) -> list[dict]:
    return [{"name": k, "value": v} for k, v in env.items()]


def probes(server: Server) -> dict[str, dict]:
    spec = server.spec
    ready = {"httpGet": {"path": spec.readiness_path, "port": PORT_NAME}}
    live = ({"httpGet": {"path": spec.liveness_path, "port": PORT_NAME}} if spec.liveness_path is not None
            else {"tcpSocket": {"port": PORT_NAME}})
    return {
        # Sized for the model load: the liveness probe only starts once this succeeds.
        "startupProbe": {**ready, "periodSeconds": PROBE_PERIOD, "timeoutSeconds": 5,
                         "failureThreshold": math.ceil(startup_seconds(server) / PROBE_PERIOD)},
        "readinessProbe": {**ready, "periodSeconds": PROBE_PERIOD, "timeoutSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**live, "periodSeconds": 20, "timeoutSeconds": 10, "failureThreshold": 3},
    }


def container_security(runtime: Runtime) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": runtime.read_only_root, "runAsNonRoot": runtime.run_as_user is not None,
            "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security(runtime: Runtime) -> dict[str, Any]:
    out: dict[str, Any] = {"runAsNonRoot": runtime.run_as_user is not None, "fsGroup": UID,
                           # Large model volumes: chown only when the root's group is wrong.
                           "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}
    if runtime.run_as_user is not None:
        out.update(runAsUser=runtime.run_as_user, runAsGroup=UID)
    return out


def server_container(server: Server, placement: str = PRIMARY) -> dict[str, Any]:
    spec, runtime = server.spec, server.runtime
    mounts = [{"name": CACHE_VOLUME, "mountPath": runtime.cache_mount, "readOnly": server.engine != "ollama"},
              {"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if shm_gi(server):
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    if server.engine == "triton":
        mounts.append({"name": TRITON_VOLUME, "mountPath": TRITON_MODEL_REPOSITORY, "readOnly": True})
    container: dict[str, Any] = {
        "name": server.engine if server.engine != "vllm-embed" else "vllm",
        "image": image_for(server.engine, server.pool.gpu if server.pool else "cpu"),
        "args": container_args(server),
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}],
        "env": _env_list(server_env(server)),
        "resources": resources(server, placement),
        **probes(server),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "securityContext": container_security(runtime),
        "volumeMounts": mounts,
    }
    if spec.command is not None:
        container["command"] = list(spec.command)
    return container


# -------------------------------------------------------------------------------------------- pods


def cache_claim(server: Server, access_mode: str) -> str:
    """The PVC the servers mount. ReadOnlyMany: the many-reader copy restored from a snapshot, named after the
    weights it holds (a new model is a new snapshot and volume; servers roll over to it, the old one goes)."""
    if access_mode == "ReadOnlyMany":
        return f"{server.name}-model-cache-{weights_id(server)}"
    return f"{server.name}-model-cache"


def seed_claim(server: Server, access_mode: str) -> str:
    """The PVC the download Job fills (ReadOnlyMany: the writable source of the snapshot)."""
    return f"{server.name}-model-seed" if access_mode == "ReadOnlyMany" else cache_claim(server, access_mode)


def weights_id(server: Server) -> str:
    return hashlib.sha256(server.model.model.encode()).hexdigest()[:8]


def triton_config_map(server: Server) -> str:
    return f"{server.name}-triton-repository"


def triton_files(server: Server) -> dict[str, Any]:
    model = server.model
    return triton_model_files(model=server.model_dir, served_name=server.name, tensor_parallel=model.tensor_parallel,
                              gpu_memory_utilization=model.gpu_memory_utilization,
                              max_model_len=model.max_model_len, quantization=model.quantization,
                              prefix_caching=model.prefix_caching)


def volumes(server: Server, access_mode: str) -> list[dict[str, Any]]:
    claim: dict[str, Any] = {"claimName": cache_claim(server, access_mode)}
    if access_mode == "ReadOnlyMany":
        claim["readOnly"] = True  # a many-reader persistent disk attaches read-only only
    found: list[dict[str, Any]] = [
        {"name": CACHE_VOLUME, "persistentVolumeClaim": claim},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "20Gi"}},
    ]
    if shm_gi(server):
        found.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": f"{shm_gi(server)}Gi"}})
    if server.engine == "triton":
        found.append({"name": TRITON_VOLUME, "configMap": {"name": triton_config_map(server), "items": [
            {"key": "config.pbtxt", "path": f"{server.name}/config.pbtxt"},
            {"key": "model.json", "path": f"{server.name}/1/model.json"}]}})
    return found


def placement_pool(server: Server, placement: str) -> Optional[GpuPool]:
    return server.fallback if placement == FALLBACK else server.pool


def scheduling(server: Server, placement: str, access_mode: str) -> dict[str, Any]:
    """Node selection, GPU toleration and spreading for one Deployment of the server."""
    out: dict[str, Any] = {}
    pool = placement_pool(server, placement)
    if pool is not None:
        out["nodeSelector"] = {POOL_LABEL: pool.name}
        out["tolerations"] = [gpu_toleration()]
    own = {"matchLabels": selector(server)}
    if access_mode == "ReadWriteOnce":
        # The cache volume attaches to one node: every replica of the model goes there.
        out["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": own, "topologyKey": "kubernetes.io/hostname"}]}}
        return out
    # Soft spreading: several replicas may share a multi-GPU node rather than leave GPUs idle.
    out["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway",
         "labelSelector": {"matchLabels": selector(server, placement)}}
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")]
    return out


def server_pod(server: Server, cfg: StackConfig, placement: str = PRIMARY) -> dict[str, Any]:
    """The pod template spec of one Deployment (primary or fallback) of a model server."""
    return {
        "serviceAccountName": SERVER_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "priorityClassName": PRIORITY_CLASS,
        "terminationGracePeriodSeconds": PRESTOP_SECONDS + server.model.drain_seconds,
        "securityContext": pod_security(server.runtime),
        **scheduling(server, placement, cfg.serving.cache_access_mode),
        "containers": [server_container(server, placement)],
        "volumes": volumes(server, cfg.serving.cache_access_mode),
    }


def deployment_spec(server: Server, cfg: StackConfig, placement: str = PRIMARY) -> dict[str, Any]:
    replicas = server.model.replicas.min
    return {
        "replicas": replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector(server, placement)},
        # GPU quotas hold exactly max replicas (config/quotas.py): a surge pod would be rejected. Replace one
        # replica at a time instead (config/sizing.py counts no surge for model servers).
        "strategy": {"type": "RollingUpdate", "rollingUpdate": dict(sizing.SERVER_ROLLOUT)},
        # A rollout may wait for a GPU node to be provisioned and the model to load.
        "progressDeadlineSeconds": startup_seconds(server) + 1200,
        "template": {"metadata": {"labels": pod_labels(server, cfg, placement)},
                     "spec": server_pod(server, cfg, placement)},
    }


# ------------------------------------------------------------------------------------ download job


def download_container(server: Server, token: bool) -> dict[str, Any]:
    runtime = server.runtime
    mount = runtime.cache_mount
    env = {"HOME": HOME, "HF_HUB_DISABLE_TELEMETRY": "1"}
    if server.engine == "ollama":
        image = image_for("ollama")
        ollama_pull_command(server.model.model)  # validates the tag
        env.update(engine_env("ollama"), OLLAMA_MODELS=server.model_dir)
        # Pull, then alias the tag to the server name so clients ask for the model by its name.
        command = ["/bin/sh", "-c", (
            "ollama serve & pid=$!; until ollama list >/dev/null 2>&1; do sleep 1; done; "
            f"ollama pull {server.model.model} && ollama cp {server.model.model} {server.name}; "
            "rc=$?; kill $pid; exit $rc")]
    else:
        # TEI's image has no Python: the vLLM image (same huggingface_hub) downloads for it.
        python = runtime.python or RUNTIME["vllm"].python
        image = image_for(server.engine) if runtime.python else image_for("vllm")
        env.update(MODEL_ID=server.model.model, MODEL_DIR=server.model_dir, HF_HOME=f"{mount}/huggingface")
        command = [python, "-c", HF_DOWNLOAD_SCRIPT]
    env_list = _env_list(env)
    if token and server.engine != "ollama":
        env_list.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_SECRET, "key": HF_SECRET_KEY}}})
    job_runtime = Runtime(runtime.run_as_user, True, mount, None, "")
    return {
        "name": "download",
        "image": image,
        "command": command,
        "env": env_list,
        "resources": copy.deepcopy(sizing.DOWNLOAD_JOB),
        "securityContext": container_security(job_runtime),
        "volumeMounts": [{"name": CACHE_VOLUME, "mountPath": mount}, {"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def download_job_spec(server: Server, cfg: StackConfig, token: bool) -> dict[str, Any]:
    """The Job that fills the model's cache volume once (on CPU nodes; no GPU needed to download)."""
    mode = cfg.serving.cache_access_mode
    runtime = server.runtime
    job_runtime = Runtime(runtime.run_as_user, True, runtime.cache_mount, None, "")
    return {
        "backoffLimit": 4,
        "activeDeadlineSeconds": DOWNLOAD_DEADLINE_SECONDS,
        "template": {
            "metadata": {"labels": download_labels(server, cfg)},
            "spec": {
                "restartPolicy": "Never",
                "serviceAccountName": DOWNLOAD_ACCOUNT,
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "priorityClassName": DOWNLOAD_PRIORITY_CLASS,
                "securityContext": pod_security(job_runtime),
                "containers": [download_container(server, token)],
                "volumes": [{"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": seed_claim(server, mode)}},
                            {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "10Gi"}}],
            },
        },
    }


def needs_hf_token(server: Server) -> bool:
    return server.engine != "ollama"


# ------------------------------------------------------------------------------------- autoscaling


def promql(metric: str, namespace: str, model: str) -> str:
    """Sum of an engine metric over every pod of one model (labels set by the model's PodMonitor)."""
    return f'sum({metric}{{namespace="{namespace}",model="{model}"}})'


def autoscaling_signals(server: Server):
    return AUTOSCALING_SIGNALS.get(server.engine)
