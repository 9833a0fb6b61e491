"""container-resources and image-pinned over every workload kind, containers and init containers (more image-pinned:
test_images.py)."""

from __future__ import annotations

import copy

import pytest

from policy.rules.images import parse_image

from .harness import run_resource
from .test_workloads import KINDS

RESOURCES = "container-resources"
IMAGES = "image-pinned"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
FULL = {"requests": {"cpu": "4", "memory": "24Gi"}, "limits": {"cpu": "8", "memory": "24Gi"}}


def container(name="vllm", image="vllm/vllm-openai:v0.6.3", resources=None, **extra) -> dict:
    c = {"name": name, "image": image, "resources": copy.deepcopy(FULL if resources is None else resources), **extra}
    if image is None:
        del c["image"]
    return c


def pod(*containers, init=()) -> dict:
    spec = {"containers": list(containers) or [container()]}
    if init:
        spec["initContainers"] = list(init)
    return spec


def deployment(spec: dict) -> dict:
    return KINDS[DEPLOYMENT](spec)


def check_resources(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(RESOURCES, kind, props, config, name="qwen7b")


def check_images(props: dict, config: dict | None = None, kind: str = DEPLOYMENT) -> list[str]:
    return run_resource(IMAGES, kind, props, config, name="qwen7b")


# ------------------------------------------------------------------------------ container-resources


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_containers_with_requests_and_limits_are_compliant(kind):
    spec = pod(container(), container("metrics", "prom/statsd-exporter:v0.26.0"),
               init=[container("download", "busybox:1.36")])
    assert check_resources(KINDS[kind](spec), kind=kind) == []


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_missing_cpu_limit_is_a_violation_on_every_kind(kind):
    server = container(resources={"requests": {"cpu": "4", "memory": "24Gi"}, "limits": {"memory": "24Gi"}})
    [message] = check_resources(KINDS[kind](pod(server)), kind=kind)
    assert message.startswith(f"{kind.rsplit(':', 1)[-1]} ")
    assert "container 'vllm' lacks limits.cpu." in message
    assert "Set cpu and memory requests and limits" in message


def test_every_gap_of_every_container_is_named():
    spec = pod(container(resources={"limits": {"cpu": "1", "memory": "1Gi"}}),
               init=[container("download", "busybox:1.36", resources={"requests": {"cpu": "1", "memory": "1Gi"}})])
    [message] = check_resources(deployment(spec))
    assert "Deployment ai-inference/qwen7b" in message
    assert "initContainer 'download' lacks limits.cpu, limits.memory" in message
    assert "container 'vllm' lacks requests.cpu, requests.memory" in message


@pytest.mark.parametrize("resources", [None, {}, {"requests": None, "limits": None}], ids=["absent", "empty", "null"])
def test_container_without_resources_lacks_all_four(resources):
    server = container()
    if resources is None:
        del server["resources"]
    else:
        server["resources"] = resources
    [message] = check_resources(deployment(pod(server)))
    assert "lacks requests.cpu, requests.memory, limits.cpu, limits.memory" in message


def test_blank_quantities_count_as_missing_and_numbers_are_fine():
    blank = container(resources={"requests": {"cpu": " ", "memory": "1Gi"}, "limits": {"cpu": 2, "memory": "1Gi"}})
    assert "lacks requests.cpu" in check_resources(deployment(pod(blank)))[0]
    numeric = container(resources={"requests": {"cpu": 0.5, "memory": 1073741824},
                                   "limits": {"cpu": 1, "memory": 1073741824}})
    assert check_resources(deployment(pod(numeric))) == []


def test_require_cpu_limit_false_drops_only_the_cpu_limit():
    no_cpu_limit = container(resources={"requests": {"cpu": "4", "memory": "24Gi"}, "limits": {"memory": "24Gi"}})
    assert check_resources(deployment(pod(no_cpu_limit)), {"requireCpuLimit": False}) == []
    assert len(check_resources(deployment(pod(no_cpu_limit)), {"requireCpuLimit": True})) == 1
    no_memory_limit = container(resources={"requests": {"cpu": "4", "memory": "24Gi"}})
    [message] = check_resources(deployment(pod(no_memory_limit)), {"requireCpuLimit": False})
    assert "lacks limits.memory." in message and "limits.cpu" not in message
    assert "cpu and memory requests and a memory limit" in message


@pytest.mark.parametrize("props", [
    {}, {"metadata": {"name": "x"}}, {"spec": {"replicas": 2}}, {"spec": {"template": {"spec": {}}}},
    {"spec": {"template": {"spec": {"containers": []}}}},
], ids=["empty", "no-spec", "no-template", "no-containers", "empty-containers"])
def test_missing_pod_spec_or_containers_is_compliant(props):
    assert check_resources(props) == []


def test_other_resource_types_are_ignored():
    assert check_resources(deployment(pod(container(resources={}))), kind="kubernetes:core/v1:ConfigMap") == []


# ------------------------------------------------------------------------------------- image-pinned


@pytest.mark.parametrize("image, registry, path, tag, digest", [
    ("nginx", "docker.io", "library/nginx", None, None),
    ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
    ("vllm/vllm-openai:v0.6.3", "docker.io", "vllm/vllm-openai", "v0.6.3", None),
    ("index.docker.io/vllm/vllm-openai:v0.6.3", "docker.io", "vllm/vllm-openai", "v0.6.3", None),
    ("localhost:5000/app", "localhost:5000", "app", None, None),
    ("localhost/app:2", "localhost", "app", "2", None),
    ("registry.example.com:5000/team/app:1.0", "registry.example.com:5000", "team/app", "1.0", None),
    ("nvcr.io/nvidia/gpu-operator:v26.7.0", "nvcr.io", "nvidia/gpu-operator", "v26.7.0", None),
    ("ghcr.io/x/y@sha256:" + "a" * 64, "ghcr.io", "x/y", None, "sha256:" + "a" * 64),
    ("nginx:1.27@sha256:" + "b" * 64, "docker.io", "library/nginx", "1.27", "sha256:" + "b" * 64),
])
def test_image_references_parse_like_docker(image, registry, path, tag, digest):
    ref = parse_image(image)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (registry, path, tag, digest)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_pinned_images_are_compliant(kind):
    spec = pod(container(), container("redis", "redis:7.4.1"), container("gw", "registry.example.com/ai-gateway:1.0.0"),
               init=[container("download", "ghcr.io/acme/fetch@sha256:" + "c" * 64)])
    assert check_images(KINDS[kind](spec), kind=kind) == []


@pytest.mark.parametrize("image, problem", [
    ("nginx", "has no tag or digest"),
    ("vllm/vllm-openai", "has no tag or digest"),
    ("localhost:5000/app", "has no tag or digest"),
    ("registry.example.com:5000/team/app", "has no tag or digest"),
    ("nginx:latest", "uses the mutable tag 'latest'"),
    ("registry.example.com/ai-gateway:LATEST", "uses the mutable tag 'LATEST'"),
    ("nginx@sha256:abc", "has a malformed digest"),
])
def test_unpinned_images_are_a_violation(image, problem):
    [message] = check_images(deployment(pod(container(), init=[container("download", image)])))
    assert message.startswith("Deployment ai-inference/qwen7b: initContainer 'download' ")
    assert f"image {image!r} {problem}" in message
    assert "Pin a release version tag" in message


@pytest.mark.parametrize("image", [None, "", "  "], ids=["absent", "empty", "blank"])
def test_container_without_image_is_a_violation(image):
    [message] = check_images(deployment(pod(container(image=image))))
    assert "container 'vllm' has no image" in message


@pytest.mark.parametrize("props", [{}, {"spec": {"template": {"spec": {}}}}], ids=["empty", "no-containers"])
def test_missing_pod_spec_or_containers_has_no_image_to_pin(props):
    assert check_images(props) == []


REGISTRIES = ["registry.example.com/", "docker.io/vllm/", "docker.io/library/redis"]


@pytest.mark.parametrize("image", [
    "registry.example.com/ai-gateway:1.0.0", "vllm/vllm-openai:v0.6.3", "docker.io/vllm/vllm-openai:v0.6.3",
    "index.docker.io/vllm/vllm-openai:v0.6.3", "redis:7.4.1", "redis@sha256:" + "d" * 64,
])
def test_allowed_registries_accept_matching_images(image):
    assert check_images(deployment(pod(container(image=image))), {"allowedRegistries": REGISTRIES}) == []


@pytest.mark.parametrize("image", [
    "nginx:1.27.3", "ghcr.io/vllm/vllm-openai:v0.6.3", "registry.example.com.evil.io/x:1.0.0", "redis-evil:1.0.1",
    "docker.io/library/redisx:1.2.3",
])
def test_allowed_registries_reject_other_images(image):
    [message] = check_images(deployment(pod(container(image=image))), {"allowedRegistries": REGISTRIES})
    assert f"container 'vllm' image {image!r} (" in message
    assert "not from an allowed registry (allowedRegistries: registry.example.com/, docker.io/vllm/" in message


def test_unpinned_and_foreign_images_are_reported_separately():
    spec = pod(container(image="nginx"), container("x", "quay.io/x/y:1.0.0"))
    messages = check_images(deployment(spec), {"allowedRegistries": ["docker.io/"]})
    assert len(messages) == 2 and "has no tag" in messages[0] and "quay.io/x/y:1.0.0" in messages[1]


def test_empty_allowed_registries_accept_any_registry():
    assert check_images(deployment(pod(container(image="quay.io/x/y:1.0.0"))), {"allowedRegistries": []}) == []
