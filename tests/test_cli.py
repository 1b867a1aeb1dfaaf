"""Bad input on the command line: one line saying what is wrong and what to do, nonzero exit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from stslab.cli import main
from stslab.cluster.kwok import KwokBackend, realnode, realnode_setup
from stslab.core.errors import StslabError
from stslab.core.procs import free_port


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def _one_line_error(err: str) -> None:
    assert err.startswith("error: ") and "\n" not in err and " — " in err, err


def test_unknown_backend(capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    code, err = _run(capsys, "up", "--backend", "minikube")
    assert code == 2
    _one_line_error(err)
    assert "minikube" in err and not isolated_state.exists()


def test_unknown_option(capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    code, err = _run(capsys, "up", "--turbo")
    assert code == 2
    _one_line_error(err)


def test_unknown_backend_from_environment(
    capsys: pytest.CaptureFixture[str], isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_BACKEND", "docker-desktop")
    code, err = _run(capsys, "up")
    assert code == 2 and "docker-desktop" in err


@pytest.mark.parametrize(
    "args", [["--nodes", "0"], ["--nodes", "101"], ["--gpus-per-node", "-1"], ["--port", "80"]]
)
def test_out_of_range_options(
    capsys: pytest.CaptureFixture[str], isolated_state: Path, args: list[str]
) -> None:
    code, err = _run(capsys, "up", "--backend", "kwok", *args)
    assert code == 2
    _one_line_error(err)
    assert not isolated_state.exists()


def test_port_in_use(capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, err = _run(
            capsys, "up", "--backend", "kwok", "--port", str(port), "--dns-port", str(free_port())
        )
    assert code == 1
    _one_line_error(err)
    assert f"port {port}" in err and "--port" in err
    assert not isolated_state.exists()


def test_missing_binaries(
    capsys: pytest.CaptureFixture[str],
    isolated_state: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STSLAB_CACHE", str(tmp_path / "empty-cache"))
    code, err = _run(
        capsys,
        "up",
        "--backend",
        "kwok",
        "--port",
        str(free_port()),
        "--dns-port",
        str(free_port()),
    )
    assert code == 1
    _one_line_error(err)
    assert "make binaries" in err
    assert not isolated_state.exists()


@pytest.mark.parametrize("command", ["down", "status", "env", "stop"])
def test_nothing_running(
    capsys: pytest.CaptureFixture[str], isolated_state: Path, command: str
) -> None:
    code, err = _run(capsys, command)
    assert code != 0
    _one_line_error(err)
    assert "stslab up" in err


def test_down_with_nothing_running_on_a_named_backend(
    capsys: pytest.CaptureFixture[str], isolated_state: Path
) -> None:
    code, err = _run(capsys, "down", "--backend", "kwok")
    assert code == 1
    _one_line_error(err)


def test_corrupted_state_is_explained_and_cleaned(
    capsys: pytest.CaptureFixture[str], isolated_state: Path
) -> None:
    (isolated_state / "kwok").mkdir(parents=True)
    (isolated_state / "kwok" / "cluster.json").write_text("{not json")
    code, err = _run(capsys, "status")
    assert code == 1
    _one_line_error(err)
    assert "corrupt" in err and "stslab down" in err
    code, err = _run(capsys, "up", "--backend", "kwok")
    assert code == 1 and "corrupt" in err
    assert main(["down", "--backend", "kwok"]) == 0
    assert not (isolated_state / "kwok").exists()


def test_half_made_cluster_is_refused(
    capsys: pytest.CaptureFixture[str], isolated_state: Path
) -> None:
    (isolated_state / "kwok" / "home").mkdir(parents=True)
    code, err = _run(capsys, "up", "--backend", "kwok")
    assert code == 1
    _one_line_error(err)
    assert "stslab down --backend kwok" in err


def test_several_clusters_need_backend(
    capsys: pytest.CaptureFixture[str], isolated_state: Path
) -> None:
    for name in ("kwok", "kind"):
        (isolated_state / name).mkdir(parents=True)
        (isolated_state / name / "cluster.json").write_text("{}")
    code, err = _run(capsys, "status")
    assert code == 2 and "--backend" in err


def test_doctor_names_fixes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STSLAB_CACHE", str(tmp_path / "empty-cache"))
    code = main(["doctor", "--backend", "kwok"])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISSING" in out and "make binaries" in out


def test_images_prints_preload_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["images", "--backend", "k3d"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("docker pull ")
    assert out[-1].startswith("k3d image import --cluster stslab ")


# -- stslab up --real-node ---------------------------------------------------------------------


def _lacking_runc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        realnode_setup, "missing_requirements", lambda: [("runc", realnode_setup.APT_FIX)]
    )


def test_real_node_missing_requirement(
    capsys: pytest.CaptureFixture[str], isolated_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _lacking_runc(monkeypatch)
    ports = ["--port", str(free_port()), "--dns-port", str(free_port())]
    code, err = _run(capsys, "up", "--backend", "kwok", "--real-node", *ports)
    assert code == 1
    _one_line_error(err)
    assert "real node needs: runc" in err and "apt-get install" in err
    assert not isolated_state.exists()  # checked before anything started


def test_real_node_state_dir_too_long(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realnode_setup, "missing_requirements", lambda: [])
    monkeypatch.setenv("STSLAB_STATE", str(tmp_path / ("s" * 80)))
    ports = ["--port", str(free_port()), "--dns-port", str(free_port())]
    code, err = _run(capsys, "up", "--backend", "kwok", "--real-node", *ports)
    assert code == 2
    _one_line_error(err)
    assert "too long" in err and "STSLAB_STATE" in err
    assert not (tmp_path / ("s" * 80)).exists()


def test_real_node_needs_kwok(capsys: pytest.CaptureFixture[str], isolated_state: Path) -> None:
    code, err = _run(capsys, "up", "--backend", "kind", "--real-node")
    assert code == 2
    _one_line_error(err)
    assert "--backend kwok" in err


def test_doctor_lists_real_node_requirements(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _lacking_runc(monkeypatch)
    main(["doctor", "--backend", "kwok"])
    out = capsys.readouterr().out
    assert "[MISSING] --real-node: runc" in out
    assert f"fix: {realnode_setup.APT_FIX}" in out


@pytest.mark.cluster
def test_real_node_failing_after_the_cluster_came_up_leaves_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kubelet cannot start (say): the whole cluster goes, its logs are kept."""
    # short: the node's unix socket paths must fit (pytest's tmp_path may be too long)
    state = Path(tempfile.mkdtemp(prefix="stslab-cli-"))
    monkeypatch.setenv("STSLAB_STATE", str(state))

    def fail(self: realnode.RealNode, timeout: float) -> None:
        raise StslabError("the kubelet exited at once (exit 1)", f"see {self.log('kubelet')}")

    monkeypatch.setattr(realnode_setup, "missing_requirements", lambda: [])
    monkeypatch.setattr(realnode.RealNode, "_start", fail)
    ports = ["--port", str(free_port()), "--dns-port", str(free_port())]
    code, err = _run(capsys, "up", "--backend", "kwok", "--real-node", "--nodes", "1", *ports)
    assert code == 1
    _one_line_error(err)
    assert "kubelet exited at once" in err and "kwok-failed-up" in err
    backend = KwokBackend(state)
    assert not backend.dir.exists()
    assert backend.process_pids() == []
    shutil.rmtree(state)


