"""The `sidecar-injector` command."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
import yaml

from sidecar_injector import (
    __version__,
    cluster,
    compiled_modules,
    config,
    errors,
    explanation,
    repaircommands,
    workloads,
)

if TYPE_CHECKING:
    from lightkube import Client

HELP_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
"""-h as kubectl and istioctl take it. Help is click's plain text (no rich boxes): it wraps to
the terminal, at most 80 columns, and never cuts an option name, also when piped to less."""

MIB = 1024 * 1024

app = typer.Typer(
    name="sidecar-injector",
    help="Kubernetes sidecar injection: the admission webhook and manual injection.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)


def _print_version(wanted: bool) -> None:
    if wanted:
        typer.echo(__version__)
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Kubernetes sidecar injection: the admission webhook and manual injection.

    Shell completion: `sidecar-injector --install-completion` (bash, zsh, fish), or
    `--show-completion bash` to print the script.
    """


@app.command()
def version() -> None:
    """Print the version, and whether the injection core runs compiled (mypyc) or as Python."""
    typer.echo(__version__)
    compiled = compiled_modules()
    if compiled:
        typer.echo(f"core: compiled with mypyc ({len(compiled)} modules loaded compiled)")
    else:
        typer.echo("core: pure Python (SIDECAR_INJECTOR_PURE_PYTHON set, or built without mypyc)")


FilenameOption = Annotated[
    str,
    typer.Option("-f", "--filename", help="The manifest to read: a file, or - for stdin."),
]
OutputOption = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Write here instead of stdout (replaced atomically)."),
]
InjectConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--injectConfigFile",
        help="Injection config: the istio-sidecar-injector ConfigMap, its `config` key, or a "
        "bare sidecar template.",
    ),
]
MeshConfigOption = Annotated[
    Path | None,
    typer.Option("--meshConfigFile", help="Mesh config: the istio ConfigMap or its `mesh` key."),
]
ValuesOption = Annotated[
    Path | None,
    typer.Option("--valuesFile", help="Values (JSON or YAML), as in the ConfigMap's `values`."),
]
RevisionOption = Annotated[
    str, typer.Option("-r", "--revision", help="Control plane revision (`default` means none).")
]


InjectConfigMapOption = Annotated[
    str, typer.Option("--injectConfigMapName", help="Cluster mode: the injection ConfigMap.")
]
MeshConfigMapOption = Annotated[
    str, typer.Option("--meshConfigMapName", help="Cluster mode: the mesh ConfigMap.")
]
IstioNamespaceOption = Annotated[
    str, typer.Option("-i", "--istioNamespace", help="Cluster mode: where the ConfigMaps are.")
]
KubeconfigOption = Annotated[
    Path | None, typer.Option("-c", "--kubeconfig", help="Cluster mode: kubeconfig file.")
]
ContextOption = Annotated[
    str | None, typer.Option("--context", help="Cluster mode: kubeconfig context.")
]


def _fail(err: Exception) -> typer.Exit:
    """The CLI's one error path: one line on stderr, exit status 1, no traceback."""
    if isinstance(err, errors.InjectorError):
        text = str(err)
    elif isinstance(err, OSError):
        text = f"{type(err).__name__}: {err}"
    else:
        text = f"internal error ({type(err).__name__}: {err}); please report it with the input"
    typer.echo(f"sidecar-injector: error: {text}", err=True)
    return typer.Exit(1)


