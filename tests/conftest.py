"""Shared test configuration: the hypothesis profile, --run-slow, and every test isolated from
the user's home, state, config and cache directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import settings

# Speed is measured in bench/, not in tests: no per-example deadline, so a loaded CI machine
# cannot turn a correct property into a flaky failure.
settings.register_profile("osbundle", deadline=None)
settings.load_profile("osbundle")


# Every variable through which osbundle (or a library it uses: platformdirs, git, pre-commit)
# finds a per-user directory. Subprocesses inherit them through os.environ.
ISOLATED_DIRS = {
    "HOME": "home",
    "XDG_STATE_HOME": "state",
    "XDG_CONFIG_HOME": "config",
    "XDG_CACHE_HOME": "cache",
    "XDG_DATA_HOME": "data",
    "OSBUNDLE_HOME": "osbundle",
}


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh, empty home for each test: no test reads or writes the real one (~/.local/state)."""
    root = tmp_path_factory.mktemp("home")
    for variable, name in ISOLATED_DIRS.items():
        path = root / name
        path.mkdir()
        monkeypatch.setenv(variable, str(path))
    return root


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Background workers the tests started end with the session, reaped (not left running)."""
    from osbundle.jobs import worker

    for child in worker._CHILDREN:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    worker._CHILDREN.clear()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow (CI does, via make test)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
