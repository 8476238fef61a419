"""What a new user of the CLI meets first: which config kube-inject takes without files, istioctl's
short flags, help at 80 columns, --version, -h and completion, errors about files in our words,
pods that can never be valid, duplicate keys, `serve` on a busy port and the uninject round trip.

Help and completion run the real entry point (`python -m sidecar_injector`) in a subprocess, as
a terminal or a pipe to `less` would; the rest goes through the Typer app like the other CLI
tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from sidecar_injector import __version__, cli

DEFAULT_CONFIG = Path(cli.__file__).parent / "defaults" / "config.yaml"
POD = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: web, image: nginx}]
"""
TEMPLATE = """\
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres}]
"""
APPS = "apiVersion: apps/v1\nkind: {}\nmetadata: {{name: db}}\nspec:\n"
WORKLOADS = {
    "StatefulSet": APPS.format("StatefulSet") + "  serviceName: db\n" + TEMPLATE,
    "DaemonSet": APPS.format("DaemonSet") + TEMPLATE,
    "Deployment": APPS.format("Deployment") + TEMPLATE,
    "ReplicationController": "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: db}\n"
    "spec:\n  selector: {app: db}\n" + TEMPLATE.split("\n", 1)[1],
}


def run(*args: str, stdin: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli.app, list(args), input=stdin, env=env)


