from __future__ import annotations

import subprocess

import pytest
from hypothesis import settings

# Speed is measured in bench/, not in tests: no per-example deadline, so a loaded CI machine
# cannot turn a correct property into a flaky failure.
settings.register_profile("osbundle", deadline=None)
settings.load_profile("osbundle")


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
