"""How template values print: Go's `fmt` (`Sprint`, `Sprintf`, `%v`) over the engine's values.

A `_Printer` plays the part of Go's `pp`: it walks a value and writes verbs with the flags of
the current directive. Where the value model cannot say what Go would know:

* Go addresses cannot be reproduced: a non-nil pointer printed as an address (a nested `*T`
  struct, a func, `%p`) prints the fixed `0xc000010000`.
* A `Struct`'s `String`/`Error`/`GoString` methods count for the value and its pointer alike
  (Go tells value receivers from pointer receivers).
* Python values outside the model print with `str()`.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Sequence
from typing import Final

from sidecar_injector.gotemplate.formatting import Flags, Formatter
from sidecar_injector.gotemplate.strconv import LOWER_HEX, UPPER_HEX, format_float, is_print
from sidecar_injector.gotemplate.values import ANY, NO_VALUE, Func, Map, Nil, Struct, go_type_of

__all__ = [
    "format_float",
    "format_value",
    "html_escape",
    "js_escape",
    "query_escape",
    "sprint",
    "sprintf",
    "sprintln",
]

FAKE_ADDRESS: Final = 0xC000010000
_U64: Final = (1 << 64) - 1
_UNSIGNED: Final = frozenset({"uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte"})
_POINTER_PREFIXES: Final = ("*", "func", "chan", "unsafe.Pointer")


def format_value(value: object) -> str:
    """What `{{ .x }}` writes: `%v`, with a pointer to a struct printed as the struct itself."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return format_float(value, "g", -1) if math.isfinite(value) else sprint([value])
    if value is NO_VALUE:
        return "<no value>"
    printer = _Printer()
    if isinstance(value, Struct) and _is_pointer_type(value.go_type):
        if not printer.handle_methods(value, "v"):
            printer.print_fields(value, "v", 0, type_name=value.go_type[1:])
    else:
        printer.print_arg(value, "v")
    return printer.text()


def sprint(args: Sequence[object]) -> str:
    """`fmt.Sprint`: a space between operands when neither is a string."""
    printer = _Printer()
    prev_string = False
    for n, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if n > 0 and not is_string and not prev_string:
            printer.write(" ")
        if is_string and type(arg) is str:
            printer.write(arg)
        else:
            printer.print_arg(arg, "v")
        prev_string = is_string
    return printer.text()


def sprintln(args: Sequence[object]) -> str:
    """`fmt.Sprintln`: operands separated by spaces, then a newline."""
    printer = _Printer()
    for n, arg in enumerate(args):
        if n > 0:
            printer.write(" ")
        printer.print_arg(arg, "v")
    printer.write("\n")
    return printer.text()


def sprintf(format: str, args: Sequence[object]) -> str:
    """`fmt.Sprintf`, bad directives included (`%!d(string=x)`, `%!(EXTRA int=1)`)."""
    printer = _Printer()
    _Directives(printer, format, args).run()
    return printer.text()


