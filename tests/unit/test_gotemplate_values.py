from sidecar_injector.gotemplate import values
from sidecar_injector.gotemplate.values import NO_VALUE, Int, Map, Nil, Slice, Struct


class ObjectMeta(Struct):
    go_type = "v1.ObjectMeta"
    go_fields = ("Name",)

    def __init__(self, name: str) -> None:
        self.Name = name

    def GetName(self) -> str:
        return self.Name


def test_go_types_of_json_values() -> None:
    assert values.go_type_of(None) == "<nil>"
    assert values.go_type_of(True) == "bool"
    assert values.go_type_of(3) == "int"
    assert values.go_type_of(3.0) == "float64"
    assert values.go_type_of("x") == "string"
    assert values.go_type_of({}) == "map[string]interface {}"
    assert values.go_type_of([]) == "[]interface {}"


def test_go_types_of_typed_values() -> None:
    assert values.go_type_of(Int(80, "int32")) == "int32"
    assert values.go_type_of(Map({}, "map[string]string", zero="")) == "map[string]string"
    assert values.go_type_of(Slice([], "[]v1.Container")) == "[]v1.Container"
    assert values.go_type_of(Nil("*v1.SecurityContext")) == "*v1.SecurityContext"
    assert values.go_type_of(ObjectMeta("a")) == "v1.ObjectMeta"


def test_struct_fields_and_methods() -> None:
    meta = ObjectMeta("web")
    assert meta.go_field("Name") == "web"
    method = meta.go_method("GetName")
    assert method is not None and method() == "web"
    assert meta.go_method("Name") is None
    assert meta.go_method("go_field") is None


def test_nils() -> None:
    assert values.is_nil(None)
    assert values.is_nil(NO_VALUE)
    assert values.is_nil(Nil("*int"))
    assert values.is_nil(Map.nil_map("map[string]string", zero=""))
    assert not values.is_nil(Map({}, "map[string]string"))
    assert not values.is_nil(0)
