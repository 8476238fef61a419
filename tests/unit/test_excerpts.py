"""A long value a user sent is quoted cut short, with its length, wherever a message echoes it."""

from __future__ import annotations

import logging

import pytest

from sidecar_injector import config, decision, errors, inject, render, templatedata
from sidecar_injector.annotations import AnnotationError
from tests.builders import pod

LONG = "x" * 200_000
MARK = "… (200000 bytes)"


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def test_excerpt_keeps_short_values_and_cuts_long_ones_saying_their_size() -> None:
    assert errors.excerpt("warning") == "warning"
    assert errors.excerpt("a" * 200) == "a" * 200
    assert errors.excerpt("a" * 201) == "a" * 200 + "… (201 bytes)"
    assert errors.excerpt("é" * 30, limit=10) == "é" * 10 + "… (60 bytes)"


@pytest.mark.parametrize(
    "name",
    [
        "traffic.sidecar.istio.io/includeInboundPorts",
        "traffic.sidecar.istio.io/excludeOutboundIPRanges",
        "sidecar.istio.io/interceptionMode",
        "status.sidecar.istio.io/port",
        "prometheus.istio.io/merge-metrics",
    ],
)
def test_an_invalid_annotation_value_is_quoted_cut_short(
    default_config: config.Config, name: str
) -> None:
    with pytest.raises(AnnotationError) as caught:
        inject.inject_pod(pod(annotations={name: LONG}), namespace="default", config=default_config)
    message = str(caught.value)
    assert f"invalid value '{'x' * 200}{MARK}' for annotation '{name}'" in message
    assert len(message) < 1_000


def test_a_long_invalid_proxy_config_is_quoted_cut_short(default_config: config.Config) -> None:
    text = "concurrency: [" + "1," * 30_000 + "]"
    with pytest.raises(AnnotationError) as caught:
        inject.inject_pod(
            pod(annotations={"proxy.istio.io/config": text + "\n: ["}),
            namespace="default",
            config=default_config,
        )
    assert len(str(caught.value)) < 1_000


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("drainDuration: '" + "9" * 50_000 + "'", "… (50002 bytes) is not a duration"),
        ("interceptionMode: " + "X" * 50_000, "… (50002 bytes) is not one of REDIRECT"),
        ("concurrency: " + "z" * 50_000, "the string '" + "z" * 200 + "… (50000 bytes)'"),
    ],
    ids=["duration", "enum", "wrong-type"],
)
def test_a_long_proxy_config_value_is_quoted_cut_short(
    default_config: config.Config, text: str, says: str
) -> None:
    with pytest.raises(config.ConfigError) as caught:
        templatedata.effective_proxy_config(default_config.mesh, {"proxy.istio.io/config": text})
    assert says in str(caught.value)
    assert len(str(caught.value)) < 1_000


def test_a_long_inject_annotation_is_quoted_cut_short_in_the_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    injection = config.load_default().injection
    with caplog.at_level(logging.WARNING):
        answer = decision.decide(
            pod(annotations={"sidecar.istio.io/inject": LONG}),
            namespace="default",
            config=injection,
        )
    (warning,) = answer.warnings
    assert f'"{"x" * 200}{MARK}"' in warning
    assert len(warning) < 500
    assert all(len(record.getMessage()) < 500 for record in caplog.records)


def test_a_long_template_name_is_quoted_cut_short(default_config: config.Config) -> None:
    with pytest.raises(render.RenderError) as caught:
        inject.inject_pod(
            pod(annotations={"inject.istio.io/templates": LONG}),
            namespace="default",
            config=default_config,
        )
    assert f'requested template "{"x" * 200}{MARK}" not found' in str(caught.value)
    assert len(str(caught.value)) < 500


def test_a_long_config_value_is_quoted_cut_short() -> None:
    with pytest.raises(config.ConfigError) as caught:
        config.load(config=f"policy: {LONG}\ntemplates: {{sidecar: ''}}\n")
    assert MARK.replace("200000", "200002") in str(caught.value)
    assert len(str(caught.value)) < 1_000


def test_a_long_rendered_line_is_quoted_cut_short() -> None:
    current = config.load(
        config="policy: enabled\ntemplates:\n  sidecar: |\n"
        f"    metadata: {{labels: {{a: [{'x' * 5_000}}}}}\n"
    )
    with pytest.raises(render.RenderError) as caught:
        inject.inject_pod(pod(), namespace="default", config=current)
    assert "… (5026 bytes)" in str(caught.value)
    assert len(str(caught.value)) < 1_000