class _Directives:
    """Go's `doPrintf`: walks a format, reading flags, width, precision and argument indexes."""

    def __init__(self, printer: _Printer, format: str, args: Sequence[object]) -> None:
        self.p = printer
        self.format = format
        self.args = args
        self.arg_num = 0
        self.reordered = False
        self.good_arg_num = True

    def run(self) -> None:
        fmt, end, i = self.format, len(self.format), 0
        while i < end:
            self.good_arg_num = True
            j = fmt.find("%", i)
            j = end if j < 0 else j
            self.p.write(fmt[i:j])
            if j >= end:
                break
            i = self._directive(j + 1)
            if i < 0:
                self.p.write("%!(NOVERB)")
                break
        if not self.reordered and self.arg_num < len(self.args):
            self._extra()

    def _directive(self, i: int) -> int:
        """Handle one directive starting after its `%`; the index after it, or -1 if no verb."""
        if self._plain(self.format[i : i + 1]):
            return i + 1
        f = self.p.flags = Flags()
        i = _read_flags(self.format, i, f)
        i, after_index = self._arg_index(i)
        i, after_index = self._width(i, after_index=after_index)
        i, after_index = self._precision(i, after_index=after_index)
        if not after_index:
            i, after_index = self._arg_index(i)
        if i >= len(self.format):
            return -1
        self._verb(self.format[i])
        return i + 1

    def _plain(self, verb: str) -> bool:
        """The common `%s` of a string or `%d`/`%v` of an int, written without the machinery."""
        if self.arg_num >= len(self.args):
            return False
        arg = self.args[self.arg_num]
        if (verb == "s" or verb == "v") and type(arg) is str:
            self.p.write(arg)
        elif (verb == "d" or verb == "v") and type(arg) is int:
            self.p.write(str(arg))
        else:
            return False
        self.arg_num += 1
        return True

    def _width(self, i: int, *, after_index: bool) -> tuple[int, bool]:
        f = self.p.flags
        if i < len(self.format) and self.format[i] == "*":
            f.wid, f.wid_present = self._int_from_arg()
            if not f.wid_present:
                self.p.write("%!(BADWIDTH)")
            if f.wid < 0:
                f.wid, f.minus, f.zero = -f.wid, True, False
            return i + 1, False
        f.wid, f.wid_present, i = _parse_num(self.format, i, len(self.format))
        if after_index and f.wid_present:
            self.good_arg_num = False
        return i, after_index

    def _precision(self, i: int, *, after_index: bool) -> tuple[int, bool]:
        f = self.p.flags
        if not (i + 1 < len(self.format) and self.format[i] == "."):
            return i, after_index
        if after_index:
            self.good_arg_num = False
        i, after_index = self._arg_index(i + 1)
        if i < len(self.format) and self.format[i] == "*":
            f.prec, f.prec_present = self._int_from_arg()
            if f.prec < 0:
                f.prec, f.prec_present = 0, False
            if not f.prec_present:
                self.p.write("%!(BADPREC)")
            return i + 1, False
        f.prec, f.prec_present, i = _parse_num(self.format, i, len(self.format))
        if not f.prec_present:
            f.prec, f.prec_present = 0, True
        return i, after_index

    def _verb(self, verb: str) -> None:
        f = self.p.flags
        if verb == "%":
            self.p.write("%")
        elif not self.good_arg_num:
            self.p.write(f"%!{verb}(BADINDEX)")
        elif self.arg_num >= len(self.args):
            self.p.write(f"%!{verb}(MISSING)")
        else:
            if verb == "v":
                f.sharp_v, f.sharp = f.sharp, False
                f.plus_v, f.plus = f.plus, False
            self.p.print_arg(self.args[self.arg_num], verb)
            self.arg_num += 1

    def _arg_index(self, i: int) -> tuple[int, bool]:
        """An explicit `[n]` at `i`: the index after it and whether it named a good argument."""
        if i >= len(self.format) or self.format[i] != "[":
            return i, False
        self.reordered = True
        index, width, ok = _parse_arg_number(self.format[i:])
        if ok and 0 <= index < len(self.args):
            self.arg_num = index
            return i + width, True
        self.good_arg_num = False
        return i + width, ok

    def _int_from_arg(self) -> tuple[int, bool]:
        """A `*` width or precision: the next operand if it is a Go integer of sane size."""
        if self.arg_num >= len(self.args):
            return 0, False
        arg = self.args[self.arg_num]
        self.arg_num += 1
        if not isinstance(arg, int) or isinstance(arg, bool) or _too_large(int(arg)):
            return 0, False
        return int(arg), True

    def _extra(self) -> None:
        self.p.flags = Flags()
        self.p.write("%!(EXTRA ")
        for n, arg in enumerate(self.args[self.arg_num :]):
            if n > 0:
                self.p.write(", ")
            if _is_untyped_nil(arg):
                self.p.write("<nil>")
            else:
                self.p.write(go_type_of(arg) + "=")
                self.p.print_arg(arg, "v")
        self.p.write(")")


def _read_flags(fmt: str, i: int, f: Flags) -> int:
    while i < len(fmt):
        c = fmt[i]
        if c == "#":
            f.sharp = True
        elif c == "0":
            f.zero = not f.minus
        elif c == "+":
            f.plus = True
        elif c == "-":
            f.minus, f.zero = True, False
        elif c == " ":
            f.space = True
        else:
            break
        i += 1
    return i


def _too_large(n: int) -> bool:
    return n > 1_000_000 or n < -1_000_000


def _parse_num(s: str, start: int, end: int) -> tuple[int, bool, int]:
    """Go's `parsenum`: a decimal at `start`, giving up (to `end`) when absurdly long."""
    if start >= end:
        return 0, False, end
    num, found, i = 0, False, start
    while i < end and "0" <= s[i] <= "9":
        if _too_large(num):
            return 0, False, end
        num, found, i = num * 10 + ord(s[i]) - 48, True, i + 1
    return num, found, i


