"""job-names-local-queue (stack policy): batch work in a queued namespace goes through Kueue.

A namespace is **queued** when the stack has a Kueue `LocalQueue` in it (`kueue.x-k8s.io/<any version>`, kind
`LocalQueue`, its `metadata.namespace`), from the program or from a chart. Every `batch/v1` Job in a queued
namespace, and every CronJob's `spec.jobTemplate`, must carry the label `kueue.x-k8s.io/queue-name` (on the Job's
`metadata.labels`; on the CronJob's `spec.jobTemplate.metadata.labels`) naming a LocalQueue of that namespace.

Why: Kueue admits only Jobs that name a queue (`manageJobsWithoutQueueName` is off). An unlabelled Job in a queued
namespace starts at once, outside the quota and the fair sharing the queue enforces, and its GPUs are invisible to
Kueue's accounting, so admitted Jobs then fail the namespace's ResourceQuota. A label naming a LocalQueue that does
not exist leaves the Job suspended forever ("LocalQueue ... doesn't exist").

Objects come from every resource of the stack: the program's own and every Helm Release's rendered chart objects
(policy/rules/objects.py); messages name '<Kind> <namespace>/<name>[ (chart <release>)]'. The pack reads no stack
config: which namespaces are queued is read from the LocalQueues themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, StackValidationArgs, StackValidationPolicy

from .helpers import get, is_map
from .inference import stack_objects
from .objects import KubeObject

NAME = "job-names-local-queue"
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
KUEUE_GROUP = "kueue.x-k8s.io"


def local_queues(objs: Iterable[KubeObject]) -> dict[str, set[str]]:
    """namespace -> names of the LocalQueues in it."""
    found: dict[str, set[str]] = {}
    for obj in objs:
        if obj.kind == "LocalQueue" and obj.api_version.startswith(KUEUE_GROUP + "/"):
            found.setdefault(obj.namespace, set()).add(obj.name)
    return found


def _job_labels(obj: KubeObject) -> tuple[str, Any] | None:
    """(where the label belongs, the labels there) of a Job or CronJob; None for anything else."""
    if obj.api_version != "batch/v1":
        return None
    if obj.kind == "Job":
        return "metadata.labels", get(obj.body, "metadata", "labels")
    if obj.kind == "CronJob":
        return "spec.jobTemplate.metadata.labels", get(obj.body, "spec", "jobTemplate", "metadata", "labels")
    return None


def problems(objs: list[KubeObject]) -> Iterator[tuple[KubeObject, str]]:
    queues = local_queues(objs)
    for obj in objs:
        found = _job_labels(obj)
        if found is None or obj.namespace not in queues:
            continue
        where, labels = found
        names = ", ".join(sorted(queues[obj.namespace]))
        queue = labels.get(QUEUE_NAME_LABEL) if is_map(labels) else None
        if not isinstance(queue, str) or not queue:
            yield obj, (f"namespace {obj.namespace} is queued by Kueue (LocalQueue {names}) but this {obj.kind} names "
                        f"no queue: add the label {QUEUE_NAME_LABEL}: <LocalQueue> to {where} so it is admitted "
                        f"within the namespace's quota (without it, it bypasses the queue)")
        elif queue not in queues[obj.namespace]:
            yield obj, (f"{where} {QUEUE_NAME_LABEL}: {queue} names no LocalQueue of namespace {obj.namespace} "
                        f"(it has: {names}); the {obj.kind} would stay suspended")


def _validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    found, urns = stack_objects(args, args.get_config())
    for obj, message in problems(found):
        report_violation(f"{obj.ref()}: {message}", urns.get(id(obj)))


job_names_local_queue = StackValidationPolicy(
    name=NAME,
    description="Every Job (and CronJob job template) in a namespace with a Kueue LocalQueue names one "
                "(kueue.x-k8s.io/queue-name).",
    validate=_validate,
    enforcement_level=EnforcementLevel.MANDATORY,
)
