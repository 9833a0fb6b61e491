"""Typed stack configuration: the contract between `Pulumi.<stack>.yaml` and the program.

One pydantic model per config group (`ai-platform:<group>`). Field names are snake_case in Python
and camelCase in YAML (the alias). Every model forbids unknown keys. Shape and range checks live
here; checks that need the catalog or several groups at once live in `config.semantics`.
Field docstrings become the descriptions in the generated JSON schema (`config/stack.schema.json`).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|Pi|M|G|T|P)?$"
IMAGE_REF = r"^[a-z0-9][a-z0-9._\-/:]*[a-z0-9](@sha256:[a-f0-9]{64})?$"


def _cidr(value: str) -> str:
    try:
        ipaddress.IPv4Network(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IPv4 CIDR with host bits zero ({exc})") from None
    return value


Cidr = Annotated[str, AfterValidator(_cidr)]
GpuKey = Literal["t4", "l4", "a10g", "l40s", "a100-40gb", "a100-80gb", "h100-80gb", "h200-141gb", "b200-180gb",
                 "rtx-pro-6000"]


class Model(BaseModel):
    """Base for every config model: camelCase keys, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


# --------------------------------------------------------------------------------------- cluster


class AuthorizedNetwork(Model):
    """One CIDR allowed to reach the GKE control plane's IP endpoint (`cluster.gcp.authorizedNetworks[]`)."""

    cidr: Cidr
    """IPv4 range in CIDR notation (e.g. an office egress range or a VPN)."""
    display_name: str = Field(min_length=1, max_length=100)
    """Why it is allowed (shown in the GKE console): "office", "vpn", ..."""


class GkeBinaryAuthorization(Model):
    """Binary Authorization for the cluster (`cluster.gcp.binaryAuthorization`)."""

    mode: Literal["audit", "enforce", "disabled"] = "audit"
    """audit: images outside `allowedImages` are admitted and logged (dry run); enforce: they are refused;
    disabled: no Binary Authorization. Google's system images (GKE add-ons) are always allowed."""
    allowed_images: tuple[str, ...] = ()
    """Image name patterns admitted without a finding (`registry/path/image`, a trailing `*` allowed after the
    registry), e.g. `us-docker.pkg.dev/acme-ai/serving/*`. enforce needs at least one."""

    @field_validator("allowed_images")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            # Binary Authorization allows a trailing wildcard only, after the registry part.
            registry, sep, rest = pattern.partition("/")
            if not registry or not sep or "*" in registry or "*" in rest.rstrip("*"):
                raise ValueError(f"{pattern!r} is not an image pattern 'registry/path/image' with at most a trailing "
                                 "'*' after the registry")
        return value


