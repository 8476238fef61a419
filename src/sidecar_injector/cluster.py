"""The commands for running the injector in a cluster: `manifests`, `certs` and `check`.

They live apart from `cli` so the webhook's and kube-inject's commands stay readable; `cli`
registers them. Heavy imports (cryptography, lightkube) happen inside the command that needs them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Literal

import typer

from sidecar_injector import errors, manifests, repairjob


def _read(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text(encoding="utf-8")
    except OSError as err:
        raise errors.InjectorError(f"cannot read {path}: {err.strerror or err}") from None


def _fail(err: Exception) -> typer.Exit:
    typer.echo(f"sidecar-injector: error: {err}", err=True)
    return typer.Exit(1)


def manifests_command(
    namespace: Annotated[str, typer.Option(help="Where the injector runs.")] = "istio-system",
    replicas: Annotated[int, typer.Option(min=2, help="Injector replicas (2 or more).")] = 2,
    revision: Annotated[str, typer.Option(help="Control plane revision (istio.io/rev).")] = "",
    enable_namespaces_by_default: Annotated[
        bool,
        typer.Option(
            "--enable-namespaces-by-default",
            help="Inject in every namespace not labelled otherwise (the `auto.` webhook).",
        ),
    ] = False,
    failure_policy: Annotated[
        Literal["Fail", "Ignore"],
        typer.Option(help="What the API server does when the injector cannot answer."),
    ] = "Fail",
    timeout_seconds: Annotated[
        int, typer.Option(min=1, max=30, help="Webhook timeout (Kubernetes' default is 10).")
    ] = 3,
    reinvocation_policy: Annotated[
        Literal["Never", "IfNeeded"],
        typer.Option(help="IfNeeded: called again after later webhooks (injection is idempotent)."),
    ] = "IfNeeded",
    cert_mode: Annotated[
        manifests.CertMode,
        typer.Option(
            help="self: the injector makes its Secret and patches caBundle; cert-manager: a "
            "Certificate and the inject-ca-from annotation; provided: you create the Secret.",
        ),
    ] = "self",
    ca_file: Annotated[
        Path | None,
        typer.Option(help="With --cert-mode provided: the CA (PEM) to put in caBundle."),
    ] = None,
    image: Annotated[str, typer.Option(help="The injector image.")] = manifests.DEFAULT_IMAGE,
    webhook_style: Annotated[
        manifests.WebhookStyle,
        typer.Option(help="istio: today's webhooks and selectors; legacy: the 1.0 namespace one."),
    ] = "istio",
    create_namespace: Annotated[
        bool, typer.Option("--create-namespace", help="Include the Namespace object.")
    ] = False,
    match_conditions: Annotated[
        bool,
        typer.Option(
            "--match-conditions",
            help="Skip calls for hostNetwork pods and system namespaces (Kubernetes >= 1.30).",
        ),
    ] = False,
    kubernetes_version: Annotated[
        str,
        typer.Option(
            "--kubernetes-version",
            metavar="1.MINOR",
            help="The oldest API server to deploy to, e.g. 1.19 (PodDisruptionBudget "
            "policy/v1beta1 before 1.21); default: a current one.",
        ),
    ] = "",
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Run the injector with --events (Kubernetes Events on the pods' owners) and "
            "grant it `events: create`.",
        ),
    ] = False,
    inject_config: Annotated[
        Path | None,
        typer.Option("--injectConfigFile", help="The `config` key to ship (default: embedded)."),
    ] = None,
    values: Annotated[
        Path | None, typer.Option("--valuesFile", help="The `values` key to ship.")
    ] = None,
    mesh: Annotated[
        Path | None, typer.Option("--meshConfigFile", help="The `mesh` key to ship.")
    ] = None,
    kustomize: Annotated[
        Path | None,
        typer.Option(help="Write a kustomize base (one file per object) into this directory."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Add a CronJob running `repair --apply` on a schedule, with least-privilege RBAC.",
        ),
    ] = False,
    repair_schedule: Annotated[
        str, typer.Option(metavar="CRON", help="The repair CronJob's schedule.")
    ] = "*/10 * * * *",
) -> None:
    """Print every object needed to run the injector (YAML stream for `kubectl apply -f -`)."""
    import base64

    try:
        ca = _read(ca_file)
        settings = manifests.Settings(
            namespace=namespace,
            replicas=replicas,
            revision="" if revision == "default" else revision,
            image=image,
            namespaces_by_default=enable_namespaces_by_default,
            failure_policy=failure_policy,
            timeout_seconds=timeout_seconds,
            reinvocation_policy=reinvocation_policy,
            cert_mode=cert_mode,
            webhook_style=webhook_style,
            create_namespace=create_namespace,
            match_conditions=match_conditions,
            events=events,
            kubernetes_version=kubernetes_version,
            ca_bundle=base64.b64encode(ca.encode()).decode() if ca else "",
            injection_config=_read(inject_config),
            values=_read(values),
            mesh=_read(mesh),
        )
        extra = repairjob.objects(settings, schedule=repair_schedule) if repair else []
        if kustomize is None:
            typer.echo(manifests.dump([*manifests.build(settings), *extra]), nl=False)
            return
        kustomize.mkdir(parents=True, exist_ok=True)
        for name, text in manifests.kustomize_base(settings, extra=extra).items():
            (kustomize / name).write_text(text, encoding="utf-8")
        typer.echo(f"wrote a kustomize base to {kustomize}")
    except errors.InjectorError as err:
        raise _fail(err) from None


def certs_command(
    service: Annotated[str, typer.Option(help="The injector's Service name.")],
    namespace: Annotated[str, typer.Option(help="The Service's namespace.")],
    out: Annotated[Path, typer.Option(help="Directory for ca.crt, ca.key, tls.crt, tls.key.")],
    days: Annotated[int, typer.Option(min=1, help="Serving certificate lifetime.")] = 365,
) -> None:
    """Make a CA and a serving certificate for the Service's DNS names; print the caBundle.

    Then: `kubectl -n NS create secret tls NAME-tls --cert DIR/tls.crt --key DIR/tls.key` and
    `manifests --cert-mode provided --ca-file DIR/ca.crt`.
    """
    from sidecar_injector import certs

    hosts = [
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
        service,
    ]
    try:
        out.mkdir(parents=True, exist_ok=True)
        ca = certs.make_ca()
        certs.write_pair(ca, cert=out / "ca.crt", key=out / "ca.key")
        serving = certs.make_serving(ca, hosts=hosts, days=days)
        certs.write_pair(serving, cert=out / "tls.crt", key=out / "tls.key")
    except (errors.InjectorError, OSError) as err:
        raise _fail(err) from None
    typer.echo(f"# serving certificate for {', '.join(hosts)} in {out}", err=True)
    typer.echo(certs.ca_bundle(ca))


def check_command(
    namespace: Annotated[str, typer.Option(help="Where the injector runs.")] = "istio-system",
    revision: Annotated[str, typer.Option(help="Control plane revision.")] = "",
    kubeconfig: Annotated[
        Path | None, typer.Option("-c", "--kubeconfig", help="Kubeconfig file.")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    proxy: Annotated[
        bool,
        typer.Option(
            "--proxy",
            help="Also list pods in labelled namespaces whose sidecar is missing or stale.",
        ),
    ] = False,
) -> None:
    """Diagnose the injector in a cluster; exit 1 when something is wrong."""
    from sidecar_injector import diagnosis, kube

    try:
        client = kube.async_client(kubeconfig=kubeconfig, context=context)
    except kube.KubeError as err:
        raise _fail(err) from None
    names = manifests.Names(namespace, "" if revision == "default" else revision)

    async def run() -> list[diagnosis.Finding]:
        try:
            findings = await diagnosis.diagnose(client, names=names)
            if proxy:
                findings += await diagnosis.proxy_findings(client, names=names)
            return findings
        finally:
            await client.close()  # its connections would otherwise outlive the event loop

    try:
        findings = asyncio.run(run())
    except Exception as err:  # lightkube decoding, TLS, anything unforeseen: one line, exit 1
        raise _fail(Exception(f"check stopped: {type(err).__name__}: {err}")) from None
    for finding in findings:
        typer.echo(str(finding))
    problems = [f for f in findings if f.severity == "error"]
    if problems:
        typer.echo(f"{len(problems)} problem(s) found", err=True)
        raise typer.Exit(1)


def self_certificates(
    secret: str,
    *,
    state_dir: Path,
    hosts: list[str],
    mutating: list[str],
    validating: list[str],
    read_every: float = 60.0,
) -> tuple[Path, Path]:
    """`serve --cert-mode self`: the shared Secret's certificate files; caBundle kept patched."""
    from sidecar_injector import certs, kube

    if not secret or not hosts:
        raise errors.InjectorError(
            "--cert-mode self needs --cert-secret NAMESPACE/NAME and --cert-host (the Service's "
            "DNS names)",
            hint="use the Deployment from `sidecar-injector manifests`",
        )
    webhooks: list[tuple[kube.WebhookKind, str]] = [("mutating", n) for n in mutating]
    webhooks += [("validating", n) for n in validating]
    files = certs.StateFiles(state_dir)
    plan = kube.SelfCertificates(
        secret, files=files, hosts=hosts, webhooks=webhooks, renew_every=read_every
    )
    kube.start_self_certificates(plan)
    typer.echo(f"serving certificate from Secret {secret} for {', '.join(hosts)}")
    return files.cert, files.key
