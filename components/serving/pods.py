"""The pod templates of a model server's Deployments: volumes, scheduling and the pod spec (plain data).

The `ModelServer` component turns these dicts into typed resources; tests call them directly. The container is
in containers.py, the download Job that fills the cache volume in download.py.

Model weights never come from the internet at serving time: servers mount the cache volume the download Job
filled, read-only unless the engine owns its model store (Ollama), and load it with the Hub offline.
"""

from __future__ import annotations

from typing import Any

from config import sizing
from config.capacity import spread
from config.compute_classes import COMPUTE_CLASS_LABEL, class_toleration
from config.models import GpuPool, StackConfig

from ..labels import POOL_LABEL, gpu_toleration
from .containers import CACHE_VOLUME, PRESTOP_SECONDS, SHM_VOLUME, TMP_VOLUME, pod_security, server_container
from .server import (
    FALLBACK,
    PRIMARY,
    Server,
    cache_claim,
    pod_labels,
    repository_config_map,
    repository_files,
    selector,
    shm_gi,
    startup_seconds,
)

PRIORITY_CLASS = "ai-platform-serving"
SERVER_ACCOUNT = "model-server"


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
    repository = server.profile.repository
    if repository is not None:
        found.append({"name": repository.name, "configMap": {"name": repository_config_map(server), "items": [
            {"key": path.rsplit("/", 1)[-1], "path": path} for path in repository_files(server)]}})
    return found


def placement_pool(server: Server, placement: str) -> GpuPool | None:
    return server.fallback if placement == FALLBACK else server.pool


HOSTNAME = "kubernetes.io/hostname"


def replica_spread(server: Server, placement: str, access_mode: str) -> str:
    """required | preferred | none: whether this Deployment's replicas must each get a node of their own.

    A replica spanning several GPUs/slices (tensorParallel > 1) is expensive to lose: two on one node fail
    together. One per node is required where the pool can grow to a node per replica (max replicas, or the
    fallback's min replicas, on that pool), preferred otherwise (the capacity plan carries a note).
    """
    pool = placement_pool(server, placement)
    if pool is None:
        return "none"
    replicas = server.model.replicas.min if placement == FALLBACK else server.model.replicas.max
    return spread(server.plan.units_per_replica, replicas, pool.max, access_mode)


def scheduling(server: Server, placement: str, access_mode: str) -> dict[str, Any]:
    """Node selection, GPU toleration and spreading for one Deployment of the server."""
    out: dict[str, Any] = {}
    pool = placement_pool(server, placement)
    klass = server.model.compute_class if placement == PRIMARY else None
    steps = compute_class_steps(server) if klass is not None else ()
    if klass is not None and steps:
        # GKE scales the class's steps in order for pods that select it (config/compute_classes.py).
        out["nodeSelector"] = {COMPUTE_CLASS_LABEL: klass}
        out["tolerations"] = [gpu_toleration(), class_toleration(klass)]
    elif pool is not None:
        out["nodeSelector"] = {POOL_LABEL: pool.name}
        out["tolerations"] = [gpu_toleration()]
    own = {"matchLabels": selector(server)}
    if access_mode == "ReadWriteOnce":
        # The cache volume attaches to one node: every replica of the model goes there.
        out["affinity"] = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": own, "topologyKey": "kubernetes.io/hostname"}]}}
        return _with_steps(out, steps)
    mine = {"matchLabels": selector(server, placement)}
    kind = replica_spread(server, placement, access_mode)
    if kind == "required":
        # One replica per node; the Cluster Autoscaler adds a node for a replica that has none (it simulates
        # anti-affinity), which a skew-based spread constraint would not force (it counts only existing nodes).
        out["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": mine, "topologyKey": HOSTNAME}]}}
    elif kind == "preferred":
        out["affinity"] = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
            {"weight": 100, "podAffinityTerm": {"labelSelector": mine, "topologyKey": HOSTNAME}}]}}
    # Soft spreading over zones (and nodes, for single-GPU replicas: several may share a multi-GPU node rather than
    # leave GPUs idle).
    keys = ["topology.kubernetes.io/zone"] + ([HOSTNAME] if kind == "none" else [])
    out["topologySpreadConstraints"] = [
        {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": mine}
        for key in keys]
    return _with_steps(out, steps)


def compute_class_steps(server: Server) -> tuple[str, ...]:
    """The pools of the server's compute class in priority order (empty: the server selects its pool)."""
    return server.class_steps if server.pool is not None else ()


def _with_steps(out: dict[str, Any], steps: tuple[str, ...]) -> dict[str, Any]:
    """A compute-class server selects its class (GKE scales the steps in order) and, as a required node affinity,
    the class's pools: every step is a pool the plan knows, and the serving-pods-select-gpu-pool policy reads the
    pool label (GKE refuses only system-label selectors next to a class, not ours)."""
    if steps:
        term = {"matchExpressions": [{"key": POOL_LABEL, "operator": "In", "values": list(steps)}]}
        out.setdefault("affinity", {})["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
    return out


def server_pod(server: Server, cfg: StackConfig, placement: str = PRIMARY) -> dict[str, Any]:
    """The pod template spec of one Deployment (primary or fallback) of a model server."""
    return {
        "serviceAccountName": SERVER_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "priorityClassName": PRIORITY_CLASS,
        "terminationGracePeriodSeconds": PRESTOP_SECONDS + server.model.drain_seconds,
        "securityContext": pod_security(server.profile.run_as_user),
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
