"""The webhook on the real injection pipeline: samples injected, patches applied and validated."""

from __future__ import annotations

import base64
import copy
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import kubernetes_validate
import orjson
import pytest
from prometheus_client import CollectorRegistry

from sidecar_injector import config, metrics
from sidecar_injector.admission import app, engines, review
from tests.conftest import LOADGEN_SAMPLES, SHIPPED_SAMPLE
from tests.unit.test_review import a_pod, admission_review

SAMPLES = LOADGEN_SAMPLES
SHIPPED = SHIPPED_SAMPLE
VERSION = "1.29.0"
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def default_config() -> config.Config:
    return config.load_default()


def webhook(current: config.Config, **settings: Any) -> httpx.AsyncClient:
    service = app.Webhook(
        engines.inline(current),
        metrics=metrics.create(CollectorRegistry()),
        settings=app.Settings(**settings),
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=service), base_url="https://t")


async def post(client: httpx.AsyncClient, body: bytes, path: str = "/inject") -> dict[str, Any]:
    response = await client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()
    return reply


def patched(pod: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    assert response["patchType"] == "JSONPatch"
    ops = orjson.loads(base64.b64decode(response["patch"]))
    result: dict[str, Any] = jsonpatch.apply_patch(pod, ops)
    return result


@pytest.mark.parametrize("sample", [*SAMPLES, SHIPPED], ids=lambda p: Path(p).stem)
@pytest.mark.parametrize("version", review.API_VERSIONS)
async def test_samples_are_injected_and_valid(
    sample: Path, version: str, default_config: config.Config
) -> None:
    document = orjson.loads(sample.read_bytes())
    document["apiVersion"] = version
    pod = document["request"]["object"]
    async with webhook(default_config) as client:
        reply = await post(client, orjson.dumps(document))
    assert reply["apiVersion"] == version
    response = reply["response"]
    assert response["uid"] == document["request"]["uid"]
    assert response["allowed"] is True
    injected = patched(copy.deepcopy(pod), response)
    names = [c["name"] for c in injected["spec"]["containers"]]
    assert "istio-proxy" in names
    assert "sidecar.istio.io/status" in injected["metadata"]["annotations"]
    assert kubernetes_validate.validate(injected, VERSION, strict=True)


async def test_fields_the_injector_does_not_model_survive(default_config: config.Config) -> None:
    pod = a_pod(name="p")
    pod["spec"]["containers"][0]["image"] = "example.com/app:1"
    pod["spec"]["futureField"] = {"kept": True}
    async with webhook(default_config) as client:
        reply = await post(client, orjson.dumps(admission_review(pod)))
    assert patched(pod, reply["response"])["spec"]["futureField"] == {"kept": True}


async def test_skipped_pods_have_no_patch_and_say_why(default_config: config.Config) -> None:
    pod = a_pod(name="p")
    pod["spec"]["hostNetwork"] = True
    async with webhook(default_config) as client:
        reply = await post(client, orjson.dumps(admission_review(pod)))
    assert reply["response"] == {"uid": "uid-1", "allowed": True}


async def test_invalid_inject_value_comes_back_as_a_warning(
    default_config: config.Config,
) -> None:
    pod = a_pod(name="p", annotations={"sidecar.istio.io/inject": "yes"})
    async with webhook(default_config) as client:
        reply = await post(client, orjson.dumps(admission_review(pod)))
    warnings = reply["response"].get("warnings", [])
    assert any("sidecar.istio.io/inject" in w for w in warnings)


async def test_validate_refuses_a_config_that_does_not_load(
    default_config: config.Config,
) -> None:
    bad = {"kind": "ConfigMap", "metadata": {}, "data": {"config": "policy: sometimes\n"}}
    values = (resources.files("sidecar_injector") / "defaults/values.yaml").read_text()
    good = {"kind": "ConfigMap", "metadata": {}, "data": {"values": values}}
    async with webhook(default_config) as client:
        refused = await post(client, orjson.dumps(admission_review(bad)), path="/validate")
        accepted = await post(client, orjson.dumps(admission_review(good)), path="/validate")
    assert refused["response"]["allowed"] is False
    assert "ConfigMap data.config" in refused["response"]["status"]["message"]
    assert accepted["response"]["allowed"] is True