def _parse_arg_number(s: str) -> tuple[int, int, bool]:
    """`[n]` at the start of `s`: zero-based index, characters consumed, well-formed."""
    if len(s) < 3:
        return 0, 1, False
    close = s.find("]", 1)
    if close < 0:
        return 0, 1, False
    number, ok, after = _parse_num(s, 1, close)
    if not ok or after != close:
        return 0, close + 1, False
    return number - 1, close + 1, True


def _is_pointer_type(go_type: str) -> bool:
    return go_type.startswith(_POINTER_PREFIXES)


def _is_untyped_nil(value: object) -> bool:
    """Nil as an `interface {}` operand: Go loses the type of a nil interface passed to fmt."""
    if value is None or value is NO_VALUE:
        return True
    return isinstance(value, Nil) and _nil_kind(value.go_type) == "interface"


def _nil_kind(go_type: str) -> str:
    if _is_pointer_type(go_type):
        return "pointer"
    if go_type.startswith("map["):
        return "map"
    if go_type.startswith("[]"):
        return "slice"
    return "interface"


def _elem_type(container_type: str) -> str:
    """The element type of `[]T` or `map[K]T`."""
    if container_type.startswith("[]"):
        return container_type[2:]
    depth = 0
    for i, c in enumerate(container_type):
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return container_type[i + 1 :]
    return ANY


def _nil_syntax(go_type: str) -> str:
    """`%#v` of a nil of `go_type`: `(*T)(nil)`, `map[K]V(nil)`, `interface {}(nil)`."""
    if _is_pointer_type(go_type):
        return f"({go_type})(nil)"
    return f"{go_type}(nil)"


