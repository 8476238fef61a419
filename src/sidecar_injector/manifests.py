"""Every object a cluster needs to run the injector, and the webhook configurations that call it.

The webhook's selectors are the first half of the injection decision (reference §1.2), so they
come from `explanation.webhooks`, the same table `explain` evaluates: what we deploy is what we
explain. Defaults lean towards a dead injector hurting as little as possible: two replicas and a
PodDisruptionBudget, a 3 s timeout instead of Kubernetes' 10 s, and in `self` certificate mode no
certificate or `caBundle` in the manifests at all (the injector makes and patches them), so
GitOps tools see no drift. What the API server defaults inside a list that `kubectl apply`
replaces whole (a webhook rule's `scope`) or under a `retainKeys` field (the Deployment's
`strategy.type`) is written out: otherwise every re-apply reports `configured`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal

import yaml

from sidecar_injector import __version__, decision, errors, explanation

Manifest = dict[str, Any]
CertMode = Literal["self", "cert-manager", "provided"]
WebhookStyle = Literal["istio", "legacy"]

APP = "sidecar-injector"
CONTAINER_PORT = 9443
DEFAULT_IMAGE = f"ghcr.io/sidecar-injector/sidecar-injector:{__version__}"
CONFIG_LABEL = "sidecar-injector.io/config"
TLS_DIR = "/etc/sidecar-injector/tls"
MESH_DIR = "/etc/istio/config"
STATE_DIR = "/var/run/sidecar-injector"
RUN_AS = 65532


class ManifestError(errors.InjectorError):
    """Settings that cannot make a working deployment."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What `sidecar-injector manifests` was asked for."""

    namespace: str = "istio-system"
    replicas: int = 2
    revision: str = ""
    image: str = DEFAULT_IMAGE
    namespaces_by_default: bool = False
    failure_policy: Literal["Fail", "Ignore"] = "Fail"
    timeout_seconds: int = 3
    reinvocation_policy: Literal["Never", "IfNeeded"] = "IfNeeded"
    cert_mode: CertMode = "self"
    webhook_style: WebhookStyle = "istio"
    create_namespace: bool = False
    match_conditions: bool = False
    events: bool = False
    kubernetes_version: str = ""
    """The oldest API server the objects must work on (`1.19`); empty: a current one."""
    ca_bundle: str = field(default="", repr=False)
    injection_config: str | None = field(default=None, repr=False)
    values: str | None = field(default=None, repr=False)
    mesh: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Names:
    """Object names for one revision; Istio's for the ConfigMaps and the webhook configuration."""

    namespace: str
    revision: str

    @property
    def suffix(self) -> str:
        return f"-{self.revision}" if self.revision else ""

    @property
    def app(self) -> str:
        return f"{APP}{self.suffix}"

    @property
    def tls_secret(self) -> str:
        return f"{self.app}-tls"

    @property
    def injector_configmap(self) -> str:
        return f"istio-sidecar-injector{self.suffix}"

    @property
    def mesh_configmap(self) -> str:
        return f"istio{self.suffix}"

    @property
    def mutating(self) -> str:
        extra = "" if self.namespace == "istio-system" else f"-{self.namespace}"
        return f"istio-sidecar-injector{self.suffix}{extra}"

    @property
    def validating(self) -> str:
        extra = "" if self.namespace == "istio-system" else f"-{self.namespace}"
        return f"istio-sidecar-injector-config{self.suffix}{extra}"


def names(settings: Settings) -> Names:
    return Names(settings.namespace, settings.revision)


def build(settings: Settings) -> list[Manifest]:
    """All objects, in the order `kubectl apply` can create them."""
    _check(settings)
    n = names(settings)
    objects: list[Manifest] = []
    if settings.create_namespace:
        objects.append(kube_object("v1", "Namespace", n.namespace, namespace=None))
    objects += [
        kube_object("v1", "ServiceAccount", n.app, namespace=n.namespace, labels=_labels(n)),
        *rbac(settings),
        *configmaps(settings),
        *cert_manager(settings),
        deployment(settings),
        disruption_budget(settings),
        service(settings),
        mutating_webhook_configuration(settings),
        validating_webhook_configuration(settings),
    ]
    return objects


def dump(objects: list[Manifest]) -> str:
    """A YAML stream, `---` between documents, keys in the order they were built."""
    return yaml.safe_dump_all(objects, sort_keys=False, default_flow_style=False, width=100)


