"""What the oracle cannot show (JSON has no structs or functions): Go structs, typed function
signatures, typed maps and ints, error attributes, concurrency and the recursion limit."""

from __future__ import annotations

import threading

import pytest

from sidecar_injector import gotemplate
from sidecar_injector.gotemplate.values import GoError, Int, Map, Nil, Slice, Struct, func


class Meta(Struct):
    go_type = "v1.ObjectMeta"
    go_fields = ("Name", "Labels", "Owner")

    def __init__(self, name: str, labels: Map | None = None) -> None:
        self.Name = name
        self.Labels = labels if labels is not None else Map.nil_map("map[string]string", zero="")
        self.Owner = Nil("*v1.OwnerReference")

    def GetName(self) -> str:
        return self.Name

    def Greet(self, greeting: object, *rest: object) -> str:
        return f"{greeting}, {self.Name}{''.join(map(str, rest))}"

    def Fails(self) -> str:
        raise GoError("no owner")


class Pod(Struct):
    go_type = "*v1.Pod"
    go_fields = ("ObjectMeta", "Ports")

    def __init__(self, meta: Meta) -> None:
        self.ObjectMeta = meta
        self.Ports = Slice([Int(80, "int32"), Int(443, "int32")], "[]int32")


def render(text: str, data: object = None, **kwargs: object) -> str:
    return gotemplate.parse(text, "t", sprig=False, **kwargs).execute(data)  # type: ignore[arg-type]


