"""Pod sizing: the CPU and memory of every pod the program runs in a workload namespace.

One source for the components (which write these numbers into container `resources` and chart values) and
for the quota check (`config.quotas`), so a namespace's `cpuQuota` / `memoryQuota` is judged against what
`pulumi up` really creates:

- model servers (`serving.namespace`): the primary Deployment at `replicas.max`, the `<model>-fallback`
  Deployment at its max (`fallbackMaxReplicas`), one download Job pod per server;
- the RAG data layer (`rag.namespace`): Milvus (standalone, or cluster with etcd / MinIO), Weaviate or Qdrant,
  Elasticsearch nodes and their exporter, Redis (redis + sentinel + split-brain-fix + exporter per pod, HAProxy);
- the gateway (`rag.gateway.namespace`) at its HPA's `maxReplicas`;
- observability (`observability.namespace`): Prometheus and Alertmanager (x `metrics.replicas`, each with its
  config-reloader), the Prometheus operator, kube-state-metrics, Grafana and its sidecars, Loki, Tempo or Jaeger,
  the OpenTelemetry Collector.

Containers a chart runs without resources get the namespace's LimitRange defaults (`containerDefaults`) at
admission, and are counted with them (every sized container here sets requests *and* limits, so a default
limit below a container's own request, which admission would refuse, cannot arise).

Rolling updates: a Deployment that surges creates `maxSurge` extra pods while it rolls, and the ResourceQuota
admits them like any other pod, so the need counts every surging Deployment's surge (a `pulumi up` rolls them
together): model servers do not surge (`SERVER_ROLLOUT`), the gateway surges by one (`GATEWAY_ROLLOUT`), chart
Deployments without a strategy by Kubernetes' default 25% (rounded up). StatefulSets and Jobs never surge.
Init containers are ignored: each is smaller than the sum of its pod's containers, which is then the pod's
request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from .capacity import CapacityPlan, ModelPlan, served_models
from .engines import ENGINES
from .models import MilvusCluster, Resources, ServedModel, StackConfig
from .router import pools

Requirements = dict[str, dict[str, str]]

# Model-server Deployments replace one replica at a time and never surge: GPU quotas hold exactly the planned
# units (config/quotas.py), and a surge pod would wait for a GPU that is not there.
SERVER_ROLLOUT = {"maxSurge": 0, "maxUnavailable": 1}
# The gateway keeps every replica serving while it rolls: one extra pod at a time.
GATEWAY_ROLLOUT = {"maxSurge": 1, "maxUnavailable": 0}
# Kubernetes' default RollingUpdate maxSurge for Deployments whose chart sets no strategy.
DEFAULT_SURGE = 0.25


def resources(cpu: str, memory: str, cpu_limit: str | None = None,
              memory_limit: str | None = None) -> Requirements:
    """Kubernetes requests and limits (limits: CPU twice the request unless given, memory equal)."""
    return {"requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu_limit or double_cpu(cpu), "memory": memory_limit or memory}}


def from_config(res: Resources | None, default: Requirements) -> Requirements:
    """A config `resources` block, else the default."""
    if res is None:
        return default
    return resources(res.cpu, res.memory, res.cpu_limit, res.memory_limit)


def double_cpu(cpu: str) -> str:
    if cpu.endswith("m"):
        return f"{int(float(cpu[:-1]) * 2)}m"
    value = float(cpu) * 2
    return str(int(value)) if value.is_integer() else str(value)


# ------------------------------------------------------------------------------------ model servers

DOWNLOAD_JOB = resources("1", "2Gi", "2", "4Gi")
"""The model download Job's container (CPU nodes; one pod per server while it runs)."""


def _gi(value: float) -> str:
    return f"{max(1, math.ceil(value))}Gi"


def shm_gi(engine: str, tensor_parallel: int) -> int:
    """Memory-backed /dev/shm: PyTorch/NCCL worker IPC (engines.py needs_shm); bigger with tensor parallelism."""
    needs = ENGINES[engine].needs_shm
    if needs == "never" or (needs == "tensor-parallel" and tensor_parallel == 1):
        return 0
    return 2 if tensor_parallel == 1 else 8


