"""netpol-no-allow-all, netpol-internet-egress and privileged-flow-labels: what a NetworkPolicy may open.

Object checks (policy/rules/objects.py): the program's NetworkPolicies and pod templates, and every one a chart
renders. namespace-default-deny (policy/rules/tenancy.py) checks that each namespace denies by default; these
check that the allows beside it stay the designed flows (config/network.py).

**netpol-no-allow-all**: no `networking.k8s.io` NetworkPolicy rule opens a direction to everything:
- an `ingress[]` rule without `from` (or `from: []`), an `egress[]` rule without `to` (or `to: []`): every
  source/destination, on its ports (Kubernetes: "If this field is empty or missing, this rule matches all
  sources/destinations");
- a peer `{}` (no selector at all);
- a peer `namespaceSelector: {}` without `podSelector` (every pod of every namespace) in a rule without
  `ports` (every port);
- an ingress peer `ipBlock` with a `/0` cidr and no `except` (the whole internet in).
Designed exceptions, matched by policy name and pod selector (the namespaces are stack config): Prometheus'
`allow-prometheus-scrape-to-all` (scraping reaches every pod on its metrics port, whichever it is) and the
ingress controller's `allow-clients` (`rag.gateway.ingress.sourceRanges`; its ports are 80/443): see
`ALLOW_ALL_EXCEPTIONS`.

**netpol-internet-egress**: an egress peer `ipBlock` whose cidr is a `/0` (0.0.0.0/0, ::/0: the internet,
whatever `except` carves out) is only allowed for the designed internet flows, the pack config
`internetEgress` (default `DEFAULT_INTERNET_EGRESS`: model-download Jobs, the bucket users Milvus and
Elasticsearch, milvus-backup, Alertmanager's receivers on 443; cert-manager's ACME solver and the GPU driver
containers on 80/443). An entry `{podLabels, ports}` allows a policy whose `podSelector.matchLabels` contains
every entry label and whose rule names only ports of the entry (a rule without ports is every port: never
allowed). `internetEgressNamespaces` (default `[]`) lists namespaces where any pod may reach the internet on
443 (the stacks' `tenancy.internetEgress: true`, never for production). The program's API-server and
node flows use 0.0.0.0/0 when the stack does not know those addresses (an existing cluster without
`cluster.existing.apiServerCidr`/`nodeCidr`): accepted by policy name, selector and ports
(`UNKNOWN_ADDRESS_FLOWS`); set those keys to narrow them.

**privileged-flow-labels**: the pod label `ai-platform/role` is a network identity (config/network.py): the
flows give `model-download` the internet, `milvus-users` Milvus' root API, `milvus-backup` the bucket,
`volume-snapshots` the API server. Only the program's own Jobs and CronJobs carry it, and `model-download`
only the program's Jobs: a Deployment, StatefulSet, DaemonSet, Pod or chart workload with it is a violation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyConfigSchema

from .helpers import config_list, get, is_map, maps, number, strings
from .objects import KubeObject, object_policy

ALLOW_ALL_NAME = "netpol-no-allow-all"
INTERNET_NAME = "netpol-internet-egress"
FLOW_LABELS_NAME = "privileged-flow-labels"

ROLE_LABEL = "ai-platform/role"
MODEL_DOWNLOAD = "model-download"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"

# (policy name, pod selector matchLabels, why): the designed policies that open a direction to everything.
ALLOW_ALL_EXCEPTIONS: tuple[tuple[str, Mapping[str, str], str], ...] = (
    ("allow-prometheus-scrape-to-all", {NAME_LABEL: "prometheus"},
     "Prometheus scrapes every pod's metrics port in every namespace (flow prometheus-scrape)"),
    ("allow-clients", {NAME_LABEL: "ingress-nginx", COMPONENT_LABEL: "controller"},
     "clients reach the ingress controller on 80/443 (flow clients, rag.gateway.ingress.sourceRanges)"),
    ("allow-inference-clients", {NAME_LABEL: "public-gateway"},
     "clients reach the public Gateway's Envoy pods on 443 (flow inference-clients, inferenceGateway.edge."
     "sourceRanges)"),
)

# The designed internet flows of config/network.py (flows, platform_flows), by the pod labels they select.
DEFAULT_INTERNET_EGRESS: tuple[dict[str, Any], ...] = (
    {"podLabels": {ROLE_LABEL: MODEL_DOWNLOAD}, "ports": [443]},
    {"podLabels": {NAME_LABEL: "alertmanager"}, "ports": [443]},
    {"podLabels": {NAME_LABEL: "milvus"}, "ports": [443]},
    {"podLabels": {"common.k8s.elastic.co/type": "elasticsearch"}, "ports": [443]},
    {"podLabels": {ROLE_LABEL: "milvus-backup"}, "ports": [443]},
    {"podLabels": {NAME_LABEL: "cert-manager", COMPONENT_LABEL: "controller"}, "ports": [80, 443]},
    {"podLabels": {"app": "nvidia-driver-daemonset"}, "ports": [80, 443]},
    {"podLabels": {"app": "istiod"}, "ports": [443]},  # the JWT issuer's JWKS (flow istiod-jwks)
)


# The program's flows to the API server and the nodes use 0.0.0.0/0 when the stack cannot know their addresses
# (config/network.py api_server_cidrs/node_cidrs: an existing cluster without cluster.existing.apiServerCidr /
# nodeCidr, a public GKE endpoint). Accepted for the program's policies of those flows only, by name suffix,
# selector and ports: (name suffix, matchLabels or None for any, allowed ports or None for every port).
UNKNOWN_ADDRESS_FLOWS: tuple[tuple[str, Mapping[str, str] | None, tuple[int, ...] | None], ...] = (
    ("api-server", None, (443, 6443)),
    ("allow-prometheus-nodes", {NAME_LABEL: "prometheus"}, None),
)


def _unknown_address_flow(obj: KubeObject, ports: list[Any]) -> bool:
    if obj.source != "program":
        return False
    labels = dict(_match_labels(obj))
    return any(obj.name.endswith(suffix) and (want is None or labels == dict(want))
               and (allowed is None or (bool(ports) and all(p in allowed for p in ports)))
               for suffix, want, allowed in UNKNOWN_ADDRESS_FLOWS)


def _is_netpol(obj: KubeObject) -> bool:
    return obj.kind == "NetworkPolicy" and obj.api_version.startswith("networking.k8s.io/")


def _match_labels(obj: KubeObject) -> Mapping[str, Any]:
    labels = get(obj.body, "spec", "podSelector", "matchLabels")
    return labels if is_map(labels) else {}


def _directions(obj: KubeObject) -> Iterator[tuple[str, str, int, Any]]:
    """(direction, peers key, index, rule)."""
    for direction, key, peers in (("ingress", "ingress", "from"), ("egress", "egress", "to")):
        for index, rule in enumerate(maps(get(obj.body, "spec", key))):
            yield direction, peers, index, rule


def _wide_cidr(peer: Any) -> str | None:
    cidr = get(peer, "ipBlock", "cidr")
    return cidr if isinstance(cidr, str) and cidr.strip().endswith("/0") else None


# ------------------------------------------------------------------------------------- allow-all


def allow_all_problems(obj: KubeObject) -> list[str]:
    problems = []
    for direction, key, index, rule in _directions(obj):
        where = f"{direction}[{index}]"
        ports = maps(get(rule, "ports"))
        on = "every port" if not ports else "its ports"
        peers = get(rule, key)
        if not maps(peers):
            problems.append(f"{where} has no {key} peers: every {'source' if key == 'from' else 'destination'} "
                            f"on {on}")
            continue
        for peer in maps(peers):
            if not peer:
                problems.append(f"{where} has a peer {{}} (everything)")
            elif "namespaceSelector" in peer and not get(peer, "namespaceSelector") and "podSelector" not in peer \
                    and not ports:
                problems.append(f"{where} allows every pod of every namespace (namespaceSelector {{}}) on every port")
            elif direction == "ingress" and (cidr := _wide_cidr(peer)) and not strings(get(peer, "ipBlock", "except")):
                problems.append(f"{where} allows {cidr} (the whole internet) in")
    return problems


def _check_allow_all(obj: KubeObject, config: Any) -> Iterator[str]:
    if not _is_netpol(obj):
        return
    if obj.source == "program" and any(obj.name == name and dict(_match_labels(obj)) == dict(labels)
                                       for name, labels, _ in ALLOW_ALL_EXCEPTIONS):
        return
    problems = allow_all_problems(obj)
    if problems:
        yield (f"{'; '.join(problems)}. Name the peers (podSelector/namespaceSelector with labels, or the CIDRs) "
               f"and ports of the flow: beside default-deny every allow is one designed flow (config/network.py).")


netpol_no_allow_all = object_policy(
    ALLOW_ALL_NAME,
    "No NetworkPolicy rule allows every source/destination (missing peers, {} peers, every namespace on every "
    "port, the internet in) beside the designed Prometheus-scrape and ingress-client flows.",
    _check_allow_all,
)


# ------------------------------------------------------------------------------- internet egress


def _port_numbers(rule: Any) -> list[Any]:
    found = []
    for port in maps(get(rule, "ports")):
        value = get(port, "port")
        found.append(int(n) if (n := number(value)) is not None else value)
    return found


def internet_egress_problems(obj: KubeObject, config: Any) -> list[str]:
    entries = [e for e in (config_entries(config)) if is_map(e)]
    open_namespaces = config_list(config, "internetEgressNamespaces", [])
    labels = _match_labels(obj)
    problems = []
    for direction, key, index, rule in _directions(obj):
        if direction != "egress":
            continue
        cidrs = [c for peer in maps(get(rule, key)) if (c := _wide_cidr(peer))]
        if not cidrs:
            continue
        ports = _port_numbers(rule)
        if obj.namespace in open_namespaces and ports and all(p == 443 for p in ports):
            continue
        if not get(obj.body, "spec", "ingress") and _unknown_address_flow(obj, ports) and \
                all(not strings(get(peer, "ipBlock", "except")) for peer in maps(get(rule, key))):
            continue
        allowed = ports and any(
            all(labels.get(k) == v for k, v in (get(e, "podLabels") or {}).items()) and bool(get(e, "podLabels"))
            and all(p in [int(n) for x in (get(e, "ports") or []) if (n := number(x)) is not None] for p in ports)
            for e in entries)
        if not allowed:
            selected = ", ".join(f"{k}={v}" for k, v in labels.items()) or (
                "the pods its matchExpressions select" if get(obj.body, "spec", "podSelector", "matchExpressions")
                else "every pod")
            problems.append(f"egress[{index}] opens {', '.join(cidrs)} on "
                            f"{', '.join(map(str, ports)) if ports else 'every port'} to {selected}")
    return problems


def config_entries(config: Any) -> list[Any]:
    value = get(config, "internetEgress")
    return list(value) if isinstance(value, (list, tuple)) else [dict(e) for e in DEFAULT_INTERNET_EGRESS]


def _check_internet(obj: KubeObject, config: Any) -> Iterator[str]:
    if not _is_netpol(obj):
        return
    problems = internet_egress_problems(obj, config)
    if problems:
        yield (f"{'; '.join(problems)}, which is not a designed internet flow (internetEgress: model downloads, "
               f"bucket users, Alertmanager, ACME, GPU driver). Reach in-cluster services by selector; a new "
               f"external dependency gets its own flow in config/network.py and an internetEgress entry.")


netpol_internet_egress = object_policy(
    INTERNET_NAME,
    "Egress to the internet (a /0 ipBlock) only for the designed flows (internetEgress), on their ports.",
    _check_internet,
    config_schema=PolicyConfigSchema(properties={
        "internetEgress": {
            "type": "array",
            "items": {"type": "object", "additionalProperties": False, "required": ["podLabels", "ports"],
                      "properties": {
                          "podLabels": {"type": "object", "minProperties": 1,
                                        "additionalProperties": {"type": "string"}},
                          "ports": {"type": "array", "minItems": 1,
                                    "items": {"type": "integer", "minimum": 1, "maximum": 65535}},
                      }},
            "default": [dict(e) for e in DEFAULT_INTERNET_EGRESS],
            "description": "The designed internet flows: pods whose podSelector.matchLabels contain podLabels may "
                           "reach a /0 ipBlock on these ports.",
        },
        "internetEgressNamespaces": {
            "type": "array",
            "items": {"type": "string"},
            "default": [],
            "description": "Namespaces whose every pod may reach the internet on 443 (tenancy.internetEgress).",
        },
    }),
)


# ------------------------------------------------------------------------------ flow identities


_TEMPLATE_LABELS = {
    "Pod": ("metadata", "labels"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "metadata", "labels"),
    **dict.fromkeys(("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"),
                    ("spec", "template", "metadata", "labels")),
}


def pod_labels(obj: KubeObject) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(where, labels) of the pods an object creates: workload templates, bare Pods, ECK node sets' podTemplate."""
    path = _TEMPLATE_LABELS.get(obj.kind)
    if path is not None and obj.api_version in ("v1", "apps/v1", "batch/v1"):
        labels = get(obj.body, *path)
        if is_map(labels):
            yield ("pod" if obj.kind == "Pod" else "pod template"), labels
    elif obj.api_version.startswith("elasticsearch.k8s.elastic.co/"):
        for node_set in maps(get(obj.body, "spec", "nodeSets")):
            labels = get(node_set, "podTemplate", "metadata", "labels")
            if is_map(labels):
                yield f"node set {get(node_set, 'name', default='?')}", labels


def _check_flow_labels(obj: KubeObject, config: Any) -> Iterator[str]:
    program = obj.source == "program"
    for where, labels in pod_labels(obj):
        role = labels.get(ROLE_LABEL)
        if role is None:
            continue
        if role == MODEL_DOWNLOAD and not (program and obj.kind == "Job"):
            yield (f"{where} carries {ROLE_LABEL}: {MODEL_DOWNLOAD}, the internet identity of the program's model "
                   f"download Jobs; remove the label (a model server reads the weights from its cache volume).")
        elif role != MODEL_DOWNLOAD and not (program and obj.kind in ("Job", "CronJob")):
            yield (f"{where} carries {ROLE_LABEL}: {role}, a network identity reserved for the program's Jobs and "
                   f"CronJobs; remove the label.")


privileged_flow_labels = object_policy(
    FLOW_LABELS_NAME,
    "The ai-platform/role pod label (a NetworkPolicy identity) only on the program's Jobs/CronJobs; model-download "
    "only on the program's download Jobs.",
    _check_flow_labels,
)
