"""The gateway's own Milvus user: a database, a role scoped to it, and a user, made by an idempotent Job.

Milvus has users, roles and privileges (RBAC), but its Helm chart cannot declare them, so a plain Job
(no Helm hook: the program owns it and Pulumi waits for it to complete) calls Milvus' RESTful API v2
with the root password and sets up, each step only when missing:

- the database `ai_gateway` (`/v2/vectordb/databases/create`);
- the role `ai_gateway_rw` (`/v2/vectordb/roles/create`) with the built-in privilege groups `DatabaseAdmin`
  (create/drop/list collections, describe/alter the database) and `CollectionAdmin` (read, write, index,
  load, alias every collection) granted on `ai_gateway` / `*` only (`/v2/vectordb/roles/grant_privilege_v2`):
  nothing in other databases, no cluster privileges, no user or role management;
- the user `ai_gateway` (`/v2/vectordb/users/create`) with that role (`/v2/vectordb/users/grant_role`).
  An existing user keeps its password when it already matches (`users/update_password` from the new
  password to itself succeeds only then); otherwise it is dropped and created again with the new one.

Sources (milvus-io/milvus v2.6, internal/distributed/proxy/httpserver): handler_v2.go registers the
routes above (DataBaseCategory `/databases/`, UserCategory `/users/`, RoleCategory `/roles/`,
`grant_privilege_v2` = GrantPrivilegeActionV2); the package's request types give the bodies (PasswordReq
userName/password, NewPasswordReq userName/password/newPassword, UserRoleReq userName/roleName,
RoleReq roleName, GrantV2Req roleName/dbName/collectionName/privilege); pkg/util (the *Privileges lists)
defines the built-in groups (DatabaseAdmin = ShowCollections, DescribeDatabase, AlterDatabase, CreateCollection,
DropCollection; CollectionAdmin = CollectionReadWrite + CreateAlias, DropAlias). The API answers HTTP
200 with `{"code":0,...}` on success and a non-zero code otherwise; the REST server shares the proxy's
port 19530 (`proxy.http.enabled: true` in the chart). Authentication: `Authorization: Bearer user:password`.

The Job runs the chart's own Milvus image (its runtime image carries curl: Milvus' docker-compose files
health-check with it). Neither password reaches a command line: curl reads the header and the body from
files in a memory-backed emptyDir. Its pod template carries a hash of the script, names, grants and image and
a hash of both passwords (annotations), so a change of either (or a `pulumi up --replace` of the gateway's
RandomPassword) changes the immutable template: Pulumi replaces the Job, which runs again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from config.endpoints import Endpoint
from config.network import MILVUS_USERS_PODS, ROLE_LABEL

USER = "ai_gateway"
"""Milvus user of the gateway (names: a letter first, then letters, digits, underscores)."""
ROLE = "ai_gateway_rw"
"""Its role (a name distinct from the user, so a describe answer cannot be mistaken for the other)."""
DATABASE = "ai_gateway"
"""The only database the gateway's role reaches; the gateway creates its collections there."""
GRANTS = ("DatabaseAdmin", "CollectionAdmin")
"""Built-in privilege groups granted on DATABASE / every collection in it."""
JOB_ROLE = MILVUS_USERS_PODS[ROLE_LABEL]
"""`ai-platform/role` label of the Job's pods (the NetworkPolicy flow `milvus-users` selects it)."""
# zilliztech/milvus-helm charts/milvus/values.yaml @ milvus-5.0.19: image.all milvusdb/milvus:v2.6.15.
IMAGE = "milvusdb/milvus:v2.6.15"
ROOT_PASSWORD_ENV = "MILVUS_ROOT_PASSWORD"
GATEWAY_PASSWORD_ENV = "MILVUS_GATEWAY_PASSWORD"
RUN_AS = 1000
WORK_DIR = "/work"