def server_resources(model: ServedModel, plan: ModelPlan, engine: str, resource: str | None) -> Requirements:
    """A model server container: CPU/memory from config or sized from the plan; `resource` (the GPU/MIG resource of
    the Deployment's pool, None on CPU) x tensorParallel."""
    tp = model.tensor_parallel
    configured = model.resources
    if configured is not None:
        cpu, memory = configured.cpu, configured.memory
        cpu_limit, memory_limit = configured.cpu_limit, configured.memory_limit or configured.memory
        if cpu_limit is None:
            cpu_limit = double_cpu(cpu)
    elif plan.resource is not None:
        cpu, cpu_limit = str(4 * tp), str(8 * tp)
        # Weights pass through host memory once (safetensors mmap); + runtime, tokenizer, /dev/shm.
        memory = memory_limit = _gi(plan.weights_gib + 8 + shm_gi(engine, tp))
    else:
        cpu, cpu_limit = "2", "4"
        memory = memory_limit = _gi(plan.weights_gib + plan.kv_cache_gib + 2)
    requests = {"cpu": cpu, "memory": memory}
    limits = {"cpu": cpu_limit, "memory": memory_limit}
    if resource is not None:
        # Extended resources cannot be overcommitted: request == limit.
        requests[resource] = limits[resource] = str(plan.units_per_replica)
    return {"requests": requests, "limits": limits}


# ---------------------------------------------------------------------------------------- RAG layer

MILVUS_MAIN = resources("2", "4Gi", "4", "8Gi")
"""Milvus standalone / query nodes when `vectorStore.resources` is omitted."""
MILVUS_SMALL = resources("500m", "1Gi", "1", "2Gi")
"""Milvus proxies and mixCoord."""
MILVUS_WORKER = resources("1", "2Gi", "2", "4Gi")
"""Milvus data and streaming nodes."""
MILVUS_USERS_JOB = resources("50m", "64Mi", "200m", "64Mi")
"""The Job that creates the gateway's Milvus user (curl; one pod while it runs)."""
ETCD = resources("250m", "512Mi", "1", "1Gi")
MINIO = resources("250m", "1Gi", "1", "2Gi")
WEAVIATE = resources("2", "4Gi", "4", "8Gi")
QDRANT = resources("1", "2Gi", "2", "4Gi")
ES_EXPORTER = resources("50m", "64Mi", "200m", "128Mi")
ES_EXPORTER_SURGE = 1  # the chart's own strategy: maxSurge 1, maxUnavailable 0
SENTINEL = resources("50m", "64Mi", "200m", "128Mi")
REDIS_EXPORTER = resources("50m", "64Mi", "200m", "128Mi")
HAPROXY = resources("100m", "128Mi", "500m", "256Mi")
SMALL_HELPER = resources("10m", "32Mi", "100m", "64Mi")
"""Charts' shell helpers (redis-ha's config-init and split-brain-fix, ingress-nginx's admission certificate Jobs,
cert-manager's startupapicheck): the charts set no resources for them, container-resources wants them written."""
CERT_MANAGER = resources("20m", "128Mi", "500m", "256Mi")
"""cert-manager's controller and webhook."""
CERT_MANAGER_CAINJECTOR = resources("20m", "128Mi", "500m", "512Mi")
"""cainjector caches every Secret, CRD and webhook configuration it injects into: more memory headroom."""
HAPROXY_REPLICAS = 2


def redis_server(max_memory_mi: int) -> Requirements:
    """The redis container: `maxmemory` requested, 1.5x as the limit (fork for RDB, fragmentation)."""
    return resources("100m", f"{max_memory_mi}Mi", "1", f"{int(max_memory_mi * 1.5)}Mi")


def elasticsearch(cpu: str, heap_gi: int) -> Requirements:
    """An Elasticsearch node: memory request = limit = twice the heap (off-heap, page cache)."""
    return resources(cpu, f"{2 * heap_gi}Gi")


# ------------------------------------------------------------------------------------ observability

CONFIG_RELOADER = resources("10m", "32Mi", "100m", "64Mi")
"""prometheus-operator's config-reloader sidecar in every Prometheus and Alertmanager pod."""
ALERTMANAGER = resources("20m", "64Mi", "200m", "128Mi")
PROMETHEUS_OPERATOR = resources("50m", "128Mi", "500m", "256Mi")
KUBE_STATE_METRICS = resources("50m", "128Mi", "500m", "256Mi")
GRAFANA = resources("50m", "192Mi", "500m", "384Mi")
GRAFANA_SIDECAR = resources("20m", "64Mi", "200m", "128Mi")
"""Each of Grafana's two sidecars (dashboards, datasources)."""
COLLECTOR = resources("100m", "256Mi", "1", "512Mi")


