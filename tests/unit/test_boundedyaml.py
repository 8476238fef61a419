"""Hostile YAML is refused before it is constructed: alias bombs, alias cycles, oversized texts."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml

from sidecar_injector import boundedyaml, config, inject, render, templatedata
from sidecar_injector.annotations import AnnotationError
from sidecar_injector.errors import InjectorError
from tests.builders import pod


def laughs(levels: int = 9, width: int = 9, *, indent: str = "  ") -> str:
    """The "billion laughs": each level an anchored list of `width` aliases to the one before."""
    lines = [f"l0: &l0 [{','.join(['lol'] * width)}]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{','.join([f'*l{level - 1}'] * width)}]")
    return "unknownKey:\n" + "".join(f"{indent}{line}\n" for line in lines)


BOMB = laughs()
SCALAR_BOMB = 'big: &big "' + "x" * 30_000 + '"\ncopies: [' + ", ".join(["*big"] * 20) + "]\n"
MERGE_CHAIN = "k0: &k0 {a0: 1}\n" + "".join(
    f"k{i}: &k{i} {{<<: *k{i - 1}, a{i}: 1}}\n" for i in range(1, 4000)
)
CYCLES = ["&a [*a]", "a: &a {b: *a}", "&a [1, [2, *a]]", "- &a {x: [*a]}"]


@pytest.fixture
def constructed(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every document the bounded loader constructs: refused ones must never get here."""
    seen: list[object] = []
    original = boundedyaml._Loader.construct_document

    def spy(loader: Any, node: Any) -> Any:
        seen.append(node)
        return original(loader, node)

    monkeypatch.setattr(boundedyaml._Loader, "construct_document", spy)
    return seen


def bombs(constructed: list[Any]) -> list[Any]:
    """The constructed documents that were bombs (those start with `unknownKey`)."""
    return [n for n in constructed if n.value and n.value[0][0].value == "unknownKey"]


def annotation(text: str) -> Any:
    return boundedyaml.load(text, limits=boundedyaml.ANNOTATION, source="annotation a")


def test_an_alias_bomb_is_refused_before_it_is_constructed(constructed: list[object]) -> None:
    assert len(BOMB) < 500
    with pytest.raises(boundedyaml.YAMLLimitError) as caught:
        annotation(BOMB)
    assert str(caught.value).startswith(
        "annotation a:7:7: YAML aliases expand to more than 262,144 characters"
    )
    assert "write the repeated values out" in str(caught.value)
    assert caught.value.problem.endswith("at line 7, column 7")
    assert constructed == []


@pytest.mark.parametrize("text", [SCALAR_BOMB, MERGE_CHAIN], ids=["scalars", "merge-keys"])
def test_aliases_of_long_scalars_and_merge_chains_count_what_they_expand_to(
    text: str, constructed: list[object]
) -> None:
    with pytest.raises(boundedyaml.YAMLLimitError, match="aliases expand to more than"):
        boundedyaml.load(text, limits=boundedyaml.Limits(200_000, 100_000), source="s")
    assert constructed == []


@pytest.mark.parametrize("text", CYCLES)
def test_an_alias_cycle_is_refused(text: str, constructed: list[object]) -> None:
    with pytest.raises(boundedyaml.YAMLLimitError, match="refers to a node that contains it"):
        annotation(text)
    assert constructed == []


def test_a_text_over_the_size_limit_is_refused_unread(constructed: list[object]) -> None:
    text = "a: " + "x" * boundedyaml.ANNOTATION.max_bytes
    with pytest.raises(boundedyaml.YAMLLimitError) as caught:
        annotation(text)
    assert str(caught.value) == (
        "annotation a: the text is 65,539 bytes, more than the 65,536 allowed; make it smaller"
    )
    assert constructed == []


def test_the_size_limit_counts_utf8_bytes() -> None:
    limits = boundedyaml.Limits(max_bytes=10, max_expanded=100)
    assert boundedyaml.load("a: ééé", limits=limits, source="s") == {"a": "ééé"}
    with pytest.raises(boundedyaml.YAMLLimitError, match="is 11 bytes"):
        boundedyaml.load("a: éééé", limits=limits, source="s")


