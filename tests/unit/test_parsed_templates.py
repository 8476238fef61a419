"""The parsed-template cache is bounded by the length of the texts it keeps, not by a count."""

from __future__ import annotations

from sidecar_injector import config


def big_template(n: int, size: int) -> str:
    return f"# {n}\n" + "metadata: {}\n" * (size // 13)


def test_distinct_large_templates_keep_at_most_the_budget() -> None:
    cache = config.ParsedTemplates(max_chars=100_000)
    for n in range(20):
        cache.parse(big_template(n, 30_000), config.MODERN_DELIMS, "modern")
        assert cache.chars <= 100_000
    assert len(cache) == 3
    assert cache.chars == sum(len(big_template(n, 30_000)) for n in (17, 18, 19))


def test_an_unchanged_text_is_parsed_once_and_the_least_recently_used_goes_first() -> None:
    cache = config.ParsedTemplates(max_chars=100_000)
    first = cache.parse(big_template(0, 30_000), config.MODERN_DELIMS, "modern")
    cache.parse(big_template(1, 30_000), config.MODERN_DELIMS, "modern")
    assert cache.parse(big_template(0, 30_000), config.MODERN_DELIMS, "modern") is first
    cache.parse(big_template(2, 30_000), config.MODERN_DELIMS, "modern")
    cache.parse(big_template(3, 30_000), config.MODERN_DELIMS, "modern")  # evicts 1, not 0
    assert cache.parse(big_template(0, 30_000), config.MODERN_DELIMS, "modern") is first
    assert len(cache) == 3


def test_a_template_longer_than_the_budget_is_parsed_but_not_kept() -> None:
    cache = config.ParsedTemplates(max_chars=10_000)
    text = big_template(0, 20_000)
    one = cache.parse(text, config.MODERN_DELIMS, "modern")
    assert cache.parse(text, config.MODERN_DELIMS, "modern") is not one
    assert (len(cache), cache.chars) == (0, 0)


def test_loading_configs_goes_through_the_bounded_cache() -> None:
    text = "policy: enabled\ntemplates:\n  sidecar: |\n    metadata: {labels: {n: 'unique-4711'}}\n"
    loaded = config.load(config=text)
    again = config.load(config=text)
    assert again.injection.templates["sidecar"] is loaded.injection.templates["sidecar"]
    assert config.PARSED_TEMPLATES.chars <= config.PARSED_TEMPLATES.max_chars
