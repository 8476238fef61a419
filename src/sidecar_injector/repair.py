"""Repair: find the drifted pods in a cluster and restart their owners, within limits.

`scan` reads the cluster the way `check` does (kube's namespace labels and webhook
configuration, the injector's ConfigMaps), lists pods page by page in the namespaces the
webhooks call, and judges each one (`drift.pod_drift`). `plan` is pure: it decides per owner
what a repair would do and why not, so a dry run shows exactly what `--apply` will do.
`apply` restarts owners the way `kubectl rollout restart` does (a `restartedAt` annotation on
the pod template) and records an Event on each.

Nothing is deleted unless asked: a bare pod, or a Job's pod, has no template to restart, so it
is listed; `--delete-pods` deletes those pods (a Job makes new ones; a bare pod is gone).
"""

from __future__ import annotations

import datetime
import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lightkube import AsyncClient, codecs
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.apps_v1 import DaemonSet, Deployment, StatefulSet
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.resources.policy_v1 import PodDisruptionBudget

from sidecar_injector import config, decision, drift, errors, events, explanation, kube, manifests

JSON = Any
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
"""What `kubectl rollout restart` sets on the pod template; its controller does the rest."""
OPT_OUT = "sidecar-injector.io/repair"
"""On a Deployment, StatefulSet or DaemonSet: `"false"` keeps repair from restarting it."""
EVENT_REASON = "SidecarRepair"
RESTARTABLE: Mapping[str, Any] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
    "DaemonSet": DaemonSet,
}
DELETABLE = frozenset({"Pod", "Job"})
PAGE_SIZE = 500
PDB_V1BETA1 = create_namespaced_resource(
    "policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets"
)
"""Kubernetes 1.16 to 1.20 serve PodDisruptionBudget only as policy/v1beta1."""
Action = Literal["restart", "delete", "hold", "list"]


