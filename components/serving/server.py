"""One model server, resolved from the config and the capacity plan, and what every object of it shares:
labels, sizing and the names of its cache volumes. Pure functions; the `ModelServer` component and tests use them.

Engines differ only through `Server.profile` (config/engine_profiles.py), never by name here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from config import router, sizing, upgrades
from config.capacity import CapacityPlan, ModelPlan, Role, served_models
from config.compute_classes import class_pool_names
from config.engine_profiles import EngineProfile, profile
from config.engines import EngineSpec
from config.models import Adapter, GpuPool, ServedModel, StackConfig
from config.network import MODEL_DOWNLOAD, ROLE_LABEL

from ..labels import MODEL_LABEL, PLACEMENT_LABEL, standard_labels

PRIMARY = "primary"
FALLBACK = "fallback"


@dataclass(frozen=True)
class Server:
    """One model server, resolved: its config entry, engine, plan and pools."""

    name: str
    path: str
    """Key path of its config entry (`ai-platform:serving.models[0]`, `ai-platform:rag.embedding`)."""
    component: Role
    """MODEL_SERVER or EMBEDDING_SERVER: the pods' app.kubernetes.io/component."""
    engine: str
    """Key of config.engines.ENGINES (tei and vllm-embed for the embedding server)."""
    model: ServedModel
    plan: ModelPlan
    pool: GpuPool | None
    fallback: GpuPool | None
    namespace: str
    canary_of: str | None = None
    """For a canary server: the model it is a canary of (the name its engine serves, see `served_name`)."""
    adapters: tuple[Adapter, ...] = ()
    """LoRA adapters it loads (config/router.py `adapters`: the ones routed to it)."""
    kv_events: bool = False
    """Publishes KV-cache events to its endpoint picker (precise prefix-cache scoring, config/router.py)."""
    class_steps: tuple[str, ...] = ()
    """The pools of its GKE compute class in priority order (`computeClass`; empty: it selects `pool` alone)."""

    @property
    def served_name(self) -> str:
        """The model name the engine answers to (a canary answers to its stable model's name)."""
        return self.canary_of or self.name

    @property
    def profile(self) -> EngineProfile:
        return profile(self.engine)

    @property
    def spec(self) -> EngineSpec:
        return self.profile.spec

    @property
    def model_dir(self) -> str:
        """Where the weights are inside the cache volume (what the engine loads)."""
        return self.profile.model_dir(self.model.model)

    @property
    def metrics(self) -> bool:
        return self.spec.metrics_path is not None


def servers(cfg: StackConfig, plan: CapacityPlan) -> list[Server]:
    """Every model server of the stack: `serving.models[]` in order, then the embedding server."""
    return [Server(s.model.name, s.path, s.role, s.engine, s.model, plan.model(s.model.name),
                   cfg.pool(s.model.pool or ""), cfg.pool(s.model.fallback_pool or ""), cfg.serving.namespace,
                   s.canary_of, router.adapters(cfg, s.model.name), router.kv_events(cfg, s),
                   class_pool_names(cfg.node_pools, s.model.compute_class) if s.model.compute_class else ())
            for s in served_models(cfg)]


# ------------------------------------------------------------------------------------------- labels


def selector(server: Server, placement: str | None = None) -> dict[str, str]:
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
    """Model load budget (config/upgrades.py: 300 s + 20 s per GiB read from the volume, or `startupSeconds`)."""
    return upgrades.startup_seconds(server.model, server.plan.weights_gib)


def resources(server: Server, placement: str = PRIMARY) -> dict[str, dict[str, str]]:
    """Requests and limits: CPU/memory from config or sized from the plan (config/sizing.py, which the quota check
    counts too); the GPU/MIG resource of the Deployment's pool from the plan."""
    resource = server.plan.fallback_resource if placement == FALLBACK else server.plan.resource
    return sizing.server_resources(server.model, server.plan, server.engine, resource)


# ------------------------------------------------------------------------------------- cache volumes


def weights_id(server: Server) -> str:
    return hashlib.sha256(server.model.model.encode()).hexdigest()[:8]


def cache_claim(server: Server, access_mode: str) -> str:
    """The PVC the servers mount. ReadOnlyMany: the many-reader copy restored from a snapshot, named after the
    weights it holds (a new model is a new snapshot and volume; servers roll over to it, the old one goes)."""
    if access_mode == "ReadOnlyMany":
        return f"{server.name}-model-cache-{weights_id(server)}"
    return f"{server.name}-model-cache"


def seed_claim(server: Server, access_mode: str) -> str:
    """The PVC the download Job fills (ReadOnlyMany: the writable source of the snapshot)."""
    return f"{server.name}-model-seed" if access_mode == "ReadOnlyMany" else cache_claim(server, access_mode)


def repository_config_map(server: Server) -> str | None:
    """Name of the ConfigMap holding the engine's model repository, or None when it has none."""
    repository = server.profile.repository
    return f"{server.name}-{repository.name}" if repository is not None else None


def repository_files(server: Server) -> dict[str, object]:
    """The model repository's files (relative path -> content); empty when the engine has none."""
    repository = server.profile.repository
    if repository is None:
        return {}
    model = server.model
    return repository.files(model=server.model_dir, served_name=server.served_name,
                            tensor_parallel=model.tensor_parallel,
                            gpu_memory_utilization=model.gpu_memory_utilization,
                            max_model_len=model.max_model_len, quantization=model.quantization,
                            prefix_caching=model.prefix_caching, kv_cache_dtype=model.kv_cache_dtype,
                            expert_parallel=model.expert_parallel, max_num_seqs=model.max_num_seqs)
