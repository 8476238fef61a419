"""The `drift` and `repair` commands: report the pods the webhook missed or left stale, and
restart their owners. `cli` registers them; the work is `repair`'s and `drift`'s.

`drift` is a command of its own rather than `check --proxy`: `check` diagnoses the injector's
installation in one line per finding, while drift is a per-owner report with field differences,
its own scope (namespaces, owners) and JSON output. `check --proxy` keeps its short summary.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import typer

from sidecar_injector import errors, manifests

T = TypeVar("T")

InjectorNamespace = Annotated[
    str, typer.Option("--injector-namespace", help="Where the injector and its ConfigMaps are.")
]
Revision = Annotated[str, typer.Option(help="Control plane revision (istio.io/rev).")]
Kubeconfig = Annotated[Path | None, typer.Option("-c", "--kubeconfig", help="Kubeconfig file.")]
Context = Annotated[str | None, typer.Option(help="Kubeconfig context.")]
Namespaces = Annotated[
    list[str] | None,
    typer.Option(
        "-n", "--namespace", metavar="NAMESPACE", help="Only this namespace (repeat for more)."
    ),
]
Owners = Annotated[
    list[str] | None,
    typer.Option(
        "--owner", metavar="[KIND/]NAME", help="Only this owner, e.g. deployment/web (repeat)."
    ),
]
PageSize = Annotated[
    int, typer.Option("--page-size", min=1, max=5000, help="Pods per list call (limit/continue).")
]
Output = Annotated[Literal["text", "json"], typer.Option("-o", "--output", help="text or json.")]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"sidecar-injector: error: {message}", err=True)
    return typer.Exit(2)


def _run(
    kubeconfig: Path | None,
    context: str | None,
    work: Callable[[Any], Coroutine[Any, Any, T]],
) -> T:
    """Run `work(client)` with a client that is closed before the event loop ends."""
    from sidecar_injector import kube

    try:
        client = kube.async_client(kubeconfig=kubeconfig, context=context)
    except kube.KubeError as err:
        raise _fail(str(err)) from None

    async def run() -> T:
        try:
            return await work(client)
        finally:
            await client.close()

    try:
        return asyncio.run(run())
    except errors.InjectorError as err:
        raise _fail(str(err)) from None
    except Exception as err:  # lightkube decoding, TLS, anything unforeseen: one line
        raise _fail(f"stopped: {type(err).__name__}: {err}") from None


def drift_command(
    namespace: Namespaces = None,
    owner: Owners = None,
    output: Output = "text",
    injector_namespace: InjectorNamespace = "istio-system",
    revision: Revision = "",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    page_size: PageSize = 500,
    all_owners: Annotated[
        bool, typer.Option("--all", help="Also list the owners whose pods are up to date.")
    ] = False,
) -> None:
    """Pods without their sidecar, or whose injected fields differ from what the current config
    injects (with each difference); exit 1 when there are any."""
    from sidecar_injector import repair

    names = manifests.Names(injector_namespace, "" if revision == "default" else revision)
    scope = repair.Scope(frozenset(namespace or ()), tuple(owner or ()))

    async def work(client: Any) -> repair.Found:
        return await repair.scan(client, names=names, scope=scope, page_size=page_size)

    found = _run(kubeconfig, context, work)
    shown = [o for o in found.owners if all_owners or o.state != "current"]
    if output == "json":
        body = {"owners": [o.as_json() for o in shown], "problems": list(found.problems)}
        typer.echo(json.dumps(body, indent=2))
    else:
        for item in shown:
            typer.echo("\n".join(item.lines()))
        for problem in found.problems:
            typer.echo(f"[problem] {problem}")
        current = sum(1 for o in found.owners if o.state == "current")
        typer.echo(
            f"{len(found.owners) - current} owner(s) drifted, {current} up to date", err=True
        )
    if any(o.state != "current" for o in found.owners):
        raise typer.Exit(1)


def repair_command(
    namespace: Namespaces = None,
    owner: Owners = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Do it; without it, print the plan (a dry run).")
    ] = False,
    max_at_once: Annotated[
        int,
        typer.Option(min=1, help="Owners rolling out at once (ours and those already going)."),
    ] = 3,
    max_per_minute: Annotated[
        int, typer.Option(min=1, help="Restarts started in any minute (across runs).")
    ] = 10,
    delete_pods: Annotated[
        bool,
        typer.Option(
            "--delete-pods",
            help="Delete drifted bare pods and Job pods (a bare pod is not recreated).",
        ),
    ] = False,
    output: Output = "text",
    injector_namespace: InjectorNamespace = "istio-system",
    revision: Revision = "",
    kubeconfig: Kubeconfig = None,
    context: Context = None,
    page_size: PageSize = 500,
) -> None:
    """Restart the owners of drifted pods (`kubectl rollout restart`'s restartedAt annotation),
    within limits; owners annotated sidecar-injector.io/repair=false, mid-rollout, or covered
    by a PodDisruptionBudget allowing no disruption are held back. Dry run unless --apply."""
    from sidecar_injector import repair

    names = manifests.Names(injector_namespace, "" if revision == "default" else revision)
    scope = repair.Scope(frozenset(namespace or ()), tuple(owner or ()))
    limits = repair.Limits(at_once=max_at_once, per_minute=max_per_minute)

    async def work(client: Any) -> tuple[list[repair.Step], list[repair.Outcome], repair.Found]:
        found = await repair.scan(client, names=names, scope=scope, page_size=page_size)
        now = datetime.datetime.now(datetime.UTC)
        steps = repair.plan(found, limits=limits, delete_pods=delete_pods, now=now)
        if not apply:
            return steps, [], found
        done = await repair.apply(client, steps, objects=found.objects, now=now)
        return steps, done, found

    steps, outcomes, found = _run(kubeconfig, context, work)
    if output == "json":
        body = {
            "applied": apply,
            "steps": [s.as_json() for s in steps],
            "outcomes": [
                {
                    "kind": o.step.target.owner.kind,
                    "namespace": o.step.target.owner.namespace,
                    "name": o.step.target.owner.name,
                    "done": o.done,
                    "message": o.message,
                }
                for o in outcomes
            ],
            "problems": list(found.problems),
        }
        typer.echo(json.dumps(body, indent=2))
    else:
        for step in steps:
            typer.echo(step.line())
        for outcome in outcomes:
            typer.echo(outcome.line())
        for problem in found.problems:
            typer.echo(f"[problem] {problem}")
        acting = sum(1 for s in steps if s.action in ("restart", "delete"))
        if not apply:
            typer.echo(f"dry run: nothing changed; --apply acts on {acting} owner(s)", err=True)
        elif not steps:
            typer.echo("nothing to repair", err=True)
    if any(not o.done for o in outcomes):
        raise typer.Exit(1)
