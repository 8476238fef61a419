"""Drift: what an injected pod carries against what the current config would inject now.

The webhook only sees pods as they are created, so two kinds of pod escape it: pods admitted
without a sidecar (the webhook was down, unreachable or failing open) and pods whose sidecar
was right when they were created but is not what the config injects today. We can tell both
exactly because we can uninject a pod: each stored, injected pod is taken back to the pod the
webhook was sent (`storedpod.as_admitted`), injected again with the current config, and the two
are compared field by field after the API server's defaults are filled in on both sides
(`storedpod.defaulted`). What is compared is everything injection writes: all containers and
init containers (the injected ones and the probes it rewrites in the others), volumes, pull
secrets, labels and annotations.

Pure: the caller lists the pods (see `repair`); nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sidecar_injector import config, decision, errors, inject, merge, storedpod, templatedata

JSON = Any
State = Literal["missing", "stale", "failed", "current"]
STATES: tuple[State, ...] = ("missing", "stale", "failed", "current")
"""Worst first: an owner takes the state of its worst pod."""
LABELS: Mapping[State, str] = {
    "missing": "missing sidecar",
    "stale": "stale",
    "failed": "cannot inject",
    "current": "up to date",
}
ABSENT = "(none)"
VALUE_LIMIT = 80
"""Characters of a value a difference quotes; a status annotation or a whole container is long."""
LIST_KEYS: Mapping[str, str] = {
    "env": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
}
"""The field that names an item of a container's list (Kubernetes' strategic merge keys)."""
DONE_PHASES = frozenset({"Succeeded", "Failed"})


@dataclass(frozen=True, slots=True, order=True)
class Owner:
    """The workload a restart goes through: a ReplicaSet's pods belong to its Deployment."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @classmethod
    def of(cls, pod: Mapping[str, JSON], *, namespace: str) -> Owner:
        metadata = _mapping(pod.get("metadata"))
        controller = templatedata.controller_of(metadata)
        if controller is None:
            return cls("Pod", namespace, str(metadata.get("name") or "?"))
        kind, name = str(controller.get("kind") or "?"), str(controller.get("name") or "?")
        pod_hash = _mapping(metadata.get("labels")).get("pod-template-hash")
        if kind == "ReplicaSet" and pod_hash and name.endswith(f"-{pod_hash}"):
            return cls("Deployment", namespace, name.removesuffix(f"-{pod_hash}"))
        return cls(kind, namespace, name)


@dataclass(frozen=True, slots=True)
class PodDrift:
    """One pod's verdict; `differences` are `path: now -> config` lines (stale), or the
    config's error (failed)."""

    name: str
    owner: Owner
    state: State
    differences: tuple[str, ...] = ()


def pod_drift(
    pod: Mapping[str, JSON],
    *,
    namespace: str,
    config: config.Config,
    template: Mapping[str, JSON] | None = None,
    kubelet_versions: Mapping[str, str] | None = None,
) -> PodDrift | None:
    """The verdict on one stored pod, or None when it is not drift: a pod that has ended or is
    being deleted, or one the current config does not inject and that has no sidecar.
    `template` is the owner's pod template metadata (labels, annotations): an owner that opts
    out now is not drift, whatever its older pods say. `kubelet_versions` are the nodes' (as
    `serve` lists them for native sidecars)."""
    metadata = _mapping(pod.get("metadata"))
    if metadata.get("deletionTimestamp") or _mapping(pod.get("status")).get("phase") in DONE_PHASES:
        return None
    name = str(metadata.get("name") or "?")
    owner = Owner.of(pod, namespace=namespace)
    admitted = storedpod.as_admitted(pod)
    injected = merge.status_of(pod) is not None
    try:
        if template is not None and not _wanted(admitted, template, namespace, config):
            return None
        expected = inject.inject_pod(
            admitted, namespace=namespace, config=config, kubelet_versions=kubelet_versions
        )
    except errors.InjectorError as err:
        return PodDrift(name, owner, "failed", (errors.excerpt(str(err), 300),))
    if not expected.decision.inject:
        if not injected:
            return None
        reason = f"{expected.decision.reason}: {expected.decision.message}"
        return PodDrift(name, owner, "stale", (f"sidecar: injected -> not injected ({reason})",))
    if not injected:
        return PodDrift(name, owner, "missing")
    found = differences(storedpod.defaulted(pod), storedpod.defaulted(expected.pod))
    return PodDrift(name, owner, "stale" if found else "current", tuple(found))


