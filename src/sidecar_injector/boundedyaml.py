"""YAML from hostile sources, read with a budget: annotations, configs, rendered templates.

A YAML alias is a reference, so 200 bytes of nested aliases ("billion laughs") load in a
millisecond as shared objects and blow up later, when the value is copied, rendered or written
into a patch. Go's YAML decoder refuses such "excessive aliasing"; we refuse earlier and tighter:
after libyaml composes the node graph and before anything is constructed, one walk (memoised per
node, so it costs the unique nodes, not the expanded ones) measures how long the document would
be written out without aliases, and refuses cycles. Text without both an anchor (`&`) and an
alias (`*`) cannot alias, and skips the walk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from sidecar_injector.errors import InjectorError, Location

JSON = Any


@dataclass(frozen=True, slots=True)
class Limits:
    """How long a text may be, and how long it may become once its aliases are expanded.

    `max_expanded` counts characters of the document written out in flow style without aliases
    (a scalar its length plus a separator, a collection its brackets); a document without
    aliases never comes near 4 times its text length.
    """

    max_bytes: int
    max_expanded: int


ANNOTATION = Limits(max_bytes=64 * 1024, max_expanded=256 * 1024)
"""A pod annotation: a ProxyConfig is a few hundred bytes; Kubernetes allows 256 KiB for all."""
CONFIG = Limits(max_bytes=1024 * 1024, max_expanded=4 * 1024 * 1024)
"""The config, values and mesh inputs: 1 MiB is what one ConfigMap can hold."""


class YAMLLimitError(InjectorError):
    """YAML refused before it is used: too long, aliases that expand too far, or an alias cycle."""

    @property
    def problem(self) -> str:
        """The message with its line and column, for callers that name the source themselves."""
        where = self.location
        if where is None or where.line is None:
            return self.message
        return f"{self.message} at line {where.line}, column {where.col}"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loading, but timestamps stay the strings they are (Go's YAML-to-JSON keeps them)."""


_Loader.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda loader, node: loader.construct_scalar(node),
)


def _number(read: Any) -> Any:
    """PyYAML's resolver takes `0b_` or `0x_` for an integer that its constructor then fails
    to read with a bare ValueError; this makes it a YAML error at the scalar's line."""

    def construct(loader: Any, node: yaml.ScalarNode) -> Any:
        try:
            return read(loader, node)
        except ValueError as err:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a number YAML can read ({err})", node.start_mark
            ) from None

    return construct


for _tag, _read in (
    ("tag:yaml.org,2002:int", yaml.constructor.SafeConstructor.construct_yaml_int),
    ("tag:yaml.org,2002:float", yaml.constructor.SafeConstructor.construct_yaml_float),
):
    _Loader.add_constructor(_tag, _number(_read))


def load(text: str, *, limits: Limits, source: str) -> JSON:
    """The one document in `text`, or None for none; raises `yaml.YAMLError` for bad syntax."""
    check_size(text, limits=limits, source=source)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_aliases(node, text=text, limits=limits, source=source)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load_all(text: str, *, limits: Limits, source: str) -> list[JSON]:
    """Every document in `text`; the expansion budget is for the stream as a whole."""
    check_size(text, limits=limits, source=source)
    loader = _Loader(text)
    try:
        nodes = list(_nodes(loader))
        _check_aliases(*nodes, text=text, limits=limits, source=source)
        return [loader.construct_document(node) for node in nodes]
    finally:
        loader.dispose()


def check_size(text: str, *, limits: Limits, source: str) -> None:
    """Refuse a text longer than `limits.max_bytes` before any work is spent on it."""
    size = len(text.encode("utf-8")) if len(text) * 4 > limits.max_bytes else len(text)
    if size > limits.max_bytes:
        raise YAMLLimitError(
            f"the text is {size:,} bytes, more than the {limits.max_bytes:,} allowed",
            location=Location(source=source),
            hint="make it smaller",
        )


def _nodes(loader: yaml.SafeLoader) -> Iterator[yaml.Node]:
    while loader.check_node():
        node = loader.get_node()
        if node is not None:
            yield node


def _check_aliases(*roots: yaml.Node, text: str, limits: Limits, source: str) -> None:
    if "&" not in text or "*" not in text:
        return
    sizes: dict[int, int] = {}
    total = 0
    for root in roots:
        total += _expanded(root, sizes=sizes, limits=limits, source=source)
        if total > limits.max_expanded:
            raise _too_large(root, limits=limits, source=source)


def _expanded(root: yaml.Node, *, sizes: dict[int, int], limits: Limits, source: str) -> int:
    """The written-out length of `root`, each node counted once (post-order, no recursion)."""
    entered: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            size = sizes[key] = 2 + sum([sizes[id(child)] for child in _children(node)])
            entered.discard(key)
            if size > limits.max_expanded:
                raise _too_large(node, limits=limits, source=source)
        elif key in entered:
            raise _cycle(node, source=source)
        elif key not in sizes:
            if isinstance(node, yaml.ScalarNode):
                sizes[key] = len(node.value) + 1
                continue
            entered.add(key)
            stack.append((node, True))
            stack.extend([(child, False) for child in _children(node)])
    return sizes[id(root)]


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return [child for pair in node.value for child in pair]


def _too_large(node: yaml.Node, *, limits: Limits, source: str) -> YAMLLimitError:
    return YAMLLimitError(
        f"YAML aliases expand to more than {limits.max_expanded:,} characters "
        "(Go's YAML refuses such excessive aliasing)",
        location=_where(node, source),
        hint="write the repeated values out instead of nesting anchors and aliases",
    )


def _cycle(node: yaml.Node, *, source: str) -> YAMLLimitError:
    return YAMLLimitError(
        "a YAML alias refers to a node that contains it, so the value would be infinite",
        location=_where(node, source),
        hint="remove the alias from inside its own anchored node",
    )


def _where(node: yaml.Node, source: str) -> Location:
    mark = node.start_mark
    return Location(source=source, line=mark.line + 1, col=mark.column + 1)
