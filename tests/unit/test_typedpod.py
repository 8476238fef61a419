"""The merged pod in the form Go's corev1.Pod round trip gives it."""

from __future__ import annotations

from sidecar_injector import typedpod


def test_quantities_are_canonical_wherever_resources_appear() -> None:
    pod = {
        "spec": {
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2000m"}}}],
            "containers": [
                {"name": "c", "resources": {"limits": {"memory": "1024Mi", "cpu": 1.5}}}
            ],
        }
    }
    typedpod.normalize(pod)
    assert pod["spec"]["initContainers"][0]["resources"] == {"requests": {"cpu": "2"}}
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"memory": "1Gi", "cpu": "1500m"}
    }


def test_omitempty_zero_scalars_go_and_pointers_and_required_fields_stay() -> None:
    container = {
        "name": "c",
        "image": "",
        "readinessProbe": {"exec": {"command": ["x"]}, "initialDelaySeconds": 0},
        "ports": [{"containerPort": 0, "hostPort": 0, "protocol": "TCP"}],
        "securityContext": {"runAsUser": 0, "privileged": False},
        "stdin": False,
    }
    pod = {"metadata": {"name": "", "generation": 0}, "spec": {"containers": [container]}}
    typedpod.normalize(pod)
    assert pod["metadata"] == {}
    assert container == {
        "name": "c",
        "readinessProbe": {"exec": {"command": ["x"]}},
        "ports": [{"containerPort": 0, "protocol": "TCP"}],
        "securityContext": {"runAsUser": 0, "privileged": False},
    }


def test_fields_not_in_the_table_and_odd_values_pass_through() -> None:
    pod = {
        "spec": {
            "containers": [{"name": "c", "futureField": 0, "resources": {"limits": {"x": "bad"}}}],
            "someday": "",
        }
    }
    typedpod.normalize(pod)
    assert pod == {
        "spec": {
            "containers": [{"name": "c", "futureField": 0, "resources": {"limits": {"x": "bad"}}}],
            "someday": "",
        }
    }
