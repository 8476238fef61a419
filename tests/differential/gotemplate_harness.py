"""Runs one template through our engine and answers in the Go oracle's reply shape.

`case(...)` builds a row of a differential table; `answers(go_oracle, row)` renders it with both
engines and compares output, or error text and partial output, exactly.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sidecar_injector import gotemplate
from sidecar_injector.gotemplate.values import Int

ORACLE_NAME = "oracle"
"""The template name the oracle parses every request under."""


def sprig_available() -> bool:
    """Whether `gotemplate.sprig` exists; once it does, sprig cases run (and fail visibly)."""
    return importlib.util.find_spec("sidecar_injector.gotemplate.sprig") is not None


def go_data(value: Any, numbers: str = "float64") -> Any:
    """JSON as Go's `encoding/json` decodes it into `interface{}` (the oracle's `numbers`)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if numbers == "int" and float(value).is_integer() and -(2**63) <= value < 2**63:
            return Int(int(value), "int64")
        return float(value)
    if isinstance(value, list):
        return [go_data(item, numbers) for item in value]
    return {key: go_data(item, numbers) for key, item in value.items()}


@dataclass(frozen=True)
class Case:
    template: str
    data: Any = None
    options: dict[str, Any] = field(default_factory=dict)

    def request(self) -> dict[str, Any]:
        return {"template": self.template, "data": self.data, **self.options}


def case(template: str, data: Any = None, **options: Any) -> Case:
    return Case(template, data, options)


def render(request: dict[str, Any]) -> dict[str, Any]:
    """Our answer to an oracle request; the compiled form and the interpreter must agree on it."""
    compiled, interpreted = both_engines(request)
    assert compiled == interpreted, "the compiled template and the interpreter disagree"
    return compiled


def both_engines(request: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(compiled, interpreted) answers to an oracle request, each over its own copy of the data
    (sprig's `set` may change it). Nondeterministic templates (`now`, `randAlpha`) are answered
    by the compiled form alone."""
    try:
        template = gotemplate.parse(
            request["template"],
            ORACLE_NAME,
            delims=(request.get("left") or "{{", request.get("right") or "}}"),
            sprig=bool(request.get("sprig", False)),
            options=tuple(request.get("options", ())),
        )
    except ValueError as err:
        answer = {"error": f"bad option: {err}", "phase": "request"}
        return answer, answer
    except gotemplate.ParseError as err:
        answer = {"error": str(err), "phase": "parse"}
        return answer, answer
    compiled = _execute(template.execute, request)
    if not template.deterministic:
        return compiled, compiled
    return compiled, _execute(template.interpret, request)


def _execute(run: Callable[[object, str | None], str], request: dict[str, Any]) -> dict[str, Any]:
    data = go_data(request.get("data"), request.get("numbers", "float64"))
    try:
        return {"output": run(data, request.get("name") or None)}
    except gotemplate.ExecError as err:
        return {"error": str(err), "phase": "exec", "partial": err.partial}


def answers(go_oracle: Any, row: Case) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ours, Go's) for one row; the test asserts they are equal."""
    request = row.request()
    if request.get("sprig") and not sprig_available():
        pytest.skip("gotemplate.sprig has not landed yet")
    expected: dict[str, Any] = go_oracle.render(**request)
    return render(request), expected


def ids(rows: list[Case]) -> list[str]:
    return [f"{i}:{row.template[:40]}" for i, row in enumerate(rows)]