def test_api_and_connection_errors_are_one_line(tmp_path: Path) -> None:
    from kubernetes.client.exceptions import ApiException

    from stslab.core.kube import explain

    refused = ApiException(status=422, reason="Unprocessable Entity")
    refused.body = '{"message": "StatefulSet.apps \\"web\\" is invalid: spec.replicas"}'
    e = explain(refused)
    assert e is not None and "422" in str(e) and "spec.replicas" in str(e) and "\n" not in str(e)
    e = explain(ApiException(status=503, reason="Service Unavailable"))
    assert e is not None and "stslab status" in e.fix
    assert explain(ValueError("x")) is None  # not ours to explain: a bug shows its traceback


def _cli(
    args: list[str], env: dict[str, str], shell: bool = False
) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).with_name("stslab"))
    cmd: Any = f"{exe} {' '.join(args)}" if shell else [exe, *args]
    return subprocess.run(
        cmd, shell=shell, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _env_for(tmp_path: Path, server: str, context: str) -> dict[str, str]:
    """The environment of a CLI run whose kubeconfig names one cluster at ``server``."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters: [{{name: c, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        f"contexts: [{{name: {context}, context: {{cluster: c, user: u}}}}]\n"
        f"current-context: {context}\n"
    )
    return {**os.environ, "KUBECONFIG": str(kubeconfig), "STSLAB_STATE": str(tmp_path / "s")}


def test_an_unreachable_shared_cluster_is_one_line(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    out = _cli(
        ["workshop", "list", "--context", "gone"],
        _env_for(tmp_path, f"https://127.0.0.1:{port}", "gone"),
    )
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"127.0.0.1:{port}" in errors[0], out.stderr


def test_a_closed_pipe_is_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "STSLAB_STATE": str(tmp_path / "s")}
    out = _cli(["doctor", "|", "head", "-1"], env, shell=True)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr


def test_an_apiserver_answering_5xx_is_one_line(tmp_path: Path) -> None:
    """A real HTTP server on loopback that answers every request 503, as an overloaded one."""
    import http.server
    import threading

    class Overloaded(http.server.BaseHTTPRequestHandler):
        def _busy(self) -> None:
            body = b'{"kind": "Status", "message": "unable to handle the request"}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's names
            self._busy()

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = _env_for(tmp_path, f"http://127.0.0.1:{server.server_port}", "busy")
        out = _cli(["workshop", "list", "--context", "busy"], env)
    finally:
        server.shutdown()
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out.stderr
    assert "503" in errors[0] and "unable to handle the request" in errors[0], errors[0]
