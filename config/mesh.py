"""The ambient mesh's security objects, derived from the flows table: PeerAuthentication and AuthorizationPolicies.

Pure functions of the typed config, used by the Mesh component (components/mesh.py) and the tests. Nothing
here is written by hand per service: every AuthorizationPolicy comes from a `config.network.flows` entry whose
destination is a namespace in the mesh (`config.namespaces.mesh_enrolled`), so a flow another part of the
platform adds is allowed by the NetworkPolicies and by the mesh at once.

- **mTLS**: one mesh-wide PeerAuthentication `default` in the mesh root namespace (`mesh.namespace`), mode
  STRICT (or PERMISSIVE, `mesh.mtls`). A flow whose source is not in the mesh (a platform namespace such as
  keda or observability-node, or an IP block such as the API server) cannot present a mesh certificate: under
  STRICT its destination pods get a PeerAuthentication that accepts plaintext on exactly the flow's ports
  (`portLevelMtls` PERMISSIVE; ztunnel honours port-level modes of workload-selector policies, istio 1.30.3
  pilot/pkg/serviceregistry/ambient/authorization.go convertPeerAuthentication).
- **Authorization** (`mesh.authorization`): in every enrolled namespace an allow-nothing baseline (an ALLOW
  policy with no rules matches nothing, so everything no other ALLOW policy matches is denied), then one
  ALLOW policy per flow and destination workload. ztunnel enforces only L4 attributes without a waypoint
  (an L7 field would make ztunnel deny the whole rule), so the rules use only `from.source.namespaces` and
  `to.operation.ports`:
  - a source in the mesh is matched by its namespace (its SPIFFE identity, checked by mTLS); which pods of
    the namespace may connect is the NetworkPolicies' job (pod labels), so both must allow a connection;
  - a source outside the mesh has no identity: the rule admits only connections without one
    (`from.source.notPrincipals: ["*"]`) on the flow's ports, and the NetworkPolicy is the control that names
    the source (its namespace and pods, or its CIDRs);
  - kubelet probes are SNAT'd by istio-cni to 169.254.7.127 and accepted in the pod before ztunnel
    (istio 1.30.3 cni/pkg/iptables/iptables.go: `-s 169.254.7.127 ... -j ACCEPT` in ISTIO_PRERT), so no
    AuthorizationPolicy is needed for them; the NetworkPolicies admit that address (config/network.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .models import StackConfig
from .namespaces import mesh_enrolled
from .network import ANY_NAMESPACE, PROBE_SNAT_CIDR, Flow, Peer, flows

PEER_AUTHENTICATION_NAME = "default"
"""The mesh-wide PeerAuthentication (in the root namespace: istiod's, `mesh.namespace`)."""
ALLOW_NOTHING = "allow-nothing"


@dataclass(frozen=True)
class AuthorizationSpec:
    """One AuthorizationPolicy (security.istio.io/v1, action ALLOW)."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    """matchLabels of the workloads it applies to; empty: every workload of the namespace."""
    rules: tuple[Mapping[str, Any], ...]
    """ALLOW rules; none: the policy allows nothing (the baseline)."""
    why: str
    flow: str = ""
    """The flow it was derived from (empty for the baseline)."""

    def spec(self) -> dict[str, Any]:
        """The object's `spec`."""
        out: dict[str, Any] = {"action": "ALLOW"}
        if self.selector:
            out["selector"] = {"matchLabels": dict(self.selector)}
        if self.rules:
            out["rules"] = [dict(r) for r in self.rules]
        return out


@dataclass(frozen=True)
class PeerAuthenticationSpec:
    """One PeerAuthentication (security.istio.io/v1)."""

    namespace: str
    name: str
    mode: str
    """STRICT or PERMISSIVE."""
    selector: Mapping[str, str] = field(default_factory=dict)
    port_modes: Mapping[int, str] = field(default_factory=dict)
    """Port-level modes (only with a selector)."""
    why: str = ""

    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mtls": {"mode": self.mode}}
        if self.selector:
            out["selector"] = {"matchLabels": dict(self.selector)}
        if self.port_modes:
            out["portLevelMtls"] = {str(port): {"mode": mode} for port, mode in sorted(self.port_modes.items())}
        return out


def _workloads(peer: Peer) -> list[dict[str, str]]:
    """matchLabels selectors covering a peer's pods: AuthorizationPolicy and PeerAuthentication selectors have no
    matchExpressions, so `key In (a, b)` becomes one selector per value."""
    keys = list(peer.pods_in)
    combos = itertools.product(*(peer.pods_in[k] for k in keys)) if keys else [()]
    return [{**dict(peer.pods), **dict(zip(keys, values, strict=True))} for values in combos]


def _tcp_ports(flow: Flow) -> list[int]:
    return sorted({p.port for p in flow.ports if p.protocol == "TCP"})


def _targets(flow: Flow, enrolled: tuple[str, ...]) -> list[str]:
    """Enrolled namespaces a flow ends in (ANY_NAMESPACE: every enrolled one but the source's, which has its own
    internal flow, as the NetworkPolicy builder does)."""
    dest = flow.dest
    if dest.is_ip or dest.namespace is None:
        return []
    if dest.namespace == ANY_NAMESPACE:
        return [ns for ns in enrolled if ns != flow.source.namespace]
    return [dest.namespace] if dest.namespace in enrolled else []


def in_mesh(peer: Peer, enrolled: tuple[str, ...]) -> bool:
    """Whether a flow's source connects with a mesh identity (its pods are in an enrolled namespace)."""
    return not peer.is_ip and peer.namespace in enrolled


def mesh_flows(cfg: StackConfig) -> list[tuple[Flow, str]]:
    """(flow, destination namespace) for every flow that ends in an enrolled namespace through ztunnel."""
    enrolled = mesh_enrolled(cfg)
    found: list[tuple[Flow, str]] = []
    for flow in flows(cfg):
        if flow.source.is_ip and flow.source.cidrs == (PROBE_SNAT_CIDR,):
            continue  # kubelet probes are accepted before ztunnel (module docstring)
        found.extend((flow, ns) for ns in _targets(flow, enrolled))
    return found


def authorization_policies(cfg: StackConfig) -> list[AuthorizationSpec]:
    """The allow-nothing baseline of every enrolled namespace and one ALLOW policy per flow and workload."""
    if not (cfg.mesh.enabled and cfg.mesh.authorization):
        return []
    enrolled = mesh_enrolled(cfg)
    specs = [AuthorizationSpec(ns, ALLOW_NOTHING, {}, (), "deny every connection no other policy allows")
             for ns in enrolled]
    for flow, ns in mesh_flows(cfg):
        source = flow.source
        rule: dict[str, Any] = {}
        if in_mesh(source, enrolled):
            rule["from"] = [{"source": {"namespaces": [source.namespace]}}]
            origin = source.namespace
        else:
            # No identity: the NetworkPolicy names the source; the rule admits only connections without a mesh
            # identity (`notPrincipals: ["*"]`: ztunnel matches "*" as any present principal), so a mesh workload
            # gains nothing from it.
            rule["from"] = [{"source": {"notPrincipals": ["*"]}}]
            origin = "outside-mesh"
        if ports := _tcp_ports(flow):
            rule["to"] = [{"operation": {"ports": [str(p) for p in ports]}}]
        selectors = _workloads(flow.dest)
        for i, selector in enumerate(selectors):
            suffix = f"-{i + 1}" if len(selectors) > 1 else ""
            specs.append(AuthorizationSpec(ns, f"allow-{flow.name}-from-{origin}{suffix}", selector, (rule,),
                                           flow.why, flow.name))
    return _unique(specs)


def _unique(specs: list[AuthorizationSpec]) -> list[AuthorizationSpec]:
    """Number repeated names in a namespace (two sources outside the mesh with flows of one name)."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for spec in specs:
        key = (spec.namespace, spec.name)
        seen[key] = seen.get(key, 0) + 1
        out.append(spec if seen[key] == 1 else replace(spec, name=f"{spec.name}-{seen[key]}"))
    return out


def peer_authentications(cfg: StackConfig) -> list[PeerAuthenticationSpec]:
    """The mesh-wide mode, and under STRICT the plaintext exceptions for flows from outside the mesh."""
    mesh = cfg.mesh
    if not mesh.enabled:
        return []
    mode = mesh.mtls.upper()
    specs = [PeerAuthenticationSpec(mesh.namespace, PEER_AUTHENTICATION_NAME, mode,
                                    why=f"mesh-wide mutual TLS ({mode}, mesh.mtls)")]
    if mode != "STRICT":
        return specs
    enrolled = mesh_enrolled(cfg)
    # One policy per destination workload: Istio applies the oldest of several selecting one pod, so the ports of
    # every plaintext flow into a workload are merged into one object.
    merged: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[set[int], list[str]]] = {}
    for flow, ns in mesh_flows(cfg):
        if in_mesh(flow.source, enrolled):
            continue
        for selector in _workloads(flow.dest):
            ports, names = merged.setdefault((ns, tuple(sorted(selector.items()))), (set(), []))
            ports.update(_tcp_ports(flow) or {0})  # 0: the flow allows every port
            names.append(flow.name)
    used: dict[tuple[str, str], int] = {}
    for (ns, selector_items), (ports, names) in sorted(merged.items()):
        selector = dict(selector_items)
        name = ("plaintext-" + "-".join(sorted(set(names))))[:58].rstrip("-")
        used[(ns, name)] = used.get((ns, name), 0) + 1
        name += f"-{used[(ns, name)]}" if used[(ns, name)] > 1 else ""
        why = f"sources outside the mesh ({', '.join(sorted(set(names)))}) connect without mesh certificates"
        if 0 in ports or not selector:
            # Port-level modes need a selector; a flow on every port needs the whole workload.
            specs.append(PeerAuthenticationSpec(ns, name, "PERMISSIVE", selector, why=why))
        else:
            specs.append(PeerAuthenticationSpec(ns, name, "STRICT", selector,
                                                dict.fromkeys(sorted(ports), "PERMISSIVE"), why))
    return specs
