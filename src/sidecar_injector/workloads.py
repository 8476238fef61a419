"""Kubernetes manifests in, manifests with sidecars out: the document handling of `kube-inject`.

A YAML stream is split as Kubernetes splits it (lines starting with `---`); each document of a
workload kind has its pod template handed to an injector and is written back the way
`istioctl kube-inject` writes it: re-marshalled from Kubernetes' Go types (sorted keys, the
zero-value fields Go prints), `---` after every document. Any other document is copied byte for
byte, comments included. Everything here is pure: text in, text and warnings out, so the CLI,
tests and the bench drive it alike, and the injector is any callable (the real pipeline, an
uninjector, or a fake in tests).
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from sidecar_injector import config, decision, errors, inject, merge, podshape, templatedata

JSON = Any

Era = Literal["legacy", "modern"]
"""Which Kubernetes Go types the output imitates: 1.10 (Istio 1.0, `creationTimestamp: null`
in every object meta) or today's."""

Skip = Literal["hostNetwork", "disabled"]

WORKLOAD_KINDS = frozenset(
    {
        "Pod",
        "Deployment",
        "DaemonSet",
        "ReplicaSet",
        "StatefulSet",
        "Job",
        "CronJob",
        "ReplicationController",
        "DeploymentConfig",
    }
)
LIST_KIND = "List"


class WorkloadError(errors.InjectorError):
    """A manifest that kube-inject cannot read, or a pod in it that cannot be injected."""


@dataclass(frozen=True, slots=True)
class PodTemplate:
    """One pod as the injector sees it, with the workload around it (Istio's DeploymentMeta)."""

    pod: dict[str, JSON]
    kind: str
    api_version: str
    name: str
    namespace: str
    document: int

    @property
    def title(self) -> str:
        """`Deployment "ns/name"`, the way Istio names a resource in its messages."""
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f'{self.kind} "{name}"' if self.kind else f'"{name}"'


@dataclass(frozen=True, slots=True)
class Injected:
    """An injector's answer: the pod to write back, and why it was left alone if it was."""

    pod: Mapping[str, JSON]
    skipped: Skip | None = None
    warnings: tuple[str, ...] = ()


Injector = Callable[[PodTemplate], Injected]


@dataclass(frozen=True, slots=True)
class Output:
    """The stream to print, and the warnings Istio prints on stderr after it."""

    text: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RawDocument:
    """One document of a stream as written: its text, first line (1-based) and index (1-based)."""

    text: str
    line: int
    index: int


def split_documents(text: str) -> list[RawDocument]:
    """Kubernetes' YAMLReader split: a line starting with `---` ends a document."""
    documents: list[RawDocument] = []
    lines: list[str] = []
    start = 1
    for number, line in enumerate(_LINES.findall(text), start=1):
        if line.startswith("---") and _is_separator(line):
            if lines:
                documents.append(RawDocument("".join(lines), start, len(documents) + 1))
            lines, start = [], number + 1
        else:
            lines.append(line)
    if lines and "".join(lines).strip():
        documents.append(RawDocument("".join(lines), start, len(documents) + 1))
    return documents


_LINES = re.compile(r"[^\n]*\n|[^\n]+\Z")
"""Lines end at `\n` only, as for Go's reader (not at `\u2028` and the like)."""


def _is_separator(line: str) -> bool:
    rest = line[3:].strip()
    return not rest or rest.startswith("#")


