"""The Kubernetes API, through lightkube's async client: the ConfigMap watch, the certificate
Secret, the webhook configurations' `caBundle`, and what `check` reads.

Every loop here outlives API-server restarts and expired watches: a `410 Gone` relists, a broken
stream re-watches from the last version seen, and anything else waits and tries again. Nothing
here may take the webhook down; callers get the last good state until the API answers again.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx2
from lightkube import AsyncClient, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
)
from lightkube.resources.core_v1 import ConfigMap, Namespace, Secret
from lightkube.types import PatchType

from sidecar_injector import certs, errors

logger = logging.getLogger(__name__)

WebhookKind = Literal["mutating", "validating"]
WebhookConfiguration = MutatingWebhookConfiguration | ValidatingWebhookConfiguration
JSON_PATCH = PatchType.JSON
TransportErrors = (ApiError, httpx2.HTTPError, OSError)


class KubeError(errors.InjectorError):
    """The Kubernetes API cannot be reached or refused what we asked."""


def async_client(
    *, kubeconfig: Path | None = None, context: str | None = None, transport: Any = None
) -> AsyncClient:
    """A client from a kubeconfig file, `$KUBECONFIG`, or the in-cluster service account."""
    try:
        loaded = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        return AsyncClient(loaded.get(context_name=context), transport=transport)
    except Exception as err:  # lightkube's ConfigError, a missing or unreadable file
        raise KubeError(
            f"cannot use the kubeconfig: {err}", hint="check --kubeconfig/--context or KUBECONFIG"
        ) from None


def status_code(err: BaseException) -> int | None:
    return err.status.code if isinstance(err, ApiError) else None


# --- ConfigMap watch ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConfigMapEvent:
    """The ConfigMap's data after a change; `data is None` when it was deleted or is missing."""

    data: Mapping[str, str] | None
    resource_version: str


async def watch_configmap(
    client: AsyncClient, *, name: str, namespace: str, retry_seconds: float = 1.0
) -> AsyncIterator[ConfigMapEvent]:
    """The ConfigMap now, then after every change, forever.

    List, then watch from the list's version; `410 Gone` (history compacted) goes back to the
    list; a dropped stream re-watches from the last version seen; other errors wait first.
    """
    version: str | None = None
    while True:
        try:
            if version is None:
                event = await _list_configmap(client, name=name, namespace=namespace)
                version = event.resource_version
                yield event
            async for kind, obj in client.watch(
                ConfigMap,
                namespace=namespace,
                fields={"metadata.name": name},
                resource_version=version,
            ):
                version = (obj.metadata.resourceVersion if obj.metadata else None) or version
                data = None if kind == "DELETED" else dict(obj.data or {})
                yield ConfigMapEvent(data, version)
        except TransportErrors as err:
            if status_code(err) == 410:
                logger.info(
                    "watch of ConfigMap %s/%s expired (410 Gone); relisting", namespace, name
                )
                version = None
                continue
            logger.warning("watch of ConfigMap %s/%s failed: %s; retrying", namespace, name, err)
            await asyncio.sleep(retry_seconds)


async def _list_configmap(client: AsyncClient, *, name: str, namespace: str) -> ConfigMapEvent:
    listing = client.list(ConfigMap, namespace=namespace, fields={"metadata.name": name})
    found = [item async for item in listing]
    version = listing.resourceVersion
    return ConfigMapEvent(dict(found[0].data or {}) if found else None, version)


# --- certificate Secret ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    """The CA and serving certificate the replicas share through one Secret."""

    ca: certs.KeyPair
    serving: certs.KeyPair
    created: bool = field(default=False, compare=False)


async def ensure_certificate_secret(
    client: AsyncClient, *, name: str, namespace: str, hosts: list[str]
) -> Issued:
    """Read the Secret, or create it: the first replica to create wins, the others read it.

    A serving certificate close to expiry is renewed from the same CA, so `caBundle` stays good.
    """
    for _ in range(3):
        found = await _get_secret(client, name=name, namespace=namespace)
        if found is not None:
            issued = _from_secret(found)
            if issued is not None and not _needs_renewal(issued):
                return issued
            version = found.metadata.resourceVersion if found.metadata else None
            return await _renew(
                client, name=name, namespace=namespace, version=version, issued=issued, hosts=hosts
            )
        ca = certs.make_ca()
        issued = Issued(ca, certs.make_serving(ca, hosts=hosts), created=True)
        try:
            await client.create(_secret(issued, name=name, namespace=namespace))
            logger.info("created certificate Secret %s/%s", namespace, name)
            return issued
        except ApiError as err:
            if err.status.code != 409:
                raise KubeError(f"cannot create Secret {namespace}/{name}: {err}") from None
            logger.info("Secret %s/%s was created by another replica; reading it", namespace, name)
    raise KubeError(f"Secret {namespace}/{name} keeps changing; giving up for now")


async def _get_secret(client: AsyncClient, *, name: str, namespace: str) -> Secret | None:
    try:
        return await client.get(Secret, name=name, namespace=namespace)
    except ApiError as err:
        if err.status.code == 404:
            return None
        raise KubeError(f"cannot read Secret {namespace}/{name}: {err}") from None