@dataclass(frozen=True, slots=True)
class Scope:
    """Which namespaces and owners a run looks at; empty means all of them.

    An owner is `NAME` (any kind) or `KIND/NAME` (`deployment/web`, any case)."""

    namespaces: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()

    def covers_namespace(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    def covers(self, owner: drift.Owner) -> bool:
        if not self.covers_namespace(owner.namespace):
            return False
        if not self.owners:
            return True
        for wanted in self.owners:
            kind, _, name = wanted.rpartition("/")
            if name == owner.name and (not kind or kind.lower() == owner.kind.lower()):
                return True
        return False


@dataclass(frozen=True, slots=True)
class Limits:
    """How many owners may be rolling out at once (ours or already in progress), and how many
    restarts may start in any minute (counted from the owners' `restartedAt`)."""

    at_once: int = 3
    per_minute: int = 10


@dataclass(frozen=True, slots=True)
class Found:
    """What `scan` read: each owner's drift, the restartable owners' objects, the disruption
    budgets of their namespaces, and what could not be read."""

    owners: tuple[drift.OwnerDrift, ...]
    objects: Mapping[drift.Owner, JSON] = field(default_factory=dict)
    budgets: Mapping[str, tuple[JSON, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


# --- reading the cluster ------------------------------------------------------------------------


async def scan(
    client: AsyncClient,
    *,
    names: manifests.Names,
    scope: Scope = Scope(),
    page_size: int = PAGE_SIZE,
) -> Found:
    """Every pod the webhooks are called for, judged against the cluster's current config.

    Raises `errors.InjectorError` when the config or the namespaces cannot be read: without
    them nothing can be judged."""
    current = await cluster_config(client, names=names)
    try:
        labels = await kube.namespace_labels(client)
    except kube.TransportErrors as err:
        raise kube.KubeError(
            f"cannot list namespaces: {err}", hint="use a context that may list namespaces"
        ) from None
    by_default = await _namespaces_by_default(client, names=names)
    verdicts: list[drift.PodDrift] = []
    objects: dict[drift.Owner, JSON] = {}
    problems: list[str] = []
    kubelets = await _kubelet_versions(client, problems=problems)
    for namespace in sorted(labels):
        if not scope.covers_namespace(namespace) or namespace in decision.IGNORED_NAMESPACES:
            continue
        async for pod in _called_pods(
            client,
            namespace=namespace,
            namespace_labels=labels[namespace],
            revision=names.revision,
            by_default=by_default,
            page_size=page_size,
        ):
            owner = drift.Owner.of(pod, namespace=namespace)
            if not scope.covers(owner):
                continue
            template = await _template(client, owner, objects=objects, problems=problems)
            verdict = drift.pod_drift(
                pod,
                namespace=namespace,
                config=current,
                template=template,
                kubelet_versions=kubelets,
            )
            if verdict is not None:
                verdicts.append(verdict)
    owners = tuple(drift.by_owner(verdicts))
    drifted = {o.owner.namespace for o in owners if o.drifted and o.owner.kind in RESTARTABLE}
    budgets = {ns: await _budgets(client, ns, problems=problems) for ns in sorted(drifted)}
    kept = {o.owner: objects[o.owner] for o in owners if objects.get(o.owner) is not None}
    return Found(owners, kept, budgets, tuple(problems))


async def cluster_config(client: AsyncClient, *, names: manifests.Names) -> config.Config:
    """The config the injector serves: its ConfigMap, the mesh from Istio's `istio` ConfigMap
    when there is one, loaded by the same code as `serve`'s."""
    maps = kube.ConfigMaps(
        (names.namespace, names.injector_configmap),
        mesh_map=(names.namespace, names.mesh_configmap),
    )
    data: dict[str, Mapping[str, str] | None] = {}
    for namespace, name in maps.references():
        try:
            found = await client.get(ConfigMap, name=name, namespace=namespace)
        except kube.TransportErrors as err:
            if kube.status_code(err) != 404 or name == names.injector_configmap:
                raise kube.KubeError(
                    f"cannot read ConfigMap {namespace}/{name}: {err}",
                    hint="use a context that may get the injector's ConfigMaps",
                ) from None
            found = None
        data[name] = dict(found.data or {}) if found is not None else None
    injector = data[names.injector_configmap] or {}
    _, load = maps.snapshot(injector, data[names.mesh_configmap], revision=names.revision)
    return load()


async def _kubelet_versions(
    client: AsyncClient, *, problems: list[str]
) -> Mapping[str, str] | None:
    """The nodes' kubelets, which decide native sidecars under `ENABLE_NATIVE_SIDECARS=auto`
    as in `serve`; without them pods are judged as `serve` injects before its first list."""
    try:
        return await kube.kubelet_versions(client)
    except (*kube.TransportErrors, ValueError) as err:
        problems.append(f"cannot list nodes (native sidecars judged as off): {err}")
        return None


async def _namespaces_by_default(client: AsyncClient, *, names: manifests.Names) -> bool:
    """Whether the `auto.` webhook is installed (`--enable-namespaces-by-default`)."""
    try:
        found = await kube.get_webhook_configuration(client, kind="mutating", name=names.mutating)
    except kube.KubeError:
        return False
    hooks = found.to_dict().get("webhooks") or []
    return any(str(hook.get("name", "")).startswith("auto.") for hook in hooks)


def pod_selectors(
    namespace: str, labels: Mapping[str, str], *, revision: str, by_default: bool
) -> list[dict[str, str]]:
    """The label selectors that list every pod a webhook may be called for in `namespace`:
    `[{}]` (all pods) in a namespace selected for injection, the object webhooks' labels in
    one that is not, nothing where no webhook is called."""

    def called(pod_labels: Mapping[str, str]) -> bool:
        return bool(
            explanation.calling_webhooks(
                namespace=namespace,
                namespace_labels=labels,
                pod_labels=pod_labels,
                revision=revision,
                namespaces_by_default=by_default,
            )
        )

    if called({}):
        return [{}]
    candidates = [{decision.INJECT_KEY: "true"}, {explanation.REV_LABEL: revision or "default"}]
    return [selector for selector in candidates if called(selector)]


async def _called_pods(
    client: AsyncClient,
    *,
    namespace: str,
    namespace_labels: Mapping[str, str],
    revision: str,
    by_default: bool,
    page_size: int,
) -> AsyncIterator[JSON]:
    """The namespace's pods the webhooks are called for, `page_size` per API call."""
    seen: set[str] = set()
    selectors = pod_selectors(namespace, namespace_labels, revision=revision, by_default=by_default)
    for selector in selectors:
        listing = client.list(
            Pod, namespace=namespace, chunk_size=page_size, labels=dict(selector) or None
        )
        async for item in listing:
            pod = item.to_dict()
            metadata = pod.get("metadata") or {}
            key = str(metadata.get("uid") or metadata.get("name"))
            if key in seen:
                continue
            seen.add(key)
            if explanation.calling_webhooks(
                namespace=namespace,
                namespace_labels=namespace_labels,
                pod_labels=metadata.get("labels") or {},
                revision=revision,
                namespaces_by_default=by_default,
            ):
                yield pod


async def _template(
    client: AsyncClient,
    owner: drift.Owner,
    *,
    objects: dict[drift.Owner, JSON],
    problems: list[str],
) -> Mapping[str, JSON] | None:
    """The restartable owner's pod template metadata (read once per owner), else None."""
    resource = RESTARTABLE.get(owner.kind)
    if resource is None:
        return None
    if owner not in objects:
        try:
            found = await client.get(resource, name=owner.name, namespace=owner.namespace)
            objects[owner] = found.to_dict()
        except kube.TransportErrors as err:
            objects[owner] = None
            if kube.status_code(err) != 404:
                problems.append(f"cannot read {owner}: {err}")
    body = objects[owner]
    if body is None:
        return None
    metadata: Mapping[str, JSON] = ((body.get("spec") or {}).get("template") or {}).get(
        "metadata"
    ) or {}
    return metadata


async def _budgets(client: AsyncClient, namespace: str, *, problems: list[str]) -> tuple[JSON, ...]:
    """The namespace's PodDisruptionBudgets: policy/v1, or v1beta1 where v1 is not served."""
    for resource in (PodDisruptionBudget, PDB_V1BETA1):
        try:
            found = [item async for item in client.list(resource, namespace=namespace)]
        except kube.TransportErrors as err:
            if kube.status_code(err) == 404:
                continue
            problems.append(f"cannot list PodDisruptionBudgets in {namespace}: {err}")
            return ()
        return tuple(_as_dict(item) for item in found)
    return ()


def _as_dict(item: JSON) -> JSON:
    return item.to_dict() if hasattr(item, "to_dict") else dict(item)


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Step:
    """What a run does with one drifted owner, and why."""

    target: drift.OwnerDrift
    action: Action
    reason: str

    def line(self) -> str:
        return f"{self.action:<8} {self.target.owner}: {self.reason}"

    def as_json(self) -> dict[str, JSON]:
        return {**self.target.as_json(), "action": self.action, "reason": self.reason}


def plan(
    found: Found,
    *,
    limits: Limits = Limits(),
    delete_pods: bool = False,
    now: datetime.datetime,
) -> list[Step]:
    """A step for every drifted owner: missing sidecars first, then stale ones."""
    drifted = [o for o in found.owners if o.drifted]
    drifted.sort(key=lambda o: (o.state != "missing", o.owner))
    steps: list[Step] = []
    ready: list[Step] = []
    in_progress = recent = 0
    for target in drifted:
        body = found.objects.get(target.owner)
        if body is not None:
            recent += _restarted_within(body, now=now, seconds=60)
        step = _step(target, body, found=found, delete_pods=delete_pods)
        if step.reason.startswith("rollout in progress"):
            in_progress += 1
        (ready if step.action in ("restart", "delete") else steps).append(step)
    room = max(0, min(limits.at_once - in_progress, limits.per_minute - recent))
    for index, step in enumerate(ready):
        if index < room:
            steps.append(step)
            continue
        if limits.at_once - in_progress <= limits.per_minute - recent:
            why = f"limit: {limits.at_once} owner(s) at once ({in_progress} rolling out)"
        else:
            why = f"limit: {limits.per_minute} restart(s) per minute ({recent} in the last minute)"
        steps.append(Step(step.target, "hold", f"{why}; the next run restarts it"))
    order = {target.owner: index for index, target in enumerate(drifted)}
    return sorted(steps, key=lambda s: order[s.target.owner])


def _step(target: drift.OwnerDrift, body: JSON, *, found: Found, delete_pods: bool) -> Step:
    owner, what = target.owner, _what(target)
    if owner.kind in RESTARTABLE:
        if body is None:
            return Step(target, "hold", f"{what}; cannot read the {owner.kind}")
        held = _held(owner, body, budgets=found.budgets.get(owner.namespace, ()))
        if held:
            return Step(target, "hold", f"{held}; {what}")
        return Step(target, "restart", what)
    if owner.kind in DELETABLE:
        if delete_pods:
            return Step(target, "delete", f"{what}; deleting its drifted pod(s)")
        remedy = "the Job makes new ones" if owner.kind == "Job" else "a bare pod is not recreated"
        return Step(target, "list", f"{what}; --delete-pods deletes them ({remedy})")
    return Step(target, "list", f"{what}; restart it through its own controller")


def _what(target: drift.OwnerDrift) -> str:
    missing, stale = target.pods.get("missing", ()), target.pods.get("stale", ())
    parts = [f"{len(missing)} pod(s) without a sidecar"] if missing else []
    parts += [f"{len(stale)} pod(s) with a stale sidecar"] if stale else []
    return ", ".join(parts)


def _held(owner: drift.Owner, body: JSON, *, budgets: Sequence[JSON]) -> str:
    """Why the owner may not be restarted now, or ''."""
    metadata = body.get("metadata") or {}
    if (metadata.get("annotations") or {}).get(OPT_OUT) == "false":
        return f"opted out ({OPT_OUT}: false)"
    rolling = rollout_in_progress(owner.kind, body)
    if rolling:
        return f"rollout in progress ({rolling})"
    spec = body.get("spec") or {}
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    for budget in budgets:
        if _selects(budget.get("spec", {}).get("selector"), template_labels):
            allowed = (budget.get("status") or {}).get("disruptionsAllowed", 0)
            if not allowed:
                name = (budget.get("metadata") or {}).get("name")
                return f"PodDisruptionBudget {owner.namespace}/{name} allows no disruption"
    return ""


def rollout_in_progress(kind: str, body: JSON) -> str:
    """What `kubectl rollout status` would still wait for, or '' when the rollout is done."""
    metadata, spec, status = (body.get(k) or {} for k in ("metadata", "spec", "status"))
    if spec.get("paused"):
        return "paused"
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return "its controller has not seen the latest spec"
    if kind == "Deployment":
        wanted = spec.get("replicas", 1)
        updated = status.get("updatedReplicas", 0)
        if updated < wanted or status.get("replicas", 0) > updated:
            return f"{updated} of {wanted} replica(s) updated"
        if status.get("availableReplicas", 0) < updated:
            return f"{status.get('availableReplicas', 0)} of {updated} updated replica(s) available"
    elif kind == "StatefulSet":
        if status.get("updateRevision") != status.get("currentRevision"):
            return "pods of an older revision remain"
        wanted = spec.get("replicas", 1)
        if status.get("readyReplicas", 0) < wanted:
            return f"{status.get('readyReplicas', 0)} of {wanted} replica(s) ready"
    elif kind == "DaemonSet":
        wanted = status.get("desiredNumberScheduled", 0)
        if status.get("updatedNumberScheduled", 0) < wanted:
            return f"{status.get('updatedNumberScheduled', 0)} of {wanted} node(s) updated"
        if status.get("numberAvailable", 0) < wanted:
            return f"{status.get('numberAvailable', 0)} of {wanted} pod(s) available"
    return ""


def _selects(selector: JSON, labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics; an empty selector selects every pod (policy/v1)."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for requirement in selector.get("matchExpressions") or ():
        key, operator = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or ()
        holds = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }.get(operator, False)
        if not holds:
            return False
    return True


def _restarted_within(body: JSON, *, now: datetime.datetime, seconds: float) -> int:
    spec = body.get("spec") or {}
    annotations = ((spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
    stamp = annotations.get(RESTARTED_AT)
    if not isinstance(stamp, str):
        return 0
    try:
        at = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if at.tzinfo is None:
        return 0
    return int(0 <= (now - at).total_seconds() < seconds)


# --- doing it -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    step: Step
    done: bool
    message: str

    def line(self) -> str:
        verb = {"restart": "restarted", "delete": "deleted pods of"}[self.step.action]
        if self.done:
            return f"{verb} {self.step.target.owner}: {self.message}"
        return f"failed   {self.step.target.owner}: {self.message}"


async def apply(
    client: AsyncClient,
    steps: Sequence[Step],
    *,
    objects: Mapping[drift.Owner, JSON],
    now: datetime.datetime,
) -> list[Outcome]:
    """Restart (or delete the pods of) every owner the plan says, each with an Event."""
    outcomes: list[Outcome] = []
    stamp = now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for step in steps:
        if step.action == "restart":
            outcomes.append(await _restart(client, step, body=objects[step.target.owner], at=stamp))
        elif step.action == "delete":
            outcomes.append(await _delete(client, step, at=stamp))
    return outcomes


async def _restart(client: AsyncClient, step: Step, *, body: JSON, at: str) -> Outcome:
    owner = step.target.owner
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: at}}}}}
    try:
        await client.patch(RESTARTABLE[owner.kind], owner.name, patch, namespace=owner.namespace)
    except kube.TransportErrors as err:
        return Outcome(step, False, f"cannot patch it: {err}")
    uid = str((body.get("metadata") or {}).get("uid") or "")
    message = f"restarted: {_event_text(step.target)}"
    trouble = await _event(client, owner, api_version="apps/v1", uid=uid, message=message, at=at)
    return Outcome(step, True, f"{RESTARTED_AT}={at}{trouble}")


