"""AdmissionReview on the wire (`admission.k8s.io/v1` and `v1beta1`): decode, respond.

These TypedDicts are the only place the API server's camelCase keys appear. The two versions have
the same shape for everything a mutating webhook reads or writes, so one set of types serves both;
only `apiVersion` differs, and the reply mirrors it, as the API server requires.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Literal, NotRequired, TypedDict, get_args

import orjson

from sidecar_injector import config, errors

ApiVersion = Literal["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]
API_VERSIONS: tuple[ApiVersion, ...] = get_args(ApiVersion)
_KNOWN_VERSIONS: dict[str, ApiVersion] = {version: version for version in API_VERSIONS}
Object = dict[str, config.JSON]


class GroupVersionKind(TypedDict):
    group: str
    version: str
    kind: str


class AdmissionRequest(TypedDict):
    uid: str
    kind: NotRequired[GroupVersionKind]
    namespace: NotRequired[str]
    name: NotRequired[str]
    operation: NotRequired[str]
    subResource: NotRequired[str]
    object: NotRequired[Object]
    oldObject: NotRequired[Object | None]
    dryRun: NotRequired[bool]


class Status(TypedDict):
    metadata: dict[str, str]
    message: str


class AdmissionResponse(TypedDict):
    uid: str
    allowed: bool
    patch: NotRequired[str]
    patchType: NotRequired[Literal["JSONPatch"]]
    status: NotRequired[Status]
    warnings: NotRequired[list[str]]


class AdmissionReview(TypedDict):
    apiVersion: ApiVersion
    kind: Literal["AdmissionReview"]
    request: NotRequired[AdmissionRequest]
    response: NotRequired[AdmissionResponse]


class ReviewError(errors.InjectorError):
    """An undecodable AdmissionReview; keeps what was learnt so the reply can mirror it."""

    def __init__(
        self, message: str, *, api_version: ApiVersion | None = None, uid: str = ""
    ) -> None:
        super().__init__(message)
        self.api_version = api_version
        self.uid = uid


@dataclass(frozen=True, slots=True)
class Request:
    """What the webhook needs from an AdmissionReview: the object and how to address the reply."""

    uid: str
    api_version: ApiVersion
    namespace: str
    object: Object = field(repr=False)
    operation: str = ""
    sub_resource: str = ""
    dry_run: bool = False

    @property
    def mutates(self) -> bool:
        """Only a pod's creation is injected; updates, deletes, connects and subresources
        (`pods/exec`, `pods/ephemeralcontainers`, ...) pass untouched."""
        return self.operation in ("", "CREATE") and not self.sub_resource

    @property
    def object_kind(self) -> str | None:
        kind = self.object.get("kind")
        return kind if isinstance(kind, str) else None

    @property
    def object_name(self) -> str:
        """The name, or the `generateName` prefix that pods of a ReplicaSet arrive with."""
        metadata = self.object.get("metadata")
        if not isinstance(metadata, dict):
            return ""
        name = metadata.get("name") or metadata.get("generateName") or ""
        return name if isinstance(name, str) else ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to one review; `patch` holds the RFC 6902 operations as JSON bytes, or
    already in the base64 form the reply carries (`encode_patch`), as a remembered answer
    keeps them."""

    allowed: bool
    patch: bytes | str | None = field(default=None, repr=False)
    message: str | None = None
    warnings: tuple[str, ...] = ()


def decode(body: bytes) -> Request:
    """Parse and check an AdmissionReview; each problem is a `ReviewError` saying what is wrong."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ReviewError(f"the body is not valid JSON: {err}") from None
    if not isinstance(document, dict):
        raise ReviewError(f"an AdmissionReview is a JSON object, not {_json_type(document)}")
    api_version = _api_version(document)
    raw_request = document.get("request")
    if not isinstance(raw_request, dict):
        raise ReviewError("the AdmissionReview has no request object", api_version=api_version)
    return _request(raw_request, api_version=api_version)


def _api_version(document: dict[str, config.JSON]) -> ApiVersion:
    kind = document.get("kind")
    version = document.get("apiVersion")
    known = _KNOWN_VERSIONS.get(version) if isinstance(version, str) else None
    if kind != "AdmissionReview":
        raise ReviewError(f"kind is {kind!r}, want 'AdmissionReview'", api_version=known)
    if known is None:
        wanted = " or ".join(API_VERSIONS)
        raise ReviewError(f"apiVersion {version!r} is not supported; want {wanted}")
    return known


def _request(raw: dict[str, config.JSON], *, api_version: ApiVersion) -> Request:
    uid = raw.get("uid")
    if not isinstance(uid, str) or not uid:
        raise ReviewError("request.uid is missing", api_version=api_version)
    obj = raw.get("object")
    operation, sub_resource = _text(raw.get("operation")), _text(raw.get("subResource"))
    if operation not in ("", "CREATE") and not isinstance(obj, dict):
        obj = {}
    if not isinstance(obj, dict):
        raise ReviewError(
            f"request.object is {_json_type(obj)}, want the object being admitted",
            api_version=api_version,
            uid=uid,
        )
    return Request(
        uid=uid,
        api_version=api_version,
        namespace=_namespace(raw, obj),
        object=obj,
        operation=operation,
        sub_resource=sub_resource,
        dry_run=raw.get("dryRun") is True,
    )


def _namespace(raw: dict[str, config.JSON], obj: Object) -> str:
    """The object's own namespace, else the request's, as Istio's webhook does (reference §6.2)."""
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        own = _text(metadata.get("namespace"))
        if own:
            return own
    return _text(raw.get("namespace"))


def _text(value: config.JSON) -> str:
    return value if isinstance(value, str) else ""


def _json_type(value: config.JSON) -> str:
    if value is None:
        return "missing or null"
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), "a number")


def respond(verdict: Verdict, *, uid: str, api_version: ApiVersion | None = None) -> bytes:
    """The AdmissionReview reply; without a known apiVersion (undecodable input) it speaks v1."""
    response: AdmissionResponse = {"uid": uid, "allowed": verdict.allowed}
    if verdict.patch is not None:
        patch = verdict.patch
        response["patch"] = patch if isinstance(patch, str) else encode_patch(patch)
        response["patchType"] = "JSONPatch"
    if verdict.message is not None:
        response["status"] = {"metadata": {}, "message": verdict.message}
    if verdict.warnings:
        response["warnings"] = list(verdict.warnings)
    reply: AdmissionReview = {
        "apiVersion": api_version or "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": response,
    }
    return orjson.dumps(reply)


def encode_patch(ops: bytes) -> str:
    """`AdmissionResponse.patch`: the JSON of the operations, base64 encoded."""
    return base64.b64encode(ops).decode("ascii")