class _Printer(Formatter):
    """Go's `pp`: walks an operand, choosing for each value how its verb formats it."""

    def __init__(self) -> None:
        super().__init__()
        self.erroring = False

    def print_arg(self, arg: object, verb: str) -> None:
        """One top-level operand (Go's `printArg`)."""
        if _is_untyped_nil(arg):
            if verb in "Tv":
                self.pad("<nil>")
            else:
                self.bad_verb(verb, None)
        elif verb == "T":
            self.fmt_s(go_type_of(arg))
        elif verb == "p":
            self.print_address(arg)
        elif not (isinstance(arg, Struct) and self.handle_methods(arg, verb)):
            self.print_value(arg, verb, 0)

    def print_value(self, value: object, verb: str, depth: int, *, static: str = ANY) -> None:
        """A value at `depth` inside the operand (Go's `printValue`); `static`: its Go type."""
        if depth > 0 and isinstance(value, Struct) and self.handle_methods(value, verb):
            return
        if value is None or value is NO_VALUE:
            self.write(_nil_syntax(static) if self.flags.sharp_v else "<nil>")
        elif isinstance(value, bool):
            self.fmt_bool(value, verb)
        elif isinstance(value, int):
            go_type = static if type(value) is int and static != ANY else go_type_of(value)
            self.fmt_int(value, verb, unsigned=go_type in _UNSIGNED)
        elif isinstance(value, float):
            self.fmt_float_verb(value, verb)
        elif isinstance(value, complex):
            self.fmt_complex(value, verb)
        elif isinstance(value, str):
            self.fmt_string(value, verb)
        elif isinstance(value, Nil):
            self.print_nil(value, verb)
        elif isinstance(value, dict):
            self.print_map(value, verb, depth)
        elif isinstance(value, list | tuple):
            self.print_slice(value, verb, depth)
        elif isinstance(value, Struct):
            self.print_struct(value, verb, depth)
        elif isinstance(value, Func):
            self.fmt_pointer(value, verb, address=FAKE_ADDRESS)
        else:
            self.pad(str(value))

    def handle_methods(self, value: Struct, verb: str) -> bool:
        """Print through `Error()`/`String()` (or `GoString()` for `%#v`) when the type has one."""
        if self.erroring:
            return False
        if self.flags.sharp_v:
            names: tuple[str, ...] = ("GoString",)
        elif verb in "vsxXq":
            names = ("Error", "String")
        else:
            return False
        for name in names:
            method = value.go_method(name)
            if method is None:
                continue
            try:
                text = method()
                if not isinstance(text, str):
                    raise TypeError(f"{name} returned {type(text).__name__}, not string")
            except Exception as exc:
                self.print_panic(value, verb, method=name, exc=exc)
                return True
            if name == "GoString":
                self.fmt_s(text)
            else:
                self.fmt_string(text, verb)
            return True
        return False

    def print_panic(self, value: Struct, verb: str, *, method: str, exc: Exception) -> None:
        """Go's `catchPanic`: `%!v(PANIC=String method: ...)`."""
        saved, self.flags = self.flags, Flags()
        self.write(f"%!{verb}(PANIC={method} method: {exc})")
        self.flags = saved

    def bad_verb(self, verb: str, value: object) -> None:
        """`%!d(string=x)`: a verb that does not apply to the operand."""
        self.erroring = True
        self.write(f"%!{verb}(")
        if _is_untyped_nil(value):
            self.write("<nil>")
        else:
            self.write(go_type_of(value) + "=")
            self.print_arg(value, "v")
        self.write(")")
        self.erroring = False

    def print_address(self, arg: object) -> None:
        """`%p`: only reference kinds have an address."""
        if isinstance(arg, Nil) or (isinstance(arg, Map) and arg.is_nil):
            self.fmt_pointer(arg, "p", address=0)
        elif isinstance(arg, dict | list | tuple | Func) or (
            isinstance(arg, Struct) and _is_pointer_type(arg.go_type)
        ):
            self.fmt_pointer(arg, "p", address=FAKE_ADDRESS)
        else:
            self.bad_verb("p", arg)

    def print_nil(self, value: Nil, verb: str) -> None:
        kind = _nil_kind(value.go_type)
        if kind == "pointer":
            self.fmt_pointer(value, verb, address=0)
        elif self.flags.sharp_v:
            self.write(_nil_syntax(value.go_type))
        elif kind == "map":
            self.write("map[]")
        elif kind == "slice":
            self.write("[]")
        else:
            self.write("<nil>")

    def print_map(self, value: dict[str, object], verb: str, depth: int) -> None:
        go_type = go_type_of(value)
        if self.flags.sharp_v:
            self.write(go_type)
            if isinstance(value, Map) and value.is_nil:
                self.write("(nil)")
                return
            self.write("{")
        else:
            self.write("map[")
        elem = _elem_type(go_type)
        for n, key in enumerate(sorted(value)):
            if n > 0:
                self.write(", " if self.flags.sharp_v else " ")
            self.print_value(key, verb, depth + 1, static="string")
            self.write(":")
            self.print_value(value[key], verb, depth + 1, static=elem)
        self.write("}" if self.flags.sharp_v else "]")

    def print_slice(self, value: Sequence[object], verb: str, depth: int) -> None:
        go_type = go_type_of(value)
        if verb in "sqxX" and _elem_type(go_type) in ("byte", "uint8"):
            self.print_bytes(bytes(int(b) & 0xFF for b in value if isinstance(b, int)), verb)
            return
        sharp_v = self.flags.sharp_v
        if sharp_v:
            self.write(go_type)
        self.write("{" if sharp_v else "[")
        elem = _elem_type(go_type)
        for n, item in enumerate(value):
            if n > 0:
                self.write(", " if sharp_v else " ")
            self.print_value(item, verb, depth + 1, static=elem)
        self.write("}" if sharp_v else "]")

    def print_bytes(self, data: bytes, verb: str) -> None:
        """`%s`, `%q`, `%x` of a `[]byte` treat it as the string it holds."""
        if verb in "xX":
            self.fmt_sx(data, digits=UPPER_HEX if verb == "X" else LOWER_HEX)
        elif verb == "s":
            self.fmt_s(data.decode("utf-8", "replace"))
        else:
            self.fmt_q(data.decode("utf-8", "replace"))

    def print_struct(self, value: Struct, verb: str, depth: int) -> None:
        if not _is_pointer_type(value.go_type):
            self.print_fields(value, verb, depth, type_name=value.go_type)
        elif depth == 0:
            self.write("&")
            self.print_fields(value, verb, depth + 1, type_name=value.go_type[1:])
        else:
            self.fmt_pointer(value, verb, address=FAKE_ADDRESS)

    def print_fields(self, value: Struct, verb: str, depth: int, *, type_name: str) -> None:
        """`{a b}`, `{A:a B:b}` for `%+v`, `T{A:"a", B:"b"}` for `%#v`."""
        f = self.flags
        if f.sharp_v:
            self.write(type_name)
        self.write("{")
        for n, name in enumerate(value.go_fields):
            if n > 0:
                self.write(", " if f.sharp_v else " ")
            if f.plus_v or f.sharp_v:
                self.write(name + ":")
            self.print_value(value.go_field(name), verb, depth + 1)
        self.write("}")

    def fmt_pointer(self, value: object, verb: str, *, address: int) -> None:
        f = self.flags
        if verb == "v" and f.sharp_v:
            self.write(f"({go_type_of(value)})(")
            if address:
                self.fmt_0x64(address, leading_0x=True)
            else:
                self.write("nil")
            self.write(")")
        elif verb == "v" and not address:
            self.pad("<nil>")
        elif verb in "vp":
            self.fmt_0x64(address, leading_0x=not f.sharp)
        elif verb in "bodxX":
            self.fmt_int(address, verb, unsigned=True)
        else:
            self.bad_verb(verb, value)

    # Go's print.go: which formatting a verb asks of each basic kind.

    def fmt_bool(self, value: bool, verb: str) -> None:
        if verb in "tv":
            self.pad("true" if value else "false")
        else:
            self.bad_verb(verb, value)

    def fmt_int(self, value: int, verb: str, *, unsigned: bool) -> None:
        if unsigned:
            value &= _U64
        if verb == "v" and self.flags.sharp_v and unsigned:
            self.fmt_0x64(value, leading_0x=True)
        elif verb in "vd":
            self.fmt_integer(value, base=10, verb=verb, upper=False)
        elif verb in "boOxX":
            base = {"b": 2, "o": 8, "O": 8}.get(verb, 16)
            self.fmt_integer(value, base=base, verb=verb, upper=verb == "X")
        elif verb == "c":
            self.fmt_c(value & _U64)
        elif verb == "q":
            self.fmt_qc(value & _U64)
        elif verb == "U":
            self.fmt_unicode(value & _U64)
        else:
            self.bad_verb(verb, value)

    def fmt_float_verb(self, value: float, verb: str) -> None:
        if verb == "v":
            self.fmt_float(value, "g", -1)
        elif verb in "bgGxX":
            self.fmt_float(value, verb, -1)
        elif verb in "feE":
            self.fmt_float(value, verb, 6)
        elif verb == "F":
            self.fmt_float(value, "f", 6)
        else:
            self.bad_verb(verb, value)

    def fmt_complex(self, value: complex, verb: str) -> None:
        """Go's `fmtComplex`: `(real+imagi)`, each part as a float, the imaginary one signed."""
        if verb not in "vbgGxXfFeE":
            self.bad_verb(verb, value)
            return
        plus = self.flags.plus
        self.write("(")
        self.fmt_float_verb(value.real, verb)
        self.flags.plus = True
        self.fmt_float_verb(value.imag, verb)
        self.write("i)")
        self.flags.plus = plus

    def fmt_string(self, value: str, verb: str) -> None:
        if verb == "v":
            if self.flags.sharp_v:
                self.fmt_q(value)
            else:
                self.fmt_s(value)
        elif verb == "s":
            self.fmt_s(value)
        elif verb in "xX":
            self.fmt_sx(value, digits=UPPER_HEX if verb == "X" else LOWER_HEX)
        elif verb == "q":
            self.fmt_q(value)
        else:
            self.bad_verb(verb, value)


_HTML_ESCAPES: Final = {
    ord('"'): "&#34;",
    ord("'"): "&#39;",
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
    0: "\ufffd",
}
_JS_ESCAPES: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def html_escape(s: str) -> str:
    """Go's `template.HTMLEscapeString` (the `html` builtin)."""
    return s.translate(_HTML_ESCAPES)


def js_escape(s: str) -> str:
    """Go's `template.JSEscapeString` (the `js` builtin)."""
    out: list[str] = []
    for ch in s:
        r = ord(ch)
        if ch in _JS_ESCAPES:
            out.append(_JS_ESCAPES[ch])
        elif r < 0x20:
            out.append(f"\\u00{r:02X}")
        elif r < 0x80 or is_print(r):
            out.append(ch)
        else:
            out.append(f"\\u{r:04X}")
    return "".join(out)


def query_escape(s: str) -> str:
    """Go's `url.QueryEscape` (the `urlquery` builtin): `+` for space, `%XX` for the rest."""
    return urllib.parse.quote_plus(s, safe="")
