"""A stream closed under the command drops lines; the command goes on."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from osbundle.cli import streams


def test_echo_drops_a_line_a_closed_pipe_cannot_take(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    pipe = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", pipe)
    assert streams.echo("lost") is False
    assert streams.echo("to /dev/null") is True  # the descriptor now points there
    pipe.write("and the flush at exit succeeds\n")
    pipe.flush()
    pipe.close()


def test_echo_writes_to_an_open_stream(capsys: pytest.CaptureFixture[str]) -> None:
    assert streams.echo("out") is True
    assert streams.echo("err", err=True) is True
    assert capsys.readouterr() == ("out\n", "err\n")


def test_silence_leaves_a_stream_without_a_descriptor_alone() -> None:
    import io

    streams.silence(io.StringIO())  # no fileno(): nothing to redirect, no error
