"""render: parses of repeated texts are kept and shared, read-only (`Rendered`; that injection
never changes them is tests/unit/test_render_shared.py)."""

from __future__ import annotations

from sidecar_injector import config, render


def injection() -> config.InjectionConfig:
    text = (
        "policy: enabled\ndefaultTemplates: [sidecar]\ntemplates:\n  sidecar: |\n"
        "    spec:\n      containers:\n      - name: proxy\n"
        "        args: [{{ .Revision | quote }}]\n"
    )
    return config.parse_injection(text)


def test_a_repeated_text_gives_the_kept_overlay() -> None:
    settings = injection()
    data = {"Revision": "r1"}
    first = render.render_one(data, injection=settings, name="sidecar")
    second = render.render_one(data, injection=settings, name="sidecar")
    assert second.overlay == {"spec": {"containers": [{"name": "proxy", "args": ["r1"]}]}}
    assert second.overlay is first.overlay


def test_a_different_text_is_parsed_anew() -> None:
    settings = injection()
    one = render.render_one({"Revision": "a"}, injection=settings, name="sidecar")
    two = render.render_one({"Revision": "b"}, injection=settings, name="sidecar")
    assert one.overlay["spec"]["containers"][0]["args"] == ["a"]
    assert two.overlay["spec"]["containers"][0]["args"] == ["b"]
