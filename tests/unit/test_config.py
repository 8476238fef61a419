"""Loading and validating the injection config, values and mesh config."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar_injector import config, gotemplate
from sidecar_injector.config import ConfigError, LabelSelector, Requirement
from tests.conftest import KIT, needs_kit

ENGINE = hasattr(gotemplate, "parse")
needs_engine = pytest.mark.skipif(not ENGINE, reason="the Go template engine has not landed")

MODERN = """
policy: enabled
templates:
  sidecar: |
    spec: {}
"""


def error_of(**inputs: str) -> str:
    with pytest.raises(ConfigError) as info:
        config.load(**inputs)  # type: ignore[arg-type]
    return str(info.value)


def test_embedded_default_is_modern_enabled_with_a_sidecar_template() -> None:
    cfg = config.load_default()
    assert cfg.injection.format == "modern"
    assert cfg.injection.policy == "enabled"
    assert cfg.injection.default_templates == ("sidecar",)
    assert "istio-init" in cfg.injection.template_texts["sidecar"]
    assert cfg.values["global"]["proxy"]["statusPort"] == 15020.0
    assert cfg.mesh.data["proxyListenPort"] == 15001
    assert cfg.mesh.default_config.data["drainDuration"] == "45s"


@needs_kit
@pytest.mark.parametrize("suite", ["modern", "legacy-1.0"])
def test_conformance_kit_configs_load(suite: str) -> None:
    folder = KIT / suite / "config"
    cfg = config.load_files(
        config=folder / "config.yaml", values=folder / "values.json", mesh=folder / "mesh.yaml"
    )
    if suite == "modern":
        assert cfg.injection.format == "modern"
        assert {"sidecar", "gateway", "grpc-agent", "waypoint"} <= set(cfg.injection.templates)
        assert cfg.injection.delims == ("{{", "}}")
        assert cfg.mesh.default_config.data["discoveryAddress"] == "istiod.istio-system.svc:15012"
        assert cfg.mesh.default_config.data["statusPort"] == 15020
    else:
        assert cfg.injection.format == "legacy"
        assert list(cfg.injection.templates) == ["sidecar"]
        assert cfg.injection.delims == ("[[", "]]")
        assert cfg.mesh.default_config.data["drainDuration"] == "2s"
        assert cfg.mesh.data["authPolicy"] == "NONE"
    assert cfg.injection.policy == "enabled"


@needs_kit
def test_every_kit_settings_variant_loads() -> None:
    loaded = 0
    for suite in ("modern", "legacy-1.0"):
        for settings in sorted((KIT / suite / "cases").glob("*.settings")):
            base = KIT / suite / "config"

            def pick(name: str, settings: Path = settings, base: Path = base) -> Path:
                return settings / name if (settings / name).exists() else base / name

            config.load_files(
                config=pick("config.yaml"), values=pick("values.json"), mesh=pick("mesh.yaml")
            )
            loaded += 1
    assert loaded > 30


def test_configmap_documents_are_read_from_their_data_keys() -> None:
    injector = """
apiVersion: v1
kind: ConfigMap
metadata: {name: istio-sidecar-injector}
data:
  config: |
    policy: disabled
    templates:
      sidecar: "spec: {}"
  values: '{"global": {"hub": "example.com", "n": 1000000}}'
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio}
data:
  mesh: |
    defaultConfig:
      drainDuration: 1m30s
"""
    cfg = config.load(config=injector, values=injector, mesh=injector)
    assert cfg.injection.policy == "disabled"
    assert cfg.values == {"global": {"hub": "example.com", "n": 1e6}}
    assert cfg.mesh.default_config.data["drainDuration"] == "90s"


def test_legacy_format_is_recognised_from_the_template_key() -> None:
    cfg = config.load(config="policy: enabled\ntemplate: |\n  containers: [[ .Spec ]]\n")
    assert cfg.injection.format == "legacy"
    assert cfg.injection.delims == ("[[", "]]")
    assert cfg.injection.template_texts == {"sidecar": "containers: [[ .Spec ]]\n"}
    curly = config.load(config="policy: enabled\ntemplate: 'containers: {{ .Spec }}'\n")
    assert curly.injection.delims == ("{{", "}}")
    explicit = config.load(
        config="policy: enabled\ntemplate: 'x: <% .Spec %>'", delims=("<%", "%>")
    )
    assert explicit.injection.delims == ("<%", "%>")


def test_modern_keys_and_selectors() -> None:
    cfg = config.load(
        config="""
