"""Whatever arrives, the webhook answers: a review reply or a 4xx, never a 500 or an exception."""

from __future__ import annotations

import asyncio
import copy
import functools
from typing import Any

import httpx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from sidecar_injector import config, metrics
from sidecar_injector.admission import app, engines
from tests.conftest import SHIPPED_SAMPLE

SAMPLE = orjson.loads(SHIPPED_SAMPLE.read_bytes())


@functools.cache
def webhook() -> app.Webhook:
    return app.Webhook(
        engines.inline(config.load_default()),
        metrics=metrics.create(CollectorRegistry()),
    )


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


PATHS = _paths(SAMPLE)[1:]


def _replaced(path: tuple[str | int, ...], value: Any) -> Any:
    document = copy.deepcopy(SAMPLE)
    target = document
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return document


def _post(body: bytes) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=webhook())
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as client:
            headers = {"Content-Type": "application/json"}
            return await client.post("/inject", content=body, headers=headers)

    return asyncio.run(send())


def _answered(response: httpx.Response) -> None:
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        reply = response.json()
        assert isinstance(reply["response"]["allowed"], bool)


@SETTINGS
@given(st.sampled_from(PATHS), json_values)
def test_any_part_of_a_review_replaced_by_any_json_is_answered(
    path: tuple[str | int, ...], value: Any
) -> None:
    _answered(_post(orjson.dumps(_replaced(path, value))))


@SETTINGS
@given(st.binary(max_size=64) | json_values.map(orjson.dumps))
def test_any_body_is_answered(body: bytes) -> None:
    _answered(_post(body))
