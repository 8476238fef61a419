"""The admission response's JSON patch (RFC 6902): from the raw request pod to the injected pod.

The diff is taken against the pod exactly as the API server sent it, so fields this project does
not model (newer API fields, unknown extensions) are never touched and always survive; Istio
diffs against its own typed re-marshalling and can lose them (reference §6.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

import jsonpatch

JSON = Any


PatchOp = TypedDict(
    "PatchOp",
    {
        "op": Literal["add", "remove", "replace", "move", "copy", "test"],
        "path": str,
        "value": NotRequired[JSON],
        "from": NotRequired[str],
    },
)
"""One RFC 6902 operation as it goes on the wire (functional form: `from` is a keyword)."""


def make_patch(original: Mapping[str, JSON], injected: Mapping[str, JSON]) -> list[PatchOp]:
    """Operations that turn `original` into `injected`; applying them gives `injected` exactly."""
    ops = jsonpatch.make_patch(original, injected).patch
    return cast(list[PatchOp], ops)


def apply_patch(document: Mapping[str, JSON], ops: list[PatchOp]) -> JSON:
    """`document` with `ops` applied (not in place); for tests, kube-inject and `explain`."""
    return jsonpatch.apply_patch(document, ops, in_place=False)
