"""`sidecar-injector template render`: output on stdout, Go's error text on stderr."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from sidecar_injector.cli import app

runner = CliRunner()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_renders_json_data_with_go_numbers_and_sprig(tmp_path: Path) -> None:
    template = _write(
        tmp_path, "t.tmpl", '{{ .n }} {{ range .l }}[{{ . }}]{{ end }} {{ upper "x" }}'
    )
    data = _write(tmp_path, "d.json", '{"n": 1000000, "l": ["a", "b"]}')
    result = runner.invoke(app, ["template", "render", str(template), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1e+06 [a][b] X"


def test_yaml_data_and_istio_delimiters(tmp_path: Path) -> None:
    template = _write(tmp_path, "legacy.tmpl", "[[ .a ]] {{ .a }}")
    data = _write(tmp_path, "d.yaml", "a: 1\n")
    args = ["template", "render", str(template), "--data", str(data), "--delims", "[[,]]"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0
    assert result.stdout == "1 {{ .a }}"  # 1: a float64 printed as Go prints it


def test_exec_error_prints_go_text_and_fails(tmp_path: Path) -> None:
    template = _write(tmp_path, "t.tmpl", "ok {{ .a.b }}")
    data = _write(tmp_path, "d.json", '{"a": "x"}')
    result = runner.invoke(app, ["template", "render", str(template), "--data", str(data)])
    assert result.exit_code == 1
    assert result.stdout == "ok "
    assert result.stderr.strip() == (
        'template: t.tmpl:1:8: executing "t.tmpl" at <.a.b>: '
        "can't evaluate field b in type interface {}"
    )


def test_no_sprig_makes_sprig_functions_unknown(tmp_path: Path) -> None:
    template = _write(tmp_path, "t.tmpl", '{{ upper "x" }}')
    result = runner.invoke(app, ["template", "render", str(template), "--no-sprig"])
    assert result.exit_code == 1
    assert result.stderr.strip() == 'template: t.tmpl:1: function "upper" not defined'


def test_bad_delimiters_are_a_usage_error(tmp_path: Path) -> None:
    template = _write(tmp_path, "t.tmpl", "x")
    result = runner.invoke(app, ["template", "render", str(template), "--delims", "[["])
    assert result.exit_code == 2
    assert "--delims" in result.stderr


def test_yaml_data_is_read_as_json_like_helm_values(tmp_path: Path) -> None:
    template = _write(
        tmp_path, "t.tmpl", '{{ .n }} {{ printf "%T" .d }} {{ .d }} {{ index . "3" }}'
    )
    data = _write(tmp_path, "d.yaml", "n: 1000000\nd: 2024-01-02\n3: x\n")
    result = runner.invoke(app, ["template", "render", str(template), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "1e+06 string 2024-01-02 x"


def test_a_missing_file_is_one_line_of_ours(tmp_path: Path) -> None:
    result = runner.invoke(app, ["template", "render", str(tmp_path / "nope.tmpl")])
    assert result.exit_code == 1
    assert result.stderr.startswith("sidecar-injector: error: ")
    assert result.stderr.count("\n") == 1
