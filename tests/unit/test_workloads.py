"""workloads: splitting, pod template location, pass-through, warnings and errors."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from sidecar_injector import errors, workloads


def unchanged(template: workloads.PodTemplate) -> workloads.Injected:
    return workloads.Injected(template.pod)


def labelled(template: workloads.PodTemplate) -> workloads.Injected:
    pod: dict[str, Any] = copy.deepcopy(template.pod)
    pod["metadata"].setdefault("labels", {})["injected"] = template.title
    return workloads.Injected(pod)


def docs(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
"""


class TestSplit:
    def test_separator_lines_end_documents_and_empty_documents_vanish(self) -> None:
        text = "---\na: 1\n--- # note\n---\nb: 2\n---   \n"
        split = workloads.split_documents(text)
        assert [(d.text, d.line, d.index) for d in split] == [("a: 1\n", 2, 1), ("b: 2\n", 5, 2)]

    def test_a_line_that_only_starts_with_dashes_is_content(self) -> None:
        text = "a: |\n  x\n---b\n"
        assert len(workloads.split_documents(text)) == 1

    def test_whitespace_after_the_last_separator_is_no_document(self) -> None:
        assert len(workloads.split_documents("a: 1\n---\n\n  \n")) == 1


class TestStream:
    def test_other_kinds_are_copied_byte_for_byte_and_followed_by_separators(self) -> None:
        service = 'kind: Service   # keep\napiVersion: v1\nmetadata: {name: "x"}\n'
        out = workloads.inject_stream(service + "---\n" + service, inject=labelled)
        assert out.text == service + "---\n" + service + "---\n"

    def test_a_last_document_without_newline_still_ends_its_line(self) -> None:
        out = workloads.inject_stream("kind: Service\nx: 1", inject=labelled)
        assert out.text == "kind: Service\nx: 1\n---\n"

    def test_workloads_are_re_marshalled_with_sorted_keys(self) -> None:
        out = workloads.inject_stream(DEPLOYMENT, inject=labelled)
        assert out.text.startswith("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n")
        (doc,) = docs(out.text)
        assert doc["spec"]["template"]["metadata"]["labels"] == {
            "app": "web",
            "injected": 'Deployment "shop/web"',
        }

    def test_any_api_version_of_a_known_kind_is_a_workload(self) -> None:
        text = DEPLOYMENT.replace("apps/v1", "extensions/v1beta1")
        (doc,) = docs(workloads.inject_stream(text, inject=labelled).text)
        assert "injected" in doc["spec"]["template"]["metadata"]["labels"]

    def test_the_pod_template_is_a_copy_the_injector_may_change(self) -> None:
        def vandal(template: workloads.PodTemplate) -> workloads.Injected:
            original = copy.deepcopy(template.pod)
            template.pod["spec"]["containers"].clear()
            return workloads.Injected(original)

        (doc,) = docs(workloads.inject_stream(DEPLOYMENT, inject=vandal).text)
        assert doc["spec"]["template"]["spec"]["containers"][0]["name"] == "web"

    def test_cronjob_pods_take_the_job_template_metadata_as_istio_does(self) -> None:
        text = """\
kind: CronJob
apiVersion: batch/v1
metadata: {name: tick}
spec:
  jobTemplate:
    metadata: {labels: {team: ops}}
    spec: {template: {metadata: {labels: {ignored: "yes"}}, spec: {containers: [{name: c}]}}}
"""
        (template,) = workloads.iter_pod_templates(text)
        assert template.pod["metadata"] == {"labels": {"team": "ops"}}
        (doc,) = docs(workloads.inject_stream(text, inject=labelled).text)
        assert doc["spec"]["jobTemplate"]["metadata"]["labels"]["injected"] == 'CronJob "tick"'
        assert doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"] == {
            "labels": {"ignored": "yes"}
        }

    def test_nulls_are_gone_before_the_injector_sees_the_pod(self) -> None:
        text = DEPLOYMENT.replace("labels: {app: web}", "labels: null, annotations: null")
        (template,) = workloads.iter_pod_templates(text)
        assert template.pod["metadata"] == {}

    def test_timestamps_stay_strings(self) -> None:
        text = DEPLOYMENT.replace("app: web}", "app: web}, annotations: {at: 2024-01-02}")
        (template,) = workloads.iter_pod_templates(text)
        assert template.pod["metadata"]["annotations"] == {"at": "2024-01-02"}

    def test_list_items_are_injected_recursively_and_others_kept(self) -> None:
        item = yaml.safe_load(DEPLOYMENT)
        service = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "s", "x": None}}
        nested = {"kind": "List", "apiVersion": "v1", "items": [item]}
        text = yaml.safe_dump({"kind": "List", "apiVersion": "v1", "items": [service, nested]})
        (doc,) = docs(workloads.inject_stream(text, inject=labelled).text)
        assert doc["metadata"] == {}
        assert doc["items"][0] == service
        inner = doc["items"][1]["items"][0]
        assert inner["spec"]["template"]["metadata"]["labels"]["injected"]

    def test_template_identity_for_deployment_meta(self) -> None:
        (template,) = workloads.iter_pod_templates(DEPLOYMENT)
        assert (template.kind, template.api_version, template.name, template.namespace) == (
            "Deployment",
            "apps/v1",
            "web",
            "shop",
        )
        assert template.document == 1

    def test_yaml_scalars_become_strings_where_go_has_a_string(self) -> None:
        """As `sigs.k8s.io/yaml` decodes into the Go types: args, env values, annotations and
        labels are strings; quantities and integer fields keep their numbers."""
        text = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
  annotations: {sidecar.istio.io/inject: true, prometheus.io/port: 8080}
