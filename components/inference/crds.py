"""The CRDs of the inference gateway, installed by the program from the pinned CRD bundles.

Gateway API (standard channel: GatewayClass, Gateway, HTTPRoute, GRPCRoute, ReferenceGrant, ...; plus its
ValidatingAdmissionPolicy `safe-upgrades.gateway.networking.k8s.io` that refuses an older or experimental CRD
over this one), the Inference Extension (InferencePool `inference.networking.k8s.io/v1`, InferencePoolImport) and
llm-d-router (InferenceObjective, InferenceModelRewrite `llm-d.ai/v1alpha2`) publish their CRDs as plain YAML
release assets, not as charts (the llm-d-router charts create InferencePools and InferenceObjectives but install
no CRD). Each bundle is pinned in the chart lock (`crdBundles:`: version, file, release asset URL, sha256) and
read from the chart directories like a chart archive (components/helm.py `resolve_bundle`: `AI_PLATFORM_CHARTS`,
else `.cache/charts/` filled by `python -m tools.charts pull`, else `../shared/charts/`), digest-checked.

Every object of a bundle becomes a typed resource with its full spec (so the plan, strict validation and the pack
see the schemas, and the renderer passes their APIs to charts installed after them as `--api-versions`):
`apiextensions.k8s.io/v1` CustomResourceDefinition, `admissionregistration.k8s.io/v1` ValidatingAdmissionPolicy
and its binding. CRDs are kept when removed from the program (`retain_on_delete`): deleting a CRD deletes every
object of its kind in the cluster, routes and pools included, which no config change should do as a side effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.helm import ChartLockError, CrdBundlePin, bundle, describe_bundle_dirs, resolve_bundle
from components.labels import standard_labels

GATEWAY_BUNDLES = ("gateway-api", "gateway-api-inference-extension", "llm-d-router")
"""The chart lock's CRD bundles the inference gateway needs, in install order."""

CRD = "CustomResourceDefinition"
VAP = "ValidatingAdmissionPolicy"
VAP_BINDING = "ValidatingAdmissionPolicyBinding"
ROLES = {("apiextensions.k8s.io/v1", CRD): "crd", ("admissionregistration.k8s.io/v1", VAP): "vap",
         ("admissionregistration.k8s.io/v1", VAP_BINDING): "vap-binding"}
"""(apiVersion, kind) a bundle may hold -> the role in its resource name; anything else is refused."""


class CrdBundleError(pulumi.RunError):
    """A CRD bundle the stack needs is missing, does not match the lock, or holds an unexpected object.

    A `pulumi.RunError`: the CLI prints the message alone; raised before any resource is registered."""


@dataclass(frozen=True)
class LoadedBundle:
    """A resolved CRD bundle and its objects (shared, read-only)."""

    pin: CrdBundlePin
    path: Path
    sha256: str
    objects: tuple[Mapping[str, Any], ...] = field(repr=False)


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML as Kubernetes reads it: dates stay strings (the C loader when PyYAML has it: 1 MB in ~0.1 s)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)

_parsed: dict[str, tuple[Mapping[str, Any], ...]] = {}
"""Bundle objects by file digest: each file is parsed once per process (tests and tools run the program often)."""


def parse_bundle(path: Path, digest: str) -> tuple[Mapping[str, Any], ...]:
    """The objects of a bundle file (comments and empty documents dropped), cached by digest."""
    if digest not in _parsed:
        docs = yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader)
        _parsed[digest] = tuple(d for d in docs if isinstance(d, dict) and d)
    return _parsed[digest]


