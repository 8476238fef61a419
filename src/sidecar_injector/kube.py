"""The Kubernetes API, through lightkube's async client: the ConfigMap watch, the certificate
Secret, the webhook configurations' `caBundle`, and what `check` reads.

Every loop here outlives API-server restarts and expired watches: a `410 Gone` relists, a broken
stream re-watches from the last version seen, and anything else waits and tries again. Nothing
here may take the webhook down; callers get the last good state until the API answers again.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import datetime
import hashlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lightkube import AsyncClient, Client, KubeConfig
from lightkube.core.exceptions import ApiError
from lightkube.resources.admissionregistration_v1 import (
    MutatingWebhookConfiguration,
    ValidatingWebhookConfiguration,
)
from lightkube.resources.core_v1 import ConfigMap, Namespace, Node, Secret
from lightkube.types import PatchType

from sidecar_injector import certs, config, errors

logger = logging.getLogger(__name__)
T = TypeVar("T")


class _APICallsAtDebug(logging.Filter):
    """The HTTP client logs every API call at info: two lines a second in poll mode, burying
    what matters. Its records are demoted to debug, shown only with `--log-level debug`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


logging.getLogger("httpx2").addFilter(_APICallsAtDebug())

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
    list; a dropped stream re-watches from the last version seen; other errors wait first,
    longer each time (up to 30 s) until an event arrives.
    """
    version: str | None = None
    failures = 0
    while True:
        try:
            if version is None:
                event = await _list_configmap(client, name=name, namespace=namespace)
                version = event.resource_version
                failures = 0
                yield event
            async for kind, obj in client.watch(
                ConfigMap,
                namespace=namespace,
                fields={"metadata.name": name},
                resource_version=version,
            ):
                version = (obj.metadata.resourceVersion if obj.metadata else None) or version
                data = None if kind == "DELETED" else dict(obj.data or {})
                failures = 0
                yield ConfigMapEvent(data, version)
        except TransportErrors as err:
            if status_code(err) == 410:
                logger.info(
                    "watch of ConfigMap %s/%s expired (410 Gone); relisting", namespace, name
                )
                version = None
                continue
            failures += 1
            delay = min(retry_seconds * 2 ** min(failures - 1, 5), 30.0)
            logger.warning(
                "watch of ConfigMap %s/%s failed: %s; retrying in %.1f s",
                namespace,
                name,
                err,
                delay,
            )
            await asyncio.sleep(delay)


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

BundleRule = Callable[[list[x509.Certificate]], str]
"""The caBundle to write, given the CAs that the configuration's webhooks carry now."""


def bundle_cas(bundle: str) -> list[x509.Certificate]:
    """The certificates of a `caBundle` (base64 PEM); none for one that does not parse: it is
    someone's mistake, replaced like a blank one."""
    try:
        return x509.load_pem_x509_certificates(base64.b64decode(bundle, validate=True))
    except ValueError:
        return []


def encode_bundle(cas: list[x509.Certificate]) -> str:
    pem = b"".join(ca.public_bytes(serialization.Encoding.PEM) for ca in cas)
    return base64.b64encode(pem).decode("ascii")


def _same_trust(bundle: str, other: str) -> bool:
    """Whether two bundles trust the same CAs (their order and line breaks do not matter)."""
    if bundle == other:
        return True
    ours, theirs = bundle_cas(bundle), bundle_cas(other)
    return bool(ours) and {_fingerprint(c) for c in ours} == {_fingerprint(c) for c in theirs}


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


async def patch_ca_bundle(
    client: AsyncClient, *, kind: WebhookKind, name: str, bundle: str | BundleRule
) -> list[str]:
    """Put `bundle` into every webhook of the configuration that lacks it; the names patched.

    Only differing webhooks are patched, so a steady state costs one GET per round, and a blank
    `caBundle` re-applied by a GitOps tool (Istio issue #6069) is repaired on the next round.
    A rule gets the CAs all the configuration's webhooks carry now (see `TrustedCAs`); the
    patch is refused if the configuration changed since it was read (another replica wrote).
    """
    found = await get_webhook_configuration(client, kind=kind, name=name)
    ops: list[dict[str, Any]] = []
    patched: list[str] = []
    raw = found.to_dict()
    hooks = raw.get("webhooks") or []
    if callable(bundle):
        carried = [bundle_cas(h.get("clientConfig", {}).get("caBundle") or "") for h in hooks]
        bundle = bundle([ca for cas in carried for ca in cas])
    for index, hook in enumerate(hooks):
        if not _same_trust(hook.get("clientConfig", {}).get("caBundle") or "", bundle):
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