async def _delete(client: AsyncClient, step: Step, *, at: str) -> Outcome:
    owner = step.target.owner
    names = [*step.target.pods.get("missing", ()), *step.target.pods.get("stale", ())]
    deleted: list[str] = []
    for name in names:
        try:
            await client.delete(Pod, name, namespace=owner.namespace)
        except kube.TransportErrors as err:
            if kube.status_code(err) != 404:
                return Outcome(step, False, f"cannot delete pod {name}: {err}")
        deleted.append(name)
    api_version = "batch/v1" if owner.kind == "Job" else "v1"
    message = f"deleted pod(s) {', '.join(deleted)}: {_event_text(step.target)}"
    trouble = await _event(client, owner, api_version=api_version, uid="", message=message, at=at)
    return Outcome(step, True, ", ".join(deleted) + trouble)


def _event_text(target: drift.OwnerDrift) -> str:
    text = _what(target)
    if target.differences:
        text += ": " + "; ".join(target.differences)
    return text


async def _event(
    client: AsyncClient, owner: drift.Owner, *, api_version: str, uid: str, message: str, at: str
) -> str:
    """An Event on the owner, where `kubectl describe` shows it; one that cannot be created
    does not undo the repair: it is said after the outcome."""
    involved = {
        "apiVersion": api_version,
        "kind": owner.kind,
        "name": owner.name,
        "namespace": owner.namespace,
        **({"uid": uid} if uid else {}),
    }
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{owner.name}.", "namespace": owner.namespace},
        "involvedObject": involved,
        "reason": EVENT_REASON,
        "message": errors.excerpt(message, events.MESSAGE_LIMIT - 40),
        "type": "Normal",
        "source": {"component": events.COMPONENT},
        "reportingComponent": events.COMPONENT,
        "reportingInstance": socket.gethostname(),
        "firstTimestamp": at,
        "lastTimestamp": at,
        "count": 1,
    }
    try:
        await client.create(codecs.from_dict(event))
    except (*kube.TransportErrors, ValueError) as err:
        return f" (no Event: {err})"
    return ""
