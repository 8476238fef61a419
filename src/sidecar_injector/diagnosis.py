"""`check`: what is wrong with the injector in a cluster, each finding with what to do.

Ordered like the pain points users report (reference §10): a missing or blank webhook
configuration, a `caBundle` that does not verify the serving certificate, no ready endpoints
while `failurePolicy: Fail` blocks pods, timeouts that eat the API server's budget, and
namespaces that are (or are not) labelled the way people think.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from lightkube import AsyncClient
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.core_v1 import ConfigMap, Endpoints, Pod, Secret
from lightkube.resources.policy_v1 import PodDisruptionBudget

from sidecar_injector import config, decision, errors, explanation, inject, kube, manifests, merge

Severity = Literal["ok", "warning", "error"]
EXPIRY_WARNING_DAYS = 30
TIMEOUT_BUDGET_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of `check`'s report."""

    severity: Severity
    subject: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"[{self.severity}] {self.subject}: {self.message}"
        return f"{text}; {self.hint}" if self.hint else text


@dataclass(frozen=True, slots=True)
class _Webhooks:
    hooks: list[dict[str, Any]]

    @property
    def failing_open(self) -> bool:
        """Whether a dead injector lets pods through uninjected (any webhook on `Ignore`)."""
        return any(h.get("failurePolicy") == "Ignore" for h in self.hooks)


async def diagnose(client: AsyncClient, *, names: manifests.Names) -> list[Finding]:
    """Every check, in order; a check that cannot run is itself a finding."""
    findings: list[Finding] = []
    webhooks = await _webhook_configuration(client, names=names, findings=findings)
    validating = await _webhook_configuration(
        client, names=names, findings=findings, kind="validating"
    )
    ready = await _endpoints(client, names=names, findings=findings, webhooks=webhooks)
    if webhooks is not None:
        findings += policy_findings(webhooks.hooks, ready=ready)
        findings += await _pdb(client, names=names, hooks=webhooks.hooks)
        every = [*webhooks.hooks, *(validating.hooks if validating is not None else [])]
        findings += await _certificate(client, names=names, hooks=every)
    by_default = webhooks is not None and _by_default(webhooks.hooks)
    labelled = await _namespaces(client, names=names, findings=findings, by_default=by_default)
    if labelled:
        findings.append(await _dry_run(client, namespace=labelled[0], webhooks=webhooks))
    return findings


async def _webhook_configuration(
    client: AsyncClient,
    *,
    names: manifests.Names,
    findings: list[Finding],
    kind: kube.WebhookKind = "mutating",
) -> _Webhooks | None:
    name = names.mutating if kind == "mutating" else names.validating
    subject = f"{kind.capitalize()}WebhookConfiguration {name}"
    try:
        found = await kube.get_webhook_configuration(client, kind=kind, name=name)
    except kube.KubeError as err:
        missing = (
            Finding("error", subject, str(err), "apply `sidecar-injector manifests` output")
            if kind == "mutating"
            else Finding(
                "warning",
                subject,
                f"{err}: a broken injector ConfigMap is stored unchecked",
                "apply `sidecar-injector manifests` output",
            )
        )
        findings.append(missing)
        return None
    hooks: list[dict[str, Any]] = found.to_dict().get("webhooks") or []
    findings.append(Finding("ok", subject, f"exists with {len(hooks)} webhook(s)"))
    blank = [str(h.get("name")) for h in hooks if not h.get("clientConfig", {}).get("caBundle")]
    if blank:
        findings.append(
            Finding(
                "error",
                subject,
                f"no caBundle in {', '.join(blank)}: the API server cannot verify the injector",
                "with --cert-mode self the injector patches it within seconds; otherwise "
                "re-apply with `manifests --ca-file`",
            )
        )
    return _Webhooks(hooks)


