"""The HTTPS server: uvicorn with a reloadable TLS context, config hot reload, graceful shutdown.

Reloads never restart anything. A new certificate is loaded into the live `SSLContext`, which
affects only handshakes after it; a new config is loaded aside and swapped in with one
assignment. Anything that fails to load leaves the last good one serving and says so in logs,
metrics and `/readyz`. Both are polled by content digest, because mounted Secrets and ConfigMaps
change by a symlink swap that file-event watchers and timestamps see unreliably.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import functools
import logging
import os
import signal
import ssl
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import orjson
import uvicorn
from prometheus_client import CollectorRegistry
from uvicorn.importer import import_from_string

from sidecar_injector import certs, config, errors, listener, metrics, rehearsal
from sidecar_injector.admission import app, engines

if TYPE_CHECKING:
    from sidecar_injector import events, kube

logger = logging.getLogger(__name__)


class SwappablePipeline(app.Pipeline, Protocol):
    async def start(self) -> None:
        """Ready to admit (engine processes started); called once the event loop runs."""

    async def close(self) -> None: ...

    def check(self) -> app.Check:
        """For `/readyz`: whether admissions can be served."""

    def swap(self, current: config.Config) -> None:
        """Serve `current` from now on; any thread may call it."""

    def observe_nodes(self, kubelet_versions: Mapping[str, str]) -> None: ...


Snapshot = tuple[str, Callable[[], config.Config]]
"""A config source's content digest, and how to load that content."""


class ConfigSource(Protocol):
    def describe(self) -> str: ...

    def snapshot(self, *, revision: str) -> Snapshot:
        """Raises `OSError` or `InjectorError` when the source cannot be read."""


@dataclass(frozen=True, slots=True)
class ConfigFiles:
    """The injection config, values and mesh config files; a missing one takes the default."""

    injection: Path | None = None
    values: Path | None = None
    mesh: Path | None = None

    @property
    def paths(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.injection, self.values, self.mesh) if p is not None)

    def describe(self) -> str:
        return ", ".join(map(str, self.paths)) or "the embedded default"

    def snapshot(self, *, revision: str) -> Snapshot:
        digest = certs.digest(*self.paths) if self.paths else ""
        return digest, lambda: config.load_files(
            config=self.injection,
            values=self.values,
            mesh=self.mesh,
            revision=revision,
            env=dict(os.environ),
        )


PIPELINE = "sidecar_injector.admission.engines:isolated"
OPTIONS_ENV = "SIDECAR_INJECTOR_WORKER_OPTIONS"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
PipelineFactory = Callable[[config.Config], SwappablePipeline]


@dataclass(frozen=True, slots=True)
class Options:
    cert_file: Path
    key_file: Path
    host: str = "127.0.0.1"
    port: int = 9443
    files: ConfigFiles = field(default_factory=ConfigFiles)
    config_map: str = ""
    mesh_config_map: str = ""
    config_map_mode: str = "poll"
    settings: app.Settings = field(default_factory=app.Settings)
    revision: str = ""
    reload_seconds: float = 1.0
    graceful_seconds: int = 30
    workers: int = 1
    log_level: str = "info"
    pipeline: str = PIPELINE
    """Import path of the pipeline factory, called with the config, `cache_entries=` and
    `limits=` (an `engines.Limits`)."""
    cache_entries: int = 128
    engines: engines.Limits = field(default_factory=engines.Limits)
    limits: listener.Limits = field(default_factory=listener.Limits)
    watch_nodes: bool = False
    events: bool = False
    """Kubernetes Events about admissions on the pods' owners (`--events`)."""
    """List the nodes' kubelet versions for `ENABLE_NATIVE_SIDECARS=auto` (in a cluster)."""


class TLSWatch:
    """The serving `SSLContext`, reloaded in place when the certificate or key files change."""

    def __init__(self, cert: Path, key: Path, *, metrics: metrics.Metrics) -> None:
        self.cert = cert
        self.key = key
        self.metrics = metrics
        self.digest = certs.digest(cert, key)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.context.load_cert_chain(cert, key)
        self.cert_pem = cert.read_bytes()
        self.error: str | None = None

    def refresh(self) -> bool:
        """Load new files if their digest changed; must run on the event loop's thread."""
        try:
            digest = certs.digest(self.cert, self.key)
            if digest == self.digest:
                self.error = None
                return False
            trial = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            trial.load_cert_chain(self.cert, self.key)
            self.context.load_cert_chain(self.cert, self.key)
            self.cert_pem = self.cert.read_bytes()
        except (OSError, ssl.SSLError) as err:
            return self._failed(f"cannot load {self.cert} and {self.key}: {err}")
        self.digest, self.error = digest, None
        self.metrics.certificate_reloads.labels("ok").inc()
        logger.info("serving certificate reloaded: %s", certs.describe(self.cert_pem))
        return True

    def _failed(self, message: str) -> bool:
        if message != self.error:
            self.metrics.certificate_reloads.labels("error").inc()
            logger.error("%s; still serving the previous certificate", message)
        self.error = message
        return False

    def check(self) -> app.Check:
        problem = certs.problem(self.cert_pem)
        if problem is not None:
            return app.Check("certificate", False, problem)
        detail = certs.describe(self.cert_pem)
        if self.error is not None:
            detail = f"{detail}; last reload failed: {self.error}"
        return app.Check("certificate", True, detail)