def _wanted(
    admitted: Mapping[str, JSON],
    template: Mapping[str, JSON],
    namespace: str,
    config: config.Config,
) -> bool:
    """Whether the owner's template, as it is now, would be injected."""
    metadata = dict(_mapping(admitted.get("metadata")))
    for key in ("labels", "annotations"):
        metadata[key] = dict(_mapping(template.get(key)))
    pod = {**admitted, "metadata": metadata}
    return decision.decide(pod, namespace=namespace, config=config.injection).inject


# --- the difference, as people read it --------------------------------------------------------


def differences(have: Mapping[str, JSON], want: Mapping[str, JSON]) -> list[str]:
    """`path: have -> want` for every injected part that differs, in pod order."""
    found: list[str] = []
    have_meta, want_meta = _mapping(have.get("metadata")), _mapping(want.get("metadata"))
    for key in ("labels", "annotations"):
        found += _keyed(key, _mapping(have_meta.get(key)), _mapping(want_meta.get(key)))
    have_spec, want_spec = _mapping(have.get("spec")), _mapping(want.get("spec"))
    found += _containers(have_spec, want_spec)
    for key in ("volumes", "imagePullSecrets"):
        found += _keyed(key, _by_name(have_spec.get(key)), _by_name(want_spec.get(key)))
        found += _order(key, have_spec.get(key), want_spec.get(key))
    return found


def _containers(have: Mapping[str, JSON], want: Mapping[str, JSON]) -> list[str]:
    """Containers by name, wherever they are (a native sidecar moves to `initContainers`)."""
    kinds = ("initContainers", "containers")
    have_all = {n: (k, c) for k in kinds for n, c in _by_name(have.get(k)).items()}
    want_all = {n: (k, c) for k in kinds for n, c in _by_name(want.get(k)).items()}
    found: list[str] = []
    for name in _union(have_all, want_all):
        if name not in want_all or name not in have_all:
            where = (have_all.get(name) or want_all[name])[0]
            now = "present" if name in have_all else ABSENT
            then = "present" if name in want_all else ABSENT
            found.append(f"{where}[{name}]: {now} -> {then}")
            continue
        (have_kind, have_one), (want_kind, want_one) = have_all[name], want_all[name]
        if have_kind != want_kind:
            found.append(f"{name}: {have_kind} -> {want_kind}")
        found += _compare(name, have_one, want_one)
    for kind in kinds:
        found += _order(kind, have.get(kind), want.get(kind))
    return found


def _compare(path: str, have: JSON, want: JSON) -> list[str]:
    if have == want:
        return []
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        found: list[str] = []
        for key in _union(have, want):
            found += _compare(f"{path}.{key}", have.get(key, _NONE), want.get(key, _NONE))
        return found
    if isinstance(have, list) and isinstance(want, list):
        return _compare_lists(path, have, want)
    return [f"{path}: {_show(have)} -> {_show(want)}"]


def _compare_lists(path: str, have: list[JSON], want: list[JSON]) -> list[str]:
    key = LIST_KEYS.get(path.rpartition(".")[2])
    have_items, want_items = _by_key(have, key), _by_key(want, key)
    if have_items is not None and want_items is not None:
        return _keyed(path, have_items, want_items) + _order(path, have, want, key)
    if len(have) == len(want):
        found: list[str] = []
        for index, (one, other) in enumerate(zip(have, want, strict=True)):
            found += _compare(f"{path}[{index}]", one, other)
        return found
    return [f"{path}: {_show(have)} -> {_show(want)}"]