policy: enabled
defaultTemplates: [both]
aliases: {both: [sidecar, extra]}
templates: {sidecar: "a: 1", extra: "b: 2"}
neverInjectSelector:
- matchExpressions: [{key: openshift.io/build.name, operator: Exists}]
alwaysInjectSelector:
- matchLabels: {inject: "yes"}
injectedAnnotations: {container.apparmor.security.beta.kubernetes.io/istio-proxy: unconfined}
"""
    )
    inj = cfg.injection
    assert inj.default_templates == ("both",)
    assert inj.aliases == {"both": ("sidecar", "extra")}
    assert inj.never_inject_selector == (
        LabelSelector(match_expressions=(Requirement("openshift.io/build.name", "Exists"),)),
    )
    assert inj.always_inject_selector == (LabelSelector(match_labels={"inject": "yes"}),)
    assert inj.injected_annotations == {
        "container.apparmor.security.beta.kubernetes.io/istio-proxy": "unconfined"
    }


def test_missing_policy_means_no_injection_by_policy_as_istio() -> None:
    assert config.load(config="templates: {sidecar: 'a: 1'}").injection.policy == "disabled"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("policy: sometimes\ntemplates: {sidecar: 'a: 1'}", "policy: 'sometimes' is not allowed"),
        ("policy: enabled\ntemplates: {sidecar: 3}", "templates.sidecar:"),
        (
            "templates: {sidecar: 'a'}\nneverInjectSelector: [{matchExpressions: "
            "[{key: a, operator: Maybe}]}]",
            "neverInjectSelector.0.matchExpressions.0.operator",
        ),
        (
            "templates: {sidecar: 'a'}\nalwaysInjectSelector: [{matchLabel: {}}]",
            "matchLabel: unknown",
        ),
        (
            "templates: {sidecar: 'a'}\nalwaysInjectSelector: [{matchExpressions: "
            "[{key: a, operator: In}]}]",
            "alwaysInjectSelector.0.matchExpressions.0: operator In needs a non-empty `values`",
        ),
        (
            "templates: {sidecar: 'a'}\nneverInjectSelector: [{matchExpressions: "
            "[{key: a, operator: Exists, values: [x]}]}]",
            "operator Exists takes no `values`",
        ),
        (
            "templates: {sidecar: 'a'}\ndefaultTemplates: [gateway]",
            "defaultTemplates[0]: template 'gateway'",
        ),
        ("templates: {sidecar: 'a'}\naliases: {x: [sidecar, nope]}", "aliases.x: template 'nope'"),
        ("templates: {}", "templates: is empty"),
        ("policy: enabled", "has no templates"),
        ("template: ''", "template: is empty"),
        ("- a list", "must be a mapping"),
        ("templates: {sidecar: 'a'}\ninjectedAnnotations: {a: 1}", "injectedAnnotations.a"),
    ],
)
def test_injection_config_errors_name_the_key(text: str, where: str) -> None:
    message = error_of(config=text)
    assert message.startswith("config: ")
    assert where in message


def test_yaml_syntax_errors_carry_line_and_column() -> None:
    message = error_of(config="policy: enabled\ntemplates:\n  sidecar: [unclosed\n")
    assert message.startswith("config:4:1: not valid YAML")


def test_configmap_without_the_key_says_where_it_belongs() -> None:
    message = error_of(mesh="kind: ConfigMap\ndata: {config: 'x'}\n")
    assert "no ConfigMap here has data.mesh" in message
    assert "ConfigMap istio" in message


@pytest.mark.parametrize(
    ("mesh", "where"),
    [
        (
            "defaultConfig: {drainDuration: soon}",
            "defaultConfig.drainDuration: 'soon' is not a duration",
        ),
        (
            "defaultConfig: {interceptionMode: BOUNCE}",
            "defaultConfig.interceptionMode: 'BOUNCE' is not one of",
        ),
        ("proxyListenPort: http", "proxyListenPort: must be an integer"),
        (
            "defaultConfig: {proxyMetadata: {A: [1]}}",
            "defaultConfig.proxyMetadata.A: must be a string",
        ),
        ("defaultConfig: {statusPort: 99999999999}", "out of range for int32"),
        ("defaultConfig: 3", "defaultConfig: must be a mapping"),
        ("[1, 2]", "must be a mapping (MeshConfig)"),
    ],
)
def test_mesh_errors_name_the_key(mesh: str, where: str) -> None:
    message = error_of(mesh=mesh)
    assert message.startswith("mesh: ")
    assert where in message


def test_values_must_be_a_mapping_and_numbers_become_floats() -> None:
    assert "must be a mapping (Helm values)" in error_of(values="[1]")
    cfg = config.load(values="a: 1\nb: [2, 2.5, true, null]\nc: {d: 3}\n")
    assert cfg.values == {"a": 1.0, "b": [2.0, 2.5, True, None], "c": {"d": 3.0}}
    assert isinstance(cfg.values["a"], float)
    assert config.load(values="").values == {}


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"cannot read .*nope\.yaml"):
        config.load_files(config=missing, values=None, mesh=None)


def test_revision_and_env_are_kept() -> None:
    cfg = config.load(revision="canary", env={"ENABLE_NATIVE_SIDECARS": "true"})
    assert cfg.revision == "canary"
    assert cfg.env == {"ENABLE_NATIVE_SIDECARS": "true"}


@needs_engine
def test_template_syntax_errors_name_template_and_line_col() -> None:
    text = "policy: enabled\ntemplates:\n  sidecar: |\n    a: 1\n    b: {{ .X \n"
    message = error_of(config=text)
    assert "templates.sidecar:3: template: inject:3: unclosed action" in message


@needs_engine
def test_unknown_function_is_reported_at_load() -> None:
    message = error_of(config="templates:\n  sidecar: '{{ nosuchfunc }}'\n")
    assert "templates.sidecar" in message
    assert "nosuchfunc" in message


def test_modern_config_parses_the_string_template_only_for_legacy_guard() -> None:
    cfg = config.load(config=MODERN + 'template: "{{ Template_Version_Mismatch }}"\n')
    assert cfg.injection.format == "modern"
    assert list(cfg.injection.template_texts) == ["sidecar"]


def test_keys_without_effect_are_reported_as_warnings() -> None:
    cfg = config.load(config=MODERN + "neverInjectSelectors: []\n")
    (warning,) = cfg.injection.warnings
    assert "unknown key 'neverInjectSelectors' is ignored" in warning
    assert "neverInjectSelector" in warning.split("known keys are")[1]
    legacy = config.load(config="template: 'a: [[ .Spec ]]'\naliases: {x: [sidecar]}\n")
    assert legacy.injection.warnings == (
        "config: 'aliases' is ignored in the legacy format (it needs `templates:`)",
    )
    assert config.load_default().injection.warnings == ()


@needs_kit
def test_istios_own_config_loads_without_warnings() -> None:
    kit = KIT / "modern/config/config.yaml"
    assert config.load_files(config=kit, values=None, mesh=None).injection.warnings == ()