POLICY_V1_MINOR = 21
"""PodDisruptionBudget is served as policy/v1 from Kubernetes 1.21 (policy/v1beta1 before)."""
MATCH_CONDITIONS_MINOR = 30
OLDEST_MINOR = 16
"""admissionregistration.k8s.io/v1, which every webhook configuration here uses."""


def server_minor(settings: Settings) -> int:
    """The minor version of `--kubernetes-version` (a large number for a current cluster)."""
    if not settings.kubernetes_version:
        return 1_000
    major, _, minor = settings.kubernetes_version.removeprefix("v").partition(".")
    if major != "1" or not minor.split(".")[0].isdigit():
        raise ManifestError(
            f"--kubernetes-version {settings.kubernetes_version!r} is not 1.MINOR",
            hint="e.g. --kubernetes-version 1.19",
        )
    return int(minor.split(".")[0])


def _check(settings: Settings) -> None:
    minor = server_minor(settings)
    if minor < OLDEST_MINOR:
        raise ManifestError(
            f"--kubernetes-version {settings.kubernetes_version}: the webhook configurations "
            f"need admissionregistration.k8s.io/v1, served from 1.{OLDEST_MINOR}"
        )
    if settings.match_conditions and minor < MATCH_CONDITIONS_MINOR:
        raise ManifestError(
            f"--match-conditions needs Kubernetes 1.{MATCH_CONDITIONS_MINOR}, not "
            f"{settings.kubernetes_version}",
            hint="leave --match-conditions out on older clusters",
        )
    if settings.replicas < 2:
        raise ManifestError(
            f"--replicas {settings.replicas}: the injector needs at least 2 replicas",
            hint="with one replica every restart blocks pod creation (failurePolicy Fail)",
        )
    if not 1 <= settings.timeout_seconds <= 30:
        raise ManifestError(
            f"--timeout-seconds {settings.timeout_seconds} is outside Kubernetes' 1..30"
        )
    if settings.cert_mode == "provided" and not settings.ca_bundle:
        raise ManifestError(
            "--cert-mode provided needs --ca-file: without it the webhooks get no caBundle "
            "and the API server cannot call the injector",
            hint="pass the CA that signed the serving certificate (`sidecar-injector certs` "
            "prints one), or use --cert-mode self",
        )
    if settings.ca_bundle and settings.cert_mode != "provided":
        raise ManifestError(
            f"a caBundle was given with --cert-mode {settings.cert_mode}",
            hint="only --cert-mode provided takes a CA file",
        )


def kube_object(
    api_version: str,
    kind: str,
    name: str,
    *,
    namespace: str | None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    metadata: Manifest = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = labels
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _selector_labels(n: Names) -> dict[str, str]:
    return {"app": APP, explanation.REV_LABEL: n.revision or "default"}


def _labels(n: Names) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/version": __version__,
        **_selector_labels(n),
    }


NODES_RULE: Manifest = {"apiGroups": [""], "resources": ["nodes"], "verbs": ["list"]}
"""The kubelet versions for `ENABLE_NATIVE_SIDECARS=auto`, as Istio reads them."""
EVENTS_RULE: Manifest = {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}
"""`--events`: Events on the pods' owners, in every namespace the webhook serves."""


def rbac(settings: Settings) -> list[Manifest]:
    """Least privilege: read its own ConfigMaps and list nodes (their kubelet versions); in
    `self` mode create, read and renew its Secret, and read and patch its two webhook
    configurations, each by name."""
    n = names(settings)
    rules: list[Manifest] = [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": [n.injector_configmap, n.mesh_configmap],
            "verbs": ["get", "list", "watch"],
        }
    ]
    if settings.cert_mode == "self":
        rules += [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "resourceNames": [n.tls_secret],
                "verbs": ["get", "update"],
            },
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
        ]
    subject = {"kind": "ServiceAccount", "name": n.app, "namespace": n.namespace}
    objects = bound_role("Role", n.app, namespace=n.namespace, rules=rules, subject=subject, n=n)
    cluster_rules: list[Manifest] = [NODES_RULE, *([EVENTS_RULE] if settings.events else [])]
    if settings.cert_mode == "self":
        cluster_rules += [
            {
                "apiGroups": ["admissionregistration.k8s.io"],
                "resources": [resource],
                "resourceNames": [name],
                "verbs": ["get", "patch"],
            }
            for resource, name in (
                ("mutatingwebhookconfigurations", n.mutating),
                ("validatingwebhookconfigurations", n.validating),
            )
        ]
    cluster_name = f"{n.app}-{n.namespace}"
    objects += bound_role(
        "ClusterRole", cluster_name, namespace=None, rules=cluster_rules, subject=subject, n=n
    )
    return objects