def prometheus(memory: str) -> Requirements:
    """Prometheus: memory request = limit (`observability.metrics.memory`)."""
    return resources("250m", memory, "2", memory)


def single_binary(memory: str) -> Requirements:
    """Loki and Tempo single binaries: memory request = limit (`logStore` / `traceStore.memory`)."""
    return resources("100m", memory, "1", memory)


# -------------------------------------------------------------------------------------------- pods


@dataclass(frozen=True)
class Pods:
    """Identical pods of one workload: how many at most, and their containers' resources."""

    workload: str
    """What runs them ("Deployment qwen7b", "StatefulSet redis")."""
    replicas: int
    """Pods at max scale."""
    containers: tuple[Requirements | None, ...]
    """Each container's requests/limits; None: set by the namespace's LimitRange defaults."""
    surge: int = 0
    """Extra pods while a rolling update runs (maxSurge)."""


def surge(replicas: int, fraction: float = DEFAULT_SURGE) -> int:
    """Pods a Deployment adds during a rollout with a percentage maxSurge (rounded up, as Kubernetes does)."""
    return math.ceil(replicas * fraction)


def namespace_pods(cfg: StackConfig, plan: CapacityPlan) -> dict[str, list[Pods]]:
    """Every pod the program runs in a workload namespace, by namespace."""
    found: dict[str, list[Pods]] = {}
    serving = found.setdefault(cfg.serving.namespace, [])
    for served in served_models(cfg):
        model, engine = served.model, served.engine
        planned = plan.model(model.name)
        serving.append(Pods(f"Deployment {model.name}", model.replicas.max,
                            (server_resources(model, planned, engine, planned.resource),),
                            SERVER_ROLLOUT["maxSurge"]))
        if planned.fallback is not None:
            serving.append(Pods(f"Deployment {model.name}-fallback", planned.fallback.max_replicas,
                                (server_resources(model, planned, engine, planned.fallback.resource),),
                                SERVER_ROLLOUT["maxSurge"]))
        serving.append(Pods(f"Job {model.name}-download", 1, (DOWNLOAD_JOB,)))
    for served in pools(cfg):
        # The endpoint pickers (components/inference/router.py): strategy Recreate, no surge.
        res = cfg.inference_gateway.router.resources
        serving.append(Pods(f"Deployment {served.model.name}-epp", cfg.inference_gateway.router.replicas,
                            (resources(res.cpu, res.memory, res.cpu_limit, res.memory_limit),)))
    rag = cfg.rag
    data = found.setdefault(rag.namespace, [])
    vs = rag.vector_store
    if vs is not None and vs.engine == "milvus":
        main = from_config(vs.resources, MILVUS_MAIN)
        if vs.milvus_mode == "standalone":
            data.append(Pods("Deployment milvus-standalone", 1, (main,)))  # strategy Recreate
        else:
            topo = vs.cluster or MilvusCluster()
            data += [Pods("Deployment milvus-proxy", topo.proxies, (MILVUS_SMALL,), surge(topo.proxies)),
                     # mixCoord rolls with the default strategy in active-standby, else Recreate.
                     Pods("Deployment milvus-mixcoord", topo.coordinators, (MILVUS_SMALL,),
                          surge(topo.coordinators) if topo.coordinators > 1 else 0),
                     Pods("Deployment milvus-querynode", vs.replicas, (main,), surge(vs.replicas)),
                     Pods("Deployment milvus-datanode", topo.data_nodes, (MILVUS_WORKER,), surge(topo.data_nodes)),
                     Pods("Deployment milvus-streamingnode", topo.streaming_nodes, (MILVUS_WORKER,),
                          surge(topo.streaming_nodes)),
                     Pods("StatefulSet milvus-etcd", topo.etcd_replicas, (ETCD,))]
            if topo.object_storage == "minio":
                data.append(Pods("StatefulSet milvus-minio", topo.minio_replicas, (MINIO,)))
    if vs is not None and vs.engine == "milvus":
        data.append(Pods("Job milvus-users", 1, (MILVUS_USERS_JOB,)))
    elif vs is not None:
        default = WEAVIATE if vs.engine == "weaviate" else QDRANT
        data.append(Pods(f"StatefulSet {vs.engine}", vs.replicas, (from_config(vs.resources, default),)))
    if rag.full_text is not None:
        ft = rag.full_text
        data += [Pods("StatefulSet search-es-default", ft.replicas, (elasticsearch(ft.cpu, ft.heap_gi),)),
                 Pods("Deployment search-exporter", 1, (ES_EXPORTER,), ES_EXPORTER_SURGE)]
    if rag.cache is not None:
        cache = rag.cache
        # split-brain-fix: SMALL_HELPER (components/rag/charts.py splitBrainDetection.resources).
        data.append(Pods("StatefulSet redis-server", cache.replicas,
                         (redis_server(cache.max_memory_mi), SENTINEL, SMALL_HELPER, REDIS_EXPORTER)))
        if cache.replicas > 1:
            data.append(Pods("Deployment redis-haproxy", HAPROXY_REPLICAS, (HAPROXY,), surge(HAPROXY_REPLICAS)))
    obs = cfg.observability
    if obs.enabled:
        # kube-prometheus-stack (operator, kube-state-metrics and Grafana roll with Kubernetes' default strategy),
        # Loki / Tempo single binaries, Jaeger all-in-one (Recreate, no resources: LimitRange defaults), the
        # OpenTelemetry Collector. node-exporter and the node log agent run in the observability-node namespace.
        replicas = obs.metrics.replicas
        watch = found.setdefault(obs.namespace, [])
        watch += [Pods("StatefulSet prometheus", replicas, (prometheus(obs.metrics.memory), CONFIG_RELOADER)),
                  Pods("StatefulSet alertmanager", replicas, (ALERTMANAGER, CONFIG_RELOADER)),
                  Pods("Deployment prometheus-operator", 1, (PROMETHEUS_OPERATOR,), surge(1)),
                  Pods("Deployment kube-state-metrics", 1, (KUBE_STATE_METRICS,), surge(1)),
                  Pods("Deployment grafana", 1, (GRAFANA, GRAFANA_SIDECAR, GRAFANA_SIDECAR), surge(1))]
        if obs.logs == "loki":
            watch.append(Pods("StatefulSet loki", 1, (single_binary(obs.log_store.memory),)))
        if obs.tracing == "tempo":
            watch.append(Pods("StatefulSet tempo", 1, (single_binary(obs.trace_store.memory),)))
        elif obs.tracing == "jaeger":
            watch.append(Pods("Deployment jaeger", 1, (None,)))
        if obs.tracing != "none" or obs.logs != "none":
            watch.append(Pods("Deployment otel-collector", 1, (COLLECTOR,), surge(1)))
    gw = rag.gateway
    if gw is not None:
        res = gw.resources
        found.setdefault(gw.namespace, []).append(Pods(
            "Deployment ai-gateway", max(gw.replicas, gw.autoscaling.max_replicas),
            (resources(res.cpu, res.memory, res.cpu_limit, res.memory_limit),), GATEWAY_ROLLOUT["maxSurge"]))
    return {ns: pods for ns, pods in found.items() if pods}