def policy_findings(hooks: list[dict[str, Any]], *, ready: int) -> list[Finding]:
    """failurePolicy against ready replicas, and the timeouts' share of the API server's budget."""
    findings: list[Finding] = []
    for hook in hooks:
        subject = f"webhook {hook.get('name')}"
        policy = hook.get("failurePolicy", "Fail")
        if policy == "Fail" and ready < 2:
            findings.append(
                Finding(
                    "warning",
                    subject,
                    f"failurePolicy Fail with {ready} ready injector endpoint(s): "
                    "pod creation stops whenever the injector restarts",
                    "run 2 or more replicas (`manifests --replicas`)",
                )
            )
        timeout = hook.get("timeoutSeconds") or 10
        if timeout > TIMEOUT_BUDGET_SECONDS // 2:
            findings.append(
                Finding(
                    "warning",
                    subject,
                    f"timeoutSeconds {timeout}: a slow injector holds pod creation that long "
                    "and leaves little of the API server's budget to other webhooks",
                    "use 3 (`manifests --timeout-seconds 3`)",
                )
            )
        if hook.get("sideEffects") not in ("None", "NoneOnDryRun"):
            findings.append(
                Finding(
                    "warning",
                    subject,
                    "sideEffects is not None: dry-run requests fail",
                    "set sideEffects: None (as `sidecar-injector manifests` does)",
                )
            )
    return findings


async def _endpoints(
    client: AsyncClient,
    *,
    names: manifests.Names,
    findings: list[Finding],
    webhooks: _Webhooks | None,
) -> int:
    subject = f"Service {names.namespace}/{names.app}"
    down = _when_down(webhooks)
    try:
        found = await client.get(Endpoints, name=names.app, namespace=names.namespace)
    except kube.TransportErrors as err:
        findings.append(
            Finding("error", subject, f"no endpoints: {err}; {down}", "is it deployed?")
        )
        return 0
    ready = sum(len(s.addresses or []) for s in found.subsets or [])
    if ready == 0:
        findings.append(
            Finding(
                "error",
                subject,
                f"no ready endpoints: every webhook call fails; {down}",
                f"kubectl -n {names.namespace} describe deploy {names.app}; look at /readyz",
            )
        )
    else:
        findings.append(Finding("ok", subject, f"{ready} ready endpoint(s)"))
    return ready


def _when_down(webhooks: _Webhooks | None) -> str:
    """What a dead injector does to pods, by failurePolicy."""
    if webhooks is not None and webhooks.failing_open:
        return (
            "failing open (failurePolicy Ignore): pods are created without sidecars; "
            "restart them once the injector is back (`check --proxy` lists them)"
        )
    return "pods in labelled namespaces are refused (failurePolicy Fail)"


PDB_V1BETA1 = create_namespaced_resource(
    "policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets"
)
"""Kubernetes 1.16 to 1.20 serve PodDisruptionBudget only as policy/v1beta1."""


async def _pdb(
    client: AsyncClient, *, names: manifests.Names, hooks: list[dict[str, Any]]
) -> list[Finding]:
    if all(h.get("failurePolicy") == "Ignore" for h in hooks):
        return []
    subject = f"PodDisruptionBudget {names.namespace}/{names.app}"
    for version, resource in (("policy/v1", PodDisruptionBudget), ("policy/v1beta1", PDB_V1BETA1)):
        try:
            await client.get(resource, name=names.app, namespace=names.namespace)
        except kube.TransportErrors as err:
            if kube.status_code(err) == 404:
                continue  # absent, or an API server that does not serve this version
            return [
                Finding(
                    "warning",
                    subject,
                    f"cannot read it: {err}",
                    "use a context that may get poddisruptionbudgets",
                )
            ]
        return [Finding("ok", subject, f"exists ({version})")]
    return [
        Finding(
            "warning",
            subject,
            "missing while failurePolicy is Fail: a node drain can stop all replicas",
            "apply the PodDisruptionBudget from `sidecar-injector manifests` "
            "(`--kubernetes-version 1.19` before Kubernetes 1.21)",
        )
    ]


