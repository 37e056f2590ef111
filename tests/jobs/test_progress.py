from __future__ import annotations

from pathlib import Path

from osbundle.jobs import procid
from osbundle.jobs.progress import JobStoreObserver
from osbundle.jobs.store import open_store
from osbundle.model import BuildRequest
from osbundle.observer import STAGE_BANDS
from tests.fakes import FakeClock


class FakeSink:
    def __init__(self) -> None:
        self.records: list[tuple[str, int, tuple[int, int, int, int]]] = []
        self.polls = 0
        self.cancel = False

    def record_progress(
        self, job_id: str, stage: str, percentage: int, counts: tuple[int, int, int, int]
    ) -> None:
        self.records.append((stage, percentage, counts))

    def cancel_requested(self, job_id: str) -> bool:
        self.polls += 1
        return self.cancel


def test_store_observer_throttles_writes() -> None:
    sink, clock = FakeSink(), FakeClock()
    obs = JobStoreObserver(sink, "1", interval=0.5, clock=clock)
    obs.stage("archive")
    total = 10**9
    for i in range(100_000):  # 100k progress calls over 10 simulated seconds
        clock.now = i * 1e-4
        obs.progress(i * 10_000, total, i, 100_000)
    assert len(sink.records) == obs.writes
    # one write for the stage, then at most one per 0.5 s and one per whole percent
    assert 10 <= obs.writes <= 1 + 10 / 0.5 + 1
    percents = [r[1] for r in sink.records]
    assert percents == sorted(percents)
    assert len(set(percents[1:])) == len(percents[1:])


def test_store_observer_writes_each_stage_change() -> None:
    sink = FakeSink()
    obs = JobStoreObserver(sink, "1", clock=FakeClock())
    for stage in STAGE_BANDS:
        obs.stage(stage)
    assert [r[0] for r in sink.records] == list(STAGE_BANDS)


def test_store_observer_polls_the_cancel_flag_at_most_every_quarter_second() -> None:
    sink, clock = FakeSink(), FakeClock()
    obs = JobStoreObserver(sink, "1", poll=0.25, clock=clock)
    for i in range(1000):  # 1 simulated second
        clock.now = i / 1000
        assert not obs.should_stop()
    assert sink.polls == 4
    sink.cancel = True
    clock.now = 1.3
    assert obs.should_stop()
    assert obs.should_stop()  # sticky, no further reads needed
    assert sink.polls == 5


def test_store_percentage_moves_while_bytes_are_archived(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        req = BuildRequest(tmp_path / "p", tmp_path / "o")
        jid = store.create(req, owner=procid.current(), status="Running")
        clock = FakeClock()
        obs = JobStoreObserver(store, jid, clock=clock)
        obs.stage("archive")
        seen = []
        for i in range(1, 11):
            clock.now = i
            obs.progress(i * 100, 1000, i, 10)
            seen.append(store.get_one(jid).percentage)
        assert seen == sorted(seen)
        assert len(set(seen)) == 10
        assert store.get_one(jid).bytes_done == 1000
