"""Go's text/template (with sprig), faithful to Go 1.19, self-contained.

```python
t = gotemplate.parse(text, name="inject", funcs={"indent": indent})
out = t.execute(data)              # or t.execute(data, name="sidecar") for a defined template
```
`parse` compiles the templates into Python functions (`codegen`); `interpret` runs the
tree-walking interpreter (`exec`), the reference the compiled form must agree with.
`str(err)` of a `ParseError` or `ExecError` is Go's error text; `ExecError.partial` is what
was written before the failure. A parsed `Template` is immutable: execute it from any thread.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from . import codegen, nodes
from . import exec as executor
from .builtins import BUILTINS, as_func
from .errors import ExecError, ParseError, TemplateError, go_quote
from .parser import parse_trees
from .values import Func

__all__ = ["ExecError", "ParseError", "Template", "TemplateError", "parse"]

_MISSING_KEY_MODES = ("default", "invalid", "zero", "error")


class Template:
    """A parsed template set: the main template and every `define`/`block` in its text."""

    __slots__ = ("_compiled", "_program", "name")

    def __init__(
        self, name: str, program: executor.Program, compiled: codegen.CompiledProgram | None
    ) -> None:
        self.name = name
        self._program = program
        self._compiled = compiled

    @property
    def compiled(self) -> bool:
        """Whether `execute` runs compiled code (else the interpreter: see `codegen`)."""
        return self._compiled is not None

    @property
    def template_names(self) -> frozenset[str]:
        """Names that `execute(name=...)` accepts."""
        return frozenset(self._program.trees)

    @property
    def functions(self) -> frozenset[str]:
        """Names of the functions the template set calls, in any of its templates."""
        trees = self._program.trees.values()
        return frozenset(ident for tree in trees for ident in nodes.identifiers(tree))

    @property
    def deterministic(self) -> bool:
        """Whether the same data always renders the same text: no sprig function that reads the
        clock or randomness is called (`now`, `randAlpha`, `uuidv4`, ...)."""
        module = importlib.import_module(f"{__name__}.sprig")
        return not self.functions & module.NONDETERMINISTIC

    def execute(self, data: object, name: str | None = None) -> str:
        """Renders the main template (or the defined template `name`) over `data`."""
        tree_name = self._tree_name(name)
        if self._compiled is not None:
            return codegen.execute(self._program, self._compiled, tree_name, data)
        return executor.execute(self._program, tree_name, data)

    def interpret(self, data: object, name: str | None = None) -> str:
        """`execute` by walking the tree: the reference for the compiled form."""
        return executor.execute(self._program, self._tree_name(name), data)

    def _tree_name(self, name: str | None) -> str:
        if name is not None and name not in self._program.trees:
            raise ExecError(
                f"template: no template {go_quote(name)} associated with template "
                f"{go_quote(self.name)}",
                template_name=self.name,
            )
        return self.name if name is None else name

    def __repr__(self) -> str:
        return f"Template({self.name!r}, templates={sorted(self._program.trees)!r})"


def _sprig_funcs() -> Mapping[str, Func]:
    module = importlib.import_module(f"{__name__}.sprig")
    funcs: Mapping[str, Func] = module.FUNCS
    return funcs


def _missing_key(options: Sequence[str]) -> str:
    mode = "default"
    for option in options:
        if not option:
            raise ValueError("empty option string")
        key, sep, value = option.partition("=")
        if sep and key == "missingkey" and value in _MISSING_KEY_MODES:
            mode = value
            continue
        raise ValueError(f"unrecognized option: {option}")
    return mode


def parse(
    text: str,
    name: str = "inject",
    *,
    delims: tuple[str, str] = ("{{", "}}"),
    funcs: Mapping[str, Func | Callable[..., object]] | None = None,
    sprig: bool = True,
    options: Sequence[str] = ("missingkey=default",),
    compiled: bool = True,
) -> Template:
    """Parses `text` as Go's `template.New(name).Funcs(...).Delims(...).Parse(text)` does,
    then compiles it (`compiled=False`: only the interpreter runs it)."""
    table: dict[str, Func] = dict(BUILTINS)
    if sprig:
        table.update(_sprig_funcs())
    for func_name, fn in (funcs or {}).items():
        table[func_name] = as_func(func_name, fn)
    builtin_names = frozenset(k for k, v in table.items() if BUILTINS.get(k) is v)
    missing_key = _missing_key(options)
    trees = parse_trees(text, name=name, left=delims[0], right=delims[1], functions=table)
    program = executor.Program(
        parse_name=name,
        text=text,
        trees=MappingProxyType(trees),
        funcs=table,
        builtin_names=builtin_names,
        missing_key=missing_key,
    )
    return Template(name, program, codegen.compile_program(program) if compiled else None)
