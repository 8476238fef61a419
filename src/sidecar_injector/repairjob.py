"""`manifests --repair`: a CronJob that runs `repair --apply` on a schedule, with its own
ServiceAccount and the least RBAC that lets it do so.

What `repair` reads and writes, and so all it may: list namespaces, pods, nodes (their kubelet
versions decide native sidecars, as in `serve`) and PodDisruptionBudgets; get the injector's
two ConfigMaps and its mutating webhook configuration (by name); get and patch Deployments,
StatefulSets and DaemonSets (the restart is a patch of the pod template); create Events.
Nothing may be deleted: the job never runs `--delete-pods`.
"""

from __future__ import annotations

from sidecar_injector import __version__, decision, explanation, manifests

Manifest = manifests.Manifest
COMPONENT = "repair"
DEFAULT_SCHEDULE = "*/10 * * * *"
CRONJOB_V1_MINOR = 21
"""CronJob is served as batch/v1 from Kubernetes 1.21 (batch/v1beta1 before)."""


def objects(
    settings: manifests.Settings,
    *,
    schedule: str = DEFAULT_SCHEDULE,
    max_at_once: int = 3,
    max_per_minute: int = 10,
) -> list[Manifest]:
    """The ServiceAccount, its Role and ClusterRole with bindings, and the CronJob."""
    n = manifests.names(settings)
    name = f"{n.app}-{COMPONENT}"
    labels = _labels(n)
    subject = {"kind": "ServiceAccount", "name": name, "namespace": n.namespace}
    account = manifests.kube_object(
        "v1", "ServiceAccount", name, namespace=n.namespace, labels=labels
    )
    return [
        account,
        *manifests.bound_role(
            "Role", name, namespace=n.namespace, rules=role_rules(n), subject=subject, n=n
        ),
        *manifests.bound_role(
            "ClusterRole",
            f"{name}-{n.namespace}",
            namespace=None,
            rules=cluster_rules(n),
            subject=subject,
            n=n,
        ),
        cronjob(
            settings,
            name=name,
            schedule=schedule,
            max_at_once=max_at_once,
            max_per_minute=max_per_minute,
        ),
    ]


def role_rules(n: manifests.Names) -> list[Manifest]:
    return [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [n.injector_configmap, n.mesh_configmap],
            "verbs": ["get"],
        }
    ]


def cluster_rules(n: manifests.Names) -> list[Manifest]:
    return [
        {"apiGroups": [""], "resources": ["namespaces", "pods", "nodes"], "verbs": ["list"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "statefulsets", "daemonsets"],
            "verbs": ["get", "patch"],
        },
        {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]},
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["mutatingwebhookconfigurations"],
            "resourceNames": [n.mutating],
            "verbs": ["get"],
        },
    ]


def cronjob(
    settings: manifests.Settings,
    *,
    name: str,
    schedule: str,
    max_at_once: int,
    max_per_minute: int,
) -> Manifest:
    n = manifests.names(settings)
    args = [
        "repair",
        "--apply",
        f"--injector-namespace={n.namespace}",
        f"--max-at-once={max_at_once}",
        f"--max-per-minute={max_per_minute}",
    ]
    if n.revision:
        args.append(f"--revision={n.revision}")
    container = {
        "name": COMPONENT,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "args": args,
        "resources": {
            "requests": {"cpu": "50m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": manifests.restricted(),
    }
    pod = {
        "metadata": {"labels": {**_labels(n), decision.INJECT_KEY: "false"}},
        "spec": {
            "serviceAccountName": name,
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": manifests.RUN_AS,
                "runAsGroup": manifests.RUN_AS,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
        },
    }
    body = manifests.kube_object(_cronjob_version(settings), "CronJob", name, namespace=n.namespace)
    body["metadata"]["labels"] = _labels(n)
    body["spec"] = {
        "schedule": schedule,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 300,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {"spec": {"backoffLimit": 0, "activeDeadlineSeconds": 600, "template": pod}},
    }
    return body


def _cronjob_version(settings: manifests.Settings) -> str:
    minor = manifests.server_minor(settings)
    return "batch/v1beta1" if minor < CRONJOB_V1_MINOR else "batch/v1"


def _labels(n: manifests.Names) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": manifests.APP,
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/version": __version__,
        explanation.REV_LABEL: n.revision or "default",
    }