def bound_role(
    kind: Literal["Role", "ClusterRole"],
    name: str,
    *,
    namespace: str | None,
    rules: list[Manifest],
    subject: Manifest,
    n: Names,
) -> list[Manifest]:
    group = "rbac.authorization.k8s.io/v1"
    role = kube_object(group, kind, name, namespace=namespace, labels=_labels(n))
    role["rules"] = rules
    binding = kube_object(group, f"{kind}Binding", name, namespace=namespace, labels=_labels(n))
    binding["roleRef"] = {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}
    binding["subjects"] = [subject]
    return [role, binding]


def configmaps(settings: Settings) -> list[Manifest]:
    """The injector ConfigMap (`config`, `values`) and the mesh ConfigMap, embedded unless given;
    both labelled for the validating webhook, so a bad `mesh` edit is refused too."""
    n = names(settings)
    defaults = resources.files("sidecar_injector") / "defaults"

    def text(given: str | None, name: str) -> str:
        return given if given is not None else (defaults / name).read_text(encoding="utf-8")

    injector = kube_object(
        "v1",
        "ConfigMap",
        n.injector_configmap,
        namespace=n.namespace,
        labels={**_labels(n), CONFIG_LABEL: "true"},
    )
    injector["data"] = {
        "config": text(settings.injection_config, "config.yaml"),
        "values": text(settings.values, "values.yaml"),
    }
    mesh = kube_object(
        "v1",
        "ConfigMap",
        n.mesh_configmap,
        namespace=n.namespace,
        labels={**_labels(n), CONFIG_LABEL: "true"},
    )
    mesh["data"] = {"mesh": text(settings.mesh, "mesh.yaml")}
    return [injector, mesh]


def cert_manager(settings: Settings) -> list[Manifest]:
    """With cert-manager: a self-signed Issuer and the serving Certificate it keeps renewed."""
    if settings.cert_mode != "cert-manager":
        return []
    n = names(settings)
    issuer = kube_object("cert-manager.io/v1", "Issuer", n.app, namespace=n.namespace)
    issuer["spec"] = {"selfSigned": {}}
    certificate = kube_object("cert-manager.io/v1", "Certificate", n.app, namespace=n.namespace)
    certificate["spec"] = {
        "secretName": n.tls_secret,
        "dnsNames": service_hosts(n),
        "issuerRef": {"kind": "Issuer", "name": n.app},
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "duration": "2160h",
        "renewBefore": "720h",
    }
    return [issuer, certificate]


def service_hosts(n: Names) -> list[str]:
    """The DNS names the API server uses for the Service: the serving certificate's SANs."""
    return [f"{n.app}.{n.namespace}.svc", f"{n.app}.{n.namespace}.svc.cluster.local"]


def deployment(settings: Settings) -> Manifest:
    n = names(settings)
    volumes: list[Manifest] = [
        {"name": "mesh", "configMap": {"name": n.mesh_configmap}},
        {"name": "state", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    mounts: list[Manifest] = [
        {"name": "mesh", "mountPath": MESH_DIR, "readOnly": True},
        {"name": "state", "mountPath": STATE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if settings.cert_mode != "self":
        volumes.append({"name": "tls", "secret": {"secretName": n.tls_secret}})
        mounts.append({"name": "tls", "mountPath": TLS_DIR, "readOnly": True})
    body = kube_object("apps/v1", "Deployment", n.app, namespace=n.namespace, labels=_labels(n))
    body["spec"] = {
        "replicas": settings.replicas,
        "selector": {"matchLabels": _selector_labels(n)},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
        },
        "template": {
            "metadata": {
                "labels": {**_labels(n), decision.INJECT_KEY: "false"},
            },
            "spec": {
                "serviceAccountName": n.app,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": RUN_AS,
                    "runAsGroup": RUN_AS,
                    "fsGroup": RUN_AS,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "affinity": _anti_affinity(n),
                "terminationGracePeriodSeconds": 40,
                "containers": [_container(settings, mounts=mounts)],
                "volumes": volumes,
            },
        },
    }
    return body


def _anti_affinity(n: Names) -> Manifest:
    return {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {
                        "labelSelector": {"matchLabels": _selector_labels(n)},
                        "topologyKey": "kubernetes.io/hostname",
                    },
                }
            ]
        }
    }