class _Loader(yaml.CSafeLoader):
    """Safe loading, but timestamps stay the strings they are (Go's YAML-to-JSON keeps them),
    and a key written twice in one mapping is an error, as kubectl's strict decoding has it:
    PyYAML would keep the last value, so 14 objects without `---` would read as one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _refuse_duplicate_keys(node)
        return super().construct_mapping(node, deep=deep)


def _refuse_duplicate_keys(node: yaml.MappingNode) -> None:
    """Keys written in the mapping itself; `<<` merges may be overridden, as in YAML 1.1."""
    seen: dict[tuple[str, str], yaml.Node] = {}
    for key, _ in node.value:
        if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
            continue
        first = seen.setdefault((key.tag, key.value), key)
        if first is not key:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key.value!r} is already set in this mapping (at line"
                f" {first.start_mark.line + 1}); a missing `---` between objects looks like this",
                key.start_mark,
            )


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
)


def load_yaml(text: str) -> JSON:
    """YAML as Go's YAML-to-JSON reads it (`sigs.k8s.io/yaml`): timestamps stay strings."""
    return yaml.load(text, Loader=_Loader)


def load_document(document: RawDocument, *, source: str) -> JSON:
    """Parse one document; a syntax error names the file, the line in the file and the document."""
    try:
        return load_yaml(document.text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = document.line + mark.line if mark is not None else document.line
        col = mark.column + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise WorkloadError(
            f"YAML syntax error: {problem}",
            location=errors.Location(source=source, line=line, col=col, document=document.index),
            hint="fix the YAML and run again",
        ) from None


def inject_stream(
    text: str,
    *,
    inject: Injector,
    era: Era = "modern",
    source: str = "-",
    zero_status: bool = True,
) -> Output:
    """Every document of `text`, its pods passed through `inject`, as `kube-inject` prints it;
    `zero_status=False` leaves out a status that is only Go's zero values."""
    parts: list[str] = []
    warnings: list[str] = []
    for document in split_documents(text):
        obj = load_document(document, source=source)
        if not _is_workload_or_list(obj, document=document, source=source):
            parts.append(document.text if document.text.endswith("\n") else document.text + "\n")
        else:
            where = errors.Location(source=source, document=document.index)
            resource = _inject_resource(obj, inject=inject, era=era, where=where, warnings=warnings)
            if not zero_status:
                _drop_zero_status(resource)
            parts.append(dump(resource))
        parts.append("---\n")
    return Output("".join(parts), tuple(warnings))


def kube_inject(text: str, *, settings: config.Config, source: str = "-") -> Output:
    """`istioctl kube-inject` in local mode: the real pipeline over every workload of a stream."""
    era: Era = "legacy" if settings.injection.format == "legacy" else "modern"
    return inject_stream(text, inject=pipeline(settings), era=era, source=source)


def uninject_stream(text: str, *, source: str = "-") -> Output:
    """`uninject`: the sidecars the status annotation lists taken out of every pod template.
    The all-zero status kube-inject's Go re-marshalling writes (`replicas: 0`, ...) is left out
    too, so uninject(kube-inject(x)) gives x back as Go prints it."""

    def strip(template: PodTemplate) -> Injected:
        return Injected(merge.uninject(template.pod))

    return inject_stream(text, inject=strip, source=source, zero_status=False)


def _drop_zero_status(resource: dict[str, JSON]) -> None:
    """A status of zero values says nothing (the cluster writes status): leave it out."""
    if resource.get("kind") == LIST_KIND:
        for item in resource.get("items") or []:
            if isinstance(item, dict):
                _drop_zero_status(item)
        return
    status = resource.get("status")
    if isinstance(status, dict) and all(
        value in (0, "", None, {}, []) for value in status.values()
    ):
        del resource["status"]


def kube_inject_settings(settings: config.Config) -> config.Config:
    """Local mode as istioctl runs it (§7.2): policy enabled, no selectors, no aliases, no
    injected annotations, default template `sidecar`; the file's own values of those are ignored."""
    injection = dataclasses.replace(
        settings.injection,
        policy="enabled",
        never_inject_selector=(),
        always_inject_selector=(),
        injected_annotations={},
        aliases={},
        default_templates=("sidecar",),
    )
    return dataclasses.replace(settings, injection=injection)


def pipeline(settings: config.Config) -> Injector:
    """An injector over `inject.inject_pod` with kube-inject's settings and skip rules."""
    local = kube_inject_settings(settings)
    legacy = local.injection.format == "legacy"

    def run(template: PodTemplate) -> Injected:
        pod = template.pod
        hidden = _hide_inject_choice(pod) if legacy else {}
        result = inject.inject_pod(
            pod,
            namespace=str(pod["metadata"].get("namespace") or ""),
            config=local,
            workload=_workload(template),
        )
        answer: decision.Decision = result.decision
        out = dict(result.pod) if answer.inject else template.pod
        _restore_inject_choice(out, hidden)
        warnings = tuple(dict.fromkeys((*answer.warnings, *result.warnings)))
        if answer.inject:
            return Injected(out, warnings=warnings)
        skipped: Skip = "hostNetwork" if answer.reason == "hostNetwork" else "disabled"
        return Injected(out, skipped=skipped, warnings=warnings)

    return run


def render_pods(
    text: str, *, settings: config.Config, source: str = "-"
) -> Iterator[tuple[PodTemplate, inject.Injected]]:
    """Each pod of a stream with the pipeline's result, whose `rendered` holds the template output
    (empty when the pod is not injected); for template authors, `sidecar-injector render`."""
    local = kube_inject_settings(settings)
    for template in iter_pod_templates(text, source=source):
        try:
            result = inject.inject_pod(
                template.pod,
                namespace=str(template.pod["metadata"].get("namespace") or ""),
                config=local,
                workload=_workload(template),
            )
        except errors.InjectorError as err:
            raise _located(err, template, source=source) from err
        yield template, result


def _workload(template: PodTemplate) -> templatedata.WorkloadMeta | None:
    """kube-inject's DeploymentMeta and TypeMeta: the resource itself; a Pod's owner as usual."""
    if template.kind == "Pod":
        return None
    return templatedata.WorkloadMeta(
        template.name, template.namespace, template.kind, template.api_version
    )


def _hide_inject_choice(pod: dict[str, JSON]) -> dict[str, dict[str, str]]:
    """Istio 1.0's kube-inject never read `sidecar.istio.io/inject`: only hostNetwork skipped."""
    hidden: dict[str, dict[str, str]] = {}
    for field_name in ("labels", "annotations"):
        values = pod["metadata"].get(field_name)
        if isinstance(values, dict) and decision.INJECT_KEY in values:
            hidden[field_name] = {decision.INJECT_KEY: values.pop(decision.INJECT_KEY)}
    return hidden


def _restore_inject_choice(pod: dict[str, JSON], hidden: Mapping[str, Mapping[str, str]]) -> None:
    metadata = pod.setdefault("metadata", {})
    for field_name, values in hidden.items():
        metadata.setdefault(field_name, {}).update(values)


def iter_pod_templates(text: str, *, source: str = "-") -> Iterator[PodTemplate]:
    """The pods of a stream, in order, without writing anything (for `explain` and `render`)."""
    found: list[PodTemplate] = []

    def collect(template: PodTemplate) -> Injected:
        found.append(template)
        return Injected(template.pod)

    for document in split_documents(text):
        obj = load_document(document, source=source)
        if _is_workload_or_list(obj, document=document, source=source):
            where = errors.Location(source=source, document=document.index)
            _inject_resource(obj, inject=collect, era="modern", where=where, warnings=[])
            yield from found
            found.clear()


def _is_workload_or_list(obj: JSON, *, document: RawDocument, source: str) -> bool:
    if obj is None:
        return False
    if not isinstance(obj, dict):
        raise WorkloadError(
            f"expected a Kubernetes object (a mapping), found a {type(obj).__name__}",
            location=errors.Location(source=source, line=document.line, document=document.index),
            hint="each document must be one object with apiVersion and kind",
        )
    kind = obj.get("kind")
    if not isinstance(kind, str) or not kind:
        raise WorkloadError(
            "the object has no kind",
            location=errors.Location(source=source, line=document.line, document=document.index),
            hint="give every object its apiVersion and kind",
        )
    return kind in WORKLOAD_KINDS or kind == LIST_KIND


def _inject_resource(
    obj: dict[str, JSON],
    *,
    inject: Injector,
    era: Era,
    where: errors.Location,
    warnings: list[str],
) -> dict[str, JSON]:
    if obj.get("kind") == LIST_KIND:
        return _inject_list(obj, inject=inject, era=era, where=where, warnings=warnings)
    resource: dict[str, JSON] = drop_nulls(obj)
    template = _pod_template(resource, where=where)
    answer = _call(inject, template, where=where)
    if answer.skipped is not None:
        warnings.append(skip_warning(template, answer.skipped))
    warnings.extend(f"{template.title}: {text}" for text in answer.warnings)
    _put_pod(resource, drop_nulls(answer.pod))
    add_go_zero_values(resource, era=era)
    return resource


def _inject_list(
    obj: dict[str, JSON],
    *,
    inject: Injector,
    era: Era,
    where: errors.Location,
    warnings: list[str],
) -> dict[str, JSON]:
    items = obj.get("items") or []
    if not isinstance(items, list):
        raise WorkloadError(
            "the List's items is not a list", location=where, hint="write items as a YAML list"
        )
    out: list[JSON] = []
    for index, item in enumerate(items):
        here = errors.Location(where.source, document=where.document, pointer=f"/items/{index}")
        kind = item.get("kind") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not kind:
            raise WorkloadError(
                "a List item has no kind",
                location=here,
                hint="give every item of the List its apiVersion and kind",
            )
        if kind in WORKLOAD_KINDS or kind == LIST_KIND:
            out.append(
                _inject_resource(item, inject=inject, era=era, where=here, warnings=warnings)
            )
        else:
            out.append(item)
    listed = {key: value for key, value in obj.items() if value is not None}
    listed["items"] = out
    if not isinstance(listed.get("metadata"), dict):
        listed["metadata"] = {}
    return listed


def _call(inject: Injector, template: PodTemplate, *, where: errors.Location) -> Injected:
    try:
        return inject(template)
    except errors.InjectorError as err:
        raise _located(err, template, source=where.source) from err


def _located(
    err: errors.InjectorError, template: PodTemplate, *, source: str | None
) -> WorkloadError:
    """Injection errors gain the document and workload, so one line says where to look."""
    if isinstance(err, WorkloadError):
        return err
    return WorkloadError(
        f"{template.title}: {err}", location=errors.Location(source, document=template.document)
    )


def skip_warning(template: PodTemplate, skipped: Skip) -> str:
    """Istio's wording, which scripts grep for."""
    why = (
        "has host networking enabled"
        if skipped == "hostNetwork"
        else "has sidecar injection disabled"
    )
    return f"===> Skipping injection because {template.title} {why}"


def _pod_template(resource: dict[str, JSON], *, where: errors.Location) -> PodTemplate:
    kind = resource["kind"]
    meta = resource.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    metadata, spec = _pod_parts(resource, where=where)
    if not spec.get("containers") and not spec.get("initContainers"):
        raise WorkloadError(
            "the pod has no containers, and the API server refuses a pod without any",
            location=errors.Location(
                where.source,
                document=where.document,
                pointer=(where.pointer or "")
                + _POD_SPEC_POINTERS.get(kind, "/spec/template/spec")
                + "/containers",
            ),
            hint="give it its containers",
        )
    pod = {"metadata": copy.deepcopy(metadata), "spec": copy.deepcopy(spec)}
    podshape.yaml_scalars(pod)
    return PodTemplate(
        pod=pod,
        kind=kind,
        api_version=str(resource.get("apiVersion") or ""),
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or ""),
        document=where.document or 0,
    )


