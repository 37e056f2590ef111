"""The installed wheel (not the source tree) finds its schemas through importlib.resources."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_installed_wheel_finds_its_schemas_and_validates(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("osbundle-*.whl"))
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    # Dependencies come from the test's own environment; a bare path entry in a .pth file does
    # not run that directory's .pth files, so the editable install of the source tree stays out.
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    probe = (
        "import osbundle, osbundle.resources as r; "
        "print(osbundle.__file__); "
        "print(r.load_schema('profile.schema.json')['$schema']); "
        "print(r.load_schema('metadata.schema.json')['$schema'])"
    )
    done = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    origin, *schemas = done.stdout.splitlines()
    assert origin.startswith(str(site)), origin
    assert schemas == ["https://json-schema.org/draft/2020-12/schema"] * 2
    validate = subprocess.run(
        [str(env_dir / "bin" / "osbundle"), "validate", str(REPO / "profiles")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
