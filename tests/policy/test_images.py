"""image-pinned (policy/rules/images.py): mutable tag patterns, digests in configured stacks, registries, images
of custom-resource pod templates, and the shipped stacks' images against their own pack config."""

from __future__ import annotations

import pytest

from config import engines as engines_catalog
from policy.rules import images
from policy.rules.images import parse_image
from policy.rules.objects import pod_specs

from .harness import run_resource
from .shipped_objects import policy_config, stack_objects
from .test_workloads import KINDS

NAME = "image-pinned"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ELASTICSEARCH = "kubernetes:elasticsearch.k8s.elastic.co/v1:Elasticsearch"
DIGEST = "sha256:" + "e" * 64


def deployment(*images_: str) -> dict:
    return KINDS[DEPLOYMENT]({"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images_)]})


def check(props: dict, config: dict | None = None, kind: str = DEPLOYMENT, stack: str = "test") -> list[str]:
    return run_resource(NAME, kind, props, config, name="qwen7b", stack=stack)


@pytest.mark.parametrize("tag", ["latest", "Latest", "stable", "main", "master", "nightly", "edge", "dev", "develop",
                                 "head", "canary", "rolling", "3", "v2", "3.13", "v1.27", "3.13-alpine", "8-slim",
                                 "latest-distroless", "3.13-slim-bookworm"])
def test_mutable_tags_are_a_violation(tag):
    [message] = check(deployment(f"registry.example.com/app:{tag}"))
    assert f"container 'c0' image 'registry.example.com/app:{tag}' uses the mutable tag {tag!r}" in message


@pytest.mark.parametrize("tag", ["1.0.0", "v0.33.0", "3.13.7-alpine", "89-1.9.3", "v1.12.1-distroless",
                                 "3.5.25-r1", "2024.06.01", "stable-1.2.3", "main-4f2a9c1"])
def test_release_tags_are_pinned(tag):
    assert check(deployment(f"registry.example.com/app:{tag}")) == []


def test_a_digest_pins_even_a_mutable_tag():
    assert check(deployment(f"registry.example.com/app:latest@{DIGEST}")) == []


def test_mutable_tag_patterns_come_from_the_pack_config():
    props = deployment("registry.example.com/app:1.0.0-rc1", "registry.example.com/app:3")
    config = {"mutableTagPatterns": [r".*-rc\d*"]}
    [message] = check(props, config)
    assert "'c0'" in message and "'c1'" not in message  # the config replaces the default list
    assert "is not a valid regular expression" in check(props, {"mutableTagPatterns": ["("]})[0]


def test_digest_stacks_need_a_digest():
    props = deployment("registry.example.com/app:1.0.0", f"registry.example.com/app@{DIGEST}")
    config = {"digestStacks": ["prod", "prod-*"]}
    assert check(props, config, stack="dev") == []
    [message] = check(props, config, stack="prod-eu")
    assert "container 'c0' image 'registry.example.com/app:1.0.0' has no digest (required in this stack)" in message
    assert "'c1'" not in message
    assert check(props, {}, stack="prod") == [], "off unless configured"


def test_elasticsearch_runs_the_image_eck_derives_from_the_version():
    es = {"metadata": {"name": "search", "namespace": "ai-rag"},
          "spec": {"version": "9.4.3", "nodeSets": [{"name": "default", "podTemplate": {"spec": {
              "containers": [{"name": "elasticsearch"}]}}}]}}
    allow = {"allowedRegistries": ["docker.elastic.co/elasticsearch/"]}
    assert check(es, allow, ELASTICSEARCH) == []
    [message] = check(es, {"allowedRegistries": ["registry.example.com/"]}, ELASTICSEARCH)
    assert "node set default: container 'elasticsearch' image 'docker.elastic.co/elasticsearch/elasticsearch:9.4.3'" \
        in message
    es["spec"]["image"] = "docker.elastic.co/elasticsearch/elasticsearch:latest"
    assert "uses the mutable tag 'latest'" in check(es, allow, ELASTICSEARCH)[0]
    es["spec"]["nodeSets"][0]["podTemplate"]["spec"]["containers"].append({"name": "sidecar"})
    assert "container 'sidecar' has no image" in check(es, allow, ELASTICSEARCH)[0]


# ------------------------------------------------------------------------------- the shipped stacks


@pytest.mark.parametrize("stack", ["dev", "prod", "local"])
def test_every_image_of_the_shipped_stacks_passes(stack):
    config = policy_config(stack, NAME)
    found = [f"{o.ref()}: {m}" for o in stack_objects(stack) for m in images.check_images(o, config)]
    assert found == []


def test_prod_sets_a_registry_allow_list_that_its_images_use():
    """prod's allowedRegistries is set, organisation-level (not whole registries such as docker.io/), and every
    prefix in it is used by one of prod's images (program or chart) or by a serving engine prod can switch to."""
    prefixes = policy_config("prod", NAME)["allowedRegistries"]
    assert prefixes and all(p.count("/") >= 1 and p.split("/", 1)[1] for p in prefixes if p != "registry.k8s.io/"
                            and p != "registry.example.com/"), "organisation-level prefixes, not whole registries"
    used = {parse_image(image).normalized for o in stack_objects("prod") for _, image in images._images(o)
            if isinstance(image, str)}
    # The serving engines prod may switch a model to (config/engines.py: vLLM, TGI, Triton, Ollama) and TEI.
    engines = {parse_image(engines_catalog.image_for(e, "h100-80gb")).normalized for e in engines_catalog.ENGINES}
    for prefix in prefixes:
        assert any(image.startswith(prefix) for image in used | engines), f"{prefix} is not used by prod"
    assert all(any(i.startswith(p) for p in prefixes) for i in engines), "every engine image is allowed"
    assert policy_config("prod", NAME)["digestStacks"] == []


def test_an_image_from_an_unlisted_registry_in_prod_is_caught():
    config = policy_config("prod", NAME)
    for image in ("docker.io/attacker/vllm-openai:v0.33.0", "ghcr.io/evil/tei:1.9.3", "quay.io/x/y:1.0.0",
                  "docker.io/library/pythonx:3.13.7", "registry.example.com.evil.io/gw:1.0.0"):
        [message] = check(deployment(image), config)
        assert "not from an allowed registry" in message, image


def test_chart_and_cr_pods_are_among_the_judged_objects():
    kinds = {o.kind for o in stack_objects("prod") if o.source.startswith("chart:") and any(pod_specs(o))}
    assert {"Deployment", "StatefulSet", "DaemonSet", "Job"} <= kinds
    assert any(o.kind == "Elasticsearch" for o in stack_objects("prod"))