_POD_SPEC_POINTERS = {"Pod": "/spec", "CronJob": "/spec/jobTemplate/spec/template/spec"}


def _pod_parts(
    resource: dict[str, JSON], *, where: errors.Location
) -> tuple[dict[str, JSON], dict[str, JSON]]:
    """Where the pod's metadata and spec live; a CronJob's metadata is its jobTemplate's."""
    kind = resource["kind"]
    if kind == "Pod":
        return _mapping(resource, "metadata", where=where), _mapping(resource, "spec", where=where)
    spec = _mapping(resource, "spec", where=where, pointer="/spec")
    if kind == "CronJob":
        job = _required(spec, "jobTemplate", where=where, pointer="/spec/jobTemplate")
        job_spec = _required(job, "spec", where=where, pointer="/spec/jobTemplate/spec")
        template = _required(
            job_spec, "template", where=where, pointer="/spec/jobTemplate/spec/template"
        )
        return _mapping(job, "metadata", where=where), _mapping(template, "spec", where=where)
    template = _required(spec, "template", where=where, pointer="/spec/template")
    return _mapping(template, "metadata", where=where), _mapping(template, "spec", where=where)


def _put_pod(resource: dict[str, JSON], pod: Mapping[str, JSON]) -> None:
    """`pod` becomes part of `resource`: callers pass a copy (`drop_nulls` makes one)."""
    metadata, spec = _pod_parts(resource, where=errors.Location())
    metadata.clear()
    metadata.update(pod.get("metadata") or {})
    spec.clear()
    spec.update(pod.get("spec") or {})