def command(*args: str, columns: int = 80, **extra_env: str) -> subprocess.CompletedProcess[str]:
    """The entry point as a shell runs it, its output a pipe."""
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", **extra_env}
    return subprocess.run(
        [sys.executable, "-m", "sidecar_injector", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def containers(text: str) -> list[str]:
    (doc,) = [d for d in yaml.safe_load_all(text) if d]
    spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
    return [c["name"] for c in spec.get("initContainers", []) + spec["containers"]]


def dead_kubeconfig(path: Path) -> Path:
    """A kubeconfig whose API server is a closed port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


class TestConfigWithoutFiles:
    def test_no_kubeconfig_at_all_injects_with_the_embedded_default_and_says_so(
        self, tmp_path: Path
    ) -> None:
        env = {"KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}
        result = run("kube-inject", "-f", "-", stdin=POD, env=env)
        assert result.exit_code == 0, result.stderr
        assert "istio-proxy" in containers(result.stdout)
        assert "no --injectConfigFile and no cluster" in result.stderr
        assert result.stderr.rstrip().endswith("using the embedded default config")

    def test_a_found_kubeconfig_whose_cluster_is_down_falls_back_too(self, tmp_path: Path) -> None:
        env = {"KUBECONFIG": str(dead_kubeconfig(tmp_path / "kubeconfig"))}
        result = run("kube-inject", "-f", "-", stdin=POD, env=env)
        assert result.exit_code == 0, result.stderr
        assert "the cluster did not answer" in result.stderr
        assert "using the embedded default config" in result.stderr

    def test_a_named_kubeconfig_must_answer(self, tmp_path: Path) -> None:
        dead = dead_kubeconfig(tmp_path / "kubeconfig")
        result = run("kube-inject", "-f", "-", "-c", str(dead), stdin=POD)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("sidecar-injector: error: cannot read ConfigMap ")
        assert "embedded" not in result.stderr

    def test_the_help_says_which_config_is_used(self) -> None:
        help_text = " ".join(command("kube-inject", "--help").stdout.split())
        assert "else, when no kubeconfig is found or its cluster does not answer, the" in help_text
        assert "embedded default, said on stderr" in help_text


class TestIstioctlHabits:
    def test_short_c_is_the_kubeconfig(self, tmp_path: Path) -> None:
        missing = tmp_path / "nope"
        for args in (["kube-inject", "-f", "-"], ["explain", "pod/web"]):
            result = run(*args, "-c", str(missing), stdin=POD)
            assert result.exit_code == 1
            assert "cannot use the kubeconfig" in result.stderr

    def test_short_i_and_r_name_the_configmaps(self, tmp_path: Path) -> None:
        dead = dead_kubeconfig(tmp_path / "kubeconfig")
        result = run("kube-inject", "-f", "-", "-c", str(dead), "-i", "mesh", "-r", "canary")
        assert "ConfigMap mesh/istio-sidecar-injector-canary" in result.stderr


COMMANDS = [
    [],
    ["kube-inject"],
    ["uninject"],
    ["explain"],
    ["render"],
    ["serve"],
    ["manifests"],
    ["certs"],
    ["check"],
    ["template", "render"],
]


class TestHelp:
    @pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "root")
    def test_fits_80_columns_and_cuts_nothing(self, args: list[str]) -> None:
        shown = command(*args, "--help")
        assert shown.returncode == 0, shown.stderr
        too_wide = [line for line in shown.stdout.splitlines() if len(line) > 80]
        assert too_wide == []
        assert "…" not in shown.stdout
        assert shown.stdout.startswith("Usage: sidecar-injector")

    def test_serve_shows_every_option_whole(self) -> None:
        shown = command("serve", "--help").stdout
        for option in ("--tls-cert-file, --tlsCertFile", "--tls-key-file, --tlsKeyFile"):
            assert option in shown
        assert "SIDECAR_INJECTOR_TLS_CERT_FILE" in shown

    def test_h_is_help(self) -> None:
        assert command("kube-inject", "-h").stdout == command("kube-inject", "--help").stdout

    def test_version(self) -> None:
        shown = command("--version")
        assert (shown.returncode, shown.stdout) == (0, f"{__version__}\n")

    def test_bash_completion_script(self) -> None:
        # Without a shell among its ancestors (CI, pytest workers) typer detects none; this
        # typer switch makes it take the shell named on the command line instead.
        shown = command(
            "--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1"
        )
        assert shown.returncode == 0, shown.stderr
        assert "_SIDECAR_INJECTOR_COMPLETE=complete_bash" in shown.stdout
        assert shown.stdout.rstrip().endswith("sidecar-injector")


class TestFileErrors:
    @pytest.mark.parametrize("subcommand", ["kube-inject", "uninject", "explain", "render"])
    def test_a_missing_manifest(self, subcommand: str, tmp_path: Path) -> None:
        missing = tmp_path / "app.yaml"
        result = run(subcommand, "-f", str(missing))
        assert result.exit_code == 1
        assert result.stderr == (
            f"sidecar-injector: error: {missing}: cannot read the manifest: "
            "no such file or directory; check the path\n"
        )

    def test_a_directory(self, tmp_path: Path) -> None:
        result = run("uninject", "-f", str(tmp_path))
        assert result.stderr == (
            f"sidecar-injector: error: {tmp_path}: cannot read the manifest: "
            "it is a directory, not a file; check the path\n"
        )

    def test_not_utf8_from_a_file_and_from_stdin(self, tmp_path: Path) -> None:
        latin = tmp_path / "app.yaml"
        latin.write_bytes(b"\x98kind: Pod\n")
        from_file = run("uninject", "-f", str(latin))
        assert from_file.stderr == (
            f"sidecar-injector: error: {latin}: the manifest is not UTF-8 text "
            "(byte 0x98 at offset 0); save it as UTF-8\n"
        )
        from_stdin = run("uninject", "-f", "-", stdin=b"kind: Pod\n\xff")
        assert from_stdin.exit_code == 1
        assert from_stdin.stderr.startswith("sidecar-injector: error: <stdin>: the manifest is not")

    def test_output_into_a_missing_folder(self, tmp_path: Path) -> None:
        target = tmp_path / "no" / "out.yaml"
        args = ["kube-inject", "-f", "-", "-o", str(target), "--injectConfigFile"]
        result = run(*args, str(DEFAULT_CONFIG), stdin=POD)
        assert result.exit_code == 1
        assert result.stderr == (
            f"sidecar-injector: error: {target}: cannot write the output in {target.parent}: "
            "no such file or directory; -o needs an existing folder you can write to\n"
        )

    def test_template_render_files(self, tmp_path: Path) -> None:
        missing = run("template", "render", str(tmp_path / "t.tmpl"))
        assert missing.stderr == (
            f"sidecar-injector: error: {tmp_path / 't.tmpl'}: cannot read the template: "
            "no such file or directory; check the path\n"
        )
        template = tmp_path / "t.tmpl"
        template.write_text("{{ .a }}")
        data = tmp_path / "d.json"
        data.write_text("{")
        broken = run("template", "render", str(template), "--data", str(data))
        assert broken.stderr.startswith(f"sidecar-injector: error: {data}: Expecting ")

    @pytest.mark.parametrize("result_of", ["kube-inject", "uninject"])
    def test_no_python_words(self, result_of: str, tmp_path: Path) -> None:
        result = run(result_of, "-f", str(tmp_path / "x.yaml"))
        assert "Errno" not in result.stderr and "codec" not in result.stderr
        assert "Traceback" not in result.output


class TestInvalidInput:
    @pytest.mark.parametrize(
        ("manifest", "pointer"),
        [
            ("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "/spec/containers"),
            (
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: []}\n",
                "/spec/containers",
            ),
            (
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n"
                "spec: {template: {spec: {}}}\n",
                "/spec/template/spec/containers",
            ),
        ],
    )
    def test_a_pod_without_containers_is_refused(self, manifest: str, pointer: str) -> None:
        for args in (["kube-inject", "--injectConfigFile", str(DEFAULT_CONFIG)], ["render"]):
            result = run(*args, "-f", "-", stdin=manifest)
            assert result.exit_code == 1
            assert result.stdout == ""
            assert result.stderr == (
                f"sidecar-injector: error: <stdin>, document 1, at {pointer}: the pod has no "
                "containers, and the API server refuses a pod without any; give it its containers\n"
            )

    def test_duplicate_keys_are_refused_with_the_line(self) -> None:
        glued = POD + POD.replace("web", "api")
        result = run(
            "kube-inject", "-f", "-", "--injectConfigFile", str(DEFAULT_CONFIG), stdin=glued
        )
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.startswith("sidecar-injector: error: <stdin>:6:1, document 1: ")
        assert "key 'apiVersion' is already set in this mapping (at line 1)" in result.stderr

    def test_merge_keys_may_still_override(self) -> None:
        text = (
            "apiVersion: v1\nkind: Pod\nmetadata: {<<: {name: a, labels: {x: y}}, name: b}\n"
            "spec: {containers: [{name: c, image: i}]}\n"
        )
        result = run("uninject", "-f", "-", stdin=text)
        assert result.exit_code == 0, result.stderr
        (doc,) = [d for d in yaml.safe_load_all(result.stdout) if d]
        assert doc["metadata"] == {"labels": {"x": "y"}, "name": "b"}


class TestRoundTrip:
    @pytest.mark.parametrize("kind", sorted(WORKLOADS))
    def test_uninject_gives_back_what_kube_inject_was_given(self, kind: str) -> None:
        original = WORKLOADS[kind]
        injected = run(
            "kube-inject", "-f", "-", "--injectConfigFile", str(DEFAULT_CONFIG), stdin=original
        )
        assert "istio-proxy" in containers(injected.stdout)
        back = run("uninject", "-f", "-", stdin=injected.stdout)
        assert back.exit_code == 0, back.stderr
        (doc,) = [d for d in yaml.safe_load_all(back.stdout) if d]
        assert "status" not in doc
        assert back.stdout == run("uninject", "-f", "-", stdin=original).stdout
        assert containers(back.stdout) == ["db"]

    def test_a_real_status_is_kept(self) -> None:
        live = WORKLOADS["StatefulSet"] + "status: {replicas: 3, readyReplicas: 2}\n"
        (doc,) = [d for d in yaml.safe_load_all(run("uninject", "-f", "-", stdin=live).stdout) if d]
        assert doc["status"]["replicas"] == 3


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_busy_port_fails_before_saying_listening(
    taken_port: int, tmp_path: Path
) -> None:
    shown = command("serve", "--port", str(taken_port), "--state-dir", str(tmp_path))
    assert shown.returncode == 1
    assert "listening" not in shown.stdout
    assert shown.stderr.splitlines()[-1] == (
        f"sidecar-injector: error: cannot listen on 127.0.0.1:{taken_port}: address already in "
        "use; stop what holds the port, or choose another with --port or --host"
    )
