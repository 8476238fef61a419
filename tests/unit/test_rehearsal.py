"""rehearsal: a config is refused when it fails for a canonical pod, and only then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from sidecar_injector import annotations as pod_annotations
from sidecar_injector import config, decision, inject, rehearsal
from tests.conftest import KIT, NO_KIT

DEFAULT_TEMPLATE = yaml.safe_load(
    (Path(rehearsal.__file__).parent / "defaults/config.yaml").read_text()
)["templates"]["sidecar"]


def with_sidecar(template: str) -> config.Config:
    """The embedded default with its `sidecar` template replaced."""
    text = yaml.safe_dump(
        {"policy": "enabled", "defaultTemplates": ["sidecar"], "templates": {"sidecar": template}}
    )
    return config.load(config=text)


def failing_when(condition: str) -> config.Config:
    """The default template, with `{{ fail }}` first when `condition` holds for the pod."""
    guard = f'{{{{ if {condition} }}}}{{{{ fail "refused by the test" }}}}{{{{ end }}}}\n'
    return with_sidecar(guard + DEFAULT_TEMPLATE)


def kit_settings() -> list[tuple[str, dict[str, Any]]]:
    """Each distinct config, values, mesh and environment the kit's cases inject with."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for suite in ("modern", "legacy-1.0"):
        manifest = KIT / suite / "cases" / "manifest.json"
        for case in json.loads(manifest.read_text()) if manifest.exists() else ():
            if not case.get("golden"):
                continue
            files = {name: _settings_file(suite, case, name) for name in SETTINGS}
            key = json.dumps([str(p) for p in files.values()] + [case.get("env") or {}])
            found.setdefault(key, (f"{suite}/{case['name']}", {**files, "env": case.get("env")}))
    return list(found.values())


SETTINGS = ("config.yaml", "values.json", "mesh.yaml")


def _settings_file(suite: str, case: dict[str, Any], name: str) -> Path:
    own = case.get("settings_dir")
    if isinstance(own, str) and (KIT / suite / "cases" / own / name).exists():
        return KIT / suite / "cases" / own / name
    return KIT / suite / "config" / name


KIT_SETTINGS = kit_settings()


def test_the_embedded_default_passes() -> None:
    rehearsal.rehearse(config.load_default())


@pytest.mark.skipif(not KIT_SETTINGS, reason=NO_KIT)
@pytest.mark.parametrize("settings", [s for _, s in KIT_SETTINGS], ids=[n for n, _ in KIT_SETTINGS])
def test_the_kit_configs_pass(settings: dict[str, Any]) -> None:
    loaded = config.load_files(
        config=settings["config.yaml"],
        values=settings["values.json"],
        mesh=settings["mesh.yaml"],
        env=settings["env"] or {},
    )
    rehearsal.rehearse(loaded)


def test_the_canonical_pods_are_injected_by_the_default_and_valid() -> None:
    default = config.load_default()
    for canonical in rehearsal.CANONICAL:
        pod = canonical.build()
        pod_annotations.validate(pod["metadata"]["annotations"])
        assert decision.decide(pod, namespace=rehearsal.NAMESPACE, config=default.injection).inject
        injected = inject.inject_pod(pod, namespace=rehearsal.NAMESPACE, config=default).pod
        assert "sidecar.istio.io/status" in injected["metadata"]["annotations"]


def test_the_native_sidecar_pod_gets_a_native_proxy() -> None:
    pod = next(c for c in rehearsal.CANONICAL if c.name == "native-sidecar").build()
    injected = inject.inject_pod(pod, namespace=rehearsal.NAMESPACE, config=config.load_default())
    inits = [c["name"] for c in injected.pod["spec"]["initContainers"]]
    assert inject.PROXY_NAME in inits


def test_a_template_that_always_fails_is_refused_at_the_first_pod() -> None:
    with pytest.raises(config.ConfigError) as caught:
        rehearsal.rehearse(failing_when("true"))
    err = caught.value
    assert isinstance(err, rehearsal.RehearsalError)
    assert err.pod == "plain"
    text = str(err)
    assert text.startswith("the config fails for the canonical plain pod: ")
    assert 'template "sidecar" failed' in text
    assert ":1:" in text and "error calling fail: refused by the test" in text
    assert "fix its templates or values" in text


def test_a_template_that_fails_only_for_annotated_pods_is_refused() -> None:
    annotated = failing_when("isset .ObjectMeta.Annotations `sidecar.istio.io/logLevel`")
    with pytest.raises(rehearsal.RehearsalError) as caught:
        rehearsal.rehearse(annotated)
    assert caught.value.pod == "annotated"
    assert "canonical annotated pod" in str(caught.value)


def test_a_template_that_fails_only_for_native_sidecars_is_refused() -> None:
    native = failing_when(
        "eq (index .ObjectMeta.Annotations `sidecar.istio.io/nativeSidecar`) `true`"
    )
    with pytest.raises(rehearsal.RehearsalError) as caught:
        rehearsal.rehearse(native)
    assert caught.value.pod == "native-sidecar"


def test_invalid_yaml_for_pods_with_ports_names_the_line() -> None:
    ports = with_sidecar(
        "{{ range .Spec.Containers }}{{ range .Ports }}spec: [{{ end }}{{ end }}\n"
    )
    with pytest.raises(rehearsal.RehearsalError) as caught:
        rehearsal.rehearse(ports)
    assert caught.value.pod == "multi-container"
    assert "rendered template 'sidecar':" in str(caught.value)
    assert "invalid YAML" in str(caught.value)


def test_a_config_that_skips_a_pod_is_fine() -> None:
    skipping = with_sidecar(
        "{{ if not (isset .ObjectMeta.Annotations `sidecar.istio.io/logLevel`) }}"
        + DEFAULT_TEMPLATE
        + "{{ end }}\n"
    )
    rehearsal.rehearse(skipping)


def test_an_unexpected_failure_is_refused_with_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: object, **__: object) -> None:
        raise KeyError("spec")

    monkeypatch.setattr(inject, "inject_pod", broken)
    with pytest.raises(rehearsal.RehearsalError, match=r"plain pod: KeyError: 'spec'"):
        rehearsal.rehearse(config.load_default())