def test_modest_aliases_merges_and_timestamps_load_as_go_reads_them() -> None:
    text = "base: &b {x: 1}\nmerged: {<<: *b, y: 2}\nsame: *b\nwhen: 2024-01-02\n"
    assert annotation(text) == {
        "base": {"x": 1},
        "merged": {"x": 1, "y": 2},
        "same": {"x": 1},
        "when": "2024-01-02",
    }
    assert annotation("") is None


def test_a_stream_shares_one_budget() -> None:
    one = "a: &a [" + ", ".join(["x" * 50] * 10) + "]\nb: [" + ", ".join(["*a"] * 10) + "]\n"
    limits = boundedyaml.Limits(max_bytes=10_000, max_expanded=8_000)
    assert len(boundedyaml.load_all(one, limits=limits, source="s")) == 1
    with pytest.raises(boundedyaml.YAMLLimitError, match="more than 8,000 characters"):
        boundedyaml.load_all(f"{one}---\n{one}", limits=limits, source="s")


def test_syntax_errors_stay_yaml_errors_for_the_caller_to_place() -> None:
    import yaml

    with pytest.raises(yaml.YAMLError):
        annotation("a: [unclosed")


# The annotation path: a pod carrying a bomb gets a clear denial.

PROXY_CONFIG = "proxy.istio.io/config"


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            BOMB,
            "more than 262,144 characters (Go's YAML refuses such excessive aliasing) at line 7",
        ),
        (laughs(indent="    "), "YAML aliases expand to more than 262,144 characters"),
        ("concurrency: 2\nextra: &a [*a]", "a YAML alias refers to a node that contains it"),
        ("a: " + "x" * 70_000, "the text is 70,003 bytes, more than the 65,536 allowed"),
    ],
    ids=["laughs", "laughs-deeper", "cycle", "huge-scalar"],
)
def test_a_pod_with_a_hostile_proxy_config_is_denied_clearly(
    default_config: config.Config, text: str, problem: str, constructed: list[object]
) -> None:
    with pytest.raises(AnnotationError) as caught:
        inject.inject_pod(
            pod(annotations={PROXY_CONFIG: text}), namespace="default", config=default_config
        )
    message = str(caught.value)
    assert f"for annotation '{PROXY_CONFIG}': failed to convert to apply proxy config: " in message
    assert problem in message
    assert message.endswith("fix or remove the annotation and create the pod again")
    assert constructed == []


def test_the_proxy_config_reader_refuses_a_bomb_on_its_own(default_config: config.Config) -> None:
    with pytest.raises(config.ConfigError) as caught:
        templatedata.effective_proxy_config(default_config.mesh, {PROXY_CONFIG: BOMB})
    assert str(caught.value) == (
        "at /metadata/annotations/proxy.istio.io~1config: annotation proxy.istio.io/config is "
        "not a valid ProxyConfig: YAML aliases expand to more than 262,144 characters (Go's YAML "
        "refuses such excessive aliasing) at line 7, column 7; fix or remove the annotation"
    )


@pytest.mark.parametrize(
    "name",
    [
        "proxy.istio.io/overrides",
        "sidecar.istio.io/status",
        "sidecar.istio.io/userVolume",
        "sidecar.istio.io/userVolumeMount",
        "sidecar.istio.io/bootstrapOverride",
    ],
)
def test_other_annotations_do_not_expand_a_bomb(default_config: config.Config, name: str) -> None:
    """These are JSON or plain words: a bomb in them stays the text it is."""
    result = inject.inject_pod(
        pod(annotations={name: BOMB}), namespace="default", config=default_config
    )
    assert len(orjson.dumps(result.pod)) < 20 * 1024


# The config path: config.load refuses bombs in the values, mesh and config inputs.


@pytest.mark.parametrize("key", ["values", "mesh", "config"])
def test_config_load_refuses_a_bomb_in_each_input(key: str, constructed: list[object]) -> None:
    inputs: dict[str, Any] = {key: laughs(levels=12, width=8)}
    with pytest.raises(config.ConfigError) as caught:
        config.load(**inputs)
    assert str(caught.value).startswith(
        f"{key}:8:7: YAML aliases expand to more than 4,194,304 characters"
    )
    assert bombs(constructed) == []