def _keyed(path: str, have: Mapping[str, JSON], want: Mapping[str, JSON]) -> list[str]:
    found: list[str] = []
    for key in _union(have, want):
        found += _compare(f"{path}[{key}]", have.get(key, _NONE), want.get(key, _NONE))
    return found


def _order(path: str, have: JSON, want: JSON, key: str | None = "name") -> list[str]:
    """An order change alone (same items): env and containers run in order, so it matters."""
    have_names, want_names = _names(have, key), _names(want, key)
    if have_names == want_names or sorted(have_names) != sorted(want_names):
        return []
    return [f"{path} order: {', '.join(have_names)} -> {', '.join(want_names)}"]


class _Absent:
    def __repr__(self) -> str:
        return ABSENT


_NONE: Any = _Absent()


def _show(value: JSON) -> str:
    if value is _NONE:
        return ABSENT
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return errors.excerpt(text, VALUE_LIMIT)


def _union(have: Iterable[str], want: Iterable[str]) -> list[str]:
    """Keys of both, in `want`'s order then `have`'s (the config's order reads naturally)."""
    return list(dict.fromkeys([*want, *have]))


def _by_name(items: JSON) -> dict[str, JSON]:
    found = _by_key(items, "name") if isinstance(items, list) else None
    return found or {}


def _by_key(items: Sequence[JSON], key: str | None) -> dict[str, JSON] | None:
    """Items by their key's value; None when an item lacks it or two share it."""
    if key is None:
        return None
    found: dict[str, JSON] = {}
    for item in items:
        if not isinstance(item, Mapping) or key not in item or str(item[key]) in found:
            return None
        found[str(item[key])] = item
    return found


def _names(items: JSON, key: str | None) -> list[str]:
    if not isinstance(items, list) or key is None:
        return []
    return [str(i.get(key)) for i in items if isinstance(i, Mapping)]


def _mapping(value: JSON) -> Mapping[str, JSON]:
    return value if isinstance(value, Mapping) else {}


# --- per owner --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwnerDrift:
    """An owner's pods by state, and the distinct differences of its stale or failed pods."""

    owner: Owner
    pods: Mapping[State, tuple[str, ...]]
    differences: tuple[str, ...] = field(default=())

    @property
    def state(self) -> State:
        return next(state for state in STATES if self.pods.get(state))

    @property
    def drifted(self) -> bool:
        return self.state in ("missing", "stale")

    def lines(self) -> list[str]:
        """The text report: one line per owner, then its differences indented."""
        total = sum(len(names) for names in self.pods.values())
        counts = ", ".join(f"{len(self.pods[s])} {LABELS[s]}" for s in STATES if self.pods.get(s))
        head = f"[{LABELS[self.state]}] {self.owner}: {total} pod(s): {counts}"
        missing = self.pods.get("missing", ())
        if missing:
            head += f" ({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''})"
        return [head, *(f"    {line}" for line in self.differences)]

    def as_json(self) -> dict[str, JSON]:
        return {
            "kind": self.owner.kind,
            "namespace": self.owner.namespace,
            "name": self.owner.name,
            "state": self.state,
            "pods": {state: list(names) for state, names in self.pods.items()},
            "differences": list(self.differences),
        }


def by_owner(verdicts: Iterable[PodDrift]) -> list[OwnerDrift]:
    """The pods' verdicts gathered per owner, sorted by owner."""
    pods: dict[Owner, dict[State, list[str]]] = {}
    found: dict[Owner, dict[str, None]] = {}
    for verdict in verdicts:
        pods.setdefault(verdict.owner, {}).setdefault(verdict.state, []).append(verdict.name)
        found.setdefault(verdict.owner, {}).update(dict.fromkeys(verdict.differences))
    return [
        OwnerDrift(
            owner,
            {state: tuple(sorted(pods[owner][state])) for state in STATES if state in pods[owner]},
            tuple(found[owner]),
        )
        for owner in sorted(pods)
    ]
