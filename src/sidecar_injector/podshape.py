"""Whether a pod has the shape Go's `core/v1.Pod` can decode, before anything reads it.

Every step after the decision reads the pod as Kubernetes types: containers are objects, ports
are integers, annotations map strings to strings. A pod that breaks that (a list where a mapping
belongs, `containerPort: "80"`) would otherwise fail deep inside a step with a Python error and
no place. The API server decodes every pod it sends into these Go types first, so the webhook
never sees such a pod from a real cluster; users' YAML files for `kube-inject`, `explain` and
`render` are another matter. One walk over the pod, driven by `podview.TYPES`, finds the first
field of the wrong type and names it with a JSON pointer.

What Go accepts passes: unknown fields, `null` for any field, IntOrString as either, quantities
as numbers or strings, integral floats for integers (JSON has one number type). Types the table
does not describe are only checked to be objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from sidecar_injector import errors, podview

JSON = Any
Path = tuple[str | int, ...]

_ROOT: Final = {"metadata": "struct:ObjectMeta", "spec": "struct:PodSpec", "status": "any"}
_LEGACY_ROOT: Final = {
    key: f"[]{element}"
    for key, element in (
        ("initContainers", "Container"),
        ("containers", "Container"),
        ("volumes", "Volume"),
        ("imagePullSecrets", "LocalObjectReference"),
    )
}
_OVERLAY_ROOT: Final = {**_ROOT, **_LEGACY_ROOT}
_BY_JSON: Final[dict[str, dict[str, str]]] = {
    name: {field.json: field.kind for field in fields} for name, fields in podview.TYPES.items()
}
_STRICT: Final = (str,)
_LOOSE: Final = (str, int, float, bool)

_STRING: Final = 0
_BOOL: Final = 1
_INTEGER: Final = 2
_OBJECT: Final = 3
_SEQUENCE: Final = 4
_MAPPING: Final = 5
_OTHER: Final = 6


class _Kind:
    """What checking a `podview.Field` kind means: a check and its argument (the struct or
    element type, the integer or map kind)."""

    def __init__(self, check: int, argument: str) -> None:
        self.check = check
        self.argument = argument


def _kind(kind: str) -> _Kind:
    """A pointer to a scalar is checked as the scalar."""
    if kind.startswith("*"):
        kind = kind[1:]
    if kind == "string":
        return _Kind(_STRING, kind)
    if kind == "bool":
        return _Kind(_BOOL, kind)
    if kind in ("int32", "int64"):
        return _Kind(_INTEGER, kind)
    if kind.startswith(("struct:", "ptr:")):
        return _Kind(_OBJECT, kind.split(":", 1)[1])
    if kind.startswith("[]"):
        return _Kind(_SEQUENCE, kind[2:])
    if kind.startswith("map:") or kind == "quantities":
        return _Kind(_MAPPING, kind)
    return _Kind(_OTHER, kind)


_KINDS: Final = {
    kind: _kind(kind)
    for kind in {
        *(field.kind for fields in podview.TYPES.values() for field in fields),
        *_OVERLAY_ROOT.values(),
        "string",
        "int64",
    }
}
"""Every kind the table has, parsed once: a walk looks its kind up at every field."""


class PodError(errors.InjectorError):
    """A pod field whose JSON type is not the one Kubernetes gives it."""


def check(pod: JSON, *, checked_spec: object = None) -> None:
    """Raise `PodError` at the first field Go could not decode into `core/v1.Pod`.

    `checked_spec` is a spec this passed before: when `pod`'s spec is that very object, it is
    not walked again."""
    if not _is_object(pod):
        _fail((), expected="an object (v1.Pod)", found=pod)
    if checked_spec is not None and pod.get("spec") is checked_spec:
        pod = {key: value for key, value in pod.items() if key != "spec"}
    _walked(_Walk(_STRICT), pod, _ROOT)


def check_overlay(overlay: Mapping[str, JSON], *, checked: Checked | None = None) -> None:
    """Raise `PodError` for a rendered template's field that cannot merge into a Pod.

    A modern template renders `metadata` and `spec`, a 1.0 template the lists it appends
    (`containers`, `volumes`, ...). Scalars pass where Go has a string: templates write
    `- 15000` in `args`, and the output is YAML read into Go types, as `kube-inject` reads it.
    """
    _walked(_Walk(_LOOSE, checked), overlay, _OVERLAY_ROOT)


class Checked:
    """The objects walks passed, by identity and type, to be passed again without a walk: the
    blocks a `blockyaml.Memo` hands out are the very objects read before, and nobody changes
    them. Each object is held, so its id names no other; past `entries`, all are forgotten.
    Only for objects nobody changes once checked."""

    def __init__(self, entries: int = 512) -> None:
        self.entries = entries
        self._seen: dict[tuple[int, str], object] = {}

    def has(self, value: object, type_name: str) -> bool:
        return self._seen.get((id(value), type_name)) is value

    def add(self, value: object, type_name: str) -> None:
        seen = self._seen
        if len(seen) >= self.entries:
            seen.clear()
        seen[(id(value), type_name)] = value


def _walked(walk: _Walk, data: Mapping[str, JSON], kinds: dict[str, str]) -> None:
    try:
        walk.fields(_as_dict(data), kinds)
    except _Mismatch as found:
        _fail(tuple(reversed(found.path)), expected=found.expected, found=found.value)


def yaml_scalars(pod: dict[str, JSON]) -> None:
    """Turn YAML scalars into strings where Go has a string, in place, as `sigs.k8s.io/yaml`.

    `args: [15000]` or `annotations: {sidecar.istio.io/inject: true}` are JSON numbers and
    booleans once YAML is read, but Istio's kube-inject decodes YAML straight into the Go types,
    which turns them into "15000" and "true"; the webhook's JSON never gets this leniency.
    """
    if isinstance(pod, dict):
        for key, kind in _ROOT.items():
            if key in pod:
                pod[key] = _stringify(pod[key], kind)


class _Mismatch(Exception):
    """A field of the wrong type; `path` is filled in on the way out, innermost step first, so
    that a pod that fits (nearly every one) costs no path at all."""

    def __init__(self, expected: str, value: JSON) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value
        self.path: list[str | int] = []


@dataclass(frozen=True, slots=True)
class _Walk:
    """One walk over JSON against `podview.TYPES`; `strings` are the types a Go string takes."""

    strings: tuple[type, ...]
    checked: Checked | None = None

    def fields(self, data: dict[str, JSON], kinds: dict[str, str]) -> None:
        for key, value in data.items():
            kind = kinds.get(key)
            if kind is not None and value is not None:
                try:
                    self.value(value, kind)
                except _Mismatch as found:
                    found.path.append(key)
                    raise

    def value(self, value: JSON, kind: str) -> None:
        """`value` (not null) against a `podview.Field` kind."""
        parsed = _KINDS.get(kind) or _kind(kind)
        check, argument = parsed.check, parsed.argument
        if check == _STRING:
            if not isinstance(value, self.strings):
                raise _Mismatch("a string", value)
        elif check == _OBJECT:
            self.object(value, argument)
        elif check == _SEQUENCE:
            self.sequence(value, argument)
        elif check == _INTEGER:
            if not _is_integer(value):
                raise _Mismatch(f"an integer ({argument})", value)
        elif check == _BOOL:
            if not isinstance(value, bool):
                raise _Mismatch("a boolean (true or false)", value)
        elif check == _MAPPING:
            self.mapping(value, argument)
        else:
            _other(value, argument)

    def object(self, value: JSON, type_name: str) -> None:
        if not _is_object(value):
            raise _Mismatch(f"an object ({podview.go_type(type_name)})", value)
        kinds = _BY_JSON.get(type_name)
        if kinds is None:
            return
        checked = self.checked
        if checked is None:
            self.fields(_as_dict(value), kinds)
        elif not checked.has(value, type_name):
            self.fields(_as_dict(value), kinds)
            checked.add(value, type_name)

    def sequence(self, value: JSON, element: str) -> None:
        if not isinstance(value, list):
            raise _Mismatch(f"a list of {_element_name(element)}", value)
        scalar = element in ("string", "int64")
        for index, item in enumerate(value):
            try:
                if not scalar:
                    self.object(item, element)
                elif item is not None:
                    self.value(item, element)
            except _Mismatch as found:
                found.path.append(index)
                raise

    def mapping(self, value: JSON, kind: str) -> None:
        quantities = kind == "quantities"
        if not _is_object(value):
            raise _Mismatch(
                "an object of quantities" if quantities else "an object of strings", value
            )
        for key, item in _as_dict(value).items():
            if item is None:
                continue
            try:
                if quantities:
                    _quantity(item)
                elif not isinstance(item, self.strings):
                    raise _Mismatch("a string", item)
            except _Mismatch as found:
                found.path.append(key)
                raise


def _as_dict(value: Mapping[str, JSON]) -> dict[str, JSON]:
    """A JSON object as a dict, which it nearly always is already (a walk over a dict's items
    is the fast one)."""
    return value if isinstance(value, dict) else dict(value)


def _is_object(value: JSON) -> bool:
    """A JSON object: a dict nearly always, so the costly check against the ABC comes last."""
    return isinstance(value, (dict, Mapping))


def _element_name(element: str) -> str:
    scalars = {"string": "strings", "int64": "integers"}
    return scalars.get(element) or f"objects ({podview.go_type(element)})"


def _other(value: JSON, kind: str) -> None:
    if kind == "intorstr":
        if not (isinstance(value, str) or _is_integer(value)):
            raise _Mismatch("an integer or a string (IntOrString)", value)
    elif kind == "quantity":
        _quantity(value)
    elif kind == "time" and not isinstance(value, str):
        raise _Mismatch("a time as an RFC 3339 string", value)


def _quantity(value: JSON) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Mismatch("a quantity (a string such as 100m or a number)", value)


def _is_integer(value: JSON) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _fail(path: Path, *, expected: str, found: JSON) -> NoReturn:
    explain = ".".join(["pod", *(str(step) for step in path if isinstance(step, str))])
    raise PodError(
        f"expected {expected}, found {_describe(found)}",
        location=errors.Location(pointer=pointer(path)),
        hint=f"fix the pod's field as `kubectl explain {explain}` describes it",
    )


def _describe(value: JSON) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {errors.excerpt(value, limit=40)!r}"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def pointer(path: Path) -> str:
    """RFC 6901: `~` and `/` in keys are escaped (`sidecar.istio.io~1inject`)."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


def _stringify(value: JSON, kind: str) -> JSON:
    if value is None:
        return value
    parsed = _KINDS.get(kind) or _kind(kind)
    check, argument = parsed.check, parsed.argument
    if check == _STRING:
        return _go_string(value)
    if check == _OBJECT:
        return _stringify_fields(value, argument)
    if check == _SEQUENCE and isinstance(value, list):
        if argument == "string":
            return ["" if item is None else _go_string(item) for item in value]
        return [_stringify_fields(item, argument) for item in value]
    if check == _MAPPING and argument != "quantities" and isinstance(value, dict):
        return {_go_string(key): _go_string(item) for key, item in value.items()}
    return value


def _stringify_fields(value: JSON, type_name: str) -> JSON:
    kinds = _BY_JSON.get(type_name)
    if kinds is not None and isinstance(value, dict):
        for key, item in value.items():
            if key in kinds:
                value[key] = _stringify(item, kinds[key])
    return value


def _go_string(value: JSON) -> JSON:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value
