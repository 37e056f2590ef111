"""The suite never touches the user's home: tests/conftest.py gives every test its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ISOLATED_DIRS
from tests.factory import REPO

# The tests that build through the CLI or the service without naming a state directory, the
# job machinery (where a leak into ~/.local/state/osbundle would come from), and the pre-commit
# hook's (pre-commit, virtualenv and pip keep caches under the home).
SUBSET = [
    "tests/test_pipeline.py",
    "tests/cli",
    "tests/test_service.py",
    "tests/test_precommit_hook.py",
]


def test_every_test_gets_an_empty_home_of_its_own(isolated_home: Path) -> None:
    for variable, name in ISOLATED_DIRS.items():
        assert os.environ[variable] == str(isolated_home / name)
        assert not any((isolated_home / name).iterdir())


@pytest.mark.slow
def test_the_suite_leaves_an_empty_home_empty(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_DIRS}
    env |= {"HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "--run-slow",
            "-p",
            "no:cacheprovider",
            f"--basetemp={tmp_path / 'inner'}",
            # This file is not in SUBSET; deselect it anyway so the run can never recurse.
            f"--deselect={Path(__file__).relative_to(REPO)}",
            *SUBSET,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(str(p.relative_to(home)) for p in home.rglob("*")) == []
