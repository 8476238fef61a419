"""render: parses of repeated texts are shared, but every caller gets its own copy."""

from __future__ import annotations

from sidecar_injector import config, render


def injection() -> config.InjectionConfig:
    text = (
        "policy: enabled\ndefaultTemplates: [sidecar]\ntemplates:\n  sidecar: |\n"
        "    spec:\n      containers:\n      - name: proxy\n"
        "        args: [{{ .Revision | quote }}]\n"
    )
    return config.parse_injection(text)


def test_a_repeated_text_gives_equal_overlays_that_do_not_share_objects() -> None:
    settings = injection()
    data = {"Revision": "r1"}
    first = render.render_one(data, injection=settings, name="sidecar")
    first.overlay["spec"]["containers"][0]["args"].append("mutated")
    second = render.render_one(data, injection=settings, name="sidecar")
    assert second.overlay == {"spec": {"containers": [{"name": "proxy", "args": ["r1"]}]}}
    assert second.overlay["spec"] is not first.overlay["spec"]


def test_a_different_text_is_parsed_anew() -> None:
    settings = injection()
    one = render.render_one({"Revision": "a"}, injection=settings, name="sidecar")
    two = render.render_one({"Revision": "b"}, injection=settings, name="sidecar")
    assert one.overlay["spec"]["containers"][0]["args"] == ["a"]
    assert two.overlay["spec"]["containers"][0]["args"] == ["b"]
