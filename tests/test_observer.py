from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from osbundle.observer import (
    STAGE_BANDS,
    BuildObserver,
    MultiObserver,
    PercentTracker,
    stage_percent,
)

STAGES = list(STAGE_BANDS)


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


def test_multi_observer_fans_out_and_any_can_stop() -> None:
    a, b = Recorder(), Recorder(stop=True)
    observers: list[BuildObserver] = [a, b]
    multi = MultiObserver(observers)
    multi.stage("collect")
    multi.progress(1, 2, 3, 4)
    assert a.calls == b.calls == [("stage", "collect"), ("progress", 1, 2, 3, 4)]
    assert multi.should_stop()
    assert not MultiObserver([a]).should_stop()
