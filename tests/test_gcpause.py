from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from osbundle.gcpause import collector_paused
from osbundle.model import BuildRequest
from osbundle.observer import NullObserver
from osbundle.pipeline import build_bundle
from tests.factory import make_profile


@pytest.fixture(autouse=True)
def collector_enabled() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_paused_inside_resumed_after_even_on_error() -> None:
    inside: list[bool] = []

    def fail() -> None:
        with collector_paused():
            inside.append(gc.isenabled())
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail()
    assert inside == [False]
    assert gc.isenabled()


def test_nested_pauses_resume_once_at_the_outermost() -> None:
    with collector_paused():
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_disabled_before_stays_disabled() -> None:
    gc.disable()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads_resume_when_the_last_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with collector_paused():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first pause has ended, this one has not

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [False]
    assert gc.isenabled()


def test_a_build_runs_paused_and_leaves_the_collector_as_it_found_it(tmp_path: Path) -> None:
    class Watcher(NullObserver):
        def __init__(self) -> None:
            self.enabled: list[bool] = []

        def stage(self, name: str) -> None:
            self.enabled.append(gc.isenabled())

    watcher = Watcher()
    profile = make_profile(tmp_path / "p", {"a.txt": b"a"})
    build_bundle(BuildRequest(profile, tmp_path / "out", source_date_epoch=0), watcher)
    assert watcher.enabled
    assert not any(watcher.enabled)
    assert gc.isenabled()