async def _certificate(
    client: AsyncClient, *, names: manifests.Names, hooks: list[dict[str, Any]]
) -> list[Finding]:
    subject = f"Secret {names.namespace}/{names.tls_secret}"
    try:
        secret = await client.get(Secret, name=names.tls_secret, namespace=names.namespace)
        serving = base64.b64decode((secret.data or {})["tls.crt"])
    except (*kube.TransportErrors, KeyError, ValueError) as err:
        return [
            Finding(
                "warning",
                subject,
                f"cannot read the serving certificate: {err}",
                "check that the Secret exists and that you may read it (`kubectl get secret`)",
            )
        ]
    bundles: dict[str, list[str]] = {}
    for hook in hooks:
        bundle = hook.get("clientConfig", {}).get("caBundle") or ""
        if bundle:  # a blank one is already an error of its configuration
            bundles.setdefault(bundle, []).append(str(hook.get("name")))
    return bundle_findings(serving, bundles=bundles, hosts=manifests.service_hosts(names))


def certificate_findings(
    serving_pem: bytes,
    *,
    bundle: str,
    hosts: list[str],
    now: datetime.datetime | None = None,
) -> list[Finding]:
    """Whether `caBundle` verifies the serving certificate, its names, and days to expiry."""
    return bundle_findings(serving_pem, bundles={bundle: []}, hosts=hosts, now=now)


def bundle_findings(
    serving_pem: bytes,
    *,
    bundles: Mapping[str, list[str]],
    hosts: list[str],
    now: datetime.datetime | None = None,
) -> list[Finding]:
    """Whether each distinct `caBundle` (with the webhooks carrying it) verifies the serving
    certificate, its names, and days to expiry of it and of every CA: the API server calls each
    webhook with its own bundle, so one that does not verify fails that webhook's calls."""
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        cert = x509.load_pem_x509_certificate(serving_pem)
        parsed = {
            bundle: x509.load_pem_x509_certificates(base64.b64decode(bundle)) if bundle else []
            for bundle in bundles
        }
    except ValueError as err:
        return [
            Finding(
                "error",
                "certificate",
                f"cannot parse: {err}",
                "replace the Secret's tls.crt or the caBundle with PEM (`sidecar-injector certs`)",
            )
        ]
    alone = len(parsed) == 1
    findings = [
        _verified(cert, cas, webhooks=bundles[bundle], alone=alone)
        for bundle, cas in parsed.items()
    ]
    findings += _names(cert, hosts)
    expiring = {ca.fingerprint(hashes.SHA256()): ca for cas in parsed.values() for ca in cas}
    for label, item in [("serving certificate", cert), *(("CA", ca) for ca in expiring.values())]:
        days = (item.not_valid_after_utc - now).days
        severity: Severity = (
            "error" if days < 0 else "warning" if days < EXPIRY_WARNING_DAYS else "ok"
        )
        hint = "" if severity == "ok" else _renewal_hint(label)
        findings.append(Finding(severity, label, f"expires in {days} day(s)", hint))
    return findings


def _renewal_hint(label: str) -> str:
    if label == "CA":
        return (
            "make a new CA: with --cert-mode self delete the certificate Secret and restart the "
            "injector; otherwise `sidecar-injector certs` and re-apply with --ca-file"
        )
    return (
        "with --cert-mode self the injector renews it by itself (is it running?); otherwise "
        "issue a new one (`sidecar-injector certs`) and update the Secret"
    )


def _verified(
    cert: x509.Certificate, cas: list[x509.Certificate], *, webhooks: list[str], alone: bool
) -> Finding:
    """One bundle's verdict; `alone`: the only bundle, so the subject need not name webhooks."""
    subject = "caBundle" if alone or not webhooks else f"caBundle of {', '.join(webhooks)}"
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        carried = f" in {len(webhooks)} webhook(s)" if webhooks else ""
        return Finding("ok", subject, f"verifies the serving certificate ({ca.subject}){carried}")
    return Finding(
        "error",
        subject,
        "does not verify the serving certificate: calls fail with "
        "`x509: certificate signed by unknown authority`",
        "re-patch caBundle from the Secret's ca.crt, or restart the injector in --cert-mode self",
    )


