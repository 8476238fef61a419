"""sprig's list functions.

Each accepts any Go slice or array (`[]interface {}`, `[]string`, ...) and answers a fresh
`[]interface {}`. The `must` forms return Go's error; the plain forms panic with the same
text, which the template engine reports the same way, so both raise `GoError` here.
"""

from __future__ import annotations

from dataclasses import replace as alias

from .. import values
from . import cast, strings

NIL_LIST = values.Nil(values.SLICE_ANY)


def _items(value: object, *, doing: str) -> list[object]:
    """The elements of a slice or array; Go's error for any other kind."""
    kind = cast.type_kind(value)
    items = cast.list_items(value)
    if items is None:
        raise values.GoError(f"Cannot {doing} type {kind}")
    return items


@values.func("list", variadic=values.ANY, result=values.SLICE_ANY)
def make_list(*items: object) -> list[object]:
    """The arguments as a list."""
    return list(items)


@values.func("append", values.ANY, values.ANY, result=values.SLICE_ANY)
def append(seq: object, item: object) -> list[object]:
    """A copy of the list with `item` at the end."""
    return [*_items(seq, doing="push on"), item]


@values.func("prepend", values.ANY, values.ANY, result=values.SLICE_ANY)
def prepend(seq: object, item: object) -> list[object]:
    """A copy of the list with `item` at the front."""
    return [item, *_items(seq, doing="prepend on")]


@values.func("chunk", "int", values.ANY, result="[][]interface {}")
def chunk(size: int, seq: object) -> values.Slice:
    """The list cut into lists of `size` elements; Go cannot make chunks of size 0 or less."""
    items = _items(seq, doing="chunk")
    if size <= 0:
        raise values.GoError("runtime error: makeslice: len out of range")
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    return values.Slice(chunks, "[][]interface {}")


@values.func("first", values.ANY, result=values.ANY)
def first(seq: object) -> object:
    """The first element, or nil for an empty list."""
    items = _items(seq, doing="find first on")
    return items[0] if items else None


@values.func("last", values.ANY, result=values.ANY)
def last(seq: object) -> object:
    """The last element, or nil for an empty list."""
    items = _items(seq, doing="find last on")
    return items[-1] if items else None


@values.func("rest", values.ANY, result=values.SLICE_ANY)
def rest(seq: object) -> list[object] | values.Nil:
    """All but the first element; a nil list for an empty one."""
    items = _items(seq, doing="find rest on")
    return items[1:] if items else NIL_LIST


@values.func("initial", values.ANY, result=values.SLICE_ANY)
def initial(seq: object) -> list[object] | values.Nil:
    """All but the last element; a nil list for an empty one."""
    items = _items(seq, doing="find initial on")
    return items[:-1] if items else NIL_LIST


@values.func("reverse", values.ANY, result=values.SLICE_ANY)
def reverse(seq: object) -> list[object]:
    """The elements in reverse order."""
    return _items(seq, doing="find reverse on")[::-1]


@values.func("compact", values.ANY, result=values.SLICE_ANY)
def compact(seq: object) -> list[object]:
    """The non-empty elements."""
    return [item for item in _items(seq, doing="compact on") if not cast.is_empty(item)]


def _contains(haystack: list[object], needle: object) -> bool:
    return any(cast.deep_equal(needle, item) for item in haystack)


@values.func("uniq", values.ANY, result=values.SLICE_ANY)
def uniq(seq: object) -> list[object]:
    """The elements without repeats (by `reflect.DeepEqual`), first occurrence kept."""
    out: list[object] = []
    for item in _items(seq, doing="find uniq on"):
        if not _contains(out, item):
            out.append(item)
    return out


@values.func("without", values.ANY, variadic=values.ANY, result=values.SLICE_ANY)
def without(seq: object, *omit: object) -> list[object]:
    """The elements not equal to any of `omit`."""
    omitted = list(omit)
    return [item for item in _items(seq, doing="find without on") if not _contains(omitted, item)]


@values.func("has", values.ANY, values.ANY, result="bool")
def has(needle: object, haystack: object) -> bool:
    """Whether the list holds `needle`; a nil list holds nothing."""
    if haystack is None or haystack is values.NO_VALUE:
        return False
    return _contains(_items(haystack, doing="find has on"), needle)


@values.func("slice", values.ANY, variadic=values.ANY, result=values.ANY)
def slice_list(seq: object, *indices: object) -> object:
    """`seq[start:end]` of the same slice type; nil for an empty list."""
    kind = cast.type_kind(seq)
    items = cast.list_items(seq)
    if items is None:
        raise values.GoError(f"list should be type of slice or array but {kind}")
    if not items:
        return None
    start = cast.to_int64(indices[0]) if indices else 0
    end = cast.to_int64(indices[1]) if len(indices) > 1 else len(items)
    if start < 0 or end < start or end > len(items):
        raise values.GoError("reflect.Value.Slice: slice index out of bounds")
    if isinstance(seq, values.Slice):
        return values.Slice(items[start:end], seq.go_type)
    return items[start:end]


@values.func("concat", variadic=values.ANY, result=values.ANY)
def concat(*seqs: object) -> list[object] | values.Nil:
    """The elements of all the lists, in order; a nil list when there are none."""
    out: list[object] = []
    for seq in seqs:
        kind = cast.type_kind(seq)
        items = cast.list_items(seq)
        if items is None:
            raise values.GoError(f"Cannot concat type {kind} as list")
        out.extend(items)
    return out if out else NIL_LIST


@values.func("sortAlpha", values.ANY, result="[]string")
def sort_alpha(seq: object) -> values.Slice:
    """The elements as strings, sorted; a non-list gives a one-element list."""
    if cast.list_items(seq) is None:
        return values.Slice([cast.strval(seq)], "[]string")
    return values.Slice(sorted(strings.string_list(seq)), "[]string")


def _must_variant(fn: values.Func) -> list[values.Func]:
    """The function and its `must` twin, which returns the same error instead of panicking."""
    name = f"must{fn.name[0].upper()}{fn.name[1:]}"
    return [fn, alias(fn, name=name, returns_error=True)]


FUNCS: list[values.Func] = [
    make_list,
    alias(make_list, name="tuple"),
    *_must_variant(append),
    *_must_variant(alias(append, name="push")),
    *_must_variant(prepend),
    *_must_variant(chunk),
    *_must_variant(first),
    *_must_variant(last),
    *_must_variant(rest),
    *_must_variant(initial),
    *_must_variant(reverse),
    *_must_variant(compact),
    *_must_variant(uniq),
    *_must_variant(without),
    *_must_variant(has),
    *_must_variant(slice_list),
    concat,
    sort_alpha,
]