_FILE_PROBLEMS = {
    errno.ENOENT: "no such file or directory",
    errno.EISDIR: "it is a directory, not a file",
    errno.EACCES: "permission denied",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def _file_problem(err: OSError) -> str:
    """The OS's reason in our words, without Python's `[Errno 2]` and repeated path."""
    return _FILE_PROBLEMS.get(err.errno or 0) or (err.strerror or str(err)).lower()


def _read_file(name: str, *, what: str) -> str:
    """A user's file (or stdin for `-`) as UTF-8 text; every failure names the file."""
    source = "<stdin>" if name == "-" else name
    try:
        data = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        return data.decode("utf-8")
    except OSError as err:
        raise errors.InjectorError(
            f"cannot read the {what}: {_file_problem(err)}",
            location=errors.Location(source=source),
            hint="check the path" if name != "-" else None,
        ) from None
    except UnicodeDecodeError as err:
        raise errors.InjectorError(
            f"the {what} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset"
            f" {err.start})",
            location=errors.Location(source=source),
            hint="save it as UTF-8",
        ) from None


def _read_input(filename: str) -> tuple[str, str]:
    return _read_file(filename, what="manifest"), "<stdin>" if filename == "-" else filename


def _write_output(text: str, output: Path | None) -> None:
    """All or nothing: a failed run never leaves half a manifest in `output`."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        fd, temp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    except OSError as err:
        raise errors.InjectorError(
            f"cannot write the output in {output.parent}: {_file_problem(err)}",
            location=errors.Location(source=str(output)),
            hint="-o needs an existing folder you can write to",
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, output)
    except OSError as err:
        Path(temp).unlink(missing_ok=True)
        raise errors.InjectorError(
            f"cannot write the output: {_file_problem(err)}",
            location=errors.Location(source=str(output)),
        ) from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _print_warnings(warnings: tuple[str, ...]) -> None:
    """As istioctl: after the output, an empty line, then one line per warning."""
    if warnings:
        typer.echo("", err=True)
        for line in warnings:
            typer.echo(line, err=True)


def _local_settings(
    *,
    inject_config: Path | None,
    mesh_config: Path | None,
    values: Path | None,
    revision: str,
) -> config.Config:
    return config.load_files(
        config=inject_config,
        values=values,
        mesh=mesh_config,
        revision="" if revision == "default" else revision,
        env=dict(os.environ),
    )


@dataclass(frozen=True, slots=True)
class ClusterSource:
    """Where cluster mode finds the ConfigMaps (istioctl's flags)."""

    kubeconfig: Path | None
    context: str | None
    namespace: str
    inject_name: str
    mesh_name: str


def _settings(
    cluster: ClusterSource | None,
    *,
    inject_config: Path | None,
    mesh_config: Path | None,
    values: Path | None,
    revision: str,
) -> config.Config:
    """The given files; without --injectConfigFile, the cluster's ConfigMaps when there is a
    cluster to ask, else the embedded default."""
    if inject_config is None and cluster is not None:
        return _cluster_settings(cluster, mesh_config=mesh_config, values=values, revision=revision)
    return _local_settings(
        inject_config=inject_config, mesh_config=mesh_config, values=values, revision=revision
    )


def _cluster_settings(
    source: ClusterSource, *, mesh_config: Path | None, values: Path | None, revision: str
) -> config.Config:
    """istioctl's fallback when no webhook answers: the ConfigMaps, named `-<rev>` for a revision.

    Files given on the command line win over the ConfigMaps' keys, as in istioctl.
    """
    revision = "" if revision == "default" else revision
    suffix = f"-{revision}" if revision else ""
    client = _client(source.kubeconfig, source.context)
    injector = _configmap(client, f"{source.inject_name}{suffix}", source.namespace)
    mesh = (
        None if mesh_config else _configmap(client, f"{source.mesh_name}{suffix}", source.namespace)
    )
    ns = source.namespace
    return config.load(
        config=injector.get("config"),
        values=values.read_text(encoding="utf-8") if values else injector.get("values"),
        mesh=mesh_config.read_text(encoding="utf-8") if mesh_config else (mesh or {}).get("mesh"),
        sources=config.Sources(
            config=f"ConfigMap {ns}/{source.inject_name}{suffix} data.config",
            values=str(values)
            if values
            else f"ConfigMap {ns}/{source.inject_name}{suffix} data.values",
            mesh=str(mesh_config)
            if mesh_config
            else f"ConfigMap {ns}/{source.mesh_name}{suffix} data.mesh",
        ),
        revision=revision,
        env=dict(os.environ),
    )


class NoCluster(config.ConfigError):
    """No kubeconfig, or no answer from its API server (as opposed to an answer that refuses)."""


def _client(kubeconfig: Path | None, context: str | None) -> Client:
    """The Kubernetes client, imported only here and in the other cluster reads: a command
    that does not talk to a cluster (or `serve` from files) does not load it (~9 MB)."""
    from lightkube import Client, KubeConfig

    try:
        found = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
        return Client(found.get(context_name=context))
    except Exception as err:  # lightkube's ConfigError, a missing or unreadable file
        raise NoCluster(
            f"cannot use the kubeconfig: {err}",
            hint="check --kubeconfig/--context, or pass --injectConfigFile",
        ) from None


def _configmap(client: Client, name: str, namespace: str) -> Mapping[str, str]:
    from lightkube import ApiError
    from lightkube.resources.core_v1 import ConfigMap

    try:
        found = client.get(ConfigMap, name, namespace=namespace)
    except ApiError as err:  # the cluster answered: 404, 403, ...
        raise config.ConfigError(
            f"cannot read ConfigMap {namespace}/{name} from the cluster: {err}",
            hint="check --kubeconfig/--context/--istioNamespace/-r, or pass --injectConfigFile",
        ) from None
    except Exception as err:  # connection refused, TLS, timeouts: no cluster answered
        raise NoCluster(
            f"cannot read ConfigMap {namespace}/{name}: the cluster did not answer ({err})",
            hint="check --kubeconfig/--context, or pass --injectConfigFile",
        ) from None
    return dict(found.data or {})


def _kube_inject_settings(
    cluster: ClusterSource, *, mesh_config: Path | None, values: Path | None, revision: str
) -> config.Config:
    """Without --injectConfigFile: the cluster's ConfigMaps, as istioctl reads them. When no
    kubeconfig was named and there is no cluster to ask (no kubeconfig found, or its API server
    does not answer), the embedded default, and stderr says so; a named one must work."""
    try:
        return _cluster_settings(cluster, mesh_config=mesh_config, values=values, revision=revision)
    except NoCluster as err:
        if cluster.kubeconfig is not None or cluster.context is not None:
            raise
        typer.echo(
            f"sidecar-injector: no --injectConfigFile and no cluster ({err.message}):"
            " using the embedded default config",
            err=True,
        )
    return _local_settings(
        inject_config=None, mesh_config=mesh_config, values=values, revision=revision
    )


@app.command("kube-inject")
def kube_inject(
    filename: FilenameOption,
    output: OutputOption = None,
    inject_config_file: InjectConfigOption = None,
    mesh_config_file: MeshConfigOption = None,
    values_file: ValuesOption = None,
    revision: RevisionOption = "",
    inject_config_map_name: InjectConfigMapOption = "istio-sidecar-injector",
    mesh_config_map_name: MeshConfigMapOption = "istio",
    istio_namespace: IstioNamespaceOption = "istio-system",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Add sidecars to the workloads of a manifest, as `istioctl kube-inject` does.

    Pods, Deployments, DaemonSets, ReplicaSets, StatefulSets, Jobs, CronJobs,
    ReplicationControllers and DeploymentConfigs (any apiVersion), also inside a `kind: List`,
    get their pod template injected and are printed with sorted keys; every other document is
    copied byte for byte. Skipped workloads are reported on stderr after the output.

    The config: --injectConfigFile (with --meshConfigFile, --valuesFile) when given; else, as
    istioctl, the cluster's ConfigMaps (--injectConfigMapName, --meshConfigMapName in
    --istioNamespace, `-<revision>` with -r); else, when no kubeconfig is found or its cluster
    does not answer, the embedded default, said on stderr. With -c/--context the cluster must
    answer.

    \b
    Example:
      sidecar-injector kube-inject -f app.yaml --injectConfigFile inject.yaml \\
          --meshConfigFile mesh.yaml --valuesFile values.yaml | kubectl apply -f -
    """
    try:
        text, source = _read_input(filename)
        cluster = ClusterSource(
            kubeconfig=kubeconfig,
            context=context,
            namespace=istio_namespace,
            inject_name=inject_config_map_name,
            mesh_name=mesh_config_map_name,
        )
        if inject_config_file is None:
            settings = _kube_inject_settings(
                cluster, mesh_config=mesh_config_file, values=values_file, revision=revision
            )
        else:
            settings = _local_settings(
                inject_config=inject_config_file,
                mesh_config=mesh_config_file,
                values=values_file,
                revision=revision,
            )
        result = workloads.kube_inject(text, settings=settings, source=source)
        _write_output(result.text, output)
    except Exception as err:  # the top of the command: one line, never a traceback
        raise _fail(err) from None
    _print_warnings(result.warnings)


@app.command()
def uninject(filename: FilenameOption, output: OutputOption = None) -> None:
    """Take injected sidecars out of a manifest again, using each pod's status annotation.

    The inverse of `kube-inject`: the containers, init containers, volumes and pull secrets the
    `sidecar.istio.io/status` annotation lists are removed, the user's own versions of
    `istio-proxy`/`istio-init` are restored, and the injector's labels and annotations dropped.
    A status of zero values (what kube-inject prints for StatefulSets, DaemonSets, ...) is left
    out, so `uninject` of `kube-inject`'s output gives the manifest back.
    """
    try:
        text, source = _read_input(filename)
        result = workloads.uninject_stream(text, source=source)
        _write_output(result.text, output)
    except Exception as err:  # the top of the command: one line, never a traceback
        raise _fail(err) from None


def _parse_labels(text: str | None) -> Mapping[str, str] | None:
    if text is None:
        return None
    labels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise config.ConfigError(
                f"--namespace-labels: {item!r} is not key=value",
                hint="write the labels as k=v,k2=v2",
            )
        labels[key] = value
    return labels


def _cluster_kinds() -> Mapping[str, Any]:
    """`explain KIND/NAME`: kubectl's names and short names of the kinds with a pod template."""
    from lightkube.resources.apps_v1 import DaemonSet, Deployment, ReplicaSet, StatefulSet
    from lightkube.resources.batch_v1 import CronJob, Job
    from lightkube.resources.core_v1 import Pod, ReplicationController

    kinds: tuple[tuple[tuple[str, ...], Any], ...] = (
        (("pod", "pods", "po"), Pod),
        (("deployment", "deployments", "deploy"), Deployment),
        (("daemonset", "daemonsets", "ds"), DaemonSet),
        (("statefulset", "statefulsets", "sts"), StatefulSet),
        (("replicaset", "replicasets", "rs"), ReplicaSet),
        (("job", "jobs"), Job),
        (("cronjob", "cronjobs", "cj"), CronJob),
        (("replicationcontroller", "replicationcontrollers", "rc"), ReplicationController),
    )
    return {name: model for names, model in kinds for name in names}


@app.command()
def explain(
    resource: Annotated[
        str | None,
        typer.Argument(
            metavar="KIND/NAME",
            help="Explain this object of the cluster (pod/NAME, deployment/NAME, ds, sts, rs, "
            "job, cronjob, rc) with its namespace's labels and, without --injectConfigFile, the "
            "cluster's injector ConfigMaps.",
            show_default=False,
        ),
    ] = None,
    filename: Annotated[
        str | None,
        typer.Option("-f", "--filename", help="The manifest to read: a file, or - for stdin."),
    ] = None,
    namespace_labels: Annotated[
        str | None,
        typer.Option(
            "--namespace-labels",
            help="The namespace's labels, k=v,k2=v2 (empty: none), to evaluate the webhook "
            "selectors; left out, the webhook is assumed to be called (with KIND/NAME: the "
            "namespace's own labels).",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option("-n", "--namespace", help="The namespace the pods are created in."),
    ] = None,
    inject_config_file: InjectConfigOption = None,
    mesh_config_file: MeshConfigOption = None,
    values_file: ValuesOption = None,
    revision: RevisionOption = "",
    output: Annotated[
        Literal["table", "json"], typer.Option("-o", "--output", help="table or json.")
    ] = "table",
    inject_config_map_name: InjectConfigMapOption = "istio-sidecar-injector",
    mesh_config_map_name: MeshConfigMapOption = "istio",
    istio_namespace: IstioNamespaceOption = "istio-system",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Say, rule by rule, why each pod of a manifest would or would not get a sidecar.

    The webhook's namespace and object selectors (with --namespace-labels), then the injector's
    own precedence: hostNetwork, ignored namespaces, the sidecar.istio.io/inject label or
    annotation, neverInjectSelector, alwaysInjectSelector, policy. When injecting, the templates
    that would apply. With -f and without --injectConfigFile the embedded default config is used.

    \b
    Examples:
      sidecar-injector explain -f app.yaml \\
          --namespace-labels istio-injection=enabled
      sidecar-injector explain deployment/reviews -n bookinfo   # in the cluster
    """
    try:
        if (resource is None) == (filename is None):
            raise config.ConfigError(
                "explain needs either -f FILE or KIND/NAME (e.g. deployment/reviews), not both",
                hint="`explain -f app.yaml` for a manifest, `explain pod/NAME -n NS` for a cluster",
            )
        labels = _parse_labels(namespace_labels)
        if resource is not None:
            client = _client(kubeconfig, context)
            namespace = namespace or _context_namespace(kubeconfig, context)
            text, source, found = _cluster_object(client, resource, namespace=namespace)
            labels = found if labels is None else labels
        else:
            assert filename is not None
            text, source = _read_input(filename)
        cluster = ClusterSource(
            kubeconfig=kubeconfig,
            context=context,
            namespace=istio_namespace,
            inject_name=inject_config_map_name,
            mesh_name=mesh_config_map_name,
        )
        settings = _settings(
            cluster if resource is not None else None,
            inject_config=inject_config_file,
            mesh_config=mesh_config_file,
            values=values_file,
            revision=revision,
        )
        answers = [
            explanation.explain(
                template.pod,
                workload=template.title,
                namespace=namespace or template.namespace or "default",
                settings=settings,
                namespace_labels=labels,
            )
            for template in workloads.iter_pod_templates(text, source=source)
        ]
    except Exception as err:  # the top of the command: one line, never a traceback
        raise _fail(err) from None
    if output == "json":
        typer.echo(json.dumps([answer.as_json() for answer in answers], indent=2))
    else:
        typer.echo("\n".join(explanation.table(answer) for answer in answers), nl=False)


def _context_namespace(kubeconfig: Path | None, context: str | None) -> str:
    """The kubeconfig context's namespace, as kubectl takes it when -n is not given."""
    from lightkube import KubeConfig

    found = KubeConfig.from_file(kubeconfig) if kubeconfig else KubeConfig.from_env()
    chosen = found.get(context_name=context)
    return (chosen.namespace if chosen is not None else None) or "default"


def _cluster_object(
    client: Client, resource: str, *, namespace: str
) -> tuple[str, str, dict[str, str]]:
    """The object as YAML, where it came from, and its namespace's labels."""
    from lightkube.resources.core_v1 import Namespace

    kind, _, name = resource.partition("/")
    model = _cluster_kinds().get(kind.lower())
    if model is None or not name:
        raise config.ConfigError(
            f"cannot explain {resource!r}: want KIND/NAME with KIND one of "
            "pod, deployment, daemonset, statefulset, replicaset, job, cronjob, "
            "replicationcontroller",
            hint="e.g. `explain deployment/reviews -n bookinfo`",
        )
    where = f"{model.__name__} {namespace}/{name}"
    try:
        found = client.get(model, name, namespace=namespace)
        space = client.get(Namespace, namespace)
    except Exception as err:  # lightkube: ApiError (404, 403), HTTP and connection errors
        raise config.ConfigError(
            f"cannot read {where} from the cluster: {err}",
            hint="check the name, -n and --kubeconfig/--context",
        ) from None
    labels = dict(space.metadata.labels or {}) if space.metadata is not None else {}
    return yaml.safe_dump(found.to_dict(), sort_keys=False), where, labels


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sidecar-injector"


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(envvar="SIDECAR_INJECTOR_HOST", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="SIDECAR_INJECTOR_PORT", help="HTTPS port.")] = 9443,
    tls_cert_file: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert-file",
            "--tlsCertFile",
            envvar="SIDECAR_INJECTOR_TLS_CERT_FILE",
            help="Serving certificate (PEM); reloaded when it changes. "
            "Without it, a self-signed one is made in --state-dir.",
        ),
    ] = None,
    tls_key_file: Annotated[
        Path | None,
        typer.Option(
            "--tls-key-file",
            "--tlsKeyFile",
            envvar="SIDECAR_INJECTOR_TLS_KEY_FILE",
            help="Its private key (PEM).",
        ),
    ] = None,
    inject_config: Annotated[
        Path | None,
        typer.Option(
            "--inject-config",
            "--injectConfig",
            envvar="SIDECAR_INJECTOR_INJECT_CONFIG",
            help="Injection config (the ConfigMap's `config` key); default: the embedded one.",
        ),
    ] = None,
    mesh_config: Annotated[
        Path | None,
        typer.Option(
            "--mesh-config",
            "--meshConfig",
            envvar="SIDECAR_INJECTOR_MESH_CONFIG",
            help="Mesh config (the `istio` ConfigMap's `mesh` key).",
        ),
    ] = None,
    values: Annotated[
        Path | None,
        typer.Option(
            "--values",
            "--valuesFile",
            envvar="SIDECAR_INJECTOR_VALUES",
            help="Values (the ConfigMap's `values` key, JSON or YAML).",
        ),
    ] = None,
    config_map: Annotated[
        str,
        typer.Option(
            "--config-map",
            envvar="SIDECAR_INJECTOR_CONFIG_MAP",
            metavar="NAMESPACE/NAME",
            help="Read the injector ConfigMap (`config`, `values`, `mesh`) through the "
            "Kubernetes API instead of files, polled every --reload-interval.",
        ),
    ] = "",
    mesh_config_map: Annotated[
        str,
        typer.Option(
            "--mesh-config-map",
            envvar="SIDECAR_INJECTOR_MESH_CONFIG_MAP",
            metavar="NAMESPACE/NAME",
            help="With --config-map: the mesh config from this ConfigMap's `mesh` key (Istio's "
            "istio-system/istio), followed the same way; --mesh-config wins over it.",
        ),
    ] = "",
    config_map_mode: Annotated[
        Literal["poll", "watch"],
        typer.Option(
            envvar="SIDECAR_INJECTOR_CONFIG_MAP_MODE",
            help="How --config-map is followed: a GET per --reload-interval, or a watch.",
        ),
    ] = "poll",
    cert_mode: Annotated[
        Literal["files", "self"],
        typer.Option(
            envvar="SIDECAR_INJECTOR_CERT_MODE",
            help="files: --tls-cert-file or a self-signed pair in --state-dir; self: a shared "
            "Secret (--cert-secret) made by the first replica, caBundle kept patched.",
        ),
    ] = "files",
    cert_secret: Annotated[
        str,
        typer.Option(
            envvar="SIDECAR_INJECTOR_CERT_SECRET",
            metavar="NAMESPACE/NAME",
            help="With --cert-mode self: the Secret.",
        ),
    ] = "",
    cert_secret_interval: Annotated[
        float,
        typer.Option(
            min=1,
            envvar="SIDECAR_INJECTOR_CERT_SECRET_INTERVAL",
            help="With --cert-mode self: seconds between reads of the Secret (at once when a "
            "caBundle holds a CA not seen before); a replaced CA stays trusted about twice this "
            "long.",
        ),
    ] = 60.0,
    webhook_configuration: Annotated[
        list[str] | None,
        typer.Option(
            "--webhook-configuration",
            "--webhookConfigName",
            envvar="SIDECAR_INJECTOR_WEBHOOK_CONFIGURATION",
            help="With --cert-mode self: MutatingWebhookConfiguration to patch (repeatable; "
            "the environment variable takes space-separated names).",
        ),
    ] = None,
    validating_webhook_configuration: Annotated[
        list[str] | None,
        typer.Option(
            envvar="SIDECAR_INJECTOR_VALIDATING_WEBHOOK_CONFIGURATION",
            help="With --cert-mode self: ValidatingWebhookConfiguration to patch.",
        ),
    ] = None,
    revision: Annotated[
        str, typer.Option(envvar="SIDECAR_INJECTOR_REVISION", help="Control plane revision.")
    ] = "",
    on_error: Annotated[
        Literal["deny", "allow"],
        typer.Option(
            envvar="SIDECAR_INJECTOR_ON_ERROR",
            help="When injection fails for a pod: deny it (as Istio) or allow it uninjected "
            "with a warning.",
        ),
    ] = "deny",
    max_body_bytes: Annotated[
        int,
        typer.Option(envvar="SIDECAR_INJECTOR_MAX_BODY_BYTES", help="Largest request body."),
    ] = 6 * 1024 * 1024,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            envvar="SIDECAR_INJECTOR_STATE_DIR",
            help="Where the self-signed CA and certificate live "
            "[default: $XDG_STATE_HOME/sidecar-injector or ~/.local/state/sidecar-injector].",
        ),
    ] = None,
    cert_host: Annotated[
        list[str] | None,
        typer.Option(
            envvar="SIDECAR_INJECTOR_CERT_HOST",
            help="Extra DNS name or IP for the self-signed certificate (repeatable; the "
            "environment variable takes space-separated names), e.g. "
            "sidecar-injector.istio-system.svc.",
        ),
    ] = None,
    reload_interval: Annotated[
        float,
        typer.Option(
            envvar="SIDECAR_INJECTOR_RELOAD_INTERVAL",
            help="Seconds between checks of the certificate and config files.",
        ),
    ] = 1.0,
    graceful_timeout: Annotated[
        int,
        typer.Option(
            envvar="SIDECAR_INJECTOR_GRACEFUL_TIMEOUT",
            help="Seconds to finish in-flight requests after SIGTERM.",
        ),
    ] = 30,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="SIDECAR_INJECTOR_WORKERS",
            help="Worker processes on the one port, to use several cores.",
        ),
    ] = 1,
    log_level: Annotated[
        Literal["debug", "info", "warning", "error"],
        typer.Option(envvar="SIDECAR_INJECTOR_LOG_LEVEL"),
    ] = "info",
    cache_entries: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="SIDECAR_INJECTOR_CACHE_ENTRIES",
            help="Answers remembered per worker for identical pods (the replicas of a scale-up "
            "render once); 0 turns it off. Dropped on every config reload; off for templates "
            "that read the clock or randomness.",
        ),
    ] = 128,
    events: Annotated[
        bool,
        typer.Option(
            "--events/--no-events",
            envvar="SIDECAR_INJECTOR_EVENTS",
            help="Write Kubernetes Events (Injected, InjectionSkipped, InjectionFailed) on each "
            "pod's owner, one per owner and reason a minute, from a background queue that never "
            "delays an admission; needs `events: create`.",
        ),
    ] = False,
    engines: Annotated[
        int,
        typer.Option(
            min=0,
            envvar="SIDECAR_INJECTOR_ENGINES",
            help="Injection engine processes per worker: admissions run there, off the event "
            "loop, and one past its deadline is stopped by replacing its engine. 0 runs them "
            "in the worker itself (no isolation; for comparison only).",
        ),
    ] = 2,
    engine_memory_mb: Annotated[
        int,
        typer.Option(
            min=64,
            envvar="SIDECAR_INJECTOR_ENGINE_MEMORY_MB",
            help="Memory (MiB) an engine may allocate beyond what it shares with its zygote; "
            "past it the admission fails, not the server. An engine whose resident memory grew "
            "by 128 MiB (or half this) is replaced after it answers.",
        ),
    ] = 384,
    default_timeout: Annotated[
        float,
        typer.Option(
            min=1,
            max=30,
            envvar="SIDECAR_INJECTOR_DEFAULT_TIMEOUT",
            help="Seconds an admission may take when the API server sends no ?timeout= "
            "(it does; this is for other clients). The answer leaves a little before.",
        ),
    ] = 10.0,
    max_header_bytes: Annotated[
        int,
        typer.Option(
            min=1024,
            envvar="SIDECAR_INJECTOR_MAX_HEADER_BYTES",
            help="Largest request line and header fields together (431 past it).",
        ),
    ] = 64 * 1024,
    max_headers: Annotated[
        int,
        typer.Option(
            min=8,
            envvar="SIDECAR_INJECTOR_MAX_HEADERS",
            help="Most header fields in a request (431 past it).",
        ),
    ] = 100,
    header_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="SIDECAR_INJECTOR_HEADER_TIMEOUT",
            help="Seconds for a request's head to arrive (408 and close past it).",
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="SIDECAR_INJECTOR_BODY_TIMEOUT",
            help="Seconds for a request's body to arrive after its head.",
        ),
    ] = 10.0,
    max_connections: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="SIDECAR_INJECTOR_MAX_CONNECTIONS",
            help="Connections per worker; past it one with no request in progress is closed "
            "(first those that never sent a whole request, oldest first).",
        ),
    ] = 256,
    max_handshakes: Annotated[
        int,
        typer.Option(
            min=1,
            envvar="SIDECAR_INJECTOR_MAX_HANDSHAKES",
            help="TLS handshakes in progress at once (one worker); the next connection waits "
            "in the kernel's backlog.",
        ),
    ] = 64,
    handshake_timeout: Annotated[
        float,
        typer.Option(
            min=0.1,
            envvar="SIDECAR_INJECTOR_HANDSHAKE_TIMEOUT",
            help="Seconds for a TLS handshake (one worker).",
        ),
    ] = 5.0,
) -> None:
    """Run the HTTPS admission webhook (POST /inject, /validate; GET /healthz /readyz /metrics)."""
    # Imported here: the server's dependencies (uvicorn, cryptography) slow every other command.
    from sidecar_injector import listener, server
    from sidecar_injector.admission import app as webhook
    from sidecar_injector.admission.engines import Limits as EngineLimits

    server.configure_logging(log_level)
    try:
        _claimable(host, port)
        if cert_mode == "self":
            cert, key = cluster.self_certificates(
                cert_secret,
                state_dir=state_dir or _default_state_dir(),
                hosts=cert_host or [],
                mutating=webhook_configuration or [],
                validating=validating_webhook_configuration or [],
                read_every=cert_secret_interval,
            )
        else:
            cert, key = _serving_files(
                tls_cert_file,
                tls_key_file,
                state_dir=state_dir or _default_state_dir(),
                hosts=[host, *(cert_host or [])],
            )
        options = server.Options(
            cert_file=cert,
            key_file=key,
            host=host,
            port=port,
            files=server.ConfigFiles(injection=inject_config, values=values, mesh=mesh_config),
            config_map=config_map,
            mesh_config_map=mesh_config_map,
            config_map_mode=config_map_mode,
            settings=webhook.Settings(
                on_error=on_error, max_body_bytes=max_body_bytes, default_timeout=default_timeout
            ),
            revision=revision,
            reload_seconds=reload_interval,
            graceful_seconds=graceful_timeout,
            workers=workers,
            log_level=log_level,
            cache_entries=cache_entries,
            watch_nodes=_watches_nodes(config_map=config_map, cert_mode=cert_mode),
            events=events,
            engines=EngineLimits(
                engines=engines,
                memory_bytes=engine_memory_mb * MIB,
                recycle_bytes=min(128, engine_memory_mb // 2) * MIB,
            ),
            limits=listener.Limits(
                max_header_bytes=max_header_bytes,
                max_headers=max_headers,
                header_timeout=header_timeout,
                body_timeout=body_timeout,
                max_connections=max_connections,
                max_handshakes=max_handshakes,
                handshake_timeout=handshake_timeout,
            ),
        )
        typer.echo(f"listening on https://{host}:{port} (POST /inject)")
        server.run(options)
    except (errors.InjectorError, OSError, ValueError) as err:
        typer.echo(f"sidecar-injector: error: {err}", err=True)
        raise typer.Exit(1) from None


def _claimable(host: str, port: int) -> None:
    """Fail before saying "listening" when the address is taken: bind it as the server will
    (SO_REUSEADDR), then let go. A port taken in between still fails in the server."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as err:
        reason = err.strerror or str(err)
        raise errors.InjectorError(
            f"cannot listen on {host}:{port}: {reason[:1].lower()}{reason[1:]}",
            hint="stop what holds the port, or choose another with --port or --host",
        ) from None


def _watches_nodes(*, config_map: str, cert_mode: str) -> bool:
    """Istio's `ENABLE_NATIVE_SIDECARS=auto` (the default) asks the nodes' kubelets, which
    `serve` can when it talks to a cluster: with `--config-map` or `--cert-mode self`."""
    mode = os.environ.get("ENABLE_NATIVE_SIDECARS", "").strip().lower()
    return mode in ("", "auto") and bool(config_map or cert_mode == "self")


def _serving_files(
    cert: Path | None, key: Path | None, *, state_dir: Path, hosts: list[str]
) -> tuple[Path, Path]:
    """The given certificate and key, or a self-signed pair in `state_dir` (printed for curl)."""
    from sidecar_injector import certs

    if cert is not None and key is not None:
        return cert, key
    if cert is not None or key is not None:
        raise errors.InjectorError(
            "--tls-cert-file and --tls-key-file go together", hint="give both or neither"
        )
    files = certs.StateFiles(state_dir)
    names = list(
        dict.fromkeys([*certs.LOCAL_HOSTS, *(h for h in hosts if h not in ("0.0.0.0", "::"))])
    )
    ca = certs.ensure_self_signed(files, hosts=names)
    typer.echo(f"state directory: {files.directory}")
    typer.echo(f"CA certificate (curl --cacert): {files.ca_cert}")
    typer.echo(f"serving certificate: {files.cert} for {', '.join(names)}")
    typer.echo(f"caBundle: {certs.ca_bundle(ca)}")
    return files.cert, files.key


app.command("manifests")(cluster.manifests_command)
app.command("certs")(cluster.certs_command)
app.command("check")(cluster.check_command)
app.command("drift")(repaircommands.drift_command)
app.command("repair")(repaircommands.repair_command)

template_app = typer.Typer(
    help="Go text/template tools for debugging injection templates.",
    rich_markup_mode=None,
    context_settings=HELP_SETTINGS,
)
app.add_typer(template_app, name="template")


@template_app.command("render")
def template_render(
    template_file: Annotated[
        Path, typer.Argument(metavar="TEMPLATE_FILE", help="The Go text/template to render.")
    ],
    data: Annotated[
        Path | None, typer.Option("--data", help="The dot: a JSON or YAML file.")
    ] = None,
    delims: Annotated[
        str, typer.Option("--delims", help="Left and right delimiters, comma-separated.")
    ] = "{{,}}",
    no_sprig: Annotated[
        bool, typer.Option("--no-sprig", help="Only Go's builtin functions.")
    ] = False,
) -> None:
    """Render a template as Go's text/template (with sprig) does; Go's error text on failure.

    The data is read as Helm and Istio read values: YAML becomes JSON first (dates stay
    strings, keys become strings), and JSON numbers become float64 as Go's `encoding/json`
    makes them (`1e+06`, not `1000000`).
    """
    import yaml

    from sidecar_injector import gotemplate
    from sidecar_injector.gotemplate import values

    left, sep, right = delims.partition(",")
    if not sep or not left or not right:
        typer.echo("sidecar-injector: error: --delims wants LEFT,RIGHT (e.g. '[[,]]')", err=True)
        raise typer.Exit(2)
    try:
        text = _read_file(str(template_file), what="template")
        dot: object = None
        if data is not None:
            raw = _read_file(str(data), what="data")
            loaded = json.loads(raw) if data.suffix == ".json" else _yaml_as_json(raw)
            dot = values.from_json(loaded)
        template = gotemplate.parse(
            text, template_file.name, delims=(left, right), sprig=not no_sprig
        )
        output = template.execute(dot)
    except gotemplate.ExecError as err:
        sys.stdout.write(err.partial)
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    except gotemplate.TemplateError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(1) from None
    except errors.InjectorError as err:
        raise _fail(err) from None
    except (ValueError, yaml.YAMLError) as err:  # the --data file is not JSON or YAML
        problem = errors.yaml_problem(err) if isinstance(err, yaml.YAMLError) else str(err)
        typer.echo(f"sidecar-injector: error: {data}: {problem}", err=True)
        raise typer.Exit(1) from None
    sys.stdout.write(output)


def _yaml_as_json(text: str) -> object:
    """YAML as `sigs.k8s.io/yaml` hands it to Go: through JSON (timestamps as their text)."""
    return json.loads(json.dumps(workloads.load_yaml(text), default=str))


@app.command()
def render(
    filename: FilenameOption,
    inject_config_file: InjectConfigOption = None,
    mesh_config_file: MeshConfigOption = None,
    values_file: ValuesOption = None,
    revision: RevisionOption = "",
) -> None:
    """Print what the injection templates render for each pod of a manifest, for template authors.

    Each template's output is printed as it came out of the template engine, before it is
    parsed and merged into the pod, under a `# template: NAME` line naming the workload. Pods
    that would not be injected (hostNetwork, `sidecar.istio.io/inject: "false"`) are reported
    on stderr. Without --injectConfigFile the embedded default config is used.

    \b
    Example:
      sidecar-injector render -f pod.yaml --injectConfigFile inject-config.yaml
    """
    try:
        text, source = _read_input(filename)
        settings = _local_settings(
            inject_config=inject_config_file,
            mesh_config=mesh_config_file,
            values=values_file,
            revision=revision,
        )
        results = list(workloads.render_pods(text, settings=settings, source=source))
    except Exception as err:  # the top of the command: one line, never a traceback
        raise _fail(err) from None
    for template, result in results:
        if not result.decision.inject:
            typer.echo(f"{template.title}: not injected: {result.decision.message}", err=True)
        for rendered in result.rendered:
            typer.echo(f"# template: {rendered.name} ({template.title})")
            typer.echo(rendered.text, nl=not rendered.text.endswith("\n"))


def main() -> None:
    # one name in usage lines and completion scripts, also for `python -m sidecar_injector`
    app(prog_name="sidecar-injector")
