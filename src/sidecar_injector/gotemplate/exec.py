"""Running a parsed template over data, after Go's text/template/exec.go.

One `State` per execution holds everything mutable (output, variables, the node being
evaluated for error messages), so a `Program` can be run from many threads at once.

Go distinguishes a value read out of an `interface {}` slot (a map[string]interface{} member,
a []interface{} element) from the same value held directly; only error texts show it
("can't evaluate field x in type interface {}"), so the state tracks that "boxed" bit for dot
and variables instead of wrapping values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from . import arguments, builtins, printing
from . import nodes as n
from .errors import ExecError, TemplateError, go_quote
from .values import NO_VALUE, Func, Map, Nil, Slice, Struct, go_type_of

MAX_EXEC_DEPTH: Final = 100000
"""Go's limit on nested `{{template}}` calls; Python's own stack usually ends recursion first,
and the error then carries the same text (with less partial output than Go writes)."""

_MISSING: Final = builtins.MISSING_ARG


TAKES_STRING_LITERAL: Final = frozenset({"string", "interface {}", "any", "interface{}"})


class Break(Exception):
    pass


class Continue(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Program:
    """Everything one parse produced: the trees, the functions, the options."""

    parse_name: str
    text: str
    trees: Mapping[str, n.ListNode]
    funcs: Mapping[str, Func]
    builtin_names: frozenset[str]
    missing_key: str


def elem_boxed(container: object) -> bool:
    """Whether members of `container` sit in `interface {}` slots."""
    if type(container) is dict or type(container) is list or type(container) is tuple:
        return True
    if isinstance(container, (Map, Slice)):
        return container.go_type.endswith("]interface {}")
    return False


class State:
    """One execution: Go's `state` plus the output buffer."""

    __slots__ = (
        "depth",
        "dot_boxed",
        "funcs",
        "last_boxed",
        "node",
        "out",
        "program",
        "tmpl_name",
        "vars",
    )

    def __init__(self, program: Program, tmpl_name: str, data: object) -> None:
        self.program = program
        self.funcs = program.funcs
        self.tmpl_name = tmpl_name
        self.out: list[str] = []
        self.node: n.Node | None = None
        self.vars: list[tuple[str, object, bool]] = [("$", data, False)]
        self.depth = 0
        self.dot_boxed = False
        self.last_boxed = False

    # --- errors -----------------------------------------------------------------------

    def error(self, message: str) -> NoReturn:
        node = self.node
        name = self.tmpl_name
        if node is None:
            raise ExecError(
                f"template: {name}: {message}", template_name=name, partial="".join(self.out)
            )
        text = self.program.text
        before = text[: node.pos]
        line = before.count("\n") + 1
        col = len(before[before.rfind("\n") + 1 :].encode("utf-8", "surrogatepass"))
        location = f"{self.program.parse_name}:{line}:{col}"
        raise ExecError(
            f"template: {location}: executing {go_quote(name)} at <{node}>: {message}",
            template_name=name,
            line=line,
            col=col,
            partial="".join(self.out),
        )

    # --- variables --------------------------------------------------------------------

    def set_var(self, name: str, value: object) -> None:
        vars_ = self.vars
        for i in range(len(vars_) - 1, -1, -1):
            if vars_[i][0] == name:
                vars_[i] = (name, value, False)
                return
        self.error(f"undefined variable: {name}")

    def var_value(self, name: str) -> tuple[object, bool]:
        vars_ = self.vars
        for i in range(len(vars_) - 1, -1, -1):
            entry = vars_[i]
            if entry[0] == name:
                return entry[1], entry[2]
        self.error(f"undefined variable: {name}")

    # --- walking ----------------------------------------------------------------------

    def walk(self, dot: object, node: n.Node) -> None:
        _WALKERS[type(node)](self, dot, node)

    def walk_list(self, dot: object, node: n.ListNode) -> None:
        append = self.out.append
        for child in node.nodes:
            kind = type(child)
            if kind is n.TextNode:
                append(child.text)  # type: ignore[attr-defined]
            elif kind is n.ActionNode:
                self.node = child
                pipe = child.pipe  # type: ignore[attr-defined]
                value = self.eval_pipeline(dot, pipe)
                if not pipe.decl:
                    if type(value) is str:
                        append(value)
                    else:
                        self.print_value(child, value)
            else:
                _WALKERS[kind](self, dot, child)

    def walk_action(self, dot: object, node: n.ActionNode) -> None:
        self.node = node
        value = self.eval_pipeline(dot, node.pipe)
        if not node.pipe.decl:
            self.print_value(node, value)

    def walk_text(self, dot: object, node: n.TextNode) -> None:
        self.out.append(node.text)

    def walk_comment(self, dot: object, node: n.Node) -> None:
        self.node = node

    def walk_break(self, dot: object, node: n.Node) -> None:
        raise Break

    def walk_continue(self, dot: object, node: n.Node) -> None:
        raise Continue

    def walk_if(self, dot: object, node: n.IfNode) -> None:
        self.node = node
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        if builtins.is_true(value):
            self.walk_list(dot, node.list)
        elif node.else_list is not None:
            self.walk_list(dot, node.else_list)
        del self.vars[mark:]

    def walk_with(self, dot: object, node: n.WithNode) -> None:
        self.node = node
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        if builtins.is_true(value):
            boxed = self.dot_boxed
            self.dot_boxed = False
            self.walk_list(value, node.list)
            self.dot_boxed = boxed
        elif node.else_list is not None:
            self.walk_list(dot, node.else_list)
        del self.vars[mark:]

    def walk_range(self, dot: object, node: n.RangeNode) -> None:
        self.node = node
        mark = len(self.vars)
        value = self.eval_pipeline(dot, node.pipe)
        items = self._range_items(value)
        if items:
            boxed = self.dot_boxed
            self.dot_boxed = elem_boxed(value)
            try:  # noqa: SIM105 - cheaper than contextlib.suppress on this path
                self._range_loop(node, items, mark=len(self.vars))
            except Break:
                pass
            self.dot_boxed = boxed
        elif node.else_list is not None:
            self.walk_list(dot, node.else_list)
        del self.vars[mark:]

    def _range_items(self, value: object) -> list[tuple[object, object]] | None:
        """(index, element) pairs, or None for an empty or invalid value (the else branch)."""
        if isinstance(value, (list, tuple)):
            return list(enumerate(value)) or None
        if isinstance(value, dict):
            return [(key, value[key]) for key in _sorted_keys(value)] or None
        if value is NO_VALUE or value is None:
            return None
        if isinstance(value, Nil) and value.go_type[:1] in ("[", "m"):
            return None
        self.error(f"range can't iterate over {printing.format_value(value)}")

    def _range_loop(self, node: n.RangeNode, items: list[tuple[object, object]], mark: int) -> None:
        decl = len(node.pipe.decl)
        vars_ = self.vars
        body = node.list
        elem_boxed = self.dot_boxed
        for index, elem in items:
            if decl:
                vars_[mark - 1] = (vars_[mark - 1][0], elem, elem_boxed)
                if decl > 1:
                    vars_[mark - 2] = (vars_[mark - 2][0], index, False)
            try:
                self.walk_list(elem, body)
            except Continue:
                self.dot_boxed = elem_boxed  # a `with` it left did not restore it
            del vars_[mark:]

    def walk_template(self, dot: object, node: n.TemplateNode) -> None:
        self.node = node
        tree = self.program.trees.get(node.name)
        if tree is None:
            self.error(f"template {go_quote(node.name)} not defined")
        if self.depth == MAX_EXEC_DEPTH:
            self.error(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe)
        saved = (self.tmpl_name, self.vars, self.dot_boxed)
        self.tmpl_name = node.name
        self.vars = [("$", value, False)]
        self.dot_boxed = False
        self.depth += 1
        try:
            self.walk_list(value, tree)
        except RecursionError:
            self.tmpl_name, self.vars, self.dot_boxed = saved
            self.node = node
            self.error(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
        self.depth -= 1
        self.tmpl_name, self.vars, self.dot_boxed = saved

    def print_value(self, node: n.Node, value: object) -> None:
        self.node = node
        if value is NO_VALUE:
            self.out.append("<no value>")
        elif type(value) is str:
            self.out.append(value)
        else:
            if isinstance(value, Func) or (callable(value) and not isinstance(value, Struct)):
                self.error(f"can't print {node} of type {go_type_of(value)}")
            self.out.append(printing.format_value(value))

    # --- pipelines and commands -------------------------------------------------------

    def eval_pipeline(self, dot: object, pipe: n.PipeNode | None) -> object:
        if pipe is None:
            return NO_VALUE
        self.node = pipe
        cmds = pipe.cmds
        if len(cmds) == 1 and not pipe.decl:
            value = self.eval_command(dot, cmds[0], _MISSING)
            return NO_VALUE if value is None else value
        value = _MISSING
        for cmd in cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:
                value = NO_VALUE
        if pipe.decl:
            for var in pipe.decl:
                if pipe.is_assign:
                    self.set_var(var.ident[0], value)
                else:
                    self.vars.append((var.ident[0], value, False))
        return value

    def not_a_function(self, args: tuple[n.Node, ...], final: object) -> None:
        if len(args) > 1 or final is not _MISSING:
            self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: object, cmd: n.CommandNode, final: object) -> object:
        first = cmd.args[0]
        kind = type(first)
        if kind is n.FieldNode:
            return self.eval_field_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        if kind is n.IdentifierNode:
            return self.eval_function(dot, first, cmd, cmd.args, final)  # type: ignore[arg-type]
        if kind is n.VariableNode:
            return self.eval_variable_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        if kind is n.PipeNode:
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)  # type: ignore[arg-type]
        if kind is n.ChainNode:
            return self.eval_chain_node(dot, first, cmd.args, final)  # type: ignore[arg-type]
        self.node = first
        self.not_a_function(cmd.args, final)
        if kind is n.BoolNode:
            return first.value  # type: ignore[attr-defined]
        if kind is n.DotNode:
            return dot
        if kind is n.NilNode:
            self.error("nil is not a command")
        if kind is n.NumberNode:
            return self.ideal_constant(first)  # type: ignore[arg-type]
        if kind is n.StringNode:
            return first.text  # type: ignore[attr-defined]
        self.error(f"can't evaluate command {go_quote(str(first))}")

    def eval_field_node(
        self, dot: object, field: n.FieldNode, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.node = field
        return self.eval_field_chain(dot, dot, self.dot_boxed, field, field.ident, args, final)

    def eval_chain_node(
        self, dot: object, chain: n.ChainNode, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.node = chain
        if isinstance(chain.node, n.NilNode):
            self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, False, chain, chain.fields, args, final)

    def eval_variable_node(
        self, dot: object, var: n.VariableNode, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.node = var
        value, boxed = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            if final is not _MISSING or (args is not None and len(args) > 1):
                self.not_a_function(args or (), final)
            self.last_boxed = boxed
            return value
        return self.eval_field_chain(dot, value, boxed, var, var.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: object,
        receiver: object,
        boxed: bool,
        node: n.Node,
        ident: tuple[str, ...],
        args: tuple[n.Node, ...] | None,
        final: object,
    ) -> object:
        last = len(ident) - 1
        for i in range(last):
            if type(receiver) is dict:  # the common case, inlined: a JSON-like map
                value = receiver.get(ident[i], _MISSING)
                if value is _MISSING:
                    value = self._missing_key(ident[i], None)
                boxed = True
            else:
                value = self.eval_field(dot, ident[i], node, None, _MISSING, receiver, boxed)
                boxed = elem_boxed(receiver)
            receiver = value
        self.last_boxed = type(receiver) is dict or elem_boxed(receiver)
        return self.eval_field(dot, ident[last], node, args, final, receiver, boxed)

    def eval_field(
        self,
        dot: object,
        name: str,
        node: n.Node,
        args: tuple[n.Node, ...] | None,
        final: object,
        receiver: object,
        boxed: bool,
    ) -> object:
        if type(receiver) is dict and (args is None or len(args) < 2) and final is _MISSING:
            value = receiver.get(name, _MISSING)
            if value is not _MISSING:
                return value
            return self._missing_key(name, None)
        return self._eval_field_slow(dot, name, node, args, final, receiver, boxed)

    def _missing_key(self, name: str, zero: object) -> object:
        missing_key = self.program.missing_key
        if missing_key == "zero":
            return zero
        if missing_key == "error":
            self.error(f"map has no entry for key {go_quote(name)}")
        return NO_VALUE

    def _eval_field_slow(
        self,
        dot: object,
        name: str,
        node: n.Node,
        args: tuple[n.Node, ...] | None,
        final: object,
        receiver: object,
        boxed: bool,
    ) -> object:
        if receiver is NO_VALUE:
            if self.program.missing_key == "error":
                self.error(f"nil data; no entry for key {go_quote(name)}")
            return NO_VALUE
        if receiver is None:
            self.error(f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _MISSING
        if isinstance(receiver, dict):
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            return self._missing_key(name, receiver.zero if isinstance(receiver, Map) else None)
        if isinstance(receiver, Struct):
            method = receiver.go_method(name)
            if method is not None:
                return self.eval_call(
                    dot, arguments.method_func(name, method), node, name, args, final
                )
            try:
                value = receiver.go_field(name)
            except KeyError:
                pass
            else:
                if has_args:
                    self.error(f"{name} has arguments but cannot be invoked as function")
                return value
        elif isinstance(receiver, Nil):
            go_type = receiver.go_type
            if go_type.startswith("map["):
                if has_args:
                    self.error(f"{name} is not a method but has arguments")
                return self._missing_key(name, None)
            if not go_type.startswith("[]"):
                self.error(f"nil pointer evaluating {_type_name(receiver, boxed)}.{name}")
        self.error(f"can't evaluate field {name} in type {_type_name(receiver, boxed)}")

    def eval_function(
        self,
        dot: object,
        node: n.IdentifierNode,
        cmd: n.Node,
        args: tuple[n.Node, ...] | None,
        final: object,
    ) -> object:
        self.node = node
        name = node.ident
        func = self.funcs.get(name)
        if func is None:
            self.error(f"{go_quote(name)} is not a defined function")
        if (name == "and" or name == "or") and name in self.program.builtin_names:
            return self.eval_and_or(dot, name, args, final)
        return self.eval_call(dot, func, cmd, name, args, final)

    def eval_and_or(
        self, dot: object, name: str, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        operands = args[1:] if args else ()
        if len(operands) + (final is not _MISSING) < 1:
            self.error(f"wrong number of args for {name}: want at least 1 got {len(operands)}")
        value: object = NO_VALUE
        want = name == "or"
        for arg in operands:
            value = builtins.unbox(self.eval_arg(dot, builtins.REFLECT_VALUE, arg))
            if builtins.truth(value) == want:
                return value
        if final is not _MISSING:
            value = final
        return value

    def eval_call(
        self,
        dot: object,
        func: Func,
        node: n.Node,
        name: str,
        args: tuple[n.Node, ...] | None,
        final: object,
    ) -> object:
        operands = args[1:] if args else ()
        params = func.params
        variadic = func.variadic
        num_in = len(operands) + (final is not _MISSING)
        num_fixed = len(operands)
        if variadic is not None:
            num_fixed = len(params)
            if num_in < num_fixed:
                self.error(
                    f"wrong number of args for {name}: want at least {num_fixed} "
                    f"got {len(operands)}"
                )
        elif num_in != len(params):
            self.error(f"wrong number of args for {name}: want {len(params)} got {num_in}")
        argv: list[object] = []
        eval_arg = self.eval_arg
        if variadic is None:
            for typ, operand in zip(params, operands, strict=False):
                argv.append(eval_arg(dot, typ, operand))
        else:
            for i, operand in enumerate(operands):
                argv.append(eval_arg(dot, params[i] if i < num_fixed else variadic, operand))
        if final is not _MISSING:
            if variadic is not None:
                last = params[num_in - 1] if num_in - 1 < num_fixed else variadic
            else:
                last = params[-1]
            argv.append(self.validate_type(final, last))
        try:
            return func.fn(*argv)
        except (TemplateError, Break, Continue, RecursionError):
            raise
        except Exception as err:  # a Go function's error result, or its recovered panic
            self.node = node
            self.error(f"error calling {name}: {arguments.error_text(err)}")

    # --- arguments --------------------------------------------------------------------

    def eval_arg(self, dot: object, typ: str | None, node: n.Node) -> object:
        if typ == builtins.REFLECT_VALUE:
            return self.eval_reflect_arg(dot, node)
        self.node = node
        kind = type(node)
        if kind is n.StringNode and typ in TAKES_STRING_LITERAL:
            return node.text  # type: ignore[attr-defined]
        if kind is n.FieldNode:
            value = self.eval_field_node(dot, node, (node,), _MISSING)  # type: ignore[arg-type]
            if typ == "interface {}":
                return None if value is NO_VALUE else value
            return self.validate_type(value, typ)
        if kind is n.DotNode:
            return self.validate_type(dot, typ)
        if kind is n.VariableNode:
            return self.validate_type(self.eval_variable_node(dot, node, None, _MISSING), typ)  # type: ignore[arg-type]
        if kind is n.PipeNode:
            return self.validate_type(self.eval_pipeline(dot, node), typ)  # type: ignore[arg-type]
        if kind is n.IdentifierNode:
            value = self.eval_function(dot, node, node, None, _MISSING)  # type: ignore[arg-type]
            return self.validate_type(value, typ)
        if kind is n.ChainNode:
            return self.validate_type(self.eval_chain_node(dot, node, None, _MISSING), typ)  # type: ignore[arg-type]
        if kind is n.NilNode:
            if typ is not None and builtins.can_be_nil(typ):
                return builtins.zero_of(typ)
            self.error(f"cannot assign nil to {typ}")
        return self.eval_constant_arg(typ or "", node)

    def eval_reflect_arg(self, dot: object, node: n.Node) -> object:
        """An argument for a `reflect.Value` parameter: as is, boxed if read from an interface."""
        self.node = node
        kind = type(node)
        if kind is n.StringNode:
            return node.text  # type: ignore[attr-defined]
        if kind is n.DotNode:
            boxed = self.dot_boxed
            value = dot
        elif kind is n.FieldNode or kind is n.VariableNode or kind is n.ChainNode:
            self.last_boxed = False
            if kind is n.FieldNode:
                value = self.eval_field_node(dot, node, (node,), _MISSING)  # type: ignore[arg-type]
            elif kind is n.VariableNode:
                value = self.eval_variable_node(dot, node, None, _MISSING)  # type: ignore[arg-type]
            else:
                value = self.eval_chain_node(dot, node, None, _MISSING)  # type: ignore[arg-type]
            boxed = self.last_boxed
        elif kind is n.PipeNode:
            return self.eval_pipeline(dot, node)  # type: ignore[arg-type]
        elif kind is n.IdentifierNode:
            return self.eval_function(dot, node, node, None, _MISSING)  # type: ignore[arg-type]
        elif kind is n.NilNode:
            return NO_VALUE
        else:
            return self.eval_empty_interface(node)
        if boxed and value is not None and value is not NO_VALUE:
            return builtins.Boxed(value)
        return value

    def eval_constant_arg(self, typ: str, node: n.Node) -> object:
        try:
            return arguments.constant_argument(typ, node)
        except arguments.ArgumentError as err:
            self.error(str(err))

    def eval_empty_interface(self, node: n.Node) -> object:
        self.node = node
        try:
            return arguments.empty_interface_constant(node)
        except arguments.ArgumentError as err:
            self.error(str(err))

    def ideal_constant(self, constant: n.NumberNode) -> object:
        self.node = constant
        try:
            return arguments.ideal_constant(constant)
        except arguments.ArgumentError as err:
            self.error(str(err))

    def validate_type(self, value: object, typ: str | None) -> object:
        try:
            return arguments.validate_type(value, typ)
        except arguments.ArgumentError as err:
            self.error(str(err))


def _sorted_keys(mapping: dict[Any, object]) -> list[Any]:
    """Go's `fmtsort` order; keys of mixed types (YAML data) group by type first."""
    try:
        return sorted(mapping)
    except TypeError:
        return sorted(mapping, key=lambda key: (type(key).__name__, str(key)))


def _type_name(receiver: object, boxed: bool) -> str:
    """The receiver's type as Go's field errors name it (`interface {}` for a boxed value)."""
    return "interface {}" if boxed else go_type_of(receiver)


_WALKERS: dict[type, Callable[[State, object, Any], None]] = {
    n.ListNode: State.walk_list,
    n.ActionNode: State.walk_action,
    n.TextNode: State.walk_text,
    n.CommentNode: State.walk_comment,
    n.IfNode: State.walk_if,
    n.RangeNode: State.walk_range,
    n.WithNode: State.walk_with,
    n.TemplateNode: State.walk_template,
    n.BreakNode: State.walk_break,
    n.ContinueNode: State.walk_continue,
}


def execute(program: Program, tree_name: str, data: object) -> str:
    """Runs the named tree over `data` and returns the output; raises `ExecError`."""
    tree = program.trees.get(tree_name)
    if data is None:
        data = NO_VALUE
    state = State(program, tree_name, data)
    if tree is None:
        state.error(f"{go_quote(tree_name)} is an incomplete or empty template")
    try:
        state.walk_list(data, tree)
    except RecursionError:
        state.error(f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
    return "".join(state.out)
