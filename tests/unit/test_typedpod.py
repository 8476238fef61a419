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
    pod = typedpod.normalized(pod)
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
    pod = typedpod.normalized(
        {"metadata": {"name": "", "generation": 0}, "spec": {"containers": [container]}}
    )
    assert pod["metadata"] == {}
    assert pod["spec"]["containers"][0] == {
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
    assert typedpod.normalized(pod) is pod
    assert pod == {
        "spec": {
            "containers": [{"name": "c", "futureField": 0, "resources": {"limits": {"x": "bad"}}}],
            "someday": "",
        }
    }


def test_only_what_changes_is_copied_and_the_input_is_left_alone() -> None:
    app = {"name": "app", "ports": [{"containerPort": 80}]}
    proxy = {"name": "p", "resources": {"limits": {"cpu": "1000m"}}}
    pod = {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [app, proxy]}}
    typed = typedpod.normalized(pod)
    assert typed["spec"]["containers"] == [
        app,
        {"name": "p", "resources": {"limits": {"cpu": "1"}}},
    ]
    assert typed["metadata"] is pod["metadata"]
    assert typed["spec"]["containers"][0] is app
    assert proxy == {"name": "p", "resources": {"limits": {"cpu": "1000m"}}}


def test_parts_taken_from_the_typed_pod_before_are_not_walked_again() -> None:
    before = typedpod.normalized({"spec": {"containers": [{"name": "app", "stdin": False}]}})
    app = before["spec"]["containers"][0]
    untouched = {"name": "odd", "stdin": False}
    before["spec"]["containers"].append(untouched)  # a typed pod holds no such field
    proxy = {"name": "p", "stdin": False}
    after = {"spec": {"containers": [proxy, app, untouched]}}
    typed = typedpod.normalized(after, since=before)
    assert typed["spec"]["containers"] == [{"name": "p"}, app, untouched]