class TrustedCAs:
    """The CAs one replica writes into `caBundle` while the replicas may disagree on the CA.

    Replicas read the shared Secret at different times, so during a CA change (someone deleted
    the Secret, a replica made a new one) some serve a certificate of the new CA and some of the
    old. Each replica writes its own CA and keeps every other CA it finds for `grace` seconds
    after it first saw it; a CA it has not seen before also makes it re-read the Secret at once
    (`saw_new`): if the Secret holds that CA, the replica follows it. So the bundle verifies
    every serving certificate in use, a replica behind never writes its CA alone over a newer
    one, and the bundle ends with the one CA all replicas serve. Only a replica that cannot read
    the Secret for longer than `grace` falls out of it.
    """

    def __init__(self, *, grace: float, clock: Callable[[], float]) -> None:
        self.grace = grace
        self.clock = clock
        self._seen: dict[bytes, float] = {}
        self.saw_new = False
        """Set when a CA not seen before appears in a webhook: time to re-read the Secret."""

    def rule(self, own: x509.Certificate) -> BundleRule:
        def bundle(carried: list[x509.Certificate]) -> str:
            return encode_bundle(self.keep(own, carried))

        return bundle

    def keep(
        self, own: x509.Certificate, carried: list[x509.Certificate]
    ) -> list[x509.Certificate]:
        now, wall = self.clock(), datetime.datetime.now(datetime.UTC)
        self._seen[_fingerprint(own)] = now  # once replaced, its grace starts from here
        kept = {_fingerprint(own): own}
        for ca in carried:
            key = _fingerprint(ca)
            if key in kept or ca.not_valid_after_utc <= wall:
                continue
            if key not in self._seen:
                self._seen[key], self.saw_new = now, True
            if now - self._seen[key] < self.grace:
                kept[key] = ca
        return list(kept.values())


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


class Problems:
    """Warn about a failing target once, not every round: a validating configuration nobody
    applied would otherwise warn every 5 s forever. A new message warns again; recovery says so."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], str] = {}

    def failed(self, target: tuple[str, str], message: str) -> None:
        if self._last.get(target) == message:
            logger.debug("%s", message)
            return
        self._last[target] = message
        logger.warning("%s", message)

    def cleared(self, target: tuple[str, str], message: str) -> None:
        if self._last.pop(target, None) is not None:
            logger.info("%s", message)


# --- what `check` reads ---------------------------------------------------------------------


async def namespace_labels(client: AsyncClient) -> dict[str, dict[str, str]]:
    """Every namespace's labels, by name."""
    found: dict[str, dict[str, str]] = {}
    async for ns in client.list(Namespace):
        if ns.metadata is not None and ns.metadata.name:
            found[ns.metadata.name] = dict(ns.metadata.labels or {})
    return found


async def kubelet_versions(client: AsyncClient) -> dict[str, str]:
    """Every node's kubelet version (`status.nodeInfo.kubeletVersion`), by node name."""
    found: dict[str, str] = {}
    async for node in client.list(Node):
        if node.metadata is not None and node.metadata.name:
            info = node.status.nodeInfo if node.status is not None else None
            found[node.metadata.name] = info.kubeletVersion if info is not None else ""
    return found


# --- the webhook's background work ----------------------------------------------------------


def client_or_log(client: AsyncClient | None, *, purpose: str) -> AsyncClient | None:
    """`client`, or one from the service account or kubeconfig; None (logged) without either."""
    if client is not None:
        return client
    try:
        return AsyncClient()
    except Exception as err:  # lightkube's ConfigError, or a kubeconfig it cannot read
        logger.error("%s is off: no Kubernetes API to talk to: %s", purpose, err)
        return None


