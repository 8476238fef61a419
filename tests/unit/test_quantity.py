"""Canonical quantity text, as Kubernetes' resource.Quantity.String() prints it."""

from __future__ import annotations

import pytest

from sidecar_injector import quantity


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("2000m", "2"),
        ("100m", "100m"),
        ("1.5", "1500m"),
        ("0.5", "500m"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("1024Mi", "1Gi"),
        ("128Mi", "128Mi"),
        ("0.5Gi", "512Mi"),
        ("1.5Ki", "1536"),
        ("512", "512"),
        ("1e3", "1e3"),
        ("12e2", "1200"),
        ("1E6", "1e6"),
        ("0", "0"),
        ("0Mi", "0"),
        ("1.1n", "2n"),
        ("500000u", "500m"),
        ("-2000m", "-2"),
        (1, "1"),
        (0.25, "250m"),
        (" 3Gi ", "3Gi"),
    ],
)
def test_canonical_form(given: str | int | float, want: str) -> None:
    assert quantity.canonical(given) == want


@pytest.mark.parametrize("bad", ["", "1.2.3", "10 m", "Mi", "1Q", "--1"])
def test_bad_quantities_are_rejected(bad: str) -> None:
    with pytest.raises(quantity.QuantityError, match="regular expression"):
        quantity.canonical(bad)


def test_parse_keeps_the_format() -> None:
    assert quantity.parse("1Ki")[1] == "BinarySI"
    assert quantity.parse("1k")[1] == "DecimalSI"
    assert quantity.parse("1e3")[1] == "DecimalExponent"
    assert quantity.parse("1Ki")[0] == 1024
