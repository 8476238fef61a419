"""Compiled templates against the interpreter, their reference (see gotemplate/codegen.py).

Both engines must write the same output, or raise the same error (Go's text: template name,
line:col, node) after the same partial output, on every corpus the project has: the Go oracle's
differential tables (run here without Go; `harness.render` also checks both engines whenever the
oracle runs), the Istio kit's configs on every kit case, the embedded default on the canonical
pods, and random templates from the property tests' generator. Each engine gets its own copy
of the data.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidecar_injector import config, gotemplate, inject, rehearsal, workloads
from sidecar_injector.errors import InjectorError
from sidecar_injector.gotemplate import codegen
from tests.conftest import KIT, NO_KIT, SHARED
from tests.differential import gotemplate_harness as harness
from tests.differential import test_gotemplate_control as control
from tests.differential import test_gotemplate_funcs as funcs
from tests.differential import test_gotemplate_sprig as sprig
from tests.differential import test_gotemplate_sprig_engine as sprig_engine
from tests.differential import test_gotemplate_syntax as syntax
from tests.golden import test_inject_kit as kit
from tests.property import test_gotemplate_random as random_templates

Request = dict[str, Any]


def _oracle_requests() -> list[Request]:
    """Every request the oracle's differential tables send (static tables, not the random ones)."""
    rows = control.TABLE + funcs.TABLE + funcs.KNOWN_DIFFERENCES + syntax.TABLE
    requests = [_row(row).request() for row in rows]
    cases_file = SHARED / "tools/gotmpl-oracle/testdata/cases.json"
    if cases_file.is_file():
        requests += [entry["request"] for entry in json.loads(cases_file.read_text())]
    requests += [
        {"template": t, "data": sprig_engine.DATA, "sprig": True} for t in sprig_engine.TEMPLATES
    ]
    requests += [
        {"template": t, "data": sprig_engine.TYPED_GO, "sprig": True, "numbers": "int"}
        for t in sprig_engine.TYPED_TEMPLATES
    ]
    for name, args in sprig.CASES:
        requests.append({"template": sprig.template_of(name, args), "sprig": True})
    for name, args in sprig.PIPED:
        requests.append({"template": sprig.template_of(name, args, pipe="toJson"), "sprig": True})
    return requests


def _row(row: Any) -> harness.Case:
    """A table row, out of its `pytest.param` when it carries marks (xfail)."""
    case: harness.Case = row.values[0] if hasattr(row, "values") else row
    return case


REQUESTS = _oracle_requests()


@pytest.mark.parametrize("request_", REQUESTS, ids=[r["template"][:50] for r in REQUESTS])
def test_oracle_tables_render_the_same_compiled(request_: Request) -> None:
    compiled, interpreted = harness.both_engines(request_)
    assert compiled == interpreted


def test_the_oracle_tables_are_mostly_compiled() -> None:
    """The comparison above means something only if the compiled form ran: count it."""
    parsed = []
    for request in REQUESTS:
        try:
            parsed.append(gotemplate.parse(request["template"], sprig=True))
        except (gotemplate.ParseError, ValueError):
            continue
    compiled = sum(template.compiled for template in parsed)
    assert len(parsed) > 500
    assert compiled / len(parsed) > 0.97


# --- the interpreter's fallbacks ----------------------------------------------------------

INTERPRETED = [
    pytest.param('{{define "r"}}{{if .}}x{{template "r" false}}{{end}}{{end}}', id="recursion"),
    pytest.param('{{define "a"}}{{template "b"}}{{end}}{{define "b"}}{{template "a"}}{{end}}',
                 id="cycle"),
    pytest.param("{{or .a ($x := 1)}}{{$x}}", id="declaration in an or operand"),
    pytest.param("{{range .}}" * 17 + "x" + "{{end}}" * 17, id="17 nested ranges"),
]  # fmt: skip


@pytest.mark.parametrize("text", INTERPRETED)
def test_what_the_compiler_leaves_to_the_interpreter(text: str) -> None:
    assert not gotemplate.parse(text).compiled


def test_a_template_calling_others_is_compiled() -> None:
    text = '{{define "a"}}[{{.}}]{{end}}{{define "b"}}{{template "a" .}}{{end}}{{template "b" 1}}'
    template = gotemplate.parse(text)
    assert template.compiled
    assert template.execute(None) == template.interpret(None) == "[1]"


