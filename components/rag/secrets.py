"""Generated credentials: a `random.RandomPassword` kept as a Pulumi secret, written only into Secrets."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random


def password(name: str, parent: pulumi.Resource, length: int = 32, protect: bool = False) -> pulumi.Output[str]:
    """A generated password (letters and digits: safe in URLs, env vars and config files), as a secret Output.

    `protect` keeps the generator from being replaced or deleted by accident: a new value would lock
    clients out of data stores that only read their password at first start (Milvus' root user).
    """
    generated = random.RandomPassword(name, length=length, special=False,
                                      opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    return pulumi.Output.secret(generated.result)


def secret(name: str, parent: pulumi.Resource, metadata: k8s.meta.v1.ObjectMetaArgs,
           data: Mapping[str, pulumi.Input[str]], type_: str | None = None,
           opts: pulumi.ResourceOptions | None = None) -> k8s.core.v1.Secret:
    """A Secret whose whole `stringData` is a Pulumi secret (never shown in plans or state in plain text)."""
    # Typed as an Input: Output.secret(Input[U]) cannot solve U from a bare Output argument.
    string_data: pulumi.Input[dict[str, Any]] = pulumi.Output.all(**dict(data))
    return k8s.core.v1.Secret(
        name,
        metadata=metadata,
        type=type_ or "Opaque",
        string_data=pulumi.Output.secret(string_data),
        opts=pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=parent), opts),
    )


def checksum(*values: pulumi.Input[str]) -> pulumi.Output[str]:
    """A short SHA-256 of secret values, as a plain Output: it changes when any of them does (to roll or re-run
    what reads them), and reveals nothing of 32-character random passwords."""
    digest = pulumi.Output.all(*values).apply(
        lambda vs: hashlib.sha256("\0".join(str(v) for v in vs).encode()).hexdigest()[:16])
    return pulumi.Output.unsecret(digest)
