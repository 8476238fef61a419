"""The kube-inject, uninject and explain commands: exit status, streams, atomic output, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sidecar_injector import cli

DEFAULTS = Path(cli.__file__).parent / "defaults"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]
"""
SERVICE = "# keep me\nkind: Service\napiVersion: v1\nmetadata: {name: web}\n"
HOST_NETWORK = DEPLOYMENT.replace("containers:", "hostNetwork: true\n      containers:")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text((DEFAULTS / "config.yaml").read_text())
    return path


def kube_inject(runner: CliRunner, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(cli.app, ["kube-inject", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


class TestKubeInject:
    def test_stdin_to_stdout_with_pass_through(self, runner: CliRunner, config_file: Path) -> None:
        code, out, err = kube_inject(
            runner,
            "-f",
            "-",
            "--injectConfigFile",
            str(config_file),
            stdin=SERVICE + "---\n" + DEPLOYMENT,
        )
        assert (code, err) == (0, "")
        assert out.startswith(SERVICE + "---\n")
        docs = [d for d in yaml.safe_load_all(out) if d]
        names = [c["name"] for c in docs[1]["spec"]["template"]["spec"]["containers"]]
        names += [c["name"] for c in docs[1]["spec"]["template"]["spec"].get("initContainers", [])]
        assert "istio-proxy" in names
        assert out.endswith("---\n")

    def test_output_file_and_skip_warning_on_stderr(
        self, runner: CliRunner, config_file: Path, tmp_path: Path
    ) -> None:
        source = tmp_path / "in.yaml"
        source.write_text(HOST_NETWORK)
        target = tmp_path / "out.yaml"
        code, out, err = kube_inject(
            runner, "-f", str(source), "-o", str(target), "--injectConfigFile", str(config_file)
        )
        assert (code, out) == (0, "")
        assert err == (
            '\n===> Skipping injection because Deployment "shop/web" has host networking enabled\n'
        )
        (doc,) = [d for d in yaml.safe_load_all(target.read_text()) if d]
        assert doc["spec"]["template"]["spec"]["hostNetwork"] is True
        assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "in.yaml", "out.yaml"]

    def test_a_failure_leaves_the_output_file_alone(
        self, runner: CliRunner, config_file: Path, tmp_path: Path
    ) -> None:
        source = tmp_path / "in.yaml"
        source.write_text(DEPLOYMENT + "---\nkind: Deployment\nspec: {}\n")
        target = tmp_path / "out.yaml"
        target.write_text("previous\n")
        code, out, err = kube_inject(
            runner, "-f", str(source), "-o", str(target), "--injectConfigFile", str(config_file)
        )
        assert code == 1 and out == ""
        assert err == (
            f"sidecar-injector: error: {source}, document 2, at /spec/template: spec.template is "
            "required value; a workload needs a pod template to inject into\n"
        )
        assert target.read_text() == "previous\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "in.yaml", "out.yaml"]

    def test_yaml_syntax_error_is_one_line(self, runner: CliRunner, config_file: Path) -> None:
        code, out, err = kube_inject(
            runner, "-f", "-", "--injectConfigFile", str(config_file), stdin="kind: [oops\n"
        )
        assert code == 1 and out == ""
        assert err.startswith("sidecar-injector: error: <stdin>:")
        assert err.count("\n") == 1 and "YAML syntax error" in err

    def test_missing_input_file(self, runner: CliRunner, config_file: Path, tmp_path: Path) -> None:
        code, _, err = kube_inject(
            runner, "-f", str(tmp_path / "nope.yaml"), "--injectConfigFile", str(config_file)
        )
        assert code == 1 and "cannot read the manifest" in err

    def test_cluster_mode_without_kubeconfig_says_what_to_do(
        self, runner: CliRunner, tmp_path: Path
    ) -> None:
        missing = tmp_path / "kubeconfig"
        code, out, err = kube_inject(
            runner, "-f", "-", "--kubeconfig", str(missing), stdin=DEPLOYMENT
        )
        assert code == 1 and out == ""
        assert err.startswith("sidecar-injector: error: cannot use the kubeconfig: ")
        assert err.endswith("check --kubeconfig/--context, or pass --injectConfigFile\n")

    def test_bad_config_file(self, runner: CliRunner, tmp_path: Path) -> None:
        bad = tmp_path / "bad.yaml"
        bad.write_text("policy: sometimes\ntemplates: {sidecar: x}\n")
        code, _, err = kube_inject(
            runner, "-f", "-", "--injectConfigFile", str(bad), stdin=DEPLOYMENT
        )
        assert code == 1
        assert err.startswith("sidecar-injector: error: ") and err.count("\n") == 1


class TestUninject:
    def test_round_trip_gives_back_the_meaning(self, runner: CliRunner, config_file: Path) -> None:
        _, injected, _ = kube_inject(
            runner, "-f", "-", "--injectConfigFile", str(config_file), stdin=DEPLOYMENT
        )
        result = runner.invoke(cli.app, ["uninject", "-f", "-"], input=injected)
        assert result.exit_code == 0
        (doc,) = [d for d in yaml.safe_load_all(result.stdout) if d]
        original = yaml.safe_load(DEPLOYMENT)
        assert doc["spec"]["template"]["spec"]["containers"] == [
            {**original["spec"]["template"]["spec"]["containers"][0], "resources": {}}
        ]
        assert "initContainers" not in doc["spec"]["template"]["spec"]
        assert "sidecar.istio.io/status" not in (
            doc["spec"]["template"]["metadata"].get("annotations") or {}
        )


class TestExplain:
    def test_json(self, runner: CliRunner) -> None:
        result = runner.invoke(
            cli.app,
            ["explain", "-f", "-", "--namespace-labels", "istio-injection=enabled", "-o", "json"],
            input=DEPLOYMENT + "---\n" + SERVICE,
        )
        assert result.exit_code == 0, result.stderr
        (answer,) = json.loads(result.stdout)
        assert answer["workload"] == 'Deployment "shop/web"'
        assert answer["inject"] is True
        assert answer["templates"]

    def test_table(self, runner: CliRunner) -> None:
        result = runner.invoke(
            cli.app, ["explain", "-f", "-", "--namespace-labels", ""], input=DEPLOYMENT
        )
        assert result.exit_code == 0
        assert "=> NOT INJECTED (noWebhookMatches)" in result.stdout

    def test_bad_namespace_labels(self, runner: CliRunner) -> None:
        result = runner.invoke(
            cli.app, ["explain", "-f", "-", "--namespace-labels", "oops"], input=DEPLOYMENT
        )
        assert result.exit_code == 1
        assert "'oops' is not key=value" in result.stderr


class TestRender:
    def test_prints_each_template_under_its_workload(self, runner: CliRunner) -> None:
        result = runner.invoke(cli.app, ["render", "-f", "-"], input=DEPLOYMENT + "---\n" + SERVICE)
        assert result.exit_code == 0, result.stderr
        head, _, body = result.stdout.partition("\n")
        assert head == '# template: sidecar (Deployment "shop/web")'
        overlay = yaml.safe_load(body)
        assert "istio-proxy" in str(overlay["spec"])

    def test_a_skipped_pod_is_reported_on_stderr(self, runner: CliRunner) -> None:
        result = runner.invoke(cli.app, ["render", "-f", "-"], input=HOST_NETWORK)
        assert result.exit_code == 0
        assert result.stdout == ""
        assert result.stderr.startswith('Deployment "shop/web": not injected: ')

    @pytest.mark.parametrize(
        "annotation",
        [
            "traffic.sidecar.istio.io/includeOutboundIPRanges: '300.0.0.0/8'",
            "proxy.istio.io/config: 'a: [1'",
        ],
    )
    def test_a_bad_annotation_is_one_line_with_the_document(
        self, runner: CliRunner, annotation: str
    ) -> None:
        bad = DEPLOYMENT.replace(
            "metadata: {labels: {app: web}}",
            "metadata: {labels: {app: web}, annotations: {" + annotation + "}}",
        )
        result = runner.invoke(cli.app, ["render", "-f", "-"], input=SERVICE + "---\n" + bad)
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith(
            'sidecar-injector: error: <stdin>, document 2: Deployment "shop/web": '
        )
        assert result.stderr.count("\n") == 1