def _mapping(
    parent: dict[str, JSON], key: str, *, where: errors.Location, pointer: str | None = None
) -> dict[str, JSON]:
    """The mapping at `key`, created empty when absent (Go's zero struct)."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    if not isinstance(value, dict):
        raise WorkloadError(
            f"{key} is a {type(value).__name__}, not a mapping",
            location=errors.Location(where.source, document=where.document, pointer=pointer),
            hint=f"write {key} as a YAML mapping",
        )
    return value


def _required(
    parent: dict[str, JSON], key: str, *, where: errors.Location, pointer: str
) -> dict[str, JSON]:
    if parent.get(key) is None:
        base = where.pointer or ""
        raise WorkloadError(
            f"{pointer.lstrip('/').replace('/', '.')} is required value",
            location=errors.Location(where.source, document=where.document, pointer=base + pointer),
            hint="a workload needs a pod template to inject into",
        )
    return _mapping(parent, key, where=where, pointer=pointer)


def drop_nulls(value: JSON) -> JSON:
    """A copy without `key: null`: Go decodes null into the zero value, which it does not print."""
    if isinstance(value, dict):
        return {key: drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [drop_nulls(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class _GoShape:
    """What Go's typed re-marshalling adds to one kind: struct fields printed even when empty."""

    spec: Mapping[str, JSON] = field(default_factory=dict)
    status: Mapping[str, JSON] = field(default_factory=dict)
    omitted_when_zero: tuple[str, ...] = ("paused", "minReadySeconds")