class Background:
    """An event loop in a daemon thread, so `serve`'s sync reload checks can use async watches."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, work: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(work, self.loop)

    def stop(self) -> None:
        """Cancel what runs there and end the thread (tests; `serve` just exits)."""

        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.submit(cancel_all()).result(timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


def configmap_reference(reference: str, *, flag: str) -> tuple[str, str]:
    """`NAMESPACE/NAME` split, or a ConfigError naming the flag."""
    namespace, _, name = reference.partition("/")
    if not namespace or not name:
        raise config.ConfigError(f"{flag} {reference!r} is not NAMESPACE/NAME")
    return namespace, name


CONFIG_KEYS = ("config", "values", "mesh")
"""The keys a config is loaded from; one that is missing takes the embedded default."""


@dataclass(frozen=True, slots=True)
class ConfigMaps:
    """Where `serve` reads its config in a cluster: the injector ConfigMap (`config`, `values`,
    `mesh`), and optionally the mesh from the `mesh` key of another ConfigMap (Istio's `istio`)
    or from a file; the file wins over the mesh ConfigMap, which wins over the injector's key."""

    injector: tuple[str, str]
    mesh_map: tuple[str, str] | None = None
    mesh_file: Path | None = None
    _had: set[str] = field(default_factory=set, compare=False, repr=False)
    """The config keys of every config loaded: one of them gone is refused, not silently
    replaced by the embedded default."""

    @classmethod
    def parse(
        cls, injector: str, *, mesh_map: str = "", mesh_file: Path | None = None
    ) -> ConfigMaps:
        return cls(
            configmap_reference(injector, flag="--config-map"),
            configmap_reference(mesh_map, flag="--mesh-config-map") if mesh_map else None,
            mesh_file,
        )

    def describe(self) -> str:
        names = [f"ConfigMap {namespace}/{name}" for namespace, name in self.references()]
        return " and ".join(names)

    def references(self) -> list[tuple[str, str]]:
        """(namespace, name) of each ConfigMap read, the injector's first."""
        return [self.injector, *([self.mesh_map] if self.mesh_map else [])]

    def snapshot(
        self, injector: Mapping[str, str], mesh: Mapping[str, str] | None, *, revision: str
    ) -> tuple[str, Callable[[], config.Config]]:
        """The digest and loader of the config these ConfigMaps' data make."""
        data = dict(injector)
        where = "ConfigMap {}/{}".format(*self.injector)
        mesh_where = f"{where} data.mesh"
        if self.mesh_file is not None:
            data["mesh"], mesh_where = (
                self.mesh_file.read_text(encoding="utf-8"),
                str(self.mesh_file),
            )
        elif self.mesh_map is not None:
            data.pop("mesh", None)
            if mesh is not None and "mesh" in mesh:
                data["mesh"] = mesh["mesh"]
            mesh_where = "ConfigMap {}/{} data.mesh".format(*self.mesh_map)
        sources = config.Sources(f"{where} data.config", f"{where} data.values", mesh_where)
        self._refuse_lost_keys(data, sources)
        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

        def load() -> config.Config:
            loaded = config.load(
                config=data.get("config"),
                values=data.get("values"),
                mesh=data.get("mesh"),
                sources=sources,
                revision=revision,
                env=dict(os.environ),
            )
            self._had.update(key for key in CONFIG_KEYS if key in data)
            return loaded

        return digest, load

    def _refuse_lost_keys(self, data: Mapping[str, str], sources: config.Sources) -> None:
        """A key deleted from a ConfigMap is almost always a mistake (an edit or a GitOps
        overlay gone wrong); loading without it would switch pods to the embedded default."""
        where = {"config": sources.config, "values": sources.values, "mesh": sources.mesh}
        lost = [where[key] for key in CONFIG_KEYS if key in self._had and key not in data]
        if lost:
            verb = "was" if len(lost) == 1 else "were"
            raise config.ConfigError(
                f"{' and '.join(lost)} {verb} removed; serving the last good config",
                hint="put the key back, or restart the injector to serve the embedded default",
            )


class ConfigMapSource:
    """A `serve` config source: the injector ConfigMap, and the mesh ConfigMap when given.

    Polled with a GET each per reload interval: small requests, and nothing to resume when a
    watch breaks.
    """

    def __init__(self, maps: ConfigMaps, *, client: Client) -> None:
        self.maps, self.client = maps, client

    @classmethod
    def connect(cls, maps: ConfigMaps) -> ConfigMapSource:
        """With a client from the service account or kubeconfig (`--config-map`)."""
        try:
            client = Client()
        except Exception as err:  # lightkube's ConfigError, an unreadable kubeconfig
            raise config.ConfigError(
                f"cannot reach the Kubernetes API for --config-map: {err}",
                hint="run in a cluster, or set KUBECONFIG",
            ) from None
        return cls(maps, client=client)

    def describe(self) -> str:
        return self.maps.describe()

    def snapshot(self, *, revision: str) -> tuple[str, Callable[[], config.Config]]:
        injector = self._data(self.maps.injector)
        mesh = self._data(self.maps.mesh_map) if self.maps.mesh_map else None
        return self.maps.snapshot(injector, mesh, revision=revision)

    def _data(self, reference: tuple[str, str]) -> dict[str, str]:
        namespace, name = reference
        try:
            found = self.client.get(ConfigMap, name=name, namespace=namespace)
        except Exception as err:  # lightkube's ApiError, its HTTP client's errors, TLS errors
            raise config.ConfigError(f"cannot read ConfigMap {namespace}/{name}: {err}") from None
        return dict(found.data or {})


class ConfigMapWatch:
    """A `serve` config source fed by `watch_configmap` instead of a GET per reload interval.

    `snapshot` hands the server the latest data seen; the server's reload loop compares digests
    and keeps the last good config when the new one does not load.
    """

    def __init__(
        self,
        maps: ConfigMaps,
        *,
        client: AsyncClient | None = None,
        first_wait: float = 10.0,
    ) -> None:
        self.maps = maps
        self._latest: dict[tuple[str, str], ConfigMapEvent] = {}
        self._seen = {reference: threading.Event() for reference in maps.references()}
        self._background = Background(f"watch {maps.describe()}")
        for reference in maps.references():
            self._background.submit(self._follow(client, reference))
        self._first_wait = first_wait

    async def _follow(self, given: AsyncClient | None, reference: tuple[str, str]) -> None:
        namespace, name = reference
        client = client_or_log(given, purpose=f"the watch of ConfigMap {namespace}/{name}")
        if client is None:
            return
        try:
            async for item in watch_configmap(client, name=name, namespace=namespace):
                self._latest[reference] = item
                self._seen[reference].set()
        except Exception:  # the watch retries what it knows; anything else ends it, loudly
            logger.exception("the watch of ConfigMap %s/%s stopped; the config stays", *reference)
            raise

    def close(self) -> None:
        self._background.stop()

    def describe(self) -> str:
        return f"{self.maps.describe()} (watched)"

    def snapshot(self, *, revision: str) -> tuple[str, Callable[[], config.Config]]:
        for reference, seen in self._seen.items():
            if not seen.wait(self._first_wait):
                raise config.ConfigError("ConfigMap {}/{} has not been read yet".format(*reference))
        injector = self._latest[self.maps.injector]
        if injector.data is None:
            raise config.ConfigError("ConfigMap {}/{} does not exist".format(*self.maps.injector))
        mesh: Mapping[str, str] | None = None
        if self.maps.mesh_map is not None:
            mesh = self._latest[self.maps.mesh_map].data
            if mesh is None:
                raise config.ConfigError(
                    "ConfigMap {}/{} does not exist".format(*self.maps.mesh_map)
                )
        return self.maps.snapshot(injector.data, mesh, revision=revision)


@dataclass(frozen=True, slots=True)
class SelfCertificates:
    """`--cert-mode self`: the shared Secret, written where `serve` reads its certificate."""

    secret: str
    files: certs.StateFiles
    hosts: list[str]
    webhooks: list[tuple[WebhookKind, str]]
    every: float = 5.0
    """Seconds between rounds of caBundle patching (Istio's 1.0 injector: every second)."""
    renew_every: float = 60.0
    """Seconds between reads of the Secret (`serve --cert-secret-interval`)."""

    @property
    def namespace_name(self) -> tuple[str, str]:
        namespace, _, name = self.secret.partition("/")
        if not namespace or not name:
            raise KubeError(f"--cert-secret {self.secret!r} is not NAMESPACE/NAME")
        return namespace, name

    async def issue(self, client: AsyncClient) -> Issued:
        """Read or create the Secret and write its certificate for the TLS reload to pick up."""
        namespace, name = self.namespace_name
        issued = await ensure_certificate_secret(
            client, name=name, namespace=namespace, hosts=self.hosts
        )
        self.files.directory.mkdir(parents=True, exist_ok=True)
        certs.write_pair(issued.ca, cert=self.files.ca_cert, key=self.files.ca_key)
        certs.write_pair(issued.serving, cert=self.files.cert, key=self.files.key)
        return issued

    async def maintain(self, client: AsyncClient) -> None:
        """Keep `caBundle` patched every `every` seconds, and re-read the Secret (renewing near
        expiry) every `renew_every` seconds, or at once when a webhook carries a CA not seen
        before: another replica may follow a new Secret (someone deleted it); so should we.

        During the change the bundle trusts both CAs (`TrustedCAs`), so no replica's serving
        certificate goes unverified. Failures are logged once and retried: this task must
        outlive API-server outages.
        """
        loop = asyncio.get_running_loop()
        trusted = TrustedCAs(grace=2 * (self.renew_every + self.every), clock=loop.time)
        problems = Problems()
        own: x509.Certificate | None = None
        read_at = loop.time()
        while True:
            if own is None or loop.time() >= read_at or trusted.saw_new:
                trusted.saw_new = False
                try:
                    issued = await self.issue(client)
                except (KubeError, *TransportErrors) as err:
                    problems.failed(("Secret", self.secret), f"certificate Secret: {err}; retrying")
                else:
                    problems.cleared(("Secret", self.secret), f"Secret {self.secret} read again")
                    read = x509.load_pem_x509_certificate(issued.ca.cert_pem)
                    if own is not None and _fingerprint(own) != _fingerprint(read):
                        logger.info(
                            "Secret %s holds a new CA; serving and trusting it", self.secret
                        )
                    own = read
                    read_at = loop.time() + self.renew_every
            if own is not None:
                await self._patch_all(client, trusted.rule(own), problems)
            await asyncio.sleep(self.every)

    async def _patch_all(self, client: AsyncClient, rule: BundleRule, problems: Problems) -> None:
        for kind, name in self.webhooks:
            try:
                await patch_ca_bundle(client, kind=kind, name=name, bundle=rule)
            except KubeError as err:
                problems.failed((kind, name), f"{err}; retrying every {self.every:.0f} s")
            else:
                problems.cleared((kind, name), f"the {kind} webhook configuration {name} is back")


def start_self_certificates(
    plan: SelfCertificates, *, client: AsyncClient | None = None, wait: float = 30.0
) -> Background:
    """Issue the certificate before `serve` loads it, then maintain it in the background."""
    background = Background("self certificates")

    async def first() -> Issued:
        return await plan.issue(client or AsyncClient())

    try:
        background.submit(first()).result(timeout=wait)
    except concurrent.futures.TimeoutError:
        raise KubeError(f"no answer from the Kubernetes API for Secret {plan.secret}") from None
    background.submit(plan.maintain(client or AsyncClient()))
    return background


class NodeWatch:
    """`ENABLE_NATIVE_SIDECARS=auto` in a cluster: the nodes' kubelet versions, listed every
    `every` seconds; `on_change` gets the first list and every one that differs from the last.

    A list that fails (an outage, or RBAC without `nodes: list`) is logged and retried; the
    webhook keeps what it last saw, and without any list injects no native sidecars.
    """

    def __init__(
        self,
        on_change: Callable[[Mapping[str, str]], None],
        *,
        client: AsyncClient | None = None,
        every: float = 60.0,
    ) -> None:
        self._background = Background("node versions")
        self._task = self._background.submit(self._follow(client, on_change, every))

    async def _follow(
        self,
        client: AsyncClient | None,
        on_change: Callable[[Mapping[str, str]], None],
        every: float,
    ) -> None:
        client = client_or_log(client, purpose="native sidecar detection")
        if client is None:
            return
        seen: dict[str, str] | None = None
        while True:
            try:
                versions = await kubelet_versions(client)
            except (*TransportErrors, ValueError) as err:  # ValueError: a Node that won't decode
                logger.warning("cannot list nodes for native sidecars: %s; retrying", err)
            else:
                if versions != seen:
                    seen = versions
                    on_change(versions)
                    kinds = sorted(set(versions.values()))
                    logger.info("nodes: %d, kubelets %s", len(versions), ", ".join(kinds))
            await asyncio.sleep(every)

    def close(self) -> None:
        self._background.stop()
