"""The Job that fills a model server's cache volume once, as plain data.

Its pods (label `ai-platform/role: model-download`) are the only serving pods the NetworkPolicies let out to
:443. What it runs comes from the engine's profile (config/engine_profiles.py): `snapshot_download` of the
Hugging Face repository into `<cache>/models/<repo id>` (vLLM, TGI, Triton, TEI), or `ollama pull` into the
engine's own store `<cache>/models` (Ollama). It runs on CPU nodes: no GPU is needed to download.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from config import sizing
from config.engine_profiles import ADAPTERS_ENV, HOME
from config.models import StackConfig

from .containers import CACHE_VOLUME, TMP_VOLUME, container_security, env_list, pod_security
from .server import Server, download_labels, seed_claim

DOWNLOAD_PRIORITY_CLASS = "ai-platform-batch"
DOWNLOAD_ACCOUNT = "model-download"
HF_SECRET = "hf-token"
HF_SECRET_KEY = "token"
DOWNLOAD_DEADLINE_SECONDS = 6 * 3600


def needs_hf_token(server: Server) -> bool:
    return server.profile.hub


def download_container(server: Server, token: bool) -> dict[str, Any]:
    profile = server.profile
    mount = profile.cache_mount
    step = profile.download.step(model=server.model.model, served_name=server.served_name, model_dir=server.model_dir,
                                 cache_mount=mount)
    adapters = {a.source: profile.model_dir(a.source) for a in server.adapters}
    env = env_list({"HOME": HOME, "HF_HUB_DISABLE_TELEMETRY": "1", **step.env,
                    **({ADAPTERS_ENV: json.dumps(adapters, sort_keys=True)} if adapters else {})})
    if token and needs_hf_token(server):
        env.append({"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": HF_SECRET, "key": HF_SECRET_KEY}}})
    return {
        "name": "download",
        "image": step.image,
        "command": step.command,
        "env": env,
        "resources": copy.deepcopy(sizing.DOWNLOAD_JOB),
        # The Job writes only to its volumes, whatever the engine's server needs.
        "securityContext": container_security(profile.run_as_user, read_only_root=True),
        "volumeMounts": [{"name": CACHE_VOLUME, "mountPath": mount}, {"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }


def download_job_spec(server: Server, cfg: StackConfig, token: bool) -> dict[str, Any]:
    """The Job that fills the model's cache volume once (on CPU nodes; no GPU needed to download)."""
    mode = cfg.serving.cache_access_mode
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
                "securityContext": pod_security(server.profile.run_as_user),
                "containers": [download_container(server, token)],
                "volumes": [{"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": seed_claim(server, mode)}},
                            {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "10Gi"}}],
            },
        },
    }