_SHAPES: Mapping[str, _GoShape] = {
    "Pod": _GoShape(omitted_when_zero=()),
    "Deployment": _GoShape(spec={"strategy": {}}),
    "DaemonSet": _GoShape(
        spec={"updateStrategy": {}},
        status={
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        },
    ),
    "ReplicaSet": _GoShape(status={"replicas": 0}),
    "StatefulSet": _GoShape(spec={"updateStrategy": {}}, status={"replicas": 0}),
    "Job": _GoShape(omitted_when_zero=()),
    "CronJob": _GoShape(omitted_when_zero=()),
    "ReplicationController": _GoShape(status={"replicas": 0}),
    "DeploymentConfig": _GoShape(
        spec={"strategy": {}, "test": False, "replicas": 0},
        status={
            key: 0
            for key in (
                "latestVersion",
                "observedGeneration",
                "replicas",
                "updatedReplicas",
                "availableReplicas",
                "unavailableReplicas",
            )
        },
    ),
}
_MODERN_STATUS: Mapping[str, Mapping[str, JSON]] = {"StatefulSet": {"availableReplicas": 0}}
_POD_SPEC_OMITTED_FALSE = ("hostNetwork", "hostPID", "hostIPC")
_CONTAINER_OMITTED_FALSE = ("stdin", "stdinOnce", "tty")
_CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")
_CONTAINER_STRING_LISTS = ("command", "args")


