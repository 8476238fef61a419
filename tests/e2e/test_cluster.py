"""The webhook as a real API server calls it: selectors, dry-run, validation, failure policy."""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from lightkube import Client, KubeConfig
from lightkube.codecs import from_dict
from lightkube.core.exceptions import ApiError
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod, ServiceAccount
from typer.testing import CliRunner

from sidecar_injector import cli, decision, manifests
from tests.e2e.conftest import Cluster, Injector, free_port

pytestmark = pytest.mark.e2e

LABELLED, PLAIN = "e2e-labelled", "e2e-plain"
_names = itertools.count()


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[Client]:
    """Closed after the module: an open TLS connection left to the GC is a warning, so an error."""
    with Client(KubeConfig.from_file(cluster.kubeconfig).get()) as opened:
        yield opened


def url_mode(body: dict[str, Any], *, url: str, bundle: str) -> dict[str, Any]:
    for hook in body["webhooks"]:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"{url}{path}", "caBundle": bundle}
    return body


def install(client: Client, body: dict[str, Any]) -> None:
    resource: Any = from_dict(body)
    with contextlib.suppress(ApiError):
        client.delete(type(resource), body["metadata"]["name"])
    client.create(resource)


def webhooks(injector: Injector, *, failure_policy: str = "Fail", url: str = "") -> dict[str, Any]:
    settings = manifests.Settings(failure_policy=failure_policy)  # type: ignore[arg-type]
    body = manifests.mutating_webhook_configuration(settings)
    return url_mode(body, url=url or injector.url, bundle=injector.ca_bundle)


@pytest.fixture(scope="module", autouse=True)
def installed(client: Client, injector: Injector) -> Iterator[None]:
    for name, labels in ((LABELLED, {"istio-injection": "enabled"}), (PLAIN, {})):
        client.create(
            cast(Namespace, Namespace.from_dict({"metadata": {"name": name, "labels": labels}}))
        )
        account = cast(ServiceAccount, ServiceAccount.from_dict({"metadata": {"name": "default"}}))
        client.create(account, namespace=name)
    install(client, webhooks(injector))
    validating = manifests.validating_webhook_configuration(manifests.Settings())
    install(client, url_mode(validating, url=injector.url, bundle=injector.ca_bundle))
    yield


def create_pod(
    client: Client,
    namespace: str,
    *,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    dry_run: bool = False,
) -> list[str]:
    pod = cast(
        Pod,
        Pod.from_dict(
            {
                "metadata": {
                    "name": f"app-{next(_names)}",
                    "labels": labels or {},
                    "annotations": annotations or {},
                },
                "spec": {
                    "containers": [{"name": "app", "image": "example.com/app:1"}],
                    # no token to mount: before 1.21 the ServiceAccount admission plugin waits
                    # for a token Secret that only a controller-manager (absent here) creates
                    "automountServiceAccountToken": False,
                },
            }
        ),
    )
    created = client.create(pod, namespace=namespace, dry_run=dry_run)
    assert created.spec is not None
    return [c.name for c in created.spec.containers]


def test_a_pod_in_a_labelled_namespace_is_injected(client: Client) -> None:
    assert "istio-proxy" in create_pod(client, LABELLED)


def test_a_pod_in_an_unlabelled_namespace_is_not(client: Client) -> None:
    assert create_pod(client, PLAIN) == ["app"]


def test_inject_false_is_honoured_as_label_and_as_annotation(client: Client) -> None:
    assert create_pod(client, LABELLED, labels={decision.INJECT_KEY: "false"}) == ["app"]
    assert create_pod(client, LABELLED, annotations={decision.INJECT_KEY: "false"}) == ["app"]


def test_server_side_dry_run_shows_the_injected_pod(client: Client) -> None:
    before = len(list(client.list(Pod, namespace=LABELLED)))
    assert "istio-proxy" in create_pod(client, LABELLED, dry_run=True)
    assert len(list(client.list(Pod, namespace=LABELLED))) == before


def test_the_validating_webhook_rejects_a_broken_config(client: Client) -> None:
    labels = {manifests.CONFIG_LABEL: "true", "istio.io/rev": "default"}
    broken = {"metadata": {"name": "broken", "labels": labels}, "data": {"config": "policy: ["}}
    with pytest.raises(ApiError) as refused:
        client.create(cast(ConfigMap, ConfigMap.from_dict(broken)), namespace=LABELLED)
    assert "denied the request" in str(refused.value)
    shipped = manifests.configmaps(manifests.Settings())[0]["data"]
    good = {"metadata": {"name": "good", "labels": labels}, "data": shipped}
    client.create(cast(ConfigMap, ConfigMap.from_dict(good)), namespace=LABELLED)


def test_check_reports_the_url_mode_installation(cluster: Cluster) -> None:
    args = ["check", "--kubeconfig", str(cluster.kubeconfig)]
    result = CliRunner().invoke(cli.app, args)
    assert "[ok] MutatingWebhookConfiguration istio-sidecar-injector: exists" in result.output
    assert f"labelled for injection: {LABELLED}" in result.output
    # url mode has no Service: check says so and exits 1.
    assert "[error] Service istio-system/sidecar-injector" in result.output
    assert result.exit_code == 1


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_a_dead_injector_blocks_or_lets_through_by_failure_policy(
    client: Client, injector: Injector, policy: str
) -> None:
    dead = f"https://127.0.0.1:{free_port()}"
    install(client, webhooks(injector, failure_policy=policy, url=dead))
    try:
        outcome = once_the_api_server_uses_it(lambda: _outcome(client))
        if policy == "Fail":
            assert "failed calling webhook" in outcome
        else:
            assert outcome == "app"
    finally:
        install(client, webhooks(injector))


def _outcome(client: Client) -> str:
    """What creating a pod gives: its containers, or the API server's refusal."""
    try:
        return ",".join(create_pod(client, LABELLED))
    except ApiError as refused:
        return str(refused)


def once_the_api_server_uses_it(attempt: Callable[[], str]) -> str:
    """The API server reads webhook configurations through an informer: a configuration just
    replaced may serve a few more requests the old way. Try until the old way (a sidecar)
    stops showing, for at most 10 s."""
    deadline = time.monotonic() + 10
    while True:
        outcome = attempt()
        if "istio-proxy" not in outcome or time.monotonic() > deadline:
            return outcome
        time.sleep(0.2)
