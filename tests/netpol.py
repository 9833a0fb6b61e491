"""A NetworkPolicy evaluator for tests: may a pod reach another pod (or an IP) on a port?

Implements the semantics of networking.k8s.io/v1 NetworkPolicy as the API documents them, over
the recorded objects of a mock run (so tests judge the policies the program really creates):

- a pod is isolated for ingress (egress) when some policy in its namespace selects it and lists
  Ingress (Egress) in policyTypes (policyTypes absent: Ingress, plus Egress if egress rules exist);
- a connection is allowed when the source's egress allows it AND the destination's ingress allows
  it; a non-isolated side allows everything; policies are additive (a union of their rules);
- a rule with no `from`/`to` matches every peer, with no `ports` every port; a peer with only a
  podSelector selects pods of the policy's own namespace, namespaceSelector + podSelector pods of
  matching namespaces, an ipBlock addresses outside the cluster's pods (cidr minus except), as a
  destination or as a source (the API server calling a webhook, clients reaching the ingress);
- label selectors: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist); namespaces
  carry `kubernetes.io/metadata.name`, as the API server sets it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.plan import k8s_object

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ip:
    address: str


def matches(selector: Mapping | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; an empty selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], list(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


class Network:
    """The recorded NetworkPolicies and Namespaces of one run."""

    def __init__(self, resources: Iterable[Any]):
        objects = [o for o in (k8s_object(r) for r in resources) if o is not None]
        self.namespace_labels: dict[str, dict[str, str]] = {}
        for o in objects:
            if o["kind"] == "Namespace":
                name = o["metadata"]["name"]
                self.namespace_labels[name] = {**(o["metadata"].get("labels") or {}), NAMESPACE_NAME_LABEL: name}
        self.policies = [o for o in objects if o["kind"] == "NetworkPolicy"]

    def _ns_labels(self, namespace: str) -> dict[str, str]:
        return self.namespace_labels.get(namespace, {NAMESPACE_NAME_LABEL: namespace})

    def _selecting(self, pod: Pod, direction: str) -> list[dict]:
        found = []
        for p in self.policies:
            if p["metadata"].get("namespace") != pod.namespace:
                continue
            spec = p["spec"]
            types = spec.get("policyTypes") or (["Ingress"] + (["Egress"] if spec.get("egress") else []))
            if direction in types and matches(spec.get("podSelector") or {}, pod.labels):
                found.append(p)
        return found

    def _peer_matches(self, peer: Mapping, policy_ns: str, other: Any) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Ip):
                return False
            address = ipaddress.ip_address(other.address)
            block = peer["ipBlock"]
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(address in ipaddress.ip_network(c) for c in block.get("except") or [])
        if not isinstance(other, Pod):
            return False
        if "namespaceSelector" in peer:
            if not matches(peer["namespaceSelector"], self._ns_labels(other.namespace)):
                return False
        elif other.namespace != policy_ns:
            return False
        return matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port_matches(rule: Mapping, port: int, protocol: str) -> bool:
        ports = rule.get("ports")
        if not ports:
            return True
        for p in ports:
            if (p.get("protocol") or "TCP") != protocol:
                continue
            if "port" not in p:
                return True
            start = p["port"]
            if start == port or (p.get("endPort") is not None and start <= port <= p["endPort"]):
                return True
        return False

    def _allowed(self, pod: Pod, other: Any, port: int, protocol: str, direction: str) -> bool:
        selecting = self._selecting(pod, direction)
        if not selecting:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(peer, pod.namespace, other) for peer in peers):
                    continue
                if self._port_matches(rule, port, protocol):
                    return True
        return False

    def can_reach(self, source: Pod | Ip, dest: Any, port: int, protocol: str = "TCP") -> bool:
        """Egress of the source allows it and, for a pod destination, its ingress allows it. An IP source
        (the API server, a client on the internet) is outside every policy: only the destination's ingress
        decides."""
        if isinstance(source, Pod) and not self._allowed(source, dest, port, protocol, "Egress"):
            return False
        if isinstance(dest, Pod):
            return self._allowed(dest, source, port, protocol, "Ingress")
        return True