# ---------------------------------------------------------------------------------------- quantities

_SUFFIX = {"m": Decimal("0.001"), "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9),
           "T": Decimal(10**12), "P": Decimal(10**15), "Ki": Decimal(2**10), "Mi": Decimal(2**20),
           "Gi": Decimal(2**30), "Ti": Decimal(2**40), "Pi": Decimal(2**50)}


def quantity(value: str) -> Decimal:
    """A Kubernetes quantity ("500m", "2", "1.5Gi") as a number of base units (cores, bytes)."""
    for suffix in sorted(_SUFFIX, key=len, reverse=True):
        if value.endswith(suffix) and value[: -len(suffix)].replace(".", "", 1).isdigit():
            return Decimal(value[: -len(suffix)]) * _SUFFIX[suffix]
    return Decimal(value)


def format_cpu(cores: Decimal) -> str:
    milli = int((cores * 1000).to_integral_value(rounding="ROUND_CEILING"))
    return f"{milli // 1000}" if milli % 1000 == 0 else f"{milli}m"


def format_memory(size: Decimal) -> str:
    for suffix in ("Gi", "Mi", "Ki"):
        if size >= _SUFFIX[suffix] and size % _SUFFIX[suffix] == 0:
            return f"{int(size / _SUFFIX[suffix])}{suffix}"
    if size >= _SUFFIX["Gi"]:
        return f"{math.ceil(size / _SUFFIX['Gi'] * 100) / 100:g}Gi"
    return f"{math.ceil(size / _SUFFIX['Mi'])}Mi"
