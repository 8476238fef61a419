"""AdmissionReview decoding and replies: both versions mirrored, every malformed shape named."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest

from sidecar_injector.admission import review
from tests.conftest import admission_samples

SAMPLES = admission_samples()


def admission_review(
    obj: dict[str, Any] | None = None,
    *,
    api_version: str = "admission.k8s.io/v1",
    uid: str = "uid-1",
    namespace: str = "default",
) -> dict[str, Any]:
    request: dict[str, Any] = {"uid": uid, "namespace": namespace, "operation": "CREATE"}
    if obj is not None:
        request["object"] = obj
    return {"apiVersion": api_version, "kind": "AdmissionReview", "request": request}


def a_pod(**metadata: Any) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": metadata, "spec": {"containers": [{"name": "app"}]}}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: Path(p).stem)
def test_decodes_the_real_samples(sample: Path) -> None:
    raw = orjson.loads(sample.read_bytes())
    request = review.decode(sample.read_bytes())
    assert request.uid == raw["request"]["uid"]
    assert request.api_version == raw["apiVersion"]
    assert request.object == raw["request"]["object"]
    own = raw["request"]["object"]["metadata"].get("namespace")
    assert request.namespace == (own or raw["request"]["namespace"])


@pytest.mark.parametrize("version", review.API_VERSIONS)
def test_reply_mirrors_the_version_and_uid(version: review.ApiVersion) -> None:
    body = orjson.dumps(admission_review(a_pod(name="p"), api_version=version, uid="abc"))
    request = review.decode(body)
    verdict = review.Verdict(allowed=True, patch=b'[{"op":"add","path":"/x","value":1}]')
    reply = orjson.loads(review.respond(verdict, uid=request.uid, api_version=request.api_version))
    assert reply["apiVersion"] == version
    assert reply["kind"] == "AdmissionReview"
    assert reply["response"]["uid"] == "abc"
    assert reply["response"]["patchType"] == "JSONPatch"
    assert orjson.loads(base64.b64decode(reply["response"]["patch"])) == [
        {"op": "add", "path": "/x", "value": 1}
    ]


def test_a_patch_already_encoded_is_sent_as_it_is() -> None:
    ops = b'[{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]'
    as_json = review.respond(review.Verdict(allowed=True, patch=ops), uid="u")
    encoded = review.Verdict(allowed=True, patch=review.encode_patch(ops))
    assert review.respond(encoded, uid="u") == as_json


def test_skip_reply_has_no_patch_and_denial_has_a_message() -> None:
    skip = orjson.loads(review.respond(review.Verdict(allowed=True), uid="u"))
    assert skip["response"] == {"uid": "u", "allowed": True}
    denied = review.Verdict(allowed=False, message="nope", warnings=("w1",))
    reply = orjson.loads(review.respond(denied, uid="u", api_version="admission.k8s.io/v1beta1"))
    assert reply["response"] == {
        "uid": "u",
        "allowed": False,
        "status": {"metadata": {}, "message": "nope"},
        "warnings": ["w1"],
    }


def test_namespace_comes_from_the_pod_first() -> None:
    body = orjson.dumps(admission_review(a_pod(name="p", namespace="own"), namespace="req"))
    assert review.decode(body).namespace == "own"
    body = orjson.dumps(admission_review(a_pod(name="p"), namespace="req"))
    assert review.decode(body).namespace == "req"


def test_object_name_falls_back_to_generate_name() -> None:
    body = orjson.dumps(admission_review(a_pod(generateName="web-")))
    assert review.decode(body).object_name == "web-"


@pytest.mark.parametrize(
    ("body", "message", "version", "uid"),
    [
        (b"{not json", "not valid JSON", None, ""),
        (b"[1, 2]", "JSON object, not an array", None, ""),
        (b'{"kind": "Pod", "apiVersion": "v1"}', "kind is 'Pod'", None, ""),
        (
            b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v2"}',
            "apiVersion 'admission.k8s.io/v2' is not supported",
            None,
            "",
        ),
        (
            b'{"kind": "AdmissionReview", "apiVersion": {"admission.k8s.io/v1": 1}}',
            r"apiVersion \{'admission.k8s.io/v1': 1\} is not supported",
            None,
            "",
        ),
        (
            b'{"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1"}',
            "has no request",
            "admission.k8s.io/v1",
            "",
        ),
        (
            orjson.dumps(admission_review(None, api_version="admission.k8s.io/v1beta1")),
            "request.object is missing or null",
            "admission.k8s.io/v1beta1",
            "uid-1",
        ),
        (
            orjson.dumps(admission_review({"kind": "Pod"}, uid="")),
            "request.uid is missing",
            "admission.k8s.io/v1",
            "",
        ),
    ],
)
def test_bad_reviews_say_what_is_wrong(
    body: bytes, message: str, version: str | None, uid: str
) -> None:
    with pytest.raises(review.ReviewError, match=message) as caught:
        review.decode(body)
    assert caught.value.api_version == version
    assert caught.value.uid == uid
