"""Items to trees, as Go's text/template/parse/parse.go builds them, with Go's error texts.

One call of `parse_trees` returns every template the text defines (the main one under its
name, plus each `define`/`block`), keyed by name, after Go's redefinition rules.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from typing import NoReturn

from . import nodes as n
from .errors import ParseError, go_quote
from .lexer import Item, ItemType, lex

_OPERAND_START = frozenset(
    {
        ItemType.BOOL,
        ItemType.CHAR_CONSTANT,
        ItemType.COMPLEX,
        ItemType.DOT,
        ItemType.FIELD,
        ItemType.IDENTIFIER,
        ItemType.NUMBER,
        ItemType.NIL,
        ItemType.RAW_STRING,
        ItemType.STRING,
        ItemType.VARIABLE,
        ItemType.LEFT_PAREN,
    }
)
_CONSTANT_NODES = (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode, n.StringNode)


class _Cursor:
    """The shared position in the item list; Go shares one lexer between nested trees."""

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self.index = 0

    def take(self) -> Item:
        i = self.index
        if i >= len(self.items):
            return self.items[-1]
        self.index = i + 1
        return self.items[i]


class _TreeParser:
    """One tree being parsed (the main template, or one `define`/`block` body)."""

    def __init__(
        self,
        name: str,
        *,
        cursor: _Cursor,
        context: _ParseContext,
    ) -> None:
        self.name = name
        self.cursor = cursor
        self.ctx = context
        self.vars: list[str] = ["$"]
        self.last_line = 0
        self.high_water = cursor.index
        self.action_line = 0
        self.range_depth = 0
        self.root: n.ListNode | None = None

    # --- tokens -----------------------------------------------------------------------

    def next(self) -> Item:
        """The next item; `last_line` follows the furthest item read, Go's `token[0].line`."""
        item = self.cursor.take()
        if self.cursor.index >= self.high_water:
            self.high_water = self.cursor.index
            self.last_line = item.line
        return item

    def backup(self, count: int = 1) -> None:
        self.cursor.index -= count

    def peek(self) -> Item:
        item = self.next()
        self.backup()
        return item

    def next_non_space(self) -> Item:
        while True:
            item = self.next()
            if item.typ != ItemType.SPACE:
                return item

    def peek_non_space(self) -> Item:
        item = self.next_non_space()
        self.backup()
        return item

    # --- errors -----------------------------------------------------------------------

    def fail(self, message: str) -> NoReturn:
        raise ParseError(
            f"template: {self.ctx.parse_name}:{self.last_line}: {message}",
            template_name=self.ctx.parse_name,
            line=self.last_line,
        )

    def unexpected(self, item: Item, context: str) -> NoReturn:
        if item.typ == ItemType.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != item.line:
                extra = f" in action started at {self.ctx.parse_name}:{self.action_line}"
                if item.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            self.fail(f"{item}{extra}")
        self.fail(f"unexpected {item} in {context}")

    def expect(self, expected: ItemType, context: str) -> Item:
        item = self.next_non_space()
        if item.typ != expected:
            self.unexpected(item, context)
        return item

    # --- structure --------------------------------------------------------------------

    def parse_main(self) -> None:
        nodes_: list[n.Node] = []
        start = self.peek().pos
        while self.peek().typ != ItemType.EOF:
            if self.peek().typ == ItemType.LEFT_DELIM:
                self.next()
                if self.next_non_space().typ == ItemType.DEFINE:
                    self._sub_parser("definition").parse_definition()
                    continue
                self._backup_to_delim()
            node = self.text_or_action()
            if isinstance(node, n.EndNode | n.ElseNode):
                self.fail(f"unexpected {node}")
            nodes_.append(node)
        self.root = n.ListNode(start, tuple(nodes_))
        self.ctx.add(self)

    def _backup_to_delim(self) -> None:
        """Go's `backup2(delim)`: step back to just after the left delimiter."""
        while self.cursor.items[self.cursor.index - 1].typ != ItemType.LEFT_DELIM:
            self.cursor.index -= 1
        self.cursor.index -= 1

    def _sub_parser(self, name: str) -> _TreeParser:
        return _TreeParser(name, cursor=self.cursor, context=self.ctx)

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (ItemType.STRING, ItemType.RAW_STRING):
            self.unexpected(token, context)
        self.name = self._unquote(token.val)
        self.expect(ItemType.RIGHT_DELIM, context)
        self.root, end = self.item_list()
        if not isinstance(end, n.EndNode):
            self.fail(f"unexpected {end} in {context}")
        self.ctx.add(self)

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        start = self.peek_non_space().pos
        items: list[n.Node] = []
        while self.peek_non_space().typ != ItemType.EOF:
            node = self.text_or_action()
            if isinstance(node, n.EndNode | n.ElseNode):
                return n.ListNode(start, tuple(items)), node
            items.append(node)
        self.fail("unexpected EOF")

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.typ == ItemType.TEXT:
            return n.TextNode(token.pos, token.val)
        if token.typ == ItemType.LEFT_DELIM:
            self.action_line = token.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if token.typ == ItemType.COMMENT:
            return n.CommentNode(token.pos, token.val)
        self.unexpected(token, "input")

    def action(self) -> n.Node:
        token = self.next_non_space()
        handler = _ACTIONS.get(token.typ)
        if handler is not None:
            return handler(self, token)
        self.backup()
        token = self.peek()
        return n.ActionNode(token.pos, token.line, self.pipeline("command", ItemType.RIGHT_DELIM))

    def break_control(self, token: Item) -> n.Node:
        after = self.next_non_space()
        if after.typ != ItemType.RIGHT_DELIM:
            self.unexpected(after, "{{break}}")
        if self.range_depth == 0:
            self.fail("{{break}} outside {{range}}")
        return n.BreakNode(token.pos, token.line)

    def continue_control(self, token: Item) -> n.Node:
        after = self.next_non_space()
        if after.typ != ItemType.RIGHT_DELIM:
            self.unexpected(after, "{{continue}}")
        if self.range_depth == 0:
            self.fail("{{continue}} outside {{range}}")
        return n.ContinueNode(token.pos, token.line)

    # --- pipelines --------------------------------------------------------------------

    def pipeline(self, context: str, end: ItemType) -> n.PipeNode:
        token = self.peek_non_space()
        decl, is_assign = self._declarations(context)
        cmds: list[n.CommandNode] = []
        while True:
            item = self.next_non_space()
            if item.typ == end:
                pipe = n.PipeNode(token.pos, token.line, is_assign, tuple(decl), tuple(cmds))
                self._check_pipeline(pipe, context)
                return pipe
            if item.typ in _OPERAND_START:
                self.backup()
                cmds.append(self.command())
            else:
                self.unexpected(item, context)

    def _declarations(self, context: str) -> tuple[list[n.VariableNode], bool]:
        decl: list[n.VariableNode] = []
        is_assign = False
        while True:
            var = self.peek_non_space()
            if var.typ != ItemType.VARIABLE:
                return decl, is_assign
            start = self.cursor.index
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (ItemType.ASSIGN, ItemType.DECLARE):
                is_assign = nxt.typ == ItemType.ASSIGN
                self.next_non_space()
                decl.append(n.VariableNode(var.pos, tuple(var.val.split("."))))
                self.vars.append(var.val)
                return decl, is_assign
            if nxt.typ == ItemType.CHAR and nxt.val == ",":
                self.next_non_space()
                decl.append(n.VariableNode(var.pos, tuple(var.val.split("."))))
                self.vars.append(var.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().typ in (
                        ItemType.VARIABLE,
                        ItemType.RIGHT_DELIM,
                        ItemType.RIGHT_PAREN,
                    ):
                        continue
                    self.fail("range can only initialize variables")
                self.fail(f"too many declarations in {context}")
            self.cursor.index = start
            return decl, is_assign

    def _check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            self.fail(f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], _CONSTANT_NODES):
                self.fail(f"non executable command in pipeline stage {i + 2}")

    def command(self) -> n.CommandNode:
        start = self.peek_non_space().pos
        args: list[n.Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.typ == ItemType.SPACE:
                continue
            if token.typ in (ItemType.RIGHT_DELIM, ItemType.RIGHT_PAREN):
                self.backup()
            elif token.typ != ItemType.PIPE:
                self.unexpected(token, "operand")
            break
        if not args:
            self.fail("empty command")
        return n.CommandNode(start, tuple(args))

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == ItemType.FIELD:
            chain_pos = self.peek().pos
            fields: list[str] = []
            while self.peek().typ == ItemType.FIELD:
                fields.append(self.next().val[1:])
            if isinstance(node, n.FieldNode):
                return n.FieldNode(chain_pos, node.ident + tuple(fields))
            if isinstance(node, n.VariableNode):
                return n.VariableNode(chain_pos, node.ident + tuple(fields))
            if isinstance(node, n.BoolNode | n.StringNode | n.NumberNode | n.NilNode | n.DotNode):
                self.fail(f"unexpected . after term {_go_q(str(node))}")
            return n.ChainNode(chain_pos, node, tuple(fields))
        return node

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ == ItemType.IDENTIFIER:
            if token.val not in self.ctx.functions:
                self.fail(f"function {_go_q(token.val)} not defined")
            return n.IdentifierNode(token.pos, token.val)
        if typ == ItemType.DOT:
            return n.DotNode(token.pos)
        if typ == ItemType.NIL:
            return n.NilNode(token.pos)
        if typ == ItemType.VARIABLE:
            return self._use_var(token)
        if typ == ItemType.FIELD:
            return n.FieldNode(token.pos, tuple(token.val[1:].split(".")))
        if typ == ItemType.BOOL:
            return n.BoolNode(token.pos, token.val == "true")
        if typ in (ItemType.CHAR_CONSTANT, ItemType.COMPLEX, ItemType.NUMBER):
            kind = {ItemType.CHAR_CONSTANT: "char", ItemType.COMPLEX: "complex"}.get(typ, "number")
            try:
                return n.number_node(token.pos, token.val, kind=kind)
            except n.LiteralError as err:
                self.fail(str(err))
        if typ == ItemType.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", ItemType.RIGHT_PAREN)
        if typ in (ItemType.STRING, ItemType.RAW_STRING):
            return n.StringNode(token.pos, token.val, self._unquote(token.val))
        self.backup()
        return None

    def _use_var(self, token: Item) -> n.VariableNode:
        node = n.VariableNode(token.pos, tuple(token.val.split(".")))
        if node.ident[0] not in self.vars:
            self.fail(f"undefined variable {_go_q(node.ident[0])}")
        return node

    def _unquote(self, quoted: str) -> str:
        try:
            return n.unquote(quoted)
        except n.LiteralError as err:
            self.fail(str(err))

    # --- control structures -----------------------------------------------------------

    def parse_control(
        self, context: str, *, allow_else_if: bool
    ) -> tuple[int, int, n.PipeNode, n.ListNode, n.ListNode | None]:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            body, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: n.ListNode | None = None
            if isinstance(nxt, n.ElseNode):
                if allow_else_if and self.peek().typ == ItemType.IF:
                    self.next()
                    else_list = n.ListNode(nxt.pos, (self.if_control(),))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, n.EndNode):
                        self.fail(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, body, else_list
        finally:
            del self.vars[mark:]

    def if_control(self, _token: Item | None = None) -> n.Node:
        return n.IfNode(*self.parse_control("if", allow_else_if=True))

    def range_control(self, _token: Item) -> n.Node:
        return n.RangeNode(*self.parse_control("range", allow_else_if=False))

    def with_control(self, _token: Item) -> n.Node:
        return n.WithNode(*self.parse_control("with", allow_else_if=False))

    def end_control(self, _token: Item) -> n.Node:
        return n.EndNode(self.expect(ItemType.RIGHT_DELIM, "end").pos)

    def else_control(self, _token: Item) -> n.Node:
        peek = self.peek_non_space()
        if peek.typ == ItemType.IF:
            return n.ElseNode(peek.pos, peek.line)
        token = self.expect(ItemType.RIGHT_DELIM, "else")
        return n.ElseNode(token.pos, token.line)

    def block_control(self, _token: Item) -> n.Node:
        context = "block clause"
        token = self.next_non_space()
        name = self._template_name(token, context)
        pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        block = self._sub_parser(name)
        block.root, end = block.item_list()
        if not isinstance(end, n.EndNode):
            self.fail(f"unexpected {end} in {context}")
        self.ctx.add(block)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def template_control(self, _token: Item) -> n.Node:
        context = "template clause"
        token = self.next_non_space()
        name = self._template_name(token, context)
        pipe: n.PipeNode | None = None
        if self.next_non_space().typ != ItemType.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, ItemType.RIGHT_DELIM)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def _template_name(self, token: Item, context: str) -> str:
        if token.typ not in (ItemType.STRING, ItemType.RAW_STRING):
            self.unexpected(token, context)
        return self._unquote(token.val)


