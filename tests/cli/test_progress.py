from __future__ import annotations

import io
import itertools
import json
import threading
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from osbundle.cli.progress import (
    STAGE_BANDS,
    JobStoreObserver,
    JsonLinesProgress,
    MultiObserver,
    PercentTracker,
    Silent,
    StageLines,
    TerminalProgress,
    make_progress,
    stage_percent,
)
from osbundle.jobs import procid
from osbundle.jobs.sqlite import open_store
from osbundle.model import BuildRequest
from osbundle.observer import BuildObserver

STAGES = list(STAGE_BANDS)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


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


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class Recorder:
    def __init__(self, stop: bool = False) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.stop = stop

    def stage(self, name: str) -> None:
        self.calls.append(("stage", name))

    def progress(
        self, bytes_done: int, bytes_total: int, files_done: int, files_total: int
    ) -> None:
        self.calls.append(("progress", bytes_done, bytes_total, files_done, files_total))

    def should_stop(self) -> bool:
        return self.stop


@given(
    stage=st.sampled_from(STAGES),
    done=st.integers(0, 10**12),
    total=st.integers(0, 10**12),
)
def test_stage_percent_stays_inside_the_stage_band(stage: str, done: int, total: int) -> None:
    low, high = STAGE_BANDS[stage]
    percent = stage_percent(stage, done, total)
    assert percent is not None
    assert low <= percent <= high


def test_bands_cover_0_to_99_in_pipeline_order() -> None:
    bands = [STAGE_BANDS[s] for s in ["load", "collect", "render", "archive", "export"]]
    assert bands[0][0] == 0
    assert bands[-1][1] == 99  # 100 only when the job is recorded Complete
    assert all(a[1] == b[0] for a, b in itertools.pairwise(bands))
    assert stage_percent("upload", 1, 2) is None


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("stage"), st.sampled_from([*STAGES, "unknown"])),
            st.tuples(st.just("progress"), st.integers(0, 1000), st.integers(0, 1000)),
        ),
        max_size=50,
    )
)
def test_tracked_percentage_never_goes_down(calls: list[tuple[object, ...]]) -> None:
    tracker = PercentTracker()
    last = 0
    for call in calls:
        if call[0] == "stage":
            percent = tracker.enter(str(call[1]))
        else:
            done, total = int(str(call[1])), int(str(call[2]))
            percent = tracker.update(done, total, 0, 0)
        assert 0 <= last <= percent <= 99
        last = percent


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
    for stage in STAGES:
        obs.stage(stage)
    assert [r[0] for r in sink.records] == STAGES


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


def test_json_lines_carry_every_field_and_rising_percent() -> None:
    out = io.StringIO()
    obs = JsonLinesProgress(out)
    obs.stage("load")
    obs.stage("archive")
    for i in range(1, 1001):
        obs.progress(i * 10, 10_000, i, 1000)
    obs.stage("export")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    keys = {"stage", "bytesDone", "bytesTotal", "filesDone", "filesTotal", "percent"}
    assert all(set(line) == keys for line in lines)
    assert [x["percent"] for x in lines] == sorted(x["percent"] for x in lines)
    assert [x["stage"] for x in lines if x["bytesDone"] == 0] == ["load", "archive"]
    assert lines[-1]["stage"] == "export"
    assert lines[-2]["bytesDone"] == 10_000
    assert len(lines) <= 3 + 86  # stages plus one per whole percent of the archive band


def test_auto_mode_is_silent_off_a_terminal() -> None:
    assert isinstance(make_progress("auto", io.StringIO(), {}), Silent)
    assert isinstance(make_progress("none", TtyStream(), {}), Silent)
    assert isinstance(make_progress("json", io.StringIO(), {}), JsonLinesProgress)


def test_no_animation_with_no_color_or_dumb_terminal() -> None:
    assert isinstance(make_progress("auto", TtyStream(), {"NO_COLOR": "1"}), StageLines)
    assert isinstance(make_progress("auto", TtyStream(), {"TERM": "dumb"}), StageLines)
    out = TtyStream()
    lines = make_progress("auto", out, {"TERM": "dumb"})
    lines.stage("archive")
    lines.progress(1, 2, 1, 2)
    assert out.getvalue() == "osbundle: archive\n"


def test_terminal_bar_shows_stage_bytes_and_files() -> None:
    out = TtyStream()
    threads = threading.active_count()
    bar = make_progress("auto", out, {"TERM": "xterm"})
    assert isinstance(bar, TerminalProgress)
    # No refresh thread: the build forks its reader processes only while no other thread runs.
    assert threading.active_count() == threads
    bar.stage("archive")
    bar.progress(512 * 1024, 1024 * 1024, 3, 7)
    bar.close()
    text = out.getvalue()
    assert "archive" in text
    assert "3/7 files" in text
    assert "50%" in text


def test_multi_observer_fans_out_and_any_can_stop() -> None:
    a, b = Recorder(), Recorder(stop=True)
    observers: list[BuildObserver] = [a, b]
    multi = MultiObserver(observers)
    multi.stage("collect")
    multi.progress(1, 2, 3, 4)
    assert a.calls == b.calls == [("stage", "collect"), ("progress", 1, 2, 3, 4)]
    assert multi.should_stop()
    assert not MultiObserver([a]).should_stop()