def load_bundles(names: Sequence[str] = GATEWAY_BUNDLES, dirs: list[Path] | None = None) -> tuple[LoadedBundle, ...]:
    """Resolve and parse the named bundles; CrdBundleError naming every missing or mismatching one, where it was
    looked for and how to get it."""
    problems: list[str] = []
    loaded: list[LoadedBundle] = []
    for name in names:
        try:
            pin = bundle(name)
        except ChartLockError as exc:
            problems.append(str(exc))
            continue
        found = resolve_bundle(pin, dirs)
        if found.path is None:
            problems.append(f"CRD bundle {name} {pin.version}: {found.problem}")
            continue
        objects = parse_bundle(found.path, found.sha256)
        unexpected = sorted({f"{o.get('apiVersion')} {o.get('kind')}" for o in objects
                             if (o.get("apiVersion"), o.get("kind")) not in ROLES})
        if unexpected:
            problems.append(f"CRD bundle {name} {pin.version} ({found.path}) holds objects the program does not "
                            f"install: {', '.join(unexpected)}")
            continue
        # The lock says which groups and version a bundle defines (the pack's crd-bundle-locked holds every other CRD
        # to it): a file that says otherwise is not the locked bundle, whatever its digest was recorded as.
        wrong = [f"{o['metadata'].get('name')} (group {o['spec'].get('group')}, {pin.version_annotation} "
                 f"{(o['metadata'].get('annotations') or {}).get(pin.version_annotation)})"
                 for o in objects if o.get("kind") == CRD
                 and (o["spec"].get("group") not in pin.groups
                      or (o["metadata"].get("annotations") or {}).get(pin.version_annotation) != pin.version)]
        if wrong:
            problems.append(f"CRD bundle {name} {pin.version} ({found.path}): CRDs not of groups "
                            f"{', '.join(pin.groups)} at {pin.version}: {', '.join(wrong)}")
            continue
        loaded.append(LoadedBundle(pin, found.path, found.sha256, objects))
    if problems:
        where = dirs if dirs is not None else describe_bundle_dirs()
        raise CrdBundleError("the inference gateway (ai-platform:inferenceGateway.enabled) needs CRD bundles that "
                             f"were not found (looked in {where}):\n"
                             + "\n".join(f"  - {p}" for p in problems)
                             + "\n`python -m tools.charts pull` downloads them (charts.lock.yaml crdBundles: url) "
                               "into .cache/charts/; or set AI_PLATFORM_CHARTS to the team's ../shared/charts.")
    return tuple(loaded)


def resource_name(prefix: str, obj: Mapping[str, Any]) -> str:
    """`<prefix>-<role>-<metadata.name>`: stable across bundle versions (the object's own name, not its position)."""
    role = ROLES[(str(obj.get("apiVersion")), str(obj.get("kind")))]
    return f"{prefix}-{role}-{obj['metadata']['name']}"


@dataclass(frozen=True)
class GatewayCrdsArgs:
    """What the gateway's CRDs are built from."""

    bundles: Sequence[LoadedBundle]
    """The resolved bundles (`load_bundles()`, called before any resource is registered)."""
    after: Sequence[pulumi.Resource] = ()
    """Resources to create the CRDs after (the cluster)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """User labels (`ai-platform:labels`), added to each object's own."""


class GatewayCrds(pulumi.ComponentResource):
    """Every object of the gateway's CRD bundles as a typed resource (see the module docstring).

    Depend on this component (PlatformContext.gateway_crds) to wait for all of them."""

    def __init__(self, name: str, args: GatewayCrdsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ai-platform:inference:GatewayCrds", name, None, opts)
        self.crds: list[k8s.apiextensions.v1.CustomResourceDefinition] = []
        self.policies: list[k8s.admissionregistration.v1.ValidatingAdmissionPolicy] = []
        self.bindings: list[k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding] = []
        after = list(args.after)
        objects = [(loaded, obj) for loaded in args.bundles for obj in loaded.objects]
        # Bindings last, after every policy (a binding of a policy not there yet is refused by nothing, but
        # it would bind to no policy until the policy exists).
        objects.sort(key=lambda pair: pair[1]["kind"] == VAP_BINDING)
        for loaded, obj in objects:
            meta = dict(obj["metadata"])
            labels = {**standard_labels(loaded.pin.name, "crds", args.labels), **(meta.get("labels") or {})}
            metadata = {**meta, "labels": labels}
            kind = obj["kind"]
            res_name = resource_name(name, obj)
            # The spec goes over as the bundle writes it (camelCase keys pass through the SDK unchanged).
            if kind == CRD:
                self.crds.append(k8s.apiextensions.v1.CustomResourceDefinition(
                    res_name, metadata=metadata, spec=obj["spec"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after, retain_on_delete=True)))
            elif kind == VAP:
                self.policies.append(k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
                    res_name, metadata=metadata, spec=obj["spec"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=after)))
            else:
                self.bindings.append(k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
                    res_name, metadata=metadata, spec=obj["spec"],
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[*after, *self.policies])))
        self.register_outputs({"crds": self.crds, "policies": self.policies, "bindings": self.bindings})