def add_go_zero_values(resource: dict[str, JSON], *, era: Era) -> None:
    """Make `resource` print as Go's types print it: `strategy: {}`, `status: {}`, ..."""
    kind = resource["kind"]
    shape = _SHAPES[kind]
    _object_meta(resource, era=era)
    spec = resource.setdefault("spec", {})
    for key in shape.omitted_when_zero:
        if spec.get(key) in (False, 0):
            del spec[key]
    for key, zero in shape.spec.items():
        spec.setdefault(key, copy.deepcopy(zero))
    if kind == "DeploymentConfig":
        spec["strategy"].setdefault("resources", {})
    status = resource.setdefault("status", {})
    for key, zero in {
        **shape.status,
        **(_MODERN_STATUS.get(kind, {}) if era == "modern" else {}),
    }.items():
        status.setdefault(key, zero)
    _pod_template_zero_values(resource, era=era)


def _pod_template_zero_values(resource: dict[str, JSON], *, era: Era) -> None:
    kind = resource["kind"]
    if kind == "Pod":
        _pod_spec(resource["spec"], era=era)
        return
    spec = resource["spec"]
    if kind == "CronJob":
        job = spec["jobTemplate"]
        _object_meta(job, era=era)
        spec = job.setdefault("spec", {})
    template = spec["template"]
    _object_meta(template, era=era)
    _pod_spec(template.setdefault("spec", {}), era=era)


def _object_meta(holder: dict[str, JSON], *, era: Era) -> None:
    metadata = holder.setdefault("metadata", {})
    if era == "legacy":
        metadata.setdefault("creationTimestamp", None)


_SECURITY_CONTEXT_1_10 = frozenset(
    {
        "capabilities",
        "privileged",
        "seLinuxOptions",
        "runAsUser",
        "runAsGroup",
        "runAsNonRoot",
        "readOnlyRootFilesystem",
        "allowPrivilegeEscalation",
    }
)
"""A container's SecurityContext in Kubernetes 1.10's Go types: any other key is dropped."""


def _pod_spec(spec: dict[str, JSON], *, era: Era) -> None:
    spec.setdefault("containers", None)
    for key in _POD_SPEC_OMITTED_FALSE:
        if spec.get(key) is False:
            del spec[key]
    for list_key in _CONTAINER_LISTS:
        for container in spec.get(list_key) or ():
            if isinstance(container, dict):
                container.setdefault("resources", {})
                _go_strings(container)
                context = container.get("securityContext")
                if era == "legacy" and isinstance(context, dict):
                    for key in set(context) - _SECURITY_CONTEXT_1_10:
                        del context[key]
                for key in _CONTAINER_OMITTED_FALSE:
                    if container.get(key) is False:
                        del container[key]


def _go_strings(container: dict[str, JSON]) -> None:
    """Scalars where Go has `string`: a YAML `- 15000` or `- ` in `args` reads as "15000" or ""."""
    for key in _CONTAINER_STRING_LISTS:
        if isinstance(container.get(key), list):
            container[key] = [_go_string(item) for item in container[key]]
    for env in container.get("env") or ():
        if isinstance(env, dict) and "value" in env:
            env["value"] = _go_string(env["value"])


def _go_string(value: JSON) -> JSON:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class _Dumper(yaml.CSafeDumper):
    """sigs.k8s.io/yaml's look: sorted keys, block style, multi-line strings as `|` blocks."""


