"""A template whose output is not a Pod overlay: the template's name, the line of its output
and what is wrong, in one line, through `render.render` and `kube-inject`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sidecar_injector import cli, config, render
from sidecar_injector.templatedata import build

POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: b}]}\n"


def settings(template: str) -> config.Config:
    indented = "".join(f"    {line}\n" for line in template.splitlines())
    return config.load(config=f"policy: enabled\ntemplates:\n  sidecar: |\n{indented}")


@pytest.mark.parametrize(
    ("template", "says", "line"),
    [
        (
            "spec:\n  containers:\n  - name: proxy\n    image: [unclosed\n",
            'template "sidecar" rendered invalid YAML: ',
            5,
        ),
        (
            "spec:\n  containers:\n  - name: proxy\n    ports: 15090\n",
            'template "sidecar" rendered a field of the wrong type: ',
            4,
        ),
        ("- a list\n", 'template "sidecar" rendered a list, not a mapping', 1),
    ],
    ids=["invalid-yaml", "wrong-type", "not-a-mapping"],
)
def test_the_error_names_the_template_and_the_line(template: str, says: str, line: int) -> None:
    current = settings(template)
    data = build({"metadata": {"name": "p"}, "spec": {}}, config=current, namespace="ns")
    with pytest.raises(render.RenderError) as caught:
        render.render(data, injection=current.injection, names=("sidecar",))
    text = str(caught.value)
    assert text.startswith(f"rendered template 'sidecar':{line}")
    assert says in text
    assert caught.value.location is not None and caught.value.location.line == line
    lines = template.splitlines()
    if 1 < line <= len(lines):
        assert f"near {lines[line - 1].strip()!r}" in text


def test_kube_inject_says_it_in_one_line(tmp_path: Path) -> None:
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "policy: enabled\ntemplates:\n  sidecar: |\n    spec:\n      containers:\n"
        "      - name: proxy\n        ports: 15090\n"
    )
    result = CliRunner().invoke(
        cli.app, ["kube-inject", "-f", "-", "--injectConfigFile", str(config_file)], input=POD
    )
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert 'template "sidecar" rendered a field of the wrong type' in result.stderr
    assert "near 'ports: 15090'" in result.stderr