class ConfigWatch:
    """Reloads the config into the pipeline when its source's content changes."""

    def __init__(
        self,
        source: ConfigSource,
        *,
        pipeline: SwappablePipeline,
        metrics: metrics.Metrics,
        digest: str,
        revision: str = "",
    ) -> None:
        self.source = source
        self.pipeline = pipeline
        self.metrics = metrics
        self.revision = revision
        self.digest = digest
        self.failed_digest = ""
        self.loaded_at = _now()
        self.error: str | None = None
        metrics.config_ok.set(1)

    def refresh(self) -> bool:
        """Load and swap if the source changed; runs in a worker thread (parsing takes a while)."""
        try:
            digest, load = self.source.snapshot(revision=self.revision)
        except (OSError, errors.InjectorError) as err:
            return self._failed(f"cannot read the config: {err}", digest="")
        if digest == self.digest and self.error is not None:
            logger.info("config source is back to the content in use")
            self.error, self.failed_digest = None, ""
            self.metrics.config_ok.set(1)
        if digest in (self.digest, self.failed_digest):
            return False
        try:
            loaded = load()
            rehearsal.rehearse(loaded)
        except (OSError, errors.InjectorError) as err:
            return self._failed(str(err), digest=digest)
        self.pipeline.swap(loaded)
        self.digest, self.failed_digest, self.error, self.loaded_at = digest, "", None, _now()
        self.metrics.config_reloads.labels("ok").inc()
        self.metrics.config_ok.set(1)
        logger.info("config reloaded from %s", self.source.describe())
        return True

    def _failed(self, message: str, *, digest: str) -> bool:
        """Count and log each new failure once; the next change of the files is tried again."""
        self.failed_digest = digest
        self.metrics.config_ok.set(0)
        if message != self.error:
            self.metrics.config_reloads.labels("error").inc()
            logger.error("config reload failed, keeping the last good config: %s", message)
        self.error = message
        return False

    def check(self) -> app.Check:
        detail = f"loaded from {self.source.describe()} at {self.loaded_at}"
        if self.error is not None:
            detail = f"{detail}; last reload failed, serving the last good config: {self.error}"
        return app.Check("config", True, detail)