def _represent_str(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump(obj: JSON) -> str:
    """One object as YAML, the way `kube-inject` prints re-marshalled objects.

    The same text as PyYAML's block style with sorted keys, written directly: PyYAML's Python
    representer costs more than the whole rest of the document handling. Scalars are still
    quoted by PyYAML (and remembered); anything unusual goes through PyYAML entirely.
    """
    if not isinstance(obj, dict) or not obj:
        return _pyyaml_dump(obj)
    out: list[str] = []
    try:
        _emit_mapping(obj, 0, out)
    except _Unusual:
        return _pyyaml_dump(obj)
    return "".join(out)


def _pyyaml_dump(obj: JSON) -> str:
    return yaml.dump(
        obj,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
    )


class _Unusual(Exception):
    """A key or value whose YAML form this writer does not reproduce; PyYAML writes it."""


_SIMPLE_KEY_LIMIT = 128
_SCALARS: dict[tuple[type, JSON], tuple[str, ...]] = {}
_SCALARS_LIMIT = 50_000
_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")
_KEY_BREAKS = ("\n", "\r", *_OTHER_BREAKS)


def _scalar(value: JSON) -> tuple[str, ...]:
    """A scalar's lines as PyYAML writes it as a sequence item at column 0 (after `- `)."""
    key = (type(value), value)
    found = _SCALARS.get(key)
    if found is None:
        text = _pyyaml_dump([value])
        lines = text[2:].rstrip("\n").split("\n")
        found = tuple(lines)
        odd_break = any(mark in text for mark in _OTHER_BREAKS)
        if odd_break or (len(lines) > 1 and lines[0] not in ("|", "|-")):
            raise _Unusual(value)
        if len(_SCALARS) >= _SCALARS_LIMIT:
            _SCALARS.clear()
        _SCALARS[key] = found
    return found


def _write_scalar(value: JSON, column: int, out: list[str]) -> None:
    """The scalar after `key: ` or `- `; a literal block's lines indented below its owner."""
    lines = _scalar(value)
    out.append(lines[0])
    out.append("\n")
    pad = " " * column
    for line in lines[1:]:
        out.append(pad + line if line else line)
        out.append("\n")


def _key(key: JSON) -> str:
    if (
        not isinstance(key, str)
        or len(key) >= _SIMPLE_KEY_LIMIT
        or any(mark in key for mark in _KEY_BREAKS)
    ):
        raise _Unusual(key)
    lines = _scalar(key)
    if len(lines) != 1:
        raise _Unusual(key)
    return lines[0]


def _emit_mapping(
    mapping: dict[str, JSON], column: int, out: list[str], *, first: str = ""
) -> None:
    """Keys sorted; `first` is what stands before the first key (`- ` of a sequence item)."""
    pad = " " * column
    lead = first or pad
    for key in sorted(mapping):
        value = mapping[key]
        out.append(lead + _key(key) + ":")
        lead = pad
        if isinstance(value, dict) and value:
            out.append("\n")
            _emit_mapping(value, column + 2, out)
        elif isinstance(value, list) and value:
            out.append("\n")
            _emit_sequence(value, column, out)
        elif isinstance(value, dict | list):
            out.append(" {}\n" if isinstance(value, dict) else " []\n")
        else:
            out.append(" ")
            _write_scalar(value, column, out)


def _emit_sequence(items: list[JSON], column: int, out: list[str], *, first: str = "") -> None:
    """Items start at the owner's column (PyYAML's indentless sequences in mappings)."""
    pad = " " * column
    lead = first or pad
    for item in items:
        if isinstance(item, dict) and item:
            _emit_mapping(item, column + 2, out, first=lead + "- ")
        elif isinstance(item, list) and item:
            _emit_sequence(item, column + 2, out, first=lead + "- ")
        elif isinstance(item, dict | list):
            out.append(lead + ("- {}\n" if isinstance(item, dict) else "- []\n"))
        else:
            out.append(lead + "- ")
            _write_scalar(item, column, out)
        lead = pad