spec:
  containers:
  - name: app
    args: [15000, true, ~, 1.5]
    env: [{name: MODE, value: 3}]
    ports: [{containerPort: 8080}]
    resources: {limits: {cpu: 2}}
"""
        (template,) = workloads.iter_pod_templates(text)
        annotations = template.pod["metadata"]["annotations"]
        assert annotations == {"sidecar.istio.io/inject": "true", "prometheus.io/port": "8080"}
        (container,) = template.pod["spec"]["containers"]
        assert container["args"] == ["15000", "true", "", "1.5"]
        assert container["env"] == [{"name": "MODE", "value": "3"}]
        assert container["ports"] == [{"containerPort": 8080}]
        assert container["resources"] == {"limits": {"cpu": 2}}


class TestGoZeroValues:
    def test_modern_form(self) -> None:
        (doc,) = docs(workloads.inject_stream(DEPLOYMENT, inject=unchanged).text)
        assert doc["spec"]["strategy"] == {} and doc["status"] == {}
        assert doc["spec"]["template"]["spec"]["containers"][0]["resources"] == {}
        assert "creationTimestamp" not in doc["metadata"]

    def test_legacy_form_prints_creation_timestamp_null_in_every_object_meta(self) -> None:
        out = workloads.inject_stream(DEPLOYMENT, inject=unchanged, era="legacy")
        (doc,) = docs(out.text)
        assert doc["metadata"]["creationTimestamp"] is None
        assert doc["spec"]["template"]["metadata"]["creationTimestamp"] is None

    @pytest.mark.parametrize(
        ("kind", "status"),
        [
            ("ReplicaSet", {"replicas": 0}),
            ("StatefulSet", {"replicas": 0, "availableReplicas": 0}),
            ("Job", {}),
            ("DaemonSet", {"currentNumberScheduled": 0, "numberMisscheduled": 0}),
        ],
    )
    def test_status_structs(self, kind: str, status: dict[str, int]) -> None:
        (doc,) = docs(
            workloads.inject_stream(DEPLOYMENT.replace("Deployment", kind), inject=unchanged).text
        )
        assert status.items() <= doc["status"].items()

    def test_omitempty_zeros_disappear(self) -> None:
        text = DEPLOYMENT.replace("spec:\n  template", "spec:\n  paused: false\n  template")
        (doc,) = docs(workloads.inject_stream(text, inject=unchanged).text)
        assert "paused" not in doc["spec"]


class TestWarnings:
    @pytest.mark.parametrize(
        ("skip", "why"),
        [
            ("hostNetwork", "has host networking enabled"),
            ("disabled", "has sidecar injection disabled"),
        ],
    )
    def test_skip_wording(self, skip: workloads.Skip, why: str) -> None:
        def skipper(template: workloads.PodTemplate) -> workloads.Injected:
            return workloads.Injected(template.pod, skipped=skip)

        out = workloads.inject_stream(DEPLOYMENT, inject=skipper)
        assert out.warnings == (f'===> Skipping injection because Deployment "shop/web" {why}',)

    def test_injector_warnings_name_the_workload(self) -> None:
        def warner(template: workloads.PodTemplate) -> workloads.Injected:
            return workloads.Injected(template.pod, warnings=("odd value",))

        out = workloads.inject_stream(DEPLOYMENT, inject=warner)
        assert out.warnings == ('Deployment "shop/web": odd value',)


class TestErrors:
    def error(self, text: str, inject: workloads.Injector = unchanged) -> str:
        with pytest.raises(workloads.WorkloadError) as caught:
            workloads.inject_stream(text, inject=inject, source="app.yaml")
        assert isinstance(caught.value, errors.InjectorError)
        message = str(caught.value)
        assert "\n" not in message
        return message

    def test_yaml_syntax_error_names_file_line_and_document(self) -> None:
        message = self.error("kind: Service\n---\nkind: Pod\nmetadata: [unclosed\n")
        assert message.startswith("app.yaml:5:1, document 2: YAML syntax error:")
        assert message.endswith("fix the YAML and run again")

    def test_a_workload_without_pod_template(self) -> None:
        message = self.error("kind: Deployment\nmetadata: {name: x}\nspec: {replicas: 1}\n")
        assert message == (
            "app.yaml, document 1, at /spec/template: spec.template is required value; "
            "a workload needs a pod template to inject into"
        )

    def test_a_cronjob_without_job_template(self) -> None:
        message = self.error("kind: CronJob\nspec: {schedule: x}\n")
        assert "spec.jobTemplate is required value" in message

    def test_a_list_item_without_kind(self) -> None:
        message = self.error("kind: List\nitems:\n- kind: Service\n- {metadata: {}}\n")
        assert message.startswith("app.yaml, document 1, at /items/1: a List item has no kind")

    def test_a_document_without_kind(self) -> None:
        assert "the object has no kind" in self.error("---\nmetadata: {name: x}\n")

    def test_a_document_that_is_not_a_mapping(self) -> None:
        assert "found a list" in self.error("- 1\n- 2\n")

    def test_a_spec_that_is_not_a_mapping(self) -> None:
        assert "spec is a str, not a mapping" in self.error("kind: Pod\nspec: nope\n")

    def test_injection_errors_gain_the_document_and_workload(self) -> None:
        def failing(template: workloads.PodTemplate) -> workloads.Injected:
            raise errors.InjectorError("bad annotation", hint="fix it")

        message = self.error("kind: Service\n---\n" + DEPLOYMENT, inject=failing)
        assert message == 'app.yaml, document 2: Deployment "shop/web": bad annotation; fix it'
