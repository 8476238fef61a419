"""Templates compiled once into Python functions, as Jinja compiles its templates.

`exec.py` walks the tree on every execution: for each node it dispatches on the node's type,
looks the function and each parameter's Go type up, and decides again what the missing-key
option and the argument's kind imply. All of that is known when the template is parsed, so
`compile_program` decides it once and writes Python source that only does what is left: one
function per template, text as constants, field chains as dict lookups with the interpreter's
helpers on the slow path, variables as Python locals, `range` as a `for` loop (so `break` and
`continue` are Python's), each function bound once.

The interpreter stays the reference: the compiled form must write the same output and raise
the same errors (Go's text, the node, the partial output). Errors are located at the node the
interpreter's `State.node` would hold at that point; the compiler tracks that node statically
(`_Compiler.cur`) and only keeps it at run time after `and`/`or`, whose operands run
conditionally. Where exactness would need the interpreter's variable stack (templates that call
themselves, directly or not, whose depth Python's stack bounds; method calls with arguments
that declare variables; declarations in a conditional `and`/`or` operand) or Python's own
limits are in reach (deep nesting), `compile_program` returns None and the template is
interpreted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Final

from . import arguments, builtins
from . import exec as executor
from . import nodes as n
from .errors import ExecError, TemplateError, go_quote
from .sprig import flow
from .values import NO_VALUE, Func, Int, Map, Nil, Struct

TreeFunction = Callable[[executor.State, object], None]

MAX_LOOP_NESTING: Final = 16
"""Nested `range`s compiled; Python refuses more than 20 nested blocks in one function."""

MAX_CALL_CHAIN: Final = 32
"""`{{template}}` calls nested deeper than this are interpreted (Python's stack is the limit)."""

MAX_SOURCE_CHARS: Final = 512 << 10
"""Generated source past this is not compiled: Python's compiler needs over a hundred times the
source's size in memory for a moment (Istio's largest template, 25 KiB of text, gives 190 KiB
of source and 25 MB)."""

MAX_TEXT_CHARS: Final = 128 << 10
"""Template text past this is not even tried (it would pass MAX_SOURCE_CHARS)."""


class Unsupported(Exception):
    """A construct the compiler leaves to the interpreter (see the module's docstring)."""


@dataclass(frozen=True, slots=True)
class CompiledProgram:
    """One function per template name, and the source they were compiled from."""

    functions: Mapping[str, TreeFunction]
    source: str


def execute(program: executor.Program, compiled: CompiledProgram, name: str, data: object) -> str:
    """`exec.execute` for the compiled form: the same state, errors and output.

    Python's stack can only run out inside a function given very deep data (compiled programs
    do not recurse): the interpreter then runs it again, for its error text and partial output.
    """
    given = data
    if data is None:
        data = NO_VALUE
    state = executor.State(program, name, data)
    function = compiled.functions.get(name)
    if function is None:
        state.error(f"{go_quote(name)} is an incomplete or empty template")
    try:
        function(state, data)
    except RecursionError:
        return executor.execute(program, name, given)
    return "".join(state.out)


def compile_program(program: executor.Program) -> CompiledProgram | None:
    """The program's templates as Python functions, or None where only the interpreter is exact."""
    if len(program.text) > MAX_TEXT_CHARS:
        return None
    try:
        _check_calls(program)
        compiler = _Compiler(program)
        source = compiler.module()
        code = compile(source, f"<template {program.parse_name}>", "exec")
        namespace: dict[str, object] = {}
        exec(code, namespace)  # source we generated; its names are bound below
        factory = namespace["_factory"]
        functions = factory(**compiler.bindings())  # type: ignore[operator]
    except (Unsupported, RecursionError, SyntaxError, MemoryError):
        return None
    return CompiledProgram(functions=functions, source=source)


def _check_calls(program: executor.Program) -> None:
    """Refuses programs whose `{{template}}` calls can recurse or nest past MAX_CALL_CHAIN."""
    calls = {name: set(_called(tree)) for name, tree in program.trees.items()}
    depth: dict[str, int] = {}
    visiting: set[str] = set()

    def chain(name: str) -> int:
        if name in depth:
            return depth[name]
        if name in visiting:
            raise Unsupported("recursive template")
        visiting.add(name)
        longest = 1 + max((chain(c) for c in calls.get(name, ()) if c in calls), default=0)
        visiting.discard(name)
        if longest > MAX_CALL_CHAIN:
            raise Unsupported("template calls nested too deep")
        depth[name] = longest
        return longest

    for name in calls:
        chain(name)


def _called(node: n.Node) -> Iterator[str]:
    if isinstance(node, n.TemplateNode):
        yield node.name
    for child in _children(node):
        yield from _called(child)


def _children(node: n.Node) -> Iterator[n.Node]:
    for spec in fields(node):
        child = getattr(node, spec.name)
        for item in child if isinstance(child, tuple) else (child,):
            if isinstance(item, n.Node):
                yield item


def _declares(node: n.Node) -> bool:
    """Whether evaluating `node` may declare or assign a variable."""
    if isinstance(node, n.PipeNode) and node.decl:
        return True
    return any(_declares(child) for child in _children(node))


# --- run-time helpers the generated code calls (slow paths and errors) --------------------


def _err(state: executor.State, node: n.Node, message: str) -> None:
    state.node = node
    state.error(message)


def _field(
    state: executor.State,
    current: n.Node,
    node: n.Node,
    dot: object,
    name: str,
    receiver: object,
    boxed: bool,
) -> object:
    """One step of a field chain when the receiver is not a plain dict: a struct's field at
    once, anything else (a method, a typed map, an error) as the interpreter does it."""
    if (
        isinstance(receiver, Struct)
        and not isinstance(receiver, dict)
        and receiver.go_method(name) is None
    ):
        try:
            return receiver.go_field(name)
        except KeyError:
            pass
    state.node = current
    return state.eval_field(dot, name, node, None, builtins.MISSING_ARG, receiver, boxed)


def _field_call(
    state: executor.State,
    current: n.Node,
    node: n.Node,
    dot: object,
    name: str,
    args: tuple[n.Node, ...] | None,
    final: object,
    receiver: object,
    boxed: bool,
    variables: list[tuple[str, object, bool]],
    dot_boxed: bool,
) -> object:
    """The last field of a chain given arguments (a method call): the interpreter evaluates them."""
    state.node = current
    state.vars = variables
    state.dot_boxed = dot_boxed
    return state.eval_field(dot, name, node, args, final, receiver, boxed)


def _missing_key(state: executor.State, node: n.Node, name: str) -> object:
    state.node = node
    return state._missing_key(name, None)


def _validate(state: executor.State, node: n.Node, value: object, typ: str) -> object:
    state.node = node
    return state.validate_type(value, typ)


def _call_error(state: executor.State, site: tuple[n.Node, str], err: Exception) -> None:
    """A function's error or panic; `site` is the call's node and the function's name."""
    state.node, name = site
    state.error(f"error calling {name}: {arguments.error_text(err)}")


def _print(state: executor.State, node: n.Node, value: object) -> None:
    state.print_value(node, value)


def _range_items(
    state: executor.State, node: n.Node, value: object
) -> list[tuple[object, object]] | None:
    state.node = node
    return state._range_items(value)


_PASS: Final = (TemplateError, executor.Break, executor.Continue, RecursionError)

_RUNTIME: Final[dict[str, object]] = {
    "NO_VALUE": NO_VALUE,
    "MISSING": builtins.MISSING_ARG,
    "PASS": _PASS,
    "Boxed": builtins.Boxed,
    "is_true": builtins.is_true,
    "elem_boxed": executor.elem_boxed,
    "zero_of": builtins.zero_of,
    "Map": Map,
    "err": _err,
    "field": _field,
    "field_call": _field_call,
    "missing_key": _missing_key,
    "validate": _validate,
    "call_error": _call_error,
    "print_": _print,
    "range_items": _range_items,
}

_UNBOXING: Final = frozenset(
    f.fn for name, f in builtins.BUILTINS.items() if name not in ("slice", "and", "or")
)
"""Builtins that unwrap a `Boxed` argument before looking at it: they may receive it bare."""

_FAST_TYPES: Final = {
    "string": "str",
    "int": "int",
    "float64": "float",
    "bool": "bool",
    "[]interface {}": "list",
    "map[string]interface {}": "dict",
}
"""Parameter types whose check `validate_type` passes for exactly this Python type."""

_IMMUTABLE: Final = (str, int, float, bool, complex, type(None), type(NO_VALUE), Nil)


# --- the compiler ------------------------------------------------------------------------


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


_UNKNOWN: Final = _Unknown()
_DYNAMIC: Final = "nd"
"""`cur` when the node is only known at run time: the generated local `nd` holds it."""
_STATE: Final = "st.node"
"""`cur` after the interpreter evaluated part of a template: `State.node` holds it."""


@dataclass(slots=True)
class _Value:
    """An evaluated value in the generated code: a Python expression (a name or a literal)."""

    code: str
    const: object = _UNKNOWN
    owned: bool = False
    boxed: str = "False"
    """Expression for the interpreter's `last_boxed` after a field chain or variable."""


@dataclass(frozen=True, slots=True)
class _Var:
    name: str
    value: str
    boxed: str


class _Compiler:
    """Writes the module source; `cur` mirrors the interpreter's `State.node`."""

    def __init__(self, program: executor.Program) -> None:
        self.program = program
        self.lines: list[str] = []
        self.size = 0
        self.sites: list[tuple[n.Node, str]] = []
        self.depth = 1
        self.counter = 0
        self.nodes: list[n.Node] = []
        self.node_index: dict[int, int] = {}
        self.values: dict[str, object] = {}
        self.value_names: dict[int, str] = {}
        self.tree_functions = {name: f"tree{i}" for i, name in enumerate(program.trees)}
        self.cur: int | str | None = None
        self.dot = "dot"
        self.dot_boxed = "False"
        self.scope: list[_Var] = []
        self.tree_name = ""
        self.loops = 0

    # --- output ---------------------------------------------------------------------

    def module(self) -> str:
        names = ", ".join(["*", *_RUNTIME, "N", "S"])
        body_start = len(self.lines)
        for name, tree in self.program.trees.items():
            self.function(name, tree)
        self.emit(
            "return {" + ", ".join(f"{k!r}: {v}" for k, v in self.tree_functions.items()) + "}"
        )
        body = self.lines[body_start:]
        extra = "".join(f", {name}" for name in self.values)
        return f"def _factory({names}{extra}):\n" + "\n".join(body) + "\n"

    def bindings(self) -> dict[str, object]:
        return {**_RUNTIME, "N": tuple(self.nodes), "S": tuple(self.sites), **self.values}

    def emit(self, line: str) -> None:
        line = "    " * self.depth + line
        self.size += len(line) + 1
        if self.size > MAX_SOURCE_CHARS:
            raise Unsupported("template too large to compile")
        self.lines.append(line)

    @contextmanager
    def indented(self) -> Iterator[None]:
        self.depth += 1
        mark = len(self.lines)
        yield
        if len(self.lines) == mark:
            self.emit("pass")
        self.depth -= 1

    def temp(self, prefix: str = "t") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def bind(self, value: object, prefix: str) -> str:
        """A name in the factory's scope for a run-time object (a function, a typed constant)."""
        key = id(value)
        name = self.value_names.get(key)
        if name is None:
            name = f"{prefix}{len(self.values)}"
            self.values[name] = value
            self.value_names[key] = name
        return name

    def literal(self, value: object) -> _Value:
        """A constant: a Python literal when it is a plain str/int/float/bool/None."""
        kind = type(value)
        if kind is str or kind is bool or value is None or (kind is int):
            return _Value(repr(value), value)
        if kind is float and value == value and value not in (float("inf"), float("-inf")):
            return _Value(repr(value), value)
        if value is NO_VALUE:
            return _Value("NO_VALUE", value)
        return _Value(self.bind(value, "K"), value)

    # --- nodes and errors -------------------------------------------------------------

    def index(self, node: n.Node) -> int:
        key = id(node)
        index = self.node_index.get(key)
        if index is None:
            index = len(self.nodes)
            self.nodes.append(node)
            self.node_index[key] = index
        return index

    def at(self, node: n.Node) -> None:
        self.cur = self.index(node)

    def node_ref(self) -> str:
        if self.cur is None:
            raise Unsupported("no current node")
        if isinstance(self.cur, str):
            return self.cur
        return f"N[{self.cur}]"

    def fail(self, message: str) -> _Value:
        """A static error: the generated code raises it when (if) it gets there."""
        self.emit(f"err(st, {self.node_ref()}, {message!r})")
        return _Value("NO_VALUE", NO_VALUE)

    # --- templates and lists ----------------------------------------------------------

    def function(self, name: str, tree: n.ListNode) -> None:
        self.tree_name = name
        self.scope = [_Var("$", "v0", "b0")]
        self.dot, self.dot_boxed = "dot", "False"
        self.cur = None
        self.loops = 0
        self.emit(f"def {self.tree_functions[name]}(st, dot):")
        with self.indented():
            self.emit("append = st.out.append")
            self.emit("v0, b0, site = dot, False, -1")
            self.emit("try:")
            with self.indented():
                self.walk_list(tree)
            # `site` is set only while a template function runs: its exception is Go's
            # "error calling"; any other (a bug) goes up as it would from the interpreter.
            self.emit("except PASS:")
            self.emit("    raise")
            self.emit("except Exception as exc:")
            self.emit("    if site < 0:")
            self.emit("        raise")
            self.emit("    call_error(st, S[site], exc)")

    def walk_list(self, node: n.ListNode) -> None:
        for child in node.nodes:
            kind = type(child)
            if kind is n.TextNode:
                self.emit(f"append({child.text!r})")  # type: ignore[attr-defined]
            elif kind is n.ActionNode:
                self.walk_action(child)  # type: ignore[arg-type]
            elif kind is n.CommentNode:
                self.at(child)
            elif kind is n.IfNode or kind is n.WithNode:
                self.walk_if_with(child)  # type: ignore[arg-type]
            elif kind is n.RangeNode:
                self.walk_range(child)  # type: ignore[arg-type]
            elif kind is n.TemplateNode:
                self.walk_template(child)  # type: ignore[arg-type]
            elif kind is n.BreakNode or kind is n.ContinueNode:
                if not self.loops:
                    raise Unsupported("break or continue outside range")
                self.emit("break" if kind is n.BreakNode else "continue")
            else:
                raise Unsupported(f"node {kind.__name__}")

    def walk_action(self, node: n.ActionNode) -> None:
        self.at(node)
        value = self.pipeline(node.pipe)
        if node.pipe.decl:
            return
        index = self.node_index[id(node)]
        if type(value.const) is str:
            self.emit(f"append({value.code})")
            return
        if value.const is not _UNKNOWN:
            self.emit(f"print_(st, N[{index}], {value.code})")
            return
        self.emit(f"if type({value.code}) is str:")
        with self.indented():
            self.emit(f"append({value.code})")
        self.emit("else:")
        with self.indented():
            self.emit(f"print_(st, N[{index}], {value.code})")

    def truth(self, value: _Value) -> str:
        if value.const is not _UNKNOWN:
            return repr(builtins.is_true(value.const))
        x = value.code
        return f"({x} is True or ({x} is not False and is_true({x})))"

    def walk_if_with(self, node: n.IfNode | n.WithNode) -> None:
        self.at(node)
        mark = len(self.scope)
        value = self.pipeline(node.pipe)
        inner = len(self.scope)
        self.emit(f"if {self.truth(value)}:")
        with self.indented():
            if isinstance(node, n.WithNode):
                dot = self.temp("w")
                self.emit(f"{dot} = {value.code}")
                with self.dot_as(dot, "False"):
                    self.walk_list(node.list)
            else:
                self.walk_list(node.list)
        del self.scope[inner:]
        if node.else_list is not None:
            self.emit("else:")
            with self.indented():
                self.walk_list(node.else_list)
        del self.scope[mark:]
        self.cur = None

    @contextmanager
    def dot_as(self, dot: str, boxed: str) -> Iterator[None]:
        saved = self.dot, self.dot_boxed
        self.dot, self.dot_boxed = dot, boxed
        yield
        self.dot, self.dot_boxed = saved

    def walk_range(self, node: n.RangeNode) -> None:
        self.at(node)
        mark = len(self.scope)
        value = self.pipeline(node.pipe)
        inner = len(self.scope)
        decl = len(node.pipe.decl)
        items, boxed, index, elem = self.temp("it"), self.temp("eb"), self.temp("i"), self.temp("e")
        self.emit(f"{items} = range_items(st, {self.node_ref()}, {value.code})")
        self.emit(f"if {items}:")
        with self.indented():
            self.emit(f"{boxed} = elem_boxed({value.code})")
            if self.loops >= MAX_LOOP_NESTING:
                raise Unsupported("ranges nested too deep")
            self.emit(f"for {index}, {elem} in {items}:")
            self.loops += 1
            with self.indented():
                if decl:
                    var = self.scope[inner - 1]
                    self.emit(f"{var.value} = {elem}")
                    self.emit(f"{var.boxed} = {boxed}")
                    if decl > 1:
                        var = self.scope[inner - 2]
                        self.emit(f"{var.value} = {index}")
                        self.emit(f"{var.boxed} = False")
                with self.dot_as(elem, boxed):
                    self.walk_list(node.list)
                del self.scope[inner:]
            self.loops -= 1
        if node.else_list is not None:
            self.emit("else:")
            with self.indented():
                self.walk_list(node.else_list)
        del self.scope[mark:]
        self.cur = None

    def walk_template(self, node: n.TemplateNode) -> None:
        self.at(node)
        index = self.cur
        function = self.tree_functions.get(node.name)
        if function is None:
            self.fail(f"template {go_quote(node.name)} not defined")
            return
        value = self.pipeline(node.pipe) if node.pipe is not None else self.literal(NO_VALUE)
        self.emit(f"st.tmpl_name = {node.name!r}")
        self.emit("try:")
        with self.indented():
            self.emit(f"{function}(st, {value.code})")
        self.emit("except RecursionError:")
        with self.indented():
            self.emit(f"st.tmpl_name = {self.tree_name!r}")
            message = f"exceeded maximum template depth ({executor.MAX_EXEC_DEPTH})"
            self.emit(f"err(st, N[{index}], {message!r})")
        self.emit(f"st.tmpl_name = {self.tree_name!r}")
        self.cur = None

    # --- pipelines and commands -------------------------------------------------------

    def owned(self, value: _Value) -> _Value:
        """`value` in a temporary the caller may change in place."""
        if value.owned or value.const is not _UNKNOWN:
            return value
        copy = self.temp()
        self.emit(f"{copy} = {value.code}")
        return _Value(copy, owned=True, boxed=value.boxed)

    def no_nil(self, value: _Value) -> _Value:
        """The interpreter turns a command's `None` into NO_VALUE."""
        if value.const is not _UNKNOWN:
            return self.literal(NO_VALUE) if value.const is None else value
        value = self.owned(value)
        self.emit(f"if {value.code} is None: {value.code} = NO_VALUE")
        return value

    def pipeline(self, pipe: n.PipeNode) -> _Value:
        self.at(pipe)
        value: _Value | None = None
        for cmd in pipe.cmds:
            value = self.no_nil(self.command(cmd, value))
        assert value is not None  # the parser gives every pipeline a command
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.push_var(var.ident[0], value)
        return value

    def push_var(self, name: str, value: _Value) -> None:
        number = self.temp("")
        var = _Var(name, f"v{number}", f"b{number}")
        self.emit(f"{var.value} = {value.code}")
        self.emit(f"{var.boxed} = False")
        self.scope.append(var)

    def set_var(self, name: str, value: _Value) -> None:
        var = self.lookup(name)
        if var is None:
            self.fail(f"undefined variable: {name}")
            return
        self.emit(f"{var.value} = {value.code}")
        self.emit(f"{var.boxed} = False")

    def lookup(self, name: str) -> _Var | None:
        for var in reversed(self.scope):
            if var.name == name:
                return var
        return None

    def not_a_function(self, args: tuple[n.Node, ...], final: _Value | None) -> None:
        if len(args) > 1 or final is not None:
            self.fail(f"can't give argument to non-function {args[0]}")

    def command(self, cmd: n.CommandNode, final: _Value | None) -> _Value:
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            self.at(first)
            return self.dot_field(first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.function_call(first, cmd, cmd.args, final)
        if isinstance(first, n.VariableNode):
            return self.variable(first, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.pipeline(first)
        if isinstance(first, n.ChainNode):
            return self.chain(first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return self.literal(first.value)
        if isinstance(first, n.DotNode):
            return _Value(self.dot)
        if isinstance(first, n.NilNode):
            return self.fail("nil is not a command")
        if isinstance(first, n.NumberNode):
            number = first
            return self.constant(lambda: arguments.ideal_constant(number))
        if isinstance(first, n.StringNode):
            return self.literal(first.text)
        return self.fail(f"can't evaluate command {go_quote(str(first))}")

    def dot_field(
        self, node: n.FieldNode, args: tuple[n.Node, ...] | None, final: _Value | None
    ) -> _Value:
        return self.field_chain(_Value(self.dot), self.dot_boxed, node, node.ident, args, final)

    def constant(self, make: Callable[[], object]) -> _Value:
        try:
            return self.literal(make())
        except arguments.ArgumentError as err:
            return self.fail(str(err))

    def variable(
        self, node: n.VariableNode, args: tuple[n.Node, ...] | None, final: _Value | None
    ) -> _Value:
        self.at(node)
        var = self.lookup(node.ident[0])
        if var is None:
            return self.fail(f"undefined variable: {node.ident[0]}")
        if len(node.ident) == 1:
            if final is not None or (args is not None and len(args) > 1):
                self.not_a_function(args or (), final)
            return _Value(var.value, boxed=var.boxed)
        return self.field_chain(_Value(var.value), var.boxed, node, node.ident[1:], args, final)

    def chain(
        self, node: n.ChainNode, args: tuple[n.Node, ...] | None, final: _Value | None
    ) -> _Value:
        self.at(node)
        if isinstance(node.node, n.NilNode):
            return self.fail(f"indirection through explicit nil in {node}")
        receiver = self.argument(None, node.node)
        return self.field_chain(receiver, "False", node, node.fields, args, final)

    def field_chain(
        self,
        receiver: _Value,
        boxed: str,
        node: n.Node,
        ident: tuple[str, ...],
        args: tuple[n.Node, ...] | None,
        final: _Value | None,
    ) -> _Value:
        """`eval_field_chain`: plain dicts inline, anything else through the interpreter."""
        ref = self.node_ref()
        own = f"N[{self.index(node)}]"
        mode = self.program.missing_key
        previous: str | None = None
        current = receiver.code
        last = len(ident) - 1
        for i, name in enumerate(ident):
            step_boxed = boxed if previous is None else f"elem_boxed({previous})"
            result = self.temp()
            if i == last and ((args is not None and len(args) > 1) or final is not None):
                return self.method_call(current, step_boxed, node, name, args, final, result)
            default = {"error": ", MISSING", "zero": ""}.get(mode, ", NO_VALUE")
            self.emit(
                f"{result} = {current}.get({name!r}{default}) if type({current}) is dict "
                f"else field(st, {ref}, {own}, {self.dot}, {name!r}, {current}, {step_boxed})"
            )
            if mode == "error":
                self.emit(f"if {result} is MISSING: missing_key(st, {ref}, {name!r})")
            previous, current = current, result
        return _Value(current, owned=True, boxed=f"elem_boxed({previous})")

    def method_call(
        self,
        receiver: str,
        boxed: str,
        node: n.Node,
        name: str,
        args: tuple[n.Node, ...] | None,
        final: _Value | None,
        result: str,
    ) -> _Value:
        """A field given arguments: the interpreter evaluates them over our variables."""
        if args is not None and any(_declares(arg) for arg in args[1:]):
            raise Unsupported("a method argument declares a variable")
        variables = ", ".join(f"({v.name!r}, {v.value}, {v.boxed})" for v in self.scope)
        self.emit(
            f"{result} = field_call(st, {self.node_ref()}, N[{self.index(node)}], {self.dot}, "
            f"{name!r}, "
            f"{self.bind(args, 'A')}, {'MISSING' if final is None else final.code}, "
            f"{receiver}, {boxed}, [{variables}], {self.dot_boxed})"
        )
        self.cur = _STATE  # wherever the interpreter's evaluation of the arguments left it
        return _Value(result, owned=True, boxed=f"elem_boxed({receiver})")

    # --- functions --------------------------------------------------------------------

    def function_call(
        self,
        node: n.IdentifierNode,
        cmd: n.Node,
        args: tuple[n.Node, ...] | None,
        final: _Value | None,
    ) -> _Value:
        self.at(node)
        name = node.ident
        func = self.program.funcs.get(name)
        if func is None:
            return self.fail(f"{go_quote(name)} is not a defined function")
        if (name == "and" or name == "or") and name in self.program.builtin_names:
            return self.and_or(name, args, final)
        return self.call(func, cmd, name, args, final)

    def and_or(self, name: str, args: tuple[n.Node, ...] | None, final: _Value | None) -> _Value:
        operands = args[1:] if args else ()
        if len(operands) + (final is not None) < 1:
            return self.fail(
                f"wrong number of args for {name}: want at least 1 got {len(operands)}"
            )
        if any(_declares(arg) for arg in operands[1:]):
            raise Unsupported("a declaration in a conditional operand")
        result = self.temp()
        self.emit(f"{result} = NO_VALUE")
        test = "" if name == "and" else "not "
        opened = 0
        for arg in operands:
            value = self.reflect_argument(arg, bare=True)
            self.emit(f"{result} = {value.code}")
            if self.cur != _DYNAMIC:
                self.emit(f"nd = {self.node_ref()}")
            self.emit(f"if {test}{self.truth(_Value(result))}:")
            self.depth += 1
            opened += 1
            self.emit("pass")
        if final is not None:
            self.emit(f"{result} = {final.code}")
        self.depth -= opened
        if operands:
            self.cur = _DYNAMIC
        return _Value(result, owned=True)

    def call(
        self,
        func: Func,
        node: n.Node,
        name: str,
        args: tuple[n.Node, ...] | None,
        final: _Value | None,
    ) -> _Value:
        """`eval_call`: the argument checks decided here, the function bound once."""
        operands = args[1:] if args else ()
        params, variadic = func.params, func.variadic
        num_in = len(operands) + (final is not None)
        num_fixed = len(operands)
        if variadic is not None:
            num_fixed = len(params)
            if num_in < num_fixed:
                return self.fail(
                    f"wrong number of args for {name}: want at least {num_fixed} "
                    f"got {len(operands)}"
                )
        elif num_in != len(params):
            return self.fail(f"wrong number of args for {name}: want {len(params)} got {num_in}")
        bare = func.fn in _UNBOXING
        later_assigns = [_declares(op) for op in operands]
        argv: list[_Value] = []
        for i, operand in enumerate(operands):
            typ = params[i] if variadic is None or i < num_fixed else variadic
            value = self.argument(typ, operand, bare=bare)
            if any(later_assigns[i + 1 :]) and value.const is _UNKNOWN and not value.owned:
                value = self.owned(value)
            argv.append(value)
        if final is not None:
            if variadic is not None:
                last = params[num_in - 1] if num_in - 1 < num_fixed else variadic
            else:
                last = params[-1]
            argv.append(self.validate(final, last))
        result = self.temp()
        call = f"{self.bind(func.fn, 'F')}({', '.join(v.code for v in argv)})"
        fast = self.fast_call(func, argv, result)
        if fast:
            self.emit("else:")
            self.depth += 1
        self.sites.append((node, name))
        self.emit(f"site = {len(self.sites) - 1}; {result} = {call}; site = -1")
        if fast:
            self.depth -= 1
        return _Value(result, owned=True)

    def fast_call(self, func: Func, argv: list[_Value], result: str) -> bool:
        """An inline path for the commonest calls (`index`, `eq`, sprig's `default`) on plain
        data; False when none."""
        if func.fn is builtins.index and len(argv) >= 2:
            keys = argv[1:]
            if all(type(k.const) is str for k in keys):
                test = [f"type({argv[0].code}) is dict"]
                current = argv[0].code
                for k in keys[:-1]:
                    step = self.temp()
                    test.append(f"type({step} := {current}.get({k.code})) is dict")
                    current = step
                self.emit(f"if {' and '.join(test)}:")
                with self.indented():
                    self.emit(f"{result} = {current}.get({keys[-1].code})")
                if len(keys) == 1:  # a typed map (a pod's annotations): its zero when missing
                    x = argv[0].code
                    self.emit(f"elif type({x}) is Map:")
                    with self.indented():
                        self.emit(f"{result} = {x}.get({keys[0].code}, {x}.zero)")
                return True
        if func.fn is flow.default.fn and len(argv) == 2:
            given = argv[1].code
            self.emit(f"if type({given}) is str:")  # sprig's empty string: the fallback
            with self.indented():
                self.emit(f"{result} = {given} or {argv[0].code}")
            return True
        if func.fn is builtins.eq and len(argv) >= 2:
            others = argv[1:]
            if all(type(k.const) is str for k in others):
                x = argv[0].code
                self.emit(f"if type({x}) is str:")
                with self.indented():
                    self.emit(f"{result} = {' or '.join(f'{x} == {k.code}' for k in others)}")
                return True
        return False

    # --- arguments --------------------------------------------------------------------

    def argument(self, typ: str | None, node: n.Node, *, bare: bool = False) -> _Value:
        """`eval_arg`: a value for a parameter of Go type `typ`."""
        if typ == builtins.REFLECT_VALUE:
            return self.reflect_argument(node, bare=bare)
        self.at(node)
        if isinstance(node, n.StringNode) and typ in executor.TAKES_STRING_LITERAL:
            return self.literal(node.text)
        if isinstance(node, n.FieldNode):
            value = self.dot_field(node, (node,), None)
            if typ == "interface {}":
                return self.no_value_as_nil(value)
            return self.validate(value, typ)
        if isinstance(node, n.DotNode):
            return self.validate(_Value(self.dot), typ)
        if isinstance(node, n.VariableNode):
            return self.validate(self.variable(node, None, None), typ)
        if isinstance(node, n.PipeNode):
            return self.validate(self.pipeline(node), typ)
        if isinstance(node, n.IdentifierNode):
            return self.validate(self.function_call(node, node, None, None), typ)
        if isinstance(node, n.ChainNode):
            return self.validate(self.chain(node, None, None), typ)
        if isinstance(node, n.NilNode):
            return self.nil_argument(typ)
        return self.constant(lambda: arguments.constant_argument(typ or "", node))

    def nil_argument(self, typ: str | None) -> _Value:
        if typ is None or not builtins.can_be_nil(typ):
            return self.fail(f"cannot assign nil to {typ}")
        zero = builtins.zero_of(typ)
        if isinstance(zero, Map):  # mutable: a fresh one each time, as the interpreter makes
            result = self.temp()
            self.emit(f"{result} = zero_of({typ!r})")
            return _Value(result, owned=True)
        return self.literal(zero)

    def no_value_as_nil(self, value: _Value) -> _Value:
        if value.const is not _UNKNOWN:
            return self.literal(None) if value.const is NO_VALUE else value
        value = self.owned(value)
        self.emit(f"if {value.code} is NO_VALUE: {value.code} = None")
        return value

    def validate(self, value: _Value, typ: str | None) -> _Value:
        """`validate_type` for a parameter type known now."""
        if typ is None or typ == builtins.REFLECT_VALUE:
            return value
        if typ == "interface {}":
            return self.no_value_as_nil(value)
        if value.const is not _UNKNOWN:
            try:
                checked = arguments.validate_type(value.const, typ)
            except arguments.ArgumentError as err:
                return self.fail(str(err))
            if isinstance(checked, _IMMUTABLE) and not isinstance(checked, Map):
                return self.literal(checked)
        result = self.temp()
        call = f"validate(st, {self.node_ref()}, {value.code}, {typ!r})"
        fast = _FAST_TYPES.get(typ)
        if fast is None:
            self.emit(f"{result} = {call}")
        else:
            self.emit(f"{result} = {value.code} if type({value.code}) is {fast} else {call}")
        return _Value(result, owned=True)

    def reflect_argument(self, node: n.Node, *, bare: bool = False) -> _Value:
        """`eval_reflect_arg`: the value as is, boxed when read from an interface slot."""
        self.at(node)
        if isinstance(node, n.StringNode):
            return self.literal(node.text)
        if isinstance(node, n.DotNode):
            value = _Value(self.dot, boxed=self.dot_boxed)
        elif isinstance(node, n.FieldNode):
            value = self.dot_field(node, (node,), None)
        elif isinstance(node, n.VariableNode):
            value = self.variable(node, None, None)
        elif isinstance(node, n.ChainNode):
            value = self.chain(node, None, None)
        elif isinstance(node, n.PipeNode):
            return self.pipeline(node)
        elif isinstance(node, n.IdentifierNode):
            return self.function_call(node, node, None, None)
        elif isinstance(node, n.NilNode):
            return self.literal(NO_VALUE)
        else:
            return self.constant(lambda: arguments.empty_interface_constant(node))
        if bare or value.boxed == "False":
            return value
        result = self.temp()
        x = value.code
        self.emit(
            f"{result} = Boxed({x}) if {value.boxed} and {x} is not None "
            f"and {x} is not NO_VALUE else {x}"
        )
        return _Value(result, owned=True)


__all__ = ["CompiledProgram", "ExecError", "Int", "compile_program", "execute"]