_ACTIONS: dict[ItemType, Callable[[_TreeParser, Item], n.Node]] = {
    ItemType.BLOCK: _TreeParser.block_control,
    ItemType.BREAK: _TreeParser.break_control,
    ItemType.CONTINUE: _TreeParser.continue_control,
    ItemType.ELSE: _TreeParser.else_control,
    ItemType.END: _TreeParser.end_control,
    ItemType.IF: _TreeParser.if_control,
    ItemType.RANGE: _TreeParser.range_control,
    ItemType.TEMPLATE: _TreeParser.template_control,
    ItemType.WITH: _TreeParser.with_control,
}


_go_q = go_quote


class _ParseContext:
    """What the trees of one parse share: the text, the name for errors, the function names."""

    def __init__(self, parse_name: str, functions: Container[str]) -> None:
        self.parse_name = parse_name
        self.functions = functions
        self.trees: dict[str, n.ListNode] = {}

    def add(self, tree: _TreeParser) -> None:
        """Go's `Tree.add`: an empty body never replaces a definition; two bodies conflict."""
        existing = self.trees.get(tree.name)
        assert tree.root is not None
        if existing is None or n.is_empty_tree(existing):
            self.trees[tree.name] = tree.root
            return
        if not n.is_empty_tree(tree.root):
            tree.fail(f"template: multiple definition of template {_go_q(tree.name)}")


def parse_trees(
    text: str,
    *,
    name: str,
    left: str,
    right: str,
    functions: Container[str],
) -> dict[str, n.ListNode]:
    """Every template `text` defines, by name; raises `ParseError` with Go's text."""
    items = lex(
        text,
        left=left,
        right=right,
        break_ok="break" not in functions,
        continue_ok="continue" not in functions,
    )
    context = _ParseContext(name, functions)
    main = _TreeParser(name, cursor=_Cursor(items), context=context)
    try:
        main.parse_main()
    except RecursionError:
        # Go has no nesting limit; Python's stack has one, and a parse must never crash.
        raise ParseError(
            f"template: {name}: nested too deeply for this engine",
            template_name=name,
        ) from None
    return context.trees
