"""job-names-local-queue (policy/rules/queueing.py): Jobs and CronJobs in a namespace with a LocalQueue name one."""

from __future__ import annotations

import copy

from .harness import Res, run_stack

NAME = "job-names-local-queue"
LOCAL_QUEUE = "kubernetes:kueue.x-k8s.io/v1beta2:LocalQueue"
JOB = "kubernetes:batch/v1:Job"
CRON_JOB = "kubernetes:batch/v1:CronJob"
LABEL = "kueue.x-k8s.io/queue-name"


def queue(namespace: str = "ai-inference", name: str = "default") -> Res:
    return Res(LOCAL_QUEUE, f"lq-{namespace}", {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue",
                                                "metadata": {"name": name, "namespace": namespace},
                                                "spec": {"clusterQueue": namespace}})


def job(namespace: str = "ai-inference", labels: dict | None = None, name: str = "embed") -> Res:
    return Res(JOB, name, {"metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
                           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                          "containers": [{"name": "c", "image": "x"}]}}}})


def cron_job(labels: dict | None) -> Res:
    template = job(labels=labels).props
    return Res(CRON_JOB, "nightly", {"metadata": {"name": "nightly", "namespace": "ai-inference"},
                                     "spec": {"schedule": "0 3 * * *", "jobTemplate": {
                                         "metadata": {"labels": labels} if labels is not None else {},
                                         "spec": template["spec"]}}})


def test_labelled_jobs_and_cron_jobs_comply():
    assert run_stack(NAME, [queue(), job(labels={LABEL: "default"}), cron_job({LABEL: "default"})]) == []


def test_jobs_outside_queued_namespaces_need_no_label():
    # ai-rag has no LocalQueue: its Jobs are not Kueue's business.
    assert run_stack(NAME, [queue(), job(namespace="ai-rag")]) == []
    assert run_stack(NAME, [job()]) == []  # no LocalQueue anywhere: nothing is queued


def test_an_unlabelled_job_in_a_queued_namespace_is_a_violation():
    found = run_stack(NAME, [queue(), job()])
    assert len(found) == 1 and found[0].urn.endswith("::embed")
    assert found[0].message.startswith("Job ai-inference/embed: namespace ai-inference is queued by Kueue "
                                       "(LocalQueue default)")
    assert f"add the label {LABEL}: <LocalQueue> to metadata.labels" in found[0].message


def test_a_cron_job_template_without_the_label_is_a_violation():
    # The label on the CronJob's own metadata does not reach the Jobs it creates: only the jobTemplate's counts.
    cron = cron_job(None)
    cron.props["metadata"]["labels"] = {LABEL: "default"}
    found = run_stack(NAME, [queue(), cron])
    assert len(found) == 1 and "spec.jobTemplate.metadata.labels" in found[0].message


def test_a_label_naming_no_local_queue_of_the_namespace_is_a_violation():
    other = queue(namespace="team-a", name="batch")
    found = run_stack(NAME, [queue(), other, job(labels={LABEL: "batch"})])
    assert [v.message for v in found] == [
        f"Job ai-inference/embed: metadata.labels {LABEL}: batch names no LocalQueue of namespace ai-inference "
        "(it has: default); the Job would stay suspended"]


def test_each_unlabelled_job_is_reported_on_its_own_resource():
    labelled = job(labels={LABEL: "default"})
    unlabelled = copy.deepcopy(labelled)
    unlabelled.props["metadata"]["labels"] = {"app": "x"}
    unlabelled.name = "other"
    unlabelled.props["metadata"]["name"] = "other"
    found = run_stack(NAME, [queue(), labelled, unlabelled])
    assert [v.urn.rsplit("::", 1)[-1] for v in found] == ["other"]
