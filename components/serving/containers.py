"""The model server container and the security contexts servers and download Jobs share (plain data).

Every engine shares one skeleton: image, command and ports from the engine's facts (config/engines.py), the
command line and environment from `engine_args`/`engine_env` plus its profile (config/engine_profiles.py),
probes sized for the model load, a preStop drain, and no privileges.
"""

from __future__ import annotations

import math
from typing import Any

from config.engine_profiles import HOME, HUB_OFFLINE_ENV, SERVER_UID
from config.engines import (
    KV_EVENTS_PORT,
    KV_EVENTS_TOPIC_PREFIX,
    engine_args,
    engine_env,
    image_for,
    kv_events_args,
    lora_args,
)
from config.errors import required

from .server import PRIMARY, Server, resources, shm_gi, startup_seconds

PRESTOP_SECONDS = 15  # endpoints controllers and kube-proxy drop the pod from the Service meanwhile
PORT_NAME = "http"
KV_EVENTS_PORT_NAME = "kv-events"
CACHE_VOLUME = "model-cache"
TMP_VOLUME = "tmp"
SHM_VOLUME = "dshm"
PROBE_PERIOD = 10


def container_args(server: Server) -> list[str]:
    model = server.model
    return engine_args(server.engine, model=server.profile.model_arg(model.model), served_name=server.served_name,
                       tensor_parallel=model.tensor_parallel, gpu_memory_utilization=model.gpu_memory_utilization,
                       max_model_len=model.max_model_len,
                       quantization=required(model.quantization, f"{server.path}.quantization", "a quantization",
                                             "ServedModel's validator (its default)"),
                       prefix_caching=model.prefix_caching, kv_cache_dtype=model.kv_cache_dtype,
                       expert_parallel=model.expert_parallel, max_num_seqs=model.max_num_seqs) + router_args(server)


def router_args(server: Server) -> list[str]:
    """What the inference gateway needs from a vLLM server: its LoRA adapters (loaded from the cache volume, where
    the download Job put them next to the weights) and, for precise prefix-cache scoring, KV events to its EPP."""
    model = server.model
    args = lora_args([(a.name, server.profile.model_dir(a.source)) for a in server.adapters],
                     max_loras=model.lora.max_loras, max_rank=model.lora.max_rank,
                     max_cpu_loras=model.lora.max_cpu_loras)
    if server.kv_events:
        args += kv_events_args(f"{KV_EVENTS_TOPIC_PREFIX}{server.name}@{server.served_name}")
    return args


def server_env(server: Server) -> dict[str, str]:
    """Non-secret environment: the engine's own settings, caches redirected to writable paths, the Hub offline."""
    profile = server.profile
    env = engine_env(server.engine, max_model_len=server.model.max_model_len,
                     prefix_caching=server.model.prefix_caching)
    env.update(HOME=HOME, XDG_CACHE_HOME="/tmp/.cache", USER=server.engine)  # getpass.getuser() needs no passwd entry
    if profile.store_env is not None:
        env[profile.store_env] = server.model_dir
    if profile.hub:
        env.update(HUB_OFFLINE_ENV)
    env.update(profile.env)
    return env


def env_list(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": k, "value": v} for k, v in env.items()]


def probes(server: Server) -> dict[str, dict[str, Any]]:
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


def container_security(run_as_user: int | None, read_only_root: bool) -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": read_only_root, "runAsNonRoot": run_as_user is not None,
            "seccompProfile": {"type": "RuntimeDefault"}}


def pod_security(run_as_user: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {"runAsNonRoot": run_as_user is not None, "fsGroup": SERVER_UID,
                           # Large model volumes: chown only when the root's group is wrong.
                           "fsGroupChangePolicy": "OnRootMismatch", "seccompProfile": {"type": "RuntimeDefault"}}
    if run_as_user is not None:
        out.update(runAsUser=run_as_user, runAsGroup=SERVER_UID)
    return out


def server_container(server: Server, placement: str = PRIMARY) -> dict[str, Any]:
    spec, profile = server.spec, server.profile
    mounts = [{"name": CACHE_VOLUME, "mountPath": profile.cache_mount, "readOnly": not profile.own_store},
              {"name": TMP_VOLUME, "mountPath": "/tmp"}]
    if shm_gi(server):
        mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    if profile.repository is not None:
        mounts.append({"name": profile.repository.name, "mountPath": profile.repository.mount, "readOnly": True})
    container: dict[str, Any] = {
        "name": profile.container,
        "image": image_for(server.engine, server.pool.gpu if server.pool else "cpu"),
        "args": container_args(server),
        "ports": [{"name": PORT_NAME, "containerPort": spec.port, "protocol": "TCP"}]
        + ([{"name": KV_EVENTS_PORT_NAME, "containerPort": KV_EVENTS_PORT, "protocol": "TCP"}]
           if server.kv_events else []),
        "env": env_list(server_env(server)),
        "resources": resources(server, placement),
        **probes(server),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SECONDS}}},
        "securityContext": container_security(profile.run_as_user, profile.read_only_root),
        "volumeMounts": mounts,
    }
    if spec.command is not None:
        container["command"] = list(spec.command)
    return container