def _from_secret(secret: Secret) -> Issued | None:
    data = secret.data or {}
    try:
        parts = {k: base64.b64decode(data[k]) for k in ("ca.crt", "ca.key", "tls.crt", "tls.key")}
    except (KeyError, ValueError):
        return None
    return Issued(
        certs.KeyPair(parts["ca.crt"], parts["ca.key"]),
        certs.KeyPair(parts["tls.crt"], parts["tls.key"]),
    )


def _needs_renewal(issued: Issued) -> bool:
    soon = datetime.datetime.now(datetime.UTC) + certs.RENEW_BEFORE
    return (
        certs.problem(issued.ca.cert_pem, now=soon) is not None
        or certs.problem(issued.serving.cert_pem, now=soon) is not None
    )


async def _renew(
    client: AsyncClient,
    *,
    name: str,
    namespace: str,
    version: str | None,
    issued: Issued | None,
    hosts: list[str],
) -> Issued:
    soon = datetime.datetime.now(datetime.UTC) + certs.RENEW_BEFORE
    ca = issued.ca if issued and certs.problem(issued.ca.cert_pem, now=soon) is None else None
    ca = ca or certs.make_ca()
    renewed = Issued(ca, certs.make_serving(ca, hosts=hosts), created=True)
    replacement = _secret(renewed, name=name, namespace=namespace, version=version)
    try:
        await client.replace(replacement)
    except ApiError as err:
        raise KubeError(f"cannot renew Secret {namespace}/{name}: {err}") from None
    logger.info("renewed the serving certificate in Secret %s/%s", namespace, name)
    return renewed


def _secret(issued: Issued, *, name: str, namespace: str, version: str | None = None) -> Secret:
    from lightkube.models.meta_v1 import ObjectMeta

    data = {
        "ca.crt": issued.ca.cert_pem,
        "ca.key": issued.ca.key_pem,
        "tls.crt": issued.serving.cert_pem,
        "tls.key": issued.serving.key_pem,
    }
    return Secret(
        metadata=ObjectMeta(
            name=name,
            namespace=namespace,
            labels={"app": "sidecar-injector"},
            resourceVersion=version,
        ),
        type="Opaque",
        data={k: base64.b64encode(v).decode("ascii") for k, v in data.items()},
    )


# --- caBundle -------------------------------------------------------------------------------


async def patch_ca_bundle(
    client: AsyncClient, *, kind: WebhookKind, name: str, bundle: str
) -> list[str]:
    """Put `bundle` into every webhook of the configuration that lacks it; the names patched.

    Only differing webhooks are patched, so a steady state costs one GET per round, and a blank
    `caBundle` re-applied by a GitOps tool (Istio issue #6069) is repaired on the next round.
    """
    found = await get_webhook_configuration(client, kind=kind, name=name)
    ops: list[dict[str, Any]] = []
    patched: list[str] = []
    raw = found.to_dict()
    for index, hook in enumerate(raw.get("webhooks") or []):
        if hook.get("clientConfig", {}).get("caBundle") != bundle:
            ops.append(
                {"op": "add", "path": f"/webhooks/{index}/clientConfig/caBundle", "value": bundle}
            )
            patched.append(hook["name"])
    if ops:
        ops.insert(
            0,
            {
                "op": "test",
                "path": "/metadata/resourceVersion",
                "value": raw["metadata"]["resourceVersion"],
            },
        )
        try:
            if kind == "mutating":
                await client.patch(MutatingWebhookConfiguration, name, ops, patch_type=JSON_PATCH)
            else:
                await client.patch(ValidatingWebhookConfiguration, name, ops, patch_type=JSON_PATCH)
        except TransportErrors as err:
            raise KubeError(f"cannot patch caBundle into {kind} {name}: {err}") from None
        logger.info("patched caBundle into %s %s: %s", kind, name, ", ".join(patched))
    return patched


async def get_webhook_configuration(
    client: AsyncClient, *, kind: WebhookKind, name: str
) -> WebhookConfiguration:
    try:
        if kind == "mutating":
            return await client.get(MutatingWebhookConfiguration, name=name)
        return await client.get(ValidatingWebhookConfiguration, name=name)
    except TransportErrors as err:
        if status_code(err) == 404:
            raise KubeError(f"the {kind} webhook configuration {name} does not exist") from None
        raise KubeError(f"cannot read the {kind} webhook configuration {name}: {err}") from None


async def keep_ca_bundle(
    client: AsyncClient,
    *,
    targets: list[tuple[WebhookKind, str]],
    bundle: str,
    every: float = 5.0,
) -> None:
    """Patch and re-patch `caBundle` forever (Istio's 1.0 injector did it every second)."""
    while True:
        for kind, name in targets:
            try:
                await patch_ca_bundle(client, kind=kind, name=name, bundle=bundle)
            except KubeError as err:
                logger.warning("%s; retrying in %.0f s", err, every)
        await asyncio.sleep(every)


# --- what `check` reads ---------------------------------------------------------------------


async def namespace_labels(client: AsyncClient) -> dict[str, dict[str, str]]:
    """Every namespace's labels, by name."""
    found: dict[str, dict[str, str]] = {}
    async for ns in client.list(Namespace):
        if ns.metadata is not None and ns.metadata.name:
            found[ns.metadata.name] = dict(ns.metadata.labels or {})
    return found
