from __future__ import annotations

import io
import json
import threading

from osbundle.cli.progress import (
    JsonLinesProgress,
    Silent,
    StageLines,
    TerminalProgress,
    make_progress,
)


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


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


class GonePipe(io.StringIO):
    """A stream whose reader went away: every write fails as a closed pipe does."""

    writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        raise BrokenPipeError(32, "Broken pipe")


def test_progress_that_cannot_be_written_is_dropped_and_never_retried() -> None:
    for obs in (JsonLinesProgress(GonePipe()), StageLines(GonePipe())):
        obs.stage("load")
        obs.stage("archive")
        obs.progress(5, 10, 1, 2)
        obs.stage("export")
        obs.close()
        assert obs._stream is None


def test_a_bar_whose_terminal_went_away_is_dropped() -> None:
    stream = TtyStream()
    bar = TerminalProgress(stream, interval=0.0)
    stream.write = GonePipe().write  # type: ignore[method-assign]
    bar.stage("archive")
    bar.progress(5, 10, 1, 2)
    bar.close()
    assert bar._live is False