def _names(cert: x509.Certificate, hosts: list[str]) -> list[Finding]:
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        present = set(sans.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        present = set()
    if hosts[0] in present:
        return []
    return [
        Finding(
            "error",
            "serving certificate",
            f"not valid for {hosts[0]} (has {', '.join(sorted(present)) or 'no DNS names'})",
            "make it with `sidecar-injector certs --service NAME --namespace NS`",
        )
    ]


async def _namespaces(
    client: AsyncClient, *, names: manifests.Names, findings: list[Finding], by_default: bool
) -> list[str]:
    try:
        labels = await kube.namespace_labels(client)
    except kube.TransportErrors as err:
        findings.append(
            Finding(
                "warning",
                "namespaces",
                f"cannot list: {err}",
                "`check` needs to list namespaces: use a context that may",
            )
        )
        return []
    labelled = labelled_namespaces(labels, revision=names.revision, by_default=by_default)
    if labelled:
        findings.append(
            Finding("ok", "namespaces", f"labelled for injection: {', '.join(labelled)}")
        )
    else:
        findings.append(
            Finding(
                "warning",
                "namespaces",
                "none is labelled for injection",
                "kubectl label namespace NAME istio-injection=enabled",
            )
        )
    return labelled


def _by_default(hooks: list[dict[str, Any]]) -> bool:
    """Whether the `auto.` webhook (`--enable-namespaces-by-default`) is installed."""
    return any(str(hook.get("name", "")).startswith("auto.") for hook in hooks)


def labelled_namespaces(
    labels: Mapping[str, Mapping[str, str]], *, revision: str, by_default: bool = False
) -> list[str]:
    """Namespaces where a pod without injection labels is injected: their labels select one of
    this revision's webhooks (reference §1.2; `by_default`: the `auto.` webhook is installed)."""
    return [
        name
        for name, found in sorted(labels.items())
        if name not in decision.IGNORED_NAMESPACES
        and explanation.calling_webhooks(
            namespace=name,
            namespace_labels=found,
            pod_labels={},
            revision=revision,
            namespaces_by_default=by_default,
        )
    ]


async def _dry_run(client: AsyncClient, *, namespace: str, webhooks: _Webhooks | None) -> Finding:
    """A pod created with `dryRun: All`: what the API server really does with the next pod."""
    subject = f"dry-run pod in {namespace}"
    pod = Pod(
        metadata=ObjectMeta(generateName="sidecar-injector-check-", namespace=namespace),
        spec=PodSpec(containers=[Container(name="check", image="busybox")]),
    )
    try:
        created = await client.create(pod, dry_run=True)
    except kube.TransportErrors as err:
        return Finding("error", subject, f"refused: {err}", "the webhook's answer is above")
    containers = [c.name for c in (created.spec.containers if created.spec else [])]
    if len(containers) > 1:
        return Finding("ok", subject, f"injected: containers {', '.join(containers)}")
    hint = f"run `sidecar-injector explain` for a pod in {namespace}"
    if webhooks is not None and webhooks.failing_open:
        hint = (
            "failurePolicy Ignore: if the API server could not call the injector, the webhook "
            f"is failing open and pods are created without sidecars (see the findings above); "
            f"otherwise {hint}"
        )
    return Finding("error", subject, "came back without a sidecar", hint)


# --- check --proxy --------------------------------------------------------------------------

PROXY = "istio-proxy"


async def proxy_findings(client: AsyncClient, *, names: manifests.Names) -> list[Finding]:
    """Pods in labelled namespaces whose sidecar is missing or not what the config injects now."""
    try:
        current = await _cluster_config(client, names=names)
        labels = await kube.namespace_labels(client)
    except (*kube.TransportErrors, errors.InjectorError) as err:
        return [
            Finding(
                "error",
                "proxies",
                f"cannot read the config or namespaces: {err}",
                "fix the injector ConfigMap, or use a context that may read it and list namespaces",
            )
        ]
    findings: list[Finding] = []
    webhooks = await _webhook_configuration(client, names=names, findings=[])
    by_default = webhooks is not None and _by_default(webhooks.hooks)
    for namespace in labelled_namespaces(labels, revision=names.revision, by_default=by_default):
        pods = [p.to_dict() async for p in client.list(Pod, namespace=namespace)]
        findings += sidecar_findings(pods, namespace=namespace, config=current)
    if not findings:
        findings.append(Finding("ok", "proxies", "every pod has the sidecar the config injects"))
    return findings


async def _cluster_config(client: AsyncClient, *, names: manifests.Names) -> config.Config:
    texts: dict[str, str] = {}
    for name in (names.injector_configmap, names.mesh_configmap):
        found = await client.get(ConfigMap, name=name, namespace=names.namespace)
        texts.update(found.data or {})
    where = f"ConfigMap {names.namespace}/{names.injector_configmap}"
    return config.load(
        config=texts.get("config"),
        values=texts.get("values"),
        mesh=texts.get("mesh"),
        sources=config.Sources(
            f"{where} data.config",
            f"{where} data.values",
            f"ConfigMap {names.namespace}/{names.mesh_configmap} data.mesh",
        ),
        revision=names.revision,
    )


def sidecar_findings(
    pods: list[dict[str, Any]], *, namespace: str, config: config.Config
) -> list[Finding]:
    """Per owner: pods the config would inject that have no sidecar, or a different one."""
    missing: dict[str, int] = {}
    stale: dict[str, set[str]] = {}
    findings: list[Finding] = []
    for pod in pods:
        owner = owner_of(pod, namespace=namespace)
        try:
            expected = inject.inject_pod(pod, namespace=namespace, config=config)
        except errors.InjectorError as err:
            findings.append(
                Finding(
                    "warning",
                    owner,
                    f"the current config fails on it: {err}",
                    "its next pod will be refused: fix the config or the pod's annotations",
                )
            )
            continue
        if not expected.decision.inject:
            continue
        if _proxy(pod) is None:
            missing[owner] = missing.get(owner, 0) + 1
            continue
        differences = _differences(pod, expected.pod)
        if differences:
            stale.setdefault(owner, set()).update(differences)
    for owner, count in sorted(missing.items()):
        findings.append(
            Finding(
                "error",
                owner,
                f"{count} pod(s) without a sidecar (created while the webhook failed open?)",
                "kubectl rollout restart it",
            )
        )
    for owner, what in sorted(stale.items()):
        findings.append(
            Finding(
                "warning",
                owner,
                f"stale sidecar, not what the config injects now: {', '.join(sorted(what))}",
                "kubectl rollout restart it",
            )
        )
    return findings


def owner_of(pod: Mapping[str, Any], *, namespace: str) -> str:
    """`Deployment ns/name` for a ReplicaSet's pod (by its pod-template-hash), else the owner."""
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or []
    if not owners:
        return f"Pod {namespace}/{metadata.get('name', '?')}"
    kind, name = owners[0].get("kind", "?"), owners[0].get("name", "?")
    suffix = f"-{(metadata.get('labels') or {}).get('pod-template-hash', '')}"
    if kind == "ReplicaSet" and suffix != "-" and name.endswith(suffix):
        kind, name = "Deployment", name.removesuffix(suffix)
    return f"{kind} {namespace}/{name}"


def _proxy(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = pod.get("spec") or {}
    for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
        if container.get("name") == PROXY:
            found: Mapping[str, Any] = container
            return found
    return None


def _differences(pod: Mapping[str, Any], expected: Mapping[str, Any]) -> set[str]:
    found: set[str] = set()
    have, want = _proxy(pod) or {}, _proxy(expected) or {}
    if have.get("image") != want.get("image"):
        found.add("image")
    status_now = ((pod.get("metadata") or {}).get("annotations") or {}).get(merge.STATUS_KEY)
    status_new = ((expected.get("metadata") or {}).get("annotations") or {}).get(merge.STATUS_KEY)
    if status_now != status_new:
        found.add("status annotation")
    return found