def test_config_load_refuses_a_bomb_inside_a_configmap(constructed: list[object]) -> None:
    inner = laughs(levels=12, width=8).replace("\n", "\n    ")
    text = f"kind: ConfigMap\ndata:\n  values: |\n    {inner}"
    with pytest.raises(config.ConfigError) as caught:
        config.load(values=text, sources=config.Sources(values="cm.yaml"))
    assert str(caught.value).startswith("cm.yaml data.values:8:7: YAML aliases expand")
    assert bombs(constructed) == []


@pytest.mark.parametrize("text", CYCLES)
def test_config_load_refuses_a_cycle(text: str) -> None:
    with pytest.raises(config.ConfigError, match=r"^mesh:1:.*contains it"):
        config.load(mesh=text)


@pytest.mark.parametrize("json", [False, True])
def test_config_load_refuses_an_oversized_text(json: bool) -> None:
    body = "x" * boundedyaml.CONFIG.max_bytes
    text = f'{{"a": "{body}"}}' if json else f"a: {body}"
    with pytest.raises(config.ConfigError) as caught:
        config.load(values=text)
    assert "more than the 1,048,576 allowed" in str(caught.value)
    assert str(caught.value).startswith("values: the text is 1,048,5")


# The rendered template: a size cap before parsing, and the same alias budget.


def template_config(template: str) -> config.Config:
    indented = "".join(f"    {line}\n" for line in template.splitlines())
    return config.load(config=f"policy: enabled\ntemplates:\n  sidecar: |\n{indented}")


@pytest.mark.parametrize(
    ("template", "says"),
    [
        (
            'metadata:\n  labels:\n    a: "{{ repeat 1100000 "x" }}"\n',
            "the text is 1,100,030 bytes, more than the 1,048,576 allowed",
        ),
        (
            "metadata:\n  annotations:\n" + laughs(levels=12, width=8).replace("\n", "\n  "),
            "YAML aliases expand to more than 4,194,304 characters",
        ),
        ("metadata:\n  labels: &a {b: *a}\n", "a YAML alias refers to a node that contains it"),
    ],
    ids=["too-long", "laughs", "cycle"],
)
def test_a_rendered_output_past_its_limits_is_denied_naming_the_template(
    template: str, says: str, constructed: list[Any]
) -> None:
    current = template_config(template)
    with pytest.raises(render.RenderError) as caught:
        inject.inject_pod(pod(), namespace="default", config=current)
    text = str(caught.value)
    assert text.startswith("rendered template 'sidecar'")
    assert f'template "sidecar" rendered YAML that is refused: {says}' in text
    assert text.endswith(
        "; check what the template inserts from the pod, its annotations and the values"
    )
    assert [n for n in constructed if n.value and n.value[0][0].value == "metadata"] == []


DEEP_JSON = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    "name",
    [
        "proxy.istio.io/overrides",
        "sidecar.istio.io/status",
        "sidecar.istio.io/userVolume",
        "sidecar.istio.io/userVolumeMount",
        "proxy.istio.io/config",
    ],
)
def test_json_nested_past_the_recursion_limit_in_an_annotation_is_not_a_crash(
    default_config: config.Config, name: str
) -> None:
    """JSON has no aliases, but Python's decoder raises RecursionError on deep nesting."""
    try:
        inject.inject_pod(
            pod(annotations={name: DEEP_JSON}), namespace="default", config=default_config
        )
    except InjectorError as err:
        assert len(str(err)) < 1_000


@pytest.mark.parametrize(("text", "line"), [("a: 0b_\n", 1), ("a:\n- 1\n- 0x_\n", 3)])
def test_a_number_the_resolver_takes_but_cannot_read_is_a_yaml_error(text: str, line: int) -> None:
    """PyYAML resolves `0b_` and `0x_` as integers, then fails with a bare ValueError."""
    with pytest.raises(yaml.YAMLError) as caught:
        boundedyaml.load(text, limits=boundedyaml.ANNOTATION, source="x")
    assert "is not a number YAML can read" in str(caught.value)
    assert f"line {line}," in str(caught.value)


def test_a_template_that_renders_an_unreadable_number_is_a_render_error() -> None:
    with pytest.raises(render.RenderError, match="is not a number YAML can read"):
        render._parse("spec:\n  priority: 0x_\n", name="sidecar")