def exec_error(text: str, data: object = None, **kwargs: object) -> gotemplate.ExecError:
    template = gotemplate.parse(text, "t", sprig=False, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(gotemplate.ExecError) as info:
        template.execute(data)
    return info.value


POD = Pod(Meta("web", Map({"app": "web"}, "map[string]string", zero="")))


def test_struct_fields_methods_and_chains() -> None:
    assert render("{{.ObjectMeta.Name}} {{.ObjectMeta.GetName}}", POD) == "web web"
    assert render('{{.ObjectMeta.Greet "hi"}} {{.ObjectMeta.Greet "yo" 1 2}}', POD) == (
        "hi, web yo, web12"
    )
    assert render('{{"hey" | .ObjectMeta.Greet}}', POD) == "hey, web"
    assert render("{{.ObjectMeta.Labels.app}}|{{.ObjectMeta.Labels.nope}}", POD) == (
        "web|<no value>"
    )
    assert render("{{range .Ports}}{{.}},{{end}}", POD) == "80,443,"
    assert render("{{with .ObjectMeta}}{{.Name}}{{end}}", POD) == "web"


def test_struct_errors_have_go_text() -> None:
    assert str(exec_error("{{.ObjectMeta.Nope}}", POD)) == (
        'template: t:1:13: executing "t" at <.ObjectMeta.Nope>: '
        "can't evaluate field Nope in type v1.ObjectMeta"
    )
    assert str(exec_error("{{.Nope}}", POD)).endswith("can't evaluate field Nope in type *v1.Pod")
    assert str(exec_error("{{.ObjectMeta.Owner.Kind}}", POD)).endswith(
        "nil pointer evaluating *v1.OwnerReference.Kind"
    )
    assert str(exec_error('{{.ObjectMeta.Name "x"}}', POD)).endswith(
        "Name has arguments but cannot be invoked as function"
    )
    assert str(exec_error("{{.ObjectMeta.Fails}}", POD)).endswith("error calling Fails: no owner")
    assert str(exec_error("{{.ObjectMeta.Greet}}", POD)).endswith(
        "wrong number of args for Greet: want at least 1 got 0"
    )


@func("podName", "v1.Pod", result="string")
def _pod_name(pod: Pod) -> str:
    return str(pod.ObjectMeta.Name)


@func("metaName", "*v1.ObjectMeta", result="string")
def _meta_name(meta: Meta) -> str:
    return str(meta.Name)


def test_struct_parameters_take_pointers_and_values() -> None:
    funcs = {"podName": _pod_name, "metaName": _meta_name}
    assert render("{{podName .}} {{metaName .ObjectMeta}}", POD, funcs=funcs) == "web web"
    assert str(exec_error("{{podName .p}}", {"p": Nil("*v1.Pod")}, funcs=funcs)).endswith(
        "dereference of nil pointer of type v1.Pod"
    )
    assert str(exec_error("{{metaName .}}", POD, funcs=funcs)).endswith(
        "wrong type for value; expected *v1.ObjectMeta; got *v1.Pod"
    )


def test_typed_maps_give_their_zero_value() -> None:
    data = {"m": Map({"a": "x"}, "map[string]string", zero="")}
    assert render('[{{index .m "zz"}}]', data) == "[]"
    assert render("[{{.m.zz}}]", data, options=("missingkey=zero",)) == "[]"
    assert render("[{{.m.zz}}]", data) == "[<no value>]"
    assert render("{{len .m}} {{range $k, $v := .m}}{{$k}}={{$v}}{{end}}", data) == "1 a=x"
    nil_map = {"m": Map.nil_map("map[string]string", zero="")}
    assert render("{{len .m}}{{range .m}}x{{else}}empty{{end}}[{{.m.a}}]", nil_map) == (
        "0empty[<no value>]"
    )


def test_range_over_yaml_maps_with_mixed_keys() -> None:
    assert render("{{range $k, $v := .}}{{$k}}={{$v}};{{end}}", {2: "b", 1: "a", "x": "c"}) == (
        "1=a;2=b;x=c;"
    )


def test_typed_ints_compare_with_ints_but_not_floats() -> None:
    data = {"port": Int(8080, "int32"), "u": Int(3, "uint8")}
    assert render("{{eq .port 8080}} {{lt .port 9000}} {{eq .u 3}} {{lt .u 4}}", data) == (
        "true true true true"
    )
    assert str(exec_error("{{eq .port 8080.0}}", data)).endswith(
        "error calling eq: incompatible types for comparison"
    )
    assert render('{{printf "%T %T" .port .u}}', data) == "int32 uint8"


@func("repeat", "string", "int", result="string")
def _repeat(text: str, count: int) -> str:
    return text * count


@func("join", "string", variadic="string", result="string")
def _join(sep: str, *parts: str) -> str:
    return sep.join(parts)


@func("must", "interface {}", returns_error=True)
def _must(value: object) -> object:
    if not value:
        raise GoError("empty value")
    return value


FUNCS = {"repeat": _repeat, "join": _join, "must": _must}


def test_typed_functions_check_and_convert_arguments() -> None:
    assert render('{{repeat "ab" 3}} {{join "-" "a" "b" "c"}} {{join ","}}', funcs=FUNCS) == (
        "ababab a-b-c "
    )
    assert render('{{3 | repeat "x"}} {{"z" | join "+" "y"}}', funcs=FUNCS) == "xxx y+z"
    assert render("{{repeat .s 2}}", {"s": "q"}, funcs=FUNCS) == "qq"
    cases = {
        "{{repeat 1 2}}": "at <1>: expected string; found 1",
        '{{repeat "a" "b"}}': 'at <"b">: expected integer; found "b"',
        '{{repeat "a" 1.5}}': "at <1.5>: expected integer; found 1.5",
        '{{repeat "a"}}': "at <repeat>: wrong number of args for repeat: want 2 got 1",
        '{{repeat "a" 1 2}}': "at <repeat>: wrong number of args for repeat: want 2 got 3",
        "{{join}}": "at <join>: wrong number of args for join: want at least 1 got 0",
        '{{repeat "a" .n}}': "at <.n>: wrong type for value; expected int; got float64",
        '{{repeat "a" .missing}}': "at <.missing>: invalid value; expected int",
        '{{repeat "a" nil}}': "at <nil>: cannot assign nil to int",
        '{{join "," true}}': "at <true>: expected string; found true",
        "{{must 0}}": "at <must 0>: error calling must: empty value",
    }
    for text, message in cases.items():
        assert str(exec_error(text, {"n": 2.0}, funcs=FUNCS)).endswith(message), text


@func("scale", "float64", "bool", "[]string", "*v1.Pod", "uint8", result="string")
def _scale(factor: float, flag: bool, items: object, pod: object, small: int) -> str:
    return f"{factor} {flag} {items!r} {pod!r} {small!r}"


def test_parameters_of_other_go_types() -> None:
    funcs = {"scale": _scale, "now": lambda: "t0"}
    assert render("{{scale 2 true nil nil 7}}", funcs=funcs) == (
        "2.0 True Nil(go_type='[]string') Nil(go_type='*v1.Pod') Int(7, 'uint8')"
    )
    assert render("{{scale 1.5 false .missing .missing 300}}", {}, funcs=funcs) == (
        "1.5 False Nil(go_type='[]string') Nil(go_type='*v1.Pod') Int(44, 'uint8')"
    )
    assert render("{{print now}} {{len now}}", funcs=funcs) == "t0 2"
    errors = {
        "{{scale true true nil nil 1}}": "expected float; found true",
        "{{scale 1 1 nil nil 1}}": "expected bool; found 1",
        '{{scale 1 true "x" nil 1}}': 'can\'t handle "x" for arg of type []string',
        "{{scale 1 true nil nil -1}}": "expected unsigned integer; found -1",
        "{{scale 1 true .l nil 1}}": "wrong type for value; expected []string; got []interface {}",
    }
    for text, message in errors.items():
        assert str(exec_error(text, {"l": []}, funcs=funcs)).endswith(message), text


def test_plain_callables_take_any_arguments_and_functions_override() -> None:
    funcs = {"shout": lambda *a: " ".join(str(x).upper() for x in a), "len": lambda x: "mine"}
    assert render('{{shout "a" "b"}} {{len "abc"}}', funcs=funcs) == "A B mine"
    assert render("{{shout .missing}}", {}, funcs=funcs) == "NONE"

    def broken(*args: object) -> object:
        raise ValueError("went wrong")

    assert str(exec_error("{{broken}}", funcs={"broken": broken})).endswith(
        "error calling broken: went wrong"
    )


def test_call_invokes_function_values() -> None:
    data = {"f": _repeat, "g": lambda *a: len(a)}
    assert render('{{call .f "ab" 2}} {{call .g 1 2 3}}', data) == "abab 3"
    assert str(exec_error('{{call .f "ab"}}', data)).endswith(
        "error calling call: wrong number of args: got 1 want 2"
    )
    assert str(exec_error("{{call .f 1 2}}", data)).endswith(
        "error calling call: arg 0: value has type int; should be string"
    )
    assert render("{{call .f .s 2}}", {"f": _repeat, "s": "z"}) == "zz"
    assert str(exec_error("{{.f}}", data)).endswith("can't print {{.f}} of type func(...)")


def test_parse_error_attributes() -> None:
    with pytest.raises(gotemplate.ParseError) as info:
        gotemplate.parse("ok\n{{ if }}", "inject", sprig=False)
    err = info.value
    assert str(err) == "template: inject:2: missing value for if"
    assert (err.template_name, err.line, err.col) == ("inject", 2, None)
    assert isinstance(err, gotemplate.TemplateError)


def test_exec_error_attributes_and_partial_output() -> None:
    err = exec_error('{{define "x"}}\n  in x {{.a.b}}{{end}}before {{template "x" .}}', {"a": 1})
    assert err.template_name == "x"
    assert (err.line, err.col) == (2, 11)
    assert err.partial == "before \n  in x "
    assert repr(err).startswith("ExecError(")


def test_execute_named_templates() -> None:
    template = gotemplate.parse('{{define "a"}}A{{.}}{{end}}main', "t", sprig=False)
    assert template.template_names == frozenset({"t", "a"})
    assert template.execute(1, name="a") == "A1"
    assert template.execute(None) == "main"
    with pytest.raises(gotemplate.ExecError, match='no template "b" associated with template "t"'):
        template.execute(None, name="b")


def test_options_are_checked_like_go() -> None:
    with pytest.raises(ValueError, match="unrecognized option: missingkey=nope"):
        gotemplate.parse("x", options=("missingkey=nope",), sprig=False)
    with pytest.raises(ValueError, match="empty option string"):
        gotemplate.parse("x", options=("",), sprig=False)


def test_runaway_recursion_reports_gos_depth_error() -> None:
    err = exec_error('{{define "r"}}{{template "r" .}}{{end}}{{template "r" .}}')
    assert str(err) == (
        'template: t:1:25: executing "r" at <{{template "r" .}}>: '
        "exceeded maximum template depth (100000)"
    )


def test_one_parse_renders_concurrently() -> None:
    template = gotemplate.parse(
        "{{range $i, $v := .l}}{{$i}}:{{$v.n}}{{if $.flag}}!{{end}};{{end}}", sprig=False
    )
    results: dict[int, str] = {}

    def work(k: int) -> None:
        data = {"l": [{"n": k * 10 + j} for j in range(50)], "flag": k % 2 == 0}
        for _ in range(20):
            results[k] = template.execute(data)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for k in range(8):
        bang = "!" if k % 2 == 0 else ""
        assert results[k] == "".join(f"{j}:{k * 10 + j}{bang};" for j in range(50))


def test_builtins_over_typed_values() -> None:
    data = {
        "u": Int(3, "uint8"),
        "i": Int(-1, "int64"),
        "nilmap": Nil("map[string]string"),
        "nilslice": Nil("[]string"),
        "ports": Slice([Int(80, "int32"), Int(81, "int32"), Int(82, "int32")], "[]int32"),
        "meta": POD.ObjectMeta,
    }
    assert render(
        "{{eq .u 3}} {{eq 3 .u}} {{eq .i .u}} {{lt .i .u}} {{lt .u 4}} {{lt 2 .u}}", data
    ) == ("true true false true true true")
    assert render("{{eq .meta .meta}}", data) == "true"
    assert (
        render('{{index .nilmap "a"}}|{{len .nilmap}}|{{len .nilslice}}', data) == "<no value>|0|0"
    )
    assert render('{{slice .ports 1}} {{printf "%T" (slice .ports 1 2)}}', data) == (
        "[81 82] []int32"
    )
    assert render("{{slice .ports 0 1 2}}", data) == "[80]"
    errors = {
        "{{slice .ports 0 2 1}}": "error calling slice: invalid slice index: 2 > 1",
        "{{eq .meta .u}}": "error calling eq: incompatible types for comparison",
        "{{eq .ports .meta}}": "error calling eq: non-comparable types [%!s(int32=80)"
        " %!s(int32=81) %!s(int32=82)]: []int32, v1.ObjectMeta: {web map[app:web] <nil>}",
        "{{index .nilslice 0}}": "error calling index: reflect: slice index out of range",
        "{{slice .nilslice 1}}": "error calling slice: index out of range: 1",
        "{{len .meta.Owner}}": "error calling len: len of nil pointer",
        '{{index .meta.Owner "a"}}': "error calling index: index of nil pointer",
    }
    for text, message in errors.items():
        assert str(exec_error(text, data)).endswith(message), text


@func("pair", "int64", variadic="uint8", result="string")
def _pair(first: int, *rest: int) -> str:
    return f"{first!r} {list(rest)!r}"


def test_call_converts_integer_arguments() -> None:
    data = {"f": _pair, "n": Int(5, "int32"), "map": {"a": 1}}
    assert (
        render("{{call .f 1 2 300}}", data) == "Int(1, 'int64') [Int(2, 'uint8'), Int(44, 'uint8')]"
    )
    assert render("{{call .f .n}}", data) == "Int(5, 'int64') []"
    assert str(exec_error("{{call .f}}", data)).endswith(
        "error calling call: wrong number of args: got 0 want at least 1"
    )
    assert str(exec_error("{{call .f .missing}}", data)).endswith(
        "error calling call: arg 0: value is nil; should be of type int64"
    )
    assert str(exec_error("{{call .map}}", data)).endswith(
        "error calling call: non-function of type map[string]interface {}"
    )
    with pytest.raises(TypeError, match="value for x not a function"):
        gotemplate.parse("x", funcs={"x": 1}, sprig=False)  # type: ignore[dict-item]


def test_absurd_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(gotemplate.ParseError, match="nested too deeply"):
        gotemplate.parse("{{" + "(" * 5000 + "1" + ")" * 5000 + "}}", sprig=False)
    deep = "{{if 1}}" * 2000 + "x" + "{{end}}" * 2000
    with pytest.raises(gotemplate.TemplateError):
        gotemplate.parse(deep, sprig=False).execute(None)
