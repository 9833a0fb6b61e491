"""Snapshot every bound PersistentVolumeClaim of one namespace, then prune old scheduled snapshots.

Runs inside the `volume-snapshots` CronJob (python image, standard library only) with its service account's
token, talking to the API server directly. Environment: NAMESPACE, SNAPSHOT_CLASS, KEEP.

Retention counts only snapshots that became ready: a run whose snapshots fail never deletes good ones. Per claim
the newest KEEP ready snapshots stay; older ready ones go, and so do failed or stuck ones older than the oldest
kept (they can never become a restore point).
"""

from __future__ import annotations

import datetime
import json
import os
import ssl
import sys
import urllib.parse
import urllib.request
from typing import Any

API = "https://kubernetes.default.svc"
ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
GROUP = "snapshot.storage.k8s.io/v1"
SCHEDULED_LABEL = "ai-platform/backup"
SCHEDULED = "scheduled"


def snapshot_name(claim: str, now: datetime.datetime) -> str:
    """`<claim>-<UTC timestamp>`, a valid object name (claims are DNS subdomains too)."""
    return f"{claim[:200].rstrip('-.')}-{now.strftime('%Y%m%d-%H%M%S')}"


def snapshot_object(claim: str, namespace: str, snapshot_class: str, now: datetime.datetime) -> dict[str, Any]:
    return {
        "apiVersion": GROUP, "kind": "VolumeSnapshot",
        "metadata": {"name": snapshot_name(claim, now), "namespace": namespace,
                     "labels": {SCHEDULED_LABEL: SCHEDULED, "app.kubernetes.io/managed-by": "ai-platform-backup"}},
        "spec": {"volumeSnapshotClassName": snapshot_class, "source": {"persistentVolumeClaimName": claim}},
    }


def to_prune(snapshots: list[dict[str, Any]], keep: int) -> list[str]:
    """Names of scheduled snapshots to delete (see the module docstring)."""
    by_claim: dict[str, list[dict[str, Any]]] = {}
    for snap in snapshots:
        claim = snap.get("spec", {}).get("source", {}).get("persistentVolumeClaimName")
        if claim:
            by_claim.setdefault(claim, []).append(snap)
    doomed: list[str] = []
    for group in by_claim.values():
        group.sort(key=lambda s: s["metadata"]["creationTimestamp"], reverse=True)
        ready = [s for s in group if (s.get("status") or {}).get("readyToUse") is True]
        kept = ready[:keep]
        doomed += [s["metadata"]["name"] for s in ready[keep:]]
        if len(kept) == keep:
            oldest = kept[-1]["metadata"]["creationTimestamp"]
            doomed += [s["metadata"]["name"] for s in group
                       if s not in ready and s["metadata"]["creationTimestamp"] < oldest]
    return sorted(doomed)


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    with open(f"{ACCOUNT}/token") as f:
        token = f.read().strip()
    request = urllib.request.Request(f"{API}{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    context = ssl.create_default_context(cafile=f"{ACCOUNT}/ca.crt")
    with urllib.request.urlopen(request, context=context, timeout=60) as response:
        return json.loads(response.read() or b"null")


def main() -> int:
    namespace, snapshot_class, keep = os.environ["NAMESPACE"], os.environ["SNAPSHOT_CLASS"], int(os.environ["KEEP"])
    now = datetime.datetime.now(datetime.timezone.utc)
    failed = 0
    claims = _call("GET", f"/api/v1/namespaces/{namespace}/persistentvolumeclaims")["items"]
    for claim in claims:
        name = claim["metadata"]["name"]
        if (claim.get("status") or {}).get("phase") != "Bound":
            print(f"skip {name}: not bound")
            continue
        try:
            _call("POST", f"/apis/{GROUP}/namespaces/{namespace}/volumesnapshots",
                  snapshot_object(name, namespace, snapshot_class, now))
            print(f"snapshot of {name} requested")
        except Exception as exc:  # one claim's failure must not stop the others
            failed += 1
            print(f"snapshot of {name} failed: {exc}", file=sys.stderr)
    selector = urllib.parse.quote(f"{SCHEDULED_LABEL}={SCHEDULED}")
    snapshots = _call("GET", f"/apis/{GROUP}/namespaces/{namespace}/volumesnapshots?labelSelector={selector}")
    for name in to_prune(snapshots["items"], keep):
        _call("DELETE", f"/apis/{GROUP}/namespaces/{namespace}/volumesnapshots/{name}")
        print(f"pruned {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
