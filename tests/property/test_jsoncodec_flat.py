"""`toJson`'s orjson path (`jsoncodec._flat`) against the encoder it shortcuts.

A map of strings and a struct of scalars go through orjson plus Go's extra escapes; every other
value, and every text where orjson's bytes could differ from Go's, must go to `Encoder`. Both
must give the same text for any input, so the encoder (itself checked against Go in
tests/differential) is the oracle here.
"""

from __future__ import annotations

from typing import ClassVar

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar_injector import gojson, podview
from sidecar_injector.gotemplate.sprig import jsoncodec
from sidecar_injector.gotemplate.values import Int, Map, Struct

TRICKY = '<>&"\\\b\f\n\r\t\x00\x1f\x7f\u2028\u2029é😀\ud800\udfff'
texts = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(), max_size=12)


def slow(value: object, *, html: bool) -> str:
    return jsoncodec.Encoder(html=html, indent="").encode(value)


class _Port(Struct):
    go_type = "v1.ContainerPort"
    go_fields: ClassVar[tuple[str, ...]] = ("Name", "HostPort", "Open")

    def __init__(self, name: object, port: object, open_: object) -> None:
        self.Name, self.HostPort, self.Open = name, port, open_


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(texts, texts, max_size=6), st.booleans())
def test_a_map_of_strings_encodes_as_the_encoder_does(labels: dict[str, str], html: bool) -> None:
    assert jsoncodec.marshal(labels, html=html) == slow(labels, html=html)
    typed = Map(labels, "map[string]string", zero="")
    assert jsoncodec.marshal(typed, html=html) == slow(typed, html=html)


scalars = texts | st.integers(-(2**70), 2**70) | st.booleans() | st.floats() | st.none()


@settings(max_examples=400, deadline=None)
@given(texts, scalars, scalars, st.booleans())
def test_a_struct_of_scalars_encodes_as_the_encoder_does(
    name: str, port: object, open_: object, html: bool
) -> None:
    value = _Port(name, Int(port, "int32") if type(port) is int else port, open_)
    try:
        expected = slow(value, html=html)
    except jsoncodec.UnsupportedValue:
        return
    assert jsoncodec.marshal(value, html=html) == expected


def test_the_fast_path_takes_labels_and_ports_and_leaves_the_rest() -> None:
    port = podview.view("ContainerPort", {"name": "http", "containerPort": 8080})
    assert jsoncodec._flat(port, html=True) == '{"name":"http","containerPort":8080}'
    assert jsoncodec._flat(port, html=True) == slow(port, html=True)
    assert jsoncodec._flat({"b": "<1>", "a": "\u2028"}, html=True) == (
        '{"a":"\\u2028","b":"\\u003c1\\u003e"}'
    )
    assert jsoncodec._flat({"a": "\b"}, html=True) is None
    assert jsoncodec._flat({"a": "\ud800"}, html=True) is None
    assert jsoncodec._flat({"a": 1.5}, html=True) is None
    assert jsoncodec._flat({"a": {"b": "c"}}, html=True) is None
    assert jsoncodec._flat(Map.nil_map("map[string]string", zero=""), html=True) is None
    assert jsoncodec.marshal(Map.nil_map("map[string]string", zero="")) == "null"


values_of_a_status = texts | st.none() | st.lists(texts, max_size=4)
values_of_anything = (
    values_of_a_status
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(st.integers() | texts | st.none(), max_size=3)
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(texts, values_of_a_status | values_of_anything, max_size=6), st.booleans())
def test_gojson_takes_orjson_for_flat_objects_and_writes_what_its_writer_writes(
    value: dict[str, object], sort_keys: bool
) -> None:
    """`gojson.marshal`'s orjson path (an object of strings, nulls and lists of strings, as the
    injection status) against `gojson.written`, checked against Go in tests/differential."""
    assert gojson.marshal(value, sort_keys=sort_keys) == gojson.written(value, sort_keys=sort_keys)


def test_gojson_takes_orjson_only_for_flat_objects() -> None:
    status = {"containers": ["istio-proxy"], "imagePullSecrets": None, "revision": "<r>"}
    assert gojson._flat(status)
    assert gojson.marshal(status) == (
        '{"containers":["istio-proxy"],"imagePullSecrets":null,"revision":"\\u003cr\\u003e"}'
    )
    for other in ({"a": 1.0}, {"a": [1]}, {"a": {"b": "c"}}, ["a"], {"a": True}):
        assert not gojson._flat(other)