class Service:
    """The webhook plus the reload loop, which runs from ASGI lifespan startup to shutdown."""

    def __init__(
        self,
        webhook: app.Webhook,
        *,
        pipeline: SwappablePipeline,
        tls: TLSWatch,
        watch: ConfigWatch,
        every: float,
    ) -> None:
        self.webhook = webhook
        self.pipeline = pipeline
        self.tls = tls
        self.watch = watch
        self.every = every
        self.nodes: kube.NodeWatch | None = None
        self.events: events.EventSender | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, scope: app.Scope, receive: app.Receive, send: app.Send) -> None:
        if scope["type"] != "lifespan":
            await self.webhook(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.pipeline.start()
                except Exception as err:
                    logger.exception("the injection engines did not start")
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                self._task = asyncio.create_task(self._reload_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _reload_forever(self) -> None:
        """Never ends on an error: a reload bug must not freeze the certificate until restart."""
        while True:
            await asyncio.sleep(self.every)
            try:
                self.tls.refresh()
                await asyncio.to_thread(self.watch.refresh)
                listener.give_back_memory()
            except Exception:
                logger.exception("reload check failed; trying again in %s s", self.every)

    async def _stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pipeline.close()


def build(
    options: Options,
    *,
    pipeline: PipelineFactory | None = None,
    registry: CollectorRegistry | None = None,
) -> Service:
    """Load the config and certificate (errors here stop the start) and wire the webhook."""
    recorder = metrics.create(
        registry or CollectorRegistry(), multiprocess_dir=os.environ.get(MULTIPROC_ENV)
    )
    factory: PipelineFactory = pipeline or functools.partial(
        import_from_string(options.pipeline),
        cache_entries=options.cache_entries,
        limits=options.engines,
    )
    source = config_source(options)
    digest, load = source.snapshot(revision=options.revision)
    first = load()
    rehearsal.rehearse(first)
    work = factory(first)
    tls = TLSWatch(options.cert_file, options.key_file, metrics=recorder)
    watch = ConfigWatch(
        source, pipeline=work, metrics=recorder, digest=digest, revision=options.revision
    )
    sender = _event_sender(recorder) if options.events else None
    webhook = app.Webhook(
        work,
        metrics=recorder,
        settings=options.settings,
        checks=(tls.check, watch.check, work.check),
        notify=sender.submit if sender is not None else None,
    )
    service = Service(webhook, pipeline=work, tls=tls, watch=watch, every=options.reload_seconds)
    service.events = sender
    if options.watch_nodes:
        from sidecar_injector import kube

        service.nodes = kube.NodeWatch(work.observe_nodes)
    return service


def _event_sender(recorder: metrics.Metrics) -> events.EventSender:
    from sidecar_injector import events as sending

    return sending.EventSender(counter=recorder.events)


def config_source(options: Options) -> ConfigSource:
    """The config files, or in cluster mode (`--config-map`) the ConfigMaps; only then is the
    Kubernetes client imported, which a worker serving files does not need (~9 MB)."""
    if not options.config_map:
        return options.files
    from sidecar_injector import kube

    maps = kube.ConfigMaps.parse(
        options.config_map, mesh_map=options.mesh_config_map, mesh_file=options.files.mesh
    )
    if options.config_map_mode == "watch":
        return kube.ConfigMapWatch(maps)
    return kube.ConfigMapSource.connect(maps)


def make_server(service: Service, options: Options) -> uvicorn.Server:
    """One worker: TLS through the listener's gate, which bounds handshakes in progress."""
    tls = service.tls
    return listener.GatedServer(
        uvicorn.Config(service, **_uvicorn_settings(options)),
        tls=lambda: tls.context,
        limits=options.limits,
    )


def run(options: Options) -> None:
    """Serve until SIGTERM or SIGINT, then drain in-flight requests and return (exit 0)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _drained)
    if options.workers <= 1:
        make_server(build(options), options).run()
        return
    build(options)
    os.environ[OPTIONS_ENV] = encode(options)
    with contextlib.ExitStack() as cleanup:
        if MULTIPROC_ENV not in os.environ:
            shared = tempfile.TemporaryDirectory(prefix="sidecar-injector-metrics-")
            os.environ[MULTIPROC_ENV] = cleanup.enter_context(shared)
        uvicorn.run(
            f"{__name__}:worker_service",
            factory=True,
            workers=options.workers,
            ssl_context_factory=worker_tls,
            **_uvicorn_settings(options),
        )


def _uvicorn_settings(options: Options) -> dict[str, Any]:
    return {
        "host": options.host,
        "port": options.port,
        "lifespan": "on",
        "log_config": None,
        "access_log": False,
        "server_header": False,
        "timeout_graceful_shutdown": options.graceful_seconds,
        "http": listener.protocol(options.limits),
        "ws": "none",
        # No X-Forwarded-* rewriting of the client address: nothing reads it, and every
        # request paid for the check.
        "proxy_headers": False,
    }


_worker: list[Service] = []


def worker_service() -> Service:
    """The uvicorn factory in each worker process: one Service per process, from the env."""
    if not _worker:
        options = decode(os.environ[OPTIONS_ENV])
        configure_logging(options.log_level)
        _worker.append(build(options))
    return _worker[0]


def worker_tls(_config: uvicorn.Config, _default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn asks for the TLS context before the app; both come from the one Service."""
    return worker_service().tls.context


def encode(options: Options) -> str:
    """`Options` for the worker processes, which uvicorn starts with `spawn`."""
    files = options.files
    return orjson.dumps(
        {
            **{f.name: getattr(options, f.name) for f in fields(options)},
            "files": [str(p) if p else None for p in (files.injection, files.values, files.mesh)],
            "settings": dataclasses.asdict(options.settings),
            "engines": dataclasses.asdict(options.engines),
            "limits": dataclasses.asdict(options.limits),
        },
        default=str,
    ).decode()


def decode(text: str) -> Options:
    raw = orjson.loads(text)
    injection, values, mesh = (Path(p) if p else None for p in raw.pop("files"))
    settings = app.Settings(**raw.pop("settings"))
    engine_limits = engines.Limits(**raw.pop("engines"))
    limits = listener.Limits(**raw.pop("limits"))
    return Options(
        **{**raw, "cert_file": Path(raw["cert_file"]), "key_file": Path(raw["key_file"])},
        files=ConfigFiles(injection=injection, values=values, mesh=mesh),
        settings=settings,
        engines=engine_limits,
        limits=limits,
    )


def _drained(sig: int, _frame: object) -> None:
    """uvicorn re-raises the signal after draining; by then there is nothing left to do."""
    logger.info("stopped on %s", signal.Signals(sig).name)


class JSONFormatter(logging.Formatter):
    """One JSON object per line; an admission's `extra={"fields": ...}` become top-level keys."""

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")
        """The last second a line was written in, and its date and time of day."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()

    def _time(self, created: float) -> str:
        """UTC to the millisecond, as `isoformat` writes it; the date and time of day are
        formatted once a second, not for every admission's line."""
        whole = int(created)
        second, text = self._second
        if second != whole:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
            self._second = (whole, text)
        return f"{text}.{int((created - whole) * 1000):03d}+00:00"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to whatever `sys.stderr` is when it writes (tests swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure_logging(level: str = "info") -> None:
    """JSON lines on stderr for our loggers and uvicorn's, replacing any earlier set-up.

    At `info` every admission writes a line, so a record does not collect what no line
    prints: the caller's file and line (a walk up the stack), the thread and the process.
    """
    handler = _Stderr()
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