def serve_args(settings: Settings) -> list[str]:
    """The injector's command line inside the cluster."""
    n = names(settings)
    args = [
        "serve",
        "--host=0.0.0.0",
        f"--port={CONTAINER_PORT}",
        f"--config-map={n.namespace}/{n.injector_configmap}",
        "--config-map-mode=watch",
        f"--mesh-config={MESH_DIR}/mesh",
        f"--state-dir={STATE_DIR}",
    ]
    if settings.revision:
        args.append(f"--revision={settings.revision}")
    if settings.events:
        args.append("--events")
    if settings.cert_mode == "self":
        args += [
            "--cert-mode=self",
            f"--cert-secret={n.namespace}/{n.tls_secret}",
            f"--webhook-configuration={n.mutating}",
            f"--validating-webhook-configuration={n.validating}",
            *(f"--cert-host={host}" for host in service_hosts(n)),
        ]
    else:
        args += [f"--tls-cert-file={TLS_DIR}/tls.crt", f"--tls-key-file={TLS_DIR}/tls.key"]
    return args


def _container(settings: Settings, *, mounts: list[Manifest]) -> Manifest:
    def probe(path: str, *, period: int, failures: int) -> Manifest:
        return {
            "httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
            "periodSeconds": period,
            "failureThreshold": failures,
            "timeoutSeconds": 2,
        }

    return {
        "name": APP,
        "image": settings.image,
        "imagePullPolicy": "IfNotPresent",
        "args": serve_args(settings),
        "ports": [{"name": "https", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "readinessProbe": probe("/readyz", period=3, failures=2),
        "livenessProbe": probe("/healthz", period=10, failures=3),
        "resources": {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"memory": "512Mi"},
        },
        "securityContext": restricted(),
        "volumeMounts": mounts,
    }


def restricted() -> Manifest:
    """The container security context of everything this project runs (the restricted profile);
    a new dict each time, so that no two objects share one (YAML would write an alias)."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def disruption_budget(settings: Settings) -> Manifest:
    n = names(settings)
    version = "policy/v1beta1" if server_minor(settings) < POLICY_V1_MINOR else "policy/v1"
    body = kube_object(version, "PodDisruptionBudget", n.app, namespace=n.namespace)
    body["metadata"]["labels"] = _labels(n)
    body["spec"] = {"minAvailable": 1, "selector": {"matchLabels": _selector_labels(n)}}
    return body


def service(settings: Settings) -> Manifest:
    n = names(settings)
    body = kube_object("v1", "Service", n.app, namespace=n.namespace, labels=_labels(n))
    body["spec"] = {
        "selector": _selector_labels(n),
        "ports": [{"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}],
    }
    return body


def _client_config(settings: Settings, *, path: str) -> Manifest:
    n = names(settings)
    client: Manifest = {
        "service": {"name": n.app, "namespace": n.namespace, "path": path, "port": 443}
    }
    if settings.cert_mode == "provided" and settings.ca_bundle:
        client["caBundle"] = settings.ca_bundle
    return client


def _ca_annotations(settings: Settings) -> dict[str, str] | None:
    if settings.cert_mode != "cert-manager":
        return None
    n = names(settings)
    return {"cert-manager.io/inject-ca-from": f"{n.namespace}/{n.app}"}


def mutating_webhook_configuration(settings: Settings) -> Manifest:
    n = names(settings)
    body = kube_object(
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        n.mutating,
        namespace=None,
        labels=_labels(n),
        annotations=_ca_annotations(settings),
    )
    body["webhooks"] = [_webhook(settings, name, ns, pod) for name, ns, pod in _selectors(settings)]
    return body


Selectors = tuple[str, Manifest, Manifest | None]


def _selectors(settings: Settings) -> Iterator[Selectors]:
    if settings.webhook_style == "legacy":
        yield _legacy_selectors(settings)
        return
    hooks = explanation.webhooks(
        revision=settings.revision, namespaces_by_default=settings.namespaces_by_default
    )
    for hook in hooks:
        yield hook.name, _expressions(hook.namespace), _expressions(hook.pod)


def _legacy_selectors(settings: Settings) -> Selectors:
    """The 1.0 chart: a namespace label only, no objectSelector."""
    key = explanation.NS_INJECT_LABEL
    if settings.namespaces_by_default:
        ns: Manifest = {
            "matchExpressions": [{"key": key, "operator": "NotIn", "values": ["disabled"]}]
        }
    else:
        ns = {"matchLabels": {key: "enabled"}}
    prefix = f"{settings.revision}." if settings.revision else ""
    return f"{prefix}sidecar-injector.istio.io", ns, None


def _expressions(requirements: tuple[tuple[str, str, tuple[str, ...]], ...]) -> Manifest:
    expressions: list[Manifest] = []
    for key, operator, values in requirements:
        entry: Manifest = {"key": key, "operator": operator}
        if values:
            entry["values"] = list(values)
        expressions.append(entry)
    return {"matchExpressions": expressions}


def _webhook(
    settings: Settings, name: str, namespace_selector: Manifest, object_selector: Manifest | None
) -> Manifest:
    hook: Manifest = {
        "name": name,
        "clientConfig": _client_config(settings, path="/inject"),
        "rules": [
            {
                "operations": ["CREATE"],
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "resources": ["pods"],
                "scope": "*",
            }
        ],
        "failurePolicy": settings.failure_policy,
        "matchPolicy": "Equivalent",
        "sideEffects": "None",
        "admissionReviewVersions": ["v1", "v1beta1"],
        "timeoutSeconds": settings.timeout_seconds,
        "reinvocationPolicy": settings.reinvocation_policy,
        "namespaceSelector": namespace_selector,
    }
    if object_selector is not None:
        hook["objectSelector"] = object_selector
    if settings.match_conditions:
        hook["matchConditions"] = match_conditions()
    return hook


def match_conditions() -> list[Manifest]:
    """CEL for Kubernetes >= 1.30: skip the call for pods the injector would skip anyway.

    A pod that is never called for cannot be blocked by a dead injector.
    """
    ignored = ", ".join(f"'{ns}'" for ns in sorted(decision.IGNORED_NAMESPACES))
    return [
        {
            "name": "not-host-network",
            "expression": "!has(object.spec.hostNetwork) || !object.spec.hostNetwork",
        },
        {
            "name": "not-ignored-namespace",
            "expression": f"!(request.namespace in [{ignored}])",
        },
    ]


def validating_webhook_configuration(settings: Settings) -> Manifest:
    """Refuses an injector or mesh ConfigMap (those labelled `sidecar-injector.io/config`) that
    would not load, before it is stored.

    `Ignore` on failure: a down injector must not stop anyone repairing its config.
    """
    n = names(settings)
    body = kube_object(
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        n.validating,
        namespace=None,
        labels=_labels(n),
        annotations=_ca_annotations(settings),
    )
    body["webhooks"] = [
        {
            "name": "config.validation.sidecar-injector.istio.io",
            "clientConfig": _client_config(settings, path="/validate"),
            "rules": [
                {
                    "operations": ["CREATE", "UPDATE"],
                    "apiGroups": [""],
                    "apiVersions": ["v1"],
                    "resources": ["configmaps"],
                    "scope": "*",
                }
            ],
            "failurePolicy": "Ignore",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1", "v1beta1"],
            "timeoutSeconds": settings.timeout_seconds,
            "objectSelector": {
                "matchLabels": {
                    CONFIG_LABEL: "true",
                    explanation.REV_LABEL: n.revision or "default",
                }
            },
        }
    ]
    return body


def kustomize_base(settings: Settings, *, extra: Sequence[Manifest] = ()) -> dict[str, str]:
    """The files of a kustomize base: one YAML per object (`extra` ones after those of
    `build`), and the kustomization listing them."""
    files: dict[str, str] = {}
    for item in [*build(settings), *extra]:
        stem = f"{item['kind'].lower()}-{item['metadata']['name']}.yaml"
        files[stem] = yaml.safe_dump(item, sort_keys=False, default_flow_style=False, width=100)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": list(files),
    }
    header = "# Generated by `sidecar-injector manifests --kustomize deploy`; do not edit.\n"
    files["kustomization.yaml"] = header + yaml.safe_dump(kustomization, sort_keys=False)
    return files
