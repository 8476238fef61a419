"""Istio's RunTemplate rendering step: pick the templates, execute them, parse their YAML.

A modern template renders a partial Pod (`metadata` + `spec`) that merge.py applies by
strategic merge; a legacy 1.0 template renders a `SidecarInjectionSpec` that is appended.
Errors name the template and the place: line:col in the template for execution errors, the
line of the rendered text for YAML errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from sidecar_injector import blockyaml, boundedyaml, config, gotemplate, podshape
from sidecar_injector.errors import InjectorError, Location, excerpt

JSON = Any
TEMPLATES_ANNOTATION = "inject.istio.io/templates"
RENDER_HINT = "`sidecar-injector render -f POD.yaml` shows what the template renders"
PARSED_CACHE_SIZE = 64
PARSED_CACHE_MAX_TEXT = 256 * 1024
OUTPUT_LIMITS = boundedyaml.Limits(max_bytes=1024 * 1024, max_expanded=4 * 1024 * 1024)
"""What one template may render: Istio's own render a few KiB for any pod."""


class RenderError(InjectorError):
    """A template that fails for this pod or renders something that is not a pod overlay."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """One executed template: its name, its text output and the parsed overlay.

    The overlay may be shared with other pods' (the parses and blocks of recent texts are
    kept): it is read, never changed. The merge builds the injected pod of new objects and
    holds none of the overlay's (`tests/unit/test_render_shared.py`)."""

    name: str
    text: str
    overlay: Mapping[str, JSON]


def select_templates(
    annotations: Mapping[str, str], *, injection: config.InjectionConfig
) -> tuple[str, ...]:
    """Istio's selectTemplates: the pod's `inject.istio.io/templates`, else the defaults.

    Aliases expand once (not recursively); duplicates are kept and applied again.
    """
    requested = annotations.get(TEMPLATES_ANNOTATION)
    if injection.format == "legacy":
        return tuple(injection.templates)
    names = (
        [n.strip() for n in requested.split(",")]
        if requested is not None
        else list(injection.default_templates)
    )
    expanded: list[str] = []
    for name in names:
        expanded.extend(injection.aliases.get(name, (name,)))
    for name in expanded:
        if name not in injection.templates:
            raise RenderError(
                f'requested template "{excerpt(name)}" not found; have '
                f"{', '.join(sorted(injection.templates))}",
                location=Location(pointer="/metadata/annotations/inject.istio.io~1templates"),
                hint="name templates that the injection config defines",
            )
    return tuple(expanded)


def render(
    data: object, *, injection: config.InjectionConfig, names: Sequence[str]
) -> tuple[Rendered, ...]:
    """Execute each named template over the same data, in order."""
    cache: dict[str, Rendered] = {}
    out: list[Rendered] = []
    for name in names:
        if name not in cache:
            cache[name] = render_one(data, injection=injection, name=name)
        out.append(cache[name])
    return tuple(out)


def render_one(data: object, *, injection: config.InjectionConfig, name: str) -> Rendered:
    """Execute one template and parse its output as a mapping."""
    template = injection.templates[name]
    try:
        text = template.execute(data)
    except gotemplate.ExecError as err:
        raise RenderError(
            f'template "{name}" failed: {err}',
            hint="fix the template, or the pod annotation or value it reads",
        ) from err
    if len(text) <= PARSED_CACHE_MAX_TEXT:
        return Rendered(name, text, _parse_cached(text, name))
    return Rendered(name, text, _parse(text, name=name))


_BLOCKS = blockyaml.Memo()
"""The blocks of recent texts: a new pod's text differs from the last one's in a line or two."""
_CHECKED = podshape.Checked()
"""The parts of recent overlays that passed `podshape.check_overlay`: `_BLOCKS`' blocks."""


@lru_cache(maxsize=PARSED_CACHE_SIZE)
def _parse_cached(text: str, name: str) -> Mapping[str, JSON]:
    """Pods of one workload render the same text: parsing YAML costs more than executing the
    template, so the last texts' parses are kept, and the blocks of every text read (what is
    kept is shared, see `Rendered`)."""
    return _parse(text, name=name, memo=_BLOCKS, checked=_CHECKED)


def _load(text: str, *, source: str, memo: blockyaml.Memo | None) -> JSON:
    """The block YAML templates render is read by blockyaml, several times faster; anything
    else (and every error, alias and budget) by PyYAML."""
    boundedyaml.check_size(text, limits=OUTPUT_LIMITS, source=source)
    try:
        return blockyaml.load(text, memo)
    except blockyaml.Unsupported:
        return boundedyaml.load(text, limits=OUTPUT_LIMITS, source=source)


def _parse(
    text: str,
    *,
    name: str,
    memo: blockyaml.Memo | None = None,
    checked: podshape.Checked | None = None,
) -> Mapping[str, JSON]:
    source = f"rendered template {name!r}"
    try:
        overlay = _load(text, source=source, memo=memo)
    except boundedyaml.YAMLLimitError as err:
        raise RenderError(
            f'template "{name}" rendered YAML that is refused: {err.message}',
            location=err.location,
            hint="check what the template inserts from the pod, its annotations and the values",
        ) from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise RenderError(
            f'template "{name}" rendered invalid YAML: {problem}{_quote_line(text, line)}',
            location=Location(source=source, line=line),
            hint=RENDER_HINT,
        ) from err
    if overlay is None:
        return {}
    if not isinstance(overlay, (dict, Mapping)):
        raise RenderError(
            f'template "{name}" rendered a {type(overlay).__name__}, not a mapping',
            location=Location(source=f"rendered template {name!r}", line=1),
            hint=RENDER_HINT,
        )
    try:
        podshape.check_overlay(overlay, checked=checked)
    except podshape.PodError as err:
        pointer = err.location.pointer if err.location else None
        line = _line_of(text, pointer)
        raise RenderError(
            f'template "{name}" rendered a field of the wrong type: {err.message}'
            f"{_quote_line(text, line)}",
            location=Location(source=f"rendered template {name!r}", line=line, pointer=pointer),
            hint=RENDER_HINT,
        ) from err
    return overlay


def _line_of(text: str, pointer: str | None) -> int | None:
    """The line (1-based) of the rendered text where the value at `pointer` starts."""
    if not pointer:
        return None
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for token in pointer.split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == key), None)
        elif isinstance(node, yaml.SequenceNode) and key.isdigit() and int(key) < len(node.value):
            node = node.value[int(key)]
        else:
            node = None
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


def _quote_line(text: str, line: int | None) -> str:
    if line is None:
        return ""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    return f" near {excerpt(lines[line - 1].strip())!r}"