def test_the_compiled_form_is_python_source() -> None:
    """Text is a constant and a field chain a dict lookup: what the compiler is for."""
    program = gotemplate.parse("a{{ .x.y }}b")._compiled
    assert program is not None
    assert "append('a')" in program.source
    assert ".get('y', NO_VALUE)" in program.source


# --- random templates ---------------------------------------------------------------------


@random_templates.SETTINGS
@given(
    template=random_templates.bodies,
    defined=random_templates.definitions,
    data=random_templates.data_strategy,
    numbers=st.sampled_from(["float64", "int"]),
    options=st.sampled_from([[], ["missingkey=error"], ["missingkey=zero"]]),
)
def test_random_templates_render_the_same_compiled(
    template: str, defined: str, data: Any, numbers: str, options: list[str]
) -> None:
    text = "{{ $x := 1 }}" + template + defined
    request = harness.case(text, data, numbers=numbers, options=options).request()
    compiled, interpreted = harness.both_engines(request)
    assert compiled == interpreted


# --- real configs on real pods ------------------------------------------------------------


Answer = tuple[str, str, str]


def _answer(run: Callable[[], str]) -> Answer:
    try:
        return ("output", run(), "")
    except gotemplate.ExecError as err:
        return ("error", str(err), err.partial)


@contextlib.contextmanager
def _both_engines_checked() -> Iterator[list[gotemplate.Template]]:
    """Every `Template.execute` in the block also interprets and compares; yields the templates
    it saw, so that a test can tell the comparison happened and on compiled templates."""
    seen: list[gotemplate.Template] = []
    execute = gotemplate.Template.execute

    def checked(self: gotemplate.Template, data: object, name: str | None = None) -> str:
        seen.append(self)
        compiled = _answer(lambda: execute(self, data, name))
        assert compiled == _answer(lambda: self.interpret(data, name))
        return execute(self, data, name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gotemplate.Template, "execute", checked)
        yield seen


def test_the_embedded_default_renders_the_same_compiled() -> None:
    settings = config.load_default()
    with _both_engines_checked() as seen:
        for canonical in rehearsal.CANONICAL:
            inject.inject_pod(canonical.build(), namespace=rehearsal.NAMESPACE, config=settings)
    assert seen
    assert all(template.compiled for template in seen)


@pytest.mark.skipif(not kit.KIT_CASES, reason=NO_KIT)
@pytest.mark.parametrize(
    ("suite", "case"), kit.KIT_CASES, ids=lambda c: c if isinstance(c, str) else c["name"]
)
def test_the_kit_renders_the_same_compiled(suite: str, case: dict[str, Any]) -> None:
    settings = kit._case_settings(suite, case)
    text = (KIT / suite / "cases" / case["input"]).read_text()
    # A case whose injection fails is fine: the engines agreed up to the failure.
    with _both_engines_checked() as seen, contextlib.suppress(InjectorError):
        workloads.kube_inject(text, settings=settings)
    assert all(template.compiled for template in seen)


def test_the_kit_is_here_or_skipped_with_a_reason() -> None:
    if not KIT.is_dir():
        pytest.skip(NO_KIT)
    assert kit.KIT_CASES


def test_compile_program_refuses_instead_of_failing() -> None:
    """Whatever Python refuses to compile (here: nesting past its limits) falls back quietly."""
    deep = "{{" + "(" * 300 + "1" + ")" * 300 + "}}"
    try:
        template = gotemplate.parse(deep)
    except gotemplate.ParseError:
        return
    assert template.execute(None) == template.interpret(None)
    assert codegen.compile_program(template._program) is None or template.compiled


def test_a_template_too_large_to_compile_is_interpreted() -> None:
    """Python's compiler needs memory out of proportion: past a size, the interpreter runs."""
    text = "{{ if .a }}{{ .b.c | quote }}{{ end }}\n" * 20_000
    template = gotemplate.parse(text)
    assert not template.compiled
    assert template.execute({"a": 1, "b": {"c": "x"}}).count('"x"') == 20_000


def test_data_too_deep_for_python_gives_the_interpreters_error() -> None:
    """A function recursing through very deep data runs out of Python's stack: the compiled form
    hands the execution to the interpreter, whose error (and partial output) it returns."""
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    template = gotemplate.parse("a{{ toJson .d }}b")
    assert template.compiled
    compiled = _answer(lambda: template.execute({"d": deep}))
    assert compiled == _answer(lambda: template.interpret({"d": deep}))