class GkeSecretsEncryption(Model):
    """Application-layer encryption of Kubernetes Secrets with Cloud KMS (`cluster.gcp.secretsEncryption`)."""

    key_name: str | None = Field(
        None, pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$")
    """An existing Cloud KMS key (`projects/P/locations/REGION/keyRings/R/cryptoKeys/K`, best in the cluster's
    region); its owner grants the GKE service agent roles/cloudkms.cryptoKeyEncrypterDecrypter. Omitted: the program
    creates a key ring and key in the cluster's region and grants the agent itself."""
    rotation_days: int = Field(90, ge=2, le=3650)
    """Rotation period of the created key, in days (Cloud KMS needs more than one day)."""


class GkeSecurityPosture(Model):
    """GKE security posture (`cluster.gcp.securityPosture`)."""

    mode: Literal["DISABLED", "BASIC", "ENTERPRISE"] = "BASIC"
    """Kubernetes security posture: BASIC audits workload configurations (free tier); ENTERPRISE needs GKE
    Enterprise."""
    vulnerability_mode: Literal["VULNERABILITY_DISABLED", "VULNERABILITY_ENTERPRISE"] = "VULNERABILITY_DISABLED"
    """Workload vulnerability scanning. VULNERABILITY_BASIC was shut down in July 2025 and ENTERPRISE (Advanced
    Vulnerability Insights) is deprecated; scan images in Artifact Registry instead."""


class GcpConfig(Model):
    """GKE-specific cluster settings (`cluster.gcp`)."""

    project: str = Field(pattern=r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$")
    """GCP project id that owns the cluster."""
    network: str | None = None
    """Existing VPC network name; omitted: the program creates one."""
    subnetwork: str | None = None
    """Existing subnetwork name (needs secondary ranges `pods` and `services`); requires `network`."""
    subnet_cidr: Cidr = "10.10.0.0/20"
    """Primary range of the created subnetwork (nodes)."""
    pods_cidr: Cidr = "10.16.0.0/14"
    """Secondary range for pods (VPC-native)."""
    services_cidr: Cidr = "10.20.0.0/20"
    """Secondary range for services."""
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = "REGULAR"
    """GKE release channel."""
    private_nodes: bool = True
    """Nodes get no public IPs (egress through Cloud NAT)."""
    master_ipv4_cidr: Cidr = "172.16.0.0/28"
    """/28 for the control plane peering when `privateNodes` is on."""
    reservation: str | None = None
    """Compute Engine reservation name GPU pools consume (SPECIFIC_RESERVATION affinity)."""
    authorized_networks: tuple[AuthorizedNetwork, ...] = ()
    """The only external CIDRs that reach the control plane's IP endpoint (master authorized networks, always on).
    Empty: no external IP reaches it; use the DNS endpoint. Ranges wider than /8 (0.0.0.0/0) are refused on a
    deletion-protected stack."""
    private_endpoint: bool = False
    """Disable the control plane's public IP endpoint (only the private IP, from inside the VPC); needs
    `privateNodes`."""
    dns_endpoint: bool = True
    """Serve the control plane on its DNS-based endpoint (`*.gke.goog`) to callers outside the VPC: each request is
    authorized by IAM (`container.clusters.connect`), so CI runners and laptops need no network allowlist. The
    kubeconfig the program builds uses it."""
    binary_authorization: GkeBinaryAuthorization = Field(default_factory=GkeBinaryAuthorization)
    """Binary Authorization mode and allowlist (the project's policy, with a rule for this cluster)."""
    secrets_encryption: GkeSecretsEncryption = Field(default_factory=GkeSecretsEncryption)
    """Cloud KMS key that encrypts Kubernetes Secrets in the cluster's database (always on)."""
    security_posture: GkeSecurityPosture = Field(default_factory=GkeSecurityPosture)
    """Security posture dashboard modes."""

    @model_validator(mode="after")
    def _existing_network(self) -> GcpConfig:
        if self.subnetwork and not self.network:
            raise ValueError("'subnetwork' names an existing subnetwork: set 'network' too")
        return self

    @model_validator(mode="after")
    def _endpoints(self) -> GcpConfig:
        if self.private_endpoint and not self.private_nodes:
            raise ValueError("'privateEndpoint' needs 'privateNodes: true' (GKE has a private endpoint only on "
                             "clusters with private nodes)")
        if self.binary_authorization.mode == "enforce" and not self.binary_authorization.allowed_images:
            raise ValueError("binaryAuthorization.mode 'enforce' refuses every image but Google's system images: "
                             "list your registries in binaryAuthorization.allowedImages (or use mode 'audit')")
        return self


class EksConfig(Model):
    """EKS-specific cluster settings (`cluster.eks`)."""

    vpc_cidr: Cidr = "10.0.0.0/16"
    """CIDR of the created VPC (ignored when `subnetIds` is set)."""
    subnet_ids: tuple[str, ...] = ()
    """Existing private subnet ids for nodes; empty: the program creates a VPC."""
    ami_type: Literal["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"] = "AL2023_x86_64_NVIDIA"
    """AMI for GPU node groups: AL2023 NVIDIA (driver + toolkit baked in) or Bottlerocket NVIDIA."""
    public_endpoint: bool = False
    """Expose the API server endpoint publicly (private endpoint is always on). Needs `publicAccessCidrs`; a
    protected stack (`deletionProtection`) refuses 0.0.0.0/0 there."""
    public_access_cidrs: tuple[Cidr, ...] = ()
    """CIDRs allowed to reach a public endpoint; required when `publicEndpoint` is true (EKS would otherwise open
    it to 0.0.0.0/0)."""
    private_access_cidrs: tuple[Cidr, ...] = ()
    """CIDRs allowed to reach the private endpoint on 443 through the cluster security group (nodes are always
    allowed): the subnet of the self-hosted deploy runner, a VPN or a peered network. EKS allows only the cluster
    security group itself by default."""
    kms_key_arn: str | None = Field(None, pattern=r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$")
    """KMS key (symmetric, same region) that encrypts Kubernetes secrets; omitted: the program creates one with
    rotation on. Its key policy must let the account's IAM grant use (the cluster role gets an IAM policy for it)."""
    ssm: bool = False
    """Attach AmazonSSMManagedInstanceCore to the node role (SSM Session Manager shells on nodes)."""

    @model_validator(mode="after")
    def _public(self) -> EksConfig:
        if self.public_endpoint and not self.public_access_cidrs:
            raise ValueError("publicEndpoint needs publicAccessCidrs (EKS opens an endpoint without CIDRs to "
                             "0.0.0.0/0; name the CIDRs, and 0.0.0.0/0 only explicitly on an unprotected stack)")
        if self.public_access_cidrs and not self.public_endpoint:
            raise ValueError("publicAccessCidrs is set but publicEndpoint is false: the CIDRs would be ignored; set "
                             "publicEndpoint: true or remove them")
        return self


class ExistingConfig(Model):
    """Bring-your-own cluster (`cluster.existing`)."""

    context: str = Field(min_length=1)
    """kubeconfig context to deploy into (kind-ai, minikube, k3d-ai, ...)."""
    kubeconfig: str | None = None
    """Path of the kubeconfig file; default: $KUBECONFIG or ~/.kube/config."""
    api_server_cidr: Cidr | None = None
    """Where pods reach the API server after the `kubernetes` Service (e.g. kind's docker network 172.18.0.0/16);
    NetworkPolicies allow egress to it on 443/6443. Omitted: any address on those ports."""
    node_cidr: Cidr | None = None
    """Where the nodes live (Prometheus scrapes kubelets there). Omitted: any address."""


class ClusterConfig(Model):
    """`ai-platform:cluster`: which Kubernetes cluster the platform lives in."""

    provider: Literal["gke", "eks", "existing"]
    """gke and eks create the cluster; existing deploys into a kubeconfig context."""
    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """Cluster name (DNS label, at most 40 characters)."""
    region: str | None = Field(None, pattern=r"^[a-z]+(-[a-z]+)+-?[0-9]+$")
    """Cloud region (us-central1, us-east-1); required for gke and eks."""
    zones: tuple[str, ...] = ()
    """Zones inside `region` for nodes; required for gke and eks (at least 2 for eks)."""
    kubernetes_version: str = Field("1.35", pattern=r"^1\.[0-9]{2}$")
    """Kubernetes minor version (e.g. "1.35"). gke: one the release channel offers for new clusters; eks: one with a
    Cluster Autoscaler release (both recorded in config/catalog.py)."""
    deletion_protection: bool = True
    """Protect the cluster (and stateful data) from deletion."""
    gcp: GcpConfig | None = None
    """GKE settings; required when provider is gke."""
    eks: EksConfig | None = None
    """EKS settings (optional) when provider is eks."""
    existing: ExistingConfig | None = None
    """Context settings; required when provider is existing."""

    @model_validator(mode="after")
    def _provider_block(self) -> ClusterConfig:
        blocks = {"gke": "gcp", "eks": "eks", "existing": "existing"}
        own = blocks[self.provider]
        for provider, block in blocks.items():
            if block != own and getattr(self, block) is not None:
                raise ValueError(f"block '{block}' belongs to provider {provider}, not {self.provider}")
        if self.provider == "gke" and self.gcp is None:
            raise ValueError("provider gke needs a 'gcp' block with at least 'project'")
        if self.provider == "existing" and self.existing is None:
            raise ValueError("provider existing needs an 'existing' block with 'context'")
        if self.provider in ("gke", "eks"):
            if not self.region:
                raise ValueError(f"provider {self.provider} needs 'region'")
            if not self.zones:
                raise ValueError(f"provider {self.provider} needs 'zones' inside region {self.region}")
        return self


# ------------------------------------------------------------------------------------ node pools


class SystemPool(Model):
    """CPU pool for system and data workloads (no GPUs)."""

    machine_type: str = Field(min_length=2)
    """Machine/instance type (e2-standard-8, m6i.2xlarge); ignored for existing clusters."""
    min: int = Field(1, ge=0, le=100)
    """Minimum nodes (per cluster)."""
    max: int = Field(3, ge=1, le=200)
    """Maximum nodes (per cluster)."""
    disk_gi: int = Field(100, ge=20, le=4096)
    """Boot disk size in GiB."""

    @model_validator(mode="after")
    def _bounds(self) -> SystemPool:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Exclusive(Model):
    """Whole GPUs, one container per GPU."""

    strategy: Literal["exclusive"]


MigProfileName = Annotated[str, Field(pattern=r"^[1-7]g\.[0-9]+gb(\+me)?$")]


class Mig(Model):
    """Multi-Instance GPU: set `profile` (every GPU split into as many instances of it as fit, the
    layout all-<profile>) or `layout` (every GPU split into these instances, mixed profiles)."""

    strategy: Literal["mig"]
    profile: MigProfileName | None = None
    """Single-profile layout: MIG profile of the pool's GPU model (e.g. 1g.10gb on a100-80gb)."""
    layout: dict[MigProfileName, Annotated[int, Field(ge=1, le=7)]] | None = None
    """Mixed layout per GPU, profile -> instances (e.g. {3g.40gb: 1, 2g.20gb: 2}); needs gpuStack.migStrategy mixed
    when it has several profiles."""

    @model_validator(mode="after")
    def _one_form(self) -> Mig:
        if (self.profile is None) == (self.layout is None):
            raise ValueError("set exactly one of 'profile' (single-profile layout) or 'layout' (mixed layout)")
        if self.layout is not None and not self.layout:
            raise ValueError("layout needs at least one profile")
        return self

    @property
    def devices(self) -> dict[str, int]:
        """The layout as profile -> instances per GPU ({} for `profile`: the catalog's max count)."""
        return dict(self.layout or {})


class TimeSlicing(Model):
    """Time-slicing: each GPU is advertised `replicas` times; no memory or fault isolation."""

    strategy: Literal["time-slicing"]
    replicas: int = Field(ge=2, le=48)
    """Virtual GPUs per physical GPU."""


class Mps(Model):
    """CUDA MPS: `replicas` clients per GPU with a memory limit each."""

    strategy: Literal["mps"]
    replicas: int = Field(ge=2, le=48)
    """Clients per physical GPU."""


Sharing = Annotated[Exclusive | Mig | TimeSlicing | Mps, Field(discriminator="strategy")]


class PoolReservation(Model):
    """Reserved capacity a pool consumes (`nodePools.gpu[].reservation`)."""

    affinity: Literal["specific", "any"] = "specific"
    """specific: only the reservations in `names` (GKE SPECIFIC_RESERVATION; EC2 capacity reservation ids);
    any: any matching reservation of the project / account (GKE ANY_RESERVATION; Karpenter selects by `tags`)."""
    names: tuple[str, ...] = ()
    """GKE reservation names, or EC2 capacity reservation ids (`cr-...`, On-Demand Capacity Reservations and
    Capacity Blocks for ML)."""
    project: str | None = None
    """GKE: the project owning a shared reservation (omitted: the cluster's project)."""
    tags: dict[str, str] = Field(default_factory=dict)
    """EKS with Karpenter: select capacity reservations by these tags instead of ids."""
    capacity_block: bool = False
    """EKS: the reservation is a Capacity Block for ML (time-boxed; managed node groups use capacity type
    CAPACITY_BLOCK, Karpenter `reserved`)."""
    machine_type: str | None = None
    """The machine / instance type the reservation holds, as the team knows it (GKE reservations and EC2 capacity
    reservations are per machine type). The plan cannot see the cloud's reservation: when given, a pool whose
    machine type differs is a config error; omitted, a mismatch only shows when nodes fail to come up."""


class FlexStart(Model):
    """GKE Dynamic Workload Scheduler flex-start settings (`nodePools.gpu[].flexStart`)."""

    max_run_duration_hours: int = Field(168, ge=1, le=168)
    """Most hours a flex-start node runs before GKE removes it (GKE caps it at 7 days)."""
    queued: bool = False
    """Queued provisioning: nodes come all at once for a ProvisioningRequest (admitted through Kueue) instead of
    one by one as pods wait."""


class GpuPool(Model):
    """One GPU node pool / managed node group."""

    name: str = Field(pattern=DNS_LABEL, max_length=24)
    """Pool name (DNS label, at most 24 characters); models refer to it."""
    gpu: GpuKey
    """GPU model (catalog key)."""
    gpus_per_node: int = Field(1, ge=1, le=16)
    """GPUs per node; must match a machine type of that GPU on the cloud."""
    capacity: Literal["on-demand", "spot", "flex-start", "reservation"] = "on-demand"
    """How the pool's nodes are obtained: on-demand, spot (preemptible), flex-start (GKE Dynamic Workload Scheduler:
    capacity when it is free, for at most `flexStart.maxRunDurationHours`) or reservation (reserved capacity named in
    `reservation`: GKE reservations, EC2 On-Demand Capacity Reservations and Capacity Blocks for ML)."""
    reservation: PoolReservation | None = None
    """The reserved capacity a `capacity: reservation` pool consumes."""
    flex_start: FlexStart | None = None
    """Flex-start settings of a `capacity: flex-start` pool (GKE)."""
    min: int = Field(0, ge=0, le=500)
    """Minimum nodes (whole pool)."""
    max: int = Field(1, ge=1, le=500)
    """Maximum nodes (whole pool)."""
    sharing: Sharing = Field(default_factory=lambda: Exclusive(strategy="exclusive"))
    """How the GPUs are shared: exclusive | mig | time-slicing | mps."""
    machine_type: str | None = None
    """Override the catalog's machine/instance type (must carry `gpusPerNode` of this GPU)."""
    spot_instance_types: tuple[str, ...] = ()
    """EKS spot pools: extra instance types of the same GPU count to widen the spot market."""
    disk_gi: int = Field(300, ge=50, le=8192)
    """Node boot disk in GiB (images and model weights)."""
    force_upgrade: bool = False
    """Let node upgrades go on when a model cannot move off a node within the cloud's drain window (EKS 15 min,
    then the update fails; GKE 1 h, then GKE evicts anyway): EKS updates the group with force, deleting replicas
    before their replacements are Ready. Off: such a pool is a config error (docs/clusters.md, Upgrades)."""

    @model_validator(mode="after")
    def _bounds(self) -> GpuPool:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class NodePoolsConfig(Model):
    """`ai-platform:nodePools`."""

    system: SystemPool | None = None
    """The CPU system pool; required for gke and eks (existing clusters bring their own nodes)."""
    gpu: tuple[GpuPool, ...] = ()
    """GPU pools; names must be unique."""
    provisioner: Literal["managed", "karpenter"] = "managed"
    """How GPU nodes are created: managed (GKE node pools / EKS managed node groups with the cluster autoscaler) or
    karpenter (EKS only: a Karpenter NodePool and EC2NodeClass per GPU pool)."""
    compute_classes: tuple[ComputeClassSpec, ...] = ()
    """GKE custom compute classes: an ordered list of pools a workload falls back through by itself."""


class ComputeClassSpec(Model):
    """One GKE custom compute class (`nodePools.computeClasses[]`, cloud.google.com/v1 ComputeClass)."""

    name: str = Field(pattern=DNS_LABEL, max_length=63)
    """ComputeClass name; model servers select it with `computeClass`."""
    pools: tuple[str, ...] = Field(min_length=1)
    """GPU pool names in priority order (e.g. reservation, then on-demand, then spot, then flex-start)."""


# -------------------------------------------------------------------------------------- GPU stack


class GpuStackConfig(Model):
    """`ai-platform:gpuStack`: the NVIDIA software stack."""

    operator: bool = True
    """Install the NVIDIA GPU Operator (device plugin, DCGM exporter, MIG manager, GFD)."""
    mig_strategy: Literal["single", "mixed"] = "single"
    """single: MIG slices are advertised as nvidia.com/gpu; mixed: as nvidia.com/mig-<profile> (`+` written `.`:
    1g.10gb+me is nvidia.com/mig-1g.10gb.me)."""
    dcgm_exporter: bool = True
    """Export GPU metrics with DCGM exporter."""
    host_driver: bool = False
    """Existing clusters: the nodes already have the NVIDIA driver and container toolkit (the operator skips
    both). GKE and EKS decide this from the node image."""


# ---------------------------------------------------------------------------------------- serving


class Replicas(Model):
    """Replica bounds of a model server."""

    min: int = Field(1, ge=0, le=1000)
    """Minimum replicas (0 only with autoscaling.scaleToZero)."""
    max: int = Field(1, ge=1, le=1000)
    """Maximum replicas."""

    @model_validator(mode="after")
    def _bounds(self) -> Replicas:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class Autoscaling(Model):
    """Queue-depth and KV-cache driven autoscaling."""

    engine: Literal["keda", "hpa"] = "keda"
    """keda: ScaledObject on Prometheus; hpa: HPA through prometheus-adapter."""
    queue_depth: float = Field(10, gt=0, le=10000)
    """Target waiting requests per replica."""
    kv_cache_usage: float = Field(0.8, gt=0, le=1)
    """Target KV-cache usage fraction per replica."""
    scale_to_zero: bool = False
    """Allow 0 replicas when idle (not for critical models)."""
    scale_down_stabilization_seconds: int = Field(300, ge=0, le=3600)
    """Window before scaling down."""
    cooldown_seconds: int = Field(300, ge=0, le=86400)
    """KEDA cooldownPeriod: idle time before a scale-to-zero model goes to 0 replicas."""
    wake_query: str | None = Field(None, min_length=1, max_length=2000)
    """PromQL that is above 0 while the model is wanted (e.g. the gateway's request rate for it); required with
    scaleToZero, because with no replica running there is no engine metric to wake the model. Not needed for a
    server behind an InferencePool with `inferenceGateway.router.flowControl`: the picker's flow-control queue
    holds the first requests and wakes it."""
    saturation: float = Field(0.8, gt=0, le=2)
    """Servers behind an InferencePool with flow control: target pool saturation per ready replica (the endpoint
    picker's `llm_d_epp_flow_control_pool_saturation`; at 1.0 the picker starts holding requests), so the pool
    grows before requests wait."""


class Architecture(Model):
    """Transformer shape for models not in the catalog (improves the KV-cache estimate)."""

    layers: int = Field(ge=1, le=512)
    """num_hidden_layers."""
    hidden: int = Field(ge=64, le=65536)
    """hidden_size."""
    kv_heads: int = Field(ge=1, le=1024)
    """num_key_value_heads."""
    head_dim: int = Field(ge=16, le=1024)
    """Attention head dimension."""
    vocab: int = Field(32000, ge=1000, le=1_000_000)
    """vocab_size."""
    tied_embeddings: bool = False
    """tie_word_embeddings."""
    active_params_b: float | None = Field(None, gt=0, le=2000)
    """Mixture of experts: parameters one token activates, in billions (omitted: a dense model)."""
    experts: int = Field(0, ge=0, le=1024)
    """Mixture of experts: routed experts per MoE layer (0: dense)."""
    experts_per_token: int = Field(0, ge=0, le=64)
    """Mixture of experts: routed experts each token uses (top-k)."""
    expert_params_b: float = Field(0.0, ge=0, le=2000)
    """Mixture of experts: parameters in the routed experts, in billions."""
    attention: Literal["gqa", "mla"] = "gqa"
    """gqa (multi-head, grouped-query or multi-query attention) | mla (multi-head latent attention, DeepSeek)."""
    kv_lora_rank: int = Field(0, ge=0, le=8192)
    """MLA: kv_lora_rank (the cached latent's width)."""
    qk_rope_head_dim: int = Field(0, ge=0, le=1024)
    """MLA: qk_rope_head_dim (the cached RoPE key's width)."""
    sliding_window: int | None = Field(None, ge=1, le=1_048_576)
    """Tokens a sliding-window attention layer attends to (and caches)."""
    sliding_layers: int = Field(0, ge=0, le=512)
    """How many of `layers` use the sliding window (the others attend to the whole context)."""

    @model_validator(mode="after")
    def _consistent(self) -> Architecture:
        """The MoE / MLA / sliding-window fields come in groups; a half-filled group would be silently ignored."""
        if self.attention == "mla":
            if not (self.kv_lora_rank and self.qk_rope_head_dim):
                raise ValueError("attention mla needs kvLoraRank and qkRopeHeadDim (config.json kv_lora_rank, "
                                 "qk_rope_head_dim): MLA caches kvLoraRank + qkRopeHeadDim elements per token and "
                                 "layer")
        elif self.kv_lora_rank or self.qk_rope_head_dim:
            raise ValueError("kvLoraRank and qkRopeHeadDim are only used with attention: mla")
        if self.sliding_layers > self.layers:
            raise ValueError(f"slidingLayers {self.sliding_layers} exceeds layers {self.layers}")
        if self.sliding_layers and self.sliding_window is None:
            raise ValueError("slidingLayers needs slidingWindow (the tokens a window layer attends to)")
        if self.sliding_window is not None and not self.sliding_layers:
            raise ValueError("slidingWindow needs slidingLayers (how many of layers use it; = layers when all do)")
        if self.experts:
            if not 1 <= self.experts_per_token <= self.experts:
                raise ValueError(f"experts {self.experts} needs expertsPerToken between 1 and {self.experts} "
                                 "(config.json num_experts_per_tok)")
            if not self.expert_params_b:
                raise ValueError("experts needs expertParamsB (parameters in the routed experts, billions)")
        elif self.experts_per_token or self.expert_params_b or self.active_params_b is not None:
            raise ValueError("expertsPerToken, expertParamsB and activeParamsB describe a mixture-of-experts model: "
                             "set experts (routed experts per MoE layer) too, or remove them")
        return self


Engine = Literal["vllm", "tgi", "triton", "ollama"]
Quantization = Literal["none", "awq", "gptq", "fp8", "int8", "gguf", "mxfp4", "nvfp4"]


ADAPTER_NAME = r"^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$"
HF_REPO = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"


class Adapter(Model):
    """One LoRA adapter of a model (`serving.models[].adapters[]`)."""

    name: str = Field(pattern=ADAPTER_NAME, max_length=63)
    """Name clients send as `model` (unique across every model and adapter of the stack)."""
    source: str = Field(pattern=HF_REPO)
    """Hugging Face repo id of the adapter (downloaded with the model, into the same cache volume)."""


class LoraLimits(Model):
    """vLLM LoRA limits (`--max-loras`, `--max-lora-rank`, `--max-cpu-loras`)."""

    max_loras: int = Field(4, ge=1, le=64)
    """Adapters held on the GPU at once (in one batch)."""
    max_rank: Literal[1, 8, 16, 32, 64, 128, 256, 320, 512] = 16
    """Largest adapter rank loaded (must be >= every adapter's rank)."""
    max_cpu_loras: int | None = Field(None, ge=1, le=1024)
    """Adapters cached in CPU memory; omitted: vLLM's default (maxLoras)."""


class Canary(Model):
    """A canary of a model server (`serving.models[].canary`): what differs from the stable server, and its share."""

    weight: int = Field(ge=0, le=100)
    """Percent of the model's requests sent to the canary (0: deployed but sent nothing; 100: all traffic)."""
    model: str | None = Field(None, min_length=1)
    """Hugging Face repo id of the canary's weights; omitted: the stable server's."""
    engine: Engine | None = None
    """Engine of the canary; omitted: the stable server's."""
    quantization: Quantization | None = None
    """Weight format of the canary; omitted: the stable server's (when `model` is unchanged)."""
    pool: str | None = None
    """GPU pool of the canary; omitted: the stable server's."""
    replicas: Replicas | None = None
    """Replica bounds of the canary; omitted: {min: 1, max: the stable server's max}."""


class RouterScorers(Model):
    """Weights of the endpoint picker's scorers (llm-d router v0.10.0 plugin types); 0 leaves one out."""

    queue: float = Field(2, ge=0, le=100)
    """`queue-scorer`: prefer endpoints with fewer waiting requests."""
    kv_cache: float = Field(2, ge=0, le=100)
    """`kv-cache-utilization-scorer`: prefer endpoints with free KV-cache memory."""
    prefix_cache: float = Field(3, ge=0, le=100)
    """Prefix-cache scorer (approximate or precise, see `prefixCache`): prefer endpoints that hold the prompt's
    prefix."""
    lora_affinity: float = Field(1, ge=0, le=100)
    """LoRA-affinity scorer (models with adapters only): prefer endpoints with the adapter already loaded."""


class RouterOverride(Model):
    """Per-model endpoint-picker settings; omitted keys come from `inferenceGateway.router`."""

    scorers: RouterScorers | None = None
    """Scorer weights for this model's pool."""
    prefix_cache: Literal["approximate", "precise"] | None = None
    """Prefix-cache scoring for this model's pool."""
    failure_mode: Literal["FailOpen", "FailClose"] | None = None
    """What the gateway does when this pool's endpoint picker does not answer."""


class ServedModel(Model):
    """One model server (`serving.models[]`)."""

    name: str = Field(pattern=DNS_LABEL, max_length=40)
    """Server name (DNS label); also the served model name."""
    engine: Engine
    """vllm | tgi | triton | ollama (ollama: CPU-friendly, GGUF)."""
    model: str = Field(min_length=1)
    """Hugging Face repo id (Qwen/Qwen2.5-7B-Instruct-AWQ) or Ollama tag (qwen2.5:0.5b)."""
    quantization: Quantization | None = None
    """Weight format; default none (gguf for ollama)."""
    max_model_len: int = Field(4096, ge=256, le=1_048_576)
    """Context length the server must hold for one full sequence."""
    pool: str | None = None
    """GPU pool name; required except for ollama (omitted: CPU)."""
    fallback_pool: str | None = None
    """On-demand pool used when the spot `pool` has no capacity (critical models)."""
    fallback_max_replicas: int | None = Field(None, ge=1, le=1000)
    """Most replicas the `<name>-fallback` Deployment on `fallbackPool` scales to: it keeps `replicas.min` and adds
    one replica per primary replica the spot pool cannot place; omitted (and at most): `replicas.max`. The plan sizes
    and prices the fallback pool for this many."""
    tensor_parallel: Literal[1, 2, 4, 8, 16] = 1
    """GPUs per replica (tensor-parallel degree)."""
    gpu_memory_utilization: float = Field(0.9, ge=0.3, le=0.98)
    """Fraction of each GPU (or slice) the engine may use."""
    replicas: Replicas = Field(default_factory=Replicas)
    """Replica bounds."""
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    """Autoscaling targets."""
    critical: bool = False
    """Critical models must have on-demand capacity (a spot-only pool is rejected)."""
    mig_profile: MigProfileName | None = None
    """MIG profile to request on a pool with a mixed MIG layout (defaults to the pool's only profile)."""
    params_b: float | None = Field(None, gt=0, le=2000)
    """Parameters in billions, for models not in the catalog."""
    architecture: Architecture | None = None
    """Transformer shape, for models not in the catalog."""
    prefix_caching: bool = True
    """Automatic prefix caching (vLLM --enable-prefix-caching, TGI PREFIX_CACHING, Triton enable_prefix_caching)."""
    resources: Resources | None = None
    """CPU/memory of the server container; omitted: sized from the plan (GPU: 4 CPU per GPU, memory = weights +
    8 GiB; CPU: 2 CPU, memory = weights + KV cache + 2 GiB)."""
    drain_seconds: int = Field(60, ge=0, le=3600)
    """How long an evicted replica keeps finishing in-flight requests after leaving the Service (preStop 15 s,
    then SIGTERM; terminationGracePeriodSeconds = 15 + this). Spot reclaims cap it: GKE gives 30 s, EC2 2 min."""
    startup_seconds: int | None = Field(None, ge=60, le=7200)
    """Time the startupProbe allows for loading the model; omitted: 300 s + 20 s per GiB of weights."""
    adapters: tuple[Adapter, ...] = ()
    """LoRA adapters served by this model's servers (vLLM only): downloaded into the model cache, loaded with
    `--enable-lora`, addressed by their name in the request's `model` field, routed with adapter affinity."""
    lora: LoraLimits = Field(default_factory=lambda: LoraLimits())
    """vLLM LoRA limits (used when `adapters` is not empty)."""
    canary: Canary | None = None
    """A second server (another model version or engine) that gets `weight` percent of this model's traffic
    through the inference gateway; raise, lower or remove it with one config change."""
    router: RouterOverride | None = None
    """Per-model endpoint-picker settings (override `inferenceGateway.router`)."""
    compute_class: str | None = Field(None, pattern=DNS_LABEL, max_length=63)
    """GKE: the `nodePools.computeClasses[]` entry the server's pods select; they then run on its pools in priority
    order (the plan sizes `pool`, which must be the class's first pool, and prices each step)."""
    kv_cache_dtype: Literal["auto", "fp8"] = "auto"
    """KV cache element type: auto (the model's 16-bit dtype) or fp8 (vLLM `--kv-cache-dtype fp8`: half the KV
    memory, so twice the context or batch per GPU)."""
    expert_parallel: bool = False
    """Mixture-of-experts models: place whole experts on the tensor-parallel GPUs instead of slicing every expert
    (vLLM `--enable-expert-parallel`)."""
    max_num_seqs: int | None = Field(None, ge=1, le=4096)
    """Most sequences a replica decodes at once (vLLM `--max-num-seqs`, Triton model.json `max_num_seqs`; tgi and
    ollama cannot honour it and refuse it); omitted: the engine's default (vLLM 0.33.0: 1024 on GPUs with >= 70 GiB
    except A100, else 256). The throughput estimate assumes this batch, capped by what the KV cache holds."""
    shape_from: str | None = Field(None, min_length=1)
    """The model's config.json (a path relative to the project directory), read instead of a hand-typed
    `architecture`; a `model.safetensors.index.json` next to it gives the exact weight bytes."""

    @model_validator(mode="after")
    def _defaults(self) -> ServedModel:
        if self.quantization is None:
            object.__setattr__(self, "quantization", "gguf" if self.engine == "ollama" else "none")
        if self.engine == "ollama" and self.quantization != "gguf":
            raise ValueError("engine ollama serves GGUF weights: quantization must be gguf")
        if self.engine != "ollama" and self.quantization == "gguf":
            raise ValueError(f"quantization gguf is served by ollama, not {self.engine}")
        if self.engine != "ollama" and self.pool is None:
            raise ValueError(f"engine {self.engine} needs 'pool' (a GPU pool name)")
        if self.replicas.min == 0 and not self.autoscaling.scale_to_zero:
            raise ValueError("replicas.min 0 needs autoscaling.scaleToZero: true")
        if self.critical and self.autoscaling.scale_to_zero:
            raise ValueError("critical models cannot scale to zero")
        arch = self.architecture
        if arch is not None and self.params_b is not None and arch.experts:
            if arch.expert_params_b >= self.params_b:
                raise ValueError(f"architecture.expertParamsB {arch.expert_params_b:g} must be below paramsB "
                                 f"{self.params_b:g} (the routed experts are part of all parameters)")
            if arch.active_params_b is not None and arch.active_params_b > self.params_b:
                raise ValueError(f"architecture.activeParamsB {arch.active_params_b:g} exceeds paramsB "
                                 f"{self.params_b:g}")
        return self


class ServingConfig(Model):
    """`ai-platform:serving`."""

    models: tuple[ServedModel, ...] = ()
    """Model servers; names must be unique."""
    storage_class: str | None = None
    """StorageClass of model-cache PVCs; default: the cluster default, or with cacheAccessMode ReadWriteMany the
    shared file system the cluster provides (EFS ai-platform-rwx on eks, Filestore standard-rwx on gke)."""
    namespace: str = Field("ai-inference", pattern=DNS_LABEL, max_length=63)
    """Namespace of the model servers and the embedding server (one of tenancy.namespaces)."""
    cache_access_mode: Literal["ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"] = "ReadWriteOnce"
    """Model-cache volumes: ReadWriteOnce (one node: a model's replicas share the node its volume is on),
    ReadWriteMany (storageClass must be a shared file system: Filestore, EFS, NFS; replicas on any node) or
    ReadOnlyMany (GKE persistent disk with many readers, restored from a VolumeSnapshot of the filled volume;
    needs snapshotClass)."""
    snapshot_class: str | None = Field(None, pattern=DNS_LABEL, max_length=63)
    """VolumeSnapshotClass for cacheAccessMode ReadOnlyMany (e.g. a pd.csi.storage.gke.io class)."""
    shapes: ModelShapes = Field(default_factory=lambda: ModelShapes())
    """Where model shapes come from for models outside the catalog (`shapeFrom`, or the Hugging Face Hub)."""


class ModelShapes(Model):
    """`serving.shapes`: reading model shapes (config.json, model.safetensors.index.json)."""

    fetch: bool = False
    """Fetch config.json and model.safetensors.index.json of models outside the catalog from the Hugging Face Hub by
    repo id at plan time (gated repos use `hfToken`), and keep them in `cacheDir`; off: only `shapeFrom`, the cache
    and the catalog are read, so a plan never needs the internet."""
    cache_dir: str = Field(".cache/model-shapes", min_length=1)
    """Directory (relative to the project directory) holding fetched shape files, one folder per repo id."""
    revision: str = Field("main", min_length=1, max_length=100)
    """Hub revision (branch, tag or commit) fetched."""


# -------------------------------------------------------------------------------------------- RAG


class Resources(Model):
    """CPU and memory requests and limits of one container (Kubernetes quantities)."""

    cpu: str = Field("500m", pattern=QUANTITY)
    """CPU request."""
    memory: str = Field("1Gi", pattern=QUANTITY)
    """Memory request."""
    cpu_limit: str | None = Field(None, pattern=QUANTITY)
    """CPU limit; omitted: twice the request."""
    memory_limit: str | None = Field(None, pattern=QUANTITY)
    """Memory limit; omitted: equal to the request (memory is not compressible)."""


class MilvusCluster(Model):
    """Milvus 2.6 cluster topology (mode cluster). Coordinators run merged as mixCoord and index building runs
    inside the data nodes (Milvus 2.6 folded index nodes into data nodes); query nodes are `vectorStore.replicas`."""

    proxies: int = Field(2, ge=1, le=32)
    """Proxy replicas (the gRPC/REST entry point behind the `milvus` Service)."""
    data_nodes: int = Field(2, ge=1, le=64)
    """Data node replicas (flush, compaction and index building)."""
    streaming_nodes: int = Field(2, ge=1, le=64)
    """Streaming node replicas (the write-ahead log on Woodpecker, stored in the object storage)."""
    coordinators: int = Field(2, ge=1, le=3)
    """mixCoord replicas; more than one runs active-standby."""
    etcd_replicas: int = Field(3, ge=1, le=7)
    """etcd members holding Milvus' metadata (odd; 3 survives the loss of one)."""
    etcd_storage_gi: int = Field(10, ge=1, le=1024)
    """etcd volume per member in GiB."""
    object_storage: Literal["bucket", "minio"] = "bucket"
    """Where segments, indexes and the write-ahead log live: `bucket` (S3 on eks, GCS on gke, created by the
    program, accessed by workload identity) or `minio` (in-cluster distributed MinIO; see docs/rag.md on its images)."""
    minio_replicas: int = Field(4, ge=4, le=32)
    """MinIO servers in distributed mode (at least 4)."""
    minio_storage_gi: int = Field(100, ge=1, le=65536)
    """MinIO volume per server in GiB."""


class VectorStore(Model):
    """Vector database."""

    engine: Literal["milvus", "weaviate", "qdrant"] = "milvus"
    """milvus | weaviate | qdrant."""
    mode: Literal["standalone", "cluster"] | None = None
    """Milvus deployment mode: standalone (one pod, embedded etcd, local storage on its volume; the default) or
    cluster (etcd x3, object storage, proxies, query/data/streaming nodes). Weaviate and Qdrant: leave unset."""
    storage_gi: int = Field(50, ge=1, le=65536)
    """Persistent storage in GiB (per replica for weaviate/qdrant; Milvus cluster: local cache of each query node
    is ephemeral, data lives in the object storage)."""
    replicas: int = Field(1, ge=1, le=15)
    """Replicas (weaviate/qdrant) or query nodes (milvus cluster)."""
    replication_factor: int | None = Field(None, ge=1, le=15)
    """Weaviate/Qdrant: default replication factor of new collections (at most `replicas`); omitted: 1."""
    cluster: MilvusCluster | None = None
    """Milvus cluster topology (mode cluster only); omitted: the defaults."""
    resources: Resources | None = None
    """Requests/limits of the main data pods (Milvus standalone or query nodes, Weaviate, Qdrant); omitted: sized
    for small collections (2 CPU, 4Gi)."""

    @model_validator(mode="after")
    def _mode(self) -> VectorStore:
        if self.engine != "milvus" and self.mode is not None:
            raise ValueError(f"mode is a milvus setting; {self.engine} scales with 'replicas' (remove mode)")
        return self

    @property
    def milvus_mode(self) -> str:
        """standalone | cluster (Milvus only)."""
        return self.mode or "standalone"


class FullText(Model):
    """Full-text search."""

    engine: Literal["elasticsearch"] = "elasticsearch"
    """elasticsearch (via ECK)."""
    replicas: int = Field(1, ge=1, le=15)
    """Elasticsearch nodes."""
    storage_gi: int = Field(50, ge=1, le=65536)
    """Storage per node in GiB."""
    heap_gi: int = Field(2, ge=1, le=31)
    """JVM heap per node in GiB (at most 31 for compressed oops)."""
    version: str = Field("9.4.3", pattern=r"^[89]\.[0-9]+\.[0-9]+$")
    """Elasticsearch version (ECK runs docker.elastic.co/elasticsearch/elasticsearch:<version>)."""
    cpu: str = Field("1", pattern=QUANTITY)
    """CPU request per node (the limit is twice this); memory is twice the heap."""
    snapshots: bool = False
    """Give the Elasticsearch pods workload-identity access to the RAG bucket, where rag.backup.elasticsearch
    registers the snapshot repository and lifecycle policy (see docs/rag.md); needs provider gke or eks."""


class Embedding(Model):
    """Embedding server for the RAG pipeline."""

    model: str = "BAAI/bge-m3"
    """Embedding model repo id."""
    engine: Literal["tei", "vllm"] = "tei"
    """Text Embeddings Inference or vLLM."""
    pool: str | None = None
    """GPU pool; omitted: CPU."""
    fallback_pool: str | None = None
    """On-demand pool that keeps the embedding replicas when the spot `pool` has no capacity (an
    `embedding-fallback` Deployment, as serving.models[].fallbackPool does for a model)."""
    critical: bool = False
    """Every RAG query embeds first: true requires on-demand capacity (an on-demand pool or fallbackPool)."""
    replicas: int = Field(1, ge=1, le=100)
    """Replicas (the minimum when `maxReplicas` is higher)."""
    max_replicas: int | None = Field(None, ge=1, le=100)
    """Most replicas: above `replicas`, KEDA scales the server on its engine's queue (TEI `te_queue_size`, vLLM
    `vllm:num_requests_waiting`), or a CPU HPA without observability; omitted: `replicas` (fixed). The plan prices
    this many."""
    max_model_len: int = Field(8192, ge=128, le=131072)
    """Maximum input tokens."""
    mig_profile: MigProfileName | None = None
    """MIG profile to request on a pool with a mixed MIG layout."""

    @model_validator(mode="after")
    def _bounds(self) -> Embedding:
        if self.max_replicas is not None and self.max_replicas < self.replicas:
            raise ValueError(f"maxReplicas ({self.max_replicas}) must be >= replicas ({self.replicas})")
        return self


class Cache(Model):
    """Semantic cache."""

    engine: Literal["redis"] = "redis"
    """redis."""
    persistence: bool = True
    """Persist to a volume (RDB snapshots every 15 min with at least one write); off: emptyDir."""
    storage_gi: int = Field(8, ge=1, le=4096)
    """Volume size in GiB."""
    replicas: int = Field(1, ge=1, le=9)
    """Redis servers (one master, the rest replicas; Sentinel fails over). More than one puts HAProxy in front
    so clients always reach the master."""
    max_memory_mi: int = Field(1024, ge=64, le=1048576)
    """Redis `maxmemory` in MiB (allkeys-lru eviction); the container memory limit is 1.5x this."""


class GatewayRateLimit(Model):
    """ingress-nginx limits per client IP (`limit-rps`, `limit-burst-multiplier`, `limit-connections`). Each
    controller replica counts on its own, so a client gets at most replicas x these."""

    rps: int | None = Field(20, ge=1, le=100000)
    """Requests per second per client IP (null: no request-rate limit); beyond rps x burstMultiplier queued
    requests the client gets 429."""
    burst_multiplier: int = Field(5, ge=1, le=100)
    """Burst size as a multiple of rps."""
    connections: int | None = Field(50, ge=1, le=100000)
    """Concurrent connections per client IP (streamed completions hold one each; null: no limit)."""


class GatewayIngress(Model):
    """How the gateway is exposed."""

    class_name: str = Field("nginx", pattern=DNS_LABEL, max_length=63)
    """IngressClass of the gateway's Ingress."""
    install_controller: bool = True
    """Install ingress-nginx (chart 4.15.1, the project's last release; retired March 2026) with this IngressClass;
    false: use an IngressClass the cluster already has (e.g. a Gateway-API-era controller)."""
    controller_replicas: int = Field(2, ge=1, le=20)
    """ingress-nginx controller replicas (with install_controller)."""
    body_size: str = Field("10m", pattern=r"^[0-9]+[kmg]?$")
    """Largest request body (nginx size: 10m, 512k); documents for ingestion may need more."""
    timeout_seconds: int = Field(300, ge=10, le=3600)
    """Proxy read/send timeout: a streamed (SSE) completion may run this long."""
    source_ranges: tuple[Cidr, ...] = Field(("0.0.0.0/0",), min_length=1)
    """Client CIDRs allowed to reach the public entry: the controller Service's `loadBalancerSourceRanges` (the
    cloud load balancer's firewall), the controller pods' NetworkPolicy and, when narrower than the internet,
    the Ingress' `whitelist-source-range`. Default: the internet, since the gateway is the platform's public API
    and Let's Encrypt's HTTP-01 validation comes from unpublished addresses; list your clients' ranges for an
    internal API."""
    rate_limit: GatewayRateLimit = Field(default_factory=lambda: GatewayRateLimit())
    """Per-client-IP request and connection limits at the ingress controller."""


class GatewayCertificate(Model):
    """cert-manager issued certificate of the gateway host."""

    issuer: Literal["self-signed", "acme"] = "self-signed"
    """self-signed: a private CA made by cert-manager (clients must trust it; dev); acme: Let's Encrypt
    (or another ACME server) over HTTP-01 through the ingress."""
    acme_email: str | None = Field(None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")
    """ACME account e-mail (expiry notices); required for acme."""
    acme_server: str = Field("https://acme-v02.api.letsencrypt.org/directory", pattern=r"^https://")
    """ACME directory URL (staging: https://acme-staging-v02.api.letsencrypt.org/directory)."""
    install_cert_manager: bool = True
    """Install cert-manager (chart v1.21.1) into the cert-manager namespace; false: the cluster already runs it."""


class GatewayAutoscaling(Model):
    """HPA of the gateway (autoscaling/v2)."""

    max_replicas: int = Field(6, ge=1, le=200)
    """Maximum replicas (minimum: gateway.replicas)."""
    cpu_utilization: int = Field(70, ge=10, le=100)
    """Target average CPU utilisation in percent of the request."""
    rps_per_pod: float | None = Field(None, gt=0)
    """Also scale on requests per second per pod (Pods metric `http_server_requests_per_second`); needs
    prometheus-adapter serving that metric. Omitted: CPU only."""


class Gateway(Model):
    """The AI gateway application behind TLS ingress."""

    image: str = Field(pattern=IMAGE_REF)
    """Pinned image reference (tag or digest; never :latest)."""
    host: str = Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
    """Public host name of the ingress."""
    replicas: int = Field(2, ge=1, le=100)
    """Minimum replicas."""
    tls_secret: str | None = None
    """Existing TLS secret; omitted: cert-manager issues one."""
    namespace: str = Field("ai-app", pattern=DNS_LABEL, max_length=63)
    """Namespace of the gateway (one of tenancy.namespaces)."""
    certificate: GatewayCertificate | None = None
    """cert-manager settings when `tlsSecret` is omitted; omitted: a self-signed CA."""
    expose: Literal["gateway", "ingress"] | None = None
    """gateway: through the inference gateway's public Gateway (`inferenceGateway.edge`: TLS, client
    authentication, limits), which routes this host to the gateway; ingress: an Ingress of `ingress.className`
    (deprecated: ingress-nginx was retired upstream in March 2026; only for clusters that already run it).
    Omitted: gateway when `inferenceGateway.enabled`, else ingress (with a deprecation warning)."""
    ingress: GatewayIngress = Field(default_factory=GatewayIngress)
    """Ingress class, controller, body size and timeouts (only with `expose: ingress`)."""
    autoscaling: GatewayAutoscaling = Field(default_factory=GatewayAutoscaling)
    """HPA bounds and targets."""
    resources: Resources = Field(default_factory=lambda: Resources(cpu="500m", memory="1Gi", cpu_limit="2"))
    """Requests/limits of the gateway container."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra non-secret environment variables (override the program's, e.g. LOGGING_LEVEL_ROOT); secrets never
    go here."""

    @field_validator("image")
    @classmethod
    def _pinned(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if "@sha256:" not in value and (":" not in last or last.endswith(":latest")):
            raise ValueError(f"image {value!r} must be pinned to a tag other than latest, or a digest")
        return value

    @property
    def effective_certificate(self) -> GatewayCertificate | None:
        """The cert-manager settings in force (None with an existing tlsSecret)."""
        if self.tls_secret is not None:
            return None
        return self.certificate or GatewayCertificate()


class Bucket(Model):
    """The RAG object-storage bucket (Milvus cluster data, Elasticsearch snapshots)."""

    name: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    """Bucket name (globally unique); omitted: Pulumi's auto-name from the cluster name."""
    noncurrent_version_days: int = Field(30, ge=1, le=3650)
    """Days a replaced or deleted object version is kept (versioning is always on)."""
    access_log_days: int = Field(365, ge=1, le=3650)
    """eks: days the S3 server access logs of the bucket are kept in their log bucket before they expire."""


def _cron(value: str) -> str:
    from .cron import parse

    parse(value)
    return value


Cron = Annotated[str, AfterValidator(_cron)]


class ElasticsearchBackup(Model):
    """Elasticsearch snapshot lifecycle (SLM): a repository on the RAG bucket and a policy that snapshots every
    index on a schedule and deletes snapshots past the retention."""

    enabled: bool | None = None
    """Register the repository and the policy; omitted: on whenever fullText.snapshots is on."""
    schedule: Cron = "30 1 * * *"
    """When snapshots are taken: 5-field cron in UTC (translated to Elasticsearch's cron; day-of-month and
    day-of-week cannot both be restricted)."""
    expire_after_days: int = Field(30, ge=1, le=3650)
    """SLM retention `expire_after`: snapshots older than this many days are deleted (minCount still kept)."""
    min_count: int = Field(5, ge=1, le=1000)
    """SLM retention `min_count`: at least this many snapshots are kept, however old."""
    max_count: int = Field(50, ge=1, le=10000)
    """SLM retention `max_count`: never more snapshots than this, however young (at least minCount)."""

    @model_validator(mode="after")
    def _counts(self) -> ElasticsearchBackup:
        if self.min_count > self.max_count:
            raise ValueError(f"minCount {self.min_count} is above maxCount {self.max_count}")
        return self


class MilvusBackup(Model):
    """milvus-backup on a schedule: collection metadata and segment files copied to `milvus-backup/` of the RAG
    bucket (Milvus cluster on the bucket only; standalone and MinIO are covered by volume snapshots)."""

    enabled: bool | None = None
    """Run the backup CronJob; omitted: on whenever Milvus runs in cluster mode on the bucket."""
    schedule: Cron = "0 2 * * *"
    """When a backup is taken: 5-field cron in UTC."""
    keep: int = Field(7, ge=1, le=1000)
    """Backups kept: after each successful backup the oldest scheduled ones beyond this count are deleted."""


class VolumeBackup(Model):
    """CSI VolumeSnapshots (EBS/PD) of every PersistentVolumeClaim in the data namespace on a schedule."""

    enabled: bool | None = None
    """Run the snapshot CronJob; omitted: on for provider gke and eks (off on existing clusters, whose CSI driver
    the program does not know)."""
    schedule: Cron = "0 3 * * *"
    """When the volumes are snapshotted: 5-field cron in UTC."""
    keep: int = Field(7, ge=1, le=100)
    """Snapshots kept per volume; older scheduled snapshots are deleted after each run."""
    deletion_policy: Literal["Retain", "Delete"] | None = None
    """VolumeSnapshotClass deletionPolicy: Retain keeps the cloud snapshot when its VolumeSnapshot is deleted
    (pruned snapshots then need deleting in the cloud); omitted: Retain with cluster.deletionProtection, else
    Delete."""


class Backup(Model):
    """Scheduled backups of the data layer, each with its retention (all schedules in UTC)."""

    elasticsearch: ElasticsearchBackup = Field(default_factory=ElasticsearchBackup)
    """Elasticsearch snapshot lifecycle on the bucket."""
    milvus: MilvusBackup = Field(default_factory=MilvusBackup)
    """Milvus metadata and segments with milvus-backup."""
    volumes: VolumeBackup = Field(default_factory=VolumeBackup)
    """Volume snapshots of the data namespace's claims."""


class RagConfig(Model):
    """`ai-platform:rag`: the retrieval data layer; omitted groups are not deployed."""

    vector_store: VectorStore | None = None
    """Vector database."""
    full_text: FullText | None = None
    """Full-text search."""
    embedding: Embedding | None = None
    """Embedding server."""
    cache: Cache | None = None
    """Semantic cache."""
    gateway: Gateway | None = None
    """AI gateway."""
    namespace: str = Field("ai-rag", pattern=DNS_LABEL, max_length=63)
    """Namespace of the data layer: vector store, search, cache (one of tenancy.namespaces)."""
    bucket: Bucket | None = None
    """Bucket settings; the bucket exists when Milvus cluster uses objectStorage bucket or fullText.snapshots is on."""
    backup: Backup = Field(default_factory=Backup)
    """Scheduled backups (Elasticsearch SLM, milvus-backup, volume snapshots) and their retention."""
    storage_class: str | None = Field(None, pattern=DNS_LABEL, max_length=63)
    """StorageClass of every data-layer volume; omitted: the program's `ai-platform-rag` class (Retain when
    cluster.deletionProtection) on gke/eks, the cluster default on existing clusters."""

    @property
    def bucket_users(self) -> tuple[str, ...]:
        """Which data services use the RAG bucket: milvus (cluster object storage), elasticsearch (snapshots)."""
        vs = self.vector_store
        users = []
        if (vs is not None and vs.engine == "milvus" and vs.milvus_mode == "cluster"
                and (vs.cluster or MilvusCluster()).object_storage == "bucket"):
            users.append("milvus")
        if self.full_text is not None and self.full_text.snapshots:
            users.append("elasticsearch")
        return tuple(users)

    @property
    def backups(self) -> tuple[str, ...]:
        """Which bucket backups run: elasticsearch (SLM), milvus (milvus-backup); StackConfig.backups adds volumes."""
        b = self.backup
        found = []
        if "elasticsearch" in self.bucket_users and b.elasticsearch.enabled is not False:
            found.append("elasticsearch")
        if "milvus" in self.bucket_users and b.milvus.enabled is not False:
            found.append("milvus")
        return tuple(found)

    @property
    def needs_bucket(self) -> bool:
        """Whether the config asks for the RAG bucket."""
        return bool(self.bucket_users)


# ---------------------------------------------------------------------------------- observability


DURATION = r"^[0-9]+(h|d|w)$"


class Metrics(Model):
    """Prometheus."""

    retention: str = Field("15d", pattern=r"^[0-9]+(h|d|w|y)$")
    """Retention (Prometheus duration: 12h, 15d, 4w)."""
    storage_gi: int = Field(50, ge=1, le=65536)
    """Prometheus volume in GiB."""
    memory: str = Field("2Gi", pattern=QUANTITY)
    """Memory request and limit of the Prometheus container (grows with series count and retention)."""
    scrape_interval: str = Field("30s", pattern=r"^[0-9]+(s|m)$")
    """Default scrape and rule evaluation interval."""
    replicas: int = Field(1, ge=1, le=3)
    """Prometheus and Alertmanager replicas: 2+ keeps metrics, alerts and the autoscalers' queries up through a node
    loss or rollout (each Prometheus scrapes everything; Alertmanagers gossip and deduplicate). Spread across nodes,
    with a PodDisruptionBudget."""


class LogStore(Model):
    """Loki (monolithic, filesystem storage on one volume)."""

    retention: str = Field("7d", pattern=DURATION)
    """How long logs are kept (h, d or w; the compactor deletes older chunks)."""
    storage_gi: int = Field(20, ge=1, le=65536)
    """Loki volume in GiB."""
    memory: str = Field("1Gi", pattern=QUANTITY)
    """Memory request and limit of the Loki container."""
    node_logs: bool = True
    """Ship every pod's stdout/stderr to Loki with a node agent (an OpenTelemetry Collector DaemonSet in the
    observability-node namespace reading /var/log/pods); off: only logs applications send over OTLP."""


class TraceStore(Model):
    """Tempo (single binary, local storage on one volume); Jaeger keeps traces in memory."""

    retention: str = Field("72h", pattern=DURATION)
    """How long traces are kept (h, d or w; Tempo's compactor deletes older blocks)."""
    storage_gi: int = Field(10, ge=1, le=65536)
    """Tempo volume in GiB."""
    memory: str = Field("1Gi", pattern=QUANTITY)
    """Memory request and limit of the Tempo (or Jaeger) container."""


class Alerts(Model):
    """Alert thresholds."""

    queue_depth: float = Field(20, gt=0)
    """Waiting requests per replica that page."""
    p99_latency_seconds: float = Field(30, gt=0)
    """End-to-end P99 latency."""
    ttft_p99_seconds: float = Field(2, gt=0)
    """Time-to-first-token P99."""
    kv_cache_usage: float = Field(0.95, gt=0, le=1)
    """KV-cache usage fraction."""
    preemptions_per_minute: float = Field(1, gt=0)
    """vLLM preemptions per minute (KV cache too small for the batch) that warn."""
    gpu_utilization_low: float = Field(0.1, ge=0, le=1)
    """GPU utilisation below which GPUs are wasted."""
    gpu_utilization_high: float = Field(0.95, ge=0, le=1)
    """GPU utilisation above which capacity is short."""
    gpu_memory_usage: float = Field(0.95, gt=0, le=1)
    """GPU (or MIG slice) framebuffer usage fraction that warns."""
    error_rate: float = Field(0.05, ge=0, le=1)
    """Failed request ratio."""
    vector_search_p99_seconds: float = Field(1, gt=0)
    """P99 latency of vector searches in the vector store."""
    pool_saturation: float = Field(1, gt=0, le=10)
    """Inference gateway: flow-control saturation of a pool above which it warns (1 is the endpoint picker's
    gating set point: above it requests wait in the picker's queue)."""
    pool_saturation_for: str = Field("10m", pattern=r"^[0-9]+(m|h)$")
    """How long a pool stays above `poolSaturation` before the alert fires."""
    flow_control_queue: float = Field(50, gt=0)
    """Inference gateway: requests held in a pool's flow-control queue that warn while the queue keeps growing."""


class Alerting(Model):
    """Where Alertmanager sends alerts. The webhook URL (slack, webhook) or integration key (pagerduty) is the
    secret `ai-platform:alertingSecret` (`pulumi config set --secret`); alerts are grouped by alert, namespace
    and model, and Watchdog goes nowhere."""

    receiver: Literal["none", "slack", "pagerduty", "webhook"] = "none"
    """none: alerts are only visible in Alertmanager and Grafana."""
    slack_channel: str | None = Field(None, pattern=r"^[#@]?[a-z0-9][a-z0-9._-]{0,79}$")
    """Slack channel (slack only; default: the webhook's own channel)."""
    repeat_interval: str = Field("4h", pattern=r"^[0-9]+(m|h|d)$")
    """How often a still-firing alert is sent again."""

    @model_validator(mode="after")
    def _channel(self) -> Alerting:
        if self.slack_channel is not None and self.receiver != "slack":
            raise ValueError(f"slackChannel is a slack setting; receiver is {self.receiver}")
        return self


class ObservabilityConfig(Model):
    """`ai-platform:observability`."""

    enabled: bool = True
    """Deploy the observability stack."""
    metrics: Metrics = Field(default_factory=Metrics)
    """Prometheus settings."""
    dashboards: bool = True
    """Provision Grafana dashboards."""
    tracing: Literal["tempo", "jaeger", "none"] = "tempo"
    """Trace backend."""
    logs: Literal["loki", "none"] = "loki"
    """Log backend."""
    log_store: LogStore = Field(default_factory=LogStore)
    """Loki retention and storage (used when logs is loki)."""
    trace_store: TraceStore = Field(default_factory=TraceStore)
    """Tempo retention and storage (used when tracing is tempo; Jaeger uses only `memory`)."""
    storage_class: str | None = None
    """StorageClass of the Prometheus, Alertmanager, Loki and Tempo volumes; default: the cluster default."""
    alerts: Alerts = Field(default_factory=Alerts)
    """Alert thresholds."""
    alerting: Alerting = Field(default_factory=Alerting)
    """Alert delivery (Alertmanager receiver)."""
    namespace: str = Field("observability", pattern=DNS_LABEL, max_length=63)
    """Namespace of Prometheus, Grafana, Loki, Tempo and the OpenTelemetry Collector (one of tenancy.namespaces)."""

    @model_validator(mode="after")
    def _thresholds(self) -> ObservabilityConfig:
        if self.alerts.gpu_utilization_low >= self.alerts.gpu_utilization_high:
            raise ValueError("alerts.gpuUtilizationLow must be below alerts.gpuUtilizationHigh")
        return self


# ------------------------------------------------------------------------------ mesh and gateway


class MeshConfig(Model):
    """`ai-platform:mesh`: Istio 1.30.3 in ambient mode (charts base, istiod, cni, ztunnel). Every workload
    namespace joins the mesh (`istio.io/dataplane-mode: ambient`): ztunnel gives mutual TLS between the gateway,
    the model servers, the AI gateway and the data services, and AuthorizationPolicies allow each designed flow
    beside the NetworkPolicies."""

    enabled: bool = False
    """Install Istio ambient and enrol the workload namespaces (required by `inferenceGateway`)."""
    namespace: str = Field("istio-system", pattern=DNS_LABEL, max_length=63)
    """Namespace of istiod, istio-cni and ztunnel."""
    mtls: Literal["strict", "permissive"] = "strict"
    """Mesh-wide PeerAuthentication: strict refuses plaintext to enrolled pods (protected stacks: strict only)."""
    authorization: bool = True
    """AuthorizationPolicies per designed flow (each enrolled namespace denies what no policy allows)."""
    istiod_replicas: int = Field(1, ge=1, le=10)
    """istiod replicas (protected stacks: at least 2, with a PodDisruptionBudget)."""


class InferenceObjectiveConfig(Model):
    """One InferenceObjective (`inferenceGateway.objectives[]`): a priority band requests are put in."""

    name: str = Field(pattern=DNS_LABEL, max_length=63)
    """Objective name (the value of the objective header the edge sets or checks)."""
    priority: int = Field(ge=-100, le=100)
    """Higher is served first under load; below 0 is sheddable (dropped first when the pool is saturated)."""
    namespaces: tuple[str, ...] = ()
    """Tenant namespaces whose in-cluster requests (through the internal Gateway) may use this objective."""
    claim_values: tuple[str, ...] = ()
    """Values of `edge.auth.jwt.objectiveClaim` that put a public client's requests in this objective."""


class EdgeJwt(Model):
    """JWT validation at the public Gateway (Istio RequestAuthentication)."""

    issuer: str = Field(pattern=r"^https://")
    """Token issuer (`iss`)."""
    jwks_uri: str = Field(pattern=r"^https://")
    """JSON Web Key Set URL of the issuer."""
    audiences: tuple[str, ...] = Field(min_length=1)
    """Accepted `aud` values."""
    objective_claim: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]*$")
    """Claim whose value selects the InferenceObjective (`objectives[].claimValues`); omitted: every public
    request gets the default objective."""


class EdgeAuth(Model):
    """Client authentication at the public Gateway."""

    mode: Literal["jwt", "none"] = "jwt"
    """jwt: requests need a valid bearer token (`jwt`); none: anonymous (refused on protected stacks)."""
    jwt: EdgeJwt | None = None
    """Issuer settings (required with mode jwt)."""


class EdgeRateLimit(Model):
    """Request limit at the public Gateway (Envoy local rate limit on each gateway pod)."""

    rps: int | None = Field(100, ge=1, le=1_000_000)
    """Requests per second each gateway pod admits (null: no limit); beyond it clients get 429."""
    burst: int = Field(200, ge=1, le=10_000_000)
    """Token-bucket size (requests admitted at once after idling)."""


class Edge(Model):
    """The public Gateway: one HTTPS entry for `/v1` (the models) and the RAG API host."""

    host: str = Field(pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z]{2,}$")
    """Public host name of the OpenAI-compatible API (`/v1`)."""
    tls_secret: str | None = Field(None, pattern=DNS_LABEL, max_length=253)
    """Existing TLS Secret in the gateway namespace; omitted: cert-manager issues one (`certificate`)."""
    certificate: GatewayCertificate | None = None
    """cert-manager settings when `tlsSecret` is omitted; omitted: a self-signed CA."""
    source_ranges: tuple[Cidr, ...] = Field(("0.0.0.0/0",), min_length=1)
    """Client CIDRs the load balancer admits (`loadBalancerSourceRanges`) and the gateway pods' NetworkPolicy."""
    auth: EdgeAuth = Field(default_factory=EdgeAuth)
    """Client authentication."""
    rate_limit: EdgeRateLimit = Field(default_factory=EdgeRateLimit)
    """Request limits."""
    timeout_seconds: int = Field(300, ge=10, le=3600)
    """Request timeout (a streamed completion may run this long)."""


class Router(Model):
    """Endpoint picker (llm-d router v0.10.0) of every InferencePool."""

    replicas: int = Field(1, ge=1, le=10)
    """EPP replicas per pool (protected stacks: at least 2, with a PodDisruptionBudget)."""
    failure_mode: Literal["FailOpen", "FailClose"] = "FailOpen"
    """What the gateway does when the pool's endpoint picker does not answer: FailOpen sends the request to an
    endpoint of the pool anyway, FailClose refuses it. Always written explicitly on the InferencePool."""
    prefix_cache: Literal["approximate", "precise"] = "approximate"
    """approximate: the picker remembers where it sent each prompt prefix; precise: vLLM publishes its KV-cache
    events to the picker, which scores the blocks each endpoint really holds."""
    scorers: RouterScorers = Field(default_factory=RouterScorers)
    """Scorer weights."""
    flow_control: bool = True
    """Hold requests in the picker's flow-control queue (priority and fairness across objectives) instead of
    sending them to saturated endpoints; also what lets a pool scale from zero without losing requests."""
    resources: Resources = Field(default_factory=lambda: Resources(cpu="1", memory="1Gi", memory_limit="4Gi"))
    """Requests/limits of the picker container."""


class InferenceGatewayConfig(Model):
    """`ai-platform:inferenceGateway`: Gateway API (v1.6.1) on Istio with the Inference Extension: one
    InferencePool and endpoint picker per model server, body-based routing on the request's `model`, a public
    Gateway (TLS, authentication, limits) and an internal one for in-cluster callers (the AI gateway)."""

    enabled: bool = False
    """The serving front door (needs `mesh.enabled`)."""
    namespace: str = Field("ai-gateway", pattern=DNS_LABEL, max_length=63)
    """Namespace of the Gateways, their Envoy pods and body-based routing."""
    replicas: int = Field(2, ge=1, le=100)
    """Envoy replicas of each Gateway."""
    edge: Edge | None = None
    """The public Gateway; omitted: internal only."""
    router: Router = Field(default_factory=Router)
    """Endpoint-picker defaults (`serving.models[].router` overrides per model)."""
    objectives: tuple[InferenceObjectiveConfig, ...] = ()
    """Priority bands (InferenceObjectives) and which tenants may use them."""



# ------------------------------------------------------------------------------------- tenancy


class ContainerDefaults(Model):
    """LimitRange defaults for containers that set no requests/limits of their own."""

    cpu_request: str = Field("100m", pattern=QUANTITY)
    """Default CPU request."""
    memory_request: str = Field("128Mi", pattern=QUANTITY)
    """Default memory request."""
    cpu_limit: str = Field("1", pattern=QUANTITY)
    """Default CPU limit."""
    memory_limit: str = Field("512Mi", pattern=QUANTITY)
    """Default memory limit."""


class TenantNamespace(Model):
    """One workload namespace: quotas, LimitRange defaults, Pod Security level, who may deploy."""

    gpu_quota: int | None = Field(None, ge=0, le=10000)
    """GPUs (requests.nvidia.com/gpu) the namespace may request; omitted: no GPU quota entry (MIG slices are
    quota'd from the capacity plan)."""
    cpu_quota: str | None = Field(None, pattern=QUANTITY)
    """CPU requests quota (e.g. "64")."""
    memory_quota: str | None = Field(None, pattern=QUANTITY)
    """Memory requests quota (e.g. 512Gi)."""
    cpu_limit_quota: str | None = Field(None, pattern=QUANTITY)
    """CPU limits quota; omitted: no limits.cpu entry."""
    memory_limit_quota: str | None = Field(None, pattern=QUANTITY)
    """Memory limits quota; omitted: no limits.memory entry."""
    storage_quota: str | None = Field(None, pattern=QUANTITY)
    """PVC storage quota."""
    pvc_quota: int | None = Field(None, ge=0, le=10000)
    """Number of PVCs."""
    pod_quota: int | None = Field(None, ge=1, le=100000)
    """Number of pods."""
    pod_security: Literal["restricted", "baseline", "privileged"] = "restricted"
    """Pod Security Admission level enforced in the namespace (warn and audit are always restricted)."""
    container_defaults: ContainerDefaults = Field(default_factory=ContainerDefaults)
    """LimitRange defaults for containers without requests/limits."""
    deployers: tuple[str, ...] = ()
    """Groups bound to the namespace's deployer Role (e.g. an IdP group or gke-security-groups member). Not allowed
    on a namespace holding platform credentials (rag.namespace, rag.gateway.namespace, observability.namespace, and
    serving.namespace once hfToken is set): creating a pod there is enough to read them."""


DEFAULT_NAMESPACES = ("ai-inference", "ai-rag", "ai-app", "observability")


REGISTRY_PREFIX = r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$"


class AdmissionConfig(Model):
    """`tenancy.admission`: ValidatingAdmissionPolicies that hold the platform's invariants for changes made outside
    Pulumi (kubectl, GitOps): GPU taint tolerations only with a GPU request, no privileged pods outside the node-agent
    namespaces, images only from allowed registries, no LoadBalancer Services outside the ingress namespace."""

    enabled: bool = True
    """Ship the policies and their bindings (Kubernetes 1.30+: admissionregistration.k8s.io/v1)."""
    mode: Literal["deny", "warn", "audit"] = "deny"
    """deny: a violating request is refused (and recorded in the audit log); warn: admitted with a warning to the
    client (and recorded); audit: admitted and only recorded in the audit log. Roll out with warn or audit first on
    a cluster that already runs workloads the platform did not deploy."""
    allowed_registries: tuple[str, ...] | None = None
    """Registries (or registry/path prefixes, e.g. `nvcr.io/nvidia`) that pod images may come from; an image without
    a registry is `docker.io/library/<name>` or `docker.io/<org>/<name>`. Unset: the registries the platform's own
    charts, engines and operators pull from plus the gateway image's. List your own in a protected stack, narrowed
    to organisations (`docker.io/vllm`, `quay.io/prometheus`): a whole public registry admits anyone's image."""
    exempt_namespaces: tuple[str, ...] | None = None
    """Namespaces none of the policies judge besides kube-system, kube-public and kube-node-lease (cloud add-ons
    with their own images and privileges). Unset: `gmp-system` and `gmp-public` on GKE (Managed Service for
    Prometheus), none elsewhere."""

    @field_validator("allowed_registries")
    @classmethod
    def _registries(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return value
        if not value:
            raise ValueError("allowedRegistries is empty: every pod would be refused; list registries or unset it")
        for entry in value:
            if not re.match(REGISTRY_PREFIX, entry):
                raise ValueError(f"{entry!r} is not a registry or registry/path prefix (e.g. 'nvcr.io', "
                                 f"'docker.io/grafana', 'registry.example.com:5000/team'; no scheme, tag or wildcard)")
        return value

    @field_validator("exempt_namespaces")
    @classmethod
    def _exempt(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if not re.match(DNS_LABEL, name) or len(name) > 63:
                raise ValueError(f"namespace name {name!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
        return value


class TenancyConfig(Model):
    """`ai-platform:tenancy`."""

    namespaces: dict[str, TenantNamespace] = Field(
        default_factory=lambda: {n: TenantNamespace() for n in DEFAULT_NAMESPACES})
    """Workload namespaces by name; every namespace a component deploys into (serving.namespace, rag.namespace,
    rag.gateway.namespace, observability.namespace) must be one of them."""
    viewers: tuple[str, ...] = ()
    """Groups bound to the read-only viewer ClusterRole."""
    internet_egress: bool = False
    """Let workload pods reach the internet on 443. Off (the default): only model-download jobs may (model
    weights come from the Hugging Face Hub once, into the model cache)."""
    admission: AdmissionConfig = Field(default_factory=AdmissionConfig)
    """In-cluster admission backstop (ValidatingAdmissionPolicies); see docs/policy.md, "Admission backstop"."""

    @field_validator("namespaces")
    @classmethod
    def _names(cls, value: dict[str, TenantNamespace]) -> dict[str, TenantNamespace]:
        for name in value:
            if not re.match(DNS_LABEL, name) or len(name) > 63:
                raise ValueError(f"namespace name {name!r} is not a DNS label (a-z, 0-9, '-', at most 63)")
        return value


# -------------------------------------------------------------------------------------- budget


class QueueNamespace(Model):
    """Kueue settings of one tenant namespace (`queueing.namespaces.<name>`)."""

    borrowing_limit_gpus: int | None = Field(None, ge=0, le=100000)
    """GPUs the namespace's ClusterQueue may borrow from the cohort above its nominal quota (omitted: 0). Taken out of
    the namespace's gpuQuota headroom, which stays the hard ceiling (config/queueing.py: the nominal quota is the
    headroom minus this)."""
    lending_limit_gpus: int | None = Field(None, ge=0, le=100000)
    """GPUs of its quota it lends to the cohort at most (omitted: all unused)."""


class QueueingConfig(Model):
    """`ai-platform:queueing`: Kueue admission and fair sharing of GPU capacity."""

    enabled: bool = False
    """Install Kueue and queue batch work (Jobs) in the tenant namespaces."""
    cohort: str = Field("ai-platform", pattern=DNS_LABEL, max_length=63)
    """The cohort every ClusterQueue belongs to (unused quota is shared within it)."""
    namespaces: dict[str, QueueNamespace] = Field(default_factory=dict)
    """Per tenant namespace settings; a namespace listed here gets a ClusterQueue and a LocalQueue (omitted: every
    tenancy namespace with a gpuQuota)."""


class BudgetConfig(Model):
    """`ai-platform:budget`: enforced by the policy pack (gpu-budget), reported by the plan."""

    max_gpus: int | None = Field(None, ge=0, le=100000)
    """GPUs across all pools at max scale."""
    max_monthly_usd: float | None = Field(None, ge=0)
    """Monthly cost in the worst case, USD: every pool at max, or spot gone (servers on their fallback and
    compute-class steps), whichever costs more (policy cost-budget)."""
    expected_monthly_usd: float | None = Field(None, ge=0)
    """Monthly cost in the expected case, USD: every pool at its min nodes (policy cost-budget; omitted: not
    judged)."""


# --------------------------------------------------------------------------------------- stack


class StackConfig(Model):
    """The whole stack configuration (every `ai-platform:*` key)."""

    cluster: ClusterConfig
    """`ai-platform:cluster`."""
    node_pools: NodePoolsConfig = Field(default_factory=NodePoolsConfig)
    """`ai-platform:nodePools`."""
    gpu_stack: GpuStackConfig = Field(default_factory=GpuStackConfig)
    """`ai-platform:gpuStack`."""
    serving: ServingConfig = Field(default_factory=ServingConfig)
    """`ai-platform:serving`."""
    rag: RagConfig = Field(default_factory=RagConfig)
    """`ai-platform:rag`."""
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    """`ai-platform:observability`."""
    mesh: MeshConfig = Field(default_factory=MeshConfig)
    """`ai-platform:mesh`."""
    inference_gateway: InferenceGatewayConfig = Field(default_factory=InferenceGatewayConfig)
    """`ai-platform:inferenceGateway`."""
    tenancy: TenancyConfig = Field(default_factory=TenancyConfig)
    """`ai-platform:tenancy`."""
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    """`ai-platform:budget`."""
    queueing: QueueingConfig = Field(default_factory=QueueingConfig)
    """`ai-platform:queueing`."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Extra labels on every Kubernetes object and cloud resource (user labels win)."""

    def pool(self, name: str) -> GpuPool | None:
        return next((p for p in self.node_pools.gpu if p.name == name), None)

    @property
    def backups(self) -> tuple[str, ...]:
        """Every scheduled backup that runs: elasticsearch, milvus (see RagConfig.backups) and volumes (gke/eks with
        a data service that has volumes, unless rag.backup.volumes.enabled is false)."""
        rag = self.rag
        has_volumes = (rag.vector_store is not None or rag.full_text is not None
                       or (rag.cache is not None and rag.cache.persistence))
        volumes = (rag.backup.volumes.enabled is not False and self.cluster.provider in ("gke", "eks")
                   and has_volumes)
        return (*rag.backups, *(("volumes",) if volumes else ()))


# ServedModel.resources names the RAG group's Resources, defined after it: resolve the reference now, so the
# schema and the config reference see the real type.
ServedModel.model_rebuild()

# Top-level keys the program reads, in the order docs/configuration.md documents them. hfToken is a secret
# and read separately (never part of the pydantic model, so it can never leak into plan output).
CONFIG_KEYS = tuple(to_camel(k) for k in StackConfig.model_fields) + ("hfToken", "alertingSecret")
SECRET_KEYS = ("hfToken", "alertingSecret")
