"""The wheel works outside a checkout: pip install into a fresh virtualenv, then use it.

Nothing may read the checkout: the pinned versions, cluster configs and labs ship inside the
wheel (``stslab/_project``), and the state goes to the state directory it is given.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from stslab.core.procs import free_port

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    out = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert out.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
    )
    return out.stdout


def test_pip_install_then_doctor_up_a_lab_and_down(tmp_path: Path) -> None:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home())}
    dist = tmp_path / "dist"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(ROOT)],
        tmp_path,
        env,
    )
    (wheel,) = dist.glob("stslab-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "stslab/_project/clusters/versions.env" in names
    assert "stslab/_project/labs/00-index.ipynb" in names
    assert not [n for n in names if ".ipynb_checkpoints" in n or "__pycache__" in n]

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    # The dependencies come from this environment (a .pth line), to keep the test short; the
    # wheel itself is installed by pip, as a user would.
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], tmp_path, env)

    home = tmp_path / "elsewhere"  # not the checkout, and not below it
    home.mkdir()
    env = {**env, "STSLAB_STATE": str(tmp_path / "state"), "PATH": f"{venv / 'bin'}:{env['PATH']}"}
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import stslab.core.paths as p; print(p.checkout(), p.project_root())",
        ],
        home,
        env,
    )
    assert where.startswith("None ") and str(site) in where, where
    stslab = str(venv / "bin" / "stslab")
    doctor = subprocess.run(
        [stslab, "doctor"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "kwok: ready" in doctor.stdout, doctor.stdout + doctor.stderr
    # The learner's own copy of the labs, outside the kit; the headless run uses that copy.
    mine = home / "my-labs"
    out = _run([stslab, "lab", str(mine), "--copy-only"], home, env)
    assert "copied" in out and (mine / "00-index.ipynb").is_file(), out
    _run(
        [
            stslab,
            "up",
            "--backend",
            "kwok",
            "--port",
            str(free_port()),
            "--dns-port",
            str(free_port()),
        ],
        home,
        env,
    )
    try:
        out = _run(
            [stslab, "labs", "run", str(mine / "00-index.ipynb"), "--backend", "kwok"], home, env
        )
        assert "00-index" in out and "FAIL" not in out, out
        assert (tmp_path / "state" / "build" / "labs" / "00-index.ipynb").exists()
    finally:
        _run([stslab, "down", "--backend", "kwok"], home, env)