SCRIPT = r"""set -eu
umask 077
ok() { case "$1" in *'"code":0,'*|*'"code":0}'*) return 0 ;; esac; return 1; }
# call <user> <password> <path> <json body>: POST to Milvus' REST API v2; credentials stay off argv.
call() {
  printf 'header = "Authorization: Bearer %s:%s"\n' "$1" "$2" > "$WORK/auth"
  printf '%s' "$4" > "$WORK/body"
  curl -sS --retry 30 --retry-delay 5 --retry-all-errors --connect-timeout 5 --max-time 30 \
    -K "$WORK/auth" -H 'Content-Type: application/json' -X POST -d @"$WORK/body" "$MILVUS_URL/v2/vectordb/$3"
}
root() { call root "$ROOT_PW" "$1" "$2"; }
must() { out=$(root "$1" "$2"); ok "$out" || { echo "$1 failed: $out" >&2; exit 1; }; echo "$1: ok"; }
has() { case "$1" in *"\"$2\""*) return 0 ;; esac; return 1; }

WORK="$WORK_DIR"
ROOT_PW="$MILVUS_ROOT_PASSWORD"
PW="$MILVUS_GATEWAY_PASSWORD"
until ok "$(root databases/list '{}' || true)"; do echo "waiting for Milvus at $MILVUS_URL"; sleep 5; done

has "$(root databases/list '{}')" "$DATABASE" || must databases/create "{\"dbName\":\"$DATABASE\"}"
has "$(root roles/list '{}')" "$ROLE" || must roles/create "{\"roleName\":\"$ROLE\"}"
for privilege in $GRANTS; do
  out=$(root roles/grant_privilege_v2 \
    "{\"roleName\":\"$ROLE\",\"dbName\":\"$DATABASE\",\"collectionName\":\"*\",\"privilege\":\"$privilege\"}")
  ok "$out" || has "$(root roles/describe "{\"roleName\":\"$ROLE\"}")" "$privilege" \
    || { echo "grant $privilege failed: $out" >&2; exit 1; }
  echo "grant $privilege: ok"
done
if has "$(root users/list '{}')" "$USER_NAME"; then
  same=$(call "$USER_NAME" "$PW" users/update_password \
    "{\"userName\":\"$USER_NAME\",\"password\":\"$PW\",\"newPassword\":\"$PW\"}" || true)
  if ! ok "$same"; then
    must users/drop "{\"userName\":\"$USER_NAME\"}"
    must users/create "{\"userName\":\"$USER_NAME\",\"password\":\"$PW\"}"
  fi
else
  must users/create "{\"userName\":\"$USER_NAME\",\"password\":\"$PW\"}"
fi
out=$(root users/grant_role "{\"userName\":\"$USER_NAME\",\"roleName\":\"$ROLE\"}")
ok "$out" || has "$(root users/describe "{\"userName\":\"$USER_NAME\"}")" "$ROLE" \
  || { echo "grant_role failed: $out" >&2; exit 1; }
echo "users/grant_role: ok"
"""


NAME = "milvus-users"


def spec_hash() -> str:
    """What the Job does (script, names, grants, image), as a pod annotation: a change runs the Job again."""
    text = json.dumps([SCRIPT, USER, ROLE, DATABASE, GRANTS, IMAGE])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rest_url(endpoint: Endpoint) -> str:
    """Milvus' REST API: plain HTTP on the API port the gRPC endpoint names (the proxy serves both there)."""
    return f"http://{endpoint.host}:{endpoint.port}"


def pod_labels(labels: dict[str, str]) -> dict[str, str]:
    return {**labels, ROLE_LABEL: JOB_ROLE}


def job_spec(url: str, root_secret: tuple[str, str], gateway_secret: tuple[str, str], labels: dict[str, str],
             credentials_checksum: Any, resources: dict[str, Any]) -> dict[str, Any]:
    """The Job's spec: `url` is Milvus' in-cluster URL, the secrets are (name, key) of each password."""
    def from_secret(name: str, ref: tuple[str, str]) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref[0], "key": ref[1]}}}

    env = [{"name": "MILVUS_URL", "value": url}, {"name": "WORK_DIR", "value": WORK_DIR},
           {"name": "DATABASE", "value": DATABASE}, {"name": "ROLE", "value": ROLE},
           {"name": "USER_NAME", "value": USER}, {"name": "GRANTS", "value": " ".join(GRANTS)},
           from_secret(ROOT_PASSWORD_ENV, root_secret), from_secret(GATEWAY_PASSWORD_ENV, gateway_secret)]
    return {
        "backoffLimit": 6,
        "activeDeadlineSeconds": 1800,
        "template": {
            "metadata": {"labels": pod_labels(labels),
                         "annotations": {"ai-platform/spec-checksum": spec_hash(),
                                         "ai-platform/credentials-checksum": credentials_checksum}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "securityContext": {"runAsNonRoot": True, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                                    "seccompProfile": {"type": "RuntimeDefault"}},
                "containers": [{
                    "name": "milvus-users",
                    "image": IMAGE,
                    "command": ["/bin/sh", "-c", SCRIPT],
                    "env": env,
                    "resources": resources,
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "work", "mountPath": WORK_DIR}],
                }],
                # Memory-backed: the request files with the passwords never touch the node's disk.
                "volumes": [{"name": "work", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}}],
            },
        },
    }
