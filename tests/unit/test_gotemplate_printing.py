"""Printing of what JSON cannot carry: typed Go values, structs, methods, NaN and infinities.

Expected strings follow Go 1.19's `fmt/print.go` (`printArg`, `printValue`, `handleMethods`,
`fmtPointer`, `badVerb`) and `fmt/format.go`; the comments name the rule each one comes from.
They were confirmed by running a Go 1.19 program (Debian's `golang-1.19`) that declares the
same types and prints the same formats; only package names and addresses differ. The same
rules are checked against real Go for JSON values in `tests/differential/`.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from sidecar_injector.gotemplate.printing import FAKE_ADDRESS, format_value, sprint, sprintf
from sidecar_injector.gotemplate.strconv import (
    Digits,
    escape_rune,
    format_float,
    quote,
    quote_rune,
)
from sidecar_injector.gotemplate.values import NO_VALUE, Func, Int, Map, Nil, Slice, Struct

ADDRESS = f"0x{FAKE_ADDRESS:x}"


class ObjectMeta(Struct):
    go_type = "v1.ObjectMeta"
    go_fields = ("Name", "Labels")

    def __init__(self, name: str, labels: Map) -> None:
        self.Name = name
        self.Labels = labels


class PodSpec(Struct):
    go_type = "*v1.PodSpec"
    go_fields = ("ServiceAccountName",)

    def __init__(self, account: str) -> None:
        self.ServiceAccountName = account


class Pod(Struct):
    go_type = "*v1.Pod"
    go_fields = ("ObjectMeta", "Spec", "Status")

    def __init__(self, meta: ObjectMeta, spec: object, status: object) -> None:
        self.ObjectMeta = meta
        self.Spec = spec
        self.Status = status


class Quantity(Struct):
    """A Stringer, like `resource.Quantity` or a protobuf enum."""

    go_type = "resource.Quantity"
    go_fields = ("Milli",)

    def __init__(self, milli: int) -> None:
        self.Milli = Int(milli, "int64")

    def String(self) -> str:
        return f"{int(self.Milli)}m"


class Failure(Struct):
    """Both an `error` and a Stringer: Go asks `Error()` first."""

    go_type = "*errors.errorString"
    go_fields = ("s",)

    def __init__(self) -> None:
        self.s = "boom"

    def Error(self) -> str:
        return "boom"

    def String(self) -> str:
        return "not this"


class Broken(Struct):
    go_type = "main.Broken"
    go_fields = ()

    def String(self) -> str:
        raise ValueError("no value")


class Enum(Struct):
    """A protobuf enum prints its name through `String()`, with `GoString` for `%#v`."""

    go_type = "v1alpha1.Mode"

    def String(self) -> str:
        return "REDIRECT"

    def GoString(self) -> str:
        return "v1alpha1.Mode(0)"


def pod() -> Pod:
    meta = ObjectMeta("web", Map({"b": "2", "a": "1"}, "map[string]string", zero=""))
    return Pod(meta, PodSpec("default"), Nil("*v1.PodStatus"))


@pytest.mark.parametrize(
    ("fmt", "value", "expected"),
    [
        # fmtInteger: typed integers print like int; %T names their type.
        ("%v|%d|%T", Int(80, "int32"), "80|80|int32"),
        # %#v of an unsigned integer is hex with 0x (fmtInteger's sharpV branch).
        ("%#v|%v|%x|%c", Int(200, "uint8"), "0xc8|200|c8|È"),
        ("%#v|%T", Int(-5, "int16"), "-5|int16"),
        ("%v|%d|%x|%08b|%T", 7, "7|7|7|00000111|int"),
    ],
)
def test_typed_integers(fmt: str, value: object, expected: str) -> None:
    assert sprintf(fmt, [value] * fmt.count("%")) == expected


def test_typed_maps_and_slices() -> None:
    labels = Map({"b": "2", "a": "1"}, "map[string]string", zero="")
    assert sprintf("%v|%#v|%T", [labels] * 3) == (
        'map[a:1 b:2]|map[string]string{"a":"1", "b":"2"}|map[string]string'
    )
    # printValue on a nil map: `map[]`, and `T(nil)` under %#v.
    nil_map = Map.nil_map("map[string]string", zero="")
    assert sprintf("%v|%#v|%d|%p", [nil_map] * 4) == "map[]|map[string]string(nil)|map[]|0x0"
    ports = Slice([Int(80, "int32"), Int(443, "int32")], "[]int32")
    assert sprintf("%v|%#v|%x|%T", [ports] * 4) == "[80 443]|[]int32{80, 443}|[50 1bb]|[]int32"
    assert sprintf("%#v", [Slice([], "[]string")]) == "[]string{}"


def test_byte_slices() -> None:
    # printValue hands a slice of uint8 to fmtBytes for s, q, x and X; %#v shows bytes in hex.
    data = Slice(list("hé".encode()), "[]byte")
    assert sprintf("%s|%q|%x|% X|%v|%#v|%5s|%.1x", [data] * 8) == (
        'hé|"hé"|68c3a9|68 C3 A9|[104 195 169]|[]byte{0x68, 0xc3, 0xa9}|   hé|68'
    )


def test_typed_nils() -> None:
    # A nil pointer reaches fmtPointer: `<nil>` for %v, 0 for integer verbs, badVerb otherwise.
    ptr = Nil("*v1.SecurityContext")
    assert sprintf("%v|%7v|%d|%x|%p|%T", [ptr] * 6) == "<nil>|  <nil>|0|0|0x0|*v1.SecurityContext"
    assert sprintf("%#v|%s", [ptr] * 2) == (
        "(*v1.SecurityContext)(nil)|%!s(*v1.SecurityContext=<nil>)"
    )
    # Nil maps and slices keep their kind; a nil interface reaches fmt as an untyped nil.
    assert sprintf("%v|%#v", [Nil("map[string]string")] * 2) == "map[]|map[string]string(nil)"
    assert sprintf("%v|%#v", [Nil("[]string")] * 2) == "[]|[]string(nil)"
    assert sprintf("%v|%d|%T", [Nil("error")] * 3) == "<nil>|%!d(<nil>)|<nil>"


def test_nils_inside_containers() -> None:
    # printValue's Interface case writes `<nil>` whatever the verb, without padding.
    assert sprintf("%5d", [[None, 1]]) == "[<nil>     1]"
    assert sprintf("%#v", [Map({"a": Nil("*v1.Pod")}, "map[string]*v1.Pod")]) == (
        'map[string]*v1.Pod{"a":(*v1.Pod)(nil)}'
    )
    assert sprintf("%#v", [Slice([None], "[]error")]) == "[]error{error(nil)}"
    assert sprintf("%#v", [Slice([None], "[]*v1.Pod")]) == "[]*v1.Pod{(*v1.Pod)(nil)}"
    nested = Map({"a": None}, "map[[2]string][]string")
    assert sprintf("%#v", [nested]) == 'map[[2]string][]string{"a":[]string(nil)}'
    assert sprintf("%#v", [Slice(["a", None], "[2]interface {}")]) == (
        '[2]interface {}{"a", interface {}(nil)}'
    )
    # A named slice type does not say its element type; nils in it print as interface nils.
    assert sprintf("%#v", [Slice([None], "main.List")]) == "main.List{interface {}(nil)}"


def test_structs() -> None:
    meta = ObjectMeta("web", Map({"app": "x"}, "map[string]string", zero=""))
    # Fields in declaration order; %+v names them; %#v is Go syntax with quoted strings.
    assert sprint([meta]) == "{web map[app:x]}"
    assert sprintf("%+v", [meta]) == "{Name:web Labels:map[app:x]}"
    assert sprintf("%#v", [meta]) == (
        'v1.ObjectMeta{Name:"web", Labels:map[string]string{"app":"x"}}'
    )
    # A verb that fits no field is reported per field, inside the braces.
    assert sprintf("%d", [meta]) == "{%!d(string=web) map[%!d(string=app):%!d(string=x)]}"


def test_pointer_structs() -> None:
    # A pointer prints `&{...}` at the top and as an address below it (printValue's Pointer
    # case); Go's addresses vary, so ours is a fixed one.
    value = pod()
    assert sprint([value]) == f"&{{{{web map[a:1 b:2]}} {ADDRESS} <nil>}}"
    assert sprintf("%+v", [value]) == (
        f"&{{ObjectMeta:{{Name:web Labels:map[a:1 b:2]}} Spec:{ADDRESS} Status:<nil>}}"
    )
    assert sprintf("%#v", [value]) == (
        '&v1.Pod{ObjectMeta:v1.ObjectMeta{Name:"web", Labels:map[string]string{"a":"1", '
        f'"b":"2"}}}}, Spec:(*v1.PodSpec)({ADDRESS}), Status:(*v1.PodStatus)(nil)}}'
    )
    assert sprintf("%T|%p", [value] * 2) == f"*v1.Pod|{ADDRESS}"
    # text/template's printableValue dereferences the pointer before printing it.
    assert format_value(value) == f"{{{{web map[a:1 b:2]}} {ADDRESS} <nil>}}"


def test_stringers() -> None:
    cpu = Quantity(100)
    # handleMethods: String() for v s x X q, at the top and inside containers.
    assert sprintf("%v|%s|%q|%x|%6s|%-6v|", [cpu] * 6) == '100m|100m|"100m"|3130306d|  100m|100m  |'
    assert sprint([Slice([cpu, cpu], "[]resource.Quantity")]) == "[100m 100m]"
    assert sprint([Map({"cpu": cpu}, "map[string]resource.Quantity")]) == "map[cpu:100m]"
    # Other verbs print the struct itself; %#v has no GoString here.
    assert sprintf("%d|%#v", [cpu] * 2) == "{100}|resource.Quantity{Milli:100}"
    assert format_value(cpu) == "100m"
    assert format_value(Enum()) == "REDIRECT"
    assert sprintf("%#v", [Enum()]) == "v1alpha1.Mode(0)"


class Returns(Struct):
    go_type = "main.Returns"
    go_fields = ("Err",)

    def __init__(self) -> None:
        self.Err = Nil("error")

    def String(self) -> object:
        return 42


def test_methods_are_not_called_while_reporting_a_bad_verb() -> None:
    # badVerb sets `erroring`, so the operand inside `%!p(...)` prints as a plain struct.
    assert sprintf("%p", [Quantity(5)]) == "%!p(resource.Quantity={5})"


def test_error_before_stringer_and_panics() -> None:
    assert sprint([Failure()]) == "boom"
    assert format_value(Failure()) == "boom"
    # catchPanic: a panicking String method is reported in place, with the method's name.
    assert sprintf("%s", [Broken()]) == "%!s(PANIC=String method: no value)"
    assert sprint([Returns()]) == "%!v(PANIC=String method: String returned int, not string)"
    # A nil interface field prints `<nil>` (printValue's Interface case), `error(nil)` for %#v.
    assert sprintf("%d|%#v", [Returns()] * 2) == "{<nil>}|main.Returns{Err:error(nil)}"


def test_special_floats() -> None:
    # fmtFloat: infinities and NaN are never zero-padded; NaN has a sign only when asked.
    inf, nan = math.inf, math.nan
    assert sprintf("%v|%v|%v|%+v|%+f|% f", [inf, -inf, nan, nan, nan, nan]) == (
        "+Inf|-Inf|NaN|NaN|+NaN| NaN"
    )
    assert sprintf("%06f|%-6v|%e|%x", [inf, nan, -inf, inf]) == "  +Inf|NaN   |-Inf|+Inf"
    assert format_value(inf) == "+Inf"
    assert format_value(-0.0) == "-0"
    assert sprintf("%d|%T", [nan] * 2) == "%!d(float64=NaN)|float64"


def test_no_value_and_odd_operands() -> None:
    # exec turns a missing value into nil for function arguments; `{{ . }}` says `<no value>`.
    assert sprintf("%v|%s", [NO_VALUE, NO_VALUE]) == "<nil>|%!s(<nil>)"
    assert format_value(NO_VALUE) == "<no value>"
    assert format_value(None) == "<nil>"
    assert sprint([(1, "a")]) == "[1 a]"
    fn = Func("f", lambda: None)
    assert sprintf("%v|%T", [fn, fn]) == f"{ADDRESS}|func(...)"
    assert sprintf("%p|%p", [{"a": 1}, "x"]) == f"{ADDRESS}|%!p(string=x)"
    # Python values outside the engine's model print as Python prints them.
    assert sprint([Decimal("1.50")]) == "1.50"
    # %#U adds the character only when it is printable (strconv.IsPrint).
    assert sprintf("%#U|%#U|%#U", [0xD800, 0x110000, 0x378]) == "U+D800|U+110000|U+0378"


def test_format_value_matches_sprint_for_basic_values() -> None:
    for value in ["x", "", True, False, 0, -12, 1e6, 0.5, 1e-5, [1], {"a": None}, None]:
        assert format_value(value) == sprint([value]), value


@pytest.mark.parametrize(
    ("value", "fmt", "prec", "expected"),
    [
        (1.5, "e", 3, "1.500e+00"),
        (1e21, "g", -1, "1e+21"),
        (123456.0, "g", -1, "123456"),
        (1234567.0, "g", -1, "1.234567e+06"),
        (0.1, "f", -1, "0.1"),
        (1234.0, "e", -1, "1.234e+03"),
        (0.0, "e", -1, "0e+00"),
        (1e100, "f", -1, "1" + "0" * 100),
        (-0.0, "g", -1, "-0"),
        (2.5, "f", 0, "2"),
        (1.0, "b", -1, "4503599627370496p-52"),
        (0.0, "b", -1, "0p-1074"),
        (1.0, "x", -1, "0x1p+00"),
        (1.0, "x", 2, "0x1.00p+00"),
        (-3.0, "X", -1, "-0X1.8P+01"),
        (5e-324, "x", -1, "0x1p-1074"),
        (0.9999, "x", 0, "0x1p+00"),
        (math.nan, "g", -1, "NaN"),
        (-math.inf, "f", 2, "-Inf"),
        (1.0, "z", -1, "%z"),
    ],
)
def test_format_float(value: float, fmt: str, prec: int, expected: str) -> None:
    assert format_float(value, fmt, prec) == expected


def test_shortest_digits() -> None:
    assert Digits.shortest(0.000123) == Digits("123", -3)
    assert Digits.shortest(1e21) == Digits("1", 22)
    assert Digits.shortest(120.0) == Digits("12", 3)
    assert Digits.shortest(0.0) == Digits("", 0)


def test_quoting() -> None:
    assert quote('a"\\\n\x00\x7f\u00e9\u2028\U0001f600') == ('"a\\"\\\\\\n\\x00\\x7fé\\u2028😀"')
    assert quote("é😀", ascii_only=True) == '"\\u00e9\\U0001f600"'
    assert quote_rune(0xD800) == "'�'"
    assert quote_rune(ord("'")) == "'\\''"
    # A lone surrogate is what Go's JSON decoding makes U+FFFD of: printable, three bytes.
    assert quote("x\ud800y") == '"x\ufffdy"'
    assert sprintf("%q|%x|%#q", ["x\ud800y"] * 3) == '"x\ufffdy"|78efbfbd79|`x\ufffdy`'
    assert escape_rune(0xD800, quote='"', ascii_only=False) == "\\ufffd"
